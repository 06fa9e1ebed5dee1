//! Human-readable output for `elixir-dap deps`.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::index::{Affected, Index, Reason};

/// The file graph in the shape of `mix xref graph --format pretty`, with the
/// modules of each file and each edge's kind spelled out (`runtime` too,
/// which Mix leaves unlabelled):
///
/// ```text
/// lib/app/user.ex  App.User 1-40
/// ├── lib/app/repo.ex (runtime) App.Repo
/// └── lib/app/schema.ex (compile) App.Schema
/// ```
pub fn render_graph_text(index: &Index) -> String {
    let mut out = String::new();
    for path in index.files() {
        let modules: Vec<String> = index
            .modules_in(path)
            .iter()
            .map(|m| format!("{} {}-{}", m.name, m.start_line, m.end_line))
            .collect();
        let _ = write!(out, "{}", path.display());
        if !modules.is_empty() {
            let _ = write!(out, "  {}", modules.join(", "));
        }
        out.push('\n');
        let edges = index.edges_from(path);
        for (i, edge) in edges.iter().enumerate() {
            let branch = if i + 1 == edges.len() { "└──" } else { "├──" };
            let export = if edge.export && edge.kind != crate::RefKind::Export {
                "+export"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "{branch} {} ({}{export}) {}",
                edge.to.display(),
                edge.kind.as_str(),
                edge.modules.join(", ")
            );
        }
    }
    let errors = index.parse_errors();
    if !errors.is_empty() {
        out.push_str("\nparse errors (fall back to Mix for these files):\n");
        for e in errors {
            let _ = writeln!(out, "{}:{}:{}: {}", e.path.display(), e.line, e.column, e.message);
        }
    }
    out
}

/// A file a module declares with `@external_resource` (a template), as
/// Mix's manifest records it: changing it recompiles `source`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeclaredResource {
    /// The resource, relative to the project.
    pub resource: PathBuf,
    /// The source declaring it, relative to the project.
    pub source: PathBuf,
    /// The modules of that source.
    pub modules: Vec<String>,
}

/// What `elixir-dap deps --affected FILE...` prints.
pub fn render_affected_text(affected: &Affected) -> String {
    render_affected_text_with(affected, &[])
}

/// [`render_affected_text`] when some of the files given were external
/// resources: their declaring sources (in `affected` as changed files)
/// are listed with the resource as their reason.
pub fn render_affected_text_with(affected: &Affected, resources: &[DeclaredResource]) -> String {
    let mut out = String::new();
    if !resources.is_empty() {
        out.push_str("external resources:\n");
        for r in resources {
            let _ = writeln!(
                out,
                "  {}  declared by {} ({})",
                r.resource.display(),
                r.source.display(),
                r.modules.join(", ")
            );
        }
    }
    out.push_str("recompile:\n");
    for r in &affected.recompile {
        let declared: Vec<String> = resources
            .iter()
            .filter(|d| d.source == r.path)
            .map(|d| d.resource.display().to_string())
            .collect();
        let why = match &r.reason {
            Reason::Changed if !declared.is_empty() => {
                format!("declares the external resource {}", declared.join(", "))
            }
            Reason::Changed => "changed".to_string(),
            Reason::Compile { module, via } => {
                format!("compile-time dependency on {module} ({})", via.display())
            }
            Reason::Export { module, via } => {
                format!("export dependency on {module} ({})", via.display())
            }
        };
        let _ = writeln!(out, "  {}  ({why})", r.path.display());
    }
    out.push_str("runtime callers:\n");
    for p in &affected.runtime_callers {
        let _ = writeln!(out, "  {}", p.display());
    }
    out.push_str("modules:\n");
    for m in &affected.modules {
        let _ = writeln!(out, "  {} {}-{}", m.name, m.start_line, m.end_line);
    }
    for p in &affected.unknown {
        let _ = writeln!(out, "not indexed: {}", p.display());
    }
    for e in &affected.parse_errors {
        let _ = writeln!(
            out,
            "parse error: {}:{}:{}: {}",
            e.path.display(),
            e.line,
            e.column,
            e.message
        );
    }
    out
}
