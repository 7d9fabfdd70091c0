//! How a client or an instance reaches NATS: the servers (a seed list), the
//! credentials, TLS. An instance talks to NATS over two connections, its
//! intake (which speaks the protocol itself, see [`super::intake`]) and an
//! async-nats client; one set of options serves both, so they are dotrpc's
//! own type, turned into async-nats's options here.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use async_nats::ServerAddr;

/// Where NATS is and how to be let in: one or more servers, tried in turn
/// (so a client starts while one of them is down), credentials, and TLS.
///
/// ```
/// use dotrpc_nats::NatsOptions;
///
/// // A seed list, comma-separated; `nats://` may be left out after the first.
/// let options: NatsOptions = "nats://a.internal:4222,b.internal:4222".parse()?;
/// // Credentials and TLS, as NATS deployments use them.
/// let options = options
///     .user_password("billing", "s3cret")
///     .tls_root_certificates("/etc/nats/ca.pem")
///     .tls_client_certificate("/etc/nats/client.pem", "/etc/nats/client-key.pem");
/// # Ok::<(), dotrpc::Error>(())
/// ```
///
/// | credentials | option | NATS server configuration |
/// |---|---|---|
/// | user and password | [`user_password`](NatsOptions::user_password), or `nats://user:password@host` | `authorization { user, password }` or `users` |
/// | a token | [`token`](NatsOptions::token), or `nats://token@host` | `authorization { token }` |
/// | an NKey | [`nkey_seed`](NatsOptions::nkey_seed) (the seed, `SU…`) | `authorization { users: [{ nkey: U… }] }` |
/// | a `.creds` file (JWT and NKey) | [`credentials_file`](NatsOptions::credentials_file) | an operator, accounts and a resolver (decentralized auth) |
///
/// TLS is used when a URL says `tls://`, when the server requires it, or
/// with [`require_tls`](NatsOptions::require_tls); the server's certificate
/// is checked against the [roots](NatsOptions::tls_root_certificates) given
/// (the system's when none are).
#[derive(Clone)]
pub struct NatsOptions {
    pub(crate) servers: Vec<ServerAddr>,
    pub(crate) credentials: Credentials,
    pub(crate) tls: Tls,
}

/// The credentials a connection presents.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credentials {
    None,
    UserPassword(String, String),
    Token(String),
    /// An NKey seed: the public key and a signature of the server's nonce.
    NKey(String),
    /// A user JWT and its NKey seed (a `.creds` file).
    Jwt {
        jwt: String,
        seed: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secrets themselves.
        f.write_str(match self {
            Credentials::None => "None",
            Credentials::UserPassword(..) => "UserPassword",
            Credentials::Token(_) => "Token",
            Credentials::NKey(_) => "NKey",
            Credentials::Jwt { .. } => "Jwt",
        })
    }
}

/// TLS to the NATS server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tls {
    pub(crate) required: bool,
    /// PEM files of the certificates that may sign the server's.
    pub(crate) roots: Vec<PathBuf>,
    /// A client certificate chain and its key, PEM files, for servers that
    /// verify clients.
    pub(crate) client: Option<(PathBuf, PathBuf)>,
}

fn invalid(message: String) -> dotrpc::error::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message).into()
}

impl NatsOptions {
    /// Options for the servers in `servers`: one URL or several, separated
    /// by commas (`nats://a:4222,nats://b:4222`, or `nats://a:4222,b:4222`).
    /// Credentials in a URL (`nats://user:password@host`,
    /// `nats://token@host`) are taken as the options' own.
    ///
    /// # Errors
    ///
    /// `Transport` (`InvalidInput`) for an empty list or a URL that is not
    /// one, naming it.
    pub fn new(servers: &str) -> dotrpc::Result<NatsOptions> {
        let mut list = Vec::new();
        let mut scheme = "nats";
        for server in servers.split(',').map(str::trim) {
            if server.is_empty() {
                continue;
            }
            let url = if server.contains("://") {
                scheme = server.split("://").next().unwrap_or("nats");
                server.to_owned()
            } else {
                format!("{scheme}://{server}")
            };
            let addr: ServerAddr = url
                .parse()
                .map_err(|error| invalid(format!("`{server}` is not a NATS server: {error}")))?;
            list.push(addr);
        }
        if list.is_empty() {
            return Err(invalid(format!("`{servers}` names no NATS server")));
        }
        let credentials = list
            .iter()
            .find_map(|server| match (server.username(), server.password()) {
                (Some(user), Some(password)) => Some(Credentials::UserPassword(
                    user.to_owned(),
                    password.to_owned(),
                )),
                (Some(token), None) => Some(Credentials::Token(token.to_owned())),
                _ => None,
            })
            .unwrap_or(Credentials::None);
        let tls = Tls {
            required: list.iter().any(ServerAddr::tls_required),
            ..Tls::default()
        };
        Ok(NatsOptions {
            servers: list,
            credentials,
            tls,
        })
    }

    /// Logs in with a user name and password.
    pub fn user_password(mut self, user: &str, password: &str) -> Self {
        self.credentials = Credentials::UserPassword(user.to_owned(), password.to_owned());
        self
    }

    /// Logs in with a token.
    pub fn token(mut self, token: &str) -> Self {
        self.credentials = Credentials::Token(token.to_owned());
        self
    }

    /// Logs in with an NKey: `seed` is the user's seed (`SU…`); the server
    /// knows its public key.
    ///
    /// # Errors
    ///
    /// `Transport` (`InvalidInput`) if `seed` is not a user's NKey seed.
    pub fn nkey_seed(mut self, seed: &str) -> dotrpc::Result<Self> {
        check_seed(seed)?;
        self.credentials = Credentials::NKey(seed.trim().to_owned());
        Ok(self)
    }

    /// Logs in with the JWT and NKey seed of a `.creds` file's text, as
    /// `nsc` writes them.
    ///
    /// # Errors
    ///
    /// `Transport` (`InvalidInput`) if the text lacks either, or the seed is
    /// not one.
    pub fn credentials(mut self, creds: &str) -> dotrpc::Result<Self> {
        let (jwt, seed) = parse_creds(creds)?;
        self.credentials = Credentials::Jwt { jwt, seed };
        Ok(self)
    }

    /// As [`credentials`](NatsOptions::credentials), from a `.creds` file.
    ///
    /// # Errors
    ///
    /// `Transport` if the file cannot be read (naming it), or as
    /// [`credentials`](NatsOptions::credentials).
    pub fn credentials_file(self, path: impl AsRef<Path>) -> dotrpc::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| {
            dotrpc::error::Error::from(io::Error::new(
                error.kind(),
                format!(
                    "cannot read the NATS credentials {}: {error}",
                    path.display()
                ),
            ))
        })?;
        self.credentials(&text)
    }

    /// Trusts the certificates in this PEM file to sign the server's (may
    /// be given more than once). Without any, the system's roots are
    /// trusted.
    pub fn tls_root_certificates(mut self, pem: impl Into<PathBuf>) -> Self {
        self.tls.roots.push(pem.into());
        self
    }

    /// Presents this certificate chain (and its key; both PEM files) to a
    /// server that verifies its clients.
    pub fn tls_client_certificate(
        mut self,
        chain: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.tls.client = Some((chain.into(), key.into()));
        self
    }

    /// Speaks TLS even where a URL says `nats://`; a server that does not
    /// offer it is refused.
    pub fn require_tls(mut self) -> Self {
        self.tls.required = true;
        self
    }

    /// The servers, as a comma-separated list of URLs without credentials.
    pub fn servers(&self) -> String {
        let urls: Vec<String> = self
            .servers
            .iter()
            .map(|server| format!("{}://{}:{}", server.scheme(), server.host(), server.port()))
            .collect();
        urls.join(",")
    }

    /// async-nats's options for the same servers, credentials and TLS.
    pub(crate) fn async_nats(&self) -> async_nats::ConnectOptions {
        let mut options = async_nats::ConnectOptions::new();
        options = match &self.credentials {
            Credentials::None => options,
            Credentials::UserPassword(user, password) => {
                options.user_and_password(user.clone(), password.clone())
            }
            Credentials::Token(token) => options.token(token.clone()),
            Credentials::NKey(seed) => options.nkey(seed.clone()),
            Credentials::Jwt { jwt, seed } => {
                let key_pair = std::sync::Arc::new(
                    nkeys::KeyPair::from_seed(seed).expect("checked when the options were made"),
                );
                options.jwt(jwt.clone(), move |nonce| {
                    let key_pair = std::sync::Arc::clone(&key_pair);
                    async move { key_pair.sign(&nonce).map_err(async_nats::AuthError::new) }
                })
            }
        };
        for root in &self.tls.roots {
            options = options.add_root_certificates(root.clone());
        }
        if let Some((chain, key)) = &self.tls.client {
            options = options.add_client_certificate(chain.clone(), key.clone());
        }
        options.require_tls(self.tls.required)
    }

    /// Connects an async-nats client, with `events` told what the server
    /// says on the way (see [`ServerWord`]).
    pub(crate) async fn connect(
        &self,
        events: Option<tokio::sync::mpsc::Sender<ServerWord>>,
    ) -> dotrpc::Result<async_nats::Client> {
        let mut options = self.async_nats();
        if let Some(events) = events {
            options = options.event_callback(move |event| {
                let events = events.clone();
                async move {
                    if let Some(word) = ServerWord::of(&event) {
                        // A full channel: the reader is behind on a flood of
                        // refusals, whose calls time out instead.
                        let _ = events.try_send(word);
                    }
                }
            });
        }
        options
            .connect(self.servers.clone())
            .await
            .map_err(|error| {
                let kind = match error.kind() {
                    async_nats::ConnectErrorKind::AuthorizationViolation => {
                        io::ErrorKind::PermissionDenied
                    }
                    async_nats::ConnectErrorKind::TimedOut => io::ErrorKind::TimedOut,
                    _ => io::ErrorKind::ConnectionRefused,
                };
                io::Error::new(
                    kind,
                    format!("cannot connect to NATS at {}: {error}", self.servers()),
                )
                .into()
            })
    }
}

impl fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsOptions")
            .field("servers", &self.servers())
            .field("credentials", &self.credentials)
            .field("tls", &self.tls)
            .finish()
    }
}

impl FromStr for NatsOptions {
    type Err = dotrpc::error::Error;

    fn from_str(servers: &str) -> dotrpc::Result<NatsOptions> {
        NatsOptions::new(servers)
    }
}

/// What [`ConnectNats::connect_nats`](crate::ConnectNats::connect_nats) and
/// [`NatsServiceBuilder::start`](super::NatsServiceBuilder::start) take: a
/// URL (or a comma-separated seed list), or [`NatsOptions`].
pub trait IntoNatsOptions: sealed::Sealed {
    /// The options.
    ///
    /// # Errors
    ///
    /// As [`NatsOptions::new`].
    fn into_nats_options(self) -> dotrpc::Result<NatsOptions>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for &str {}
    impl Sealed for &String {}
    impl Sealed for String {}
    impl Sealed for super::NatsOptions {}
    impl Sealed for &super::NatsOptions {}
}

impl IntoNatsOptions for &str {
    fn into_nats_options(self) -> dotrpc::Result<NatsOptions> {
        NatsOptions::new(self)
    }
}

impl IntoNatsOptions for &String {
    fn into_nats_options(self) -> dotrpc::Result<NatsOptions> {
        NatsOptions::new(self)
    }
}

impl IntoNatsOptions for String {
    fn into_nats_options(self) -> dotrpc::Result<NatsOptions> {
        NatsOptions::new(&self)
    }
}

impl IntoNatsOptions for NatsOptions {
    fn into_nats_options(self) -> dotrpc::Result<NatsOptions> {
        Ok(self)
    }
}

impl IntoNatsOptions for &NatsOptions {
    fn into_nats_options(self) -> dotrpc::Result<NatsOptions> {
        Ok(self.clone())
    }
}

/// What a NATS server said that a side acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerWord {
    /// Publishing on `subject` is not allowed.
    MayNotPublish(String),
    /// Subscribing to `subject` is not allowed.
    MayNotSubscribe(String),
    /// The connection was lost and is back.
    Reconnected,
}

impl ServerWord {
    fn of(event: &async_nats::Event) -> Option<ServerWord> {
        match event {
            async_nats::Event::Connected => Some(ServerWord::Reconnected),
            async_nats::Event::ServerError(async_nats::ServerError::Other(text)) => {
                ServerWord::of_error(text)
            }
            _ => None,
        }
    }

    /// `Permissions Violation for Publish to "demo.add"`, and the like.
    pub(crate) fn of_error(text: &str) -> Option<ServerWord> {
        let text = text.trim().trim_matches('\'');
        let lower = text.to_ascii_lowercase();
        let subject = || {
            let start = text.find('"')? + 1;
            let end = start + text[start..].find('"')?;
            Some(text[start..end].to_owned())
        };
        if lower.starts_with("permissions violation for publish") {
            subject().map(ServerWord::MayNotPublish)
        } else if lower.starts_with("permissions violation for subscription") {
            subject().map(ServerWord::MayNotSubscribe)
        } else {
            None
        }
    }
}

/// Checks a user's NKey seed.
fn check_seed(seed: &str) -> dotrpc::Result<()> {
    let seed = seed.trim();
    if !seed.starts_with("SU") {
        return Err(invalid(
            "an NKey seed for a user starts with SU (nsc writes it; nk -gen user makes one)"
                .to_owned(),
        ));
    }
    nkeys::KeyPair::from_seed(seed)
        .map(|_| ())
        .map_err(|error| invalid(format!("not an NKey seed: {error}")))
}

/// The JWT and the seed of a `.creds` file: each is the first line after
/// its `-----BEGIN …-----` line.
fn parse_creds(creds: &str) -> dotrpc::Result<(String, String)> {
    let after = |what: &str| {
        let mut lines = creds.lines().map(str::trim);
        lines.find(|line| line.starts_with("-----BEGIN") && line.contains(what))?;
        lines.find(|line| !line.is_empty()).map(str::to_owned)
    };
    let jwt = after("JWT").ok_or_else(|| invalid("the credentials hold no JWT".to_owned()))?;
    let seed =
        after("SEED").ok_or_else(|| invalid("the credentials hold no NKey seed".to_owned()))?;
    check_seed(&seed)?;
    Ok((jwt, seed))
}

/// Signs the server's nonce with `seed`'s key: the public key, and the
/// signature as NATS wants it (URL-safe base64, no padding).
pub(crate) fn sign_nonce(seed: &str, nonce: &str) -> io::Result<(String, String)> {
    use base64::Engine as _;
    let key_pair = nkeys::KeyPair::from_seed(seed)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error.to_string()))?;
    let signature = key_pair
        .sign(nonce.as_bytes())
        .map_err(|error| io::Error::other(error.to_string()))?;
    Ok((
        key_pair.public_key(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_list_names_every_server_and_keeps_the_scheme_of_the_first() {
        let options = NatsOptions::new("nats://a:4222, b:4223 ,c").unwrap();
        assert_eq!(
            options.servers(),
            "nats://a:4222,nats://b:4223,nats://c:4222"
        );
        let tls = NatsOptions::new("tls://a:4222,b:4223").unwrap();
        assert_eq!(tls.servers(), "tls://a:4222,tls://b:4223");
        assert!(tls.tls.required);
        assert!(NatsOptions::new(" , ").is_err());
        let error = NatsOptions::new("nats://a:4222,nats://b:port").unwrap_err();
        assert!(error.to_string().contains("b:port") || format!("{error:?}").contains("b:port"));
    }

    #[test]
    fn credentials_come_from_the_url_or_the_options_and_never_print() {
        let options = NatsOptions::new("nats://u:p@a:4222").unwrap();
        assert_eq!(
            options.credentials,
            Credentials::UserPassword("u".into(), "p".into())
        );
        let options = NatsOptions::new("nats://s3cret@a:4222").unwrap();
        assert_eq!(options.credentials, Credentials::Token("s3cret".into()));
        let printed = format!("{options:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        let options = options.user_password("v", "q");
        assert_eq!(
            options.credentials,
            Credentials::UserPassword("v".into(), "q".into())
        );
    }

    #[test]
    fn seeds_and_creds_files_are_checked_when_given() {
        let user = nkeys::KeyPair::new_user();
        let seed = user.seed().unwrap();
        let options = NatsOptions::new("a").unwrap();
        assert!(options.clone().nkey_seed(&seed).is_ok());
        let account = nkeys::KeyPair::new_account().seed().unwrap();
        assert!(options.clone().nkey_seed(&account).is_err());
        assert!(options.clone().nkey_seed("SUNOTASEED").is_err());
        let creds = format!(
            "-----BEGIN NATS USER JWT-----\neyJhbGciOi.x.y\n------END NATS USER JWT------\n\n\
             ***** IMPORTANT *****\n\n-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        );
        let options = options.clone().credentials(&creds).unwrap();
        assert_eq!(
            options.credentials,
            Credentials::Jwt {
                jwt: "eyJhbGciOi.x.y".into(),
                seed: seed.clone()
            }
        );
        assert!(
            NatsOptions::new("a")
                .unwrap()
                .credentials("-----BEGIN NATS USER JWT-----\nx\n")
                .is_err()
        );
        let missing = NatsOptions::new("a")
            .unwrap()
            .credentials_file("/no/such.creds");
        assert!(format!("{:?}", missing.unwrap_err()).contains("/no/such.creds"));
    }

    #[test]
    fn a_signed_nonce_verifies_with_the_public_key() {
        use base64::Engine as _;
        let user = nkeys::KeyPair::new_user();
        let (public, signature) = sign_nonce(&user.seed().unwrap(), "nonce-123").unwrap();
        assert_eq!(public, user.public_key());
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .unwrap();
        let verifier = nkeys::KeyPair::from_public_key(&public).unwrap();
        verifier.verify(b"nonce-123", &signature).unwrap();
    }

    #[test]
    fn permission_errors_name_their_subject() {
        assert_eq!(
            ServerWord::of_error("Permissions Violation for Publish to \"demo.add\""),
            Some(ServerWord::MayNotPublish("demo.add".into()))
        );
        assert_eq!(
            ServerWord::of_error("'Permissions Violation for Subscription to \"demo.>\"'"),
            Some(ServerWord::MayNotSubscribe("demo.>".into()))
        );
        assert_eq!(ServerWord::of_error("Stale Connection"), None);
    }
}
