//! The cart's metrics: its registry ([`confeitaria_service::metrics::ServiceMetrics`], prefix
//! `cart`, with the request counter and latency histogram every service has) and the cart's
//! own counters:
//!
//! - `cart_units_added_total` — units added to carts;
//! - `cart_adds_refused_total{reason}` — adds refused, by error code;
//! - `cart_order_events_total{outcome}` — order events handled, by outcome;
//! - `cart_order_event_failures_total` — failed reads or handlings of order events.

use confeitaria_service::metrics::ServiceMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

/// The service's metrics. Cheap to update from any task.
#[derive(Debug)]
pub struct Metrics {
    /// The registry, with the request metrics.
    pub service: ServiceMetrics,
    units_added: Counter,
    refusals: Family<Reason, Counter>,
    /// Order events handled, by outcome (see `events::EventOutcome::as_str`).
    events: Family<Outcome, Counter>,
    event_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut service = ServiceMetrics::new("cart");
        let units_added = Counter::default();
        let refusals = Family::default();
        let events = Family::default();
        let event_failures = Counter::default();
        service.register("units_added", "Units added to carts", units_added.clone());
        service.register("adds_refused", "Adds refused, by reason", refusals.clone());
        service.register(
            "order_events",
            "Order events handled, by outcome",
            events.clone(),
        );
        service.register(
            "order_event_failures",
            "Failed reads or handlings of order events",
            event_failures.clone(),
        );
        Self {
            service,
            units_added,
            refusals,
            events,
            event_failures,
        }
    }
}

impl Metrics {
    /// Records units added to carts.
    pub fn record_added(&self, units: u64) {
        self.units_added.inc_by(units);
    }

    /// Records an add refused for `reason` (an error code).
    pub fn record_refusal(&self, reason: &'static str) {
        self.refusals.get_or_create(&Reason { reason }).inc();
    }

    /// Records one order event taken off the stream, by outcome.
    pub fn record_event(&self, outcome: &'static str) {
        self.events.get_or_create(&Outcome { outcome }).inc();
    }

    /// Records a failed attempt to read or handle order events (Redis or the store down).
    pub fn record_event_failure(&self) {
        self.event_failures.inc();
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        self.service.render(|_| {})
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::{Method, StatusCode};

    use super::*;

    #[test]
    fn renders_recorded_counters() {
        let m = Metrics::default();
        for _ in 0..2 {
            m.service.record_request(
                &Method::GET,
                "/health",
                StatusCode::OK,
                Duration::from_millis(2),
            );
        }
        m.record_added(3);
        m.record_refusal("cart_full");
        m.record_event("emptied");
        m.record_event("emptied");
        m.record_event_failure();
        let text = m.render();
        for line in [
            "cart_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2",
            "cart_http_request_duration_seconds_count{route=\"/health\",status_class=\"2xx\"} 2",
            "cart_units_added_total 3",
            "cart_adds_refused_total{reason=\"cart_full\"} 1",
            "cart_order_events_total{outcome=\"emptied\"} 2",
            "cart_order_event_failures_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
