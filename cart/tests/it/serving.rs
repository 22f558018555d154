//! The service over real sockets: `cart::run` on a port-0 listener, and the `cart` binary.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use cart::store::{MemoryStore, DEFAULT_TTL};
use cart::{AppState, Limits};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::harness::{cart_binary, CartProcess, RedisServer, TableCatalog};

pub(crate) type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Body>;

pub(crate) async fn send(
    client: &HttpClient,
    req: Request<Body>,
) -> (StatusCode, Option<String>, Value) {
    let resp = tokio::time::timeout(Duration::from_secs(5), client.request(req))
        .await
        .expect("request timed out")
        .unwrap();
    let status = resp.status();
    let sid = resp
        .headers()
        .get("x-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        sid,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn run_serves_a_port_0_listener_and_stops_on_shutdown() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let table = Arc::new(TableCatalog::seeded());
    let state = AppState::new(
        Arc::new(MemoryStore::new(DEFAULT_TTL)),
        table,
        Limits::default(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cart::run(listener, state, async {
        let _ = stopped.await;
    }));

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let add = Request::post(format!("http://{addr}/api/carrinho/adicionar"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"doce_id": 8, "quantidade": 2}"#))
        .unwrap();
    let (status, sid, body) = send(&client, add).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sid = sid.expect("X-Session-Id header");
    let get = Request::get(format!("http://{addr}/api/carrinho/{sid}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&client, get).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["itens"][0]["quantidade"], 2);
    assert_eq!(body["total_centavos"], 1600);

    stop.send(()).unwrap();
    drop(client);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server did not stop")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn binary_reads_env_binds_port_0_uses_redis_and_stops_on_sigterm() {
    let redis = RedisServer::start();
    let mut cmd = cart_binary();
    cmd.env("CONFEITARIA_CART_ADDR", "127.0.0.1:0")
        .env("CONFEITARIA_REDIS_URL", redis.url())
        .env("CONFEITARIA_CATALOG_NODES", "127.0.0.1:1");
    // The bound address is logged: `... cart listening addr=127.0.0.1:PORT store="redis"`.
    let cart = CartProcess::spawn(cmd);
    let (addr, line) = (cart.addr.clone(), &cart.line);
    assert!(line.contains("redis"), "{line}");

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let get = |path: &str| {
        Request::get(format!("http://{addr}{path}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, body) = send(&client, get("/ready")).await;
    assert_eq!(
        (status, body["store"].as_str()),
        (StatusCode::OK, Some("redis"))
    );

    let status = cart.terminate().await;
    assert!(status.success(), "exit status {status}");
}
