//! Prometheus text metrics: request counts by route and status, and the node's Raft state.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::raft_node::CatalogNode;

/// Request counters.
#[derive(Debug, Default)]
pub struct Metrics {
    // A std mutex: held only to bump or copy counters, never across an `.await`.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
}

impl Metrics {
    /// Counts one request.
    pub fn count(&self, method: &str, route: &str, status: u16) {
        let mut m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
    }

    /// The exposition text.
    pub fn render(&self, node: &CatalogNode) -> String {
        let mut out = String::new();
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let _ = writeln!(out, "# TYPE catalog_http_requests_total counter");
        for ((method, route, status), n) in requests {
            let _ = writeln!(
                out,
                "catalog_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let st = node.status();
        let gauges = [
            ("catalog_raft_term", Some(st.term)),
            (
                "catalog_raft_is_leader",
                Some(u64::from(st.leader == Some(st.id))),
            ),
            ("catalog_raft_leader_id", st.leader),
            ("catalog_raft_commit_index", st.commit_index),
            ("catalog_raft_applied_index", st.applied_index),
            ("catalog_raft_last_log_index", st.last_log_index),
            (
                "catalog_raft_voters",
                Some(st.membership.voters.len() as u64),
            ),
        ];
        for (name, v) in gauges {
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {}", v.unwrap_or(0));
        }
        let stats = node.log.stats();
        let appends = stats.appends.load(std::sync::atomic::Ordering::Relaxed);
        let entries = stats.entries.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# TYPE catalog_log_appends_total counter\ncatalog_log_appends_total {appends}"
        );
        let _ = writeln!(
            out,
            "# TYPE catalog_log_entries_total counter\ncatalog_log_entries_total {entries}"
        );
        let split = node
            .split_vote_elections
            .load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# TYPE catalog_raft_split_vote_elections_total counter\ncatalog_raft_split_vote_elections_total {split}"
        );
        let gone = node
            .leader_gone_elections
            .load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# TYPE catalog_raft_leader_gone_elections_total counter\ncatalog_raft_leader_gone_elections_total {gone}"
        );
        let left = node
            .retries_left_to_longer_logs
            .load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# TYPE catalog_raft_retries_left_to_longer_logs_total counter\ncatalog_raft_retries_left_to_longer_logs_total {left}"
        );
        let products = node.sm.read().catalog.doces.len();
        let _ = writeln!(
            out,
            "# TYPE catalog_products gauge\ncatalog_products {products}"
        );
        out
    }
}
