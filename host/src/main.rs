use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = chatops::cli::Cli::parse();
    let default = match cli.command {
        None | Some(chatops::cli::Cmd::Run(_)) => "info,wasmtime=warn,cranelift=warn",
        // The shell shows refusals itself, as [admin] lines; the log would repeat them.
        Some(chatops::cli::Cmd::Shell { .. }) | Some(chatops::cli::Cmd::Invoke { .. }) => "error",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match chatops::cli::main(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
