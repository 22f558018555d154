//! Election safety: at most one leader per term (Raft §5.2). Every node's own view (its
//! openraft metrics) is sampled at every simulation step.
//!
//! openraft built in its default *advanced* mode (without the `single-term-leader`
//! feature) orders leader ids `(term, node)` totally and may elect several leaders in one
//! term, of which only the last — the highest node id — can commit. Under that mode the
//! property checked is the one openraft promises: at most one leader per `(term, node)`,
//! and within a term leadership only passes to higher node ids, so a lower id first seen
//! leading after a higher one is a violation. Under standard mode it is the textbook one.

use std::collections::BTreeMap;

use super::{LeaderSeen, RunData};
use crate::history::fmt_micros;

/// Whether the linked openraft may elect several leaders in one term (advanced mode).
pub fn several_leaders_per_term() -> bool {
    openraft::LeaderId::<u64>::new(4, 2) < openraft::LeaderId::new(4, 3)
}

/// One message per term whose leaders break the property.
pub fn check(run: &RunData) -> Vec<String> {
    let mut by_term: BTreeMap<u64, BTreeMap<u64, LeaderSeen>> = BTreeMap::new();
    for l in &run.leaders {
        let first = by_term
            .entry(l.term)
            .or_default()
            .entry(l.node)
            .or_insert(*l);
        if l.at < first.at {
            *first = *l;
        }
    }
    let mut out = Vec::new();
    for (term, leaders) in by_term {
        if leaders.len() < 2 {
            continue;
        }
        let who: Vec<String> = leaders
            .values()
            .map(|l| format!("n{} (first seen {})", l.node, fmt_micros(l.at)))
            .collect();
        if !run.several_leaders_per_term {
            out.push(format!(
                "term {term} had {} leaders: {}",
                leaders.len(),
                who.join(", ")
            ));
            continue;
        }
        // Advanced mode: first sightings must not decrease as node ids increase.
        let seen: Vec<&LeaderSeen> = leaders.values().collect();
        if seen.windows(2).any(|w| w[0].at > w[1].at) {
            out.push(format!(
                "term {term}: leadership passed to a lower node id: {}",
                who.join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(at: u64, node: u64, term: u64) -> LeaderSeen {
        LeaderSeen { at, node, term }
    }

    fn data(leaders: Vec<LeaderSeen>, several: bool) -> RunData {
        RunData {
            leaders,
            several_leaders_per_term: several,
            ..RunData::default()
        }
    }

    #[test]
    fn one_leader_per_term_passes_and_two_fail_in_standard_mode() {
        let ok = vec![seen(1, 1, 1), seen(2, 1, 1), seen(3, 2, 2)];
        assert!(check(&data(ok, false)).is_empty());
        let bad = vec![seen(1, 1, 3), seen(2, 2, 3)];
        assert_eq!(check(&data(bad, false)).len(), 1);
    }

    #[test]
    fn advanced_mode_allows_a_higher_id_later_in_the_term_but_not_a_lower_one() {
        let up = vec![seen(1, 2, 4), seen(1, 3, 4)];
        assert!(check(&data(up.clone(), true)).is_empty());
        assert_eq!(check(&data(up, false)).len(), 1);
        let down = vec![seen(1, 3, 4), seen(5, 2, 4)];
        assert_eq!(check(&data(down, true)).len(), 1);
    }

    #[test]
    fn the_linked_openraft_mode_is_detected() {
        // The workspace builds openraft without `single-term-leader` (advanced mode).
        assert!(several_leaders_per_term());
    }
}
