//! Reload on save (`reloadOnSave`): the file watcher feeds batches of saved
//! sources to the same `reloadCode` path a request takes.
//!
//! - `auto`: each debounced batch is reloaded; batches that arrive while a
//!   reload runs wait in the channel and are reloaded together right after
//!   it; while a thread is in the middle of a step, saves wait for it to stop.
//! - `manual`: batches only accumulate; a `reloadPending` event tells the
//!   editor what is waiting, and the next `reloadCode` reloads it.
//! - `off`: no watcher.

use super::Session;
use crate::launch::{LaunchConfig, ReloadOnSave};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use watch::{Batch, WatchConfig, Watcher};

/// The running watcher and what it reported that is not reloaded yet.
pub struct SaveWatch {
    mode: ReloadOnSave,
    /// Kept alive for as long as the session watches; dropping it stops it.
    watcher: Watcher,
    batches: mpsc::UnboundedReceiver<Batch>,
    pending: Batch,
}

impl SaveWatch {
    /// Starts watching the project's source roots, unless `reloadOnSave` is
    /// `off`. Returns a console message when watching cannot start.
    /// `resources`: external resources to watch too, whatever their
    /// extension and wherever they are (templates).
    /// `layout`: the project's, whose source roots are watched unless
    /// `reloadWatchPaths` names others.
    pub fn start(
        config: &LaunchConfig,
        layout: &mix_layout::MixLayout,
        resources: Vec<PathBuf>,
    ) -> Result<Option<SaveWatch>, String> {
        let args = &config.args;
        if args.reload_on_save == ReloadOnSave::Off {
            return Ok(None);
        }
        let roots: Vec<PathBuf> = match &args.reload_watch_paths {
            Some(paths) => paths.iter().map(|p| config.project_dir.join(p)).collect(),
            None => watch::default_roots(&config.project_dir, layout.mix_env()),
        };
        if roots.is_empty() {
            return Err(format!(
                "reload on save: nothing to watch in {} (no lib directory); set `reloadWatchPaths`",
                config.project_dir.display()
            ));
        }
        let (sink, batches) = mpsc::unbounded_channel();
        let watcher = Watcher::start(
            WatchConfig::new(roots)
                .with_debounce(Duration::from_millis(args.reload_debounce_ms))
                .with_files(resources)
                .with_source_roots(
                    layout
                        .source_roots()
                        .iter()
                        .map(|root| config.project_dir.join(root))
                        .collect(),
                ),
            sink,
        )
        .map_err(|e| format!("reload on save is off: the watcher could not start: {e}"))?;
        Ok(Some(SaveWatch {
            mode: args.reload_on_save,
            watcher,
            batches,
            pending: Batch::default(),
        }))
    }

    pub fn describe(&self) -> String {
        let mode = match self.mode {
            ReloadOnSave::Auto => "reloads each save",
            ReloadOnSave::Manual => "tracks saves; reload with reloadCode",
            ReloadOnSave::Off => "off",
        };
        let roots: Vec<String> = self.watcher.roots().iter().map(|r| r.display().to_string()).collect();
        format!("elixir-dap: watching {} ({mode})", roots.join(", "))
    }
}

/// The next batch from the watcher, or never when there is none.
pub async fn next_batch(watch: &mut Option<SaveWatch>) -> Option<Batch> {
    match watch {
        Some(watch) => watch.batches.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    /// A batch of saved files arrived (and whatever queued behind it).
    pub(super) async fn on_saved(&mut self, batch: Batch) {
        let Some(watch) = self.save_watch.as_mut() else { return };
        watch.pending.merge(batch);
        while let Ok(more) = watch.batches.try_recv() {
            watch.pending.merge(more);
        }
        match watch.mode {
            ReloadOnSave::Manual => {
                let body = pending_body(&watch.pending);
                self.client.extension_event("reloadPending", body);
            }
            ReloadOnSave::Auto => self.reload_pending_saves().await,
            ReloadOnSave::Off => {}
        }
    }

    /// In `auto` mode, reloads the pending saves unless a thread is in the
    /// middle of a step (then the next stop brings us back here).
    pub(super) async fn reload_pending_saves(&mut self) {
        let Some(watch) = self.save_watch.as_mut() else { return };
        if watch.mode != ReloadOnSave::Auto || watch.pending.is_empty() {
            return;
        }
        if self.debugger.as_ref().is_some_and(|d| !d.stepping_threads().is_empty()) {
            tracing::debug!("saves wait for a step to end");
            return;
        }
        let batch = std::mem::take(&mut watch.pending);
        let files: Vec<String> = batch.paths().map(|p| p.display().to_string()).collect();
        if let Err(e) = self.reload_code(&json!({ "files": files }), "save").await {
            tracing::warn!(%e, "reload on save failed");
            self.client.console(format!("elixir-dap: reload on save: {e}"));
        }
    }

    /// A reload by request covers everything saved so far.
    pub(super) fn forget_pending_saves(&mut self) {
        if let Some(watch) = self.save_watch.as_mut() {
            watch.pending = Batch::default();
        }
    }
}

fn pending_body(pending: &Batch) -> Value {
    json!({
        "changed": pending.changed.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "removed": pending.removed.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    })
}
