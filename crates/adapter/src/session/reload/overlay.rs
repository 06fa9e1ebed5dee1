//! The session's overlay directory, where a reload's new object code goes:
//! its creation and the removal of orphans.

use super::*;

/// Makes `<overlay_root>/<adapter pid>-<random>`, new (mode 0700, `mkdir`
/// fails rather than reuse anything), after removing the orphans of adapters
/// that are gone. Errors name the directory and the cause.
pub(super) fn create_overlay(overlay_root: &Path) -> Result<PathBuf, String> {
    beam::agent_source::ensure_private_dir(overlay_root).map_err(|e| e.to_string())?;
    remove_orphaned_overlays(overlay_root);
    tempfile::Builder::new()
        .prefix(&format!("{}-", std::process::id()))
        .rand_bytes(8)
        .tempdir_in(overlay_root)
        .map(tempfile::TempDir::keep)
        .map_err(|e| format!("cannot create an overlay directory in {}: {e}", overlay_root.display()))
}

/// An adapter that was killed could not remove its overlay directory: remove
/// those whose adapter (the pid in the name) is gone.
fn remove_orphaned_overlays(overlay_root: &Path) {
    // Whether a pid is alive is read from /proc: without it, leave them.
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(overlay_root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|pid| pid.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
