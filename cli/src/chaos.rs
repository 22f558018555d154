//! `chaos kill-leader`: kills the leader (SIGKILL, through `up`) while a writer keeps
//! writing, and measures each recovery:
//!
//! - *to leader*: from the kill to the first status in which a surviving node leads;
//! - *to write*: from the kill to the first write acknowledged by the new leader (the
//!   writer is sequential, and a response names its leader in `X-Raft-Leader`);
//! - *catch-up*: from restarting the killed node to its applying everything the leader had
//!   committed when it came back.
//!
//! Between rounds it waits at least `--min-gap` ms after the catch-up before the next kill
//! (none by default: the next kill comes as soon as the cluster agrees on a leader and the
//! writer is acknowledged by it). At the end it checks that the last acknowledged write is
//! what a linearizable read sees, restores the product's stock, and prints each round with
//! the p50, p90, p99 and worst of each measure.
//!
//! With `--etcd` (and `--etcd-tuned`) the same rounds run on a three-member etcd cluster
//! (`bench::etcd_kills`), so the two can be compared on one machine; `--csv` appends every
//! round to a file, which `scripts/plots.py` draws.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use confeitaria_client::{CallPolicy, CatalogClient, Consistency};
use confeitaria_types::Role;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::args::KillLeaderArgs;
use crate::bench::etcd::{EtcdCluster, EtcdTiming};
use crate::bench::etcd_kills;
use crate::context::Context;
use crate::control::{self, ControlRequest, UpState};
use crate::error::CliError;
use crate::output::table;
pub use crate::rounds::Round;
use crate::status::{gather, leader_of};

/// Percentiles of one measure over the rounds, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub worst: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `v` (the value at rank ⌈q·n⌉ of the sorted sample, so
    /// every figure is a measured round); all zero for an empty sample.
    pub fn of(v: &[f64]) -> Self {
        if v.is_empty() {
            return Self::default();
        }
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let rank = |q: f64| {
            let r = (q * n as f64).ceil() as usize;
            s[r.clamp(1, n) - 1]
        };
        Self {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            worst: s[n - 1],
        }
    }
}

/// The percentiles of each measure, and the failed writes of all rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Kill to a new leader, ms.
    pub to_leader_ms: Percentiles,
    /// Kill to the first acknowledged write, ms.
    pub to_write_ms: Percentiles,
    /// Catch-up after restart, ms.
    pub catch_up_ms: Percentiles,
    /// Writes that failed, all rounds together.
    pub failed_writes: u64,
}

impl Summary {
    /// The summary of `rounds`.
    pub fn of(rounds: &[Round]) -> Self {
        let col = |f: fn(&Round) -> f64| Percentiles::of(&rounds.iter().map(f).collect::<Vec<_>>());
        Self {
            to_leader_ms: col(|r| r.to_leader_ms),
            to_write_ms: col(|r| r.to_write_ms),
            catch_up_ms: col(|r| r.catch_up_ms),
            failed_writes: rounds.iter().map(|r| r.failed).sum(),
        }
    }

    /// The summary as a text table: one line per measure.
    pub fn table(&self) -> String {
        let row = |name: &str, p: &Percentiles| {
            let mut r = vec![name.to_owned()];
            r.extend([p.p50, p.p90, p.p99, p.worst].map(|x| format!("{x:.0} ms")));
            r
        };
        let rows = vec![
            row("kill → new leader", &self.to_leader_ms),
            row("kill → first acknowledged write", &self.to_write_ms),
            row("restart → caught up", &self.catch_up_ms),
        ];
        table(&["", "p50", "p90", "p99", "worst"], &rows)
    }
}

#[derive(Debug)]
enum WriteEvent {
    Acked {
        at: Instant,
        leader: Option<u64>,
        value: u64,
    },
    Failed,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn control(up: &UpState, req: ControlRequest) -> Result<(), CliError> {
    control::request(&up.control, &req).await.map(|_| ())
}

/// Waits until every node answers and all agree on one leader; returns it (within `step`).
pub async fn wait_stable(nodes: &[(Option<u64>, String)], step: Duration) -> Result<u64, CliError> {
    let end = Instant::now() + step;
    loop {
        let views = gather(nodes, Duration::from_millis(500)).await;
        let leaders: Vec<Option<u64>> = views
            .iter()
            .map(|v| v.status.as_ref().and_then(|s| s.leader))
            .collect();
        if let (Some(Some(l)), Some(_)) = (leaders.first(), leader_of(&views)) {
            if leaders.iter().all(|x| *x == Some(*l)) {
                return Ok(*l);
            }
        }
        if Instant::now() >= end {
            return Err(CliError::Timeout(
                "the cluster did not settle on one leader".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `chaos kill-leader`: runs the rounds and prints them.
pub async fn kill_leader(ctx: &Context, args: &KillLeaderArgs) -> Result<(), CliError> {
    if args.etcd {
        return kill_etcd_leader(ctx, args).await;
    }
    let quiet = ctx.global.json;
    let (rounds, summary, lost) = measure(ctx, args, quiet).await?;
    if let Some(path) = &args.csv {
        write_rounds_csv(path, "confeitaria", &rounds)?;
    }
    if ctx.global.json {
        println!(
            "{}",
            serde_json::json!({"rounds": rounds, "summary": summary, "acknowledged_write_lost": lost})
        );
    } else {
        println!();
        print!("{}", summary.table());
        println!(
            "{} rounds, {} failed writes, min gap {} ms",
            rounds.len(),
            summary.failed_writes,
            args.min_gap
        );
        println!(
            "last acknowledged write {} by a linearizable read; stock of product {} restored",
            if lost { "NOT SEEN" } else { "seen" },
            args.doce
        );
    }
    if lost {
        return Err(CliError::Other("an acknowledged write was lost".to_owned()));
    }
    Ok(())
}

/// `chaos kill-leader --etcd`: the same rounds on a fresh etcd cluster.
async fn kill_etcd_leader(ctx: &Context, args: &KillLeaderArgs) -> Result<(), CliError> {
    let timing = if args.etcd_tuned {
        EtcdTiming::Tuned
    } else {
        EtcdTiming::Default
    };
    let mut cluster = EtcdCluster::start(&args.etcd_bin, timing).await?;
    let rounds = etcd_kills::kill_rounds(
        &mut cluster,
        args.rounds,
        Duration::from_millis(args.min_gap),
        Duration::from_secs(args.step_timeout_secs),
        ctx.global.json,
    )
    .await;
    cluster.stop().await;
    let rounds = rounds?;
    if let Some(path) = &args.csv {
        write_rounds_csv(path, timing.label(), &rounds)?;
    }
    let summary = Summary::of(&rounds);
    if ctx.global.json {
        println!(
            "{}",
            serde_json::json!({"target": timing.label(), "rounds": rounds, "summary": summary})
        );
    } else {
        println!();
        print!("{}", summary.table());
        println!(
            "{} rounds of {}, min gap {} ms ({} put probes unanswered while no leader served them)",
            rounds.len(),
            timing.label(),
            args.min_gap,
            summary.failed_writes
        );
    }
    Ok(())
}

/// Appends `rounds` to the CSV file at `path` (with a header when the file is new).
pub fn write_rounds_csv(
    path: &std::path::Path,
    target: &str,
    rounds: &[Round],
) -> Result<(), CliError> {
    use std::io::Write as _;
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(CliError::io("opening the rounds CSV"))?;
    let mut text = String::new();
    if new {
        text.push_str("target,round,gap_ms,to_leader_ms,to_write_ms,catch_up_ms\n");
    }
    for r in rounds {
        text.push_str(&format!(
            "{target},{},{:.1},{:.1},{:.1},{:.1}\n",
            r.round, r.gap_ms, r.to_leader_ms, r.to_write_ms, r.catch_up_ms
        ));
    }
    f.write_all(text.as_bytes())
        .map_err(CliError::io("writing the rounds CSV"))
}

/// Runs the rounds (printing each unless `quiet`); returns them, their summary, and whether
/// the last acknowledged write was lost.
pub async fn measure(
    ctx: &Context,
    args: &KillLeaderArgs,
    quiet: bool,
) -> Result<(Vec<Round>, Summary, bool), CliError> {
    let up = ctx.require_up().await?;
    let nodes: Vec<(Option<u64>, String)> = up
        .nodes()
        .into_iter()
        .map(|(id, a)| (Some(id), a))
        .collect();
    let client = CatalogClient::new(nodes.iter().map(|(_, a)| a.clone()).collect())
        .with_token(ctx.admin_token()?)
        .with_policy(CallPolicy {
            deadline: Duration::from_secs(10),
            attempt: Duration::from_secs(2),
            backoff: Duration::from_millis(10),
        });
    let step = Duration::from_secs(args.step_timeout_secs);
    wait_stable(&nodes, step).await?;
    let original = client
        .doce(args.doce, Consistency::Linearizable)
        .await?
        .estoque;
    client.refresh().await?;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write_forever(client.clone(), args.doce, tx, stop.clone()));

    let mut rounds = Vec::new();
    let mut last_acked = None;
    let mut outcome = Ok(());
    let mut caught_up_at = None;
    let min_gap = Duration::from_millis(args.min_gap);
    for round in 1..=args.rounds {
        let pace = Pace {
            caught_up_at,
            min_gap,
        };
        match one_round(&up, &nodes, round, step, pace, &mut rx, &mut last_acked).await {
            Ok((r, at)) => {
                if !quiet {
                    println!(
                        "round {round}: killed node {} {:.0} ms after the last catch-up → node {} leads after {:.0} ms, first write after {:.0} ms; node {} caught up {:.0} ms after restart ({} writes acked, {} failed)",
                        r.killed, r.gap_ms, r.new_leader, r.to_leader_ms, r.to_write_ms, r.killed, r.catch_up_ms, r.acked, r.failed
                    );
                }
                caught_up_at = Some(at);
                rounds.push(r);
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = writer.await;
    while let Ok(ev) = rx.try_recv() {
        if let WriteEvent::Acked { value, .. } = ev {
            last_acked = Some(value);
        }
    }
    // Every node that `up` started must be running again, even after a failed round.
    for (id, _) in up.nodes() {
        let _ = control(&up, ControlRequest::Start { node: id }).await;
    }
    outcome?;

    let seen = client
        .doce(args.doce, Consistency::Linearizable)
        .await?
        .estoque;
    client.set_estoque(args.doce, original).await?;
    let lost = last_acked.is_some_and(|v| seen < v);
    let summary = Summary::of(&rounds);
    Ok((rounds, summary, lost))
}

async fn write_forever(
    client: CatalogClient,
    doce: u64,
    tx: mpsc::UnboundedSender<WriteEvent>,
    stop: Arc<AtomicBool>,
) {
    let mut value = 100_000u64;
    while !stop.load(Ordering::Relaxed) {
        value = if value >= 999_000 { 100_000 } else { value + 1 };
        let ev = match client.set_estoque(doce, value).await {
            Ok(_) => WriteEvent::Acked {
                at: Instant::now(),
                leader: client.leader(),
                value,
            },
            Err(_) => WriteEvent::Failed,
        };
        if tx.send(ev).is_err() {
            return;
        }
    }
}

/// When the previous round's node caught up, and the least time to leave before the next
/// kill.
#[derive(Debug, Clone, Copy)]
struct Pace {
    caught_up_at: Option<Instant>,
    min_gap: Duration,
}

/// One kill and recovery; returns the round and when the restarted node caught up.
async fn one_round(
    up: &UpState,
    nodes: &[(Option<u64>, String)],
    round: u32,
    step: Duration,
    pace: Pace,
    rx: &mut mpsc::UnboundedReceiver<WriteEvent>,
    last_acked: &mut Option<u64>,
) -> Result<(Round, Instant), CliError> {
    if let Some(at) = pace.caught_up_at {
        tokio::time::sleep_until(at + pace.min_gap).await;
    }
    let leader = wait_stable(nodes, step).await?;
    let (mut acked, mut failed) = (0u64, 0u64);
    // Drain, then see the writer acknowledged by this leader before killing it.
    let end = Instant::now() + step;
    loop {
        let ev = tokio::time::timeout_at(end, rx.recv())
            .await
            .map_err(|_| CliError::Timeout("the writer made no progress".into()))?;
        match ev {
            Some(WriteEvent::Acked {
                leader: l, value, ..
            }) => {
                *last_acked = Some(value);
                if l == Some(leader) && rx.is_empty() {
                    break;
                }
            }
            Some(WriteEvent::Failed) => {}
            None => return Err(CliError::Other("the writer stopped".into())),
        }
    }
    let killed_at = Instant::now();
    let gap = pace
        .caught_up_at
        .map_or(Duration::ZERO, |at| killed_at.saturating_duration_since(at));
    control(up, ControlRequest::Kill { node: leader }).await?;

    let survivors: Vec<(Option<u64>, String)> = nodes
        .iter()
        .filter(|(id, _)| *id != Some(leader))
        .cloned()
        .collect();
    let (mut to_leader, mut to_write, mut new_leader) = (None, None, None);
    let end = Instant::now() + step;
    while to_leader.is_none() || to_write.is_none() {
        if Instant::now() >= end {
            return Err(CliError::Timeout(format!(
                "round {round}: no new leader or no acknowledged write within {}s",
                step.as_secs()
            )));
        }
        while let Ok(ev) = rx.try_recv() {
            match ev {
                WriteEvent::Acked {
                    at,
                    leader: l,
                    value,
                } => {
                    acked += 1;
                    *last_acked = Some(value);
                    if to_write.is_none() && at > killed_at && l.is_some_and(|l| l != leader) {
                        to_write = Some(at - killed_at);
                    }
                }
                WriteEvent::Failed => failed += 1,
            }
        }
        if to_leader.is_none() {
            let views = gather(&survivors, Duration::from_millis(100)).await;
            let now = Instant::now();
            if let Some(s) = views
                .iter()
                .filter_map(|v| v.status.as_ref())
                .find(|s| s.role == Role::Leader && s.id != leader)
            {
                to_leader = Some(now - killed_at);
                new_leader = Some(s.id);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let restarted_at = Instant::now();
    control(up, ControlRequest::Start { node: leader }).await?;
    let me: Vec<(Option<u64>, String)> = nodes
        .iter()
        .filter(|(id, _)| *id == Some(leader))
        .cloned()
        .collect();
    let mut target = None;
    let end = Instant::now() + step;
    let catch_up = loop {
        if Instant::now() >= end {
            return Err(CliError::Timeout(format!(
                "round {round}: node {leader} did not catch up within {}s",
                step.as_secs()
            )));
        }
        if target.is_none() {
            let views = gather(&me, Duration::from_millis(200)).await;
            if views.iter().any(|v| v.status.is_some()) {
                let all = gather(nodes, Duration::from_millis(500)).await;
                target = all
                    .iter()
                    .filter_map(|v| v.status.as_ref())
                    .find(|s| s.role == Role::Leader)
                    .and_then(|s| s.commit_index);
            }
        }
        if let Some(t) = target {
            let views = gather(&me, Duration::from_millis(200)).await;
            if views
                .iter()
                .filter_map(|v| v.status.as_ref())
                .any(|s| s.applied_index >= Some(t))
            {
                break Instant::now();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    while let Ok(ev) = rx.try_recv() {
        match ev {
            WriteEvent::Acked { value, .. } => {
                acked += 1;
                *last_acked = Some(value);
            }
            WriteEvent::Failed => failed += 1,
        }
    }
    let round = Round {
        round,
        killed: leader,
        new_leader: new_leader.unwrap_or_default(),
        to_leader_ms: ms(to_leader.unwrap_or_default()),
        to_write_ms: ms(to_write.unwrap_or_default()),
        catch_up_ms: ms(catch_up - restarted_at),
        acked,
        failed,
        gap_ms: ms(gap),
    };
    Ok((round, catch_up))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(n: u32, to_write_ms: f64) -> Round {
        Round {
            round: n,
            killed: 1,
            new_leader: 2,
            to_leader_ms: to_write_ms - 1.0,
            to_write_ms,
            catch_up_ms: 90.0,
            acked: 3,
            failed: 0,
            gap_ms: 5.0,
        }
    }

    #[test]
    fn rounds_csv_has_one_header_and_appends_every_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rounds.csv");
        write_rounds_csv(&path, "confeitaria", &[round(1, 130.0), round(2, 160.24)]).unwrap();
        write_rounds_csv(&path, "etcd-3.4", &[round(1, 1320.0)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "target,round,gap_ms,to_leader_ms,to_write_ms,catch_up_ms\n\
             confeitaria,1,5.0,129.0,130.0,90.0\n\
             confeitaria,2,5.0,159.2,160.2,90.0\n\
             etcd-3.4,1,5.0,1319.0,1320.0,90.0\n"
        );
    }

    #[test]
    fn nearest_rank_percentiles_are_measured_values() {
        // 1..=100 shuffled: p50 is the 50th value, p90 the 90th, p99 the 99th.
        let v: Vec<f64> = (1..=100).map(|i| f64::from((i * 37) % 100 + 1)).collect();
        let p = Percentiles::of(&v);
        assert_eq!((p.p50, p.p90, p.p99, p.worst), (50.0, 90.0, 99.0, 100.0));
        // Ten rounds: p50, p90 and p99 fall on the 5th, 9th and 10th values.
        let v = [
            300.0, 100.0, 200.0, 250.0, 260.0, 270.0, 280.0, 290.0, 3900.0, 800.0,
        ];
        let p = Percentiles::of(&v);
        assert_eq!(
            (p.p50, p.p90, p.p99, p.worst),
            (270.0, 800.0, 3900.0, 3900.0)
        );
        // One round: every percentile is that round.
        let p = Percentiles::of(&[42.0]);
        assert_eq!((p.p50, p.p90, p.p99, p.worst), (42.0, 42.0, 42.0, 42.0));
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
    }

    #[test]
    fn the_summary_adds_up_failed_writes() {
        let r = |to_write_ms: f64, failed: u64| Round {
            round: 1,
            killed: 1,
            new_leader: 2,
            to_leader_ms: to_write_ms - 10.0,
            to_write_ms,
            catch_up_ms: 20.0,
            acked: 10,
            failed,
            gap_ms: 0.0,
        };
        let s = Summary::of(&[r(250.0, 0), r(300.0, 2), r(900.0, 1)]);
        assert_eq!(s.failed_writes, 3);
        assert_eq!(s.to_write_ms.p50, 300.0);
        assert_eq!(s.to_write_ms.worst, 900.0);
        assert!(s.table().contains("p90"));
    }
}
