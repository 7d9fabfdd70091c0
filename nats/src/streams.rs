//! Streams over NATS: how the stream notifications of a call (`rpc.item`,
//! `rpc.credit`, and the rest; see [`dotrpc::stream`]) travel between the
//! caller and the one instance that took the call.
//!
//! Every queue-group instance could have taken it, so the instance says
//! where it is: every message it sends about the call goes to the call's
//! reply subject, with the NATS reply subject set to a subject of its own
//! for that call (`<instance inbox>.<n>`), and the caller sends its credit,
//! input and cancel there. The instance sends one such message as soon as
//! it takes a stream call (a ping), so the caller can cancel before the
//! first item.
//!
//! Each message names its kind in the header `Dotrpc-Stream`; its body is
//! msgpack, without the call's id (the subject says which call):
//!
//! | kind           | from     | body                                   |
//! |----------------|----------|----------------------------------------|
//! | `item`         | instance | `[seq, item]`                          |
//! | `lagged`       | instance | `n`, items dropped to keep up          |
//! | `input_credit` | instance | the input credit granted so far, total |
//! | `ping`         | instance | `[input credit total, items sent]`     |
//! | `credit`       | caller   | the answer credit granted so far, total (the request's `Dotrpc-Credit` included) |
//! | `ping`         | caller   | `[answer credit total, input items sent]` |
//! | `input`        | caller   | `[seq, item]`                          |
//! | `input_end`    | caller   | `n`, the items of the input, in all    |
//! | `cancel`       | caller   | empty                                  |
//!
//! The reply that ends the call says how many items the instance sent, in
//! the header `Dotrpc-Items`.
//!
//! Core NATS delivers at most once, which is why the counts are what they
//! are. Credit is sent as running totals, and both sides repeat theirs in
//! a ping every half call timeout, so a lost grant costs a little time, not
//! the stream. Items are numbered from 1, and pings and ends say how many
//! were sent, so a lost item is seen, the last ones too: lost answers reach
//! the consumer as [`Error::Lagged`](dotrpc::Error::Lagged) (and the caller
//! grants their credit again, which the consumer never will), lost input
//! fails the call. An instance answers a ping for a call it no longer has
//! (its end was lost) with an error reply, so that call ends rather than
//! waits.
//!
//! Every message either side sends goes to the other side's subject for
//! the call with its own as the reply subject: if the other side is gone
//! (its process died), NATS answers there with "no responders". Twice, a
//! ping interval apart, with nothing heard in between (once may be a broker
//! restarting, before the other side subscribes again), and the stream
//! ends on the caller (`NoResponders`), or its handler is cancelled on the
//! instance. The pings make sure this is noticed even on a stream where
//! nothing else moves.

use std::time::{Duration, Instant};

use async_nats::{HeaderMap, Subject};
use bytes::Bytes;

use super::pipes::{OnFailure, Publish};
use dotrpc::protocol::{CANCEL, CREDIT, INPUT, INPUT_CREDIT, INPUT_END, ITEM, LAGGED};
use dotrpc::transport::{Limits, check_frame};
use dotrpc::transport::{MsgId, stream_frame};

/// The kind of a stream message.
pub(crate) const STREAM_HEADER: &str = "Dotrpc-Stream";
/// The reply that ends a stream: how many items the instance sent.
pub(crate) const ITEMS_HEADER: &str = "Dotrpc-Items";

/// How often each side pings the streams it takes part in, as a share of
/// the call timeout.
pub(crate) fn ping_every(call_timeout: Duration) -> Duration {
    (call_timeout / 2).max(Duration::from_millis(10))
}

/// What a stream message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Item,
    Lagged,
    InputCredit,
    Credit,
    Input,
    InputEnd,
    Cancel,
    Ping,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::Item,
        Kind::Lagged,
        Kind::InputCredit,
        Kind::Credit,
        Kind::Input,
        Kind::InputEnd,
        Kind::Cancel,
        Kind::Ping,
    ];

    /// Its name in the header.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Item => "item",
            Kind::Lagged => "lagged",
            Kind::InputCredit => "input_credit",
            Kind::Credit => "credit",
            Kind::Input => "input",
            Kind::InputEnd => "input_end",
            Kind::Cancel => "cancel",
            Kind::Ping => "ping",
        }
    }

    /// The notification a peer sends it as, and takes it as.
    fn method(self) -> Option<&'static str> {
        Some(match self {
            Kind::Item => ITEM,
            Kind::Lagged => LAGGED,
            Kind::InputCredit => INPUT_CREDIT,
            Kind::Credit => CREDIT,
            Kind::Input => INPUT,
            Kind::InputEnd => INPUT_END,
            Kind::Cancel => CANCEL,
            Kind::Ping => return None,
        })
    }

    /// The kind of a peer's notification, if it is about a stream.
    pub(crate) fn of_method(method: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.method() == Some(method))
    }

    /// The kind of a NATS message: `None` if it is no stream message,
    /// `Some(None)` if it is one of a kind this version does not know.
    pub(crate) fn of_message(message: &async_nats::Message) -> Option<Option<Kind>> {
        let name = message.headers.as_ref()?.get(STREAM_HEADER)?.as_str();
        Some(Kind::ALL.into_iter().find(|kind| kind.name() == name))
    }

    /// This message to `subject`, with `reply` (the sender's own subject
    /// for the call) as its reply subject.
    pub(crate) fn publish(self, subject: Subject, reply: Subject, payload: Bytes) -> Publish {
        let mut headers = HeaderMap::new();
        headers.insert(STREAM_HEADER, self.name());
        Publish {
            subject,
            reply: Some(reply),
            headers: Some(headers),
            payload,
            on_failure: OnFailure::Nothing,
        }
    }
}

/// The notification `method` about call `msgid` a peer takes, its body
/// (`n`, or an item) already read.
pub(crate) fn peer_frame(method: &str, msgid: MsgId, body: Body<'_>) -> Bytes {
    match body {
        Body::Empty => stream_frame(method, msgid, 0, &[]),
        Body::Count(n) => {
            let mut count = Vec::with_capacity(9);
            rmp::encode::write_uint(&mut count, n).expect("writing to a Vec");
            stream_frame(method, msgid, 1, &count)
        }
        Body::Item(item) => stream_frame(method, msgid, 1, item),
    }
}

/// What a stream message carries, read.
pub(crate) enum Body<'a> {
    Empty,
    Count(u64),
    Item(&'a [u8]),
}

/// One side's count of a stream call's traffic over NATS, both ways: the
/// items it sent and received, the credit it granted and was granted.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Items sent so far: the last one's number.
    sent: u64,
    /// The number of the last item received.
    received: u64,
    /// Credit this side granted the other, in total.
    granted: u64,
    /// Credit the other side said it granted, in total, as far as known.
    granted_seen: u64,
    /// How many items the other side's last ping said it had sent.
    claimed: u64,
    /// Since when NATS has found nobody on the other side's subject, with
    /// nothing heard from it since.
    nobody_since: Option<Instant>,
}

/// What a ping from the other side says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Pinged {
    /// Credit granted beyond what was known (a grant was lost).
    pub(crate) credit: u64,
    /// Items sent that never came: the ping before this one said they were
    /// sent, and every message sent before this ping has come.
    pub(crate) lost: u64,
}

/// An item that arrived, read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Arrived {
    /// The next item, after `lost` that never came.
    Item { lost: u64, item: Bytes },
    /// One seen before (sent twice): dropped.
    Old,
    /// Not `[seq, item]` within the limits.
    Malformed(String),
}

impl Tally {
    /// A stream where this side has granted `granted` so far and the other
    /// `granted_seen`.
    pub(crate) fn new(granted: u64, granted_seen: u64) -> Tally {
        Tally {
            granted,
            granted_seen,
            ..Tally::default()
        }
    }

    /// The body of the next item this side sends: `[seq, item]`.
    pub(crate) fn send_item(&mut self, item: &[u8]) -> Bytes {
        self.sent += 1;
        let mut body = Vec::with_capacity(item.len() + 10);
        rmp::encode::write_array_len(&mut body, 2).expect("writing to a Vec");
        rmp::encode::write_uint(&mut body, self.sent).expect("writing to a Vec");
        body.extend_from_slice(item);
        body.into()
    }

    /// Grants `n` more: the body saying the new total.
    pub(crate) fn grant(&mut self, n: u64) -> Bytes {
        self.granted += n;
        count_body(self.granted)
    }

    /// The body of a ping: `[granted, sent]`, the credit this side granted
    /// and the items it sent, so far.
    pub(crate) fn ping(&self) -> Bytes {
        let mut body = Vec::with_capacity(19);
        rmp::encode::write_array_len(&mut body, 2).expect("writing to a Vec");
        rmp::encode::write_uint(&mut body, self.granted).expect("writing to a Vec");
        rmp::encode::write_uint(&mut body, self.sent).expect("writing to a Vec");
        body.into()
    }

    /// Reads a ping from the other side. Items it says it sent may still be
    /// on their way (the ping and the items go out from different tasks),
    /// so they are counted lost only at the next ping, an interval later.
    pub(crate) fn read_ping(&mut self, body: &[u8]) -> Option<Pinged> {
        let mut reader = body;
        if rmp::decode::read_array_len(&mut reader).ok()? != 2 {
            return None;
        }
        let granted: u64 = rmp::decode::read_int(&mut reader).ok()?;
        let sent: u64 = rmp::decode::read_int(&mut reader).ok()?;
        let credit = granted.saturating_sub(self.granted_seen);
        self.granted_seen = self.granted_seen.max(granted);
        let lost = self.claimed.saturating_sub(self.received);
        self.received = self.received.max(self.claimed);
        self.claimed = self.claimed.max(sent);
        Some(Pinged { credit, lost })
    }

    /// Something came from the other side: it is there.
    pub(crate) fn heard(&mut self) {
        self.nobody_since = None;
    }

    /// NATS answered a message of this side's with "no responders": whether
    /// the other side is gone. One such answer may be a broker restarting
    /// (the other side subscribes again when it reconnects); a second one at
    /// least a ping interval (`every`) later, with nothing heard in between,
    /// is not.
    pub(crate) fn nobody(&mut self, every: Duration) -> bool {
        match self.nobody_since {
            Some(since) => since.elapsed() >= every,
            None => {
                self.nobody_since = Some(Instant::now());
                false
            }
        }
    }

    /// How many items this side sent.
    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }

    /// How many items the other side sent that never came, if it sent
    /// `sent` in all.
    pub(crate) fn lost_of(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.received)
    }

    /// Reads an item that arrived.
    pub(crate) fn receive_item(&mut self, body: &Bytes, limits: &Limits) -> Arrived {
        if let Err(error) = check_frame(body, limits) {
            return Arrived::Malformed(format!("a stream item not within the limits: {error}"));
        }
        let mut reader: &[u8] = body;
        let seq = match rmp::decode::read_array_len(&mut reader) {
            Ok(2) => rmp::decode::read_int::<u64, _>(&mut reader).ok(),
            _ => None,
        };
        let Some(seq) = seq else {
            return Arrived::Malformed("a stream item is not [seq, item]".to_owned());
        };
        if seq <= self.received {
            return Arrived::Old;
        }
        let lost = seq - self.received - 1;
        self.received = seq;
        let item = body.slice(body.len() - reader.len()..);
        Arrived::Item { lost, item }
    }

    /// Reads a total of credit granted: how much more that is than known.
    pub(crate) fn granted_total(&mut self, body: &[u8]) -> Option<u64> {
        let total: u64 = rmp::decode::read_int(&mut &body[..]).ok()?;
        let more = total.checked_sub(self.granted_seen).filter(|&n| n > 0)?;
        self.granted_seen = total;
        Some(more)
    }
}

/// The number a count message carries.
pub(crate) fn count(body: &[u8]) -> Option<u64> {
    rmp::decode::read_int(&mut &body[..]).ok()
}

/// The body of a count message.
pub(crate) fn count_body(n: u64) -> Bytes {
    let mut body = Vec::with_capacity(9);
    rmp::encode::write_uint(&mut body, n).expect("writing to a Vec");
    body.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dotrpc::transport::Message;

    fn notification(frame: Bytes) -> (String, Vec<rmpv::Value>) {
        match Message::parse(frame).unwrap() {
            Message::Notification(n) => (n.method().to_owned(), n.params().values().unwrap()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn items_are_numbered_and_a_gap_is_counted() {
        let limits = Limits::default();
        let (mut sender, mut receiver) = (Tally::default(), Tally::default());
        let first = sender.send_item(&[0xa1, b'a']);
        let second = sender.send_item(&[0x07]);
        let third = sender.send_item(&[0x08]);
        assert_eq!(
            receiver.receive_item(&first, &limits),
            Arrived::Item {
                lost: 0,
                item: Bytes::from_static(&[0xa1, b'a'])
            }
        );
        // The second is lost on the way; the first comes again.
        assert_eq!(
            receiver.receive_item(&third, &limits),
            Arrived::Item {
                lost: 1,
                item: Bytes::from_static(&[0x08])
            }
        );
        assert_eq!(receiver.receive_item(&first, &limits), Arrived::Old);
        assert_eq!(receiver.receive_item(&second, &limits), Arrived::Old);
        for bad in [
            &[0x07][..],
            &[0x91, 0x01],
            &[0x92, 0xa1, b'x', 0x01],
            &[0x92],
        ] {
            assert!(matches!(
                receiver.receive_item(&Bytes::copy_from_slice(bad), &limits),
                Arrived::Malformed(_)
            ));
        }
    }

    #[test]
    fn credit_travels_as_totals_so_a_lost_grant_is_made_good() {
        let (mut granter, mut producer) = (Tally::new(4, 0), Tally::new(0, 4));
        let lost = granter.grant(2);
        let kept = granter.grant(3);
        assert_eq!(producer.granted_total(&kept), Some(5), "2 lost + 3");
        assert_eq!(producer.granted_total(&lost), None, "old news");
        let pinged = producer.read_ping(&granter.ping()).unwrap();
        assert_eq!(pinged, Pinged { credit: 0, lost: 0 });
        let _lost = granter.grant(1);
        let pinged = producer.read_ping(&granter.ping()).unwrap();
        assert_eq!(pinged, Pinged { credit: 1, lost: 0 });
        assert_eq!(producer.granted_total(b"\xa1x"), None);
        assert_eq!(producer.read_ping(b"\x05"), None);
    }

    #[test]
    fn items_a_ping_claims_are_lost_if_they_have_not_come_by_the_next() {
        let limits = Limits::default();
        let (mut sender, mut receiver) = (Tally::default(), Tally::default());
        let first = sender.send_item(&[0x01]);
        let second = sender.send_item(&[0x02]);
        let _third = sender.send_item(&[0x03]);
        // The ping overtakes the items: nothing is lost yet.
        let ping = sender.ping();
        assert_eq!(receiver.read_ping(&ping).unwrap().lost, 0);
        assert!(matches!(
            receiver.receive_item(&first, &limits),
            Arrived::Item { lost: 0, .. }
        ));
        assert!(matches!(
            receiver.receive_item(&second, &limits),
            Arrived::Item { lost: 0, .. }
        ));
        // The next ping: the third never came.
        assert_eq!(receiver.read_ping(&sender.ping()).unwrap().lost, 1);
        assert_eq!(
            receiver.read_ping(&sender.ping()).unwrap().lost,
            0,
            "told once"
        );
    }

    #[test]
    fn the_other_side_is_gone_after_two_no_responders_a_ping_apart() {
        let every = Duration::from_millis(20);
        let mut tally = Tally::default();
        assert!(!tally.nobody(every), "once may be a broker restarting");
        assert!(!tally.nobody(every), "too soon to tell");
        tally.heard();
        std::thread::sleep(every * 2);
        assert!(!tally.nobody(every), "heard from since: a new first");
        std::thread::sleep(every * 2);
        assert!(tally.nobody(every));
    }

    #[test]
    fn messages_become_the_notifications_peers_take() {
        let (method, params) = notification(peer_frame(ITEM, 7, Body::Item(&[0xa1, b'a'])));
        assert_eq!(
            (method.as_str(), params),
            (ITEM, vec![7.into(), "a".into()])
        );
        let (method, params) = notification(peer_frame(CREDIT, 7, Body::Count(3)));
        assert_eq!(
            (method.as_str(), params),
            (CREDIT, vec![7.into(), 3.into()])
        );
        let (method, params) = notification(peer_frame(CANCEL, 9, Body::Empty));
        assert_eq!((method.as_str(), params), (CANCEL, vec![9.into()]));
        for kind in Kind::ALL {
            if let Some(method) = kind.method() {
                assert_eq!(Kind::of_method(method), Some(kind));
            }
        }
        assert_eq!(Kind::of_method("rpc.hello"), None);
    }
}
