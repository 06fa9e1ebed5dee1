//! A logpoint's message (DAP's `logMessage`) split into literal text and
//! `{expression}` parts, once, when the breakpoint is set: the agent only
//! evaluates the parts at each hit.
//!
//! The syntax is DAP's convention as VS Code documents it: text with Elixir
//! expressions in braces, `{{` and `}}` for literal braces. An expression
//! ends at the first `}` that is not part of it: braces, brackets and
//! parentheses nest, and nothing inside a string, charlist, quoted atom,
//! sigil, character literal (`?}`) or comment counts. Whether each
//! expression is valid Elixir is then checked by the VM's own parser
//! (`check_expressions` in the agent).

pub use beam::protocol::LogPart;

/// A log message split into parts, in order; adjacent text is one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTemplate(pub Vec<LogPart>);

impl LogTemplate {
    /// Splits `message`. Errors (shown as the breakpoint's message, after
    /// "the log message cannot be used: "): an empty `{}`, or a `{` that
    /// nothing closes.
    pub fn parse(message: &str) -> Result<LogTemplate, String> {
        let chars: Vec<char> = message.chars().collect();
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        while i < chars.len() {
            match (chars[i], chars.get(i + 1)) {
                ('{', Some('{')) | ('}', Some('}')) => {
                    text.push(chars[i]);
                    i += 2;
                }
                ('{', _) => {
                    let end = expression_end(&chars, i + 1).ok_or_else(|| unclosed(&chars[i + 1..]))?;
                    let expression: String = chars[i + 1..end].iter().collect();
                    if expression.trim().is_empty() {
                        return Err("an empty `{}` (write `{{}}` for braces)".into());
                    }
                    if !text.is_empty() {
                        parts.push(LogPart::Text(std::mem::take(&mut text)));
                    }
                    parts.push(LogPart::Expression(expression));
                    i = end + 1;
                }
                (c, _) => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        if !text.is_empty() {
            parts.push(LogPart::Text(text));
        }
        Ok(LogTemplate(parts))
    }

    /// The expressions, in order.
    pub fn expressions(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|part| match part {
            LogPart::Expression(source) => Some(source.as_str()),
            LogPart::Text(_) => None,
        })
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn unclosed(rest: &[char]) -> String {
    let start: String = rest.iter().take(20).collect();
    let more = if rest.len() > 20 { "..." } else { "" };
    format!("no `}}` closes the expression `{{{start}{more}` (write `{{{{` for a brace)")
}

/// The index of the `}` that closes an expression starting at `start`, or
/// `None` when the message ends first.
fn expression_end(chars: &[char], start: usize) -> Option<usize> {
    let mut closers: Vec<char> = Vec::new();
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        match c {
            // A `}` closing nothing, or closing a `(` or `[` (`{foo(}`):
            // the expression ends there, and the parser reports what is
            // missing.
            '}' if closers.last() != Some(&'}') => return Some(i),
            '{' => closers.push('}'),
            '(' => closers.push(')'),
            '[' => closers.push(']'),
            '}' | ')' | ']' => {
                // A mismatched `)` or `]` is the parser's to report.
                closers.pop();
            }
            '"' | '\'' => {
                i = quoted_end(chars, i + 1, c, true)?;
            }
            // A character literal (`?}`, `?\}`); after a name, `?` ends it
            // (`empty?(list)`).
            '?' if !(i > start && is_name_char(chars[i - 1])) => {
                i += if chars.get(i + 1) == Some(&'\\') { 2 } else { 1 };
            }
            '~' if chars.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic()) => {
                i = sigil_end(chars, i + 1)?;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the delimiter that ends a string, charlist or sigil body
/// opened before `start`; `interpolates` for `"`, `'` and lower-case
/// sigils, where `#{...}` holds an expression of its own.
fn quoted_end(chars: &[char], start: usize, close: char, interpolates: bool) -> Option<usize> {
    let heredoc =
        (close == '"' || close == '\'') && chars.get(start) == Some(&close) && chars.get(start + 1) == Some(&close);
    let mut i = if heredoc { start + 2 } else { start };
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '#' if interpolates && chars.get(i + 1) == Some(&'{') => {
                // The interpolated expression ends at its own `}`.
                i = expression_end(chars, i + 2)?;
            }
            c if c == close => {
                if !heredoc {
                    return Some(i);
                }
                if chars.get(i + 1) == Some(&close) && chars.get(i + 2) == Some(&close) {
                    return Some(i + 2);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the last character of a sigil whose letters start at
/// `start` (after the `~`): its closing delimiter, or the last modifier.
fn sigil_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start;
    while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
        i += 1;
    }
    let interpolates = chars[start].is_ascii_lowercase();
    let open = *chars.get(i)?;
    let close = match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        '/' | '|' | '"' | '\'' => open,
        // Not a sigil Elixir reads: the parser will say so.
        _ => return Some(i.saturating_sub(1)),
    };
    let mut end = quoted_end(chars, i + 1, close, interpolates)?;
    while chars.get(end + 1).is_some_and(|c| c.is_ascii_alphanumeric()) {
        end += 1;
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(message: &str) -> Vec<LogPart> {
        LogTemplate::parse(message)
            .unwrap_or_else(|e| panic!("{message:?}: {e}"))
            .0
    }

    fn text(s: &str) -> LogPart {
        LogPart::Text(s.into())
    }

    fn expr(s: &str) -> LogPart {
        LogPart::Expression(s.into())
    }

    #[test]
    fn splits_text_and_expressions() {
        assert_eq!(parts("n = {n}, done"), vec![text("n = "), expr("n"), text(", done")]);
        assert_eq!(parts("{a}{b}"), vec![expr("a"), expr("b")]);
        assert_eq!(parts("plain"), vec![text("plain")]);
        assert_eq!(parts(""), Vec::<LogPart>::new());
        assert_eq!(parts("été {x} ü"), vec![text("été "), expr("x"), text(" ü")]);
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(parts("{{x}} is {x}"), vec![text("{x} is "), expr("x")]);
        assert_eq!(parts("a lone } stays"), vec![text("a lone } stays")]);
    }

    #[test]
    fn an_expression_keeps_the_braces_and_quotes_it_holds() {
        let cases = [
            ("{%{a: 1}}", "%{a: 1}"),
            ("{ {:ok, x} }!", " {:ok, x} "),
            ("v {elem({1, 2}, 0)} w", "elem({1, 2}, 0)"),
            ("{\"}\" <> s}", "\"}\" <> s"),
            ("{\"a\\\"}\"}", "\"a\\\"}\""),
            ("{'}'}", "'}'"),
            ("{\"#{x}}\"}", "\"#{x}}\""),
            ("{\"#{%{a: 1}.a}\"}", "\"#{%{a: 1}.a}\""),
            ("{?}}", "?}"),
            ("{?\\}}", "?\\}"),
            ("{~r/}/}", "~r/}/"),
            ("{~s{a}b}}", "~s{a}b"),
            ("{~w(a b)a}", "~w(a b)a"),
            ("{~S|}|}", "~S|}|"),
            ("{~s\"\"\"\n}\n\"\"\"}", "~s\"\"\"\n}\n\"\"\""),
            ("{:\"}\"}", ":\"}\""),
            ("{[1, [2]] |> length()}", "[1, [2]] |> length()"),
            ("{Enum.empty?(l)}", "Enum.empty?(l)"),
            ("{empty?}", "empty?"),
            ("{foo(}", "foo("),
            ("{[1}", "[1"),
            ("{x # a comment }\n}", "x # a comment }\n"),
        ];
        for (message, expression) in cases {
            assert_eq!(
                LogTemplate::parse(message).unwrap().expressions().collect::<Vec<_>>(),
                vec![expression],
                "{message:?}"
            );
        }
    }

    #[test]
    fn refuses_empty_and_unclosed_expressions() {
        for empty in ["{}", "x {  } y"] {
            let error = LogTemplate::parse(empty).unwrap_err();
            assert!(error.contains("empty `{}`"), "{empty:?}: {error}");
        }
        for unclosed in ["{x", "value {map[:k]", "{\"}", "{~r/}", "{%{a: 1}"] {
            let error = LogTemplate::parse(unclosed).unwrap_err();
            assert!(
                error.starts_with("no `}` closes the expression `{"),
                "{unclosed:?}: {error}"
            );
        }
        let long = LogTemplate::parse("{abcdefghijklmnopqrstuvwxyz").unwrap_err();
        assert!(long.contains("`{abcdefghijklmnopqrst...`"), "{long}");
    }
}
