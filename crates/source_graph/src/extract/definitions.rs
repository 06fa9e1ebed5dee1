//! Definition forms: `defmodule`/`defprotocol` (and the code a protocol
//! generates), `defimpl`, `alias`, `require`/`import`/`use`, `quote`,
//! `def`-like forms and `defdelegate`.

use std::collections::BTreeSet;

use tree_sitter::Node;

use super::nodes::{arguments, do_block, keyword_pairs, line, operator};
use super::walker::{ImportScope, QuoteFrame, Walker};
use super::{field, Field};
use crate::model::{Defs, ImportOnly, Mode, ModuleDef, ModuleKind, ModuleName, RefKind, ANY_MACRO};

/// Names of `def`-like forms and whether they are public functions/macros.
pub(super) fn def_form(name: &str) -> Option<(bool, bool)> {
    // (public, macro)
    match name {
        "def" => Some((true, false)),
        "defp" => Some((false, false)),
        "defmacro" | "defguard" => Some((true, true)),
        "defmacrop" | "defguardp" => Some((false, true)),
        _ => None,
    }
}

/// The built-in types a protocol dispatches on by guard (`Protocol.__built_in__/0`
/// in `protocol.ex`, the same list from 1.14 to 1.20).
pub(super) const BUILT_IN_TYPES: &[&str] = &[
    "Tuple",
    "Atom",
    "List",
    "Map",
    "BitString",
    "Integer",
    "Float",
    "Function",
    "PID",
    "Port",
    "Reference",
];

impl<'s> Walker<'s> {
    pub(super) fn visit_defmodule(&mut self, node: Node, form: &str, args: &[Node]) {
        let Some(name_node) = args.first() else {
            return self.visit_args_and_block(node);
        };
        // Elixir's `expand_module/3`: at the top level the name is
        // alias-expanded; nested, `defmodule Inner` is `Outer.Inner` and
        // aliases `Inner`; `__MODULE__.X` is just evaluated.
        let (full, alias) = match (name_node.kind(), self.current_module()) {
            ("alias", Some(outer)) => {
                let written: String = self.text(*name_node).chars().filter(|c| !c.is_whitespace()).collect();
                if let Some(rest) = written.strip_prefix("Elixir.") {
                    (rest.to_string(), None)
                } else {
                    let head = written.split('.').next().unwrap_or(&written).to_string();
                    (
                        format!("{outer}.{written}"),
                        Some((head.clone(), format!("{outer}.{head}"))),
                    )
                }
            }
            _ => match self.module_expr(*name_node) {
                Some(m) => (m, None),
                None => return self.visit_args_and_block(node),
            },
        };
        if let Some((short, target)) = alias {
            self.push_alias(&short, target);
        }
        let kind = if form == "defprotocol" {
            ModuleKind::Protocol
        } else {
            ModuleKind::Module
        };
        let protocol = (kind == ModuleKind::Protocol && !self.in_quote()).then(|| full.clone());
        self.enter_module(node, full, kind, |w| {
            if let Some(block) = do_block(node) {
                w.visit(block);
            }
            // `defmodule Foo, do: ...`
            for arg in args.iter().skip(1) {
                w.visit(*arg);
            }
        });
        if let Some(protocol) = protocol {
            self.protocol_refs(&protocol, line(node));
        }
    }

    /// What the code `defprotocol` generates references: its
    /// implementations for `Any` and for the built-in types, by release
    /// (`Rules::protocol_any_impl`, `Rules::protocol_builtin_impls`). A
    /// protocol is a behaviour (a callback per function).
    fn protocol_refs(&mut self, protocol: &str, line: u32) {
        self.facts.defs.entry(protocol.to_string()).or_default().callbacks = true;
        if self.rules.protocol_any_impl {
            self.add_ref(&format!("{protocol}.Any"), RefKind::Compile, line);
        }
        if self.rules.protocol_builtin_impls {
            for builtin in BUILT_IN_TYPES {
                self.add_ref(&format!("{protocol}.{builtin}"), RefKind::Runtime, line);
            }
        }
    }

    fn enter_module(&mut self, node: Node, name: ModuleName, kind: ModuleKind, body: impl FnOnce(&mut Self)) {
        if !self.in_quote() {
            self.facts.modules.push(ModuleDef {
                name: name.clone(),
                kind,
                start_line: line(node),
                end_line: node.end_position().row as u32 + 1,
                start_byte: node.start_byte(),
                end_byte: node.end_byte(),
                parent: self.current_module().cloned(),
            });
            self.facts.defs.entry(name.clone()).or_default();
        }
        self.modules.push(name);
        let saved_mode = self.mode;
        self.mode = Mode::Compile;
        self.with_pattern(false, |w| w.scoped(body));
        self.mode = saved_mode;
        self.modules.pop();
    }

    pub(super) fn visit_defimpl(&mut self, node: Node, args: &[Node]) {
        let Some(proto_node) = args.first() else {
            return self.visit_args_and_block(node);
        };
        let Some(protocol) = self.module_expr(*proto_node) else {
            return self.visit_args_and_block(node);
        };
        if self.rules.defimpl_export {
            // 1.19+: the alias is expanded beforehand (runtime) and the
            // implementation declares `@behaviour require(P)` (export).
            self.add_ref(&protocol, RefKind::Runtime, line(node));
            self.add_ref(&protocol, RefKind::Export, line(node));
        } else {
            // `protocol = unquote(protocol)` runs in the enclosing body.
            self.add_ref(&protocol, RefKind::Compile, line(node));
        }
        // `for:` is expanded as a literal (no trace); default is the
        // enclosing module.
        let mut fors: Vec<ModuleName> = Vec::new();
        let mut inline_do = None;
        for arg in args.iter().skip(1) {
            for (key, value) in keyword_pairs(*arg, self.src) {
                match key.as_str() {
                    "for" => {
                        if value.kind() == "list" {
                            let mut cursor = value.walk();
                            let items: Vec<Node> = value.named_children(&mut cursor).collect();
                            fors.extend(items.into_iter().filter_map(|i| self.module_expr(i)));
                        } else if let Some(m) = self.module_expr(value) {
                            fors.push(m);
                        } else if value.kind() == "atom" {
                            // `for: :atom` is not a usual case; keep the name.
                            fors.push(self.text(value).trim_start_matches(':').to_string());
                        }
                    }
                    "do" => inline_do = Some(value),
                    _ => {}
                }
            }
        }
        if fors.is_empty() {
            if let Some(m) = self.current_module() {
                fors.push(m.clone());
            }
        } else {
            // `Macro.expand_literal` of `for:` traces runtime references.
            for module in &fors {
                self.add_ref(module, RefKind::Runtime, line(node));
            }
        }
        for for_module in fors {
            let name = format!("{protocol}.{for_module}");
            self.enter_module(node, name, ModuleKind::Impl, |w| {
                if let Some(block) = do_block(node) {
                    w.visit(block);
                }
                if let Some(v) = inline_do {
                    w.visit(v);
                }
            });
        }
    }

    pub(super) fn visit_alias(&mut self, args: &[Node]) {
        let Some(first) = args.first() else { return };
        let modules = self.module_list(*first);
        let as_name = args
            .iter()
            .skip(1)
            .flat_map(|a| keyword_pairs(*a, self.src))
            .find(|(k, _)| k == "as")
            .map(|(_, v)| self.text(v).to_string());
        match (as_name, modules.as_slice()) {
            (Some(short), [module]) => self.push_alias(&short, module.clone()),
            _ => {
                for module in modules {
                    self.alias_last_segment(&module);
                }
            }
        }
    }

    /// `require`, `import` and `use`.
    pub(super) fn visit_require(&mut self, form: &str, args: &[Node], line: u32) {
        let Some(first) = args.first() else { return };
        let modules = self.module_list(*first);
        if modules.is_empty() {
            // `require unquote(mod)` and the like: evaluate what is there.
            for arg in args {
                self.visit(*arg);
            }
            return;
        }
        let opts: Vec<(String, Node)> = args.iter().skip(1).flat_map(|a| keyword_pairs(*a, self.src)).collect();
        for module in &modules {
            match form {
                "use" => {
                    // `use` expands to `require M; M.__using__(opts)`: an
                    // export dependency and a macro call. Its options are
                    // passed to `__using__` unevaluated, so they are not
                    // walked (see the crate docs).
                    if let Some(r) = self.ref_entry(module, line) {
                        r.kinds.add(RefKind::Compile);
                        r.kinds.add(RefKind::Export);
                        r.used = true;
                    }
                    if !self.in_quote() {
                        self.uses.push(module.clone());
                    }
                }
                _ => {
                    if let Some(r) = self.ref_entry(module, line) {
                        r.kinds.add(RefKind::Export);
                        r.imported |= form == "import";
                    }
                }
            }
        }
        match form {
            "require" => {
                if let (Some((_, v)), [module]) = (opts.iter().find(|(k, _)| k == "as"), modules.as_slice()) {
                    let short = self.text(*v).to_string();
                    self.push_alias(&short, module.clone());
                }
            }
            "import" => {
                for module in modules {
                    let scope = self.import_scope(module, &opts);
                    self.imports.push(scope);
                }
            }
            _ => {}
        }
    }

    fn import_scope(&self, module: ModuleName, opts: &[(String, Node)]) -> ImportScope {
        let mut scope = ImportScope {
            module,
            only: None,
            except: BTreeSet::new(),
            kind: ImportOnly::Any,
        };
        for (key, value) in opts {
            let names =
                || -> BTreeSet<String> { keyword_pairs(*value, self.src).into_iter().map(|(k, _)| k).collect() };
            match (key.as_str(), value.kind()) {
                ("only", "atom") => match self.text(*value) {
                    ":macros" => scope.kind = ImportOnly::Macros,
                    ":functions" => scope.kind = ImportOnly::Functions,
                    // `:sigils`: sigil calls are not tracked.
                    _ => scope.only = Some(BTreeSet::new()),
                },
                ("only", _) => scope.only = Some(names()),
                ("except", _) => scope.except = names(),
                _ => {}
            }
        }
        scope
    }

    pub(super) fn visit_quote(&mut self, node: Node) {
        // Code in a quote runs where the macro is expanded, not here; only
        // its `unquote`s run here. What it references is recorded for the
        // quoting module and its macro, twice: as code a module body runs
        // (a macro called there, `use`) and as code a function runs; a
        // call of the macro injects one of them into the caller. A quote
        // inside a quote is part of the outer one.
        if let Some(frame) = self.quotes.last() {
            let mode = if frame.runtime == 1 {
                Mode::Runtime
            } else {
                Mode::Compile
            };
            return self.with_mode(mode, |w| w.scoped(|w| w.visit_args_and_block(node)));
        }
        let macro_name = match self.defs.last() {
            Some((name, true)) => name.clone(),
            _ => ANY_MACRO.to_string(),
        };
        for (runtime, mode) in [(0, Mode::Compile), (1, Mode::Runtime)] {
            self.quotes.push(QuoteFrame {
                outer_mode: self.mode,
                owner: self.current_module().cloned(),
                macro_name: macro_name.clone(),
                runtime,
            });
            self.with_mode(mode, |w| {
                w.scoped(|w| {
                    // Options (`bind_quoted: [...]`) are evaluated here, but
                    // bind_quoted values are rare module references; walk them as
                    // quoted code too.
                    w.visit_args_and_block(node);
                })
            });
            self.quotes.pop();
        }
    }

    pub(super) fn visit_def(&mut self, node: Node, args: &[Node], public: bool, macro_: bool) {
        let head = args.first().copied();
        // `def f(x) when guard`: the head is a `when` binary operator.
        let (call, guard) = match head {
            Some(h) if h.kind() == "binary_operator" && operator(h, self.src) == "when" => (
                h.child_by_field_id(field(Field::Left)),
                h.child_by_field_id(field(Field::Right)),
            ),
            other => (other, None),
        };
        let name = call.and_then(|c| match c.kind() {
            "identifier" => Some(self.text(c).to_string()),
            "call" => c
                .child_by_field_id(field(Field::Target))
                .filter(|t| t.kind() == "identifier")
                .map(|t| self.text(t).to_string()),
            _ => None,
        });
        if let (Some(name), Some(module)) = (&name, self.current_module().cloned()) {
            if !self.in_quote() {
                let defs: &mut Defs = self.facts.defs.entry(module.clone()).or_default();
                defs.all.insert(name.clone());
                if public && macro_ {
                    defs.macros.insert(name.clone());
                } else if public {
                    defs.functions.insert(name.clone());
                }
                if name == "__using__" && macro_ {
                    self.using_modules.insert(module);
                }
            }
        }
        // Every clause of a public function or macro has its signature
        // built for the docs (`Module.compile_doc/12` in `module.ex`, every
        // release): `simplify_arg/3` expands the name of a struct that is a
        // whole argument (`def f(%S{})`, `def f(%S{} \\ d)`, not
        // `%S{} = s`) in the function's environment, a runtime reference
        // even where patterns trace nothing (1.15+).
        if public {
            if let Some(c) = call.filter(|c| c.kind() == "call") {
                for arg in arguments(c) {
                    let arg = match arg.kind() {
                        "binary_operator" if operator(arg, self.src) == "\\\\" => {
                            arg.child_by_field_id(field(Field::Left)).unwrap_or(arg)
                        }
                        _ => arg,
                    };
                    if let Some(module) = self.struct_name(arg) {
                        self.add_ref(&module, RefKind::Runtime, line(arg));
                    }
                }
            }
        }
        // `def unquote(name)(...)`: the unquote runs in the enclosing context.
        if let Some(target) = call
            .and_then(|c| c.child_by_field_id(field(Field::Target)))
            .filter(|t| t.kind() == "call")
        {
            self.visit(target);
        }
        self.defs.push((name.clone().unwrap_or_default(), macro_));
        self.with_mode(Mode::Runtime, |w| {
            w.scoped(|w| {
                // The head's arguments are patterns (but for defaults,
                // see `visit_binary`), the guard a guard.
                w.with_pattern(true, |w| {
                    if let Some(c) = call.filter(|c| c.kind() == "call") {
                        w.visit_args_and_block(c);
                    }
                    if let Some(g) = guard {
                        w.visit(g);
                    }
                });
                w.with_pattern(false, |w| {
                    for arg in args.iter().skip(1) {
                        w.visit(*arg);
                    }
                    if let Some(block) = do_block(node) {
                        w.visit(block);
                    }
                });
            })
        });
        self.defs.pop();
    }

    pub(super) fn visit_defdelegate(&mut self, args: &[Node], line: u32) {
        let head = args.first().copied();
        let name = head.and_then(|c| match c.kind() {
            "call" => c
                .child_by_field_id(field(Field::Target))
                .filter(|t| t.kind() == "identifier")
                .map(|t| self.text(t).to_string()),
            "identifier" => Some(self.text(c).to_string()),
            _ => None,
        });
        let opts: Vec<(String, Node)> = args.iter().skip(1).flat_map(|a| keyword_pairs(*a, self.src)).collect();
        let to = opts
            .iter()
            .find(|(k, _)| k == "to")
            .and_then(|(_, v)| self.module_expr(*v));
        let as_name = opts
            .iter()
            .find(|(k, _)| k == "as")
            .map(|(_, v)| self.text(*v).trim_start_matches(':').to_string());
        if let (Some(name), Some(module)) = (&name, self.current_module().cloned()) {
            if !self.in_quote() {
                let defs = self.facts.defs.entry(module).or_default();
                defs.all.insert(name.clone());
                defs.functions.insert(name.clone());
            }
        }
        // The generated `def` calls `To.as(args)` at runtime; `to:` itself is
        // expanded as a literal, without a trace.
        if let (Some(to), Some(called)) = (to, as_name.or(name)) {
            if let Some(r) = self.ref_entry(&to, line) {
                r.runtime_calls.insert(called);
            }
        }
    }
}
