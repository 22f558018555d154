//! [`CliError`]: everything a command can fail with, each printed as one friendly line.

use confeitaria_client::config::ConfigError;
use confeitaria_client::ClientError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The cluster file is missing or invalid.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The catalog answered with an error, or could not be reached.
    #[error("catalog: {0}")]
    Client(#[from] ClientError),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// `up` is not running for this cluster file, so there is nothing to kill or start.
    #[error("no `confeitaria up` is running for {0} (start one first)")]
    NotRunning(String),
    /// The cluster has no leader.
    #[error("no leader: {0}")]
    NoLeader(String),
    /// A wait ran out.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Anything else, with a message meant for the user.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let what = what.into();
        move |source| CliError::Io { what, source }
    }

    /// The process exit code: 2 when the cluster has no leader, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::NoLeader(_) => 2,
            _ => 1,
        }
    }
}
