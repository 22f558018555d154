//! What the driver and the client processes of one run share, and how an operation is
//! recorded. Every host of a simulation runs on the one simulation thread, so the state is an
//! `Rc<RefCell<_>>`; no borrow is held across an `.await`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use crate::conn::Conn;
use crate::history::{Counters, History, Micros, Op, Outcome, ProductId};

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

/// Runs `op` as `process`, recording its invocation and outcome.
pub(crate) async fn record(shared: &SharedRef, conn: &Conn, process: usize, op: Op) -> Outcome {
    let p = shared
        .borrow_mut()
        .history
        .invoke(process, op.clone(), now());
    let outcome = conn.execute(&op).await;
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
