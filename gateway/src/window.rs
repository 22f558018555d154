//! A sliding window of the last seconds of one instance's requests — count, errors and a
//! log-scale latency histogram per second — from which the dashboard shows the request rate,
//! the error rate and p50/p99 latency. Prometheus' histograms are cumulative since start;
//! the dashboard wants "now", hence this small window.

use std::time::Duration;

use tokio::time::Instant;

/// Seconds kept.
const SLOTS: usize = 10;
/// Histogram buckets: bucket `i` holds latencies below `2^((i+1)/2)` µs (√2 steps, up to
/// about 45 s).
const BUCKETS: usize = 52;

#[derive(Debug, Clone, Copy)]
struct Slot {
    second: u64,
    count: u64,
    errors: u64,
    hist: [u32; BUCKETS],
}

impl Slot {
    const EMPTY: Slot = Slot {
        second: u64::MAX,
        count: 0,
        errors: 0,
        hist: [0; BUCKETS],
    };
}

/// What the window says about the last seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Requests per second.
    pub rate: f64,
    /// Share of failed requests, 0..=1.
    pub error_rate: f64,
    /// Median latency, ms (upper bound of its bucket).
    pub p50_ms: f64,
    /// 99th percentile latency, ms (upper bound of its bucket).
    pub p99_ms: f64,
}

/// The window.
#[derive(Debug)]
pub struct Window {
    origin: Instant,
    slots: [Slot; SLOTS],
}

impl Default for Window {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            slots: [Slot::EMPTY; SLOTS],
        }
    }
}

fn bucket(took: Duration) -> usize {
    let us = took.as_micros().max(1) as f64;
    ((us.log2() * 2.0).floor() as usize).min(BUCKETS - 1)
}

fn bucket_upper_ms(i: usize) -> f64 {
    2f64.powf((i as f64 + 1.0) / 2.0) / 1000.0
}

impl Window {
    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_secs()
    }

    /// Records one request that took `took`.
    pub fn record(&mut self, now: Instant, took: Duration, ok: bool) {
        let s = self.second(now);
        let slot = &mut self.slots[(s % SLOTS as u64) as usize];
        if slot.second != s {
            *slot = Slot::EMPTY;
            slot.second = s;
        }
        slot.count += 1;
        if !ok {
            slot.errors += 1;
        }
        slot.hist[bucket(took)] += 1;
    }

    /// The last `seconds` complete seconds (1..=9) before `now`.
    pub fn summary(&self, now: Instant, seconds: u64) -> Summary {
        let seconds = seconds.clamp(1, SLOTS as u64 - 1);
        let current = self.second(now);
        let first = current.saturating_sub(seconds);
        let mut count = 0u64;
        let mut errors = 0u64;
        let mut hist = [0u64; BUCKETS];
        for slot in &self.slots {
            if slot.second >= first && slot.second < current {
                count += slot.count;
                errors += slot.errors;
                for (h, v) in hist.iter_mut().zip(slot.hist.iter()) {
                    *h += u64::from(*v);
                }
            }
        }
        if count == 0 {
            return Summary::default();
        }
        let pct = |p: f64| {
            let rank = ((p * count as f64).ceil() as u64).max(1);
            let mut seen = 0;
            for (i, v) in hist.iter().enumerate() {
                seen += v;
                if seen >= rank {
                    return bucket_upper_ms(i);
                }
            }
            bucket_upper_ms(BUCKETS - 1)
        };
        Summary {
            rate: count as f64 / seconds as f64,
            error_rate: errors as f64 / count as f64,
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn summarises_the_last_complete_seconds() {
        let mut w = Window::default();
        for i in 0..100u64 {
            let took = Duration::from_millis(if i < 98 { 1 } else { 100 });
            w.record(Instant::now(), took, i % 10 != 0);
        }
        assert_eq!(
            w.summary(Instant::now(), 1),
            Summary::default(),
            "nothing complete yet"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        let s = w.summary(Instant::now(), 1);
        assert_eq!(s.rate, 100.0);
        assert!((s.error_rate - 0.1).abs() < 1e-9);
        assert!(s.p50_ms >= 1.0 && s.p50_ms < 1.5, "{s:?}");
        assert!(s.p99_ms >= 100.0 && s.p99_ms < 142.0, "{s:?}");
        tokio::time::advance(Duration::from_secs(SLOTS as u64)).await;
        assert_eq!(
            w.summary(Instant::now(), 5),
            Summary::default(),
            "forgotten"
        );
    }
}
