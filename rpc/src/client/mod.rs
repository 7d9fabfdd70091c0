//! The calling side: the call builder that every call, typed or dynamic, goes
//! through.
//!
//! A call is encoded when it is made ([`Peer::call`](crate::Peer::call)) and
//! sent when it is awaited, or as a notification with [`Call::notify`].

mod call;

pub use call::Call;
