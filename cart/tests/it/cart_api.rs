//! Every cart behaviour, run once on the embedded store and once on a real Redis.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::{eventually, StoreKind, TestApp};
use crate::on_both_stores;

on_both_stores!(
    add_without_session_creates_an_unguessable_session,
    add_prices_lines_from_the_catalog_and_totals_them,
    adds_to_one_line_accumulate,
    get_reprices_from_the_catalog,
    get_unknown_cart_is_404,
    malformed_session_ids_are_400_everywhere,
    carts_are_isolated_by_session,
    remove_drops_the_line_and_keeps_the_cart,
    remove_errors,
    delete_cart_then_it_is_gone,
    add_unknown_product_is_404_and_creates_nothing,
    add_inactive_product_is_409,
    add_quantity_outside_1_to_99_is_400,
    add_malformed_json_is_400,
    oversized_body_is_413,
    line_holds_at_most_99,
    cart_holds_at_most_50_lines,
    line_never_exceeds_catalog_stock,
    concurrent_adds_to_one_line_stop_exactly_at_99,
    concurrent_adds_across_lines_sum_exactly,
    concurrent_adds_never_exceed_stock,
    concurrent_new_lines_stop_exactly_at_50,
    cart_expires_after_its_ttl,
    writes_refresh_the_ttl_and_reads_do_not,
    catalog_down_is_503_with_retry_after,
    health_ready_metrics_and_openapi,
    unknown_routes_and_methods_answer_json,
);

async fn add_without_session_creates_an_unguessable_session(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let a = app.add(None, 1, 2).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let sid = a.session();
    assert_eq!(sid.len(), 32);
    assert!(sid.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(a.json["session_id"], sid.as_str());
    let b = app.add(None, 1, 2).await;
    assert_ne!(
        b.session(),
        sid,
        "every header-less add opens a new session"
    );
    // The given session id is echoed back.
    let c = app.add(Some(&sid), 1, 1).await;
    assert_eq!(c.session(), sid);
    assert_eq!(c.qty(1), 3);
}

async fn add_prices_lines_from_the_catalog_and_totals_them(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let sid = app.new_cart(3, 2).await;
    let r = app.add(Some(&sid), 5, 4).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.json["itens"],
        json!([
            {"doce_id": 3, "nome": "Doce 3", "preco_centavos": 300, "quantidade": 2,
             "subtotal_centavos": 600},
            {"doce_id": 5, "nome": "Doce 5", "preco_centavos": 500, "quantidade": 4,
             "subtotal_centavos": 2000},
        ])
    );
    assert_eq!(r.json["total_centavos"], 2600);
    // expira_em is about now + 7 days.
    let expira = r.json["expira_em"].as_str().unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let lo = confeitaria_types::time::rfc3339(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(now + 7 * 86_400 - 5),
    );
    let hi = confeitaria_types::time::rfc3339(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(now + 7 * 86_400 + 5),
    );
    assert!(
        lo.as_str() <= expira && expira <= hi.as_str(),
        "{expira} not in [{lo}, {hi}]"
    );
}

async fn adds_to_one_line_accumulate(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let sid = app.new_cart(7, 2).await;
    let r = app.add(Some(&sid), 7, 3).await;
    assert_eq!(r.qty(7), 5);
    assert_eq!(r.json["itens"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["total_centavos"], 5 * 700);
    assert_eq!(app.get(&sid).await.qty(7), 5);
}

async fn get_reprices_from_the_catalog(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let sid = app.new_cart(2, 3).await;
    app.catalog.update(2, |d| {
        d.preco_centavos = 999;
        d.nome = "Brigadeiro gourmet".into();
    });
    let r = app.get(&sid).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["session_id"], sid.as_str());
    assert_eq!(r.json["itens"][0]["nome"], "Brigadeiro gourmet");
    assert_eq!(r.json["itens"][0]["preco_centavos"], 999);
    assert_eq!(r.json["itens"][0]["subtotal_centavos"], 2997);
    assert_eq!(r.json["total_centavos"], 2997);
}

async fn get_unknown_cart_is_404(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    app.get(&"0".repeat(32))
        .await
        .assert_error(StatusCode::NOT_FOUND, "cart_not_found");
}

async fn malformed_session_ids_are_400_everywhere(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let sid = app.new_cart(1, 1).await;
    for bad in [
        "abc",
        &"a".repeat(31),
        &"a".repeat(33),
        &"g".repeat(32),
        &format!("{sid}x"),
    ] {
        app.get(bad)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_session");
        app.delete(bad)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_session");
        app.add(Some(bad), 1, 1)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_session");
        app.remove(Some(bad), "1")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_session");
    }
    app.add(Some(""), 1, 1)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_session");
    // The real cart was not touched by any of that.
    assert_eq!(app.get(&sid).await.qty(1), 1);
}

async fn carts_are_isolated_by_session(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let a = app.new_cart(1, 1).await;
    let b = app.new_cart(2, 2).await;
    let ra = app.get(&a).await;
    let rb = app.get(&b).await;
    assert_eq!((ra.qty(1), ra.qty(2)), (1, 0));
    assert_eq!((rb.qty(1), rb.qty(2)), (0, 2));
    // Upper-case spelling of the same id reaches the same cart.
    assert_eq!(app.get(&a.to_uppercase()).await.qty(1), 1);
}

async fn remove_drops_the_line_and_keeps_the_cart(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let sid = app.new_cart(1, 2).await;
    app.add(Some(&sid), 2, 3).await;
    let r = app.remove(Some(&sid), "1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.qty(1), r.qty(2)), (0, 3));
    assert_eq!(r.json["total_centavos"], 600);
    assert_eq!(r.session(), sid);
    let r = app.remove(Some(&sid), "2").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["itens"], json!([]));
    assert_eq!(r.json["total_centavos"], 0);
    // An emptied cart still exists until it expires or is deleted.
    let g = app.get(&sid).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.text);
    assert_eq!(g.json["itens"], json!([]));
    // And can be filled again.
    assert_eq!(app.add(Some(&sid), 4, 1).await.qty(4), 1);
}

async fn remove_errors(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let sid = app.new_cart(1, 1).await;
    app.remove(None, "1")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "missing_session");
    for bad in ["abc", "-1", "1.5", "99999999999999999999999"] {
        app.remove(Some(&sid), bad)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_id");
    }
    app.remove(Some(&sid), "2")
        .await
        .assert_error(StatusCode::NOT_FOUND, "item_not_found");
    app.remove(Some(&"f".repeat(32)), "1")
        .await
        .assert_error(StatusCode::NOT_FOUND, "cart_not_found");
    assert_eq!(app.get(&sid).await.qty(1), 1);
}

async fn delete_cart_then_it_is_gone(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let sid = app.new_cart(1, 1).await;
    let d = app.delete(&sid).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{}", d.text);
    app.get(&sid)
        .await
        .assert_error(StatusCode::NOT_FOUND, "cart_not_found");
    app.delete(&sid)
        .await
        .assert_error(StatusCode::NOT_FOUND, "cart_not_found");
    app.remove(Some(&sid), "1")
        .await
        .assert_error(StatusCode::NOT_FOUND, "cart_not_found");
}

async fn add_unknown_product_is_404_and_creates_nothing(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let sid = "ab".repeat(16);
    app.add(Some(&sid), 4242, 1)
        .await
        .assert_error(StatusCode::NOT_FOUND, "product_not_found");
    app.get(&sid)
        .await
        .assert_error(StatusCode::NOT_FOUND, "cart_not_found");
}

async fn add_inactive_product_is_409(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    app.catalog.update(9, |d| d.ativo = false);
    let sid = app.new_cart(1, 1).await;
    app.add(Some(&sid), 9, 1)
        .await
        .assert_error(StatusCode::CONFLICT, "product_inactive");
    assert_eq!(app.get(&sid).await.qty(9), 0);
}

async fn add_quantity_outside_1_to_99_is_400(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let sid = app.new_cart(1, 1).await;
    for q in [0, 100, 1000] {
        app.add(Some(&sid), 1, q)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_quantity");
    }
    app.add(None, 1, 0)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_quantity");
    assert_eq!(app.get(&sid).await.qty(1), 1);
    assert_eq!(app.add(Some(&sid), 1, 98).await.qty(1), 99);
}

async fn add_malformed_json_is_400(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let sid = app.new_cart(1, 1).await;
    for body in [
        "",
        "{",
        "not json",
        "[]",
        r#"{"doce_id": 1}"#,
        r#"{"quantidade": 1}"#,
        r#"{"doce_id": "1", "quantidade": 1}"#,
        r#"{"doce_id": 1, "quantidade": -1}"#,
        r#"{"doce_id": 1, "quantidade": 1.5}"#,
        r#"{"doce_id": 1, "quantidade": 1, "preco_centavos": 1}"#,
    ] {
        let r = app.add_raw(Some(&sid), body.as_bytes().to_vec()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}: {}", r.text);
        assert_eq!(r.code(), "invalid_json", "{body:?}: {}", r.text);
    }
    assert_eq!(app.get(&sid).await.qty(1), 1);
}

async fn oversized_body_is_413(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let body = format!(
        r#"{{"doce_id": 1, "quantidade": 1, "x": "{}"}}"#,
        "a".repeat(cart::BODY_LIMIT)
    );
    app.add_raw(None, body.into_bytes())
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

async fn line_holds_at_most_99(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let sid = app.new_cart(1, 60).await;
    app.add(Some(&sid), 1, 40)
        .await
        .assert_error(StatusCode::CONFLICT, "line_limit");
    assert_eq!(app.get(&sid).await.qty(1), 60);
    assert_eq!(app.add(Some(&sid), 1, 39).await.qty(1), 99);
    app.add(Some(&sid), 1, 1)
        .await
        .assert_error(StatusCode::CONFLICT, "line_limit");
    assert_eq!(app.get(&sid).await.qty(1), 99);
}

async fn cart_holds_at_most_50_lines(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let sid = app.new_cart(1, 1).await;
    for id in 2..=50 {
        let r = app.add(Some(&sid), id, 1).await;
        assert_eq!(r.status, StatusCode::OK, "line {id}: {}", r.text);
    }
    app.add(Some(&sid), 51, 1)
        .await
        .assert_error(StatusCode::CONFLICT, "cart_full");
    // Existing lines still grow; removing one makes room.
    assert_eq!(app.add(Some(&sid), 50, 1).await.qty(50), 2);
    assert_eq!(app.remove(Some(&sid), "3").await.status, StatusCode::OK);
    assert_eq!(app.add(Some(&sid), 51, 1).await.qty(51), 1);
    assert_eq!(
        app.get(&sid).await.json["itens"].as_array().unwrap().len(),
        50
    );
}

async fn line_never_exceeds_catalog_stock(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    app.catalog.update(4, |d| d.estoque = 5);
    let sid = app.new_cart(4, 3).await;
    let r = app.add(Some(&sid), 4, 3).await;
    r.assert_error(StatusCode::CONFLICT, "insufficient_stock");
    assert_eq!(app.get(&sid).await.qty(4), 3);
    assert_eq!(app.add(Some(&sid), 4, 2).await.qty(4), 5);
    app.catalog.update(4, |d| d.estoque = 0);
    app.add(None, 4, 1)
        .await
        .assert_error(StatusCode::CONFLICT, "insufficient_stock");
}

/// Fires `n` adds at once on a multi-threaded runtime; returns the status of each.
async fn concurrent_adds(
    app: &Arc<TestApp>,
    sid: &str,
    n: u64,
    doce: impl Fn(u64) -> u64,
) -> Vec<(u64, StatusCode, String)> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let app = app.clone();
            let sid = sid.to_owned();
            let id = doce(i);
            tokio::spawn(async move {
                let r = app.add(Some(&sid), id, 1).await;
                (id, r.status, r.code().to_owned())
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn concurrent_adds_to_one_line_stop_exactly_at_99(kind: StoreKind) {
    let app = Arc::new(TestApp::spawn(kind).await);
    let sid = "1".repeat(32);
    let results = concurrent_adds(&app, &sid, 200, |_| 1).await;
    let ok = results.iter().filter(|r| r.1 == StatusCode::OK).count();
    let capped = results.iter().filter(|r| r.2 == "line_limit").count();
    assert_eq!((ok, capped), (99, 101), "{results:?}");
    assert_eq!(app.get(&sid).await.qty(1), 99);
}

async fn concurrent_adds_across_lines_sum_exactly(kind: StoreKind) {
    let app = Arc::new(TestApp::spawn(kind).await);
    let sid = "2".repeat(32);
    let results = concurrent_adds(&app, &sid, 200, |i| 1 + i % 4).await;
    assert!(results.iter().all(|r| r.1 == StatusCode::OK), "{results:?}");
    let cart = app.get(&sid).await;
    for id in 1..=4 {
        assert_eq!(cart.qty(id), 50, "{}", cart.text);
    }
    assert_eq!(cart.json["total_centavos"], 50 * (100 + 200 + 300 + 400));
}

async fn concurrent_adds_never_exceed_stock(kind: StoreKind) {
    let app = Arc::new(TestApp::spawn(kind).await);
    app.catalog.update(6, |d| d.estoque = 37);
    let sid = "3".repeat(32);
    let results = concurrent_adds(&app, &sid, 200, |_| 6).await;
    let ok = results.iter().filter(|r| r.1 == StatusCode::OK).count();
    let refused = results
        .iter()
        .filter(|r| r.2 == "insufficient_stock")
        .count();
    assert_eq!((ok, refused), (37, 163), "{results:?}");
    assert_eq!(app.get(&sid).await.qty(6), 37);
}

async fn concurrent_new_lines_stop_exactly_at_50(kind: StoreKind) {
    let app = Arc::new(TestApp::spawn(kind).await);
    let sid = "4".repeat(32);
    let results = concurrent_adds(&app, &sid, 60, |i| i + 1).await;
    let ok: BTreeSet<u64> = results
        .iter()
        .filter(|r| r.1 == StatusCode::OK)
        .map(|r| r.0)
        .collect();
    let full = results.iter().filter(|r| r.2 == "cart_full").count();
    assert_eq!((ok.len(), full), (50, 10), "{results:?}");
    let cart = app.get(&sid).await;
    let lines: BTreeSet<u64> = cart.json["itens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["doce_id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        lines, ok,
        "the cart holds exactly the lines whose add succeeded"
    );
}

async fn cart_expires_after_its_ttl(kind: StoreKind) {
    let app = TestApp::with_ttl(kind, Duration::from_secs(1)).await;
    let sid = app.new_cart(1, 1).await;
    assert_eq!(app.get(&sid).await.status, StatusCode::OK);
    let gone = eventually(Duration::from_secs(10), || async {
        app.get(&sid).await.status == StatusCode::NOT_FOUND
    })
    .await;
    assert!(gone, "cart still there long after its 1 s TTL");
    app.get(&sid)
        .await
        .assert_error(StatusCode::NOT_FOUND, "cart_not_found");
    app.remove(Some(&sid), "1")
        .await
        .assert_error(StatusCode::NOT_FOUND, "cart_not_found");
    // An add after expiry starts from nothing.
    assert_eq!(app.add(Some(&sid), 1, 1).await.qty(1), 1);
}

async fn writes_refresh_the_ttl_and_reads_do_not(kind: StoreKind) {
    let app = TestApp::with_ttl(kind, Duration::from_secs(3600)).await;
    let sid = app.new_cart(1, 1).await;
    let first = app.get(&sid).await.json["expira_em"]
        .as_str()
        .unwrap()
        .to_owned();
    // expira_em has whole seconds: wait until the clock's second has certainly moved on.
    let t = SystemTime::now();
    let moved = eventually(Duration::from_secs(5), || async {
        t.elapsed().unwrap() >= Duration::from_millis(1100)
    })
    .await;
    assert!(moved);
    let read = app.get(&sid).await.json["expira_em"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(read, first, "a read must not extend the cart's life");
    let after_add = app.add(Some(&sid), 2, 1).await.json["expira_em"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        after_add > first,
        "add did not refresh: {after_add} vs {first}"
    );
    let t = SystemTime::now();
    assert!(
        eventually(Duration::from_secs(5), || async {
            t.elapsed().unwrap() >= Duration::from_millis(1100)
        })
        .await
    );
    let after_remove = app.remove(Some(&sid), "2").await.json["expira_em"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(after_remove > after_add, "remove did not refresh");
}

async fn catalog_down_is_503_with_retry_after(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let sid = app.new_cart(1, 1).await;
    app.catalog.set_down(true);
    for r in [app.add(Some(&sid), 2, 1).await, app.get(&sid).await] {
        r.assert_error(StatusCode::SERVICE_UNAVAILABLE, "catalog_unavailable");
        assert!(r.headers.contains_key("retry-after"));
        assert!(
            !r.text.contains("table catalog"),
            "5xx leaked internals: {}",
            r.text
        );
    }
    app.catalog.set_down(false);
    assert_eq!(app.get(&sid).await.qty(1), 1);
}

async fn health_ready_metrics_and_openapi(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let h = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(
        (h.status, h.json["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let r = app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let store = if kind == StoreKind::Redis {
        "redis"
    } else {
        "memory"
    };
    assert_eq!(r.json["store"], store);

    app.new_cart(1, 3).await;
    app.add(None, 1, 0).await;
    app.add(None, 1, 100).await;
    let m = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(m.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(
        m.text.contains(
            r#"cart_http_requests_total{method="POST",route="/api/carrinho/adicionar",status="200"} 1"#
        ),
        "{}",
        m.text
    );
    assert!(m.text.contains(
        r#"cart_http_requests_total{method="POST",route="/api/carrinho/adicionar",status="400"} 2"#
    ));
    assert!(m.text.contains("cart_units_added_total 3"));

    let o = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(o.status, StatusCode::OK);
    assert_eq!(o.json["openapi"], "3.1.0");
    assert_eq!(
        o.json,
        cart::openapi::document(),
        "the served document is the generated one"
    );
    assert_eq!(
        confeitaria_service::openapi::dangling_refs(&o.json),
        Vec::<String>::new()
    );
    for path in [
        "/api/carrinho/adicionar",
        "/api/carrinho/remover/{doce_id}",
        "/api/carrinho/{session_id}",
        "/health",
        "/ready",
        "/metrics",
    ] {
        assert!(o.json["paths"][path].is_object(), "openapi lacks {path}");
    }
}

async fn unknown_routes_and_methods_answer_json(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    app.call(Method::GET, "/api/nada", None, None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.call(Method::GET, "/api/carrinho/adicionar", None, None)
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    app.call(
        Method::PUT,
        &format!("/api/carrinho/{}", "a".repeat(32)),
        None,
        None,
    )
    .await
    .assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}
