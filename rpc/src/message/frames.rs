//! [`Frames`]: whole messages queued for a transport, encoded in place.
//!
//! A connection's outgoing messages are written straight into one growing
//! buffer, back to back, so many small replies leave in one system call.
//! Large pieces (a bulk result, a big params array) are not copied into it:
//! they are queued as their own shared chunks, between the bytes before and
//! after them. The length of every whole frame is kept too, so a message
//! transport can take them one by one while a byte stream writes them all as
//! they lie ([`Buf`]).

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::Params;
use super::encoded::Pieces;
use super::splice::SPLICE_AT;
use super::{
    Encoded, ErrorFormat, ErrorObject, Metadata, MsgId, Outgoing, TraceContext, write_str_len,
    write_value,
};
use crate::codec::CodecError;

/// Pieces at least this large are queued as their own chunk, not copied.
const COPY_LIMIT: usize = SPLICE_AT;

/// Whole msgpack-rpc messages waiting to be sent, in order.
///
/// A byte-stream transport writes them as a [`Buf`] (its chunks, vectored);
/// a message transport takes one whole message at a time with
/// [`pop_frame`](Frames::pop_frame).
#[derive(Debug, Default)]
pub struct Frames {
    /// Complete chunks, oldest first; all of them come before `tail`.
    chunks: VecDeque<Bytes>,
    /// The newest bytes, where frames are encoded.
    tail: BytesMut,
    /// The length of each whole frame queued, oldest first.
    lengths: VecDeque<usize>,
    /// Bytes of the oldest frame already taken by [`Buf::advance`].
    taken_of_first: usize,
    /// Bytes queued in all.
    len: usize,
}

impl Frames {
    /// An empty queue.
    pub fn new() -> Self {
        Frames::default()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many bytes are queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// How many whole or partly sent frames are queued.
    pub fn frame_count(&self) -> usize {
        self.lengths.len()
    }

    /// Takes the oldest whole frame; for message transports, which send one
    /// message at a time. `None` when empty.
    ///
    /// # Panics
    ///
    /// If part of that frame was already taken as bytes ([`Buf::advance`]):
    /// a transport sends either frames or bytes, not both.
    pub fn pop_frame(&mut self) -> Option<Bytes> {
        assert_eq!(
            self.taken_of_first, 0,
            "a frame was partly taken as bytes; take frames or bytes, not both"
        );
        let len = self.lengths.pop_front()?;
        self.len -= len;
        let in_first = self.chunks.front().map_or(self.tail.len(), Bytes::len);
        if in_first >= len {
            return Some(match self.chunks.front_mut() {
                Some(first) => {
                    let frame = first.split_to(len);
                    if first.is_empty() {
                        self.chunks.pop_front();
                    }
                    frame
                }
                None => self.tail.split_to(len).freeze(),
            });
        }
        // The frame spans chunks (a large piece between its head and tail).
        let mut frame = BytesMut::with_capacity(len);
        while frame.len() < len {
            let want = len - frame.len();
            match self.chunks.front_mut() {
                Some(first) => {
                    let n = want.min(first.len());
                    frame.put_slice(&first[..n]);
                    first.advance(n);
                    if first.is_empty() {
                        self.chunks.pop_front();
                    }
                }
                None => {
                    frame.put_slice(&self.tail[..want]);
                    self.tail.advance(want);
                }
            }
        }
        Some(frame.freeze())
    }

    /// Queues a whole frame encoded elsewhere (one event encoded once for
    /// many connections, say).
    pub fn push_frame(&mut self, frame: &Bytes) {
        let start = self.len;
        self.put_shared(frame);
        self.end_frame(start);
    }

    /// Queues `call` as a request `[0, msgid, method, params]`, with its
    /// call metadata as a fifth item unless there is none (for dotrpc peers
    /// only).
    pub(crate) fn push_request(&mut self, call: &Outgoing, msgid: MsgId, metadata: &Metadata) {
        let start = self.len;
        let items = if metadata.is_empty() { 0x94 } else { 0x95 };
        self.put(&[items, super::REQUEST]);
        self.put_uint(u64::from(msgid));
        self.put_str(call.method());
        self.put_params(call);
        self.put_metadata(metadata);
        self.end_frame(start);
    }

    /// Writes the call metadata map, if there is any: `{"deadline_ms": n,
    /// "traceparent": s, "tracestate": s}`, each key only when set.
    fn put_metadata(&mut self, metadata: &Metadata) {
        if metadata.is_empty() {
            return;
        }
        let trace = metadata.trace.as_ref();
        let tracestate = trace.and_then(TraceContext::tracestate);
        let entries = u8::from(metadata.deadline_ms.is_some())
            + u8::from(trace.is_some())
            + u8::from(tracestate.is_some())
            + u8::from(metadata.credit.is_some());
        self.put(&[0x80 | entries]);
        if let Some(deadline_ms) = metadata.deadline_ms {
            self.put_str(super::DEADLINE_KEY);
            self.put_uint(deadline_ms);
        }
        if let Some(trace) = trace {
            self.put_str(super::TRACEPARENT_KEY);
            self.put_str(trace.traceparent());
        }
        if let Some(tracestate) = tracestate {
            self.put_str(super::TRACESTATE_KEY);
            self.put_str(tracestate);
        }
        if let Some(credit) = metadata.credit {
            self.put_str(super::CREDIT_KEY);
            self.put_uint(u64::from(credit));
        }
    }

    /// Queues `call` as a notification `[2, method, params]`.
    pub(crate) fn push_notification(&mut self, call: &Outgoing) {
        let start = self.len;
        self.put(&[0x93, super::NOTIFICATION]);
        self.put_str(call.method());
        self.put_params(call);
        self.end_frame(start);
    }

    /// Queues a stream's item, `[2, method, [msgid, item]]`, encoding the
    /// item straight into the queue. Nothing is queued if it does not encode
    /// or if the message is over `max` bytes.
    pub(crate) fn push_item<T: Serialize + ?Sized>(
        &mut self,
        method: &str,
        msgid: MsgId,
        item: &T,
        max: usize,
    ) -> Result<(), CodecError> {
        let (start, before) = (self.len, self.tail.len());
        self.put(&[0x93, super::NOTIFICATION]);
        self.put_str(method);
        self.put(&[0x92]);
        self.put_uint(u64::from(msgid));
        let item_at = self.tail.len();
        let encoded = super::encode_value((&mut self.tail).writer(), item);
        self.len += self.tail.len() - item_at;
        let size = self.len - start;
        let outcome = match encoded {
            Ok(()) if size > max => Err(CodecError::TooLarge {
                size: size as u64,
                max,
            }),
            other => other,
        };
        match outcome {
            Ok(()) => self.end_frame(start),
            Err(_) => {
                self.tail.truncate(before);
                self.len = start;
            }
        }
        outcome
    }

    /// Queues the response to `msgid`: `[1, msgid, nil, result]` with an
    /// encoded result, or `[1, msgid, error, nil]`.
    pub(crate) fn push_response(
        &mut self,
        msgid: MsgId,
        outcome: Result<&Encoded, &ErrorObject>,
        format: ErrorFormat,
    ) {
        let start = self.len;
        self.put(&[0x94, super::RESPONSE]);
        self.put_uint(u64::from(msgid));
        match outcome {
            Ok(result) => {
                self.put(&[0xc0]);
                match result.pieces() {
                    Pieces::Slice(bytes) => self.put(bytes),
                    Pieces::Shared(pieces) => {
                        pieces.iter().for_each(|piece| self.put_shared(piece))
                    }
                }
            }
            Err(error) => {
                let before = self.tail.len();
                write_value(&mut self.tail, &error.to_wire(format));
                self.len += self.tail.len() - before;
                self.put(&[0xc0]);
            }
        }
        self.end_frame(start);
    }

    /// The size of the frame a response with a result of `result_len` bytes
    /// makes, at most.
    pub(crate) fn response_len(result_len: usize) -> usize {
        2 + 5 + 1 + result_len
    }

    /// A call's params: copied if small, large pieces shared.
    fn put_params(&mut self, call: &Outgoing) {
        match call.params_pieces() {
            Pieces::Slice(bytes) => self.put(bytes),
            Pieces::Shared(pieces) => pieces.iter().for_each(|piece| self.put_shared(piece)),
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    /// An unsigned integer, in its shortest msgpack form.
    fn put_uint(&mut self, n: u64) {
        let before = self.tail.len();
        match n {
            0..=0x7f => self.tail.put_u8(n as u8),
            0x80..=0xff => self.tail.put_slice(&[0xcc, n as u8]),
            0x100..=0xffff => {
                self.tail.put_u8(0xcd);
                self.tail.put_u16(n as u16);
            }
            0x1_0000..=0xffff_ffff => {
                self.tail.put_u8(0xce);
                self.tail.put_u32(n as u32);
            }
            _ => {
                self.tail.put_u8(0xcf);
                self.tail.put_u64(n);
            }
        }
        self.len += self.tail.len() - before;
    }

    fn put_str(&mut self, s: &str) {
        let before = self.tail.len();
        write_str_len(&mut self.tail, s.len());
        self.tail.put_slice(s.as_bytes());
        self.len += self.tail.len() - before;
    }

    /// Queues `bytes` after what is queued: copied if small, shared if large.
    fn put_shared(&mut self, bytes: &Bytes) {
        if bytes.len() < COPY_LIMIT {
            self.put(bytes);
            return;
        }
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.chunks.push_back(bytes.clone());
        self.len += bytes.len();
    }

    fn end_frame(&mut self, start: usize) {
        self.lengths.push_back(self.len - start);
    }
}

/// `call` encoded once as a notification frame, to queue on many
/// connections (an event to a group) or many times.
pub(crate) fn encode_notification(call: &Outgoing) -> Bytes {
    let mut frames = Frames::new();
    frames.push_notification(call);
    frames.copy_to_bytes(frames.len())
}

/// A request around params already encoded, as a message transport that
/// carries calls in its own envelope hands one over:
/// `[0, msgid, method, params]`, with the call metadata as a fifth item
/// unless there is none.
pub fn request_frame(msgid: MsgId, method: &str, params: &Params, metadata: &Metadata) -> Bytes {
    let mut frames = Frames::new();
    let items = if metadata.is_empty() { 0x94 } else { 0x95 };
    frames.put(&[items, super::REQUEST]);
    frames.put_uint(u64::from(msgid));
    frames.put_str(method);
    frames.put(params.as_bytes());
    frames.put_metadata(metadata);
    frames.copy_to_bytes(frames.len())
}

/// A notification `[2, method, params]` around params already encoded.
pub fn notification_frame(method: &str, params: &Params) -> Bytes {
    let mut frames = Frames::new();
    frames.put(&[0x93, super::NOTIFICATION]);
    frames.put_str(method);
    frames.put(params.as_bytes());
    frames.copy_to_bytes(frames.len())
}

/// A notification about a stream, `[2, method, [msgid, ..]]`, the values
/// after the msgid already encoded (`count` of them).
pub fn stream_frame(method: &str, msgid: MsgId, count: u8, values: &[u8]) -> Bytes {
    let mut frames = Frames::new();
    frames.put(&[0x93, super::NOTIFICATION]);
    frames.put_str(method);
    // The msgid and `count` values: a fixarray up to 15 items, else array 16.
    let items = u16::from(count) + 1;
    match u8::try_from(items) {
        Ok(small) if small < 16 => frames.put(&[0x90 | small]),
        _ => {
            let [high, low] = items.to_be_bytes();
            frames.put(&[0xdc, high, low]);
        }
    }
    frames.put_uint(u64::from(msgid));
    frames.put(values);
    frames.copy_to_bytes(frames.len())
}

/// A response around a value already encoded: `[1, msgid, nil, result]`
/// for `Ok(result)`, `[1, msgid, error, nil]` for `Err(error)`. Each must
/// be exactly one msgpack value.
pub fn response_frame(msgid: MsgId, outcome: Result<&[u8], &[u8]>) -> Bytes {
    let mut frames = Frames::new();
    frames.put(&[0x94, super::RESPONSE]);
    frames.put_uint(u64::from(msgid));
    match outcome {
        Ok(result) => {
            frames.put(&[0xc0]);
            frames.put(result);
        }
        Err(error) => {
            frames.put(error);
            frames.put(&[0xc0]);
        }
    }
    frames.copy_to_bytes(frames.len())
}

impl Buf for Frames {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        match self.chunks.front() {
            Some(first) => first,
            None => &self.tail,
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let pieces = self
            .chunks
            .iter()
            .map(|chunk| &chunk[..])
            .chain(std::iter::once(&self.tail[..]))
            .filter(|piece| !piece.is_empty());
        let mut filled = 0;
        for (slot, piece) in dst.iter_mut().zip(pieces) {
            *slot = IoSlice::new(piece);
            filled += 1;
        }
        filled
    }

    fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advanced past the end of the queue");
        self.len -= n;
        let mut taken = self.taken_of_first + n;
        while let Some(&first) = self.lengths.front() {
            if taken < first {
                break;
            }
            taken -= first;
            self.lengths.pop_front();
        }
        self.taken_of_first = taken;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(first) if first.len() <= n => {
                    n -= first.len();
                    self.chunks.pop_front();
                }
                Some(first) => {
                    first.advance(n);
                    n = 0;
                }
                // All of it taken: emptied in place, so its space is used
                // again from the start without being moved.
                None if n == self.tail.len() => {
                    self.tail.clear();
                    n = 0;
                }
                None => {
                    self.tail.advance(n);
                    n = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn outgoing(method: &str, params: &impl serde::Serialize) -> Outgoing {
        Outgoing::new(Arc::from(method), params).unwrap()
    }

    #[test]
    fn msgids_are_written_in_their_shortest_form() {
        for msgid in [0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, u32::MAX] {
            let mut frames = Frames::new();
            frames.push_response(msgid, Ok(&Encoded::from(vec![0xc0])), ErrorFormat::Object);
            let bytes = frames.copy_to_bytes(frames.len());
            let mut expected = vec![0x94, 0x01];
            rmp::encode::write_uint(&mut expected, u64::from(msgid)).unwrap();
            expected.extend_from_slice(&[0xc0, 0xc0]);
            assert_eq!(&bytes[..], &expected[..], "msgid {msgid}");
        }
    }

    #[test]
    fn frames_come_out_one_by_one_or_as_bytes() {
        let mut frames = Frames::new();
        frames.push_notification(&outgoing("a", &(1,)));
        frames.push_request(&outgoing("b", &(2,)), 7, &Metadata::default());
        let total = frames.len();
        let mut as_bytes = Frames::new();
        as_bytes.push_notification(&outgoing("a", &(1,)));
        as_bytes.push_request(&outgoing("b", &(2,)), 7, &Metadata::default());
        let bytes = as_bytes.copy_to_bytes(as_bytes.remaining());
        assert_eq!(bytes.len(), total);
        assert_eq!(as_bytes.frame_count(), 0);

        let first = frames.pop_frame().unwrap();
        let second = frames.pop_frame().unwrap();
        assert_eq!([&first[..], &second[..]].concat(), &bytes[..]);
        assert!(frames.pop_frame().is_none() && frames.is_empty());
    }

    #[test]
    fn large_results_are_queued_without_a_copy() {
        let big = Bytes::from(vec![0xc4; COPY_LIMIT * 2]);
        let mut frames = Frames::new();
        frames.push_response(1, Ok(&Encoded::from(big.clone())), ErrorFormat::Object);
        frames.push_response(2, Ok(&Encoded::from(vec![7])), ErrorFormat::Object);
        let mut slices = [IoSlice::new(&[]); 8];
        let n = frames.chunks_vectored(&mut slices);
        assert_eq!(n, 3, "head, the shared result, then the next response");
        assert_eq!(slices[1].as_ptr(), big.as_ptr());

        let first = frames.pop_frame().unwrap();
        assert_eq!(first.len(), 4 + big.len());
        assert_eq!(&first[4..], &big[..]);
        assert_eq!(frames.pop_frame().unwrap().len(), 5);
    }

    #[test]
    fn partial_writes_keep_track_of_whole_frames() {
        let mut frames = Frames::new();
        for i in 0..3 {
            frames.push_notification(&outgoing("tick", &(i,)));
        }
        let each = frames.len() / 3;
        frames.advance(each + 1);
        assert_eq!(frames.frame_count(), 2);
        frames.advance(each - 1);
        assert_eq!(frames.frame_count(), 1);
        frames.advance(each);
        assert!(frames.is_empty() && frames.frame_count() == 0);
        frames.push_notification(&outgoing("again", &()));
        assert_eq!(frames.pop_frame().unwrap()[0], 0x93);
    }

    #[test]
    fn messages_built_around_encoded_parts_parse_back() {
        use super::super::Message;
        let params = Params::from_values(&[1.into(), "x".into()]);
        let metadata = Metadata {
            deadline_ms: Some(250),
            ..Metadata::default()
        };
        let request = request_frame(300, "math.add", &params, &metadata);
        match Message::parse(request).unwrap() {
            Message::Request(r) => {
                assert_eq!(
                    (r.msgid(), r.method(), r.deadline_ms()),
                    (300, "math.add", Some(250))
                );
                assert_eq!(r.params(), &params);
            }
            other => panic!("{other:?}"),
        }
        match Message::parse(notification_frame("ui.tick", &params)).unwrap() {
            Message::Notification(n) => assert_eq!((n.method(), n.params()), ("ui.tick", &params)),
            other => panic!("{other:?}"),
        }
        match Message::parse(response_frame(9, Ok(&[0x2a]))).unwrap() {
            Message::Response(r) => {
                assert_eq!((r.msgid(), r.error(), r.result()), (9, None, &[0x2a][..]))
            }
            other => panic!("{other:?}"),
        }
        match Message::parse(response_frame(9, Err(&[0xa1, b'e']))).unwrap() {
            Message::Response(r) => assert_eq!(
                (r.error(), r.result()),
                (Some(&[0xa1, b'e'][..]), &[0xc0][..])
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stream_frames_hold_the_msgid_and_any_number_of_values() {
        use super::super::Message;
        for count in [0u8, 1, 14, 15, 200, u8::MAX] {
            let values: Vec<u8> = (0..count).map(|i| i % 0x80).collect();
            let frame = stream_frame("rpc.item", 7, count, &values);
            let Message::Notification(n) = Message::parse(frame).unwrap() else {
                panic!("not a notification");
            };
            let mut expected: Vec<rmpv::Value> = vec![7.into()];
            expected.extend(values.iter().map(|&v| rmpv::Value::from(v)));
            assert_eq!(
                (n.method(), n.params().values().unwrap()),
                ("rpc.item", expected)
            );
        }
    }
}
