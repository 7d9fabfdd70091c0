//! Two peers joined in memory by a pair of pipes: for tests and for using an
//! API in-process through the same code path as over a network.

use crate::peer::{Peer, PeerBuilder};

/// Bytes each direction buffers before the writer waits for the reader.
const PIPE_CAPACITY: usize = 256 * 1024;

pub(crate) fn pair(a: PeerBuilder, b: PeerBuilder) -> (Peer, Peer) {
    let (a_end, b_end) = tokio::io::duplex(PIPE_CAPACITY);
    let (a_reader, a_writer) = tokio::io::split(a_end);
    let (b_reader, b_writer) = tokio::io::split(b_end);
    (
        a.connecting().spawn(a_reader, a_writer),
        b.spawn(b_reader, b_writer),
    )
}
