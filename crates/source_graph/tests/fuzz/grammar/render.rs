//! Rendering a project's modules to Elixir source, section by section.

use std::fmt::Write as _;

use super::{AttrRead, Item, MacroDef, Module, Place, Project, QItem, StructForm};

pub(super) struct Renderer<'a> {
    pub(super) ns: &'a str,
    pub(super) project: &'a Project,
}

/// A module's text, in sections.
#[derive(Default)]
struct Sections {
    /// Directives at the top (`alias`, `import`, `use`, `@behaviour`, ...).
    head: Vec<String>,
    /// Module-body statements.
    body: Vec<String>,
    /// Function definitions.
    defs: Vec<String>,
    /// Lines of `f<i>`'s and `r<i>`'s bodies.
    f_calls: Vec<String>,
    r_calls: Vec<String>,
}

impl Renderer<'_> {
    fn m(&self, id: usize) -> String {
        format!("{}.M{id}", self.ns)
    }

    /// Whether module `id` exists and is a plain module (targets of
    /// runtime calls `r<k>` may have been dropped by the shrinker).
    fn plain(&self, id: usize) -> bool {
        self.project.module(id).is_some_and(|m| m.protocol.is_none())
    }

    pub(super) fn file(&self, module: &Module) -> String {
        let i = module.id;
        let name = self.m(i);
        if let Some(protocol) = &module.protocol {
            let mut out = format!("defprotocol {name} do\n");
            if protocol.fallback {
                out.push_str("  @fallback_to_any true\n");
            }
            out.push_str("  def size(x)\n");
            for item in &module.items {
                if let Item::Probe(n) = item {
                    let _ = writeln!(out, "  def probe_{n}(x)");
                }
            }
            out.push_str("end\n");
            if protocol.any_impl {
                let _ = write!(out, "\ndefimpl {name}, for: Any do\n  def size(_), do: 0\nend\n");
            }
            return out;
        }
        let mut s = Sections::default();
        if let Some(j) = module.inner {
            let call = match j {
                Some(j) if self.plain(j) => format!("{}.f{j}(x)", self.m(j)),
                _ => "x".to_string(),
            };
            let strukt = if module.inner_struct {
                "    defstruct [:a]\n"
            } else {
                ""
            };
            s.body
                .push(format!("defmodule Inner do\n{strukt}    def f(x), do: {call}\n  end"));
        }
        for p in &module.derive {
            s.head.push(format!("@derive [{}]", self.m(*p)));
        }
        if module.exception {
            s.head.push("defexception [:message]".to_string());
        }
        if module.has_struct {
            match module.struct_default {
                Some(j) => s.head.push(format!("defstruct a: nil, b: %{}{{}}", self.m(j))),
                None => s.head.push("defstruct [:a, :b]".to_string()),
            }
        }
        if module.callbacks {
            s.head.push(format!("@callback cb{i}() :: term"));
        }
        s.head.push("@type t :: term".to_string());
        if module.guard {
            s.defs.push(format!("defguard is_g{i}(x) when is_integer(x)"));
        }
        if module.before_compile_hook {
            s.defs.push(format!(
                "defmacro __before_compile__(_env) do\n    quote do\n      def bc{i}, do: :ok\n    end\n  end"
            ));
        }
        if let Some(mac) = &module.macro_def {
            s.defs.push(self.macro_def(i, mac));
        }
        if let Some(k) = module.def_macro {
            let call = if self.plain(k) {
                format!("{}.f{k}(x)", self.m(k))
            } else {
                "x".to_string()
            };
            s.defs.push(format!(
                "defmacro defm{i}(name) do\n    quote do\n      def unquote(name)(x), do: {call}\n    end\n  end"
            ));
        }
        if let Some(quote) = &module.using {
            s.defs.push(self.using(i, quote));
        }
        for (n, item) in module.items.iter().enumerate() {
            self.item(module, n, item, &mut s);
        }
        for p in &module.impl_nested {
            s.defs
                .push(format!("defimpl {} do\n    def size(_), do: 1\n  end", self.m(*p)));
        }
        let mut out = format!("defmodule {name} do\n");
        for line in &s.head {
            let _ = writeln!(out, "  {line}");
        }
        for line in &s.body {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "  def f{i}(x) do");
        for call in &s.f_calls {
            let _ = writeln!(out, "    _ = {call}");
        }
        out.push_str("    x\n  end\n");
        let _ = writeln!(out, "  def r{i}(x) do");
        for call in &s.r_calls {
            let _ = writeln!(out, "    _ = {call}");
        }
        out.push_str("    x\n  end\n");
        for def in &s.defs {
            let _ = writeln!(out, "  {def}");
        }
        out.push_str("end\n");
        if let Some(j) = module.extra {
            let call = match j {
                Some(j) if self.plain(j) => format!("{}.f{j}(x)", self.m(j)),
                _ => "x".to_string(),
            };
            let _ = write!(out, "\ndefmodule {name}.Extra do\n  def e(x), do: {call}\nend\n");
        }
        for p in &module.impl_after {
            let _ = write!(
                out,
                "\ndefimpl {}, for: {name} do\n  def size(_), do: 2\nend\n",
                self.m(*p)
            );
        }
        out
    }

    fn quote_lines(&self, i: usize, quote: &[QItem], using: bool) -> Vec<String> {
        let mut lines = Vec::new();
        for (n, q) in quote.iter().enumerate() {
            let tag = format!("{i}_{n}");
            match (*q, using) {
                (QItem::Call(k), false) => lines.push(format!("_ = {}.f{k}(unquote(x))", self.m(k))),
                (QItem::Call(k), true) => {
                    lines.push(format!("@q{tag} {}.f{k}(1)", self.m(k)));
                    lines.push(format!("def q{tag}, do: @q{tag}"));
                }
                (QItem::Struct(k), false) => lines.push(format!("_ = %{}{{a: unquote(x)}}", self.m(k))),
                (QItem::Struct(k), true) => lines.push(format!("def q{tag}(%{}{{}} = s), do: s", self.m(k))),
                (QItem::Alias(k), false) => lines.push(format!("_ = {}", self.m(k))),
                (QItem::Alias(k), true) => lines.push(format!("def q{tag}, do: {}", self.m(k))),
                (QItem::Behaviour(k), _) => {
                    lines.push(format!("@behaviour {}", self.m(k)));
                    lines.push(format!("def cb{k}, do: :ok"));
                }
                (QItem::Import(k), _) => lines.push(format!("import {}", self.m(k))),
                (QItem::Use(k), _) => lines.push(format!("use {}", self.m(k))),
                (QItem::StructAttr(k), _) => {
                    lines.push(format!("@q{tag} %{}{{a: 1}}", self.m(k)));
                    lines.push(format!("def q{tag}, do: @q{tag}"));
                }
                (QItem::Macro(k), false) => {
                    lines.push(format!("require {}", self.m(k)));
                    lines.push(format!("_ = {}.m{k}(unquote(x))", self.m(k)));
                }
                (QItem::Macro(k), true) => {
                    lines.push(format!("require {}", self.m(k)));
                    lines.push(format!("@q{tag} {}.m{k}(1)", self.m(k)));
                    lines.push(format!("def q{tag}, do: @q{tag}"));
                }
                (QItem::Unquoted(k), _) => lines.push(format!("_ = unquote({}).f{k}(unquote(x))", self.m(k))),
            }
        }
        lines
    }

    fn macro_def(&self, i: usize, mac: &MacroDef) -> String {
        let mut lines = self.quote_lines(i, &mac.quote, false);
        lines.push("unquote(x)".to_string());
        let quote = format!(
            "quote do\n{}\n    end",
            lines
                .iter()
                .map(|l| format!("      {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let body_call = match mac.body_call {
            Some(k) if self.plain(k) => format!("    _ = {}.f{k}(1)\n", self.m(k)),
            _ => String::new(),
        };
        if mac.helper {
            format!("defmacro m{i}(x) do\n{body_call}    mq{i}(x)\n  end\n  def mq{i}(x) do\n    {quote}\n  end")
        } else {
            format!("defmacro m{i}(x) do\n{body_call}    {quote}\n  end")
        }
    }

    fn using(&self, i: usize, quote: &[QItem]) -> String {
        let lines = self.quote_lines(i, quote, true);
        let mut out = "defmacro __using__(_opts) do\n    quote do\n".to_string();
        for line in lines {
            let _ = writeln!(out, "      {line}");
        }
        out.push_str("    end\n  end");
        out
    }

    /// `code` placed as `place` says, under the name `tag`.
    fn place(&self, s: &mut Sections, place: Place, tag: &str, code: String) {
        match place {
            Place::Fn => s.defs.push(format!("def u{tag}(x), do: {code}")),
            Place::F => s.f_calls.push(code),
            Place::Body => {
                let code = code.replace("(x)", "(1)");
                s.body.push(format!("@c{tag} {code}"));
                s.defs.push(format!("def c{tag}, do: @c{tag}"));
            }
        }
    }

    fn item(&self, module: &Module, n: usize, item: &Item, s: &mut Sections) {
        let i = module.id;
        let tag = format!("{i}_{n}");
        let m = |j: usize| self.m(j);
        match *item {
            Item::CallF { j, place } => self.place(s, place, &tag, format!("{}.f{j}(x)", m(j))),
            Item::CallR { k } => {
                if self.plain(k) {
                    s.r_calls.push(format!("{}.r{k}(x)", m(k)));
                }
            }
            Item::AliasCall { j } => {
                s.head.push(format!("alias {}", m(j)));
                s.defs.push(format!("def u{tag}(x), do: M{j}.f{j}(x)"));
            }
            Item::AliasAsCall { j } => {
                s.head.push(format!("alias {}, as: A{tag}", m(j)));
                s.defs.push(format!("def u{tag}(x), do: A{tag}.f{j}(x)"));
            }
            Item::Import { j, call } => {
                s.head.push(format!("import {}", m(j)));
                if let Some(place) = call {
                    self.place(s, place, &tag, format!("f{j}(x)"));
                }
            }
            Item::ImportOnly { j } => {
                s.head.push(format!("import {}, only: [f{j}: 1]", m(j)));
                s.defs.push(format!("def u{tag}(x), do: f{j}(x)"));
            }
            Item::RequireMacro { j, place } => {
                s.head.push(format!("require {}", m(j)));
                self.place(s, place, &tag, format!("{}.m{j}(x)", m(j)));
            }
            Item::ImportMacro { j, place } => {
                s.head.push(format!("import {}", m(j)));
                self.place(s, place, &tag, format!("m{j}(x)"));
            }
            Item::Use { j } => s.head.push(format!("use {}", m(j))),
            Item::CallUnderUse { j, k } => {
                s.head.push(format!("use {}", m(j)));
                s.defs.push(format!("def u{tag}(x), do: f{k}(x)"));
            }
            Item::Behaviour { j, impl_attr } => {
                s.head.push(format!("@behaviour {}", m(j)));
                if impl_attr {
                    s.defs.push(format!("@impl {}", m(j)));
                }
                s.defs.push(format!("def cb{j}, do: :ok"));
            }
            Item::Struct { j, form } => self.struct_item(s, &tag, &m(j), form),
            Item::Delegate { j } => s.defs.push(format!("defdelegate d{tag}(x), to: {}, as: :f{j}", m(j))),
            Item::Capture { j, place } => match place {
                Place::Body => {
                    s.body.push(format!("@c{tag} Enum.map([1], &{}.f{j}/1)", m(j)));
                    s.defs.push(format!("def c{tag}, do: @c{tag}"));
                }
                _ => s.defs.push(format!("def u{tag}, do: &{}.f{j}/1", m(j))),
            },
            Item::RuntimeAlias { k } => {
                if self.project.module(k).is_some() {
                    s.defs.push(format!("def a{tag}, do: {}", m(k)));
                }
            }
            Item::AttrAliases { k, read } => {
                if self.project.module(k).is_some() && read == AttrRead::CallFn {
                    s.body.push(format!("@l{tag} {}", m(k)));
                    s.defs.push(format!("def l{tag}(x), do: @l{tag}.r{k}(x)"));
                } else if self.project.module(k).is_some() && read == AttrRead::CallBody {
                    s.body.push(format!("@l{tag} {}", m(k)));
                    s.body.push(format!("@n{tag} @l{tag}.f{k}(1)"));
                    s.defs.push(format!("def l{tag}, do: @n{tag}"));
                } else if self.project.module(k).is_some() {
                    s.body.push(format!("@l{tag} [{}, :x]", m(k)));
                    match read {
                        AttrRead::Never => {}
                        AttrRead::Fn => s.defs.push(format!("def l{tag}, do: @l{tag}")),
                        AttrRead::Body => {
                            s.body.push(format!("@n{tag} length(@l{tag})"));
                            s.defs.push(format!("def l{tag}, do: @n{tag}"));
                        }
                        AttrRead::CallFn | AttrRead::CallBody => {}
                    }
                }
            }
            Item::Persist { k, strukt } => {
                if self.project.module(k).is_some() {
                    s.body
                        .push(format!("Module.register_attribute(__MODULE__, :p{tag}, persist: true)"));
                    if strukt {
                        s.body.push(format!("@p{tag} %{}{{a: 1}}", m(k)));
                    } else {
                        s.body.push(format!("@p{tag} {}", m(k)));
                    }
                }
            }
            Item::GuardCall { j } => {
                s.head.push(format!("require {}", m(j)));
                s.defs.push(format!("def u{tag}(x) when {}.is_g{j}(x), do: x", m(j)));
            }
            Item::BeforeCompile { j } => s.head.push(format!("@before_compile {}", m(j))),
            Item::RemoteType { j } => s.body.push(format!("@type t{tag} :: {}.t()", m(j))),
            Item::NestedCall { j, place } => self.place(s, place, &tag, format!("{}.Inner.f(x)", m(j))),
            Item::OwnInner => {
                s.body.push("alias __MODULE__.Inner".to_string());
                s.body.push(format!("@o{tag} __MODULE__.Inner.f(1)"));
                s.defs.push(format!("def o{tag}(x), do: {{@o{tag}, Inner.f(x)}}"));
            }
            Item::SelfStruct => s.defs.push(format!("def o{tag}, do: %__MODULE__{{a: 1}}")),
            Item::EnsureCompiled { j } => s.body.push(format!("Code.ensure_compiled!({})", m(j))),
            Item::Raise { j } => s
                .defs
                .push(format!("def u{tag}(x), do: raise({}, \"boom #{{x}}\")", m(j))),
            Item::Rescue { j } => s.defs.push(format!(
                "def u{tag}(f) do\n    f.()\n  rescue\n    e in {} -> e\n  end",
                m(j)
            )),
            Item::MultiAlias { j, k } => {
                s.head.push(format!("alias {}.{{M{j}, M{k}}}", self.ns));
                s.defs
                    .push(format!("def u{tag}(x), do: {{M{j}.f{j}(x), M{k}.f{k}(x)}}"));
            }
            Item::RequireAs { j } => {
                s.head.push(format!("require {}, as: R{tag}", m(j)));
                s.defs.push(format!("def u{tag}(x), do: R{tag}.m{j}(x)"));
            }
            Item::ImportMacrosOnly { j } => {
                s.head.push(format!("import {}, only: :macros", m(j)));
                s.defs.push(format!("def u{tag}(x), do: m{j}(x)"));
            }
            Item::DefMacro { j } => {
                s.head.push(format!("require {}", m(j)));
                s.body.push(format!("{}.defm{j}(:dm{tag})", m(j)));
            }
            Item::InnerStruct { j } => s.defs.push(format!("def u{tag}(x), do: %{}.Inner{{a: x}}", m(j))),
            Item::ExtraCall { j, place } => self.place(s, place, &tag, format!("{}.Extra.e(x)", m(j))),
            Item::Probe(n) => s.defs.push(format!("def probe_{n}, do: :ok")),
        }
    }

    fn struct_item(&self, s: &mut Sections, tag: &str, sm: &str, form: StructForm) {
        use StructForm::*;
        match form {
            HeadBound => s.defs.push(format!("def s{tag}(%{sm}{{}} = s), do: s")),
            HeadWhole => s.defs.push(format!("def s{tag}(%{sm}{{}}), do: 1")),
            HeadFields => s.defs.push(format!("def s{tag}(%{sm}{{a: a}}), do: a")),
            HeadDefault => s.defs.push(format!("def s{tag}(x \\\\ %{sm}{{}}), do: x")),
            PrivateHead => {
                s.defs.push(format!("defp sp{tag}(%{sm}{{}}), do: 1"));
                s.defs.push(format!("def s{tag}(x), do: sp{tag}(x)"));
            }
            Body => s.defs.push(format!("def s{tag}(x), do: %{sm}{{a: x}}")),
            Update => s.defs.push(format!("def s{tag}(x), do: %{sm}{{x | a: 1}}")),
            Guard => s.defs.push(format!("def s{tag}(x) when is_struct(x, {sm}), do: x")),
            Match => s.defs.push(format!("def s{tag}(x), do: match?(%{sm}{{}}, x)")),
            Case => s.defs.push(format!(
                "def s{tag}(x) do\n    case x do\n      %{sm}{{a: a}} -> a\n      _ -> nil\n    end\n  end"
            )),
            Type => s.body.push(format!("@type s{tag} :: %{sm}{{}}")),
            Spec => {
                s.defs.push(format!("@spec s{tag}(%{sm}{{}}) :: term"));
                s.defs.push(format!("def s{tag}(x), do: x"));
            }
            Callback => s.body.push(format!("@callback s{tag}(%{sm}{{}}) :: term")),
            AttrUnread => s.body.push(format!("@s{tag} %{sm}{{a: 1}}")),
            AttrReadFn => {
                s.body.push(format!("@s{tag} %{sm}{{a: 1}}"));
                s.defs.push(format!("def s{tag}, do: @s{tag}"));
            }
            AttrReadBody => {
                s.body.push(format!("@s{tag} %{sm}{{a: 1}}"));
                s.body.push(format!("@t{tag} Map.fetch!(@s{tag}, :a)"));
                s.defs.push(format!("def s{tag}, do: @t{tag}"));
            }
            AttrReadGuard => {
                s.body.push(format!("@s{tag} %{sm}{{a: 1}}"));
                s.defs.push(format!("def s{tag}(x) when x == @s{tag}, do: x"));
            }
            AttrList => {
                s.body.push(format!("@s{tag} [%{sm}{{a: 1}}]"));
                s.defs.push(format!("def s{tag}, do: @s{tag}"));
            }
            AttrFieldCode => {
                s.body.push(format!("@s{tag} %{sm}{{a: length([1])}}"));
                s.defs.push(format!("def s{tag}, do: @s{tag}"));
            }
            AttrCode => {
                s.body.push(format!("@s{tag} Map.put(%{sm}{{}}, :a, 2)"));
                s.defs.push(format!("def s{tag}, do: @s{tag}"));
            }
            BodyPattern => {
                s.body
                    .push(format!("@s{tag} Enum.map([%{sm}{{a: 1}}], fn %{sm}{{a: a}} -> a end)"));
                s.defs.push(format!("def s{tag}, do: @s{tag}"));
            }
            FnPattern => s.defs.push(format!(
                "def s{tag}(l), do: Enum.map(l, fn %{sm}{{a: a}} -> a; _ -> nil end)"
            )),
            ForPattern => s
                .defs
                .push(format!("def s{tag}(l), do: for(%{sm}{{a: a}} <- l, do: a)")),
            WithPattern => s
                .defs
                .push(format!("def s{tag}(x), do: with(%{sm}{{a: a}} <- x, do: a)")),
            Typep => {
                s.body.push(format!("@typep s{tag} :: %{sm}{{}}"));
                s.body.push(format!("@type p{tag} :: s{tag}"));
            }
            Opaque => s.body.push(format!("@opaque s{tag} :: %{sm}{{}}")),
            KeywordAttr => {
                s.body.push(format!("@s{tag} [default: %{sm}{{a: 1}}]"));
                s.body.push(format!("@t{tag} Keyword.fetch!(@s{tag}, :default)"));
                s.defs.push(format!("def s{tag}, do: @t{tag}"));
            }
            Defguard => s.defs.push(format!("defguard is_s{tag}(x) when is_struct(x, {sm})")),
            InNested => s
                .body
                .push(format!("defmodule N{tag} do\n    def n(x), do: %{sm}{{a: x}}\n  end")),
        }
    }
}
