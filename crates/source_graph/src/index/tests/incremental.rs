//! Random edits, applied one at a time: the index must answer as a
//! fresh index and as Mix's rule followed literally.

use std::collections::VecDeque;
use std::path::Path;

use super::*;

/// `affected` as it was first written, resolving every edge while it
/// walks: Mix's rule, followed literally (every stale file, every
/// candidate referrer). The index must answer exactly the same.
fn reference_affected(idx: &Index, changed: &[PathBuf]) -> Affected {
    let dependents_of_file = |path: &Path| -> Vec<(PathBuf, ModuleName, KindSet)> {
        let Some(entry) = idx.files.get(path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for module in &entry.facts.modules {
            for referrer in idx.candidate_referrers(&module.name) {
                if referrer.as_path() == path {
                    continue;
                }
                let Some(ref_entry) = idx.files.get(referrer) else {
                    continue;
                };
                let injected = idx.injections(&ref_entry.facts);
                let kinds = idx.kinds_between(&ref_entry.facts, &injected, &module.name);
                if !kinds.is_empty() {
                    out.push((referrer.clone(), module.name.clone(), kinds));
                }
            }
        }
        out
    };
    let mut recompile: Vec<Recompile> = Vec::new();
    let mut in_recompile: BTreeSet<PathBuf> = BTreeSet::new();
    let mut stale: BTreeSet<PathBuf> = BTreeSet::new();
    let mut queue: VecDeque<PathBuf> = VecDeque::new();
    let mut unknown = Vec::new();
    let mut seeds = BTreeSet::new();
    for path in changed {
        let key = idx.key(path);
        if !idx.files.contains_key(&key) {
            unknown.push(key.clone());
        }
        if in_recompile.insert(key.clone()) {
            recompile.push(Recompile {
                path: key.clone(),
                reason: Reason::Changed,
            });
            stale.insert(key.clone());
            seeds.insert(key.clone());
            queue.push_back(key);
        }
    }
    while let Some(file) = queue.pop_front() {
        let seed = seeds.contains(&file);
        for (dependent, module, kinds) in dependents_of_file(&file) {
            let reason = if kinds.compile {
                Some(Reason::Compile {
                    module,
                    via: file.clone(),
                })
            } else if kinds.export && seed {
                Some(Reason::Export {
                    module,
                    via: file.clone(),
                })
            } else {
                None
            };
            if let Some(reason) = reason {
                if in_recompile.insert(dependent.clone()) {
                    recompile.push(Recompile {
                        path: dependent.clone(),
                        reason,
                    });
                    stale.insert(dependent.clone());
                    queue.push_back(dependent);
                }
            } else if kinds.runtime && stale.insert(dependent.clone()) {
                queue.push_back(dependent);
            }
        }
    }
    let mut runtime_callers = BTreeSet::new();
    let mut modules = Vec::new();
    let mut parse_errors = Vec::new();
    for r in &recompile {
        for (dependent, _, kinds) in dependents_of_file(&r.path) {
            if kinds.runtime && !in_recompile.contains(&dependent) {
                runtime_callers.insert(dependent);
            }
        }
        if let Some(entry) = idx.files.get(&r.path) {
            modules.extend(entry.facts.modules.iter().cloned());
            parse_errors.extend(entry.errors.iter().cloned());
        }
    }
    Affected {
        recompile,
        runtime_callers: runtime_callers.into_iter().collect(),
        modules,
        parse_errors,
        unknown,
    }
}

/// A small deterministic PRNG (xorshift), so the test needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const MODULES: usize = 24;
const USING: usize = 6;

/// A random file defining `T.M<name>` (sometimes with a nested module):
/// macro modules, `__using__` modules injecting imports, `use`s,
/// behaviours and calls, structs, and every kind of reference to other
/// modules, so that kinds flip with the targets' definitions.
fn random_module(rng: &mut Rng, name: usize, dense: bool) -> String {
    let other = |rng: &mut Rng| format!("T.M{}", rng.below(MODULES));
    // The first few modules are mostly `__using__` ones, `use`d often,
    // so that injection chains (a quote that `use`s another) are common.
    let user = |rng: &mut Rng| format!("T.M{}", rng.below(USING));
    let mut body = Vec::new();
    if rng.chance(if dense { 30 } else { 8 }) {
        let helper = other(rng);
        body.push(format!("  defmacro m(x), do: {helper}.f(x)"));
        body.push(format!("  defmacro n, do: quote(do: {helper}.f(1))"));
    }
    if rng.chance(if name < USING { 85 } else { 10 }) {
        let mut quote = Vec::new();
        for _ in 0..rng.below(4) {
            let target = other(rng);
            quote.push(match rng.below(6) {
                0 => format!("      import {target}"),
                1 => format!("      use {}", user(rng)),
                2 => format!("      @behaviour {target}"),
                3 => format!("      def injected, do: {target}.f(1)"),
                4 => format!("      require {target}"),
                _ => format!("      @x {target}.f(2)"),
            });
        }
        body.push(format!(
            "  defmacro __using__(_) do\n    quote do\n{}\n    end\n  end",
            quote.join("\n")
        ));
    }
    if rng.chance(20) {
        body.push("  @callback cb() :: :ok".to_owned());
    }
    if rng.chance(15) {
        body.push("  defmacro __deriving__(_, _, _), do: :ok".to_owned());
    }
    if rng.chance(20) {
        body.push(format!("  @derive [{}]", other(rng)));
    }
    if rng.chance(30) {
        body.push("  defstruct [:a]".to_owned());
    }
    body.push(format!("  def f(x), do: {}.g(x)", other(rng)));
    for i in 0..rng.below(if dense { 5 } else { 3 }) {
        let target = other(rng);
        body.push(match rng.below(9) {
            0 => format!("  require {target}\n  def r{i}(x), do: {target}.m(x)"),
            1 => format!("  def s{i}(%{target}{{}} = x), do: x"),
            2 => format!("  @a{i} {target}.f(1)"),
            3 => format!("  use {}", user(rng)),
            4 => format!("  import {target}\n  def i{i}, do: f(m(1))"),
            5 => format!("  alias {target}"),
            6 => format!("  def h{i}, do: {target}.n()"),
            7 => format!("  @behaviour {target}"),
            _ => format!("  def c{i}, do: {target}.f(2)"),
        });
    }
    if rng.chance(15) {
        let target = other(rng);
        body.push(format!("  defmodule Inner do\n    def x, do: {target}.f(3)\n  end"));
    }
    if rng.chance(12) {
        // `T.Mn.Any`: what `@derive T.Mn` may call.
        let deriving = if rng.chance(50) {
            "defmacro __deriving__(_, _, _), do: :ok"
        } else {
            "def __deriving__(_, _, _), do: :ok"
        };
        body.push(format!("  defmodule Any do\n    {deriving}\n  end"));
    }
    format!("defmodule T.M{name} do\n{}\nend\n", body.join("\n"))
}

fn assert_same_answers(idx: &Index, sources: &BTreeMap<String, String>, step: usize) {
    let list: Vec<(&String, &String)> = sources.iter().collect();
    let batch = Index::from_sources(Path::new("/proj"), &list, idx.elixir_version()).unwrap();
    let files: Vec<PathBuf> = batch.files().map(Path::to_path_buf).collect();
    assert_eq!(
        idx.files().map(Path::to_path_buf).collect::<Vec<_>>(),
        files,
        "step {step}"
    );
    assert_eq!(idx.dependents, batch.dependents, "step {step}");
    assert_eq!(idx.compile_referrers, batch.compile_referrers, "step {step}");
    for (i, file) in files.iter().enumerate() {
        assert_eq!(
            idx.references_of(file),
            batch.references_of(file),
            "step {step}: {file:?}"
        );
        let pair = [file.clone(), files[(i * 7 + 3) % files.len()].clone()];
        let queries = if i % 3 == 0 {
            &[&pair[..1], &pair[..]][..]
        } else {
            &[&pair[..1]][..]
        };
        for query in queries {
            let answer = idx.affected(query);
            assert_eq!(answer, batch.affected(query), "step {step}: {query:?}");
            assert_eq!(answer, reference_affected(idx, query), "step {step}: {query:?}");
        }
    }
}

#[test]
fn incremental_updates_answer_as_a_fresh_index_and_as_the_literal_rule() {
    // Each seed on a release of each rule set: the cross-file rules
    // (behaviours with callbacks, `@derive` and `P.Any`) differ.
    let releases = [(1, 14), (1, 20), (1, 16), (1, 18), (1, 15), (1, 19)];
    for (seed, (major, minor)) in (1..=6u64).zip(releases) {
        let elixir = ElixirVersion::new(major, minor);
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        // Dense graphs recompile much; sparse ones leave most stale
        // files out of `stale_relevant`.
        let dense = seed % 2 == 1;
        for i in 0..MODULES {
            sources.insert(format!("lib/m{i}.ex"), random_module(&mut rng, i, dense));
        }
        let list: Vec<(&String, &String)> = sources.iter().collect();
        let mut idx = Index::from_sources(Path::new("/proj"), &list, elixir).unwrap();
        // Built one file at a time, it must be the same index.
        let mut one_by_one = Index::from_sources::<&str, &str>(Path::new("/proj"), &[], elixir).unwrap();
        for (path, source) in &sources {
            one_by_one.update_file(Path::new(path), source).unwrap();
        }
        assert_same_answers(&one_by_one, &sources, 0);
        assert_same_answers(&idx, &sources, 0);
        for step in 1..=30 {
            let file = format!("lib/m{}.ex", rng.below(MODULES + 4));
            match rng.below(10) {
                0 => {
                    idx.remove_file(Path::new(&file));
                    sources.remove(&file);
                }
                choice @ (2 | 3) if sources.contains_key(&file) => {
                    let source = if choice == 2 {
                        // A change inside bodies only.
                        sources[&file].replace("f(1)", "f(11)") + "# edited\n"
                    } else {
                        // A change of a `__using__` quote only.
                        let target = format!("T.M{}", rng.below(MODULES));
                        sources[&file].replace("    quote do\n", &format!("    quote do\n      use {target}\n"))
                    };
                    idx.update_file(Path::new(&file), &source).unwrap();
                    sources.insert(file, source);
                }
                choice => {
                    // Mostly the module of the file's own name; sometimes
                    // another one, which moves or duplicates it.
                    let name = if choice == 1 {
                        rng.below(MODULES)
                    } else {
                        step % MODULES
                    };
                    let name = if choice > 3 {
                        file.trim_start_matches("lib/m")
                            .trim_end_matches(".ex")
                            .parse()
                            .unwrap()
                    } else {
                        name
                    };
                    let source = random_module(&mut rng, name, dense);
                    idx.update_file(Path::new(&file), &source).unwrap();
                    sources.insert(file, source);
                }
            }
            assert_same_answers(&idx, &sources, step);
        }
    }
}
