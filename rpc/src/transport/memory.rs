//! Two transports joined in memory by a pair of pipes: for tests and for
//! using an API in-process through the same code path as over a network.

use super::Transport;

/// Bytes each direction buffers before the writer waits for the reader.
const PIPE_CAPACITY: usize = 256 * 1024;

/// Two ends of one in-memory connection.
pub(crate) fn pair() -> (Transport, Transport) {
    let (a, b) = tokio::io::duplex(PIPE_CAPACITY);
    let (a_reader, a_writer) = tokio::io::split(a);
    let (b_reader, b_writer) = tokio::io::split(b);
    (
        Transport::from_stream(a_reader, a_writer),
        Transport::from_stream(b_reader, b_writer),
    )
}
