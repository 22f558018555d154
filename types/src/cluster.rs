//! Node addresses and the `/cluster/status` document.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::schema::NoId;

/// Where a catalog node listens: its public API and its Raft RPC port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeAddr {
    /// `host:port` of the REST API.
    pub api_addr: String,
    /// `host:port` of the Raft RPC listener.
    pub rpc_addr: String,
}

/// Role of a node as it sees itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Leads the current term.
    Leader,
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking for votes.
    Candidate,
    /// Receives the log but does not vote.
    Learner,
    /// Stopped or shutting down.
    Shutdown,
    /// Removed from the membership: it serves nothing but its status (503 `not_a_member`).
    Removed,
}

/// `GET /cluster/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClusterStatus {
    /// This node's id.
    pub id: u64,
    /// This node's role.
    pub role: Role,
    /// Current term.
    pub term: u64,
    /// Leader id, when one is known.
    pub leader: Option<u64>,
    /// API address of the leader, when known.
    pub leader_api_addr: Option<String>,
    /// Highest index this node knows committed (on the leader: its own).
    pub commit_index: Option<u64>,
    /// Highest index applied to this node's state machine.
    pub applied_index: Option<u64>,
    /// Last index in this node's log.
    pub last_log_index: Option<u64>,
    /// Voting members and learners with their addresses.
    pub membership: Membership,
    /// Milliseconds since the leader last heard from each peer (leader only), by node id.
    #[schema(value_type = BTreeMap<String, Option<u64>>)]
    pub last_contact_ms: BTreeMap<u64, Option<u64>>,
}

/// Current membership.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Membership {
    /// Voting member ids.
    pub voters: Vec<u64>,
    /// Members that replicate the log and serve reads but never vote.
    #[serde(default)]
    #[schema(required = true)]
    pub learners: Vec<u64>,
    /// Every node (voters and learners) with its addresses, by node id (a JSON object's keys
    /// are strings).
    #[schema(value_type = BTreeMap<String, NodeAddr>)]
    pub nodes: BTreeMap<u64, NodeAddr>,
}

impl Membership {
    /// Whether `id` is a voter or a learner.
    pub fn contains(&self, id: u64) -> bool {
        self.nodes.contains_key(&id)
    }
}

/// `GET /cluster/members`: the membership this node knows (the newest it has seen, its own
/// or a peer's) and the leader it follows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Members {
    /// The node that answered.
    pub id: u64,
    /// The leader it knows, if any.
    pub leader: Option<u64>,
    /// Whether the node that answered is itself a member.
    pub member: bool,
    /// Voters, learners and their addresses.
    #[serde(flatten)]
    pub membership: Membership,
}

/// The part a node plays in the membership: a voter counts towards quorums and may lead; a
/// learner only replicates the log and serves reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// Votes, may lead, counts towards every quorum.
    #[default]
    Voter,
    /// Replicates the log and serves reads; never votes, never slows a write.
    Learner,
}

/// Body of `POST /cluster/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NovoMembro {
    /// Id of the node to add.
    #[schema(value_type = NoId)]
    #[serde(deserialize_with = "crate::whole::u64")]
    pub id: u64,
    /// Its REST API address.
    pub api_addr: String,
    /// Its Raft RPC address.
    pub rpc_addr: String,
    /// `voter` (the default): added as a learner, promoted once caught up if the strict
    /// reconfiguration check allows; `learner`: replicates and serves reads, never votes.
    #[serde(default)]
    #[schema(default = "voter")]
    pub role: MemberRole,
}
