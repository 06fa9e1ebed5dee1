//! `elixir-dap deps`: the dependency graph of a Mix project, or what a change
//! to some files affects, as the `elixir-dap-source-graph` index computes them.
//!
//! The report goes to stdout; warnings and errors go to stderr. Exit status:
//! 0 on success (parse errors are warnings), 1 when the input is wrong or a
//! file cannot be read; clap's own usage errors exit with 2.

use clap::Args;
use source_graph::mix_manifest::{project_manifests, read_manifest};
use source_graph::{
    default_roots, index_cache_file, render_affected_text_with, render_graph_text, DeclaredResource, ElixirVersion,
    Index, ParseError,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

#[derive(Debug, Args)]
pub struct DepsArgs {
    /// The Mix project: the directory holding mix.exs [default: the current directory]
    #[arg(value_name = "PROJECT_DIR")]
    pub project_dir: Option<PathBuf>,
    /// Print what a change to these files affects instead of the graph
    ///
    /// The files to recompile, each with its reason, then the runtime callers and the
    /// modules to reload. FILE paths are relative to the current directory or to
    /// PROJECT_DIR; give PROJECT_DIR before this option.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub affected: Vec<PathBuf>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// Classify dependencies as Mix on this Elixir does (X.Y or X.Y.Z, e.g. 1.18)
    ///
    /// Mix's dependency kinds changed between releases (`@behaviour` is compile-time on 1.14
    /// and runtime since 1.15; `defimpl` is an export dependency on its protocol since 1.19).
    /// Default: the version `elixir --version` reports, run in PROJECT_DIR.
    #[arg(long, value_name = "X.Y[.Z]")]
    pub elixir_version: Option<ElixirVersion>,
    /// The Mix environment whose build says which modules declare external resources
    ///
    /// A FILE given to --affected that is no Elixir source (a template) is looked up among
    /// the files modules declare with @external_resource, as Mix's manifest
    /// _build/ENV/lib/APP/.mix/compile.elixir records them. Default: $MIX_ENV, else dev.
    #[arg(long, value_name = "ENV")]
    pub mix_env: Option<String>,
}

/// What a successful run prints.
struct Report {
    output: String,
    warnings: Vec<String>,
}

/// Runs the command and prints its report; never panics.
pub fn run(args: &DepsArgs) -> ExitCode {
    match report(args) {
        Ok(report) => {
            let status = match std::io::stdout().lock().write_all(report.output.as_bytes()) {
                Ok(()) => ExitCode::SUCCESS,
                // `elixir-dap deps | head`: the reader has what it wanted.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    print_error(&format!("cannot write to stdout: {e}"));
                    ExitCode::FAILURE
                }
            };
            let mut stderr = std::io::stderr().lock();
            for warning in &report.warnings {
                let _ = writeln!(stderr, "elixir-dap deps: warning: {warning}");
            }
            status
        }
        Err(message) => {
            print_error(&message);
            ExitCode::FAILURE
        }
    }
}

fn print_error(message: &str) {
    let _ = writeln!(std::io::stderr(), "elixir-dap deps: error: {message}");
}

fn report(args: &DepsArgs) -> Result<Report, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let project = project_dir(&cwd, args.project_dir.as_deref())?;
    // Resolve every FILE before indexing, so a typo fails fast.
    let changed = args
        .affected
        .iter()
        .map(|file| project_file(&cwd, &project, file))
        .collect::<Result<Vec<PathBuf>, String>>()?;

    let mut warnings = Vec::new();
    let elixir = match args.elixir_version {
        Some(version) => version,
        None => installed_elixir(&project)?,
    };
    if !elixir.is_modelled() {
        let nearest = elixir.clamp(ElixirVersion::OLDEST_MODELLED, ElixirVersion::NEWEST_MODELLED);
        warnings.push(format!(
            "the index knows the rules of Elixir {}–{}, not those of {elixir}: {nearest}'s are used",
            ElixirVersion::OLDEST_MODELLED,
            ElixirVersion::NEWEST_MODELLED
        ));
    }

    let env = args
        .mix_env
        .clone()
        .or_else(|| std::env::var("MIX_ENV").ok().filter(|e| !e.is_empty()))
        .unwrap_or_else(|| mix_layout::DEFAULT_MIX_ENV.to_owned());
    let roots = default_roots(&project, &env);
    // Never dropped: the process ends after the report, and freeing every
    // file's maps took a tenth of a run answered from the index cache.
    let index = std::mem::ManuallyDrop::new(build_index(&project, &roots, elixir, &mut warnings)?);
    let roots_shown = roots
        .iter()
        .map(|r| format!("{}/", r.display()))
        .collect::<Vec<_>>()
        .join(", ");
    if index.files().next().is_none() {
        warnings.push(format!("no .ex files under {roots_shown} in {}", project.display()));
    }

    if args.affected.is_empty() {
        warnings.extend(index.parse_errors().into_iter().map(parse_warning));
        let output = if args.json {
            json(serde_json::to_string_pretty(&index.graph()))?
        } else {
            render_graph_text(&index)
        };
        return Ok(Report { output, warnings });
    }

    // Files the index does not hold may be external resources (templates):
    // Mix's manifest says which sources declare them.
    let (sources, others): (Vec<PathBuf>, Vec<PathBuf>) = changed.into_iter().partition(|p| index.contains(p));
    let mut resources: Vec<DeclaredResource> = Vec::new();
    let mut not_indexed: Vec<PathBuf> = Vec::new();
    if !others.is_empty() {
        let declared = declared_resources(&project, &env, &mut warnings);
        for file in others {
            match declared.by_resource.get(&file) {
                Some(sources) => resources.extend(sources.iter().map(|(source, modules)| DeclaredResource {
                    resource: file.clone(),
                    source: source.clone(),
                    modules: modules.clone(),
                })),
                None => {
                    warnings.push(not_indexed_warning(&file, &roots_shown, &declared, &env));
                    not_indexed.push(file);
                }
            }
        }
    }
    let mut seeds: Vec<PathBuf> = sources.clone();
    seeds.extend(not_indexed);
    for r in &resources {
        if !seeds.contains(&r.source) {
            seeds.push(r.source.clone());
        }
    }
    // A declaring source given as a FILE too keeps "changed" as its reason.
    resources.retain(|r| !sources.contains(&r.source));
    let affected = index.affected(&seeds);
    warnings.extend(affected.parse_errors.iter().map(parse_warning));
    let output = if args.json {
        let mut value = serde_json::to_value(&affected).map_err(|e| format!("cannot encode JSON: {e}"))?;
        annotate_resources(&mut value, &resources);
        json(serde_json::to_string_pretty(&value))?
    } else {
        render_affected_text_with(&affected, &resources)
    };
    Ok(Report { output, warnings })
}

/// External resources of the project's applications, from Mix's manifests.
struct Declared {
    /// Resource (relative to the project) -> declaring sources (relative)
    /// and their modules.
    by_resource: BTreeMap<PathBuf, Vec<(PathBuf, Vec<String>)>>,
    /// Manifests that do not exist (the application was never compiled in
    /// that environment), relative to the project.
    missing: Vec<PathBuf>,
    /// How many manifests were read.
    read: usize,
}

fn declared_resources(project: &Path, env: &str, warnings: &mut Vec<String>) -> Declared {
    let mut declared = Declared {
        by_resource: BTreeMap::new(),
        missing: Vec::new(),
        read: 0,
    };
    for app in project_manifests(project, env) {
        if !app.manifest.is_file() {
            declared.missing.push(
                app.manifest
                    .strip_prefix(project)
                    .unwrap_or(&app.manifest)
                    .to_path_buf(),
            );
            continue;
        }
        match read_manifest(&app.manifest) {
            Ok(sources) => {
                declared.read += 1;
                for source in sources {
                    let source_path = lexical(&app.app_dir.join(&source.source));
                    for resource in &source.external {
                        let resource = app.app_dir.join(resource);
                        let resource = resource
                            .strip_prefix(project)
                            .map(Path::to_path_buf)
                            .unwrap_or_else(|_| lexical(&resource));
                        declared
                            .by_resource
                            .entry(resource)
                            .or_default()
                            .push((source_path.clone(), source.modules.clone()));
                    }
                }
            }
            Err(e) => warnings.push(format!("cannot read Mix's manifest: {e}")),
        }
    }
    declared
}

/// `path` without `.` components.
fn lexical(path: &Path) -> PathBuf {
    path.components().filter(|c| *c != Component::CurDir).collect()
}

fn not_indexed_warning(file: &Path, roots_shown: &str, declared: &Declared, env: &str) -> String {
    let head = format!(
        "{} is not indexed (only .ex files under {roots_shown} are)",
        file.display()
    );
    if declared.read == 0 {
        let missing: Vec<String> = declared.missing.iter().map(|m| m.display().to_string()).collect();
        format!(
            "{head}, and whether a module declares it as an external resource is unknown: Mix's manifest \
             ({}) does not exist, the project was never compiled in the {env} environment (compile it, \
             or pass --mix-env)",
            missing.join(", ")
        )
    } else {
        format!(
            "{head} and no module declares it with @external_resource (Mix's manifest, {env} \
             environment): a change to it recompiles no module"
        )
    }
}

/// In `--affected --json`: the declaring sources' reason becomes
/// `external`, with the resource, and the resources are listed.
fn annotate_resources(value: &mut serde_json::Value, resources: &[DeclaredResource]) {
    if let Some(recompile) = value.get_mut("recompile").and_then(|r| r.as_array_mut()) {
        for entry in recompile {
            let path = entry.get("path").and_then(|p| p.as_str()).map(PathBuf::from);
            let declared: Vec<String> = resources
                .iter()
                .filter(|r| Some(&r.source) == path.as_ref())
                .map(|r| r.resource.display().to_string())
                .collect();
            if let (Some(object), false) = (entry.as_object_mut(), declared.is_empty()) {
                object.insert("reason".into(), "external".into());
                object.insert("resources".into(), declared.into());
            }
        }
    }
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "external_resources".into(),
            serde_json::to_value(resources).unwrap_or_default(),
        );
    }
}

/// The Elixir `elixir --version` reports, run in the project directory
/// (where version managers such as asdf pick the project's Elixir).
/// The project's index, through the per-user facts cache so that only the
/// files changed since the last run are parsed (see `Index::build_cached`).
/// A cache that cannot be used costs a full parse and a warning, never the
/// answer.
fn build_index(
    project: &Path,
    roots: &[PathBuf],
    elixir: ElixirVersion,
    warnings: &mut Vec<String>,
) -> Result<Index, String> {
    let failed = |e: source_graph::Error| format!("cannot index {}: {e}", project.display());
    let cache_root = beam::agent_source::default_cache_root();
    if let Err(e) = beam::agent_source::ensure_private_dir(&cache_root) {
        warnings.push(format!("the index cache is not used: {e}"));
        return Index::build(project, roots, elixir).map_err(failed);
    }
    let (index, cache_use) = Index::build_cached(
        project,
        roots,
        elixir,
        &index_cache_file(&cache_root, project, roots, elixir),
    )
    .map_err(failed)?;
    if let Some(e) = cache_use.write_error {
        warnings.push(format!("the index cache was not updated: {e}"));
    }
    Ok(index)
}

/// The Elixir `elixir --version` would report in `project`: read from the
/// installation the `elixir` on PATH belongs to when that is a plain Elixir
/// install (`bin/elixir` beside `lib/elixir/ebin/elixir.app`, whose `vsn` is
/// the version the script runs), else by running `elixir --version` (version
/// managers' shims choose per directory; starting a VM costs about 0.4 s).
fn installed_elixir(project: &Path) -> Result<ElixirVersion, String> {
    if let Some(version) = elixir_on_path().as_deref().and_then(version_of_install) {
        return Ok(version);
    }
    elixir_version_output(project)
}

/// The first `elixir` on PATH, as `Command::new("elixir")` would find it.
fn elixir_on_path() -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join("elixir"))
        .find(|path| std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The version in `<install>/lib/elixir/ebin/elixir.app` for the install
/// whose `bin/elixir` the (symlink-resolved) `elixir` is.
fn version_of_install(elixir: &Path) -> Option<ElixirVersion> {
    let script = std::fs::canonicalize(elixir).ok()?;
    let install = script.parent()?.parent()?;
    let app = std::fs::read_to_string(install.join("lib/elixir/ebin/elixir.app")).ok()?;
    let start = app.find("{vsn,\"")? + "{vsn,\"".len();
    let end = start + app[start..].find('"')?;
    ElixirVersion::parse(&app[start..end]).ok()
}

fn elixir_version_output(project: &Path) -> Result<ElixirVersion, String> {
    let advice = "pass the Elixir the project is compiled with: --elixir-version X.Y (e.g. --elixir-version 1.18)";
    let output = Command::new("elixir")
        .arg("--version")
        .current_dir(project)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `elixir --version` to learn which Elixir's rules to use ({e}); {advice}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match ElixirVersion::from_version_output(&text) {
        Some(version) if output.status.success() => Ok(version),
        _ => Err(format!(
            "`elixir --version` did not report a version ({}: {}); {advice}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

fn parse_warning(e: &ParseError) -> String {
    format!(
        "{}:{}:{}: {}; the index's answer for this file is best-effort, a reload would fall back to Mix",
        e.path.display(),
        e.line,
        e.column,
        e.message
    )
}

fn json(encoded: serde_json::Result<String>) -> Result<String, String> {
    let mut text = encoded.map_err(|e| format!("cannot encode JSON: {e}"))?;
    text.push('\n');
    Ok(text)
}

/// The project directory, absolute and with symlinks resolved, checked to be
/// a Mix project.
fn project_dir(cwd: &Path, given: Option<&Path>) -> Result<PathBuf, String> {
    let shown = given.unwrap_or(Path::new("."));
    let dir = match std::fs::canonicalize(cwd.join(shown)) {
        Ok(dir) => dir,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("project directory {} does not exist", shown.display()))
        }
        Err(e) => return Err(format!("cannot read project directory {}: {e}", shown.display())),
    };
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", shown.display()));
    }
    if !dir.join("mix.exs").is_file() {
        let hint = if given.is_none() {
            " (run it in a Mix project, or pass one: elixir-dap deps PROJECT_DIR)"
        } else {
            ""
        };
        return Err(format!(
            "{} is not a Mix project: it has no mix.exs{hint}",
            dir.display()
        ));
    }
    Ok(dir)
}

/// `file` as a path relative to `project`: tried relative to the current
/// directory first, then to the project directory. It must exist, be a file
/// and lie inside the project.
fn project_file(cwd: &Path, project: &Path, file: &Path) -> Result<PathBuf, String> {
    let candidates = if file.is_absolute() {
        vec![file.to_path_buf()]
    } else {
        vec![cwd.join(file), project.join(file)]
    };
    let mut outside = None;
    for candidate in candidates {
        let metadata = match std::fs::metadata(&candidate) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot read {}: {e}", candidate.display())),
        };
        if metadata.is_dir() {
            return Err(format!(
                "{} is a directory; --affected takes source files",
                file.display()
            ));
        }
        match relative_to(project, &candidate) {
            Some(relative) => return Ok(relative),
            None => outside = Some(std::fs::canonicalize(&candidate).unwrap_or(candidate)),
        }
    }
    match outside {
        Some(path) => Err(format!(
            "{} is outside the project {}",
            path.display(),
            project.display()
        )),
        None if file.is_absolute() => Err(format!("{} does not exist", file.display())),
        None if cwd == project => Err(format!("{} does not exist in {}", file.display(), project.display())),
        None => Err(format!(
            "{} does not exist (looked in {} and in {})",
            file.display(),
            cwd.display(),
            project.display()
        )),
    }
}

/// `path` (existing) relative to `project` (canonical), or `None` when it is
/// outside. Compared as written first, so a source reached through a
/// symlinked `lib/` keeps the key the index gave it; paths with `..` are
/// resolved on disk instead, since `..` after a symlink is not lexical.
fn relative_to(project: &Path, path: &Path) -> Option<PathBuf> {
    let has_parent = path.components().any(|c| c == Component::ParentDir);
    if !has_parent {
        let lexical: PathBuf = path.components().filter(|c| *c != Component::CurDir).collect();
        if let Ok(relative) = lexical.strip_prefix(project) {
            return Some(relative.to_path_buf());
        }
    }
    let canonical = std::fs::canonicalize(path).ok()?;
    canonical.strip_prefix(project).ok().map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_to_strips_the_project_and_dot_components() {
        let temp = tempfile::tempdir().unwrap();
        let project = std::fs::canonicalize(temp.path()).unwrap();
        std::fs::create_dir_all(project.join("lib")).unwrap();
        std::fs::write(project.join("lib/a.ex"), "").unwrap();
        assert_eq!(
            relative_to(&project, &project.join("./lib/./a.ex")),
            Some(PathBuf::from("lib/a.ex"))
        );
        assert_eq!(
            relative_to(&project, &project.join("lib/../lib/a.ex")),
            Some(PathBuf::from("lib/a.ex"))
        );
        assert_eq!(
            relative_to(&project.join("lib"), &project.join("lib/../lib/../x")),
            None
        );
    }
}
