//! Counters for `/metrics`, rendered as Prometheus text.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The service's counters. Cheap to update from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    // A std mutex: held only to bump one map entry, never across an `.await`.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// Orders recorded `pendente`.
    pub criados: AtomicU64,
    /// Orders that reached `confirmado`.
    pub confirmados: AtomicU64,
    /// Orders that reached `rejeitado`.
    pub rejeitados: AtomicU64,
    /// Saga steps finished by the background driver (start-up recovery included).
    pub recuperados: AtomicU64,
    /// Events acknowledged by their consumer (Redis, or the cart directly).
    pub publicados: AtomicU64,
    /// Failed publish attempts.
    pub falhas_publicacao: AtomicU64,
    /// Events dropped unpublished: over the outbox's bound, or refused by their consumer.
    pub descartados: AtomicU64,
}

/// Adds one to a counter.
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to a counter.
pub fn add(c: &AtomicU64, n: usize) {
    c.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
}

impl Metrics {
    /// Counts one answered request.
    pub fn record_request(&self, method: &str, route: &str, status: u16) {
        let mut m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
    }

    /// Prometheus text, with the gauges given by the caller.
    pub fn render(&self, outbox_pendentes: usize, pedidos: usize, abertos: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# TYPE orders_http_requests_total counter");
        {
            let m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "orders_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        for (name, c) in [
            ("orders_created_total", &self.criados),
            ("orders_confirmed_total", &self.confirmados),
            ("orders_rejected_total", &self.rejeitados),
            ("orders_saga_steps_recovered_total", &self.recuperados),
            ("orders_outbox_published_total", &self.publicados),
            (
                "orders_outbox_publish_failures_total",
                &self.falhas_publicacao,
            ),
            ("orders_outbox_dropped_total", &self.descartados),
        ] {
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", c.load(Ordering::Relaxed));
        }
        for (name, v) in [
            ("orders_outbox_pending", outbox_pendentes),
            ("orders_total", pedidos),
            ("orders_open_saga_steps", abertos),
        ] {
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {v}");
        }
        out
    }
}
