//! The whole shop in process behind the gateway: a catalog node (the leader) is stopped in
//! the middle of a stream of reads and checkouts, and no request fails.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, StatusCode};

use crate::harness::{eventually, try_call, Shop};

type Failures = Arc<Mutex<Vec<String>>>;

async fn reader(url: String, r: u64, stop: Arc<AtomicBool>, ok: Arc<AtomicU64>, bad: Failures) {
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let path = match (r + i) % 3 {
            0 => format!("/api/produtos/{}", 1 + i % 20),
            1 => "/api/produtos?limit=5".to_owned(),
            _ => format!("/api/produtos/{}?consistency=local", 1 + i % 20),
        };
        match try_call(Method::GET, &format!("{url}{path}"), &[], "").await {
            Ok(a) if a.status == StatusCode::OK => {
                ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(a) => bad
                .lock()
                .unwrap()
                .push(format!("GET {path}: {} {}", a.status, a.json())),
            Err(e) => bad.lock().unwrap().push(format!("GET {path}: {e}")),
        }
    }
}

/// Add to a cart, check out, read the order: all through the gateway.
async fn buy(url: &str, b: u64, n: u64) -> Result<(), String> {
    let body = format!(r#"{{"doce_id":{},"quantidade":1}}"#, 1 + n % 4);
    let add = try_call(
        Method::POST,
        &format!("{url}/api/carrinho/adicionar"),
        &[],
        &body,
    )
    .await?;
    if add.status != StatusCode::OK {
        return Err(format!("add: {} {}", add.status, add.json()));
    }
    let session = add.header("x-session-id").unwrap_or_default().to_owned();
    let key = format!("comprador-{b}-{n}");
    let body = format!(r#"{{"session_id":"{session}"}}"#);
    let order = try_call(
        Method::POST,
        &format!("{url}/api/pedidos"),
        &[("idempotency-key", &key)],
        &body,
    )
    .await?;
    if order.status != StatusCode::CREATED {
        return Err(format!("checkout: {} {}", order.status, order.json()));
    }
    let id = order.json()["id"].as_str().unwrap_or_default().to_owned();
    let read = try_call(
        Method::GET,
        &format!("{url}/api/pedidos/{id}"),
        &[("x-session-id", &session)],
        "",
    )
    .await?;
    if read.status != StatusCode::OK {
        return Err(format!("order: {} {}", read.status, read.json()));
    }
    Ok(())
}

async fn buyer(url: String, b: u64, stop: Arc<AtomicBool>, ok: Arc<AtomicU64>, bad: Failures) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        match buy(&url, b, n).await {
            Ok(()) => {
                ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => bad.lock().unwrap().push(e),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_the_leader_mid_stream_fails_no_request() {
    let mut shop = Shop::start().await;
    for id in 1..=4 {
        shop.admin.set_estoque(id, 100_000).await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let orders = Arc::new(AtomicU64::new(0));
    let bad: Failures = Arc::default();
    let mut tasks = Vec::new();
    for r in 0..6 {
        let url = shop.gateway.url.clone();
        let (stop, ok, bad) = (stop.clone(), reads.clone(), bad.clone());
        tasks.push(tokio::spawn(reader(url, r, stop, ok, bad)));
    }
    for b in 0..2 {
        let url = shop.gateway.url.clone();
        let (stop, ok, bad) = (stop.clone(), orders.clone(), bad.clone());
        tasks.push(tokio::spawn(buyer(url, b, stop, ok, bad)));
    }
    let progress = |reads_past: u64, orders_past: u64| {
        let (reads, orders) = (reads.clone(), orders.clone());
        async move {
            eventually(Duration::from_secs(30), || {
                let (reads, orders) = (reads.clone(), orders.clone());
                async move {
                    reads.load(Ordering::Relaxed) > reads_past
                        && orders.load(Ordering::Relaxed) > orders_past
                }
            })
            .await
        }
    };
    assert!(progress(100, 3).await, "no traffic before the stop");

    let leader = shop.cluster.wait_leader(Duration::from_secs(10)).await;
    shop.cluster.stop(leader).await;
    let (r0, o0) = (
        reads.load(Ordering::Relaxed),
        orders.load(Ordering::Relaxed),
    );
    let moved_on = progress(r0 + 300, o0 + 5).await;
    let new_leader = shop.cluster.wait_leader(Duration::from_secs(10)).await;
    assert_ne!(new_leader, leader);

    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let bad = bad.lock().unwrap().clone();
    assert!(bad.is_empty(), "{} failed requests: {bad:#?}", bad.len());
    assert!(moved_on, "traffic stalled after the stop");
    // The gateway noticed: the stopped node is out and the timeline shows the new leader.
    let timeline = shop.gateway.state.timeline.changes();
    assert!(
        timeline.iter().any(|c| c.lider == Some(new_leader)),
        "{timeline:?}"
    );
}
