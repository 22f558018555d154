//! Leader-kill rounds on a three-member etcd cluster, measured the way `chaos kill-leader`
//! measures the catalog, so the two failover distributions can be set side by side:
//!
//! - *to leader*: from the SIGKILL to the first status in which a survivor leads;
//! - *to write*: from the SIGKILL to the first `put` acknowledged. The probe is generous to
//!   etcd: a `put` is sent every 10 ms, alternating between the survivors, each with its own
//!   2 s deadline, so a proposal dropped while no leader exists never delays the measure by
//!   more than one probe interval;
//! - *catch-up*: from restarting the killed member on its data to its Raft index reaching
//!   what the leader had when the member first answered.

use std::time::Duration;

use confeitaria_client::transport::Transport;
use futures::stream::{FuturesUnordered, StreamExt};
use http::Method;
use tokio::time::Instant;

use super::etcd::{b64, EtcdCluster};
use crate::error::CliError;
use crate::rounds::Round;

const PROBE_EVERY: Duration = Duration::from_millis(10);
const PROBE_DEADLINE: Duration = Duration::from_secs(2);

/// One `put` to `endpoint`; whether it was acknowledged within `deadline`.
async fn put(t: &Transport, endpoint: &str, value: u64, deadline: Duration) -> bool {
    let body = format!(
        r#"{{"key":"{}","value":"{}"}}"#,
        b64(b"failover"),
        b64(value.to_string().as_bytes())
    );
    t.send(
        Method::POST,
        &format!("{endpoint}/v3/kv/put"),
        &[],
        Some(body.into_bytes()),
        deadline,
    )
    .await
    .is_ok_and(|r| r.status.is_success())
}

/// Until every member answers and names the same leader; returns the leader's index.
async fn wait_stable(cluster: &EtcdCluster, step: Duration) -> Result<usize, CliError> {
    let end = Instant::now() + step;
    loop {
        let mut views = Vec::new();
        for i in 0..cluster.clients().len() {
            views.push(cluster.status(i, Duration::from_millis(500)).await);
        }
        let leader = views
            .iter()
            .position(|v| v.as_ref().is_some_and(|s| s.member == s.leader));
        if let (Some(l), Some(Some(first))) = (leader, views.first()) {
            if views
                .iter()
                .all(|v| v.as_ref().is_some_and(|s| s.leader == first.leader))
            {
                return Ok(l);
            }
        }
        if Instant::now() >= end {
            return Err(CliError::Timeout(
                "etcd did not settle on one leader".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `rounds` kills of etcd's leader, at least `min_gap` after each catch-up; each step
/// of a round must end within `step`. Prints each round unless `quiet`.
pub async fn kill_rounds(
    cluster: &mut EtcdCluster,
    rounds: u32,
    min_gap: Duration,
    step: Duration,
    quiet: bool,
) -> Result<Vec<Round>, CliError> {
    let t = Transport::http();
    let mut out = Vec::new();
    let mut caught_up_at: Option<Instant> = None;
    let mut value = 0u64;
    for round in 1..=rounds {
        if let Some(at) = caught_up_at {
            tokio::time::sleep_until(at + min_gap).await;
        }
        let leader = wait_stable(cluster, step).await?;
        // The leader acknowledges a write just before it dies, as in the catalog's rounds.
        value += 1;
        if !put(&t, &cluster.clients()[leader], value, step).await {
            return Err(CliError::Other(format!(
                "round {round}: etcd's leader refused a write"
            )));
        }
        let killed_at = Instant::now();
        let gap = caught_up_at.map_or(Duration::ZERO, |at| killed_at - at);
        cluster.kill(leader).await;
        let survivors: Vec<usize> = (0..cluster.clients().len())
            .filter(|&i| i != leader)
            .collect();
        let end = killed_at + step;

        let first_write = async {
            let mut inflight = FuturesUnordered::new();
            let mut tick = tokio::time::interval(PROBE_EVERY);
            let (mut sent, mut failed) = (0u64, 0u64);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let endpoint = cluster.clients()[survivors[sent as usize % survivors.len()]].clone();
                        let (t, v) = (t.clone(), value + 1 + sent);
                        sent += 1;
                        inflight.push(async move {
                            let ok = put(&t, &endpoint, v, PROBE_DEADLINE).await;
                            (ok, Instant::now())
                        });
                    }
                    Some((ok, at)) = inflight.next(), if !inflight.is_empty() => {
                        if ok {
                            return Some((at - killed_at, failed));
                        }
                        failed += 1;
                    }
                    () = tokio::time::sleep_until(end) => return None,
                }
            }
        };
        let first_leader = async {
            while Instant::now() < end {
                if let Some(l) = cluster.leader_among(&survivors, PROBE_EVERY * 10).await {
                    return Some((Instant::now() - killed_at, l));
                }
                tokio::time::sleep(PROBE_EVERY).await;
            }
            None
        };
        let (write, new_leader) = tokio::join!(first_write, first_leader);
        let (Some((to_write, failed)), Some((to_leader, new_leader))) = (write, new_leader) else {
            return Err(CliError::Timeout(format!(
                "round {round}: etcd had no new leader or acknowledged no write within {}s",
                step.as_secs()
            )));
        };
        value += 1_000;

        let restarted_at = Instant::now();
        cluster.restart(leader)?;
        let mut target = None;
        let caught_up = loop {
            if Instant::now() >= restarted_at + step {
                return Err(CliError::Timeout(format!(
                    "round {round}: etcd member {} did not catch up within {}s",
                    leader + 1,
                    step.as_secs()
                )));
            }
            if let Some(me) = cluster.status(leader, Duration::from_millis(200)).await {
                if target.is_none() {
                    let lead = cluster
                        .leader_among(&survivors, Duration::from_millis(500))
                        .await;
                    if let Some(l) = lead {
                        target = cluster
                            .status(l, Duration::from_millis(500))
                            .await
                            .map(|s| s.raft_index);
                    }
                }
                if target.is_some_and(|t| me.raft_index >= t) {
                    break Instant::now();
                }
            }
            tokio::time::sleep(PROBE_EVERY).await;
        };
        let r = Round {
            round,
            killed: leader as u64 + 1,
            new_leader: new_leader as u64 + 1,
            to_leader_ms: ms(to_leader),
            to_write_ms: ms(to_write),
            catch_up_ms: ms(caught_up - restarted_at),
            acked: 1,
            failed,
            gap_ms: ms(gap),
        };
        if !quiet {
            println!(
                "round {round}: killed member {} {:.0} ms after the last catch-up → member {} leads after {:.0} ms, first put after {:.0} ms ({} probes unanswered); caught up {:.0} ms after restart",
                r.killed, r.gap_ms, r.new_leader, r.to_leader_ms, r.to_write_ms, r.failed, r.catch_up_ms
            );
        }
        caught_up_at = Some(caught_up);
        out.push(r);
    }
    Ok(out)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
