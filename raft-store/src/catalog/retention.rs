//! Retention: settled reservations, release tombstones and remembered refusals are forgotten
//! after a window, identically on every replica (docs/design.md, "Retention").
//!
//! A record is *settled* when nothing can change it any more: a released reservation (or a
//! release tombstone), a confirmed reservation closed by [`Command::Encerrar`], a remembered
//! refusal. Settling queues it in [`Retencao::pendentes`]. Time enters the state only through
//! [`Command::Expirar`] entries, which the leader proposes: each advances the log's clock,
//! stamps the queued records with it — a stamp is never earlier than the settlement, since the
//! entry comes after it in the log — and forgets the records stamped more than the window
//! before the clock. The records wait in a map by stamp, so expiry costs what it forgets.
//!
//! The clock minus the window is the low-water mark: a reservation id that is not known and
//! was issued before it may have been forgotten, so it is refused (`reservation_expired`)
//! rather than reserved a second time.
//!
//! [`Command::Encerrar`]: crate::Command::Encerrar
//! [`Command::Expirar`]: crate::Command::Expirar

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::command::MAX_ESQUECER;

/// A settled record waiting to be forgotten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Assentado {
    /// A reservation released (or a release tombstone), or confirmed and closed.
    Reserva(String),
    /// A remembered refusal.
    Recusa(String),
}

/// The retention bookkeeping of the catalog state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retencao {
    /// The log's clock: the latest time a leader stamped into an `Expirar` entry
    /// (milliseconds since the Unix epoch; 0 before the first).
    pub relogio_ms: u64,
    /// The low-water mark: records stamped before it are forgotten (or about to be), and
    /// unknown reservation ids issued before it are refused.
    pub esquecer_antes_ms: u64,
    /// Records settled since the last `Expirar`, not stamped yet.
    pub pendentes: Vec<Assentado>,
    /// Stamped records by stamp.
    pub por_selo: BTreeMap<u64, Vec<Assentado>>,
    /// Confirmed reservations closed for good (their orders are final).
    pub encerradas: BTreeSet<String>,
    /// Records forgotten since the cluster began.
    pub esquecidos: u64,
}

impl Retencao {
    /// Queues a settled record for the next stamp.
    pub(crate) fn assentar(&mut self, a: Assentado) {
        self.pendentes.push(a);
    }

    /// Settled records not forgotten yet.
    pub fn retidos(&self) -> usize {
        self.pendentes.len() + self.por_selo.values().map(Vec::len).sum::<usize>()
    }

    /// Whether an `Expirar` proposed at `agora_ms` with window `retencao_ms` would do
    /// anything: stamp queued records, or forget stamped ones.
    pub fn devido(&self, agora_ms: u64, retencao_ms: u64) -> bool {
        !self.pendentes.is_empty() || self.a_esquecer(agora_ms, retencao_ms)
    }

    /// Whether stamped records are due to be forgotten at `agora_ms`.
    pub fn a_esquecer(&self, agora_ms: u64, retencao_ms: u64) -> bool {
        let corte = agora_ms.max(self.relogio_ms).saturating_sub(retencao_ms);
        self.por_selo.keys().next().is_some_and(|&s| s < corte)
    }

    /// Advances the clock, stamps the queued records and returns up to [`MAX_ESQUECER`]
    /// records due to be forgotten (the caller removes them from the catalog).
    pub(crate) fn expirar(&mut self, agora_ms: u64, retencao_ms: u64) -> Vec<Assentado> {
        self.relogio_ms = self.relogio_ms.max(agora_ms);
        if !self.pendentes.is_empty() {
            let novos = std::mem::take(&mut self.pendentes);
            self.por_selo
                .entry(self.relogio_ms)
                .or_default()
                .extend(novos);
        }
        let corte = self.relogio_ms.saturating_sub(retencao_ms);
        self.esquecer_antes_ms = self.esquecer_antes_ms.max(corte);
        let mut saem = Vec::new();
        while saem.len() < MAX_ESQUECER {
            let Some(mut primeiro) = self.por_selo.first_entry() else {
                break;
            };
            if *primeiro.key() >= self.esquecer_antes_ms {
                break;
            }
            let falta = MAX_ESQUECER - saem.len();
            let lote = primeiro.get_mut();
            if lote.len() > falta {
                let resto = lote.len() - falta;
                saem.extend(lote.drain(resto..));
            } else {
                saem.append(&mut primeiro.remove());
            }
        }
        self.esquecidos += saem.len() as u64;
        if let Some(primeiro) = self.por_selo.first_entry() {
            // Keep the map's storage proportional to what is left.
            if primeiro.get().capacity() > 2 * primeiro.get().len() + 16 {
                primeiro.into_mut().shrink_to_fit();
            }
        }
        saem
    }
}
