//! Retention: settled reservations, release tombstones and remembered refusals are forgotten
//! after a window, identically on every replica (docs/design.md, "Retention").
//!
//! A record is *settled* when nothing can change it any more: a released reservation (or a
//! release tombstone), a confirmed reservation closed by [`Command::Close`], a remembered
//! refusal. Settling queues it in [`Retention::pending`]. Time enters the state only through
//! [`Command::Expire`] entries, which the leader proposes: each advances the log's clock,
//! stamps the queued records with it — a stamp is never earlier than the settlement, since the
//! entry comes after it in the log — and forgets the records stamped more than the window
//! before the clock. The records wait in a map by stamp, so expiry costs what it forgets.
//! The queues are persistent (`imbl`), like the catalog's maps, so a snapshot's clone is O(1).
//!
//! The clock minus the window is the low-water mark: a reservation id that is not known and
//! was issued before it may have been forgotten, so it is refused (`reservation_expired`)
//! rather than reserved a second time.
//!
//! [`Command::Close`]: crate::Command::Close
//! [`Command::Expire`]: crate::Command::Expire

use imbl::{OrdMap, OrdSet, Vector};
use serde::{Deserialize, Serialize};

use crate::command::MAX_FORGET;

/// A settled record waiting to be forgotten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Settled {
    /// A reservation released (or a release tombstone), or confirmed and closed.
    Reserva(String),
    /// A remembered refusal.
    #[serde(rename = "Recusa")]
    Refusal(String),
}

/// The retention bookkeeping of the catalog state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// The log's clock: the latest time a leader stamped into an `Expire` entry
    /// (milliseconds since the Unix epoch; 0 before the first).
    #[serde(rename = "relogio_ms")]
    pub clock_ms: u64,
    /// The low-water mark: records stamped before it are forgotten (or about to be), and
    /// unknown reservation ids issued before it are refused.
    #[serde(rename = "esquecer_antes_ms")]
    pub forget_before_ms: u64,
    /// Records settled since the last `Expire`, not stamped yet.
    #[serde(rename = "pendentes")]
    pub pending: Vector<Settled>,
    /// Stamped records by stamp.
    #[serde(rename = "por_selo")]
    pub by_stamp: OrdMap<u64, Vector<Settled>>,
    /// Confirmed reservations closed for good (their orders are final).
    #[serde(rename = "encerradas")]
    pub closed: OrdSet<String>,
    /// Records forgotten since the cluster began.
    #[serde(rename = "esquecidos")]
    pub forgotten: u64,
}

impl Retention {
    /// Queues a settled record for the next stamp.
    pub(crate) fn settle(&mut self, a: Settled) {
        self.pending.push_back(a);
    }

    /// Settled records not forgotten yet.
    pub fn retained(&self) -> usize {
        self.pending.len() + self.by_stamp.values().map(Vector::len).sum::<usize>()
    }

    /// Whether an `Expire` proposed at `now_ms` with window `retention_ms` would do
    /// anything: stamp queued records, or forget stamped ones.
    pub fn due(&self, now_ms: u64, retention_ms: u64) -> bool {
        !self.pending.is_empty() || self.due_to_forget(now_ms, retention_ms)
    }

    /// Whether stamped records are due to be forgotten at `now_ms`.
    pub fn due_to_forget(&self, now_ms: u64, retention_ms: u64) -> bool {
        let cutoff = now_ms.max(self.clock_ms).saturating_sub(retention_ms);
        self.by_stamp.get_min().is_some_and(|(s, _)| *s < cutoff)
    }

    /// Advances the clock, stamps the queued records and returns up to [`MAX_FORGET`]
    /// records due to be forgotten (the caller removes them from the catalog).
    pub(crate) fn expire(&mut self, now_ms: u64, retention_ms: u64) -> Vec<Settled> {
        self.clock_ms = self.clock_ms.max(now_ms);
        if !self.pending.is_empty() {
            let fresh = std::mem::take(&mut self.pending);
            self.by_stamp
                .entry(self.clock_ms)
                .or_default()
                .append(fresh);
        }
        let cutoff = self.clock_ms.saturating_sub(retention_ms);
        self.forget_before_ms = self.forget_before_ms.max(cutoff);
        let mut forgotten_now = Vec::new();
        while forgotten_now.len() < MAX_FORGET {
            let Some((stamp, len)) = self.by_stamp.get_min().map(|(s, b)| (*s, b.len())) else {
                break;
            };
            if stamp >= self.forget_before_ms {
                break;
            }
            let room = MAX_FORGET - forgotten_now.len();
            if len > room {
                if let Some(bucket) = self.by_stamp.get_mut(&stamp) {
                    forgotten_now.extend(bucket.split_off(len - room));
                }
            } else if let Some(bucket) = self.by_stamp.remove(&stamp) {
                forgotten_now.extend(bucket);
            }
        }
        self.forgotten += forgotten_now.len() as u64;
        forgotten_now
    }
}
