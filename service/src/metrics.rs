//! `/metrics` of every service, through `prometheus-client` (the Prometheus project's Rust
//! client): one [`ServiceMetrics`] per service instance — no global recorder, so tests run
//! several services in one process — holding the request metrics every service has:
//!
//! - `<prefix>_http_requests_total{method,route,status}` (counter);
//! - `<prefix>_http_request_duration_seconds{route,status_class}` (histogram,
//!   [`http_buckets`]);
//!
//! and whatever the service registers of its own at construction ([`ServiceMetrics::register`])
//! or samples when scraped (the `sample` argument of [`ServiceMetrics::render`]: gauges of
//! state the service keeps elsewhere, counters kept in atomics of other crates).
//!
//! `route` is always the matched route pattern (`/api/pedidos/{id}`), never the raw path: raw
//! paths hold session and order ids, capabilities unbounded in number.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry};

/// The `Content-Type` of [`ServiceMetrics::render`]'s text (OpenMetrics 1.0, which Prometheus
/// negotiates).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    route: String,
    status_class: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Buckets of request latency: 100 µs doubling to about 13 s (18 buckets), so a request cut
/// at any service's deadline (5–10 s) still lands in a bucket of its own.
pub fn http_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0001, 2.0, 18)
}

/// Buckets of the steps inside a service (a log append and flush, an apply, one quorum round):
/// 25 µs doubling to about 3.3 s (18 buckets).
pub fn step_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_025, 2.0, 18)
}

/// A histogram of request latency ([`http_buckets`]).
pub fn http_histogram() -> Histogram {
    Histogram::new(http_buckets())
}

/// A histogram of a step inside a service ([`step_buckets`]).
pub fn step_histogram() -> Histogram {
    Histogram::new(step_buckets())
}

/// A service's registry, with the request metrics every service has.
#[derive(Debug)]
pub struct ServiceMetrics {
    prefix: &'static str,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily<DurationLabels>,
}

impl ServiceMetrics {
    /// A registry whose every metric is named `<prefix>_…` (`catalog`, `cart`, `orders`,
    /// `gateway`), with the request counter and latency histogram registered.
    pub fn new(prefix: &'static str) -> Self {
        let mut registry = Registry::with_prefix(prefix);
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: HistogramFamily<DurationLabels> =
            Family::new_with_constructor(http_histogram);
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, matched route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time spent answering HTTP requests, by matched route and status class",
            durations.clone(),
        );
        Self {
            prefix,
            registry,
            requests,
            durations,
        }
    }

    /// Registers one of the service's own metrics as `<prefix>_<name>` (a counter's name
    /// without `_total`: the encoder adds it). Keep a clone of `metric` to update it.
    pub fn register(&mut self, name: &str, help: &str, metric: impl Metric) {
        self.registry.register(name, help, metric);
    }

    /// Counts one answered request and observes its latency. `route` is the matched route
    /// pattern (or `unmatched`), never the raw path.
    pub fn record_request(&self, method: &Method, route: &str, status: StatusCode, took: Duration) {
        let labels = RequestLabels {
            method: method_label(method),
            route: route.to_owned(),
            status: status.as_u16(),
        };
        self.requests.get_or_create(&labels).inc();
        // The route's one allocation serves both label sets.
        let labels = DurationLabels {
            route: labels.route,
            status_class: status_class(status),
        };
        self.durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// The text exposition of every registered metric, then of those `sample` registers now
    /// (into a registry with the same prefix, dropped after this scrape).
    pub fn render(&self, sample: impl FnOnce(&mut Registry)) -> String {
        let mut now = Registry::with_prefix(self.prefix);
        sample(&mut now);
        let mut out = String::new();
        let written = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &now))
            .and_then(|()| encode_eof(&mut out));
        if written.is_err() {
            // Writing to a String cannot fail; an encoder error would be a bug in a metric.
            tracing::error!("encoding metrics failed");
            out.clear();
        }
        out
    }
}

/// The method as a label: the standard ones by name, any other as `other` (a client can send
/// any token as a method; the label set must stay bounded).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// `2xx`, `4xx`, … of a status.
fn status_class(s: StatusCode) -> &'static str {
    match s.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::gauge::ConstGauge;

    #[test]
    fn renders_requests_latency_buckets_and_sampled_metrics_under_the_prefix() {
        let mut m = ServiceMetrics::new("loja");
        let own = Counter::<u64>::default();
        m.register("vendas", "Sales", own.clone());
        own.inc_by(3);
        m.record_request(
            &Method::GET,
            "/x/{id}",
            StatusCode::OK,
            Duration::from_millis(3),
        );
        m.record_request(
            &Method::from_bytes(b"BREW").unwrap_or(Method::GET),
            "/x/{id}",
            StatusCode::NOT_FOUND,
            Duration::from_millis(1),
        );
        let text = m.render(|r| r.register("abertos", "Open", ConstGauge::new(7i64)));
        for line in [
            "loja_http_requests_total{method=\"GET\",route=\"/x/{id}\",status=\"200\"} 1",
            "loja_http_requests_total{method=\"other\",route=\"/x/{id}\",status=\"404\"} 1",
            "loja_http_request_duration_seconds_count{route=\"/x/{id}\",status_class=\"2xx\"} 1",
            "loja_http_request_duration_seconds_bucket{le=\"0.0032\",route=\"/x/{id}\",status_class=\"2xx\"} 1",
            "loja_http_request_duration_seconds_bucket{le=\"0.0016\",route=\"/x/{id}\",status_class=\"2xx\"} 0",
            "loja_vendas_total 3",
            "loja_abertos 7",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
    }
}
