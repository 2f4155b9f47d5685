//! `manifesto-load`: raises the open-file limit, parses the command line and runs it.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = manifesto_load::cli::Cli::parse();
    if let Err(e) = manifesto_load::fdlimit::raise_open_file_limit() {
        eprintln!("warning: cannot raise the open-file limit ({e}); large crowds may fail");
    }
    match manifesto_load::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
