//! The client processes of the catalog run: each, on its own simulated host, reserves (one or
//! two products, all or nothing), confirms and releases its own reservations, adjusts stock
//! and reads at both levels, one operation after another with unique reservation ids, until
//! the workload ends. Every operation is recorded with its invocation and completion in
//! simulated time and its outcome.
//!
//! With a retention window the processes also close confirmed reservations (`encerrar`) and
//! re-send calls of their settled reservations once a window has passed — reservations with
//! the time they were first issued, as a late duplicate would carry it — so that ids the
//! catalog has forgotten come back.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::conn::Conn;
use crate::history::{Op, Outcome, ProductId, ReadLevel};
use crate::shared::{now, record, wait_until, SharedRef};

/// Which clients run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Catalog clients: reservations, stock adjustments and reads, straight to the catalog.
    Catalog,
    /// Shoppers checking out through the orders service (its saga), plus payments and
    /// cancellations; the catalog is reached only through the saga.
    Saga,
}

/// What the workload does.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// Which clients run.
    pub kind: Kind,
    /// Concurrent client processes (one simulated host each).
    pub processes: usize,
    /// Products the workload targets.
    pub products: Vec<ProductId>,
    /// Available stock each product is set to before the workload starts.
    pub initial_stock: u64,
    /// How long processes keep invoking operations, in simulated ms.
    pub duration_ms: u64,
    /// Longest pause of a process between two operations, in ms.
    pub think_ms: u64,
    /// The nodes' retention window, in ms (0: none). When set, reservations carry the time
    /// they were first issued, confirmed ones are closed, and settled ones are re-sent.
    pub retention_ms: u64,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self {
            kind: Kind::Catalog,
            processes: 4,
            products: vec![1, 2, 3],
            initial_stock: 10,
            duration_ms: 5000,
            think_ms: 20,
            retention_ms: 0,
        }
    }
}

/// What a process remembers of its own reservations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mine {
    /// Its reservation was acknowledged or may have applied.
    Held,
    /// A confirmation was sent.
    Confirmed,
    /// A close was sent (after a confirmation).
    Closed,
    /// A release was sent, or the reservation was refused.
    Done,
}

/// One of a process's reservations.
#[derive(Debug, Clone)]
struct Entry {
    state: Mine,
    items: Vec<(ProductId, u64)>,
    issued: Option<u64>,
    /// When its last call returned (simulated µs).
    last: u64,
}

/// Simulated time now, in ms since the Unix epoch (what a node's clock reads).
fn epoch_ms() -> u64 {
    crate::history::EPOCH_MS + now() / 1000
}

/// A workload process: random operations until the workload ends.
pub async fn process(
    shared: SharedRef,
    cfg: WorkloadConfig,
    nodes: u64,
    readers: u64,
    id: usize,
    seed: u64,
) -> turmoil::Result {
    let mut rng = StdRng::seed_from_u64(seed);
    let conn = Conn::new(nodes, rng.gen());
    wait_until(&shared, |s| s.setup_done.is_some()).await;
    let end = shared.borrow().workload_end.unwrap_or(0);
    let mut mine: BTreeMap<String, Entry> = BTreeMap::new();
    let mut n = 0u32;
    while now() < end {
        let op = next_op(&mut rng, &cfg, readers, id, &mut n, &mine);
        let outcome = record(&shared, &conn, id, op.clone()).await;
        note_mine(&mut mine, &op, &outcome);
        let pause = rng.gen_range(0..=cfg.think_ms);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    let mut s = shared.borrow_mut();
    s.workers_done += 1;
    s.keep.0.push(Box::new(conn));
    Ok(())
}

fn pick<'a>(
    rng: &mut StdRng,
    mine: &'a BTreeMap<String, Entry>,
    f: impl Fn(&Entry) -> bool,
) -> Option<&'a String> {
    let c: Vec<&String> = mine.iter().filter(|(_, m)| f(m)).map(|(r, _)| r).collect();
    if c.is_empty() {
        None
    } else {
        Some(c[rng.gen_range(0..c.len())])
    }
}

fn next_op(
    rng: &mut StdRng,
    cfg: &WorkloadConfig,
    nodes: u64,
    id: usize,
    n: &mut u32,
    mine: &BTreeMap<String, Entry>,
) -> Op {
    let product = cfg.products[rng.gen_range(0..cfg.products.len())];
    let roll = rng.gen_range(0..100);
    let expiry = cfg.retention_ms > 0;
    if expiry && roll < 6 {
        // A settled reservation of ours, a window after its last call: likely forgotten.
        let due = now().saturating_sub(cfg.retention_ms * 1000);
        let old = pick(rng, mine, |m| {
            matches!(m.state, Mine::Done | Mine::Closed) && m.last < due
        });
        if let Some(rid) = old {
            let rid = rid.clone();
            let m = &mine[&rid];
            return match rng.gen_range(0..10) {
                0..=5 => Op::Reserve {
                    rid,
                    items: m.items.clone(),
                    issued: m.issued,
                },
                6 | 7 => Op::Release { rid },
                8 => Op::Confirm { rid },
                _ => Op::Close { rid },
            };
        }
    }
    if expiry && (6..12).contains(&roll) {
        if let Some(rid) = pick(rng, mine, |m| m.state == Mine::Confirmed) {
            return Op::Close { rid: rid.clone() };
        }
    }
    if (30..42).contains(&roll) {
        if let Some(rid) = pick(rng, mine, |m| m.state == Mine::Held) {
            return Op::Confirm { rid: rid.clone() };
        }
    }
    if (42..57).contains(&roll) {
        if let Some(rid) = pick(rng, mine, |m| !matches!(m.state, Mine::Done | Mine::Closed)) {
            return Op::Release { rid: rid.clone() };
        }
    }
    match roll {
        57..=64 => {
            let delta = if rng.gen_bool(0.7) {
                rng.gen_range(1..=5)
            } else {
                -rng.gen_range(1..=3)
            };
            Op::Adjust { product, delta }
        }
        65..=79 => Op::Read {
            product,
            level: ReadLevel::Linearizable,
            node: None,
        },
        80..=89 => Op::Read {
            product,
            level: ReadLevel::Linearizable,
            node: Some(rng.gen_range(1..=nodes)),
        },
        90..=99 => Op::Read {
            product,
            level: ReadLevel::Local,
            node: Some(rng.gen_range(1..=nodes)),
        },
        _ => {
            *n += 1;
            let mut items = vec![(product, rng.gen_range(1..=3))];
            if cfg.products.len() > 1 && rng.gen_bool(0.2) {
                let second = cfg.products[rng.gen_range(0..cfg.products.len())];
                if second != product {
                    items.push((second, rng.gen_range(1..=3)));
                }
            }
            Op::Reserve {
                rid: format!("p{id}-{n}"),
                items,
                issued: expiry.then(epoch_ms),
            }
        }
    }
}

fn note_mine(mine: &mut BTreeMap<String, Entry>, op: &Op, outcome: &Outcome) {
    let t = now();
    let failed = matches!(outcome, Outcome::Fail(_));
    match op {
        Op::Reserve { rid, items, issued } => {
            if let Some(m) = mine.get_mut(rid) {
                // A re-send: whatever it met, the reservation stays as it was.
                m.last = t;
                return;
            }
            let state = if failed { Mine::Done } else { Mine::Held };
            mine.insert(
                rid.clone(),
                Entry {
                    state,
                    items: items.clone(),
                    issued: *issued,
                    last: t,
                },
            );
        }
        Op::Confirm { rid } | Op::Release { rid } | Op::Close { rid } => {
            let Some(m) = mine.get_mut(rid) else {
                return;
            };
            m.last = t;
            m.state = match (op, m.state) {
                (_, Mine::Done) => Mine::Done,
                (Op::Release { .. }, Mine::Closed) if failed => Mine::Closed,
                (Op::Release { .. }, _) => Mine::Done,
                (Op::Confirm { .. }, Mine::Held) => Mine::Confirmed,
                (Op::Close { .. }, Mine::Confirmed) if !failed => Mine::Closed,
                (_, s) => s,
            };
        }
        _ => {}
    }
}
