//! `/metrics`, with `prometheus-client` (the Prometheus project's own Rust client: typed
//! label sets, one registry per gateway — no global recorder, so tests can run several
//! gateways in one process):
//!
//! - `gateway_http_requests_total{method,route,status}`;
//! - `gateway_http_request_duration_seconds{route,status_class}` (histogram);
//! - `gateway_upstream_requests_total{upstream,instance,outcome}` — one per attempt;
//!   outcomes `ok`, `http_5xx`, `shed` (a 503), `connect_error`, `error`, `timeout`;
//! - `gateway_retries_total{upstream}` — attempts beyond the first;
//! - `gateway_refused_total{reason}` — `rate_limited`, `overloaded`;
//! - `gateway_breaker_state{instance}` (0 closed, 1 open, 2 half-open) and
//!   `gateway_instance_healthy{instance}` (1/0), set when scraped.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::upstream::Pool;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    route: String,
    status_class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
    instance: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamOnly {
    upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    instance: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

type HistogramFamily = Family<DurationLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.25 ms .. about 8 s.
    Histogram::new(exponential_buckets(0.00025, 2.0, 16))
}

/// The gateway's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily,
    upstream: Family<UpstreamLabels, Counter>,
    retries: Family<UpstreamOnly, Counter>,
    refused: Family<ReasonLabels, Counter>,
    breaker: Family<InstanceLabels, Gauge>,
    healthy: Family<InstanceLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let upstream = Family::<UpstreamLabels, Counter>::default();
        let retries = Family::<UpstreamOnly, Counter>::default();
        let refused = Family::<ReasonLabels, Counter>::default();
        let breaker = Family::<InstanceLabels, Gauge>::default();
        let healthy = Family::<InstanceLabels, Gauge>::default();
        registry.register(
            "gateway_http_requests",
            "HTTP requests answered by the gateway",
            requests.clone(),
        );
        registry.register(
            "gateway_http_request_duration_seconds",
            "Time the gateway took to answer",
            durations.clone(),
        );
        registry.register(
            "gateway_upstream_requests",
            "Attempts sent to upstream instances, by outcome",
            upstream.clone(),
        );
        registry.register(
            "gateway_retries",
            "Attempts beyond a request's first",
            retries.clone(),
        );
        registry.register(
            "gateway_refused",
            "Requests the gateway refused itself (rate limit, load shedding)",
            refused.clone(),
        );
        registry.register(
            "gateway_breaker_state",
            "Circuit breaker per instance: 0 closed, 1 open, 2 half-open",
            breaker.clone(),
        );
        registry.register(
            "gateway_instance_healthy",
            "Health of each instance (active probes and passive checks): 1 healthy",
            healthy.clone(),
        );
        Self {
            registry,
            requests,
            durations,
            upstream,
            retries,
            refused,
            breaker,
            healthy,
        }
    }
}

impl Metrics {
    /// One answered request (`route` is the matched pattern, never the raw path).
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.durations
            .get_or_create(&DurationLabels {
                route: route.to_owned(),
                status_class: format!("{}xx", status / 100),
            })
            .observe(took.as_secs_f64());
    }

    /// One attempt at an upstream instance.
    pub fn attempt(&self, upstream: &str, instance: &str, outcome: &str) {
        self.upstream
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_owned(),
                instance: instance.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// One attempt beyond a request's first.
    pub fn retry(&self, upstream: &str) {
        self.retries
            .get_or_create(&UpstreamOnly {
                upstream: upstream.to_owned(),
            })
            .inc();
    }

    /// One request refused by the gateway itself.
    pub fn refused(&self, reason: &str) {
        self.refused
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The text exposition, with the breaker and health gauges set from `pools` now.
    pub fn render(&self, pools: &[&Pool]) -> String {
        for pool in pools {
            for i in &pool.instances {
                let labels = InstanceLabels {
                    instance: i.label.clone(),
                };
                self.breaker
                    .get_or_create(&labels)
                    .set(i.breaker_state().gauge());
                self.healthy
                    .get_or_create(&labels)
                    .set(i64::from(i.health.is_healthy()));
            }
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
