//! The `manifesto` binary: everything is in the library.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match manifesto_server::cli::main().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("manifesto: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
