//! File watching for elixir-dap's automatic reload.
//!
//! A [`Watcher`] watches a project's source roots (see [`default_roots`]) with `notify`
//! and `notify-debouncer-full`, and once the file system has been quiet for the
//! configured debounce, sends one [`Batch`] of the Elixir sources that changed or went
//! away to an unbounded tokio channel. Editor scratch files and hidden names never reach
//! it (see [`is_relevant`]), nor `_build`, `deps` and the like outside the source
//! roots ([`Filter::is_skipped`]).
//!
//! ```no_run
//! # fn main() -> Result<(), watch::WatchError> {
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
//! let roots = watch::default_roots(std::path::Path::new("/my/project"), "dev");
//! let _watcher = watch::Watcher::start(watch::WatchConfig::new(roots), tx)?;
//! // in the reload manager: while let Some(batch) = rx.recv().await { ... }
//! # let _ = rx.try_recv();
//! # Ok(()) }
//! ```

mod batch;
mod collector;
mod filter;
mod roots;
mod watcher;

pub use batch::Batch;
pub use filter::{is_relevant, Filter, DEFAULT_EXTENSIONS};
pub use mix_layout::{is_ignored_name, IGNORED_DIRS};
pub use roots::default_roots;
pub use watcher::{WatchConfig, WatchError, Watcher, DEFAULT_DEBOUNCE, DEFAULT_MAX_DELAY};
