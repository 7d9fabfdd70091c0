//! [`Namespace`]: a router seen from under a prefix, so that handlers can
//! be registered by the names of one namespace.

use std::future::Future;

use super::Router;
use crate::handler::{CallContext, IntoHandler, Reply};
use crate::message::Params;
use crate::schema::MethodDescription;

/// A router seen from under a namespace prefix; see [`Router::namespace`].
#[derive(Debug, Clone)]
pub struct Namespace<'r> {
    pub(super) router: &'r Router,
    pub(super) prefix: String,
}

impl<'r> Namespace<'r> {
    fn path(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// The full path of this namespace.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Registers `handler` at `"{prefix}.{name}"`; see [`Router::set_handler`].
    ///
    /// # Panics
    ///
    /// If `name` is not a well-formed path.
    pub fn set_handler<M>(&self, name: &str, handler: impl IntoHandler<M>) -> &Self {
        self.router.set_handler(&self.path(name), handler);
        self
    }

    /// Registers a raw handler at `"{prefix}.{name}"`; see
    /// [`Router::set_raw_handler`].
    ///
    /// # Panics
    ///
    /// If `name` is not a well-formed path.
    pub fn set_raw_handler<F, Fut>(&self, name: &str, handler: F) -> &Self
    where
        F: Fn(CallContext, Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        self.router.set_raw_handler(&self.path(name), handler);
        self
    }

    /// Removes the handler at `"{prefix}.{name}"`.
    pub fn remove_handler(&self, name: &str) -> bool {
        self.router.remove_handler(&self.path(name))
    }

    /// Describes the handler at `description.path` under this namespace, as
    /// [`Router::set_description`] does at the full path.
    pub fn set_description(&self, mut description: MethodDescription) -> &Self {
        description.path = self.path(&description.path);
        self.router.set_description(description);
        self
    }

    /// A nested namespace: `router.namespace("a").namespace("b")` is
    /// `router.namespace("a.b")`.
    ///
    /// # Panics
    ///
    /// If `name` is not a well-formed path.
    pub fn namespace(&self, name: &str) -> Namespace<'r> {
        self.router.namespace(&self.path(name))
    }
}
