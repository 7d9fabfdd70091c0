//! The deadline of the inbound call a task is answering, which the calls it
//! makes inherit.
//!
//! The dispatcher sets it around every poll of a handler whose caller said
//! how long it waits; a call made inside that handler is given at most the
//! time that is left, so a chain of calls never outlives its first caller.
//! It is a task-local value, so it follows the handler's future wherever it
//! is polled and nothing else sees it.

use std::time::{Duration, Instant};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// The deadline inherited from the call being handled here, if any.
pub(crate) fn inherited() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Runs `f` (one poll of a handler) with `deadline` as the inherited one.
pub(crate) fn with<R>(deadline: Option<Instant>, f: impl FnOnce() -> R) -> R {
    match deadline {
        Some(deadline) => DEADLINE.sync_scope(deadline, f),
        None => f(),
    }
}

/// A call's own timeout, shortened to the deadline it inherits.
pub(crate) fn effective_timeout(own: Option<Duration>) -> Option<Duration> {
    let inherited = inherited().map(|deadline| deadline.saturating_duration_since(Instant::now()));
    match (own, inherited) {
        (Some(own), Some(inherited)) => Some(own.min(inherited)),
        (own, inherited) => own.or(inherited),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shorter_of_own_and_inherited_wins() {
        assert_eq!(effective_timeout(None), None);
        let own = Some(Duration::from_secs(5));
        assert_eq!(effective_timeout(own), own);
        let soon = Instant::now() + Duration::from_millis(100);
        let inside = with(Some(soon), || effective_timeout(own)).unwrap();
        assert!(inside <= Duration::from_millis(100));
        assert!(with(Some(soon), || effective_timeout(None)).is_some());
    }
}
