//! What a generated stub's method builds: the full paths of its API's
//! methods, and a call or event param by param. Shared by the stubs that
//! call one peer (`stub`) and those that send events to many (`broadcast`),
//! each of which turns the built message into what it sends.

use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::codec::CodecError;
use crate::message::{Outgoing, ParamsWriter};
use crate::protocol::join;

/// A stub's method paths under its prefix, each joined on first use and
/// shared by the stub's clones.
#[derive(Clone, Debug)]
pub(crate) struct Paths {
    prefix: Arc<str>,
    joined: Arc<[OnceLock<Arc<str>>]>,
}

impl Paths {
    pub(crate) fn new(prefix: &str, methods: usize) -> Self {
        Paths {
            prefix: prefix.into(),
            joined: (0..methods).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The full path of method number `index`, named `name`.
    pub(crate) fn get(&self, index: usize, name: &str) -> Arc<str> {
        Arc::clone(self.joined[index].get_or_init(|| join(&self.prefix, name).into()))
    }
}

/// A call or event being built by a generated stub, param by param; `B` is
/// the stub's base, which says where it goes.
#[derive(Debug)]
pub struct Args<'b, B> {
    base: &'b B,
    path: Arc<str>,
    /// The params so far, or the first that failed to encode.
    params: Result<ParamsWriter, CodecError>,
}

impl<'b, B> Args<'b, B> {
    pub(crate) fn new(base: &'b B, path: Arc<str>, count: u32) -> Self {
        Args {
            base,
            path,
            params: Ok(ParamsWriter::with_count(count)),
        }
    }

    /// Appends one param.
    pub fn arg<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        if let Ok(params) = &mut self.params
            && let Err(error) = params.push(value)
        {
            self.params = Err(error);
        }
        self
    }

    /// The base, and the encoded call or why it could not be encoded.
    pub(crate) fn finish(self) -> (&'b B, Result<Outgoing, CodecError>) {
        let path = self.path;
        (self.base, self.params.map(|params| params.finish(path)))
    }
}
