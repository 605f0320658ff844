//! The one HTTP client stack of Ratchet.
//!
//! Two parts of Ratchet speak HTTP: the registry client (index files and archives, async, many
//! requests at once) and the sandbox's `fetch` host function (one synchronous request at a time
//! on behalf of a task). They used to sit on two libraries with different TLS roots and proxy
//! behaviour, so a registry reachable from `ratchet install` could be unreachable from a task
//! and the other way round. This crate builds both clients from one [`HttpConfig`]:
//!
//! - **TLS** is rustls. Trusted roots are the built-in Mozilla roots, the system trust store
//!   (or, as with OpenSSL, the files named by `SSL_CERT_FILE` / `SSL_CERT_DIR` in its place),
//!   the file named by `RATCHET_CA_FILE`, and any extra CA files of the caller (a registry's own
//!   certificate authority). A CA file that holds no PEM certificate is an error naming it.
//! - **Proxies** come from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (either
//!   case) when the configuration says [`Proxy::Environment`]; [`Proxy::Direct`] connects
//!   directly.
//! - **Redirects** are never followed by the client: every caller follows them itself, one hop
//!   at a time, because each hop needs a decision (credentials only for the registry's origin;
//!   a task's network policy).
//!
//! - **Connections** are kept alive and reused; HTTP/2 is negotiated by ALPN whenever the server
//!   offers it, and then every request to that host is a stream of one connection. reqwest
//!   bounds idle connections but not open ones, so callers that send many requests at once take
//!   a slot per request from [`hosts::HostLimits`] first: at most
//!   [`HttpConfig::max_connections_per_host`] per host on HTTP/1 (default
//!   [`DEFAULT_MAX_CONNECTIONS`], `RATCHET_HTTP_MAX_CONNECTIONS` overrides it), fewer while the
//!   host struggles. Small static servers drop connection attempts beyond their listen backlog
//!   (Python's `http.server` keeps 5), and TCP retries those a second or more later.
//!
//! [`certificate_problem`] recognises a refused server certificate in an error chain, so callers
//! can stop instead of retrying and say how to trust a certificate authority.

pub mod hosts;
pub mod rate;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Environment variable naming a PEM file of extra trusted roots for every connection.
pub const CA_FILE_ENV: &str = "RATCHET_CA_FILE";
/// The OpenSSL variable naming a PEM file of trusted roots (used in place of the system store).
pub const SSL_CERT_FILE_ENV: &str = "SSL_CERT_FILE";
/// The OpenSSL variable naming a directory of trusted roots (used in place of the system store).
pub const SSL_CERT_DIR_ENV: &str = "SSL_CERT_DIR";

/// Environment variable setting the most connections to one host (HTTP/1), over the client
/// configuration.
pub const MAX_CONNECTIONS_ENV: &str = "RATCHET_HTTP_MAX_CONNECTIONS";
/// Connections per host when nothing says otherwise: what browsers open, and what a server
/// with a listen backlog of 5 (Python's `http.server`) accepts without dropping one, even when
/// it serves one connection at a time.
pub const DEFAULT_MAX_CONNECTIONS: usize = 6;
/// The most connections per host a configuration may ask for: enough to size an HTTP/1.1 pool
/// for a wide wave (a level of a hundred bundles and more goes out in one round trip).
pub const MAX_CONNECTIONS_LIMIT: usize = 1024;

/// The connections per host to use: `RATCHET_HTTP_MAX_CONNECTIONS` if set, else `configured`
/// (the client configuration), else [`DEFAULT_MAX_CONNECTIONS`]. A value outside
/// 1..=[`MAX_CONNECTIONS_LIMIT`] is an error naming where it came from.
pub fn max_connections(configured: Option<usize>) -> Result<usize, HttpError> {
    if let Some(v) = std::env::var_os(MAX_CONNECTIONS_ENV).filter(|v| !v.is_empty()) {
        let text = v.to_string_lossy();
        return match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_CONNECTIONS_LIMIT).contains(&n) => Ok(n),
            _ => Err(HttpError::Setting(format!(
                "{MAX_CONNECTIONS_ENV}=`{}`: use a whole number from 1 to {MAX_CONNECTIONS_LIMIT}",
                text.escape_debug()
            ))),
        };
    }
    match configured {
        Some(n) if !(1..=MAX_CONNECTIONS_LIMIT).contains(&n) => Err(HttpError::Setting(format!(
            "max-connections-per-host {n}: use a whole number from 1 to {MAX_CONNECTIONS_LIMIT}"
        ))),
        Some(n) => Ok(n),
        None => Ok(DEFAULT_MAX_CONNECTIONS),
    }
}

/// Why a client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A CA file cannot be read.
    #[error("{}: cannot read the CA file{}: {source}", path.display(), via(*.env))]
    CaFileRead {
        /// The file.
        path: PathBuf,
        /// The environment variable that named it, if one did.
        env: Option<&'static str>,
        /// Why.
        source: std::io::Error,
    },
    /// A CA file holds no PEM certificate, or a damaged one.
    #[error("{}: not a PEM file of certificates{}: {reason}", path.display(), via(*.env))]
    CaFileNotPem {
        /// The file.
        path: PathBuf,
        /// The environment variable that named it, if one did.
        env: Option<&'static str>,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting (an environment variable, the client configuration) is out of range.
    #[error("{0}")]
    Setting(String),
    /// reqwest refused the configuration (a certificate rustls cannot use, a bad proxy URL).
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

fn via(env: Option<&'static str>) -> String {
    env.map(|e| format!(" (named by {e})")).unwrap_or_default()
}

/// Whether a client goes through the proxy the environment names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY` (upper or lower case), as curl reads
    /// them.
    Environment,
    /// Always connect directly.
    Direct,
}

/// How to build a client: trusted roots, proxy, timeouts, user agent.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Extra PEM files of trusted root certificates (besides the built-in and system roots and
    /// `RATCHET_CA_FILE`).
    pub ca_files: Vec<PathBuf>,
    /// Proxy use.
    pub proxy: Proxy,
    /// Longest time to establish a connection.
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response, if bounded.
    pub read_timeout: Option<Duration>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Idle connections kept per host for reuse; callers bound open ones with
    /// [`hosts::HostLimits`] of the same size.
    pub max_connections_per_host: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            ca_files: Vec::new(),
            proxy: Proxy::Environment,
            connect_timeout: Duration::from_secs(10),
            read_timeout: None,
            user_agent: concat!("ratchet/", env!("CARGO_PKG_VERSION")).to_string(),
            max_connections_per_host: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl HttpConfig {
    /// Every trusted root besides the built-in ones: the system store (or `SSL_CERT_FILE` /
    /// `SSL_CERT_DIR`), `RATCHET_CA_FILE`, then [`HttpConfig::ca_files`].
    pub fn extra_roots(&self) -> Result<Vec<CertificateDer<'static>>, HttpError> {
        let mut out = system_roots()?;
        if let Some(p) = env_path(CA_FILE_ENV) {
            out.extend(read_ca_file_named(&p, Some(CA_FILE_ENV))?);
        }
        for p in &self.ca_files {
            out.extend(read_ca_file(p)?);
        }
        Ok(out)
    }

    /// An async client with this configuration that follows no redirects.
    pub fn client(&self) -> Result<reqwest::Client, HttpError> {
        self.builder()?.build().map_err(HttpError::Build)
    }

    /// [`HttpConfig::client`], calling `h2` each time a new connection has negotiated HTTP/2
    /// during its TLS handshake (ALPN), before any answer comes over it: a caller that holds
    /// its requests to an `https` host until the protocol is known ([`hosts`]) can then send
    /// them as streams of that connection without waiting a round trip for the first answer.
    pub fn client_watching_alpn(
        &self,
        h2: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<reqwest::Client, HttpError> {
        self.builder()?
            .connector_layer(AlpnLayer { h2 })
            .build()
            .map_err(HttpError::Build)
    }

    /// The async client's builder, configured, for callers that add more (a DNS resolver).
    pub fn builder(&self) -> Result<reqwest::ClientBuilder, HttpError> {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.clone())
            // Every connection stays open for the next request (none is closed while a wave
            // is queued for it); an idle one is closed after 90 s, before servers usually do.
            .pool_max_idle_per_host(self.max_connections_per_host.max(1))
            .pool_idle_timeout(Duration::from_secs(90))
            // HTTP/2 flow control sized by measurement, not a fixed 64 KiB window, so one
            // multiplexed connection carries archives as fast as several would.
            .http2_adaptive_window(true);
        if let Some(t) = self.read_timeout {
            b = b.read_timeout(t);
        }
        if self.proxy == Proxy::Direct {
            b = b.no_proxy();
        }
        for der in self.extra_roots()? {
            let cert = reqwest::Certificate::from_der(der.as_ref()).map_err(HttpError::Build)?;
            b = b.add_root_certificate(cert);
        }
        Ok(b)
    }

    /// The synchronous client's builder, configured, for callers without an async runtime.
    /// Set a timeout on each request: the builder's default of 30 s is removed.
    #[cfg(feature = "blocking")]
    pub fn blocking_builder(&self) -> Result<reqwest::blocking::ClientBuilder, HttpError> {
        let mut b = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(None)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.clone());
        if self.proxy == Proxy::Direct {
            b = b.no_proxy();
        }
        for der in self.extra_roots()? {
            let cert = reqwest::Certificate::from_der(der.as_ref()).map_err(HttpError::Build)?;
            b = b.add_root_certificate(cert);
        }
        Ok(b)
    }
}

/// The connector layer of [`HttpConfig::client_watching_alpn`].
#[derive(Clone)]
struct AlpnLayer {
    h2: Arc<dyn Fn() + Send + Sync>,
}

impl<S> tower_layer::Layer<S> for AlpnLayer {
    type Service = AlpnService<S>;

    fn layer(&self, inner: S) -> AlpnService<S> {
        AlpnService {
            inner,
            h2: self.h2.clone(),
        }
    }
}

/// A connector that reports the connections that negotiated HTTP/2.
#[derive(Clone)]
struct AlpnService<S> {
    inner: S,
    h2: Arc<dyn Fn() + Send + Sync>,
}

type ConnectFuture<T, E> = std::pin::Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, R> tower_service::Service<R> for AlpnService<S>
where
    S: tower_service::Service<R>,
    S::Response: hyper_util::client::legacy::connect::Connection + Send + 'static,
    S::Error: Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ConnectFuture<S::Response, S::Error>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let connecting = self.inner.call(req);
        let h2 = self.h2.clone();
        Box::pin(async move {
            let conn = connecting.await?;
            if hyper_util::client::legacy::connect::Connection::connected(&conn).is_negotiated_h2()
            {
                h2();
            }
            Ok(conn)
        })
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Reads a PEM file of CA certificates: at least one `CERTIFICATE` block, every block intact.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, HttpError> {
    read_ca_file_named(path, None)
}

fn read_ca_file_named(
    path: &Path,
    env: Option<&'static str>,
) -> Result<Vec<CertificateDer<'static>>, HttpError> {
    let bytes = std::fs::read(path).map_err(|source| HttpError::CaFileRead {
        path: path.to_path_buf(),
        env,
        source,
    })?;
    parse_pem(&bytes).map_err(|reason| HttpError::CaFileNotPem {
        path: path.to_path_buf(),
        env,
        reason,
    })
}

/// The certificates of a PEM text, or why there are none usable.
fn parse_pem(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certs = Vec::new();
    for c in CertificateDer::pem_slice_iter(bytes) {
        certs.push(c.map_err(|e| format!("a certificate block is damaged ({e})"))?);
    }
    if certs.is_empty() {
        // A DER certificate starts with a SEQUENCE tag.
        return Err(if bytes.first() == Some(&0x30) {
            "it looks like a binary (DER) certificate; convert it with `openssl x509 -inform der -in FILE -out FILE.pem`".into()
        } else {
            "no `-----BEGIN CERTIFICATE-----` block in it".into()
        });
    }
    Ok(certs)
}

/// The system trust store, read once per process; `SSL_CERT_FILE` is checked to be PEM first,
/// so a wrong file is an error naming it rather than an empty trust store.
fn system_roots() -> Result<Vec<CertificateDer<'static>>, HttpError> {
    if let Some(p) = env_path(SSL_CERT_FILE_ENV) {
        read_ca_file_named(&p, Some(SSL_CERT_FILE_ENV))?;
    }
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    // Unreadable entries of a system directory (a stray file in /etc/ssl/certs) are skipped:
    // they are the platform's, and the built-in roots remain.
    Ok(ROOTS
        .get_or_init(|| rustls_native_certs::load_native_certs().certs)
        .clone())
}

/// How a server's certificate was refused, if that is why `err` happened (anywhere in its
/// chain of causes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    /// Issued by an authority no trusted root vouches for (a private CA, a self-signed
    /// certificate, an intercepting proxy).
    UnknownIssuer,
    /// Expired or not yet valid.
    Expired,
    /// Not valid for the host name or address connected to.
    WrongName,
    /// Revoked, badly signed, unsupported, or otherwise refused.
    Other,
}

impl CertificateProblem {
    /// The problem in words (`the server's certificate ...`).
    pub fn describe(self) -> &'static str {
        match self {
            CertificateProblem::UnknownIssuer => {
                "the server's certificate is issued by a certificate authority this machine does not trust"
            }
            CertificateProblem::Expired => {
                "the server's certificate has expired or is not valid yet"
            }
            CertificateProblem::WrongName => {
                "the server's certificate is not valid for this host name"
            }
            CertificateProblem::Other => "the server's certificate was refused",
        }
    }
}

/// Finds a refused server certificate in `err`'s chain of causes. The TLS layers wrap rustls'
/// error in an I/O error, sometimes twice, and an I/O error's `source` skips what it wraps, so
/// each I/O error's wrapped error is looked into as well.
pub fn certificate_problem(err: &(dyn StdError + 'static)) -> Option<CertificateProblem> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(p) = rustls_problem(e) {
            return Some(p);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(p) = certificate_problem(inner)
        {
            return Some(p);
        }
        cur = e.source();
    }
    None
}

fn rustls_problem(e: &(dyn StdError + 'static)) -> Option<CertificateProblem> {
    use rustls::CertificateError as C;
    match e.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(c) => Some(match c {
            C::UnknownIssuer => CertificateProblem::UnknownIssuer,
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => CertificateProblem::Expired,
            C::NotValidForName | C::NotValidForNameContext { .. } => CertificateProblem::WrongName,
            _ => CertificateProblem::Other,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_connections_are_checked() {
        if std::env::var_os(MAX_CONNECTIONS_ENV).is_some() {
            return; // the variable wins; the CLI tests cover it
        }
        assert_eq!(max_connections(None).unwrap(), DEFAULT_MAX_CONNECTIONS);
        assert_eq!(max_connections(Some(2)).unwrap(), 2);
        for bad in [0, MAX_CONNECTIONS_LIMIT + 1] {
            let e = max_connections(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("max-connections-per-host"), "{e}");
        }
    }

    #[test]
    fn a_file_without_pem_certificates_is_an_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let text = d.path().join("notes.txt");
        std::fs::write(&text, "just some words\n").unwrap();
        let e = read_ca_file(&text).unwrap_err();
        assert!(matches!(e, HttpError::CaFileNotPem { ref path, .. } if path == &text));
        assert!(e.to_string().contains("notes.txt"), "{e}");
        assert!(e.to_string().contains("BEGIN CERTIFICATE"), "{e}");

        let der = d.path().join("ca.der");
        std::fs::write(&der, [0x30, 0x82, 0x01, 0x0a, 0x02]).unwrap();
        let e = read_ca_file(&der).unwrap_err();
        assert!(e.to_string().contains("DER"), "{e}");

        let damaged = d.path().join("damaged.pem");
        std::fs::write(
            &damaged,
            "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(matches!(
            read_ca_file(&damaged),
            Err(HttpError::CaFileNotPem { .. })
        ));

        let missing = d.path().join("missing.pem");
        let e = read_ca_file(&missing).unwrap_err();
        assert!(matches!(e, HttpError::CaFileRead { .. }));
        assert!(e.to_string().contains("missing.pem"), "{e}");
    }

    #[test]
    fn certificate_errors_are_found_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        assert_eq!(
            certificate_problem(&io),
            Some(CertificateProblem::UnknownIssuer)
        );
        // As hyper-rustls hands it on: an I/O error around tokio-rustls' I/O error.
        let twice = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        ));
        assert_eq!(
            certificate_problem(&twice),
            Some(CertificateProblem::Expired)
        );
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(certificate_problem(&other), None);
    }
}
