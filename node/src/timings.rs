//! The Raft-side histograms the node observes into (registered by [`crate::metrics`]).

use confeitaria_service::metrics::step_histogram;
use prometheus_client::metrics::histogram::Histogram;

/// The Raft-side histograms. Cheap to clone: clones observe into the same histograms.
#[derive(Debug, Clone)]
pub struct RaftTimings {
    /// Seconds per log append (write and flush).
    pub append: Histogram,
    /// Seconds per applied batch of entries.
    pub apply: Histogram,
    /// Seconds per read-index round.
    pub read_index: Histogram,
    /// Seconds per follower→leader forward.
    pub forward: Histogram,
}

impl Default for RaftTimings {
    fn default() -> Self {
        Self {
            append: step_histogram(),
            apply: step_histogram(),
            read_index: step_histogram(),
            forward: step_histogram(),
        }
    }
}
