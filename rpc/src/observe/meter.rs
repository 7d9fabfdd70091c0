//! Calls and bytes counted through the `metrics` facade (the `metrics`
//! feature); the names are in [`names`](super::names).
//!
//! Building a labelled key costs more than counting (a list of labels,
//! hashed), so each method's handles are registered once per side and
//! recorder and kept in a table: a call then costs a lookup by its path
//! and the increments. The table notes which recorder its handles came
//! from, so a recorder installed after the peers started still sees every
//! call (the handles are registered again with it). It keeps at most
//! [`MAX_CACHED`] methods a side; calls to others (a caller trying names
//! at random) build their keys each time.

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use dashmap::DashMap;
use metrics::{Counter, Gauge, Histogram, Key, Label, Recorder, counter, histogram};

use super::{Side, names};

/// Methods a side keeps handles for.
const MAX_CACHED: usize = 4096;

/// The metric names of one side.
struct Names {
    started: &'static str,
    finished: &'static str,
    in_flight: &'static str,
    duration: &'static str,
}

const CLIENT: Names = Names {
    started: names::CLIENT_STARTED,
    finished: names::CLIENT_FINISHED,
    in_flight: names::CLIENT_IN_FLIGHT,
    duration: names::CLIENT_DURATION,
};

const SERVER: Names = Names {
    started: names::SERVER_STARTED,
    finished: names::SERVER_FINISHED,
    in_flight: names::SERVER_IN_FLIGHT,
    duration: names::SERVER_DURATION,
};

fn names_of(side: Side) -> &'static Names {
    match side {
        Side::Client => &CLIENT,
        Side::Server => &SERVER,
    }
}

/// One method's handles on one side, from one recorder.
struct Handles {
    /// The address of the recorder they were registered with.
    recorder: usize,
    started: Counter,
    in_flight: Gauge,
    ok: Counter,
    duration: Histogram,
}

/// Each side's handles by method.
static CACHED: LazyLock<[DashMap<Arc<str>, Arc<Handles>>; 2]> =
    LazyLock::new(|| [DashMap::new(), DashMap::new()]);

/// The recorder in effect here (the thread's own, the global one, or the
/// no-op one), by address.
fn current_recorder() -> usize {
    metrics::with_recorder(|recorder| std::ptr::from_ref(recorder).cast::<()>() as usize)
}

/// The handles of `method` on `side` for the recorder in effect.
fn handles(side: Side, method: &Arc<str>) -> Arc<Handles> {
    let recorder = current_recorder();
    let table = &CACHED[side as usize];
    if let Some(handles) = table.get(&**method)
        && handles.recorder == recorder
    {
        return Arc::clone(&handles);
    }
    let handles = Arc::new(register(side, method, recorder));
    if table.len() < MAX_CACHED || table.contains_key(&**method) {
        table.insert(Arc::clone(method), Arc::clone(&handles));
    }
    handles
}

fn register(side: Side, method: &Arc<str>, recorder: usize) -> Handles {
    let names = names_of(side);
    let label = || vec![Label::new("method", Arc::clone(method))];
    let ok = vec![
        Label::new("method", Arc::clone(method)),
        Label::new("outcome", "ok"),
    ];
    metrics::with_recorder(|r: &dyn Recorder| {
        let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
        Handles {
            recorder,
            started: r.register_counter(&Key::from_parts(names.started, label()), &metadata),
            in_flight: r.register_gauge(&Key::from_parts(names.in_flight, label()), &metadata),
            ok: r.register_counter(&Key::from_parts(names.finished, ok), &metadata),
            duration: r.register_histogram(&Key::from_parts(names.duration, label()), &metadata),
        }
    })
}

/// One call, counted from its start to its outcome; dropped unfinished, it
/// ends `Cancelled`.
pub(crate) struct CallMeter {
    side: Side,
    method: Arc<str>,
    handles: Arc<Handles>,
    started: Instant,
    finished: bool,
}

impl std::fmt::Debug for CallMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallMeter")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl CallMeter {
    pub(crate) fn start(side: Side, method: &Arc<str>) -> CallMeter {
        let handles = handles(side, method);
        handles.started.increment(1);
        handles.in_flight.increment(1.0);
        CallMeter {
            side,
            method: Arc::clone(method),
            handles,
            started: Instant::now(),
            finished: false,
        }
    }

    /// A call refused before it could start (over NATS, a body that is not
    /// a params array): started and finished at once.
    pub(crate) fn refused(side: Side, method: &str, outcome: &str) {
        let names = names_of(side);
        let method = method.to_owned();
        counter!(names.started, "method" => method.clone()).increment(1);
        counter!(names.finished, "method" => method, "outcome" => label_of(outcome)).increment(1);
    }

    /// The call ended: `ok`, or the kind of its error.
    pub(crate) fn finish(mut self, outcome: &str) {
        self.record(outcome);
    }

    fn record(&mut self, outcome: &str) {
        self.finished = true;
        let handles = &self.handles;
        if outcome == "ok" {
            handles.ok.increment(1);
        } else {
            // Failures are rare enough to build their key each time.
            let finished = names_of(self.side).finished;
            let method = Arc::clone(&self.method);
            counter!(finished, "method" => method, "outcome" => label_of(outcome)).increment(1);
        }
        handles.in_flight.decrement(1.0);
        handles.duration.record(self.started.elapsed());
    }
}

/// An outcome as a label: the known ones without a copy.
fn label_of(outcome: &str) -> metrics::SharedString {
    match crate::error::OUTCOMES
        .iter()
        .find(|known| **known == outcome)
    {
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

    /// Adds what came and went since the last report to the totals (once a
    /// turn of the connection, not once a message); `sent` is every byte
    /// written so far (by the task or by the callers that wrote directly).
    pub(crate) fn report(&mut self, sent: u64) {
        self.sent = sent;
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
        self.report(self.sent);
        histogram!(names::CONNECTION_BYTES_RECEIVED).record(self.received as f64);
        histogram!(names::CONNECTION_BYTES_SENT).record(self.sent as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    /// The counters `recorder` holds, as `name{labels} = n` lines.
    fn counted(recorder: &DebuggingRecorder) -> Vec<String> {
        let mut lines: Vec<String> = recorder
            .snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Counter(n) => Some(format!("{} = {n}", key.key())),
                _ => None,
            })
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn a_recorder_installed_after_the_first_calls_sees_the_next() {
        let method: Arc<str> = Arc::from("meter.test.later");
        // Registered with the no-op recorder, and kept.
        CallMeter::start(Side::Client, &method).finish("ok");
        let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
        metrics::with_local_recorder(recorder, || {
            CallMeter::start(Side::Client, &method).finish("ok");
            CallMeter::start(Side::Client, &method).finish("Timeout");
            drop(CallMeter::start(Side::Client, &method));
        });
        assert_eq!(
            counted(recorder),
            [
                "Key(dotrpc.client.calls.finished, [method = meter.test.later, outcome = Cancelled]) = 1",
                "Key(dotrpc.client.calls.finished, [method = meter.test.later, outcome = Timeout]) = 1",
                "Key(dotrpc.client.calls.finished, [method = meter.test.later, outcome = ok]) = 1",
                "Key(dotrpc.client.calls.started, [method = meter.test.later]) = 3",
            ]
        );
    }

    #[test]
    fn methods_past_the_table_are_counted_without_it() {
        let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
        metrics::with_local_recorder(recorder, || {
            for n in 0..MAX_CACHED + 10 {
                let method: Arc<str> = Arc::from(format!("meter.test.many.{n}"));
                CallMeter::start(Side::Server, &method).finish("ok");
            }
        });
        assert!(CACHED[Side::Server as usize].len() <= MAX_CACHED);
        let last = format!(
            "Key(dotrpc.server.calls.started, [method = meter.test.many.{}]) = 1",
            MAX_CACHED + 9
        );
        assert!(counted(recorder).contains(&last));
    }
}
