#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Saves by a real editor (Vim, or vim.tiny, which `scripts/setup.sh` installs when
//! neither is there): each of Vim's write strategies must come out as one change of the
//! file, with its swap file, `4913` probe and back-up ignored.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use watch::{WatchConfig, Watcher};

const WAIT: Duration = Duration::from_secs(10);

/// `vim`, else `vim.tiny`; without either the test fails rather than pass
/// without testing anything.
fn vim() -> &'static str {
    ["vim", "vim.tiny"]
        .into_iter()
        .find(|candidate| {
            Command::new(candidate)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| panic!("neither vim nor vim.tiny is installed: run scripts/setup.sh (it installs vim-tiny)"))
}

fn vim_save(dir: &Path, file: &str, options: &[&str], line: &str) {
    let mut cmd = Command::new(vim());
    cmd.current_dir(dir).args(["-u", "NONE", "-N", "-i", "NONE", "-es"]);
    for option in options {
        cmd.args(["-c", &format!("set {option}")]);
    }
    cmd.args(["-c", &format!("normal Go{line}"), "-c", "wq", file]);
    let status = cmd.status().unwrap();
    assert!(status.success(), "vim {options:?} failed: {status}");
}

#[tokio::test]
async fn vim_saves_are_one_change_each() {
    vim();
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().canonicalize().unwrap().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    let a = lib.join("a.ex");
    std::fs::write(&a, "defmodule A do\nend\n").unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _watcher = Watcher::start(WatchConfig::new(vec![lib.clone()]), tx).unwrap();

    for options in [
        &[][..],                            // backupcopy=auto, writebackup
        &["backupcopy=no"][..],             // rename the original away, write anew
        &["backupcopy=yes"][..],            // copy, then overwrite in place
        &["backup", "backupcopy=no"][..],   // and keep a.ex~
        &["nowritebackup", "nobackup"][..], // straight overwrite
    ] {
        vim_save(&lib, "a.ex", options, &format!("# {options:?}"));
        let batch = match tokio::time::timeout(WAIT, rx.recv()).await {
            Ok(Some(batch)) => batch,
            Ok(None) => panic!("watcher stopped"),
            Err(_) => panic!("no batch within {WAIT:?} after a Vim save with {options:?}"),
        };
        assert_eq!(
            batch.changed.iter().collect::<Vec<_>>(),
            [&a],
            "Vim with {options:?}: {batch:?}"
        );
        assert!(batch.removed.is_empty(), "Vim with {options:?}: {batch:?}");
    }
    let content = std::fs::read_to_string(&a).unwrap();
    assert!(content.contains("nowritebackup"), "{content}");
}
