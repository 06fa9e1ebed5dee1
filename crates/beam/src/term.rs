//! Building Erlang terms, and reading the channel's envelopes
//! (`{reply, Id, Result}`, `{hello, Token, Info}`).
//!
//! The agent speaks in atoms, binaries, integers, lists, tuples and maps with
//! atom keys; these helpers keep that vocabulary readable on the Rust side.
//! Only [`crate::protocol`] and the channel use them: replies are decoded by
//! the protocol's types, strictly.

use eetf::{Atom, Binary, FixInteger, List, Map, Term, Tuple};
use std::borrow::Cow;
use std::collections::HashMap;

pub fn atom(name: &str) -> Term {
    Term::Atom(Atom::from(name))
}

pub fn binary(text: &str) -> Term {
    Term::Binary(Binary::from(text.as_bytes()))
}

pub fn int(value: i64) -> Term {
    match i32::try_from(value) {
        Ok(small) => Term::FixInteger(FixInteger::from(small)),
        Err(_) => Term::BigInteger(eetf::BigInteger::from(value)),
    }
}

pub fn boolean(value: bool) -> Term {
    atom(if value { "true" } else { "false" })
}

pub fn tuple(elements: Vec<Term>) -> Term {
    Term::Tuple(Tuple::from(elements))
}

pub fn list(elements: Vec<Term>) -> Term {
    Term::List(List::from(elements))
}

/// A list of binaries, the agent's representation of a list of strings.
pub fn binaries<S: AsRef<str>>(items: &[S]) -> Term {
    list(items.iter().map(|s| binary(s.as_ref())).collect())
}

/// A map with atom keys.
pub fn map(entries: Vec<(&str, Term)>) -> Term {
    let map: HashMap<Term, Term> = entries.into_iter().map(|(k, v)| (atom(k), v)).collect();
    Term::Map(Map::from(map))
}

/// Read access to terms sent by the agent.
pub trait TermExt {
    fn as_atom(&self) -> Option<&str>;
    /// A binary or charlist as text.
    fn as_text(&self) -> Option<String>;
    fn as_i64(&self) -> Option<i64>;
    /// Elements of a tuple or list. A list of small integers arrives from
    /// Erlang as a byte string (`STRING_EXT`) and is expanded here.
    fn as_elements(&self) -> Option<Cow<'_, [Term]>>;
}

impl TermExt for Term {
    fn as_atom(&self) -> Option<&str> {
        match self {
            Term::Atom(a) => Some(&a.name),
            _ => None,
        }
    }

    fn as_text(&self) -> Option<String> {
        match self {
            Term::Binary(b) => Some(String::from_utf8_lossy(&b.bytes).into_owned()),
            Term::ByteList(b) => Some(String::from_utf8_lossy(&b.bytes).into_owned()),
            Term::List(l) if l.is_nil() => Some(String::new()),
            Term::Atom(a) => Some(a.name.clone()),
            _ => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self {
            Term::FixInteger(i) => Some(i64::from(i.value)),
            Term::BigInteger(i) => i64::try_from(&i.value).ok(),
            _ => None,
        }
    }

    fn as_elements(&self) -> Option<Cow<'_, [Term]>> {
        match self {
            Term::Tuple(t) => Some(Cow::Borrowed(&t.elements)),
            Term::List(l) => Some(Cow::Borrowed(&l.elements)),
            Term::ByteList(b) => Some(Cow::Owned(
                b.bytes
                    .iter()
                    .map(|&byte| Term::FixInteger(FixInteger::from(byte)))
                    .collect(),
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_round_trips_through_etf() {
        let term = map(vec![
            ("name", binary("plain")),
            ("count", int(5_000_000_000)),
            ("ok", boolean(true)),
        ]);
        let mut bytes = Vec::new();
        term.encode(&mut bytes).unwrap();
        let back = Term::decode(&bytes[..]).unwrap();
        let Term::Map(back) = back else {
            panic!("not a map: {back}")
        };
        assert_eq!(
            back.map.get(&atom("name")).and_then(TermExt::as_text).as_deref(),
            Some("plain")
        );
        assert_eq!(
            back.map.get(&atom("count")).and_then(TermExt::as_i64),
            Some(5_000_000_000)
        );
        assert_eq!(back.map.get(&atom("ok")), Some(&atom("true")));
        assert_eq!(back.map.len(), 3);
    }

    #[test]
    fn small_integer_lists_decode_as_elements() {
        // What Erlang's term_to_binary([5, 9, 10]) produces: STRING_EXT.
        let bytes = [131u8, 107, 0, 3, 5, 9, 10];
        let term = Term::decode(&bytes[..]).unwrap();
        let lines: Vec<i64> = term.as_elements().unwrap().iter().filter_map(TermExt::as_i64).collect();
        assert_eq!(lines, vec![5, 9, 10]);
    }
}
