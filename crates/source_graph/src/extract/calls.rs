//! Calls: remote calls (`M.f()`, compile or runtime by mode), and local
//! calls, dispatched to the definition forms or recorded as possible
//! imported calls.

use tree_sitter::Node;

use super::definitions::def_form;
use super::nodes::{arguments, call_name, line};
use super::walker::Walker;
use super::{field, Field};
use crate::model::{Mode, ModuleName, RefKind};

impl<'s> Walker<'s> {
    pub(super) fn visit_call(&mut self, node: Node) {
        let Some(target) = node.child_by_field_id(field(Field::Target)) else {
            return self.visit_children(node);
        };
        match target.kind() {
            "identifier" => self.visit_local_call(node, self.text(target)),
            "dot" => self.visit_remote_call(node, target),
            _ => self.visit_children(node),
        }
    }

    fn visit_remote_call(&mut self, node: Node, dot: Node) {
        let left = dot.child_by_field_id(field(Field::Left));
        let right = dot.child_by_field_id(field(Field::Right));
        // `unquote(M).f()` in a quote: the macro evaluates `M` (its own
        // reference, walked with the `unquote`), and the caller gets a call
        // of `M.f`.
        let unquoted = left.filter(|_| self.in_quote()).and_then(|l| self.unquoted_module(l));
        if let (Some(l), Some(_)) = (left, &unquoted) {
            self.visit(l);
        }
        let module = left.and_then(|l| self.module_expr(l)).or(unquoted);
        match (module, right) {
            // `Kernel.def f ...`, `Kernel.defmacro ...` (where `def` is not
            // imported, as in protocols): a definition like any other.
            (Some(module), Some(right))
                if module == "Kernel" && right.kind() == "identifier" && def_form(self.text(right)).is_some() =>
            {
                if let Some((public, macro_)) = def_form(self.text(right)) {
                    return self.visit_def(node, &arguments(node), public, macro_);
                }
            }
            (Some(module), Some(right)) if right.kind() == "identifier" => {
                let name = self.text(right).to_string();
                let line = line(node);
                match self.mode {
                    Mode::Compile => {
                        if let Some(r) = self.ref_entry(&module, line) {
                            r.kinds.add(RefKind::Compile);
                            r.compile_calls.insert(name);
                        }
                    }
                    Mode::Runtime => {
                        if let Some(r) = self.ref_entry(&module, line) {
                            r.runtime_calls.insert(name);
                        }
                    }
                }
            }
            _ => {
                if let Some(l) = left {
                    self.visit(l);
                }
            }
        }
        self.visit_args_and_block(node);
    }

    /// `M` when `node` is `unquote(M)` and `M` a module.
    fn unquoted_module(&self, node: Node) -> Option<ModuleName> {
        if call_name(node, self.src) != Some("unquote") {
            return None;
        }
        match arguments(node).as_slice() {
            [arg] => self.module_expr(*arg),
            _ => None,
        }
    }

    pub(super) fn visit_args_and_block(&mut self, node: Node) {
        let mut cursor = node.walk();
        let children: Vec<Node> = node.named_children(&mut cursor).collect();
        for child in children {
            if matches!(child.kind(), "arguments" | "do_block") {
                self.visit(child);
            }
        }
    }

    fn visit_local_call(&mut self, node: Node, name: &'s str) {
        let args = arguments(node);
        let line = line(node);
        match name {
            "defmodule" | "defprotocol" => self.visit_defmodule(node, name, &args),
            "defimpl" => self.visit_defimpl(node, &args),
            "alias" => self.visit_alias(&args),
            "require" | "import" | "use" => self.visit_require(name, &args, line),
            "quote" => self.visit_quote(node),
            "unquote" | "unquote_splicing" if self.in_quote() => {
                let frame = self.quotes.pop();
                if let Some(frame) = frame {
                    let saved = self.mode;
                    self.mode = frame.outer_mode;
                    self.visit_args_and_block(node);
                    self.mode = saved;
                    self.quotes.push(frame);
                }
            }
            "defdelegate" => self.visit_defdelegate(&args, line),
            // `match?(pattern, expr)` is a `case`: its first argument a pattern.
            "match?" if args.len() == 2 => {
                self.record_local_call(name, line);
                self.with_pattern(true, |w| w.visit(args[0]));
                self.with_pattern(false, |w| w.visit(args[1]));
            }
            _ => {
                if let Some((public, macro_)) = def_form(name) {
                    return self.visit_def(node, &args, public, macro_);
                }
                self.record_local_call(name, line);
                self.visit_args_and_block(node);
            }
        }
    }

    fn record_local_call(&mut self, name: &str, line: u32) {
        if self.in_quote() {
            return;
        }
        let caller = self.current_module().cloned();
        if !self.uses.is_empty() {
            self.calls_under_use.push((caller.clone(), name.to_string(), self.mode));
        }
        for import in &self.imports {
            if import.admits(name) {
                self.local_calls.push((
                    caller.clone(),
                    import.module.clone(),
                    name.to_string(),
                    self.mode,
                    import.kind,
                    line,
                ));
            }
        }
    }
}
