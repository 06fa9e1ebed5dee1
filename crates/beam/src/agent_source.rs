//! The agent's Erlang sources, embedded in the binary, and where they are
//! installed for a VM to compile and load.
//!
//! Sources are written once into `<cache>/elixir-dap/agent-<hash>/`, keyed by
//! the hash of their content, so a new adapter version never loads a stale
//! agent. The VM compiles them itself on first use, into `otp-<release>/`
//! beside them (a beam built by one OTP may not load on an older one), and
//! later launches only load the cached beams. See [`bootstrap_expression`].

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// (file name, content) of every agent module.
pub const AGENT_SOURCES: &[(&str, &str)] = &[
    ("elixir_dap_agent.erl", include_str!("../agent/elixir_dap_agent.erl")),
    (
        "elixir_dap_debugger.erl",
        include_str!("../agent/elixir_dap_debugger.erl"),
    ),
    ("elixir_dap_dbg.erl", include_str!("../agent/elixir_dap_dbg.erl")),
    ("elixir_dap_reload.erl", include_str!("../agent/elixir_dap_reload.erl")),
    (
        "elixir_dap_app_compile.erl",
        include_str!("../agent/elixir_dap_app_compile.erl"),
    ),
    (
        "elixir_dap_scripts.erl",
        include_str!("../agent/elixir_dap_scripts.erl"),
    ),
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

/// The per-user cache root: `$XDG_CACHE_HOME`, else `~/.cache`, else the
/// temporary directory.
pub fn default_cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("elixir-dap")
}

/// Writes the sources into `<cache_root>/agent-<hash>/` unless they are already
/// there, and returns that directory. Concurrent sessions are safe: each file is
/// written to a temporary name and renamed into place.
pub fn install(cache_root: &Path) -> std::io::Result<PathBuf> {
    let dir = cache_root.join(format!("agent-{}", content_hash()));
    std::fs::create_dir_all(&dir)?;
    for (name, content) in AGENT_SOURCES {
        let target = dir.join(name);
        if std::fs::read_to_string(&target).is_ok_and(|existing| existing == *content) {
            continue;
        }
        let temp = dir.join(format!(".{name}.{}", std::process::id()));
        std::fs::write(&temp, content)?;
        std::fs::rename(&temp, &target)?;
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
        "for src <- Path.wildcard(Path.join(dir, \"*.erl\")) do ",
        "{:ok, _} = :compile.file(String.to_charlist(src), [:report, :debug_info, {:outdir, String.to_charlist(tmp)}]) ",
        "end; ",
        "if File.rename(tmp, ebin) != :ok, do: File.rm_rf!(tmp) ",
        "end; ",
        "true = :code.add_patha(String.to_charlist(ebin)); ",
        ":elixir_dap_agent.main()"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_is_idempotent_and_keyed_by_content() {
        let root = tempfile::tempdir().unwrap();
        let first = install(root.path()).unwrap();
        let second = install(root.path()).unwrap();
        assert_eq!(first, second);
        assert!(first.ends_with(format!("agent-{}", content_hash())));
        for (name, content) in AGENT_SOURCES {
            assert_eq!(&std::fs::read_to_string(first.join(name)).unwrap(), content);
        }
    }

    /// The VM compiles the agent at launch and its warnings would land in the
    /// program's output: it must compile without one on the OTP that runs
    /// the tests (CI runs them on OTP 25, 27 and 29; OTP 29 deprecates
    /// `catch Expr`, for example).
    #[test]
    fn the_agent_compiles_without_warnings_on_this_otp() {
        let root = tempfile::tempdir().unwrap();
        let dir = install(root.path()).unwrap();
        let out = root.path().join("ebin");
        std::fs::create_dir_all(&out).unwrap();
        let mut erlc = std::process::Command::new("erlc");
        erlc.arg("+warnings_as_errors").arg("-o").arg(&out);
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
