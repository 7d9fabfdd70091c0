//! msgpack-rpc by hand, for the `raw` baseline: no framework, no task per
//! call, no `Value`; just rmp reading and writing the four-item arrays. It
//! is the floor the frameworks are measured against.

use std::io;

use rmp::decode;

/// What the baseline's messages carry.
#[derive(Debug, PartialEq)]
pub(crate) enum Message<'a> {
    Request {
        msgid: u32,
        method: &'a str,
        params: &'a [u8],
    },
    Response {
        msgid: u32,
        result: &'a [u8],
    },
    Notification {
        method: &'a str,
    },
}

/// `[0, msgid, method, params]` where `params` is already an encoded array.
pub(crate) fn request(out: &mut Vec<u8>, msgid: u32, method: &str, params: &[u8]) {
    out.extend_from_slice(&[0x94, 0x00]);
    rmp::encode::write_u32(out, msgid).expect("a Vec");
    rmp::encode::write_str(out, method).expect("a Vec");
    out.extend_from_slice(params);
}

/// `[1, msgid, nil, result]` where `result` is already encoded.
pub(crate) fn response(out: &mut Vec<u8>, msgid: u32, result: &[u8]) {
    out.extend_from_slice(&[0x94, 0x01]);
    rmp::encode::write_uint(out, u64::from(msgid)).expect("a Vec");
    out.push(0xc0);
    out.extend_from_slice(result);
}

/// `[2, method, params]`.
pub(crate) fn notification(out: &mut Vec<u8>, method: &str, params: &[u8]) {
    out.extend_from_slice(&[0x93, 0x02]);
    rmp::encode::write_str(out, method).expect("a Vec");
    out.extend_from_slice(params);
}

/// `[a, b]` as params.
pub(crate) fn two_ints(out: &mut Vec<u8>, a: i64, b: i64) {
    out.push(0x92);
    rmp::encode::write_sint(out, a).expect("a Vec");
    rmp::encode::write_sint(out, b).expect("a Vec");
}

/// Splits the first whole message off `buffer`: `Ok(None)` if more bytes
/// are needed, and how many bytes it took.
pub(crate) fn parse(buffer: &[u8]) -> io::Result<Option<(Message<'_>, usize)>> {
    match parse_whole(buffer) {
        Ok(parsed) => Ok(Some(parsed)),
        Err(Incomplete::NeedMore) => Ok(None),
        Err(Incomplete::Invalid(why)) => Err(io::Error::new(io::ErrorKind::InvalidData, why)),
    }
}

enum Incomplete {
    NeedMore,
    Invalid(String),
}

impl From<decode::ValueReadError<io::Error>> for Incomplete {
    fn from(error: decode::ValueReadError<io::Error>) -> Self {
        match error {
            decode::ValueReadError::InvalidMarkerRead(_)
            | decode::ValueReadError::InvalidDataRead(_) => Incomplete::NeedMore,
            other => Incomplete::Invalid(other.to_string()),
        }
    }
}

impl From<decode::NumValueReadError<io::Error>> for Incomplete {
    fn from(error: decode::NumValueReadError<io::Error>) -> Self {
        match error {
            decode::NumValueReadError::InvalidMarkerRead(_)
            | decode::NumValueReadError::InvalidDataRead(_) => Incomplete::NeedMore,
            other => Incomplete::Invalid(other.to_string()),
        }
    }
}

fn parse_whole(buffer: &[u8]) -> Result<(Message<'_>, usize), Incomplete> {
    let mut rd = buffer;
    let len = decode::read_array_len(&mut rd)?;
    let kind: u8 = decode::read_int(&mut rd)?;
    let message = match (kind, len) {
        (0, 4) => {
            let msgid: u32 = decode::read_int(&mut rd)?;
            let method = read_str(&mut rd)?;
            let params = skip_value(&mut rd)?;
            Message::Request {
                msgid,
                method,
                params,
            }
        }
        (1, 4) => {
            let msgid: u32 = decode::read_int(&mut rd)?;
            let error = skip_value(&mut rd)?;
            if error != [0xc0] {
                return Err(Incomplete::Invalid(
                    "the baseline never sends errors".into(),
                ));
            }
            let result = skip_value(&mut rd)?;
            Message::Response { msgid, result }
        }
        (2, 3) => {
            let method = read_str(&mut rd)?;
            skip_value(&mut rd)?;
            Message::Notification { method }
        }
        _ => {
            return Err(Incomplete::Invalid(format!(
                "message type {kind} of {len} items"
            )));
        }
    };
    Ok((message, buffer.len() - rd.len()))
}

fn read_str<'a>(rd: &mut &'a [u8]) -> Result<&'a str, Incomplete> {
    let len = decode::read_str_len(rd)? as usize;
    let bytes = take(rd, len)?;
    std::str::from_utf8(bytes).map_err(|e| Incomplete::Invalid(e.to_string()))
}

fn take<'a>(rd: &mut &'a [u8], len: usize) -> Result<&'a [u8], Incomplete> {
    if rd.len() < len {
        return Err(Incomplete::NeedMore);
    }
    let (taken, rest) = rd.split_at(len);
    *rd = rest;
    Ok(taken)
}

/// Skips one whole value, returning its bytes (any value but ext and
/// floats, which the baseline never sees).
fn skip_value<'a>(rd: &mut &'a [u8]) -> Result<&'a [u8], Incomplete> {
    let start = *rd;
    let marker = rmp::Marker::from_u8(*rd.first().ok_or(Incomplete::NeedMore)?);
    use rmp::Marker as M;
    match marker {
        M::Null | M::True | M::False | M::FixPos(_) | M::FixNeg(_) => take(rd, 1).map(drop)?,
        M::U8 | M::I8 => take(rd, 2).map(drop)?,
        M::U16 | M::I16 => take(rd, 3).map(drop)?,
        M::U32 | M::I32 => take(rd, 5).map(drop)?,
        M::U64 | M::I64 => take(rd, 9).map(drop)?,
        M::Bin8 | M::Bin16 | M::Bin32 => {
            let len = decode::read_bin_len(rd)? as usize;
            take(rd, len)?;
        }
        M::FixStr(_) | M::Str8 | M::Str16 | M::Str32 => {
            read_str(rd)?;
        }
        M::FixMap(_) | M::Map16 | M::Map32 => {
            let len = decode::read_map_len(rd)?;
            for _ in 0..len * 2 {
                skip_value(rd)?;
            }
        }
        M::FixArray(_) | M::Array16 | M::Array32 => {
            let len = decode::read_array_len(rd)?;
            for _ in 0..len {
                skip_value(rd)?;
            }
        }
        other => return Err(Incomplete::Invalid(format!("unexpected {other:?}"))),
    }
    Ok(&start[..start.len() - rd.len()])
}

/// Reads `[a, b]` params.
pub(crate) fn read_two_ints(mut params: &[u8]) -> io::Result<(i64, i64)> {
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidData, e);
    let len = decode::read_array_len(&mut params).map_err(|e| invalid(e.to_string()))?;
    if len != 2 {
        return Err(invalid(format!("{len} params")));
    }
    let a = decode::read_int(&mut params).map_err(|e| invalid(e.to_string()))?;
    let b = decode::read_int(&mut params).map_err(|e| invalid(e.to_string()))?;
    Ok((a, b))
}

/// The bytes of `[bin]` params.
pub(crate) fn read_one_bin(mut params: &[u8]) -> io::Result<&[u8]> {
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidData, e);
    let len = decode::read_array_len(&mut params).map_err(|e| invalid(e.to_string()))?;
    let bin = decode::read_bin_len(&mut params).map_err(|e| invalid(e.to_string()))? as usize;
    if len != 1 || params.len() < bin {
        return Err(invalid("expected [bin]".into()));
    }
    Ok(&params[..bin])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_only_when_whole() {
        let mut params = Vec::new();
        two_ints(&mut params, 40, -2);
        let mut frame = Vec::new();
        request(&mut frame, 7, "add", &params);
        for cut in 0..frame.len() {
            assert!(parse(&frame[..cut]).unwrap().is_none(), "cut at {cut}");
        }
        let (message, used) = parse(&frame).unwrap().unwrap();
        assert_eq!(used, frame.len());
        let Message::Request {
            msgid,
            method,
            params,
        } = message
        else {
            panic!()
        };
        assert_eq!((msgid, method), (7, "add"));
        assert_eq!(read_two_ints(params).unwrap(), (40, -2));
    }
}
