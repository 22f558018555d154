//! The orders' metrics: the registry ([`confeitaria_service::metrics::ServiceMetrics`], prefix
//! `orders`, with the request counter and latency histogram every service has), the orders'
//! own counters, and the gauges sampled when scraped ([`Metrics::sample`]):
//!
//! - `orders_created_total`, `orders_confirmed_total`, `orders_rejected_total`;
//! - `orders_saga_steps_recovered_total` — saga steps finished by the background driver;
//! - `orders_outbox_published_total`, `orders_outbox_publish_failures_total`,
//!   `orders_outbox_dropped_total`;
//! - gauges `orders_outbox_pending`, `orders_total`, `orders_open_saga_steps`.

use confeitaria_service::metrics::ServiceMetrics;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// The service's metrics. Cheap to update from any task.
#[derive(Debug)]
pub struct Metrics {
    /// The registry, with the request metrics.
    pub service: ServiceMetrics,
    /// Orders recorded `pendente`.
    pub created: Counter,
    /// Orders that reached `confirmado`.
    pub confirmed: Counter,
    /// Orders that reached `rejeitado`.
    pub rejected: Counter,
    /// Saga steps finished by the background driver (start-up recovery included).
    pub recovered: Counter,
    /// Events acknowledged by their consumer (Redis, or the cart directly).
    pub published: Counter,
    /// Failed publish attempts.
    pub publish_failures: Counter,
    /// Events dropped unpublished: over the outbox's bound, or refused by their consumer.
    pub dropped: Counter,
}

/// Adds one to a counter.
pub fn inc(c: &Counter) {
    c.inc();
}

/// Adds `n` to a counter.
pub fn add(c: &Counter, n: usize) {
    c.inc_by(u64::try_from(n).unwrap_or(u64::MAX));
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Self {
            service: ServiceMetrics::new("orders"),
            created: Counter::default(),
            confirmed: Counter::default(),
            rejected: Counter::default(),
            recovered: Counter::default(),
            published: Counter::default(),
            publish_failures: Counter::default(),
            dropped: Counter::default(),
        };
        let service = &mut m.service;
        for (name, help, c) in [
            ("created", "Orders recorded pendente", &m.created),
            ("confirmed", "Orders that reached confirmado", &m.confirmed),
            ("rejected", "Orders that reached rejeitado", &m.rejected),
            (
                "saga_steps_recovered",
                "Saga steps finished by the background driver",
                &m.recovered,
            ),
            (
                "outbox_published",
                "Events acknowledged by their consumer",
                &m.published,
            ),
            (
                "outbox_publish_failures",
                "Failed publish attempts",
                &m.publish_failures,
            ),
            (
                "outbox_dropped",
                "Events dropped unpublished (over the bound, or refused by the consumer)",
                &m.dropped,
            ),
        ] {
            service.register(name, help, c.clone());
        }
        m
    }
}

impl Metrics {
    /// Registers the gauges of the orders' state into `now`, when scraped.
    pub fn sample(now: &mut Registry, outbox_pending: usize, orders: usize, open_steps: usize) {
        let gauge = |n: usize| ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX));
        now.register(
            "outbox_pending",
            "Events waiting in the outbox",
            gauge(outbox_pending),
        );
        now.register("total", "Orders recorded", gauge(orders));
        now.register(
            "open_saga_steps",
            "Saga steps begun and not yet finished",
            gauge(open_steps),
        );
    }
}
