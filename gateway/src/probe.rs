//! Active health checks: every probe period, each catalog node is asked for
//! `GET /cluster/status` and the cart and orders for `GET /health`, each within the probe
//! deadline. A catalog node's answer also tells who leads (writes go there) and feeds the
//! dashboard; a change of leader or term is recorded in the [`Timeline`].

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use axum::body::Bytes;
use confeitaria_types::{ClusterStatus, Role};
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

/// One round: every instance at once, then the leader.
pub async fn round(gw: &Gateway) {
    let all = gw
        .pools()
        .into_iter()
        .flat_map(|p| p.instances.iter().cloned());
    let probes = all.map(|i| async move { probe(gw, &i).await });
    futures::future::join_all(probes).await;
    let fresh: Vec<ClusterStatus> = gw
        .catalog
        .instances
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

async fn probe(gw: &Gateway, inst: &Instance) {
    let path = match inst.group {
        Group::Catalog => "/cluster/status",
        Group::Cart | Group::Orders => "/health",
    };
    let got = async {
        let uri = format!("{}{path}", inst.base).parse::<http::Uri>().ok()?;
        let mut req = http::Request::new(Full::new(Bytes::new()));
        *req.uri_mut() = uri;
        let resp = gw.client.request(req).await.ok()?;
        let ok = resp.status().is_success();
        let body = Limited::new(resp.into_body(), 1 << 20)
            .collect()
            .await
            .ok()?;
        Some((ok, body.to_bytes()))
    };
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
