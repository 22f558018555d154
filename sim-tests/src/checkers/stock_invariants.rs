//! Stock invariants, at every read (either level, the final ones included): no counter is
//! negative, `disponivel + reservado + vendido == recebido`, and `recebido` is what the
//! product was given at the start plus stock adjustments — every adjustment acknowledged
//! before a linearizable read began, any subset of those that may have applied by then
//! (acknowledged concurrently, or with an unknown outcome), and nothing else. A `local` read
//! may be stale, so for it every earlier adjustment is optional.

use super::RunData;
use crate::history::{Op, Outcome, ReadLevel, Record};
use crate::model::reachable_totals;

/// Most violations reported in full; the rest are counted.
const SHOWN: usize = 5;

/// The violations, one per offending read.
pub fn check(run: &RunData) -> Vec<String> {
    let mut out = Vec::new();
    let mut hidden = 0usize;
    for r in &run.records {
        let Some((product, level, s)) = r.stock() else {
            continue;
        };
        let c = s.counters;
        let mut problems = Vec::new();
        if c.disponivel < 0 || c.reservado < 0 || c.vendido < 0 || s.recebido < 0 {
            problems.push(format!("a negative counter ({c}, recebido {})", s.recebido));
        }
        if c.disponivel + c.reservado + c.vendido != s.recebido {
            problems.push(format!(
                "{} + {} + {} != recebido {}",
                c.disponivel, c.reservado, c.vendido, s.recebido
            ));
        }
        if let Some(init) = run
            .initial
            .get(&product)
            .or_else(|| run.saga_initial.get(&product))
        {
            let base = init.disponivel + init.reservado + init.vendido;
            let (must, may) = adjustments(run, r, product, level);
            let totals = reachable_totals(base, &must, &may);
            if !totals.contains(s.recebido) {
                problems.push(format!(
                    "recebido {} is not a reachable total ({totals}: started at {base}, \
                     {} adjustments certainly applied, {} possibly)",
                    s.recebido,
                    must.len(),
                    may.len()
                ));
            }
        }
        if problems.is_empty() {
            continue;
        }
        if out.len() < SHOWN {
            out.push(format!("read {r}: {}", problems.join("; ")));
        } else {
            hidden += 1;
        }
    }
    if hidden > 0 {
        out.push(format!(
            "... and {hidden} more reads broke stock invariants"
        ));
    }
    out
}

/// The deltas of `product`'s adjustments that must have, and that may have, applied before
/// the read `r` returned.
fn adjustments(run: &RunData, r: &Record, product: u64, level: ReadLevel) -> (Vec<i64>, Vec<i64>) {
    let (mut must, mut may) = (Vec::new(), Vec::new());
    for a in &run.records {
        let Op::Adjust { product: p, delta } = a.op else {
            continue;
        };
        if p != product || a.call > r.ret {
            continue;
        }
        match &a.outcome {
            Outcome::Ok(_) if level == ReadLevel::Linearizable && a.ret < r.call => {
                must.push(delta)
            }
            Outcome::Ok(_) | Outcome::Unknown(_) => may.push(delta),
            Outcome::Fail(_) => {}
        }
    }
    (must, may)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::*;
    use crate::history::{Observed, StockRead};

    fn adjust(delta: i64) -> Op {
        Op::Adjust { product: 1, delta }
    }

    #[test]
    fn received_total_follows_acknowledged_adjustments() {
        let (rd, seen) = read(ReadLevel::Linearizable, None, c(8, 0, 0), None);
        let added = Outcome::Ok(Observed::Available(8));
        let h = vec![
            rec(0, 0, 0, 10, adjust(3), added),
            rec(1, 1, 20, 30, rd, seen),
        ];
        assert!(check(&run(h)).is_empty());
    }

    #[test]
    fn a_linearizable_read_missing_an_acknowledged_adjustment_is_caught() {
        let (rd, seen) = read(ReadLevel::Linearizable, None, c(5, 0, 0), None);
        let added = Outcome::Ok(Observed::Available(8));
        let h = vec![
            rec(0, 0, 0, 10, adjust(3), added),
            rec(1, 1, 20, 30, rd, seen),
        ];
        assert_eq!(check(&run(h)).len(), 1);
    }

    #[test]
    fn a_local_read_may_miss_it_but_not_invent_units() {
        let added = Outcome::Ok(Observed::Available(8));
        let (rd, stale) = read(ReadLevel::Local, Some(2), c(5, 0, 0), Some(3));
        let h = vec![
            rec(0, 0, 0, 10, adjust(3), added.clone()),
            rec(1, 1, 20, 30, rd, stale),
        ];
        assert!(check(&run(h)).is_empty());
        let (rd, invented) = read(ReadLevel::Local, Some(2), c(6, 0, 0), Some(3));
        let h = vec![
            rec(0, 0, 0, 10, adjust(3), added),
            rec(1, 1, 20, 30, rd, invented),
        ];
        assert_eq!(check(&run(h)).len(), 1);
    }

    #[test]
    fn negative_counters_and_bad_sums_are_caught() {
        let rd = Op::Read {
            product: 1,
            level: ReadLevel::Local,
            node: Some(1),
        };
        let bad = |counters, recebido| {
            Outcome::Ok(Observed::Stock(StockRead {
                counters,
                recebido,
                applied: None,
                served_by: None,
            }))
        };
        let h = vec![
            rec(0, 0, 0, 1, rd.clone(), bad(c(6, -1, 0), 5)),
            rec(1, 0, 2, 3, rd, bad(c(4, 0, 0), 5)),
        ];
        assert_eq!(check(&run(h)).len(), 2);
    }
}
