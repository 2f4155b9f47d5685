//! The `manifesto` command line: `serve` and the operator commands.

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};

/// Manifesto: write, amend and adopt a forum's Manifesto together.
#[derive(Debug, Parser)]
#[command(name = "manifesto", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Config),
}

/// Sets up logging to standard error in the configured format.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MANIFESTO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Connections the kernel may queue before the server accepts them. A whole venue reconnecting
/// at once (1,500 delegates after a Wi-Fi drop) overflows tokio's default of 1,024, and the
/// kernel then drops connection attempts that clients retry only seconds later. The kernel
/// caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `address` with [`LISTEN_BACKLOG`].
fn listen(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Runs the command line; the binary's `main` only calls this.
pub async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => {
            init_logging(config.log_format);
            config.validate()?;
            let listener = listen(config.listen)
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
            let address = listener.local_addr()?;
            // Scripts and tests read this line to find the port when listening on port 0.
            println!("manifesto listening on http://{address}");
            crate::run(listener, config, shutdown_signal()).await
        }
    }
}
