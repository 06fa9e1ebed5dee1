//! Module names and spans, and lexical aliases.

use super::*;

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
