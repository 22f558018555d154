//! The sequential specification of one product's stock, written independently of the state
//! machine it checks: three counters plus the state of every reservation that names the
//! product. Operations on several products are *projected* onto each of them; a projection
//! keeps exactly what the product's own state decides, so any history that is linearizable
//! as a whole has linearizable projections (a violation found here is a real one).

use std::collections::BTreeMap;

use crate::history::{Counters, Estado, Observed, Op, Outcome, ProductId, Record, Refusal};

/// A reservation id's state in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// Never asked for nor released.
    Absent,
    /// Refused for want of stock: the id keeps that answer for good (a late duplicate is
    /// refused the same way), and a read finds no reservation.
    Refused,
    /// A reservation in one of the API's states (a release that came first: `Liberada`).
    Is(Estado),
    /// Confirmed and closed for good (`encerrar`): its units stay sold, it cannot be
    /// released, and it is settled.
    Closed,
    /// Settled and then forgotten by the retention window: the catalog knows nothing of
    /// the id, and a re-sent reservation (issued before the low-water mark) is refused as
    /// expired. Only in runs with a retention window.
    Forgotten,
}

impl Slot {
    /// What a read of the reservation shows (`None`: not found).
    pub fn visible(self) -> Option<Estado> {
        match self {
            Slot::Is(e) => Some(e),
            Slot::Closed => Some(Estado::Confirmada),
            Slot::Absent | Slot::Refused | Slot::Forgotten => None,
        }
    }

    /// True if nothing can change the record any more, so the retention window may forget
    /// it: a release (or tombstone), a refusal, a closed confirmation.
    pub fn settled(self) -> bool {
        matches!(
            self,
            Slot::Refused | Slot::Closed | Slot::Is(Estado::Liberada)
        )
    }
}

/// One product's state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProductState {
    /// The three counters.
    pub counters: Counters,
    /// State of each reservation naming this product, by dense index (see [`Projection`]).
    pub slots: Vec<Slot>,
}

/// The operations of one product's projection and what the model needs to step them.
#[derive(Debug, Clone)]
pub struct Projection {
    /// The product.
    pub product: ProductId,
    /// Reservation id to dense slot index.
    pub slot_of: BTreeMap<String, usize>,
    /// Units of this product in each slot's reservation.
    pub units: Vec<u64>,
    /// Every product of each slot's reservation, with units (for multi-product refusals).
    pub items: Vec<Vec<(ProductId, u64)>>,
    /// The run has a retention window: settled records may be forgotten at any moment
    /// (an internal step of the catalog, taken lazily before an operation on the slot).
    pub expiry: bool,
}

fn per_product(items: &[(ProductId, u64)]) -> BTreeMap<ProductId, u64> {
    let mut m = BTreeMap::new();
    for (p, q) in items {
        *m.entry(*p).or_insert(0) += *q;
    }
    m
}

impl Projection {
    /// The projection of `records` onto `product`: the reservations that name it.
    pub fn new(product: ProductId, records: &[Record]) -> Self {
        let mut slot_of = BTreeMap::new();
        let mut units = Vec::new();
        let mut items = Vec::new();
        for r in records {
            if let Op::Reserve {
                rid, items: its, ..
            } = &r.op
            {
                let pp = per_product(its);
                if let Some(q) = pp.get(&product) {
                    if !slot_of.contains_key(rid) {
                        slot_of.insert(rid.clone(), units.len());
                        units.push(*q);
                        items.push(pp.into_iter().collect());
                    }
                }
            }
        }
        Self {
            product,
            slot_of,
            units,
            items,
            expiry: false,
        }
    }

    /// The same projection for a run with a retention window (see [`Projection::expiry`]).
    pub fn with_expiry(mut self, expiry: bool) -> Self {
        self.expiry = expiry;
        self
    }

    /// The state before any operation: `counters`, no reservations.
    pub fn initial(&self, counters: Counters) -> ProductState {
        ProductState {
            counters,
            slots: vec![Slot::Absent; self.units.len()],
        }
    }

    /// Whether `op` belongs to this projection (local reads never do: they may be stale).
    pub fn includes(&self, op: &Op) -> bool {
        match op {
            Op::Reserve { rid, .. }
            | Op::Confirm { rid }
            | Op::Release { rid }
            | Op::Close { rid }
            | Op::ReadReservation { rid } => self.slot_of.contains_key(rid),
            Op::Adjust { product, .. } => *product == self.product,
            Op::Read { product, level, .. } => {
                *product == self.product && *level == crate::history::ReadLevel::Linearizable
            }
            // The saga's operations reach the catalog through the orders service; the saga
            // runs on products of its own and has its own checker.
            _ => false,
        }
    }

    /// Every state `op` can lead to from `s` while producing the observed `outcome` (an
    /// unknown outcome constrains nothing). Empty: `op` cannot take effect here.
    ///
    /// With a retention window, a settled slot the operation names may have been forgotten
    /// just before it: both are tried. Forgetting is for good (until a release leaves a
    /// fresh tombstone), so a slot once answered as forgotten is never remembered again.
    pub fn step(&self, s: &ProductState, op: &Op, outcome: &Outcome) -> Vec<ProductState> {
        let slot = op.rid().and_then(|rid| self.slot_of.get(rid)).copied();
        let mut out = self.step_one(s, op, outcome);
        if let Some(i) = slot {
            if self.expiry && s.slots[i].settled() {
                let mut gone = s.clone();
                gone.slots[i] = Slot::Forgotten;
                for n in self.step_one(&gone, op, outcome) {
                    // A state that still remembers a settled slot may forget it before any
                    // later operation, so it stands for its forgotten twin: keeping both
                    // would double the states for every such slot (and the search with them).
                    let twin = out.iter().any(|r| {
                        n.slots[i] == Slot::Forgotten
                            && r.slots[i].settled()
                            && r.counters == n.counters
                            && r.slots
                                .iter()
                                .zip(&n.slots)
                                .enumerate()
                                .all(|(j, (a, b))| j == i || a == b)
                    });
                    if !twin && !out.contains(&n) {
                        out.push(n);
                    }
                }
            }
        }
        out
    }

    fn step_one(&self, s: &ProductState, op: &Op, outcome: &Outcome) -> Vec<ProductState> {
        let unknown = matches!(outcome, Outcome::Unknown(_));
        match op {
            Op::Checkout { .. }
            | Op::SetStatus { .. }
            | Op::ReadOrder { .. }
            | Op::ReadOrderReservation { .. } => Vec::new(),
            Op::Read { .. } => match outcome {
                Outcome::Ok(Observed::Stock(r)) if r.counters == s.counters => vec![s.clone()],
                Outcome::Ok(_) => Vec::new(),
                // A refused or unanswered read changes nothing and says nothing.
                _ => vec![s.clone()],
            },
            Op::ReadReservation { rid } => {
                let Some(&i) = self.slot_of.get(rid) else {
                    return Vec::new();
                };
                match outcome {
                    Outcome::Ok(Observed::Reservation(e)) if *e == s.slots[i].visible() => {
                        vec![s.clone()]
                    }
                    Outcome::Fail(Refusal::NotFound) if s.slots[i].visible().is_none() => {
                        vec![s.clone()]
                    }
                    Outcome::Unknown(_) => vec![s.clone()],
                    _ => Vec::new(),
                }
            }
            Op::Adjust { delta, .. } => {
                let next = s.counters.disponivel + delta;
                if next < 0 {
                    match outcome {
                        Outcome::Fail(Refusal::NegativeStock) => vec![s.clone()],
                        Outcome::Unknown(_) => vec![s.clone()],
                        _ => Vec::new(),
                    }
                } else {
                    let mut n = s.clone();
                    n.counters.disponivel = next;
                    match outcome {
                        Outcome::Ok(Observed::Available(a)) if i64::try_from(*a) == Ok(next) => {
                            vec![n]
                        }
                        Outcome::Unknown(_) => vec![n],
                        _ => Vec::new(),
                    }
                }
            }
            Op::Reserve { rid, .. } => {
                let Some(&i) = self.slot_of.get(rid) else {
                    return Vec::new();
                };
                self.reserve(s, i, outcome, unknown)
            }
            Op::Close { rid } => {
                let Some(&i) = self.slot_of.get(rid) else {
                    return Vec::new();
                };
                let (next, result) = match s.slots[i] {
                    Slot::Absent | Slot::Refused | Slot::Forgotten => {
                        (s.clone(), Outcome::Fail(Refusal::NotFound))
                    }
                    Slot::Is(Estado::Reservada) => (s.clone(), Outcome::Fail(Refusal::Open)),
                    Slot::Is(Estado::Liberada) => (
                        s.clone(),
                        Outcome::Ok(Observed::Reservation(Some(Estado::Liberada))),
                    ),
                    Slot::Is(Estado::Confirmada) | Slot::Closed => {
                        let mut n = s.clone();
                        n.slots[i] = Slot::Closed;
                        (
                            n,
                            Outcome::Ok(Observed::Reservation(Some(Estado::Confirmada))),
                        )
                    }
                };
                if unknown || *outcome == result {
                    vec![next]
                } else if self.expiry
                    && *outcome == Outcome::Fail(Refusal::NotFound)
                    && next.slots[i] == Slot::Closed
                {
                    // The call's first attempt closed it, the window forgot it, and a retry
                    // of the same call found nothing: one call, all three within it.
                    let mut gone = next;
                    gone.slots[i] = Slot::Forgotten;
                    vec![gone]
                } else {
                    Vec::new()
                }
            }
            Op::Confirm { rid } => {
                let Some(&i) = self.slot_of.get(rid) else {
                    return Vec::new();
                };
                let q = self.units[i] as i64;
                let (next, result) = match s.slots[i] {
                    Slot::Absent | Slot::Refused | Slot::Forgotten => {
                        (s.clone(), Outcome::Fail(Refusal::NotFound))
                    }
                    Slot::Is(Estado::Liberada) => (s.clone(), Outcome::Fail(Refusal::Released)),
                    Slot::Is(Estado::Confirmada) | Slot::Closed => (
                        s.clone(),
                        Outcome::Ok(Observed::Reservation(Some(Estado::Confirmada))),
                    ),
                    Slot::Is(Estado::Reservada) => {
                        let mut n = s.clone();
                        n.counters.reservado -= q;
                        n.counters.vendido += q;
                        n.slots[i] = Slot::Is(Estado::Confirmada);
                        (
                            n,
                            Outcome::Ok(Observed::Reservation(Some(Estado::Confirmada))),
                        )
                    }
                };
                if unknown || *outcome == result {
                    vec![next]
                } else {
                    Vec::new()
                }
            }
            Op::Release { rid } => {
                let Some(&i) = self.slot_of.get(rid) else {
                    return Vec::new();
                };
                let q = self.units[i] as i64;
                let mut n = s.clone();
                match s.slots[i] {
                    // A closed confirmation keeps its units sold.
                    Slot::Closed => {
                        return match outcome {
                            Outcome::Fail(Refusal::Closed) | Outcome::Unknown(_) => {
                                vec![s.clone()]
                            }
                            _ => Vec::new(),
                        }
                    }
                    // A forgotten id gets a fresh tombstone and moves no unit.
                    Slot::Absent | Slot::Refused | Slot::Forgotten | Slot::Is(Estado::Liberada) => {
                    }
                    Slot::Is(Estado::Reservada) => {
                        n.counters.reservado -= q;
                        n.counters.disponivel += q;
                    }
                    Slot::Is(Estado::Confirmada) => {
                        n.counters.vendido -= q;
                        n.counters.disponivel += q;
                    }
                }
                n.slots[i] = Slot::Is(Estado::Liberada);
                let ok = Outcome::Ok(Observed::Reservation(Some(Estado::Liberada)));
                if unknown || *outcome == ok {
                    vec![n]
                } else {
                    Vec::new()
                }
            }
        }
    }

    fn reserve(
        &self,
        s: &ProductState,
        i: usize,
        outcome: &Outcome,
        unknown: bool,
    ) -> Vec<ProductState> {
        match s.slots[i] {
            Slot::Is(Estado::Liberada) => {
                return match outcome {
                    Outcome::Fail(Refusal::Released) | Outcome::Unknown(_) => vec![s.clone()],
                    _ => Vec::new(),
                }
            }
            // Forgotten, and re-sent with the time it was first issued: always before the
            // low-water mark that forgot it, so refused and never reserved again.
            Slot::Forgotten => {
                return match outcome {
                    Outcome::Fail(Refusal::Expired) | Outcome::Unknown(_) => vec![s.clone()],
                    _ => Vec::new(),
                }
            }
            Slot::Closed => {
                return match outcome {
                    Outcome::Ok(Observed::Reservation(Some(Estado::Confirmada)))
                    | Outcome::Unknown(_) => vec![s.clone()],
                    _ => Vec::new(),
                }
            }
            Slot::Is(e) => {
                return match outcome {
                    Outcome::Ok(Observed::Reservation(Some(got))) if *got == e => vec![s.clone()],
                    Outcome::Unknown(_) => vec![s.clone()],
                    _ => Vec::new(),
                }
            }
            // Refused once, refused for good, with the same answer.
            Slot::Refused => {
                return match outcome {
                    Outcome::Fail(Refusal::InsufficientStock(_)) | Outcome::Unknown(_) => {
                        vec![s.clone()]
                    }
                    _ => Vec::new(),
                }
            }
            Slot::Absent => {
                // A request that reached the log more than a window after it was issued is
                // refused as expired however new its id; nothing changes.
                // The low-water mark only rises, so the id is refused for good: as forgotten.
                if self.expiry && *outcome == Outcome::Fail(Refusal::Expired) {
                    let mut gone = s.clone();
                    gone.slots[i] = Slot::Forgotten;
                    return vec![gone];
                }
            }
        }
        let q = self.units[i] as i64;
        let enough = s.counters.disponivel >= q;
        let mut taken = s.clone();
        taken.counters.disponivel -= q;
        taken.counters.reservado += q;
        taken.slots[i] = Slot::Is(Estado::Reservada);
        let mut refused = s.clone();
        refused.slots[i] = Slot::Refused;
        let multi = self.items[i].len() > 1;
        if unknown {
            // Applied or refused; with several products, another one may have been short.
            return match (enough, multi) {
                (true, false) => vec![taken],
                (true, true) => vec![taken, refused],
                (false, _) => vec![refused],
            };
        }
        match outcome {
            Outcome::Ok(Observed::Reservation(Some(Estado::Reservada))) if enough => vec![taken],
            Outcome::Fail(Refusal::InsufficientStock(short)) => match short {
                // The state machine checks products in id order and names the first short one.
                Some(p) if *p == self.product => {
                    if enough {
                        Vec::new()
                    } else {
                        vec![refused]
                    }
                }
                Some(p) if *p > self.product && !enough => Vec::new(),
                Some(p) if self.items[i].iter().any(|(x, _)| x == p) => vec![refused],
                Some(_) => Vec::new(),
                None => vec![refused],
            },
            _ => Vec::new(),
        }
    }
}

/// Every total `base + Σ must + Σ (any subset of may)`: the units a product may have
/// received when the adjustments in `must` certainly applied and those in `may` might have.
/// Past [`MAX_EXACT`] optional terms it returns the whole interval instead (still sound: it
/// can only accept more).
pub fn reachable_totals(base: i64, must: &[i64], may: &[i64]) -> Reachable {
    let start = base + must.iter().sum::<i64>();
    if may.len() > MAX_EXACT {
        let lo = start + may.iter().filter(|d| **d < 0).sum::<i64>();
        let hi = start + may.iter().filter(|d| **d > 0).sum::<i64>();
        return Reachable::Range(lo, hi);
    }
    let mut set = std::collections::BTreeSet::from([start]);
    for d in may {
        let shifted: Vec<i64> = set.iter().map(|s| s + d).collect();
        set.extend(shifted);
    }
    Reachable::Exact(set)
}

/// Most optional adjustments [`reachable_totals`] enumerates exactly.
pub const MAX_EXACT: usize = 64;

/// The result of [`reachable_totals`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachable {
    /// Exactly these totals.
    Exact(std::collections::BTreeSet<i64>),
    /// Any total in this closed interval.
    Range(i64, i64),
}

impl Reachable {
    /// Whether `total` is reachable.
    pub fn contains(&self, total: i64) -> bool {
        match self {
            Reachable::Exact(s) => s.contains(&total),
            Reachable::Range(lo, hi) => (*lo..=*hi).contains(&total),
        }
    }
}

impl std::fmt::Display for Reachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reachable::Exact(s) if s.len() <= 8 => {
                let v: Vec<String> = s.iter().map(|x| x.to_string()).collect();
                write!(f, "{{{}}}", v.join(", "))
            }
            Reachable::Exact(s) => write!(
                f,
                "{} values in {}..={}",
                s.len(),
                s.first().copied().unwrap_or_default(),
                s.last().copied().unwrap_or_default()
            ),
            Reachable::Range(lo, hi) => write!(f, "{lo}..={hi}"),
        }
    }
}
