//! The outbox: orders succeed with Redis down, and their events reach `pedidos:eventos` when
//! it returns — at least once, even across a crash between publishing and forgetting.

use std::collections::BTreeSet;
use std::time::Duration;

use http::{Method, StatusCode};

use crate::harness::*;

const DOCE: u64 = 1;

fn ids_de(stream: &[Entrada], pedido: &str) -> Vec<String> {
    stream
        .iter()
        .filter(|e| e.get("pedido_id").map(String::as_str) == Some(pedido))
        .map(|e| e["event_id"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_orders_succeed_and_their_events_are_published_when_it_returns() {
    let mut redis = RedisServer::start();
    let catalog = Catalog::spawn(&[(DOCE, 20)]).await;
    let cart = Cart::start(&catalog).await;
    let dir = temp();
    let orders = InProcess::start(config(dir.path(), &catalog, &cart, Some(&redis.url()))).await;

    let s1 = cart.novo(&[(DOCE, 1)]).await;
    let (st, v) = orders.api.checkout("o-1", &s1).await.unwrap();
    assert_eq!(st, StatusCode::CREATED);
    let p1 = v["id"].as_str().unwrap().to_owned();
    let url = redis.url();
    assert!(
        eventually(Duration::from_secs(10), || {
            let url = url.clone();
            let p1 = p1.clone();
            async move { ids_de(&stream(&url).await, &p1).len() == 2 }
        })
        .await,
        "events of the first order were not published"
    );
    let entradas = stream(&url).await;
    let confirmado = entradas
        .iter()
        .find(|e| e["pedido_id"] == p1 && e["tipo"] == "confirmado")
        .unwrap();
    assert_eq!(confirmado["session_id"], s1);
    assert_eq!(confirmado["status"], "confirmado");
    assert_eq!(confirmado["event_id"], format!("{p1}:2"));
    let ev: serde_json::Value = serde_json::from_str(&confirmado["evento"]).unwrap();
    assert_eq!(ev["tipo"], "confirmado");

    redis.kill();
    let mut outros = vec![];
    for i in 0..3 {
        let s = cart.novo(&[(DOCE, 1)]).await;
        let (st, v) = orders
            .api
            .checkout(&format!("o-down-{i}"), &s)
            .await
            .unwrap();
        assert_eq!(st, StatusCode::CREATED, "{v}");
        assert_eq!(v["status"], "confirmado");
        outros.push(v["id"].as_str().unwrap().to_owned());
    }
    assert!(orders.state.saga.store.outbox_len() >= 6);
    let (st, _, v) = http(Method::GET, &format!("{}/ready", orders.api.url), &[], None)
        .await
        .unwrap();
    assert_eq!(st, StatusCode::OK, "{v}");
    let ready_state = orders.state.publishing.clone();
    assert!(
        eventually(Duration::from_secs(5), || {
            let s = ready_state.get();
            async move { s == orders::outbox::Publishing::Disconnected }
        })
        .await
    );

    redis.restart();
    let store = orders.state.saga.store.clone();
    assert!(
        eventually(Duration::from_secs(15), || {
            let n = store.outbox_len();
            async move { n == 0 }
        })
        .await,
        "the outbox did not drain"
    );
    let entradas = stream(&url).await;
    for id in &outros {
        let got: BTreeSet<String> = ids_de(&entradas, id).into_iter().collect();
        let want: BTreeSet<String> = [format!("{id}:1"), format!("{id}:2")].into();
        assert_eq!(got, want);
    }
    orders.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_publishing_and_forgetting_republishes_and_loses_nothing() {
    let redis = RedisServer::start();
    let catalog = Catalog::spawn(&[(DOCE, 20)]).await;
    let cart = Cart::start(&catalog).await;
    let dir = temp();
    let env = ProcessEnv::new(&dir, &catalog, &cart, &redis.url());
    let session = cart.novo(&[(DOCE, 2)]).await;
    let mut p = Process::start(&env, Some("after_publish")).await;
    // The publisher aborts the process after its first acknowledged XADD.
    let _ = p.api.checkout("pub-1", &session).await;
    assert!(
        p.wait_aborted(Duration::from_secs(10)).await,
        "did not abort after publishing"
    );
    drop(p);
    let primeiros = stream(&redis.url()).await;
    assert!(
        !primeiros.is_empty(),
        "nothing was published before the crash"
    );

    let p = Process::start(&env, None).await;
    let (st, v) = p.api.checkout("pub-1", &session).await.unwrap();
    assert!(st.is_success(), "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let pedido = p.api.terminado(&id, Duration::from_secs(20)).await;
    let n = p.api.eventos(&id).await.eventos.len();
    let url = redis.url();
    assert!(
        eventually(Duration::from_secs(10), || {
            let url = url.clone();
            let id = id.clone();
            async move {
                let ids: BTreeSet<String> = ids_de(&stream(&url).await, &id).into_iter().collect();
                ids.len() == n
            }
        })
        .await,
        "not every event was published"
    );
    // At least once: the entries published before the crash went out again.
    let todos = ids_de(&stream(&url).await, &id);
    assert!(
        todos.len() > n,
        "expected republished duplicates: {todos:?}"
    );
    assert_consistent(&catalog, &[pedido], &[(DOCE, 20)]).await;
}
