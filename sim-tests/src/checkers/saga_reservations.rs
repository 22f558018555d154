//! The saga leaves no reservation dangling: after healing, once no order has a step open,
//! every order's reservation is in the state its status implies — `confirmado`: held;
//! `pago`, `enviado`, `entregue`: confirmed; `cancelado`: released; `rejeitado`: absent or
//! released — and each product's `reservado` and `vendido` are exactly the units of the
//! confirmed and of the paid orders (the orders service is the only writer of these
//! products), its `recebido` unchanged. An order still `pendente`, or with a step open,
//! after healing is a liveness failure.

use std::collections::BTreeMap;

use super::RunData;
use crate::history::{Estado, Observed, Op, Outcome, ProductId, Record, Refusal, StatusPedido};

/// The violations found (none for runs without checkouts).
pub fn check(run: &RunData) -> Vec<String> {
    let carts: BTreeMap<&str, &Vec<(ProductId, u64)>> = run
        .records
        .iter()
        .filter_map(|r| match &r.op {
            Op::Checkout { key, items } => Some((key.as_str(), items)),
            _ => None,
        })
        .collect();
    if carts.is_empty() {
        return Vec::new();
    }
    let Some(fin) = run.final_process else {
        return vec!["no final reads: the run never reached a healed, converged cluster".into()];
    };
    let finals: Vec<&Record> = run.records.iter().filter(|r| r.process == fin).collect();
    let mut orders: BTreeMap<&str, (StatusPedido, bool)> = BTreeMap::new();
    let mut reservations: BTreeMap<&str, Option<Estado>> = BTreeMap::new();
    let mut out = Vec::new();
    for r in &finals {
        match (&r.op, &r.outcome) {
            (
                Op::ReadOrder { key },
                Outcome::Ok(Observed::Order {
                    status, settled, ..
                }),
            ) => {
                orders.insert(key, (*status, *settled));
            }
            (Op::ReadOrder { key }, other) => {
                out.push(format!("order {key} did not answer after healing: {other}"))
            }
            (Op::ReadOrderReservation { key, .. }, Outcome::Ok(Observed::Reservation(e))) => {
                reservations.insert(key, *e);
            }
            (Op::ReadOrderReservation { key, .. }, Outcome::Fail(Refusal::NotFound)) => {
                reservations.insert(key, None);
            }
            (Op::ReadOrderReservation { key, .. }, other) => out.push(format!(
                "reservation of order {key} unreadable after healing: {other}"
            )),
            _ => {}
        }
    }
    let mut held: BTreeMap<ProductId, i64> = BTreeMap::new();
    let mut sold: BTreeMap<ProductId, i64> = BTreeMap::new();
    for (key, items) in &carts {
        let Some(&(status, settled)) = orders.get(key) else {
            continue;
        };
        if !settled || status == StatusPedido::Pendente {
            out.push(format!(
                "order {key} is still {} with a step open after healing",
                status.as_str()
            ));
        }
        let allowed: &[Option<Estado>] = match status {
            StatusPedido::Pendente => &[],
            StatusPedido::Confirmado => &[Some(Estado::Reservada)],
            StatusPedido::Pago | StatusPedido::Enviado | StatusPedido::Entregue => {
                &[Some(Estado::Confirmada)]
            }
            StatusPedido::Cancelado => &[Some(Estado::Liberada)],
            StatusPedido::Rejeitado => &[None, Some(Estado::Liberada)],
        };
        let target = match status {
            StatusPedido::Confirmado => Some(&mut held),
            StatusPedido::Pago | StatusPedido::Enviado | StatusPedido::Entregue => Some(&mut sold),
            _ => None,
        };
        if let Some(t) = target {
            for (p, q) in items.iter() {
                *t.entry(*p).or_insert(0) += *q as i64;
            }
        }
        match reservations.get(key) {
            Some(e) if allowed.contains(e) => {}
            Some(e) => out.push(format!(
                "order {key} is {} but its reservation is {e:?}: dangling or lost",
                status.as_str()
            )),
            None => {}
        }
    }
    for (&product, init) in &run.saga_initial {
        let Some(s) = super::final_stock(&finals, product) else {
            out.push(format!(
                "product {product} was never read back after healing"
            ));
            continue;
        };
        let (h, v) = (
            held.get(&product).copied().unwrap_or(0),
            sold.get(&product).copied().unwrap_or(0),
        );
        if s.counters.reservado != h || s.counters.vendido != v {
            out.push(format!(
                "product {product} ends {} but its confirmed orders hold {h} and its paid \
                 orders bought {v}",
                s.counters
            ));
        }
        let start = init.disponivel + init.reservado + init.vendido;
        if s.recebido != start {
            out.push(format!(
                "product {product} ends having received {}, not {start}",
                s.recebido
            ));
        }
    }
    out
}
