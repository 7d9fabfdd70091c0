//! Where a peer is, written once: the [`Address`] that
//! [`PeerBuilder::connect`](crate::PeerBuilder::connect) dials,
//! [`ServerBuilder::bind`](crate::ServerBuilder::bind) listens on, and the
//! `dotrpc` command takes as `ADDR`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where a peer is: parsed from one of these forms, made from a socket
/// address (TCP), or with [`Address::unix`]. What an address cannot say
/// (certificates, the pages a WebSocket server admits, NATS credentials)
/// is set on the builder.
///
/// | written | what |
/// |---|---|
/// | `host:port`, `tcp://host:port` | TCP |
/// | `tls://host:port` | TCP with TLS (feature `tls`) |
/// | `unix:/path`, `unix:///path` | a Unix socket |
/// | `ws://host:port/path` | WebSocket (feature `websocket`) |
/// | `wss://host:port/path` | WebSocket over TLS (features `websocket`, `tls`) |
/// | `nats://host:port/prefix`, `nats://a:4222,b:4222/prefix` | the service under `prefix` on NATS (crate `dotrpc-nats`) |
/// | `exec:COMMAND ARGS` | a child process over its stdin and stdout, started with `sh -c` |
///
/// ```
/// use dotrpc::Address;
/// let tcp: Address = "127.0.0.1:4242".parse().unwrap();
/// assert_eq!(tcp, Address::Tcp("127.0.0.1:4242".into()));
/// assert_eq!(tcp.to_string(), "tcp://127.0.0.1:4242");
/// let nats: Address = "nats://a:4222,b:4222/acme.billing".parse().unwrap();
/// assert_eq!(nats, Address::Nats { servers: "nats://a:4222,b:4222".into(), prefix: "acme.billing".into() });
/// assert!("ftp://example.com".parse::<Address>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// `host:port`, over TCP.
    Tcp(String),
    /// `host:port`, over TCP with TLS; the server is verified as `host`
    /// unless the builder names it otherwise.
    Tls(String),
    /// A Unix socket file.
    Unix(PathBuf),
    /// A WebSocket URL, `ws://host:port/path`.
    Ws(String),
    /// A WebSocket URL over TLS, `wss://host:port/path`.
    Wss(String),
    /// The service under `prefix` on the NATS servers `servers`
    /// (`nats://host:port`, or a seed list `nats://a:4222,b:4222`).
    Nats {
        /// The servers, `nats://host:port[,host:port...]`.
        servers: String,
        /// The service's subject prefix, such as `demo` or `acme.billing`.
        prefix: String,
    },
    /// A command run with `sh -c`, spoken to over its stdin and stdout.
    Exec(String),
}

/// What [`ServerBuilder::listen`](crate::ServerBuilder::listen) speaks on
/// a TCP listener it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// msgpack-rpc over TCP.
    Tcp,
    /// msgpack-rpc over TLS.
    Tls,
    /// WebSocket, one message per binary message.
    Ws,
    /// WebSocket over TLS.
    Wss,
}

impl Address {
    /// The Unix socket at `path`.
    pub fn unix(path: impl AsRef<Path>) -> Address {
        Address::Unix(path.as_ref().to_owned())
    }

    /// The `host:port` (a URL's may have no port) of an address over TCP.
    pub(crate) fn authority(&self) -> Option<&str> {
        match self {
            Address::Tcp(host_port) | Address::Tls(host_port) => Some(host_port),
            Address::Ws(url) | Address::Wss(url) => Some(authority_of(url)),
            Address::Unix(_) | Address::Nats { .. } | Address::Exec(_) => None,
        }
    }

    /// The host a TLS client verifies: that of `host:port` or of a URL.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn host(&self) -> Option<&str> {
        let host_port = self.authority()?;
        let host = match host_port.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => host_port,
        };
        Some(host.trim_start_matches('[').trim_end_matches(']'))
    }
}

fn invalid(addr: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "bad address `{addr}`: {why}; expected host:port, tcp://host:port, tls://host:port, \
             unix:/path, ws://host:port/path, wss://host:port/path, nats://host:port/prefix or \
             exec:COMMAND"
        ),
    )
}

/// Checks `host:port`.
fn host_port(addr: &str, host_port: &str) -> io::Result<String> {
    let (host, port) = host_port
        .rsplit_once(':')
        .ok_or_else(|| invalid(addr, "no port"))?;
    if host.is_empty() {
        return Err(invalid(addr, "no host"));
    }
    port.parse::<u16>()
        .map_err(|_| invalid(addr, &format!("`{port}` is not a port number")))?;
    Ok(host_port.to_owned())
}

/// The `host[:port]` of a URL.
fn authority_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// Checks that a URL names a host.
fn url(addr: &str) -> io::Result<String> {
    if authority_of(addr).is_empty() {
        return Err(invalid(addr, "no host"));
    }
    Ok(addr.to_owned())
}

/// Whether `path` is dot-separated NATS subject tokens with no wildcards
/// or white space (a service's prefix, a method's path on NATS).
pub fn is_subject_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('.').all(|token| {
            !token.is_empty()
                && token
                    .chars()
                    .all(|c| !c.is_whitespace() && c != '*' && c != '>')
        })
}

impl FromStr for Address {
    type Err = io::Error;

    fn from_str(addr: &str) -> io::Result<Address> {
        let Some((scheme, rest)) = addr.split_once(':').filter(|(scheme, _)| {
            matches!(
                *scheme,
                "tcp" | "tls" | "unix" | "ws" | "wss" | "nats" | "exec"
            )
        }) else {
            if let Some((scheme, _)) = addr.split_once("://") {
                return Err(invalid(addr, &format!("unknown scheme `{scheme}://`")));
            }
            return host_port(addr, addr).map(Address::Tcp);
        };
        let after_slashes = |what: &str| {
            rest.strip_prefix("//")
                .ok_or_else(|| invalid(addr, &format!("{what} is written {scheme}://…")))
        };
        match scheme {
            "tcp" => host_port(addr, after_slashes("a TCP address")?).map(Address::Tcp),
            "tls" => host_port(addr, after_slashes("a TLS address")?).map(Address::Tls),
            "ws" => after_slashes("a WebSocket URL").and_then(|_| url(addr).map(Address::Ws)),
            "wss" => after_slashes("a WebSocket URL").and_then(|_| url(addr).map(Address::Wss)),
            "unix" => {
                // `unix:///run/x.sock` and `unix:/run/x.sock` alike.
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.is_empty() {
                    return Err(invalid(addr, "no path after unix:"));
                }
                Ok(Address::Unix(PathBuf::from(path)))
            }
            "nats" => {
                let rest = after_slashes("a NATS address")?;
                let (servers, prefix) = rest
                    .split_once('/')
                    .ok_or_else(|| invalid(addr, "the subject prefix is missing"))?;
                if servers.is_empty() {
                    return Err(invalid(addr, "no host"));
                }
                if prefix.is_empty() {
                    return Err(invalid(addr, "the subject prefix is missing"));
                }
                if !is_subject_path(prefix) {
                    return Err(invalid(
                        addr,
                        "the prefix must be dot-separated subject tokens, with no wildcards",
                    ));
                }
                Ok(Address::Nats {
                    servers: format!("nats://{servers}"),
                    prefix: prefix.to_owned(),
                })
            }
            _ => match rest.trim() {
                "" => Err(invalid(addr, "no command after exec:")),
                command => Ok(Address::Exec(command.to_owned())),
            },
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(host_port) => write!(f, "tcp://{host_port}"),
            Address::Tls(host_port) => write!(f, "tls://{host_port}"),
            Address::Unix(path) => write!(f, "unix://{}", path.display()),
            Address::Ws(url) | Address::Wss(url) => f.write_str(url),
            Address::Nats { servers, prefix } => write!(f, "{servers}/{prefix}"),
            Address::Exec(command) => write!(f, "exec:{command}"),
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address::Tcp(addr.to_string())
    }
}

/// What names an [`Address`]: a string in one of its forms, a
/// [`SocketAddr`] or `(host, port)` (TCP), an `Address`, or a server's
/// [`ListenAddr`](super::ListenAddr).
pub trait ToAddress {
    /// The address.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if it is not one, saying why.
    fn to_address(&self) -> io::Result<Address>;
}

impl ToAddress for Address {
    fn to_address(&self) -> io::Result<Address> {
        Ok(self.clone())
    }
}

impl ToAddress for str {
    fn to_address(&self) -> io::Result<Address> {
        self.parse()
    }
}

impl ToAddress for String {
    fn to_address(&self) -> io::Result<Address> {
        self.parse()
    }
}

impl ToAddress for SocketAddr {
    fn to_address(&self) -> io::Result<Address> {
        Ok(Address::from(*self))
    }
}

/// `(host, port)`, over TCP.
impl ToAddress for (&str, u16) {
    fn to_address(&self) -> io::Result<Address> {
        let (host, port) = *self;
        if host.contains(':') && !host.starts_with('[') {
            return Ok(Address::Tcp(format!("[{host}]:{port}")));
        }
        Ok(Address::Tcp(format!("{host}:{port}")))
    }
}

impl<T: ToAddress + ?Sized> ToAddress for &T {
    fn to_address(&self) -> io::Result<Address> {
        (**self).to_address()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(addr: &str) -> io::Result<Address> {
        addr.parse()
    }

    #[test]
    fn every_form_parses_and_prints_back() {
        let forms = [
            (
                "tcp://127.0.0.1:4242",
                Address::Tcp("127.0.0.1:4242".into()),
            ),
            ("tcp://[::1]:4242", Address::Tcp("[::1]:4242".into())),
            (
                "tls://example.com:443",
                Address::Tls("example.com:443".into()),
            ),
            ("unix:///run/dotrpc.sock", Address::unix("/run/dotrpc.sock")),
            (
                "ws://127.0.0.1:8080/rpc",
                Address::Ws("ws://127.0.0.1:8080/rpc".into()),
            ),
            (
                "wss://example.com/rpc",
                Address::Wss("wss://example.com/rpc".into()),
            ),
            (
                "nats://a:4222,b:4222/acme.billing",
                Address::Nats {
                    servers: "nats://a:4222,b:4222".into(),
                    prefix: "acme.billing".into(),
                },
            ),
            ("exec:nvim --embed", Address::Exec("nvim --embed".into())),
        ];
        for (written, address) in forms {
            assert_eq!(parse(written).unwrap(), address, "{written}");
            assert_eq!(address.to_string(), written);
        }
        assert_eq!(
            parse("localhost:80").unwrap(),
            Address::Tcp("localhost:80".into())
        );
        assert_eq!(parse("unix:run.sock").unwrap(), Address::unix("run.sock"));
        assert_eq!(
            ("::1", 7).to_address().unwrap(),
            Address::Tcp("[::1]:7".into())
        );
        let socket: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(
            socket.to_address().unwrap(),
            Address::Tcp("127.0.0.1:9".into())
        );
    }

    #[test]
    fn a_bad_address_says_what_is_wrong() {
        for (written, why) in [
            ("ftp://example.com", "unknown scheme `ftp://`"),
            ("127.0.0.1", "no port"),
            (":80", "no host"),
            ("localhost:http", "`http` is not a port number"),
            ("tcp:127.0.0.1:80", "a TCP address is written tcp://…"),
            ("unix:", "no path after unix:"),
            ("ws:///rpc", "no host"),
            ("nats://127.0.0.1:4222", "the subject prefix is missing"),
            ("nats://127.0.0.1:4222/", "the subject prefix is missing"),
            ("nats://127.0.0.1:4222/a.*", "dot-separated subject tokens"),
            ("nats://127.0.0.1:4222/a..b", "dot-separated subject tokens"),
            ("exec:  ", "no command after exec:"),
        ] {
            let error = parse(written).unwrap_err().to_string();
            assert!(error.contains(why), "{written}: {error}");
            assert!(error.contains(written), "{written}: {error}");
        }
    }

    #[test]
    fn a_tls_client_verifies_the_host_of_the_address() {
        let host = |addr: &str| parse(addr).unwrap().host().map(str::to_owned);
        assert_eq!(
            host("tls://example.com:443").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            host("wss://example.com:8443/rpc").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            host("wss://example.com/rpc").as_deref(),
            Some("example.com")
        );
        assert_eq!(host("tls://[::1]:443").as_deref(), Some("::1"));
        assert_eq!(host("unix:/x"), None);
    }
}
