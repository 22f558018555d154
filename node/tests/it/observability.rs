//! What operators see of a node: request latency histograms and the Raft-side histograms on
//! `/metrics`, and `X-Request-Id` on every answer.

use std::time::Duration;

use catalog_node::testing::TestCluster;
use confeitaria_client::transport::Transport;
use confeitaria_types::auth::TokenRole;
use http::Method;

use crate::helpers::{call, get};

/// The value of the series `series` (name and labels, exactly as exposed) in `/metrics` of
/// `addr`; 0 when the series is absent.
async fn metric(addr: &str, series: &str) -> f64 {
    let text = metrics_text(addr).await;
    value(&text, series)
}

async fn metrics_text(addr: &str) -> String {
    let m = get(addr, "/metrics").await;
    assert_eq!(m.status, 200);
    String::from_utf8_lossy(&m.raw.body).into_owned()
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_have_latency_buckets_and_raft_histograms_that_move() {
    let c = TestCluster::spawn(3).await;
    c.wait_seeded(Duration::from_secs(10)).await;
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    let follower = c.running().into_iter().find(|id| *id != leader).unwrap();
    let (l, f) = (c.api_addr(leader), c.api_addr(follower));

    let read = "catalog_http_request_duration_seconds_count{route=\"/api/produtos/{id}\",status_class=\"2xx\"}";
    let before = metric(&f, read).await;
    let read_index_before = metric(&f, "catalog_read_index_seconds_count").await;
    assert_eq!(get(&f, "/api/produtos/1").await.status, 200);
    let text = metrics_text(&f).await;
    assert_eq!(value(&text, read), before + 1.0, "{text}");
    assert!(
        text.contains(
            "catalog_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/api/produtos/{id}\",status_class=\"2xx\"}"
        ),
        "{text}"
    );
    assert!(
        value(&text, "catalog_read_index_seconds_count") > read_index_before,
        "a linearizable read on a follower asks the leader for a read index:\n{text}"
    );
    assert!(
        text.contains("catalog_http_requests_total{method=\"GET\",route=\"/api/produtos/{id}\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        !text.contains("/api/produtos/1\""),
        "raw paths are never labels: {text}"
    );

    let admin = c.token(TokenRole::Admin);
    let forward = "catalog_forward_seconds_count";
    let (forwarded, appended, applied) = (
        metric(&f, forward).await,
        metric(&l, "catalog_raft_append_seconds_count").await,
        metric(&l, "catalog_raft_apply_seconds_count").await,
    );
    let r = call(
        &f,
        Method::PUT,
        "/api/produtos/1/estoque",
        Some("{\"estoque\":7}"),
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(metric(&f, forward).await > forwarded);
    assert!(metric(&l, "catalog_raft_append_seconds_count").await > appended);
    assert!(metric(&l, "catalog_raft_apply_seconds_count").await > applied);
    for name in [
        "catalog_raft_append_seconds_bucket{le=",
        "catalog_raft_apply_seconds_bucket{le=",
        "catalog_read_index_seconds_bucket{le=",
        "catalog_forward_seconds_bucket{le=",
    ] {
        assert!(metrics_text(&f).await.contains(name), "{name}");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_echoed_minted_or_replaced() {
    let c = TestCluster::spawn(1).await;
    let addr = c.api_addr(1);
    let t = Transport::http();
    let id_of = |given: Option<&'static str>| {
        let (t, addr) = (&t, &addr);
        async move {
            let headers: Vec<(&str, &str)> =
                given.map(|g| ("x-request-id", g)).into_iter().collect();
            let r = t
                .send(
                    Method::GET,
                    &format!("http://{addr}/api/categorias"),
                    &headers,
                    None,
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
            assert!(
                r.header("x-served-by").is_some(),
                "the node's own headers stay"
            );
            r.header("x-request-id").map(str::to_owned)
        }
    };
    assert_eq!(id_of(Some("loja-7")).await.as_deref(), Some("loja-7"));
    let minted = id_of(None).await.unwrap();
    assert_eq!(minted.len(), 32, "{minted}");
    let replaced = id_of(Some("has space")).await;
    assert!(replaced
        .as_deref()
        .is_some_and(|r| r != "has space" && r.len() == 32));
    // A refusal of the shared tail carries it too.
    let r = t
        .send(
            Method::GET,
            &format!("http://{addr}/nada"),
            &[("x-request-id", "r-404")],
            None,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 404);
    assert_eq!(r.header("x-request-id"), Some("r-404"));
    c.shutdown().await;
}
