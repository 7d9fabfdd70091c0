//! Which map should hold pending calls (msgid -> waiter)? Measures the exact
//! access pattern of the transaction table (insert a oneshot sender under a
//! fresh msgid, then remove it and complete the waiter) for the candidates,
//! side by side in one run, on 1 and 2 threads (callers on one thread, the
//! reader completing on another is the common case).
//!
//! ```text
//! cargo bench -p dotrpc --bench transaction_table
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::oneshot;

const OPS: u32 = 400_000;
/// Calls in flight per thread, as in a pipelined client.
const IN_FLIGHT: usize = 64;
const ROUNDS: usize = 5;

trait Table: Send + Sync + 'static {
    fn insert(&self, msgid: u32, waiter: oneshot::Sender<u64>);
    fn complete(&self, msgid: u32) -> bool;
}

impl Table for DashMap<u32, oneshot::Sender<u64>> {
    fn insert(&self, msgid: u32, waiter: oneshot::Sender<u64>) {
        DashMap::insert(self, msgid, waiter);
    }
    fn complete(&self, msgid: u32) -> bool {
        self.remove(&msgid)
            .map(|(_, w)| w.send(u64::from(msgid)).is_ok())
            .unwrap_or(false)
    }
}

impl Table for Mutex<HashMap<u32, oneshot::Sender<u64>>> {
    fn insert(&self, msgid: u32, waiter: oneshot::Sender<u64>) {
        self.lock().unwrap().insert(msgid, waiter);
    }
    fn complete(&self, msgid: u32) -> bool {
        let waiter = self.lock().unwrap().remove(&msgid);
        waiter
            .map(|w| w.send(u64::from(msgid)).is_ok())
            .unwrap_or(false)
    }
}

/// `threads` threads each open `OPS` transactions, `IN_FLIGHT` at a time, and
/// complete them oldest first; returns nanoseconds per open+complete.
fn run<T: Table>(table: Arc<T>, threads: usize) -> f64 {
    let next = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (table, next) = (Arc::clone(&table), Arc::clone(&next));
            std::thread::spawn(move || {
                let mut window = std::collections::VecDeque::with_capacity(IN_FLIGHT);
                for _ in 0..OPS {
                    let msgid = next.fetch_add(1, Ordering::Relaxed);
                    let (sender, receiver) = oneshot::channel();
                    table.insert(msgid, sender);
                    window.push_back((msgid, receiver));
                    if window.len() == IN_FLIGHT {
                        let (oldest, mut receiver) = window.pop_front().unwrap();
                        assert!(table.complete(oldest));
                        assert_eq!(receiver.try_recv().unwrap(), u64::from(oldest));
                    }
                }
                for (msgid, _) in window {
                    table.complete(msgid);
                }
            })
        })
        .collect();
    workers.into_iter().for_each(|w| w.join().unwrap());
    started.elapsed().as_nanos() as f64 / (f64::from(OPS) * threads as f64)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let deadline = Instant::now() + Duration::from_secs(60);
    println!("{:<28} {:>8} {:>14}", "table", "threads", "ns/op (median)");
    for threads in [1, 2] {
        let mut dash = Vec::new();
        let mut mutex = Vec::new();
        for _ in 0..ROUNDS {
            if Instant::now() > deadline {
                break;
            }
            // Alternate, so both see the same machine conditions.
            dash.push(run(Arc::new(DashMap::new()), threads));
            mutex.push(run(Arc::new(Mutex::new(HashMap::new())), threads));
        }
        let (dash, mutex) = (median(dash), median(mutex));
        println!("{:<28} {threads:>8} {dash:>14.1}", "DashMap");
        println!("{:<28} {threads:>8} {mutex:>14.1}", "Mutex<HashMap>");
        println!(
            "{:<28} {threads:>8} {:>14.2}",
            "ratio dashmap/mutex",
            dash / mutex
        );
    }
}
