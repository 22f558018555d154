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
//!
//! The clock minus the window is the low-water mark: a reservation id that is not known and
//! was issued before it may have been forgotten, so it is refused (`reservation_expired`)
//! rather than reserved a second time.
//!
//! [`Command::Close`]: crate::Command::Close
//! [`Command::Expire`]: crate::Command::Expire

use std::collections::{BTreeMap, BTreeSet};

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
    pub pending: Vec<Settled>,
    /// Stamped records by stamp.
    #[serde(rename = "por_selo")]
    pub by_stamp: BTreeMap<u64, Vec<Settled>>,
    /// Confirmed reservations closed for good (their orders are final).
    #[serde(rename = "encerradas")]
    pub closed: BTreeSet<String>,
    /// Records forgotten since the cluster began.
    #[serde(rename = "esquecidos")]
    pub forgotten: u64,
}

impl Retention {
    /// Queues a settled record for the next stamp.
    pub(crate) fn settle(&mut self, a: Settled) {
        self.pending.push(a);
    }

    /// Settled records not forgotten yet.
    pub fn retained(&self) -> usize {
        self.pending.len() + self.by_stamp.values().map(Vec::len).sum::<usize>()
    }

    /// Whether an `Expire` proposed at `now_ms` with window `retention_ms` would do
    /// anything: stamp queued records, or forget stamped ones.
    pub fn due(&self, now_ms: u64, retention_ms: u64) -> bool {
        !self.pending.is_empty() || self.due_to_forget(now_ms, retention_ms)
    }

    /// Whether stamped records are due to be forgotten at `now_ms`.
    pub fn due_to_forget(&self, now_ms: u64, retention_ms: u64) -> bool {
        let cutoff = now_ms.max(self.clock_ms).saturating_sub(retention_ms);
        self.by_stamp.keys().next().is_some_and(|&s| s < cutoff)
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
                .extend(fresh);
        }
        let cutoff = self.clock_ms.saturating_sub(retention_ms);
        self.forget_before_ms = self.forget_before_ms.max(cutoff);
        let mut forgotten_now = Vec::new();
        while forgotten_now.len() < MAX_FORGET {
            let Some(mut oldest) = self.by_stamp.first_entry() else {
                break;
            };
            if *oldest.key() >= self.forget_before_ms {
                break;
            }
            let room = MAX_FORGET - forgotten_now.len();
            let bucket = oldest.get_mut();
            if bucket.len() > room {
                let keep = bucket.len() - room;
                forgotten_now.extend(bucket.drain(keep..));
            } else {
                forgotten_now.append(&mut oldest.remove());
            }
        }
        self.forgotten += forgotten_now.len() as u64;
        if let Some(oldest) = self.by_stamp.first_entry() {
            // Keep the map's storage proportional to what is left.
            if oldest.get().capacity() > 2 * oldest.get().len() + 16 {
                oldest.into_mut().shrink_to_fit();
            }
        }
        forgotten_now
    }
}
