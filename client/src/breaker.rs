//! A circuit breaker per node: a node that fails to answer is marked down and skipped, then
//! probed back with one request once its cool-down has passed.
//!
//! States: *up* (closed) → a transport failure → *down* (open) for a cool-down that doubles
//! with each failed probe, up to a cap → after the cool-down one caller gets the node as a
//! *probe* (half-open) → success: up; failure: down again. Any HTTP answer, even a 503,
//! counts as success here: the node is alive, whatever it had to say.

use std::time::Duration;

use tokio::time::Instant;

/// How quickly a down node is tried again.
#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    /// First cool-down after a node fails.
    pub cooldown: Duration,
    /// Longest cool-down, however often the probes fail.
    pub max_cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            cooldown: Duration::from_millis(250),
            max_cooldown: Duration::from_secs(4),
        }
    }
}

/// Health of one node as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Answering; used normally.
    Up,
    /// Failed recently; skipped until its cool-down ends.
    Down,
    /// Cool-down over; one request is on its way to find out whether it is back.
    Probing,
}

/// The breaker and counters of one node.
#[derive(Debug, Clone)]
pub(crate) struct Breaker {
    state: NodeState,
    /// When a down node may be probed.
    retry_at: Instant,
    cooldown: Duration,
    /// Requests sent to this node.
    pub attempts: u64,
    /// Requests that got an HTTP answer.
    pub answers: u64,
    /// Requests that failed at the transport.
    pub failures: u64,
}

/// What [`Breaker::usable`] says about a node for the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Usable {
    /// Send to it.
    Yes,
    /// Send to it as the probe that decides whether it is back.
    Probe,
    /// Skip it unless nothing else is left.
    No,
}

impl Breaker {
    pub(crate) fn new(policy: &BreakerPolicy) -> Self {
        Self {
            state: NodeState::Up,
            retry_at: Instant::now(),
            cooldown: policy.cooldown,
            attempts: 0,
            answers: 0,
            failures: 0,
        }
    }

    pub(crate) fn state(&self) -> NodeState {
        self.state
    }

    /// Whether a request may go to this node now (without claiming it).
    pub(crate) fn usable(&self, now: Instant) -> Usable {
        match self.state {
            NodeState::Up => Usable::Yes,
            NodeState::Down if now >= self.retry_at => Usable::Probe,
            NodeState::Down | NodeState::Probing => Usable::No,
        }
    }

    /// Claims the probe of a down node whose cool-down has passed; only one caller gets it.
    pub(crate) fn claim_probe(&mut self, now: Instant) -> bool {
        if self.usable(now) == Usable::Probe {
            self.state = NodeState::Probing;
            true
        } else {
            false
        }
    }

    /// The node answered (any HTTP status).
    pub(crate) fn on_answer(&mut self, policy: &BreakerPolicy) {
        self.answers += 1;
        self.state = NodeState::Up;
        self.cooldown = policy.cooldown;
    }

    /// The node could not be reached or did not answer in time.
    pub(crate) fn on_failure(&mut self, policy: &BreakerPolicy, now: Instant) {
        self.failures += 1;
        if self.state == NodeState::Probing {
            self.cooldown = (self.cooldown * 2).min(policy.max_cooldown);
        }
        self.state = NodeState::Down;
        self.retry_at = now + self.cooldown;
    }

    /// A probe ended without an answer either way (e.g. the caller's deadline ran out first):
    /// let another caller probe.
    pub(crate) fn release_probe(&mut self) {
        if self.state == NodeState::Probing {
            self.state = NodeState::Down;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failed_node_is_skipped_then_probed_once_then_up_again() {
        let p = BreakerPolicy::default();
        let mut b = Breaker::new(&p);
        assert_eq!(b.usable(Instant::now()), Usable::Yes);
        b.on_failure(&p, Instant::now());
        assert_eq!(b.state(), NodeState::Down);
        assert_eq!(b.usable(Instant::now()), Usable::No);
        tokio::time::advance(p.cooldown).await;
        assert!(b.claim_probe(Instant::now()));
        assert!(!b.claim_probe(Instant::now()), "only one probe at a time");
        b.on_answer(&p);
        assert_eq!(b.usable(Instant::now()), Usable::Yes);
    }

    #[tokio::test(start_paused = true)]
    async fn each_failed_probe_doubles_the_cooldown_up_to_the_cap() {
        let p = BreakerPolicy {
            cooldown: Duration::from_millis(100),
            max_cooldown: Duration::from_millis(300),
        };
        let mut b = Breaker::new(&p);
        b.on_failure(&p, Instant::now());
        let mut wait = 100u64;
        for expected in [200u64, 300, 300] {
            tokio::time::advance(Duration::from_millis(wait - 1)).await;
            assert_eq!(b.usable(Instant::now()), Usable::No);
            tokio::time::advance(Duration::from_millis(1)).await;
            assert!(b.claim_probe(Instant::now()));
            b.on_failure(&p, Instant::now());
            assert_eq!(b.cooldown, Duration::from_millis(expected));
            wait = expected;
        }
    }
}
