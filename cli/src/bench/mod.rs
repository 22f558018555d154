//! `bench`: acknowledged stock writes, linearizable reads and local reads per second, with
//! p50/p99 latency, for 1, 16, 64 and 256 concurrent clients against the running cluster;
//! optionally the same against a three-member etcd cluster (`/v3/kv/put`, `/v3/kv/range`)
//! and a bare axum handler; then leader-kill failover rounds and each node's resident
//! memory. Prints a table and writes it as CSV.
//!
//! - [`load`]: the bounded load generator (every run stops at a request count or a time);
//! - [`etcd`]: a throw-away etcd cluster on free loopback ports, and its workloads;
//! - [`targets`]: the catalog and baseline workloads;
//! - [`memory`]: `bench-memory`, a node's memory, data and write latency against the
//!   number of reservations it has ever settled.
//!
//! Everything it sends goes to 127.0.0.1.

pub mod etcd;
pub mod etcd_kills;
pub mod load;
pub mod memory;
pub mod targets;

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::args::{BenchArgs, KillLeaderArgs};
use crate::chaos;
use crate::context::Context;
use crate::error::CliError;
use crate::output::table;

use load::{Op, Stats};

/// One line of the result table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `confeitaria`, `etcd-3.4`, `axum-baseline`.
    pub target: String,
    /// `write`, `read-linearizable`, `read-local`, `failover`, `rss`.
    pub workload: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Successful operations per second.
    pub ops_per_sec: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Operations done.
    pub ok: u64,
    /// Operations that failed.
    pub errors: u64,
}

impl Row {
    fn from_stats(target: &str, workload: &str, clients: usize, s: &Stats) -> Row {
        Row {
            target: target.into(),
            workload: workload.into(),
            clients,
            ops_per_sec: s.ops_per_sec(),
            p50_ms: s.percentile_ms(50.0),
            p99_ms: s.percentile_ms(99.0),
            ok: s.ok,
            errors: s.errors,
        }
    }
}

/// Runs `op` at every client count and appends the rows.
async fn sweep(args: &BenchArgs, target: &str, workload: &str, op: Op, rows: &mut Vec<Row>) {
    for &clients in &args.clients {
        let stats = load::run(
            clients,
            Duration::from_secs_f64(args.seconds),
            args.max_requests,
            op.clone(),
        )
        .await;
        let row = Row::from_stats(target, workload, clients, &stats);
        eprintln!(
            "{target:>14} {workload:<18} {clients:>4} clients: {:>9.0}/s  p50 {:.2} ms  p99 {:.2} ms  ({} errors)",
            row.ops_per_sec, row.p50_ms, row.p99_ms, row.errors
        );
        rows.push(row);
    }
}

/// [`sweep`], also printing the CPU time each group of `procs` spent per successful request
/// during each run (user + system, from `/proc/<pid>/stat`; `self` is this load generator):
/// a measure of cost that does not depend on how the machine's cores are shared.
async fn sweep_cpu(
    args: &BenchArgs,
    target: &str,
    workload: &str,
    op: Op,
    rows: &mut Vec<Row>,
    procs: &[(&str, Vec<u32>)],
) {
    let ticks = |pids: &[u32]| {
        pids.iter()
            .filter_map(|p| cpu_ticks(&p.to_string()))
            .sum::<u64>()
    };
    for &clients in &args.clients {
        let before: Vec<u64> = procs.iter().map(|(_, p)| ticks(p)).collect();
        let self_before = cpu_ticks("self").unwrap_or(0);
        let one = BenchArgs {
            clients: vec![clients],
            ..args.clone()
        };
        let first = rows.len();
        sweep(&one, target, workload, op.clone(), rows).await;
        let ok = rows.get(first).map_or(0, |r| r.ok).max(1) as f64;
        let per = |t: u64| t as f64 * 1e6 / CLOCK_TICKS_PER_SEC / ok;
        let mut line = format!(
            "{:>14} {workload:<18} {clients:>4} clients: CPU µs per request:",
            ""
        );
        for ((name, p), b) in procs.iter().zip(before) {
            line.push_str(&format!(" {name} {:.1}", per(ticks(p).saturating_sub(b))));
        }
        let own = cpu_ticks("self").unwrap_or(0).saturating_sub(self_before);
        line.push_str(&format!(" load-generator {:.1}", per(own)));
        eprintln!("{line}");
    }
}

/// `sysconf(_SC_CLK_TCK)` on Linux, where it is 100 on every mainstream architecture.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// User + system CPU time of process `pid` (`"self"` for this one), in clock ticks.
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces, inside parentheses): state is
    // the 3rd field of the line, utime the 14th, stime the 15th.
    let rest = text.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `bench`.
pub async fn bench(ctx: &Context, args: &BenchArgs) -> Result<(), CliError> {
    let mut rows = Vec::new();
    let up = ctx.running_up().await?;
    let client = ctx.client().await?;
    client.refresh().await?;
    let pids: Vec<(u64, u32)> = up
        .as_ref()
        .map(|u| {
            u.services
                .iter()
                .filter_map(|s| Some((s.node_id?, s.pid?)))
                .collect()
        })
        .unwrap_or_default();
    let mut peak_rss = std::collections::BTreeMap::<u64, u64>::new();
    let sample_rss = |peak: &mut std::collections::BTreeMap<u64, u64>| {
        for (id, pid) in &pids {
            if let Some(k) = rss_kib(*pid) {
                let e = peak.entry(*id).or_default();
                *e = (*e).max(k);
            }
        }
    };

    let catalog = "confeitaria";
    sweep(
        args,
        catalog,
        "write",
        targets::catalog_write(&client),
        &mut rows,
    )
    .await;
    sample_rss(&mut peak_rss);
    sweep(
        args,
        catalog,
        "read-linearizable",
        targets::catalog_read(&client, confeitaria_client::Consistency::Linearizable),
        &mut rows,
    )
    .await;
    sample_rss(&mut peak_rss);
    sweep(
        args,
        catalog,
        "read-local",
        targets::catalog_read(&client, confeitaria_client::Consistency::Local),
        &mut rows,
    )
    .await;
    sample_rss(&mut peak_rss);

    if args.gateway {
        let gateway = up
            .as_ref()
            .and_then(|u| u.services.iter().find(|s| s.name == "gateway"))
            .map(|s| s.url.clone())
            .ok_or_else(|| CliError::Other("--gateway needs `up` running a [gateway]".into()))?;
        let nodes: Vec<String> = up
            .as_ref()
            .map(|u| {
                u.nodes()
                    .into_iter()
                    .map(|(_, a)| format!("http://{a}"))
                    .collect()
            })
            .unwrap_or_default();
        let gateway_pid: Vec<u32> = up
            .as_ref()
            .and_then(|u| u.services.iter().find(|s| s.name == "gateway"))
            .and_then(|s| s.pid)
            .into_iter()
            .collect();
        let node_pids: Vec<u32> = pids.iter().map(|(_, p)| *p).collect();
        let procs = [("nodes", node_pids), ("gateway", gateway_pid)];
        for (workload, query) in [
            ("read-local-http", "?consistency=local"),
            ("read-lin-http", ""),
        ] {
            for (target, bases) in [
                ("direct", nodes.clone()),
                ("gateway", vec![gateway.clone()]),
            ] {
                let op = targets::http_read_at(bases, query);
                sweep_cpu(args, target, workload, op, &mut rows, &procs).await;
            }
        }
    }
    if args.baseline {
        let base = targets::Baseline::start().await?;
        sweep(args, "axum-baseline", "read-local", base.op(), &mut rows).await;
        base.stop().await;
    }
    if args.etcd {
        let cluster = etcd::EtcdCluster::start(&args.etcd_bin, etcd::EtcdTiming::Default).await?;
        let leader = cluster.leader_endpoint().await?;
        sweep(args, "etcd-3.4", "write", etcd::put(&leader), &mut rows).await;
        sweep(
            args,
            "etcd-3.4",
            "read-linearizable",
            etcd::range(&leader),
            &mut rows,
        )
        .await;
        cluster.stop().await;
    }

    for (id, kib) in &peak_rss {
        rows.push(Row {
            target: catalog.into(),
            workload: format!("rss-node-{id}-MiB"),
            clients: 0,
            ops_per_sec: *kib as f64 / 1024.0,
            p50_ms: 0.0,
            p99_ms: 0.0,
            ok: 0,
            errors: 0,
        });
    }

    let mut failover = None;
    if args.kills > 0 && up.is_some() {
        let (rounds, summary, lost) = chaos::measure(
            ctx,
            &KillLeaderArgs {
                rounds: args.kills,
                doce: 1,
                step_timeout_secs: 30,
                min_gap: 0,
                etcd: false,
                etcd_bin: args.etcd_bin.clone(),
                etcd_tuned: false,
                csv: None,
            },
            true,
        )
        .await?;
        for (workload, p) in [
            ("failover-to-leader", summary.to_leader_ms),
            ("failover-to-write", summary.to_write_ms),
        ] {
            rows.push(Row {
                target: catalog.into(),
                workload: workload.into(),
                clients: 1,
                ops_per_sec: 0.0,
                p50_ms: p.p50,
                p99_ms: p.p99,
                ok: rounds.len() as u64,
                errors: u64::from(lost) + summary.failed_writes,
            });
        }
        failover = Some((rounds.len(), summary));
    }

    write_csv(&args.csv, &rows)?;
    if ctx.global.json {
        let text = serde_json::to_string(&rows)
            .map_err(|e| CliError::Other(format!("encoding JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", render(&rows));
        println!("(failover rows: ERRORS = failed writes; rss rows: ops/s column = peak MiB)");
        if let Some((n, summary)) = &failover {
            println!();
            println!("leader kills ({n}):");
            print!("{}", summary.table());
        }
        println!("CSV written to {}", args.csv.display());
    }
    Ok(())
}

fn render(rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.target.clone(),
                r.workload.clone(),
                r.clients.to_string(),
                format!("{:.0}", r.ops_per_sec),
                format!("{:.2}", r.p50_ms),
                format!("{:.2}", r.p99_ms),
                r.ok.to_string(),
                r.errors.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "TARGET", "WORKLOAD", "CLIENTS", "OPS/S", "P50 MS", "P99 MS", "OK", "ERRORS",
        ],
        &cells,
    )
}

fn write_csv(path: &Path, rows: &[Row]) -> Result<(), CliError> {
    let mut text = String::from("target,workload,clients,ops_per_sec,p50_ms,p99_ms,ok,errors\n");
    for r in rows {
        text.push_str(&format!(
            "{},{},{},{:.1},{:.3},{:.3},{},{}\n",
            r.target, r.workload, r.clients, r.ops_per_sec, r.p50_ms, r.p99_ms, r.ok, r.errors
        ));
    }
    std::fs::write(path, text).map_err(CliError::io(format!("writing {}", path.display())))
}

#[cfg(test)]
mod cpu_tests {
    use super::cpu_ticks;

    #[test]
    fn cpu_ticks_reads_this_process_and_grows_with_work() {
        let before = cpu_ticks("self");
        assert!(before.is_some());
        let end = std::time::Instant::now() + std::time::Duration::from_millis(100);
        let mut x = 0u64;
        while std::time::Instant::now() < end {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        assert!(x != 1 && cpu_ticks("self") >= before);
        assert_eq!(cpu_ticks("0"), None);
    }
}
