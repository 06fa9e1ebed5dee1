//! Walks one file's tree-sitter tree and records what Mix's lexical tracker
//! would record when compiling it (`elixir_lexical.erl`), for the Elixir
//! release the [`Rules`] are for. As of 1.14:
//!
//! | source form                                   | kind                           |
//! |-----------------------------------------------|--------------------------------|
//! | `require M`, `import M`                       | export                         |
//! | `use M`                                       | compile + export (+ what `__using__` injects) |
//! | `%M{}` (pattern or expression)                | export, + `M` traced as an alias there (below) |
//! | `def f(%M{})` (a whole argument, public def)  | runtime too (the doc signature expands `M`) |
//! | `M.f()` / `M` in a module body or at top level| compile                        |
//! | `M.f()` / `M` inside a function               | runtime, or compile if `f` is a macro of `M` |
//! | `f()` imported from `M`                       | as the line above              |
//! | `@behaviour M`                                | compile if `M` has callbacks, else runtime |
//! | `@before_compile M`, `@after_compile M`, ...  | compile                        |
//! | `@attr M`, `@attr %M{a: 1}` (literal value)   | runtime (+ export for a struct), plus compile where `@attr` is read in the body |
//! | `@attr M.f()` (non-literal value)             | compile                        |
//! | `@derive P`                                   | runtime on `P`                 |
//! | `defimpl P, for: T`                           | compile on `P`, runtime on `T` |
//! | `defprotocol P`                               | compile on `P.Any`, runtime on `P.Integer`, `P.List`, ... (built-in impls) |
//! | `defdelegate f(x), to: M`                     | runtime                        |
//! | `@spec`/`@type`/`@callback` remote types      | nothing                        |
//! | `%M{}` in a typespec                          | export + runtime               |
//! | `M.mac()` where `mac`'s quote references `N`  | `N` as the quote does, in the call's mode |
//! | `alias M`                                     | nothing (only uses count)      |
//!
//! What later releases changed (each rule, with its source, is a field of
//! [`Rules`]):
//!
//! | source form                                   | 1.15 | 1.16 | 1.18 | 1.19, 1.20 |
//! |-----------------------------------------------|------|------|------|------------|
//! | `@behaviour M`                                | runtime | | | |
//! | `M` in a pattern or guard inside a function   | nothing | | | |
//! | `@attr [M, N.f()]` (literal parts of a value) | runtime on `M` (+ compile if read in the body), compile on `N` | | | |
//! | `defprotocol P` → `P.Integer`, ...            | | nothing | | |
//! | `@derive P` → `P.Any`                         | | compile | | |
//! | `@derive P`, `P` with a `__deriving__` macro  | | | compile on `P` | |
//! | `defprotocol P` → `P.Any`                     | | | | nothing |
//! | `defimpl P, for: T` → `P`                     | | | | export + runtime |
//!
//! Whether a remote call is a macro is not known from this file; it is
//! recorded as a name and decided by the index (see [`crate::model::RawRef`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use tree_sitter::{Node, Parser};

use crate::model::{
    Defs, FileFacts, ImportOnly, KindSet, Mode, ModuleDef, ModuleKind, ModuleName, RawRef, RefKind, ANY_MACRO,
};
use crate::version::{AttributeLiterals, Rules};

/// The grammar fields we read. Looking a field up by name scans the
/// grammar's field table on every call; ids are resolved once.
#[derive(Clone, Copy)]
enum Field {
    Target,
    Left,
    Right,
    Operator,
    Operand,
    Key,
    Value,
}

fn field(f: Field) -> u16 {
    static IDS: OnceLock<[u16; 7]> = OnceLock::new();
    let ids = IDS.get_or_init(|| {
        let language: tree_sitter::Language = tree_sitter_elixir::LANGUAGE.into();
        let id = |name: &str| language.field_id_for_name(name).map_or(0, |id| id.get());
        [
            id("target"),
            id("left"),
            id("right"),
            id("operator"),
            id("operand"),
            id("key"),
            id("value"),
        ]
    });
    ids[f as usize]
}

/// Creates a parser for Elixir.
pub(crate) fn new_parser() -> Result<Parser, tree_sitter::LanguageError> {
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_elixir::LANGUAGE.into())?;
    Ok(parser)
}

/// Parses `source` and extracts its facts, classified by `rules`. A source
/// tree-sitter cannot parse at all (it gives up only on cancellation)
/// yields an error entry.
pub(crate) fn extract(parser: &mut Parser, source: &str, rules: Rules) -> FileFacts {
    let Some(tree) = parser.parse(source, None) else {
        return FileFacts {
            errors: vec![(1, 1, "tree-sitter returned no tree".to_string())],
            ..FileFacts::default()
        };
    };
    let root = tree.root_node();
    let mut walker = Walker::new(source.as_bytes(), rules);
    walker.visit(root);
    let mut facts = walker.finish();
    if root.has_error() {
        collect_errors(root, source.as_bytes(), &mut facts.errors);
    }
    facts
}

/// At most this many syntax errors are reported per file: one is enough to
/// fall back to Mix, a few help the user.
const MAX_ERRORS: usize = 5;

fn collect_errors(node: Node, src: &[u8], out: &mut Vec<(u32, u32, String)>) {
    if out.len() >= MAX_ERRORS {
        return;
    }
    if node.is_error() || node.is_missing() {
        let pos = node.start_position();
        let message = if node.is_missing() {
            format!("missing `{}`", node.kind())
        } else {
            let text = node.utf8_text(src).unwrap_or("");
            let first = text.lines().next().unwrap_or("").trim();
            let snippet: String = first.chars().take(40).collect();
            format!("syntax error near `{snippet}`")
        };
        out.push((pos.row as u32 + 1, pos.column as u32 + 1, message));
        return;
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        if child.has_error() || child.is_missing() {
            collect_errors(child, src, out);
        }
    }
}

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

/// Names of `def`-like forms and whether they are public functions/macros.
fn def_form(name: &str) -> Option<(bool, bool)> {
    // (public, macro)
    match name {
        "def" => Some((true, false)),
        "defp" => Some((false, false)),
        "defmacro" | "defguard" => Some((true, true)),
        "defmacrop" | "defguardp" => Some((false, true)),
        _ => None,
    }
}

struct ImportScope {
    module: ModuleName,
    only: Option<BTreeSet<String>>,
    except: BTreeSet<String>,
    kind: ImportOnly,
}

impl ImportScope {
    fn admits(&self, name: &str) -> bool {
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
struct QuoteFrame {
    /// Mode outside the quote, restored for `unquote(...)`.
    outer_mode: Mode,
    /// The module whose code contains the quote (refs recorded for it).
    owner: Option<ModuleName>,
    /// The macro the quote is written in ([`ANY_MACRO`] outside one).
    macro_name: String,
    /// Which walk this is: as if expanded in a function (1) or a module
    /// body (0).
    runtime: usize,
}

/// The built-in types a protocol dispatches on by guard (`Protocol.__built_in__/0`
/// in `protocol.ex`, the same list from 1.14 to 1.20).
const BUILT_IN_TYPES: &[&str] = &[
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

struct Walker<'s> {
    src: &'s [u8],
    rules: Rules,
    /// Inside a pattern or a guard (a function head, a `case`/`receive`/`fn`
    /// clause, the left of `=` or of a `for`/`with` `<-`): an alias there is
    /// traced only by some releases (`Rules::pattern_aliases`).
    pattern: bool,
    /// Lexical aliases, innermost last: (short name, full name).
    aliases: Vec<(String, ModuleName)>,
    imports: Vec<ImportScope>,
    /// Number of `use`s in lexical scope.
    uses: Vec<ModuleName>,
    modules: Vec<ModuleName>,
    mode: Mode,
    quotes: Vec<QuoteFrame>,
    /// Literal attribute values: (module, attribute) -> aliases named.
    attr_aliases: BTreeMap<(ModuleName, String), BTreeSet<ModuleName>>,
    /// Unqualified calls that may be imports: (caller, target, name, mode, only).
    local_calls: Vec<(Option<ModuleName>, ModuleName, String, Mode, ImportOnly, u32)>,
    /// Unqualified calls while a `use` is in scope: (caller, name, mode).
    calls_under_use: Vec<(Option<ModuleName>, String, Mode)>,
    facts: FileFacts,
    using_modules: BTreeSet<ModuleName>,
    /// The definitions being walked, innermost last: (name, macro?).
    defs: Vec<(String, bool)>,
}

impl<'s> Walker<'s> {
    fn new(src: &'s [u8], rules: Rules) -> Self {
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

    fn finish(mut self) -> FileFacts {
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

    fn text(&self, node: Node) -> &'s str {
        let src: &'s [u8] = self.src;
        std::str::from_utf8(&src[node.byte_range()]).unwrap_or("")
    }

    fn current_module(&self) -> Option<&ModuleName> {
        self.modules.last()
    }

    fn in_quote(&self) -> bool {
        !self.quotes.is_empty()
    }

    /// The map that references currently go to: the file's, or, inside a
    /// `quote`, the quoting module's injected set.
    fn ref_entry(&mut self, target: &str, line: u32) -> Option<&mut RawRef> {
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

    fn add_ref(&mut self, target: &str, kind: RefKind, line: u32) {
        if let Some(r) = self.ref_entry(target, line) {
            r.kinds.add(kind);
        }
    }

    // ---- module names ----------------------------------------------------

    /// Expands an alias as written (`Foo.Bar`) with the lexical aliases.
    fn expand_alias(&self, written: &str) -> ModuleName {
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
    fn module_expr(&self, node: Node) -> Option<ModuleName> {
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
    fn module_list(&self, node: Node) -> Vec<ModuleName> {
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

    fn push_alias(&mut self, short: &str, full: ModuleName) {
        self.aliases.push((short.to_string(), full));
    }

    fn alias_last_segment(&mut self, full: &ModuleName) {
        let last = full.rsplit('.').next().unwrap_or(full);
        self.push_alias(last, full.clone());
    }

    // ---- walking ---------------------------------------------------------

    fn visit(&mut self, node: Node) {
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

    fn visit_children(&mut self, node: Node) {
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
    fn scoped(&mut self, f: impl FnOnce(&mut Self)) {
        let aliases = self.aliases.len();
        let imports = self.imports.len();
        let uses = self.uses.len();
        f(self);
        self.aliases.truncate(aliases);
        self.imports.truncate(imports);
        self.uses.truncate(uses);
    }

    fn with_mode(&mut self, mode: Mode, f: impl FnOnce(&mut Self)) {
        let saved = self.mode;
        self.mode = mode;
        f(self);
        self.mode = saved;
    }

    /// Runs `f` with [`Walker::pattern`] set to `pattern`.
    fn with_pattern(&mut self, pattern: bool, f: impl FnOnce(&mut Self)) {
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
    fn typespec_structs(&mut self, node: Node) {
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
    fn struct_name(&self, node: Node) -> Option<ModuleName> {
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

    fn read_attribute(&mut self, name: &str, line: u32) {
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

    fn set_attribute(&mut self, name: &str, args: &[Node]) {
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

    fn visit_call(&mut self, node: Node) {
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

    fn visit_args_and_block(&mut self, node: Node) {
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

    fn visit_defmodule(&mut self, node: Node, form: &str, args: &[Node]) {
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

    fn visit_defimpl(&mut self, node: Node, args: &[Node]) {
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

    fn visit_alias(&mut self, args: &[Node]) {
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
    fn visit_require(&mut self, form: &str, args: &[Node], line: u32) {
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

    fn visit_quote(&mut self, node: Node) {
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

    fn visit_def(&mut self, node: Node, args: &[Node], public: bool, macro_: bool) {
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

    fn visit_defdelegate(&mut self, args: &[Node], line: u32) {
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

fn line(node: Node) -> u32 {
    node.start_position().row as u32 + 1
}

fn operator<'a>(node: Node, src: &'a [u8]) -> &'a str {
    node.child_by_field_id(field(Field::Operator))
        .and_then(|o| std::str::from_utf8(&src[o.byte_range()]).ok())
        .unwrap_or("")
}

/// The name of the local call `node` is (`case` for `case x do ... end`).
fn call_name<'a>(node: Node, src: &'a [u8]) -> Option<&'a str> {
    if node.kind() != "call" {
        return None;
    }
    let target = node.child_by_field_id(field(Field::Target))?;
    if target.kind() != "identifier" {
        return None;
    }
    std::str::from_utf8(&src[target.byte_range()]).ok()
}

/// Whether the left side of a `->` clause is a pattern (see
/// `Walker::visit_stab_clause`).
fn stab_left_is_pattern(stab: Node, src: &[u8]) -> bool {
    let Some(parent) = stab.parent() else {
        return false;
    };
    match parent.kind() {
        "anonymous_function" | "catch_block" | "else_block" => true,
        "do_block" => parent
            .parent()
            .and_then(|call| call_name(call, src))
            .is_some_and(|name| matches!(name, "case" | "receive")),
        _ => false,
    }
}

/// Whether a `<-` is a generator or clause of `for`/`with` (whose left side
/// is a pattern), rather than an operator some macro gives a meaning.
fn is_generator(arrow: Node, src: &[u8]) -> bool {
    arrow
        .parent()
        .filter(|p| p.kind() == "arguments")
        .and_then(|args| args.parent())
        .and_then(|call| call_name(call, src))
        .is_some_and(|name| matches!(name, "for" | "with"))
}

/// Named children of a call's `arguments` node.
fn arguments(call: Node) -> Vec<Node> {
    let mut cursor = call.walk();
    let args = call.named_children(&mut cursor).find(|c| c.kind() == "arguments");
    match args {
        Some(a) => {
            let mut c2 = a.walk();
            a.named_children(&mut c2).filter(|c| c.kind() != "comment").collect()
        }
        None => Vec::new(),
    }
}

fn do_block(call: Node) -> Option<Node> {
    let mut cursor = call.walk();
    let found = call.named_children(&mut cursor).find(|c| c.kind() == "do_block");
    found
}

/// `key: value` pairs of a `keywords` node, or of a list of them.
fn keyword_pairs<'t>(node: Node<'t>, src: &[u8]) -> Vec<(String, Node<'t>)> {
    let mut out = Vec::new();
    match node.kind() {
        "keywords" => {
            let mut cursor = node.walk();
            for pair in node.named_children(&mut cursor) {
                if pair.kind() != "pair" {
                    continue;
                }
                let key = pair
                    .child_by_field_id(field(Field::Key))
                    .and_then(|k| std::str::from_utf8(&src[k.byte_range()]).ok())
                    .map(|k| k.trim().trim_end_matches(':').trim_matches('"').to_string());
                if let (Some(key), Some(value)) = (key, pair.child_by_field_id(field(Field::Value))) {
                    out.push((key, value));
                }
            }
        }
        "list" => {
            let mut cursor = node.walk();
            let children: Vec<Node> = node.named_children(&mut cursor).collect();
            for child in children {
                out.extend(keyword_pairs(child, src));
            }
        }
        _ => {}
    }
    out
}

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
pub(crate) fn resolve_injected_import(calls: &BTreeSet<(String, Mode)>, defs: &Defs) -> KindSet {
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::version::ElixirVersion;

    const V1_14: ElixirVersion = ElixirVersion::new(1, 14);

    /// The facts of `src` by 1.14's rules (the rules that differ by release
    /// are tested on each side of their release in `by_release`).
    fn facts(src: &str) -> FileFacts {
        facts_on(src, V1_14)
    }

    fn facts_on(src: &str, elixir: ElixirVersion) -> FileFacts {
        let mut parser = new_parser().unwrap();
        extract(&mut parser, src, elixir.rules())
    }

    fn kinds(f: &FileFacts, module: &str) -> KindSet {
        kinds_on(f, module, V1_14)
    }

    fn kinds_on(f: &FileFacts, module: &str, elixir: ElixirVersion) -> KindSet {
        resolve(
            f.refs
                .get(module)
                .unwrap_or_else(|| panic!("no ref to {module}: {:?}", f.refs.keys())),
            None,
            elixir.rules(),
            false,
        )
    }

    fn names(f: &FileFacts) -> Vec<&str> {
        f.modules.iter().map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn nested_modules_get_full_names_and_spans() {
        let f = facts(
            "defmodule Outer do\n  defmodule Inner do\n    def x, do: 1\n  end\n  defmodule __MODULE__.Sub do\n  end\n  defmodule Deep.Er do\n  end\nend\n",
        );
        assert_eq!(names(&f), ["Outer", "Outer.Inner", "Outer.Sub", "Outer.Deep.Er"]);
        assert_eq!((f.modules[0].start_line, f.modules[0].end_line), (1, 9));
        assert_eq!((f.modules[1].start_line, f.modules[1].end_line), (2, 4));
        assert_eq!(f.modules[1].parent.as_deref(), Some("Outer"));
        assert_eq!(f.modules[0].parent, None);
    }

    #[test]
    fn top_level_defmodule_name_is_alias_expanded() {
        let f = facts("alias App.Things\ndefmodule Things.One do\nend\n");
        assert_eq!(names(&f), ["App.Things.One"]);
    }

    #[test]
    fn nested_defmodule_aliases_its_short_name() {
        let f = facts("defmodule Outer do\n  defmodule Inner do\n  end\n  def f, do: Inner.g()\nend\n");
        assert!(f.refs.contains_key("Outer.Inner"), "{:?}", f.refs.keys());
        assert!(!f.refs.contains_key("Inner"));
    }

    #[test]
    fn alias_forms_resolve() {
        let f = facts(
            r#"defmodule App.Web do
  alias App.Accounts
  alias App.Billing.Invoice, as: Inv
  alias App.{Repo, Mailer}
  alias __MODULE__.Helpers
  alias __MODULE__.{Router, Endpoint}
  def f do
    Accounts.get()
    Inv.new()
    Repo.all()
    Mailer.send()
    Helpers.h()
    Router.r()
    Endpoint.e()
    Accounts.Sub.x()
    Elixir.Accounts.y()
  end
end
"#,
        );
        for m in [
            "App.Accounts",
            "App.Billing.Invoice",
            "App.Repo",
            "App.Mailer",
            "App.Web.Helpers",
            "App.Web.Router",
            "App.Web.Endpoint",
            "App.Accounts.Sub",
            "Accounts",
        ] {
            assert_eq!(
                kinds(&f, m),
                KindSet {
                    runtime: true,
                    ..KindSet::default()
                },
                "{m}"
            );
        }
        // `alias` alone adds no reference.
        assert!(!f.refs.contains_key("Inv"));
    }

    #[test]
    fn aliases_are_lexically_scoped() {
        let f = facts("defmodule A do\n  def f do\n    alias X.Y\n    Y.g()\n  end\n  def h, do: Y.g()\nend\n");
        assert!(f.refs.contains_key("X.Y"));
        assert!(f.refs.contains_key("Y"));
    }

    #[test]
    fn require_import_are_export_use_is_compile_and_export() {
        let f = facts("defmodule A do\n  require B\n  import C\n  use D, opt: E\n  use F.{G, H}\nend\n");
        let export = KindSet {
            export: true,
            ..KindSet::default()
        };
        // `use` is `require` (export) and a call of `__using__` (compile).
        let compile = KindSet {
            compile: true,
            export: true,
            ..KindSet::default()
        };
        assert_eq!(kinds(&f, "B"), export);
        assert_eq!(kinds(&f, "C"), export);
        assert_eq!(kinds(&f, "D"), compile);
        assert!(f.refs["D"].used);
        assert_eq!(kinds(&f, "F.G"), compile);
        assert_eq!(kinds(&f, "F.H"), compile);
        // use options are handed to __using__ unevaluated.
        assert!(!f.refs.contains_key("E"));
    }

    #[test]
    fn body_calls_are_compile_function_calls_runtime() {
        let f = facts(
            "defmodule A do\n  @x B.value()\n  for n <- C.names(), do: def unquote(n)(), do: D.call()\n  E.setup()\n  def f(y \\\\ F.default()), do: G.run(y)\nend\n",
        );
        let compile = KindSet {
            compile: true,
            ..KindSet::default()
        };
        let runtime = KindSet {
            runtime: true,
            ..KindSet::default()
        };
        assert_eq!(kinds(&f, "B"), compile);
        assert_eq!(kinds(&f, "C"), compile);
        assert_eq!(kinds(&f, "E"), compile);
        assert_eq!(kinds(&f, "D"), runtime);
        assert_eq!(kinds(&f, "F"), runtime);
        assert_eq!(kinds(&f, "G"), runtime);
    }

    #[test]
    fn structs_are_export_and_their_alias_traced_where_it_is() {
        let src = "defmodule A do\n  alias X.User\n  def f(%User{} = u), do: %X.Post{author: u}\n  def g(s), do: %{s | a: 1}\n  def h, do: %__MODULE__{}\n  def i(%X.Arg{}, %X.Arg2{} \\\\ nil), do: 1\n  defp j(%X.Private{}), do: 1\n  def k(x), do: match?(%X.Match{}, x)\nend\n";
        let export_runtime = KindSet {
            export: true,
            runtime: true,
            ..KindSet::default()
        };
        let export = KindSet {
            export: true,
            ..KindSet::default()
        };
        // 1.14: an alias in a pattern is a runtime reference too.
        let f = facts(src);
        for module in ["X.User", "X.Post", "X.Arg", "X.Arg2", "X.Private", "X.Match"] {
            assert_eq!(kinds(&f, module), export_runtime, "{module}");
        }
        // 1.15+: not in a pattern, but for a whole argument of a public
        // function (its doc signature expands the name).
        let v1_15 = ElixirVersion::new(1, 15);
        let f = facts_on(src, v1_15);
        for module in ["X.Post", "X.Arg", "X.Arg2"] {
            assert_eq!(kinds_on(&f, module, v1_15), export_runtime, "{module}");
        }
        for module in ["X.User", "X.Private", "X.Match"] {
            assert_eq!(kinds_on(&f, module, v1_15), export, "{module}");
        }
    }

    #[test]
    fn attributes_follow_kernel_at_rules() {
        let f = facts(
            r#"defmodule A do
  @behaviour B
  @before_compile C
  @literal_read_in_body D
  @literal_read_in_fun E
  @spec f(F.t()) :: G.t()
  @moduledoc "docs"
  @derived H.make()
  @keep @literal_read_in_body
  def f(_), do: @literal_read_in_fun
end
"#,
        );
        let compile = KindSet {
            compile: true,
            ..KindSet::default()
        };
        assert!(kinds(&f, "B").compile);
        assert_eq!(kinds(&f, "C"), compile);
        assert!(kinds(&f, "D").compile);
        assert_eq!(kinds(&f, "H"), compile);
        // Setting a literal traces a runtime reference; reading it in a
        // function inlines the atom without a further trace.
        assert_eq!(
            kinds(&f, "E"),
            KindSet {
                runtime: true,
                ..KindSet::default()
            }
        );
        assert!(!f.refs.contains_key("F"), "typespecs add no dependency");
        assert!(!f.refs.contains_key("G"));
    }

    #[test]
    fn macro_calls_are_decided_by_the_target_definitions() {
        let f = facts("defmodule A do\n  require M\n  def f, do: M.mac(M.fun())\nend\n");
        let defs = Defs {
            functions: ["fun".to_string()].into(),
            macros: ["mac".to_string()].into(),
            all: BTreeSet::new(),
            callbacks: false,
        };
        let k = resolve(&f.refs["M"], Some(&defs), V1_14.rules(), false);
        assert!(k.compile && k.export && k.runtime);
        let only_fun = resolve(&f.refs["M"], None, V1_14.rules(), false);
        assert!(!only_fun.compile && only_fun.runtime);
    }

    #[test]
    fn imported_calls_resolve_unless_defined_locally() {
        let f = facts(
            r#"defmodule A do
  import M
  import N, only: [n: 1]
  import O, except: [skip: 0]
  helper(1)
  def f(x) do
    x |> mac() |> fun()
    n(x)
    skip()
    local()
  end
  defp local, do: :ok
end
"#,
        );
        let defs = Defs {
            functions: ["fun".into(), "local".into(), "skip".into(), "n".into()].into(),
            macros: ["mac".into(), "helper".into()].into(),
            all: BTreeSet::new(),
            callbacks: false,
        };
        let m = &f.refs["M"];
        assert!(m.imported_calls.iter().any(|(n, _, _)| n == "mac"));
        assert!(!m.imported_calls.iter().any(|(n, _, _)| n == "local"));
        let k = resolve(m, Some(&defs), V1_14.rules(), false);
        assert!(k.compile && k.export && k.runtime);
        assert!(f.refs["N"].imported_calls.iter().any(|(n, _, _)| n == "n"));
        assert!(!f.refs["N"].imported_calls.iter().any(|(n, _, _)| n == "fun"));
        assert!(!f.refs["O"].imported_calls.iter().any(|(n, _, _)| n == "skip"));
        // A function imported and called in the module body is compile time.
        let body = resolve(
            &RawRef {
                imported_calls: [("fun".to_string(), Mode::Compile, ImportOnly::Any)].into(),
                ..RawRef::default()
            },
            Some(&defs),
            V1_14.rules(),
            false,
        );
        assert!(body.compile);
    }

    #[test]
    fn protocols_and_impls() {
        let f = facts(
            r#"defprotocol App.Proto do
  def size(x)
end
defimpl App.Proto, for: List do
  def size(l), do: length(l)
end
defmodule App.Thing do
  defstruct [:a]
  defimpl App.Proto do
    def size(_), do: App.Other.one()
  end
  defimpl String.Chars, for: [App.A, App.B] do
    def to_string(_), do: ""
  end
end
"#,
        );
        assert_eq!(
            names(&f),
            [
                "App.Proto",
                "App.Proto.List",
                "App.Thing",
                "App.Proto.App.Thing",
                "String.Chars.App.A",
                "String.Chars.App.B",
            ]
        );
        assert_eq!(f.modules[0].kind, ModuleKind::Protocol);
        assert_eq!(f.modules[1].kind, ModuleKind::Impl);
        assert!(kinds(&f, "App.Proto").compile);
        assert_eq!(
            kinds(&f, "List"),
            KindSet {
                runtime: true,
                ..KindSet::default()
            },
            "for: is expanded as a literal: a runtime trace"
        );
        assert!(kinds(&f, "App.Other").runtime);
    }

    #[test]
    fn using_quotes_are_recorded_as_injected_refs() {
        let f = facts(
            r#"defmodule App.Base do
  alias App.Helpers
  defmacro __using__(_opts) do
    quote do
      @behaviour App.Worker
      import Helpers
      def run, do: App.Util.go()
      unquote(App.Gen.code())
    end
  end
end
"#,
        );
        let injected = &f.using_refs["App.Base"];
        assert!(injected["App.Worker"].behaviour);
        assert!(resolve(&injected["App.Worker"], None, V1_14.rules(), false).compile);
        assert!(injected["App.Helpers"].kinds.export);
        assert!(injected["App.Helpers"].imported);
        assert!(injected["App.Util"].runtime_calls.contains("go"));
        // unquote runs inside the macro body, at the macro's runtime.
        assert!(!f.refs.contains_key("App.Worker"));
        assert!(f.refs["App.Gen"].runtime_calls.contains("code"));
        assert!(f.defs["App.Base"].macros.contains("__using__"));
    }

    #[test]
    fn defdelegate_is_runtime_on_the_target() {
        let f = facts("defmodule A do\n  defdelegate f(x), to: B.C, as: :g\nend\n");
        assert!(f.refs["B.C"].runtime_calls.contains("g"));
        assert!(f.refs["B.C"].kinds.is_empty());
        assert!(f.defs["A"].functions.contains("f"));
    }

    /// The rules that changed between releases, on inputs of each kind,
    /// on both sides of the release that changed them (the file-level
    /// edges, checked against Mix, are in `tests/mix_oracle_rules.rs`).
    mod by_release {
        use super::*;

        const V1_15: ElixirVersion = ElixirVersion::new(1, 15);
        const V1_16: ElixirVersion = ElixirVersion::new(1, 16);
        const V1_17: ElixirVersion = ElixirVersion::new(1, 17);
        const V1_18: ElixirVersion = ElixirVersion::new(1, 18);
        const V1_19: ElixirVersion = ElixirVersion::new(1, 19);

        fn set(kinds: &[RefKind]) -> KindSet {
            let mut set = KindSet::default();
            for kind in kinds {
                set.add(*kind);
            }
            set
        }

        fn behaviour_defs(callbacks: bool) -> Defs {
            Defs {
                callbacks,
                ..Defs::default()
            }
        }

        #[test]
        fn behaviour_is_compile_time_on_1_14_when_the_target_has_callbacks() {
            let f = facts("defmodule A do\n  alias X.Beh\n  @behaviour Beh\n  @behaviour :gen_server\nend\n");
            let raw = &f.refs["X.Beh"];
            assert!(raw.behaviour && raw.kinds == set(&[RefKind::Runtime]));
            let on = |elixir: ElixirVersion, defs: Option<&Defs>| resolve(raw, defs, elixir.rules(), false);
            let beh = behaviour_defs(true);
            let not_beh = behaviour_defs(false);
            assert_eq!(on(V1_14, Some(&beh)), set(&[RefKind::Compile, RefKind::Runtime]));
            assert_eq!(on(V1_14, Some(&not_beh)), set(&[RefKind::Runtime]));
            assert_eq!(on(V1_14, None), set(&[RefKind::Compile, RefKind::Runtime]));
            for elixir in [V1_15, V1_19] {
                assert_eq!(on(elixir, Some(&beh)), set(&[RefKind::Runtime]), "{elixir}");
                assert_eq!(on(elixir, None), set(&[RefKind::Runtime]), "{elixir}");
            }
            // An atom is no alias: no reference at all.
            assert!(!f.refs.contains_key("gen_server"), "{:?}", f.refs.keys());
        }

        #[test]
        fn callbacks_make_a_behaviour_and_protocols_are_behaviours() {
            let f = facts(
                "defmodule B do\n  @callback run() :: :ok\nend\ndefmodule M do\n  @macrocallback m() :: Macro.t()\nend\ndefmodule N do\n  @type t :: term\nend\ndefprotocol P do\n  def f(x)\nend\n",
            );
            assert!(f.defs["B"].callbacks && f.defs["M"].callbacks && f.defs["P"].callbacks);
            assert!(!f.defs["N"].callbacks);
            // A quote's callbacks belong to the module it lands in.
            let q = facts("defmodule U do\n  defmacro __using__(_) do\n    quote do\n      @callback c() :: :ok\n    end\n  end\nend\n");
            assert!(!q.defs["U"].callbacks);
        }

        #[test]
        fn aliases_in_patterns_and_guards_are_no_reference_since_1_15() {
            let src = r#"defmodule A do
  def f(P1, x \\ D1) when x == G1, do: B1
  def g(x) do
    case x do
      {P2, y} when y in [G2] -> B2
    end
  end
  def h(l), do: Enum.map(l, fn P3 -> B3 end)
  def i(x) do
    P4 = x
    with P5 <- x, do: B5
  end
  def j(l), do: for({P6, v} <- l, do: {v, B6})
  def k(x) do
    cond do
      x == C1 -> 1
    end
  end
  def r do
    receive do
      P7 -> B7
    after
      C2.t() -> 2
    end
  end
  def t(f) do
    f.()
  rescue
    e in [C3] -> e
  catch
    P8, _ -> B8
  end
  case :x do
    M1 -> :ok
  end
end
"#;
            let patterns = ["P1", "G1", "P2", "G2", "P3", "P4", "P5", "P6", "P7", "P8"];
            let expressions = ["D1", "B1", "B2", "B3", "B5", "B6", "C1", "B7", "C3", "B8"];
            let f14 = facts_on(src, V1_14);
            let f15 = facts_on(src, V1_15);
            for p in patterns {
                assert_eq!(kinds_on(&f14, p, V1_14), set(&[RefKind::Runtime]), "{p} on 1.14");
                assert!(!f15.refs.contains_key(p), "{p} on 1.15");
            }
            for e in expressions {
                for (f, elixir) in [(&f14, V1_14), (&f15, V1_15)] {
                    assert_eq!(kinds_on(f, e, elixir), set(&[RefKind::Runtime]), "{e} on {elixir}");
                }
            }
            // A remote call's module is no alias reference: it stays.
            assert!(f15.refs["C2"].runtime_calls.contains("t"));
            // In the module body a pattern is code that runs: compile-time.
            assert_eq!(kinds_on(&f15, "M1", V1_15), set(&[RefKind::Compile]));
        }

        #[test]
        fn attribute_values_literal_as_a_whole_on_1_14_in_parts_since_1_15() {
            let src = r##"defmodule A do
  @list [L1, [nested: {L2}], L3.f()]
  @map %{L4 => 1, k: L5, n: length([])}
  @struct %S1{a: L6, b: length([1])}
  @text "#{L7}"
  @read [L8, length([])]
  @copy @read
  def all, do: [@list, @map, @struct, @text, @copy]
end
"##;
            let f14 = facts_on(src, V1_14);
            let f15 = facts_on(src, V1_15);
            // 1.14: none of the values is literal as a whole.
            for m in ["L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8"] {
                assert!(kinds_on(&f14, m, V1_14).compile, "{m} on 1.14");
            }
            assert_eq!(kinds_on(&f14, "S1", V1_14), set(&[RefKind::Compile, RefKind::Export]));
            // 1.15: literal parts are runtime, the rest runs in the body.
            for m in ["L1", "L2", "L4", "L5", "L6"] {
                assert_eq!(kinds_on(&f15, m, V1_15), set(&[RefKind::Runtime]), "{m} on 1.15");
            }
            assert_eq!(kinds_on(&f15, "S1", V1_15), set(&[RefKind::Export, RefKind::Runtime]));
            for m in ["L3", "L7"] {
                assert!(kinds_on(&f15, m, V1_15).compile, "{m} on 1.15");
            }
            // Read in the body: compile-time on both.
            assert!(kinds_on(&f15, "L8", V1_15).compile);
            assert!(kinds_on(&f14, "L8", V1_14).compile);
        }

        #[test]
        fn defimpl_is_export_on_its_protocol_since_1_19() {
            let src = "defmodule H do\n  alias X.Proto\n  defimpl Proto, for: [List, Y.T] do\n    def f(_), do: 1\n  end\nend\n";
            for elixir in [V1_14, V1_18] {
                let f = facts_on(src, elixir);
                assert_eq!(kinds_on(&f, "X.Proto", elixir), set(&[RefKind::Compile]), "{elixir}");
                assert_eq!(kinds_on(&f, "Y.T", elixir), set(&[RefKind::Runtime]), "{elixir}");
            }
            let f = facts_on(src, V1_19);
            assert_eq!(
                kinds_on(&f, "X.Proto", V1_19),
                set(&[RefKind::Export, RefKind::Runtime])
            );
            assert_eq!(kinds_on(&f, "Y.T", V1_19), set(&[RefKind::Runtime]));
            assert_eq!(names(&f), ["H", "X.Proto.List", "X.Proto.Y.T"]);
        }

        #[test]
        fn protocols_reference_their_any_and_built_in_impls_by_release() {
            let src = "defmodule O do\n  defprotocol P do\n    def f(x)\n  end\nend\n";
            let any = |elixir: ElixirVersion| facts_on(src, elixir).refs.get("O.P.Any").map(|r| r.kinds);
            let integer = |elixir: ElixirVersion| facts_on(src, elixir).refs.get("O.P.Integer").map(|r| r.kinds);
            assert_eq!(any(V1_14), Some(set(&[RefKind::Compile])));
            assert_eq!(any(V1_18), Some(set(&[RefKind::Compile])));
            assert_eq!(any(V1_19), None);
            assert_eq!(integer(V1_15), Some(set(&[RefKind::Runtime])));
            assert_eq!(integer(V1_16), None);
            let f = facts_on(src, V1_14);
            for builtin in BUILT_IN_TYPES {
                assert!(f.refs.contains_key(&format!("O.P.{builtin}")), "{builtin}");
            }
        }

        #[test]
        fn derive_reaches_the_any_impl_since_1_16_and_a_deriving_macro_since_1_18() {
            let f = facts("defmodule S do\n  @derive [P1, {P2, only: [:a]}]\n  @derive P3\n  defstruct [:a]\nend\n");
            for p in ["P1", "P2", "P3"] {
                assert!(f.refs[p].derive && f.refs[p].kinds.runtime, "{p}");
                assert!(f.refs[&format!("{p}.Any")].derive_any, "{p}.Any");
            }
            let any = &f.refs["P1.Any"];
            let plain = Defs::default();
            let deriving = Defs {
                macros: ["__deriving__".to_string()].into(),
                ..Defs::default()
            };
            let on = |elixir: ElixirVersion, defs: &Defs, protocol_derives| {
                resolve(any, Some(defs), elixir.rules(), protocol_derives)
            };
            assert!(on(V1_15, &plain, false).is_empty());
            assert_eq!(on(V1_16, &plain, false), set(&[RefKind::Compile]));
            // A `__deriving__` macro of `P.Any` is traced on every release.
            assert_eq!(on(V1_14, &deriving, false), set(&[RefKind::Compile]));
            // The protocol's own macro replaces `P.Any`'s since 1.18.
            assert_eq!(on(V1_17, &plain, true), set(&[RefKind::Compile]));
            assert!(on(V1_18, &plain, true).is_empty());
            let protocol = &f.refs["P1"];
            let on_protocol = |elixir: ElixirVersion| resolve(protocol, Some(&deriving), elixir.rules(), false);
            assert_eq!(on_protocol(V1_17), set(&[RefKind::Runtime]));
            assert_eq!(on_protocol(V1_18), set(&[RefKind::Compile, RefKind::Runtime]));
        }

        #[test]
        fn kernel_qualified_definitions_are_definitions() {
            let f = facts("defprotocol P do\n  def f(x)\n  Kernel.defmacro __deriving__(m, o), do: {m, o}\n  Kernel.def helper, do: X.y()\nend\n");
            assert!(f.defs["P"].macros.contains("__deriving__"));
            assert!(f.defs["P"].functions.contains("helper"));
            assert!(f.refs["X"].runtime_calls.contains("y"));
            assert!(!f.refs.contains_key("Kernel"), "{:?}", f.refs.keys());
        }
    }

    #[test]
    fn syntax_errors_are_reported() {
        let f = facts("defmodule A do\n  def f( do\nend\n");
        assert!(!f.errors.is_empty());
        let ok = facts("defmodule A do\n  def f, do: 1\nend\n");
        assert!(ok.errors.is_empty());
    }
}
