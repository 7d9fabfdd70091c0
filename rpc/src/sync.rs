//! Locks that outlive a panic: a handler that panics while holding one of
//! the crate's mutexes leaves data that is still whole (every critical
//! section keeps it consistent), so the lock is taken, not poisoned.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, even if a thread panicked while holding it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
