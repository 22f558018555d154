//! Group commit for writes on the leader.
//!
//! openraft 0.9 appends and flushes each proposal on its own, so proposing concurrent writes
//! one by one would cost one fsync each. Instead, writes that arrive while earlier batches are
//! in flight queue up and are proposed together as one [`Command::Batch`] entry: one append,
//! one flush, one replication round, each command still applied alone and in order with its
//! own result. At most [`MAX_IN_FLIGHT`] batches are proposed at once; the queue is drained
//! whenever a slot frees, so nothing waits behind a global lock or a timer.

use std::sync::{Arc, Mutex};

use openraft::Raft;
use raft_store::command::MAX_BATCH;
use raft_store::{Command, CommandOutput, TypeConfig};
use tokio::sync::{oneshot, Semaphore};

use crate::rpc::wire::ForwardResponse;

/// Batches proposed concurrently.
pub const MAX_IN_FLIGHT: usize = 4;

type Waiter = (Command, oneshot::Sender<ForwardResponse>);

/// The leader's write queue.
#[derive(Debug)]
pub struct WriteBatcher {
    // A std mutex: held only to push or take the queue, never across an `.await`.
    queue: Mutex<Queue>,
    slots: Arc<Semaphore>,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<Waiter>,
    driving: bool,
}

impl Default for WriteBatcher {
    fn default() -> Self {
        Self {
            queue: Mutex::default(),
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }
}

impl WriteBatcher {
    /// Proposes `cmd` with whatever else is waiting and returns its own result.
    pub async fn submit(
        self: &Arc<Self>,
        raft: &Raft<TypeConfig>,
        cmd: Command,
    ) -> ForwardResponse {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.waiting.push((cmd, tx));
            !std::mem::replace(&mut q.driving, true)
        };
        if start {
            tokio::spawn(self.clone().drive(raft.clone()));
        }
        rx.await
            .unwrap_or_else(|_| ForwardResponse::Failed("write queue stopped".into()))
    }

    async fn drive(self: Arc<Self>, raft: Raft<TypeConfig>) {
        loop {
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                return;
            };
            let batch: Vec<Waiter> = {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if q.waiting.is_empty() {
                    q.driving = false;
                    return;
                }
                let n = q.waiting.len().min(MAX_BATCH);
                q.waiting.drain(..n).collect()
            };
            let raft = raft.clone();
            tokio::spawn(async move {
                propose(&raft, batch).await;
                drop(slot);
            });
        }
    }
}

async fn propose(raft: &Raft<TypeConfig>, mut batch: Vec<Waiter>) {
    if batch.len() == 1 {
        if let Some((cmd, tx)) = batch.pop() {
            let _ = tx.send(ForwardResponse::from_client_write(
                raft.client_write(cmd).await,
            ));
        }
        return;
    }
    let (cmds, txs): (Vec<Command>, Vec<_>) = batch.into_iter().unzip();
    match ForwardResponse::from_client_write(raft.client_write(Command::Batch(cmds)).await) {
        ForwardResponse::Applied(Ok(CommandOutput::Batch(results)))
            if results.len() == txs.len() =>
        {
            for (tx, r) in txs.into_iter().zip(results) {
                let _ = tx.send(ForwardResponse::Applied(r));
            }
        }
        ForwardResponse::Applied(other) => {
            let msg = format!("batch answered {other:?}");
            for tx in txs {
                let _ = tx.send(ForwardResponse::Failed(msg.clone()));
            }
        }
        shared => {
            for tx in txs {
                let _ = tx.send(shared.clone());
            }
        }
    }
}
