//! What a Mix project's layout means, in one place: its applications (one,
//! or an umbrella's), the source roots Mix compiles (`elixirc_paths` for the
//! session's `MIX_ENV`), which files are sources, which changes need a
//! restart, and where the build lives. The source index
//! (`source_graph::default_roots`), the file watcher (`watch::default_roots`,
//! `watch::is_relevant`), the reload planner (`reload::ReloadManager`) and
//! `mix_manifest::project_manifests` all ask here, so they agree.
//!
//! Everything is read from the files, without running Mix: `mix.exs` is read
//! as text for the plain forms projects write (`app: :name`,
//! `elixirc_paths: ["lib", "web"]`, `elixirc_paths: elixirc_paths(Mix.env())`
//! with one `defp elixirc_paths(:test), do: [...]` clause per environment).
//! Anything else falls back to Mix's defaults (`["lib"]`), which is what a
//! project that does not set them gets.
//!
//! Paths given to and returned by this crate are relative to the project
//! directory unless a function says otherwise.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

/// Mix's environment when `MIX_ENV` is not set and the task prefers none.
pub const DEFAULT_MIX_ENV: &str = "dev";

/// The extension of the files Mix compiles from `elixirc_paths`, without the
/// dot (`Mix.Tasks.Compile.Elixir` compiles `**/*.ex`; `.exs` files are
/// scripts, run rather than compiled).
pub const SOURCE_EXTENSION: &str = "ex";

/// Where an umbrella project's applications live (Mix's default `apps_path`).
pub const UMBRELLA_APPS: &str = "apps";

/// Directories where a project keeps what is not its own code (Mix's build
/// and dependencies, JavaScript packages, which link to `deps/` in a Phoenix
/// project, version control, ElixirLS): a walk of a directory that is not a
/// source root (a watched directory the user named) skips them. Under a
/// source root they mean nothing: Mix compiles every `.ex` file there,
/// whatever its directories are called (see [`is_source_file`]).
pub const IGNORED_DIRS: [&str; 5] = ["_build", "deps", ".git", "node_modules", ".elixir_ls"];

/// One application of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// Its name: `app:` in its `mix.exs`, else its directory's name.
    pub name: String,
    /// Its directory, relative to the project: empty for a plain project,
    /// `apps/web` for an umbrella's application.
    pub dir: PathBuf,
    /// Its `elixirc_paths` for the layout's environment, relative to `dir`.
    pub elixirc_paths: Vec<PathBuf>,
}

/// The layout of the Mix project in one directory, for one `MIX_ENV`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixLayout {
    project_dir: PathBuf,
    mix_env: String,
    umbrella: bool,
    apps: Vec<App>,
}

impl MixLayout {
    /// Reads the layout of the project in `project_dir` for `mix_env`
    /// (`dev`, `test`; see [`DEFAULT_MIX_ENV`]). An umbrella is a project
    /// with applications under `apps/` (each a directory with a `mix.exs`,
    /// as `Mix.Project.apps_paths/0` counts them); its own directory then
    /// compiles nothing. Missing or unreadable files give Mix's defaults.
    pub fn read(project_dir: &Path, mix_env: &str) -> MixLayout {
        let mut app_dirs: Vec<PathBuf> = std::fs::read_dir(project_dir.join(UMBRELLA_APPS))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.path().join("mix.exs").is_file())
            .map(|entry| Path::new(UMBRELLA_APPS).join(entry.file_name()))
            .collect();
        app_dirs.sort();
        let umbrella = !app_dirs.is_empty();
        if !umbrella {
            app_dirs.push(PathBuf::new());
        }
        let apps = app_dirs
            .into_iter()
            .map(|dir| {
                let mix_exs = std::fs::read_to_string(project_dir.join(&dir).join("mix.exs")).unwrap_or_default();
                let name = declared_app(&mix_exs)
                    .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .or_else(|| project_dir.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or_default();
                let elixirc_paths = elixirc_paths(&mix_exs, mix_env)
                    .unwrap_or_else(|| vec!["lib".to_owned()])
                    .into_iter()
                    .map(PathBuf::from)
                    .collect();
                App {
                    name,
                    dir,
                    elixirc_paths,
                }
            })
            .collect();
        MixLayout {
            project_dir: project_dir.to_path_buf(),
            mix_env: mix_env.to_owned(),
            umbrella,
            apps,
        }
    }

    pub fn project_dir(&self) -> &Path {
        &self.project_dir
    }

    pub fn mix_env(&self) -> &str {
        &self.mix_env
    }

    pub fn is_umbrella(&self) -> bool {
        self.umbrella
    }

    /// The applications, sorted by directory.
    pub fn apps(&self) -> &[App] {
        &self.apps
    }

    /// The directories Mix compiles sources from: every application's
    /// `elixirc_paths`, relative to the project (`lib`, `apps/web/lib`,
    /// `test/support` in `test` when the project says so), sorted, without
    /// duplicates. They may not exist.
    pub fn source_roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = self
            .apps
            .iter()
            .flat_map(|app| app.elixirc_paths.iter().map(|p| normal(&app.dir.join(p))))
            .collect();
        roots.sort();
        roots.dedup();
        roots
    }

    /// Whether Mix compiles `file` (relative to the project): under one of
    /// the [source roots](Self::source_roots), a [source file](is_source_file)
    /// relative to that root (`lib/deps/x.ex` is one; the project's
    /// `deps/x/lib/x.ex` is not, unless `elixirc_paths` names that directory).
    pub fn is_source(&self, file: &Path) -> bool {
        self.source_roots()
            .iter()
            .any(|root| file.strip_prefix(root).is_ok_and(is_source_file))
    }

    /// The files whose change needs a restart that exist now: `mix.exs` and
    /// `config/*.exs` of the project and of each umbrella application,
    /// relative to the project, sorted. See [`restart_reason`].
    pub fn restart_files(&self) -> Vec<PathBuf> {
        let mut dirs = vec![PathBuf::new()];
        if self.umbrella {
            dirs.extend(self.apps.iter().map(|app| app.dir.clone()));
        }
        let mut files = Vec::new();
        for dir in dirs {
            let mix = dir.join("mix.exs");
            if self.project_dir.join(&mix).is_file() {
                files.push(mix);
            }
            let config = dir.join("config");
            for entry in std::fs::read_dir(self.project_dir.join(&config))
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = PathBuf::from(entry.file_name());
                if name.extension().is_some_and(|e| e == "exs") {
                    files.push(config.join(name));
                }
            }
        }
        files.sort();
        files
    }

    /// Where Mix builds `app` in this environment, absolute: the project's
    /// `_build/<env>` (an umbrella's applications share it through their
    /// `build_path: "../../_build"`), or the application's own `_build/<env>`
    /// when only that one holds its build.
    pub fn build_dir(&self, app: &App) -> PathBuf {
        let shared = self.project_dir.join("_build").join(&self.mix_env);
        if app.dir.as_os_str().is_empty() {
            return shared;
        }
        let own = self.project_dir.join(&app.dir).join("_build").join(&self.mix_env);
        let built = |build: &Path| build.join("lib").join(&app.name).is_dir();
        if !built(&shared) && built(&own) {
            own
        } else {
            shared
        }
    }
}

/// Whether `path`, relative to a source root (or a name in one), is a file
/// Mix compiles from that root: a `.ex` file with no hidden component.
/// Mix takes `Path.wildcard("<root>/**/*.ex")` of each of `elixirc_paths`
/// (`Mix.Utils.extract_files/2`, called by `Mix.Compilers.Elixir`), which
/// skips dot files and dot directories, and so editors' lock and swap files
/// (`.#a.ex`, `.a.ex.swp`), and nothing else: `lib/deps/x.ex`,
/// `lib/node_modules/y.ex` and `lib/_build/z.ex` are compiled (measured on
/// Elixir 1.14.0, 1.18.3 and 1.20.4). Editors' other scratch names
/// (`a.ex~`, `#a.ex#`) are not `.ex` files.
pub fn is_source_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == SOURCE_EXTENSION) && !has_ignored_component(path)
}

/// True when some normal component of `path` is an [ignored name](is_ignored_name).
pub fn has_ignored_component(path: &Path) -> bool {
    path.components().any(|c| match c {
        Component::Normal(name) => is_ignored_name(name),
        _ => false,
    })
}

/// True when some normal component of `path` is an [ignored name](is_ignored_name)
/// or one of [`IGNORED_DIRS`]: what a walk of a directory that is not a
/// source root skips.
pub fn has_ignored_component_outside_sources(path: &Path) -> bool {
    path.components().any(|c| match c {
        Component::Normal(name) => is_ignored_name(name) || is_ignored_dir(name),
        _ => false,
    })
}

/// True for one of [`IGNORED_DIRS`].
pub fn is_ignored_dir(name: &OsStr) -> bool {
    name.to_str().is_some_and(|name| IGNORED_DIRS.contains(&name))
}

/// True for a file or directory name that never holds or is a source,
/// wherever it is:
/// - hidden names (a leading `.`: `.git`, `.elixir_ls`, Emacs locks `.#x.ex`,
///   Vim swap files `.x.ex.swp`); Mix skips them too;
/// - editor back-up, swap and temporary files: `*~`, `#*#`, `*.swp`, `*.swx`,
///   `*.swo`, `*.swn`, `*.tmp`, and `4913` (the file Vim creates to test that
///   it may write a directory).
///
/// The names of [`IGNORED_DIRS`] that are not hidden (`deps`, `_build`,
/// `node_modules`) are not: under a source root they may hold sources.
pub fn is_ignored_name(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        // Not UTF-8: cannot be one of the patterns; the extension decides.
        return false;
    };
    if name == "4913" {
        return true;
    }
    if name.starts_with('.') || name.ends_with('~') {
        return true;
    }
    if name.len() >= 2 && name.starts_with('#') && name.ends_with('#') {
        return true;
    }
    matches!(
        Path::new(name).extension().and_then(OsStr::to_str),
        Some("swp" | "swx" | "swo" | "swn" | "tmp")
    )
}

/// Why a change to `file` (relative to the project) cannot be reloaded and
/// needs the session restarted, if it does: the `mix.exs` of the project or
/// of an umbrella application (`apps/<app>/mix.exs`), a `.exs` under its
/// `config` directory, anything under the project's `deps` (an umbrella's
/// applications share it: Mix's `deps_path` is theirs). The same names
/// elsewhere (`lib/deps/x.ex`, `lib/config/x.exs`, a generator's template
/// `priv/templates/mix.exs`) are the project's own files.
pub fn restart_reason(file: &Path) -> Option<String> {
    let name = file.file_name()?.to_string_lossy();
    let parts: Vec<&OsStr> = file.iter().collect();
    // The part of the path below its application: the project's or an
    // umbrella application's directory.
    let in_app = match parts.as_slice() {
        [apps, _app, rest @ ..] if *apps == UMBRELLA_APPS && !rest.is_empty() => rest,
        all => all,
    };
    if in_app == [OsStr::new("mix.exs")] {
        Some("the project definition changed (mix.exs): restart the session to apply it".into())
    } else if in_app.len() > 1 && in_app[0] == "config" && name.ends_with(".exs") {
        Some("the configuration changed: restart the session to apply it".into())
    } else if parts.len() > 1 && parts[0] == "deps" {
        Some("a dependency changed: restart the session to apply it".into())
    } else {
        None
    }
}

/// The `app:` a `mix.exs` declares (`app: :my_app`), if written plainly.
pub fn declared_app(mix_exs: &str) -> Option<String> {
    let mut rest = mix_exs;
    while let Some(at) = rest.find("app:") {
        // `apps_path:` and `my_app:` are other keys.
        let key_starts = at == 0 || !rest[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        let after = rest[at + 4..].trim_start();
        if let Some(name) = after.strip_prefix(':').filter(|_| key_starts) {
            let name: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                return Some(name);
            }
        }
        rest = &rest[at + 4..];
    }
    None
}

/// The `elixirc_paths` a `mix.exs` sets for `mix_env`, when written in one
/// of the plain forms: a list of strings, or a call of a private function
/// with one clause per environment (`defp elixirc_paths(:test), do: [...]`,
/// a catch-all `defp elixirc_paths(_), do: [...]`). `None` otherwise (Mix's
/// default then applies).
pub fn elixirc_paths(mix_exs: &str, mix_env: &str) -> Option<Vec<String>> {
    let at = mix_exs.find("elixirc_paths:")?;
    let value = mix_exs[at + "elixirc_paths:".len()..].trim_start();
    if value.starts_with('[') {
        return string_list(value);
    }
    let function: String = value
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if function.is_empty() {
        return None;
    }
    // The clauses, in order: the first whose pattern matches wins.
    let head = format!("{function}(");
    let mut rest = mix_exs;
    while let Some(at) = rest.find(&head) {
        let before = rest[..at].trim_end();
        rest = &rest[at + head.len()..];
        if !(before.ends_with("defp") || before.ends_with("def")) {
            continue;
        }
        let Some((pattern, body)) = rest.split_once(')') else {
            break;
        };
        let pattern = pattern.trim();
        let matches = pattern == format!(":{mix_env}") || pattern.starts_with('_');
        if !matches {
            continue;
        }
        let body = body.trim_start();
        let body = body
            .strip_prefix(", do:")
            .or_else(|| body.strip_prefix("do"))
            .unwrap_or(body)
            .trim_start();
        return string_list(body);
    }
    None
}

/// The strings of a literal list at the start of `text` (`["lib", "web"]`),
/// or `None` when it holds anything else.
fn string_list(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('[')?;
    let inner = &inner[..inner.find(']')?];
    let mut items = Vec::new();
    for item in inner.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let item = item.strip_prefix('"')?.strip_suffix('"')?;
        if item.contains(['"', '#', '\\']) {
            return None;
        }
        items.push(item.to_owned());
    }
    Some(items)
}

/// `path` without `.` components and trailing slashes.
fn normal(path: &Path) -> PathBuf {
    path.components().filter(|c| *c != Component::CurDir).collect()
}

#[cfg(test)]
mod tests;
