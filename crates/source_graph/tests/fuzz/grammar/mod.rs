//! The fuzzer's projects: a grammar of the constructs whose dependency
//! kinds matter to Mix's recompilation (structs in every position,
//! attributes read or not, macros and their quotes, `use`, `@behaviour`,
//! `import`/`require`/`alias`, `defdelegate`, protocols, `defimpl`,
//! `@derive`, persisted attributes, `__MODULE__`, nested modules), and
//! random projects of 3 to 12 files built from it that always compile.
//!
//! Module `i` lives in `lib/m<i>.ex`. Everything that runs while a module
//! compiles (struct expansion, macros, module-body calls, `use`, the
//! functions these call) only reaches modules with a smaller number, so
//! no project deadlocks; runtime-only code (`r<i>`, aliases as values)
//! reaches any module. Every name a module defines carries its number, so
//! imports never clash.
//!
//! The types are here; `generate` draws a random project, `render`
//! writes its files.

mod generate;
mod render;

use render::Renderer;

/// A small deterministic PRNG (xorshift64*), so runs replay from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.below(items.len())])
        }
    }
}

/// Where code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In a function of its own (`def u<i>_<n>(x)`).
    Fn,
    /// In the module body (`@c<i>_<n> expr`, read by a function).
    Body,
    /// In `f<i>`, the function other modules call at compile time.
    F,
}

/// How a module uses another's struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructForm {
    /// `def s(%S{} = s)`
    HeadBound,
    /// `def s(%S{})`: a whole argument of a public function.
    HeadWhole,
    /// `def s(%S{a: a})`
    HeadFields,
    /// `def s(x \\ %S{})`
    HeadDefault,
    /// `defp s(%S{})`
    PrivateHead,
    /// `%S{a: x}` in a function body.
    Body,
    /// `%S{s | a: 1}`
    Update,
    /// `when is_struct(x, S)`
    Guard,
    /// `match?(%S{}, x)`
    Match,
    /// a `case` clause `%S{} ->`
    Case,
    /// `@type t :: %S{}`
    Type,
    /// `@spec s(%S{}) :: term`
    Spec,
    /// `@callback` with the struct (makes the module a behaviour too)
    Callback,
    /// `@x %S{a: 1}`, never read.
    AttrUnread,
    /// `@x %S{a: 1}` read in a function.
    AttrReadFn,
    /// `@x %S{a: 1}` read in the module body (`@y Map.fetch!(@x, :a)`).
    AttrReadBody,
    /// `@x %S{a: 1}` read in a guard.
    AttrReadGuard,
    /// `@x [%S{a: 1}]` read in a function.
    AttrList,
    /// `@x %S{a: length([1])}`: a field that is code.
    AttrFieldCode,
    /// `@x Map.put(%S{}, :a, 2)`: the struct in code the body runs.
    AttrCode,
    /// `%S{}` in the module body (`for`, an anonymous function's pattern).
    BodyPattern,
    /// An anonymous function's pattern in a function.
    FnPattern,
    /// A `for` generator's pattern in a function.
    ForPattern,
    /// A `with` clause's pattern in a function.
    WithPattern,
    /// `@typep` / `@opaque` with the struct.
    Typep,
    Opaque,
    /// `@o [default: %S{a: 1}]` read in the body.
    KeywordAttr,
    /// `defguard is_s(x) when is_struct(x, S)`.
    Defguard,
    /// `%S{}` inside a nested module.
    InNested,
}

pub const STRUCT_FORMS: &[StructForm] = &[
    StructForm::HeadBound,
    StructForm::HeadWhole,
    StructForm::HeadFields,
    StructForm::HeadDefault,
    StructForm::PrivateHead,
    StructForm::Body,
    StructForm::Update,
    StructForm::Guard,
    StructForm::Match,
    StructForm::Case,
    StructForm::Type,
    StructForm::Spec,
    StructForm::Callback,
    StructForm::AttrUnread,
    StructForm::AttrReadFn,
    StructForm::AttrReadBody,
    StructForm::AttrReadGuard,
    StructForm::AttrList,
    StructForm::AttrFieldCode,
    StructForm::AttrCode,
    StructForm::BodyPattern,
    StructForm::FnPattern,
    StructForm::ForPattern,
    StructForm::WithPattern,
    StructForm::Typep,
    StructForm::Opaque,
    StructForm::KeywordAttr,
    StructForm::Defguard,
    StructForm::InNested,
];

/// How an attribute holding aliases is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrRead {
    Never,
    Fn,
    Body,
    /// `@l M<k>` and `@l.r<k>(x)` in a function (any `k`).
    CallFn,
    /// `@l M<k>` and `@c @l.f<k>(1)` in the body (lower `k`).
    CallBody,
}

/// What a `quote` (of a macro, or of `__using__`) contains; `k` is lower
/// than the quoting module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QItem {
    /// A call of `f<k>`.
    Call(usize),
    /// `%M<k>{...}` built (a macro) or matched in an injected function.
    Struct(usize),
    /// `M<k>` as a value.
    Alias(usize),
    /// (`__using__`) `@behaviour M<k>` and its callback.
    Behaviour(usize),
    /// (`__using__`) `import M<k>`.
    Import(usize),
    /// (`__using__`) `use M<k>`.
    Use(usize),
    /// (`__using__`) a literal struct attribute read by a function.
    StructAttr(usize),
    /// (a macro) a call of `M<k>`'s macro; (`__using__`) the same in the
    /// module body.
    Macro(usize),
    /// (a macro) `unquote(M<k>).f<k>(...)`: the alias is evaluated by the
    /// macro itself.
    Unquoted(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroDef {
    /// The macro's own body calls `f<k>` while it expands.
    pub body_call: Option<usize>,
    pub quote: Vec<QItem>,
    /// The quote is built by a public helper function (Phoenix's style).
    pub helper: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// A call of `f<j>` (lower).
    CallF {
        j: usize,
        place: Place,
    },
    /// A call of `r<k>` from `r<i>`, any `k`.
    CallR {
        k: usize,
    },
    /// `alias M<j>` and a call through the short name.
    AliasCall {
        j: usize,
    },
    /// `alias M<j>, as: A<n>` and a call.
    AliasAsCall {
        j: usize,
    },
    /// `import M<j>`, and an unqualified call of `f<j>` somewhere or none.
    Import {
        j: usize,
        call: Option<Place>,
    },
    /// `import M<j>, only: [f<j>: 1]` and a call.
    ImportOnly {
        j: usize,
    },
    /// `require M<j>` and a call of its macro.
    RequireMacro {
        j: usize,
        place: Place,
    },
    /// `import M<j>` and an unqualified call of its macro.
    ImportMacro {
        j: usize,
        place: Place,
    },
    /// `use M<j>`.
    Use {
        j: usize,
    },
    /// A call of a function that `use M<j>`'s quote imported from `M<k>`.
    CallUnderUse {
        j: usize,
        k: usize,
    },
    /// `@behaviour M<j>` and its callback, with `@impl M<j>` or not.
    Behaviour {
        j: usize,
        impl_attr: bool,
    },
    Struct {
        j: usize,
        form: StructForm,
    },
    /// `defdelegate d(x), to: M<j>, as: :f<j>`.
    Delegate {
        j: usize,
    },
    /// `&M<j>.f<j>/1`.
    Capture {
        j: usize,
        place: Place,
    },
    /// `M<k>` returned by a function, any `k`.
    RuntimeAlias {
        k: usize,
    },
    /// `@l [M<k>]`, any `k`, read as given.
    AttrAliases {
        k: usize,
        read: AttrRead,
    },
    /// A persisted attribute holding `M<k>` (any) or, with `strukt`,
    /// `%M<k>{}` (lower).
    Persist {
        k: usize,
        strukt: bool,
    },
    /// A guard of `M<j>` called qualified in a guard.
    GuardCall {
        j: usize,
    },
    /// `@before_compile M<j>`.
    BeforeCompile {
        j: usize,
    },
    /// `@type t :: M<j>.t()`.
    RemoteType {
        j: usize,
    },
    /// A call of `M<j>.Inner.f/1`.
    NestedCall {
        j: usize,
        place: Place,
    },
    /// `alias __MODULE__.Inner` and a call, and `__MODULE__.Inner.f(1)`
    /// in the body (the module has an `Inner`).
    OwnInner,
    /// `%__MODULE__{}` (the module has a struct).
    SelfStruct,
    /// `Code.ensure_compiled!(M<j>)` in the body.
    EnsureCompiled {
        j: usize,
    },
    /// `raise M<j>` (an exception) in a function.
    Raise {
        j: usize,
    },
    /// `rescue e in M<j>` in a function.
    Rescue {
        j: usize,
    },
    /// `alias Ns.{M<j>, M<k>}` and calls through both.
    MultiAlias {
        j: usize,
        k: usize,
    },
    /// `require M<j>, as: R` and a call of its macro.
    RequireAs {
        j: usize,
    },
    /// `import M<j>, only: :macros` and a call of its macro.
    ImportMacrosOnly {
        j: usize,
    },
    /// A call of `M<j>`'s defining macro in the body (it defines a function).
    DefMacro {
        j: usize,
    },
    /// `%M<j>.Inner{}` (a nested module's struct) in a function.
    InnerStruct {
        j: usize,
    },
    /// A call of `M<j>.Extra.e/1` (a second module in `M<j>`'s file).
    ExtraCall {
        j: usize,
        place: Place,
    },
    /// The fuzzer's edit number `n`: a public function added.
    Probe(usize),
}

impl Item {
    /// The modules the item names.
    pub fn targets(&self) -> Vec<usize> {
        use Item::*;
        match *self {
            CallF { j, .. }
            | AliasCall { j }
            | AliasAsCall { j }
            | Import { j, .. }
            | ImportOnly { j }
            | RequireMacro { j, .. }
            | ImportMacro { j, .. }
            | Use { j }
            | Behaviour { j, .. }
            | Struct { j, .. }
            | Delegate { j }
            | Capture { j, .. }
            | GuardCall { j }
            | BeforeCompile { j }
            | RemoteType { j }
            | NestedCall { j, .. }
            | EnsureCompiled { j }
            | Raise { j }
            | Rescue { j }
            | RequireAs { j }
            | ImportMacrosOnly { j }
            | DefMacro { j }
            | InnerStruct { j }
            | ExtraCall { j, .. } => vec![j],
            MultiAlias { j, k } => vec![j, k],
            CallUnderUse { j, k } => vec![j, k],
            CallR { k } | RuntimeAlias { k } | AttrAliases { k, .. } | Persist { k, .. } => vec![k],
            OwnInner | SelfStruct | Probe(_) => vec![],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub fallback: bool,
    /// `defimpl M<p>, for: Any` in the protocol's file.
    pub any_impl: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub id: usize,
    pub protocol: Option<Protocol>,
    pub has_struct: bool,
    /// `defstruct b: %M<j>{}`.
    pub struct_default: Option<usize>,
    /// `@derive [M<p>]` (protocols with an `Any` implementation).
    pub derive: Vec<usize>,
    pub callbacks: bool,
    pub macro_def: Option<MacroDef>,
    pub using: Option<Vec<QItem>>,
    pub guard: bool,
    pub before_compile_hook: bool,
    /// `defexception [:message]` instead of a struct.
    pub exception: bool,
    /// `defmacro defm<i>(name)`, whose quote defines a function calling
    /// `f<k>` (called in module bodies only).
    pub def_macro: Option<usize>,
    /// A nested `Inner` module, whose `f/1` may call `f<j>`.
    pub inner: Option<Option<usize>>,
    /// `Inner` defines a struct.
    pub inner_struct: bool,
    /// A second top-level module in the file, `M<i>.Extra`, whose `e/1`
    /// may call `f<j>`.
    pub extra: Option<Option<usize>>,
    /// `defimpl M<p> do ... end` nested (for this module's struct).
    pub impl_nested: Vec<usize>,
    /// `defimpl M<p>, for: M<i>` after the module, in its file.
    pub impl_after: Vec<usize>,
    pub items: Vec<Item>,
}

impl Module {
    fn plain(id: usize) -> Module {
        Module {
            id,
            protocol: None,
            has_struct: false,
            struct_default: None,
            derive: Vec::new(),
            callbacks: false,
            macro_def: None,
            using: None,
            guard: false,
            before_compile_hook: false,
            exception: false,
            def_macro: None,
            inner: None,
            inner_struct: false,
            extra: None,
            impl_nested: Vec::new(),
            impl_after: Vec::new(),
            items: Vec::new(),
        }
    }

    pub fn path(&self) -> String {
        format!("lib/m{}.ex", self.id)
    }

    /// Every module this one names (to drop items when a module goes).
    pub fn mentions(&self, target: usize) -> bool {
        let quote_mentions = |q: &QItem| match *q {
            QItem::Call(k)
            | QItem::Struct(k)
            | QItem::Alias(k)
            | QItem::Behaviour(k)
            | QItem::Import(k)
            | QItem::Use(k)
            | QItem::StructAttr(k)
            | QItem::Macro(k)
            | QItem::Unquoted(k) => k == target,
        };
        self.struct_default == Some(target)
            || self.derive.contains(&target)
            || self.impl_nested.contains(&target)
            || self.impl_after.contains(&target)
            || self.inner.flatten() == Some(target)
            || self.extra.flatten() == Some(target)
            || self.def_macro == Some(target)
            || self.items.iter().any(|i| i.targets().contains(&target))
            || self
                .macro_def
                .as_ref()
                .is_some_and(|m| m.body_call == Some(target) || m.quote.iter().any(quote_mentions))
            || self.using.as_ref().is_some_and(|q| q.iter().any(quote_mentions))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub modules: Vec<Module>,
}

impl Project {
    /// The same project with no module `target` (and nothing naming it).
    pub fn without_module(&self, target: usize) -> Project {
        Project {
            modules: self
                .modules
                .iter()
                .filter(|m| m.id != target && !m.mentions(target))
                .cloned()
                .collect(),
        }
    }

    /// Renders every file: (path, source). `ns` prefixes every module
    /// name, so that many projects live in one VM.
    pub fn render(&self, ns: &str) -> Vec<(String, String)> {
        let r = Renderer { ns, project: self };
        self.modules.iter().map(|m| (m.path(), r.file(m))).collect()
    }

    pub fn module(&self, id: usize) -> Option<&Module> {
        self.modules.iter().find(|m| m.id == id)
    }

    pub fn module_mut(&mut self, id: usize) -> Option<&mut Module> {
        self.modules.iter_mut().find(|m| m.id == id)
    }
}
