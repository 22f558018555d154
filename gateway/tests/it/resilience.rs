//! Failure handling against fake instances: what is retried and what is not, breakers that
//! stop sending to a dead instance, health from the prober, the rate limit and shedding,
//! and the metrics and dashboard that show it.

use std::time::Duration;

use http::{Method, StatusCode};

use crate::fakes::{dead_addr, echo, fixed, slow, Fake};
use crate::harness::{call, config, eventually, token, TestGateway};

const SHED: &str = r#"{"error":{"code":"no_leader","message":"no leader"}}"#;

/// A refused connection is retried for any request (it never left); a 503 or a timeout only
/// for requests that are safe to repeat.
#[tokio::test]
async fn retries_only_what_is_safe_to_repeat() {
    // Instance 0 is dead: every request, even a product creation, goes on to instance 1.
    let ok = Fake::start(echo()).await;
    let gw = TestGateway::start(&config(vec![dead_addr().await, ok.addr.clone()], "", "")).await;
    for (m, path, body) in [
        (Method::GET, "/api/produtos/1", ""),
        (Method::POST, "/api/produtos", r#"{"nome":"x"}"#),
        (Method::PUT, "/api/produtos/1/estoque", r#"{"delta": 1}"#),
    ] {
        let a = call(m.clone(), &gw.at(path), &[], body).await;
        assert_eq!(a.status, StatusCode::OK, "{m} {path}");
        assert_eq!(
            a.header("x-upstream"),
            Some(format!("catalog@{}", ok.addr).as_str())
        );
    }

    // Instance 0 sheds with 503: safe requests go on, the others get its 503 as it was.
    let cases = [
        (Method::GET, "/api/produtos/1", "", true),
        (
            Method::PUT,
            "/api/produtos/1/estoque",
            r#"{"estoque": 5}"#,
            true,
        ),
        (
            Method::POST,
            "/api/reservas",
            r#"{"id":"r1","itens":[]}"#,
            true,
        ),
        (Method::POST, "/api/reservas/r1/confirmar", "", true),
        (Method::DELETE, "/api/reservas/r1", "", true),
        (
            Method::PUT,
            "/api/produtos/1/estoque",
            r#"{"delta": 5}"#,
            false,
        ),
        (Method::POST, "/api/produtos", r#"{"nome":"x"}"#, false),
    ];
    for (m, path, body, retried) in cases {
        // A fresh gateway per case, so the first attempt deterministically goes to instance 0.
        let busy = Fake::start(fixed(503, SHED)).await;
        let ok = Fake::start(echo()).await;
        let gw =
            TestGateway::start(&config(vec![busy.addr.clone(), ok.addr.clone()], "", "")).await;
        let a = call(m.clone(), &gw.at(path), &[], body).await;
        assert_eq!(busy.hits(), 1, "{m} {path} {body}");
        if retried {
            assert_eq!(a.status, StatusCode::OK, "{m} {path} {body}");
            assert_eq!(ok.hits(), 1);
        } else {
            assert_eq!(
                a.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{m} {path} {body}"
            );
            assert_eq!(a.header("retry-after"), Some("7"));
            assert_eq!(a.json()["error"]["code"], "no_leader");
            assert_eq!(ok.hits(), 0, "{m} {path} {body} must not be repeated");
        }
    }

    // Instance 0 stalls past the catalog timeout: a read goes on, a delta does not.
    for (body, m, retried) in [
        ("", Method::GET, true),
        (r#"{"delta": 1}"#, Method::PUT, false),
    ] {
        let stuck = Fake::start(slow(Duration::from_secs(30))).await;
        let ok = Fake::start(echo()).await;
        let mut c = config(vec![stuck.addr.clone(), ok.addr.clone()], "", "");
        c.catalog_timeout_ms = 300;
        let gw = TestGateway::start(&c).await;
        let a = call(m.clone(), &gw.at("/api/produtos/1/estoque"), &[], body).await;
        if retried {
            assert_eq!(a.status, StatusCode::OK);
        } else {
            assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(a.json()["error"]["code"], "upstream_timeout");
            assert_eq!(ok.hits(), 0);
        }
    }
}

/// After a few failures the dead instance's breaker opens: requests stop trying it at all,
/// the probe brings its health down, and the metrics say so.
#[tokio::test]
async fn a_dead_instance_is_skipped_and_shown_as_such() {
    let ok = Fake::start(echo()).await;
    let dead = dead_addr().await;
    let gw = TestGateway::start(&config(
        vec![dead.clone(), ok.addr.clone()],
        &ok.url(),
        &ok.url(),
    ))
    .await;
    for _ in 0..20 {
        let a = call(Method::GET, &gw.at("/api/produtos/1"), &[], "").await;
        assert_eq!(a.status, StatusCode::OK);
    }
    let instance = gw.state.catalog.instances()[0].clone();
    assert!(!instance.health.is_healthy());
    // Requests stopped trying it after two failures; the failed probes open its breaker.
    assert!(
        eventually(Duration::from_secs(5), || async {
            instance.breaker_state() == gateway::breaker::BreakerState::Open
        })
        .await
    );

    let metrics = call(Method::GET, &gw.at("/metrics"), &[], "").await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    let dead_label = format!("instance=\"catalog@{dead}\"");
    for want in [
        format!("gateway_instance_healthy{{{dead_label}}} 0"),
        format!("gateway_breaker_state{{{dead_label}}} 1"),
        format!(
            "gateway_instance_healthy{{instance=\"catalog@{}\"}} 1",
            ok.addr
        ),
    ] {
        assert!(text.contains(&want), "{want} missing in\n{text}");
    }
    for want in [
        "gateway_http_requests_total{method=\"GET\",route=\"/api/produtos/{*rest}\",status=\"200\"} 20",
        "gateway_http_request_duration_seconds_bucket{",
        "gateway_upstream_requests_total{upstream=\"catalog\",",
        "outcome=\"connect_error\"",
        "gateway_retries_total{upstream=\"catalog\"}",
    ] {
        assert!(text.contains(want), "{want} missing in\n{text}");
    }

    // The cart and orders answer their probes; no catalog node gives a cluster status (the
    // fake echoes), so the gateway is not ready.
    assert!(
        eventually(Duration::from_secs(5), || async {
            let r = call(Method::GET, &gw.at("/ready"), &[], "").await;
            let up = &r.json()["error"]["upstreams"];
            r.status == StatusCode::SERVICE_UNAVAILABLE
                && up["cart"] == true
                && up["orders"] == true
                && up["catalog"] == false
        })
        .await
    );
}

/// Each client has a rate; beyond it, 429 with `Retry-After`.
#[tokio::test]
async fn a_client_over_its_rate_gets_429() {
    let ok = Fake::start(echo()).await;
    let mut c = config(vec![ok.addr.clone()], "", "");
    c.rate_limit_per_sec = 1;
    c.rate_limit_loopback = true;
    c.rate_burst = 3;
    let gw = TestGateway::start(&c).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let a = call(Method::GET, &gw.at("/api/categorias"), &[], "").await;
        statuses.push(a.status.as_u16());
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(a.json()["error"]["code"], "rate_limited");
            assert!(a.header("retry-after").is_some());
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    // The gateway's own endpoints are not limited.
    assert_eq!(
        call(Method::GET, &gw.at("/health"), &[], "").await.status,
        StatusCode::OK
    );
}

/// Beyond the requests in flight allowed for an upstream, more are shed at once with 503 and
/// `Retry-After`.
#[tokio::test]
async fn too_many_requests_in_flight_are_shed() {
    let stuck = Fake::start(slow(Duration::from_millis(800))).await;
    let mut c = config(vec![stuck.addr.clone()], "", "");
    c.max_in_flight = 1;
    let gw = TestGateway::start(&c).await;
    let url = gw.at("/api/produtos/1");
    let first = tokio::spawn({
        let url = url.clone();
        async move { call(Method::GET, &url, &[], "").await }
    });
    assert!(eventually(Duration::from_secs(5), || async { stuck.hits() == 1 }).await);
    let second = call(Method::GET, &url, &[], "").await;
    assert_eq!(second.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second.json()["error"]["code"], "overloaded");
    assert_eq!(second.header("retry-after"), Some("1"));
    assert_eq!(first.await.unwrap().status, StatusCode::OK);
}

/// The dashboard page, its event stream, and its node controls behind an admin token.
#[tokio::test]
async fn the_dashboard_streams_state_and_guards_its_controls() {
    let ok = Fake::start(echo()).await;
    let gw = TestGateway::start(&config(vec![ok.addr.clone()], &ok.url(), &ok.url())).await;
    let page = call(Method::GET, &gw.at("/painel"), &[], "").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("Painel do cluster") && html.contains("/painel/eventos"));

    let kill = call(Method::POST, &gw.at("/painel/nos/1/parar"), &[], "").await;
    assert_eq!(kill.status, StatusCode::UNAUTHORIZED);
    let admin = format!(
        "Bearer {}",
        token(confeitaria_types::auth::TokenRole::Admin)
    );
    let kill = call(
        Method::POST,
        &gw.at("/painel/nos/1/parar"),
        &[("authorization", &admin)],
        "",
    )
    .await;
    assert_eq!(
        kill.status,
        StatusCode::CONFLICT,
        "no controls outside `up`"
    );
    assert_eq!(kill.json()["error"]["code"], "no_control");

    let estado = gateway::painel::estado(&gw.state);
    assert_eq!(estado.nos.len(), 1);
    assert_eq!(estado.trafego.len(), 3);
}
