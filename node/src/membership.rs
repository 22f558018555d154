//! Who belongs to the cluster, and what a change to that may do.
//!
//! - **Learners** replicate the log and serve reads but never vote, so a learner that dies or
//!   lags slows no write: commits and read-index rounds need a quorum of *voters* only. A node
//!   started with a [`JoinAs`] asks any member's RPC port (`/raft/join`) to add it, once, as
//!   soon as it starts and until it sees itself in the membership.
//! - **Strict reconfiguration** ([`CatalogNode::check_voters`]), as etcd's
//!   `--strict-reconfig-check`: the leader refuses a change of voters after which the voters
//!   it has been in contact with during the last [`ACTIVE_WITHIN`] could not form a quorum —
//!   removing a healthy voter while another is down would leave the cluster one failure from
//!   standing still.
//! - **Removal** ([`CatalogNode::removed`]): openraft does not tell a removed node that it was
//!   removed (the leader stops replicating to it once the change is decided, so a removed
//!   follower may never see the entry that removes it). A node that hears nothing from a
//!   leader for [`ACTIVE_WITHIN`], or whose own membership leaves it out, asks the nodes it
//!   knows for theirs ([`watch_standing`]); if the newest membership (by the id of the log
//!   entry that set it, its own included) leaves it out, it answers 503 `not_a_member`
//!   naming the members, and `/cluster/status` calls it `removed`.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use confeitaria_types::{MemberRole, Membership, NodeAddr, NovoMembro};
use openraft::ServerState;
use raft_store::NodeId;
use tokio_util::sync::CancellationToken;

use crate::raft_node::CatalogNode;
use crate::rpc::wire::{route, JoinResponse, MembershipView};
use crate::standing::describe;

/// A voter the leader heard from within this long counts as active for the strict
/// reconfiguration check; a node that heard from no leader for this long asks its peers
/// whether it is still a member. About 30 heartbeats of `cluster.toml`'s timing, six of its
/// longest election timeouts.
pub const ACTIVE_WITHIN: Duration = Duration::from_secs(1);

/// How a node that is not yet a member joins at start-up.
#[derive(Debug, Clone)]
pub struct JoinAs {
    /// `voter` or `learner`.
    pub role: MemberRole,
    /// This node's addresses, as the others reach it.
    pub addr: NodeAddr,
    /// RPC addresses of nodes to ask, in order (any member will do).
    pub seeds: Vec<String>,
}

impl CatalogNode {
    /// This node's own effective membership.
    pub fn membership_view(&self) -> MembershipView {
        let m = self.raft().metrics();
        let m = m.borrow();
        let stored = &m.membership_config;
        let mm = stored.membership();
        let voters: BTreeSet<NodeId> = mm.voter_ids().collect();
        MembershipView {
            log_id: *stored.log_id(),
            membership: Membership {
                voters: voters.iter().copied().collect(),
                learners: mm.learner_ids().collect(),
                nodes: mm.nodes().map(|(id, n)| (*id, n.clone())).collect(),
            },
        }
    }

    /// The newest membership this node knows: its own, or a peer's that is newer.
    pub fn newest_membership(&self) -> MembershipView {
        let own = self.membership_view();
        match self.standing().seen() {
            Some(seen) if seen.log_id > own.log_id => seen,
            _ => own,
        }
    }

    /// The membership that left this node out, if it was removed.
    pub fn removed(&self) -> Option<Membership> {
        if self.standing().joining.load(Ordering::Relaxed) {
            return None;
        }
        let newest = self.newest_membership();
        let out = newest.log_id.is_some()
            && !newest.membership.nodes.is_empty()
            && !newest.membership.contains(self.id());
        out.then_some(newest.membership)
    }

    /// The voters (this leader among them) heard from within [`ACTIVE_WITHIN`].
    fn active_voters(&self, voters: &BTreeSet<NodeId>) -> BTreeSet<NodeId> {
        voters
            .iter()
            .copied()
            .filter(|v| {
                *v == self.id()
                    || self
                        .contacts()
                        .millis_since(*v)
                        .is_some_and(|ms| u128::from(ms) < ACTIVE_WITHIN.as_millis())
            })
            .collect()
    }

    /// As leader: refuses a change to `new_voters` unless the voters it is in contact with
    /// form a quorum of them (the strict reconfiguration check); `joining` is a node that has
    /// just caught up and counts as active. The reason names the voters out of contact.
    pub fn check_voters(
        &self,
        new_voters: &BTreeSet<NodeId>,
        joining: Option<NodeId>,
    ) -> Result<(), String> {
        if new_voters.is_empty() {
            return Err("the cluster cannot be left without voters".into());
        }
        let mut active = self.active_voters(new_voters);
        active.extend(joining);
        let quorum = new_voters.len() / 2 + 1;
        if active.len() >= quorum {
            return Ok(());
        }
        let silent: Vec<String> = new_voters
            .difference(&active)
            .map(|v| v.to_string())
            .collect();
        Err(format!(
            "after this change the voters would be {}, a quorum of which is {quorum}, but only {} \
             answered the leader in the last {} ms (silent: {}); bring the silent voters back \
             first",
            join(new_voters.iter()),
            active.len(),
            ACTIVE_WITHIN.as_millis(),
            silent.join(", ")
        ))
    }
}

fn join<T: ToString>(it: impl Iterator<Item = T>) -> String {
    it.map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
}

/// Until `cancel`: while this node is not in contact with a leader that counts it a member,
/// asks the nodes it knows for their membership every half [`ACTIVE_WITHIN`] and keeps the
/// newest one that is newer than its own (see the module's documentation).
pub async fn watch_standing(node: Arc<CatalogNode>, cancel: CancellationToken) {
    let mut every = tokio::time::interval(ACTIVE_WITHIN / 2);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        let own = node.membership_view();
        let me = node.id();
        let (state, leader) = {
            let m = node.raft().metrics();
            let m = m.borrow();
            (m.state, m.current_leader)
        };
        let in_touch = match leader {
            Some(l) if l == me => state == ServerState::Leader,
            Some(l) => node
                .contacts()
                .millis_since(l)
                .is_some_and(|ms| u128::from(ms) < ACTIVE_WITHIN.as_millis()),
            None => false,
        };
        if in_touch && own.membership.contains(me) {
            node.standing().set_seen(None);
            continue;
        }
        let mut asks = tokio::task::JoinSet::new();
        for (id, addr) in &own.membership.nodes {
            if *id == me {
                continue;
            }
            let (rpc, addr) = (node.rpc_client().clone(), addr.rpc_addr.clone());
            asks.spawn(async move {
                rpc.call::<_, MembershipView>(&addr, route::MEMBERSHIP, &(), ACTIVE_WITHIN / 2)
                    .await
                    .ok()
            });
        }
        let mut newest: Option<MembershipView> = None;
        while let Some(answer) = asks.join_next().await {
            if let Ok(Some(v)) = answer {
                if v.log_id > own.log_id && newest.as_ref().is_none_or(|n| v.log_id > n.log_id) {
                    newest = Some(v);
                }
            }
        }
        if let Some(v) = &newest {
            if !v.membership.contains(me) && node.removed().is_none() {
                tracing::warn!(
                    members = %describe(&v.membership),
                    "this node was removed from the membership"
                );
            }
        }
        node.standing().set_seen(newest);
    }
}

/// Until this node is a member (or `cancel`): asks the seeds, in turn, to add it with
/// `join.role`, then waits to see itself in the membership it replicates.
pub async fn join_cluster(node: Arc<CatalogNode>, join: JoinAs, cancel: CancellationToken) {
    let me = node.id();
    let is_member = |node: &CatalogNode| node.membership_view().membership.contains(me);
    if is_member(&node) || join.seeds.is_empty() {
        return;
    }
    node.standing().joining.store(true, Ordering::Relaxed);
    let req = NovoMembro {
        id: me,
        api_addr: join.addr.api_addr.clone(),
        rpc_addr: join.addr.rpc_addr.clone(),
        role: join.role,
    };
    let mut pause = Duration::from_millis(100);
    'outer: loop {
        for seed in join.seeds.iter().cycle().take(join.seeds.len()) {
            let asked = node.rpc_client().call::<_, JoinResponse>(
                seed,
                route::JOIN,
                &req,
                Duration::from_secs(10),
            );
            let answer = tokio::select! {
                _ = cancel.cancelled() => break 'outer,
                a = asked => a,
            };
            match answer {
                Ok(JoinResponse::Joined) => {
                    tracing::info!(via = %seed, role = ?join.role, "joined the cluster");
                    let mut rx = node.raft().metrics();
                    let seen = tokio::time::timeout(Duration::from_secs(30), async {
                        while !is_member(&node) {
                            if rx.changed().await.is_err() {
                                return;
                            }
                        }
                    });
                    tokio::select! {
                        _ = cancel.cancelled() => break 'outer,
                        _ = seen => {}
                    }
                    if is_member(&node) {
                        break 'outer;
                    }
                }
                Ok(JoinResponse::Failed(why)) => {
                    tracing::warn!(via = %seed, %why, "join refused; will retry");
                }
                Err(e) => tracing::debug!(via = %seed, error = %e, "join: seed unreachable"),
            }
        }
        // Every seed was asked: wait before the next round, 100 ms doubling to 2 s.
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(2));
    }
    node.standing().joining.store(false, Ordering::Relaxed);
}
