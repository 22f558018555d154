//! `catalog-node`: one catalog node, configured from flags, `CONFEITARIA_*` and `cluster.toml`.

use std::path::PathBuf;

use clap::Parser;
use confeitaria_client::config::ClusterFile;

/// One catalog node.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Path of the cluster file.
    #[arg(long, env = "CONFEITARIA_CONFIG", default_value = "cluster.toml")]
    config: PathBuf,
    /// This node's id, as listed in the cluster file.
    #[arg(long, env = "CONFEITARIA_NODE_ID")]
    id: u64,
    /// Data directory (default: `<data_dir>/node-<id>`).
    #[arg(long, env = "CONFEITARIA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Never initialize a cluster, even if this is the first node and its store is new
    /// (for a node joining through `POST /cluster/members`).
    #[arg(long, env = "CONFEITARIA_NO_BOOTSTRAP")]
    no_bootstrap: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .init();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("catalog-node: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let file = ClusterFile::load(&args.config)?;
    catalog_node::run_from_file(
        &file,
        args.id,
        args.data_dir,
        args.no_bootstrap,
        confeitaria_client::shutdown::signal(),
    )
    .await?;
    Ok(())
}
