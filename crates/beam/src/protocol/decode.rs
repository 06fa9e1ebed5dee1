//! Strict decoding of the terms the agent sends.
//!
//! Every reply and event has one shape: a map's keys are all known, each
//! holds the type its field names, and nothing is defaulted. A term that
//! differs fails with a [`DecodeError`] saying where (`[2].line`), what was
//! expected and what came, so a change on one side of the channel shows up
//! as an error naming the key, not as an empty value.
//!
//! [`record!`](crate::record) declares a struct decoded from a map with
//! atom keys, one field a key; [`Decode`] is implemented here for the
//! values maps hold (integers, booleans, binaries, atoms, pids, lists).

use eetf::{Atom as EtfAtom, Term};
use std::collections::HashMap;
use std::fmt;

/// What went wrong decoding a term, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The way in from the outermost term: map keys (`line`) and list
    /// positions (`[2]`), outermost first.
    pub path: Vec<String>,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A map lacks a key its shape requires; `expected` says what it holds.
    Missing { key: String, expected: String },
    /// A map holds keys its shape does not know.
    Unknown { keys: Vec<String> },
    /// A value of the wrong type or form.
    Wrong { expected: String, found: String },
}

impl DecodeError {
    pub fn wrong(expected: impl Into<String>, found: &Term) -> Self {
        DecodeError {
            path: Vec::new(),
            problem: Problem::Wrong {
                expected: expected.into(),
                found: shown(found),
            },
        }
    }

    /// The same error, one level further in (`step` is a key or `[i]`).
    pub fn at(mut self, step: impl Into<String>) -> Self {
        self.path.insert(0, step.into());
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut at = String::new();
        for step in &self.path {
            if !step.starts_with('[') && !at.is_empty() {
                at.push('.');
            }
            at.push_str(step);
        }
        if !at.is_empty() {
            write!(f, "at `{at}`: ")?;
        }
        match &self.problem {
            Problem::Missing { key, expected } => write!(f, "the key `{key}` ({expected}) is missing"),
            Problem::Unknown { keys } => {
                let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
                write!(f, "unknown key {}", keys.join(", "))
            }
            Problem::Wrong { expected, found } => write!(f, "expected {expected}, found {found}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A term as shown in an error: its Erlang text (a binary of text as
/// `<<"text">>`, an atom bare), cut after 80 characters.
fn shown(term: &Term) -> String {
    let text = match term {
        Term::Atom(a) => a.name.clone(),
        Term::Binary(b) => match std::str::from_utf8(&b.bytes) {
            Ok(text) => format!("<<{text:?}>>"),
            Err(_) => term.to_string(),
        },
        _ => term.to_string(),
    };
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// A Rust value read from one agent term.
pub trait Decode: Sized {
    /// What the term must be, for messages: "an integer", "a list of ...".
    fn expected() -> String;

    fn decode(term: &Term) -> Result<Self, DecodeError>;

    /// The value of a map key that is absent: `None` (an error) for every
    /// type but `Option`.
    fn absent() -> Option<Self> {
        None
    }
}

impl Decode for i64 {
    fn expected() -> String {
        "an integer".into()
    }

    fn decode(term: &Term) -> Result<Self, DecodeError> {
        match term {
            Term::FixInteger(i) => Ok(i64::from(i.value)),
            Term::BigInteger(i) => i64::try_from(&i.value).map_err(|_| DecodeError::wrong(Self::expected(), term)),
            _ => Err(DecodeError::wrong(Self::expected(), term)),
        }
    }
}

impl Decode for bool {
    fn expected() -> String {
        "a boolean".into()
    }

    fn decode(term: &Term) -> Result<Self, DecodeError> {
        match term {
            Term::Atom(a) if a.name == "true" => Ok(true),
            Term::Atom(a) if a.name == "false" => Ok(false),
            _ => Err(DecodeError::wrong(Self::expected(), term)),
        }
    }
}

/// Text: an Erlang binary (UTF-8; invalid sequences are replaced).
impl Decode for String {
    fn expected() -> String {
        "a binary".into()
    }

    fn decode(term: &Term) -> Result<Self, DecodeError> {
        match term {
            Term::Binary(b) => Ok(String::from_utf8_lossy(&b.bytes).into_owned()),
            _ => Err(DecodeError::wrong(Self::expected(), term)),
        }
    }
}

/// An Erlang atom: a module (`Elixir.Shop.Cart`), a status, `nil`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Atom(pub String);

impl Atom {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The atom as a module name, as Elixir shows it: `Shop.Cart` for
    /// `Elixir.Shop.Cart`, `:lists` for an Erlang module (`:"my mod"` when
    /// the name is not a plain atom).
    pub fn module_name(&self) -> String {
        if let Some(alias) = self.0.strip_prefix("Elixir.") {
            return alias.to_owned();
        }
        let mut chars = self.0.chars();
        let plain = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@');
        if plain {
            format!(":{}", self.0)
        } else {
            format!(":{:?}", self.0)
        }
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Atom {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Atom {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<Atom> for String {
    fn from(atom: Atom) -> String {
        atom.0
    }
}

impl Decode for Atom {
    fn expected() -> String {
        "an atom".into()
    }

    fn decode(term: &Term) -> Result<Self, DecodeError> {
        match term {
            Term::Atom(a) => Ok(Atom(a.name.clone())),
            _ => Err(DecodeError::wrong(Self::expected(), term)),
        }
    }
}

/// A process of the debugged VM, as the agent names it; sent back as is.
pub use eetf::Pid;

impl Decode for Pid {
    fn expected() -> String {
        "a pid".into()
    }

    fn decode(term: &Term) -> Result<Self, DecodeError> {
        match term {
            Term::Pid(pid) => Ok(pid.clone()),
            _ => Err(DecodeError::wrong(Self::expected(), term)),
        }
    }
}

/// Declares a unit struct read from one atom (`Done` from `ok`).
macro_rules! unit_atom {
    ($(#[$meta:meta])* $name:ident = $atom:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;

        impl $crate::protocol::decode::Decode for $name {
            fn expected() -> String {
                concat!("the atom `", $atom, "`").to_owned()
            }

            fn decode(term: &eetf::Term) -> Result<Self, $crate::protocol::decode::DecodeError> {
                match term {
                    eetf::Term::Atom(a) if a.name == $atom => Ok($name),
                    _ => Err($crate::protocol::decode::DecodeError::wrong(Self::expected(), term)),
                }
            }
        }
    };
}
pub(crate) use unit_atom;

unit_atom! {
    /// The atom `ok`: the answer of a request that returns nothing.
    Done = "ok"
}

/// A reply of two shapes told apart by one key of a map: `with` decodes
/// the map holding `key`, `without` the others.
pub fn by_key<T>(
    term: &Term,
    shape: &str,
    key: &str,
    with: impl FnOnce(&Term) -> Result<T, DecodeError>,
    without: impl FnOnce(&Term) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    if Fields::new(term, shape)?.has(key) {
        with(term)
    } else {
        without(term)
    }
}

/// A reply that is the atom `ok` (`ok`) or a map (`map` decodes it).
pub fn ok_or_map<T>(
    term: &Term,
    shape: &str,
    ok: T,
    map: impl FnOnce(&Term) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    match term {
        Term::Atom(a) if a.name == "ok" => Ok(ok),
        Term::Map(_) => map(term),
        _ => Err(DecodeError::wrong(shape.to_owned(), term)),
    }
}

/// A proper list. Erlang sends a list of small integers as a byte string
/// (`STRING_EXT`), read here as its integers.
impl<T: Decode> Decode for Vec<T> {
    fn expected() -> String {
        format!("a list of {}", plural(&T::expected()))
    }

    fn decode(term: &Term) -> Result<Self, DecodeError> {
        let element = |i: usize, t: &Term| T::decode(t).map_err(|e| e.at(format!("[{i}]")));
        match term {
            Term::List(list) => list.elements.iter().enumerate().map(|(i, t)| element(i, t)).collect(),
            Term::ByteList(bytes) => bytes
                .bytes
                .iter()
                .enumerate()
                .map(|(i, &b)| element(i, &Term::FixInteger(eetf::FixInteger::from(b))))
                .collect(),
            _ => Err(DecodeError::wrong(Self::expected(), term)),
        }
    }
}

/// A map key that may be absent (present, it must hold a `T`).
impl<T: Decode> Decode for Option<T> {
    fn expected() -> String {
        T::expected()
    }

    fn decode(term: &Term) -> Result<Self, DecodeError> {
        T::decode(term).map(Some)
    }

    fn absent() -> Option<Self> {
        Some(None)
    }
}

/// "an integer" → "integers", for list descriptions.
fn plural(one: &str) -> String {
    let bare = one
        .strip_prefix("an ")
        .or_else(|| one.strip_prefix("a "))
        .unwrap_or(one);
    match bare.split_once(' ') {
        Some((noun, rest)) => format!("{noun}s {rest}"),
        None => format!("{bare}s"),
    }
}

/// The keys of a map with atom keys, taken one by one; [`Fields::finish`]
/// fails on any key not taken.
pub struct Fields<'a> {
    map: &'a HashMap<Term, Term>,
    known: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    /// `shape` names the expected map in the error when `term` is not one.
    pub fn new(term: &'a Term, shape: &str) -> Result<Self, DecodeError> {
        match term {
            Term::Map(map) => Ok(Fields {
                map: &map.map,
                known: Vec::new(),
            }),
            _ => Err(DecodeError::wrong(shape.to_owned(), term)),
        }
    }

    /// Whether the map holds `key` (for maps of more than one shape).
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(&Term::Atom(EtfAtom::from(key)))
    }

    /// The value under `key`: required unless `T` is an `Option`.
    pub fn take<T: Decode>(&mut self, key: &'static str) -> Result<T, DecodeError> {
        self.known.push(key);
        match self.map.get(&Term::Atom(EtfAtom::from(key))) {
            Some(value) => T::decode(value).map_err(|e| e.at(key)),
            None => T::absent().ok_or_else(|| DecodeError {
                path: Vec::new(),
                problem: Problem::Missing {
                    key: key.to_owned(),
                    expected: T::expected(),
                },
            }),
        }
    }

    /// Fails if the map holds a key that was not taken.
    pub fn finish(self) -> Result<(), DecodeError> {
        let mut unknown: Vec<String> = self
            .map
            .keys()
            .filter(|key| !matches!(key, Term::Atom(a) if self.known.contains(&a.name.as_str())))
            .map(|key| match key {
                Term::Atom(a) => a.name.clone(),
                other => other.to_string(),
            })
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort();
        Err(DecodeError {
            path: Vec::new(),
            problem: Problem::Unknown { keys: unknown },
        })
    }
}

/// Declares a struct read from a map with atom keys: every field is a key
/// (`field = "key": Type` when the key is not a Rust name), required unless
/// its type is an `Option`, and no other key is allowed.
#[macro_export]
macro_rules! record {
    ($(#[$meta:meta])* pub struct $name:ident {
        $($(#[$fmeta:meta])* $field:ident $(= $key:literal)? : $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty),*
        }

        impl $crate::protocol::decode::Decode for $name {
            fn expected() -> String {
                concat!("a map (", stringify!($name), ")").to_owned()
            }

            fn decode(term: &eetf::Term) -> Result<Self, $crate::protocol::decode::DecodeError> {
                let mut fields = $crate::protocol::decode::Fields::new(term, &Self::expected())?;
                let value = $name {
                    $($field: fields.take($crate::record!(@key $field $($key)?))?),*
                };
                fields.finish()?;
                Ok(value)
            }
        }
    };
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $key:literal) => { $key };
}
