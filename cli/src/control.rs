//! How later commands reach a running `up`: its state file (`<data_dir>/up.json`: PIDs,
//! addresses, the control socket) and its control socket (one JSON line in, one out).
//!
//! The socket is a Unix socket in the data directory, so only users who can write there can
//! kill or start nodes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::error::CliError;

/// File name of the state file inside the data directory.
pub const STATE_FILE: &str = "up.json";
/// File name of the control socket inside the data directory.
pub const SOCKET_FILE: &str = "control.sock";
/// Longest a control request may take (a kill waits for the process to be reaped).
pub const CONTROL_DEADLINE: Duration = Duration::from_secs(15);

/// One service `up` supervises, as shown in tables and the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRow {
    /// `node-1`, `cart`, ...
    pub name: String,
    /// Catalog node id, for nodes.
    pub node_id: Option<u64>,
    /// PID while running.
    pub pid: Option<u32>,
    /// Base URL of its API.
    pub url: String,
    /// `host:port` of its API.
    pub addr: String,
    /// Whether its process is running.
    pub running: bool,
}

/// What `up` writes for other commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpState {
    /// PID of the `up` process.
    pub pid: u32,
    /// Path of its control socket.
    pub control: PathBuf,
    /// Every service, with the addresses actually used (ports 0 resolved).
    pub services: Vec<ServiceRow>,
}

impl UpState {
    /// Catalog nodes as `(id, api address)`.
    pub fn nodes(&self) -> Vec<(u64, String)> {
        self.services
            .iter()
            .filter_map(|s| s.node_id.map(|id| (id, s.addr.clone())))
            .collect()
    }

    /// Reads the state file in `data_dir`, if there is one.
    pub fn read(data_dir: &Path) -> Option<UpState> {
        let text = std::fs::read_to_string(data_dir.join(STATE_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the state file into `data_dir` (atomically: temp file, then rename).
    pub fn write(&self, data_dir: &Path) -> Result<(), CliError> {
        let path = data_dir.join(STATE_FILE);
        let tmp = data_dir.join(format!("{STATE_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| CliError::Other(format!("encoding state: {e}")))?;
        std::fs::write(&tmp, text).map_err(CliError::io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(CliError::io(format!("writing {}", path.display())))
    }
}

/// A request to `up`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum ControlRequest {
    /// The services and their PIDs.
    List,
    /// SIGKILL catalog node `node`; answered once the process is gone.
    Kill {
        /// Node id.
        node: u64,
    },
    /// Start catalog node `node` again.
    Start {
        /// Node id.
        node: u64,
    },
    /// SIGKILL the service named `name` (`orders`, `cart`, `redis`, ...: a row's name);
    /// answered once the process is gone. What `confeitaria demo` crashes orders and Redis
    /// with.
    KillService {
        /// The service's name, as in `up`'s table.
        name: String,
    },
    /// Start the service named `name` again.
    StartService {
        /// The service's name.
        name: String,
    },
}

/// `up`'s answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ControlReply {
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// The services after the request.
    pub services: Vec<ServiceRow>,
}

/// Sends one request to the control socket at `path` and reads the reply.
pub async fn request(path: &Path, req: &ControlRequest) -> Result<ControlReply, CliError> {
    let fut = async {
        let mut stream = UnixStream::connect(path)
            .await
            .map_err(|_| CliError::NotRunning(path.display().to_string()))?;
        let mut line = serde_json::to_vec(req)
            .map_err(|e| CliError::Other(format!("encoding request: {e}")))?;
        line.push(b'\n');
        stream
            .write_all(&line)
            .await
            .map_err(CliError::io("writing to the control socket"))?;
        let mut reader = BufReader::new(stream);
        let mut answer = String::new();
        reader
            .read_line(&mut answer)
            .await
            .map_err(CliError::io("reading the control socket"))?;
        let reply: ControlReply = serde_json::from_str(&answer)
            .map_err(|e| CliError::Other(format!("unexpected answer from `up`: {e}")))?;
        match reply.error {
            Some(e) => Err(CliError::Other(e)),
            None => Ok(reply),
        }
    };
    tokio::time::timeout(CONTROL_DEADLINE, fut)
        .await
        .map_err(|_| CliError::Timeout("`up` did not answer".into()))?
}

/// The state of the `up` running on `data_dir`, if one answers on its control socket.
pub async fn running(data_dir: &Path) -> Option<UpState> {
    let mut state = UpState::read(data_dir)?;
    let reply = request(&state.control, &ControlRequest::List).await.ok()?;
    state.services = reply.services;
    Some(state)
}
