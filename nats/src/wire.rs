//! The bytes of the NATS client protocol that the intake speaks
//! ([`super::intake`]): what the server sends (`INFO`, `MSG`, `HMSG`,
//! `PING`, `PONG`, `+OK`, `-ERR`), parsed from a buffer as it fills, and
//! the few lines the intake writes (`CONNECT`, `SUB`, `UNSUB`, `PING`,
//! `PONG`).
//!
//! Parsing follows the codec's contract: `Ok(None)` until an operation is
//! whole, `Err` for bytes that cannot be one; a declared payload is never
//! allocated before it has arrived, and a control line or a payload over
//! its limit is an error, not a wait.

use std::str::FromStr;

use async_nats::{HeaderMap, HeaderName, HeaderValue, ServerInfo, StatusCode, Subject};

use super::options::{Credentials, sign_nonce};
use bytes::{Buf, BytesMut};

/// The longest control line taken (`MSG subject sid reply size`): NATS
/// servers allow 4 KiB by default; subjects longer than this are not ours.
pub(crate) const MAX_CONTROL_LINE: usize = 64 * 1024;

/// What a server sends.
#[derive(Debug)]
pub(crate) enum ServerOp {
    /// A message for subscription `sid`.
    Msg {
        sid: u64,
        message: async_nats::Message,
    },
    Ping,
    Pong,
    /// `+OK` (only in verbose mode, which the intake does not ask for).
    Ok,
    /// `-ERR 'text'`: the text, without its quotes.
    Err(String),
    Info(Box<ServerInfo>),
}

/// Bytes that are not the NATS protocol, or over a limit.
#[derive(Debug, thiserror::Error)]
#[error("the NATS server sent {0}")]
pub(crate) struct WireError(String);

fn wire_error(what: impl Into<String>) -> WireError {
    WireError(what.into())
}

/// Takes the next whole operation off the front of `buffer`, if one is
/// there. `max_payload` bounds a message's headers and payload together.
pub(crate) fn next_op(
    buffer: &mut BytesMut,
    max_payload: usize,
) -> Result<Option<ServerOp>, WireError> {
    let Some(end) = buffer.windows(2).position(|pair| pair == b"\r\n") else {
        if buffer.len() > MAX_CONTROL_LINE {
            return Err(wire_error("a control line over 64 KiB"));
        }
        return Ok(None);
    };
    let line = std::str::from_utf8(&buffer[..end])
        .map_err(|_| wire_error("a control line that is not UTF-8"))?;
    let (verb, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
    let rest = rest.trim();
    let op = match verb.to_ascii_uppercase().as_str() {
        "PING" => ServerOp::Ping,
        "PONG" => ServerOp::Pong,
        "+OK" => ServerOp::Ok,
        "-ERR" => ServerOp::Err(rest.trim_matches('\'').to_owned()),
        "INFO" => {
            let info: ServerInfo = serde_json::from_str(rest)
                .map_err(|error| wire_error(format!("an INFO that is not its JSON: {error}")))?;
            ServerOp::Info(Box::new(info))
        }
        "MSG" => {
            let head = MessageLine::parse(rest, false)?;
            return head.take(buffer, end + 2, max_payload);
        }
        "HMSG" => {
            let head = MessageLine::parse(rest, true)?;
            return head.take(buffer, end + 2, max_payload);
        }
        _ => {
            return Err(wire_error(format!(
                "an unknown operation `{}`",
                verb.escape_default()
            )));
        }
    };
    buffer.advance(end + 2);
    Ok(Some(op))
}

/// `MSG <subject> <sid> [reply] <size>` or `HMSG <subject> <sid> [reply]
/// <header size> <total size>`, read; the bytes and `\r\n` follow it.
struct MessageLine {
    subject: Subject,
    sid: u64,
    reply: Option<Subject>,
    header_size: usize,
    total: usize,
}

impl MessageLine {
    fn parse(args: &str, with_headers: bool) -> Result<MessageLine, WireError> {
        let malformed = || wire_error(format!("a malformed message line `{args}`"));
        let tokens: Vec<&str> = args.split_ascii_whitespace().collect();
        let sizes = if with_headers { 2 } else { 1 };
        let (subject, sid, reply, sizes) = match tokens.len().checked_sub(sizes) {
            Some(2) => (tokens[0], tokens[1], None, &tokens[2..]),
            Some(3) => (tokens[0], tokens[1], Some(tokens[2]), &tokens[3..]),
            _ => return Err(malformed()),
        };
        let number = |token: &str| token.parse::<usize>().map_err(|_| malformed());
        let (header_size, total) = match sizes {
            [total] => (0, number(total)?),
            [header, total] => (number(header)?, number(total)?),
            _ => return Err(malformed()),
        };
        if header_size > total {
            return Err(wire_error("headers longer than their message"));
        }
        Ok(MessageLine {
            subject: Subject::from(subject),
            sid: sid.parse().map_err(|_| malformed())?,
            reply: reply.map(Subject::from),
            header_size,
            total,
        })
    }

    /// The message, once its bytes (from `start` in `buffer`) are whole.
    fn take(
        self,
        buffer: &mut BytesMut,
        start: usize,
        max_payload: usize,
    ) -> Result<Option<ServerOp>, WireError> {
        let total = self.total;
        if total > max_payload {
            return Err(wire_error(format!(
                "a message of {total} bytes, over its max_payload of {max_payload}"
            )));
        }
        if buffer.len() < start + total + 2 {
            // Not all here yet; room for it is made as it arrives.
            return Ok(None);
        }
        if &buffer[start + total..start + total + 2] != b"\r\n" {
            return Err(wire_error("a message whose size is not what it said"));
        }
        buffer.advance(start);
        let mut bytes = buffer.split_to(total).freeze();
        buffer.advance(2);
        let (headers, status, description) = if self.header_size > 0 {
            headers(&bytes.split_to(self.header_size))?
        } else {
            (None, None, None)
        };
        let message = async_nats::Message {
            subject: self.subject,
            reply: self.reply,
            payload: bytes,
            headers,
            status,
            description,
            length: total,
        };
        Ok(Some(ServerOp::Msg {
            sid: self.sid,
            message,
        }))
    }
}

/// What a header block says: `NATS/1.0[ status[ description]]`, then
/// `Name: value` lines. Lines that are not headers are passed over, as a
/// header a peer cannot name is no reason to drop its message.
type Parsed = (Option<HeaderMap>, Option<StatusCode>, Option<String>);

fn headers(block: &[u8]) -> Result<Parsed, WireError> {
    let text = std::str::from_utf8(block).map_err(|_| wire_error("headers that are not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let version = lines.next().unwrap_or_default();
    let rest = version
        .strip_prefix("NATS/1.0")
        .ok_or_else(|| wire_error("headers without their NATS/1.0 line"))?;
    let rest = rest.trim();
    let (status, description) = match rest.split_once(' ') {
        _ if rest.is_empty() => (None, None),
        Some((code, description)) => (Some(code), Some(description.trim().to_owned())),
        None => (Some(rest), None),
    };
    let status = status
        .map(|code| {
            code.parse::<u16>()
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
                .ok_or_else(|| wire_error(format!("a status `{code}` that is not one")))
        })
        .transpose()?;
    let mut map = HeaderMap::new();
    let mut any = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_str(name.trim()),
            HeaderValue::from_str(value.trim()),
        ) else {
            continue;
        };
        map.append(name, value);
        any = true;
    }
    Ok((
        any.then_some(map),
        status,
        description.filter(|d| !d.is_empty()),
    ))
}

/// The `CONNECT` line: protocol 1 (cluster updates and lame duck mode),
/// headers and "no responders" on, and the credentials: NKeys and JWTs
/// sign the server's `nonce`.
pub(crate) fn connect_line(
    name: &str,
    credentials: &Credentials,
    nonce: &str,
    tls: bool,
) -> std::io::Result<Vec<u8>> {
    let mut options = serde_json::json!({
        "verbose": false,
        "pedantic": false,
        "tls_required": tls,
        "name": name,
        "lang": "rust-dotrpc",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": 1,
        "echo": true,
        "headers": true,
        "no_responders": true,
    });
    match credentials {
        Credentials::None => {}
        Credentials::UserPassword(user, password) => {
            options["user"] = user.as_str().into();
            options["pass"] = password.as_str().into();
        }
        Credentials::Token(token) => options["auth_token"] = token.as_str().into(),
        Credentials::NKey(seed) => {
            let (public, signature) = sign_nonce(seed, nonce)?;
            options["nkey"] = public.into();
            options["sig"] = signature.into();
        }
        Credentials::Jwt { jwt, seed } => {
            let (_, signature) = sign_nonce(seed, nonce)?;
            options["jwt"] = jwt.as_str().into();
            options["sig"] = signature.into();
        }
    }
    Ok(format!("CONNECT {options}\r\n").into_bytes())
}

/// `SUB <subject> [queue] <sid>`.
pub(crate) fn sub_line(subject: &str, queue: Option<&str>, sid: u64) -> String {
    match queue {
        Some(queue) => format!("SUB {subject} {queue} {sid}\r\n"),
        None => format!("SUB {subject} {sid}\r\n"),
    }
}

/// `UNSUB <sid>`.
pub(crate) fn unsub_line(sid: u64) -> String {
    format!("UNSUB {sid}\r\n")
}

pub(crate) const PING: &[u8] = b"PING\r\n";
pub(crate) const PONG: &[u8] = b"PONG\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1024 * 1024;

    fn ops(bytes: &[u8]) -> Vec<ServerOp> {
        let mut buffer = BytesMut::from(bytes);
        let mut ops = Vec::new();
        while let Some(op) = next_op(&mut buffer, MAX).unwrap() {
            ops.push(op);
        }
        assert!(buffer.is_empty(), "left over: {buffer:?}");
        ops
    }

    const STREAM: &[u8] = b"INFO {\"server_id\":\"x\",\"max_payload\":1048576,\"connect_urls\":[\"127.0.0.1:4223\"]}\r\n\
        PING\r\n\
        MSG demo.add 1 _INBOX.a.7 3\r\n\x92\x01\x02\r\n\
        HMSG demo.sum 1 _INBOX.a.8 37 38\r\nNATS/1.0\r\nDotrpc-Credit: 16\r\nX: y\r\n\r\n\x90\r\n\
        HMSG _INBOX.a.9 2 30 30\r\nNATS/1.0 503 No Responders\r\n\r\n\r\n\
        MSG demo.log 1 0\r\n\r\n\
        -ERR 'Permissions Violation for Subscription to \"demo.>\"'\r\n\
        PONG\r\n";

    #[test]
    fn every_operation_is_parsed_as_it_was_sent() {
        let ops = ops(STREAM);
        assert_eq!(ops.len(), 8, "{ops:?}");
        let ServerOp::Info(info) = &ops[0] else {
            panic!("{:?}", ops[0])
        };
        assert_eq!(info.connect_urls, ["127.0.0.1:4223"]);
        assert!(matches!(ops[1], ServerOp::Ping));
        let ServerOp::Msg { sid: 1, message } = &ops[2] else {
            panic!("{:?}", ops[2])
        };
        assert_eq!(message.subject.as_str(), "demo.add");
        assert_eq!(message.reply.as_ref().unwrap().as_str(), "_INBOX.a.7");
        assert_eq!(&message.payload[..], b"\x92\x01\x02");
        let ServerOp::Msg { sid: 1, message } = &ops[3] else {
            panic!("{:?}", ops[3])
        };
        let headers = message.headers.as_ref().unwrap();
        assert_eq!(headers.get("Dotrpc-Credit").unwrap().as_str(), "16");
        assert_eq!(headers.get("X").unwrap().as_str(), "y");
        assert_eq!(&message.payload[..], b"\x90");
        assert_eq!(message.status, None);
        let ServerOp::Msg { sid: 2, message } = &ops[4] else {
            panic!("{:?}", ops[4])
        };
        assert_eq!(message.status, Some(StatusCode::NO_RESPONDERS));
        assert_eq!(message.description.as_deref(), Some("No Responders"));
        assert!(message.payload.is_empty() && message.headers.is_none());
        let ServerOp::Msg { message, .. } = &ops[5] else {
            panic!("{:?}", ops[5])
        };
        assert!(message.reply.is_none() && message.payload.is_empty());
        let ServerOp::Err(text) = &ops[6] else {
            panic!("{:?}", ops[6])
        };
        assert_eq!(text, "Permissions Violation for Subscription to \"demo.>\"");
        assert!(matches!(ops[7], ServerOp::Pong));
    }

    #[test]
    fn split_at_every_byte_the_same_operations_come_out() {
        let whole = ops(STREAM).len();
        for split in 0..STREAM.len() {
            let mut buffer = BytesMut::from(&STREAM[..split]);
            let mut count = 0;
            while next_op(&mut buffer, MAX).unwrap().is_some() {
                count += 1;
            }
            buffer.extend_from_slice(&STREAM[split..]);
            while next_op(&mut buffer, MAX).unwrap().is_some() {
                count += 1;
            }
            assert_eq!(count, whole, "split at {split}");
            assert!(buffer.is_empty());
        }
    }

    #[test]
    fn what_is_not_the_protocol_or_over_a_limit_is_an_error() {
        let error = |bytes: &[u8], max| {
            next_op(&mut BytesMut::from(bytes), max)
                .unwrap_err()
                .to_string()
        };
        assert!(error(b"HELLO\r\n", MAX).contains("unknown operation"));
        assert!(error(b"MSG a b 3\r\n", MAX).contains("malformed"));
        assert!(error(b"MSG a 1 x y 3\r\n", MAX).contains("malformed"));
        assert!(error(b"MSG a 1 3\r\nabcd\r\n", MAX).contains("size"));
        assert!(error(b"HMSG a 1 9 3\r\n", MAX).contains("longer"));
        assert!(error(b"MSG a 1 2000000\r\n", MAX).contains("max_payload"));
        assert!(error(b"HMSG a 1 5 5\r\nHTTP/\r\n", MAX).contains("NATS/1.0"));
        assert!(error(b"INFO {\r\n", MAX).contains("JSON"));
        // A line that never ends is refused once it is too long to be one.
        let endless = vec![b'M'; MAX_CONTROL_LINE + 1];
        assert!(error(&endless, MAX).contains("64 KiB"));
        // A declared size is not allocated before it arrives.
        let mut buffer = BytesMut::from(&b"MSG a 1 1000000\r\n"[..]);
        assert!(next_op(&mut buffer, MAX).unwrap().is_none());
        assert!(buffer.capacity() < 1000);
    }

    #[test]
    fn the_lines_written_are_the_protocol() {
        assert_eq!(sub_line("demo.>", Some("demo"), 1), "SUB demo.> demo 1\r\n");
        assert_eq!(sub_line("_INBOX.x.*", None, 2), "SUB _INBOX.x.* 2\r\n");
        assert_eq!(unsub_line(2), "UNSUB 2\r\n");
        let line = |credentials: &Credentials| {
            let line = connect_line("demo", credentials, "nonce", false).unwrap();
            let line = String::from_utf8(line).unwrap();
            let json = line.strip_prefix("CONNECT ").unwrap().trim().to_owned();
            serde_json::from_str::<serde_json::Value>(&json).unwrap()
        };
        let json = line(&Credentials::UserPassword("u".into(), "p".into()));
        assert_eq!(json["user"], "u");
        assert_eq!(json["pass"], "p");
        assert_eq!(json["headers"], true);
        assert_eq!(json["no_responders"], true);
        assert_eq!(line(&Credentials::Token("t".into()))["auth_token"], "t");
        let user = nkeys::KeyPair::new_user();
        let json = line(&Credentials::NKey(user.seed().unwrap()));
        assert_eq!(json["nkey"], user.public_key());
        assert!(json["sig"].as_str().is_some_and(|sig| !sig.is_empty()));
        let json = line(&Credentials::Jwt {
            jwt: "a.b.c".into(),
            seed: user.seed().unwrap(),
        });
        assert_eq!(json["jwt"], "a.b.c");
        assert!(json.get("nkey").is_none() && json["sig"].is_string());
    }
}
