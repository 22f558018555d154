//! `confeitaria`: parses the command line and hands it to [`confeitaria_cli::run`]; any
//! error is one line on stderr, never a backtrace.

use std::process::ExitCode;

use clap::Parser;
use confeitaria_cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_filter = if confeitaria_cli::is_service(&cli) {
        "info,openraft=warn"
    } else {
        "warn,openraft=error"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .init();
    match confeitaria_cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("confeitaria: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
