//! Helpers reading tree-sitter nodes: line numbers, operators, call
//! names, whether a clause or `<-` is a pattern, call arguments, `do`
//! blocks and keyword pairs.

use tree_sitter::Node;

use super::{field, Field};

pub(super) fn line(node: Node) -> u32 {
    node.start_position().row as u32 + 1
}

pub(super) fn operator<'a>(node: Node, src: &'a [u8]) -> &'a str {
    node.child_by_field_id(field(Field::Operator))
        .and_then(|o| std::str::from_utf8(&src[o.byte_range()]).ok())
        .unwrap_or("")
}

/// The name of the local call `node` is (`case` for `case x do ... end`).
pub(super) fn call_name<'a>(node: Node, src: &'a [u8]) -> Option<&'a str> {
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
pub(super) fn stab_left_is_pattern(stab: Node, src: &[u8]) -> bool {
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
pub(super) fn is_generator(arrow: Node, src: &[u8]) -> bool {
    arrow
        .parent()
        .filter(|p| p.kind() == "arguments")
        .and_then(|args| args.parent())
        .and_then(|call| call_name(call, src))
        .is_some_and(|name| matches!(name, "for" | "with"))
}

/// Named children of a call's `arguments` node.
pub(super) fn arguments(call: Node) -> Vec<Node> {
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

pub(super) fn do_block(call: Node) -> Option<Node> {
    let mut cursor = call.walk();
    let found = call.named_children(&mut cursor).find(|c| c.kind() == "do_block");
    found
}

/// `key: value` pairs of a `keywords` node, or of a list of them.
pub(super) fn keyword_pairs<'t>(node: Node<'t>, src: &[u8]) -> Vec<(String, Node<'t>)> {
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
