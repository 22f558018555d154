//! The node's metrics: its registry ([`confeitaria_service::metrics::ServiceMetrics`], prefix
//! `catalog`, with the request counter and latency histogram every service has), the Raft-side
//! histograms ([`crate::timings::RaftTimings`]), and the Raft state sampled when scraped ([`sample`]):
//!
//! - histograms `catalog_raft_append_seconds` (a log append: write and flush),
//!   `catalog_raft_apply_seconds` (the state machine applying a batch of entries),
//!   `catalog_read_index_seconds` (one read-index round: the leader's quorum confirmation, or
//!   a follower asking the leader; concurrent linearizable reads share a round),
//!   `catalog_forward_seconds` (one follower→leader forward of a write or membership change);
//! - gauges `catalog_raft_term`, `catalog_raft_is_leader`, `catalog_raft_leader_id`,
//!   `catalog_raft_commit_index`, `catalog_raft_applied_index`, `catalog_raft_last_log_index`,
//!   `catalog_raft_voters`, `catalog_products`, `catalog_raft_snapshot_bytes`,
//!   `catalog_raft_snapshot_lock_longest_microseconds` (the longest a snapshot, built or
//!   installed, held the state lock), `catalog_reservations`, `catalog_refusals_remembered`,
//!   `catalog_settled_retained`, `catalog_settled_forgotten` (a total, decided by the log like the state);
//! - counters `catalog_log_appends_total`, `catalog_log_entries_total`,
//!   `catalog_raft_split_vote_elections_total`, `catalog_raft_leader_gone_elections_total`,
//!   `catalog_raft_retries_left_to_longer_logs_total`.

use std::sync::atomic::{AtomicU64, Ordering};

use confeitaria_service::metrics::ServiceMetrics;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::raft_node::CatalogNode;
use crate::timings::RaftTimings;

/// The node's registry: request metrics and the Raft-side histograms.
#[derive(Debug)]
pub struct Metrics {
    /// The registry.
    pub service: ServiceMetrics,
}

impl Metrics {
    /// A registry with the request metrics and `timings` registered.
    pub fn new(timings: &RaftTimings) -> Self {
        let mut service = ServiceMetrics::new("catalog");
        for (name, help, h) in [
            (
                "raft_append_seconds",
                "Time of one Raft log append: entries written and the database flushed",
                &timings.append,
            ),
            (
                "raft_apply_seconds",
                "Time the state machine took to apply one batch of committed entries",
                &timings.apply,
            ),
            (
                "read_index_seconds",
                "Time of one read-index round (shared by concurrent linearizable reads)",
                &timings.read_index,
            ),
            (
                "forward_seconds",
                "Time of one write forwarded from this follower to the leader",
                &timings.forward,
            ),
        ] {
            service.register(name, help, h.clone());
        }
        Self { service }
    }
}

/// Registers `node`'s Raft state into `now`, when scraped.
pub fn sample(now: &mut Registry, node: &CatalogNode) {
    let st = node.status();
    let (reservas, refusals, retained, forgotten) = {
        let sm = node.state_machine().read();
        let c = &sm.catalog;
        (
            c.reservas.len() as u64,
            c.refusals.len() as u64,
            c.retention.retained() as u64,
            c.retention.forgotten,
        )
    };
    let gauge = |v: u64| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    let gauges = [
        ("raft_term", "Current Raft term", st.term),
        (
            "raft_is_leader",
            "1 when this node leads",
            u64::from(st.leader == Some(st.id)),
        ),
        (
            "raft_leader_id",
            "The leader this node knows (0: none)",
            st.leader.unwrap_or(0),
        ),
        (
            "raft_commit_index",
            "Last committed index this node persisted",
            st.commit_index.unwrap_or(0),
        ),
        (
            "raft_applied_index",
            "Last index applied to the state machine",
            st.applied_index.unwrap_or(0),
        ),
        (
            "raft_last_log_index",
            "Last index in this node's log",
            st.last_log_index.unwrap_or(0),
        ),
        (
            "raft_voters",
            "Voters in the membership",
            st.membership.voters.len() as u64,
        ),
        (
            "products",
            "Products in the applied catalog",
            node.state_machine().read().catalog.doces.len() as u64,
        ),
        (
            "raft_snapshot_bytes",
            "Size of the snapshot this node stores, built or installed (0: none yet)",
            node.state_machine().snapshot_bytes(),
        ),
        (
            "raft_snapshot_lock_longest_microseconds",
            "Longest time a snapshot, built or installed, held the state lock (it blocks \
             applies and reads meanwhile)",
            node.state_machine().snapshot_lock_longest_micros(),
        ),
        (
            "reservations",
            "Reservations in memory: open, confirmed, and settled within the retention window",
            reservas,
        ),
        (
            "refusals_remembered",
            "Refused reservation ids remembered (within the retention window)",
            refusals,
        ),
        (
            "settled_retained",
            "Settled reservations, tombstones and refusals waiting for the retention window",
            retained,
        ),
        (
            "settled_forgotten",
            "Settled records forgotten since the cluster began",
            forgotten,
        ),
    ];
    for (name, help, v) in gauges {
        now.register(name, help, gauge(v));
    }
    let count = |c: &AtomicU64| ConstCounter::new(c.load(Ordering::Relaxed));
    let stats = node.log_stats();
    let counters = [
        ("log_appends", "Flushed log appends", &stats.appends),
        (
            "log_entries",
            "Entries written by log appends",
            &stats.entries,
        ),
        (
            "raft_split_vote_elections",
            "Elections this node called after a split vote",
            &node.elections().split_vote,
        ),
        (
            "raft_leader_gone_elections",
            "Elections this node called because the leader's RPC port refused",
            &node.elections().leader_gone,
        ),
        (
            "raft_retries_left_to_longer_logs",
            "Retries after a split vote skipped because a peer's log was longer",
            &node.elections().left_to_longer_logs,
        ),
    ];
    for (name, help, c) in counters {
        now.register(name, help, count(c));
    }
}
