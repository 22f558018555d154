//! A circuit breaker per upstream instance, after linkerd2-proxy's consecutive-failures
//! breaker: *closed* (requests flow) → `failures_to_open` consecutive transport failures →
//! *open* (the instance gets no request) for a backoff → *half-open*: exactly one request
//! goes through as a probe → success closes it, failure opens it again with the backoff
//! doubled (up to `max_backoff`).
//!
//! Times are `tokio::time::Instant`, so tests drive it with paused time. A probe whose
//! request is abandoned (the client went away) does not wedge the breaker: after
//! `max_backoff` another probe is allowed.

use std::time::Duration;

use tokio::time::Instant;

/// When a breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open a closed breaker.
    pub failures_to_open: u32,
    /// First time open.
    pub base_backoff: Duration,
    /// Longest time open, however often probes fail.
    pub max_backoff: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failures_to_open: 3,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// The three states, as shown on the dashboard and in `gateway_breaker_state` (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// No request is sent until the backoff ends.
    Open,
    /// One probe request decides.
    HalfOpen,
}

impl BreakerState {
    /// The gauge value.
    pub fn gauge(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }

    /// Portuguese label for the dashboard.
    pub fn label(self) -> &'static str {
        match self {
            Self::Closed => "fechado",
            Self::Open => "aberto",
            Self::HalfOpen => "meio-aberto",
        }
    }
}

/// What [`Breaker::try_acquire`] grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// A normal request.
    Normal,
    /// The one probe of a half-open breaker.
    Probe,
}

/// One instance's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: BreakerState,
    failures: u32,
    backoff: Duration,
    open_until: Instant,
    probe_started: Option<Instant>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            state: BreakerState::Closed,
            failures: 0,
            backoff: policy.base_backoff,
            open_until: Instant::now(),
            probe_started: None,
        }
    }

    /// The state now.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a request may be sent now, and as what. An open breaker whose backoff is over
    /// turns half-open and grants its one probe.
    pub fn try_acquire(&mut self, now: Instant) -> Option<Permit> {
        match self.state {
            BreakerState::Closed => Some(Permit::Normal),
            BreakerState::Open if now < self.open_until => None,
            BreakerState::Open => {
                self.state = BreakerState::HalfOpen;
                self.probe_started = Some(now);
                Some(Permit::Probe)
            }
            BreakerState::HalfOpen => match self.probe_started {
                // The probe's request was abandoned long ago: let another one try.
                Some(t) if now.saturating_duration_since(t) < self.policy.max_backoff => None,
                _ => {
                    self.probe_started = Some(now);
                    Some(Permit::Probe)
                }
            },
        }
    }

    /// The instance answered.
    pub fn on_success(&mut self) {
        self.state = BreakerState::Closed;
        self.failures = 0;
        self.backoff = self.policy.base_backoff;
        self.probe_started = None;
    }

    /// The instance failed at the transport (refused, reset, timed out).
    pub fn on_failure(&mut self, now: Instant) {
        match self.state {
            BreakerState::Closed => {
                self.failures += 1;
                if self.failures >= self.policy.failures_to_open {
                    self.open(now, self.policy.base_backoff);
                }
            }
            BreakerState::HalfOpen => {
                let next = (self.backoff * 2).min(self.policy.max_backoff);
                self.open(now, next);
            }
            // A request granted before the breaker opened: it changes nothing.
            BreakerState::Open => {}
        }
    }

    fn open(&mut self, now: Instant, backoff: Duration) {
        self.state = BreakerState::Open;
        self.backoff = backoff;
        self.open_until = now + backoff;
        self.probe_started = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            failures_to_open: 3,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_and_probes_once_after_the_backoff() {
        let mut b = Breaker::new(policy());
        b.on_failure(Instant::now());
        b.on_failure(Instant::now());
        b.on_success();
        b.on_failure(Instant::now());
        b.on_failure(Instant::now());
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "a success resets the count"
        );
        b.on_failure(Instant::now());
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.try_acquire(Instant::now()), None);

        tokio::time::advance(Duration::from_millis(99)).await;
        assert_eq!(b.try_acquire(Instant::now()), None, "still backing off");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(b.try_acquire(Instant::now()), Some(Permit::Probe));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(
            b.try_acquire(Instant::now()),
            None,
            "only one probe at a time"
        );
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.try_acquire(Instant::now()), Some(Permit::Normal));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_doubles_the_backoff_up_to_the_cap() {
        let mut b = Breaker::new(policy());
        for _ in 0..3 {
            b.on_failure(Instant::now());
        }
        let mut waits = Vec::new();
        for _ in 0..4 {
            let opened = Instant::now();
            while b.try_acquire(Instant::now()).is_none() {
                tokio::time::advance(Duration::from_millis(10)).await;
            }
            waits.push(opened.elapsed().as_millis());
            b.on_failure(Instant::now());
        }
        assert_eq!(waits, [100, 200, 400, 400]);
        // After the cap a success still closes it and the next opening starts from the base.
        while b.try_acquire(Instant::now()).is_none() {
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        b.on_success();
        for _ in 0..3 {
            b.on_failure(Instant::now());
        }
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(b.try_acquire(Instant::now()), Some(Permit::Probe));
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_does_not_wedge_the_breaker() {
        let mut b = Breaker::new(policy());
        for _ in 0..3 {
            b.on_failure(Instant::now());
        }
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(b.try_acquire(Instant::now()), Some(Permit::Probe));
        tokio::time::advance(Duration::from_millis(399)).await;
        assert_eq!(b.try_acquire(Instant::now()), None);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(b.try_acquire(Instant::now()), Some(Permit::Probe));
    }
}
