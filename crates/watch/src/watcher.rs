//! The running watcher: notify-debouncer-full on the roots, and a collector thread that
//! turns its events into batches for the sink.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use tokio::sync::mpsc::UnboundedSender;

use crate::collector::{Collector, Timing};
use crate::filter::{Filter, DEFAULT_EXTENSIONS};
use crate::Batch;

/// The default quiet period.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);
/// The default longest wait for a batch while changes keep coming.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(2);

/// What to watch and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    /// Directories watched recursively (for example [`crate::default_roots`]). They must
    /// exist; one inside another is watched once. Prefer source directories to the
    /// project directory: every subdirectory of a root gets an OS watch, `_build` and
    /// `deps` included, even though their events are ignored.
    pub roots: Vec<PathBuf>,
    /// The quiet period: a batch is delivered once no relevant change has been seen for
    /// this long.
    pub debounce: Duration,
    /// Extensions of the files reported, with or without the dot.
    pub extensions: Vec<String>,
    /// While changes keep coming, a batch is still delivered this long after its first.
    pub max_delay: Duration,
    /// Files reported whatever their extension (external resources such as
    /// templates); their directories are watched too.
    pub files: Vec<PathBuf>,
    /// The project's source roots, when the watched roots are not (only those
    /// that exist count): under them directories named like
    /// [`mix_layout::IGNORED_DIRS`] are watched as any other, outside them they are
    /// skipped. `None`: the watched roots are the source roots.
    pub source_roots: Option<Vec<PathBuf>>,
}

impl WatchConfig {
    /// The defaults (100 ms, `.ex`, 2 s) on `roots`.
    pub fn new(roots: Vec<PathBuf>) -> Self {
        WatchConfig {
            roots,
            debounce: DEFAULT_DEBOUNCE,
            extensions: DEFAULT_EXTENSIONS.iter().map(|e| format!(".{e}")).collect(),
            max_delay: DEFAULT_MAX_DELAY,
            files: Vec::new(),
            source_roots: None,
        }
    }

    /// The same configuration, with the project's source roots given apart from
    /// the watched directories (see [`WatchConfig::source_roots`]).
    pub fn with_source_roots(mut self, source_roots: Vec<PathBuf>) -> Self {
        self.source_roots = Some(source_roots);
        self
    }

    /// The same configuration, also reporting `files` (any extension).
    pub fn with_files(mut self, files: Vec<PathBuf>) -> Self {
        self.files = files;
        self
    }

    /// The same configuration with another quiet period.
    pub fn with_debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }
}

/// Why a watcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("no directory to watch")]
    NoRoots,
    #[error("cannot watch {}: {source}", path.display())]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot watch {}: not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("file watching failed: {0}")]
    Notify(#[from] notify::Error),
    #[error("cannot start the watcher thread: {0}")]
    Thread(#[source] std::io::Error),
}

enum Msg {
    Events(DebounceEventResult),
    Stop,
}

/// A running watcher. Dropping it stops watching; a batch not yet delivered is dropped.
pub struct Watcher {
    roots: Vec<PathBuf>,
    debouncer: Option<Debouncer<notify::RecommendedWatcher, RecommendedCache>>,
    control: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

impl Watcher {
    /// Starts watching. When it returns, every root is watched and its sources are
    /// known, so a change made afterwards is reported. Batches go to `sink` from a
    /// thread of the watcher's own: no async runtime is needed to call this. It blocks
    /// while it adds the watches and scans the roots (milliseconds for a few thousand
    /// files; use `spawn_blocking` from async code if the roots are huge).
    pub fn start(config: WatchConfig, sink: UnboundedSender<Batch>) -> Result<Watcher, WatchError> {
        let mut roots = canonical_roots(&config.roots)?;
        let source_roots = match &config.source_roots {
            Some(source_roots) => source_roots.iter().filter_map(|r| r.canonicalize().ok()).collect(),
            None => roots.clone(),
        };
        // Listed files outside every root: their directories become roots.
        let files: Vec<PathBuf> = config.files.iter().filter_map(|f| f.canonicalize().ok()).collect();
        for file in &files {
            if let Some(dir) = file.parent() {
                if !roots.iter().any(|root| dir.starts_with(root)) {
                    roots.push(dir.to_path_buf());
                }
            }
        }
        // notify-debouncer-full only coalesces per path and pairs renames here; the quiet
        // period is the collector's. A short window keeps that pairing cheap in latency.
        let window = (config.debounce / 4).clamp(Duration::from_millis(5), Duration::from_millis(50));
        let tick = window / 2;
        let timing = Timing {
            debounce: config.debounce,
            lag: window + tick,
            max_delay: config.max_delay.max(config.debounce),
        };

        let (tx, rx) = mpsc::channel();
        let events = tx.clone();
        let mut debouncer = new_debouncer(window, Some(tick), move |result| {
            // Fails only once the collector has stopped, when nothing is wanted.
            let _ = events.send(Msg::Events(result));
        })?;
        for root in &roots {
            debouncer.watch(root, RecursiveMode::Recursive)?;
        }
        // Scanned after the watches are in place, so nothing falls between the two.
        let filter = Filter::new(&config.extensions)
            .with_files(files)
            .with_source_roots(source_roots);
        let collector = Collector::new(roots.clone(), filter, timing);
        let thread = std::thread::Builder::new()
            .name("elixir-dap-watch".into())
            .spawn(move || run(collector, rx, sink))
            .map_err(WatchError::Thread)?;
        Ok(Watcher {
            roots,
            debouncer: Some(debouncer),
            control: tx,
            thread: Some(thread),
        })
    }

    /// The canonical roots being watched.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // Stop the OS watches and the debouncer's thread first, then the collector.
        drop(self.debouncer.take());
        let _ = self.control.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            // The collector answers Stop at once: it never blocks but on its channel.
            let _ = thread.join();
        }
    }
}

fn canonical_roots(roots: &[PathBuf]) -> Result<Vec<PathBuf>, WatchError> {
    let mut canonical = Vec::new();
    for root in roots {
        let path = root.canonicalize().map_err(|source| WatchError::Root {
            path: root.clone(),
            source,
        })?;
        if !path.is_dir() {
            return Err(WatchError::NotADirectory { path: root.clone() });
        }
        canonical.push(path);
    }
    canonical.sort();
    canonical.dedup();
    // A root inside another is already watched through it.
    let outer = canonical.clone();
    canonical.retain(|p| !outer.iter().any(|o| o != p && p.starts_with(o)));
    if canonical.is_empty() {
        return Err(WatchError::NoRoots);
    }
    Ok(canonical)
}

fn run(mut collector: Collector, rx: mpsc::Receiver<Msg>, sink: UnboundedSender<Batch>) {
    loop {
        let msg = match collector.deadline() {
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(deadline) => {
                let now = Instant::now();
                if deadline <= now {
                    Err(mpsc::RecvTimeoutError::Timeout)
                } else {
                    rx.recv_timeout(deadline - now)
                }
            }
        };
        match msg {
            Ok(Msg::Events(Ok(events))) => collector.add(&events, Instant::now()),
            Ok(Msg::Events(Err(errors))) => {
                for error in errors {
                    tracing::warn!(%error, "file watching: automatic reload may miss changes");
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let Some(batch) = collector.on_deadline(Instant::now(), SystemTime::now()) else {
                    continue;
                };
                if !batch.is_empty() && sink.send(batch).is_err() {
                    return; // nobody listens any more
                }
            }
            Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}
