//! Per-record ordering: events about the same record run one after another,
//! in the order they were fetched; events about different records run in parallel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// The last queued turn of each key: its generation and the signal it will send.
type Tails = Arc<Mutex<HashMap<String, (u64, Option<oneshot::Receiver<()>>)>>>;

/// Hands out turns per key. A turn must be taken in fetch order (synchronously,
/// in the fetch loop) and is waited for inside the message's task.
#[derive(Debug, Default, Clone)]
pub struct Sequencer {
    tails: Tails,
    next_generation: Arc<std::sync::atomic::AtomicU64>,
}

/// One message's place in its key's queue.
#[derive(Debug)]
pub struct Turn {
    key: String,
    generation: u64,
    previous: Option<oneshot::Receiver<()>>,
    done: Option<oneshot::Sender<()>>,
    tails: Tails,
}

impl Sequencer {
    /// Queues a turn for `key` behind every turn taken before for the same key.
    pub fn take(&self, key: &str) -> Turn {
        let generation = self
            .next_generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (done, receiver) = oneshot::channel();
        let mut tails = lock(&self.tails);
        let previous = tails
            .insert(key.to_owned(), (generation, Some(receiver)))
            .and_then(|(_, receiver)| receiver);
        Turn {
            key: key.to_owned(),
            generation,
            previous,
            done: Some(done),
            tails: Arc::clone(&self.tails),
        }
    }

    /// Keys with a turn queued or running.
    pub fn len(&self) -> usize {
        lock(&self.tails).len()
    }

    /// True when no turn is queued or running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Turn {
    /// Waits until every earlier turn of the same key has finished.
    pub async fn wait(&mut self) {
        if let Some(previous) = self.previous.take() {
            // An error means the earlier turn was dropped, which also ends it.
            let _ = previous.await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        let mut tails = lock(&self.tails);
        // Forget the key when no later turn queued behind this one.
        if tails
            .get(&self.key)
            .is_some_and(|(generation, _)| *generation == self.generation)
        {
            tails.remove(&self.key);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn same_key_runs_in_order_other_keys_do_not_wait() {
        let sequencer = Sequencer::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, key) in ["a", "a", "b", "a"].into_iter().enumerate() {
            let mut turn = sequencer.take(key);
            let log = Arc::clone(&log);
            tasks.push(tokio::spawn(async move {
                turn.wait().await;
                // Earlier turns of "a" sleep longer: ordering must still hold.
                tokio::time::sleep(Duration::from_millis(40 - 10 * i as u64)).await;
                log.lock().expect("lock").push((key, i));
                drop(turn);
            }));
        }
        for task in tasks {
            task.await.expect("joins");
        }
        let log = log.lock().expect("lock").clone();
        let a: Vec<usize> = log
            .iter()
            .filter(|(k, _)| *k == "a")
            .map(|(_, i)| *i)
            .collect();
        assert_eq!(a, vec![0, 1, 3]);
        // "b" did not wait behind the "a" queue.
        assert!(log.iter().position(|(k, _)| *k == "b") < log.iter().position(|(_, i)| *i == 3));
        assert!(
            sequencer.is_empty(),
            "keys are forgotten when their queue drains"
        );
    }
}
