//! Module attributes: `@name value` as `Kernel.@` traces it on each
//! release (literal values, compiler-read attributes, `@behaviour`,
//! `@derive`, typespecs) and `@name` reads in the module body.

use std::collections::BTreeSet;

use tree_sitter::Node;

use super::nodes::{line, operator};
use super::walker::Walker;
use crate::model::{Mode, ModuleName, RefKind};
use crate::version::AttributeLiterals;

/// Attributes whose value the compiler itself reads when the module is
/// finished, so a module named there is always a compile-time dependency
/// (`Kernel.@` skips their traces: `collect_traces/3` in `kernel.ex`, same
/// in 1.14 and 1.20). `@behaviour` is not one of them: see
/// `Rules::behaviour_compile`.
const COMPILER_READ_ATTRS: &[&str] = &["before_compile", "after_compile", "after_verify", "on_definition"];

/// Typespec attributes: remote types are expanded without tracing, so they
/// add no dependency in Mix (Kernel.Typespec `expand_remote/2`), except
/// `%Struct{}`, whose expansion is traced (an export dependency).
const TYPESPEC_ATTRS: &[&str] = &["type", "typep", "opaque", "spec", "callback", "macrocallback"];

impl<'s> Walker<'s> {
    /// The key of a module's attributes: inside a quote, those of the
    /// module the quote lands in (the `use`r's, for `__using__`), which
    /// are not the quoting module's.
    fn attribute_owner(&self, module: ModuleName) -> ModuleName {
        if self.in_quote() {
            format!("{module} (quote)")
        } else {
            module
        }
    }

    pub(super) fn read_attribute(&mut self, name: &str, line: u32) {
        // Reading in a function inlines the value without tracing it; only a
        // read in the module body traces the aliases (Module.__get_attribute__).
        if self.mode != Mode::Compile {
            return;
        }
        let Some(module) = self.current_module().cloned().map(|m| self.attribute_owner(m)) else {
            return;
        };
        let Some(targets) = self.attr_aliases.get(&(module, name.to_string())) else {
            return;
        };
        for target in targets.clone() {
            self.add_ref(&target, RefKind::Compile, line);
        }
    }

    pub(super) fn set_attribute(&mut self, name: &str, args: &[Node]) {
        if TYPESPEC_ATTRS.contains(&name) {
            if matches!(name, "callback" | "macrocallback") && !self.in_quote() {
                if let Some(module) = self.current_module().cloned() {
                    self.facts.defs.entry(module).or_default().callbacks = true;
                }
            }
            for arg in args {
                self.typespec_structs(*arg);
            }
            return;
        }
        let line = args.first().map(|a| line(*a)).unwrap_or(0);
        if COMPILER_READ_ATTRS.contains(&name) {
            self.with_mode(Mode::Compile, |w| {
                for arg in args {
                    w.visit(*arg);
                }
            });
            // `@before_compile M` expands `M.__before_compile__/1` at the
            // end of the module body: its quote lands here.
            if name == "before_compile" {
                if let Some(module) = args.first().and_then(|a| self.module_expr(*a)) {
                    if let Some(r) = self.ref_entry(&module, line) {
                        r.compile_calls.insert("__before_compile__".to_string());
                    }
                }
            }
            return;
        }
        if name == "behaviour" {
            if let [arg] = args {
                if let Some(module) = self.module_expr(*arg) {
                    // A literal: `Kernel.@` expands it as if in a function
                    // (runtime), and the behaviour check may make it
                    // compile-time (decided with the target's callbacks).
                    if let Some(r) = self.ref_entry(&module, line) {
                        r.kinds.add(RefKind::Runtime);
                        r.behaviour = true;
                    }
                    return;
                }
            }
            // `@behaviour unquote(m)` and the like: evaluated in the body.
            self.with_mode(Mode::Compile, |w| {
                for arg in args {
                    w.visit(*arg);
                }
            });
            return;
        }
        if name == "derive" {
            self.derive(args, line);
        }
        let doc = matches!(name, "doc" | "moduledoc" | "typedoc");
        let module = match self.current_module().cloned() {
            Some(module) if !doc => self.attribute_owner(module),
            _ => {
                for arg in args {
                    self.visit(*arg);
                }
                return;
            }
        };
        match self.rules.attribute_literals {
            AttributeLiterals::WholeValue => self.set_literal_value(module, name, args, line),
            AttributeLiterals::LiteralParts => self.set_literal_parts(module, name, args, line),
        }
    }

    /// 1.14's `Kernel.@`: a value that is a literal as a whole has its
    /// aliases replaced by atoms (traced at runtime now, and at compile time
    /// where the attribute is read in the module body); any other value is
    /// code the module body runs.
    fn set_literal_value(&mut self, module: ModuleName, name: &str, args: &[Node], line: u32) {
        // `Macro.quoted_literal?/1` accepts `%S{...}` with literal fields:
        // its alias becomes an atom like the others (runtime, compile where
        // read in the body), and the body expands the struct (export).
        let literal = args.iter().all(|a| self.is_quoted_literal(*a));
        if literal {
            let mut found = BTreeSet::new();
            let mut structs = BTreeSet::new();
            for arg in args {
                self.literal_aliases(*arg, &mut found, &mut structs);
            }
            for module in &found {
                self.add_ref(module, RefKind::Runtime, line);
            }
            for module in &structs {
                self.add_ref(module, RefKind::Export, line);
            }
            self.attr_aliases.insert((module, name.to_string()), found);
        } else {
            for arg in args {
                self.visit(*arg);
            }
        }
    }

    /// 1.15+'s `Kernel.@` (`Macro.expand_literals/3`): the aliases in the
    /// literal parts of the value become atoms (runtime now, compile-time
    /// where the attribute is read in the body), a struct there is expanded
    /// by the body with its name already an atom (export), and the rest of
    /// the value is code the module body runs.
    fn set_literal_parts(&mut self, module: ModuleName, name: &str, args: &[Node], line: u32) {
        let mut found = BTreeSet::new();
        let mut structs = BTreeSet::new();
        let mut rest = Vec::new();
        for arg in args {
            self.literal_parts(*arg, &mut found, &mut structs, &mut rest);
        }
        for target in &found {
            self.add_ref(target, RefKind::Runtime, line);
        }
        for target in &structs {
            self.add_ref(target, RefKind::Export, line);
        }
        self.attr_aliases.insert((module, name.to_string()), found);
        for node in rest {
            self.visit(node);
        }
    }

    /// Splits an attribute's value as `Macro.expand_literals/3` does: the
    /// aliases it expands (`found`, with the struct names in `structs` too)
    /// and the nodes it leaves alone (`rest`).
    fn literal_parts<'t>(
        &self,
        node: Node<'t>,
        found: &mut BTreeSet<ModuleName>,
        structs: &mut BTreeSet<ModuleName>,
        rest: &mut Vec<Node<'t>>,
    ) {
        let mut cursor = node.walk();
        match node.kind() {
            "alias" => {
                found.insert(self.expand_alias(self.text(node)));
            }
            "identifier" | "dot" => match self.module_expr(node) {
                Some(module) => {
                    found.insert(module);
                }
                None => rest.push(node),
            },
            "list" | "tuple" | "keywords" | "pair" | "map_content" => {
                let children: Vec<Node<'t>> = node.named_children(&mut cursor).collect();
                for child in children {
                    self.literal_parts(child, found, structs, rest);
                }
            }
            "map" => {
                let children: Vec<Node<'t>> = node.named_children(&mut cursor).collect();
                for child in children {
                    if child.kind() != "struct" {
                        self.literal_parts(child, found, structs, rest);
                        continue;
                    }
                    let mut c2 = child.walk();
                    let name = child.named_children(&mut c2).next();
                    match name.and_then(|n| self.module_expr(n)) {
                        Some(module) => {
                            structs.insert(module.clone());
                            found.insert(module);
                        }
                        None => rest.push(child),
                    }
                }
            }
            // `%{key => value}`: both sides are literal positions.
            "binary_operator" if operator(node, self.src) == "=>" => {
                let children: Vec<Node<'t>> = node.named_children(&mut cursor).collect();
                for child in children {
                    self.literal_parts(child, found, structs, rest);
                }
            }
            _ if self.is_quoted_literal(node) => {}
            _ => rest.push(node),
        }
    }

    /// `@derive P`, `@derive [P, {Q, opts}]`: marks the references to `P`
    /// and to `P.Any` whose `__deriving__` may run while this module
    /// compiles (see `Rules::derive_any_traced`). The value's own trace
    /// (a literal: runtime on `P`) is made by the caller.
    fn derive(&mut self, args: &[Node], line: u32) {
        let mut protocols = Vec::new();
        for arg in args {
            self.derived_protocols(*arg, &mut protocols);
        }
        for protocol in protocols {
            if let Some(r) = self.ref_entry(&protocol, line) {
                r.derive = true;
            }
            if let Some(r) = self.ref_entry(&format!("{protocol}.Any"), line) {
                r.derive_any = true;
            }
        }
    }

    fn derived_protocols(&self, node: Node, out: &mut Vec<ModuleName>) {
        let mut cursor = node.walk();
        match node.kind() {
            "list" => {
                let children: Vec<Node> = node.named_children(&mut cursor).collect();
                for child in children {
                    self.derived_protocols(child, out);
                }
            }
            // `{Protocol, options}`
            "tuple" => {
                let first = node.named_children(&mut cursor).next();
                out.extend(first.and_then(|f| self.module_expr(f)));
            }
            _ => out.extend(self.module_expr(node)),
        }
    }

    /// `Macro.quoted_literal?/1` on the tree-sitter side.
    fn is_quoted_literal(&self, node: Node) -> bool {
        match node.kind() {
            "alias" | "atom" | "integer" | "float" | "boolean" | "nil" | "char" | "charlist" | "quoted_content"
            | "keyword" | "comment" => true,
            "string" | "quoted_atom" | "quoted_keyword" => {
                let mut cursor = node.walk();
                let all = node.named_children(&mut cursor).all(|c| c.kind() != "interpolation");
                all
            }
            "list" | "tuple" | "keywords" | "pair" | "map_content" => {
                let mut cursor = node.walk();
                let children: Vec<Node> = node.named_children(&mut cursor).collect();
                children.into_iter().all(|c| self.is_quoted_literal(c))
            }
            // `%{...}`, and `%S{...}` whose name is an alias (`{:%, _,
            // [alias, map]}` is literal; `%__MODULE__{}` is not).
            "map" | "struct" => {
                let mut cursor = node.walk();
                let children: Vec<Node> = node.named_children(&mut cursor).collect();
                children.into_iter().all(|c| self.is_quoted_literal(c))
            }
            "binary_operator" if operator(node, self.src) == "=>" => {
                let mut cursor = node.walk();
                let children: Vec<Node> = node.named_children(&mut cursor).collect();
                children.into_iter().all(|c| self.is_quoted_literal(c))
            }
            _ => false,
        }
    }

    /// The aliases of a literal value (`found`), and the names of its
    /// structs (`structs`, in `found` too).
    fn literal_aliases(&self, node: Node, found: &mut BTreeSet<ModuleName>, structs: &mut BTreeSet<ModuleName>) {
        if node.kind() == "alias" {
            let module = self.expand_alias(self.text(node));
            if node.parent().is_some_and(|p| p.kind() == "struct") {
                structs.insert(module.clone());
            }
            found.insert(module);
            return;
        }
        let mut cursor = node.walk();
        let children: Vec<Node> = node.named_children(&mut cursor).collect();
        for child in children {
            self.literal_aliases(child, found, structs);
        }
    }
}
