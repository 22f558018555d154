//! What operators see of orders: the request latency histogram on `/metrics`, and
//! `X-Request-Id` on every answer.

use http::{Method, StatusCode};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_have_latency_buckets_that_move_after_a_request() {
    let catalog = Catalog::spawn(&[(1, 10)]).await;
    let cart = Cart::start(&catalog).await;
    let dir = temp();
    let orders = InProcess::start(config(dir.path(), &catalog, &cart, None)).await;
    let session = cart.novo(&[(1, 2)]).await;
    let (s, v) = orders.api.checkout("k-obs", &session).await.unwrap();
    assert!(s.is_success(), "{v}");
    let id = v["id"].as_str().unwrap().to_owned();

    let count =
        "orders_http_request_duration_seconds_count{route=\"/api/pedidos/{id}\",status_class=\"2xx\"}";
    let before = orders.api.metric(count).await.unwrap_or(0);
    orders.api.pedido(&id).await;
    assert_eq!(orders.api.metric(count).await, Some(before + 1));

    let (_, h, _) = http(
        Method::GET,
        &format!("{}/metrics", orders.api.url),
        &[],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        h["content-type"],
        confeitaria_service::metrics::CONTENT_TYPE
    );
    let r = confeitaria_client::Transport::http()
        .send(
            Method::GET,
            &format!("{}/metrics", orders.api.url),
            &[],
            None,
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(
        text.contains("orders_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/api/pedidos/{id}\",status_class=\"2xx\"}"),
        "{text}"
    );
    assert!(text.contains("orders_created_total 1"), "{text}");
    assert!(text.contains("orders_total 1"), "{text}");
    assert!(!text.contains(&id), "order ids are never labels: {text}");
    orders.stop().await;
    catalog.cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_echoed_minted_or_replaced() {
    let catalog = Catalog::spawn(&[]).await;
    let cart = Cart::start(&catalog).await;
    let dir = temp();
    let orders = InProcess::start(config(dir.path(), &catalog, &cart, None)).await;
    let id_of = |given: Option<String>, path: &'static str| {
        let url = format!("{}{path}", orders.api.url);
        async move {
            let headers: Vec<(&str, &str)> = given
                .as_deref()
                .map(|g| ("x-request-id", g))
                .into_iter()
                .collect();
            let (_, h, _) = http(Method::GET, &url, &headers, None).await.unwrap();
            h.get("x-request-id")
                .map(|v| v.to_str().unwrap().to_owned())
        }
    };
    assert_eq!(
        id_of(Some("pedido-9".into()), "/health").await.as_deref(),
        Some("pedido-9")
    );
    let minted = id_of(None, "/health").await.unwrap();
    assert_eq!(minted.len(), 32, "{minted}");
    let replaced = id_of(Some("x".repeat(200)), "/health").await.unwrap();
    assert_eq!(replaced.len(), 32, "{replaced}");
    let (s, h, _) = http(
        Method::GET,
        &format!("{}/nada", orders.api.url),
        &[("x-request-id", "r-404")],
        None,
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(h["x-request-id"], "r-404", "refusals carry it too");
    orders.stop().await;
    catalog.cluster.shutdown().await;
}
