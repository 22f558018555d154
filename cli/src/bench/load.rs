//! The load generator: `clients` tasks each send one request at a time until the run's time
//! or its request budget is spent. Latencies are kept per request, so percentiles are exact.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

/// One operation: given the client's number and a sequence number, do one request.
pub type Op = Arc<dyn Fn(usize, u64) -> BoxFuture<'static, bool> + Send + Sync>;

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Successful operations.
    pub ok: u64,
    /// Failed operations.
    pub errors: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency of each successful operation, µs, sorted.
    pub latencies_us: Vec<u32>,
}

impl Stats {
    /// Successful operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.ok as f64 / s
        } else {
            0.0
        }
    }

    /// The `p`th percentile latency in ms (nearest rank).
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let n = self.latencies_us.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        let i = rank.clamp(1, n) - 1;
        f64::from(self.latencies_us[i]) / 1000.0
    }
}

/// Runs `op` from `clients` concurrent tasks for at most `duration` and at most
/// `max_requests` requests in all.
pub async fn run(clients: usize, duration: Duration, max_requests: u64, op: Op) -> Stats {
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients.max(1) {
        let op = op.clone();
        let issued = issued.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            loop {
                let seq = issued.fetch_add(1, Ordering::Relaxed);
                if seq >= max_requests || Instant::now() >= end {
                    break;
                }
                let t = Instant::now();
                // A request still running at the end of the run is abandoned, not waited for.
                match tokio::time::timeout_at(end + Duration::from_secs(5), op(c, seq)).await {
                    Ok(true) => lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut stats = Stats::default();
    for t in tasks {
        if let Ok((lat, errors)) = t.await {
            stats.ok += lat.len() as u64;
            stats.errors += errors;
            stats.latencies_us.extend(lat);
        }
    }
    stats.elapsed = start.elapsed();
    stats.latencies_us.sort_unstable();
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn a_run_stops_at_its_request_budget() {
        let op: Op = Arc::new(|_, _| async { true }.boxed());
        let s = run(4, Duration::from_secs(30), 1000, op).await;
        assert_eq!(s.ok, 1000);
        assert!(s.elapsed < Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_stops_at_its_time_and_counts_failures() {
        let op: Op = Arc::new(|_, seq| {
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                seq % 2 == 0
            }
            .boxed()
        });
        let s = run(2, Duration::from_millis(100), u64::MAX, op).await;
        assert!(s.ok > 0 && s.errors > 0);
        assert!(s.ok + s.errors <= 22, "{s:?}");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let s = Stats {
            latencies_us: (1..=100).map(|v| v * 1000).collect(),
            ..Stats::default()
        };
        assert_eq!(s.percentile_ms(50.0), 50.0);
        assert_eq!(s.percentile_ms(99.0), 99.0);
    }
}
