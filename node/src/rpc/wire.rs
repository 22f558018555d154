//! The internal RPC protocol, defined once for both sides: the routes, the header that
//! carries the cluster secret, and every request and answer body (encoded by
//! [`raft_store::codec`], bincode). The client
//! ([`super::client`]) and the server ([`super::server`]) import it; it imports neither.

use confeitaria_types::{Membership, NodeAddr, NovoMembro};
use openraft::error::{ClientWriteError, RaftError};
use openraft::LogId;
use raft_store::{Command, CommandResult, NodeId, TypeConfig};
use serde::{Deserialize, Serialize};

/// Header carrying the cluster secret.
pub const SECRET_HEADER: &str = "x-cluster-secret";
/// Largest RPC body (a batch of log entries or a snapshot chunk).
pub const MAX_RPC_BODY: usize = 64 * 1024 * 1024;

/// The RPC routes, each a `POST` with an encoded body.
pub mod route {
    /// openraft's `AppendEntriesRequest`.
    pub const APPEND: &str = "/raft/append";
    /// openraft's `VoteRequest`.
    pub const VOTE: &str = "/raft/vote";
    /// openraft's `InstallSnapshotRequest`.
    pub const SNAPSHOT: &str = "/raft/snapshot";
    /// A [`super::ForwardRequest`] for the leader, answered with a [`super::ForwardResponse`].
    pub const FORWARD: &str = "/raft/forward";
    /// The leader's read index, answered with a [`super::ReadIndexResponse`].
    pub const READ_INDEX: &str = "/raft/read-index";
    /// The last entry of the receiver's log, answered with a [`super::LogPosition`].
    pub const LOG_STATE: &str = "/raft/log-state";
    /// A `NovoMembro` asking to be added, answered with a [`super::JoinResponse`].
    pub const JOIN: &str = "/raft/join";
    /// The receiver's newest membership, answered with a [`super::MembershipView`].
    pub const MEMBERSHIP: &str = "/raft/membership";
}

/// What a follower asks the leader to do on its behalf.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardRequest {
    /// Propose a catalog command.
    Write(Command),
    /// Add a node as a voter or a learner.
    AddMember(NovoMembro),
    /// Remove a node from the membership.
    RemoveMember(NodeId),
}

/// The leader's answer to a forwarded request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardResponse {
    /// The command was committed and applied; its result.
    Applied(CommandResult),
    /// The membership change was committed.
    MembershipChanged,
    /// The receiver is not the leader (any more); the leader it knows of, if any.
    NotLeader(Option<NodeId>),
    /// The leader could not complete the request.
    Failed(String),
    /// The leader refused the membership change as unsafe, and why.
    Refused(String),
    /// The node to remove is not a member.
    UnknownMember(NodeId),
}

/// What a client write or membership change returns on the leader.
pub type RaftWriteError = RaftError<NodeId, ClientWriteError<NodeId, NodeAddr>>;

impl ForwardResponse {
    /// A client write's outcome as a forward answer.
    pub fn from_client_write(
        r: Result<openraft::raft::ClientWriteResponse<TypeConfig>, RaftWriteError>,
    ) -> Self {
        match r {
            Ok(resp) => Self::Applied(resp.data),
            Err(e) => Self::from_raft_error(e),
        }
    }

    /// A refused write or membership change: not the leader (naming the one it knows), or
    /// failed.
    pub fn from_raft_error(e: RaftWriteError) -> Self {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                Self::NotLeader(f.leader_id)
            }
            RaftError::APIError(other) => Self::Failed(other.to_string()),
            RaftError::Fatal(f) => Self::Failed(f.to_string()),
        }
    }
}

/// The leader's answer to a read-index request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ReadIndexResponse {
    /// Apply up to this index, then read locally.
    Index(Option<u64>),
    /// The receiver is not the leader.
    NotLeader(Option<NodeId>),
}

/// A node's answer to [`route::LOG_STATE`]: the id of the last entry of its log.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LogPosition {
    /// The last log id, `None` for an empty log.
    pub last_log_id: Option<LogId<NodeId>>,
}

/// A join request's answer ([`route::JOIN`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum JoinResponse {
    /// The change is committed.
    Joined,
    /// Refused or failed, and why.
    Failed(String),
}

/// A node's effective membership and the log entry that set it ([`route::MEMBERSHIP`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipView {
    /// Id of the entry that set it; `None` before the cluster was initialized.
    pub log_id: Option<LogId<NodeId>>,
    /// Voters, learners and their addresses.
    pub membership: Membership,
}
