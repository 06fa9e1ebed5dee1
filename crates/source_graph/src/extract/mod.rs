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
//!
//! The walk is split by concern: `walker` holds the state and the
//! traversal, `attributes` the `@` forms, `calls` remote and local calls,
//! `definitions` `defmodule`/`defimpl`/`alias`/`require`/`quote`/`def`/
//! `defdelegate`, `nodes` helpers reading tree-sitter nodes, and
//! `resolve` the kinds of a reference once its target is known.

mod attributes;
mod calls;
mod definitions;
mod nodes;
mod resolve;
#[cfg(test)]
mod tests;
mod walker;

use std::sync::OnceLock;

use tree_sitter::{Node, Parser};

use crate::model::FileFacts;
use crate::version::Rules;

pub(crate) use resolve::{resolve, resolve_injected_import};
use walker::Walker;

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
