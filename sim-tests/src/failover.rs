//! The failover profile: the leader killed again and again, each time shortly after the node
//! killed before it has come back, and the time each failover takes, in simulated time.
//!
//! It reproduces what `confeitaria chaos kill-leader` does to a real cluster (issue 16: a
//! leader killed soon after the previous restart took 0.8–3.9 s to replace). The killer runs
//! in the driver, between steps, as a small state machine:
//!
//! 1. **kill** the leader once every node runs, all follow it, and the wait drawn for this
//!    round is over;
//! 2. **down**: restart the killed node as soon as another node leads (as `chaos` restarts it
//!    after the first acknowledged write);
//! 3. **rejoin**: wait until the restarted node follows the leader and has applied what the
//!    leader had applied when it came back (*caught up*); then draw the wait before the next
//!    kill by the round's [`Variant`].
//!
//! Each kill is measured after the run from the history: *to leader* (kill → another node
//! seen leading) and *to write* (kill → the first write acknowledged once it leads). The
//! time is simulated, so the figures do not depend on the machine.

use std::fmt;

use rand::rngs::StdRng;
use rand::Rng;

use crate::checkers::LeaderSeen;
use crate::history::{fmt_micros, Micros, NodeId, Record};

/// When, relative to the previous restart, the next kill comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    /// 0–300 ms after the restarted node caught up.
    AfterCatchUp,
    /// 0–`lease` ms after the restart, caught up or not: inside the leader lease the
    /// restarted node started with (openraft stamps a node's vote with its start time).
    InsideLease,
}

impl Variant {
    /// Every variant, in report order.
    pub const ALL: [Variant; 2] = [Variant::AfterCatchUp, Variant::InsideLease];
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Variant::AfterCatchUp => "after-catch-up",
            Variant::InsideLease => "inside-lease",
        })
    }
}

/// The profile's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverConfig {
    /// Variants drawn from, one per kill.
    pub variants: Vec<Variant>,
    /// The longest wait after a catch-up before the next kill, in ms.
    pub after_catch_up_ms: u64,
    /// The leader lease (openraft 0.9: the maximum election timeout), in ms.
    pub lease_ms: u64,
}

/// One kill and what followed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failover {
    /// When the leader was killed.
    pub crash_at: Micros,
    /// The node killed.
    pub killed: NodeId,
    /// How the kill was timed.
    pub variant: Variant,
    /// Time since the previous kill's node was restarted, if there was one.
    pub since_restart: Option<Micros>,
    /// When another node was first seen leading.
    pub leader_at: Option<Micros>,
    /// When a leader of a later term than the killed one's was first seen having committed
    /// (applied) an entry of its own term.
    pub commit_at: Option<Micros>,
    /// When the first write acknowledged after that returned.
    pub write_at: Option<Micros>,
}

impl Failover {
    /// Kill to a new leader, in ms.
    pub fn to_leader_ms(&self) -> Option<f64> {
        self.leader_at.map(|t| (t - self.crash_at) as f64 / 1000.0)
    }

    /// Kill to the new leader's first commit, in ms.
    pub fn to_commit_ms(&self) -> Option<f64> {
        self.commit_at.map(|t| (t - self.crash_at) as f64 / 1000.0)
    }

    /// Kill to the first acknowledged write, in ms.
    pub fn to_write_ms(&self) -> Option<f64> {
        self.write_at.map(|t| (t - self.crash_at) as f64 / 1000.0)
    }
}

impl fmt::Display for Failover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0} ms"));
        write!(
            f,
            "failover: n{} killed at {} ({}, {} after its predecessor's restart): new leader after {}, first commit after {}, first write after {}",
            self.killed,
            fmt_micros(self.crash_at),
            self.variant,
            self.since_restart.map_or("-".to_owned(), |t| format!("{} ms", t / 1000)),
            opt(self.to_leader_ms()),
            opt(self.to_commit_ms()),
            opt(self.to_write_ms()),
        )
    }
}

/// What the killer is waiting for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// The workload to start; the first kill comes `after` µs into it.
    Start {
        /// Delay of the first kill.
        after: Micros,
    },
    /// `at`, then a leader that every node follows: kill it.
    Kill {
        /// Earliest time of the kill.
        at: Micros,
        /// How the kill was timed.
        variant: Variant,
    },
    /// Another node to lead, then restart `node`.
    Down {
        /// The node killed.
        node: NodeId,
    },
    /// The restarted node to catch up.
    Rejoin {
        /// The node restarted.
        node: NodeId,
        /// What the leader had applied when the node was first seen running, once known.
        target: Option<u64>,
    },
}

/// The killer's state between steps.
#[derive(Debug)]
pub struct Killer {
    /// Settings.
    pub cfg: FailoverConfig,
    /// Its own random stream (a sub-seed of the run's).
    pub rng: StdRng,
    /// The current phase.
    pub phase: Phase,
    /// The last restart, for [`Failover::since_restart`].
    pub last_restart: Option<Micros>,
    /// Every kill so far.
    pub failovers: Vec<Failover>,
}

impl Killer {
    /// A killer whose first kill comes `first_after` µs into the workload.
    pub fn new(cfg: FailoverConfig, rng: StdRng, first_after: Micros) -> Self {
        Self {
            cfg,
            rng,
            phase: Phase::Start { after: first_after },
            last_restart: None,
            failovers: Vec::new(),
        }
    }

    /// Draws how the kill after the next restart is timed.
    pub fn draw_variant(&mut self) -> Variant {
        let n = self.cfg.variants.len().max(1);
        self.cfg
            .variants
            .get(self.rng.gen_range(0..n))
            .copied()
            .unwrap_or(Variant::AfterCatchUp)
    }

    /// The wait, in µs, before a kill timed by `v`.
    pub fn draw_wait(&mut self, v: Variant) -> Micros {
        let ms = match v {
            Variant::AfterCatchUp => self.rng.gen_range(0..=self.cfg.after_catch_up_ms),
            Variant::InsideLease => self.rng.gen_range(0..self.cfg.lease_ms.max(1)),
        };
        ms * 1000
    }
}

/// Fills in each failover's new leader (the first node other than the one killed seen
/// leading after the kill), the first commit after it (the first leader of a later term than
/// the killed leader's seen with an entry of its own term applied) and the first acknowledged
/// write (the first write acknowledged at or after the new leader).
pub fn measure(
    failovers: &mut [Failover],
    leaders: &[LeaderSeen],
    commits: &[LeaderSeen],
    records: &[Record],
) {
    let mut writes: Vec<Micros> = records
        .iter()
        .filter(|r| r.op.is_write() && r.is_ok())
        .map(|r| r.ret)
        .collect();
    writes.sort_unstable();
    for f in failovers.iter_mut() {
        f.leader_at = leaders
            .iter()
            .filter(|l| l.at > f.crash_at && l.node != f.killed)
            .map(|l| l.at)
            .min();
        // The killed node may lead again once restarted; what counts is a commit in a term
        // after the one it led when it died.
        let killed_term = leaders
            .iter()
            .filter(|l| l.node == f.killed && l.at <= f.crash_at)
            .map(|l| l.term)
            .max()
            .unwrap_or(0);
        f.commit_at = commits
            .iter()
            .filter(|c| c.at > f.crash_at && c.term > killed_term)
            .map(|c| c.at)
            .min();
        f.write_at = f
            .leader_at
            .and_then(|t| writes.iter().copied().find(|w| *w >= t));
    }
}

/// Nearest-rank percentiles (p50, p90, p99, worst) of `v`; zeros when empty.
pub fn percentiles(v: &[f64]) -> [f64; 4] {
    if v.is_empty() {
        return [0.0; 4];
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let rank = |q: f64| s[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    [rank(0.5), rank(0.9), rank(0.99), s[n - 1]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Observed, Op, Outcome};

    fn write(ret: Micros, ok: bool) -> Record {
        Record {
            index: 0,
            process: 0,
            op: Op::Adjust {
                product: 1,
                delta: 1,
            },
            call: ret.saturating_sub(1000),
            ret,
            outcome: if ok {
                Outcome::Ok(Observed::Available(1))
            } else {
                Outcome::Unknown("timeout".into())
            },
        }
    }

    #[test]
    fn a_failover_ends_at_the_first_write_acknowledged_under_the_new_leader() {
        let mut f = vec![Failover {
            crash_at: 1_000_000,
            killed: 1,
            variant: Variant::AfterCatchUp,
            since_restart: None,
            leader_at: None,
            commit_at: None,
            write_at: None,
        }];
        let leaders = [
            LeaderSeen {
                at: 400_000,
                node: 1,
                term: 2,
            },
            LeaderSeen {
                at: 500_000,
                node: 2,
                term: 3,
            },
            LeaderSeen {
                at: 1_200_000,
                node: 1,
                term: 4,
            },
            LeaderSeen {
                at: 1_300_000,
                node: 3,
                term: 5,
            },
        ];
        let records = [
            write(1_010_000, true),
            write(1_310_000, false),
            write(1_350_000, true),
        ];
        // A commit of the killed node's own term seen late does not count; the killed node
        // back and leading a later term does.
        let commits = [
            LeaderSeen {
                at: 1_100_000,
                node: 1,
                term: 2,
            },
            LeaderSeen {
                at: 1_250_000,
                node: 1,
                term: 4,
            },
            LeaderSeen {
                at: 1_305_000,
                node: 3,
                term: 5,
            },
        ];
        measure(&mut f, &leaders, &commits, &records);
        assert_eq!(f[0].to_leader_ms(), Some(300.0));
        assert_eq!(f[0].to_commit_ms(), Some(250.0));
        assert_eq!(f[0].to_write_ms(), Some(350.0));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).rev().collect();
        assert_eq!(percentiles(&v), [50.0, 90.0, 99.0, 100.0]);
        assert_eq!(percentiles(&[7.0]), [7.0; 4]);
        assert_eq!(percentiles(&[]), [0.0; 4]);
    }
}
