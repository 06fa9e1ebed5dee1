//! Where a Mix project usually keeps the sources it compiles.

use std::path::{Path, PathBuf};

/// The Elixir source roots a Mix project usually has, existing directories only, in a
/// stable order: `lib`, then `apps/*/lib` for an umbrella project (sorted by app).
///
/// This is a guess from the layout: a project may set other `elixirc_paths` in its
/// `mix.exs` (the VM can tell, through `Mix.Project.config()[:elixirc_paths]`), and
/// `test/support`, which many projects compile in the test environment only, is left out.
pub fn default_roots(project_dir: &Path) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    let lib = project_dir.join("lib");
    if lib.is_dir() {
        roots.push(lib);
    }
    if let Ok(entries) = std::fs::read_dir(project_dir.join("apps")) {
        let mut apps: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path().join("lib"))
            .filter(|lib| lib.is_dir())
            .collect();
        apps.sort();
        roots.extend(apps);
    }
    roots
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn plain_project_has_lib() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("lib/my_app")).unwrap();
        fs::create_dir_all(dir.path().join("test/support")).unwrap();
        assert_eq!(default_roots(dir.path()), vec![dir.path().join("lib")]);
    }

    #[test]
    fn umbrella_has_each_apps_lib() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["apps/web/lib", "apps/core/lib", "apps/scripts", "config"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        fs::write(dir.path().join("apps/README.md"), "x").unwrap();
        assert_eq!(
            default_roots(dir.path()),
            vec![dir.path().join("apps/core/lib"), dir.path().join("apps/web/lib"),]
        );
    }

    #[test]
    fn missing_directories_give_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("lib"), "not a directory").unwrap();
        assert!(default_roots(dir.path()).is_empty());
        assert!(default_roots(&dir.path().join("nowhere")).is_empty());
    }
}
