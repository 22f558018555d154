//! When this node last heard from each peer: stamped by every RPC answer (and, on a
//! follower, by the leader's appends), read by the strict reconfiguration check and
//! `/cluster/status`.

use std::collections::BTreeMap;

use raft_store::NodeId;
use tokio::time::Instant;

/// When each peer last answered (or, for the leader, last sent to us).
#[derive(Debug, Default)]
pub struct Contacts {
    // A std mutex: held only to read or stamp one entry, never across an `.await`.
    last: std::sync::Mutex<BTreeMap<NodeId, Instant>>,
}

impl Contacts {
    /// Records contact with `id` now.
    pub fn touch(&self, id: NodeId) {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Instant::now());
    }

    /// Milliseconds since the last contact with `id`, if there was one.
    pub fn millis_since(&self, id: NodeId) -> Option<u64> {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .map(|t| t.elapsed().as_millis() as u64)
    }
}
