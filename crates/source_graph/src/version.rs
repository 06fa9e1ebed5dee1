//! Which Elixir the index classifies references for, and the rules that
//! change between releases.
//!
//! Mix records what Elixir's lexical tracker is told while it compiles a
//! file, and what it is told moved between 1.14 and 1.20. Each rule below
//! names the release that changed it and the source that shows it, read at
//! the release tags of elixir-lang/elixir (`git show v1.15.0:lib/...`), and
//! each was checked against `mix xref graph` on Elixir 1.14.0, 1.18.3 and
//! 1.20.4 (the versions this machine and its Debian chroots run; 1.15–1.17
//! and 1.19 only from their sources).

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// An Elixir release, `major.minor`: the classification rules change only
/// with minor releases (a patch or a release candidate of 1.20 follows
/// 1.20's rules).
///
/// `"1.18.3"`, `"1.20.0-rc.1"`, `"1.15"` and `"v1.16.2"` parse; so does
/// `elixir --version`'s output (see [`ElixirVersion::from_version_output`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ElixirVersion {
    pub major: u32,
    pub minor: u32,
}

impl ElixirVersion {
    /// The oldest release whose rules are modelled: older ones get its
    /// rules, unchecked.
    pub const OLDEST_MODELLED: ElixirVersion = ElixirVersion::new(1, 14);
    /// The newest release whose rules are modelled: newer ones get its
    /// rules until a difference is found and added here.
    pub const NEWEST_MODELLED: ElixirVersion = ElixirVersion::new(1, 20);

    pub const fn new(major: u32, minor: u32) -> ElixirVersion {
        ElixirVersion { major, minor }
    }

    /// Parses `MAJOR.MINOR[.PATCH][-PRE]`, with an optional leading `v`.
    pub fn parse(text: &str) -> Result<ElixirVersion, VersionError> {
        let bad = || VersionError(text.to_string());
        let trimmed = text.trim();
        let trimmed = trimmed.strip_prefix('v').unwrap_or(trimmed);
        // `1.20.0-rc.1`, `1.18.3+build`: the pre-release or build part
        // does not change the rules.
        let core = trimmed.split(['-', '+']).next().unwrap_or("");
        let mut parts = core.split('.');
        let number = |part: Option<&str>| -> Result<u32, VersionError> {
            let part = part.ok_or_else(bad)?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        if let Some(patch) = parts.next() {
            number(Some(patch))?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(ElixirVersion::new(major, minor))
    }

    /// The version in `elixir --version`'s output, whose last line is
    /// `Elixir 1.14.0 (compiled with Erlang/OTP 24)`.
    pub fn from_version_output(output: &str) -> Option<ElixirVersion> {
        output
            .lines()
            .find_map(|l| l.trim().strip_prefix("Elixir "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| ElixirVersion::parse(v).ok())
    }

    /// Whether the rules of this exact release are modelled (1.14–1.20),
    /// rather than those of the nearest modelled one.
    pub fn is_modelled(self) -> bool {
        (ElixirVersion::OLDEST_MODELLED..=ElixirVersion::NEWEST_MODELLED).contains(&self)
    }

    pub(crate) fn rules(self) -> Rules {
        let at_least = |minor: u32| self >= ElixirVersion::new(1, minor);
        Rules {
            behaviour_compile: !at_least(15),
            pattern_aliases: !at_least(15),
            attribute_literals: if at_least(15) {
                AttributeLiterals::LiteralParts
            } else {
                AttributeLiterals::WholeValue
            },
            protocol_builtin_impls: !at_least(16),
            protocol_any_impl: !at_least(19),
            derive_any_traced: at_least(16),
            derive_protocol_macro: at_least(18),
            defimpl_export: at_least(19),
        }
    }
}

impl fmt::Display for ElixirVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ElixirVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ElixirVersion::parse(s)
    }
}

/// Serialised as `"1.20"`.
impl Serialize for ElixirVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A string that is not an Elixir version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionError(pub String);

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an Elixir version (expected MAJOR.MINOR[.PATCH], e.g. 1.18.3)",
            self.0
        )
    }
}

impl std::error::Error for VersionError {}

/// How the value of a module attribute (`@attr value`, other than the ones
/// the compiler reads, docs and typespecs) is traced: `Kernel.@` hands it
/// to `collect_traces/3` (`lib/elixir/lib/kernel.ex`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttributeLiterals {
    /// 1.14: only a value that is `Macro.quoted_literal?/1` as a whole has
    /// its aliases expanded as atoms (a runtime reference, and a
    /// compile-time one where the attribute is read in the module body);
    /// any other value is code the module body runs, so every alias in it
    /// is a compile-time reference.
    WholeValue,
    /// 1.15+: `Macro.expand_literals/3` expands the aliases in the literal
    /// parts of any value (lists, tuples, maps, keyword values, a struct's
    /// name and fields) and leaves the rest (calls, variables, operators)
    /// to the module body. `@x [A, B.f()]` is runtime on `A`, compile on
    /// `B`; `@s %S{a: f()}` is an export dependency on `S`.
    LiteralParts,
}

/// The classification rules that differ between Elixir releases. Sources
/// are at the release tags of elixir-lang/elixir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rules {
    /// `@behaviour M` is a compile-time dependency when `M` is a behaviour
    /// (defines callbacks), a runtime one otherwise. 1.14:
    /// `Module.check_behaviours/2` (`lib/elixir/lib/module.ex`) traces
    /// `{:require, [from_macro: true], M}` for each behaviour it finds.
    /// Since 1.15 the check moved to `Module.ParallelChecker`, and
    /// `Module.force_behaviour_dependencies/2` (`module.ex`) traces a call
    /// of `M.behaviour_info/1` from `__info__/1`: a runtime dependency.
    pub behaviour_compile: bool,
    /// An alias in a pattern or a guard inside a function (`def f(A)`,
    /// `when x == A`, `case x do A -> ...`) is a runtime reference. Since
    /// 1.15 it is no reference at all: `elixir_lexical:trace/2`'s
    /// `alias_reference` clause (`lib/elixir/src/elixir_lexical.erl`)
    /// ignores it when the environment's `context` is `match`/`guard`.
    /// A struct in a pattern stays an export dependency.
    pub pattern_aliases: bool,
    /// See [`AttributeLiterals`].
    pub attribute_literals: AttributeLiterals,
    /// A protocol refers at runtime to its implementations for the
    /// built-in types (`P.Integer`, `P.List`, ...): until 1.15 each
    /// `impl_for/1` clause calls `P.Integer.__impl__(:target)`
    /// (`after_defprotocol/0` in `lib/elixir/lib/protocol.ex`); since 1.16
    /// it passes the atom to `Code.ensure_compiled/1`, which is no
    /// reference.
    pub protocol_builtin_impls: bool,
    /// A protocol depends at compile time on its `Any` implementation
    /// (`P.Any`), whether or not `@fallback_to_any` is set: until 1.18
    /// `after_defprotocol/0` (`protocol.ex`) evaluates the alias
    /// `__MODULE__.Any` in the protocol's body (in an `if` whose branches
    /// are both expanded). 1.19 builds the name with
    /// `Protocol.__concat__/2`: no reference.
    pub protocol_any_impl: bool,
    /// `@derive P` (without a `__deriving__` macro in `P`) is a
    /// compile-time dependency on `P.Any`: `Protocol.derive/5`
    /// (`protocol.ex`) invokes `P.Any.__deriving__` through
    /// `:elixir_module.expand_callback/6`, whose
    /// `elixir_dispatch:dispatch_require/7`
    /// (`lib/elixir/src/elixir_dispatch.erl`) traces the call since 1.16
    /// (before, only a `__deriving__` macro was traced).
    pub derive_any_traced: bool,
    /// `@derive P` where `P` defines a `__deriving__` macro calls that
    /// macro instead of `P.Any`'s (1.18+, `Protocol.derive/4`): a
    /// compile-time dependency on `P`.
    pub derive_protocol_macro: bool,
    /// `defimpl P, for: T` is an export dependency on `P` (plus a runtime
    /// one). Until 1.18 `Protocol.__impl__/4` (`protocol.ex`) evaluates
    /// `protocol = unquote(protocol)` with the alias in the enclosing body:
    /// a compile-time dependency. 1.19 expands the alias beforehand
    /// (`Macro.expand_literals/2` in a function environment: runtime) and
    /// writes `@behaviour require(P)`: an export dependency
    /// (elixir-lang/elixir e8df031, "Ensure defimpl add export definition
    /// on protocols", first in v1.19.0-rc.0).
    pub defimpl_export: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_releases_candidates_and_short_forms() {
        for (text, expected) in [
            ("1.18.3", (1, 18)),
            ("1.20.0-rc.1", (1, 20)),
            ("1.15", (1, 15)),
            ("v1.16.2", (1, 16)),
            (" 1.14.0\n", (1, 14)),
            ("1.19.0+build.5", (1, 19)),
            ("2.0.0", (2, 0)),
        ] {
            assert_eq!(
                ElixirVersion::parse(text),
                Ok(ElixirVersion::new(expected.0, expected.1)),
                "{text:?}"
            );
        }
        for bad in ["", "1", "one.two", "1.x", "1.18.3.4", "1..3", "-1.18", "1.18.x"] {
            assert!(ElixirVersion::parse(bad).is_err(), "{bad:?} parsed");
        }
        let err = ElixirVersion::parse("abc").unwrap_err().to_string();
        assert!(err.contains("\"abc\"") && err.contains("MAJOR.MINOR"), "{err}");
    }

    #[test]
    fn reads_elixir_version_output() {
        let v114 = "Erlang/OTP 25 [erts-13.1.5] [source] [64-bit]\n\nElixir 1.14.0 (compiled with Erlang/OTP 24)\n";
        assert_eq!(
            ElixirVersion::from_version_output(v114),
            Some(ElixirVersion::new(1, 14))
        );
        let rc = "Erlang/OTP 29 [erts-17.0]\n\nElixir 1.20.0-rc.1 (compiled with Erlang/OTP 29)\n";
        assert_eq!(ElixirVersion::from_version_output(rc), Some(ElixirVersion::new(1, 20)));
        assert_eq!(ElixirVersion::from_version_output("Erlang/OTP 25\n"), None);
        assert_eq!(ElixirVersion::from_version_output("Elixir nonsense\n"), None);
    }

    #[test]
    fn orders_and_displays_as_major_minor() {
        assert!(ElixirVersion::new(1, 9) < ElixirVersion::new(1, 14));
        assert!(ElixirVersion::new(1, 20) < ElixirVersion::new(2, 0));
        assert_eq!(ElixirVersion::new(1, 20).to_string(), "1.20");
        assert_eq!(
            serde_json::to_value(ElixirVersion::new(1, 18)).unwrap(),
            serde_json::json!("1.18")
        );
        assert!(ElixirVersion::new(1, 14).is_modelled());
        assert!(ElixirVersion::new(1, 20).is_modelled());
        assert!(!ElixirVersion::new(1, 13).is_modelled());
        assert!(!ElixirVersion::new(1, 21).is_modelled());
    }

    /// Each rule flips at the release that changed it, and only there.
    #[test]
    fn rules_change_at_their_release() {
        let rules = |minor| ElixirVersion::new(1, minor).rules();
        let flips =
            |f: fn(&Rules) -> bool| -> Vec<u32> { (13..=21).filter(|m| f(&rules(*m)) != f(&rules(*m - 1))).collect() };
        assert_eq!(flips(|r| r.behaviour_compile), [15]);
        assert_eq!(flips(|r| r.pattern_aliases), [15]);
        assert_eq!(flips(|r| r.attribute_literals == AttributeLiterals::LiteralParts), [15]);
        assert_eq!(flips(|r| r.protocol_builtin_impls), [16]);
        assert_eq!(flips(|r| r.derive_any_traced), [16]);
        assert_eq!(flips(|r| r.derive_protocol_macro), [18]);
        assert_eq!(flips(|r| r.protocol_any_impl), [19]);
        assert_eq!(flips(|r| r.defimpl_export), [19]);
        let r114 = rules(14);
        assert!(r114.behaviour_compile && r114.pattern_aliases && !r114.defimpl_export);
        let r120 = rules(20);
        assert!(!r120.behaviour_compile && !r120.pattern_aliases && r120.defimpl_export);
    }
}
