//! axum integration (feature `axum`): a dotrpc server mounted as a route,
//! beside the application's other routes and the pages it serves.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use axum::routing::get;
//!
//! let router = Arc::new(dotrpc::Router::new());
//! router.set_handler("add", |a: i64, b: i64| async move { a + b });
//! let rpc = dotrpc::Server::builder(dotrpc::Peer::builder().router(router)).without_listener();
//! let app = axum::Router::new()
//!     .route("/rpc", get(dotrpc::axum::upgrade(&rpc)))
//!     .route("/", get(|| async { "the page" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! The route upgrades a request to a WebSocket, then serves it as a
//! connection of the [`Server`] (one msgpack-rpc message per binary
//! message, as a `ws://` address [`bind`](crate::ServerBuilder::bind)s): its
//! router, limits and `on_connect`, counted against its connection limit,
//! reached by its broadcasts, closed by its shutdown. Before it upgrades,
//! it checks the request's `Origin` (same origin by default, see
//! [`Upgrade::origins`]) and answers 403 to a page it does not admit, and
//! 503 when the server is at its connection limit or shutting down.
//!
//! axum reads and writes through tungstenite as dotrpc's own WebSocket
//! transport does, at the same version, so the two share one WebSocket
//! implementation.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::handler::Handler;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::server::{Server, Shared};
use crate::transport::listener::Accepted;
use crate::transport::websocket::{Origins, Received, WsError, WsMessage, socket_transport};

/// An axum handler that upgrades requests to connections of `server`,
/// admitting pages of the server's own origin; see the [module](self).
/// The server is usually made
/// [`without_listener`](crate::ServerBuilder::without_listener); once it
/// is shut down or dropped, the handler answers 503.
pub fn upgrade(server: &Server) -> Upgrade {
    Upgrade {
        shared: Arc::clone(server.shared()),
        origins: Origins::same_origin(),
    }
}

/// The handler [`upgrade`] makes.
#[derive(Clone)]
pub struct Upgrade {
    shared: Arc<Shared>,
    origins: Origins,
}

impl Upgrade {
    /// Which pages may connect, by the `Origin` their browser sends;
    /// [`Origins::same_origin()`] unless set.
    pub fn origins(mut self, origins: Origins) -> Self {
        self.origins = origins;
        self
    }

    async fn respond<S: Send + Sync>(self, request: Request, state: &S) -> Response {
        let (mut parts, _body) = request.into_parts();
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
        };
        if !self
            .origins
            .admits(header(header::ORIGIN), header(header::HOST))
        {
            return (StatusCode::FORBIDDEN, "this origin may not connect").into_response();
        }
        let remote = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "axum".to_owned(), |info| info.0.to_string());
        let socket = match WebSocketUpgrade::from_request_parts(&mut parts, state).await {
            Ok(socket) => socket,
            Err(rejection) => return rejection.into_response(),
        };
        // At the limit, or shutting down.
        let permit = match self.shared.admit() {
            Ok(permit) => permit,
            Err(error) => {
                return (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response();
            }
        };
        let limit = self.shared.max_message_size();
        let shared = self.shared;
        socket
            .max_message_size(limit)
            .max_frame_size(limit)
            .on_failed_upgrade(|error| {
                tracing::debug!(%error, "connection failed before it was served");
            })
            .on_upgrade(move |socket: WebSocket| async move {
                let accepted = Accepted {
                    transport: socket_transport(socket),
                    remote,
                    identity: None,
                };
                drop(shared.serve(permit, accepted));
            })
    }
}

impl<S: Clone + Send + Sync + 'static> Handler<(), S> for Upgrade {
    type Future = Pin<Box<dyn Future<Output = Response> + Send>>;

    fn call(self, request: Request, state: S) -> Self::Future {
        Box::pin(async move { self.respond(request, &state).await })
    }
}

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrade")
            .field("origins", &self.origins)
            .finish_non_exhaustive()
    }
}

impl WsMessage for Message {
    fn binary(frame: Bytes) -> Self {
        Message::Binary(frame)
    }

    fn received(self) -> Received {
        match self {
            Message::Binary(frame) => Received::Frame(frame),
            Message::Text(_) => Received::Text,
            Message::Close(_) => Received::Close,
            Message::Ping(_) | Message::Pong(_) => Received::Control,
        }
    }
}

impl WsError for axum::Error {
    fn into_io(self) -> Option<io::Error> {
        let error = self.into_inner();
        match error.downcast::<tokio_tungstenite::tungstenite::Error>() {
            Ok(error) => error.into_io(),
            Err(error) => Some(io::Error::other(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tungstenite_error_inside_axums_is_classified_as_dotrpcs_own() {
        let closed = axum::Error::new(tokio_tungstenite::tungstenite::Error::ConnectionClosed);
        assert!(closed.into_io().is_none(), "a normal close is no error");
        let too_big = axum::Error::new(tokio_tungstenite::tungstenite::Error::Capacity(
            tokio_tungstenite::tungstenite::error::CapacityError::MessageTooLong {
                size: 2,
                max_size: 1,
            },
        ));
        assert_eq!(
            too_big.into_io().map(|e| e.kind()),
            Some(io::ErrorKind::InvalidData)
        );
        let other = axum::Error::new(io::Error::other("elsewhere"));
        assert_eq!(
            other.into_io().map(|e| e.kind()),
            Some(io::ErrorKind::Other)
        );
    }
}
