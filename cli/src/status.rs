//! `status` and `watch`: every node's own view of the cluster, side by side.

use std::io::IsTerminal;
use std::time::Duration;

use confeitaria_client::{CallPolicy, CatalogClient};
use confeitaria_types::{ClusterStatus, Role};
use serde::Serialize;
use tokio::time::Instant;

use crate::args::WatchArgs;
use crate::context::Context;
use crate::error::CliError;
use crate::output::{clock, opt, table};

/// One node as seen by asking it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    /// Node id, when known.
    pub id: Option<u64>,
    /// API address.
    pub addr: String,
    /// Its `/cluster/status`, when it answered.
    pub status: Option<ClusterStatus>,
    /// Why it did not answer.
    pub error: Option<String>,
}

/// Asks every node for its status at once, each within `deadline`.
pub async fn gather(nodes: &[(Option<u64>, String)], deadline: Duration) -> Vec<NodeView> {
    let client = CatalogClient::new(Vec::new()).with_policy(CallPolicy {
        deadline,
        attempt: deadline,
        backoff: Duration::from_millis(10),
    });
    let asks = nodes.iter().map(|(id, addr)| {
        let client = client.clone();
        async move {
            match client.node_status(addr).await {
                Ok(st) => NodeView {
                    id: Some(st.id),
                    addr: addr.clone(),
                    status: Some(st),
                    error: None,
                },
                Err(e) => NodeView {
                    id: *id,
                    addr: addr.clone(),
                    status: None,
                    error: Some(e.to_string()),
                },
            }
        }
    });
    futures::future::join_all(asks).await
}

/// [`gather`], then the members the answers name that `nodes` left out (learners joined
/// since, nodes added by hand), so `status` and `watch` show every member.
pub async fn gather_members(nodes: &[(Option<u64>, String)], deadline: Duration) -> Vec<NodeView> {
    let mut views = gather(nodes, deadline).await;
    let known: std::collections::BTreeSet<String> = nodes.iter().map(|(_, a)| a.clone()).collect();
    let known_ids: std::collections::BTreeSet<u64> = views.iter().filter_map(|v| v.id).collect();
    let mut extra: Vec<(Option<u64>, String)> = Vec::new();
    for s in views.iter().filter_map(|v| v.status.as_ref()) {
        for (id, n) in &s.membership.nodes {
            let new = !known.contains(&n.api_addr)
                && !known_ids.contains(id)
                && !extra.iter().any(|(_, a)| *a == n.api_addr);
            if new {
                extra.push((Some(*id), n.api_addr.clone()));
            }
        }
    }
    if !extra.is_empty() {
        views.extend(gather(&extra, deadline).await);
    }
    views.sort_by_key(|v| v.id);
    views
}

/// The leader and its term: the reachable node that says it leads, in the highest term.
pub fn leader_of(views: &[NodeView]) -> Option<(u64, u64)> {
    views
        .iter()
        .filter_map(|v| v.status.as_ref())
        .filter(|s| s.role == Role::Leader)
        .map(|s| (s.id, s.term))
        .max_by_key(|(_, term)| *term)
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Leader => "leader",
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::Learner => "learner",
        Role::Shutdown => "shutdown",
        Role::Removed => "removed",
    }
}

/// The status table.
pub fn render(views: &[NodeView]) -> String {
    let leader = views
        .iter()
        .filter_map(|v| v.status.as_ref())
        .find(|s| s.role == Role::Leader);
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| match &v.status {
            Some(s) => {
                let contact = match leader {
                    _ if s.role == Role::Removed => format!(
                        "removed; members {}",
                        s.membership
                            .nodes
                            .keys()
                            .map(u64::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Some(l) if l.id == s.id => "self (leader)".to_owned(),
                    Some(l) => match l.last_contact_ms.get(&s.id).copied().flatten() {
                        Some(ms) => format!("{ms} ms ago"),
                        None => "never".to_owned(),
                    },
                    None => "-".to_owned(),
                };
                vec![
                    s.id.to_string(),
                    v.addr.clone(),
                    role_name(s.role).to_owned(),
                    s.term.to_string(),
                    opt(s.leader),
                    opt(s.commit_index),
                    opt(s.applied_index),
                    contact,
                ]
            }
            None => vec![
                opt(v.id),
                v.addr.clone(),
                "down".to_owned(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "unreachable".into(),
            ],
        })
        .collect();
    table(
        &[
            "NODE",
            "API",
            "ROLE",
            "TERM",
            "LEADER",
            "COMMIT",
            "APPLIED",
            "LAST CONTACT",
        ],
        &rows,
    )
}

/// `status`: prints the table (or JSON); an error (exit 2) when no node leads.
pub async fn status(ctx: &Context) -> Result<(), CliError> {
    let views = gather_members(&ctx.nodes().await?, Duration::from_secs(2)).await;
    let leader = leader_of(&views);
    if ctx.global.json {
        let doc = serde_json::json!({
            "leader": leader.map(|(id, _)| id),
            "term": leader.map(|(_, t)| t),
            "nodes": views,
        });
        println!("{doc}");
    } else {
        print!("{}", render(&views));
        match leader {
            Some((id, term)) => println!("leader: node {id} (term {term})"),
            None => println!("leader: none"),
        }
    }
    match leader {
        Some(_) => Ok(()),
        None => Err(CliError::NoLeader(
            "no reachable node leads the cluster".into(),
        )),
    }
}

/// Tracks leader changes across refreshes.
#[derive(Debug, Default)]
pub struct LeaderTracker {
    leader: Option<u64>,
    lost_at: Option<Instant>,
    started: bool,
}

impl LeaderTracker {
    /// Feeds the leader seen now; returns an event line when it changed.
    pub fn observe(&mut self, now: Instant, leader: Option<(u64, u64)>) -> Option<String> {
        let id = leader.map(|(id, _)| id);
        if self.started && id == self.leader {
            return None;
        }
        let first = !self.started;
        self.started = true;
        let before = self.leader;
        self.leader = id;
        match (before, leader) {
            (_, Some((id, term))) => {
                let gap = self.lost_at.take().map(|t| now - t);
                Some(match (first, gap, before) {
                    (true, _, _) => format!("{} node {id} leads (term {term})", clock()),
                    (_, Some(g), _) => format!(
                        "{} node {id} leads (term {term}) after {} ms without a leader",
                        clock(),
                        g.as_millis()
                    ),
                    (_, None, Some(old)) => format!(
                        "{} leader changed from node {old} to node {id} (term {term}) with no gap seen",
                        clock()
                    ),
                    (_, None, None) => format!("{} node {id} leads (term {term})", clock()),
                })
            }
            (Some(old), None) => {
                self.lost_at = Some(now);
                Some(format!("{} no leader (node {old} lost it)", clock()))
            }
            (None, None) => {
                self.lost_at = Some(now);
                Some(format!("{} no leader", clock()))
            }
        }
    }
}

/// `watch`: the table four times a second, and a line for each leader change.
pub async fn watch(ctx: &Context, args: &WatchArgs) -> Result<(), CliError> {
    let nodes = ctx.nodes().await?;
    let tty = std::io::stdout().is_terminal() && !ctx.global.json;
    let period = Duration::from_millis(args.interval_ms.max(50));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut tracker = LeaderTracker::default();
    let mut events: Vec<String> = Vec::new();
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        let views = gather_members(&nodes, period.min(Duration::from_millis(200))).await;
        let leader = leader_of(&views);
        let event = tracker.observe(Instant::now(), leader);
        if ctx.global.json {
            if let Some(e) = &event {
                println!(
                    "{}",
                    serde_json::json!({"event": e, "leader": leader.map(|l| l.0)})
                );
            }
        } else if tty {
            if let Some(e) = event {
                events.push(e);
                let keep = events.len().saturating_sub(12);
                events.drain(..keep);
            }
            println!("\x1b[2J\x1b[H{}", render(&views));
            for e in &events {
                println!("{e}");
            }
            println!("\n(Ctrl-C to quit)");
        } else if let Some(e) = event {
            if n == 0 {
                print!("{}", render(&views));
            }
            println!("{e}");
        }
        n += 1;
        if args.count.is_some_and(|c| n >= c) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_node_is_shown_removed_with_the_members_not_waiting_for_contact() {
        let status = |id: u64, role: Role, members: &[u64]| ClusterStatus {
            id,
            role,
            term: 3,
            leader: (role != Role::Removed).then_some(1),
            leader_api_addr: None,
            commit_index: Some(9),
            applied_index: Some(9),
            last_log_index: Some(9),
            membership: confeitaria_types::Membership {
                voters: members.to_vec(),
                learners: vec![],
                nodes: members
                    .iter()
                    .map(|m| (*m, confeitaria_types::NodeAddr::default()))
                    .collect(),
            },
            last_contact_ms: Default::default(),
        };
        let view = |st: ClusterStatus| NodeView {
            id: Some(st.id),
            addr: format!("h:{}", st.id),
            status: Some(st),
            error: None,
        };
        let text = render(&[
            view(status(1, Role::Leader, &[1, 2])),
            view(status(2, Role::Learner, &[1, 2])),
            view(status(3, Role::Removed, &[1, 2])),
        ]);
        let row = text.lines().find(|l| l.starts_with('3')).unwrap();
        assert!(
            row.contains("removed") && row.contains("members 1, 2"),
            "{text}"
        );
        assert!(!row.contains("never"), "{text}");
        let learner = text.lines().find(|l| l.starts_with('2')).unwrap();
        assert!(learner.contains("learner"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_change_is_reported_with_the_time_without_a_leader() {
        let mut t = LeaderTracker::default();
        let t0 = Instant::now();
        assert!(t
            .observe(t0, Some((1, 3)))
            .unwrap()
            .contains("node 1 leads"));
        assert!(t.observe(t0, Some((1, 3))).is_none());
        assert!(t
            .observe(t0 + Duration::from_millis(250), None)
            .unwrap()
            .contains("node 1 lost it"));
        assert!(t.observe(t0 + Duration::from_millis(500), None).is_none());
        let e = t
            .observe(t0 + Duration::from_millis(570), Some((2, 4)))
            .unwrap();
        assert!(e.contains("node 2 leads (term 4) after 320 ms"), "{e}");
    }
}
