//! The checkers: each decides one property of a finished run from its recorded history and
//! observations, and says precisely what broke. One property per file:
//!
//! - [`stock_invariants`]: the counters add up to what was received, none negative, at
//!   every read;
//! - [`acknowledged_writes`]: after healing, the final state accounts for every
//!   acknowledged operation;
//! - [`linearizability`]: each product's history of linearizable operations is
//!   linearizable (Wing–Gong with Lowe's memoization);
//! - [`election_safety`]: at most one leader per term (in openraft's own sense, see there);
//! - [`monotonic_local_reads`]: `local` reads on one node never go backwards;
//! - [`replica_agreement`]: every read served at the same applied index saw the same
//!   counters, whichever node served it;
//! - [`saga_reservations`]: after healing, every order's reservation matches its status and
//!   no reservation is left dangling.

pub mod acknowledged_writes;
pub mod election_safety;
pub mod linearizability;
pub mod monotonic_local_reads;
pub mod replica_agreement;
pub mod saga_reservations;
pub mod stock_invariants;
#[cfg(test)]
mod testkit;

use std::collections::BTreeMap;

use crate::history::{Counters, Micros, NodeId, ProductId, Record, StockRead};

/// A node seen in the leader state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LeaderSeen {
    /// When.
    pub at: Micros,
    /// Which node.
    pub node: NodeId,
    /// In which term.
    pub term: u64,
}

/// Everything the checkers read about a finished run.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    /// Every operation, in invocation order.
    pub records: Vec<Record>,
    /// Each product's counters when the workload started (set, and acknowledged, before any
    /// workload operation was invoked).
    pub initial: BTreeMap<ProductId, Counters>,
    /// The same for the products only the orders service writes (saga runs).
    pub saga_initial: BTreeMap<ProductId, Counters>,
    /// Every time a node was observed leading (sampled at every simulation step).
    pub leaders: Vec<LeaderSeen>,
    /// The process that made the final reads after healing, if the run got that far.
    pub final_process: Option<usize>,
    /// The nodes ran with a retention window: settled reservations may be forgotten.
    pub expiry: bool,
}

/// The last stock of `product` among the final reads `finals`, or `None` if none read it.
pub fn final_stock(finals: &[&Record], product: ProductId) -> Option<StockRead> {
    finals.iter().rev().find_map(|r| match r.stock() {
        Some((p, _, s)) if p == product => Some(s),
        _ => None,
    })
}

/// A checker: a name and a function from a run to the violations it found.
#[derive(Debug, Clone, Copy)]
pub struct Checker {
    /// Short name, as printed.
    pub name: &'static str,
    /// The check.
    pub check: fn(&RunData) -> Vec<String>,
}

/// Every checker, in the order they are run and reported.
pub const ALL: &[Checker] = &[
    Checker {
        name: "stock-invariants",
        check: stock_invariants::check,
    },
    Checker {
        name: "acknowledged-writes",
        check: acknowledged_writes::check,
    },
    Checker {
        name: "linearizability",
        check: linearizability::check,
    },
    Checker {
        name: "election-safety",
        check: election_safety::check,
    },
    Checker {
        name: "monotonic-local-reads",
        check: monotonic_local_reads::check,
    },
    Checker {
        name: "replica-agreement",
        check: replica_agreement::check,
    },
    Checker {
        name: "saga-reservations",
        check: saga_reservations::check,
    },
];

/// One violated property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The checker that found it.
    pub checker: &'static str,
    /// What exactly broke.
    pub message: String,
}

/// Runs every checker over `run`.
pub fn check_all(run: &RunData) -> Vec<Violation> {
    ALL.iter()
        .flat_map(|c| {
            (c.check)(run).into_iter().map(|message| Violation {
                checker: c.name,
                message,
            })
        })
        .collect()
}
