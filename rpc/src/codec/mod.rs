//! Bytes → frames: splits a byte stream into whole msgpack values.
//!
//! The first stage of the inbound flow. [`FrameDecoder`] walks the read buffer
//! header by header without decoding anything: it only learns where the next
//! top-level value ends. It is resumable (a value split across many reads is
//! scanned once in total, not once per read) and bounded:
//!
//! * a value larger than [`Limits::max_message_size`] is rejected as soon as a
//!   header declares it, before its bytes arrive;
//! * nothing is ever allocated from a declared length: the scanner keeps only a
//!   stack of "items left" counters, one per open container, at most
//!   [`Limits::max_depth`] deep, so hostile nesting cannot exhaust the stack.
//!
//! "Not yet" is not an error: [`FrameDecoder::decode`] returns `Ok(None)` until a
//! value is whole, and `Err` only for bytes that can never become a valid value.
//!
//! Transports that carry whole messages (a broker, WebSocket) need no
//! framing; each message they hand over is checked with [`check_frame`]
//! against the same limits instead.

use bytes::{Bytes, BytesMut};

/// Why bytes could not be taken as a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A message is larger than the configured maximum.
    #[error("message of at least {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The size the message declared or reached so far.
        size: u64,
        /// The configured maximum.
        max: usize,
    },
    /// Containers are nested deeper than the configured maximum.
    #[error("values nested deeper than the maximum of {max}")]
    TooDeep {
        /// The configured maximum depth.
        max: usize,
    },
    /// Bytes that msgpack never produces (the reserved byte `0xc1`).
    #[error("invalid msgpack: byte {byte:#04x} at offset {offset}")]
    InvalidByte {
        /// The offending byte.
        byte: u8,
        /// Its offset within the message.
        offset: usize,
    },
    /// A whole msgpack value that is not a msgpack-rpc message.
    #[error("not a msgpack-rpc message: {0}")]
    Malformed(String),
    /// A value could not be encoded or decoded to or from a Rust type.
    #[error("could not convert a value: {0}")]
    Serde(String),
}

/// Bounds on what the decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest message, in bytes, that is accepted. Default: 16 MiB.
    pub max_message_size: usize,
    /// The deepest nesting of arrays and maps accepted. Default: 128.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 16 * 1024 * 1024,
            max_depth: 128,
        }
    }
}

/// What a header says about the value it starts.
#[derive(Debug, Clone, Copy)]
struct Header {
    /// Bytes of the header itself.
    size: usize,
    /// For a leaf (scalar, str, bin, ext): the bytes of its body. For a
    /// container: how many values it holds (two per map entry).
    length: u64,
    container: bool,
}

impl Header {
    fn leaf(size: usize, body: u64) -> Self {
        Header {
            size,
            length: body,
            container: false,
        }
    }

    fn container(size: usize, items: u64) -> Self {
        Header {
            size,
            length: items,
            container: true,
        }
    }
}

/// Reads the header at the start of `buf`; `Ok(None)` if it is not all there.
fn header(buf: &[u8], offset: usize) -> Result<Option<Header>, CodecError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    // Length fields follow the marker big-endian; `n` is their width.
    let length = |n: usize| -> Option<u64> {
        let bytes = buf.get(1..1 + n)?;
        Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    };
    let leaf = Header::leaf;
    let sized_leaf = |n: usize, extra: usize| length(n).map(|body| leaf(1 + n + extra, body));
    let container = |n: usize, per_entry: u64| {
        length(n).map(|count| Header::container(1 + n, count * per_entry))
    };
    let parsed = match first {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Some(leaf(1, 0)),
        0x80..=0x8f => Some(Header::container(1, u64::from(first & 0x0f) * 2)),
        0x90..=0x9f => Some(Header::container(1, u64::from(first & 0x0f))),
        0xa0..=0xbf => Some(leaf(1, u64::from(first & 0x1f))),
        0xc1 => {
            return Err(CodecError::InvalidByte {
                byte: first,
                offset,
            });
        }
        0xc4 | 0xd9 => sized_leaf(1, 0),
        0xc5 | 0xda => sized_leaf(2, 0),
        0xc6 | 0xdb => sized_leaf(4, 0),
        0xc7 => sized_leaf(1, 1),
        0xc8 => sized_leaf(2, 1),
        0xc9 => sized_leaf(4, 1),
        0xca => Some(leaf(5, 0)),
        0xcb => Some(leaf(9, 0)),
        0xcc | 0xd0 => Some(leaf(2, 0)),
        0xcd | 0xd1 => Some(leaf(3, 0)),
        0xce | 0xd2 => Some(leaf(5, 0)),
        0xcf | 0xd3 => Some(leaf(9, 0)),
        0xd4 => Some(leaf(3, 0)),
        0xd5 => Some(leaf(4, 0)),
        0xd6 => Some(leaf(6, 0)),
        0xd7 => Some(leaf(10, 0)),
        0xd8 => Some(leaf(18, 0)),
        0xdc => container(2, 1),
        0xdd => container(4, 1),
        0xde => container(2, 2),
        0xdf => container(4, 2),
    };
    Ok(parsed)
}

/// A resumable scan of one top-level value.
///
/// Invariant: `pos` is the end of the last *complete* item, and `open` holds,
/// per open container, how many items it still expects. Everything before `pos`
/// has been checked and is never looked at again.
#[derive(Debug, Default, Clone)]
struct Scan {
    pos: usize,
    open: Vec<u64>,
    /// Where the leaf whose header was read but whose bytes have not all
    /// arrived ends (0 if none): the buffer needs at least that much.
    awaited: usize,
}

impl Scan {
    /// Advances over `buf` (which starts at the value); `Ok(Some(len))` once the
    /// value is complete.
    fn advance(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, CodecError> {
        let max = limits.max_message_size as u64;
        loop {
            let Some(&first) = buf.get(self.pos) else {
                return Ok(None);
            };
            // Most items of a small message have a one-byte header; only the
            // others need the full header parser.
            let header = match first {
                0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Header::leaf(1, 0),
                0x80..=0x8f => Header::container(1, u64::from(first & 0x0f) * 2),
                0x90..=0x9f => Header::container(1, u64::from(first & 0x0f)),
                0xa0..=0xbf => Header::leaf(1, u64::from(first & 0x1f)),
                _ => match header(&buf[self.pos..], self.pos)? {
                    Some(header) => header,
                    None => return Ok(None),
                },
            };
            // A leaf ends exactly there; a container at least there, since
            // every item takes a byte. Either way a message too large is
            // refused before the bytes it declares arrive.
            let least_end = self.pos as u64 + header.size as u64 + header.length;
            if least_end > max {
                return Err(CodecError::TooLarge {
                    size: least_end,
                    max: limits.max_message_size,
                });
            }
            if !header.container {
                if least_end > buf.len() as u64 {
                    self.awaited = least_end as usize;
                    return Ok(None);
                }
                self.awaited = 0;
                self.pos = least_end as usize;
            } else {
                if self.pos + header.size > buf.len() {
                    return Ok(None);
                }
                self.pos += header.size;
                if header.length > 0 {
                    if self.open.len() >= limits.max_depth {
                        return Err(CodecError::TooDeep {
                            max: limits.max_depth,
                        });
                    }
                    self.open.push(header.length);
                    continue;
                }
            }
            // One item is complete; close every container it completes.
            loop {
                match self.open.last_mut() {
                    None => return Ok(Some(self.pos)),
                    Some(left) if *left > 1 => {
                        *left -= 1;
                        break;
                    }
                    Some(_) => {
                        self.open.pop();
                    }
                }
            }
        }
    }
}

/// Splits a read buffer into whole msgpack values, bounded by [`Limits`].
#[derive(Debug, Default, Clone)]
pub struct FrameDecoder {
    limits: Limits,
    scan: Scan,
}

impl FrameDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: Limits) -> Self {
        FrameDecoder {
            limits,
            scan: Scan::default(),
        }
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How long the buffer must grow for the frame begun in it to go on:
    /// the end of a string or binary whose header has arrived and whose
    /// bytes have not (within the size limit, which the header was checked
    /// against), 0 if no such length is known. A reader reserves it at once,
    /// as tokio-util's length-delimited codec reserves a declared frame, so
    /// a large value is read into one allocation rather than one that
    /// doubles and copies what it holds each time. Memory reserved is not
    /// yet written (the pages are not touched before the bytes arrive), and
    /// a message that stalls is cut off by the message timeout.
    pub(crate) fn awaited_len(&self) -> usize {
        self.scan.awaited
    }

    /// Takes the next whole value off the front of `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed; call again after the next
    /// read, with the same buffer (the scan resumes where it stopped).
    ///
    /// # Errors
    ///
    /// [`CodecError`] when the buffer can never hold a valid value within the
    /// limits; the connection should be closed, as the stream cannot be
    /// resynchronised.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        if self.scan.pos == 0
            && let Some(len) = whole_len(buf, &self.limits)
        {
            return Ok(Some(buf.split_to(len).freeze()));
        }
        match self.scan.advance(buf, &self.limits)? {
            Some(len) => {
                // Keeps the stack's allocation for the next frame.
                self.scan.pos = 0;
                self.scan.awaited = 0;
                self.scan.open.clear();
                Ok(Some(buf.split_to(len).freeze()))
            }
            None => Ok(None),
        }
    }
}

/// The length of the value at the start of `buf`, if all of it is there and
/// it is plainly within `limits`: one quick pass that keeps a single count of
/// the items still owed, no stack. Nesting is bounded by counting every
/// container (an upper bound of the depth). `None` leaves it to the
/// resumable scan, which tells "not yet" from "never" exactly.
fn whole_len(buf: &[u8], limits: &Limits) -> Option<usize> {
    let mut pos = 0usize;
    let mut owed: u64 = 1;
    let mut containers = 0usize;
    while owed > 0 {
        let first = *buf.get(pos)?;
        owed -= 1;
        match first {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => pos += 1,
            0xa0..=0xbf => pos += 1 + usize::from(first & 0x1f),
            0x90..=0x9f => {
                pos += 1;
                owed += u64::from(first & 0x0f);
                containers += 1;
            }
            0x80..=0x8f => {
                pos += 1;
                owed += u64::from(first & 0x0f) * 2;
                containers += 1;
            }
            _ => {
                let header = header(&buf[pos..], pos).ok()??;
                if header.container {
                    pos += header.size;
                    owed = owed.checked_add(header.length)?;
                    containers += 1;
                } else {
                    let body = usize::try_from(header.length).ok()?;
                    pos = pos.checked_add(header.size)?.checked_add(body)?;
                }
            }
        }
        if containers > limits.max_depth || pos > limits.max_message_size {
            return None;
        }
    }
    (pos <= buf.len()).then_some(pos)
}

/// Checks that `frame` is exactly one whole msgpack value within `limits`:
/// what a message transport hands over must be, as the framer's frames are.
///
/// # Errors
///
/// [`CodecError`] saying what is wrong: too large, too deep, invalid bytes,
/// a value that ends early, or bytes after the value.
pub fn check_frame(frame: &[u8], limits: &Limits) -> Result<(), CodecError> {
    check_with(&mut Scan::default(), frame, limits)
}

/// Checks frame after frame as [`check_frame`] does, keeping its stack of
/// open containers between them: once warm, a check allocates nothing. A
/// connection whose transport hands over whole messages keeps one.
#[derive(Debug, Default)]
pub(crate) struct FrameChecker(Scan);

impl FrameChecker {
    pub(crate) fn check(&mut self, frame: &[u8], limits: &Limits) -> Result<(), CodecError> {
        self.0.pos = 0;
        self.0.open.clear();
        check_with(&mut self.0, frame, limits)
    }
}

fn check_with(scan: &mut Scan, frame: &[u8], limits: &Limits) -> Result<(), CodecError> {
    if frame.len() > limits.max_message_size {
        return Err(CodecError::TooLarge {
            size: frame.len() as u64,
            max: limits.max_message_size,
        });
    }
    match scan.advance(frame, limits)? {
        Some(len) if len == frame.len() => Ok(()),
        Some(len) => Err(CodecError::Malformed(format!(
            "{} bytes after a whole message of {len}",
            frame.len() - len
        ))),
        None => Err(CodecError::Malformed("message ends early".into())),
    }
}

/// The length of the whole msgpack value at the start of `buf`.
///
/// Used on parts of frames the decoder has already checked against the
/// limits, so it keeps one count of the items still owed rather than a stack
/// of open containers: nothing is allocated, whatever the nesting.
///
/// # Errors
///
/// [`CodecError::Malformed`] if `buf` ends before the value does.
pub(crate) fn value_len(buf: &[u8]) -> Result<usize, CodecError> {
    let ends_early = || CodecError::Malformed("value ends early".into());
    let mut pos = 0;
    let mut owed: u64 = 1;
    while owed > 0 {
        let header = header(&buf[pos..], pos)?.ok_or_else(ends_early)?;
        owed -= 1;
        if header.container {
            pos += header.size;
            owed = owed.saturating_add(header.length);
        } else {
            pos = usize::try_from(pos as u64 + header.size as u64 + header.length)
                .map_err(|_| ends_early())?;
        }
        // Every item owed takes at least a byte.
        if pos as u64 + owed > buf.len() as u64 {
            return Err(ends_early());
        }
    }
    Ok(pos)
}

#[cfg(test)]
mod tests;
