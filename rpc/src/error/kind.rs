//! Every kind of error, once: [`ErrorKind`] and the table that says, for
//! each, the code it crosses the wire with (if it does), the status a NATS
//! service answers it with, and the label the metrics count it under.
//! Everything else that lists kinds (reading a code back into a kind,
//! the NATS error headers, the metrics' outcomes) reads the table, and
//! tests hold PROTOCOL.md §10 and the Python client to it: adding a kind
//! is a variant, a row, and the [`Error`](super::Error) variant it
//! classifies.

use crate::message::code;

/// The stable, `Copy` classification of an [`Error`](super::Error).
///
/// Kinds that cross the wire have a [`code`](ErrorKind::code) that is fixed once
/// released; the wording of messages may improve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::UnknownApi`](super::Error::UnknownApi).
    UnknownApi,
    /// See [`Error::InvalidParams`](super::Error::InvalidParams).
    InvalidParams,
    /// See [`Error::Remote`](super::Error::Remote).
    Remote,
    /// See [`Error::Foreign`](super::Error::Foreign).
    Foreign,
    /// See [`Error::Internal`](super::Error::Internal).
    Internal,
    /// See [`Error::Timeout`](super::Error::Timeout).
    Timeout,
    /// See [`Error::Disconnected`](super::Error::Disconnected).
    Disconnected,
    /// See [`Error::Transport`](super::Error::Transport).
    Transport,
    /// See [`Error::Codec`](super::Error::Codec).
    Codec,
    /// See [`Error::Overloaded`](super::Error::Overloaded).
    Overloaded,
    /// See [`Error::Cancelled`](super::Error::Cancelled).
    Cancelled,
    /// See [`Error::Lagged`](super::Error::Lagged).
    Lagged,
    /// See [`Error::Misuse`](super::Error::Misuse).
    Misuse,
    /// See [`Error::Unauthorized`](super::Error::Unauthorized).
    Unauthorized,
    /// See [`Error::NoResponders`](super::Error::NoResponders).
    NoResponders,
}

/// One kind's row.
struct Row {
    kind: ErrorKind,
    /// Its name, for kinds that do not cross the wire.
    name: &'static str,
    /// The code it crosses the wire with, and the status (HTTP's, as the
    /// NATS services protocol uses them) a NATS service answers it with.
    wire: Option<(&'static str, u16)>,
}

/// Every kind, in the order of [`ErrorKind`]'s variants.
const KINDS: [Row; 15] = [
    wire(ErrorKind::UnknownApi, code::UNKNOWN_API, 404),
    wire(ErrorKind::InvalidParams, code::INVALID_PARAMS, 400),
    wire(ErrorKind::Remote, code::APPLICATION, 422),
    local(ErrorKind::Foreign, "Foreign"),
    wire(ErrorKind::Internal, code::INTERNAL, 500),
    wire(ErrorKind::Timeout, code::TIMEOUT, 504),
    local(ErrorKind::Disconnected, "Disconnected"),
    local(ErrorKind::Transport, "Transport"),
    local(ErrorKind::Codec, "Codec"),
    wire(ErrorKind::Overloaded, code::OVERLOADED, 503),
    wire(ErrorKind::Cancelled, code::CANCELLED, 499),
    local(ErrorKind::Lagged, "Lagged"),
    local(ErrorKind::Misuse, "Misuse"),
    wire(ErrorKind::Unauthorized, code::UNAUTHORIZED, 403),
    wire(ErrorKind::NoResponders, code::NO_RESPONDERS, 404),
];

// A row for every variant: the last is the table's last.
const _: () = assert!(KINDS.len() == ErrorKind::NoResponders as usize + 1);

const fn wire(kind: ErrorKind, code: &'static str, status: u16) -> Row {
    Row {
        kind,
        name: code,
        wire: Some((code, status)),
    }
}

const fn local(kind: ErrorKind, name: &'static str) -> Row {
    Row {
        kind,
        name,
        wire: None,
    }
}

/// The status of an error that names no kind's code (an application's own
/// code, or none): the handler failed.
const OTHER_STATUS: u16 = 500;

/// Every `outcome` the metrics count a call under that dotrpc gives it
/// (a handler may answer codes of its own): `ok`, and each kind's label.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const OUTCOMES: [&str; KINDS.len() + 1] = {
    let mut outcomes = ["ok"; KINDS.len() + 1];
    let mut i = 0;
    while i < KINDS.len() {
        outcomes[i + 1] = KINDS[i].name;
        i += 1;
    }
    outcomes
};

impl ErrorKind {
    fn row(self) -> &'static Row {
        &KINDS[self as usize]
    }

    /// The wire code of this kind, for kinds a handler can answer with.
    pub fn code(self) -> Option<&'static str> {
        self.row().wire.map(|(code, _)| code)
    }

    /// The kind whose wire code `code` is, if one's is.
    pub fn of_code(code: &str) -> Option<ErrorKind> {
        KINDS
            .iter()
            .find(|row| row.wire.is_some_and(|(wire, _)| wire == code))
            .map(|row| row.kind)
    }

    /// The label the metrics count a call that failed this way under: its
    /// code, or its name if it has none.
    pub(crate) fn outcome(self) -> &'static str {
        self.row().name
    }

    /// The status, HTTP's numbers, of an error with code `code` (or none),
    /// for transports whose error replies carry one (a NATS service
    /// error's `Nats-Service-Error-Code`): its kind's, or 500 for a code of
    /// an application's own.
    pub fn status_of(code: Option<&str>) -> u16 {
        code.and_then(ErrorKind::of_code)
            .and_then(|kind| kind.row().wire)
            .map_or(OTHER_STATUS, |(_, status)| status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace_file(path: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_table_has_every_kind_in_order_and_each_label_once() {
        for (i, row) in KINDS.iter().enumerate() {
            assert_eq!(row.kind as usize, i, "{:?} is out of order", row.kind);
            if row.wire.is_none() {
                assert_eq!(row.name, format!("{:?}", row.kind), "a local kind's name");
            }
        }
        let mut labels = OUTCOMES.to_vec();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), OUTCOMES.len(), "labels repeat: {OUTCOMES:?}");
    }

    #[test]
    fn codes_read_back_into_their_kinds() {
        for row in &KINDS {
            match row.wire {
                Some((code, _)) => {
                    assert_eq!(ErrorKind::of_code(code), Some(row.kind));
                    assert_eq!(row.kind.code(), Some(code));
                }
                None => assert_eq!(ErrorKind::of_code(row.name), None, "{}", row.name),
            }
        }
        assert_eq!(ErrorKind::status_of(Some("Unauthorized")), 403);
        assert_eq!(ErrorKind::status_of(Some("OutOfStock")), OTHER_STATUS);
        assert_eq!(ErrorKind::status_of(None), OTHER_STATUS);
    }

    /// PROTOCOL.md §10 lists the codes and their NATS statuses: the same,
    /// row for row, as the table.
    #[test]
    fn the_protocol_lists_the_codes_the_table_has() {
        let protocol = workspace_file("PROTOCOL.md");
        let section = protocol
            .split("## §10 Errors")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("PROTOCOL.md has §10");
        let listed: Vec<(String, u16)> = section
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                let status = cells.get(3)?.parse().ok()?;
                Some((code.to_owned(), status))
            })
            .collect();
        let mut listed = listed;
        let mut wire: Vec<(String, u16)> = KINDS
            .iter()
            .filter_map(|row| row.wire)
            .map(|(code, status)| (code.to_owned(), status))
            .collect();
        listed.sort();
        wire.sort();
        assert_eq!(listed, wire);
    }

    /// The Python client raises its own exception for some codes: each is
    /// one of the table's labels (a wire code, or a kind the client raises
    /// itself, such as `Disconnected`).
    #[test]
    fn the_python_client_names_only_known_kinds() {
        let errors = workspace_file("clients/python/dotrpc/_errors.py");
        let by_code = errors
            .lines()
            .skip_while(|line| !line.starts_with("_BY_CODE"))
            .take_while(|line| !line.starts_with('}'));
        let codes: Vec<&str> = by_code
            .filter_map(|line| line.trim().strip_prefix('"')?.split('"').next())
            .collect();
        assert!(codes.len() >= 4, "{codes:?}");
        for code in codes {
            assert!(OUTCOMES.contains(&code), "{code} is no kind");
        }
    }
}
