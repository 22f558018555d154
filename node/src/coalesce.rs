//! Coalescing of concurrent requests into shared rounds, for read-index confirmations.
//!
//! A caller that arrives while a round is running waits for the *next* round, which starts
//! after it arrived: a round's answer is valid for every request that was waiting when it
//! began. That keeps linearizable reads linearizable while one quorum confirmation serves
//! many of them.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Shares rounds of an async operation among concurrent callers.
#[derive(Debug)]
pub struct Coalescer<T> {
    // A std mutex: held only to push or swap the waiting list, never across an `.await`.
    inner: Mutex<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    waiting: Vec<oneshot::Sender<T>>,
    running: bool,
}

impl<T> Default for Coalescer<T> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                waiting: Vec::new(),
                running: false,
            }),
        }
    }
}

impl<T: Clone + Send + 'static> Coalescer<T> {
    /// Joins the next round of `round` and returns its result, or `None` if the round's
    /// driver went away (the runtime is shutting down).
    pub async fn join<F, Fut>(self: &Arc<Self>, round: F) -> Option<T>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let start_driver = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner.waiting.push(tx);
            !std::mem::replace(&mut inner.running, true)
        };
        if start_driver {
            let this = self.clone();
            tokio::spawn(async move { this.drive(round).await });
        }
        rx.await.ok()
    }

    async fn drive<F, Fut>(&self, round: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = T>,
    {
        loop {
            let batch = {
                let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
                if inner.waiting.is_empty() {
                    inner.running = false;
                    return;
                }
                std::mem::take(&mut inner.waiting)
            };
            let result = round().await;
            for tx in batch {
                let _ = tx.send(result.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_rounds_that_start_after_they_arrive() {
        let c = Arc::new(Coalescer::<u64>::default());
        let rounds = Arc::new(AtomicU64::new(0));
        let make = |rounds: Arc<AtomicU64>| {
            move || {
                let rounds = rounds.clone();
                async move {
                    let n = rounds.fetch_add(1, Ordering::SeqCst) + 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    n
                }
            }
        };
        let first = {
            let c = c.clone();
            let r = make(rounds.clone());
            tokio::spawn(async move { c.join(r).await })
        };
        // Let the first round start, then pile up callers behind it.
        while rounds.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let later: Vec<_> = (0..50)
            .map(|_| {
                let c = c.clone();
                let r = make(rounds.clone());
                tokio::spawn(async move { c.join(r).await })
            })
            .collect();
        assert_eq!(first.await.unwrap(), Some(1));
        for h in later {
            // None of them may be answered by the round that began before they arrived.
            assert_eq!(h.await.unwrap(), Some(2));
        }
        assert_eq!(rounds.load(Ordering::SeqCst), 2);
    }
}
