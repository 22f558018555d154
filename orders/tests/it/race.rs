//! Contention: many shoppers, little stock, and a catalog leader that dies mid-burst.

use std::time::Duration;

use confeitaria_types::orders::{Pedido, StatusPedido};
use futures::stream::{self, StreamExt};
use http::StatusCode;

use crate::harness::*;

/// Checks out every session concurrently (at most `par` in flight); returns the orders and
/// how many attempts were answered with an error (and retried with the same key).
async fn burst(api: &OrdersApi, sessions: &[String], par: usize) -> (Vec<Pedido>, usize) {
    let respostas: Vec<(StatusCode, serde_json::Value, usize)> =
        stream::iter(sessions.iter().cloned().enumerate())
            .map(|(i, s)| {
                let api = api.clone();
                async move {
                    // A shopper retries its own key until it gets an answer (503 says to).
                    let key = format!("burst-{i}");
                    let mut last = None;
                    for falhas in 0..20 {
                        match api.checkout(&key, &s).await {
                            Ok((st, v)) if st.is_success() => return (st, v, falhas),
                            other => last = Some(other),
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    panic!("checkout {i} never succeeded: {last:?}");
                }
            })
            .buffer_unordered(par)
            .collect()
            .await;
    let falhas = respostas.iter().map(|(_, _, f)| f).sum();
    let pedidos = respostas
        .into_iter()
        .map(|(_, v, _)| serde_json::from_value(v).unwrap())
        .collect();
    (pedidos, falhas)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_checkouts_for_ten_units_sell_exactly_ten() {
    const DOCE: u64 = 3;
    let iniciais = [(DOCE, 10)];
    let catalog = Catalog::spawn(&iniciais).await;
    let cart = Cart::start(&catalog).await;
    let dir = temp();
    let orders = InProcess::start(config(dir.path(), &catalog, &cart, None)).await;
    let mut sessions = vec![];
    for _ in 0..100 {
        sessions.push(cart.novo(&[(DOCE, 1)]).await);
    }

    let (pedidos, falhas) = burst(&orders.api, &sessions, 100).await;
    assert_eq!(falhas, 0, "some checkouts failed");
    assert_eq!(pedidos.len(), 100);
    let confirmed = pedidos
        .iter()
        .filter(|p| p.status == StatusPedido::Confirmado)
        .count();
    let rejected: Vec<&Pedido> = pedidos
        .iter()
        .filter(|p| p.status == StatusPedido::Rejeitado)
        .collect();
    assert_eq!(confirmed, 10);
    assert_eq!(rejected.len(), 90);
    for r in rejected {
        let rej = r.rejeicao.as_ref().unwrap();
        assert_eq!(
            (rej.code.as_str(), rej.doce_id),
            ("insufficient_stock", Some(DOCE))
        );
    }
    let e = catalog.estoque(DOCE).await;
    assert_eq!((e.disponivel, e.reservado), (0, 10));
    // Paying all ten sells exactly ten.
    for p in pedidos
        .iter()
        .filter(|p| p.status == StatusPedido::Confirmado)
    {
        assert_eq!(
            orders.api.status(&p.id, "pago").await.unwrap().0,
            StatusCode::OK
        );
    }
    let mut finais = vec![];
    for p in &pedidos {
        finais.push(orders.api.pedido(&p.id).await);
    }
    assert_eq!(catalog.estoque(DOCE).await.vendido, 10);
    assert_consistent(&catalog, &finais, &iniciais).await;
    orders.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_leader_killed_during_a_burst_loses_and_double_sells_nothing() {
    const A: u64 = 1;
    const B: u64 = 2;
    let iniciais = [(A, 120), (B, 60)];
    let mut catalog = Catalog::spawn(&iniciais).await;
    let cart = Cart::start(&catalog).await;
    let dir = temp();
    let orders = InProcess::start(config(dir.path(), &catalog, &cart, None)).await;
    let mut sessions = vec![];
    for i in 0..200u64 {
        let itens: Vec<(u64, u64)> = match i % 3 {
            0 => vec![(A, 1)],
            1 => vec![(B, 1)],
            _ => vec![(A, 1), (B, 1)],
        };
        sessions.push(cart.novo(&itens).await);
    }
    let leader = catalog.cluster.wait_leader(Duration::from_secs(5)).await;

    let api = orders.api.clone();
    let state = orders.state.clone();
    let todos = sessions.clone();
    let rajada = tokio::spawn(async move { burst(&api, &todos, 32).await });
    // Kill the leader once the burst is under way.
    let started = eventually(Duration::from_secs(30), || {
        let n = state.saga.store.order_count();
        async move { n >= 40 }
    })
    .await;
    assert!(started, "the burst did not start");
    let antes = orders.state.saga.store.order_count();
    catalog.cluster.stop(leader).await;
    assert!(
        antes < 150,
        "the leader died after the burst ({antes} orders already)"
    );
    let (pedidos, falhas) = rajada.await.unwrap();
    // The failover costs latency, never an error the shopper sees.
    assert_eq!(falhas, 0, "{falhas} checkouts failed during the failover");
    let novo = catalog.cluster.wait_leader(Duration::from_secs(10)).await;
    assert_ne!(novo, leader);

    assert_eq!(pedidos.len(), 200);
    let mut finais = vec![];
    for p in &pedidos {
        finais.push(orders.api.terminado(&p.id, Duration::from_secs(30)).await);
    }
    assert!(finais
        .iter()
        .all(|p| matches!(p.status, StatusPedido::Confirmado | StatusPedido::Rejeitado)));
    let confirmed = finais
        .iter()
        .filter(|p| p.status == StatusPedido::Confirmado)
        .count();
    assert!(confirmed >= 100, "only {confirmed} confirmed");
    assert_eq!(orders.state.saga.store.order_count(), 200);
    assert_consistent(&catalog, &finais, &iniciais).await;
    orders.stop().await;
}
