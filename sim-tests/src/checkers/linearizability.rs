//! Linearizability of each product's stock history: Wing & Gong's search for a legal order
//! of the operations that respects real time, with Lowe's memoization of (set of operations
//! linearized, model state) so no configuration is explored twice.
//!
//! Operations with an unknown outcome stay open to the end of time: the search may place
//! them anywhere after their invocation, or never (which is the same as placing them after
//! every other operation). Events at the same instant are taken as concurrent, which can
//! only hide a violation, never invent one. The model is [`crate::model`].

use std::collections::{BTreeMap, HashSet};

use super::RunData;
use crate::history::{fmt_micros, Micros, Record};
use crate::model::{ProductState, Projection};

/// Most search steps per product before the check gives up and says so (a failure: a check
/// that cannot conclude must not pass silently).
pub const MAX_STEPS: u64 = 5_000_000;

/// Checks every product's projection; one message per product that is not linearizable.
pub fn check(run: &RunData) -> Vec<String> {
    let mut out = Vec::new();
    for (&product, &initial) in &run.initial {
        let proj = Projection::new(product, &run.records).with_expiry(run.expiry);
        let ops: Vec<&Record> = run
            .records
            .iter()
            .filter(|r| proj.includes(&r.op))
            .collect();
        if let Err(e) = search(&proj, proj.initial(initial), &ops) {
            out.push(format!("product {product}: {e}"));
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Call,
    Return,
}

#[derive(Debug, Clone, Copy)]
struct Event {
    kind: Kind,
    op: usize,
    time: Micros,
}

/// A doubly linked list of call and return events, from which linearized operations are
/// lifted and put back.
struct Events {
    ev: Vec<Event>,
    next: Vec<usize>,
    prev: Vec<usize>,
    call_of: Vec<usize>,
    ret_of: Vec<usize>,
}

const HEAD: usize = 0;
const NONE: usize = usize::MAX;

impl Events {
    fn new(ops: &[&Record]) -> Self {
        let mut ev: Vec<Event> = Vec::with_capacity(ops.len() * 2);
        for (i, r) in ops.iter().enumerate() {
            let ret = if r.is_unknown() { Micros::MAX } else { r.ret };
            ev.push(Event {
                kind: Kind::Call,
                op: i,
                time: r.call,
            });
            ev.push(Event {
                kind: Kind::Return,
                op: i,
                time: ret,
            });
        }
        // Calls before returns at the same instant: ties count as concurrent.
        ev.sort_by_key(|e| (e.time, e.kind == Kind::Return, e.op));
        // Node 0 is the head sentinel; event k lives at node k + 1.
        let n = ev.len() + 1;
        let mut next = vec![NONE; n];
        let mut prev = vec![NONE; n];
        for k in 0..n {
            next[k] = if k + 1 < n { k + 1 } else { NONE };
            prev[k] = if k == 0 { NONE } else { k - 1 };
        }
        let mut call_of = vec![0; ops.len()];
        let mut ret_of = vec![0; ops.len()];
        for (k, e) in ev.iter().enumerate() {
            match e.kind {
                Kind::Call => call_of[e.op] = k + 1,
                Kind::Return => ret_of[e.op] = k + 1,
            }
        }
        Self {
            ev,
            next,
            prev,
            call_of,
            ret_of,
        }
    }

    fn event(&self, node: usize) -> Event {
        self.ev[node - 1]
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        if n != NONE {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        if n != NONE {
            self.prev[n] = node;
        }
    }

    /// Removes an operation's call and return.
    fn lift(&mut self, op: usize) {
        self.unlink(self.call_of[op]);
        self.unlink(self.ret_of[op]);
    }

    /// Puts them back (in reverse order of removal).
    fn unlift(&mut self, op: usize) {
        self.relink(self.ret_of[op]);
        self.relink(self.call_of[op]);
    }
}

struct Frame {
    op: usize,
    before: ProductState,
    /// Successor states of `op` from `before` not tried yet.
    untried: Vec<ProductState>,
}

/// Searches for a linearization; on failure, explains where the longest one got stuck.
fn search(proj: &Projection, initial: ProductState, ops: &[&Record]) -> Result<(), String> {
    let mut events = Events::new(ops);
    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut required = ops.iter().filter(|r| !r.is_unknown()).count();
    let mut cache: HashSet<(Vec<u64>, ProductState)> = HashSet::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut state = initial;
    let mut node = events.next[HEAD];
    let mut steps: u64 = 0;
    // The deepest prefix reached, for the report.
    let mut best: (usize, Vec<usize>, ProductState, Option<usize>) =
        (0, Vec::new(), state.clone(), None);

    loop {
        if required == 0 {
            return Ok(());
        }
        steps += 1;
        if steps > MAX_STEPS {
            return Err(format!(
                "inconclusive: no verdict within {MAX_STEPS} search steps ({} operations)",
                ops.len()
            ));
        }
        if node == NONE {
            // Only open (unknown) operations are left unplaced, yet some required remain:
            // cannot happen, as every required return is in the list; treat as a dead end.
            return Err("internal: ran off the event list".into());
        }
        let e = events.event(node);
        match e.kind {
            Kind::Call => {
                let succ = proj.step(&state, &ops[e.op].op, &ops[e.op].outcome);
                let mut pushed = false;
                let mut untried = succ;
                while let Some(s) = pop_front(&mut untried) {
                    let mut lin = linearized.clone();
                    lin[e.op / 64] |= 1 << (e.op % 64);
                    if cache.insert((lin.clone(), s.clone())) {
                        stack.push(Frame {
                            op: e.op,
                            before: std::mem::replace(&mut state, s),
                            untried,
                        });
                        linearized = lin;
                        if !ops[e.op].is_unknown() {
                            required -= 1;
                        }
                        events.lift(e.op);
                        node = events.next[HEAD];
                        pushed = true;
                        if stack.len() > best.0 {
                            best = (
                                stack.len(),
                                stack.iter().map(|f| f.op).collect(),
                                state.clone(),
                                None,
                            );
                        }
                        break;
                    }
                }
                if !pushed {
                    node = events.next[node];
                }
            }
            Kind::Return => {
                if stack.len() == best.0 && best.3.is_none() {
                    best.3 = Some(e.op);
                }
                // Backtrack: undo the last placement, trying its other successors first.
                let Some(f) = stack.pop() else {
                    return Err(explain(ops, &best));
                };
                let Frame {
                    op,
                    before,
                    mut untried,
                } = f;
                events.unlift(op);
                linearized[op / 64] &= !(1 << (op % 64));
                if !ops[op].is_unknown() {
                    required += 1;
                }
                state = before;
                node = events.next[events.call_of[op]];
                while let Some(s) = pop_front(&mut untried) {
                    let mut lin = linearized.clone();
                    lin[op / 64] |= 1 << (op % 64);
                    if cache.insert((lin.clone(), s.clone())) {
                        stack.push(Frame {
                            op,
                            before: std::mem::replace(&mut state, s),
                            untried,
                        });
                        linearized = lin;
                        if !ops[op].is_unknown() {
                            required -= 1;
                        }
                        events.lift(op);
                        node = events.next[HEAD];
                        break;
                    }
                }
            }
        }
    }
}

fn pop_front(v: &mut Vec<ProductState>) -> Option<ProductState> {
    if v.is_empty() {
        None
    } else {
        Some(v.remove(0))
    }
}

fn explain(ops: &[&Record], best: &(usize, Vec<usize>, ProductState, Option<usize>)) -> String {
    let (depth, order, state, stuck) = best;
    let required = ops.iter().filter(|r| !r.is_unknown()).count();
    let mut msg = format!(
        "not linearizable: at best {depth} of {} operations ({required} acknowledged or refused) \
         could be ordered",
        ops.len()
    );
    let tail: Vec<String> = order
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(|&i| format!("#{}", ops[i].index))
        .collect();
    msg.push_str(&format!(
        "; that order ends with {} leaving {}",
        tail.join(" "),
        describe(state)
    ));
    if let Some(op) = stuck {
        let r = ops[*op];
        msg.push_str(&format!(
            "; then nothing legal could take #{} ({} -> {}, {} .. {})",
            r.index,
            r.op,
            r.outcome,
            fmt_micros(r.call),
            if r.ret == Micros::MAX {
                "open".into()
            } else {
                fmt_micros(r.ret)
            }
        ));
    }
    msg
}

fn describe(s: &ProductState) -> String {
    let open: BTreeMap<usize, String> = s
        .slots
        .iter()
        .enumerate()
        .filter(|(_, e)| **e != crate::model::Slot::Absent)
        .map(|(i, e)| (i, format!("{e:?}")))
        .collect();
    format!(
        "stock {} with {} reservations known",
        s.counters,
        open.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Counters, Observed, Op, Outcome, ReadLevel, Refusal, StockRead};

    fn read(index: usize, call: Micros, ret: Micros, disp: i64, res: i64) -> Record {
        Record {
            index,
            process: index,
            op: Op::Read {
                product: 1,
                level: ReadLevel::Linearizable,
                node: None,
            },
            call,
            ret,
            outcome: Outcome::Ok(Observed::Stock(StockRead {
                counters: Counters {
                    disponivel: disp,
                    reservado: res,
                    vendido: 0,
                },
                recebido: disp + res,
                applied: None,
                served_by: None,
            })),
        }
    }

    fn reserve(index: usize, call: Micros, ret: Micros, q: u64, outcome: Outcome) -> Record {
        Record {
            index,
            process: index,
            op: Op::Reserve {
                rid: format!("r{index}"),
                items: vec![(1, q)],
                issued: None,
            },
            call,
            ret,
            outcome,
        }
    }

    fn release_r0(index: usize, call: Micros, ret: Micros) -> Record {
        Record {
            index,
            process: index,
            op: Op::Release { rid: "r0".into() },
            call,
            ret,
            outcome: Outcome::Ok(Observed::Reservation(Some(
                crate::history::Estado::Liberada,
            ))),
        }
    }

    fn reserved() -> Outcome {
        Outcome::Ok(Observed::Reservation(Some(
            crate::history::Estado::Reservada,
        )))
    }

    fn run(records: Vec<Record>) -> Vec<String> {
        let data = RunData {
            records,
            initial: [(
                1,
                Counters {
                    disponivel: 5,
                    reservado: 0,
                    vendido: 0,
                },
            )]
            .into(),
            ..RunData::default()
        };
        check(&data)
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = vec![
            reserve(0, 0, 10, 2, reserved()),
            read(1, 20, 30, 3, 2),
            reserve(
                2,
                40,
                50,
                4,
                Outcome::Fail(Refusal::InsufficientStock(Some(1))),
            ),
        ];
        assert!(run(h).is_empty());
    }

    #[test]
    fn stale_read_after_acknowledged_write_is_caught() {
        let h = vec![reserve(0, 0, 10, 2, reserved()), read(1, 20, 30, 5, 0)];
        let v = run(h);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("#1"), "{v:?}");
    }

    #[test]
    fn concurrent_read_may_see_either_state() {
        let h = vec![
            reserve(0, 0, 100, 2, reserved()),
            read(1, 10, 20, 5, 0),
            read(2, 30, 40, 3, 2),
        ];
        assert!(run(h).is_empty());
        // ... but not go back once the new state was seen.
        let h = vec![
            reserve(0, 0, 100, 2, reserved()),
            read(1, 10, 20, 3, 2),
            read(2, 30, 40, 5, 0),
        ];
        assert_eq!(run(h).len(), 1);
    }

    #[test]
    fn unknown_write_may_apply_late_or_never() {
        let unknown = Outcome::Unknown("timeout".into());
        let late = vec![
            reserve(0, 0, 10, 2, unknown.clone()),
            read(1, 20, 30, 5, 0),
            read(2, 40, 50, 3, 2),
        ];
        assert!(run(late).is_empty());
        let never = vec![reserve(0, 0, 10, 2, unknown), read(1, 20, 30, 5, 0)];
        assert!(run(never).is_empty());
    }

    #[test]
    fn a_two_product_reservation_refused_for_the_other_product_is_a_no_op_here() {
        let two = Record {
            index: 0,
            process: 0,
            op: Op::Reserve {
                rid: "r0".into(),
                items: vec![(1, 2), (2, 9)],
                issued: None,
            },
            call: 0,
            ret: 10,
            outcome: Outcome::Fail(Refusal::InsufficientStock(Some(2))),
        };
        assert!(run(vec![two.clone(), read(1, 20, 30, 5, 0)]).is_empty());
        // But product 1 is checked first: naming product 2 says product 1 had enough.
        let short_here = Record {
            op: Op::Reserve {
                rid: "r0".into(),
                items: vec![(1, 9), (2, 1)],
                issued: None,
            },
            ..two
        };
        assert_eq!(run(vec![short_here]).len(), 1);
    }

    #[test]
    fn confirm_and_release_move_units_as_specified() {
        use crate::history::Estado;
        let h = vec![
            reserve(0, 0, 10, 2, reserved()),
            Record {
                index: 1,
                process: 1,
                op: Op::Confirm { rid: "r0".into() },
                call: 20,
                ret: 30,
                outcome: Outcome::Ok(Observed::Reservation(Some(Estado::Confirmada))),
            },
            release_r0(2, 40, 50),
            read(3, 60, 70, 5, 0),
        ];
        assert!(run(h).is_empty());
    }

    #[test]
    fn a_refused_reservation_never_appears_later() {
        use crate::history::Estado;
        let read_r1 = |index, call, ret, e: Option<Estado>| Record {
            index,
            process: index,
            op: Op::ReadReservation { rid: "r1".into() },
            call,
            ret,
            outcome: match e {
                Some(e) => Outcome::Ok(Observed::Reservation(Some(e))),
                None => Outcome::Fail(Refusal::NotFound),
            },
        };
        let refused = || {
            vec![
                reserve(0, 0, 10, 4, reserved()),
                reserve(
                    1,
                    20,
                    30,
                    4,
                    Outcome::Fail(Refusal::InsufficientStock(Some(1))),
                ),
                release_r0(2, 40, 50),
            ]
        };
        let mut fine = refused();
        fine.push(read_r1(3, 60, 70, None));
        assert!(run(fine).is_empty());
        // The late duplicate of the refused request, applied once stock came back.
        let mut late = refused();
        late.push(read_r1(3, 60, 70, Some(Estado::Reservada)));
        late.push(read(4, 80, 90, 1, 4));
        assert!(!run(late).is_empty());
    }

    #[test]
    fn refusal_with_stock_available_is_caught() {
        let h = vec![reserve(
            0,
            0,
            10,
            2,
            Outcome::Fail(Refusal::InsufficientStock(Some(1))),
        )];
        assert_eq!(run(h).len(), 1);
    }

    /// Expiry: a closed reservation, forgotten, re-sent, released again.
    mod expiry {
        use super::super::check;
        use crate::checkers::testkit::{c, fail, ok, read, rec, reserve, run};
        use crate::history::{Estado, Op, ReadLevel, Record, Refusal};

        fn close_then(after: Vec<Record>) -> Vec<String> {
            let mut h = vec![
                rec(0, 0, 0, 10, reserve("a", 2), ok(Estado::Reservada)),
                rec(
                    1,
                    0,
                    20,
                    30,
                    Op::Confirm { rid: "a".into() },
                    ok(Estado::Confirmada),
                ),
                rec(
                    2,
                    0,
                    40,
                    50,
                    Op::Close { rid: "a".into() },
                    ok(Estado::Confirmada),
                ),
            ];
            h.extend(after);
            let mut data = run(h);
            data.expiry = true;
            check(&data)
        }

        fn lin_read(index: usize, t: u64, d: i64, r: i64, v: i64) -> Record {
            let (op, seen) = read(ReadLevel::Linearizable, None, c(d, r, v), None);
            rec(index, 1, t, t + 5, op, seen)
        }

        #[test]
        fn a_forgotten_id_re_sent_is_refused_and_a_late_release_moves_nothing() {
            let v = close_then(vec![
                rec(
                    3,
                    0,
                    60,
                    70,
                    Op::Release { rid: "a".into() },
                    fail(Refusal::Closed),
                ),
                rec(4, 0, 80, 90, reserve("a", 2), fail(Refusal::Expired)),
                rec(
                    5,
                    0,
                    100,
                    110,
                    Op::Release { rid: "a".into() },
                    ok(Estado::Liberada),
                ),
                lin_read(6, 120, 3, 0, 2),
                rec(7, 0, 130, 140, reserve("a", 2), fail(Refusal::Expired)),
            ]);
            assert!(v.is_empty(), "{v:?}");
        }

        #[test]
        fn a_forgotten_id_reserved_again_is_caught() {
            let v = close_then(vec![
                rec(3, 0, 60, 70, reserve("a", 2), fail(Refusal::Expired)),
                rec(4, 0, 80, 90, reserve("a", 2), ok(Estado::Reservada)),
            ]);
            assert_eq!(v.len(), 1, "{v:?}");
        }

        #[test]
        fn stock_resurrected_by_a_late_release_is_caught() {
            let v = close_then(vec![
                rec(
                    3,
                    0,
                    60,
                    70,
                    Op::Release { rid: "a".into() },
                    ok(Estado::Liberada),
                ),
                lin_read(4, 80, 5, 0, 0),
            ]);
            assert_eq!(v.len(), 1, "{v:?}");
        }

        #[test]
        fn an_open_reservation_is_never_forgotten() {
            let mut data = run(vec![
                rec(0, 0, 0, 10, reserve("a", 2), ok(Estado::Reservada)),
                rec(1, 0, 20, 30, reserve("a", 2), fail(Refusal::Expired)),
            ]);
            data.expiry = true;
            assert_eq!(check(&data).len(), 1);
        }
    }
}
