//! The order in which a batch of files is compiled: [`compile_waves`].

use source_graph::Index;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Orders the files of a batch for compiling. Elixir's compiler uses a
/// module that is loaded as it is: a file that needs another batch file's
/// module at compile time (its macros, its struct) must be compiled after
/// the new version of that module is loaded, or it would expand the old
/// macro. Each file goes one wave after the latest batch file it depends on
/// at compile time (compile or export references); files in one wave are
/// compiled in parallel. A dependency cycle, which Elixir itself rejects,
/// is cut at the file seen first.
pub fn compile_waves(index: &Index, files: &[PathBuf]) -> Vec<Vec<PathBuf>> {
    let in_batch: HashSet<&Path> = files.iter().map(PathBuf::as_path).collect();
    // Sorted, so that a cycle is cut where it always was.
    let prerequisites: HashMap<&Path, BTreeSet<&Path>> = files
        .iter()
        .map(|file| {
            let needs = index
                .resolved_references(file)
                .into_iter()
                .flatten()
                .filter(|(_, kinds)| kinds.compile || kinds.export)
                .filter_map(|(module, _)| index.file_of(module))
                .filter(|target| *target != file.as_path() && in_batch.contains(target))
                .collect();
            (file.as_path(), needs)
        })
        .collect();
    let mut wave_of: HashMap<&Path, usize> = HashMap::new();
    fn depth<'a>(
        file: &'a Path,
        prerequisites: &HashMap<&'a Path, BTreeSet<&'a Path>>,
        wave_of: &mut HashMap<&'a Path, usize>,
        visiting: &mut HashSet<&'a Path>,
    ) -> usize {
        if let Some(wave) = wave_of.get(file) {
            return *wave;
        }
        if !visiting.insert(file) {
            return 0;
        }
        let wave = prerequisites
            .get(file)
            .into_iter()
            .flatten()
            .map(|needed| depth(needed, prerequisites, wave_of, visiting) + 1)
            .max()
            .unwrap_or(0);
        visiting.remove(file);
        wave_of.insert(file, wave);
        wave
    }
    let mut waves: Vec<Vec<PathBuf>> = Vec::new();
    for file in files {
        let wave = depth(file, &prerequisites, &mut wave_of, &mut HashSet::new());
        if waves.len() <= wave {
            waves.resize(wave + 1, Vec::new());
        }
        waves[wave].push(file.clone());
    }
    waves.retain(|w| !w.is_empty());
    waves
}
