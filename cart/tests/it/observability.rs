//! What operators see of the cart: the request latency histogram on `/metrics`, and
//! `X-Request-Id` on every answer.

use axum::body::{to_bytes, Body};
use axum::http::{Method, Request};
use tower::ServiceExt;

use crate::harness::{StoreKind, TestApp};

/// The value of the series `series` (name and labels, exactly as exposed); 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn metrics_have_latency_buckets_that_move_after_a_request() {
    let app = TestApp::spawn(StoreKind::Memory).await;
    let sid = app.new_cart(8, 1).await;
    let count = "cart_http_request_duration_seconds_count{route=\"/api/carrinho/{session_id}\",status_class=\"2xx\"}";
    let before = value(
        &app.call(Method::GET, "/metrics", None, None).await.text,
        count,
    );
    assert_eq!(app.get(&sid).await.status, 200);
    let metrics = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(
        metrics.headers["content-type"],
        confeitaria_service::metrics::CONTENT_TYPE
    );
    let text = metrics.text;
    assert_eq!(value(&text, count), before + 1.0, "{text}");
    assert!(
        text.contains("cart_http_request_duration_seconds_bucket{le=\"0.0001\",route=\"/api/carrinho/{session_id}\",status_class=\"2xx\"}"),
        "{text}"
    );
    assert!(
        text.contains("cart_http_requests_total{method=\"POST\",route=\"/api/carrinho/adicionar\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("cart_units_added_total 1"), "{text}");
    assert!(!text.contains(&sid), "session ids are never labels: {text}");
}

#[tokio::test]
async fn a_request_id_is_echoed_minted_or_replaced() {
    let app = TestApp::spawn(StoreKind::Memory).await;
    let id_of = |given: Option<&'static str>, uri: &'static str| {
        let router = app.router.clone();
        async move {
            let mut req = Request::builder().uri(uri);
            if let Some(g) = given {
                req = req.header("x-request-id", g);
            }
            let r = router
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let id = r
                .headers()
                .get("x-request-id")
                .map(|v| v.to_str().unwrap().to_owned());
            to_bytes(r.into_body(), usize::MAX).await.unwrap();
            id
        }
    };
    assert_eq!(
        id_of(Some("carrinho-1"), "/health").await.as_deref(),
        Some("carrinho-1")
    );
    let minted = id_of(None, "/health").await.unwrap();
    assert_eq!(minted.len(), 32, "{minted}");
    let replaced = id_of(Some("has space"), "/health").await.unwrap();
    assert_eq!(replaced.len(), 32, "{replaced}");
    assert_ne!(replaced, minted);
    assert_eq!(
        id_of(Some("r-404"), "/nada").await.as_deref(),
        Some("r-404"),
        "refusals carry it too"
    );
}
