//! The planner: how many modules of each kind, the pipeline chains, and the
//! rendering of every file of the project.

use super::*;

/// How many modules of each kind a project of `n` modules has.
#[derive(Debug, Clone, Copy)]
struct Counts {
    groups: usize,
    services: usize,
    macros: usize,
    structs: usize,
    chains: usize,
    pipeline: usize,
}

impl Counts {
    fn for_modules(n: usize) -> Self {
        let groups = (n / 60).clamp(2, names::SERVICE_GROUPS.len());
        let services = (n / 25).clamp(3, 40);
        // Every kind of macro module, at every size, so that the small
        // projects the tests compile cover them all.
        let macros = MacroKind::ALL.len();
        let structs = (n / 25).clamp(2, 60);
        // Facade, application, workload runner and entry.
        let fixed = 4 + groups + services + macros + structs;
        let pipeline = n.saturating_sub(fixed);
        let chains = (pipeline / 12).clamp(2, names::DOMAINS.len());
        Self {
            groups,
            services,
            macros,
            structs,
            chains,
            pipeline,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MacroKind {
    Component,
    Guards,
    Bounds,
    Instrument,
    Constants,
}

impl MacroKind {
    const ALL: [MacroKind; 5] = [
        MacroKind::Component,
        MacroKind::Guards,
        MacroKind::Bounds,
        MacroKind::Instrument,
        MacroKind::Constants,
    ];

    fn name(self) -> &'static str {
        match self {
            MacroKind::Component => "Component",
            MacroKind::Guards => "Guards",
            MacroKind::Bounds => "Bounds",
            MacroKind::Instrument => "Instrument",
            MacroKind::Constants => "Constants",
        }
    }
}

/// For each macro module, the modules that depend on it at compile time.
type Dependents = Vec<(MacroKind, Vec<String>)>;

struct ServicePlan {
    module: String,
    group: usize,
    counter: bool,
}

struct Step {
    module: String,
    domain: String,
}

/// Names and relations, decided before anything is rendered.
pub(super) struct Planner<'a> {
    options: &'a GenOptions,
    app_module: String,
    groups: Vec<String>,
    services: Vec<ServicePlan>,
    macros: Vec<(MacroKind, String)>,
    structs: Vec<String>,
    chains: Vec<Vec<Step>>,
}

impl<'a> Planner<'a> {
    pub(super) fn new(options: &'a GenOptions) -> Self {
        let counts = Counts::for_modules(options.modules);
        let app_module = names::camelize(&options.app_name);
        let seed = options.seed;

        let groups: Vec<String> = names::SERVICE_GROUPS[..counts.groups]
            .iter()
            .map(|g| format!("{app_module}.{g}"))
            .collect();

        let mut rng = Rng::derive(seed, "services");
        let mut per_group: Vec<Vec<&str>> = groups
            .iter()
            .map(|_| {
                let mut list = names::SERVICES.to_vec();
                rng.shuffle(&mut list);
                list
            })
            .collect();
        let services = (0..counts.services)
            .map(|i| {
                let group = i % groups.len();
                let name = per_group
                    .get_mut(group)
                    .and_then(Vec::pop)
                    .map_or_else(|| format!("Service{i}"), str::to_owned);
                ServicePlan {
                    module: format!("{}.{name}", groups[group]),
                    group,
                    counter: rng.one_in(2),
                }
            })
            .collect();

        let macros = MacroKind::ALL[..counts.macros]
            .iter()
            .map(|&kind| (kind, format!("{app_module}.Macros.{}", kind.name())))
            .collect();

        let mut rng = Rng::derive(seed, "structs");
        let mut nouns = names::NOUNS.to_vec();
        rng.shuffle(&mut nouns);
        let structs = nouns[..counts.structs]
            .iter()
            .map(|noun| format!("{app_module}.Schemas.{noun}"))
            .collect();

        let chains = plan_chains(&app_module, counts, seed);
        Self {
            options,
            app_module,
            groups,
            services,
            macros,
            structs,
            chains,
        }
    }

    fn macro_module(&self, kind: MacroKind) -> Option<&str> {
        self.macros.iter().find(|(k, _)| *k == kind).map(|(_, m)| m.as_str())
    }

    /// Relations of step `position` of chain `chain`.
    fn step_spec(&self, chain: usize, position: usize, rng: &mut Rng) -> Option<StepSpec> {
        let steps = self.chains.get(chain)?;
        let step = steps.get(position)?;
        let at = |offset: usize| steps.get(position + offset).map(|s| s.module.clone());
        let mut scored: Vec<String> = [at(2), at(3)].into_iter().flatten().collect();
        if rng.one_in(4) {
            // A call across chains, as real code has.
            let other = rng.below(self.chains.len());
            if other != chain {
                if let Some(target) = self.chains.get(other).and_then(|s| rng.pick(s)) {
                    scored.push(target.module.clone());
                }
            }
        }
        let service = if rng.one_in(5) {
            rng.pick(&self.services).map(|s| {
                if s.counter {
                    Service::Counter(s.module.clone())
                } else {
                    Service::Store(s.module.clone())
                }
            })
        } else {
            None
        };
        let optional = |rng: &mut Rng, kind: MacroKind, one_in: usize| {
            let chosen = rng.one_in(one_in);
            self.macro_module(kind).filter(|_| chosen).map(str::to_owned)
        };
        let guards = optional(rng, MacroKind::Guards, 2);
        let bounds = optional(rng, MacroKind::Bounds, 3);
        let instrument = optional(rng, MacroKind::Instrument, 4);
        let constants = optional(rng, MacroKind::Constants, 5);
        let weight_count = rng.between(3, 5);
        Some(StepSpec {
            module: step.module.clone(),
            domain: step.domain.clone(),
            next: at(1),
            scored,
            schema: rng.pick(&self.structs)?.clone(),
            service,
            component: self.macro_module(MacroKind::Component)?.to_owned(),
            guards,
            bounds,
            instrument,
            constants,
            weights: (0..weight_count).map(|_| rng.between(1, 9)).collect(),
            factor: rng.between(1, 9),
            batch: rng.between(4, 8),
            normalize_style: rng.below(3),
            weigh_style: rng.below(4),
            mark_status: rng.one_in(3),
        })
    }

    pub(super) fn render(self) -> Result<Project, GenError> {
        let app = self.options.app_name.as_str();
        let app_module = self.app_module.as_str();
        let mut out = Output::new(app, app_module);

        let workload_runner = format!("{app_module}.Workload.Runner");
        let workload_entry = format!("{app_module}.Workload.Entry");

        out.file("mix.exs", elixir::mix_exs(app, app_module, WORKLOAD_INTERVAL_MS));
        out.file(".formatter.exs", elixir::FORMATTER_EXS.to_owned());
        out.file(".gitignore", elixir::GITIGNORE.to_owned());
        out.file(
            "README.md",
            elixir::readme(app_module, self.options.modules, self.options.seed, app),
        );
        out.file("test/test_helper.exs", elixir::test_helper());
        out.file(format!("test/{app}_test.exs"), elixir::smoke_test(app_module));

        out.module(
            app_module,
            ModuleKind::Facade,
            elixir::facade(app_module, &workload_runner, &workload_entry),
        );
        let mut top_children: Vec<String> = self.groups.iter().map(|g| format!("{g}.Supervisor")).collect();
        top_children.push(workload_runner.clone());
        out.module(
            &format!("{app_module}.Application"),
            ModuleKind::Application,
            elixir::application(app_module, &top_children),
        );
        self.render_services_and_structs(&mut out);
        let (edit_targets, dependents) = self.render_steps(&mut out)?;
        let (hub_macro, macros) = self.render_macros(&mut out, dependents)?;

        let heads: Vec<String> = self
            .chains
            .iter()
            .filter_map(|steps| steps.first().map(|s| s.module.clone()))
            .collect();
        out.module(
            &workload_runner,
            ModuleKind::WorkloadRunner,
            elixir::runner(
                &workload_runner,
                &workload_entry,
                app,
                WORKLOAD_INTERVAL_MS,
                WORKLOAD_STEPS_PER_INTERVAL,
                self.chains.len(),
            ),
        );
        out.module(
            &workload_entry,
            ModuleKind::WorkloadEntry,
            elixir::entry(&workload_entry, &heads),
        );

        let Output { mut files, modules, .. } = out;
        if modules.len() != self.options.modules {
            return Err(GenError::Internal(format!(
                "planned {} modules, rendered {}",
                self.options.modules,
                modules.len()
            )));
        }
        // A stable order that does not depend on the order of rendering.
        files.sort_by(|a, b| a.path.cmp(&b.path));

        Ok(Project {
            options: self.options.clone(),
            app_module: self.app_module.clone(),
            files,
            modules,
            workload: Workload {
                runner_module: workload_runner.clone(),
                entry_function: "run".to_owned(),
                entry_file: module_file(app, app_module, &workload_entry),
                entry_module: workload_entry,
                chains: self.chains.len(),
                interval_ms: WORKLOAD_INTERVAL_MS,
                steps: self.chains.iter().map(Vec::len).sum(),
                iterations_expr: format!("{workload_runner}.iterations()"),
                started_marker: format!("{app}: workload started"),
                first_iteration_marker: format!("{app}: first iteration done"),
                first_round_marker: format!("{app}: first round done"),
            },
            edit_targets,
            hub_macro,
            macros,
        })
    }

    /// A supervisor per service group over its GenServers, and the structs.
    fn render_services_and_structs(&self, out: &mut Output) {
        let mut rng = Rng::derive(self.options.seed, "service-bodies");
        for (index, group) in self.groups.iter().enumerate() {
            let children: Vec<String> = self
                .services
                .iter()
                .filter(|s| s.group == index)
                .map(|s| s.module.clone())
                .collect();
            let strategy = if rng.one_in(3) { "rest_for_one" } else { "one_for_one" };
            let label = names::underscore(elixir::last_segment(group)).replace('_', " ");
            let module = format!("{group}.Supervisor");
            let source = elixir::supervisor(&module, &label, strategy, &children);
            out.module(&module, ModuleKind::Supervisor, source);
        }
        for service in &self.services {
            let source = if service.counter {
                elixir::counter_server(&service.module, 250 * rng.between(2, 8))
            } else {
                elixir::store_server(&service.module, 250 * rng.between(2, 8), 16 * rng.between(2, 8))
            };
            out.module(&service.module, ModuleKind::GenServer, source);
        }
        for schema in &self.structs {
            out.module(schema, ModuleKind::Struct, schema_source(schema, &mut rng));
        }
    }

    /// The pipeline steps, as edit targets, and for each macro kind the steps
    /// that depend on it at compile time.
    fn render_steps(&self, out: &mut Output) -> Result<(Vec<EditTarget>, Dependents), GenError> {
        let mut rng = Rng::derive(self.options.seed, "steps");
        let mut dependents: Dependents = self.macros.iter().map(|(k, _)| (*k, Vec::new())).collect();
        let mut edit_targets = Vec::new();
        for (chain, steps) in self.chains.iter().enumerate() {
            for position in 0..steps.len() {
                let spec = self
                    .step_spec(chain, position, &mut rng)
                    .ok_or_else(|| GenError::Internal(format!("no step {chain}/{position}")))?;
                for (kind, users) in &mut dependents {
                    let uses = match kind {
                        MacroKind::Component => true,
                        MacroKind::Guards => spec.guards.is_some(),
                        MacroKind::Bounds => spec.bounds.is_some(),
                        MacroKind::Instrument => spec.instrument.is_some(),
                        MacroKind::Constants => spec.constants.is_some(),
                    };
                    if uses {
                        users.push(spec.module.clone());
                    }
                }
                let source = elixir::pipeline_step(&spec);
                let file = module_file(out.app, out.app_module, &spec.module);
                let breakpoint_line = find_line(&source, &file, |l| l == elixir::BREAKPOINT_LINE)?;
                let edit_line = find_line(&source, &file, |l| l.starts_with(elixir::FACTOR_PREFIX))?;
                edit_targets.push(EditTarget {
                    module: spec.module.clone(),
                    file: file.clone(),
                    function: "step/1".to_owned(),
                    breakpoint_line,
                    chain,
                    position,
                    edit: ConstantEdit {
                        file,
                        line: edit_line,
                        prefix: elixir::FACTOR_PREFIX.to_owned(),
                    },
                });
                out.module(&spec.module, ModuleKind::Pipeline, source);
            }
        }
        Ok((edit_targets, dependents))
    }

    /// The macro modules, described with their dependents; the component is
    /// the hub.
    fn render_macros(
        &self,
        out: &mut Output,
        dependents: Dependents,
    ) -> Result<(HubMacro, Vec<MacroModule>), GenError> {
        let mut macros = Vec::new();
        let mut hub_macro = None;
        for ((kind, module), (_, users)) in self.macros.iter().zip(dependents) {
            let source = match kind {
                MacroKind::Component => elixir::component_macro(module),
                MacroKind::Guards => elixir::guards_macro(module),
                MacroKind::Bounds => elixir::bounds_macro(module),
                MacroKind::Instrument => elixir::instrument_macro(module),
                MacroKind::Constants => elixir::constants_macro(module),
            };
            let file = module_file(out.app, out.app_module, module);
            if *kind == MacroKind::Component {
                let line = find_line(&source, &file, |l| l.starts_with(elixir::REVISION_PREFIX))?;
                hub_macro = Some(HubMacro {
                    module: module.clone(),
                    file: file.clone(),
                    dependents: users.clone(),
                    edit: ConstantEdit {
                        file: file.clone(),
                        line,
                        prefix: elixir::REVISION_PREFIX.to_owned(),
                    },
                });
            }
            macros.push(MacroModule {
                module: module.clone(),
                file,
                dependents: users,
            });
            out.module(module, ModuleKind::Macro, source);
        }
        let hub_macro = hub_macro.ok_or_else(|| GenError::Internal("no component macro".to_owned()))?;
        Ok((hub_macro, macros))
    }
}

/// Domains, contexts and step names of the pipeline chains.
fn plan_chains(app_module: &str, counts: Counts, seed: u64) -> Vec<Vec<Step>> {
    let mut rng = Rng::derive(seed, "chains");
    let mut domains = names::DOMAINS.to_vec();
    rng.shuffle(&mut domains);
    let chains = counts.chains;
    (0..chains)
        .map(|chain| {
            let domain = domains.get(chain).copied().unwrap_or("core");
            let len = counts.pipeline / chains + usize::from(chain < counts.pipeline % chains);
            let mut contexts = names::CONTEXTS.to_vec();
            rng.shuffle(&mut contexts);
            // Contexts of 6 to 14 steps, larger when there are many steps, so
            // the context names never run out.
            let min = 6.max(len.div_ceil(names::CONTEXTS.len()));
            let mut used = BTreeSet::new();
            let mut steps = Vec::with_capacity(len);
            let mut context_index = 0;
            while steps.len() < len {
                let context = contexts.get(context_index).copied().unwrap_or("misc");
                context_index += 1;
                let mut size = rng.between(min, min + 8).min(len - steps.len());
                if len - steps.len() - size < 3 {
                    // No tiny last context.
                    size = len - steps.len();
                }
                for _ in 0..size {
                    let leaf = unique_leaf(&mut rng, &mut used);
                    steps.push(Step {
                        module: format!(
                            "{app_module}.{}.{}.{leaf}",
                            names::camelize(domain),
                            names::camelize(context)
                        ),
                        domain: domain.to_owned(),
                    });
                }
            }
            steps
        })
        .collect()
}

/// A `QualifierRole` name not yet used in this chain (unique per chain, so
/// the aliases of a step's neighbours never clash).
fn unique_leaf(rng: &mut Rng, used: &mut BTreeSet<String>) -> String {
    for _ in 0..64 {
        let qualifier = rng.pick(names::QUALIFIERS).copied().unwrap_or("Core");
        let role = rng.pick(names::ROLES).copied().unwrap_or("Step");
        let name = format!("{qualifier}{role}");
        if used.insert(name.clone()) {
            return name;
        }
    }
    // Nearly full: number the names instead.
    let name = format!("Step{}", used.len());
    used.insert(name.clone());
    name
}

fn schema_source(module: &str, rng: &mut Rng) -> String {
    const EXTRAS: &[&str] = &[
        "currency: \"EUR\"",
        "notes: nil",
        "priority: 0",
        "tags: []",
        "inserted_at: nil",
        "region: :eu",
        "version: 1",
        "source: :web",
    ];
    let mut extras = EXTRAS.to_vec();
    rng.shuffle(&mut extras);
    let count = rng.between(1, 3);
    elixir::schema(module, &extras[..count])
}

/// `lib/bench_app/billing/rules/tax_rule.ex` for
/// `BenchApp.Billing.Rules.TaxRule`, as Mix projects lay files out.
fn module_file(app: &str, app_module: &str, module: &str) -> PathBuf {
    let Some(rest) = module.strip_prefix(app_module).and_then(|r| r.strip_prefix('.')) else {
        return PathBuf::from(format!("lib/{app}.ex"));
    };
    let mut path = PathBuf::from("lib");
    path.push(app);
    for segment in rest.split('.') {
        path.push(names::underscore(segment));
    }
    path.set_extension("ex");
    path
}

/// The 1-based number of the only line of `source` matching `pred`.
fn find_line(source: &str, file: &Path, pred: impl Fn(&str) -> bool) -> Result<u32, GenError> {
    let mut hits = source.lines().enumerate().filter(|(_, l)| pred(l)).map(|(i, _)| i + 1);
    match (hits.next(), hits.next()) {
        (Some(line), None) => {
            u32::try_from(line).map_err(|_| GenError::Internal(format!("{}: file too long", file.display())))
        }
        _ => Err(GenError::Internal(format!(
            "{}: marker line missing or repeated",
            file.display()
        ))),
    }
}

/// The files and modules rendered so far.
struct Output<'a> {
    app: &'a str,
    app_module: &'a str,
    files: Vec<GeneratedFile>,
    modules: Vec<ModuleInfo>,
}

impl<'a> Output<'a> {
    fn new(app: &'a str, app_module: &'a str) -> Self {
        Self {
            app,
            app_module,
            files: Vec::new(),
            modules: Vec::new(),
        }
    }

    fn file(&mut self, path: impl Into<PathBuf>, contents: String) {
        self.files.push(GeneratedFile {
            path: path.into(),
            contents,
        });
    }

    /// A module, in its own file where Mix conventions put it.
    fn module(&mut self, name: &str, kind: ModuleKind, contents: String) {
        let file = module_file(self.app, self.app_module, name);
        self.modules.push(ModuleInfo {
            name: name.to_owned(),
            kind,
            file: file.clone(),
        });
        self.file(file, contents);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_files_follow_mix_conventions() {
        assert_eq!(
            module_file("bench_app", "BenchApp", "BenchApp.Billing.Rules.TaxRule"),
            PathBuf::from("lib/bench_app/billing/rules/tax_rule.ex")
        );
        assert_eq!(
            module_file("bench_app", "BenchApp", "BenchApp"),
            PathBuf::from("lib/bench_app.ex")
        );
    }
}
