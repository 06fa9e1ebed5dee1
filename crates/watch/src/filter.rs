//! Which paths can matter to a reload: sources as `mix_layout` defines them (Mix's
//! `.ex` files), or other extensions when configured, never editor scratch files
//! (`mix_layout::is_ignored_name`), nor build, dependency and VCS directories outside
//! the source roots (`mix_layout::IGNORED_DIRS`: under a source root Mix compiles
//! `lib/deps/x.ex` like any other source).

use mix_layout::{has_ignored_component, has_ignored_component_outside_sources};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The extensions watched by default, without the dot: the sources Mix compiles.
pub const DEFAULT_EXTENSIONS: [&str; 1] = [mix_layout::SOURCE_EXTENSION];

/// Decides whether a path is a source file worth reporting.
///
/// Every normal component of the path is checked, so give it a path relative to the
/// watched root (the watcher does): an absolute path that happens to run through a
/// directory called `deps` would otherwise be ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    extensions: Vec<String>,
    /// Files reported whatever their extension (absolute, canonical): the
    /// external resources modules declare, such as templates.
    files: std::collections::BTreeSet<std::path::PathBuf>,
    /// The project's source roots (absolute, canonical): under them only hidden and
    /// scratch names are skipped.
    source_roots: Vec<PathBuf>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter::new(DEFAULT_EXTENSIONS)
    }
}

impl Filter {
    /// A filter for files with one of `extensions`, written with or without the dot
    /// (`".ex"` and `"ex"` are the same).
    pub fn new<I, S>(extensions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Filter {
            extensions: extensions
                .into_iter()
                .map(|e| e.as_ref().trim_start_matches('.').to_owned())
                .filter(|e| !e.is_empty())
                .collect(),
            files: Default::default(),
            source_roots: Vec::new(),
        }
    }

    /// The same filter, knowing the project's source roots (absolute, canonical),
    /// under which directories named like [`mix_layout::IGNORED_DIRS`] are walked
    /// and reported as any other (Mix compiles `lib/deps/x.ex`).
    pub fn with_source_roots(mut self, roots: impl IntoIterator<Item = PathBuf>) -> Self {
        self.source_roots.extend(roots);
        self
    }

    /// True for a path that is never reported nor walked into, given as `absolute`
    /// and as `relative` to its watched root: a hidden or scratch component below
    /// its source root, or, outside every source root, also a component named in
    /// [`mix_layout::IGNORED_DIRS`] (`deps`, `_build`, `node_modules`).
    pub fn is_skipped(&self, absolute: &Path, relative: &Path) -> bool {
        match self
            .source_roots
            .iter()
            .find_map(|root| absolute.strip_prefix(root).ok())
        {
            Some(below) => has_ignored_component(below),
            None => has_ignored_component_outside_sources(relative),
        }
    }

    /// The same filter, also reporting `files` (absolute paths) whatever their
    /// extension.
    pub fn with_files(mut self, files: impl IntoIterator<Item = std::path::PathBuf>) -> Self {
        self.files.extend(files);
        self
    }

    /// True for one of the files given to [`Filter::with_files`].
    pub fn is_listed(&self, absolute: &Path) -> bool {
        self.files.contains(absolute)
    }

    /// The extensions this filter accepts, without the dot.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// True for a file the reload manager must hear about: no hidden or scratch
    /// component (see [`mix_layout::is_ignored_name`]) and an accepted extension.
    /// Where it lies is [`Filter::is_skipped`]'s question.
    pub fn is_relevant(&self, path: &Path) -> bool {
        relevant(path, &self.extensions)
    }
}

/// [`Filter::is_relevant`] with the default extensions: a source file as
/// [`mix_layout::is_source_file`] says.
pub fn is_relevant(path: &Path) -> bool {
    mix_layout::is_source_file(path)
}

fn relevant<S: AsRef<str>>(path: &Path, extensions: &[S]) -> bool {
    if has_ignored_component(path) {
        return false;
    }
    match path.extension() {
        Some(ext) => extensions.iter().any(|e| ext == OsStr::new(e.as_ref())),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elixir_sources_are_relevant() {
        assert!(is_relevant(Path::new("lib/my_app.ex")));
        assert!(is_relevant(Path::new("lib/my_app/worker.ex")));
        assert!(is_relevant(Path::new("/abs/project/lib/a.ex")));
    }

    #[test]
    fn other_files_are_not() {
        // Scripts: Mix runs them, it does not compile them from a source root.
        for p in [
            "lib/a.erl",
            "lib/a.ex.bak",
            "lib/a",
            "lib/README.md",
            "lib/a.EX",
            "lib/mix/tasks/gen.exs",
        ] {
            assert!(!is_relevant(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn editor_scratch_files_are_ignored() {
        for p in [
            "lib/a.ex~",
            "lib/a.exs~",
            "lib/.#a.ex",
            "lib/#a.ex#",
            "lib/.a.ex.swp",
            "lib/.a.ex.swx",
            "lib/.a.ex.swo",
            "lib/a.ex.swp",
            "lib/4913",
            "lib/a.ex.tmp",
            "lib/a.tmp",
        ] {
            assert!(!is_relevant(Path::new(p)), "{p}");
            let name = Path::new(p).file_name().unwrap_or_default();
            assert!(mix_layout::is_ignored_name(name), "{p}");
        }
        assert!(!mix_layout::is_ignored_name(OsStr::new("a.ex")));
        assert!(!mix_layout::is_ignored_name(OsStr::new("#")));
        assert!(!mix_layout::is_ignored_name(OsStr::new("49130.ex")));
    }

    #[test]
    fn build_deps_and_vcs_directories_are_skipped_outside_the_source_roots() {
        let project = Path::new("/p");
        let filter = Filter::default().with_source_roots([project.join("lib"), project.join("apps/web/lib")]);
        for p in [
            "_build/dev/lib/app/a.ex",
            "deps/plug/lib/plug.ex",
            ".git/a.ex",
            "assets/node_modules/x/a.ex",
            ".elixir_ls/build/a.ex",
            "lib/.hidden/a.ex",
            "apps/web/deps/x.ex",
            "apps/web/lib/.x/a.ex",
        ] {
            assert!(filter.is_skipped(&project.join(p), Path::new(p)), "{p}");
        }
        // Under a source root, Mix compiles whatever the directories are called.
        for p in [
            "lib/deps/x.ex",
            "lib/node_modules/y.ex",
            "lib/_build/z.ex",
            "apps/web/lib/deps/x.ex",
        ] {
            assert!(!filter.is_skipped(&project.join(p), Path::new(p)), "{p}");
            assert!(filter.is_relevant(Path::new(p)), "{p}");
        }
        // Without source roots, every watched directory is taken as none.
        let plain = Filter::default();
        assert!(plain.is_skipped(&project.join("lib/deps/x.ex"), Path::new("deps/x.ex")));
    }

    #[test]
    fn custom_extensions_with_or_without_dot() {
        let f = Filter::new([".ex", "eex"]);
        assert_eq!(f.extensions(), ["ex", "eex"]);
        assert!(f.is_relevant(Path::new("lib/a.ex")));
        assert!(f.is_relevant(Path::new("lib/t.eex")));
        assert!(!f.is_relevant(Path::new("lib/a.exs")));
        assert!(f.is_skipped(Path::new("/p/_build/t.eex"), Path::new("_build/t.eex")));
        assert_eq!(Filter::default(), Filter::new([".ex"]));
    }
}
