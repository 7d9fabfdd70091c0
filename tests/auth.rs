//! Authentication and authorisation: a connection must log in (a token in a
//! first call) before anything else is served, and is then limited to the
//! paths its identity allows; identities belong to connections.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dotrpc::{CallContext, Error, Peer, Router, Server, handler::ErrorObject};
use support::bounded;

struct User {
    name: String,
    admin: bool,
}

async fn server(notes: Arc<AtomicUsize>) -> Server {
    let router = Arc::new(Router::new());
    router.set_handler("login", |ctx: CallContext, token: String| async move {
        let user = match token.as_str() {
            "alice-token" => User {
                name: "alice".into(),
                admin: false,
            },
            "root-token" => User {
                name: "root".into(),
                admin: true,
            },
            _ => return Err("bad token".to_string()),
        };
        let name = user.name.clone();
        ctx.peer().set_identity(user);
        Ok(name)
    });
    router.set_handler("public.whoami", |ctx: CallContext| async move {
        ctx.peer().identity::<User>().map(|user| user.name.clone())
    });
    router.set_handler("public.note", move |_text: String| {
        let notes = Arc::clone(&notes);
        async move {
            notes.fetch_add(1, Ordering::SeqCst);
        }
    });
    router.set_handler("admin.reset", || async { "reset" });
    let template = Peer::builder().router(router).authorize(|ctx| {
        let user = ctx.peer().identity::<User>();
        match (ctx.method(), user) {
            ("login", _) => Ok(()),
            (_, None) => Err(ErrorObject::unauthorized("log in first")),
            (path, Some(user)) if path.starts_with("public.") || user.admin => Ok(()),
            _ => Err(ErrorObject::unauthorized("admins only")),
        }
    });
    Server::builder(template).bind("127.0.0.1:0").await.unwrap()
}

#[tokio::test]
async fn nothing_but_the_login_is_served_before_a_login() {
    let notes = Arc::new(AtomicUsize::new(0));
    let server = server(Arc::clone(&notes)).await;
    let peer = dotrpc::connect(support::addr(&server)).await.unwrap();

    let error = bounded(peer.call::<Option<String>>("public.whoami", ()))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Unauthorized { method, message } if method == "public.whoami" && message.contains("log in first")),
        "{error:?}"
    );
    let error = bounded(peer.call::<dotrpc::Description>("rpc.describe", ()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Unauthorized { .. }),
        "even discovery waits for the login: {error:?}"
    );

    // A refused notification never reaches its handler.
    peer.notify("public.note", ("before",)).await.unwrap();
    let error = bounded(peer.call::<String>("login", ("wrong",)))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Remote(remote) if remote.message() == "bad token"),
        "{error:?}"
    );
    assert_eq!(notes.load(Ordering::SeqCst), 0);

    assert_eq!(
        bounded(peer.call::<String>("login", ("alice-token",)))
            .await
            .unwrap(),
        "alice"
    );
    let me: Option<String> = bounded(peer.call("public.whoami", ())).await.unwrap();
    assert_eq!(me.as_deref(), Some("alice"));
    peer.notify("public.note", ("after",)).await.unwrap();
    bounded(async {
        while notes.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;

    // Alice may call public.* only.
    let error = bounded(peer.call::<String>("admin.reset", ()))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Unauthorized { message, .. } if message.contains("admins only")),
        "{error:?}"
    );
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn identities_belong_to_their_connection() {
    let server = server(Arc::default()).await;
    let root = dotrpc::connect(support::addr(&server)).await.unwrap();
    let stranger = dotrpc::connect(support::addr(&server)).await.unwrap();

    assert_eq!(
        bounded(root.call::<String>("login", ("root-token",)))
            .await
            .unwrap(),
        "root"
    );
    assert_eq!(
        bounded(root.call::<String>("admin.reset", ()))
            .await
            .unwrap(),
        "reset"
    );
    let error = bounded(stranger.call::<String>("admin.reset", ()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), dotrpc::ErrorKind::Unauthorized, "{error:?}");

    root.close();
    stranger.close();
    server.shutdown(Duration::from_secs(1)).await;
}
