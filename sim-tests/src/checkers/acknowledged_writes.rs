//! No acknowledged write lost: after the faults are healed, the final linearizable reads (of
//! every product and every reservation ever named) account for every acknowledged
//! operation, and for nothing that was never asked for.
//!
//! - an acknowledged reservation exists; an acknowledged confirmation left it confirmed
//!   (or released, if a release was also sent); an acknowledged release left it released;
//! - a reservation is confirmed only if a confirmation was sent, released only if a release
//!   was sent, held only if its reservation was not refused;
//! - each product's `reservado` and `vendido` are exactly the units of its held and
//!   confirmed reservations, and `recebido` is the starting stock plus every acknowledged
//!   adjustment plus some subset of those whose outcome is unknown (timed-out operations
//!   may or may not have applied).
//!
//! With a retention window, a reservation that was released or closed may have been
//! forgotten by the final reads (404): that is no loss, and a closed one's units stay in
//! `vendido` although the reservation is gone, so `vendido` is the confirmed reservations'
//! units plus those of some subset of the forgotten ones that were confirmed and closed.

use std::collections::{BTreeMap, BTreeSet};

use super::RunData;
use crate::history::{Estado, Observed, Op, Outcome, ProductId, Record, Refusal};
use crate::model::reachable_totals;

/// The violations found.
pub fn check(run: &RunData) -> Vec<String> {
    let Some(fin) = run.final_process else {
        return vec!["no final reads: the run never reached a healed, converged cluster".into()];
    };
    let mut out = Vec::new();
    let finals: Vec<&Record> = run.records.iter().filter(|r| r.process == fin).collect();
    let workload: Vec<&Record> = run.records.iter().filter(|r| r.process != fin).collect();

    // Final state of every reservation.
    let mut estado: BTreeMap<&str, Option<Estado>> = BTreeMap::new();
    for r in &finals {
        if let Op::ReadReservation { rid } = &r.op {
            match &r.outcome {
                Outcome::Ok(Observed::Reservation(e)) => {
                    estado.insert(rid, *e);
                }
                Outcome::Fail(Refusal::NotFound) => {
                    estado.insert(rid, None);
                }
                other => out.push(format!("final read of reservation {rid} failed: {other}")),
            }
        }
    }
    let mut rids: BTreeSet<&str> = BTreeSet::new();
    let mut units: BTreeMap<&str, BTreeMap<ProductId, i64>> = BTreeMap::new();
    for r in &workload {
        if let Some(rid) = r.op.rid() {
            rids.insert(rid);
        }
        // Re-sends of a reservation name the same items: count them once.
        if let Op::Reserve { rid, items, .. } = &r.op {
            if !units.contains_key(rid.as_str()) {
                let m = units.entry(rid).or_default();
                for (p, q) in items {
                    *m.entry(*p).or_insert(0) += *q as i64;
                }
            }
        }
    }
    // Forgotten reservations whose units may have stayed sold: confirmed and closed.
    let mut closed_gone: BTreeSet<&str> = BTreeSet::new();
    for rid in &rids {
        let Some(fin_state) = estado.get(rid).copied() else {
            out.push(format!(
                "reservation {rid} was never read back after healing"
            ));
            continue;
        };
        let ops: Vec<&&Record> = workload
            .iter()
            .filter(|r| r.op.rid() == Some(rid))
            .collect();
        let sent = |f: fn(&Op) -> bool| {
            ops.iter()
                .any(|r| f(&r.op) && !matches!(r.outcome, Outcome::Fail(_)))
        };
        let acked = |f: fn(&Op) -> bool| ops.iter().any(|r| f(&r.op) && r.is_ok());
        let is_reserve: fn(&Op) -> bool = |o| matches!(o, Op::Reserve { .. });
        let is_confirm: fn(&Op) -> bool = |o| matches!(o, Op::Confirm { .. });
        let is_release: fn(&Op) -> bool = |o| matches!(o, Op::Release { .. });
        let is_close: fn(&Op) -> bool = |o| matches!(o, Op::Close { .. });
        // A close answered 404 may have closed it first: its retry found it forgotten.
        let closing = ops
            .iter()
            .any(|r| is_close(&r.op) && !matches!(r.outcome, Outcome::Fail(Refusal::Open)));
        let forgotten = run.expiry && fin_state.is_none() && (sent(is_release) || closing);
        // Closed, forgotten, then released: a fresh tombstone reads `Liberada` while the
        // units stay sold (or the release came first and the close found it released).
        let retombed = run.expiry && fin_state == Some(Estado::Liberada) && closing;
        if (forgotten || retombed) && sent(is_confirm) && closing {
            closed_gone.insert(rid);
        }
        let mut lost = Vec::new();
        if forgotten {
            // Settled and forgotten: nothing left to account for here.
        } else if acked(is_reserve) && fin_state.is_none() {
            lost.push("its acknowledged reservation is gone");
        }
        if acked(is_confirm)
            && !forgotten
            && fin_state != Some(Estado::Confirmada)
            && !(fin_state == Some(Estado::Liberada) && sent(is_release))
        {
            lost.push("its acknowledged confirmation is gone");
        }
        if acked(is_release) && !forgotten && fin_state != Some(Estado::Liberada) {
            lost.push("its acknowledged release is gone");
        }
        match fin_state {
            Some(Estado::Confirmada) if !sent(is_confirm) => {
                lost.push("it is confirmed but no confirmation could have applied")
            }
            Some(Estado::Liberada) if !sent(is_release) => {
                lost.push("it is released but no release could have applied")
            }
            Some(Estado::Reservada) if !sent(is_reserve) => {
                lost.push("it is held but its reservation was refused")
            }
            _ => {}
        }
        if !lost.is_empty() {
            out.push(format!(
                "reservation {rid} ends {fin_state:?}: {}; its operations: {}",
                lost.join(", "),
                ops.iter()
                    .map(|r| format!("#{} {} -> {}", r.index, r.op, r.outcome))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }

    // Final counters of every product.
    for (&product, init) in &run.initial {
        let Some(s) = super::final_stock(&finals, product) else {
            out.push(format!(
                "product {product} was never read back after healing"
            ));
            continue;
        };
        let held = |e: Estado| -> i64 {
            units
                .iter()
                .filter(|(rid, _)| estado.get(*rid).copied().flatten() == Some(e))
                .map(|(_, m)| m.get(&product).copied().unwrap_or(0))
                .sum()
        };
        let (reservado, vendido) = (held(Estado::Reservada), held(Estado::Confirmada));
        let gone: Vec<i64> = closed_gone
            .iter()
            .filter_map(|rid| units.get(rid).and_then(|m| m.get(&product)).copied())
            .collect();
        let sold = reachable_totals(vendido, &[], &gone);
        if s.counters.reservado != reservado || !sold.contains(s.counters.vendido) {
            out.push(format!(
                "product {product} ends with reservado {} and vendido {}, but its held and \
                 confirmed reservations add up to {reservado} and {vendido} (plus any of {} \
                 closed and forgotten)",
                s.counters.reservado,
                s.counters.vendido,
                gone.len()
            ));
        }
        let (mut must, mut may) = (Vec::new(), Vec::new());
        for r in &workload {
            if let Op::Adjust { product: p, delta } = r.op {
                if p == product {
                    match r.outcome {
                        Outcome::Ok(_) => must.push(delta),
                        Outcome::Unknown(_) => may.push(delta),
                        Outcome::Fail(_) => {}
                    }
                }
            }
        }
        let base = init.disponivel + init.reservado + init.vendido;
        let totals = reachable_totals(base, &must, &may);
        if !totals.contains(s.recebido) {
            out.push(format!(
                "product {product} ends having received {}, not a reachable total ({totals}: \
                 {base} at the start, {} acknowledged adjustments, {} unknown)",
                s.recebido,
                must.len(),
                may.len()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::*;
    use crate::history::{Micros, ReadLevel};

    const FINAL: usize = 9;

    fn final_reads(
        index: usize,
        t: Micros,
        counters: crate::history::Counters,
        rids: &[(&str, Option<Estado>)],
    ) -> Vec<Record> {
        let (rd, seen) = read(ReadLevel::Linearizable, None, counters, None);
        let mut v = vec![rec(index, FINAL, t, t + 1, rd, seen)];
        for (i, (rid, e)) in rids.iter().enumerate() {
            let outcome = match e {
                Some(e) => ok(*e),
                None => fail(Refusal::NotFound),
            };
            v.push(rec(
                index + 1 + i,
                FINAL,
                t + 2,
                t + 3,
                Op::ReadReservation { rid: (*rid).into() },
                outcome,
            ));
        }
        v
    }

    fn with_final(mut h: Vec<Record>, fin: Vec<Record>) -> RunData {
        h.extend(fin);
        RunData {
            final_process: Some(FINAL),
            ..run(h)
        }
    }

    #[test]
    fn acknowledged_operations_that_survive_pass() {
        let h = vec![
            rec(0, 0, 0, 10, reserve("a", 2), ok(Estado::Reservada)),
            rec(1, 1, 0, 10, reserve("b", 1), unknown()),
        ];
        let fin = final_reads(
            2,
            100,
            c(3, 2, 0),
            &[("a", Some(Estado::Reservada)), ("b", None)],
        );
        assert!(check(&with_final(h, fin)).is_empty());
    }

    #[test]
    fn a_lost_acknowledged_reservation_is_caught() {
        let h = vec![rec(0, 0, 0, 10, reserve("a", 2), ok(Estado::Reservada))];
        let fin = final_reads(1, 100, c(5, 0, 0), &[("a", None)]);
        let v = check(&with_final(h, fin));
        assert!(
            v.iter()
                .any(|m| m.contains("acknowledged reservation is gone")),
            "{v:?}"
        );
    }

    #[test]
    fn counters_must_match_the_reservations_left() {
        let h = vec![rec(0, 0, 0, 10, reserve("a", 2), ok(Estado::Reservada))];
        let fin = final_reads(1, 100, c(5, 0, 0), &[("a", Some(Estado::Reservada))]);
        let v = check(&with_final(h, fin));
        assert!(v.iter().any(|m| m.contains("reservado 0")), "{v:?}");
    }

    #[test]
    fn no_final_reads_is_a_violation() {
        let h = vec![rec(0, 0, 0, 10, reserve("a", 2), ok(Estado::Reservada))];
        assert_eq!(check(&run(h)).len(), 1);
    }
}
