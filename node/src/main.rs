//! `catalog-node`: one catalog node, configured from flags, `CONFEITARIA_*` and `cluster.toml`.

use std::path::PathBuf;

use clap::Parser;
use confeitaria_client::config::{id_from_hostname, refuse_dev_secrets, ClusterFile, Secret};

/// One catalog node.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Path of the cluster file.
    #[arg(long, env = "CONFEITARIA_CONFIG", default_value = "cluster.toml")]
    config: PathBuf,
    /// This node's id, as listed in the cluster file (default: the ordinal of the host name,
    /// `catalog-2` → 2, as Compose and a Kubernetes StatefulSet name replicas).
    #[arg(long, env = "CONFEITARIA_NODE_ID")]
    id: Option<u64>,
    /// Data directory (default: `<data_dir>/node-<id>`).
    #[arg(long, env = "CONFEITARIA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Never initialize a cluster, even if this is the first node and its store is new
    /// (for a node joining through `POST /cluster/members`).
    #[arg(long, env = "CONFEITARIA_NO_BOOTSTRAP")]
    no_bootstrap: bool,
    /// Listen on this host (e.g. `0.0.0.0` in a container) at the ports of the file's
    /// addresses, which stay the addresses peers and clients are told.
    #[arg(long, env = "CONFEITARIA_BIND_HOST")]
    bind_host: Option<String>,
    /// The Raft RPC secret (default: the cluster file's).
    #[arg(long, env = "CONFEITARIA_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: Option<Secret>,
    /// The JWT secret (default: the cluster file's).
    #[arg(long, env = "CONFEITARIA_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<Secret>,
    /// Allow the development secrets on a non-loopback address (a deliberate local demo).
    #[arg(long, env = "CONFEITARIA_LOCAL_DEMO")]
    local_demo: bool,
}

// jemalloc returns freed memory to the system; glibc's arenas kept a node's freed catalog
// resident (docs/bench.md, "bench-memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    let mut file = ClusterFile::load(&args.config)?;
    let id = match args.id {
        Some(id) => id,
        None => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            id_from_hostname(&host).ok_or_else(|| {
                format!(
                    "no node id: give --id or CONFEITARIA_NODE_ID, or run on a host named \
                     like catalog-2 (this one is {:?})",
                    host.trim()
                )
            })?
        }
    };
    if let Some(s) = args.cluster_secret {
        file.cluster.secret = s;
    }
    if let Some(s) = args.jwt_secret {
        file.cluster.jwt_secret = s;
    }
    // `node` and not `nodes`: a learner named by the `[learners]` scheme is checked too.
    if let Some(me) = file.node(id) {
        let listen = match &args.bind_host {
            Some(host) => format!("{host}:0"),
            None => me.api.clone(),
        };
        refuse_dev_secrets(
            &listen,
            &[&file.cluster.secret, &file.cluster.jwt_secret],
            args.local_demo,
        )?;
    }
    catalog_node::run_from_file(
        &file,
        id,
        args.data_dir,
        args.no_bootstrap,
        args.bind_host.as_deref(),
        confeitaria_client::shutdown::signal(),
    )
    .await?;
    Ok(())
}
