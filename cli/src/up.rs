//! `up`: starts every service of the cluster file as a child process, waits until each is
//! ready (with a progress line), prints who runs where and who leads, serves `node kill` /
//! `node start` on its control socket, and stops everything on Ctrl-C or SIGTERM.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use confeitaria_client::config::ClusterFile;
use confeitaria_client::transport::Transport;
use http::Method;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::args::UpArgs;
use crate::context::Context;
use crate::control::{self, ControlReply, ControlRequest, UpState, SOCKET_FILE, STATE_FILE};
use crate::error::CliError;
use crate::output::table;
use crate::services::{self, Backing, Ready, ServiceSpec};
use crate::status::{gather, leader_of};
use crate::supervisor::Supervisor;

type ControlMsg = (ControlRequest, oneshot::Sender<ControlReply>);

/// Runs `up` until Ctrl-C or SIGTERM.
pub async fn up(ctx: &Context, args: &UpArgs) -> Result<(), CliError> {
    let file = ctx.cluster_file()?;
    let data_dir = ctx.data_dir(&file)?;
    std::fs::create_dir_all(&data_dir)
        .map_err(CliError::io(format!("creating {}", data_dir.display())))?;
    if let Some(st) = control::running(&data_dir).await {
        return Err(CliError::Other(format!(
            "`confeitaria up` is already running for {} (pid {})",
            data_dir.display(),
            st.pid
        )));
    }
    if args.fresh {
        erase(&data_dir)?;
    }
    let effective = data_dir.join("cluster.effective.toml");
    let previous = ClusterFile::load(&effective).ok();
    let file = services::with_learners(file, args.learners)?;
    let mut ports = services::FreePorts::default();
    let mut file = services::resolve_free_ports(file, previous.as_ref(), &mut ports)?;
    file.cluster.data_dir = data_dir.display().to_string();
    let redis_installed = services::on_path("redis-server");
    let (backing, redis) = services::with_redis(&mut file, &data_dir, redis_installed, &mut ports)?;
    // Freed only now, a moment before the services bind them.
    drop(ports);
    let text = toml::to_string(&file)
        .map_err(|e| CliError::Other(format!("encoding the cluster file: {e}")))?;
    std::fs::write(&effective, text)
        .map_err(CliError::io(format!("writing {}", effective.display())))?;
    let logs = data_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(CliError::io(format!("creating {}", logs.display())))?;
    let exe = std::env::current_exe().map_err(CliError::io("finding this executable"))?;
    // Redis last: the services connect to it lazily, and the table lists what the file names
    // first.
    let specs = services::plan(&file, &effective)
        .into_iter()
        .chain(redis)
        .collect();
    let mut sup = Supervisor::new(exe, logs.clone(), specs);

    let mut int = signal(SignalKind::interrupt()).map_err(CliError::io("listening for Ctrl-C"))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(CliError::io("listening for SIGTERM"))?;
    let socket = data_dir.join(SOCKET_FILE);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)
        .map_err(CliError::io(format!("binding {}", socket.display())))?;
    let (tx, mut rx) = mpsc::channel::<ControlMsg>(16);
    let acceptor = tokio::spawn(accept_control(listener, tx));
    let state = |sup: &Supervisor| UpState {
        pid: std::process::id(),
        control: socket.clone(),
        services: sup.rows(),
    };

    let started = sup.start_all();
    let outcome = match started {
        Err(e) => Err(e),
        Ok(()) => {
            state(&sup).write(&data_dir)?;
            tokio::select! {
                r = wait_ready(&mut sup, Duration::from_secs(args.timeout_secs), &logs) => r,
                _ = int.recv() => Err(CliError::Other("interrupted while starting".into())),
                _ = term.recv() => Err(CliError::Other("terminated while starting".into())),
            }
        }
    };
    if let Err(e) = outcome {
        shut_down(&mut sup, &data_dir, &socket, ctx.global.json).await;
        acceptor.abort();
        return Err(e);
    }
    print_ready(ctx, &sup, &backing).await;
    state(&sup).write(&data_dir)?;

    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = int.recv() => break,
            _ = term.recv() => break,
            Some((req, reply)) = rx.recv() => {
                let answer = sup.handle(&req).await;
                state(&sup).write(&data_dir)?;
                let _ = reply.send(answer);
            }
            _ = tick.tick() => {
                let gone = sup.reap();
                for (name, status) in &gone {
                    eprintln!("{name} exited on its own ({status}); {}", log_tail(&logs, name));
                }
                if !gone.is_empty() {
                    state(&sup).write(&data_dir)?;
                }
            }
        }
    }
    shut_down(&mut sup, &data_dir, &socket, ctx.global.json).await;
    acceptor.abort();
    Ok(())
}

async fn shut_down(sup: &mut Supervisor, data_dir: &Path, socket: &Path, json: bool) {
    if !json {
        eprintln!("stopping every service…");
    }
    sup.stop_all().await;
    let _ = std::fs::remove_file(data_dir.join(STATE_FILE));
    let _ = std::fs::remove_file(socket);
    if json {
        println!("{}", serde_json::json!({"event": "stopped"}));
    } else {
        println!("stopped; data kept in {}", data_dir.display());
    }
}

/// Removes what earlier runs left: the services' data, logs and state files.
fn erase(data_dir: &Path) -> Result<(), CliError> {
    let entries = std::fs::read_dir(data_dir)
        .map_err(CliError::io(format!("reading {}", data_dir.display())))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("node-")
            || [
                "cart",
                "orders",
                "gateway",
                "redis",
                "logs",
                "cluster.effective.toml",
            ]
            .contains(&name.as_str());
        if !ours {
            continue;
        }
        let path = e.path();
        let r = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        r.map_err(CliError::io(format!("erasing {}", path.display())))?;
    }
    Ok(())
}

/// Accepts control connections: one JSON request line, one JSON reply line each.
async fn accept_control(listener: UnixListener, tx: mpsc::Sender<ControlMsg>) {
    while let Ok((stream, _)) = listener.accept().await {
        let tx = tx.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = BufReader::new(read);
            let got =
                tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line)).await;
            let reply = match got {
                Ok(Ok(_)) => match serde_json::from_str::<ControlRequest>(&line) {
                    Ok(req) => {
                        let (rtx, rrx) = oneshot::channel();
                        if tx.send((req, rtx)).await.is_err() {
                            return;
                        }
                        match rrx.await {
                            Ok(r) => r,
                            Err(_) => return,
                        }
                    }
                    Err(e) => ControlReply {
                        error: Some(format!("bad request: {e}")),
                        services: Vec::new(),
                    },
                },
                _ => return,
            };
            if let Ok(mut bytes) = serde_json::to_vec(&reply) {
                bytes.push(b'\n');
                let _ = write.write_all(&bytes).await;
            }
        });
    }
}

/// Lines of a service's log shown when it exits unasked: enough for the error that stopped it.
const LOG_TAIL_LINES: usize = 8;

/// Where a service's log is and its last lines, so the reason a service stopped is in the
/// message itself (a test's or a container's data directory may be gone by the time one looks).
fn log_tail(logs: &Path, name: &str) -> String {
    let path = logs.join(format!("{name}.log"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n  ");
    format!("last lines of {}:\n  {tail}", path.display())
}

/// Waits until every service answers its readiness path, showing progress on stderr.
async fn wait_ready(sup: &mut Supervisor, timeout: Duration, logs: &Path) -> Result<(), CliError> {
    let transport = Transport::http();
    let started = Instant::now();
    let end = started + timeout;
    let tty = std::io::stderr().is_terminal();
    let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let mut ready = vec![false; sup.children.len()];
    let mut frame = 0usize;
    loop {
        if let Some((name, status)) = sup.reap().into_iter().next() {
            if tty {
                eprintln!();
            }
            return Err(CliError::Other(format!(
                "{name} exited while starting ({status}); {}",
                log_tail(logs, &name)
            )));
        }
        let checks = sup
            .children
            .iter()
            .enumerate()
            .filter(|(i, _)| !ready[*i])
            .map(|(i, s)| {
                let (spec, transport) = (s.spec.clone(), transport.clone());
                async move { (i, is_ready(&spec, &transport).await) }
            });
        for (i, ok) in futures::future::join_all(checks).await {
            if ok {
                ready[i] = true;
                if !tty {
                    eprintln!(
                        "{} ready after {:.1}s",
                        sup.children[i].spec.name,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }
        if tty {
            let parts: Vec<String> = sup
                .children
                .iter()
                .zip(&ready)
                .map(|(s, r)| format!("{} {}", s.spec.name, if *r { "✓" } else { "…" }))
                .collect();
            eprint!(
                "\r\x1b[2K{} starting {}/{}: {}  {:.1}s",
                frames[frame % frames.len()],
                ready.iter().filter(|r| **r).count(),
                ready.len(),
                parts.join("  "),
                started.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
            frame += 1;
        }
        if ready.iter().all(|r| *r) {
            if tty {
                eprintln!();
            }
            return Ok(());
        }
        if Instant::now() >= end {
            if tty {
                eprintln!();
            }
            let waiting: Vec<&str> = sup
                .children
                .iter()
                .zip(&ready)
                .filter(|(_, r)| !**r)
                .map(|(s, _)| s.spec.name.as_str())
                .collect();
            return Err(CliError::Timeout(format!(
                "{} not ready after {}s; logs in {}",
                waiting.join(", "),
                timeout.as_secs(),
                logs.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `spec` answers its readiness check, within 900 ms.
async fn is_ready(spec: &ServiceSpec, transport: &Transport) -> bool {
    let deadline = Duration::from_millis(900);
    match spec.ready {
        Ready::Http(path) => {
            let url = format!("{}{path}", spec.url());
            transport
                .send(Method::GET, &url, &[], None, deadline)
                .await
                .is_ok_and(|r| r.status.is_success())
        }
        Ready::RedisPing => {
            let ping = async {
                let mut c = tokio::net::TcpStream::connect(&spec.addr).await.ok()?;
                c.write_all(b"PING\r\n").await.ok()?;
                let mut buf = [0u8; 7];
                c.read_exact(&mut buf).await.ok()?;
                Some(&buf == b"+PONG\r\n")
            };
            tokio::time::timeout(deadline, ping)
                .await
                .ok()
                .flatten()
                .unwrap_or(false)
        }
    }
}

/// Prints the table of services with PID, URL and role, the store and broker of the cart
/// and orders, and the leader.
async fn print_ready(ctx: &Context, sup: &Supervisor, backing: &Backing) {
    let nodes: Vec<(Option<u64>, String)> = sup
        .children
        .iter()
        .filter_map(|s| s.spec.node_id.map(|id| (Some(id), s.spec.addr.clone())))
        .collect();
    let views = gather(&nodes, Duration::from_secs(1)).await;
    let leader = leader_of(&views);
    let role_of = |name: &str, id: Option<u64>| -> String {
        match id {
            None if name == "redis" => "store, broker".into(),
            None => "service".into(),
            Some(id) => views
                .iter()
                .find(|v| v.id == Some(id))
                .and_then(|v| v.status.as_ref())
                .map_or_else(
                    || "unknown".into(),
                    |s| format!("{:?}", s.role).to_lowercase(),
                ),
        }
    };
    if ctx.global.json {
        let services: Vec<serde_json::Value> = sup
            .rows()
            .into_iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name, "node_id": r.node_id, "pid": r.pid, "url": r.url,
                    "role": role_of(&r.name, r.node_id),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"event": "ready", "leader": leader.map(|l| l.0), "services": services,
                               "store": backing.store(), "broker": backing.broker()})
        );
        return;
    }
    let rows: Vec<Vec<String>> = sup
        .rows()
        .into_iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.pid.map_or_else(|| "-".into(), |p| p.to_string()),
                r.url.clone(),
                role_of(&r.name, r.node_id),
            ]
        })
        .collect();
    print!("{}", table(&["SERVICE", "PID", "URL", "ROLE"], &rows));
    if sup
        .children
        .iter()
        .any(|s| s.spec.name == "cart" || s.spec.name == "orders")
    {
        println!(
            "cart store: {}; order events: {}",
            backing.store(),
            backing.broker()
        );
    }
    match leader {
        Some((id, term)) => println!("leader: node {id} (term {term})"),
        None => println!("leader: none yet"),
    }
    if let Some(g) = sup.children.iter().find(|s| s.spec.name == "gateway") {
        println!(
            "shop: {}/  dashboard: {}/painel",
            g.spec.url(),
            g.spec.url()
        );
    }
    println!(
        "\nCtrl-C stops everything. In another terminal: `confeitaria watch`, then `confeitaria node kill {}`.",
        leader.map_or(1, |l| l.0)
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_stopped_service_is_reported_with_its_last_log_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.path().join("node-2.log"), log).unwrap();
        let tail = log_tail(dir.path(), "node-2");
        assert!(tail.contains("node-2.log"), "{tail}");
        assert!(tail.ends_with("line 13\n  line 14\n  line 15\n  line 16\n  line 17\n  line 18\n  line 19\n  line 20"), "{tail}");
        assert!(!tail.contains("line 12"), "{tail}");
        assert!(log_tail(dir.path(), "absent").contains("absent.log"));
    }
}
