//! A named background thread fed through a bounded mailbox, stopped by dropping its
//! handle: the node's helper threads (the pruner, the memory trimmer) share this shape.
//!
//! Dropping a [`Worker`] closes the mailbox first, which is the thread's signal to end
//! (its `recv` fails), then waits for the thread, so whatever the thread holds (a store,
//! say) is released when the handle is gone. Offers never block the caller: a full mailbox
//! drops the offer, which suits threads that only need the latest news.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// The handle of a worker thread with a mailbox of `T`.
#[derive(Debug)]
pub struct Worker<T> {
    /// Dropped first on drop: the thread sees the disconnect and ends.
    mailbox: Option<SyncSender<T>>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Worker<T> {
    /// Spawns thread `name` running `body` over the receiving end of a mailbox of
    /// `capacity` messages (at least one).
    pub fn spawn(
        name: &str,
        capacity: usize,
        body: impl FnOnce(Receiver<T>) + Send + 'static,
    ) -> std::io::Result<Worker<T>> {
        let (mailbox, inbox) = mpsc::sync_channel(capacity.max(1));
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(inbox))?;
        Ok(Worker {
            mailbox: Some(mailbox),
            thread: Some(thread),
        })
    }

    /// Hands `message` to the thread unless its mailbox is full (or the thread ended);
    /// whether it was taken.
    pub fn offer(&self, message: T) -> bool {
        self.mailbox
            .as_ref()
            .is_some_and(|m| m.try_send(message).is_ok())
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        self.mailbox.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn dropping_the_handle_ends_the_thread_after_what_it_took() {
        let seen = Arc::new(AtomicU64::new(0));
        let sum = seen.clone();
        let worker = Worker::spawn("test-worker", 4, move |inbox: Receiver<u64>| {
            for n in inbox {
                sum.fetch_add(n, Ordering::SeqCst);
            }
            sum.fetch_add(1_000, Ordering::SeqCst);
        })
        .unwrap();
        assert!(worker.offer(1));
        assert!(worker.offer(2));
        drop(worker);
        // Both offers were taken before the disconnect, and the thread ran to its end.
        assert_eq!(seen.load(Ordering::SeqCst), 1_003);
    }

    #[test]
    fn a_full_mailbox_drops_the_offer() {
        let (release, wait) = mpsc::channel::<()>();
        let worker = Worker::spawn("test-worker", 1, move |inbox: Receiver<u8>| {
            let _ = wait.recv();
            drop(inbox);
        })
        .unwrap();
        assert!(worker.offer(1));
        assert!(!worker.offer(2), "the mailbox holds one message");
        release.send(()).unwrap();
        drop(worker);
    }
}
