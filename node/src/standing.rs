//! What a node has learnt of its own standing from its peers (see [`crate::membership`]):
//! the newest membership they showed it, whether it is still joining, and how a membership is
//! named in a `not_a_member` answer.

use std::sync::atomic::AtomicBool;

use confeitaria_types::Membership;

use crate::rpc::wire::MembershipView;

/// What this node has learnt of its own standing from its peers.
#[derive(Debug, Default)]
pub struct Standing {
    // A std mutex: read or replaced whole, never held across an `.await`.
    newest_seen: std::sync::Mutex<Option<MembershipView>>,
    /// Set while a node started to join is not yet a member: it is joining, not removed.
    pub joining: AtomicBool,
}

impl Standing {
    /// The newest membership a peer showed this node, if newer than its own when seen.
    pub(crate) fn seen(&self) -> Option<MembershipView> {
        self.newest_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records what the peers showed (`None`: this node is in contact with a leader).
    pub(crate) fn set_seen(&self, v: Option<MembershipView>) {
        *self.newest_seen.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }
}

/// A sentence naming the members of `m`, for `not_a_member` answers.
pub fn describe(m: &Membership) -> String {
    let name = |id: &u64| match m.nodes.get(id) {
        Some(a) => format!("{id} ({})", a.api_addr),
        None => id.to_string(),
    };
    let voters: Vec<String> = m.voters.iter().map(name).collect();
    let learners: Vec<String> = m.learners.iter().map(name).collect();
    if learners.is_empty() {
        format!("voters {}", voters.join(", "))
    } else {
        format!(
            "voters {}; learners {}",
            voters.join(", "),
            learners.join(", ")
        )
    }
}
