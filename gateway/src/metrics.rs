//! The gateway's metrics: its registry ([`confeitaria_service::metrics::ServiceMetrics`],
//! prefix `gateway`, one per gateway — tests run several in one process) with the request
//! metrics every service has:
//!
//! - `gateway_http_requests_total{method,route,status}`;
//! - `gateway_http_request_duration_seconds{route,status_class}` (histogram);
//!
//! and the gateway's own:
//!
//! - `gateway_upstream_requests_total{upstream,instance,outcome}` — one per attempt;
//!   outcomes `ok`, `http_5xx`, `shed` (a 503), `connect_error`, `error`, `timeout`;
//! - `gateway_retries_total{upstream}` — attempts beyond the first;
//! - `gateway_refused_total{reason}` — `rate_limited`, `overloaded`;
//! - `gateway_breaker_state{instance}` (0 closed, 1 open, 2 half-open) and
//!   `gateway_instance_healthy{instance}` (1/0), set when scraped.

use confeitaria_service::metrics::ServiceMetrics;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::upstream::Pool;

// Label values are static strings and the instance's shared label: counting an attempt
// allocates nothing (the key is built on every request, to look its counter up).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: &'static str,
    instance: Arc<str>,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamOnly {
    upstream: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    instance: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// The gateway's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    /// The registry, with the request metrics.
    pub service: ServiceMetrics,
    upstream: Family<UpstreamLabels, Counter>,
    retries: Family<UpstreamOnly, Counter>,
    refused: Family<ReasonLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = ServiceMetrics::new("gateway");
        let upstream = Family::<UpstreamLabels, Counter>::default();
        let retries = Family::<UpstreamOnly, Counter>::default();
        let refused = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "upstream_requests",
            "Attempts sent to upstream instances, by outcome",
            upstream.clone(),
        );
        registry.register(
            "retries",
            "Attempts beyond a request's first",
            retries.clone(),
        );
        registry.register(
            "refused",
            "Requests the gateway refused itself (rate limit, load shedding)",
            refused.clone(),
        );
        Self {
            service: registry,
            upstream,
            retries,
            refused,
        }
    }
}

impl Metrics {
    /// One attempt at an upstream instance.
    pub fn attempt(&self, upstream: &'static str, instance: &Arc<str>, outcome: &'static str) {
        self.upstream
            .get_or_create(&UpstreamLabels {
                upstream,
                instance: instance.clone(),
                outcome,
            })
            .inc();
    }

    /// One attempt beyond a request's first.
    pub fn retry(&self, upstream: &'static str) {
        self.retries.get_or_create(&UpstreamOnly { upstream }).inc();
    }

    /// One request refused by the gateway itself.
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// Registers into `now` the breaker and health gauges of every instance of `pools`, when
    /// scraped.
    pub fn sample(now: &mut Registry, pools: &[&Pool]) {
        let breaker = Family::<InstanceLabels, Gauge>::default();
        let healthy = Family::<InstanceLabels, Gauge>::default();
        for i in pools
            .iter()
            .flat_map(|p| p.instances().iter().cloned().collect::<Vec<_>>())
        {
            let labels = InstanceLabels {
                instance: i.label.clone(),
            };
            breaker
                .get_or_create(&labels)
                .set(i.breaker_state().gauge());
            healthy
                .get_or_create(&labels)
                .set(i64::from(i.health.is_healthy()));
        }
        now.register(
            "breaker_state",
            "Circuit breaker per instance: 0 closed, 1 open, 2 half-open",
            breaker,
        );
        now.register(
            "instance_healthy",
            "Health of each instance (active probes and passive checks): 1 healthy",
            healthy,
        );
    }
}
