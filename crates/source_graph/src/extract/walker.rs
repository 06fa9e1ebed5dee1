//! The walker: its state while it goes down one file's tree (lexical
//! aliases, imports and `use`s, the module, mode and quote it is in, what
//! it has recorded), module names as written, and the traversal itself
//! (scopes, patterns, maps and structs, the `@` operator).

use std::collections::{BTreeMap, BTreeSet};

use tree_sitter::Node;

use super::nodes::{arguments, is_generator, line, operator, stab_left_is_pattern};
use super::{field, Field};
use crate::model::{FileFacts, ImportOnly, Mode, ModuleName, RawRef, RefKind, ANY_MACRO};
use crate::version::Rules;

pub(super) struct ImportScope {
    pub(super) module: ModuleName,
    pub(super) only: Option<BTreeSet<String>>,
    pub(super) except: BTreeSet<String>,
    pub(super) kind: ImportOnly,
}

impl ImportScope {
    pub(super) fn admits(&self, name: &str) -> bool {
        if self.except.contains(name) {
            return false;
        }
        match &self.only {
            Some(only) => only.contains(name),
            None => true,
        }
    }
}

/// State kept while inside a `quote` block.
pub(super) struct QuoteFrame {
    /// Mode outside the quote, restored for `unquote(...)`.
    pub(super) outer_mode: Mode,
    /// The module whose code contains the quote (refs recorded for it).
    pub(super) owner: Option<ModuleName>,
    /// The macro the quote is written in ([`ANY_MACRO`] outside one).
    pub(super) macro_name: String,
    /// Which walk this is: as if expanded in a function (1) or a module
    /// body (0).
    pub(super) runtime: usize,
}

pub(super) struct Walker<'s> {
    pub(super) src: &'s [u8],
    pub(super) rules: Rules,
    /// Inside a pattern or a guard (a function head, a `case`/`receive`/`fn`
    /// clause, the left of `=` or of a `for`/`with` `<-`): an alias there is
    /// traced only by some releases (`Rules::pattern_aliases`).
    pattern: bool,
    /// Lexical aliases, innermost last: (short name, full name).
    aliases: Vec<(String, ModuleName)>,
    pub(super) imports: Vec<ImportScope>,
    /// Number of `use`s in lexical scope.
    pub(super) uses: Vec<ModuleName>,
    pub(super) modules: Vec<ModuleName>,
    pub(super) mode: Mode,
    pub(super) quotes: Vec<QuoteFrame>,
    /// Literal attribute values: (module, attribute) -> aliases named.
    pub(super) attr_aliases: BTreeMap<(ModuleName, String), BTreeSet<ModuleName>>,
    /// Unqualified calls that may be imports: (caller, target, name, mode, only).
    pub(super) local_calls: Vec<(Option<ModuleName>, ModuleName, String, Mode, ImportOnly, u32)>,
    /// Unqualified calls while a `use` is in scope: (caller, name, mode).
    pub(super) calls_under_use: Vec<(Option<ModuleName>, String, Mode)>,
    pub(super) facts: FileFacts,
    pub(super) using_modules: BTreeSet<ModuleName>,
    /// The definitions being walked, innermost last: (name, macro?).
    pub(super) defs: Vec<(String, bool)>,
}

impl<'s> Walker<'s> {
    pub(super) fn new(src: &'s [u8], rules: Rules) -> Self {
        Walker {
            src,
            rules,
            pattern: false,
            aliases: Vec::new(),
            imports: Vec::new(),
            uses: Vec::new(),
            modules: Vec::new(),
            mode: Mode::Compile,
            quotes: Vec::new(),
            attr_aliases: BTreeMap::new(),
            local_calls: Vec::new(),
            calls_under_use: Vec::new(),
            facts: FileFacts::default(),
            using_modules: BTreeSet::new(),
            defs: Vec::new(),
        }
    }

    pub(super) fn finish(mut self) -> FileFacts {
        // Imported calls only count where the caller has no definition of
        // that name (a local definition wins, as in Elixir).
        for (caller, target, name, mode, only, line) in std::mem::take(&mut self.local_calls) {
            let local = caller
                .as_ref()
                .and_then(|c| self.facts.defs.get(c))
                .is_some_and(|d| d.all.contains(&name));
            if !local {
                let r = self.facts.refs.entry(target).or_default();
                if r.line == 0 {
                    r.line = line;
                }
                r.imported_calls.insert((name, mode, only));
            }
        }
        for (caller, name, mode) in std::mem::take(&mut self.calls_under_use) {
            let local = caller
                .as_ref()
                .and_then(|c| self.facts.defs.get(c))
                .is_some_and(|d| d.all.contains(&name));
            if !local {
                self.facts.calls_under_use.insert((name, mode));
            }
        }
        // `use M` injects the quotes of `__using__`, and those of helper
        // functions `__using__` may call (`apply(__MODULE__, which, [])`).
        for module in &self.using_modules {
            let mut refs: BTreeMap<ModuleName, RawRef> = BTreeMap::new();
            if let Some(quotes) = self.facts.macro_refs.get(module) {
                for key in ["__using__", ANY_MACRO] {
                    for (target, raw) in quotes.get(key).map(|q| &q[0]).into_iter().flatten() {
                        refs.entry(target.clone()).or_default().merge(raw);
                    }
                }
            }
            self.facts.using_refs.insert(module.clone(), refs);
        }
        self.facts
    }

    pub(super) fn text(&self, node: Node) -> &'s str {
        let src: &'s [u8] = self.src;
        std::str::from_utf8(&src[node.byte_range()]).unwrap_or("")
    }

    pub(super) fn current_module(&self) -> Option<&ModuleName> {
        self.modules.last()
    }

    pub(super) fn in_quote(&self) -> bool {
        !self.quotes.is_empty()
    }

    /// The map that references currently go to: the file's, or, inside a
    /// `quote`, the quoting module's injected set.
    pub(super) fn ref_entry(&mut self, target: &str, line: u32) -> Option<&mut RawRef> {
        let map = match self.quotes.last() {
            None => &mut self.facts.refs,
            Some(frame) => {
                // Quotes outside any module inject nothing we can attribute.
                let owner = frame.owner.clone()?;
                let walk = frame.runtime;
                let quotes = self.facts.macro_refs.entry(owner).or_default();
                &mut quotes.entry(frame.macro_name.clone()).or_default()[walk]
            }
        };
        if !map.contains_key(target) {
            map.insert(target.to_string(), RawRef::default());
        }
        let entry = map.get_mut(target)?;
        if entry.line == 0 {
            entry.line = line;
        }
        Some(entry)
    }

    pub(super) fn add_ref(&mut self, target: &str, kind: RefKind, line: u32) {
        if let Some(r) = self.ref_entry(target, line) {
            r.kinds.add(kind);
        }
    }

    // ---- module names ----------------------------------------------------

    /// Expands an alias as written (`Foo.Bar`) with the lexical aliases.
    pub(super) fn expand_alias(&self, written: &str) -> ModuleName {
        let written: std::borrow::Cow<str> = if written.contains(char::is_whitespace) {
            written.chars().filter(|c| !c.is_whitespace()).collect()
        } else {
            written.into()
        };
        if let Some(rest) = written.strip_prefix("Elixir.") {
            return rest.to_string();
        }
        let (head, tail) = match written.split_once('.') {
            Some((h, t)) => (h, Some(t)),
            None => (written.as_ref(), None),
        };
        let base = self
            .aliases
            .iter()
            .rev()
            .find(|(short, _)| short == head)
            .map(|(_, full)| full.clone())
            .unwrap_or_else(|| head.to_string());
        match tail {
            Some(t) => format!("{base}.{t}"),
            None => base,
        }
    }

    /// The module a node denotes at compile time, if it is an alias,
    /// `__MODULE__` or `__MODULE__.Sub`. Inside a quote `__MODULE__` is the
    /// caller's module, unknown here.
    pub(super) fn module_expr(&self, node: Node) -> Option<ModuleName> {
        match node.kind() {
            "alias" => Some(self.expand_alias(self.text(node))),
            "identifier" if self.text(node) == "__MODULE__" => {
                if self.in_quote() {
                    None
                } else {
                    self.current_module().cloned()
                }
            }
            "dot" => {
                let left = node.child_by_field_id(field(Field::Left))?;
                let right = node.child_by_field_id(field(Field::Right))?;
                if right.kind() != "alias" {
                    return None;
                }
                let base = self.module_expr(left)?;
                let tail: String = self.text(right).chars().filter(|c| !c.is_whitespace()).collect();
                Some(format!("{base}.{tail}"))
            }
            _ => None,
        }
    }

    /// Modules named by an `alias`/`require`/`import`/`use` argument,
    /// including the multi-alias form `A.{B, C}`.
    pub(super) fn module_list(&self, node: Node) -> Vec<ModuleName> {
        if node.kind() == "dot" {
            if let (Some(left), Some(right)) = (
                node.child_by_field_id(field(Field::Left)),
                node.child_by_field_id(field(Field::Right)),
            ) {
                if right.kind() == "tuple" {
                    let Some(base) = self.module_expr(left) else {
                        return Vec::new();
                    };
                    let mut cursor = right.walk();
                    return right
                        .named_children(&mut cursor)
                        .filter(|c| c.kind() == "alias")
                        .map(|c| {
                            let tail: String = self.text(c).chars().filter(|ch| !ch.is_whitespace()).collect();
                            format!("{base}.{tail}")
                        })
                        .collect();
                }
            }
        }
        self.module_expr(node).into_iter().collect()
    }

    pub(super) fn push_alias(&mut self, short: &str, full: ModuleName) {
        self.aliases.push((short.to_string(), full));
    }

    pub(super) fn alias_last_segment(&mut self, full: &ModuleName) {
        let last = full.rsplit('.').next().unwrap_or(full);
        self.push_alias(last, full.clone());
    }

    // ---- walking ---------------------------------------------------------

    pub(super) fn visit(&mut self, node: Node) {
        match node.kind() {
            "call" => self.visit_call(node),
            "alias" => {
                if !self.untraced_alias() {
                    let module = self.expand_alias(self.text(node));
                    self.add_ref(&module, self.mode.kind(), line(node));
                }
            }
            "dot" => {
                // `__MODULE__.Sub` used as a value.
                if let Some(module) = self.module_expr(node) {
                    if !self.untraced_alias() {
                        self.add_ref(&module, self.mode.kind(), line(node));
                    }
                } else {
                    self.visit_children(node);
                }
            }
            "map" => self.visit_map(node),
            "unary_operator" => self.visit_unary(node),
            "binary_operator" => self.visit_binary(node),
            "stab_clause" => self.scoped(|w| w.visit_stab_clause(node)),
            "do_block" | "anonymous_function" => self.scoped(|w| {
                w.visit_children(node);
            }),
            "comment" => {}
            _ => self.visit_children(node),
        }
    }

    pub(super) fn visit_children(&mut self, node: Node) {
        // A cursor, not a collected Vec: this runs for most nodes.
        let mut cursor = node.walk();
        if !cursor.goto_first_child() {
            return;
        }
        loop {
            let child = cursor.node();
            if child.is_named() {
                self.visit(child);
            }
            if !cursor.goto_next_sibling() {
                break;
            }
        }
    }

    /// Runs `f` in a lexical scope: aliases and imports made inside do not
    /// leak out.
    pub(super) fn scoped(&mut self, f: impl FnOnce(&mut Self)) {
        let aliases = self.aliases.len();
        let imports = self.imports.len();
        let uses = self.uses.len();
        f(self);
        self.aliases.truncate(aliases);
        self.imports.truncate(imports);
        self.uses.truncate(uses);
    }

    pub(super) fn with_mode(&mut self, mode: Mode, f: impl FnOnce(&mut Self)) {
        let saved = self.mode;
        self.mode = mode;
        f(self);
        self.mode = saved;
    }

    /// Runs `f` with [`Walker::pattern`] set to `pattern`.
    pub(super) fn with_pattern(&mut self, pattern: bool, f: impl FnOnce(&mut Self)) {
        let saved = self.pattern;
        self.pattern = pattern;
        f(self);
        self.pattern = saved;
    }

    /// Whether an alias here is no reference: in a pattern or guard inside
    /// a function, on releases whose tracer ignores those (1.15+). In a
    /// module body (`function == nil`) it stays compile-time.
    fn untraced_alias(&self) -> bool {
        self.pattern && self.mode == Mode::Runtime && !self.rules.pattern_aliases
    }

    /// A clause `left -> right`: `left` is a pattern (with its guard) in
    /// `case`, `receive`, `fn`, `catch` and `else` clauses, and an
    /// expression in `cond`, `rescue`, `receive ... after` and clauses of
    /// other macros (which keep their aliases traced: an extra runtime
    /// reference at worst).
    fn visit_stab_clause(&mut self, node: Node) {
        let left = node.child_by_field_id(field(Field::Left));
        let right = node.child_by_field_id(field(Field::Right));
        if left.is_none() && right.is_none() {
            return self.visit_children(node);
        }
        let pattern = stab_left_is_pattern(node, self.src);
        if let Some(left) = left {
            self.with_pattern(pattern, |w| w.visit(left));
        }
        if let Some(right) = right {
            self.with_pattern(false, |w| w.visit(right));
        }
    }

    /// `=` matches its left side; a `<-` of `for`/`with` matches its left
    /// side; the default of a function argument (`x \\ default`) is an
    /// expression even in a function head.
    fn visit_binary(&mut self, node: Node) {
        let op = operator(node, self.src);
        let left = node.child_by_field_id(field(Field::Left));
        let right = node.child_by_field_id(field(Field::Right));
        let (Some(left), Some(right)) = (left, right) else {
            return self.visit_children(node);
        };
        let left_pattern = match op {
            "=" => true,
            "<-" => is_generator(node, self.src),
            _ => self.pattern,
        };
        let right_pattern = match op {
            "\\\\" => false,
            _ => self.pattern,
        };
        self.with_pattern(left_pattern, |w| w.visit(left));
        self.with_pattern(right_pattern, |w| w.visit(right));
    }

    /// The `%Struct{}`s of a typespec: `Kernel.Typespec` expands the
    /// struct (an export dependency) after expanding its alias as if in a
    /// function (a runtime one), on every release; remote types add nothing.
    pub(super) fn typespec_structs(&mut self, node: Node) {
        if node.kind() == "struct" {
            let mut cursor = node.walk();
            let name = node.named_children(&mut cursor).next();
            if let Some(module) = name.and_then(|n| self.module_expr(n)) {
                self.add_ref(&module, RefKind::Export, line(node));
                self.add_ref(&module, RefKind::Runtime, line(node));
            }
            return;
        }
        let mut cursor = node.walk();
        let children: Vec<Node> = node.named_children(&mut cursor).collect();
        for child in children {
            self.typespec_structs(child);
        }
    }

    fn visit_map(&mut self, node: Node) {
        let mut cursor = node.walk();
        let children: Vec<Node> = node.named_children(&mut cursor).collect();
        for child in children {
            if child.kind() == "struct" {
                // `%M{}`: Mix traces a struct expansion, an export
                // dependency, and the alias `M` as any alias there: at
                // compile time in a module body (a `__using__` quote's top
                // level lands in one), at runtime in a function, not at all
                // in a function's pattern or guard since 1.15
                // (`Rules::pattern_aliases`).
                let mut c2 = child.walk();
                let name = child.named_children(&mut c2).next();
                match name.and_then(|n| self.module_expr(n)) {
                    Some(module) => {
                        self.add_ref(&module, RefKind::Export, line(child));
                        if !self.untraced_alias() {
                            self.add_ref(&module, self.mode.kind(), line(child));
                        }
                    }
                    None => self.visit_children(child),
                }
            } else {
                self.visit(child);
            }
        }
    }

    /// The module of `%Module{...}`, when `node` is one.
    pub(super) fn struct_name(&self, node: Node) -> Option<ModuleName> {
        if node.kind() != "map" {
            return None;
        }
        let mut cursor = node.walk();
        let found = node.named_children(&mut cursor).find(|c| c.kind() == "struct")?;
        let mut c2 = found.walk();
        let name = found.named_children(&mut c2).next()?;
        self.module_expr(name)
    }

    fn visit_unary(&mut self, node: Node) {
        let op = node
            .child_by_field_id(field(Field::Operator))
            .map(|o| self.text(o))
            .unwrap_or("");
        let Some(operand) = node.child_by_field_id(field(Field::Operand)) else {
            return self.visit_children(node);
        };
        if op != "@" {
            return self.visit_children(node);
        }
        match operand.kind() {
            "identifier" => self.read_attribute(self.text(operand), line(node)),
            "call" => {
                let target = operand.child_by_field_id(field(Field::Target));
                match target.filter(|t| t.kind() == "identifier") {
                    Some(t) => {
                        let name = self.text(t);
                        let args = arguments(operand);
                        if args.is_empty() {
                            self.read_attribute(name, line(node));
                        } else {
                            self.set_attribute(name, &args);
                        }
                    }
                    None => self.visit_children(operand),
                }
            }
            _ => self.visit_children(node),
        }
    }
}
