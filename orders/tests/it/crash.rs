//! The real `orders` binary killed at every saga step (a failpoint aborts it there), then
//! restarted on the same data: every order ends, and the stock matches the orders.

use std::time::Duration;

use confeitaria_types::orders::{Pedido, StatusPedido};
use http::StatusCode;

use crate::harness::*;

const A: u64 = 1;
const B: u64 = 2;
const INICIAIS: [(u64, u64); 2] = [(A, 10), (B, 10)];

/// What the test does before the armed failpoint fires.
#[derive(Clone, Copy, Debug)]
enum Rota {
    /// Checkout; the crash happens inside it.
    Checkout,
    /// Checkout with product B sold out; the crash happens inside it.
    CheckoutSemEstoque,
    /// Checkout, then `pago`; the crash happens inside the payment.
    Pagar,
    /// Checkout, `pago`, then `cancelado`; the crash happens inside the cancellation.
    CancelarPago,
    /// Checkout then `cancelado`; the crash happens inside the cancellation.
    Cancelar,
}

async fn crash_at(failpoint: &str, rota: Rota, esperado: StatusPedido) {
    let catalog = Catalog::spawn(&INICIAIS).await;
    let cart = Cart::start(&catalog).await;
    let dir = temp();
    let env = ProcessEnv::new(&dir, &catalog, &cart, "");
    let session = cart.novo(&[(A, 2), (B, 1)]).await;
    let key = format!("crash-{failpoint}");
    if matches!(rota, Rota::CheckoutSemEstoque) {
        catalog.admin.set_estoque(B, 0).await.unwrap();
    }

    let mut p = Process::start(&env, Some(failpoint)).await;
    let id = match rota {
        Rota::Checkout | Rota::CheckoutSemEstoque => {
            let r = p.api.checkout(&key, &session).await;
            assert!(
                r.is_err(),
                "the checkout survived failpoint {failpoint}: {r:?}"
            );
            None
        }
        Rota::Pagar | Rota::Cancelar | Rota::CancelarPago => {
            let (s, v) = p.api.checkout(&key, &session).await.unwrap();
            assert_eq!(s, StatusCode::CREATED, "{v}");
            let id = v["id"].as_str().unwrap().to_owned();
            if matches!(rota, Rota::CancelarPago) {
                assert_eq!(p.api.status(&id, "pago").await.unwrap().0, StatusCode::OK);
            }
            let alvo = if matches!(rota, Rota::Pagar) {
                "pago"
            } else {
                "cancelado"
            };
            let r = p.api.status(&id, alvo).await;
            assert!(
                r.is_err(),
                "the status change survived failpoint {failpoint}: {r:?}"
            );
            Some(id)
        }
    };
    assert!(
        p.wait_aborted(Duration::from_secs(10)).await,
        "the process did not abort at {failpoint}: {}",
        std::fs::read_to_string(&env.log).unwrap_or_default()
    );
    drop(p);

    // Restart on the same data, no failpoint: recovery finishes the open step by itself.
    let p = Process::start(&env, None).await;
    let api = p.api.clone();
    let drained = eventually(Duration::from_secs(20), || {
        let api = api.clone();
        async move { api.open_steps().await == Some(0) }
    })
    .await;
    assert!(
        drained,
        "recovery left a saga step open after a crash at {failpoint}"
    );
    let id = match id {
        Some(id) => id,
        None => {
            // The shopper retries with the same key and gets the one order.
            let (s, v) = p.api.checkout(&key, &session).await.unwrap();
            assert_eq!(s, StatusCode::OK, "{v}");
            v["id"].as_str().unwrap().to_owned()
        }
    };
    let pedido = p.api.terminado(&id, Duration::from_secs(20)).await;
    assert_eq!(pedido.status, esperado, "after a crash at {failpoint}");
    let evs = p.api.eventos(&id).await;
    let tipos: Vec<&str> = evs.eventos.iter().map(|e| e.dados.tipo()).collect();
    assert!(!tipos.contains(&"acao_abortada"), "{tipos:?}");
    assert_eq!(tipos.iter().filter(|t| **t == "criado").count(), 1);

    let iniciais = if matches!(rota, Rota::CheckoutSemEstoque) {
        [(A, 10), (B, 0)]
    } else {
        INICIAIS
    };
    let pedidos: Vec<Pedido> = vec![pedido];
    assert_consistent(&catalog, &pedidos, &iniciais).await;
    // And it ends the same after another crash. (A status read just before a kill may not
    // have been flushed yet; recovery then drives the order to the same end again.)
    drop(p);
    let p = Process::start(&env, None).await;
    assert_eq!(
        p.api.terminado(&id, Duration::from_secs(20)).await.status,
        esperado
    );
    assert_consistent(&catalog, &pedidos, &iniciais).await;
}

/// One test per failpoint: `name: failpoint, what the test does => the order's end`; each
/// runs [`crash_at`] with its own assertions (the one order ends in that status, once).
/// `COBERTOS` lists the failpoints the table covers.
macro_rules! crash_tests {
    ($($name:ident: $failpoint:literal, $rota:ident => $esperado:ident;)+) => {
        const COBERTOS: &[&str] = &[$($failpoint),+];
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                crash_at($failpoint, Rota::$rota, StatusPedido::$esperado).await;
            }
        )+
    };
}

crash_tests! {
    crash_after_pendente_is_recovered_by_reserving:
        "after_pendente", Checkout => Confirmado;
    crash_after_reserve_before_its_outcome_is_logged_confirms_once:
        "after_reserve", Checkout => Confirmado;
    crash_after_a_refused_reserve_rejects_the_order:
        "after_reserve_refused", CheckoutSemEstoque => Rejeitado;
    crash_after_confirmado_keeps_the_order:
        "after_confirmado", Checkout => Confirmado;
    crash_after_payment_intent_confirms_the_reservation:
        "after_pagamento_solicitado", Pagar => Pago;
    crash_after_confirming_the_reservation_records_pago:
        "after_confirm", Pagar => Pago;
    crash_after_pago_keeps_it:
        "after_pago", Pagar => Pago;
    crash_after_cancel_intent_releases_the_reservation:
        "after_cancelamento_solicitado", Cancelar => Cancelado;
    crash_after_releasing_a_paid_order_returns_its_sold_units_once:
        "after_release", CancelarPago => Cancelado;
    crash_after_cancelado_keeps_it:
        "after_cancelado", Cancelar => Cancelado;
}

/// A failpoint added to the saga gets its crash test here (`after_publish`, the outbox's, has
/// its own in `outbox.rs`).
#[test]
fn every_saga_failpoint_has_a_crash_test() {
    let sem_teste: Vec<&str> = orders::failpoint::Failpoint::ALL
        .iter()
        .map(|f| f.name())
        .filter(|f| *f != "after_publish" && !COBERTOS.contains(f))
        .collect();
    assert!(sem_teste.is_empty(), "no crash test for {sem_teste:?}");
}

/// `kill -9` at an arbitrary moment of a burst: whatever was in flight ends, consistently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_leaves_every_order_ended_and_stock_consistent() {
    let catalog = Catalog::spawn(&INICIAIS).await;
    let cart = Cart::start(&catalog).await;
    let dir = temp();
    let env = ProcessEnv::new(&dir, &catalog, &cart, "");
    let mut sessions = vec![];
    for i in 0..30u64 {
        sessions.push(cart.novo(&[(if i % 2 == 0 { A } else { B }, 1)]).await);
    }
    let mut p = Process::start(&env, None).await;
    let api = p.api.clone();
    let todos = sessions.clone();
    let rajada = tokio::spawn(async move {
        let mut tasks = vec![];
        for (i, s) in todos.into_iter().enumerate() {
            let api = api.clone();
            tasks.push(tokio::spawn(async move {
                api.checkout(&format!("k9-{i}"), &s).await
            }));
        }
        let mut acked = 0;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                acked += 1;
            }
        }
        acked
    });
    // Let some checkouts through, then kill -9 mid-flight.
    let ok = eventually(Duration::from_secs(20), || {
        let catalog = &catalog;
        async move { catalog.estoque(A).await.reservado + catalog.estoque(B).await.reservado >= 3 }
    })
    .await;
    assert!(ok, "no checkout went through");
    p.kill9();
    let _ = rajada.await.unwrap();
    drop(p);

    let p = Process::start(&env, None).await;
    // Every shopper retries its key: each gets exactly one order, ended.
    let mut pedidos = vec![];
    for (i, s) in sessions.iter().enumerate() {
        let (st, v) = p.api.checkout(&format!("k9-{i}"), s).await.unwrap();
        assert!(st.is_success(), "{st} {v}");
        let id = v["id"].as_str().unwrap().to_owned();
        pedidos.push(p.api.terminado(&id, Duration::from_secs(20)).await);
    }
    assert!(pedidos
        .iter()
        .all(|p| p.status == StatusPedido::Confirmado || p.status == StatusPedido::Rejeitado));
    assert_consistent(&catalog, &pedidos, &INICIAIS).await;
}
