//! `local` reads never go backwards on one node: if a local read served by node N returned
//! before another local read served by N was invoked, the second saw an applied index at
//! least as high. (Across a restart too: the state machine is persisted, so a restarted node
//! resumes from where it was.)

use std::collections::BTreeMap;

use super::RunData;
use crate::history::{NodeId, Op, ReadLevel, Record};

/// One message per node whose local reads went backwards (the first instance).
pub fn check(run: &RunData) -> Vec<String> {
    let mut per_node: BTreeMap<NodeId, Vec<(&Record, u64)>> = BTreeMap::new();
    for r in &run.records {
        let Some((_, ReadLevel::Local, s)) = r.stock() else {
            continue;
        };
        let pinned = match r.op {
            Op::Read { node, .. } => node,
            _ => None,
        };
        let (Some(node), Some(applied)) = (s.served_by.or(pinned), s.applied) else {
            continue;
        };
        per_node.entry(node).or_default().push((r, applied));
    }
    let mut out = Vec::new();
    for (node, mut reads) in per_node {
        // Walk in invocation order, remembering the highest index among reads already
        // completed before each invocation.
        reads.sort_by_key(|(r, _)| (r.call, r.index));
        let mut by_return: Vec<(&Record, u64)> = reads.clone();
        by_return.sort_by_key(|(r, _)| (r.ret, r.index));
        let mut done = 0usize;
        let mut high: Option<(&Record, u64)> = None;
        for (r, applied) in &reads {
            while done < by_return.len() && by_return[done].0.ret < r.call {
                let cand = by_return[done];
                if high.is_none_or(|(_, h)| cand.1 > h) {
                    high = Some(cand);
                }
                done += 1;
            }
            if let Some((earlier, h)) = high {
                if *applied < h {
                    out.push(format!(
                        "node {node}: local read {r} saw applied index {applied}, after read \
                         {earlier} had seen {h}"
                    ));
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::*;

    #[test]
    fn a_later_local_read_seeing_an_older_index_is_caught_but_overlapping_ones_are_not() {
        let (rd, at7) = read(ReadLevel::Local, Some(2), c(5, 0, 0), Some(7));
        let (_, at6) = read(ReadLevel::Local, Some(2), c(5, 0, 0), Some(6));
        let overlapping = vec![
            rec(0, 0, 0, 10, rd.clone(), at7.clone()),
            rec(1, 1, 5, 15, rd.clone(), at6.clone()),
        ];
        assert!(check(&run(overlapping)).is_empty());
        let ordered = vec![
            rec(0, 0, 0, 10, rd.clone(), at7),
            rec(1, 1, 11, 15, rd, at6),
        ];
        assert_eq!(check(&run(ordered)).len(), 1);
    }
}
