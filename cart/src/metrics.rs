//! Counters for `/metrics`, written out in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
struct Http {
    /// (method, route, status) → count.
    requests: BTreeMap<(String, String, u16), u64>,
    /// route → (count, total seconds).
    durations: BTreeMap<String, (u64, f64)>,
}

/// The service's counters. Cheap to update from any task.
#[derive(Default)]
pub struct Metrics {
    // std mutex: updated with a few map operations, never across an `.await`.
    http: Mutex<Http>,
    units_added: AtomicU64,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
    /// Order events handled, by outcome (see `events::Resultado::as_str`).
    events: Mutex<BTreeMap<&'static str, u64>>,
    event_failures: AtomicU64,
}

impl Metrics {
    /// Records one finished request. `route` is the matched route pattern, never the raw path
    /// (raw paths hold session ids, which are capabilities and unbounded in number).
    pub fn record_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let mut http = self.http.lock().unwrap_or_else(|p| p.into_inner());
        *http
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let d = http.durations.entry(route.to_owned()).or_default();
        d.0 += 1;
        d.1 += took.as_secs_f64();
    }

    /// Records units added to carts.
    pub fn record_added(&self, units: u64) {
        self.units_added.fetch_add(units, Ordering::Relaxed);
    }

    /// Records an add refused for `reason` (an error code).
    pub fn record_refusal(&self, reason: &'static str) {
        let mut r = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        *r.entry(reason).or_default() += 1;
    }

    /// Records one order event taken off the stream, by outcome.
    pub fn record_event(&self, outcome: &'static str) {
        let mut e = self.events.lock().unwrap_or_else(|p| p.into_inner());
        *e.entry(outcome).or_default() += 1;
    }

    /// Records a failed attempt to read or handle order events (Redis or the store down).
    pub fn record_event_failure(&self) {
        self.event_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        {
            let http = self.http.lock().unwrap_or_else(|p| p.into_inner());
            out.push_str("# HELP cart_http_requests_total HTTP requests answered.\n");
            out.push_str("# TYPE cart_http_requests_total counter\n");
            for ((method, route, status), n) in &http.requests {
                let _ = writeln!(
                    out,
                    "cart_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
            out.push_str("# HELP cart_http_request_duration_seconds Time spent answering.\n");
            out.push_str("# TYPE cart_http_request_duration_seconds summary\n");
            for (route, (count, sum)) in &http.durations {
                let _ = writeln!(
                    out,
                    "cart_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
                );
                let _ = writeln!(
                    out,
                    "cart_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP cart_units_added_total Units added to carts.\n");
        out.push_str("# TYPE cart_units_added_total counter\n");
        let _ = writeln!(
            out,
            "cart_units_added_total {}",
            self.units_added.load(Ordering::Relaxed)
        );
        out.push_str("# HELP cart_adds_refused_total Adds refused, by reason.\n");
        out.push_str("# TYPE cart_adds_refused_total counter\n");
        let refusals = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        for (reason, n) in refusals.iter() {
            let _ = writeln!(out, "cart_adds_refused_total{{reason=\"{reason}\"}} {n}");
        }
        drop(refusals);
        out.push_str("# HELP cart_order_events_total Order events handled, by outcome.\n");
        out.push_str("# TYPE cart_order_events_total counter\n");
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        for (outcome, n) in events.iter() {
            let _ = writeln!(out, "cart_order_events_total{{outcome=\"{outcome}\"}} {n}");
        }
        drop(events);
        out.push_str(
            "# HELP cart_order_event_failures_total Failed reads or handlings of order events.\n",
        );
        out.push_str("# TYPE cart_order_event_failures_total counter\n");
        let _ = writeln!(
            out,
            "cart_order_event_failures_total {}",
            self.event_failures.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_recorded_counters() {
        let m = Metrics::default();
        m.record_request("GET", "/health", 200, Duration::from_millis(2));
        m.record_request("GET", "/health", 200, Duration::from_millis(2));
        m.record_added(3);
        m.record_refusal("cart_full");
        m.record_event("emptied");
        m.record_event("emptied");
        m.record_event_failure();
        let text = m.render();
        assert!(text.contains(
            "cart_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2"
        ));
        assert!(text.contains("cart_units_added_total 3"));
        assert!(text.contains("cart_adds_refused_total{reason=\"cart_full\"} 1"));
        assert!(text.contains("cart_order_events_total{outcome=\"emptied\"} 2"));
        assert!(text.contains("cart_order_event_failures_total 1"));
    }
}
