//! One leader kill and its recovery ([`Round`]), as `chaos kill-leader` measures it on the
//! catalog (`crate::chaos`) or on a local etcd cluster (`crate::bench::etcd_kills`).

use serde::Serialize;

/// One kill and its recovery.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// 1-based.
    pub round: u32,
    /// The node killed.
    pub killed: u64,
    /// The node that took over.
    pub new_leader: u64,
    /// Kill to a new leader, ms.
    pub to_leader_ms: f64,
    /// Kill to the first write acknowledged by the new leader, ms.
    pub to_write_ms: f64,
    /// Restart to caught up, ms.
    pub catch_up_ms: f64,
    /// Writes acknowledged during the round.
    pub acked: u64,
    /// Writes that failed during the round.
    pub failed: u64,
    /// From the previous round's catch-up to this round's kill, ms (0 in the first round).
    pub gap_ms: f64,
}
