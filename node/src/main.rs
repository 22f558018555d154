//! `catalog-node`: one catalog node, configured from flags, `CONFEITARIA_*` and `cluster.toml`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use confeitaria_client::config::ClusterFile;
use confeitaria_client::transport::Transport;

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
    let me = file
        .nodes
        .iter()
        .find(|n| n.id == args.id)
        .ok_or_else(|| format!("node {} is not in {}", args.id, args.config.display()))?;
    let first = file.nodes.iter().map(|n| n.id).min();
    let data_dir = args
        .data_dir
        .unwrap_or_else(|| PathBuf::from(&file.cluster.data_dir).join(format!("node-{}", args.id)));
    std::fs::create_dir_all(&data_dir)?;
    let api = tokio::net::TcpListener::bind(&me.api).await?;
    let rpc = tokio::net::TcpListener::bind(&me.rpc).await?;
    tracing::info!(id = args.id, api = %api.local_addr()?, rpc = %rpc.local_addr()?, data = %data_dir.display(), "catalog node listening");
    let opts = catalog_node::NodeOptions {
        id: args.id,
        data_dir,
        members: file.members(),
        bootstrap: !args.no_bootstrap && first == Some(args.id),
        cluster_secret: file.cluster.secret.clone(),
        jwt_secret: file.cluster.jwt_secret.clone(),
        timing: file.raft,
        seed: true,
        faults: Default::default(),
    };
    let handle = catalog_node::start(opts, api, rpc, Arc::new(Transport::http())).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    handle.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
