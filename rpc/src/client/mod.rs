//! The calling side: the call builder that every call, typed or dynamic, goes
//! through, and the handle of a call running in the background.
//!
//! A call is encoded when it is made ([`Peer::call`](crate::Peer::call) or a
//! generated stub) and sent in the mode its caller picks: awaited, waited on
//! from a plain thread, with a callback, as a handle, or as a notification.

mod call;
mod handle;

pub use call::Call;
pub use handle::{AsyncResult, CallStatus};
