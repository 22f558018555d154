//! Small builders for checker unit tests.

use crate::history::{
    Counters, Estado, Micros, Observed, Op, Outcome, ReadLevel, Record, Refusal, StockRead,
};

use super::RunData;

/// Counters `d/r/v`.
pub fn c(d: i64, r: i64, v: i64) -> Counters {
    Counters {
        disponivel: d,
        reservado: r,
        vendido: v,
    }
}

/// A run over product 1 starting at `5/0/0`.
pub fn run(records: Vec<Record>) -> RunData {
    RunData {
        records,
        initial: [(1, c(5, 0, 0))].into(),
        ..RunData::default()
    }
}

/// A record of `op` by process `p`, called at `call`, returned at `ret`.
pub fn rec(index: usize, p: usize, call: Micros, ret: Micros, op: Op, outcome: Outcome) -> Record {
    Record {
        index,
        process: p,
        op,
        call,
        ret,
        outcome,
    }
}

/// A stock read of product 1 that saw `counters` at `applied` on `node`.
pub fn read(
    level: ReadLevel,
    node: Option<u64>,
    counters: Counters,
    applied: Option<u64>,
) -> (Op, Outcome) {
    (
        Op::Read {
            product: 1,
            level,
            node,
        },
        Outcome::Ok(Observed::Stock(StockRead {
            counters,
            recebido: counters.disponivel + counters.reservado + counters.vendido,
            applied,
            served_by: node,
        })),
    )
}

/// `reserve rid [1 x q]`.
pub fn reserve(rid: &str, q: u64) -> Op {
    Op::Reserve {
        rid: rid.into(),
        items: vec![(1, q)],
        issued: None,
    }
}

/// An acknowledged reservation call that left `e`.
pub fn ok(e: Estado) -> Outcome {
    Outcome::Ok(Observed::Reservation(Some(e)))
}

/// A refusal.
pub fn fail(r: Refusal) -> Outcome {
    Outcome::Fail(r)
}

/// An unknown outcome.
pub fn unknown() -> Outcome {
    Outcome::Unknown("timeout".into())
}
