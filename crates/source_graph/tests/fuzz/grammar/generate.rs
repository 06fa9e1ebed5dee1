//! Drawing a random project from the grammar: which constructs each
//! module uses, and which lower-numbered modules they name.

use super::{AttrRead, Item, MacroDef, Module, Place, Project, Protocol, QItem, Rng, STRUCT_FORMS};

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
}
