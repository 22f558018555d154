//! The order endpoints against a real catalog cluster and the real cart, in process.

use std::time::Duration;

use confeitaria_types::auth::TokenRole;
use confeitaria_types::orders::StatusPedido;
use futures::future::join_all;
use http::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

const DOCE: u64 = 1;
const OUTRO: u64 = 2;

async fn setup(estoques: &[(u64, u64)]) -> (Catalog, Cart, InProcess, tempfile::TempDir) {
    let catalog = Catalog::spawn(estoques).await;
    let cart = Cart::start(&catalog).await;
    let dir = temp();
    let orders = InProcess::start(config(dir.path(), &catalog, &cart, None)).await;
    (catalog, cart, orders, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_reserves_the_cart_and_logs_pendente_then_confirmado() {
    let iniciais = [(DOCE, 10), (OUTRO, 5)];
    let (catalog, cart, orders, _dir) = setup(&iniciais).await;
    let session = cart.novo(&[(DOCE, 3), (OUTRO, 1)]).await;

    let (s, v) = orders.api.checkout("k-1", &session).await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "confirmado");
    assert_eq!(v["session_id"], session);
    assert_eq!(v["itens"].as_array().unwrap().len(), 2);
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);

    let evs = orders.api.eventos(&id).await;
    let tipos: Vec<&str> = evs.eventos.iter().map(|e| e.dados.tipo()).collect();
    assert_eq!(tipos, ["criado", "confirmado"]);
    assert_eq!(evs.eventos[1].id, format!("{id}:2"));

    let p = orders.api.pedido(&id).await;
    assert_eq!(catalog.estoque(DOCE).await.reservado, 3);
    assert_eq!(catalog.estoque(OUTRO).await.disponivel, 4);
    assert_consistent(&catalog, &[p], &iniciais).await;
    orders.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_item_rejects_the_order_naming_it_and_reserves_nothing() {
    let iniciais = [(DOCE, 10), (OUTRO, 5)];
    let (catalog, cart, orders, _dir) = setup(&iniciais).await;
    let session = cart.novo(&[(DOCE, 2), (OUTRO, 3)]).await;
    catalog.admin.set_estoque(OUTRO, 2).await.unwrap();

    let (s, v) = orders.api.checkout("k-short", &session).await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "rejeitado");
    assert_eq!(v["rejeicao"]["code"], "insufficient_stock");
    assert_eq!(v["rejeicao"]["doce_id"], OUTRO);
    let p = orders.api.pedido(v["id"].as_str().unwrap()).await;
    assert_consistent(&catalog, &[p], &[(DOCE, 10), (OUTRO, 2)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_returns_the_same_order_and_a_different_body_is_422() {
    let iniciais = [(DOCE, 10)];
    let (catalog, cart, orders, _dir) = setup(&iniciais).await;
    let a = cart.novo(&[(DOCE, 2)]).await;
    let b = cart.novo(&[(DOCE, 1)]).await;

    let (s1, v1) = orders.api.checkout("key-a", &a).await.unwrap();
    assert_eq!(s1, StatusCode::CREATED);
    let (s2, h2, v2) = http(
        Method::POST,
        &format!("{}/api/pedidos", orders.api.url),
        &[("idempotency-key", "key-a")],
        Some(json!({ "session_id": a })),
    )
    .await
    .unwrap();
    assert_eq!(s2, StatusCode::OK);
    assert_eq!(h2["idempotent-replayed"], "true");
    assert_eq!(v1, v2);

    let (s3, v3) = orders.api.checkout("key-a", &b).await.unwrap();
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v3["error"]["code"], "idempotency_key_reused");

    assert_eq!(orders.state.saga.store.order_count(), 1);
    assert_eq!(catalog.estoque(DOCE).await.reservado, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_checkout_sent_concurrently_makes_one_order() {
    let iniciais = [(DOCE, 50)];
    let (catalog, cart, orders, _dir) = setup(&iniciais).await;
    let session = cart.novo(&[(DOCE, 2)]).await;

    let tentativas = (0..20).map(|_| {
        let api = orders.api.clone();
        let session = session.clone();
        async move { api.checkout("same-key", &session).await.unwrap() }
    });
    let respostas = join_all(tentativas).await;
    let ids: std::collections::BTreeSet<String> = respostas
        .iter()
        .map(|(s, v)| {
            assert!(s.is_success(), "{s} {v}");
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one key made several orders: {ids:?}");
    assert_eq!(
        respostas
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .count(),
        1
    );
    assert!(respostas.iter().all(|(_, v)| v["status"] == "confirmado"));
    assert_eq!(orders.state.saga.store.order_count(), 1);
    let p = orders.api.pedido(ids.first().unwrap()).await;
    assert_consistent(&catalog, &[p], &iniciais).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_sells_cancel_returns_stock_and_an_illegal_move_changes_nothing() {
    let iniciais = [(DOCE, 10)];
    let (catalog, cart, orders, _dir) = setup(&iniciais).await;
    let mut ids = vec![];
    for k in 0..3 {
        let s = cart.novo(&[(DOCE, 2)]).await;
        let (_, v) = orders.api.checkout(&format!("k{k}"), &s).await.unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let api = &orders.api;
    // 0: confirmado → pago → enviado → entregue.
    for st in ["pago", "enviado", "entregue"] {
        let (s, v) = api.status(&ids[0], st).await.unwrap();
        assert_eq!(
            (s, v["status"].as_str().unwrap()),
            (StatusCode::OK, st),
            "{v}"
        );
    }
    // Delivered, the order is final: the catalog was told and closed its reservation for
    // good (so it can forget it), and nothing is left for the driver to retry.
    let leader = catalog.cluster.wait_leader(Duration::from_secs(5)).await;
    let closed = |c: &Catalog| {
        c.cluster
            .node(leader)
            .node
            .state_machine()
            .read()
            .catalog
            .is_closed(&ids[0])
    };
    assert!(
        closed(&catalog),
        "the delivered order's reservation was not closed"
    );
    assert!(orders.state.saga.store.to_close().unwrap().is_empty());
    // 1: confirmado → pago → cancelado (sold units come back).
    assert_eq!(api.status(&ids[1], "pago").await.unwrap().0, StatusCode::OK);
    assert_eq!(catalog.estoque(DOCE).await.vendido, 4);
    assert_eq!(
        api.status(&ids[1], "cancelado").await.unwrap().0,
        StatusCode::OK
    );
    // 2: confirmado → cancelado.
    assert_eq!(
        api.status(&ids[2], "cancelado").await.unwrap().0,
        StatusCode::OK
    );

    // Illegal moves: 409, and the log does not grow.
    for (id, alvo) in [
        (&ids[0], "pago"),
        (&ids[0], "cancelado"),
        (&ids[1], "pago"),
        (&ids[2], "enviado"),
        (&ids[2], "confirmado"),
        (&ids[0], "pendente"),
    ] {
        let antes = api.eventos(id).await.eventos.len();
        let (s, v) = api.status(id, alvo).await.unwrap();
        assert_eq!(s, StatusCode::CONFLICT, "{alvo}: {v}");
        assert_eq!(v["error"]["code"], "illegal_transition");
        assert_eq!(api.eventos(id).await.eventos.len(), antes);
    }
    // Setting the status an order already has is an idempotent no-op.
    let antes = api.eventos(&ids[2]).await.eventos.len();
    assert_eq!(
        api.status(&ids[2], "cancelado").await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(api.eventos(&ids[2]).await.eventos.len(), antes);

    let mut pedidos = vec![];
    for id in &ids {
        pedidos.push(api.pedido(id).await);
    }
    let st: Vec<StatusPedido> = pedidos.iter().map(|p| p.status).collect();
    assert_eq!(
        st,
        [
            StatusPedido::Entregue,
            StatusPedido::Cancelado,
            StatusPedido::Cancelado
        ]
    );
    assert_consistent(&catalog, &pedidos, &iniciais).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_reachable_only_with_their_session_or_an_admin_token() {
    let (_catalog, cart, orders, _dir) = setup(&[(DOCE, 10)]).await;
    let session = cart.novo(&[(DOCE, 1)]).await;
    let (_, v) = orders.api.checkout("k", &session).await.unwrap();
    let id = v["id"].as_str().unwrap();
    let url = format!("{}/api/pedidos/{id}", orders.api.url);
    let get = |h: Vec<(&'static str, String)>| {
        let url = url.clone();
        async move {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http(Method::GET, &url, &h, None).await.unwrap()
        }
    };
    assert_eq!(get(vec![]).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(vec![("x-session-id", session.clone())]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(vec![("x-session-id", session.to_uppercase())]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(vec![("x-session-id", "0".repeat(32))]).await.0,
        StatusCode::NOT_FOUND
    );
    let admin = format!("Bearer {}", token(TokenRole::Admin));
    let service = format!("Bearer {}", token(TokenRole::Service));
    assert_eq!(
        get(vec![("authorization", admin.clone())]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(vec![("authorization", service.clone())]).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(vec![("authorization", "Bearer nonsense".into())])
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // Events follow the same rule.
    let (s, _, _) = http(
        Method::GET,
        &format!("{url}/eventos"),
        &[("x-session-id", &"f".repeat(32))],
        None,
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Status changes need an admin.
    for h in [vec![], vec![("authorization", service.as_str())]] {
        let (s, _, v) = http(
            Method::PUT,
            &format!("{url}/status"),
            &h,
            Some(json!({"status": "pago"})),
        )
        .await
        .unwrap();
        assert!(
            s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN,
            "{s} {v}"
        );
    }
    assert_eq!(orders.api.pedido(id).await.status, StatusPedido::Confirmado);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_before_anything_is_recorded() {
    let (_catalog, cart, orders, _dir) = setup(&[(DOCE, 10)]).await;
    let url = format!("{}/api/pedidos", orders.api.url);
    let post = |h: Vec<(&'static str, String)>, body: serde_json::Value| {
        let url = url.clone();
        async move {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (s, _, v) = http(Method::POST, &url, &h, Some(body)).await.unwrap();
            (s, v["error"]["code"].as_str().unwrap_or("").to_owned())
        }
    };
    let key = || vec![("idempotency-key", "k".to_owned())];
    let sid = "a".repeat(32);
    assert_eq!(
        post(vec![], json!({"session_id": sid})).await,
        (StatusCode::BAD_REQUEST, "missing_idempotency_key".into())
    );
    assert_eq!(
        post(
            vec![("idempotency-key", "x".repeat(201))],
            json!({"session_id": sid})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(key(), json!({"session_id": "../etc"})).await,
        (StatusCode::BAD_REQUEST, "invalid_session".into())
    );
    assert_eq!(
        post(key(), json!({"session_id": sid, "extra": 1})).await,
        (StatusCode::BAD_REQUEST, "invalid_json".into())
    );
    assert_eq!(
        post(key(), json!({"session_id": sid})).await,
        (StatusCode::NOT_FOUND, "cart_not_found".into())
    );
    assert_eq!(
        post(key(), json!({"session_id": "x".repeat(20_000)}))
            .await
            .0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // An emptied cart cannot be checked out.
    let session = cart.novo(&[(DOCE, 1)]).await;
    let (s, _, _) = http(
        Method::DELETE,
        &format!("{}/api/carrinho/remover/{DOCE}", cart.url),
        &[("x-session-id", &session)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        post(key(), json!({"session_id": session})).await,
        (StatusCode::CONFLICT, "empty_cart".into())
    );
    assert_eq!(orders.state.saga.store.order_count(), 0);
    // Unknown ids and routes are JSON 404s.
    let admin = format!("Bearer {}", token(TokenRole::Admin));
    for path in [
        "/api/pedidos/nope",
        &format!("/api/pedidos/{}", "b".repeat(32)),
        "/nope",
    ] {
        let (s, _, v) = http(
            Method::GET,
            &format!("{}{path}", orders.api.url),
            &[("authorization", &admin)],
            None,
        )
        .await
        .unwrap();
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(v["error"]["code"], "not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_endpoints_answer_and_ready_follows_the_catalog() {
    let (catalog, _cart, orders, _dir) = setup(&[]).await;
    let base = &orders.api.url;
    let (s, _, v) = http(Method::GET, &format!("{base}/ready"), &[], None)
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["delivery"], "direct");
    let (s, _, v) = http(Method::GET, &format!("{base}/openapi.json"), &[], None)
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK);
    assert!(v["paths"]["/api/pedidos"]["post"].is_object());
    assert_eq!(
        v,
        orders::openapi::document(),
        "the served document is the generated one"
    );
    assert_eq!(
        confeitaria_service::openapi::dangling_refs(&v),
        Vec::<String>::new()
    );
    let t = confeitaria_client::Transport::http();
    let r = t
        .send(
            Method::GET,
            &format!("{base}/metrics"),
            &[],
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(text.contains("orders_outbox_pending 0"), "{text}");
    assert!(text.contains("route=\"/ready\""), "{text}");

    catalog.cluster.shutdown().await;
    let (s, h, v) = http(Method::GET, &format!("{base}/ready"), &[], None)
        .await
        .unwrap();
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(h.contains_key("retry-after"));
    assert_eq!(v["error"]["code"], "catalog_unavailable");
}
