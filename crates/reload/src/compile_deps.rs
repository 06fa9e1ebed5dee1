//! Which project modules the compiler may call while compiling a batch.
//!
//! The interpreter traps calls into an interpreted module with breakpoints
//! on its native code. When Elixir's compiler calls such a module (a macro,
//! a struct, `__using__`) with the traps set, OTP 25's VM crashed
//! (segfault) in our tests, so the agent lifts the traps of these modules
//! while it compiles and sets them again afterwards. Lifting every
//! interpreted module instead costs ~20 µs per module under load (40 ms for
//! 2 000 modules), so the set is kept to what the batch can reach at
//! compile time.

use source_graph::Index;
use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;

/// The project modules (Elixir names) the files' compile-time and export
/// references reach, following compile-time and export references of those
/// modules' files transitively, plus the modules those files call at
/// runtime (a macro may call helper functions while it expands).
pub fn compile_time_modules(index: &Index, files: &[PathBuf]) -> BTreeSet<String> {
    let mut modules: BTreeSet<String> = BTreeSet::new();
    let mut seen_files: BTreeSet<PathBuf> = files.iter().cloned().collect();
    let mut queue: VecDeque<PathBuf> = files.iter().cloned().collect();
    let mut runtime_of: Vec<PathBuf> = Vec::new();
    while let Some(file) = queue.pop_front() {
        for (module, kinds) in index.resolved_references(&file).into_iter().flatten() {
            if !(kinds.compile || kinds.export) {
                continue;
            }
            let Some(target) = index.file_of(module).map(PathBuf::from) else {
                continue;
            };
            modules.insert(module.clone());
            if seen_files.insert(target.clone()) {
                runtime_of.push(target.clone());
                queue.push_back(target);
            }
        }
    }
    for file in runtime_of {
        for module in index
            .resolved_references(&file)
            .into_iter()
            .flat_map(|refs| refs.keys())
        {
            if index.file_of(module).is_some() {
                modules.insert(module.clone());
            }
        }
    }
    modules
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn reaches_macros_structs_and_what_the_macros_call() {
        let sources = [
            (
                "lib/user.ex",
                "defmodule App.User do\n  require App.Macros\n  def f(x), do: %App.Point{x: App.Macros.twice(x)}\n  def g, do: App.Caller.g()\nend\n",
            ),
            (
                "lib/macros.ex",
                "defmodule App.Macros do\n  defmacro twice(x), do: App.Helper.double(x)\nend\n",
            ),
            ("lib/helper.ex", "defmodule App.Helper do\n  def double(x), do: x\nend\n"),
            ("lib/point.ex", "defmodule App.Point do\n  defstruct [:x]\nend\n"),
            ("lib/caller.ex", "defmodule App.Caller do\n  def g, do: 1\nend\n"),
        ];
        let index = Index::from_sources(Path::new("/p"), &sources, source_graph::ElixirVersion::new(1, 14)).unwrap();
        let reached = compile_time_modules(&index, &[PathBuf::from("lib/user.ex")]);
        assert!(reached.contains("App.Macros"), "{reached:?}");
        assert!(reached.contains("App.Point"), "{reached:?}");
        assert!(reached.contains("App.Helper"), "{reached:?}");
        assert!(
            !reached.contains("App.Caller"),
            "runtime calls of the batch itself are not compiled: {reached:?}"
        );
    }
}
