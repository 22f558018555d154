//! Health of one upstream instance, after pingora's health check: it flips to unhealthy only
//! after `failures_to_down` consecutive failures and back only after `successes_to_up`
//! consecutive successes, whoever observed them (the active prober or a real request).
//! The flag itself is an atomic, read on every request without a lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Thresholds and timing of health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Consecutive failures that mark a healthy instance unhealthy (N).
    pub failures_to_down: u32,
    /// Consecutive successes that mark an unhealthy instance healthy again (M).
    pub successes_to_up: u32,
    /// Time between two active probes of an instance.
    pub interval: Duration,
    /// Deadline of one active probe.
    pub probe_timeout: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            failures_to_down: 2,
            successes_to_up: 2,
            interval: Duration::from_millis(500),
            probe_timeout: Duration::from_millis(800),
        }
    }
}

#[derive(Debug, Default)]
struct Streak {
    failures: u32,
    successes: u32,
}

/// One instance's health: the flag and the current streak.
#[derive(Debug)]
pub struct Health {
    healthy: AtomicBool,
    // std mutex: two counter updates, never held across an `.await`.
    streak: Mutex<Streak>,
}

impl Default for Health {
    /// Healthy until shown otherwise, so the first requests are not refused while the
    /// first probe is on its way.
    fn default() -> Self {
        Self {
            healthy: AtomicBool::new(true),
            streak: Mutex::new(Streak::default()),
        }
    }
}

impl Health {
    /// Whether the instance counts as healthy now.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Records one success or failure; returns the new flag when it changed.
    pub fn observe(&self, ok: bool, policy: &HealthPolicy) -> Option<bool> {
        let mut s = self.streak.lock().unwrap_or_else(|p| p.into_inner());
        if ok {
            s.failures = 0;
            s.successes = s.successes.saturating_add(1);
        } else {
            s.successes = 0;
            s.failures = s.failures.saturating_add(1);
        }
        let was = self.is_healthy();
        let now = if was {
            s.failures < policy.failures_to_down
        } else {
            s.successes >= policy.successes_to_up
        };
        (now != was).then(|| {
            self.healthy.store(now, Ordering::Relaxed);
            now
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_only_after_n_failures_and_back_after_m_successes() {
        let policy = HealthPolicy {
            failures_to_down: 2,
            successes_to_up: 3,
            ..HealthPolicy::default()
        };
        let h = Health::default();
        assert!(h.is_healthy());
        assert_eq!(h.observe(false, &policy), None);
        assert_eq!(
            h.observe(true, &policy),
            None,
            "a success breaks the streak"
        );
        assert_eq!(h.observe(false, &policy), None);
        assert_eq!(h.observe(false, &policy), Some(false));
        assert!(!h.is_healthy());
        assert_eq!(h.observe(true, &policy), None);
        assert_eq!(h.observe(true, &policy), None);
        assert_eq!(h.observe(false, &policy), None, "still down; streak broken");
        for _ in 0..2 {
            assert_eq!(h.observe(true, &policy), None);
        }
        assert_eq!(h.observe(true, &policy), Some(true));
        assert!(h.is_healthy());
    }
}
