//! Elections sooner than openraft 0.9's timers call them, in two cases where waiting only
//! costs time. Calling an election is always safe in Raft (a node grants one vote per term,
//! and only to a log at least as long as its own); these tasks decide *when*, never *who
//! wins*.
//!
//! **The leader is gone** ([`elect_when_leader_gone`]). openraft 0.9 lets a follower elect
//! only after the leader lease (= the maximum election timeout) plus its own election timeout
//! without a heartbeat, and a voter refuses every vote inside its lease: 240–320 ms with
//! `cluster.toml`'s timing, whatever the cause. A killed process closes its sockets at once,
//! so when a follower has not heard from the leader for two heartbeats it connects to the
//! leader's RPC port, and if the connection is *refused* (nothing listens there: the process
//! is gone — a partition or a slow leader gives a timeout, and changes nothing) it calls an
//! election at once. Both followers see the same silence, so both usually call one: their
//! votes are then no longer committed to the dead leader, which ends their leases, and the
//! split-vote retry below elects one of them a few tens of milliseconds later.
//!
//! **A term lost to a split vote** ([`break_split_votes`]). With `single-term-leader` a node
//! grants one vote per term, so candidates that start in the same instant split the vote and
//! must try again at different times. openraft 0.9 draws each node's election timeout once,
//! when the node starts, and checks it only on its tick (every 1.5 heartbeats), so two nodes
//! whose timeouts fall on the same tick can start together term after term — the simulation
//! found clusters that never elected a leader (seeds 277 and 622). Raft's remedy is a timeout
//! drawn anew each time (§5.2): once a term is lost (this node is still a candidate, nobody
//! leads), this task waits a random time between one heartbeat and the minimum election
//! timeout, then, if that term is still lost, starts the next election itself. It first asks
//! the other voters for the last id of their logs: if one is longer, this node cannot win
//! (that voter refuses it) and every term it starts only outbids the voter that can — which,
//! after adopting the higher term, waits a whole election timeout before trying again, while
//! this node has moved on to the next term: the slow failovers of issue 16
//! (`docs/architecture.md`, "Failover"). So it leaves the next election to that voter. The
//! draw uses the runtime's seeded generator, so simulations replay.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use raft_store::runtime::ThreadRng;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::raft_node::CatalogNode;
use crate::rpc::client::RpcError;
use crate::rpc::wire::{route, LogPosition};

/// The delay before calling an election after a lost term, drawn from
/// `[heartbeat, election_min)` in microseconds.
pub fn retry_delay(heartbeat_ms: u64, election_min_ms: u64, rng: &mut impl Rng) -> Duration {
    let lo = heartbeat_ms.saturating_mul(1000);
    let hi = election_min_ms.saturating_mul(1000).max(lo + 1);
    Duration::from_micros(rng.gen_range(lo..hi))
}

/// True if a voter that answered within `deadline` has a longer log than this node's.
pub async fn a_peer_has_a_longer_log(node: &CatalogNode, deadline: Duration) -> bool {
    let mine = node.last_log_id().await;
    let mut asks = tokio::task::JoinSet::new();
    for (_, addr) in node.peers() {
        let rpc = node.rpc_client().clone();
        asks.spawn(async move {
            rpc.call::<_, LogPosition>(&addr, route::LOG_STATE, &(), deadline)
                .await
                .ok()
        });
    }
    while let Some(answer) = asks.join_next().await {
        if let Ok(Some(p)) = answer {
            if p.last_log_id > mine {
                return true;
            }
        }
    }
    false
}

/// Watches `node`'s Raft until `cancel` and calls an election whenever a term is lost (see
/// the module's documentation), counting them in `node.elections().split_vote`, and the
/// retries left to a voter with a longer log in `node.elections().left_to_longer_logs`.
pub async fn break_split_votes(
    node: Arc<CatalogNode>,
    heartbeat_ms: u64,
    election_min_ms: u64,
    cancel: CancellationToken,
) {
    let raft = &node.raft();
    let mut rx = raft.metrics();
    let ask_deadline = Duration::from_millis(heartbeat_ms.max(1));
    loop {
        let lost = {
            let m = rx.borrow_and_update();
            (m.state == ServerState::Candidate && m.current_leader.is_none())
                .then_some(m.current_term)
        };
        // A node removed from the membership has no election to win.
        let lost = lost.filter(|_| node.removed().is_none());
        if let Some(term) = lost {
            let delay = retry_delay(heartbeat_ms, election_min_ms, &mut ThreadRng);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            let still_lost = |m: &openraft::RaftMetrics<_, _>| {
                m.state == ServerState::Candidate
                    && m.current_leader.is_none()
                    && m.current_term == term
            };
            if !still_lost(&raft.metrics().borrow()) {
                continue;
            }
            let longer = tokio::select! {
                _ = cancel.cancelled() => return,
                l = a_peer_has_a_longer_log(&node, ask_deadline) => l,
            };
            if longer {
                tracing::debug!(
                    term,
                    "term lost; a voter has a longer log, leaving it the next election"
                );
                node.elections()
                    .left_to_longer_logs
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if still_lost(&raft.metrics().borrow()) {
                tracing::debug!(
                    term,
                    ?delay,
                    "term lost to a split vote; calling an election"
                );
                node.elections().split_vote.fetch_add(1, Ordering::Relaxed);
                if raft.trigger().elect().await.is_err() {
                    return; // Raft has stopped
                }
            }
            continue;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = rx.changed() => if changed.is_err() { return },
        }
    }
}

/// Watches `node` until `cancel`: when it follows a leader it has not heard from for two
/// heartbeats, connects to the leader's RPC port (within one heartbeat), and if the
/// connection is refused calls an election at once, counting it in
/// `node.elections().leader_gone` (see the module's documentation).
pub async fn elect_when_leader_gone(
    node: Arc<CatalogNode>,
    heartbeat_ms: u64,
    cancel: CancellationToken,
) {
    let hb = Duration::from_millis(heartbeat_ms.max(1));
    let silence = 2 * heartbeat_ms.max(1);
    let mut every = tokio::time::interval(hb / 2);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        let (leader, term) = {
            let m = node.raft().metrics();
            let m = m.borrow();
            match (m.state, m.current_leader) {
                (ServerState::Follower, Some(l)) if l != node.id() => (l, m.current_term),
                _ => continue,
            }
        };
        if node
            .contacts()
            .millis_since(leader)
            .is_some_and(|ms| ms < silence)
        {
            continue;
        }
        let Some(addr) = node
            .peers()
            .into_iter()
            .find(|(id, _)| *id == leader)
            .map(|(_, a)| a)
        else {
            continue;
        };
        let probe =
            node.rpc_client()
                .call_fresh::<_, LogPosition>(&addr, route::LOG_STATE, &(), hb);
        let refused = tokio::select! {
            _ = cancel.cancelled() => return,
            r = probe => matches!(r, Err(RpcError::Unreachable(_))),
        };
        if !refused {
            continue;
        }
        let m = node.raft().metrics().borrow().clone();
        if m.state == ServerState::Follower
            && m.current_leader == Some(leader)
            && m.current_term == term
        {
            tracing::info!(
                leader,
                term,
                "the leader's RPC port refuses connections; calling an election"
            );
            node.elections().leader_gone.fetch_add(1, Ordering::Relaxed);
            if node.raft().trigger().elect().await.is_err() {
                return; // Raft has stopped
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn delays_fall_between_a_heartbeat_and_the_minimum_election_timeout_and_vary() {
        let mut rng = StdRng::seed_from_u64(7);
        let ds: Vec<Duration> = (0..200).map(|_| retry_delay(30, 80, &mut rng)).collect();
        assert!(ds
            .iter()
            .all(|d| *d >= Duration::from_millis(30) && *d < Duration::from_millis(80)));
        let distinct: std::collections::BTreeSet<_> = ds.iter().collect();
        assert!(
            distinct.len() > 150,
            "draws repeat: {} distinct",
            distinct.len()
        );
        // A degenerate configuration still gives a valid range.
        assert_eq!(retry_delay(50, 50, &mut rng), Duration::from_millis(50));
    }
}
