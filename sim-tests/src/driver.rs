//! The driver of a run, between simulation steps: it samples every node's role (for election
//! safety and the trace), opens and closes the seeded fault windows, crashes and restarts
//! hosts, and heals everything when the workload ends.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use crate::checkers::LeaderSeen;
use crate::cluster::{node_host, Nodes};
use crate::config::SimConfig;
use crate::failover::{Failover, Killer, Phase, Variant};
use crate::history::{fmt_micros, Micros, NodeId};
use crate::nemesis::{Fault, Window};
use crate::saga::ORDERS_HOST;
use crate::shared::SharedRef;

/// Host name of the control process.
pub const CTL_HOST: &str = "ctl";

/// Host name of client process `i`.
pub fn client_host(i: usize) -> String {
    format!("c{i}")
}

/// Restarts the software of a crashed host, once its sled database in `dir` is really
/// closed.
///
/// sled finishes closing on its own I/O threads, in real time; reopening before they let go
/// of the database's file lock would fail at random. The wait is in real time and simulated
/// time does not move meanwhile, so the run stays deterministic.
fn restart_host(sim: &mut turmoil::Sim<'_>, host: &str, dir: &std::path::Path) {
    let lock = dir.join("db");
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < end {
        match std::fs::File::open(&lock).map(|f| f.try_lock()) {
            Ok(Ok(())) | Err(_) => break,
            Ok(Err(_)) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    sim.bounce(host);
}

/// A fault window with its resolved target once open.
struct Active {
    window: Window,
    /// The node a leader-directed fault hit.
    target: Option<NodeId>,
}

/// The driver's state for one run.
pub struct Driver<'a> {
    cfg: &'a SimConfig,
    dirs: Vec<PathBuf>,
    orders_dir: Option<PathBuf>,
    shared: SharedRef,
    nodes: Rc<RefCell<Nodes>>,
    trace: String,
    leaders: Vec<LeaderSeen>,
    seen: BTreeSet<(NodeId, u64)>,
    /// The first time each leader was seen having applied an entry of its own term.
    commits: Vec<LeaderSeen>,
    schedule: Vec<Window>,
    next_window: usize,
    active: Option<Active>,
    healed: bool,
    faults_opened: usize,
    killer: Option<Killer>,
}

impl<'a> Driver<'a> {
    /// A driver for a run of `cfg` whose nodes keep their data in `dirs` (and the orders
    /// service in `orders_dir`), following `schedule`; `trace` already holds the header.
    pub fn new(
        cfg: &'a SimConfig,
        dirs: Vec<PathBuf>,
        orders_dir: Option<PathBuf>,
        shared: SharedRef,
        nodes: Rc<RefCell<Nodes>>,
        schedule: Vec<Window>,
        trace: String,
    ) -> Self {
        Self {
            cfg,
            dirs,
            orders_dir,
            shared,
            nodes,
            trace,
            leaders: Vec::new(),
            seen: BTreeSet::new(),
            commits: Vec::new(),
            schedule,
            next_window: 0,
            active: None,
            healed: false,
            faults_opened: 0,
            killer: None,
        }
    }

    /// The same driver running the failover profile's killer instead of the schedule.
    pub fn with_killer(mut self, killer: Option<Killer>) -> Self {
        self.killer = killer;
        self
    }

    /// The failover profile's kills so far (not yet measured).
    pub fn failovers(&self) -> Vec<Failover> {
        self.killer
            .as_ref()
            .map(|k| k.failovers.clone())
            .unwrap_or_default()
    }

    /// One step of the failover profile's killer (see [`crate::failover`]).
    fn kill_step(&mut self, sim: &mut turmoil::Sim<'_>, now: Micros, start: Micros, end: Micros) {
        let Some(mut k) = self.killer.take() else {
            return;
        };
        let n = self.cfg.nodes;
        match k.phase {
            Phase::Start { after } => {
                k.phase = Phase::Kill {
                    at: start + after,
                    variant: Variant::AfterCatchUp,
                }
            }
            // No kill in the last 1.5 s of the workload: each failover is measured to its
            // first acknowledged write.
            Phase::Kill { at, variant } if now >= at && now + 1_500_000 <= end => {
                let stable = {
                    let nodes = self.nodes.borrow();
                    nodes.leader().filter(|l| {
                        (1..=n).all(|id| nodes.view(id).is_some_and(|(f, _)| f == Some(*l)))
                    })
                };
                if let Some(l) = stable {
                    k.failovers.push(Failover {
                        crash_at: now,
                        killed: l,
                        variant,
                        since_restart: k.last_restart.map(|r| now - r),
                        leader_at: None,
                        commit_at: None,
                        write_at: None,
                    });
                    k.phase = Phase::Down { node: l };
                    self.crash(sim, l);
                    self.log(now, format_args!("kill leader n{l} ({variant})"));
                }
            }
            Phase::Kill { .. } => {}
            Phase::Down { node } => {
                let leader = self.nodes.borrow().leader();
                if leader.is_some_and(|l| l != node) {
                    self.restart(sim, node);
                    k.last_restart = Some(now);
                    let next = k.draw_variant();
                    k.phase = if next == Variant::InsideLease {
                        Phase::Kill {
                            at: now + k.draw_wait(next),
                            variant: next,
                        }
                    } else {
                        Phase::Rejoin { node, target: None }
                    };
                    self.log(now, format_args!("restart n{node}"));
                }
            }
            Phase::Rejoin { node, target } => {
                let nodes = self.nodes.borrow();
                let leader = nodes.leader();
                let me = nodes.view(node);
                match (target, leader, me) {
                    (None, Some(l), Some(_)) => {
                        let applied = nodes.view(l).and_then(|(_, a)| a).unwrap_or(0);
                        k.phase = Phase::Rejoin {
                            node,
                            target: Some(applied),
                        };
                    }
                    (Some(t), Some(l), Some((Some(f), a))) if f == l && a.unwrap_or(0) >= t => {
                        drop(nodes);
                        let at = now + k.draw_wait(Variant::AfterCatchUp);
                        k.phase = Phase::Kill {
                            at,
                            variant: Variant::AfterCatchUp,
                        };
                        self.log(now, format_args!("n{node} caught up"));
                    }
                    _ => {}
                }
            }
        }
        self.killer = Some(k);
    }

    /// Every node seen leading, the first time in each term.
    pub fn leaders(&self) -> &[LeaderSeen] {
        &self.leaders
    }

    /// The trace so far, the fault windows opened and the distinct leaderships seen.
    pub fn finish(self) -> (String, usize, usize) {
        (self.trace, self.faults_opened, self.seen.len())
    }

    fn log(&mut self, now: Micros, what: impl std::fmt::Display) {
        let _ = writeln!(self.trace, "{} {what}", fmt_micros(now));
    }

    /// Every node's host, voters and learners.
    fn node_hosts(&self) -> Vec<String> {
        (1..=self.cfg.all_nodes()).map(node_host).collect()
    }

    fn others(&self, node: NodeId) -> Vec<String> {
        (1..=self.cfg.all_nodes())
            .filter(|n| *n != node)
            .map(node_host)
            .collect()
    }

    /// Samples every running node's role at `now`.
    pub fn observe(&mut self, now: Micros) {
        let leaders = self.nodes.borrow().leaders();
        for (node, term, detail) in leaders {
            if self.seen.insert((node, term)) {
                self.leaders.push(LeaderSeen {
                    at: now,
                    node,
                    term,
                });
                self.log(now, format_args!("n{node} leads term {term} ({detail})"));
            }
        }
        let committed = self.nodes.borrow().leaders_committed();
        for (node, term) in committed {
            if !self
                .commits
                .iter()
                .any(|c| c.node == node && c.term == term)
            {
                self.commits.push(LeaderSeen {
                    at: now,
                    node,
                    term,
                });
                self.log(now, format_args!("n{node} commits in term {term}"));
            }
        }
    }

    /// Every leader's first commit in its own term, as observed.
    pub fn commits(&self) -> &[LeaderSeen] {
        &self.commits
    }

    fn pick_target(&self, fallback: NodeId) -> NodeId {
        self.nodes.borrow().leader().unwrap_or(fallback)
    }

    fn open(&mut self, sim: &mut turmoil::Sim<'_>, now: Micros, window: Window) {
        let mut target = None;
        match &window.fault {
            Fault::IsolateLeader | Fault::Split { .. } => {
                if window.fault == Fault::IsolateLeader {
                    target = Some(self.pick_target(1));
                }
                for (x, y) in self.cut_links(&window.fault, target) {
                    sim.partition(x.as_str(), y.as_str());
                }
            }
            Fault::OneWay { from, to } => sim.partition_oneway(node_host(*from), node_host(*to)),
            Fault::Hold { a, b } => sim.hold(node_host(*a), node_host(*b)),
            Fault::Crash { node } => {
                target = Some(*node);
                self.crash(sim, *node);
            }
            Fault::CrashLeader => {
                let l = self.pick_target(1);
                target = Some(l);
                self.crash(sim, l);
            }
            Fault::Slow { max_ms } => {
                for (a, b) in self.node_links() {
                    let max = Duration::from_millis(*max_ms);
                    sim.set_link_max_message_latency(a.as_str(), b.as_str(), max);
                }
            }
            Fault::Lossy { a, b, percent } => {
                sim.set_link_fail_rate(node_host(*a), node_host(*b), f64::from(*percent) / 100.0)
            }
            Fault::CrashOrders => self.crash_host(sim, ORDERS_HOST),
        }
        self.faults_opened += 1;
        match target {
            Some(t) => self.log(now, format_args!("open {} (n{t})", window.fault)),
            None => self.log(now, format_args!("open {}", window.fault)),
        }
        self.active = Some(Active { window, target });
    }

    /// The links a partition window cuts (and its close repairs), in a fixed order.
    fn cut_links(&self, fault: &Fault, target: Option<NodeId>) -> Vec<(String, String)> {
        match (fault, target) {
            (Fault::IsolateLeader, Some(l)) => self
                .others(l)
                .into_iter()
                .map(|o| (node_host(l), o))
                .collect(),
            (Fault::Split { node, clients }, _) => {
                let (a, b) = self.split_sides(*node, clients);
                a.iter()
                    .flat_map(|x| b.iter().map(move |y| (x.clone(), y.clone())))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Every link between two node hosts, once.
    fn node_links(&self) -> Vec<(String, String)> {
        let hosts = self.node_hosts();
        hosts
            .iter()
            .flat_map(|a| {
                hosts
                    .iter()
                    .filter(move |b| a < *b)
                    .map(move |b| (a.clone(), b.clone()))
            })
            .collect()
    }

    fn split_sides(&self, node: NodeId, clients: &[usize]) -> (Vec<String>, Vec<String>) {
        let mut a = vec![node_host(node)];
        let mut b = self.others(node);
        for c in 0..self.cfg.workload.processes {
            if clients.contains(&c) {
                a.push(client_host(c));
            } else {
                b.push(client_host(c));
            }
        }
        (a, b)
    }

    /// Crashes a node the way SIGKILL does, without the polite close of its connections.
    ///
    /// turmoil drops a crashed host's tasks in an order that depends on tokio's task ids — a
    /// process-wide counter, so it differs between runs — and every dropped socket sends a
    /// FIN that draws a latency from the simulation's generator. Cutting the host off for
    /// the instant of the crash discards those FINs (and what was in flight on its links),
    /// which keeps the run a function of its seed.
    ///
    /// The node's host then comes straight back up with no process on it (`run_node`), as a
    /// machine outlives a SIGKILLed process: peers learn of the crash when a new connection
    /// is refused or an old one is reset, not only from timeouts.
    fn crash(&mut self, sim: &mut turmoil::Sim<'_>, node: NodeId) {
        self.nodes.borrow_mut().crashed(node);
        self.crash_host(sim, &node_host(node));
        sim.bounce(node_host(node).as_str());
    }

    fn crash_host(&mut self, sim: &mut turmoil::Sim<'_>, me: &str) {
        let me = me.to_owned();
        let all = self.all_hosts();
        for h in all.iter().filter(|h| **h != me) {
            sim.partition(me.as_str(), h.as_str());
        }
        sim.crash(me.as_str());
        for h in all.iter().filter(|h| **h != me) {
            sim.repair(me.as_str(), h.as_str());
        }
    }

    /// Restarts a crashed node on its data (see [`restart_host`]).
    fn restart(&mut self, sim: &mut turmoil::Sim<'_>, node: NodeId) {
        let dir = self.dirs[(node - 1) as usize].clone();
        self.nodes.borrow_mut().restarting(node);
        restart_host(sim, &node_host(node), &dir);
    }

    fn all_hosts(&self) -> Vec<String> {
        let mut all = self.node_hosts();
        all.extend((0..self.cfg.workload.processes).map(client_host));
        all.push(CTL_HOST.to_owned());
        if self.orders_dir.is_some() {
            all.push(ORDERS_HOST.to_owned());
        }
        all
    }

    fn close(&mut self, sim: &mut turmoil::Sim<'_>, now: Micros) {
        let Some(Active { window, target }) = self.active.take() else {
            return;
        };
        match &window.fault {
            Fault::IsolateLeader | Fault::Split { .. } => {
                for (x, y) in self.cut_links(&window.fault, target) {
                    sim.repair(x.as_str(), y.as_str());
                }
            }
            Fault::OneWay { from, to } => sim.repair_oneway(node_host(*from), node_host(*to)),
            Fault::Hold { a, b } => sim.release(node_host(*a), node_host(*b)),
            Fault::Crash { .. } | Fault::CrashLeader => {
                if let Some(n) = target {
                    self.restart(sim, n);
                }
            }
            Fault::Slow { .. } => {
                for (a, b) in self.node_links() {
                    let max = Duration::from_millis(self.cfg.latency_ms.1);
                    sim.set_link_max_message_latency(a.as_str(), b.as_str(), max);
                }
            }
            Fault::Lossy { a, b, .. } => {
                sim.set_link_fail_rate(node_host(*a), node_host(*b), 0.0);
                sim.repair(node_host(*a), node_host(*b));
            }
            Fault::CrashOrders => {
                if let Some(dir) = self.orders_dir.clone() {
                    restart_host(sim, ORDERS_HOST, &dir);
                }
            }
        }
        self.log(now, format_args!("close {}", window.fault));
    }

    /// Opens and closes fault windows due by `now`; heals at the end of the workload.
    pub fn nemesis(&mut self, sim: &mut turmoil::Sim<'_>, now: Micros) {
        let (start, end) = {
            let s = self.shared.borrow();
            match (s.setup_done, s.workload_end) {
                (Some(a), Some(b)) => (a, b),
                _ => return,
            }
        };
        if self.healed {
            return;
        }
        if now >= end {
            self.close(sim, now);
            if let Some(Phase::Down { node }) = self.killer.as_ref().map(|k| k.phase) {
                self.restart(sim, node);
            }
            self.healed = true;
            self.shared.borrow_mut().healed = true;
            self.log(now, "healed");
            return;
        }
        if self.killer.is_some() {
            self.kill_step(sim, now, start, end);
            return;
        }
        if let Some(a) = &self.active {
            if now >= start + a.window.end {
                self.close(sim, now);
            }
        }
        if self.active.is_none() {
            if let Some(w) = self.schedule.get(self.next_window) {
                if now >= start + w.start {
                    let w = w.clone();
                    self.next_window += 1;
                    self.open(sim, now, w);
                }
            }
        }
    }
}
