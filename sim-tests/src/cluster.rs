//! Simulated catalog nodes: the real `catalog-node` started on turmoil's sockets, each with a
//! real sled store in its own directory, which outlives crashes so a bounced host reopens it.
//!
//! The simulation driver watches every running node through its openraft metrics (a
//! `watch::Receiver`, which holds no reference to the store — so a crashed node's sled files
//! are really closed before its restart reopens them).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use catalog_node::membership::JoinAs;
use catalog_node::raft_node::Faults;
use catalog_node::NodeOptions;
use confeitaria_client::config::{RaftTiming, Secret};
use confeitaria_client::transport::HttpSend;
use confeitaria_client::Transport;
use confeitaria_types::{MemberRole, NodeAddr};
use openraft::{RaftMetrics, ServerState};
use tokio::sync::watch;

use crate::history::NodeId;
use crate::net::{SimConnector, SimListener};

/// Port of every node's REST API.
pub const API_PORT: u16 = 5001;
/// Port of every node's Raft RPC.
pub const RPC_PORT: u16 = 6001;
/// JWT secret of simulated clusters.
pub const JWT_SECRET: &str = "sim-jwt-secret";
/// Cluster secret of simulated clusters.
pub const CLUSTER_SECRET: &str = "sim-cluster-secret";

/// Host name of node `id`.
pub fn node_host(id: NodeId) -> String {
    format!("n{id}")
}

/// API address (`host:port`) of node `id`.
pub fn api_addr(id: NodeId) -> String {
    format!("n{id}:{API_PORT}")
}

/// Raft RPC address (`host:port`) of node `id`.
pub fn rpc_addr(id: NodeId) -> String {
    format!("{}:{RPC_PORT}", node_host(id))
}

/// The membership of an `n`-node cluster.
pub fn members(n: u64) -> BTreeMap<NodeId, NodeAddr> {
    (1..=n)
        .map(|id| {
            (
                id,
                NodeAddr {
                    api_addr: api_addr(id),
                    rpc_addr: rpc_addr(id),
                },
            )
        })
        .collect()
}

/// Raft timing in simulations: the test timing, with frequent snapshots and a short log
/// behind them, so that a node back from a crash or a partition is often caught up by a
/// snapshot install rather than by log replay.
pub fn sim_timing() -> RaftTiming {
    RaftTiming {
        heartbeat_ms: 50,
        election_min_ms: 150,
        election_max_ms: 300,
        snapshot_every: 64,
        leader_wait_ms: 2000,
        keep_logs: 16,
        // The checkers hold every reservation id to one outcome for the whole run.
        retention_ms: 0,
    }
}

/// The metrics of one running node.
pub type Metrics = watch::Receiver<RaftMetrics<NodeId, NodeAddr>>;

/// What the driver can see of the running nodes.
#[derive(Debug, Default)]
pub struct Nodes {
    running: BTreeMap<NodeId, Metrics>,
    /// Nodes whose process is dead while their host runs on (see [`run_node`]).
    down: BTreeSet<NodeId>,
    /// Times each node has been started.
    pub starts: BTreeMap<NodeId, u32>,
}

impl Nodes {
    /// Forgets a node that was crashed; until [`Nodes::restarting`], its host runs without it.
    pub fn crashed(&mut self, id: NodeId) {
        self.running.remove(&id);
        self.down.insert(id);
    }

    /// The node's process is about to start again.
    pub fn restarting(&mut self, id: NodeId) {
        self.down.remove(&id);
    }

    /// `(node, term, detail)` of every running node that considers itself leader, by node
    /// id; the detail (its vote and the leader it names) is for the trace.
    pub fn leaders(&self) -> Vec<(NodeId, u64, String)> {
        self.running
            .iter()
            .filter_map(|(id, m)| {
                let m = m.borrow();
                (m.state == ServerState::Leader).then(|| {
                    let detail = format!("vote {}, leader {:?}", m.vote, m.current_leader);
                    (*id, m.current_term, detail)
                })
            })
            .collect()
    }

    /// `(node, term)` of every running leader that has applied an entry of its own term — the
    /// first commit after an election (the leader's blank entry, or a client's write).
    pub fn leaders_committed(&self) -> Vec<(NodeId, u64)> {
        self.running
            .iter()
            .filter_map(|(id, m)| {
                let m = m.borrow();
                let own = m
                    .last_applied
                    .is_some_and(|l| l.leader_id.term == m.current_term);
                (m.state == ServerState::Leader && own).then_some((*id, m.current_term))
            })
            .collect()
    }

    /// The running leader with the highest term, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.leaders()
            .into_iter()
            .max_by_key(|(id, term, _)| (*term, *id))
            .map(|(id, _, _)| id)
    }

    /// Ids of running nodes.
    pub fn running(&self) -> Vec<NodeId> {
        self.running.keys().copied().collect()
    }

    /// `(leader it follows, last applied index)` of a running node.
    pub fn view(&self, id: NodeId) -> Option<(Option<NodeId>, Option<u64>)> {
        self.running.get(&id).map(|m| {
            let m = m.borrow();
            (m.current_leader, m.last_applied.map(|l| l.index))
        })
    }
}

/// How to start one node.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Node id.
    pub id: NodeId,
    /// Voters in the cluster (nodes 1..=cluster_size).
    pub cluster_size: u64,
    /// This node is a learner: it joins through the voters at start-up, as `up --learners`
    /// starts one, and asks again after a crash if it is not yet a member.
    pub learner: bool,
    /// Its data directory (kept across crashes).
    pub data_dir: PathBuf,
    /// Deliberate bugs to switch on.
    pub faults: Faults,
    /// Raft timing.
    pub timing: RaftTiming,
}

impl NodeSpec {
    fn options(&self) -> NodeOptions {
        NodeOptions {
            id: self.id,
            data_dir: self.data_dir.clone(),
            members: members(self.cluster_size),
            bootstrap: self.id == 1,
            cluster_secret: Secret::new(CLUSTER_SECRET),
            jwt_secret: Secret::new(JWT_SECRET),
            timing: self.timing,
            seed: true,
            faults: self.faults,
            join: self.learner.then(|| JoinAs {
                role: MemberRole::Learner,
                addr: NodeAddr {
                    api_addr: api_addr(self.id),
                    rpc_addr: rpc_addr(self.id),
                },
                seeds: (1..=self.cluster_size).map(rpc_addr).collect(),
            }),
        }
    }
}

/// The host software of one node: start it on simulated sockets, register its metrics, run
/// until the host is crashed (its runtime dropped, which drops the node and closes its store).
///
/// A node marked crashed ([`Nodes::crashed`]) starts nothing: its host is up but nothing
/// listens, so a connection to it is refused and a segment on an old connection draws a reset
/// — what a peer of a SIGKILLed process meets, and what lets a follower call an election as
/// soon as it knows the leader is gone (`catalog_node::election`). A turmoil host that is
/// merely crashed would drop every SYN silently instead.
pub async fn run_node(spec: NodeSpec, nodes: Rc<RefCell<Nodes>>) -> turmoil::Result {
    if nodes.borrow().down.contains(&spec.id) {
        std::future::pending::<()>().await;
    }
    let api = SimListener::bind(API_PORT).await?;
    let rpc = SimListener::bind(RPC_PORT).await?;
    let http: Arc<dyn HttpSend> = Arc::new(Transport::new(SimConnector::default()));
    let handle = catalog_node::start(spec.options(), api, rpc, http).await?;
    {
        let mut n = nodes.borrow_mut();
        n.running.insert(spec.id, handle.node.raft().metrics());
        *n.starts.entry(spec.id).or_insert(0) += 1;
    }
    // Serve until crashed; the handle must live as long as the host.
    handle.cancelled().cancelled().await;
    Ok(())
}
