//! The smallest readers of a message's parts, shared by the frame's parse
//! and the call metadata's.

use crate::codec::CodecError;

/// The error of a frame whose `what` is wrong.
pub(super) fn malformed(what: &str) -> CodecError {
    CodecError::Malformed(what.to_owned())
}

/// The length of a str (or bin) whose header starts `reader`, which is moved
/// past the header; `None` for anything else.
pub(super) fn read_str_len(reader: &mut &[u8]) -> Option<usize> {
    use rmp::Marker;
    if let [first @ 0xa0..=0xbf, ..] = **reader {
        *reader = &reader[1..];
        return Some(usize::from(first & 0x1f));
    }
    let len = match rmp::decode::read_marker(reader).ok()? {
        Marker::FixStr(n) => u32::from(n),
        Marker::Str8 | Marker::Bin8 => u32::from(take::<1>(reader)?[0]),
        Marker::Str16 | Marker::Bin16 => u32::from(u16::from_be_bytes(take::<2>(reader)?)),
        Marker::Str32 | Marker::Bin32 => u32::from_be_bytes(take::<4>(reader)?),
        _ => return None,
    };
    Some(len as usize)
}

fn take<const N: usize>(reader: &mut &[u8]) -> Option<[u8; N]> {
    let bytes: [u8; N] = reader.get(..N)?.try_into().ok()?;
    *reader = &reader[N..];
    Some(bytes)
}
