//! The leader's side of retention: while this node leads, it proposes
//! [`Command::Expire`] entries stamped with its wall clock whenever settled records are
//! waiting for a stamp or have come due, so every replica forgets the same records at the
//! same log index (docs/design.md, "Retention"). Followers and learners never propose one.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use raft_store::Command;
use tokio_util::sync::CancellationToken;

use crate::raft_node::CatalogNode;

thread_local! {
    /// A clock that replaces the machine's on this thread (see [`set_thread_clock`]).
    static CLOCK: std::cell::Cell<Option<fn() -> u64>> = const { std::cell::Cell::new(None) };
}

/// Makes [`now_ms`] read `clock` on this thread (`None`: the machine's clock again).
///
/// Deterministic simulations run every node on one thread with simulated time; the wall
/// clock there would make expiry depend on how fast the machine runs the simulation. As
/// `raft_store::runtime::seed_thread_rng`, it is per thread so parallel runs do not meet.
pub fn set_thread_clock(clock: Option<fn() -> u64>) {
    CLOCK.with(|c| c.set(clock));
}

/// Milliseconds since the Unix epoch by this machine's clock (0 if it is set before 1970),
/// or by the clock [`set_thread_clock`] put on this thread.
pub fn now_ms() -> u64 {
    if let Some(clock) = CLOCK.with(std::cell::Cell::get) {
        return clock();
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// How often the leader looks for work: a tenth of the window, between 10 ms and 1 s. A
/// record is stamped at most one period after it settled, so it is forgotten between one
/// window and one window plus two periods after settling.
pub fn period(retention: Duration) -> Duration {
    (retention / 10).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Proposes `Expire` entries while this node leads, until `cancel`. Does nothing with a
/// window of zero (records kept forever).
pub async fn expire_when_leading(
    node: Arc<CatalogNode>,
    retention: Duration,
    cancel: CancellationToken,
) {
    let Ok(retention_ms) = u64::try_from(retention.as_millis()) else {
        return;
    };
    if retention_ms == 0 {
        return;
    }
    let every = period(retention);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        // One entry stamps what settled since the last; each forgets a bounded share, so
        // keep proposing while stamped records are still due (not while new ones settle:
        // they wait for the next period).
        let mut first = true;
        loop {
            if node.leader() != Some(node.id()) {
                break;
            }
            let now_ms = now_ms();
            let due = {
                let st = node.state_machine().read();
                let r = &st.catalog.retention;
                if first {
                    r.due(now_ms, retention_ms)
                } else {
                    r.due_to_forget(now_ms, retention_ms)
                }
            };
            if !due {
                break;
            }
            first = false;
            let cmd = Command::Expire {
                now_ms,
                retention_ms,
            };
            let applied = tokio::select! {
                () = cancel.cancelled() => return,
                r = node.write(cmd) => r,
            };
            if let Err(e) = applied {
                tracing::debug!(error = %e, "expiry not proposed; will try again");
                break;
            }
        }
    }
}
