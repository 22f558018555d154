//! Breaks split votes: calls a new election after a delay drawn afresh for every lost term.
//!
//! With `single-term-leader` a node grants one vote per term, so candidates that start in
//! the same instant split the vote and must try again at different times. openraft 0.9 draws
//! each node's election timeout once, when the node starts, and checks it only on its tick
//! (every 1.5 heartbeats), so two nodes whose timeouts fall on the same tick can start
//! together term after term — the simulation found clusters that never elected a leader
//! (seeds 277 and 622). Raft's remedy is a timeout drawn anew each time (§5.2); this task
//! supplies it: once a term is lost (this node is still a candidate, nobody leads), it
//! waits a random time between one heartbeat — time for the votes in flight — and the
//! minimum election timeout, then, if that term is still lost, starts the next election
//! itself, sooner than openraft's tick would. The draw uses the runtime's seeded generator,
//! so simulations replay.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use raft_store::runtime::ThreadRng;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::raft_node::CatalogNode;

/// The delay before calling an election after a lost term, drawn from
/// `[heartbeat, election_min)` in microseconds.
pub fn retry_delay(heartbeat_ms: u64, election_min_ms: u64, rng: &mut impl Rng) -> Duration {
    let lo = heartbeat_ms.saturating_mul(1000);
    let hi = election_min_ms.saturating_mul(1000).max(lo + 1);
    Duration::from_micros(rng.gen_range(lo..hi))
}

/// Watches `node`'s Raft until `cancel` and calls an election whenever a term is lost (see
/// the module's documentation), counting them in `node.split_vote_elections`.
pub async fn break_split_votes(
    node: Arc<CatalogNode>,
    heartbeat_ms: u64,
    election_min_ms: u64,
    cancel: CancellationToken,
) {
    let raft = &node.raft;
    let mut rx = raft.metrics();
    loop {
        let lost = {
            let m = rx.borrow_and_update();
            (m.state == ServerState::Candidate && m.current_leader.is_none())
                .then_some(m.current_term)
        };
        if let Some(term) = lost {
            let delay = retry_delay(heartbeat_ms, election_min_ms, &mut ThreadRng);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            let m = raft.metrics().borrow().clone();
            if m.state == ServerState::Candidate
                && m.current_leader.is_none()
                && m.current_term == term
            {
                tracing::debug!(
                    term,
                    ?delay,
                    "term lost to a split vote; calling an election"
                );
                node.split_vote_elections.fetch_add(1, Ordering::Relaxed);
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
