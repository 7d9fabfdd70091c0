use rmpv::Value;

use super::*;
use crate::test_server::NatsServer;
use dotrpc::protocol::{INPUT_CREDIT, ITEM};

/// A message to the instance's subject for call `msgid`.
fn to_instance(service: &Service, msgid: MsgId, kind: Kind, payload: Bytes) -> async_nats::Message {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(streams::STREAM_HEADER, kind.name());
    async_nats::Message {
        subject: service.control_subject(msgid),
        reply: Some("_INBOX.caller.1".into()),
        payload,
        headers: Some(headers),
        status: None,
        description: None,
        length: 0,
    }
}

/// A stream request with `credit`, as a caller publishes it.
fn request(credit: u32) -> async_nats::Message {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(subject::CREDIT_HEADER, credit.to_string().as_str());
    async_nats::Message {
        subject: "demo.sum".into(),
        reply: Some("_INBOX.caller.1".into()),
        payload: Bytes::from_static(&[0x90]),
        headers: Some(headers),
        status: None,
        description: None,
        length: 0,
    }
}

async fn service(nats: &NatsServer) -> Service {
    let client = async_nats::connect(&nats.url).await.unwrap();
    // Pings every 10 ms.
    let timeout = Duration::from_millis(20);
    Service::new(
        "demo".into(),
        Limits::default(),
        ErrorFormat::Object,
        &client,
        timeout,
    )
}

fn inbound(service: &Service, message: async_nats::Message) -> Vec<Outbound> {
    let mut out = Vec::new();
    service.inbound(message, &mut out);
    out
}

fn notification(outbound: &Outbound) -> (String, Vec<Value>) {
    let Outbound::Answer(frame) = outbound else {
        panic!("not a frame for the peer");
    };
    match Message::parse(frame.clone()).unwrap() {
        Message::Notification(n) => (n.method().to_owned(), n.params().values().unwrap()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn lost_input_fails_the_call_and_stops_its_handler() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let service = service(&nats).await;
    // The request: a ping saying where the instance is, then the frame.
    let out = inbound(&service, request(0));
    let [Outbound::Publish(ping), Outbound::Answer(_)] = &out[..] else {
        panic!("a ping and the request");
    };
    assert_eq!(ping.reply.as_ref(), Some(&service.control_subject(0)));
    // The handler grants room; the caller sends item 1, then item 3.
    let grant = streams::peer_frame(INPUT_CREDIT, 0, Body::Count(4));
    let Outbound::Publish(grant) = service.outbound(grant) else {
        panic!("the grant is published");
    };
    assert_eq!(grant.subject.as_str(), "_INBOX.caller.1");
    let mut caller = Tally::default();
    let first = caller.send_item(&[0x05]);
    let _lost = caller.send_item(&[0x06]);
    let third = caller.send_item(&[0x07]);
    let out = inbound(&service, to_instance(&service, 0, Kind::Input, first));
    assert_eq!(
        notification(&out[0]),
        (INPUT.to_owned(), vec![0.into(), 5.into()])
    );
    let out = inbound(&service, to_instance(&service, 0, Kind::Input, third));
    assert_eq!(
        notification(&out[0]),
        ("rpc.cancel".to_owned(), vec![0.into()])
    );
    let Outbound::Publish(error) = &out[1] else {
        panic!("the caller is answered");
    };
    let code = error
        .headers
        .as_ref()
        .unwrap()
        .get(subject::ERROR_CODE_HEADER);
    assert_eq!(code.unwrap().as_str(), "500");
    assert!(lock(&service.waiting).is_empty());

    // The last items lost: the end says how many there were.
    inbound(&service, request(0));
    let mut caller = Tally::default();
    let first = caller.send_item(&[0x05]);
    let _lost = caller.send_item(&[0x06]);
    inbound(&service, to_instance(&service, 1, Kind::Input, first));
    let end = streams::count_body(caller.sent());
    let out = inbound(&service, to_instance(&service, 1, Kind::InputEnd, end));
    assert_eq!(
        notification(&out[0]),
        ("rpc.cancel".to_owned(), vec![1.into()])
    );
    assert!(matches!(out[1], Outbound::Publish(_)), "the caller is told");

    // An end that does not count (an empty body) is taken as it is.
    inbound(&service, request(0));
    let out = inbound(
        &service,
        to_instance(&service, 2, Kind::InputEnd, Bytes::new()),
    );
    assert_eq!(
        notification(&out[0]),
        (INPUT_END.to_owned(), vec![2.into()])
    );

    // A ping for a call this instance no longer has: an error reply.
    let out = inbound(&service, to_instance(&service, 1, Kind::Ping, end_ping()));
    let [Outbound::Publish(error)] = &out[..] else {
        panic!("an error reply");
    };
    assert_eq!(error.subject.as_str(), "_INBOX.caller.1");
    assert!(
        error
            .headers
            .as_ref()
            .unwrap()
            .get(subject::ERROR_CODE_HEADER)
            .is_some()
    );
    let out = inbound(&service, to_instance(&service, 1, Kind::Credit, end_ping()));
    assert!(out.is_empty(), "only a ping is answered");
}

fn end_ping() -> Bytes {
    Tally::default().ping()
}

#[tokio::test]
async fn items_are_numbered_and_counted_and_a_caller_that_is_gone_stops_its_handler() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let service = service(&nats).await;
    inbound(&service, request(2));
    let item = streams::peer_frame(ITEM, 0, Body::Item(&[0x2a]));
    let Outbound::Publish(item) = service.outbound(item) else {
        panic!("the item is published");
    };
    assert_eq!(item.payload[..], [0x92, 0x01, 0x2a], "[seq, item]");

    // Credit beyond the request's: the peer gets the difference.
    let out = inbound(
        &service,
        to_instance(&service, 0, Kind::Credit, Bytes::from_static(&[5])),
    );
    assert_eq!(
        notification(&out[0]),
        (CREDIT.to_owned(), vec![0.into(), 3.into()])
    );
    // The end says how many items came before it.
    let Outbound::Publish(end) = service.outbound(response_frame(0, Ok(&[0xc0]))) else {
        panic!("the end is published");
    };
    let items = end.headers.unwrap();
    assert_eq!(items.get(streams::ITEMS_HEADER).unwrap().as_str(), "1");

    inbound(&service, request(2));
    let gone = || {
        let mut gone = to_instance(&service, 1, Kind::Ping, Bytes::new());
        gone.headers = None;
        gone.status = Some(StatusCode::NO_RESPONDERS);
        gone
    };
    assert!(
        inbound(&service, gone()).is_empty(),
        "maybe a broker restart"
    );
    tokio::time::sleep(Duration::from_millis(30)).await;
    let out = inbound(&service, gone());
    assert_eq!(
        notification(&out[0]),
        ("rpc.cancel".to_owned(), vec![1.into()])
    );
    assert_eq!(out.len(), 1, "nobody to answer");
    assert!(lock(&service.waiting).is_empty());
}

#[tokio::test]
async fn a_refused_request_is_answered_in_the_peers_error_format() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let client = async_nats::connect(&nats.url).await.unwrap();
    let timeout = Duration::from_secs(1);
    for (format, words) in [(ErrorFormat::Object, false), (ErrorFormat::Message, true)] {
        let service = Service::new("demo".into(), Limits::default(), format, &client, timeout);
        // A body that is not the params array never reaches the peer.
        let mut call = request(0);
        call.subject = "demo.add".into();
        call.headers = None;
        call.payload = Bytes::from_static(&[0x01]);
        let out = inbound(&service, call);
        let [Outbound::Publish(reply)] = &out[..] else {
            panic!("one error reply");
        };
        let headers = reply.headers.as_ref().expect("NATS's error headers");
        assert_eq!(
            headers.get(subject::ERROR_CODE_HEADER).unwrap().as_str(),
            "400"
        );
        let body: Value = rmpv::decode::read_value(&mut &reply.payload[..]).unwrap();
        if words {
            let words = body.as_str().expect("the error's words");
            assert!(words.starts_with("InvalidParams: "), "{words}");
        } else {
            assert_eq!(body["code"].as_str(), Some("InvalidParams"), "{body}");
        }
    }
}
