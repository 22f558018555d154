//! The control process: sets the stage before the workload (every product's stock, applied
//! on every replica), and once the driver has healed everything and the processes are done,
//! waits for the cluster to converge and takes the final reads.

use std::time::Duration;

use crate::conn::{signed, Conn};
use crate::history::{fmt_micros, Counters, Op, ReadLevel};
use crate::shared::{now, record, wait_until, SharedRef};
use crate::workload::{Kind, WorkloadConfig};

/// How long the control process waits for the stage to be set, and for the healed cluster
/// to converge, before giving up (simulated ms).
const PATIENCE_MS: u64 = 30_000;

/// The control process: sets every product's stock, opens the workload, then — once the
/// driver has healed everything and the processes are done — waits for the cluster to
/// converge and takes the final reads as process `id`. `nodes` are the voters, `all` the
/// voters and learners: every one of them must converge, and is read at the end.
pub async fn control(
    shared: SharedRef,
    cfg: WorkloadConfig,
    nodes: u64,
    all: u64,
    id: usize,
    seed: u64,
) -> turmoil::Result {
    let conn = Conn::new(nodes, seed);
    let result = control_with(&shared, &cfg, all, id, &conn).await;
    shared.borrow_mut().keep.0.push(Box::new(conn));
    result
}

async fn control_with(
    shared: &SharedRef,
    cfg: &WorkloadConfig,
    nodes: u64,
    id: usize,
    conn: &Conn,
) -> turmoil::Result {
    let give_up = now() + PATIENCE_MS * 1000;
    for &p in &cfg.products {
        while !conn.set_estoque(p, cfg.initial_stock).await {
            if now() > give_up {
                return Err(format!("setup: stock of product {p} could not be set").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Every replica applies the stage before the workload starts, so that even a stale
    // local read starts from it.
    if !converge(shared, conn, nodes, "setup").await {
        return Err("setup: the cluster did not converge".into());
    }
    {
        let mut s = shared.borrow_mut();
        let t = now();
        s.setup_done = Some(t);
        s.workload_end = Some(t + cfg.duration_ms * 1000);
        let initial = Counters {
            disponivel: signed(cfg.initial_stock),
            reservado: 0,
            vendido: 0,
        };
        let initial = cfg.products.iter().map(|p| (*p, initial)).collect();
        match cfg.kind {
            Kind::Catalog => s.initial = initial,
            Kind::Saga => s.saga_initial = initial,
        }
        s.notes.push(format!("{} setup done", fmt_micros(t)));
    }
    let processes = cfg.processes;
    wait_until(shared, |s| s.healed && s.workers_done == processes).await;
    if !converge(shared, conn, nodes, "final").await {
        return Ok(());
    }
    if cfg.kind == Kind::Saga {
        crate::saga::final_reads(shared, conn, id).await;
    }
    for &p in &cfg.products {
        for n in 1..=nodes {
            for level in [ReadLevel::Linearizable, ReadLevel::Local] {
                let op = Op::Read {
                    product: p,
                    level,
                    node: Some(n),
                };
                record(shared, conn, id, op).await;
            }
        }
        let op = Op::Read {
            product: p,
            level: ReadLevel::Linearizable,
            node: None,
        };
        record(shared, conn, id, op).await;
    }
    let rids: Vec<String> = {
        let s = shared.borrow();
        let mut r: Vec<String> = s
            .history
            .records()
            .iter()
            .filter_map(|r| r.op.rid().map(str::to_owned))
            .collect();
        r.sort();
        r.dedup();
        r
    };
    for rid in rids {
        record(shared, conn, id, Op::ReadReservation { rid }).await;
    }
    shared.borrow_mut().final_process = Some(id);
    Ok(())
}

/// Waits until every node answers with the same leader, term and applied index three polls
/// in a row. False if that never happens within [`PATIENCE_MS`] (after healing, a liveness
/// failure).
pub(crate) async fn converge(shared: &SharedRef, conn: &Conn, nodes: u64, what: &str) -> bool {
    let give_up = now() + PATIENCE_MS * 1000;
    let mut stable = 0;
    let mut last = None;
    while now() < give_up {
        let mut seen = Vec::new();
        for n in 1..=nodes {
            seen.push(
                conn.status(n)
                    .await
                    .map(|s| (s.leader, s.term, s.applied_index)),
            );
        }
        let first = seen.first().cloned().flatten();
        let agreed =
            matches!(first, Some((Some(_), _, Some(_)))) && seen.iter().all(|s| *s == first);
        if agreed && last == first {
            stable += 1;
        } else {
            stable = 0;
        }
        last = first;
        if stable >= 2 {
            shared.borrow_mut().notes.push(format!(
                "{} {what}: converged (leader, term, applied) = {:?}",
                fmt_micros(now()),
                last
            ));
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shared
        .borrow_mut()
        .notes
        .push(format!("{} {what}: never converged", fmt_micros(now())));
    false
}
