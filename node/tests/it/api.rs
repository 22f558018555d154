//! The REST API's contract: bad input is refused with docs/design.md's JSON errors and changes
//! nothing; admin and service calls need their tokens; the RPC port needs the cluster secret.

use std::time::Duration;

use catalog_node::testing::TestCluster;
use confeitaria_types::auth::TokenRole;
use http::Method;
use serde_json::Value;

use crate::helpers::{call, get, Reply};

async fn snapshot(c: &TestCluster) -> Value {
    let r = get(&c.api_addr(1), "/api/produtos?limit=100").await;
    assert_eq!(r.status, 200);
    r.json
}

fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "body: {}", r.json);
    assert_eq!(r.code(), code, "body: {}", r.json);
    assert!(r.json["error"]["message"].is_string(), "body: {}", r.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_json_error_and_changes_nothing() {
    let c = TestCluster::spawn(3).await;
    let admin = c.token(TokenRole::Admin);
    let service = c.token(TokenRole::Service);
    let a = c.api_addr(2);
    let before = snapshot(&c).await;
    let adm = Some(admin.as_str());
    let svc = Some(service.as_str());
    let big = format!("{{\"nome\":\"{}\"}}", "x".repeat(70_000));
    // (method, path, body, token, expected status, expected error code)
    type Case<'a> = (
        Method,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            Method::PUT,
            "/api/produtos/1/estoque",
            Some("{\"estoque\":"),
            adm,
            400,
            "malformed_json",
        ),
        (
            Method::PUT,
            "/api/produtos/1/estoque",
            Some("{\"estoque\":\"ten\"}"),
            adm,
            400,
            "invalid_field",
        ),
        (
            Method::PUT,
            "/api/produtos/1/estoque",
            Some("{\"estoque\":-1}"),
            adm,
            400,
            "invalid_field",
        ),
        (
            Method::PUT,
            "/api/produtos/1/estoque",
            Some("{\"estoque\":99999999999}"),
            adm,
            400,
            "invalid_field",
        ),
        (
            Method::PUT,
            "/api/produtos/1/estoque",
            Some("{\"estoque\":1,\"delta\":1}"),
            adm,
            400,
            "invalid_field",
        ),
        (
            Method::PUT,
            "/api/produtos/1/estoque",
            Some("{}"),
            adm,
            400,
            "invalid_field",
        ),
        (
            Method::PUT,
            "/api/produtos/1/estoque",
            Some("{\"delta\":-100000}"),
            adm,
            409,
            "negative_stock",
        ),
        (
            Method::PUT,
            "/api/produtos/999/estoque",
            Some("{\"estoque\":1}"),
            adm,
            404,
            "not_found",
        ),
        (
            Method::PUT,
            "/api/produtos/abc/estoque",
            Some("{\"estoque\":1}"),
            adm,
            400,
            "invalid_id",
        ),
        (
            Method::PUT,
            "/api/produtos/1",
            Some(&big),
            adm,
            413,
            "payload_too_large",
        ),
        (
            Method::PUT,
            "/api/produtos/1",
            Some("{\"categoria\":\"nao-existe\"}"),
            adm,
            409,
            "unknown_category",
        ),
        (
            Method::PUT,
            "/api/produtos/1",
            Some("{\"preco_centavos\":1,\"extra\":true}"),
            adm,
            400,
            "invalid_field",
        ),
        (
            Method::POST,
            "/api/produtos",
            Some("{\"nome\":\"x\",\"preco_centavos\":1,\"categoria\":\"nao-existe\"}"),
            adm,
            409,
            "unknown_category",
        ),
        (
            Method::POST,
            "/api/produtos",
            Some("{\"nome\":\"\",\"preco_centavos\":1,\"categoria\":\"bolos\"}"),
            adm,
            400,
            "invalid_field",
        ),
        (
            Method::POST,
            "/api/categorias",
            Some("{\"slug\":\"Bad Slug\",\"nome\":\"x\"}"),
            adm,
            400,
            "invalid_field",
        ),
        (
            Method::POST,
            "/api/reservas",
            Some("{\"id\":\"r1\",\"itens\":[{\"doce_id\":1,\"quantidade\":0}]}"),
            svc,
            400,
            "invalid_quantity",
        ),
        (
            Method::POST,
            "/api/reservas",
            Some("{\"id\":\"r1\",\"itens\":[{\"doce_id\":1,\"quantidade\":1000000}]}"),
            svc,
            400,
            "invalid_quantity",
        ),
        (
            Method::POST,
            "/api/reservas",
            Some("{\"id\":\"r1\",\"itens\":[]}"),
            svc,
            400,
            "invalid_field",
        ),
        (
            Method::POST,
            "/api/reservas",
            Some("{\"id\":\"r 1\",\"itens\":[{\"doce_id\":1,\"quantidade\":1}]}"),
            svc,
            400,
            "invalid_field",
        ),
        (
            Method::POST,
            "/api/reservas",
            Some("{\"id\":\"r1\",\"itens\":[{\"doce_id\":1,\"quantidade\":9999}]}"),
            svc,
            409,
            "insufficient_stock",
        ),
        (
            Method::POST,
            "/api/reservas",
            Some("{\"id\":\"r2\",\"itens\":[{\"doce_id\":4242,\"quantidade\":1}]}"),
            svc,
            404,
            "not_found",
        ),
        (
            Method::POST,
            "/api/reservas/nope/confirmar",
            None,
            svc,
            404,
            "not_found",
        ),
        (
            Method::GET,
            "/api/produtos/999",
            None,
            None,
            404,
            "not_found",
        ),
        (
            Method::GET,
            "/api/produtos/-1",
            None,
            None,
            400,
            "invalid_id",
        ),
        (
            Method::GET,
            "/api/produtos?limit=101",
            None,
            None,
            400,
            "invalid_field",
        ),
        (
            Method::GET,
            "/api/produtos?limit=abc",
            None,
            None,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/api/produtos/1?consistency=eventual",
            None,
            None,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/api/produtos/categoria/nao-existe",
            None,
            None,
            404,
            "not_found",
        ),
        (Method::GET, "/nao/existe", None, None, 404, "not_found"),
        (
            Method::PATCH,
            "/api/produtos/1",
            None,
            None,
            405,
            "method_not_allowed",
        ),
    ];
    for (method, path, body, token, status, code) in cases {
        let r = call(&a, method.clone(), path, body, token).await;
        assert_eq!(r.status, status, "{method} {path} {body:?}: {}", r.json);
        assert_error(&r, status, code);
    }
    assert_eq!(
        snapshot(&c).await,
        before,
        "a refused request changed the catalog"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_and_service_calls_need_the_right_token() {
    let c = TestCluster::spawn(3).await;
    let a = c.api_addr(1);
    let service = c.token(TokenRole::Service);
    let body = Some("{\"estoque\":3}");
    let r = call(&a, Method::PUT, "/api/produtos/1/estoque", body, None).await;
    assert_error(&r, 401, "unauthorized");
    let r = call(
        &a,
        Method::PUT,
        "/api/produtos/1/estoque",
        body,
        Some("not.a.jwt"),
    )
    .await;
    assert_error(&r, 401, "unauthorized");
    let r = call(
        &a,
        Method::PUT,
        "/api/produtos/1/estoque",
        body,
        Some(&service),
    )
    .await;
    assert_error(&r, 403, "forbidden");
    let reserva = Some("{\"id\":\"t1\",\"itens\":[{\"doce_id\":1,\"quantidade\":1}]}");
    let r = call(&a, Method::POST, "/api/reservas", reserva, None).await;
    assert_error(&r, 401, "unauthorized");
    let r = call(&a, Method::POST, "/api/reservas", reserva, Some(&service)).await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["estado"], "reservada");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservation_endpoints_are_idempotent_and_move_the_counters() {
    let c = TestCluster::spawn(3).await;
    let svc = c.token(TokenRole::Service);
    let s = Some(svc.as_str());
    let before = get(&c.api_addr(1), "/api/produtos/9/estoque").await.json;
    let body = Some("{\"id\":\"pedido-1\",\"itens\":[{\"doce_id\":9,\"quantidade\":3}]}");
    for addr in c.api_addrs() {
        let r = call(&addr, Method::POST, "/api/reservas", body, s).await;
        assert_eq!(r.status, 201, "{}", r.json);
    }
    let mid = get(&c.api_addr(3), "/api/produtos/9/estoque").await.json;
    assert_eq!(
        mid["reservado"], 3,
        "reserved three times instead of once: {mid}"
    );
    assert_eq!(
        mid["disponivel"].as_u64().unwrap() + 3,
        before["disponivel"].as_u64().unwrap()
    );
    for addr in c.api_addrs() {
        let r = call(
            &addr,
            Method::POST,
            "/api/reservas/pedido-1/confirmar",
            None,
            s,
        )
        .await;
        assert_eq!(r.json["estado"], "confirmada");
    }
    let after = get(&c.api_addr(2), "/api/produtos/9/estoque").await.json;
    assert_eq!(
        (after["reservado"].as_u64(), after["vendido"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(after["recebido"], before["recebido"]);
    // A release that arrives before its reservation blocks the late reservation.
    let r = call(
        &c.api_addr(1),
        Method::DELETE,
        "/api/reservas/pedido-2",
        None,
        s,
    )
    .await;
    assert_eq!(r.json["estado"], "liberada");
    let late = Some("{\"id\":\"pedido-2\",\"itens\":[{\"doce_id\":9,\"quantidade\":1}]}");
    let r = call(&c.api_addr(2), Method::POST, "/api/reservas", late, s).await;
    assert_error(&r, 409, "reservation_released");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reservation_stays_refused_on_every_node_and_after_a_restart() {
    let mut c = TestCluster::spawn(3).await;
    let svc = c.token(TokenRole::Service);
    let admin = c.token(TokenRole::Admin);
    let stock = get(&c.api_addr(1), "/api/produtos/4/estoque").await.json;
    let have = stock["disponivel"].as_u64().unwrap();
    let body = format!(
        "{{\"id\":\"pedido-curto\",\"itens\":[{{\"doce_id\":4,\"quantidade\":{}}}]}}",
        have + 1
    );
    let r = call(
        &c.api_addr(1),
        Method::POST,
        "/api/reservas",
        Some(&body),
        Some(&svc),
    )
    .await;
    assert_error(&r, 409, "insufficient_stock");
    // The short product is a field of the error, so no caller parses the message.
    assert_eq!(r.json["error"]["doce_id"], 4, "{}", r.json);
    // Stock arrives: a late duplicate of the refused request must still be refused, or a
    // caller told "refused" would hold stock it never knew about.
    let adjust = "{\"delta\":100}";
    let r = call(
        &c.api_addr(2),
        Method::PUT,
        "/api/produtos/4/estoque",
        Some(adjust),
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    for addr in c.api_addrs() {
        let r = call(
            &addr,
            Method::POST,
            "/api/reservas",
            Some(&body),
            Some(&svc),
        )
        .await;
        assert_error(&r, 409, "insufficient_stock");
        let r = call(
            &addr,
            Method::GET,
            "/api/reservas/pedido-curto",
            None,
            Some(&svc),
        )
        .await;
        assert_error(&r, 404, "not_found");
    }
    // The memory is part of the replicated state: it survives a node's restart.
    c.stop(3).await;
    c.restart(3).await;
    let r = call(
        &c.api_addr(3),
        Method::POST,
        "/api/reservas",
        Some(&body),
        Some(&svc),
    )
    .await;
    assert_error(&r, 409, "insufficient_stock");
    let after = get(&c.api_addr(3), "/api/produtos/4/estoque").await.json;
    assert_eq!(after["reservado"], stock["reservado"], "{after}");
    assert_eq!(after["disponivel"].as_u64(), Some(have + 100), "{after}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_rpc_refuses_requests_without_the_cluster_secret() {
    let c = TestCluster::spawn(3).await;
    let status = c.node(1).node.status();
    let rpc = &status.membership.nodes[&2].rpc_addr;
    let cmd = Some("{\"Write\":{\"SetEstoque\":{\"id\":1,\"estoque\":0}}}");
    let r = call(rpc, Method::POST, "/raft/forward", cmd, None).await;
    assert_eq!(r.status, 401);
    let t = confeitaria_client::Transport::http();
    let r = t
        .send(
            Method::POST,
            &format!("http://{rpc}/raft/forward"),
            &[("x-cluster-secret", "wrong")],
            cmd.map(|b| b.as_bytes().to_vec()),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 401);
    let stock = get(&c.api_addr(1), "/api/produtos/1").await.json;
    assert_ne!(
        stock["estoque"], 0,
        "an unauthenticated RPC changed the stock"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_can_be_added_and_removed_through_cluster_members() {
    let mut c = TestCluster::spawn(3).await;
    let admin = c.token(TokenRole::Admin);
    let leader = c.wait_leader(Duration::from_secs(5)).await;
    let addr = c.start_joiner(4).await;
    let body = serde_json::json!({"id": 4, "api_addr": addr.api_addr, "rpc_addr": addr.rpc_addr})
        .to_string();
    // Sent to a follower on purpose: membership changes are forwarded too.
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let r = call(
        &c.api_addr(follower),
        Method::POST,
        "/cluster/members",
        Some(&body),
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = get(
        &addr.api_addr,
        "/api/produtos?limit=100&consistency=linearizable",
    )
    .await;
    assert_eq!(
        r.json["total"], 20,
        "new member did not receive the catalog: {}",
        r.json
    );
    let st = get(&c.api_addr(1), "/cluster/status").await.json;
    assert_eq!(st["membership"]["voters"], serde_json::json!([1, 2, 3, 4]));
    let r = call(
        &c.api_addr(1),
        Method::DELETE,
        "/cluster/members/4",
        None,
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    for addr in [c.api_addr(1), c.api_addr(2), c.api_addr(3)] {
        let end = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let st = get(&addr, "/cluster/status").await.json;
            if st["membership"]["voters"] == serde_json::json!([1, 2, 3]) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "{addr} still lists voters {}",
                st["membership"]["voters"]
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_metrics_and_openapi_answer() {
    let c = TestCluster::spawn(3).await;
    for addr in c.api_addrs() {
        assert_eq!(get(&addr, "/health").await.status, 200);
        assert_eq!(get(&addr, "/ready").await.status, 200);
        let m = get(&addr, "/metrics").await;
        let text = String::from_utf8_lossy(&m.raw.body).to_string();
        assert!(text.contains("catalog_raft_term "), "{text}");
        assert!(
            text.contains("catalog_raft_split_vote_elections_total "),
            "{text}"
        );
        assert!(text.contains("catalog_products 20"), "{text}");
    }
    let doc = get(&c.api_addr(1), "/openapi.json").await.json;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc,
        catalog_node::api::openapi::document(),
        "the served document is the generated one"
    );
    assert_eq!(
        confeitaria_service::openapi::dangling_refs(&doc),
        Vec::<String>::new()
    );
    for path in [
        "/api/produtos",
        "/api/produtos/{id}",
        "/api/produtos/{id}/estoque",
        "/api/reservas",
        "/cluster/status",
        "/cluster/members",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
    c.shutdown().await;
}
