//! [`Outgoing`]: a call being made, before it is a request or a notification.
//!
//! A call's method and params are encoded when the call is made, straight
//! from the caller's types; whether it goes out as a request (with a msgid
//! and perhaps a deadline) or as a notification is decided when it is queued
//! ([`Frames::push_request`](super::Frames::push_request),
//! [`Frames::push_notification`](super::Frames::push_notification)), so one
//! encoding serves every call mode.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use super::encode_value;
use crate::codec::CodecError;

/// The method and encoded params of a call; see the [module docs](self).
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    method: Arc<str>,
    /// The whole params array, header included.
    params: BytesMut,
}

impl Outgoing {
    /// A call of `method` whose params are `params`, which must serialize as
    /// an array (a tuple, `Vec`, slice or array); `()` is taken as none.
    ///
    /// # Errors
    ///
    /// [`CodecError::Serde`] if the params do not serialize, or not as an
    /// array.
    pub(crate) fn new<P: Serialize + ?Sized>(
        method: Arc<str>,
        params: &P,
    ) -> Result<Self, CodecError> {
        let mut buf = BytesMut::with_capacity(32);
        encode_value((&mut buf).writer(), params)?;
        match buf.first() {
            Some(0xc0) => {
                buf.clear();
                buf.put_u8(0x90);
            }
            Some(0x90..=0x9f | 0xdc | 0xdd) => {}
            _ => {
                return Err(CodecError::Serde(
                    "params must serialize as an array: pass a tuple such as `(a, b)` or `(a,)`"
                        .into(),
                ));
            }
        };
        Ok(Outgoing {
            method,
            params: buf,
        })
    }

    /// Starts a call of `method` with `count` params, which are then added
    /// one by one with [`push_param`](Outgoing::push_param).
    pub(crate) fn with_count(method: Arc<str>, count: u32) -> Self {
        let mut params = BytesMut::with_capacity(32);
        rmp::encode::write_array_len(&mut (&mut params).writer(), count)
            .expect("writing to a buffer cannot fail");
        Outgoing { method, params }
    }

    /// Appends the next param.
    ///
    /// # Errors
    ///
    /// [`CodecError::Serde`] if `value` does not serialize.
    pub(crate) fn push_param<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), CodecError> {
        encode_value((&mut self.params).writer(), value)
    }

    /// The dot-joined path called.
    pub(crate) fn method(&self) -> &str {
        &self.method
    }

    /// The path, shared.
    pub(crate) fn method_arc(&self) -> &Arc<str> {
        &self.method
    }

    /// The encoded params array.
    pub(crate) fn params(&self) -> &[u8] {
        &self.params
    }

    /// The size of the largest frame this call becomes (a request with a
    /// deadline), to check against the peer's limit before it is sent.
    pub(crate) fn max_frame_len(&self) -> usize {
        // [0x95, 0, msgid <= 5, str header <= 5, method, params, deadline map <= 22]
        2 + 5 + 5 + self.method.len() + self.params.len() + 22
    }
}
