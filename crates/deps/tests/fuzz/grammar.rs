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

use std::fmt::Write as _;

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
    /// A random project of 3 to 12 files.
    pub fn generate(rng: &mut Rng) -> Project {
        let n = 3 + rng.below(10);
        let mut modules: Vec<Module> = Vec::new();
        for id in 0..n {
            let module = Self::generate_module(rng, id, &modules);
            modules.push(module);
        }
        Project { modules }
    }

    fn generate_module(rng: &mut Rng, id: usize, lower: &[Module]) -> Module {
        let mut m = Module::plain(id);
        let plain: Vec<usize> = lower.iter().filter(|l| l.protocol.is_none()).map(|l| l.id).collect();
        let with =
            |f: &dyn Fn(&Module) -> bool| -> Vec<usize> { lower.iter().filter(|l| f(l)).map(|l| l.id).collect() };
        let structs = with(&|l| l.has_struct);
        let macros = with(&|l| l.macro_def.is_some());
        let usings = with(&|l| l.using.is_some());
        let behaviours = with(&|l| l.callbacks);
        let guards = with(&|l| l.guard);
        let hooks = with(&|l| l.before_compile_hook);
        let inners = with(&|l| l.inner.is_some());
        let inner_structs = with(&|l| l.inner_struct);
        let extras = with(&|l| l.extra.is_some());
        let exceptions = with(&|l| l.exception);
        let def_macros = with(&|l| l.def_macro.is_some());
        let protocols = with(&|l| l.protocol.is_some());
        let derivable = with(&|l| l.protocol.as_ref().is_some_and(|p| p.any_impl));

        if id > 0 && rng.chance(12) {
            m.protocol = Some(Protocol {
                fallback: rng.chance(50),
                any_impl: rng.chance(60),
            });
            return m;
        }
        m.has_struct = rng.chance(40);
        m.exception = !m.has_struct && rng.chance(10);
        if m.has_struct && rng.chance(15) {
            m.struct_default = rng.pick(&structs);
        }
        if m.has_struct && rng.chance(30) {
            if let Some(p) = rng.pick(&derivable) {
                m.derive.push(p);
            }
        }
        if m.has_struct && rng.chance(30) {
            if let Some(p) = rng.pick(&protocols) {
                if rng.chance(50) {
                    m.impl_nested.push(p);
                } else {
                    m.impl_after.push(p);
                }
            }
        }
        m.callbacks = rng.chance(20);
        m.guard = rng.chance(15);
        m.before_compile_hook = rng.chance(10);
        if rng.chance(20) {
            m.inner = Some(if rng.chance(50) { rng.pick(&plain) } else { None });
            m.inner_struct = rng.chance(40);
        }
        if rng.chance(12) {
            m.extra = Some(if rng.chance(50) { rng.pick(&plain) } else { None });
        }
        if rng.chance(10) {
            m.def_macro = rng.pick(&plain);
        }
        // Quotes reach lower modules only.
        let quote_item = |rng: &mut Rng, using: bool| -> Option<QItem> {
            let choice = rng.below(if using { 9 } else { 6 });
            match choice {
                0 => rng.pick(&plain).map(QItem::Call),
                1 => rng.pick(&structs).map(QItem::Struct),
                2 => rng.pick(&plain).map(QItem::Alias),
                3 => rng.pick(&structs).map(QItem::Struct),
                4 => rng.pick(&macros).map(QItem::Macro),
                5 if !using => rng.pick(&plain).map(QItem::Unquoted),
                5 => rng.pick(&structs).map(QItem::StructAttr),
                6 => rng.pick(&behaviours).map(QItem::Behaviour),
                7 => rng.pick(&plain).map(QItem::Import),
                _ => rng.pick(&usings).map(QItem::Use),
            }
        };
        if rng.chance(30) {
            let quote = (0..rng.below(4)).filter_map(|_| quote_item(rng, false)).collect();
            m.macro_def = Some(MacroDef {
                body_call: if rng.chance(30) { rng.pick(&plain) } else { None },
                quote,
                helper: rng.chance(30),
            });
        }
        if rng.chance(25) {
            let mut quote: Vec<QItem> = (0..rng.below(4)).filter_map(|_| quote_item(rng, true)).collect();
            quote.dedup();
            m.using = Some(quote);
        }
        let all: Vec<usize> = (0..=lower.len() + 4).filter(|k| *k != id).collect();
        // `r<k>` of any other module (created later too, for higher k).
        let items = rng.below(7);
        for _ in 0..items {
            let place = |rng: &mut Rng| match rng.below(3) {
                0 => Place::Fn,
                1 => Place::Body,
                _ => Place::F,
            };
            let item = match rng.below(24) {
                0 | 1 => rng.pick(&plain).map(|j| Item::CallF { j, place: place(rng) }),
                2 => rng.pick(&all).map(|k| Item::CallR { k }),
                3 => rng.pick(&plain).map(|j| Item::AliasCall { j }),
                4 => rng.pick(&plain).map(|j| Item::AliasAsCall { j }),
                5 => rng.pick(&plain).map(|j| Item::Import {
                    j,
                    call: if rng.chance(70) { Some(place(rng)) } else { None },
                }),
                6 => rng.pick(&plain).map(|j| Item::ImportOnly { j }),
                7 => rng.pick(&macros).map(|j| Item::RequireMacro { j, place: place(rng) }),
                8 => rng.pick(&macros).map(|j| Item::ImportMacro { j, place: place(rng) }),
                9 => rng.pick(&usings).map(|j| Item::Use { j }),
                10 => {
                    // A function the quote of `use M<j>` imports from `M<k>`.
                    let candidates: Vec<(usize, usize)> = lower
                        .iter()
                        .filter_map(|l| l.using.as_ref().map(|q| (l.id, q)))
                        .flat_map(|(j, q)| {
                            q.iter().filter_map(move |qi| match qi {
                                QItem::Import(k) => Some((j, *k)),
                                _ => None,
                            })
                        })
                        .collect();
                    rng.pick(&candidates).map(|(j, k)| Item::CallUnderUse { j, k })
                }
                11 => rng.pick(&behaviours).map(|j| Item::Behaviour {
                    j,
                    impl_attr: rng.chance(40),
                }),
                12..=15 => rng.pick(&structs).map(|j| Item::Struct {
                    j,
                    form: STRUCT_FORMS[rng.below(STRUCT_FORMS.len())],
                }),
                16 => rng.pick(&plain).map(|j| Item::Delegate { j }),
                17 => rng.pick(&plain).map(|j| Item::Capture { j, place: place(rng) }),
                18 => rng.pick(&all).map(|k| Item::RuntimeAlias { k }),
                19 => match [
                    AttrRead::Never,
                    AttrRead::Fn,
                    AttrRead::Body,
                    AttrRead::CallFn,
                    AttrRead::CallBody,
                ][rng.below(5)]
                {
                    AttrRead::CallBody => rng.pick(&plain).map(|k| Item::AttrAliases {
                        k,
                        read: AttrRead::CallBody,
                    }),
                    read => rng.pick(&all).map(|k| Item::AttrAliases { k, read }),
                },
                20 => {
                    if rng.chance(50) {
                        rng.pick(&all).map(|k| Item::Persist { k, strukt: false })
                    } else {
                        rng.pick(&structs).map(|k| Item::Persist { k, strukt: true })
                    }
                }
                21 => match rng.below(12) {
                    0 => rng.pick(&guards).map(|j| Item::GuardCall { j }),
                    1 => rng.pick(&hooks).map(|j| Item::BeforeCompile { j }),
                    2 => rng.pick(&plain).map(|j| Item::RemoteType { j }),
                    3 => rng.pick(&plain).map(|j| Item::EnsureCompiled { j }),
                    4 => rng.pick(&exceptions).map(|j| Item::Raise { j }),
                    5 => rng.pick(&exceptions).map(|j| Item::Rescue { j }),
                    6 => match (rng.pick(&plain), rng.pick(&plain)) {
                        (Some(j), Some(k)) if j != k => Some(Item::MultiAlias { j, k }),
                        _ => None,
                    },
                    7 => rng.pick(&macros).map(|j| Item::RequireAs { j }),
                    8 => rng.pick(&macros).map(|j| Item::ImportMacrosOnly { j }),
                    9 => rng.pick(&def_macros).map(|j| Item::DefMacro { j }),
                    10 => rng.pick(&inner_structs).map(|j| Item::InnerStruct { j }),
                    _ => rng.pick(&extras).map(|j| Item::ExtraCall { j, place: place(rng) }),
                },
                22 => rng.pick(&inners).map(|j| Item::NestedCall { j, place: place(rng) }),
                _ => {
                    if m.inner.is_some() && rng.chance(50) {
                        Some(Item::OwnInner)
                    } else if m.has_struct {
                        Some(Item::SelfStruct)
                    } else {
                        None
                    }
                }
            };
            if let Some(item) = item {
                // `import M, only: [...]` after `import M` replaces it
                // (and the other way round): one of the two per module.
                let imports = |i: &Item| match *i {
                    Item::Import { j, .. } | Item::ImportMacro { j, .. } => Some((j, 0)),
                    Item::ImportOnly { j } => Some((j, 1)),
                    Item::ImportMacrosOnly { j } => Some((j, 2)),
                    _ => None,
                };
                let clash = imports(&item)
                    .is_some_and(|(j, only)| m.items.iter().filter_map(imports).any(|(k, o)| k == j && o != only));
                if !clash && !m.items.contains(&item) {
                    m.items.push(item);
                }
            }
        }
        m
    }

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

struct Renderer<'a> {
    ns: &'a str,
    project: &'a Project,
}

/// A module's text, in sections.
#[derive(Default)]
struct Sections {
    /// Directives at the top (`alias`, `import`, `use`, `@behaviour`, ...).
    head: Vec<String>,
    /// Module-body statements.
    body: Vec<String>,
    /// Function definitions.
    defs: Vec<String>,
    /// Lines of `f<i>`'s and `r<i>`'s bodies.
    f_calls: Vec<String>,
    r_calls: Vec<String>,
}

impl Renderer<'_> {
    fn m(&self, id: usize) -> String {
        format!("{}.M{id}", self.ns)
    }

    /// Whether module `id` exists and is a plain module (targets of
    /// runtime calls `r<k>` may have been dropped by the shrinker).
    fn plain(&self, id: usize) -> bool {
        self.project.module(id).is_some_and(|m| m.protocol.is_none())
    }

    fn file(&self, module: &Module) -> String {
        let i = module.id;
        let name = self.m(i);
        if let Some(protocol) = &module.protocol {
            let mut out = format!("defprotocol {name} do\n");
            if protocol.fallback {
                out.push_str("  @fallback_to_any true\n");
            }
            out.push_str("  def size(x)\n");
            for item in &module.items {
                if let Item::Probe(n) = item {
                    let _ = writeln!(out, "  def probe_{n}(x)");
                }
            }
            out.push_str("end\n");
            if protocol.any_impl {
                let _ = write!(out, "\ndefimpl {name}, for: Any do\n  def size(_), do: 0\nend\n");
            }
            return out;
        }
        let mut s = Sections::default();
        if let Some(j) = module.inner {
            let call = match j {
                Some(j) if self.plain(j) => format!("{}.f{j}(x)", self.m(j)),
                _ => "x".to_string(),
            };
            let strukt = if module.inner_struct {
                "    defstruct [:a]\n"
            } else {
                ""
            };
            s.body
                .push(format!("defmodule Inner do\n{strukt}    def f(x), do: {call}\n  end"));
        }
        for p in &module.derive {
            s.head.push(format!("@derive [{}]", self.m(*p)));
        }
        if module.exception {
            s.head.push("defexception [:message]".to_string());
        }
        if module.has_struct {
            match module.struct_default {
                Some(j) => s.head.push(format!("defstruct a: nil, b: %{}{{}}", self.m(j))),
                None => s.head.push("defstruct [:a, :b]".to_string()),
            }
        }
        if module.callbacks {
            s.head.push(format!("@callback cb{i}() :: term"));
        }
        s.head.push("@type t :: term".to_string());
        if module.guard {
            s.defs.push(format!("defguard is_g{i}(x) when is_integer(x)"));
        }
        if module.before_compile_hook {
            s.defs.push(format!(
                "defmacro __before_compile__(_env) do\n    quote do\n      def bc{i}, do: :ok\n    end\n  end"
            ));
        }
        if let Some(mac) = &module.macro_def {
            s.defs.push(self.macro_def(i, mac));
        }
        if let Some(k) = module.def_macro {
            let call = if self.plain(k) {
                format!("{}.f{k}(x)", self.m(k))
            } else {
                "x".to_string()
            };
            s.defs.push(format!(
                "defmacro defm{i}(name) do\n    quote do\n      def unquote(name)(x), do: {call}\n    end\n  end"
            ));
        }
        if let Some(quote) = &module.using {
            s.defs.push(self.using(i, quote));
        }
        for (n, item) in module.items.iter().enumerate() {
            self.item(module, n, item, &mut s);
        }
        for p in &module.impl_nested {
            s.defs
                .push(format!("defimpl {} do\n    def size(_), do: 1\n  end", self.m(*p)));
        }
        let mut out = format!("defmodule {name} do\n");
        for line in &s.head {
            let _ = writeln!(out, "  {line}");
        }
        for line in &s.body {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "  def f{i}(x) do");
        for call in &s.f_calls {
            let _ = writeln!(out, "    _ = {call}");
        }
        out.push_str("    x\n  end\n");
        let _ = writeln!(out, "  def r{i}(x) do");
        for call in &s.r_calls {
            let _ = writeln!(out, "    _ = {call}");
        }
        out.push_str("    x\n  end\n");
        for def in &s.defs {
            let _ = writeln!(out, "  {def}");
        }
        out.push_str("end\n");
        if let Some(j) = module.extra {
            let call = match j {
                Some(j) if self.plain(j) => format!("{}.f{j}(x)", self.m(j)),
                _ => "x".to_string(),
            };
            let _ = write!(out, "\ndefmodule {name}.Extra do\n  def e(x), do: {call}\nend\n");
        }
        for p in &module.impl_after {
            let _ = write!(
                out,
                "\ndefimpl {}, for: {name} do\n  def size(_), do: 2\nend\n",
                self.m(*p)
            );
        }
        out
    }

    fn quote_lines(&self, i: usize, quote: &[QItem], using: bool) -> Vec<String> {
        let mut lines = Vec::new();
        for (n, q) in quote.iter().enumerate() {
            let tag = format!("{i}_{n}");
            match (*q, using) {
                (QItem::Call(k), false) => lines.push(format!("_ = {}.f{k}(unquote(x))", self.m(k))),
                (QItem::Call(k), true) => {
                    lines.push(format!("@q{tag} {}.f{k}(1)", self.m(k)));
                    lines.push(format!("def q{tag}, do: @q{tag}"));
                }
                (QItem::Struct(k), false) => lines.push(format!("_ = %{}{{a: unquote(x)}}", self.m(k))),
                (QItem::Struct(k), true) => lines.push(format!("def q{tag}(%{}{{}} = s), do: s", self.m(k))),
                (QItem::Alias(k), false) => lines.push(format!("_ = {}", self.m(k))),
                (QItem::Alias(k), true) => lines.push(format!("def q{tag}, do: {}", self.m(k))),
                (QItem::Behaviour(k), _) => {
                    lines.push(format!("@behaviour {}", self.m(k)));
                    lines.push(format!("def cb{k}, do: :ok"));
                }
                (QItem::Import(k), _) => lines.push(format!("import {}", self.m(k))),
                (QItem::Use(k), _) => lines.push(format!("use {}", self.m(k))),
                (QItem::StructAttr(k), _) => {
                    lines.push(format!("@q{tag} %{}{{a: 1}}", self.m(k)));
                    lines.push(format!("def q{tag}, do: @q{tag}"));
                }
                (QItem::Macro(k), false) => {
                    lines.push(format!("require {}", self.m(k)));
                    lines.push(format!("_ = {}.m{k}(unquote(x))", self.m(k)));
                }
                (QItem::Macro(k), true) => {
                    lines.push(format!("require {}", self.m(k)));
                    lines.push(format!("@q{tag} {}.m{k}(1)", self.m(k)));
                    lines.push(format!("def q{tag}, do: @q{tag}"));
                }
                (QItem::Unquoted(k), _) => lines.push(format!("_ = unquote({}).f{k}(unquote(x))", self.m(k))),
            }
        }
        lines
    }

    fn macro_def(&self, i: usize, mac: &MacroDef) -> String {
        let mut lines = self.quote_lines(i, &mac.quote, false);
        lines.push("unquote(x)".to_string());
        let quote = format!(
            "quote do\n{}\n    end",
            lines
                .iter()
                .map(|l| format!("      {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let body_call = match mac.body_call {
            Some(k) if self.plain(k) => format!("    _ = {}.f{k}(1)\n", self.m(k)),
            _ => String::new(),
        };
        if mac.helper {
            format!("defmacro m{i}(x) do\n{body_call}    mq{i}(x)\n  end\n  def mq{i}(x) do\n    {quote}\n  end")
        } else {
            format!("defmacro m{i}(x) do\n{body_call}    {quote}\n  end")
        }
    }

    fn using(&self, i: usize, quote: &[QItem]) -> String {
        let lines = self.quote_lines(i, quote, true);
        let mut out = "defmacro __using__(_opts) do\n    quote do\n".to_string();
        for line in lines {
            let _ = writeln!(out, "      {line}");
        }
        out.push_str("    end\n  end");
        out
    }

    /// `code` placed as `place` says, under the name `tag`.
    fn place(&self, s: &mut Sections, place: Place, tag: &str, code: String) {
        match place {
            Place::Fn => s.defs.push(format!("def u{tag}(x), do: {code}")),
            Place::F => s.f_calls.push(code),
            Place::Body => {
                let code = code.replace("(x)", "(1)");
                s.body.push(format!("@c{tag} {code}"));
                s.defs.push(format!("def c{tag}, do: @c{tag}"));
            }
        }
    }

    fn item(&self, module: &Module, n: usize, item: &Item, s: &mut Sections) {
        let i = module.id;
        let tag = format!("{i}_{n}");
        let m = |j: usize| self.m(j);
        match *item {
            Item::CallF { j, place } => self.place(s, place, &tag, format!("{}.f{j}(x)", m(j))),
            Item::CallR { k } => {
                if self.plain(k) {
                    s.r_calls.push(format!("{}.r{k}(x)", m(k)));
                }
            }
            Item::AliasCall { j } => {
                s.head.push(format!("alias {}", m(j)));
                s.defs.push(format!("def u{tag}(x), do: M{j}.f{j}(x)"));
            }
            Item::AliasAsCall { j } => {
                s.head.push(format!("alias {}, as: A{tag}", m(j)));
                s.defs.push(format!("def u{tag}(x), do: A{tag}.f{j}(x)"));
            }
            Item::Import { j, call } => {
                s.head.push(format!("import {}", m(j)));
                if let Some(place) = call {
                    self.place(s, place, &tag, format!("f{j}(x)"));
                }
            }
            Item::ImportOnly { j } => {
                s.head.push(format!("import {}, only: [f{j}: 1]", m(j)));
                s.defs.push(format!("def u{tag}(x), do: f{j}(x)"));
            }
            Item::RequireMacro { j, place } => {
                s.head.push(format!("require {}", m(j)));
                self.place(s, place, &tag, format!("{}.m{j}(x)", m(j)));
            }
            Item::ImportMacro { j, place } => {
                s.head.push(format!("import {}", m(j)));
                self.place(s, place, &tag, format!("m{j}(x)"));
            }
            Item::Use { j } => s.head.push(format!("use {}", m(j))),
            Item::CallUnderUse { j, k } => {
                s.head.push(format!("use {}", m(j)));
                s.defs.push(format!("def u{tag}(x), do: f{k}(x)"));
            }
            Item::Behaviour { j, impl_attr } => {
                s.head.push(format!("@behaviour {}", m(j)));
                if impl_attr {
                    s.defs.push(format!("@impl {}", m(j)));
                }
                s.defs.push(format!("def cb{j}, do: :ok"));
            }
            Item::Struct { j, form } => self.struct_item(s, &tag, &m(j), form),
            Item::Delegate { j } => s.defs.push(format!("defdelegate d{tag}(x), to: {}, as: :f{j}", m(j))),
            Item::Capture { j, place } => match place {
                Place::Body => {
                    s.body.push(format!("@c{tag} Enum.map([1], &{}.f{j}/1)", m(j)));
                    s.defs.push(format!("def c{tag}, do: @c{tag}"));
                }
                _ => s.defs.push(format!("def u{tag}, do: &{}.f{j}/1", m(j))),
            },
            Item::RuntimeAlias { k } => {
                if self.project.module(k).is_some() {
                    s.defs.push(format!("def a{tag}, do: {}", m(k)));
                }
            }
            Item::AttrAliases { k, read } => {
                if self.project.module(k).is_some() && read == AttrRead::CallFn {
                    s.body.push(format!("@l{tag} {}", m(k)));
                    s.defs.push(format!("def l{tag}(x), do: @l{tag}.r{k}(x)"));
                } else if self.project.module(k).is_some() && read == AttrRead::CallBody {
                    s.body.push(format!("@l{tag} {}", m(k)));
                    s.body.push(format!("@n{tag} @l{tag}.f{k}(1)"));
                    s.defs.push(format!("def l{tag}, do: @n{tag}"));
                } else if self.project.module(k).is_some() {
                    s.body.push(format!("@l{tag} [{}, :x]", m(k)));
                    match read {
                        AttrRead::Never => {}
                        AttrRead::Fn => s.defs.push(format!("def l{tag}, do: @l{tag}")),
                        AttrRead::Body => {
                            s.body.push(format!("@n{tag} length(@l{tag})"));
                            s.defs.push(format!("def l{tag}, do: @n{tag}"));
                        }
                        AttrRead::CallFn | AttrRead::CallBody => {}
                    }
                }
            }
            Item::Persist { k, strukt } => {
                if self.project.module(k).is_some() {
                    s.body
                        .push(format!("Module.register_attribute(__MODULE__, :p{tag}, persist: true)"));
                    if strukt {
                        s.body.push(format!("@p{tag} %{}{{a: 1}}", m(k)));
                    } else {
                        s.body.push(format!("@p{tag} {}", m(k)));
                    }
                }
            }
            Item::GuardCall { j } => {
                s.head.push(format!("require {}", m(j)));
                s.defs.push(format!("def u{tag}(x) when {}.is_g{j}(x), do: x", m(j)));
            }
            Item::BeforeCompile { j } => s.head.push(format!("@before_compile {}", m(j))),
            Item::RemoteType { j } => s.body.push(format!("@type t{tag} :: {}.t()", m(j))),
            Item::NestedCall { j, place } => self.place(s, place, &tag, format!("{}.Inner.f(x)", m(j))),
            Item::OwnInner => {
                s.body.push("alias __MODULE__.Inner".to_string());
                s.body.push(format!("@o{tag} __MODULE__.Inner.f(1)"));
                s.defs.push(format!("def o{tag}(x), do: {{@o{tag}, Inner.f(x)}}"));
            }
            Item::SelfStruct => s.defs.push(format!("def o{tag}, do: %__MODULE__{{a: 1}}")),
            Item::EnsureCompiled { j } => s.body.push(format!("Code.ensure_compiled!({})", m(j))),
            Item::Raise { j } => s
                .defs
                .push(format!("def u{tag}(x), do: raise({}, \"boom #{{x}}\")", m(j))),
            Item::Rescue { j } => s.defs.push(format!(
                "def u{tag}(f) do\n    f.()\n  rescue\n    e in {} -> e\n  end",
                m(j)
            )),
            Item::MultiAlias { j, k } => {
                s.head.push(format!("alias {}.{{M{j}, M{k}}}", self.ns));
                s.defs
                    .push(format!("def u{tag}(x), do: {{M{j}.f{j}(x), M{k}.f{k}(x)}}"));
            }
            Item::RequireAs { j } => {
                s.head.push(format!("require {}, as: R{tag}", m(j)));
                s.defs.push(format!("def u{tag}(x), do: R{tag}.m{j}(x)"));
            }
            Item::ImportMacrosOnly { j } => {
                s.head.push(format!("import {}, only: :macros", m(j)));
                s.defs.push(format!("def u{tag}(x), do: m{j}(x)"));
            }
            Item::DefMacro { j } => {
                s.head.push(format!("require {}", m(j)));
                s.body.push(format!("{}.defm{j}(:dm{tag})", m(j)));
            }
            Item::InnerStruct { j } => s.defs.push(format!("def u{tag}(x), do: %{}.Inner{{a: x}}", m(j))),
            Item::ExtraCall { j, place } => self.place(s, place, &tag, format!("{}.Extra.e(x)", m(j))),
            Item::Probe(n) => s.defs.push(format!("def probe_{n}, do: :ok")),
        }
    }

    fn struct_item(&self, s: &mut Sections, tag: &str, sm: &str, form: StructForm) {
        use StructForm::*;
        match form {
            HeadBound => s.defs.push(format!("def s{tag}(%{sm}{{}} = s), do: s")),
            HeadWhole => s.defs.push(format!("def s{tag}(%{sm}{{}}), do: 1")),
            HeadFields => s.defs.push(format!("def s{tag}(%{sm}{{a: a}}), do: a")),
            HeadDefault => s.defs.push(format!("def s{tag}(x \\\\ %{sm}{{}}), do: x")),
            PrivateHead => {
                s.defs.push(format!("defp sp{tag}(%{sm}{{}}), do: 1"));
                s.defs.push(format!("def s{tag}(x), do: sp{tag}(x)"));
            }
            Body => s.defs.push(format!("def s{tag}(x), do: %{sm}{{a: x}}")),
            Update => s.defs.push(format!("def s{tag}(x), do: %{sm}{{x | a: 1}}")),
            Guard => s.defs.push(format!("def s{tag}(x) when is_struct(x, {sm}), do: x")),
            Match => s.defs.push(format!("def s{tag}(x), do: match?(%{sm}{{}}, x)")),
            Case => s.defs.push(format!(
                "def s{tag}(x) do\n    case x do\n      %{sm}{{a: a}} -> a\n      _ -> nil\n    end\n  end"
            )),
            Type => s.body.push(format!("@type s{tag} :: %{sm}{{}}")),
            Spec => {
                s.defs.push(format!("@spec s{tag}(%{sm}{{}}) :: term"));
                s.defs.push(format!("def s{tag}(x), do: x"));
            }
            Callback => s.body.push(format!("@callback s{tag}(%{sm}{{}}) :: term")),
            AttrUnread => s.body.push(format!("@s{tag} %{sm}{{a: 1}}")),
            AttrReadFn => {
                s.body.push(format!("@s{tag} %{sm}{{a: 1}}"));
                s.defs.push(format!("def s{tag}, do: @s{tag}"));
            }
            AttrReadBody => {
                s.body.push(format!("@s{tag} %{sm}{{a: 1}}"));
                s.body.push(format!("@t{tag} Map.fetch!(@s{tag}, :a)"));
                s.defs.push(format!("def s{tag}, do: @t{tag}"));
            }
            AttrReadGuard => {
                s.body.push(format!("@s{tag} %{sm}{{a: 1}}"));
                s.defs.push(format!("def s{tag}(x) when x == @s{tag}, do: x"));
            }
            AttrList => {
                s.body.push(format!("@s{tag} [%{sm}{{a: 1}}]"));
                s.defs.push(format!("def s{tag}, do: @s{tag}"));
            }
            AttrFieldCode => {
                s.body.push(format!("@s{tag} %{sm}{{a: length([1])}}"));
                s.defs.push(format!("def s{tag}, do: @s{tag}"));
            }
            AttrCode => {
                s.body.push(format!("@s{tag} Map.put(%{sm}{{}}, :a, 2)"));
                s.defs.push(format!("def s{tag}, do: @s{tag}"));
            }
            BodyPattern => {
                s.body
                    .push(format!("@s{tag} Enum.map([%{sm}{{a: 1}}], fn %{sm}{{a: a}} -> a end)"));
                s.defs.push(format!("def s{tag}, do: @s{tag}"));
            }
            FnPattern => s.defs.push(format!(
                "def s{tag}(l), do: Enum.map(l, fn %{sm}{{a: a}} -> a; _ -> nil end)"
            )),
            ForPattern => s
                .defs
                .push(format!("def s{tag}(l), do: for(%{sm}{{a: a}} <- l, do: a)")),
            WithPattern => s
                .defs
                .push(format!("def s{tag}(x), do: with(%{sm}{{a: a}} <- x, do: a)")),
            Typep => {
                s.body.push(format!("@typep s{tag} :: %{sm}{{}}"));
                s.body.push(format!("@type p{tag} :: s{tag}"));
            }
            Opaque => s.body.push(format!("@opaque s{tag} :: %{sm}{{}}")),
            KeywordAttr => {
                s.body.push(format!("@s{tag} [default: %{sm}{{a: 1}}]"));
                s.body.push(format!("@t{tag} Keyword.fetch!(@s{tag}, :default)"));
                s.defs.push(format!("def s{tag}, do: @t{tag}"));
            }
            Defguard => s.defs.push(format!("defguard is_s{tag}(x) when is_struct(x, {sm})")),
            InNested => s
                .body
                .push(format!("defmodule N{tag} do\n    def n(x), do: %{sm}{{a: x}}\n  end")),
        }
    }
}
