//! The history of a run: every operation a client invoked, when (in simulated time) it was
//! called and when it returned, and how it ended.
//!
//! Outcomes follow Jepsen's three cases: [`Outcome::Ok`] (acknowledged, with what was
//! observed), [`Outcome::Fail`] (refused: certainly did not change anything) and
//! [`Outcome::Unknown`] (timed out or the cluster was unavailable: it may or may not have
//! taken effect, now or later). The checkers read nothing else.

use std::fmt::{self, Write as _};

pub use confeitaria_types::orders::StatusPedido;

/// Simulated time since the start of the run, in microseconds.
pub type Micros = u64;

/// A product id.
pub type ProductId = u64;

/// A node id.
pub type NodeId = u64;

/// The simulation's epoch (its simulated clock at time zero), in ms since the Unix epoch.
pub const EPOCH_MS: u64 = 1_700_000_000_000;

/// The read levels of the catalog API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadLevel {
    /// Through the leader's read index.
    Linearizable,
    /// The serving node's replica.
    Local,
}

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `POST /api/reservas {id, itens}`.
    Reserve {
        /// Reservation id (unique in the run).
        rid: String,
        /// `(product, units)`, all or nothing.
        items: Vec<(ProductId, u64)>,
        /// `emitida_em`: when the reservation was first issued (ms since the Unix epoch, on
        /// the simulated clock), sent with every attempt and every re-send; `None` lets the
        /// node stamp it on arrival.
        issued: Option<u64>,
    },
    /// `POST /api/reservas/{id}/confirmar`.
    Confirm {
        /// Reservation id.
        rid: String,
    },
    /// `DELETE /api/reservas/{id}`.
    Release {
        /// Reservation id.
        rid: String,
    },
    /// `POST /api/reservas/{id}/encerrar`: a confirmed reservation closed for good.
    Close {
        /// Reservation id.
        rid: String,
    },
    /// `PUT /api/produtos/{id}/estoque {"delta": d}`.
    Adjust {
        /// Product.
        product: ProductId,
        /// Signed change of available units.
        delta: i64,
    },
    /// `GET /api/produtos/{id}/estoque?consistency=...`.
    Read {
        /// Product.
        product: ProductId,
        /// Read level asked for.
        level: ReadLevel,
        /// The node the read was sent to, when pinned; `None` when the client library chose.
        node: Option<NodeId>,
    },
    /// `GET /api/reservas/{id}` (linearizable), after healing.
    ReadReservation {
        /// Reservation id.
        rid: String,
    },
    /// `POST /api/pedidos` to the orders service, for a cart holding `items`.
    Checkout {
        /// The `Idempotency-Key` (unique in the run; retries reuse it).
        key: String,
        /// `(product, units)` of the cart.
        items: Vec<(ProductId, u64)>,
    },
    /// `PUT /api/pedidos/{id}/status` (admin) on the order checked out with `key`.
    SetStatus {
        /// The checkout's key.
        key: String,
        /// `pago` or `cancelado`.
        status: StatusPedido,
    },
    /// After healing: the checkout replayed with its key, until it answers, then its events
    /// read until no step is open.
    ReadOrder {
        /// The checkout's key.
        key: String,
    },
    /// After healing: `GET /api/reservas/{id}` of the order checked out with `key` (the
    /// order id is random, so the trace names the key).
    ReadOrderReservation {
        /// The checkout's key.
        key: String,
        /// The order id, which is also its reservation's id.
        rid: String,
    },
}

impl Op {
    /// True for operations that may change the catalog.
    pub fn is_write(&self) -> bool {
        !matches!(
            self,
            Op::Read { .. }
                | Op::ReadReservation { .. }
                | Op::ReadOrder { .. }
                | Op::ReadOrderReservation { .. }
        )
    }

    /// The products this operation touches (empty when it depends on a reservation's items).
    pub fn products(&self) -> Vec<ProductId> {
        match self {
            Op::Reserve { items, .. } => {
                let mut p: Vec<ProductId> = items.iter().map(|(p, _)| *p).collect();
                p.sort_unstable();
                p.dedup();
                p
            }
            Op::Adjust { product, .. } | Op::Read { product, .. } => vec![*product],
            _ => Vec::new(),
        }
    }

    /// The reservation this operation names, if any.
    pub fn rid(&self) -> Option<&str> {
        match self {
            Op::Reserve { rid, .. }
            | Op::Confirm { rid }
            | Op::Release { rid }
            | Op::Close { rid }
            | Op::ReadReservation { rid } => Some(rid),
            _ => None,
        }
    }
}

/// A reservation's state, as the API reports it (`None` in a [`Observed::Reservation`]
/// means 404).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Estado {
    /// Units held.
    Reservada,
    /// Units sold.
    Confirmada,
    /// Units returned (or a release that came first).
    Liberada,
}

impl From<confeitaria_types::EstadoReserva> for Estado {
    fn from(e: confeitaria_types::EstadoReserva) -> Self {
        match e {
            confeitaria_types::EstadoReserva::Reservada => Estado::Reservada,
            confeitaria_types::EstadoReserva::Confirmada => Estado::Confirmada,
            confeitaria_types::EstadoReserva::Liberada => Estado::Liberada,
        }
    }
}

/// One product's counters as a read returned them. Signed, so that a negative value on the
/// wire is seen, not rejected by the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Counters {
    /// Available.
    pub disponivel: i64,
    /// Reserved.
    pub reservado: i64,
    /// Sold.
    pub vendido: i64,
}

/// What a read returned, with where and at which applied index it was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockRead {
    /// The three counters.
    pub counters: Counters,
    /// The `recebido` field as reported.
    pub recebido: i64,
    /// `X-Raft-Applied-Index`, when known.
    pub applied: Option<u64>,
    /// `X-Served-By`, when known.
    pub served_by: Option<NodeId>,
}

/// What an acknowledged operation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// A stock read.
    Stock(StockRead),
    /// A reservation's state after the call (`None`: not found).
    Reservation(Option<Estado>),
    /// Available units after a stock adjustment.
    Available(u64),
    /// An order of the orders service.
    Order {
        /// Its id (random: kept out of the trace).
        id: String,
        /// Its status.
        status: StatusPedido,
        /// No saga step is open (the last event is not an intent).
        settled: bool,
    },
}

/// Why an operation was refused. Refusals are deterministic and change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 409 `insufficient_stock`, naming the short product when the message says so.
    InsufficientStock(Option<ProductId>),
    /// 409 `negative_stock`.
    NegativeStock,
    /// 409 `reservation_released`.
    Released,
    /// 409 `reservation_expired`: an unknown id issued before the retention low-water mark.
    Expired,
    /// 409 `reservation_closed`: a release of a confirmed reservation closed for good.
    Closed,
    /// 409 `reservation_open`: `encerrar` on a reservation that still holds units.
    Open,
    /// 404.
    NotFound,
    /// Any other 4xx, by code (a harness or API bug: the checkers flag it).
    Other(String),
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged.
    Ok(Observed),
    /// Refused; certainly not applied.
    Fail(Refusal),
    /// Timed out or unavailable; may have applied, now or later.
    Unknown(String),
}

/// One operation of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Position in invocation order.
    pub index: usize,
    /// The client process that ran it.
    pub process: usize,
    /// What was asked.
    pub op: Op,
    /// Invocation time.
    pub call: Micros,
    /// Completion time. For [`Outcome::Unknown`] the operation stays open: the checkers
    /// treat it as completing at the end of time.
    pub ret: Micros,
    /// How it ended.
    pub outcome: Outcome,
}

impl Record {
    /// True if the operation was acknowledged.
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }

    /// True if the outcome is unknown.
    pub fn is_unknown(&self) -> bool {
        matches!(self.outcome, Outcome::Unknown(_))
    }

    /// The stock read this record holds, if it is an acknowledged stock read.
    pub fn stock(&self) -> Option<(ProductId, ReadLevel, StockRead)> {
        match (&self.op, &self.outcome) {
            (Op::Read { product, level, .. }, Outcome::Ok(Observed::Stock(s))) => {
                Some((*product, *level, *s))
            }
            _ => None,
        }
    }
}

/// The operations of a run, in invocation order.
#[derive(Debug, Clone, Default)]
pub struct History {
    records: Vec<Record>,
    open: Vec<Option<(usize, Op, Micros)>>,
}

/// A handle on an invoked operation, to complete it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending(usize);

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the invocation of `op` by `process` at `now`.
    pub fn invoke(&mut self, process: usize, op: Op, now: Micros) -> Pending {
        self.open.push(Some((process, op, now)));
        Pending(self.open.len() - 1)
    }

    /// Records how an invoked operation ended, at `now`.
    pub fn complete(&mut self, p: Pending, outcome: Outcome, now: Micros) {
        if let Some((process, op, call)) = self.open.get_mut(p.0).and_then(Option::take) {
            self.records.push(Record {
                index: p.0,
                process,
                op,
                call,
                ret: now,
                outcome,
            });
        }
    }

    /// Every completed record, in invocation order; operations never completed (their
    /// client was still waiting when the run ended) are returned as unknown.
    pub fn records(&self) -> Vec<Record> {
        let mut all = self.records.clone();
        for (i, o) in self.open.iter().enumerate() {
            if let Some((process, op, call)) = o {
                all.push(Record {
                    index: i,
                    process: *process,
                    op: op.clone(),
                    call: *call,
                    ret: Micros::MAX,
                    outcome: Outcome::Unknown("never completed".into()),
                });
            }
        }
        all.sort_by_key(|r| r.index);
        all
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Reserve { rid, items, issued } => {
                write!(f, "reserve {rid} [")?;
                for (i, (p, q)) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(' ')?;
                    }
                    write!(f, "{p}x{q}")?;
                }
                f.write_char(']')?;
                if let Some(t) = issued {
                    let t = t.saturating_sub(EPOCH_MS).saturating_mul(1000);
                    write!(f, " issued {}", fmt_micros(t))?;
                }
                Ok(())
            }
            Op::Confirm { rid } => write!(f, "confirm {rid}"),
            Op::Close { rid } => write!(f, "close {rid}"),
            Op::Release { rid } => write!(f, "release {rid}"),
            Op::Adjust { product, delta } => write!(f, "adjust p{product} {delta:+}"),
            Op::Read {
                product,
                level,
                node,
            } => {
                let l = match level {
                    ReadLevel::Linearizable => "lin",
                    ReadLevel::Local => "local",
                };
                match node {
                    Some(n) => write!(f, "read p{product} {l} @n{n}"),
                    None => write!(f, "read p{product} {l}"),
                }
            }
            Op::ReadReservation { rid } => write!(f, "read-reservation {rid}"),
            Op::Checkout { key, items } => {
                write!(f, "checkout {key} [")?;
                for (i, (p, q)) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(' ')?;
                    }
                    write!(f, "{p}x{q}")?;
                }
                f.write_char(']')
            }
            Op::SetStatus { key, status } => write!(f, "set-status {key} {}", status.as_str()),
            Op::ReadOrder { key } => write!(f, "read-order {key}"),
            Op::ReadOrderReservation { key, .. } => write!(f, "read-order-reservation {key}"),
        }
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.disponivel, self.reservado, self.vendido)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok(Observed::Stock(s)) => {
                write!(f, "ok {} recebido={}", s.counters, s.recebido)?;
                if let Some(a) = s.applied {
                    write!(f, " applied={a}")?;
                }
                if let Some(n) = s.served_by {
                    write!(f, " by=n{n}")?;
                }
                Ok(())
            }
            Outcome::Ok(Observed::Reservation(e)) => match e {
                Some(e) => write!(f, "ok {e:?}"),
                None => f.write_str("ok absent"),
            },
            Outcome::Ok(Observed::Available(a)) => write!(f, "ok disponivel={a}"),
            Outcome::Ok(Observed::Order {
                status, settled, ..
            }) => {
                let open = if *settled { "" } else { " (step open)" };
                write!(f, "ok {}{open}", status.as_str())
            }
            Outcome::Fail(r) => write!(f, "fail {r:?}"),
            Outcome::Unknown(why) => write!(f, "unknown ({why})"),
        }
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ret = if self.ret == Micros::MAX {
            "open".to_owned()
        } else {
            fmt_micros(self.ret)
        };
        write!(
            f,
            "#{} p{} [{} .. {}] {} -> {}",
            self.index,
            self.process,
            fmt_micros(self.call),
            ret,
            self.op,
            self.outcome
        )
    }
}

/// `12.345678s`.
pub fn fmt_micros(t: Micros) -> String {
    format!("{}.{:06}s", t / 1_000_000, t % 1_000_000)
}
