//! Mix's own record of a compile: the `compile.elixir` manifest that
//! `mix compile` keeps per application in `_build/<env>/lib/<app>/.mix/`.
//!
//! It holds what the sources alone cannot tell: each source's external
//! resources (`@external_resource`, which Phoenix's `embed_templates`
//! declares for every template), the modules it defined, and the modules it
//! references at compile time, for exports and at runtime, exactly as Elixir's
//! compiler tracer recorded them.
//!
//! The file is `:erlang.term_to_binary/1` of a tuple whose first element is
//! the manifest version and third the sources (Mix.Compilers.Elixir,
//! `read_manifest/1` and the `:source` record; checked at v1.14.0, v1.18.3,
//! v1.20.3):
//! - version 14 (Elixir 1.14): a list of `{:source, path, size, digest,
//!   compile_refs, export_refs, runtime_refs, compile_env, external,
//!   warnings, modules}`, `external` a list of `{path, existed?}`;
//! - versions 26 (1.18) and 35 (1.20): a map `path => {:source, size, mtime,
//!   digest, compile_refs, export_refs, runtime_refs, compile_env, external,
//!   compile_warnings, runtime_warnings, modules}`, `external` a list of
//!   `{path, {mtime, size}, digest}`.
//!
//! Both put the references at record positions 4–6 and `external` at 8, and
//! the modules last; another shape is an error naming the version.

use eetf::Term;
use std::collections::{BTreeMap, BTreeSet};

use crate::{Index, KindSet, RefKind};
use mix_layout::MixLayout;
use std::path::{Path, PathBuf};

/// One source file as Mix recorded it. Paths are as Mix wrote them: relative
/// to the application's directory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManifestSource {
    pub source: PathBuf,
    /// Files the source declared with `@external_resource`.
    pub external: Vec<PathBuf>,
    /// Modules the source defined (Elixir names, `MyApp.User`).
    pub modules: Vec<String>,
    /// Modules referenced at compile time, for exports, at runtime.
    pub compile_references: Vec<String>,
    pub export_references: Vec<String>,
    pub runtime_references: Vec<String>,
}

/// Why a manifest could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for ManifestError {}

/// The manifest of one application: `<build>/lib/<app>/.mix/compile.elixir`.
pub fn manifest_path(build_dir: &Path, app: &str) -> PathBuf {
    build_dir.join("lib").join(app).join(".mix").join("compile.elixir")
}

/// Reads a `compile.elixir` manifest. Errors name the file and what was
/// wrong (unreadable, not a term, a shape of an unknown Mix version).
pub fn read_manifest(path: &Path) -> Result<Vec<ManifestSource>, ManifestError> {
    let error = |message: String| ManifestError {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| error(format!("cannot read it: {e}")))?;
    let term = Term::decode(bytes.as_slice()).map_err(|e| error(format!("not an Erlang term: {e}")))?;
    parse_manifest(&term).map_err(error)
}

/// The sources of a decoded manifest term (see the module docs for shapes).
pub fn parse_manifest(term: &Term) -> Result<Vec<ManifestSource>, String> {
    let Term::Tuple(top) = term else {
        return Err("expected a tuple".into());
    };
    let version = top.elements.first().and_then(integer).unwrap_or(-1);
    let Some(sources) = top.elements.get(2) else {
        return Err(format!("manifest version {version}: no sources"));
    };
    let unknown = |what: &str| format!("manifest version {version}: unexpected {what}");
    let mut parsed = Vec::new();
    match sources {
        // Elixir 1.14: [{:source, path, ...}]
        Term::List(list) => {
            for record in &list.elements {
                let fields = record_fields(record).ok_or_else(|| unknown("source record"))?;
                let path = fields.get(1).and_then(text).ok_or_else(|| unknown("source path"))?;
                parsed.push(source_from(PathBuf::from(path), &fields).ok_or_else(|| unknown("source record"))?);
            }
        }
        // Elixir 1.18+: %{path => {:source, ...}}
        Term::Map(map) => {
            for (key, record) in &map.map {
                let path = text(key).ok_or_else(|| unknown("source path"))?;
                let fields = record_fields(record).ok_or_else(|| unknown("source record"))?;
                parsed.push(source_from(PathBuf::from(path), &fields).ok_or_else(|| unknown("source record"))?);
            }
        }
        Term::ByteList(bytes) if bytes.bytes.is_empty() => {}
        _ => return Err(unknown("sources")),
    }
    parsed.sort_by(|a, b| a.source.cmp(&b.source));
    Ok(parsed)
}

/// `fields` is the whole record: tag, then (1.14) path, size, digest or
/// (1.18+) size, mtime, digest; either way references at 4–6, external at
/// 8, modules last.
fn source_from(source: PathBuf, fields: &[Term]) -> Option<ManifestSource> {
    if fields.len() < 10 || atom(&fields[0])? != "source" {
        return None;
    }
    let external = list(&fields[8])?
        .iter()
        .map(|entry| match entry {
            Term::Tuple(t) => t.elements.first().and_then(text).map(PathBuf::from),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(ManifestSource {
        source,
        external,
        modules: modules(fields.last()?)?,
        compile_references: modules(&fields[4])?,
        export_references: modules(&fields[5])?,
        runtime_references: modules(&fields[6])?,
    })
}

fn record_fields(term: &Term) -> Option<Vec<Term>> {
    match term {
        Term::Tuple(t) => Some(t.elements.clone()),
        _ => None,
    }
}

fn list(term: &Term) -> Option<&[Term]> {
    match term {
        Term::List(l) => Some(&l.elements),
        Term::ByteList(b) if b.bytes.is_empty() => Some(&[]),
        _ => None,
    }
}

fn modules(term: &Term) -> Option<Vec<String>> {
    list(term)?.iter().map(|m| atom(m).map(elixir_name)).collect()
}

fn atom(term: &Term) -> Option<&str> {
    match term {
        Term::Atom(a) => Some(&a.name),
        _ => None,
    }
}

fn integer(term: &Term) -> Option<i64> {
    match term {
        Term::FixInteger(i) => Some(i64::from(i.value)),
        _ => None,
    }
}

fn text(term: &Term) -> Option<String> {
    match term {
        Term::Binary(b) => String::from_utf8(b.bytes.clone()).ok(),
        Term::ByteList(b) => String::from_utf8(b.bytes.clone()).ok(),
        _ => None,
    }
}

/// `Elixir.MyApp.User` → `MyApp.User`; an Erlang module → `:name`.
fn elixir_name(atom: &str) -> String {
    match atom.strip_prefix("Elixir.") {
        Some(name) => name.to_owned(),
        None => format!(":{atom}"),
    }
}

/// One application of a Mix project and where Mix keeps its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppManifest {
    /// The application's name (`:app` in its `mix.exs`).
    pub app: String,
    /// Its directory, relative to the project (empty for a plain project,
    /// `apps/web` in an umbrella): the manifest's paths are relative to it.
    pub app_dir: PathBuf,
    /// `_build/<env>/lib/<app>/.mix/compile.elixir` under the project (or,
    /// for an umbrella app built on its own, under the app), absolute;
    /// it may not exist (the project was never compiled in that
    /// environment).
    pub manifest: PathBuf,
}

/// The applications of the Mix project in `project_dir` and their
/// manifests for the environment `env` (`dev`, `test`): the project's own,
/// or each umbrella app's, named and built where
/// [`mix_layout::MixLayout`] says ([`MixLayout::build_dir`]).
pub fn project_manifests(project_dir: &Path, env: &str) -> Vec<AppManifest> {
    let layout = MixLayout::read(project_dir, env);
    layout
        .apps()
        .iter()
        .map(|app| AppManifest {
            app: app.name.clone(),
            app_dir: app.dir.clone(),
            manifest: manifest_path(&layout.build_dir(app), &app.name),
        })
        .collect()
}

/// External resources of an application, absolute: resource → the sources
/// that declared it (absolute) with their modules. `app_dir` is the
/// directory Mix compiled the application in (the project, or an umbrella
/// app's directory), which the manifest's paths are relative to.
pub fn external_resources(
    app_dir: &Path,
    sources: &[ManifestSource],
) -> BTreeMap<PathBuf, Vec<(PathBuf, Vec<String>)>> {
    let mut resources: BTreeMap<PathBuf, Vec<(PathBuf, Vec<String>)>> = BTreeMap::new();
    for source in sources {
        for resource in &source.external {
            resources
                .entry(app_dir.join(resource))
                .or_default()
                .push((app_dir.join(&source.source), source.modules.clone()));
        }
    }
    resources
}

/// Where the index's kinds for one (source, module) pair differ from what
/// Mix recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindDifference {
    /// The source, relative to the project directory (as the index keys it).
    pub source: PathBuf,
    /// The module referenced (defined in the project).
    pub module: String,
    /// What Mix recorded (compile and runtime exclusive, as Mix keeps them).
    pub mix: KindSet,
    /// What the index resolved, in the same shape.
    pub index: KindSet,
    /// The kinds of Mix's that the index does not cover: an export Mix has
    /// and the index not, a compile-time reference the index has not, a
    /// runtime one the index has neither as runtime nor as compile. Any of
    /// them can make the index miss a file Mix recompiles; a difference
    /// with none is only an over-approximation (extra recompiles).
    pub missing: KindSet,
}

impl KindDifference {
    /// Whether the index may plan fewer files than Mix because of it.
    pub fn is_miss(&self) -> bool {
        !self.missing.is_empty()
    }
}

/// A [`KindSet`] as Mix's lexical tracker records it: a module referenced
/// both at compile time and at runtime is only a compile-time reference
/// (`Kernel.LexicalTracker`); export is kept apart.
pub fn as_mix_records(kinds: KindSet) -> KindSet {
    KindSet {
        runtime: kinds.runtime && !kinds.compile,
        ..kinds
    }
}

/// Compares the index's resolved references with Mix's manifest, source by
/// source, for the references to the project's own modules (those the
/// manifest lists as defined by some source; Mix drops a source's
/// references to its own modules, and so does this comparison).
/// `app_dir` is the application's directory relative to the index's
/// project directory (empty for a plain project, `apps/web` in an
/// umbrella): the manifest's paths are relative to it.
pub fn compare_references(index: &Index, app_dir: &Path, sources: &[ManifestSource]) -> Vec<KindDifference> {
    let project_modules: BTreeSet<&str> = sources
        .iter()
        .flat_map(|s| s.modules.iter().map(String::as_str))
        .collect();
    let mut differences = Vec::new();
    for source in sources {
        let key = index.key(&app_dir.join(&source.source));
        let own: BTreeSet<&str> = source.modules.iter().map(String::as_str).collect();
        let mut mix: BTreeMap<&str, KindSet> = BTreeMap::new();
        for (list, kind) in [
            (&source.compile_references, RefKind::Compile),
            (&source.export_references, RefKind::Export),
            (&source.runtime_references, RefKind::Runtime),
        ] {
            for module in list {
                if project_modules.contains(module.as_str()) && !own.contains(module.as_str()) {
                    mix.entry(module).or_default().add(kind);
                }
            }
        }
        let ours: BTreeMap<&str, KindSet> = index
            .resolved_references(&key)
            .into_iter()
            .flatten()
            .filter(|(m, _)| project_modules.contains(m.as_str()) && !own.contains(m.as_str()))
            .map(|(m, k)| (m.as_str(), as_mix_records(*k)))
            .filter(|(_, k)| !k.is_empty())
            .collect();
        let modules: BTreeSet<&str> = mix.keys().chain(ours.keys()).copied().collect();
        for module in modules {
            let m = mix.get(module).copied().unwrap_or_default();
            let i = ours.get(module).copied().unwrap_or_default();
            if m == i {
                continue;
            }
            let missing = KindSet {
                compile: m.compile && !i.compile,
                export: m.export && !i.export,
                runtime: m.runtime && !(i.runtime || i.compile),
            };
            differences.push(KindDifference {
                source: key.clone(),
                module: module.to_owned(),
                mix: m,
                index: i,
                missing,
            });
        }
    }
    differences
}

#[cfg(test)]
mod tests {
    use super::*;
    use eetf::{Atom, Binary, FixInteger, List, Map, Tuple};

    fn atom_t(name: &str) -> Term {
        Term::Atom(Atom::from(name))
    }
    fn bin(text: &str) -> Term {
        Term::Binary(Binary::from(text.as_bytes()))
    }
    fn int(value: i32) -> Term {
        Term::FixInteger(FixInteger::from(value))
    }
    fn list_t(elements: Vec<Term>) -> Term {
        Term::List(List::from(elements))
    }
    fn tuple(elements: Vec<Term>) -> Term {
        Term::Tuple(Tuple::from(elements))
    }

    #[test]
    fn reads_elixir_1_14_lists_of_records() {
        let record = tuple(vec![
            atom_t("source"),
            bin("lib/app/template.ex"),
            int(339),
            bin("digest"),
            list_t(vec![atom_t("Elixir.Path")]),
            list_t(vec![]),
            list_t(vec![atom_t("Elixir.String"), atom_t("lists")]),
            list_t(vec![]),
            list_t(vec![tuple(vec![bin("lib/app/hello.txt.eex"), atom_t("true")])]),
            list_t(vec![]),
            list_t(vec![atom_t("Elixir.App.Template")]),
        ]);
        let manifest = tuple(vec![int(14), list_t(vec![]), list_t(vec![record])]);
        let sources = parse_manifest(&manifest).unwrap();
        assert_eq!(
            sources,
            [ManifestSource {
                source: "lib/app/template.ex".into(),
                external: vec!["lib/app/hello.txt.eex".into()],
                modules: vec!["App.Template".into()],
                compile_references: vec!["Path".into()],
                export_references: vec![],
                runtime_references: vec!["String".into(), ":lists".into()],
            }]
        );
    }

    #[test]
    fn reads_elixir_1_18_and_1_20_maps_of_records() {
        let record = tuple(vec![
            atom_t("source"),
            int(339),
            int(1_795_961_865),
            bin("digest"),
            list_t(vec![]),
            list_t(vec![atom_t("Elixir.App.Opts")]),
            list_t(vec![]),
            list_t(vec![]),
            list_t(vec![tuple(vec![
                bin("priv/page.html.heex"),
                tuple(vec![int(1), int(13)]),
                bin("digest"),
            ])]),
            list_t(vec![]),
            list_t(vec![]),
            list_t(vec![atom_t("Elixir.App.Page"), atom_t("Elixir.App.Page.Helpers")]),
        ]);
        let mut map = std::collections::HashMap::new();
        map.insert(bin("lib/app/page.ex"), record);
        let manifest = tuple(vec![
            int(35),
            Term::Map(Map::from(std::collections::HashMap::<Term, Term>::new())),
            Term::Map(Map::from(map)),
        ]);
        let sources = parse_manifest(&manifest).unwrap();
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].external, [PathBuf::from("priv/page.html.heex")]);
        assert_eq!(sources[0].modules, ["App.Page", "App.Page.Helpers"]);
        assert_eq!(sources[0].export_references, ["App.Opts"]);
        let resources = external_resources(Path::new("/p"), &sources);
        assert_eq!(
            resources[Path::new("/p/priv/page.html.heex")],
            [(
                PathBuf::from("/p/lib/app/page.ex"),
                vec!["App.Page".to_owned(), "App.Page.Helpers".to_owned()]
            )]
        );
    }

    #[test]
    fn finds_the_manifests_of_a_project_and_of_umbrella_apps() {
        let tmp = tempfile::tempdir().unwrap();
        let plain = tmp.path().join("plain");
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::write(plain.join("mix.exs"), "[app: :shop, version: \"1.0.0\"]").unwrap();
        assert_eq!(
            project_manifests(&plain, "test"),
            [AppManifest {
                app: "shop".into(),
                app_dir: PathBuf::new(),
                manifest: plain.join("_build/test/lib/shop/.mix/compile.elixir"),
            }]
        );
        let umbrella = tmp.path().join("umbrella");
        for app in ["web", "core"] {
            std::fs::create_dir_all(umbrella.join("apps").join(app)).unwrap();
            std::fs::write(
                umbrella.join("apps").join(app).join("mix.exs"),
                format!("[app: :my_{app}]"),
            )
            .unwrap();
        }
        std::fs::write(umbrella.join("mix.exs"), "[apps_path: \"apps\"]").unwrap();
        // The web app was built on its own, in its directory.
        let own = umbrella.join("apps/web/_build/dev/lib/my_web/.mix/compile.elixir");
        std::fs::create_dir_all(own.parent().unwrap()).unwrap();
        std::fs::write(&own, "").unwrap();
        let found = project_manifests(&umbrella, "dev");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].app, "my_core");
        assert_eq!(found[0].app_dir, Path::new("apps/core"));
        assert_eq!(
            found[0].manifest,
            umbrella.join("_build/dev/lib/my_core/.mix/compile.elixir")
        );
        assert_eq!(found[1].app_dir, Path::new("apps/web"));
        assert_eq!(found[1].manifest, own);
    }

    #[test]
    fn an_unknown_shape_names_the_version() {
        let manifest = tuple(vec![
            int(99),
            list_t(vec![]),
            list_t(vec![tuple(vec![atom_t("other")])]),
        ]);
        let error = parse_manifest(&manifest).unwrap_err();
        assert!(error.contains("manifest version 99"), "{error}");
        let error = read_manifest(Path::new("/nonexistent/compile.elixir")).unwrap_err();
        assert!(error.to_string().contains("cannot read it"), "{error}");
    }
}
