//! The agent's Erlang sources, embedded in the binary, and where they are
//! installed for a VM to compile and load.
//!
//! The cache root is private to the user ([`ensure_private_dir`]: mode 0700,
//! owned by them, checked before every use), since the VM runs what it finds
//! there. Sources are written once into `<cache>/elixir-dap/agent-<hash>/`, keyed by
//! the hash of their content, so a new adapter version never loads a stale
//! agent. The VM compiles them itself on first use, into `otp-<release>/`
//! beside them (a beam built by one OTP may not load on an older one), and
//! later launches only load the cached beams. See [`bootstrap_expression`].

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One `(file name, content)` entry of [`AGENT_SOURCES`].
macro_rules! agent_module {
    ($name:literal) => {
        (
            concat!($name, ".erl"),
            include_str!(concat!("../agent/", $name, ".erl")),
        )
    };
}

/// (file name, content) of every agent module: one per concern (see
/// `docs/architecture.md`, "The agent").
pub const AGENT_SOURCES: &[(&str, &str)] = &[
    agent_module!("elixir_dap_agent"),
    agent_module!("elixir_dap_util"),
    agent_module!("elixir_dap_tables"),
    agent_module!("elixir_dap_project"),
    agent_module!("elixir_dap_build_lock"),
    agent_module!("elixir_dap_values"),
    agent_module!("elixir_dap_expr"),
    agent_module!("elixir_dap_backend"),
    agent_module!("elixir_dap_backend_int"),
    agent_module!("elixir_dap_backend_native"),
    agent_module!("elixir_dap_reload"),
    agent_module!("elixir_dap_dbg"),
    agent_module!("elixir_dap_scripts"),
    agent_module!("elixir_dap_app_compile"),
    agent_module!("elixir_dap_attach"),
    agent_module!("elixir_dap_release"),
    agent_module!("elixir_dap_lazy"),
    agent_module!("elixir_dap_cluster"),
];

/// Hex digest of all agent sources, names included.
pub fn content_hash() -> String {
    let mut hasher = Sha256::new();
    for (name, content) in AGENT_SOURCES {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(content.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// The per-user cache root: `elixir-dap` in the first of `$XDG_CACHE_HOME`
/// (when absolute), `$HOME/.cache`, or `.cache` in the home directory the
/// password database gives the effective user; without any of them,
/// `$TMPDIR/elixir-dap-<uid>`. Never a directory every user shares: whoever
/// can write in it chooses the code the VM runs (see [`ensure_private_dir`]).
pub fn default_cache_root() -> PathBuf {
    let absolute = |value: std::ffi::OsString| {
        let path = PathBuf::from(value);
        path.is_absolute().then_some(path)
    };
    if let Some(base) = std::env::var_os("XDG_CACHE_HOME").and_then(absolute) {
        return base.join("elixir-dap");
    }
    if let Some(home) = std::env::var_os("HOME").and_then(absolute) {
        return home.join(".cache").join("elixir-dap");
    }
    let uid = nix::unistd::geteuid();
    if let Ok(Some(user)) = nix::unistd::User::from_uid(uid) {
        if user.dir.is_absolute() && user.dir != Path::new("/") && user.dir.is_dir() {
            return user.dir.join(".cache").join("elixir-dap");
        }
    }
    std::env::temp_dir().join(format!("elixir-dap-{uid}"))
}

/// Why the agent cache cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot create the agent cache {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "refusing the agent cache {path}: {reason}. The VM loads code from it, so it must be a \
         directory of your own that only you can write (mode 0700): remove it, or set \
         XDG_CACHE_HOME to a directory of yours"
    )]
    Unsafe { path: PathBuf, reason: String },
}

/// Makes sure `path` is a private directory of the effective user: creates
/// it with mode 0700 if missing; otherwise it must be a real directory (not
/// a symbolic link) owned by the user, not writable by group or others, in a
/// parent that nobody else can rename it out of (owned by the user or root,
/// and either not writable by others or sticky, like `/tmp`). A directory
/// that passes but is readable by others (an older elixir-dap made it 0755)
/// is tightened to 0700.
///
/// Errors: [`CacheError::Unsafe`] naming the check that failed, or
/// [`CacheError::Io`] when the directory cannot be created or read.
pub fn ensure_private_dir(path: &Path) -> Result<(), CacheError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let io = |source| CacheError::Io {
        path: path.to_owned(),
        source,
    };
    let unsafe_because = |reason: String| CacheError::Unsafe {
        path: path.to_owned(),
        reason,
    };
    let me = nix::unistd::geteuid().as_raw();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
        let meta = std::fs::metadata(parent).map_err(io)?;
        let writable_by_others = meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0;
        if (meta.uid() != me && meta.uid() != 0) || writable_by_others {
            return Err(unsafe_because(format!(
                "its parent {} {}",
                parent.display(),
                if writable_by_others {
                    format!(
                        "is writable by other users without the sticky bit (mode {:04o})",
                        meta.mode() & 0o7777
                    )
                } else {
                    format!("belongs to uid {}", meta.uid())
                }
            )));
        }
    }
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e)),
    }
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    if meta.file_type().is_symlink() {
        return Err(unsafe_because("it is a symbolic link".into()));
    }
    if !meta.is_dir() {
        return Err(unsafe_because("it is not a directory".into()));
    }
    if meta.uid() != me {
        return Err(unsafe_because(format!(
            "it belongs to uid {}, not to you (uid {me})",
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(unsafe_because(format!(
            "other users may write in it (mode {mode:04o}), so its content cannot be trusted"
        )));
    }
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// Writes the sources into `<cache_root>/agent-<hash>/` unless they are already
/// there, and returns that directory. `cache_root` is checked (and created)
/// by [`ensure_private_dir`] first. Concurrent sessions are safe: each file is
/// written to a temporary name and renamed into place.
pub fn install(cache_root: &Path) -> Result<PathBuf, CacheError> {
    use std::os::unix::fs::DirBuilderExt;
    ensure_private_dir(cache_root)?;
    let dir = cache_root.join(format!("agent-{}", content_hash()));
    let io = |source| CacheError::Io {
        path: dir.clone(),
        source,
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e)),
    }
    for (name, content) in AGENT_SOURCES {
        let target = dir.join(name);
        if std::fs::read_to_string(&target).is_ok_and(|existing| existing == *content) {
            continue;
        }
        let temp = dir.join(format!(".{name}.{}", std::process::id()));
        std::fs::write(&temp, content).map_err(io)?;
        std::fs::rename(&temp, &target).map_err(io)?;
    }
    Ok(dir)
}

/// The Elixir expression the VM evaluates at start (`elixir -e`): compile the
/// agent for this OTP release if no cached beam exists, put it on the code
/// path, and hand control to it. It uses only syntax and functions that every
/// supported Elixir version has.
pub fn bootstrap_expression() -> &'static str {
    concat!(
        "dir = System.get_env(\"ELIXIR_DAP_AGENT_DIR\"); ",
        "ebin = Path.join(dir, \"otp-\" <> List.to_string(:erlang.system_info(:otp_release))); ",
        "if not File.exists?(Path.join(ebin, \"elixir_dap_agent.beam\")) do ",
        "tmp = ebin <> \".tmp\" <> List.to_string(:os.getpid()); ",
        "File.mkdir_p!(tmp); ",
        // A module's behaviour must be loadable while it compiles (else a
        // warning): elixir_dap_backend.erl sorts before the modules that
        // implement it, and the output directory is on the code path.
        "true = :code.add_patha(String.to_charlist(tmp)); ",
        "for src <- Path.wildcard(Path.join(dir, \"*.erl\")) do ",
        "{:ok, _} = :compile.file(String.to_charlist(src), [:report, :debug_info, {:outdir, String.to_charlist(tmp)}]) ",
        "end; ",
        ":code.del_path(String.to_charlist(tmp)); ",
        "if File.rename(tmp, ebin) != :ok, do: File.rm_rf!(tmp) ",
        "end; ",
        "true = :code.add_patha(String.to_charlist(ebin)); ",
        ":elixir_dap_agent.main()"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `elixir_dap_util:agent_modules/0` (what an attach loads into a node
    /// and takes out of it) names every agent source, each once.
    #[test]
    fn the_agent_names_every_module_it_loads_into_a_node() {
        let util = AGENT_SOURCES
            .iter()
            .find(|(name, _)| *name == "elixir_dap_util.erl")
            .map(|(_, text)| *text)
            .expect("elixir_dap_util.erl is an agent source");
        let body = util
            .split("\nagent_modules() ->")
            .nth(1)
            .and_then(|rest| rest.split("].").next())
            .expect("agent_modules/0's list");
        let mut listed: Vec<&str> = body
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| !word.is_empty())
            .collect();
        listed.sort_unstable();
        let mut sources: Vec<&str> = AGENT_SOURCES
            .iter()
            .map(|(name, _)| name.trim_end_matches(".erl"))
            .collect();
        sources.sort_unstable();
        assert_eq!(listed, sources);
    }

    #[test]
    fn install_is_idempotent_and_keyed_by_content() {
        let root = tempfile::tempdir().unwrap();
        let first = install(&root.path().join("cache")).unwrap();
        let second = install(&root.path().join("cache")).unwrap();
        assert_eq!(first, second);
        assert!(first.ends_with(format!("agent-{}", content_hash())));
        for (name, content) in AGENT_SOURCES {
            assert_eq!(&std::fs::read_to_string(first.join(name)).unwrap(), content);
        }
    }

    #[test]
    fn a_new_cache_is_private_and_a_loose_one_is_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let cache = root.path().join("cache");
        install(&cache).unwrap();
        assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
        install(&cache).unwrap();
        assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn a_cache_others_can_write_or_a_symlink_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = install(&shared).unwrap_err().to_string();
        assert!(error.contains("other users may write in it (mode 0777)"), "{error}");
        let link = root.path().join("link");
        let private = root.path().join("private");
        std::fs::create_dir(&private).unwrap();
        std::os::unix::fs::symlink(&private, &link).unwrap();
        let error = install(&link).unwrap_err().to_string();
        assert!(error.contains("it is a symbolic link"), "{error}");
        assert!(error.contains("XDG_CACHE_HOME"), "{error}");
        // A parent anyone may rename entries in (no sticky bit) is no better.
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = install(&open.join("elixir-dap")).unwrap_err().to_string();
        assert!(
            error.contains("writable by other users without the sticky bit"),
            "{error}"
        );
    }

    /// The VM compiles the agent at launch and its warnings would land in the
    /// program's output: it must compile without one on the OTP that runs
    /// the tests (CI runs them on OTP 25, 27 and 29; OTP 29 deprecates
    /// `catch Expr`, for example), with every warning on and a `-spec` on
    /// every exported function. `elixir_dap_backend` (a behaviour) comes
    /// before its implementation in [`AGENT_SOURCES`], and the output
    /// directory is on the code path, as in [`bootstrap_expression`].
    #[test]
    fn the_agent_compiles_without_warnings_on_this_otp() {
        let root = tempfile::tempdir().unwrap();
        let dir = install(&root.path().join("cache")).unwrap();
        let out = root.path().join("ebin");
        std::fs::create_dir_all(&out).unwrap();
        let mut erlc = std::process::Command::new("erlc");
        erlc.args(["-Werror", "+warn_all", "+warn_missing_spec", "-pa"])
            .arg(&out)
            .arg("-o")
            .arg(&out);
        for (name, _) in AGENT_SOURCES {
            erlc.arg(dir.join(name));
        }
        let output = erlc.output().expect("run erlc (Erlang/OTP must be installed)");
        assert!(
            output.status.success(),
            "the agent does not compile cleanly:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
