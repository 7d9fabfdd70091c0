//! A fuzz harness for the codec and the message decoder that runs on the
//! stable toolchain: proptest mutates valid msgpack-rpc streams (flipped,
//! inserted, deleted and truncated bytes, arbitrary splits) and feeds them
//! through everything a peer does with untrusted bytes. Nothing may panic, no
//! frame may exceed the limit, and every parsed message must be readable.
//!
//! CI runs a bounded number of cases; for a long run:
//!
//! ```text
//! DOTRPC_FUZZ_CASES=1000000 cargo test --release -p dotrpc --test fuzz
//! ```
//!
//! A failing input that proptest reports becomes a case in
//! `regressions_stay_fixed` below.

use bytes::BytesMut;
use dotrpc::handler::Params;
use dotrpc::transport::Message;
use dotrpc::transport::{FrameDecoder, Limits};
use proptest::prelude::*;
use rmpv::Value;

fn cases() -> u32 {
    std::env::var("DOTRPC_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

/// Everything a peer does with bytes from the wire.
fn consume(stream: &[u8], cuts: &[usize]) {
    let limits = Limits {
        max_message_size: 4096,
        max_depth: 32,
    };
    let mut decoder = FrameDecoder::new(limits);
    let mut buffer = BytesMut::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        let cut = cut.clamp(start, stream.len());
        buffer.extend_from_slice(&stream[start..cut]);
        start = cut;
        loop {
            match decoder.decode(&mut buffer) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= limits.max_message_size);
                    read(Message::parse(frame));
                }
                Ok(None) => break,
                // The connection would close here.
                Err(_) => return,
            }
        }
    }
}

fn read(message: Result<Message, dotrpc::transport::CodecError>) {
    let params = |params: &Params| {
        let _ = params.values();
        assert_eq!(
            params.values().map(|v| v.len()).unwrap_or(params.len()),
            params.len()
        );
    };
    match message {
        Ok(Message::Request(request)) => params(request.params()),
        Ok(Message::Notification(notification)) => params(notification.params()),
        Ok(Message::Response(response)) => {
            if let Some(error) = response.error() {
                let _ = rmpv::decode::read_value(&mut &error[..]);
            }
            let _ = rmpv::decode::read_value(&mut &response.result()[..]);
        }
        Err(_) => {}
    }
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z.]{0,12}".prop_map(Value::from),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Binary),
        (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..8))
            .prop_map(|(t, d)| Value::Ext(t, d)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Value::Map),
        ]
    })
}

fn params() -> impl Strategy<Value = Value> {
    proptest::collection::vec(value(), 0..4).prop_map(Value::Array)
}

fn message() -> impl Strategy<Value = Value> {
    prop_oneof![
        (any::<u32>(), "[a-z.]{1,16}", params()).prop_map(|(id, m, p)| Value::Array(vec![
            0.into(),
            id.into(),
            m.into(),
            p
        ])),
        (any::<u32>(), value(), value()).prop_map(|(id, e, r)| Value::Array(vec![
            1.into(),
            id.into(),
            e,
            r
        ])),
        ("[a-z.]{1,16}", params()).prop_map(|(m, p)| Value::Array(vec![2.into(), m.into(), p])),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Delete(prop::sample::Index),
    Truncate(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Mutation::Delete),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match mutation {
        Mutation::Flip(i, b) => {
            let i = i.index(bytes.len());
            bytes[i] ^= b | 1;
        }
        Mutation::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), *b),
        Mutation::Delete(i) => {
            bytes.remove(i.index(bytes.len()));
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn mutated_message_streams_never_panic(
        messages in proptest::collection::vec(message(), 1..6),
        mutations in proptest::collection::vec(mutation(), 0..6),
        cuts in proptest::collection::vec(0usize..2048, 0..6),
    ) {
        let mut stream = Vec::new();
        for message in &messages {
            rmpv::encode::write_value(&mut stream, message).unwrap();
        }
        for mutation in &mutations {
            mutate(&mut stream, mutation);
        }
        let mut cuts = cuts;
        cuts.sort_unstable();
        consume(&stream, &cuts);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        consume(&bytes, &[]);
    }
}

#[test]
fn regressions_stay_fixed() {
    // Inputs once suspected or found; each must be handled without a panic.
    let cases: &[&[u8]] = &[
        // A request whose params declare 2^32 - 1 items.
        &[0x94, 0x00, 0x01, 0xa1, b'm', 0xdd, 0xff, 0xff, 0xff, 0xff],
        // A 5-item request whose metadata is not a map.
        &[0x95, 0x00, 0x01, 0xa1, b'm', 0x90, 0x01],
        // A response whose error is a truncated str.
        &[0x94, 0x01, 0x01, 0xa5, b'a'],
        // Nesting past the depth limit.
        &[0x91; 64],
    ];
    for case in cases {
        consume(case, &[]);
    }
}
