//! Documentation stays in sync with the code: the spec's version is the
//! workspace version, and every relative link in the docs resolves.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut dirs = vec![root().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files
}

/// The YAML frontmatter between the leading `---` lines.
fn frontmatter(text: &str) -> &str {
    let rest = text.strip_prefix("---\n").expect("spec starts with YAML frontmatter");
    &rest[..rest.find("\n---\n").expect("frontmatter ends with ---")]
}

#[test]
fn spec_frontmatter_is_complete_and_its_version_is_the_workspace_version() {
    let specs: Vec<PathBuf> = std::fs::read_dir(root().join("docs/spec"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    assert!(!specs.is_empty(), "docs/spec has no spec");
    for spec in specs {
        let text = std::fs::read_to_string(&spec).unwrap();
        let front = frontmatter(&text);
        for key in [
            "title",
            "description",
            "feature",
            "status",
            "version",
            "applyTo",
            "keywords",
            "related",
        ] {
            assert!(
                front.lines().any(|l| l.starts_with(&format!("{key}:"))),
                "{}: frontmatter lacks `{key}`",
                spec.display()
            );
        }
        let version = front
            .lines()
            .find_map(|l| l.strip_prefix("version:"))
            .map(|v| v.trim().trim_matches('"'))
            .unwrap();
        assert_eq!(
            version,
            env!("CARGO_PKG_VERSION"),
            "{}: version differs from Cargo.toml",
            spec.display()
        );
        // Related files listed in the frontmatter exist.
        for line in front.lines().filter_map(|l| l.trim().strip_prefix("- ")) {
            let candidate = line.trim().trim_matches('"');
            if candidate.starts_with("../") || candidate.starts_with("./") {
                let target = spec.parent().unwrap().join(candidate);
                assert!(
                    target.exists(),
                    "{}: related file {candidate} does not exist",
                    spec.display()
                );
            }
        }
    }
}

/// Relative link targets of `[text](target)` in a Markdown text.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else { break };
        found.push(after[..end].to_owned());
        rest = &after[end..];
    }
    found
}

#[test]
fn relative_links_in_docs_resolve() {
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with('#') || link.starts_with("mailto:") {
                continue;
            }
            let path = link.split('#').next().unwrap();
            let target = file.parent().unwrap_or(Path::new(".")).join(path);
            assert!(target.exists(), "{}: broken link {link}", file.display());
        }
    }
}

#[test]
fn the_link_finder_finds_links() {
    assert_eq!(links("see [a](b.md) and [c](d.md#x)"), vec!["b.md", "d.md#x"]);
}

/// `${workspaceFolder}` is what every client expands; nvim-dap does not
/// expand ElixirLS's `${workspaceRoot}`.
#[test]
fn configurations_in_the_docs_use_workspace_folder() {
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            assert!(
                !line.contains("${workspaceRoot}") || line.contains("not ElixirLS's"),
                "{}:{}: use ${{workspaceFolder}}: {line}",
                file.display(),
                number + 1
            );
        }
    }
}
