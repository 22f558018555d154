//! [`Supervisor`]: the child processes `up` runs, one per service.
//!
//! Each child is this executable with a hidden `serve-*` subcommand, in its own process
//! group (so a Ctrl-C in the terminal reaches only `up`, which then stops the children in
//! order), its output appended to `<data_dir>/logs/<name>.log`, and its standard input a
//! pipe that `up` holds: closing it asks the child to stop cleanly.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, ChildStdin, Command};
use tokio::time::Instant;

use crate::control::{ControlReply, ControlRequest, ServiceRow};
use crate::error::CliError;
use crate::services::ServiceSpec;

/// How long a child may take to stop cleanly before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// One service and, while it runs, its process.
#[derive(Debug)]
pub struct Supervised {
    /// How to start it.
    pub spec: ServiceSpec,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
}

impl Supervised {
    /// PID while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Whether its process runs.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    fn row(&self) -> ServiceRow {
        ServiceRow {
            name: self.spec.name.clone(),
            node_id: self.spec.node_id,
            pid: self.pid(),
            url: self.spec.url(),
            addr: self.spec.addr.clone(),
            running: self.running(),
        }
    }
}

/// The children of one `up`.
#[derive(Debug)]
pub struct Supervisor {
    exe: PathBuf,
    logs: PathBuf,
    /// The services, in start order.
    pub children: Vec<Supervised>,
}

impl Supervisor {
    /// A supervisor of `specs`, started from `exe`, logging into `logs`.
    pub fn new(exe: PathBuf, logs: PathBuf, specs: Vec<ServiceSpec>) -> Self {
        let children = specs
            .into_iter()
            .map(|spec| Supervised {
                spec,
                child: None,
                stdin: None,
            })
            .collect();
        Self {
            exe,
            logs,
            children,
        }
    }

    /// Rows for tables and the state file.
    pub fn rows(&self) -> Vec<ServiceRow> {
        self.children.iter().map(Supervised::row).collect()
    }

    fn spawn(&self, spec: &ServiceSpec) -> Result<(Child, Option<ChildStdin>), CliError> {
        let log_path = self.logs.join(format!("{}.log", spec.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(CliError::io(format!("opening {}", log_path.display())))?;
        let err = log
            .try_clone()
            .map_err(CliError::io(format!("opening {}", log_path.display())))?;
        let mut cmd = Command::new(spec.program.as_ref().unwrap_or(&self.exe));
        cmd.args(&spec.args)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info,openraft=warn");
        }
        let mut child = cmd
            .spawn()
            .map_err(CliError::io(format!("starting {}", spec.name)))?;
        let stdin = child.stdin.take();
        Ok((child, stdin))
    }

    /// Starts every service that is not running.
    pub fn start_all(&mut self) -> Result<(), CliError> {
        for i in 0..self.children.len() {
            if !self.children[i].running() {
                self.start(i)?;
            }
        }
        Ok(())
    }

    fn start(&mut self, i: usize) -> Result<(), CliError> {
        let (child, stdin) = self.spawn(&self.children[i].spec)?;
        let s = &mut self.children[i];
        s.child = Some(child);
        s.stdin = stdin;
        Ok(())
    }

    fn node_index(&self, id: u64) -> Result<usize, String> {
        self.children
            .iter()
            .position(|s| s.spec.node_id == Some(id))
            .ok_or_else(|| format!("there is no node {id}"))
    }

    fn service_index(&self, name: &str) -> Result<usize, String> {
        self.children
            .iter()
            .position(|s| s.spec.name == name)
            .ok_or_else(|| format!("there is no service {name}"))
    }

    /// SIGKILLs child `i` and reaps it.
    async fn kill(&mut self, i: usize) -> Result<(), String> {
        let s = &mut self.children[i];
        let Some(mut child) = s.child.take() else {
            return Err(format!("{} is not running", s.spec.name));
        };
        s.stdin = None;
        child
            .kill()
            .await
            .map_err(|e| format!("killing {}: {e}", s.spec.name))
    }

    /// Carries out one control request.
    pub async fn handle(&mut self, req: &ControlRequest) -> ControlReply {
        let target = match req {
            ControlRequest::List => return self.reply(Ok(())),
            ControlRequest::Kill { node } | ControlRequest::Start { node } => {
                self.node_index(*node)
            }
            ControlRequest::KillService { name } | ControlRequest::StartService { name } => {
                self.service_index(name)
            }
        };
        let kill = matches!(
            req,
            ControlRequest::Kill { .. } | ControlRequest::KillService { .. }
        );
        let outcome = match target {
            Err(e) => Err(e),
            Ok(i) if kill => self.kill(i).await.map(|()| {
                eprintln!("{} killed (SIGKILL)", self.children[i].spec.name);
            }),
            Ok(i) if self.children[i].running() => Err(format!(
                "{} is already running (pid {})",
                self.children[i].spec.name,
                self.children[i].pid().unwrap_or_default()
            )),
            Ok(i) => self.start(i).map_err(|e| e.to_string()).map(|()| {
                let s = &self.children[i];
                eprintln!(
                    "{} started (pid {})",
                    s.spec.name,
                    s.pid().unwrap_or_default()
                );
            }),
        };
        self.reply(outcome)
    }

    fn reply(&self, outcome: Result<(), String>) -> ControlReply {
        ControlReply {
            error: outcome.err(),
            services: self.rows(),
        }
    }

    /// Notices children that exited on their own; returns their names and statuses.
    pub fn reap(&mut self) -> Vec<(String, String)> {
        let mut gone = Vec::new();
        for s in &mut self.children {
            let exited = match s.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Err(e)) => Some(e.to_string()),
                _ => None,
            };
            if let Some(status) = exited {
                s.child = None;
                s.stdin = None;
                gone.push((s.spec.name.clone(), status));
            }
        }
        gone
    }

    /// Stops every child: services first, then what they stand on (Redis), catalog nodes
    /// last; each is asked to stop by closing its standard input and killed if it has not
    /// within [`STOP_GRACE`].
    pub async fn stop_all(&mut self) {
        let stage = |s: &ServiceSpec| match (s.node_id, &s.program) {
            (Some(_), _) => 2,
            (None, Some(_)) => 1,
            (None, None) => 0,
        };
        let groups: Vec<Vec<usize>> = (0..3)
            .map(|g| {
                (0..self.children.len())
                    .filter(|i| stage(&self.children[*i].spec) == g)
                    .collect()
            })
            .collect();
        for group in groups {
            for i in &group {
                self.children[*i].stdin = None;
            }
            let end = Instant::now() + STOP_GRACE;
            for i in group {
                let s = &mut self.children[i];
                if let Some(mut child) = s.child.take() {
                    match tokio::time::timeout_at(end, child.wait()).await {
                        Ok(_) => {}
                        Err(_) => {
                            eprintln!("{} did not stop in time; killing it", s.spec.name);
                            let _ = child.kill().await;
                        }
                    }
                }
            }
        }
    }
}
