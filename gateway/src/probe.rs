//! Active health checks: every probe period, the catalog's membership is read
//! (`GET /cluster/members`, from the leader first, then any node that answered its latest
//! probe, within one probe deadline) and the catalog pool made to follow it
//! ([`Pool::follow`](crate::upstream::Pool::follow): learners that joined take reads, nodes
//! removed leave); then each catalog node is asked for `GET /cluster/status` and the cart
//! and orders for `GET /health`, each within the probe deadline. A catalog node's answer
//! also tells who leads (writes go there) and feeds the dashboard; a change of leader or
//! term is recorded in the [`Timeline`].

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use axum::body::Bytes;
use confeitaria_types::{ClusterStatus, Members, Membership, Role};
use http_body_util::{BodyExt, Full, Limited};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::upstream::{Group, Instance};
use crate::Gateway;

/// Leader changes kept.
const TIMELINE_LEN: usize = 50;

/// One observed change of leadership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaderChange {
    /// Milliseconds since the Unix epoch, when the gateway noticed.
    pub em_ms: u64,
    /// The term.
    pub termo: u64,
    /// The new leader's id (`None`: no leader known).
    pub lider: Option<u64>,
}

/// The latest leader changes, oldest first.
#[derive(Debug, Default)]
pub struct Timeline {
    // std mutex: a push or a copy, never held across an `.await`.
    changes: Mutex<VecDeque<LeaderChange>>,
}

impl Timeline {
    /// Records `(term, leader)` if it differs from the last entry.
    pub fn observe(&self, termo: u64, lider: Option<u64>) {
        let mut c = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        if c.back()
            .is_some_and(|l| l.termo == termo && l.lider == lider)
        {
            return;
        }
        let em_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        c.push_back(LeaderChange {
            em_ms,
            termo,
            lider,
        });
        while c.len() > TIMELINE_LEN {
            c.pop_front();
        }
    }

    /// A copy, oldest first.
    pub fn changes(&self) -> Vec<LeaderChange> {
        let c = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        c.iter().cloned().collect()
    }
}

/// Probes every instance every probe period until `cancel`.
pub async fn run(gw: Gateway, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(gw.health_policy.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        round(&gw).await;
    }
}

/// One round: the membership, then every instance at once, then the leader.
pub async fn round(gw: &Gateway) {
    discover(gw).await;
    let all: Vec<_> = gw
        .pools()
        .into_iter()
        .flat_map(|p| p.instances().iter().cloned().collect::<Vec<_>>())
        .collect();
    let probes = all.iter().map(|i| probe(gw, i));
    futures::future::join_all(probes).await;
    let fresh: Vec<ClusterStatus> = gw
        .catalog
        .instances()
        .iter()
        .map(|i| i.view())
        .filter(|v| v.probe_ok)
        .filter_map(|v| v.status)
        .collect();
    // The node that says it leads the highest term, else what the highest term's nodes say.
    let top = fresh.iter().map(|s| s.term).max();
    if let Some(term) = top {
        let leader = fresh
            .iter()
            .find(|s| s.term == term && s.role == Role::Leader)
            .map(|s| s.id)
            .or_else(|| {
                fresh
                    .iter()
                    .filter(|s| s.term == term)
                    .find_map(|s| s.leader)
            });
        gw.catalog.set_leader_id(leader);
        gw.timeline.observe(term, leader);
    }
    if let Some(l) = &gw.rate_limiter {
        l.retain_recent();
    }
}

/// Reads the catalog's membership and makes the catalog pool follow it. Asks the leader
/// first (its membership is the newest), then the nodes that answered their latest probe,
/// then — when none did, e.g. every configured node was removed — the configured addresses;
/// the first member list wins. Everything within one probe deadline: a round never waits
/// longer on a silent cluster.
pub async fn discover(gw: &Gateway) {
    let pool = &gw.catalog;
    let instances = pool.instances();
    let mut order: Vec<String> = Vec::with_capacity(instances.len() + pool.seeds().len());
    let leader = pool.leader_in(&instances);
    order.extend(leader.map(|l| instances[l].base.clone()));
    for inst in instances.iter() {
        if inst.view().probe_ok && !order.contains(&inst.base) {
            order.push(inst.base.clone());
        }
    }
    for seed in pool.seeds() {
        let base = format!("http://{seed}");
        if !order.contains(&base) {
            order.push(base);
        }
    }
    drop(instances);
    let ask = async {
        for base in &order {
            if let Some(m) = members(gw, base).await {
                return Some(m);
            }
        }
        None
    };
    let Ok(Some(m)) = tokio::time::timeout(gw.health_policy.probe_timeout, ask).await else {
        return;
    };
    let changed = pool.follow(&m.membership, &gw.health_policy);
    for addr in &changed.added {
        tracing::info!(%addr, via = m.id, "catalog member joins the pool");
    }
    for addr in &changed.removed {
        tracing::info!(%addr, via = m.id, "catalog node leaves the pool: not a member");
    }
}

/// `GET {base}/cluster/members`, parsed; `None` on any failure.
async fn members(gw: &Gateway, base: &str) -> Option<Members> {
    let (ok, body) = get(gw, &format!("{base}/cluster/members")).await?;
    if !ok {
        return None;
    }
    parse_members(&body)
}

/// The `/cluster/members` document. Parsed in two steps: serde cannot read the integer keys
/// of `nodes` through `Members`' `#[serde(flatten)]` (flattened maps reach the inner type
/// with string keys), but the flattened fields are `Membership`'s own at the top level.
fn parse_members(body: &[u8]) -> Option<Members> {
    #[derive(serde::Deserialize)]
    struct Head {
        id: u64,
        leader: Option<u64>,
        member: bool,
    }
    let head: Head = serde_json::from_slice(body).ok()?;
    let membership: Membership = serde_json::from_slice(body).ok()?;
    Some(Members {
        id: head.id,
        leader: head.leader,
        member: head.member,
        membership,
    })
}

/// One GET through the upstream client: whether it succeeded (2xx), and the body (at most
/// 1 MiB). No deadline of its own: callers set one.
async fn get(gw: &Gateway, url: &str) -> Option<(bool, Bytes)> {
    let uri = url.parse::<http::Uri>().ok()?;
    let mut req = http::Request::new(Full::new(Bytes::new()));
    *req.uri_mut() = uri;
    let resp = gw.client.request(req).await.ok()?;
    let ok = resp.status().is_success();
    let body = Limited::new(resp.into_body(), 1 << 20)
        .collect()
        .await
        .ok()?;
    Some((ok, body.to_bytes()))
}

async fn probe(gw: &Gateway, inst: &Instance) {
    let path = match inst.group {
        Group::Catalog => "/cluster/status",
        Group::Cart | Group::Orders => "/health",
    };
    let url = format!("{}{path}", inst.base);
    let got = get(gw, &url);
    let answer = tokio::time::timeout(gw.health_policy.probe_timeout, got)
        .await
        .ok()
        .flatten();
    match answer {
        Some((true, body)) => {
            let status = match inst.group {
                Group::Catalog => serde_json::from_slice::<ClusterStatus>(&body).ok(),
                _ => None,
            };
            let ok = inst.group != Group::Catalog || status.is_some();
            inst.probed(status, ok, &gw.health_policy);
        }
        _ => inst.probed(None, false, &gw.health_policy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_members_document_parses_with_its_integer_node_keys() {
        let m = Members {
            id: 2,
            leader: Some(1),
            member: true,
            membership: Membership {
                voters: vec![1, 2],
                learners: vec![4],
                nodes: [1, 2, 4]
                    .into_iter()
                    .map(|id| {
                        let addr = confeitaria_types::NodeAddr {
                            api_addr: format!("h{id}:5001"),
                            rpc_addr: format!("h{id}:6001"),
                        };
                        (id, addr)
                    })
                    .collect(),
            },
        };
        let body = serde_json::to_vec(&m).unwrap_or_default();
        assert!(
            serde_json::from_slice::<Members>(&body).is_err(),
            "serde reads flattened integer keys now: parse Members directly"
        );
        assert_eq!(parse_members(&body), Some(m));
        assert_eq!(parse_members(b"{\"method\":\"GET\"}"), None);
    }
}
