//! Plain data types shared by the extractor, the index and the renderers.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::sorted_set::SortedSet;

/// An Elixir module name as written in source, without the `Elixir.` prefix
/// (`MyApp.Repo`).
pub type ModuleName = String;

/// How one file depends on a module, in Mix's vocabulary.
///
/// Ordered by strength: when several kinds hold between the same two files,
/// Mix's `xref graph` shows the strongest one, and so do we.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefKind {
    /// A call or alias inside a function body: the caller is not recompiled
    /// when the callee changes.
    Runtime,
    /// `%Struct{}`, `require`, `import` (and `defimpl` on its protocol
    /// since Elixir 1.19): recompiled when the module's API (exports or
    /// struct fields) changes.
    Export,
    /// Macros, `use`, calls in a module body (and `@behaviour` on Elixir
    /// 1.14): recompiled whenever the module (or anything it reaches at
    /// runtime) changes.
    Compile,
}

impl RefKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RefKind::Runtime => "runtime",
            RefKind::Export => "export",
            RefKind::Compile => "compile",
        }
    }
}

/// A set of [`RefKind`]s. Mix keeps compile/runtime exclusive per module but
/// export independent of both, so a reference can be e.g. export + runtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KindSet {
    pub compile: bool,
    pub export: bool,
    pub runtime: bool,
}

impl KindSet {
    pub fn add(&mut self, kind: RefKind) {
        match kind {
            RefKind::Compile => self.compile = true,
            RefKind::Export => self.export = true,
            RefKind::Runtime => self.runtime = true,
        }
    }

    pub fn union(self, other: KindSet) -> KindSet {
        KindSet {
            compile: self.compile || other.compile,
            export: self.export || other.export,
            runtime: self.runtime || other.runtime,
        }
    }

    pub fn is_empty(self) -> bool {
        !(self.compile || self.export || self.runtime)
    }

    /// The kind Mix's `xref graph` prints for this set.
    pub fn strongest(self) -> Option<RefKind> {
        if self.compile {
            Some(RefKind::Compile)
        } else if self.export {
            Some(RefKind::Export)
        } else if self.runtime {
            Some(RefKind::Runtime)
        } else {
            None
        }
    }
}

/// What kind of `def*` form defined a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModuleKind {
    Module,
    Protocol,
    /// `defimpl Proto, for: T` defines the module `Proto.T`.
    Impl,
}

/// One module defined in a file, with the span of its `defmodule` call so
/// the reload planner can map edited lines to modules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleDef {
    pub name: ModuleName,
    pub kind: ModuleKind,
    /// 1-based, inclusive.
    pub start_line: u32,
    /// 1-based, inclusive (the line of the closing `end`).
    pub end_line: u32,
    pub start_byte: usize,
    pub end_byte: usize,
    /// The enclosing module for nested definitions.
    pub parent: Option<ModuleName>,
}

/// A place where tree-sitter could not parse the file. Such a file's facts
/// are best-effort: callers should fall back to Mix for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParseError {
    pub path: PathBuf,
    /// 1-based.
    pub line: u32,
    /// 1-based, in bytes.
    pub column: u32,
    pub message: String,
}

/// Whether a call was evaluated while compiling (module body, file top level)
/// or when the function runs. Mix's `mode/1`: `function == nil` is compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Mode {
    Compile,
    Runtime,
}

impl Mode {
    pub(crate) fn kind(self) -> RefKind {
        match self {
            Mode::Compile => RefKind::Compile,
            Mode::Runtime => RefKind::Runtime,
        }
    }
}

/// Which half of an imported module `import ..., only: :macros` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum ImportOnly {
    Any,
    Functions,
    Macros,
}

/// Everything one file says about one target module, before we know what the
/// target defines. Whether `M.f()` is a macro call (compile) or a function
/// call (runtime) depends on `M`'s file, so that decision is taken when the
/// graph is queried, never stored: an edit to `M` needs no re-parse of callers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RawRef {
    /// Kinds known from this file alone.
    pub kinds: KindSet,
    /// Names of remote calls made inside function bodies: compile if the
    /// target defines a macro of that name, runtime otherwise.
    pub runtime_calls: SortedSet<String>,
    /// Names of remote calls made while compiling (a module body, a
    /// quote's top level): compile-time either way, but a macro's quote is
    /// injected here (see [`FileFacts::macro_refs`]). `@before_compile M`
    /// calls `__before_compile__`.
    pub compile_calls: SortedSet<String>,
    /// Unqualified calls that resolve to this module if it defines the name
    /// (the module is imported at that point and the caller has no local
    /// definition of that name).
    pub imported_calls: SortedSet<(String, Mode, ImportOnly)>,
    /// `use Target`: the target's `__using__` quote is injected here.
    pub used: bool,
    /// `import Target` (only consulted for imports injected by `use`).
    pub imported: bool,
    /// `@behaviour Target`: compile-time when the target is a behaviour
    /// and the release traces it so (see `Rules::behaviour_compile`).
    pub behaviour: bool,
    /// `@derive Target`: compile-time when the target defines a
    /// `__deriving__` macro (see `Rules::derive_protocol_macro`).
    pub derive: bool,
    /// `@derive P` names this module `P.Any`: compile-time where the
    /// release traces its `__deriving__` callback (see
    /// `Rules::derive_any_traced`).
    pub derive_any: bool,
    /// First line of a reference, for messages.
    pub line: u32,
}

impl RawRef {
    /// Adds what `other` records.
    pub(crate) fn merge(&mut self, other: &RawRef) {
        self.kinds = self.kinds.union(other.kinds);
        self.runtime_calls.extend(other.runtime_calls.iter().cloned());
        self.compile_calls.extend(other.compile_calls.iter().cloned());
        self.imported_calls.extend(other.imported_calls.iter().cloned());
        self.used |= other.used;
        self.imported |= other.imported;
        self.behaviour |= other.behaviour;
        self.derive |= other.derive;
        self.derive_any |= other.derive_any;
        if self.line == 0 || (other.line != 0 && other.line < self.line) {
            self.line = other.line;
        }
    }
}

/// What the `quote` blocks of one module reference, by the macro they are
/// written in (`"*"` for quotes outside any `defmacro`: in a helper
/// function that a macro may call, Phoenix's style), each walked twice: as
/// if the macro were called where code runs at compile time (index 0: a
/// module body) and at runtime (index 1: a function). A call of the macro
/// injects these references into the caller, as Elixir's tracer records
/// them when it expands the quote there.
pub(crate) type MacroRefs = BTreeMap<String, [BTreeMap<ModuleName, RawRef>; 2]>;

/// The key of quotes outside any `defmacro`.
pub(crate) const ANY_MACRO: &str = "*";

/// Names a module defines, for deciding macro vs function calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Defs {
    /// Public functions (`def`, `defdelegate`), by name.
    pub functions: SortedSet<String>,
    /// Public macros (`defmacro`, `defguard`), by name.
    pub macros: SortedSet<String>,
    /// Every name defined (private too), to tell local calls from imports.
    pub all: SortedSet<String>,
    /// Whether the module is a behaviour: it declares `@callback` or
    /// `@macrocallback`, or is a protocol.
    pub callbacks: bool,
}

/// What the extractor learns from one file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct FileFacts {
    pub modules: Vec<ModuleDef>,
    pub defs: BTreeMap<ModuleName, Defs>,
    /// References made by this file's code, by target module.
    pub refs: BTreeMap<ModuleName, RawRef>,
    /// For each module here that defines `__using__`: the references its
    /// `quote` blocks inject into every module that `use`s it.
    pub using_refs: BTreeMap<ModuleName, BTreeMap<ModuleName, RawRef>>,
    /// For each module here with `quote` blocks: what they reference, by
    /// macro (see [`MacroRefs`]).
    pub macro_refs: BTreeMap<ModuleName, MacroRefs>,
    /// Unqualified calls made while a `use` is in scope (and not defined
    /// locally): they may call what that `use` imported.
    pub calls_under_use: SortedSet<(String, Mode)>,
    pub errors: Vec<(u32, u32, String)>,
}
