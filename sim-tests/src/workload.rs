//! The client hosts: concurrent processes reserving, confirming, releasing and adjusting
//! stock with unique ids, and reading at both levels — through the real catalog client
//! (leader discovery, retries, breaker) and, for reads pinned to one node, through the real
//! client transport — plus a control process that sets the stage before the workload and
//! takes the final reads after healing.
//!
//! Every operation is recorded with its invocation and completion in simulated time and its
//! outcome. Processes share the run's state through an `Rc<RefCell<_>>`: every host of a
//! simulation runs on the one simulation thread, and no borrow is held across an `.await`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use confeitaria_client::{CallPolicy, CatalogClient, ClientError, Consistency, Transport};
use confeitaria_types::auth::{self, TokenRole};
use confeitaria_types::{ClusterStatus, ItemReserva, NovaReserva};
use http::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use crate::cluster::{api_addr, JWT_SECRET};
use crate::history::{
    Counters, Estado, History, Micros, NodeId, Observed, Op, Outcome, ProductId, ReadLevel,
    Refusal, StockRead,
};
use crate::net::SimConnector;

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
        }
    }
}

/// State shared by the driver and the client processes of one run.
#[derive(Debug, Default)]
pub struct Shared {
    /// The history being recorded.
    pub history: History,
    /// When the stage was set and the workload may start.
    pub setup_done: Option<Micros>,
    /// When processes stop invoking operations (and the driver heals everything).
    pub workload_end: Option<Micros>,
    /// Set by the driver once every fault is healed.
    pub healed: bool,
    /// Processes that have finished.
    pub workers_done: usize,
    /// Each product's counters at the start of the workload.
    pub initial: BTreeMap<ProductId, Counters>,
    /// The same, for products only the orders service writes.
    pub saga_initial: BTreeMap<ProductId, Counters>,
    /// The process id of the final reads, once taken.
    pub final_process: Option<usize>,
    /// Notes for the trace, in the order they happened.
    pub notes: Vec<String>,
    /// Connections of finished processes, kept open to the end of the run.
    pub keep: KeepAlive,
    /// Record refusals after a retry as unknown (see [`Conn::execute`]).
    pub lenient: bool,
}

/// Things that must outlive their process.
///
/// A finished process's catalog client would otherwise be dropped on the spot, and hyper's
/// connection pool closes its idle connections in `HashMap` order — random per process —
/// sending FINs whose order would leak into the simulation. Kept here, they are dropped
/// only once the simulation is over.
#[derive(Default)]
pub struct KeepAlive(pub Vec<Box<dyn std::any::Any>>);

impl std::fmt::Debug for KeepAlive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeepAlive({} items)", self.0.len())
    }
}

/// A handle on the shared state.
pub type SharedRef = Rc<RefCell<Shared>>;

/// Simulated time now, in microseconds since the start of the run.
pub fn now() -> Micros {
    turmoil::sim_elapsed()
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// An admin token with a fixed expiry (year 2100), so every run sends identical bytes.
pub fn admin_token() -> String {
    auth::sign(
        JWT_SECRET.as_bytes(),
        TokenRole::Admin,
        "sim",
        4_102_444_800 - 1,
        1,
    )
    .unwrap_or_default()
}

/// The client policy of simulated processes: short deadlines, as a shop's services use.
pub fn policy() -> CallPolicy {
    CallPolicy {
        deadline: Duration::from_millis(2000),
        attempt: Duration::from_millis(1000),
        backoff: Duration::from_millis(20),
    }
}

/// Deadline of one pinned read.
const PINNED_DEADLINE: Duration = Duration::from_millis(1000);

/// A process's connections: the catalog client, and the transport for pinned requests.
#[derive(Debug)]
pub struct Conn {
    client: CatalogClient<SimConnector>,
    transport: Transport<SimConnector>,
    nodes: u64,
}

impl Conn {
    /// Connections to an `nodes`-node cluster, the client's jitter seeded with `seed`.
    pub fn new(nodes: u64, seed: u64) -> Self {
        let token = admin_token();
        let addrs = (1..=nodes).map(api_addr).collect();
        let client = CatalogClient::with_transport(addrs, Transport::new(SimConnector::default()))
            .with_token(token)
            .with_policy(policy())
            .with_seed(seed);
        Self {
            client,
            transport: Transport::new(SimConnector::default()),
            nodes,
        }
    }

    /// Attempts the catalog client has made so far, over all nodes.
    fn attempts(&self) -> u64 {
        self.client.nodes().iter().map(|n| n.attempts).sum()
    }

    /// Runs `op` and returns its outcome.
    ///
    /// With `lenient`, a write refused after the client had to try more than once is
    /// recorded as unknown: an earlier attempt may still be applied later (see
    /// `sim-tests/README.md`, "Findings").
    pub async fn execute(&self, op: &Op, lenient: bool) -> Outcome {
        let before = self.attempts();
        let outcome = self.execute_once(op).await;
        let retried = self.attempts() > before + 1;
        match outcome {
            Outcome::Fail(r) if op.is_write() && retried && lenient => Outcome::Unknown(format!(
                "refused ({r:?}) after a retry; an earlier attempt may still apply"
            )),
            o => o,
        }
    }

    async fn execute_once(&self, op: &Op) -> Outcome {
        match op {
            Op::Reserve { rid, items } => {
                let r = NovaReserva {
                    id: rid.clone(),
                    itens: items
                        .iter()
                        .map(|(p, q)| ItemReserva {
                            doce_id: *p,
                            quantidade: *q,
                        })
                        .collect(),
                };
                reservation(self.client.reservar(&r).await)
            }
            Op::Confirm { rid } => reservation(self.client.confirmar(rid).await),
            Op::Release { rid } => reservation(self.client.liberar(rid).await),
            Op::Adjust { product, delta } => {
                match self.client.adjust_estoque(*product, *delta).await {
                    Ok(d) => Outcome::Ok(Observed::Available(d.estoque)),
                    Err(e) => refused(e),
                }
            }
            Op::Read {
                product,
                level,
                node: None,
            } => {
                let c = match level {
                    ReadLevel::Linearizable => Consistency::Linearizable,
                    ReadLevel::Local => Consistency::Local,
                };
                match self.client.estoque(*product, c).await {
                    Ok(e) => Outcome::Ok(Observed::Stock(StockRead {
                        counters: Counters {
                            disponivel: signed(e.disponivel),
                            reservado: signed(e.reservado),
                            vendido: signed(e.vendido),
                        },
                        recebido: signed(e.recebido),
                        applied: None,
                        served_by: None,
                    })),
                    Err(e) => refused(e),
                }
            }
            Op::Read {
                product,
                level,
                node: Some(n),
            } => self.pinned_read(*n, *product, *level).await,
            Op::ReadReservation { rid } | Op::ReadOrderReservation { rid, .. } => {
                match self
                    .client
                    .obter_reserva(rid, Consistency::Linearizable)
                    .await
                {
                    Ok(r) => Outcome::Ok(Observed::Reservation(Some(r.estado.into()))),
                    Err(e) => refused(e),
                }
            }
            // Calls to the orders service go through `crate::saga`.
            Op::Checkout { .. } | Op::SetStatus { .. } | Op::ReadOrder { .. } => {
                Outcome::Fail(Refusal::Other("not a catalog call".into()))
            }
        }
    }

    /// Reads a product's stock on one node, with the applied index it was served at.
    async fn pinned_read(&self, node: NodeId, product: ProductId, level: ReadLevel) -> Outcome {
        let level = match level {
            ReadLevel::Linearizable => "linearizable",
            ReadLevel::Local => "local",
        };
        let url = format!(
            "http://{}/api/produtos/{product}/estoque?consistency={level}",
            api_addr(node)
        );
        let resp = match self
            .transport
            .send(Method::GET, &url, &[], None, PINNED_DEADLINE)
            .await
        {
            Ok(r) => r,
            Err(e) => return Outcome::Unknown(e.to_string()),
        };
        if !resp.status.is_success() {
            return if resp.status.is_server_error() {
                Outcome::Unknown(format!("status {}", resp.status.as_u16()))
            } else if resp.status == http::StatusCode::NOT_FOUND {
                Outcome::Fail(Refusal::NotFound)
            } else {
                Outcome::Fail(Refusal::Other(format!("status {}", resp.status.as_u16())))
            };
        }
        #[derive(Deserialize)]
        struct Raw {
            disponivel: i64,
            reservado: i64,
            vendido: i64,
            recebido: i64,
        }
        match serde_json::from_slice::<Raw>(&resp.body) {
            Ok(r) => Outcome::Ok(Observed::Stock(StockRead {
                counters: Counters {
                    disponivel: r.disponivel,
                    reservado: r.reservado,
                    vendido: r.vendido,
                },
                recebido: r.recebido,
                applied: resp
                    .header("x-raft-applied-index")
                    .and_then(|v| v.parse().ok()),
                served_by: resp.header("x-served-by").and_then(|v| v.parse().ok()),
            })),
            Err(e) => Outcome::Fail(Refusal::Other(format!("undecodable stock: {e}"))),
        }
    }

    /// One node's `/cluster/status`, if it answers.
    async fn status(&self, node: NodeId) -> Option<ClusterStatus> {
        let url = format!("http://{}/cluster/status", api_addr(node));
        let resp = self
            .transport
            .send(Method::GET, &url, &[], None, PINNED_DEADLINE)
            .await
            .ok()?;
        if !resp.status.is_success() {
            return None;
        }
        serde_json::from_slice(&resp.body).ok()
    }
}

pub(crate) fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn reservation(r: Result<confeitaria_types::Reserva, ClientError>) -> Outcome {
    match r {
        Ok(r) => Outcome::Ok(Observed::Reservation(Some(Estado::from(r.estado)))),
        Err(e) => refused(e),
    }
}

/// Maps a client error to an outcome: 4xx are refusals (nothing applied), the rest unknown.
fn refused(e: ClientError) -> Outcome {
    match e {
        ClientError::NotFound => Outcome::Fail(Refusal::NotFound),
        ClientError::Conflict { code, message } => Outcome::Fail(match code.as_str() {
            "insufficient_stock" => Refusal::InsufficientStock(short_product(&message)),
            "negative_stock" => Refusal::NegativeStock,
            "reservation_released" => Refusal::Released,
            _ => Refusal::Other(code),
        }),
        ClientError::BadRequest { code, .. } => Outcome::Fail(Refusal::Other(code)),
        ClientError::Unauthorized(m) => Outcome::Fail(Refusal::Other(format!("unauthorized {m}"))),
        ClientError::NoLeader => Outcome::Unknown("no leader".into()),
        ClientError::Unavailable(m) => Outcome::Unknown(m),
    }
}

/// The product named by "insufficient stock for product 7: ...".
fn short_product(message: &str) -> Option<ProductId> {
    let rest = message.strip_prefix("insufficient stock for product ")?;
    rest.split(':').next()?.trim().parse().ok()
}

/// Runs `op` as `process`, recording its invocation and outcome.
pub(crate) async fn record(shared: &SharedRef, conn: &Conn, process: usize, op: Op) -> Outcome {
    let (p, lenient) = {
        let mut s = shared.borrow_mut();
        (s.history.invoke(process, op.clone(), now()), s.lenient)
    };
    let outcome = conn.execute(&op, lenient).await;
    shared
        .borrow_mut()
        .history
        .complete(p, outcome.clone(), now());
    outcome
}

pub(crate) async fn wait_until(shared: &SharedRef, f: impl Fn(&Shared) -> bool) {
    while !f(&shared.borrow()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a process remembers of its own reservations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mine {
    /// Its reservation was acknowledged or may have applied.
    Held,
    /// A confirmation was sent.
    Confirmed,
    /// A release was sent, or the reservation was refused.
    Done,
}

/// A workload process: random operations until the workload ends.
pub async fn process(
    shared: SharedRef,
    cfg: WorkloadConfig,
    nodes: u64,
    id: usize,
    seed: u64,
) -> turmoil::Result {
    let mut rng = StdRng::seed_from_u64(seed);
    let conn = Conn::new(nodes, rng.gen());
    wait_until(&shared, |s| s.setup_done.is_some()).await;
    let end = shared.borrow().workload_end.unwrap_or(0);
    let mut mine: BTreeMap<String, Mine> = BTreeMap::new();
    let mut n = 0u32;
    while now() < end {
        let op = next_op(&mut rng, &cfg, nodes, id, &mut n, &mine);
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
    mine: &'a BTreeMap<String, Mine>,
    f: fn(Mine) -> bool,
) -> Option<&'a String> {
    let c: Vec<&String> = mine
        .iter()
        .filter(|(_, m)| f(**m))
        .map(|(r, _)| r)
        .collect();
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
    mine: &BTreeMap<String, Mine>,
) -> Op {
    let product = cfg.products[rng.gen_range(0..cfg.products.len())];
    let roll = rng.gen_range(0..100);
    if (30..42).contains(&roll) {
        if let Some(rid) = pick(rng, mine, |m| m == Mine::Held) {
            return Op::Confirm { rid: rid.clone() };
        }
    }
    if (42..57).contains(&roll) {
        if let Some(rid) = pick(rng, mine, |m| m != Mine::Done) {
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
            }
        }
    }
}

fn note_mine(mine: &mut BTreeMap<String, Mine>, op: &Op, outcome: &Outcome) {
    match op {
        Op::Reserve { rid, .. } => {
            let m = if matches!(outcome, Outcome::Fail(_)) {
                Mine::Done
            } else {
                Mine::Held
            };
            mine.insert(rid.clone(), m);
        }
        Op::Confirm { rid } => {
            mine.insert(rid.clone(), Mine::Confirmed);
        }
        Op::Release { rid } => {
            mine.insert(rid.clone(), Mine::Done);
        }
        _ => {}
    }
}

/// How long the control process waits for the stage to be set, and for the healed cluster
/// to converge, before giving up (simulated ms).
const PATIENCE_MS: u64 = 30_000;

/// The control process: sets every product's stock, opens the workload, then — once the
/// driver has healed everything and the processes are done — waits for the cluster to
/// converge and takes the final reads as process `id`.
pub async fn control(
    shared: SharedRef,
    cfg: WorkloadConfig,
    nodes: u64,
    id: usize,
    seed: u64,
) -> turmoil::Result {
    let conn = Conn::new(nodes, seed);
    let result = control_with(&shared, &cfg, nodes, id, &conn).await;
    shared.borrow_mut().keep.0.push(Box::new(conn));
    result
}

async fn control_with(
    shared: &SharedRef,
    cfg: &WorkloadConfig,
    nodes: u64,
    id: usize,
    conn: &Conn,
) -> turmoil::Result {
    let give_up = now() + PATIENCE_MS * 1000;
    for &p in &cfg.products {
        while conn.client.set_estoque(p, cfg.initial_stock).await.is_err() {
            if now() > give_up {
                return Err(format!("setup: stock of product {p} could not be set").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Every replica applies the stage before the workload starts, so that even a stale
    // local read starts from it.
    if !converge(shared, conn, nodes, "setup").await {
        return Err("setup: the cluster did not converge".into());
    }
    {
        let mut s = shared.borrow_mut();
        let t = now();
        s.setup_done = Some(t);
        s.workload_end = Some(t + cfg.duration_ms * 1000);
        let initial = Counters {
            disponivel: signed(cfg.initial_stock),
            reservado: 0,
            vendido: 0,
        };
        let initial = cfg.products.iter().map(|p| (*p, initial)).collect();
        match cfg.kind {
            Kind::Catalog => s.initial = initial,
            Kind::Saga => s.saga_initial = initial,
        }
        s.notes
            .push(format!("{} setup done", crate::history::fmt_micros(t)));
    }
    let processes = cfg.processes;
    wait_until(shared, |s| s.healed && s.workers_done == processes).await;
    if !converge(shared, conn, nodes, "final").await {
        return Ok(());
    }
    if cfg.kind == Kind::Saga {
        crate::saga::final_reads(shared, conn, id).await;
    }
    for &p in &cfg.products {
        for n in 1..=nodes {
            for level in [ReadLevel::Linearizable, ReadLevel::Local] {
                let op = Op::Read {
                    product: p,
                    level,
                    node: Some(n),
                };
                record(shared, conn, id, op).await;
            }
        }
        let op = Op::Read {
            product: p,
            level: ReadLevel::Linearizable,
            node: None,
        };
        record(shared, conn, id, op).await;
    }
    let rids: Vec<String> = {
        let s = shared.borrow();
        let mut r: Vec<String> = s
            .history
            .records()
            .iter()
            .filter_map(|r| r.op.rid().map(str::to_owned))
            .collect();
        r.sort();
        r.dedup();
        r
    };
    for rid in rids {
        record(shared, conn, id, Op::ReadReservation { rid }).await;
    }
    shared.borrow_mut().final_process = Some(id);
    Ok(())
}

/// Waits until every node answers with the same leader, term and applied index three polls
/// in a row. False if that never happens within [`PATIENCE_MS`] (after healing, a liveness
/// failure).
pub(crate) async fn converge(shared: &SharedRef, conn: &Conn, nodes: u64, what: &str) -> bool {
    let give_up = now() + PATIENCE_MS * 1000;
    let mut stable = 0;
    let mut last = None;
    while now() < give_up {
        let mut seen = Vec::new();
        for n in 1..=conn.nodes.min(nodes) {
            seen.push(
                conn.status(n)
                    .await
                    .map(|s| (s.leader, s.term, s.applied_index)),
            );
        }
        let first = seen.first().cloned().flatten();
        let agreed =
            matches!(first, Some((Some(_), _, Some(_)))) && seen.iter().all(|s| *s == first);
        if agreed && last == first {
            stable += 1;
        } else {
            stable = 0;
        }
        last = first;
        if stable >= 2 {
            shared.borrow_mut().notes.push(format!(
                "{} {what}: converged (leader, term, applied) = {:?}",
                crate::history::fmt_micros(now()),
                last
            ));
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shared.borrow_mut().notes.push(format!(
        "{} {what}: never converged",
        crate::history::fmt_micros(now())
    ));
    false
}
