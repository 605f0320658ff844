//! A static file server over TLS on loopback (std::net and rustls, one thread per connection),
//! with a server certificate for `127.0.0.1` issued by a certificate authority made for the
//! test. It counts the TCP connections it accepts, so a test can tell whether a client retried.
#![allow(dead_code)]

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running server.
pub struct TlsServer {
    /// Its port.
    pub port: u16,
    /// The test CA's certificate, PEM.
    pub ca_pem: String,
    /// TCP connections accepted so far (a refused handshake counts too).
    pub connections: Arc<AtomicUsize>,
}

impl TlsServer {
    /// The root URL.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Writes the CA certificate to `dir/ca.pem` and returns the path.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let p = dir.join("ca.pem");
        std::fs::write(&p, &self.ca_pem).unwrap();
        p
    }
}

/// Serves `root` over TLS.
pub fn serve_tls(root: PathBuf) -> TlsServer {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ratchet test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();

    let chain = vec![leaf.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let config = Arc::new(config);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(tcp) = stream else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            let (config, root) = (config.clone(), root.clone());
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                handle(rustls::StreamOwned::new(conn, tcp), &root);
            });
        }
    });
    TlsServer {
        port,
        ca_pem: ca.pem(),
        connections,
    }
}

/// Answers requests on one connection until the client closes it or the handshake fails.
fn handle<S: std::io::Read + Write>(stream: S, root: &Path) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                break;
            }
        }
        let file = root.join(path.trim_start_matches('/'));
        let (status, body) = match std::fs::read(&file) {
            Ok(b) if file.is_file() => ("200 OK", b),
            _ => ("404 Not Found", b"not found".to_vec()),
        };
        let mut msg = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        msg.extend_from_slice(&body);
        let s = reader.get_mut();
        if s.write_all(&msg).is_err() || s.flush().is_err() {
            return;
        }
    }
}
