use super::*;

use dotrpc::handler::Params;
use dotrpc::transport::{Metadata, request_frame};
use rmpv::Value;

fn caller(call_timeout: Duration) -> Caller {
    let limits = Limits::default();
    Caller::new(
        "demo".into(),
        "_INBOX.me.".into(),
        limits,
        Arc::new(Router::new()),
        call_timeout,
    )
}

/// The frame of a stream request the peer sends: msgid 7, `window`.
fn stream_request(window: u32) -> Bytes {
    let mut metadata = Metadata::default();
    metadata.credit = Some(window);
    request_frame(7, "count", &Params::from_values(&[3.into()]), &metadata)
}

/// A stream message from the instance about call 7.
fn from_instance(kind: Kind, payload: Bytes) -> async_nats::Message {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(streams::STREAM_HEADER, kind.name());
    async_nats::Message {
        subject: "_INBOX.me.7".into(),
        reply: Some("_INBOX.it.3".into()),
        payload,
        headers: Some(headers),
        status: None,
        description: None,
        length: 0,
    }
}

fn inbound(caller: &Caller, message: async_nats::Message) -> Vec<Outbound> {
    let mut out = Vec::new();
    caller.inbound(message, &mut out);
    out
}

/// What the peer is handed: method and params of each frame.
fn frames(out: &[Outbound]) -> Vec<(String, Vec<Value>)> {
    out.iter()
        .filter_map(|outbound| match outbound {
            Outbound::Answer(frame) => Some(frame.clone()),
            _ => None,
        })
        .map(|frame| match Message::parse(frame).unwrap() {
            Message::Notification(n) => (n.method().to_owned(), n.params().values().unwrap()),
            Message::Response(r) => ("response".to_owned(), vec![r.msgid().into()]),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn items_lost_on_the_way_reach_the_consumer_as_lag() {
    let caller = caller(Duration::from_secs(10));
    let Outbound::Publish(request) = caller.outbound(stream_request(4)) else {
        panic!("a stream request is published");
    };
    let headers = request.headers.unwrap();
    assert_eq!(headers.get(subject::CREDIT_HEADER).unwrap().as_str(), "4");
    let mut instance = Tally::default();
    let first = instance.send_item(&[0x01]);
    let _lost = instance.send_item(&[0x02]);
    let third = instance.send_item(&[0x03]);
    let out = inbound(&caller, from_instance(Kind::Item, first.clone()));
    assert_eq!(frames(&out), [(ITEM.to_owned(), vec![7.into(), 1.into()])]);
    let out = inbound(&caller, from_instance(Kind::Item, third));
    assert_eq!(
        frames(&out),
        [
            (LAGGED.to_owned(), vec![7.into(), 1.into()]),
            (ITEM.to_owned(), vec![7.into(), 3.into()]),
        ]
    );
    assert!(inbound(&caller, from_instance(Kind::Item, first)).is_empty());
    // The answer ends it, saying 4 items were sent: the last was lost.
    let mut answer = from_instance(Kind::Item, Bytes::from_static(&[0xc0]));
    let mut items = async_nats::HeaderMap::new();
    items.insert(streams::ITEMS_HEADER, "4");
    answer.headers = Some(items);
    assert_eq!(
        frames(&inbound(&caller, answer)),
        [
            (LAGGED.to_owned(), vec![7.into(), 1.into()]),
            ("response".to_owned(), vec![7.into()]),
        ]
    );
    assert!(lock(&caller.streams).is_empty(), "later messages find none");
}

#[test]
fn an_item_this_peer_cannot_take_ends_its_stream_out_loud() {
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let caller = Caller::new(
        "demo".into(),
        "_INBOX.me.".into(),
        limits,
        Arc::new(Router::new()),
        Duration::from_secs(10),
    );
    caller.outbound(stream_request(4));
    // [seq, [[1]]] is within the depth; the frame around it is not.
    let out = inbound(
        &caller,
        from_instance(
            Kind::Item,
            Bytes::from_static(&[0x92, 0x01, 0x91, 0x91, 0x01]),
        ),
    );
    let [Outbound::Publish(cancel), Outbound::Answer(_)] = &out[..] else {
        panic!("a cancel and the end");
    };
    let kind = cancel.headers.as_ref().unwrap().get(streams::STREAM_HEADER);
    assert_eq!(kind.unwrap().as_str(), "cancel");
    assert_eq!(frames(&out), [("response".to_owned(), vec![7.into()])]);
    assert!(lock(&caller.streams).is_empty());
}

#[test]
fn a_cancel_before_the_instance_is_known_goes_out_when_it_is() {
    let caller = caller(Duration::from_secs(10));
    caller.outbound(stream_request(4));
    let cancel = dotrpc::protocol::cancel(7);
    assert!(matches!(caller.outbound(cancel), Outbound::Drop));
    let ping = Tally::default().ping();
    let out = inbound(&caller, from_instance(Kind::Ping, ping));
    let [Outbound::Publish(publish)] = &out[..] else {
        panic!("the cancel is published");
    };
    assert_eq!(publish.subject.as_str(), "_INBOX.it.3");
    assert_eq!(publish.reply.as_ref().unwrap().as_str(), "_INBOX.me.7");
    let kind = publish
        .headers
        .as_ref()
        .unwrap()
        .get(streams::STREAM_HEADER);
    assert_eq!(kind.unwrap().as_str(), "cancel");
    assert!(lock(&caller.streams).is_empty(), "nothing left of it");
}

#[test]
fn a_stream_call_no_instance_takes_times_out_and_one_taken_is_pinged() {
    let caller = caller(Duration::ZERO);
    caller.outbound(stream_request(4));
    let mut out = Vec::new();
    caller.tick(&mut out);
    assert_eq!(frames(&out), [("response".to_owned(), vec![7.into()])]);
    assert!(lock(&caller.streams).is_empty());

    caller.outbound(stream_request(4));
    inbound(&caller, from_instance(Kind::Ping, Tally::default().ping()));
    let credit = streams::peer_frame(dotrpc::protocol::CREDIT, 7, Body::Count(2));
    let Outbound::Publish(grant) = caller.outbound(credit) else {
        panic!("credit is published");
    };
    assert_eq!(grant.payload[..], [6], "the total: the window and 2");
    out.clear();
    caller.tick(&mut out);
    let [Outbound::Publish(ping)] = &out[..] else {
        panic!("a ping");
    };
    assert_eq!(ping.payload[..], [0x92, 6, 0], "[granted, sent]");
    assert_eq!(ping.reply.as_ref().unwrap().as_str(), "_INBOX.me.7");
}
