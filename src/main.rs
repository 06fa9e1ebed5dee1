//! `elixir-dap`: a Debug Adapter Protocol server for Elixir projects.
//!
//! DAP over stdio by default, or over TCP on 127.0.0.1 with `--port`. Logs go
//! to `--log-file` or stderr, never to stdout, which belongs to DAP.

use adapter::session::SessionOptions;
use clap::Parser;
use std::path::PathBuf;
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(
    name = "elixir-dap",
    version,
    about = "Debug adapter (DAP) for Elixir with incremental code reload"
)]
struct Cli {
    /// Serve DAP over TCP on 127.0.0.1:PORT (one session per connection; 0 picks a free port)
    #[arg(long)]
    port: Option<u16>,
    /// Write logs to this file instead of stderr
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter)
    #[arg(long, default_value = "warn", value_name = "LEVEL")]
    log_level: String,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
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
