//! In-process catalog clusters on port 0, for this crate's tests and other crates'.
//!
//! Every node gets its own data directory; a stopped node can be restarted on the same ports
//! and data, as after a crash.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use confeitaria_client::config::{RaftTiming, Secret};
use confeitaria_client::transport::Transport;
use confeitaria_types::auth::{self, TokenRole};
use confeitaria_types::NodeAddr;
use raft_store::NodeId;
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::Instant;

use crate::{start, NodeHandle, NodeOptions};

/// JWT secret of test clusters.
pub const TEST_JWT_SECRET: &str = "test-jwt-secret";

/// A cluster of nodes running in this process.
#[derive(Debug)]
pub struct TestCluster {
    nodes: BTreeMap<NodeId, Option<NodeHandle>>,
    addrs: BTreeMap<NodeId, (SocketAddr, SocketAddr)>,
    dirs: BTreeMap<NodeId, TempDir>,
    members: BTreeMap<NodeId, NodeAddr>,
    /// Nodes started with [`TestCluster::spawn_learner`]: they join as learners, and again
    /// after a restart if they are no longer members.
    learners: std::collections::BTreeSet<NodeId>,
    /// The ports of stopped nodes, bound but not listening: a connection to a stopped node is
    /// refused, and no other test in the process can be given its ports by the kernel and
    /// answer in its place.
    held: BTreeMap<NodeId, Vec<TcpSocket>>,
    /// Raft timing of every node (and retention window).
    timing: RaftTiming,
}

/// Fast timing for tests: failover in a few hundred milliseconds.
pub fn test_timing() -> RaftTiming {
    RaftTiming {
        heartbeat_ms: 50,
        election_min_ms: 150,
        election_max_ms: 300,
        snapshot_every: 200,
        leader_wait_ms: 3000,
        keep_logs: 20,
        // Kept forever unless a test asks for a window: tests that count reservations
        // after a release must not race the expiry.
        retention_ms: 0,
    }
}

impl TestCluster {
    /// Starts `n` nodes (ids 1..=n), node 1 initializing the cluster, and waits until every
    /// node has applied the starting catalog.
    pub async fn spawn(n: u64) -> Self {
        Self::spawn_with(n, test_timing()).await
    }

    /// As [`TestCluster::spawn`], every node with `timing` (a retention window, say).
    pub async fn spawn_with(n: u64, timing: RaftTiming) -> Self {
        let mut listeners = BTreeMap::new();
        let mut addrs = BTreeMap::new();
        let mut members = BTreeMap::new();
        for id in 1..=n {
            let api = bind("127.0.0.1:0").await;
            let rpc = bind("127.0.0.1:0").await;
            let pair = (local(&api), local(&rpc));
            members.insert(
                id,
                NodeAddr {
                    api_addr: pair.0.to_string(),
                    rpc_addr: pair.1.to_string(),
                },
            );
            addrs.insert(id, pair);
            listeners.insert(id, (api, rpc));
        }
        let mut c = TestCluster {
            nodes: BTreeMap::new(),
            addrs,
            dirs: (1..=n).map(|id| (id, temp_dir())).collect(),
            members,
            learners: Default::default(),
            held: BTreeMap::new(),
            timing,
        };
        for (id, (api, rpc)) in listeners {
            let h = c.start_on(id, api, rpc).await;
            c.nodes.insert(id, Some(h));
        }
        c.wait_seeded(Duration::from_secs(10)).await;
        c
    }

    async fn start_on(&self, id: NodeId, api: TcpListener, rpc: TcpListener) -> NodeHandle {
        match self.try_start_on(id, api, rpc).await {
            Ok(h) => h,
            Err(e) => panic!("node {id} failed to start: {e}"),
        }
    }

    async fn try_start_on(
        &self,
        id: NodeId,
        api: TcpListener,
        rpc: TcpListener,
    ) -> Result<NodeHandle, crate::NodeError> {
        let opts = NodeOptions {
            id,
            data_dir: self.dirs[&id].path().to_path_buf(),
            members: self.members.clone(),
            bootstrap: id == 1,
            cluster_secret: Secret::new("test-cluster-secret"),
            jwt_secret: Secret::new(TEST_JWT_SECRET),
            timing: self.timing,
            seed: true,
            faults: Default::default(),
            join: self
                .learners
                .contains(&id)
                .then(|| crate::membership::JoinAs {
                    role: confeitaria_types::MemberRole::Learner,
                    addr: NodeAddr {
                        api_addr: self.addrs[&id].0.to_string(),
                        rpc_addr: self.addrs[&id].1.to_string(),
                    },
                    seeds: self.members.values().map(|m| m.rpc_addr.clone()).collect(),
                }),
        };
        start(opts, api, rpc, Arc::new(Transport::http())).await
    }

    /// API addresses (`host:port`) of every node, running or not, by id.
    pub fn api_addrs(&self) -> Vec<String> {
        self.addrs.values().map(|(a, _)| a.to_string()).collect()
    }

    /// API address of node `id`.
    pub fn api_addr(&self, id: NodeId) -> String {
        self.addrs[&id].0.to_string()
    }

    /// A running node.
    pub fn node(&self, id: NodeId) -> &NodeHandle {
        match self.nodes.get(&id).and_then(Option::as_ref) {
            Some(h) => h,
            None => panic!("node {id} is not running"),
        }
    }

    /// Ids of the running nodes.
    pub fn running(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, h)| h.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// A valid token for `role`.
    pub fn token(&self, role: TokenRole) -> String {
        match auth::sign(
            TEST_JWT_SECRET.as_bytes(),
            role,
            "test",
            auth::now_secs(),
            3600,
        ) {
            Ok(t) => t,
            Err(e) => panic!("signing: {e}"),
        }
    }

    /// Waits until every running node agrees on one leader, and returns it.
    pub async fn wait_leader(&self, timeout: Duration) -> NodeId {
        let end = Instant::now() + timeout;
        loop {
            let leaders: Vec<Option<NodeId>> = self
                .running()
                .iter()
                .map(|id| self.node(*id).node.leader())
                .collect();
            if let Some(Some(l)) = leaders.first() {
                if leaders.iter().all(|x| *x == Some(*l)) && self.running().contains(l) {
                    return *l;
                }
            }
            assert!(
                Instant::now() < end,
                "no agreed leader within {timeout:?}: {leaders:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until every running node has applied the starting catalog, so that even local
    /// reads on any node find it.
    pub async fn wait_seeded(&self, timeout: Duration) {
        let end = Instant::now() + timeout;
        while !self
            .running()
            .iter()
            .all(|id| self.node(*id).node.state_machine().read().catalog.seeded)
        {
            assert!(
                Instant::now() < end,
                "catalog not seeded within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops node `id` (its data stays).
    pub async fn stop(&mut self, id: NodeId) {
        if let Some(h) = self.nodes.get_mut(&id).and_then(Option::take) {
            h.stop().await;
            let (api, rpc) = self.addrs[&id];
            self.held
                .insert(id, [api, rpc].into_iter().filter_map(hold).collect());
        }
    }

    /// Restarts a stopped node on its old ports and data directory.
    /// Waits (boundedly) for the stopped node's ports and its sled lock to be released: tasks
    /// still finishing after `stop` may hold them for a moment.
    pub async fn restart(&mut self, id: NodeId) {
        let (api_addr, rpc_addr) = self.addrs[&id];
        self.held.remove(&id);
        let end = Instant::now() + Duration::from_secs(5);
        let h = loop {
            let attempt = match (
                TcpListener::bind(api_addr).await,
                TcpListener::bind(rpc_addr).await,
            ) {
                (Ok(api), Ok(rpc)) => self
                    .try_start_on(id, api, rpc)
                    .await
                    .map_err(|e| e.to_string()),
                _ => Err("ports still in use".to_owned()),
            };
            match attempt {
                Ok(h) => break h,
                Err(e) if Instant::now() < end => {
                    tracing::debug!(id, error = %e, "restart: retrying");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("node {id} did not restart: {e}"),
            }
        };
        self.nodes.insert(id, Some(h));
    }

    /// Starts a new node `id` that is not yet a member (it never initializes a cluster), and
    /// returns its API and RPC addresses; add it with `POST /cluster/members`.
    pub async fn start_joiner(&mut self, id: NodeId) -> NodeAddr {
        let api = bind("127.0.0.1:0").await;
        let rpc = bind("127.0.0.1:0").await;
        let pair = (local(&api), local(&rpc));
        self.addrs.insert(id, pair);
        self.dirs.insert(id, temp_dir());
        let h = self.start_on(id, api, rpc).await;
        self.nodes.insert(id, Some(h));
        NodeAddr {
            api_addr: pair.0.to_string(),
            rpc_addr: pair.1.to_string(),
        }
    }

    /// Starts node `id` as a learner: it asks the voters to add it, as `up --learners` and a
    /// StatefulSet pod beyond the voters do. Returns its addresses at once; wait with
    /// [`TestCluster::wait_member`].
    pub async fn spawn_learner(&mut self, id: NodeId) -> NodeAddr {
        self.learners.insert(id);
        self.start_joiner(id).await
    }

    /// Waits until node `id` is in the membership every running node knows.
    pub async fn wait_member(&self, id: NodeId, timeout: Duration) {
        let end = Instant::now() + timeout;
        while !self
            .running()
            .iter()
            .all(|n| self.node(*n).node.membership_view().membership.contains(id))
        {
            assert!(
                Instant::now() < end,
                "node {id} not a member within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        for id in self.running() {
            self.stop(id).await;
        }
    }
}

async fn bind(addr: &str) -> TcpListener {
    match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => panic!("bind {addr}: {e}"),
    }
}

fn local(l: &TcpListener) -> SocketAddr {
    match l.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("local_addr: {e}"),
    }
}

fn temp_dir() -> TempDir {
    match TempDir::new() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    }
}

/// Binds `addr` without listening, so that connections to it are refused and the kernel gives
/// it to no one else; `None` if it cannot (the port is then merely free).
fn hold(addr: SocketAddr) -> Option<TcpSocket> {
    let bound = |reuse: bool| -> std::io::Result<TcpSocket> {
        let s = TcpSocket::new_v4()?;
        s.set_reuseaddr(reuse)?;
        s.bind(addr)?;
        Ok(s)
    };
    // Without SO_REUSEADDR first: the kernel then never hands the port to another socket.
    // Connections of the stopped node left in TIME_WAIT make that fail; then with it.
    bound(false).or_else(|_| bound(true)).ok()
}
