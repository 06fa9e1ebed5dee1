//! The kinds of a reference once what its target defines is known (the
//! index calls these with the target's definitions).

use crate::model::{Defs, ImportOnly, KindSet, Mode, RawRef, RefKind};
use crate::sorted_set::SortedSet;
use crate::version::Rules;

/// Mix's `KindSet` of a [`RawRef`] given what the target module defines
/// (`None`: a module outside the project) and the release's rules.
/// `protocol_derives`: for a target `P.Any`, whether `P` defines a
/// `__deriving__` macro (which 1.18+ calls instead of `P.Any`'s).
pub(crate) fn resolve(raw: &RawRef, defs: Option<&Defs>, rules: Rules, protocol_derives: bool) -> KindSet {
    let mut kinds = raw.kinds;
    // A module outside the project named by `@behaviour` is taken to be a
    // behaviour (it makes no file edge either way).
    if raw.behaviour && rules.behaviour_compile && defs.map_or(true, |d| d.callbacks) {
        kinds.add(RefKind::Compile);
    }
    if let Some(defs) = defs {
        let deriving_macro = defs.macros.contains("__deriving__");
        if raw.derive && rules.derive_protocol_macro && deriving_macro {
            kinds.add(RefKind::Compile);
        }
        let superseded = rules.derive_protocol_macro && protocol_derives;
        if raw.derive_any && !superseded && (rules.derive_any_traced || deriving_macro) {
            kinds.add(RefKind::Compile);
        }
    }
    for name in &raw.runtime_calls {
        // A remote call to a macro is a compile-time dependency wherever it
        // is written (Mix's `remote_macro` trace).
        if defs.is_some_and(|d| d.macros.contains(name)) {
            kinds.add(RefKind::Compile);
        } else {
            kinds.add(RefKind::Runtime);
        }
    }
    if let Some(defs) = defs {
        for (name, mode, only) in &raw.imported_calls {
            let is_macro = defs.macros.contains(name) && *only != ImportOnly::Functions;
            let is_fun = defs.functions.contains(name) && *only != ImportOnly::Macros;
            if is_macro {
                kinds.add(RefKind::Compile);
            } else if is_fun {
                kinds.add(mode.kind());
            }
        }
    }
    kinds
}

/// Kinds added by unqualified calls that land on `defs` through an import
/// injected by a `use`d module.
pub(crate) fn resolve_injected_import(calls: &SortedSet<(String, Mode)>, defs: &Defs) -> KindSet {
    let mut kinds = KindSet::default();
    for (name, mode) in calls {
        if defs.macros.contains(name) {
            kinds.add(RefKind::Compile);
        } else if defs.functions.contains(name) {
            kinds.add(mode.kind());
        }
    }
    kinds
}
