//! Redis dying, hanging and coming back under a running service (real `redis-server`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use cart::store::DEFAULT_TTL;

use crate::harness::{
    eventually, RedisServer, Resp, StoreKind, TableCatalog, TestApp, REDIS_DEADLINE,
};

/// A 503 must come back within the Redis deadline plus this much slack.
const SLACK: Duration = Duration::from_millis(700);

#[track_caller]
fn assert_store_unavailable(r: &Resp) {
    r.assert_error(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable");
    assert_eq!(r.headers["retry-after"], "1");
    assert!(
        !r.text.contains("127.0.0.1"),
        "5xx leaked internals: {}",
        r.text
    );
}

async fn ready(app: &TestApp) -> StatusCode {
    app.call(Method::GET, "/ready", None, None).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_is_503_promptly_then_service_recovers_by_itself() {
    let mut app = TestApp::spawn(StoreKind::Redis).await;
    let sid = app.new_cart(1, 2).await;
    app.redis().kill();

    for _ in 0..3 {
        let t = Instant::now();
        let r = app.add(Some(&sid), 1, 1).await;
        assert_store_unavailable(&r);
        assert!(
            t.elapsed() < REDIS_DEADLINE + SLACK,
            "took {:?}",
            t.elapsed()
        );
    }
    assert_store_unavailable(&app.get(&sid).await);
    assert_store_unavailable(&app.remove(Some(&sid), "1").await);
    assert_store_unavailable(&app.delete(&sid).await);
    let r = app.call(Method::GET, "/ready", None, None).await;
    assert_store_unavailable(&r);
    assert_eq!(
        app.call(Method::GET, "/health", None, None).await.status,
        StatusCode::OK,
        "the process itself is alive"
    );

    app.redis().restart();
    assert!(
        eventually(Duration::from_secs(10), || async {
            ready(&app).await == StatusCode::OK
        })
        .await,
        "service did not become ready after Redis came back"
    );
    // What was acknowledged before the crash is still there (the test Redis fsyncs its AOF).
    assert_eq!(app.get(&sid).await.qty(1), 2);
    assert_eq!(app.add(Some(&sid), 1, 1).await.qty(1), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_redis_is_503_within_the_deadline() {
    let mut app = TestApp::spawn(StoreKind::Redis).await;
    let sid = app.new_cart(1, 2).await;
    app.redis().signal("STOP");

    let t = Instant::now();
    let r = app.get(&sid).await;
    assert_store_unavailable(&r);
    assert!(
        t.elapsed() >= REDIS_DEADLINE / 2,
        "answered before Redis could"
    );
    assert!(
        t.elapsed() < REDIS_DEADLINE + SLACK,
        "took {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    assert_eq!(ready(&app).await, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        t.elapsed() < REDIS_DEADLINE + SLACK,
        "took {:?}",
        t.elapsed()
    );

    app.redis().signal("CONT");
    assert!(
        eventually(Duration::from_secs(10), || async {
            ready(&app).await == StatusCode::OK
        })
        .await
    );
    assert_eq!(app.add(Some(&sid), 1, 1).await.qty(1), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_while_redis_is_down_and_becomes_ready_when_it_appears() {
    let mut server = RedisServer::start();
    server.kill();
    let table = Arc::new(TableCatalog::seeded());
    let mut app = TestApp::on_redis(server, DEFAULT_TTL, table.clone(), table);

    assert_eq!(ready(&app).await, StatusCode::SERVICE_UNAVAILABLE);
    let t = Instant::now();
    assert_store_unavailable(&app.add(None, 1, 1).await);
    assert!(
        t.elapsed() < REDIS_DEADLINE + SLACK,
        "took {:?}",
        t.elapsed()
    );

    app.redis().restart();
    assert!(
        eventually(Duration::from_secs(10), || async {
            ready(&app).await == StatusCode::OK
        })
        .await
    );
    let sid = app.new_cart(2, 5).await;
    assert_eq!(app.get(&sid).await.qty(2), 5);
}

/// The number of clients connected to the server, as Redis counts them.
async fn connected_clients(server: &RedisServer) -> usize {
    let mut c = server.connection().await;
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut c)
        .await
        .unwrap();
    list.lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_a_restart_without_any_request() {
    let mut app = TestApp::spawn(StoreKind::Redis).await;
    let sid = app.new_cart(3, 1).await;
    app.redis().kill();
    app.redis().restart();
    // No request reaches the service; its own keepalive must reconnect it.
    let server = app.redis.as_ref().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            // Our probe is one client; the service's connection is another.
            connected_clients(server).await >= 2
        })
        .await,
        "the service never reconnected by itself"
    );
    // The first request after the restart is served.
    assert_eq!(app.add(Some(&sid), 3, 1).await.qty(3), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_layout_is_as_documented() {
    let app = TestApp::spawn(StoreKind::Redis).await;
    let sid = app.new_cart(7, 3).await;
    app.add(Some(&sid), 9, 2).await;
    let mut c = app.redis.as_ref().unwrap().connection().await;
    let key = format!("confeitaria:carrinho:{sid}");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(keys, vec![key.clone()]);
    let kind: String = redis::cmd("TYPE")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(kind, "hash");
    let mut fields: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    fields.sort();
    assert_eq!(fields.len(), 3, "{fields:?}");
    assert_eq!(fields[0].0, "criado_em");
    assert!(fields[0].1.parse::<u64>().unwrap() > 1_600_000_000_000);
    assert_eq!(fields[1], ("doce:7".into(), "3".into()));
    assert_eq!(fields[2], ("doce:9".into(), "2".into()));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    let ttl = i64::try_from(DEFAULT_TTL.as_millis()).unwrap();
    assert!(ttl - 60_000 < pttl && pttl <= ttl, "PTTL {pttl}");
}
