//! Calls and bytes counted through the `metrics` facade (the `metrics`
//! feature); the names are in [`names`](super::names).
//!
//! Handles are looked up at each use, not kept: a recorder installed after
//! a peer started still sees its calls.

use std::sync::Arc;
use std::time::Instant;

use metrics::{counter, gauge, histogram};

use super::{Side, names};

/// One call, counted from its start to its outcome; dropped unfinished, it
/// ends `Cancelled`.
#[derive(Debug)]
pub(crate) struct CallMeter {
    side: Side,
    method: Arc<str>,
    started: Instant,
    finished: bool,
}

impl CallMeter {
    pub(crate) fn start(side: Side, method: &Arc<str>) -> CallMeter {
        let (started, in_flight) = match side {
            Side::Client => (names::CLIENT_STARTED, names::CLIENT_IN_FLIGHT),
            Side::Server => (names::SERVER_STARTED, names::SERVER_IN_FLIGHT),
        };
        counter!(started, "method" => Arc::clone(method)).increment(1);
        gauge!(in_flight, "method" => Arc::clone(method)).increment(1.0);
        CallMeter {
            side,
            method: Arc::clone(method),
            started: Instant::now(),
            finished: false,
        }
    }

    /// A call refused before it could start (over NATS, a body that is not
    /// a params array): started and finished at once.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) fn refused(side: Side, method: &str, outcome: &str) {
        let (started, finished) = match side {
            Side::Client => (names::CLIENT_STARTED, names::CLIENT_FINISHED),
            Side::Server => (names::SERVER_STARTED, names::SERVER_FINISHED),
        };
        let method = method.to_owned();
        counter!(started, "method" => method.clone()).increment(1);
        counter!(finished, "method" => method, "outcome" => label_of(outcome)).increment(1);
    }

    /// The call ended: `ok`, or the kind of its error.
    pub(crate) fn finish(mut self, outcome: &str) {
        self.record(outcome);
    }

    fn record(&mut self, outcome: &str) {
        self.finished = true;
        let (finished, in_flight, duration) = match self.side {
            Side::Client => (
                names::CLIENT_FINISHED,
                names::CLIENT_IN_FLIGHT,
                names::CLIENT_DURATION,
            ),
            Side::Server => (
                names::SERVER_FINISHED,
                names::SERVER_IN_FLIGHT,
                names::SERVER_DURATION,
            ),
        };
        let method = &self.method;
        let outcome = label_of(outcome);
        counter!(finished, "method" => Arc::clone(method), "outcome" => outcome).increment(1);
        gauge!(in_flight, "method" => Arc::clone(method)).decrement(1.0);
        histogram!(duration, "method" => Arc::clone(method)).record(self.started.elapsed());
    }
}

/// An outcome as a label: the known ones without a copy.
fn label_of(outcome: &str) -> metrics::SharedString {
    match super::OUTCOMES.iter().find(|known| **known == outcome) {
        Some(known) => metrics::SharedString::const_str(known),
        None => metrics::SharedString::from_owned(outcome.to_owned()),
    }
}

impl Drop for CallMeter {
    fn drop(&mut self) {
        if !self.finished {
            self.record(crate::message::code::CANCELLED);
        }
    }
}

/// The message bytes one connection read and wrote.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    received: u64,
    sent: u64,
    /// What was counted already, of each.
    reported: (u64, u64),
}

impl Traffic {
    pub(crate) fn new() -> Traffic {
        Traffic::default()
    }

    pub(crate) fn received(&mut self, bytes: usize) {
        self.received += bytes as u64;
    }

    pub(crate) fn sent(&mut self, bytes: usize) {
        self.sent += bytes as u64;
    }

    /// Adds what came and went since the last report to the totals (once a
    /// turn of the connection, not once a message).
    pub(crate) fn report(&mut self) {
        let (received, sent) = self.reported;
        if self.received > received {
            counter!(names::BYTES_RECEIVED).increment(self.received - received);
        }
        if self.sent > sent {
            counter!(names::BYTES_SENT).increment(self.sent - sent);
        }
        self.reported = (self.received, self.sent);
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.report();
        histogram!(names::CONNECTION_BYTES_RECEIVED).record(self.received as f64);
        histogram!(names::CONNECTION_BYTES_SENT).record(self.sent as f64);
    }
}
