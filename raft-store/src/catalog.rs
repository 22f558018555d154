//! The catalog state and the deterministic application of a [`Command`] to it.
//!
//! Pure and in memory: the state machine holds one, and snapshots serialize the whole value.
//! Its maps are persistent (`imbl`): a clone shares every node with the original and costs
//! O(1), so a snapshot clones the state under the lock and encodes the clone after it.
//! Every command checks first and mutates after, so a refused command changes nothing —
//! except that a refused reservation is remembered by id, so that its duplicates are
//! refused the same way (each reservation id has exactly one outcome).
//!
//! [`retention`]: settled reservations and refusals are forgotten after a window decided by
//! the log, so the state follows the live catalog, not its history.

pub mod retention;

use std::collections::BTreeMap;

use imbl::OrdMap;

use confeitaria_types::{
    Categoria, Doce, EstadoReserva, Estoque, EstoqueDetalhe, ItemReserva, NovaReserva, NovoDoce,
    PaginaDoces, Reserva,
};
use serde::{Deserialize, Serialize};

use crate::command::{conflict, invalid, Command, CommandError, CommandOutput, CommandResult};
use retention::{Retention, Settled};

/// A sweet as the state keeps it: descriptive fields plus the three stock counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoceRecord {
    /// The sweet (its `estoque` field is derived from `counters` on the way out).
    pub doce: Doce,
    /// Available, reserved and sold units.
    #[serde(rename = "contadores")]
    pub counters: Estoque,
}

impl DoceRecord {
    /// The sweet as the API shows it.
    pub fn to_doce(&self) -> Doce {
        Doce {
            estoque: self.counters.disponivel,
            ..self.doce.clone()
        }
    }
}

/// The whole catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogState {
    /// Categories by slug.
    pub categorias: OrdMap<String, Categoria>,
    /// Sweets by id.
    pub doces: OrdMap<u64, DoceRecord>,
    /// Reservations by id.
    pub reservas: OrdMap<String, Reserva>,
    /// Reservations refused for the state of the stock (unknown, inactive or short
    /// product), by id, with their items and the refusal. A reservation id has one outcome
    /// for good: a duplicate delivered late — a client's retry, a node's re-forward after a
    /// lost answer — gets the same refusal instead of succeeding on the stock of its day,
    /// so a caller told "refused" can rely on it.
    #[serde(default, rename = "recusadas")]
    pub refusals: OrdMap<String, Refusal>,
    /// The log's clock, the settled records waiting to be forgotten, and the low-water mark.
    #[serde(default, rename = "retencao")]
    pub retention: Retention,
    /// Last id assigned to a sweet.
    pub last_id: u64,
    /// Whether the starting catalog has been written.
    pub seeded: bool,
}

/// A remembered refusal of a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The items asked for.
    pub itens: Vec<ItemReserva>,
    /// Why they were refused.
    #[serde(rename = "erro")]
    pub error: CommandError,
}

fn not_found(what: impl Into<String>) -> CommandError {
    CommandError::NotFound { what: what.into() }
}

fn mismatch(id: &str) -> CommandError {
    conflict(
        "reservation_mismatch",
        format!("reservation {id} exists with other items"),
    )
}

/// Sums quantities per product, so a reservation naming a product twice is checked once.
fn per_product(itens: &[ItemReserva]) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for i in itens {
        let q: &mut u64 = m.entry(i.doce_id).or_default();
        *q = q.saturating_add(i.quantidade);
    }
    m
}

impl CatalogState {
    /// Applies a command and returns its result; a refused command changes nothing but the
    /// memory of a refused reservation.
    /// A batch applies each of its commands in order; each is refused or applied alone.
    pub fn apply(&mut self, cmd: &Command) -> CommandResult {
        cmd.validate()?;
        if let Command::Batch(cmds) = cmd {
            return Ok(CommandOutput::Batch(
                cmds.iter().map(|c| self.apply(c)).collect(),
            ));
        }
        self.execute(cmd)
    }

    fn execute(&mut self, cmd: &Command) -> CommandResult {
        match cmd {
            Command::Seed { categorias, doces } => {
                if self.seeded {
                    return Ok(CommandOutput::Seeded(false));
                }
                for c in categorias {
                    self.categorias.insert(c.slug.clone(), c.clone());
                }
                let known: Vec<&NovoDoce> = doces
                    .iter()
                    .filter(|d| self.categorias.contains_key(&d.categoria))
                    .collect();
                for d in known {
                    self.create(d)?;
                }
                self.seeded = true;
                Ok(CommandOutput::Seeded(true))
            }
            Command::UpsertCategoria(c) => {
                self.categorias.insert(c.slug.clone(), c.clone());
                Ok(CommandOutput::Categoria(c.clone()))
            }
            Command::CreateDoce(d) => {
                self.check_categoria(&d.categoria)?;
                self.create(d).map(CommandOutput::Doce)
            }
            Command::UpdateDoce { id, update } => {
                if let Some(c) = &update.categoria {
                    self.check_categoria(c)?;
                }
                let rec = self.record_mut(*id)?;
                let d = &mut rec.doce;
                if let Some(v) = &update.nome {
                    d.nome = v.clone();
                }
                if let Some(v) = &update.descricao {
                    d.descricao = v.clone();
                }
                if let Some(v) = update.preco_centavos {
                    d.preco_centavos = v;
                }
                if let Some(v) = &update.categoria {
                    d.categoria = v.clone();
                }
                if let Some(v) = update.ativo {
                    d.ativo = v;
                }
                Ok(self.touch(*id))
            }
            Command::SetStock { id, estoque } => {
                self.record_mut(*id)?.counters.disponivel = *estoque;
                Ok(self.touch(*id))
            }
            Command::AdjustStock { id, delta } => {
                let c = &mut self.record_mut(*id)?.counters;
                let next = i128::from(c.disponivel) + i128::from(*delta);
                c.disponivel = u64::try_from(next).map_err(|_| {
                    conflict(
                        "negative_stock",
                        format!(
                            "stock of product {id} cannot go below zero ({} available, delta {delta})",
                            c.disponivel
                        ),
                    )
                })?;
                Ok(self.touch(*id))
            }
            Command::Reserve(r) => self.reserve(r),
            Command::Confirm { id } => self.confirm(id),
            Command::Release { id } => self.release(id),
            Command::Close { id } => self.close(id),
            Command::Expire {
                now_ms,
                retention_ms,
            } => {
                for a in self.retention.expire(*now_ms, *retention_ms) {
                    match a {
                        Settled::Reserva(id) => {
                            self.reservas.remove(&id);
                            self.retention.closed.remove(&id);
                        }
                        Settled::Refusal(id) => {
                            self.refusals.remove(&id);
                        }
                    }
                }
                Ok(CommandOutput::Empty)
            }
            Command::Batch(_) => Err(invalid("invalid_batch", "batches do not nest")),
        }
    }

    fn check_categoria(&self, slug: &str) -> Result<(), CommandError> {
        if self.categorias.contains_key(slug) {
            Ok(())
        } else {
            Err(conflict(
                "unknown_category",
                format!("category '{slug}' does not exist"),
            ))
        }
    }

    fn record_mut(&mut self, id: u64) -> Result<&mut DoceRecord, CommandError> {
        self.doces
            .get_mut(&id)
            .ok_or_else(|| not_found(format!("product {id}")))
    }

    /// Bumps a sweet's version and returns it.
    fn touch(&mut self, id: u64) -> CommandOutput {
        match self.doces.get_mut(&id) {
            Some(rec) => {
                rec.doce.versao += 1;
                CommandOutput::Doce(rec.to_doce())
            }
            None => CommandOutput::Empty,
        }
    }

    fn create(&mut self, d: &NovoDoce) -> Result<Doce, CommandError> {
        self.last_id += 1;
        let id = self.last_id;
        let rec = DoceRecord {
            doce: Doce {
                id,
                nome: d.nome.clone(),
                descricao: d.descricao.clone(),
                preco_centavos: d.preco_centavos,
                categoria: d.categoria.clone(),
                estoque: d.estoque,
                ativo: d.ativo,
                versao: 1,
            },
            counters: Estoque {
                disponivel: d.estoque,
                ..Estoque::default()
            },
        };
        let out = rec.to_doce();
        self.doces.insert(id, rec);
        Ok(out)
    }

    fn reserve(&mut self, r: &NovaReserva) -> CommandResult {
        if let Some(existing) = self.reservas.get(&r.id) {
            return match existing.estado {
                EstadoReserva::Liberada => Err(conflict(
                    "reservation_released",
                    format!("reservation {} was already released", r.id),
                )),
                _ if existing.itens == r.itens => Ok(CommandOutput::Reserva(existing.clone())),
                _ => Err(mismatch(&r.id)),
            };
        }
        if let Some(recusa) = self.refusals.get(&r.id) {
            return Err(if recusa.itens == r.itens {
                recusa.error.clone()
            } else {
                mismatch(&r.id)
            });
        }
        // Unknown, but maybe forgotten: a request issued before the low-water mark could be
        // a late duplicate of a reservation settled and forgotten since.
        if let Some(emitida) = r.emitida_em {
            if emitida < self.retention.forget_before_ms {
                return Err(conflict(
                    "reservation_expired",
                    format!(
                        "reservation {} was issued at {emitida} ms, before the catalog's \
                         retention low-water mark ({} ms); use a new id",
                        r.id, self.retention.forget_before_ms
                    ),
                ));
            }
        }
        let wanted = per_product(&r.itens);
        if let Err(erro) = self.check_available(&wanted) {
            let recusa = Refusal {
                itens: r.itens.clone(),
                error: erro.clone(),
            };
            self.refusals.insert(r.id.clone(), recusa);
            self.retention.settle(Settled::Refusal(r.id.clone()));
            return Err(erro);
        }
        for (&doce_id, &q) in &wanted {
            if let Some(rec) = self.doces.get_mut(&doce_id) {
                rec.counters.disponivel -= q;
                rec.counters.reservado += q;
            }
            self.touch(doce_id);
        }
        let reserva = Reserva {
            id: r.id.clone(),
            itens: r.itens.clone(),
            estado: EstadoReserva::Reservada,
        };
        self.reservas.insert(r.id.clone(), reserva.clone());
        Ok(CommandOutput::Reserva(reserva))
    }

    /// Whether every product exists, is for sale and has the units; names the first that
    /// does not, in id order.
    fn check_available(&self, wanted: &BTreeMap<u64, u64>) -> Result<(), CommandError> {
        for (&doce_id, &pedido) in wanted {
            let rec = self
                .doces
                .get(&doce_id)
                .ok_or_else(|| not_found(format!("product {doce_id}")))?;
            if !rec.doce.ativo {
                return Err(CommandError::InactiveProduct { doce_id });
            }
            if rec.counters.disponivel < pedido {
                return Err(CommandError::InsufficientStock {
                    doce_id,
                    disponivel: rec.counters.disponivel,
                    pedido,
                });
            }
        }
        Ok(())
    }

    fn confirm(&mut self, id: &str) -> CommandResult {
        let reserva = self
            .reserva(id)
            .ok_or_else(|| not_found(format!("reservation {id}")))?;
        match reserva.estado {
            EstadoReserva::Confirmada => Ok(CommandOutput::Reserva(reserva)),
            EstadoReserva::Liberada => Err(conflict(
                "reservation_released",
                format!("reservation {id} was released and cannot be confirmed"),
            )),
            EstadoReserva::Reservada => {
                self.move_units(&reserva.itens, |c, q| {
                    c.reservado = c.reservado.saturating_sub(q);
                    c.vendido += q;
                });
                Ok(self.set_state(id, EstadoReserva::Confirmada))
            }
        }
    }

    /// Releases a reservation: held or sold units go back to available. An unknown id is
    /// recorded as released so that a reservation arriving late with it is refused. A
    /// confirmed reservation closed for good ([`Command::Close`]) is refused. Every
    /// release settles its reservation.
    fn release(&mut self, id: &str) -> CommandResult {
        let Some(reserva) = self.reservas.get(id).cloned() else {
            let tombstone = Reserva {
                id: id.to_owned(),
                itens: Vec::new(),
                estado: EstadoReserva::Liberada,
            };
            self.reservas.insert(id.to_owned(), tombstone.clone());
            self.retention.settle(Settled::Reserva(id.to_owned()));
            return Ok(CommandOutput::Reserva(tombstone));
        };
        match reserva.estado {
            EstadoReserva::Liberada => return Ok(CommandOutput::Reserva(reserva)),
            EstadoReserva::Confirmada if self.retention.closed.contains(id) => {
                return Err(conflict(
                    "reservation_closed",
                    format!("reservation {id} is confirmed and closed; its units stay sold"),
                ))
            }
            EstadoReserva::Reservada => self.move_units(&reserva.itens, |c, q| {
                c.reservado = c.reservado.saturating_sub(q);
                c.disponivel += q;
            }),
            EstadoReserva::Confirmada => self.move_units(&reserva.itens, |c, q| {
                c.vendido = c.vendido.saturating_sub(q);
                c.disponivel += q;
            }),
        }
        self.retention.settle(Settled::Reserva(id.to_owned()));
        Ok(self.set_state(id, EstadoReserva::Liberada))
    }

    /// Closes a confirmed reservation for good (its order is final): it is settled and
    /// will be forgotten after the window. A released one is settled already (answered as
    /// it is); an open one must be confirmed or released first.
    fn close(&mut self, id: &str) -> CommandResult {
        let reserva = self
            .reserva(id)
            .ok_or_else(|| not_found(format!("reservation {id}")))?;
        match reserva.estado {
            EstadoReserva::Reservada => Err(conflict(
                "reservation_open",
                format!("reservation {id} holds units: confirm or release it first"),
            )),
            EstadoReserva::Liberada => Ok(CommandOutput::Reserva(reserva)),
            EstadoReserva::Confirmada => {
                if self.retention.closed.insert(id.to_owned()).is_none() {
                    self.retention.settle(Settled::Reserva(id.to_owned()));
                }
                Ok(CommandOutput::Reserva(reserva))
            }
        }
    }

    fn move_units(&mut self, itens: &[ItemReserva], f: impl Fn(&mut Estoque, u64)) {
        for (doce_id, q) in per_product(itens) {
            if let Some(rec) = self.doces.get_mut(&doce_id) {
                f(&mut rec.counters, q);
                self.touch(doce_id);
            }
        }
    }

    fn set_state(&mut self, id: &str, estado: EstadoReserva) -> CommandOutput {
        let r = self
            .reservas
            .entry(id.to_owned())
            .or_insert_with(|| Reserva {
                id: id.to_owned(),
                itens: Vec::new(),
                estado,
            });
        r.estado = estado;
        CommandOutput::Reserva(r.clone())
    }

    // ---- queries ----

    /// One sweet.
    pub fn doce(&self, id: u64) -> Option<Doce> {
        self.doces.get(&id).map(DoceRecord::to_doce)
    }

    /// A page of sweets ordered by id.
    pub fn page(&self, limit: u64, offset: u64) -> PaginaDoces {
        let produtos = self
            .doces
            .values()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(DoceRecord::to_doce)
            .collect();
        PaginaDoces {
            produtos,
            total: self.doces.len() as u64,
            limit,
            offset,
        }
    }

    /// Sweets of one category, or `None` if the category does not exist.
    pub fn in_category(&self, slug: &str) -> Option<Vec<Doce>> {
        self.categorias.get(slug)?;
        Some(
            self.doces
                .values()
                .filter(|r| r.doce.categoria == slug)
                .map(DoceRecord::to_doce)
                .collect(),
        )
    }

    /// Every category, by slug.
    pub fn categories(&self) -> Vec<Categoria> {
        self.categorias.values().cloned().collect()
    }

    /// The stock counters of one sweet.
    pub fn stock(&self, id: u64) -> Option<EstoqueDetalhe> {
        self.doces.get(&id).map(|r| EstoqueDetalhe {
            doce_id: id,
            disponivel: r.counters.disponivel,
            reservado: r.counters.reservado,
            vendido: r.counters.vendido,
            recebido: r.counters.recebido(),
        })
    }

    /// One reservation.
    pub fn reserva(&self, id: &str) -> Option<Reserva> {
        self.reservas.get(id).cloned()
    }

    /// Whether a confirmed reservation was closed for good.
    pub fn is_closed(&self, id: &str) -> bool {
        self.retention.closed.contains(id)
    }
}

#[cfg(test)]
mod tests;
