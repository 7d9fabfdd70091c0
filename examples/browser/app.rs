//! The example's web application: the page, the TypeScript client's
//! modules it imports, and the demo API at `/rpc`, all on one axum router.
//! Kept apart from `main.rs` so the browser test serves exactly this.

use std::path::{Component, Path, PathBuf};

use axum::extract::Path as UrlPath;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

/// Where the page finds its modules: the client as `scripts/typescript.sh`
/// builds it, and the msgpack library it imports.
#[derive(Debug, Clone)]
pub(crate) struct Modules {
    client: PathBuf,
    msgpack: PathBuf,
}

impl Modules {
    /// The modules of the TypeScript client in `clients/typescript`.
    pub(crate) fn of(client: &Path) -> Modules {
        Modules {
            client: client.join("dist/src"),
            msgpack: client.join("node_modules/@msgpack/msgpack/dist.esm"),
        }
    }

    /// Whether the client has been built.
    pub(crate) fn built(&self) -> bool {
        self.client.join("index.js").is_file() && self.msgpack.join("index.mjs").is_file()
    }
}

/// The application: `/` is the page, `/rpc` serves `rpc`'s connections.
pub(crate) fn app(rpc: &dotrpc::Server, modules: Modules) -> axum::Router {
    let (client, msgpack) = (modules.client, modules.msgpack);
    axum::Router::new()
        .route("/", get(|| async { Html(include_str!("page/index.html")) }))
        .route(
            "/app.js",
            get(|| async { javascript(include_str!("page/app.js")) }),
        )
        .route(
            "/client/{*file}",
            get(move |UrlPath(file): UrlPath<String>| async move { module(&client, &file).await }),
        )
        .route(
            "/msgpack/{*file}",
            get(move |UrlPath(file): UrlPath<String>| async move { module(&msgpack, &file).await }),
        )
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/rpc", get(dotrpc::axum::upgrade(rpc)))
}

fn javascript(source: impl IntoResponse) -> Response {
    ([(header::CONTENT_TYPE, "text/javascript")], source).into_response()
}

/// A JavaScript module (or its source map) from `dir`; nothing outside it.
async fn module(dir: &Path, file: &str) -> Response {
    let relative = Path::new(file);
    let inside = relative
        .components()
        .all(|part| matches!(part, Component::Normal(_)));
    let is_module = [".js", ".mjs", ".js.map", ".mjs.map"]
        .iter()
        .any(|ext| file.ends_with(ext));
    if !inside || !is_module {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(dir.join(relative)).await {
        Ok(bytes) if file.ends_with(".map") => {
            ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        Ok(bytes) => javascript(bytes),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
