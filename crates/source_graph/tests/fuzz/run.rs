//! The differential fuzzer's driver: generate a project, compile it with
//! Mix, edit each file in turn (a public function added, so its module's
//! exports change) and compare what Mix recompiles (`mix compile
//! --verbose`) with what the index plans (`Index::affected`). A file Mix
//! recompiles that the index does not plan is a *miss*: it is shrunk to a
//! minimal project, confirmed with a `mix` process of its own, and
//! reported. A file only the index plans is a *superset*: counted.
//!
//! After each cold compile the index's reference kinds are also compared
//! with Mix's manifest (`compile.elixir`), source by source: a kind Mix
//! recorded that the index does not cover is a *kind miss*, reported with
//! its source (it may or may not make an edit miss a file).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use source_graph::mix_manifest::{compare_references, manifest_path, read_manifest};
use source_graph::{default_roots, ElixirVersion, Index, KindSet};

use super::grammar::{Item, Project, Rng};
use super::mix::{Compiled, Mix, MixCli, MixServer};

pub struct Config {
    pub seed: u64,
    /// Stop once this many edits were compared ...
    pub max_edits: usize,
    /// ... or once this much time has passed (checked between edits).
    pub budget: Duration,
    pub elixir: ElixirVersion,
    /// Where projects are written (one directory per project, removed
    /// after it unless it shows a miss).
    pub work: PathBuf,
    /// Shrink misses to a minimal project (and confirm them with `mix`).
    pub shrink: bool,
    /// Print a line per project.
    pub verbose: bool,
}

/// One edit where Mix recompiled a file the index did not plan.
#[derive(Debug, Clone)]
pub struct Miss {
    pub report: String,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub projects: usize,
    pub files: usize,
    pub edits: usize,
    /// Edits where the index planned exactly Mix's files.
    pub exact: usize,
    /// Edits where Mix recompiled more than the edited files, and the
    /// most files one edit recompiled.
    pub cascades: usize,
    pub widest: usize,
    /// Extra files per edit where the index planned more than Mix.
    pub supersets: Vec<usize>,
    pub misses: Vec<Miss>,
    /// The first few supersets, for the record.
    pub superset_examples: Vec<String>,
    /// (source, module, Mix's kinds, the index's) of kind misses.
    pub kind_misses: Vec<String>,
    /// Differences with the manifest that only add kinds.
    pub kind_extras: usize,
    /// Generated projects Mix could not compile (a generator bug).
    pub invalid: Vec<String>,
    pub elapsed: Duration,
}

fn kinds(k: KindSet) -> String {
    [(k.compile, 'C'), (k.export, 'E'), (k.runtime, 'R')]
        .iter()
        .map(|(on, c)| if *on { *c } else { '-' })
        .collect()
}

impl Stats {
    pub fn summary(&self, elixir: ElixirVersion) -> String {
        let mut sorted = self.supersets.clone();
        sorted.sort_unstable();
        let median = if sorted.is_empty() { 0 } else { sorted[sorted.len() / 2] };
        let worst = sorted.last().copied().unwrap_or(0);
        format!(
            "Elixir {elixir}: {} projects ({} files), {} edits ({} recompiling more than the edited files, at most {} files): {} exact, {} supersets (extra files median {median}, worst {worst}), {} misses; manifest: {} kind misses, {} kind extras; {} invalid projects; {:.0} s",
            self.projects,
            self.files,
            self.edits,
            self.cascades,
            self.widest,
            self.exact,
            self.supersets.len(),
            self.misses.len(),
            self.kind_misses.len(),
            self.kind_extras,
            self.invalid.len(),
            self.elapsed.as_secs_f64()
        )
    }
}

/// A project on disk, compiled by Mix, with the index beside it.
struct Live {
    ns: String,
    dir: PathBuf,
    project: Project,
}

fn app_of(ns: &str) -> String {
    ns.to_lowercase()
}

fn write_project(dir: &Path, ns: &str, project: &Project) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(
        dir.join("mix.exs"),
        format!(
            "defmodule {ns}.MixProject do\n  use Mix.Project\n  def project, do: [app: :{}, version: \"0.1.0\", consolidate_protocols: false]\nend\n",
            app_of(ns)
        ),
    )
    .unwrap();
    for (path, source) in project.render(ns) {
        std::fs::write(dir.join(path), source).unwrap();
    }
}

fn render_all(ns: &str, project: &Project) -> String {
    let mut out = String::new();
    for (path, source) in project.render(ns) {
        let _ = writeln!(out, "--- {path}\n{source}");
    }
    out
}

/// The next free edit number in `project` (probes are numbered).
fn next_probe(project: &Project) -> usize {
    project
        .modules
        .iter()
        .flat_map(|m| m.items.iter())
        .filter_map(|i| match i {
            Item::Probe(n) => Some(*n + 1),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// The outcome of one edit.
struct EditResult {
    mix: BTreeSet<String>,
    index: BTreeSet<String>,
}

impl EditResult {
    fn missing(&self) -> BTreeSet<String> {
        self.mix.difference(&self.index).cloned().collect()
    }
    fn extra(&self) -> usize {
        self.index.difference(&self.mix).count()
    }
}

pub struct Fuzzer {
    config: Config,
    server: MixServer,
    cli: MixCli,
    counter: usize,
}

impl Fuzzer {
    pub fn new(config: Config) -> Fuzzer {
        std::fs::create_dir_all(&config.work).unwrap();
        let server = MixServer::start(&config.work);
        let cli = MixCli {
            home: config.work.join("mix_home"),
        };
        Fuzzer {
            config,
            server,
            cli,
            counter: 0,
        }
    }

    fn fresh_ns(&mut self) -> String {
        self.counter += 1;
        format!("Fz{}n{}", self.config.seed, self.counter)
    }

    /// Writes and compiles a project from scratch.
    fn start(&mut self, project: Project, cli: bool) -> Result<Live, String> {
        let ns = self.fresh_ns();
        let dir = self.config.work.join(&ns);
        write_project(&dir, &ns, &project);
        let compiled = if cli {
            self.cli.compile(&app_of(&ns), &dir)
        } else {
            self.server.compile(&app_of(&ns), &dir)
        };
        match compiled {
            Compiled::Files(_) => Ok(Live { ns, dir, project }),
            Compiled::Failed(error) => {
                let text = format!("{error}\n{}", render_all(&ns, &project));
                let _ = std::fs::remove_dir_all(&dir);
                Err(text)
            }
        }
    }

    fn index(&self, live: &Live) -> Index {
        let index = Index::build(&live.dir, &default_roots(&live.dir, "dev"), self.config.elixir).unwrap();
        assert!(
            index.parse_errors().is_empty(),
            "tree-sitter cannot parse a generated file: {:?}\n{}",
            index.parse_errors(),
            render_all(&live.ns, &live.project)
        );
        index
    }

    /// Adds a public function to modules `ids` (a batch of saves),
    /// recompiles, and compares.
    fn edit(&mut self, live: &mut Live, index: &mut Index, ids: &[usize], cli: bool) -> Result<EditResult, String> {
        let mut paths = Vec::new();
        for id in ids {
            let n = next_probe(&live.project);
            live.project.module_mut(*id).unwrap().items.push(Item::Probe(n));
            paths.push(live.project.module(*id).unwrap().path());
        }
        let rendered = live.project.render(&live.ns);
        for path in &paths {
            let source = &rendered.iter().find(|(p, _)| p == path).unwrap().1;
            std::fs::write(live.dir.join(path), source).unwrap();
            index.update_file(Path::new(path), source).unwrap();
        }
        let path = paths.join(" ");
        let planned: BTreeSet<String> = index
            .affected(&paths)
            .recompile_paths()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let compiled = if cli {
            self.cli.compile(&app_of(&live.ns), &live.dir)
        } else {
            self.server.compile(&app_of(&live.ns), &live.dir)
        };
        match compiled {
            Compiled::Files(mix) => Ok(EditResult { mix, index: planned }),
            Compiled::Failed(error) => Err(format!(
                "editing {path}: {error}\n{}",
                render_all(&live.ns, &live.project)
            )),
        }
    }

    /// The kinds where the index does not cover Mix's manifest.
    fn manifest_check(&self, live: &Live, index: &Index, stats: &mut Stats) {
        let manifest = manifest_path(&live.dir.join("_build/dev"), &app_of(&live.ns));
        let sources = read_manifest(&manifest).unwrap_or_else(|e| panic!("{e}"));
        for d in compare_references(index, Path::new(""), &sources) {
            if d.is_miss() {
                let source = std::fs::read_to_string(live.dir.join(&d.source)).unwrap_or_default();
                stats.kind_misses.push(format!(
                    "{} -> {}: Mix {} index {}\n{source}",
                    d.source.display(),
                    d.module,
                    kinds(d.mix),
                    kinds(d.index)
                ));
            } else {
                stats.kind_extras += 1;
            }
        }
    }

    fn finish(&self, live: Live) {
        if std::env::var_os("FUZZ_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&live.dir);
        }
    }

    /// Whether editing module `id` of `project` (as it stands, its earlier
    /// probes included) makes the index miss a file; the result if so.
    fn reproduces(&mut self, project: &Project, ids: &[usize], cli: bool) -> Option<(String, EditResult)> {
        let mut live = self.start(project.clone(), cli).ok()?;
        let mut index = self.index(&live);
        let result = self.edit(&mut live, &mut index, ids, cli).ok();
        let ns = live.ns.clone();
        let before = project.clone();
        self.finish(live);
        let result = result?;
        if result.missing().is_empty() {
            None
        } else {
            Some((render_all(&ns, &before), result))
        }
    }

    /// Greedy shrinking: drop modules, items, quote items and other parts
    /// while the miss stays.
    fn shrink(&mut self, mut project: Project, ids: &[usize]) -> Project {
        let mut attempts = 0;
        loop {
            let mut improved = false;
            let candidates = candidates(&project, ids);
            for candidate in candidates {
                attempts += 1;
                if attempts > 600 {
                    return project;
                }
                if self.reproduces(&candidate, ids, false).is_some() {
                    project = candidate;
                    improved = true;
                    break;
                }
            }
            if !improved {
                return project;
            }
        }
    }

    pub fn run(mut self) -> Stats {
        let started = Instant::now();
        let mut stats = Stats::default();
        let mut rng = Rng::new(self.config.seed);
        'projects: while stats.edits < self.config.max_edits && started.elapsed() < self.config.budget {
            let project = Project::generate(&mut rng);
            let mut live = match self.start(project, false) {
                Ok(live) => live,
                Err(error) => {
                    stats.invalid.push(error);
                    continue;
                }
            };
            stats.projects += 1;
            stats.files += live.project.modules.len();
            let mut index = self.index(&live);
            self.manifest_check(&live, &index, &mut stats);
            let ids: Vec<usize> = live.project.modules.iter().map(|m| m.id).collect();
            for (n, id) in ids.iter().enumerate() {
                // Now and then a batch: this file and the next one saved
                // together.
                let batch: Vec<usize> = match ids.get(n + 1) {
                    Some(next) if rng.chance(10) => vec![*id, *next],
                    _ => vec![*id],
                };
                if stats.edits >= self.config.max_edits || started.elapsed() >= self.config.budget {
                    self.finish(live);
                    break 'projects;
                }
                let before = live.project.clone();
                let result = match self.edit(&mut live, &mut index, &batch, false) {
                    Ok(result) => result,
                    Err(error) => {
                        stats.invalid.push(error);
                        break;
                    }
                };
                stats.edits += 1;
                if result.mix.len() > batch.len() {
                    stats.cascades += 1;
                }
                stats.widest = stats.widest.max(result.mix.len());
                let missing = result.missing();
                if !missing.is_empty() {
                    let report = self.report_miss(&live, &before, &batch, &result);
                    eprintln!("{report}");
                    stats.misses.push(Miss { report });
                } else if result.extra() > 0 {
                    stats.supersets.push(result.extra());
                    if stats.superset_examples.len() < 5 {
                        let extra: Vec<&String> = result.index.difference(&result.mix).collect();
                        stats.superset_examples.push(format!(
                            "editing {:?}: Mix {:?}, the index also {extra:?}\n{}",
                            batch.iter().map(|i| format!("lib/m{i}.ex")).collect::<Vec<_>>(),
                            result.mix,
                            render_all(&live.ns, &live.project)
                        ));
                    }
                } else {
                    stats.exact += 1;
                }
            }
            if self.config.verbose {
                eprintln!(
                    "project {} ({} files): {} edits so far, {} misses, {:.0} s",
                    live.ns,
                    live.project.modules.len(),
                    stats.edits,
                    stats.misses.len(),
                    started.elapsed().as_secs_f64()
                );
            }
            self.finish(live);
        }
        stats.elapsed = started.elapsed();
        stats
    }

    fn report_miss(&mut self, live: &Live, before: &Project, ids: &[usize], result: &EditResult) -> String {
        let path = ids
            .iter()
            .map(|id| format!("lib/m{id}.ex"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut report = format!(
            "MISS (seed {}, project {}): editing {path} (a public function added)\n  Mix recompiled: {:?}\n  index planned:  {:?}\n  missed:         {:?}\n",
            self.config.seed,
            live.ns,
            result.mix,
            result.index,
            result.missing()
        );
        if self.config.shrink {
            let minimal = self.shrink(before.clone(), ids);
            match self.reproduces(&minimal, ids, true) {
                Some((sources, small)) => {
                    let _ = write!(
                        report,
                        "  minimal project ({} files), confirmed with `mix compile --verbose`: editing {path}\n  Mix recompiled: {:?}\n  index planned:  {:?}\n{sources}",
                        minimal.modules.len(),
                        small.mix,
                        small.index
                    );
                }
                None => {
                    let _ = write!(
                        report,
                        "  the minimal project ({} files) does not miss with a `mix` process of its own; as found:\n{}",
                        minimal.modules.len(),
                        render_all(&live.ns, before)
                    );
                }
            }
        } else {
            let _ = write!(report, "{}", render_all(&live.ns, before));
        }
        report
    }
}

/// A change of one module of a candidate.
type ModuleEdit = Box<dyn Fn(&mut super::grammar::Module)>;

/// Smaller variants of `project` that keep the edited modules `edited`.
fn candidates(project: &Project, edited: &[usize]) -> Vec<Project> {
    let mut out = Vec::new();
    let mut ids: Vec<usize> = project.modules.iter().map(|m| m.id).collect();
    ids.reverse();
    for other in &ids {
        if edited.contains(other) {
            continue;
        }
        let smaller = project.without_module(*other);
        if edited.iter().all(|id| smaller.module(*id).is_some()) {
            out.push(smaller);
        }
    }
    for m in &project.modules {
        let mid = m.id;
        for n in 0..m.items.len() {
            if matches!(m.items[n], Item::Probe(_)) {
                continue;
            }
            let mut p = project.clone();
            p.module_mut(mid).unwrap().items.remove(n);
            out.push(p);
        }
        if let Some(mac) = &m.macro_def {
            for n in 0..mac.quote.len() {
                let mut p = project.clone();
                p.module_mut(mid).unwrap().macro_def.as_mut().unwrap().quote.remove(n);
                out.push(p);
            }
            if mac.body_call.is_some() || mac.helper {
                let mut p = project.clone();
                let mm = p.module_mut(mid).unwrap().macro_def.as_mut().unwrap();
                mm.body_call = None;
                mm.helper = false;
                out.push(p);
            }
        }
        if let Some(quote) = &m.using {
            for n in 0..quote.len() {
                let mut p = project.clone();
                p.module_mut(mid).unwrap().using.as_mut().unwrap().remove(n);
                out.push(p);
            }
        }
        let mut edits: Vec<ModuleEdit> = Vec::new();
        if !m.derive.is_empty() {
            edits.push(Box::new(|m| m.derive.clear()));
        }
        if !m.impl_nested.is_empty() || !m.impl_after.is_empty() {
            edits.push(Box::new(|m| {
                m.impl_nested.clear();
                m.impl_after.clear();
            }));
        }
        if m.struct_default.is_some() {
            edits.push(Box::new(|m| m.struct_default = None));
        }
        if m.inner.is_some() {
            edits.push(Box::new(|m| m.inner = None));
        }
        if m.inner_struct {
            edits.push(Box::new(|m| m.inner_struct = false));
        }
        if m.extra.is_some() {
            edits.push(Box::new(|m| m.extra = None));
        }
        if m.def_macro.is_some() {
            edits.push(Box::new(|m| m.def_macro = None));
        }
        if m.exception {
            edits.push(Box::new(|m| m.exception = false));
        }
        for flag in [
            m.macro_def.is_some(),
            m.using.is_some(),
            m.callbacks,
            m.guard,
            m.before_compile_hook,
            m.has_struct,
        ]
        .iter()
        .enumerate()
        .filter(|(_, on)| **on)
        .map(|(n, _)| n)
        {
            edits.push(Box::new(move |m| match flag {
                0 => m.macro_def = None,
                1 => m.using = None,
                2 => m.callbacks = false,
                3 => m.guard = false,
                4 => m.before_compile_hook = false,
                _ => m.has_struct = false,
            }));
        }
        for edit in edits {
            let mut p = project.clone();
            edit(p.module_mut(mid).unwrap());
            out.push(p);
        }
    }
    out
}
