//! The sources of a project: the default roots, finding and reading the
//! `.ex`/`.exs` files under them, keying them as Mix prints paths, and
//! extracting their facts in parallel.

use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;

use super::FileEntry;
use crate::extract::{extract, new_parser};
use crate::facts_cache::SourceStamp;
use crate::model::{FileFacts, ParseError};
use crate::version::Rules;
use crate::Error;

/// The source roots Mix would compile by default: `lib`, or `apps/*/lib` in
/// an umbrella project. `elixirc_paths` cannot be read without running Mix.
pub fn default_roots(project_dir: &Path) -> Vec<PathBuf> {
    let apps = project_dir.join("apps");
    let mut roots = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&apps) {
        for entry in entries.flatten() {
            let app = entry.path();
            if app.join("mix.exs").is_file() {
                if let Some(name) = app.file_name() {
                    roots.push(Path::new("apps").join(name).join("lib"));
                }
            }
        }
    }
    roots.sort();
    if roots.is_empty() {
        roots.push(PathBuf::from("lib"));
    }
    roots
}

fn is_elixir_source(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("ex") | Some("exs"))
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
        if file_type.is_dir() {
            collect_sources(&path, out)?;
        } else if is_elixir_source(&path) {
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
