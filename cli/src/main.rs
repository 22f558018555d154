//! `confeitaria`: parses the command line and hands it to [`confeitaria_cli::run`]; any
//! error is one line on stderr, never a backtrace.

use std::process::ExitCode;

use clap::Parser;
use confeitaria_cli::Cli;

// jemalloc returns freed memory to the system; glibc's arenas kept a node's freed catalog
// resident (docs/bench.md, "bench-memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // A bug must still read as one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "confeitaria: internal error{at}: {}",
            what.replace('\n', " ")
        );
    }));
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
