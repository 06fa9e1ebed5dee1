//! `elixir-dap`: a Debug Adapter Protocol server for Elixir projects.
//!
//! DAP over stdio by default, or over TCP on 127.0.0.1 with `--port`. Logs go
//! to `--log-file` or stderr, never to stdout, which belongs to DAP.
//! `elixir-dap deps` prints the dependency graph instead (see `cli::deps`).

mod cli;

use adapter::session::SessionOptions;
use clap::Parser;
use cli::{Cli, Command};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// glibc's malloc gives each thread that contends for it an arena of its
/// own, up to 8 per core, and memory freed in one arena serves no other:
/// the index built on a blocking thread, the reload reports built on the
/// runtime's, each kept its peak. Measured on the bench's 2 000-module
/// project (Elixir 1.14, heap peak 38 MiB): peak RSS 59 MiB after a launch
/// and 68 after a hub edit with the default, 49.5 and 58 with two arenas,
/// 47.5 and 58 with one; two leave the runtime's workers less to wait for.
///
/// A fixed mmap threshold: by default glibc raises it up to 32 MiB each time
/// a large block it mapped is freed, after which the agent's large replies
/// and the buffers that grow to hold them come from the heap, where they
/// leave holes. Measured on sid (Elixir 1.20), the hub edit's session:
/// 61-62 MiB peak with the moving threshold, 55 with 128 KiB (glibc's
/// initial value). Called before any thread starts.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets parameters of glibc's allocator; no thread
    // allocates concurrently yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

fn main() -> std::process::ExitCode {
    // The session keeper is this binary run again by a session (see
    // `beam::keeper`): it must stay single-threaded, so it runs before
    // anything else starts.
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|first| first == beam::keeper::COMMAND) {
        let status = beam::keeper::main(args.collect());
        return std::process::ExitCode::from(u8::try_from(status).unwrap_or(1));
    }
    tune_malloc();
    let cli = Cli::parse();
    if let Some(Command::Deps(args)) = &cli.command {
        return cli::deps::run(args);
    }
    if let Err(message) = init_logging(&cli) {
        eprintln!("elixir-dap: {message}");
        return std::process::ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("elixir-dap: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(serve(cli));
    // Sessions have killed their VMs; don't wait for stray blocking reads of stdin.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("elixir-dap: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(cli: &Cli) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .map_err(|e| format!("--log-level {:?}: {e}", cli.log_level))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false);
    match &cli.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--log-file {}: {e}", path.display()))?;
            builder.with_writer(std::sync::Mutex::new(file)).init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

async fn serve(cli: Cli) -> Result<(), String> {
    let options = SessionOptions {
        cwd: std::env::current_dir().map_err(|e| format!("cannot read the working directory: {e}"))?,
        cache_root: beam::agent_source::default_cache_root(),
        keeper: beam::keeper::program(),
    };
    let stop = stop_on_signals();
    match cli.port {
        None => {
            adapter::run_session(tokio::io::stdin(), tokio::io::stdout(), options, stop).await;
            Ok(())
        }
        Some(port) => {
            let listener = TcpListener::bind(("127.0.0.1", port))
                .await
                .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            // Tools that start us with port 0 read the real port from this line.
            eprintln!("elixir-dap: listening on {address}");
            let mut sessions = tokio::task::JoinSet::new();
            let mut stopped = stop.clone();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let (stream, peer) = accepted.map_err(|e| format!("accept failed: {e}"))?;
                        tracing::info!(%peer, "client connected");
                        let (reader, writer) = stream.into_split();
                        sessions.spawn(adapter::run_session(reader, writer, options.clone(), stop.clone()));
                    }
                    Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                    _ = stopped.wait_for(|s| *s) => break,
                }
            }
            // Every session ends as its client's input would.
            while sessions.join_next().await.is_some() {}
            Ok(())
        }
    }
}

/// Turns true on the first SIGINT or SIGTERM: sessions then end as if their
/// client had closed its input (the work in progress is cancelled and
/// answered, the VM stopped), and every response is written before the
/// adapter exits: nvim-dap interrupts the adapter as soon as a session ends,
/// and the default action of SIGINT lost the responses still queued. A second
/// signal exits at once; the VMs' agents see their channel close and stop
/// their VMs.
fn stop_on_signals() -> watch::Receiver<bool> {
    use tokio::signal::unix::{signal, SignalKind};
    let (stop, stopped) = watch::channel(false);
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        tracing::warn!("cannot handle SIGINT/SIGTERM; they end the adapter at once");
        return stopped;
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT: ending the sessions"),
            _ = terminate.recv() => tracing::info!("SIGTERM: ending the sessions"),
        }
        let _ = stop.send(true);
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("elixir-dap: a second signal: exiting now");
        std::process::exit(130);
    });
    stopped
}
