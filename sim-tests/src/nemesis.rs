//! Nemeses: the faults a run injects, drawn from its seed as a schedule of windows, each
//! opened and closed by the driver between simulation steps.
//!
//! One fault at a time, with quiet gaps between: partitions (the leader isolated, one node
//! cut off together with some clients, one-way), messages held and released at once, a node
//! (or the leader) crashed and restarted on its data, slow links and lossy links. At the end
//! of the workload everything is healed: links repaired, held messages released, latency and
//! loss reset, crashed nodes restarted.

use std::fmt;

use rand::rngs::StdRng;
use rand::Rng;

use crate::history::{Micros, NodeId};

/// A fault, as scheduled (the leader is resolved only when the fault opens).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Partition whichever node leads from the other nodes (clients still reach it).
    IsolateLeader,
    /// Partition one node, with some client hosts, from the rest of the cluster and the
    /// other clients: the 1–2 split.
    Split {
        /// The minority node.
        node: NodeId,
        /// Client processes on the minority side.
        clients: Vec<usize>,
    },
    /// Messages from `from` to `to` are dropped; the other way works.
    OneWay {
        /// Sender cut off.
        from: NodeId,
        /// Receiver.
        to: NodeId,
    },
    /// Messages between two nodes are held, then delivered all at once.
    Hold {
        /// One node.
        a: NodeId,
        /// The other.
        b: NodeId,
    },
    /// Crash a node, restart it on its data when the window closes.
    Crash {
        /// The node.
        node: NodeId,
    },
    /// Crash whichever node leads, restart it when the window closes.
    CrashLeader,
    /// Every link between nodes gets up to this much latency.
    Slow {
        /// Maximum latency in milliseconds.
        max_ms: u64,
    },
    /// The link between two nodes breaks at random (turmoil's message loss: a TCP link
    /// breaks, then repairs).
    Lossy {
        /// One node.
        a: NodeId,
        /// The other.
        b: NodeId,
        /// Probability that a send breaks the link, in percent.
        percent: u32,
    },
    /// Crash the orders service (saga runs), restart it on its data when the window closes.
    CrashOrders,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::IsolateLeader => f.write_str("isolate-leader"),
            Fault::Split { node, clients } => write!(f, "split n{node}+clients{clients:?}"),
            Fault::OneWay { from, to } => write!(f, "one-way n{from}->n{to}"),
            Fault::Hold { a, b } => write!(f, "hold n{a}<->n{b}"),
            Fault::Crash { node } => write!(f, "crash n{node}"),
            Fault::CrashLeader => f.write_str("crash-leader"),
            Fault::Slow { max_ms } => write!(f, "slow {max_ms}ms"),
            Fault::Lossy { a, b, percent } => write!(f, "lossy n{a}<->n{b} {percent}%"),
            Fault::CrashOrders => f.write_str("crash-orders"),
        }
    }
}

/// A fault and its window, in simulated time relative to the start of the workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// When it opens.
    pub start: Micros,
    /// When it closes.
    pub end: Micros,
    /// What it does.
    pub fault: Fault,
}

/// How much chaos a schedule has.
#[derive(Debug, Clone, Copy)]
pub struct NemesisConfig {
    /// Shortest fault, in ms.
    pub min_fault_ms: u64,
    /// Longest fault, in ms.
    pub max_fault_ms: u64,
    /// Longest quiet gap between faults, in ms.
    pub max_gap_ms: u64,
    /// Only isolate the leader (a focused profile; see `SimConfig::leader_isolation`).
    pub only_isolate_leader: bool,
}

impl Default for NemesisConfig {
    fn default() -> Self {
        Self {
            min_fault_ms: 300,
            max_fault_ms: 1500,
            max_gap_ms: 600,
            only_isolate_leader: false,
        }
    }
}

fn other(rng: &mut StdRng, nodes: u64, not: NodeId) -> NodeId {
    let k = rng.gen_range(1..nodes);
    if k >= not {
        k + 1
    } else {
        k
    }
}

/// Draws a schedule of non-overlapping fault windows within `duration` (ms); with `orders`,
/// the orders service is crashed too.
pub fn schedule(
    rng: &mut StdRng,
    cfg: &NemesisConfig,
    nodes: u64,
    clients: usize,
    orders: bool,
    duration_ms: u64,
) -> Vec<Window> {
    let mut out = Vec::new();
    let mut t = rng.gen_range(100..=cfg.max_gap_ms.max(101));
    loop {
        let len = rng.gen_range(cfg.min_fault_ms..=cfg.max_fault_ms);
        if t + len > duration_ms {
            break;
        }
        let node = rng.gen_range(1..=nodes);
        if orders && rng.gen_bool(0.25) {
            out.push(Window {
                start: t * 1000,
                end: (t + len) * 1000,
                fault: Fault::CrashOrders,
            });
            t += len + rng.gen_range(50..=cfg.max_gap_ms.max(51));
            continue;
        }
        let roll = if cfg.only_isolate_leader {
            0
        } else {
            rng.gen_range(0..10)
        };
        let fault = match roll {
            0 | 1 => Fault::IsolateLeader,
            2 => Fault::Split {
                node,
                clients: (0..clients).filter(|_| rng.gen_bool(0.4)).collect(),
            },
            3 => Fault::OneWay {
                from: node,
                to: other(rng, nodes, node),
            },
            4 => Fault::Hold {
                a: node,
                b: other(rng, nodes, node),
            },
            5 => Fault::Crash { node },
            6 | 7 => Fault::CrashLeader,
            8 => Fault::Slow {
                max_ms: rng.gen_range(20..=200),
            },
            _ => Fault::Lossy {
                a: node,
                b: other(rng, nodes, node),
                percent: rng.gen_range(2..=20),
            },
        };
        out.push(Window {
            start: t * 1000,
            end: (t + len) * 1000,
            fault,
        });
        t += len + rng.gen_range(50..=cfg.max_gap_ms.max(51));
    }
    out
}
