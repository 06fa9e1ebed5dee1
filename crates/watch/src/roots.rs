//! Where a Mix project keeps the sources it compiles.

use std::path::{Path, PathBuf};

/// The source roots of the project in `project_dir` for `mix_env`, absolute, existing
/// directories only (a directory that does not exist cannot be watched), in a stable
/// order: every application's `elixirc_paths` as [`mix_layout::MixLayout`] reads them
/// (`lib`, or `apps/*/lib` in an umbrella).
pub fn default_roots(project_dir: &Path, mix_env: &str) -> Vec<PathBuf> {
    mix_layout::MixLayout::read(project_dir, mix_env)
        .source_roots()
        .into_iter()
        .map(|root| project_dir.join(root))
        .filter(|root| root.is_dir())
        .collect()
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
        assert_eq!(default_roots(dir.path(), "dev"), vec![dir.path().join("lib")]);
    }

    #[test]
    fn umbrella_has_each_apps_lib() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["apps/web/lib", "apps/core/lib", "apps/scripts/lib", "config", "lib"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for app in ["web", "core"] {
            fs::write(dir.path().join("apps").join(app).join("mix.exs"), "[]").unwrap();
        }
        fs::write(dir.path().join("apps/README.md"), "x").unwrap();
        // Neither the umbrella's own lib nor a directory without a mix.exs.
        assert_eq!(
            default_roots(dir.path(), "dev"),
            vec![dir.path().join("apps/core/lib"), dir.path().join("apps/web/lib"),]
        );
    }

    #[test]
    fn missing_directories_give_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("lib"), "not a directory").unwrap();
        assert!(default_roots(dir.path(), "dev").is_empty());
        assert!(default_roots(&dir.path().join("nowhere"), "dev").is_empty());
    }
}
