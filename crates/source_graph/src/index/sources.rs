//! The sources of a project: the default roots, finding and reading the
//! `.ex` files under them, keying them as Mix prints paths, and
//! extracting their facts in parallel.

use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;

use super::FileEntry;
use crate::extract::{extract, new_parser};
use crate::facts_cache::SourceStamp;
use crate::model::{FileFacts, ParseError};
use crate::version::Rules;
use crate::Error;

/// The source roots Mix compiles in `mix_env`: `elixirc_paths` of the
/// project, or of each umbrella application, as
/// [`mix_layout::MixLayout::source_roots`] reads them (`lib`, `apps/*/lib`,
/// `test/support` where `mix.exs` adds it for that environment), under
/// `project_dir`.
pub fn default_roots(project_dir: &Path, mix_env: &str) -> Vec<PathBuf> {
    mix_layout::MixLayout::read(project_dir, mix_env).source_roots()
}

fn collect_sources(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        // A missing root is not an error: umbrella apps may lack `lib/`.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| Error::io(&path, e))?;
        // Names are checked one at a time: the project may itself lie
        // under a hidden directory.
        let name = entry.file_name();
        if file_type.is_dir() {
            if !mix_layout::is_ignored_name(&name) {
                collect_sources(&path, out)?;
            }
        } else if mix_layout::is_source_file(Path::new(&name)) {
            out.push(path);
        }
    }
    Ok(())
}

/// Every source under `roots`, keyed as the index keys them, sorted by key.
pub(super) fn read_sources(project_dir: &Path, roots: &[PathBuf]) -> Result<Vec<(PathBuf, String)>, Error> {
    let mut paths = Vec::new();
    for root in roots {
        collect_sources(&project_dir.join(root), &mut paths)?;
    }
    let mut sources = paths
        .par_iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            Ok((normal_key(path.strip_prefix(project_dir).unwrap_or(path)), text))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(sources)
}

/// A source read from disk, with its facts when the cache knew them.
pub(super) struct Source {
    pub(super) key: PathBuf,
    pub(super) text: String,
    pub(super) stamp: SourceStamp,
    pub(super) known: Option<FileFacts>,
}

impl Source {
    pub(super) fn unknown((key, text): (PathBuf, String)) -> Source {
        let stamp = SourceStamp::of(&text);
        Source {
            key,
            text,
            stamp,
            known: None,
        }
    }
}

/// The entries of `sources`, in their order, extracting in parallel the
/// facts of those the cache did not know.
pub(super) fn extract_all(sources: Vec<Source>, rules: Rules) -> Result<Vec<(PathBuf, FileEntry)>, Error> {
    sources
        .into_par_iter()
        .map_init(new_parser, |parser, source| {
            let facts = match source.known {
                Some(facts) => facts,
                None => {
                    let parser = parser.as_mut().map_err(|e| Error::Language(e.to_string()))?;
                    extract(parser, &source.text, rules)
                }
            };
            let errors = to_parse_errors(&source.key, &facts);
            Ok((source.key, FileEntry::new(facts, errors, source.stamp)))
        })
        .collect()
}

/// Joins path components with `/` so that keys look like Mix's paths on
/// every platform, and drops `.` components.
pub(super) fn normal_key(path: &Path) -> PathBuf {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    PathBuf::from(parts.join("/"))
}

pub(super) fn to_parse_errors(path: &Path, facts: &FileFacts) -> Vec<ParseError> {
    facts
        .errors
        .iter()
        .map(|(line, column, message)| ParseError {
            path: path.to_path_buf(),
            line: *line,
            column: *column,
            message: message.clone(),
        })
        .collect()
}
