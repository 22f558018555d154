//! Pass-through: methods, paths, bodies, statuses, error bodies and headers arrive unchanged
//! at the real services and come back unchanged, tagged with `X-Upstream` and
//! `X-Request-Id`; event streams are streamed, not buffered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use confeitaria_types::auth::TokenRole;
use http::Method;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::fakes::{echo, fixed, Behaviour, Fake};
use crate::harness::{call, config, token, Shop, TestGateway};

/// Method, path, upstream, headers, body.
type Case<'a> = (Method, &'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);

/// The same request straight to `direct` and through the gateway must give the same status
/// and body; the gateway's answer names the upstream and carries the request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_real_services_answer_through_the_gateway_unchanged() {
    let shop = Shop::start().await;
    shop.admin.set_estoque(1, 500).await.unwrap();
    let node = format!("http://{}", shop.cluster.api_addrs()[0]);
    let admin = format!("Bearer {}", token(TokenRole::Admin));

    // Reads and refusals that change nothing: compared with the service's own answer.
    let same: &[Case] = &[
        (Method::GET, "/api/produtos/1", "catalog", &[], ""),
        (
            Method::GET,
            "/api/produtos?limit=3&offset=2",
            "catalog",
            &[],
            "",
        ),
        (
            Method::GET,
            "/api/produtos/categoria/bolos",
            "catalog",
            &[],
            "",
        ),
        (Method::GET, "/api/categorias", "catalog", &[], ""),
        (Method::GET, "/api/produtos/987654", "catalog", &[], ""),
        (Method::GET, "/api/produtos/abc", "catalog", &[], ""),
        (
            Method::PUT,
            "/api/produtos/1/estoque",
            "catalog",
            &[],
            r#"{"estoque": 3}"#,
        ),
        (
            Method::GET,
            "/api/carrinho/0123456789abcdef0123456789abcdef",
            "cart",
            &[],
            "",
        ),
        (
            Method::POST,
            "/api/carrinho/adicionar",
            "cart",
            &[],
            "{not json",
        ),
        (Method::GET, "/api/pedidos/nope", "orders", &[], ""),
        (
            Method::POST,
            "/api/pedidos",
            "orders",
            &[],
            r#"{"session_id":"x"}"#,
        ),
    ];
    for (method, path, upstream, headers, body) in same {
        let base = match *upstream {
            "catalog" => node.clone(),
            "cart" => shop.cart.url.clone(),
            _ => shop.orders.url.clone(),
        };
        let direct = call(method.clone(), &format!("{base}{path}"), headers, body).await;
        let via = call(
            method.clone(),
            &shop.gateway.at(path),
            &[("x-request-id", "teste-123")],
            body,
        )
        .await;
        assert_eq!(via.status, direct.status, "{method} {path}: {}", via.json());
        assert_eq!(via.json(), direct.json(), "{method} {path}");
        assert!(
            via.header("x-upstream")
                .is_some_and(|u| u.starts_with(&format!("{upstream}@"))),
            "{method} {path}: {:?}",
            via.header("x-upstream")
        );
        assert_eq!(via.header("x-request-id"), Some("teste-123"));
        if *upstream == "catalog" {
            assert!(via.header("x-served-by").is_some(), "{method} {path}");
            assert!(via.header("x-raft-leader").is_some(), "{method} {path}");
        }
    }

    // Writes, once, through the gateway only.
    let w = call(
        Method::PUT,
        &shop.gateway.at("/api/produtos/2/estoque"),
        &[("authorization", &admin)],
        r#"{"estoque": 42}"#,
    )
    .await;
    assert_eq!(w.status, StatusCode::OK, "{}", w.json());
    assert_eq!(w.json()["estoque"], 42);

    let add = call(
        Method::POST,
        &shop.gateway.at("/api/carrinho/adicionar"),
        &[],
        r#"{"doce_id": 1, "quantidade": 2}"#,
    )
    .await;
    assert_eq!(add.status, StatusCode::OK, "{}", add.json());
    let session = add
        .header("x-session-id")
        .expect("session id passed back")
        .to_owned();
    let cart = call(
        Method::GET,
        &shop.gateway.at(&format!("/api/carrinho/{session}")),
        &[],
        "",
    )
    .await;
    assert_eq!(cart.json()["itens"][0]["quantidade"], 2);

    let checkout = |key: &'static str| {
        let url = shop.gateway.at("/api/pedidos");
        let body = format!(r#"{{"session_id":"{session}"}}"#);
        async move { call(Method::POST, &url, &[("idempotency-key", key)], &body).await }
    };
    let first = checkout("chave-1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json());
    let again = checkout("chave-1").await;
    assert_eq!(again.status, StatusCode::OK, "the replay is the same order");
    assert_eq!(again.json()["id"], first.json()["id"]);
    let id = first.json()["id"].as_str().unwrap().to_owned();
    let mine = call(
        Method::GET,
        &shop.gateway.at(&format!("/api/pedidos/{id}")),
        &[("x-session-id", &session)],
        "",
    )
    .await;
    assert_eq!(mine.status, StatusCode::OK);
    let theirs = call(
        Method::GET,
        &shop.gateway.at(&format!("/api/pedidos/{id}")),
        &[],
        "",
    )
    .await;
    assert!(theirs.status.is_client_error(), "no session, no order");

    // The gateway's own answers.
    let page = call(Method::GET, &shop.gateway.at("/nada/aqui"), &[], "").await;
    assert_eq!(
        page.status,
        StatusCode::NOT_FOUND,
        "the storefront's own 404 page"
    );
    let none = call(Method::GET, &shop.gateway.at("/api/nada"), &[], "").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(none.json()["error"]["code"], "not_found");
    assert_eq!(none.header("x-upstream"), Some("gateway"));
    let minted = none.header("x-request-id").unwrap();
    assert!(
        minted.len() == 32 && minted.bytes().all(|b| b.is_ascii_hexdigit()),
        "{minted}"
    );
    let wrong = call(Method::DELETE, &shop.gateway.at("/cluster/status"), &[], "").await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    // Every other path is the storefront's, answered by the gateway itself.
    let vitrine = call(Method::GET, &shop.gateway.at("/"), &[], "").await;
    assert_eq!(vitrine.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&vitrine.body).contains("<html"));
    assert_eq!(vitrine.header("x-upstream"), Some("gateway"));
    assert!(vitrine.header("x-request-id").is_some());
    let painel = call(Method::GET, &shop.gateway.at("/painel"), &[], "").await;
    assert!(String::from_utf8_lossy(&painel.body).contains("Painel do cluster"));
    let status = call(Method::GET, &shop.gateway.at("/cluster/status"), &[], "").await;
    assert_eq!(status.status, StatusCode::OK);
    assert!(status.json()["role"].is_string());
}

/// Headers a client sends reach the upstream; headers the upstream sends reach the client;
/// a 503 with `Retry-After` and its error body pass through untouched.
#[tokio::test]
async fn headers_and_error_answers_pass_through_both_ways() {
    let up = Fake::start(echo()).await;
    let busy = Fake::start(fixed(
        503,
        r#"{"error":{"code":"no_leader","message":"x"}}"#,
    ))
    .await;
    let gw = TestGateway::start(&config(vec![up.addr.clone()], &busy.url(), &up.url())).await;

    let a = call(
        Method::PUT,
        &gw.at("/api/produtos/9/estoque?x=1&y=2"),
        &[
            ("authorization", "Bearer abc"),
            ("x-session-id", "s1"),
            ("idempotency-key", "k1"),
            ("x-request-id", "rid-1"),
            ("connection", "x-hop"),
            ("x-hop", "must not pass"),
        ],
        r#"{"delta": -1}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let seen = a.json();
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["path"], "/api/produtos/9/estoque?x=1&y=2");
    assert_eq!(seen["body"], r#"{"delta": -1}"#);
    let h = &seen["headers"];
    assert_eq!(h["authorization"], "Bearer abc");
    assert_eq!(h["x-session-id"], "s1");
    assert_eq!(h["idempotency-key"], "k1");
    assert_eq!(
        h["x-request-id"], "rid-1",
        "the request id reaches the upstream"
    );
    assert_eq!(
        h["host"],
        up.addr.as_str(),
        "the upstream sees its own host"
    );
    assert!(
        h.get("x-hop").is_none(),
        "headers named by Connection are hop-by-hop"
    );
    for (k, v) in [
        ("x-served-by", "7"),
        ("x-raft-leader", "7"),
        ("x-session-id", "s-from-upstream"),
        ("x-custom", "kept"),
        ("x-request-id", "rid-1"),
    ] {
        assert_eq!(a.header(k), Some(v), "{k}");
    }
    assert_eq!(
        a.header("x-upstream"),
        Some(format!("catalog@{}", up.addr).as_str())
    );

    // A minted id also reaches the upstream, the same one the client gets back.
    let b = call(Method::GET, &gw.at("/api/pedidos/p1"), &[], "").await;
    assert_eq!(
        b.json()["headers"]["x-request-id"],
        b.header("x-request-id").unwrap()
    );
    assert_eq!(
        b.header("x-upstream"),
        Some(format!("orders@{}", up.addr).as_str())
    );

    let c = call(Method::GET, &gw.at("/api/carrinho/abc"), &[], "").await;
    assert_eq!(c.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(c.header("retry-after"), Some("7"));
    assert_eq!(c.json()["error"]["code"], "no_leader");
    assert_eq!(
        c.header("x-upstream"),
        Some(format!("cart@{}", busy.addr).as_str())
    );
}

/// `GET /api/pedidos/{id}/eventos/stream`: each event reaches the client as soon as the
/// upstream sends it, while the stream stays open.
#[tokio::test]
async fn event_streams_are_streamed_not_buffered() {
    type Chunks = futures::channel::mpsc::UnboundedReceiver<Result<Bytes, std::io::Error>>;
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let slot: Arc<Mutex<Option<Chunks>>> = Arc::new(Mutex::new(Some(rx)));
    let behaviour: Behaviour = Arc::new(move |_, path: String, _, _| {
        let stream = path.ends_with("/eventos/stream");
        let rx = if stream {
            slot.lock().unwrap().take()
        } else {
            None
        };
        Box::pin(async move {
            match rx {
                Some(rx) => Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(rx))
                    .unwrap(),
                None => StatusCode::GONE.into_response(),
            }
        })
    });
    let orders = Fake::start(behaviour).await;
    let gw = TestGateway::start(&config(vec![], &orders.url(), &orders.url())).await;
    tx.unbounded_send(Ok(Bytes::from("event: pedido\ndata: 1\n\n")))
        .unwrap();

    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::get(gw.at("/api/pedidos/abc/eventos/stream"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(5), client.request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["x-upstream"]
        .to_str()
        .unwrap()
        .starts_with("orders@"));
    let mut body = resp.into_body();
    assert!(next_chunk(&mut body).await.contains("data: 1"));
    tx.unbounded_send(Ok(Bytes::from("event: pedido\ndata: 2\n\n")))
        .unwrap();
    assert!(next_chunk(&mut body).await.contains("data: 2"));
}

async fn next_chunk(body: &mut hyper::body::Incoming) -> String {
    let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("an event arrives while the stream is open")
        .unwrap()
        .unwrap();
    String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap()
}

/// Malformed requests to the dashboard's own endpoints get a clear answer, never axum's
/// plain-text rejection: a login body that is not the form gets a 400 page in Portuguese and
/// no cookie; a node id that is not a number is the JSON 404.
#[tokio::test]
async fn malformed_dashboard_requests_get_a_clear_answer() {
    let up = Fake::start(echo()).await;
    let gw = TestGateway::start(&config(vec![up.addr.clone()], &up.url(), &up.url())).await;

    let empty = call(Method::POST, &gw.at("/painel/entrar"), &[], "").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&empty.body).contains("Voltar ao"));
    assert!(empty.header("set-cookie").is_none());
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let no_token = call(Method::POST, &gw.at("/painel/entrar"), &form, "outro=1").await;
    assert_eq!(no_token.status, StatusCode::BAD_REQUEST);
    assert!(no_token.header("set-cookie").is_none());
    // A well-formed login with a wrong token goes back to the dashboard, which says so.
    let wrong = call(Method::POST, &gw.at("/painel/entrar"), &form, "token=x").await;
    assert_eq!(wrong.status, StatusCode::SEE_OTHER);
    assert_eq!(wrong.header("location"), Some("/painel?erro=token"));

    let bad_id = call(Method::POST, &gw.at("/painel/nos/null,null/parar"), &[], "").await;
    assert_eq!(bad_id.status, StatusCode::NOT_FOUND);
    assert_eq!(bad_id.json()["error"]["code"], "not_found");
}
