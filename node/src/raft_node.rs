//! [`CatalogNode`]: one Raft member with its store, and the paths a request takes through it.
//!
//! - A write is proposed locally when this node leads; otherwise it is forwarded to the leader
//!   over the RPC port and answered as if the leader had received it. With no leader known,
//!   the node waits up to `leader_wait`, then answers 503.
//! - A linearizable read on the leader confirms leadership with a quorum (read index) and
//!   waits for it to apply; on a follower it asks the leader for that index and waits until
//!   its own replica has applied it, then reads locally. A local read reads at once.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use confeitaria_client::config::Secret;
use confeitaria_types::{ClusterStatus, MemberRole, NodeAddr, NovoMembro, Role};
use openraft::error::RaftError;
use openraft::{ChangeMembers, Raft, ServerState};
use raft_store::catalog::CatalogState;
use raft_store::log_store::AppendStats;
use raft_store::{Command, CommandOutput, NodeId, StateMachineStore, TypeConfig};
use tokio::time::Instant;

use crate::batch::WriteBatcher;
use crate::coalesce::Coalescer;
use crate::contacts::Contacts;
use crate::error::ApiError;
use crate::rpc::client::{RpcClient, RpcError};
use crate::rpc::wire::{route, ForwardRequest, ForwardResponse, ReadIndexResponse};
use crate::standing::Standing;
use crate::timings::RaftTimings;

/// What a node is told at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This node's id.
    pub id: NodeId,
    /// Secret every RPC carries.
    pub cluster_secret: Secret,
    /// Key for admin and service JWTs.
    pub jwt_secret: Secret,
    /// How long a request waits for a leader before 503.
    pub leader_wait: Duration,
    /// Deadline of one forwarded request.
    pub forward_timeout: Duration,
    /// Deliberate bugs, for proving that the simulation checkers catch them. Never set in
    /// production.
    pub faults: Faults,
}

/// Deliberate bugs a test can switch on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Serve `linearizable` reads from the local replica without a read index (stale reads).
    pub skip_read_index: bool,
}

/// Where a write was executed, for the response headers.
#[derive(Debug, Clone, Copy)]
pub struct Served {
    /// The leader that applied it.
    pub leader: NodeId,
}

/// A Raft member and its state machine. Built once by [`CatalogNode::new`]; callers use its
/// methods, never its parts.
pub struct CatalogNode {
    /// The openraft handle.
    raft: Raft<TypeConfig>,
    /// The applied catalog.
    sm: StateMachineStore,
    /// Start-up settings.
    settings: Settings,
    /// Client for the peers' RPC ports.
    rpc: RpcClient,
    /// The log store, for the persisted committed index.
    log: raft_store::LogStore,
    /// Last contact with each peer.
    contacts: Arc<Contacts>,
    /// Writes waiting to be proposed together (group commit) on this node as leader.
    writes: Arc<WriteBatcher>,
    /// Read-index rounds on this node as leader, shared by concurrent reads.
    local_reads: Arc<Coalescer<ReadIndexResponse>>,
    /// Read-index requests to the leader, shared by concurrent reads on this follower.
    remote_reads: Arc<Coalescer<Option<ReadIndexResponse>>>,
    /// Elections this node called itself, and retries it left to a longer log.
    elections: ElectionCounters,
    /// The Raft-side histograms (read-index rounds and forwards are observed here).
    timings: RaftTimings,
    /// Whether this node is joining, and the newest membership its peers showed it.
    standing: Standing,
}

/// Elections this node called itself, and retries it left to a peer (see
/// [`crate::election`]); exported as counters by [`crate::metrics`].
#[derive(Debug, Default)]
pub struct ElectionCounters {
    /// Elections called after a split vote.
    pub split_vote: AtomicU64,
    /// Elections called because the leader's RPC port refused.
    pub leader_gone: AtomicU64,
    /// Retries after a split vote skipped because a peer's log was longer.
    pub left_to_longer_logs: AtomicU64,
}

/// The parts a [`CatalogNode`] is made of, opened and started by [`crate::start`].
pub struct NodeParts {
    /// The started openraft member.
    pub raft: Raft<TypeConfig>,
    /// Its state machine.
    pub sm: StateMachineStore,
    /// Its log store.
    pub log: raft_store::LogStore,
    /// Start-up settings.
    pub settings: Settings,
    /// The client its network sends through.
    pub rpc: RpcClient,
    /// The contacts its network stamps.
    pub contacts: Arc<Contacts>,
    /// The Raft-side histograms (the stores observe into them too).
    pub timings: RaftTimings,
}

fn role_of(s: ServerState) -> Role {
    match s {
        ServerState::Leader => Role::Leader,
        ServerState::Follower => Role::Follower,
        ServerState::Candidate => Role::Candidate,
        ServerState::Learner => Role::Learner,
        ServerState::Shutdown => Role::Shutdown,
    }
}

impl std::fmt::Debug for NodeParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeParts")
            .field("id", &self.settings.id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CatalogNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogNode")
            .field("id", &self.settings.id)
            .finish_non_exhaustive()
    }
}

impl CatalogNode {
    /// A node over `parts`, with empty write and read queues.
    pub fn new(parts: NodeParts) -> Self {
        let NodeParts {
            raft,
            sm,
            log,
            settings,
            rpc,
            contacts,
            timings,
        } = parts;
        Self {
            raft,
            sm,
            settings,
            rpc,
            log,
            contacts,
            writes: Arc::default(),
            local_reads: Arc::default(),
            remote_reads: Arc::default(),
            elections: ElectionCounters::default(),
            timings,
            standing: Standing::default(),
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.settings.id
    }

    /// The openraft member: its metrics, triggers and shutdown, and the RPC server's
    /// delivery of Raft messages.
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    /// The state machine (the applied catalog, the snapshot's size).
    pub fn state_machine(&self) -> &StateMachineStore {
        &self.sm
    }

    /// Reads the applied catalog with `f`, and returns what it read with the index of the
    /// last entry applied (0 before any).
    pub fn read_applied<T>(&self, f: impl FnOnce(&CatalogState) -> T) -> (T, u64) {
        let st = self.sm.read();
        (
            f(&st.catalog),
            st.last_applied.map(|l| l.index).unwrap_or(0),
        )
    }

    /// The log store's append counters.
    pub fn log_stats(&self) -> &AppendStats {
        self.log.stats()
    }

    /// The key admin and service JWTs are signed with.
    pub fn jwt_secret(&self) -> &Secret {
        &self.settings.jwt_secret
    }

    /// The secret every RPC carries.
    pub fn cluster_secret(&self) -> &Secret {
        &self.settings.cluster_secret
    }

    /// The client for the peers' RPC ports.
    pub fn rpc_client(&self) -> &RpcClient {
        &self.rpc
    }

    /// When each peer last answered.
    pub fn contacts(&self) -> &Contacts {
        &self.contacts
    }

    /// What this node learnt of its own membership from its peers.
    pub fn standing(&self) -> &Standing {
        &self.standing
    }

    /// Elections this node called itself.
    pub fn elections(&self) -> &ElectionCounters {
        &self.elections
    }

    /// The leader this node currently knows, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// The id of the last entry of this node's log (as stored).
    pub async fn last_log_id(&self) -> Option<openraft::LogId<NodeId>> {
        use openraft::storage::RaftLogStorage;
        let mut log = self.log.clone();
        log.get_log_state().await.ok().and_then(|s| s.last_log_id)
    }

    /// The voters other than this node, with their RPC addresses.
    pub fn peers(&self) -> Vec<(NodeId, String)> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        membership
            .nodes()
            .filter(|(id, _)| **id != self.settings.id && voters.contains(id))
            .map(|(id, n)| (*id, n.rpc_addr.clone()))
            .collect()
    }

    fn rpc_addr_of(&self, id: NodeId) -> Option<String> {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.rpc_addr.clone())
    }

    /// Waits until a leader is known, or the deadline passes.
    async fn await_leader(&self, end: Instant) -> Result<NodeId, ApiError> {
        let mut rx = self.raft.metrics();
        loop {
            if let Some(l) = rx.borrow_and_update().current_leader {
                return Ok(l);
            }
            match tokio::time::timeout_at(end, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(ApiError::Unavailable("raft stopped".into())),
                Err(_) => return Err(ApiError::NoLeader),
            }
        }
    }

    /// Pauses before asking for the leader again after `tried` failed: the backoff, cut short
    /// as soon as the metrics name another leader, so a request waiting out an election is
    /// sent to the new leader at once rather than up to 100 ms later.
    async fn pause_for_leader(
        &self,
        backoff: &mut Backoff,
        tried: NodeId,
        end: Instant,
    ) -> Result<(), ApiError> {
        let mut rx = self.raft.metrics();
        let another = async move {
            loop {
                if rx
                    .borrow_and_update()
                    .current_leader
                    .is_some_and(|l| l != tried)
                {
                    return;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            r = backoff.pause(end) => r,
            () = another => Ok(()),
        }
    }

    /// Proposes `cmd` through the leader and returns its result once applied.
    pub async fn write(&self, cmd: Command) -> Result<(CommandOutput, Served), ApiError> {
        cmd.validate()?;
        let retry_safe = cmd.retry_safe();
        let req = ForwardRequest::Write(cmd);
        match self.submit(req, retry_safe).await? {
            (ForwardResponse::Applied(r), served) => Ok((r?, served)),
            (ForwardResponse::Failed(m), _) => Err(ApiError::Unavailable(m)),
            (other, _) => Err(ApiError::Internal(format!("unexpected answer {other:?}"))),
        }
    }

    /// Sends a request to the leader (this node or a peer), following leader changes until
    /// `leader_wait` runs out. A request that may have reached a leader is sent again only if
    /// `retry_safe`.
    async fn submit(
        &self,
        req: ForwardRequest,
        retry_safe: bool,
    ) -> Result<(ForwardResponse, Served), ApiError> {
        let end = Instant::now() + self.settings.leader_wait;
        let mut backoff = Backoff::default();
        loop {
            let leader = self.await_leader(end).await?;
            if leader == self.settings.id {
                match self.serve_forwarded(req.clone()).await {
                    ForwardResponse::NotLeader(_) => {
                        self.pause_for_leader(&mut backoff, leader, end).await?;
                        continue;
                    }
                    resp => return Ok((resp, Served { leader })),
                }
            }
            let Some(addr) = self.rpc_addr_of(leader) else {
                return Err(ApiError::Unavailable(format!(
                    "leader {leader} has no address"
                )));
            };
            let budget = self
                .settings
                .forward_timeout
                .min(end.saturating_duration_since(Instant::now()));
            let started = Instant::now();
            let forwarded = self
                .rpc
                .call::<_, ForwardResponse>(&addr, route::FORWARD, &req, budget)
                .await;
            self.timings
                .forward
                .observe(started.elapsed().as_secs_f64());
            match forwarded {
                Ok(ForwardResponse::NotLeader(_)) | Err(RpcError::Unreachable(_)) => {}
                Ok(resp) => return Ok((resp, Served { leader })),
                Err(e) if retry_safe => {
                    tracing::debug!(leader, error = %e, "forward failed, retrying");
                }
                Err(e) => return Err(ApiError::Unavailable(format!("forward to {leader}: {e}"))),
            }
            // The leader we knew is gone, deposed or slow: ask again shortly, by then the
            // metrics may name another one.
            self.pause_for_leader(&mut backoff, leader, end).await?;
        }
    }

    /// Executes a request on this node as leader, or says it is not the leader.
    pub async fn serve_forwarded(&self, req: ForwardRequest) -> ForwardResponse {
        match req {
            ForwardRequest::Write(cmd) => self.writes.submit(&self.raft, cmd).await,
            ForwardRequest::AddMember(m) => self.add_as_leader(m).await,
            ForwardRequest::RemoveMember(id) => self.remove_as_leader(id).await,
        }
    }

    /// As leader: adds `m` with its role. A learner is added without waiting for it to
    /// catch up; a voter is first added as a learner until it has caught up, then promoted
    /// if the strict reconfiguration check allows it.
    async fn add_as_leader(&self, m: NovoMembro) -> ForwardResponse {
        let current = self.membership_view().membership;
        let is_voter = current.voters.contains(&m.id);
        if m.role == MemberRole::Learner && is_voter {
            return ForwardResponse::Refused(format!(
                "node {} is a voter; remove it before adding it as a learner",
                m.id
            ));
        }
        let node = NodeAddr {
            api_addr: m.api_addr,
            rpc_addr: m.rpc_addr,
        };
        let blocking = m.role == MemberRole::Voter;
        if let Err(e) = self.raft.add_learner(m.id, node, blocking).await {
            return ForwardResponse::from_raft_error(e);
        }
        if m.role == MemberRole::Learner || is_voter {
            return ForwardResponse::MembershipChanged;
        }
        let mut voters: BTreeSet<NodeId> = current.voters.iter().copied().collect();
        voters.insert(m.id);
        if let Err(why) = self.check_voters(&voters, Some(m.id)) {
            return ForwardResponse::Refused(why);
        }
        let ids: BTreeSet<NodeId> = [m.id].into();
        match self
            .raft
            .change_membership(ChangeMembers::AddVoterIds(ids), false)
            .await
        {
            Ok(_) => ForwardResponse::MembershipChanged,
            Err(e) => ForwardResponse::from_raft_error(e),
        }
    }

    /// As leader: removes node `id`. A learner goes at once; a voter only if the voters left
    /// could still form a quorum of nodes in contact (the strict reconfiguration check).
    async fn remove_as_leader(&self, id: NodeId) -> ForwardResponse {
        if self.raft.metrics().borrow().state != ServerState::Leader {
            return ForwardResponse::NotLeader(self.leader());
        }
        let current = self.membership_view().membership;
        if !current.contains(id) {
            return ForwardResponse::UnknownMember(id);
        }
        let ids: BTreeSet<NodeId> = [id].into();
        let change = if current.voters.contains(&id) {
            let mut voters: BTreeSet<NodeId> = current.voters.iter().copied().collect();
            voters.remove(&id);
            if let Err(why) = self.check_voters(&voters, None) {
                return ForwardResponse::Refused(why);
            }
            ChangeMembers::RemoveVoters(ids)
        } else {
            ChangeMembers::RemoveNodes(ids)
        };
        match self.raft.change_membership(change, false).await {
            Ok(_) => ForwardResponse::MembershipChanged,
            Err(e) => ForwardResponse::from_raft_error(e),
        }
    }

    /// As leader: confirms leadership with a quorum and returns the index a read must see.
    /// Concurrent callers share one confirmation round that began after they arrived.
    pub async fn serve_read_index(&self) -> ReadIndexResponse {
        let raft = self.raft.clone();
        let took = self.timings.read_index.clone();
        self.local_reads
            .join(move || {
                let (raft, took) = (raft.clone(), took.clone());
                async move {
                    let started = Instant::now();
                    let r = read_index_round(&raft).await;
                    took.observe(started.elapsed().as_secs_f64());
                    r
                }
            })
            .await
            .unwrap_or(ReadIndexResponse::NotLeader(None))
    }

    /// Asks the current leader for its read index; concurrent callers share one request that
    /// was sent after they arrived. `None` if the leader could not be asked.
    async fn remote_read_index(&self, end: Instant) -> Option<ReadIndexResponse> {
        let raft = self.raft.clone();
        let rpc = self.rpc.clone();
        let timeout = self.settings.forward_timeout;
        let took = self.timings.read_index.clone();
        self.remote_reads
            .join(move || {
                let (raft, rpc, took) = (raft.clone(), rpc.clone(), took.clone());
                async move {
                    let addr = {
                        let m = raft.metrics();
                        let m = m.borrow();
                        let leader = m.current_leader?;
                        m.membership_config
                            .membership()
                            .get_node(&leader)?
                            .rpc_addr
                            .clone()
                    };
                    let budget = timeout.min(end.saturating_duration_since(Instant::now()));
                    let started = Instant::now();
                    let r = rpc
                        .call::<_, ReadIndexResponse>(&addr, route::READ_INDEX, &(), budget)
                        .await
                        .ok();
                    took.observe(started.elapsed().as_secs_f64());
                    r
                }
            })
            .await
            .flatten()
    }
}

/// One quorum confirmation of leadership: the index a read must wait for.
async fn read_index_round(raft: &Raft<TypeConfig>) -> ReadIndexResponse {
    match raft.get_read_log_id().await {
        Ok((read, _)) => ReadIndexResponse::Index(read.map(|l| l.index)),
        Err(RaftError::APIError(openraft::error::CheckIsLeaderError::ForwardToLeader(f))) => {
            ReadIndexResponse::NotLeader(f.leader_id)
        }
        Err(_) => ReadIndexResponse::NotLeader(None),
    }
}

impl CatalogNode {
    /// Waits until this node's replica reflects every write acknowledged before the call.
    pub async fn linearizable_barrier(&self) -> Result<(), ApiError> {
        if self.settings.faults.skip_read_index {
            return Ok(());
        }
        let end = Instant::now() + self.settings.leader_wait;
        let mut backoff = Backoff::default();
        loop {
            let leader = self.await_leader(end).await?;
            let index = if leader == self.settings.id {
                match self.serve_read_index().await {
                    ReadIndexResponse::Index(i) => Some(i),
                    ReadIndexResponse::NotLeader(_) => None,
                }
            } else {
                match self.remote_read_index(end).await {
                    Some(ReadIndexResponse::Index(i)) => Some(i),
                    _ => None,
                }
            };
            match index {
                Some(None) => return Ok(()),
                Some(Some(i)) => {
                    let wait = end.saturating_duration_since(Instant::now());
                    return self
                        .raft
                        .wait(Some(wait))
                        .applied_index_at_least(Some(i), "linearizable read")
                        .await
                        .map(|_| ())
                        .map_err(|e| ApiError::Unavailable(format!("waiting to apply {i}: {e}")));
                }
                None => {
                    tracing::debug!(leader, "read index unavailable, retrying");
                    self.pause_for_leader(&mut backoff, leader, end).await?;
                }
            }
        }
    }

    /// Adds or removes a member, through the leader.
    pub async fn change_members(&self, req: ForwardRequest) -> Result<(), ApiError> {
        match self.submit(req, true).await? {
            (ForwardResponse::MembershipChanged, _) => Ok(()),
            (ForwardResponse::Failed(m), _) => Err(ApiError::Conflict {
                code: "membership_change_failed".into(),
                message: m,
                doce_id: None,
            }),
            (ForwardResponse::Refused(m), _) => Err(ApiError::Conflict {
                code: "unsafe_reconfiguration".into(),
                message: m,
                doce_id: None,
            }),
            (ForwardResponse::UnknownMember(id), _) => {
                Err(ApiError::NotFound(format!("member {id}")))
            }
            (other, _) => Err(ApiError::Internal(format!("unexpected answer {other:?}"))),
        }
    }

    /// Adds `m` as a voter or a learner.
    pub async fn add_member(&self, m: NovoMembro) -> Result<(), ApiError> {
        self.change_members(ForwardRequest::AddMember(m)).await
    }

    /// The `/cluster/status` document.
    pub fn status(&self) -> ClusterStatus {
        let m = self.raft.metrics().borrow().clone();
        let removed = self.removed();
        let membership = match &removed {
            Some(newest) => newest.clone(),
            None => self.membership_view().membership,
        };
        let nodes = membership.nodes.clone();
        let leader_api_addr = m
            .current_leader
            .and_then(|l| nodes.get(&l))
            .map(|n| n.api_addr.clone());
        let last_contact_ms = nodes
            .keys()
            .filter(|id| **id != m.id)
            .map(|id| (*id, self.contacts.millis_since(*id)))
            .collect();
        ClusterStatus {
            id: m.id,
            role: match removed {
                Some(_) => Role::Removed,
                None => role_of(m.state),
            },
            term: m.current_term,
            leader: m.current_leader,
            leader_api_addr,
            commit_index: self.log.committed_index(),
            applied_index: m.last_applied.map(|l| l.index),
            last_log_index: m.last_log_index,
            membership,
            last_contact_ms,
        }
    }
}

/// Pauses between attempts: 5 ms doubling to 100 ms, never past the deadline.
#[derive(Debug)]
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(5))
    }
}

impl Backoff {
    async fn pause(&mut self, end: Instant) -> Result<(), ApiError> {
        let now = Instant::now();
        if now >= end {
            return Err(ApiError::NoLeader);
        }
        tokio::time::sleep(self.0.min(end - now)).await;
        self.0 = (self.0 * 2).min(Duration::from_millis(100));
        Ok(())
    }
}
