//! External resources: files a module declares with `@external_resource`
//! (every template Phoenix's `embed_templates` embeds). Saving one must
//! recompile the module that reads it at compile time, though it is no
//! Elixir source. Which module declares which file is read from Mix's compile
//! manifests (`source_graph::mix_manifest`), not guessed from file
//! extensions.

use source_graph::mix_manifest::{self, ManifestSource};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// Resources and the modules that declare them, with the content each
/// resource had when its modules were last compiled.
#[derive(Debug, Default)]
pub struct ExternalResources {
    /// Canonical resource path → (declaring source, its modules).
    declared_by: BTreeMap<PathBuf, Vec<(PathBuf, Vec<String>)>>,
    /// Canonical resource path → hash of its content (None: it did not exist).
    contents: BTreeMap<PathBuf, Option<u64>>,
}

/// What a reload must compile for the resources among its files.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResourceChanges {
    /// The files given, without the resources (None: every source).
    pub files: Option<Vec<PathBuf>>,
    /// Modules (Elixir names) to recompile: the declaring modules.
    pub modules: Vec<String>,
    /// The resources that changed (canonical), and their declaring sources.
    pub changed: BTreeMap<PathBuf, Vec<PathBuf>>,
}

impl ExternalResources {
    /// Reads the manifests (`(application directory, manifest path)`); a
    /// manifest that cannot be read is reported in the returned messages and
    /// skipped (an application without a compile has none).
    pub fn read(manifests: &[(PathBuf, PathBuf)]) -> (ExternalResources, Vec<String>) {
        let mut resources = ExternalResources::default();
        let mut problems = Vec::new();
        for (app_dir, manifest) in manifests {
            if !manifest.exists() {
                continue;
            }
            match mix_manifest::read_manifest(manifest) {
                Ok(sources) => resources.add(app_dir, &sources),
                Err(e) => problems.push(format!("external resources unknown: {e}")),
            }
        }
        (resources, problems)
    }

    fn add(&mut self, app_dir: &Path, sources: &[ManifestSource]) {
        for (resource, declared) in mix_manifest::external_resources(app_dir, sources) {
            let resource = canonical(&resource);
            let declared = declared
                .into_iter()
                .map(|(source, modules)| (canonical(&source), modules));
            self.contents.insert(resource.clone(), content_hash(&resource));
            self.declared_by.entry(resource).or_default().extend(declared);
        }
    }

    /// Every known resource, for the file watcher.
    pub fn files(&self) -> Vec<PathBuf> {
        self.declared_by.keys().cloned().collect()
    }

    /// Splits a reload's files: resources named in `files` (or, for every
    /// source, the resources whose content changed) become their declaring
    /// modules.
    pub fn changes(&self, files: Option<&[PathBuf]>) -> ResourceChanges {
        let mut result = ResourceChanges::default();
        let mut modules: BTreeSet<String> = BTreeSet::new();
        let mut take = |resource: &PathBuf, result: &mut ResourceChanges| {
            let declared = &self.declared_by[resource];
            modules.extend(declared.iter().flat_map(|(_, m)| m.iter().cloned()));
            result
                .changed
                .insert(resource.clone(), declared.iter().map(|(s, _)| s.clone()).collect());
        };
        match files {
            Some(files) => {
                let mut rest = Vec::new();
                for file in files {
                    let resource = canonical(file);
                    if self.declared_by.contains_key(&resource) {
                        take(&resource, &mut result);
                    } else {
                        rest.push(file.clone());
                    }
                }
                result.files = Some(rest);
            }
            None => {
                for resource in self.declared_by.keys() {
                    if self.contents.get(resource) != Some(&content_hash(resource)) {
                        take(resource, &mut result);
                    }
                }
            }
        }
        result.modules = modules.into_iter().collect();
        result
    }

    /// The resources' modules were compiled with their current content.
    pub fn compiled(&mut self, resources: impl IntoIterator<Item = PathBuf>) {
        for resource in resources {
            let hash = content_hash(&resource);
            self.contents.insert(resource, hash);
        }
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

fn content_hash(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    Some(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(dir: &Path) -> ExternalResources {
        let mut resources = ExternalResources::default();
        resources.add(
            dir,
            &[ManifestSource {
                source: "lib/page.ex".into(),
                external: vec!["lib/page.html.heex".into(), "priv/shared.txt".into()],
                modules: vec!["Page".into()],
                ..ManifestSource::default()
            }],
        );
        resources
    }

    #[test]
    fn a_named_resource_becomes_its_declaring_modules() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/page.html.heex"), "<p>hi</p>").unwrap();
        let resources = resources(dir.path());
        let template = dir.path().join("lib/page.html.heex");
        let other = dir.path().join("lib/other.ex");
        let changes = resources.changes(Some(&[template.clone(), other.clone()]));
        assert_eq!(changes.files, Some(vec![other]));
        assert_eq!(changes.modules, ["Page"]);
        assert_eq!(changes.changed.len(), 1);
        // A resource that does not exist yet is known too (Mix records it).
        assert_eq!(resources.files().len(), 2);
    }

    #[test]
    fn every_source_means_the_resources_whose_content_changed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib")).unwrap();
        let template = dir.path().join("lib/page.html.heex");
        std::fs::write(&template, "<p>hi</p>").unwrap();
        let mut resources = resources(dir.path());
        assert_eq!(resources.changes(None), ResourceChanges::default());
        std::fs::write(&template, "<p>hello</p>").unwrap();
        let changes = resources.changes(None);
        assert_eq!(changes.modules, ["Page"]);
        resources.compiled(changes.changed.into_keys());
        assert!(resources.changes(None).modules.is_empty());
    }
}
