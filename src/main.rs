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

fn main() -> std::process::ExitCode {
    // The session keeper is this binary run again by a session (see
    // `beam::keeper`): it must stay single-threaded, so it runs before
    // anything else starts.
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|first| first == beam::keeper::COMMAND) {
        let status = beam::keeper::main(args.collect());
        return std::process::ExitCode::from(u8::try_from(status).unwrap_or(1));
    }
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
    match cli.port {
        None => {
            adapter::run_session(tokio::io::stdin(), tokio::io::stdout(), options).await;
            Ok(())
        }
        Some(port) => {
            let listener = TcpListener::bind(("127.0.0.1", port))
                .await
                .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            // Tools that start us with port 0 read the real port from this line.
            eprintln!("elixir-dap: listening on {address}");
            loop {
                let (stream, peer) = listener.accept().await.map_err(|e| format!("accept failed: {e}"))?;
                tracing::info!(%peer, "client connected");
                let (reader, writer) = stream.into_split();
                tokio::spawn(adapter::run_session(reader, writer, options.clone()));
            }
        }
    }
}
