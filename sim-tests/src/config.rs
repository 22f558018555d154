//! What shapes a run besides its seed ([`SimConfig`]): the cluster, the workload, the faults,
//! the timing, and the named profiles (saga, leader isolation, failover, expiry, learners).

use catalog_node::raft_node::Faults;
use confeitaria_client::config::RaftTiming;

use crate::cluster::sim_timing;
use crate::failover::{FailoverConfig, Variant};
use crate::nemesis::NemesisConfig;
use crate::workload::{Kind, WorkloadConfig};

/// Everything that shapes a run besides its seed.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Voting catalog nodes (1..=nodes).
    pub nodes: u64,
    /// Learners (nodes after the voters): they join at start-up, replicate, serve reads,
    /// never vote, and the nemesis crashes and cuts them off like the voters.
    pub learners: u64,
    /// The client workload.
    pub workload: WorkloadConfig,
    /// The faults.
    pub nemesis: NemesisConfig,
    /// Deliberate bugs switched on in every node (none by default).
    pub faults: Faults,
    /// Simulated time per step, in ms.
    pub tick_ms: u64,
    /// Shortest and longest one-way message latency, in ms.
    pub latency_ms: (u64, u64),
    /// Hard limit of simulated time, in seconds.
    pub max_sim_secs: u64,
    /// Raft timing of every node.
    pub timing: RaftTiming,
    /// The failover profile instead of the fault schedule (see [`crate::failover`]).
    pub failover: Option<FailoverConfig>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 3,
            learners: 0,
            workload: WorkloadConfig::default(),
            nemesis: NemesisConfig::default(),
            faults: Faults::default(),
            tick_ms: 1,
            latency_ms: (1, 5),
            max_sim_secs: 120,
            timing: sim_timing(),
            failover: None,
        }
    }
}

impl SimConfig {
    /// The saga run: three shoppers checking out through the orders service, on products 4
    /// and 5 (thirty units each), with the orders service crashed too.
    pub fn saga() -> Self {
        let mut c = Self::default();
        c.workload.kind = Kind::Saga;
        c.workload.processes = 3;
        c.workload.products = vec![4, 5];
        c.workload.initial_stock = 30;
        c
    }

    /// A focused run: the leader isolated again and again for 0.5–1 s — long enough for a
    /// new leader, short enough that a client's attempt on the old one outlives the
    /// isolation — on little stock so that retries are often refused. It hunts the
    /// late-duplicate issue (README, "Findings").
    pub fn leader_isolation() -> Self {
        let mut c = Self::default();
        c.workload.initial_stock = 6;
        c.nemesis = NemesisConfig {
            min_fault_ms: 400,
            max_fault_ms: 1000,
            max_gap_ms: 300,
            only_isolate_leader: true,
        };
        c
    }

    /// The failover profile (issue 16): the leader killed again and again, each time soon
    /// after the previous kill's node came back — within 300 ms of its catch-up, or inside
    /// the lease it restarted with — on `cluster.toml`'s timing (heartbeat 30 ms, election
    /// 80–160 ms), with the usual clients and checkers. See [`crate::failover`].
    pub fn failover() -> Self {
        let mut c = Self::default();
        c.timing = RaftTiming {
            heartbeat_ms: 30,
            election_min_ms: 80,
            election_max_ms: 160,
            ..sim_timing()
        };
        c.failover = Some(FailoverConfig {
            variants: Variant::ALL.to_vec(),
            after_catch_up_ms: 300,
            lease_ms: c.timing.election_max_ms,
        });
        c
    }

    /// Expiry (issue 13): a retention window of `window_ms` on every node, so the leader's
    /// `Expirar` entries forget settled reservations within the run, while the clients close
    /// confirmed reservations and re-send settled ones after a window. The workload runs 8 s
    /// so that most ids re-sent have been forgotten.
    pub fn expiry() -> Self {
        let window_ms = 400;
        let mut c = Self::default();
        c.timing.retention_ms = window_ms;
        c.workload.retention_ms = window_ms;
        c.workload.duration_ms = 8000;
        c
    }

    /// Learners (issue 13): `n` learners beside the three voters, read from at both levels
    /// by the clients (pinned reads name every node), crashed and cut off by the nemesis.
    pub fn learners(mut self, n: u64) -> Self {
        self.learners = n;
        self
    }

    /// Voters and learners.
    pub fn all_nodes(&self) -> u64 {
        self.nodes + self.learners
    }

    /// The same run with the deliberately broken node: linearizable reads served from the
    /// local replica without a read index.
    pub fn broken(mut self) -> Self {
        self.faults.skip_read_index = true;
        self
    }
}
