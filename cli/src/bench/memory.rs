//! `bench-memory`: does a node's cost follow the live catalog or its history? Against a
//! running `up`, it times writes on the fresh shop (a probe), makes many reservations from
//! many connections (unique ids, one unit each) and settles each at once — released, or every
//! `close_every`-th confirmed and closed as a delivered order's is —, waits until every node
//! has forgotten the settled records (the retention window of the cluster file), and probes
//! again. Every second it samples each node's resident memory (`VmRSS` of `/proc/PID/status`),
//! its data directory's size, the reservations it keeps (its `/metrics`), and the writes of
//! that second (count and p99), into a CSV that `scripts/plots.py` draws as
//! `docs/memory.png`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confeitaria_client::catalog::CallPolicy;
use confeitaria_client::transport::Transport;
use confeitaria_client::CatalogClient;
use confeitaria_types::auth::TokenRole;
use confeitaria_types::{ItemReserva, NovaReserva};
use http::Method;
use tokio::time::Instant;

use super::rss_kib;
use crate::args::MemoryBenchArgs;
use crate::context::{mint, Context};
use crate::error::CliError;

/// Products the reservations spread over (the starting catalog has 20).
const PRODUCTS: u64 = 20;
/// Stock given to each product first, so that no reservation is short.
const STOCK: u64 = 1_000_000;

/// Latencies (µs) of the writes acknowledged since the sampler last took them.
type Window = Arc<Mutex<Vec<u32>>>;

/// One node as the sampler sees it.
#[derive(Debug, Clone)]
struct Node {
    id: u64,
    pid: u32,
    api: String,
    dir: PathBuf,
}

/// One sample of one node.
#[derive(Debug, Clone)]
struct Sample {
    t_s: f64,
    phase: &'static str,
    node: u64,
    rss_mib: f64,
    data_mib: f64,
    reservations: u64,
    retained: u64,
    writes_per_s: f64,
    p99_ms: f64,
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn p99_ms(lat: &mut [u32]) -> f64 {
    if lat.is_empty() {
        return 0.0;
    }
    lat.sort_unstable();
    let rank = ((0.99 * lat.len() as f64).ceil() as usize).clamp(1, lat.len());
    f64::from(lat[rank - 1]) / 1000.0
}

/// `catalog_reservations` and `catalog_settled_retained` from a node's `/metrics`.
async fn kept(transport: &Transport, api: &str) -> Option<(u64, u64)> {
    let r = transport
        .send(
            Method::GET,
            &format!("http://{api}/metrics"),
            &[],
            None,
            Duration::from_secs(2),
        )
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&r.body);
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    };
    Some((
        value("catalog_reservations")?,
        value("catalog_settled_retained")?,
    ))
}

/// Reserves one unit under `id` and settles it at once; every write's latency goes to
/// `window`. Returns whether every step was acknowledged.
async fn reserve_and_settle(
    client: &CatalogClient,
    windows: &[Window],
    id: String,
    close: bool,
    doce: u64,
) -> bool {
    let timed = |started: Instant| {
        let us = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        for w in windows {
            w.lock().unwrap_or_else(|e| e.into_inner()).push(us);
        }
    };
    let r = NovaReserva {
        id: id.clone(),
        itens: vec![ItemReserva {
            doce_id: doce,
            quantidade: 1,
        }],
        emitida_em: None,
    };
    let t = Instant::now();
    if client.reservar(&r).await.is_err() {
        return false;
    }
    timed(t);
    if close {
        for step in [true, false] {
            let t = Instant::now();
            let done = if step {
                client.confirmar(&id).await
            } else {
                client.encerrar(&id).await
            };
            if done.is_err() {
                return false;
            }
            timed(t);
        }
        true
    } else {
        let t = Instant::now();
        let ok = client.liberar(&id).await.is_ok();
        if ok {
            timed(t);
        }
        ok
    }
}

/// Runs `clients` workers over reservation numbers `0..count` (or until `until`), ids
/// `{prefix}-{n}`, every write's latency going to each of `windows`. Returns (settled,
/// failed).
async fn drive(
    client: &CatalogClient,
    windows: &[Window],
    prefix: &str,
    clients: usize,
    count: u64,
    until: Option<Instant>,
    close_every: u64,
) -> (u64, u64) {
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (client, windows, next, failed) = (
            client.clone(),
            windows.to_vec(),
            next.clone(),
            failed.clone(),
        );
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count || until.is_some_and(|u| Instant::now() >= u) {
                    return done;
                }
                let close = close_every > 0 && n % close_every == 0;
                let doce = 1 + n % PRODUCTS;
                if reserve_and_settle(&client, &windows, format!("{prefix}-{n}"), close, doce).await
                {
                    done += 1;
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut settled = 0;
    for t in tasks {
        settled += t.await.unwrap_or(0);
    }
    (settled, failed.load(Ordering::Relaxed))
}

/// `bench-memory`.
pub async fn bench_memory(ctx: &Context, args: &MemoryBenchArgs) -> Result<(), CliError> {
    let file = ctx.cluster_file()?;
    let retention = Duration::from_millis(file.raft.retention_ms);
    if retention.is_zero() {
        return Err(CliError::Other(
            "the cluster file keeps settled reservations forever (raft.retention_ms = 0)".into(),
        ));
    }
    let up = ctx.require_up().await?;
    let data_dir = ctx.data_dir(&file)?;
    let nodes: Vec<Node> = up
        .services
        .iter()
        .filter_map(|s| {
            let id = s.node_id?;
            Some(Node {
                id,
                pid: s.pid?,
                api: s.addr.clone(),
                dir: data_dir.join(format!("node-{id}")),
            })
        })
        .collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.api.clone()).collect();
    let admin = ctx.client().await?;
    for id in 1..=PRODUCTS {
        admin.set_estoque(id, STOCK).await?;
    }
    let client = CatalogClient::new(addrs)
        .with_token(mint(&file, TokenRole::Service, 24 * 3600)?)
        .with_policy(CallPolicy {
            deadline: Duration::from_secs(10),
            attempt: Duration::from_secs(4),
            backoff: Duration::from_millis(20),
        });

    // The sampler: one row per node per second.
    let window: Window = Arc::default();
    let phase = Arc::new(Mutex::new("fresh"));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let sampler = {
        let (window, phase, samples, stop, nodes) = (
            window.clone(),
            phase.clone(),
            samples.clone(),
            stop.clone(),
            nodes.clone(),
        );
        let every = Duration::from_millis(args.sample_ms.max(100));
        tokio::spawn(async move {
            let transport = Transport::http();
            let mut last = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(every).await;
                let mut lat =
                    std::mem::take(&mut *window.lock().unwrap_or_else(|e| e.into_inner()));
                let secs = last.elapsed().as_secs_f64();
                last = Instant::now();
                let writes_per_s = lat.len() as f64 / secs.max(1e-3);
                let p99 = p99_ms(&mut lat);
                let ph = *phase.lock().unwrap_or_else(|e| e.into_inner());
                let t_s = start.elapsed().as_secs_f64();
                let mut rows = Vec::new();
                for n in &nodes {
                    let (reservations, retained) = kept(&transport, &n.api).await.unwrap_or((0, 0));
                    rows.push(Sample {
                        t_s,
                        phase: ph,
                        node: n.id,
                        rss_mib: rss_kib(n.pid).unwrap_or(0) as f64 / 1024.0,
                        data_mib: dir_bytes(&n.dir) as f64 / (1024.0 * 1024.0),
                        reservations,
                        retained,
                        writes_per_s,
                        p99_ms: p99,
                    });
                }
                let line: Vec<String> = rows
                    .iter()
                    .map(|r| {
                        format!(
                            "n{} {:.0} MiB/{:.0} MiB kept {}",
                            r.node, r.rss_mib, r.data_mib, r.reservations
                        )
                    })
                    .collect();
                eprintln!(
                    "{t_s:>7.1}s {ph:<7} {writes_per_s:>7.0} writes/s p99 {p99:>7.2} ms  {}",
                    line.join("  ")
                );
                samples
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(rows);
            }
        })
    };
    let set_phase = |p: &'static str| *phase.lock().unwrap_or_else(|e| e.into_inner()) = p;
    let probe = Duration::from_secs_f64(args.probe_secs);
    let take = |w: &Window| std::mem::take(&mut *w.lock().unwrap_or_else(|e| e.into_inner()));

    // 1. A fresh shop: the write latency to compare with.
    let probe_window: Window = Arc::default();
    let both = [window.clone(), probe_window.clone()];
    let until = Some(Instant::now() + probe);
    drive(
        &client,
        &both,
        "fresh",
        args.clients,
        u64::MAX,
        until,
        args.close_every,
    )
    .await;
    let mut fresh = take(&probe_window);
    let fresh_p99 = p99_ms(&mut fresh);

    // 2. The history: many reservations, each settled at once.
    set_phase("load");
    let t = Instant::now();
    let (settled, failed) = drive(
        &client,
        std::slice::from_ref(&window),
        "r",
        args.clients,
        args.reservations,
        (args.max_load_secs > 0).then(|| t + Duration::from_secs(args.max_load_secs)),
        args.close_every,
    )
    .await;
    let load_secs = t.elapsed().as_secs_f64();
    eprintln!("{settled} reservations settled ({failed} failed) in {load_secs:.0} s");

    // 3. The window: wait until every node has forgotten them.
    set_phase("window");
    let deadline = Instant::now() + retention + Duration::from_secs(args.grace_secs);
    let transport = Transport::http();
    let forgotten_after = loop {
        let mut all = true;
        for n in &nodes {
            if kept(&transport, &n.api).await.is_none_or(|(_, r)| r > 0) {
                all = false;
            }
        }
        if all {
            break Some(t.elapsed().as_secs_f64() - load_secs);
        }
        if Instant::now() >= deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // A few samples of the idle shop with nothing settled left.
    set_phase("after");
    tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
    let after_rss: BTreeMap<u64, f64> = nodes
        .iter()
        .map(|n| (n.id, rss_kib(n.pid).unwrap_or(0) as f64 / 1024.0))
        .collect();
    let after_data: BTreeMap<u64, f64> = nodes
        .iter()
        .map(|n| (n.id, dir_bytes(&n.dir) as f64 / (1024.0 * 1024.0)))
        .collect();

    // 4. The same probe again.
    set_phase("probe");
    let until = Some(Instant::now() + probe);
    drive(
        &client,
        &both,
        "after",
        args.clients,
        u64::MAX,
        until,
        args.close_every,
    )
    .await;
    let mut again = take(&probe_window);
    let after_p99 = p99_ms(&mut again);
    tokio::time::sleep(Duration::from_millis(args.sample_ms.max(100) + 200)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;

    let samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
    write_csv(&args.csv, &samples)?;
    let peak = |f: fn(&Sample) -> f64, id: u64| {
        samples
            .iter()
            .filter(|s| s.node == id)
            .map(f)
            .fold(0.0f64, f64::max)
    };
    println!(
        "reservations: {settled} settled ({failed} failed) from {} connections in {load_secs:.0} s ({:.0}/s); retention window {} s",
        args.clients,
        settled as f64 / load_secs.max(1e-3),
        retention.as_secs_f64()
    );
    match forgotten_after {
        Some(s) => println!("every node had forgotten them {s:.0} s after the load ended"),
        None => println!(
            "NOT all forgotten within the window + {} s",
            args.grace_secs
        ),
    }
    println!("node  peak RSS MiB  RSS after window MiB  peak data MiB  data after window MiB");
    for n in &nodes {
        println!(
            "{:>4}  {:>12.1}  {:>20.1}  {:>13.1}  {:>21.1}",
            n.id,
            peak(|s| s.rss_mib, n.id),
            after_rss[&n.id],
            peak(|s| s.data_mib, n.id),
            after_data[&n.id]
        );
    }
    println!(
        "write p99: fresh {fresh_p99:.2} ms ({} writes), after the window {after_p99:.2} ms ({} writes): {:.2}x",
        fresh.len(),
        again.len(),
        after_p99 / fresh_p99.max(1e-6)
    );
    println!("CSV written to {}", args.csv.display());
    Ok(())
}

fn write_csv(path: &Path, rows: &[Sample]) -> Result<(), CliError> {
    let mut text = String::from(
        "t_s,phase,node,rss_mib,data_dir_mib,reservations,settled_retained,writes_per_s,write_p99_ms\n",
    );
    for r in rows {
        text.push_str(&format!(
            "{:.1},{},{},{:.1},{:.1},{},{},{:.0},{:.2}\n",
            r.t_s,
            r.phase,
            r.node,
            r.rss_mib,
            r.data_mib,
            r.reservations,
            r.retained,
            r.writes_per_s,
            r.p99_ms
        ));
    }
    std::fs::write(path, text).map_err(CliError::io(format!("writing {}", path.display())))
}
