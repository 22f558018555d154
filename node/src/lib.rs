//! A catalog node: one member of the three-node Raft cluster that keeps the shop's catalog.
//!
//! - [`raft_node`]: the Raft member, and how writes and reads travel through it;
//! - [`api`]: the public REST API (docs/design.md "API");
//! - [`batch`]: group commit — concurrent writes proposed as one log entry;
//! - [`coalesce`]: concurrent read-index requests share quorum rounds;
//! - [`membership`]: learners joining, the strict reconfiguration check, knowing when this
//!   node was removed;
//! - [`election`]: an election as soon as the leader's port refuses; split votes broken by a
//!   fresh random delay per lost term, left to a peer whose log is longer;
//! - [`retention`]: the leader stamps time into the log so that settled reservations are
//!   forgotten after the retention window, alike on every replica;
//! - [`rpc`]: the internal RPC port (Raft messages, forwarded writes, read index): its
//!   [`rpc::wire`] protocol, [`rpc::client`] and [`rpc::server`];
//! - [`network`]: openraft's network over that port;
//! - [`contacts`]: when each peer last answered;
//! - [`standing`]: what a node learnt of its own membership from its peers;
//! - [`error`]: the API error and its JSON response;
//! - [`metrics`]: the node's Prometheus registry: request metrics, the Raft-side histograms
//!   ([`timings`]), Raft state sampled when scraped;
//! - [`seed`]: the bakery's starting catalog;
//! - `testing` (feature `testing`): in-process clusters on port 0 for this and other crates'
//!   tests; production builds do not carry it (nor `tempfile`).
//!
//! [`start`] takes its listeners and HTTP transport as parameters, so tests bind port 0 and
//! simulations inject their own sockets.

pub mod api;
pub mod batch;
pub mod coalesce;
pub mod contacts;
pub mod election;
pub mod error;
pub mod membership;
pub mod metrics;
pub mod network;
pub mod raft_node;
pub mod retention;
pub mod rpc;
pub mod seed;
pub mod standing;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timings;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use confeitaria_client::config::{ClusterFile, RaftTiming, Secret};
use confeitaria_client::transport::HttpSend;
use confeitaria_types::{MemberRole, NodeAddr};
use openraft::{Raft, SnapshotPolicy};
use raft_store::NodeId;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::AppState;
use crate::contacts::Contacts;
use crate::membership::JoinAs;
use crate::metrics::Metrics;
use crate::network::Network;
use crate::raft_node::{CatalogNode, NodeParts, Settings};
use crate::rpc::client::RpcClient;
use crate::timings::RaftTimings;

/// Errors starting a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] raft_store::OpenError),
    /// The Raft configuration is invalid.
    #[error("raft config: {0}")]
    Config(String),
    /// Raft failed to start or initialize.
    #[error("raft: {0}")]
    Raft(String),
    /// The node is not listed in the cluster file.
    #[error("node {0} is not in the cluster file")]
    NotInFile(NodeId),
    /// A directory could not be created or an address bound.
    #[error("{0}")]
    Io(String),
}

/// Everything a node needs besides its sockets.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// This node's id.
    pub id: NodeId,
    /// Directory of its sled database.
    pub data_dir: PathBuf,
    /// The initial membership, used only to initialize a brand-new cluster.
    pub members: BTreeMap<NodeId, NodeAddr>,
    /// Initialize the cluster with `members` if this node's store has never been used.
    pub bootstrap: bool,
    /// Secret every Raft RPC carries.
    pub cluster_secret: Secret,
    /// Key of admin and service JWTs.
    pub jwt_secret: Secret,
    /// Raft timing.
    pub timing: RaftTiming,
    /// Write the starting catalog when this node leads a cluster that has none.
    pub seed: bool,
    /// Deliberate bugs for checker tests; all off by default.
    pub faults: raft_node::Faults,
    /// Join an existing cluster at start-up (a learner, or a voter added later), unless
    /// this node is already a member.
    pub join: Option<JoinAs>,
}

/// A running node: its Raft member, its servers and background tasks.
#[derive(Debug)]
pub struct NodeHandle {
    /// The Raft member.
    pub node: Arc<CatalogNode>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl NodeHandle {
    /// Stops the node in order: Raft first, then the servers, then background tasks.
    pub async fn stop(self) {
        if let Err(e) = self.node.raft().shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// A token cancelled when the node stops.
    pub fn cancelled(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

fn raft_config(t: &RaftTiming) -> Result<Arc<openraft::Config>, NodeError> {
    let config = openraft::Config {
        cluster_name: "confeitaria".into(),
        heartbeat_interval: t.heartbeat_ms,
        election_timeout_min: t.election_min_ms,
        election_timeout_max: t.election_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(t.snapshot_every),
        max_in_snapshot_log_to_keep: t.keep_logs,
        install_snapshot_timeout: 2000,
        ..Default::default()
    };
    config
        .validate()
        .map(Arc::new)
        .map_err(|e| NodeError::Config(e.to_string()))
}

/// Runs node `id` of `file` on the file's addresses until `shutdown` resolves, then stops it
/// in order: what `catalog-node` runs, and what `confeitaria up` runs in each child.
/// `data_dir` defaults to `<data_dir>/node-<id>`; the lowest voter id initializes a new
/// cluster unless `no_bootstrap`; a learner (listed with `role = "learner"`, or an id the
/// file does not list, at its `[learners]` addresses) joins through the voters;
/// `bind_host`, when given, replaces the host of the file's addresses for listening only.
pub async fn run_from_file(
    file: &ClusterFile,
    id: NodeId,
    data_dir: Option<PathBuf>,
    no_bootstrap: bool,
    bind_host: Option<&str>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), NodeError> {
    let me = file.node(id).ok_or(NodeError::NotInFile(id))?;
    let first = file.voters().map(|n| n.id).min();
    let data_dir = data_dir
        .unwrap_or_else(|| PathBuf::from(&file.cluster.data_dir).join(format!("node-{id}")));
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| NodeError::Io(format!("creating {}: {e}", data_dir.display())))?;
    let bind = |addr: String| async move {
        tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| NodeError::Io(format!("binding {addr}: {e}")))
    };
    // In a container the file names the node as its peers reach it (`catalog-2:5011`), and
    // the node listens on every interface of its own (`0.0.0.0`) at the same port.
    let local = |advertised: &str| match (bind_host, advertised.rsplit_once(':')) {
        (Some(host), Some((_, port))) => format!("{host}:{port}"),
        _ => advertised.to_owned(),
    };
    let api = bind(local(&me.api)).await?;
    let rpc = bind(local(&me.rpc)).await?;
    tracing::info!(id, api = %me.api, rpc = %me.rpc, data = %data_dir.display(), "catalog node listening");
    let opts = NodeOptions {
        id,
        data_dir,
        members: file.members(),
        bootstrap: !no_bootstrap && first == Some(id),
        cluster_secret: file.cluster.secret.clone(),
        jwt_secret: file.cluster.jwt_secret.clone(),
        timing: file.raft,
        seed: true,
        faults: Default::default(),
        join: (me.role == MemberRole::Learner).then(|| JoinAs {
            role: MemberRole::Learner,
            addr: NodeAddr {
                api_addr: me.api.clone(),
                rpc_addr: me.rpc.clone(),
            },
            seeds: file.voters().map(|n| n.rpc.clone()).collect(),
        }),
    };
    let handle = start(
        opts,
        api,
        rpc,
        Arc::new(confeitaria_client::transport::Transport::http()),
    )
    .await?;
    shutdown.await;
    tracing::info!("shutting down");
    handle.stop().await;
    Ok(())
}

/// Opens the store, starts Raft, serves the API on `api` and Raft RPC on `rpc`, and
/// initializes the cluster if asked and this store is new.
pub async fn start<A, R>(
    opts: NodeOptions,
    api: A,
    rpc: R,
    http: Arc<dyn HttpSend>,
) -> Result<NodeHandle, NodeError>
where
    A: axum::serve::Listener,
    A::Addr: std::fmt::Debug,
    R: axum::serve::Listener,
    R::Addr: std::fmt::Debug,
{
    let (mut log, mut sm) = raft_store::open(&opts.data_dir)?;
    let timings = RaftTimings::default();
    log.time_appends(timings.append.clone());
    sm.time_applies(timings.apply.clone());
    let pristine = log
        .is_pristine()
        .map_err(|e| NodeError::Raft(e.to_string()))?;
    let rpc_client = RpcClient::new(http, opts.cluster_secret.clone());
    let contacts = Arc::new(Contacts::default());
    let network = Network::new(rpc_client.clone(), contacts.clone());
    let raft = Raft::new(
        opts.id,
        raft_config(&opts.timing)?,
        network,
        log.clone(),
        sm.clone(),
    )
    .await
    .map_err(|e| NodeError::Raft(e.to_string()))?;
    let settings = Settings {
        id: opts.id,
        cluster_secret: opts.cluster_secret.clone(),
        jwt_secret: opts.jwt_secret.clone(),
        leader_wait: Duration::from_millis(opts.timing.leader_wait_ms),
        forward_timeout: Duration::from_secs(2),
        faults: opts.faults,
    };
    let node = Arc::new(CatalogNode::new(NodeParts {
        raft,
        sm,
        log,
        settings,
        rpc: rpc_client,
        contacts,
        timings: timings.clone(),
    }));
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();

    let state = AppState {
        node: node.clone(),
        metrics: Arc::new(Metrics::new(&timings)),
    };
    let api_app = api::router(state);
    let rpc_app = rpc::server::router(node.clone());
    let stop = cancel.clone();
    tracker.spawn(async move {
        let _ = axum::serve(api, api_app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    let stop = cancel.clone();
    tracker.spawn(async move {
        let _ = axum::serve(rpc, rpc_app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });

    if opts.bootstrap && pristine {
        tracing::info!(id = opts.id, members = ?opts.members.keys(), "initializing a new cluster");
        node.raft()
            .initialize(opts.members.clone())
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))?;
    }
    if opts.seed {
        tracker.spawn(seed_when_leading(node.clone(), cancel.clone()));
    }
    if let Some(join) = opts.join.clone() {
        tracker.spawn(membership::join_cluster(node.clone(), join, cancel.clone()));
    }
    tracker.spawn(membership::watch_standing(node.clone(), cancel.clone()));
    tracker.spawn(retention::expire_when_leading(
        node.clone(),
        Duration::from_millis(opts.timing.retention_ms),
        cancel.clone(),
    ));
    tracker.spawn(election::break_split_votes(
        node.clone(),
        opts.timing.heartbeat_ms,
        opts.timing.election_min_ms,
        cancel.clone(),
    ));
    tracker.spawn(election::elect_when_leader_gone(
        node.clone(),
        opts.timing.heartbeat_ms,
        cancel.clone(),
    ));
    Ok(NodeHandle {
        node,
        cancel,
        tracker,
    })
}

/// Whenever this node leads a cluster whose catalog was never seeded, proposes the seed. The
/// state machine applies it at most once, so racing leaders are harmless.
async fn seed_when_leading(node: Arc<CatalogNode>, cancel: CancellationToken) {
    let mut rx = node.raft().metrics();
    loop {
        let leads = rx.borrow_and_update().current_leader == Some(node.id());
        if leads && !node.state_machine().read().catalog.seeded {
            match node.raft().client_write(seed::starting_catalog()).await {
                Ok(_) => tracing::info!("starting catalog written"),
                Err(e) => {
                    tracing::warn!(error = %e, "seeding failed; will retry on the next change")
                }
            }
        }
        if node.state_machine().read().catalog.seeded {
            return;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = rx.changed() => if changed.is_err() { return },
        }
    }
}
