//! Replicas agree: any two reads served at the same applied index, by whichever node and at
//! whichever level, saw the same counters — the state machine is deterministic, so a
//! disagreement means a replica applied a different log.

use std::collections::BTreeMap;

use super::RunData;
use crate::history::{Counters, ProductId, Record};

/// One message per (product, applied index) with disagreeing reads.
pub fn check(run: &RunData) -> Vec<String> {
    let mut seen: BTreeMap<(ProductId, u64), (&Record, Counters)> = BTreeMap::new();
    let mut out = Vec::new();
    for r in &run.records {
        let Some((product, _, s)) = r.stock() else {
            continue;
        };
        let Some(applied) = s.applied else {
            continue;
        };
        match seen.get(&(product, applied)) {
            None => {
                seen.insert((product, applied), (r, s.counters));
            }
            Some((first, c)) if *c != s.counters => out.push(format!(
                "product {product} at applied index {applied}: read {first} and read {r} disagree"
            )),
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::*;
    use crate::history::ReadLevel;

    #[test]
    fn two_nodes_disagreeing_at_one_index_are_caught() {
        let (r1, a) = read(ReadLevel::Local, Some(1), c(5, 0, 0), Some(9));
        let (r2, b) = read(ReadLevel::Local, Some(2), c(4, 1, 0), Some(9));
        let (r3, c10) = read(ReadLevel::Local, Some(3), c(4, 1, 0), Some(10));
        let h = vec![rec(0, 0, 0, 1, r1, a), rec(1, 1, 0, 1, r3, c10)];
        assert!(check(&run(h.clone())).is_empty());
        let mut h = h;
        h.push(rec(2, 2, 0, 1, r2, b));
        assert_eq!(check(&run(h)).len(), 1);
    }
}
