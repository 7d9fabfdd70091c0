use super::*;
use proptest::prelude::*;
use rmpv::Value;

fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).unwrap();
    out
}

fn decode_all(decoder: &mut FrameDecoder, buf: &mut BytesMut) -> Result<Vec<Bytes>, CodecError> {
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(buf)? {
        frames.push(frame);
    }
    Ok(frames)
}

fn request(msgid: u32, method: &str, params: Vec<Value>) -> Value {
    Value::Array(vec![
        0.into(),
        msgid.into(),
        method.into(),
        Value::Array(params),
    ])
}

#[test]
fn a_message_split_at_every_point_is_decoded_once() {
    let bytes = encode(&request(
        7,
        "math.stats.mean",
        vec![Value::Binary(vec![1; 300]), "x".into()],
    ));
    for split in 0..=bytes.len() {
        let mut decoder = FrameDecoder::default();
        let mut buf = BytesMut::from(&bytes[..split]);
        let mut frames = decode_all(&mut decoder, &mut buf).unwrap();
        buf.extend_from_slice(&bytes[split..]);
        frames.extend(decode_all(&mut decoder, &mut buf).unwrap());
        assert_eq!(frames, vec![Bytes::from(bytes.clone())], "split at {split}");
        assert!(buf.is_empty());
    }
}

#[test]
fn one_byte_reads_resume_where_they_stopped() {
    let bytes = encode(&request(
        1,
        "a",
        vec![Value::Array(vec![
            Value::Map(vec![(1.into(), 2.into())]);
            5
        ])],
    ));
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for byte in &bytes {
        buf.extend_from_slice(&[*byte]);
        frames.extend(decode_all(&mut decoder, &mut buf).unwrap());
    }
    assert_eq!(frames, vec![Bytes::from(bytes)]);
}

#[test]
fn oversized_declarations_fail_before_their_bytes_arrive() {
    let limits = Limits {
        max_message_size: 1024,
        max_depth: 8,
    };
    // bin32 declaring 4 GiB, str32 declaring 1 GiB, array32 declaring 2^32-1 items.
    for header in [
        &[0xc6, 0xff, 0xff, 0xff, 0xff][..],
        &[0xdb, 0x40, 0, 0, 0],
        &[0xdd, 0xff, 0xff, 0xff, 0xff],
    ] {
        let mut buf = BytesMut::from(&[0x94, 0x00, 0x01, 0xa1, b'm'][..]);
        buf.extend_from_slice(header);
        let error = FrameDecoder::new(limits).decode(&mut buf).unwrap_err();
        assert!(
            matches!(error, CodecError::TooLarge { max: 1024, .. }),
            "{error}"
        );
    }
}

#[test]
fn deep_nesting_is_refused_without_recursion() {
    let mut buf = BytesMut::from(&vec![0x91u8; 100_000][..]);
    let error = FrameDecoder::new(Limits {
        max_depth: 64,
        ..Limits::default()
    })
    .decode(&mut buf)
    .unwrap_err();
    assert_eq!(error, CodecError::TooDeep { max: 64 });
}

#[test]
fn the_reserved_byte_is_invalid() {
    let mut buf = BytesMut::from(&[0x93, 0x01, 0xc1][..]);
    let error = FrameDecoder::default().decode(&mut buf).unwrap_err();
    assert_eq!(
        error,
        CodecError::InvalidByte {
            byte: 0xc1,
            offset: 2
        }
    );
}

#[test]
fn a_frame_is_checked_to_be_exactly_one_value() {
    let limits = Limits::default();
    let whole = encode(&request(1, "m", vec![1.into()]));
    assert_eq!(check_frame(&whole, &limits), Ok(()));
    assert!(check_frame(&whole[..whole.len() - 1], &limits).is_err());
    // A checker kept between frames gives the same verdicts, whatever
    // the frame before (a half-checked one included).
    let mut checker = FrameChecker::default();
    assert!(checker.check(&whole[..whole.len() - 1], &limits).is_err());
    assert_eq!(checker.check(&whole, &limits), Ok(()));
    assert_eq!(checker.check(&whole, &limits), Ok(()));
    let mut two = whole.clone();
    two.extend_from_slice(&whole);
    assert!(check_frame(&two, &limits).is_err());
    let small = Limits {
        max_message_size: 4,
        ..limits
    };
    assert!(matches!(
        check_frame(&whole, &small),
        Err(CodecError::TooLarge { .. })
    ));
}

#[test]
fn value_len_measures_one_value() {
    let bytes = encode(&Value::Map(vec![(
        "k".into(),
        Value::Ext(5, vec![1, 2, 3]),
    )]));
    let mut with_tail = bytes.clone();
    with_tail.push(0xc0);
    assert_eq!(value_len(&with_tail), Ok(bytes.len()));
    assert!(value_len(&bytes[..bytes.len() - 1]).is_err());
}

#[test]
fn wide_messages_past_the_quick_pass_are_decoded_by_the_scan() {
    // More containers than the depth limit, though only two deep.
    let wide = encode(&Value::Array(vec![Value::Array(vec![1.into()]); 40]));
    let mut buf = BytesMut::from(&wide[..]);
    let limits = Limits {
        max_depth: 8,
        ..Limits::default()
    };
    assert_eq!(whole_len(&wide, &limits), None);
    let frame = FrameDecoder::new(limits).decode(&mut buf).unwrap().unwrap();
    assert_eq!(frame.len(), wide.len());
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f32>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::Binary),
        (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(t, d)| Value::Ext(t, d)),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((inner.clone(), inner), 0..8).prop_map(Value::Map),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn concatenated_values_split_anywhere_come_back_whole(
        values in proptest::collection::vec(any_value(), 1..6),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let encoded: Vec<Vec<u8>> = values.iter().map(encode).collect();
        let stream: Vec<u8> = encoded.concat();
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(stream.len());

        let mut decoder = FrameDecoder::default();
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        let mut start = 0;
        for cut in cuts {
            buf.extend_from_slice(&stream[start..cut]);
            start = cut;
            frames.extend(decode_all(&mut decoder, &mut buf).unwrap());
        }
        let expected: Vec<Bytes> = encoded.into_iter().map(Bytes::from).collect();
        prop_assert_eq!(frames, expected);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn the_quick_pass_and_the_scan_agree(value in any_value(), tail in 0usize..3) {
        let mut bytes = encode(&value);
        let len = bytes.len();
        bytes.extend(std::iter::repeat_n(0xc0, tail));
        let limits = Limits::default();
        prop_assert_eq!(whole_len(&bytes, &limits), Some(len));
        prop_assert_eq!(Scan::default().advance(&bytes, &limits), Ok(Some(len)));
        prop_assert_eq!(whole_len(&bytes[..len - 1], &limits), None);
    }

    #[test]
    fn garbage_never_panics_and_frames_stay_within_the_limit(
        garbage in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let limits = Limits { max_message_size: 512, max_depth: 16 };
        let mut decoder = FrameDecoder::new(limits);
        let mut buf = BytesMut::from(&garbage[..]);
        while let Ok(Some(frame)) = decoder.decode(&mut buf) {
            prop_assert!(frame.len() <= 512);
        }
    }
}

#[test]
fn a_large_binary_whose_header_arrived_says_how_long_the_frame_is() {
    let body = vec![7u8; 100_000];
    let frame = encode(&Value::Array(vec![
        Value::from(1),
        Value::Binary(body.clone()),
    ]));
    let mut decoder = FrameDecoder::new(Limits::default());
    assert_eq!(decoder.awaited_len(), 0, "nothing read yet");
    let mut buf = BytesMut::from(&frame[..1000]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert_eq!(
        decoder.awaited_len(),
        frame.len(),
        "the binary ends the frame"
    );
    buf.extend_from_slice(&frame[1000..]);
    assert_eq!(
        decoder.decode(&mut buf).unwrap().as_deref(),
        Some(&frame[..])
    );
    assert_eq!(decoder.awaited_len(), 0, "forgotten with its frame");

    // Past the size limit, nothing is awaited: the frame is refused.
    let mut small = FrameDecoder::new(Limits {
        max_message_size: 50_000,
        ..Limits::default()
    });
    let mut buf = BytesMut::from(&frame[..1000]);
    assert!(small.decode(&mut buf).is_err());
}
