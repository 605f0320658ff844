//! Real static servers on loopback serving a registry directory, as users run them: Python's
//! `http.server` exactly as the README shows it (HTTP/1.0, a new connection per request, a
//! listen backlog of 5), and nginx with a minimal configuration (HTTP/1.1 keep-alive). Shared by
//! `#[path]` between `tests/static_hosts.rs` and the registry benchmark. Each server is stopped
//! (by its own process id) when its handle is dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server.
pub struct StaticServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// What it wrote to standard error (its request log, for Python), for failure messages.
    pub log: PathBuf,
    /// Kept alive while the server runs (nginx's prefix directory).
    _dir: Option<tempfile::TempDir>,
}

impl StaticServer {
    /// The root URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The `https` root URL of a TLS front ([`nginx_h2_front`]).
    pub fn https_url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.port)
    }

    /// The access log of a front ([`nginx_h2_front`]); other servers write none.
    pub fn access_log(&self) -> PathBuf {
        self.log.with_file_name("access.log")
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// Stops a server process: SIGTERM first (nginx's master then stops its workers; SIGKILL would
/// orphan them), SIGKILL after 5 s, and reaps it.
pub fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until_listening(child: &mut Child, port: u16, what: &str, log: &Path) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = child.try_wait().ok().flatten();
        assert!(
            exited.is_none() && start.elapsed() < Duration::from_secs(20),
            "{what} did not start ({exited:?}): {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `python3 -m http.server PORT --directory DIR`, as the README shows it, with the `python3`
/// at `python`. Its request log goes to a file next to `dir`.
pub fn python(python: &Path, dir: &Path) -> StaticServer {
    let port = free_port();
    let log = dir.with_extension("python-http.log");
    let child = Command::new(python)
        .args(["-m", "http.server", &port.to_string(), "--directory"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut s = StaticServer {
        child,
        port,
        log,
        _dir: None,
    };
    wait_until_listening(&mut s.child, port, "python3 -m http.server", &s.log);
    s
}

/// nginx (the binary at `nginx`) serving `dir` on 127.0.0.1 with one worker and nginx's
/// defaults otherwise (keep-alive, `sendfile`), no access log.
pub fn nginx(nginx: &Path, dir: &Path) -> StaticServer {
    let prefix = tempfile::tempdir().unwrap();
    let p = prefix.path().display();
    let port = free_port();
    let conf = format!(
        r#"worker_processes 1;
error_log {p}/error.log;
pid {p}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  client_body_temp_path {p}/tmp-body;
  proxy_temp_path {p}/tmp-proxy;
  fastcgi_temp_path {p}/tmp-fcgi;
  uwsgi_temp_path {p}/tmp-uwsgi;
  scgi_temp_path {p}/tmp-scgi;
  server {{
    listen 127.0.0.1:{port};
    root {root};
  }}
}}
"#,
        root = dir.display()
    );
    start_nginx(nginx, prefix, &conf, port, "nginx")
}

/// Starts nginx in the foreground with `conf` written under `prefix` (which the server keeps),
/// listening on `port`; returns once it accepts connections.
fn start_nginx(
    nginx: &Path,
    prefix: tempfile::TempDir,
    conf: &str,
    port: u16,
    what: &str,
) -> StaticServer {
    let conf_path = prefix.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    // As root, workers would run as `nobody` and could not read a private temporary directory.
    let user = if is_root() { " user root;" } else { "" };
    let child = Command::new(nginx)
        .arg("-p")
        .arg(prefix.path())
        .arg("-c")
        .arg(&conf_path)
        .args(["-g", &format!("daemon off;{user}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log = prefix.path().join("error.log");
    let mut s = StaticServer {
        child,
        port,
        log,
        _dir: Some(prefix),
    };
    wait_until_listening(&mut s.child, port, what, &s.log);
    s
}

/// nginx (the binary at `nginx`) as an HTTP/2 front over TLS on 127.0.0.1: `cert` (PEM chain
/// for `127.0.0.1`) and `key` (its PEM key), every request proxied over HTTP/1.1 keep-alive to
/// the server on 127.0.0.1:`upstream` (a delaying `fault_server`), up to 1,024 concurrent
/// streams per connection. Its access log ([`StaticServer::access_log`]) has one line per
/// request: the protocol the client spoke (`$server_protocol`), the status, the URI and the
/// client connection's serial number (`$connection`).
pub fn nginx_h2_front(nginx: &Path, upstream: u16, cert: &Path, key: &Path) -> StaticServer {
    let prefix = tempfile::tempdir().unwrap();
    let p = prefix.path().display();
    let port = free_port();
    // Each HTTP/2 stream and each upstream connection takes one of nginx's connections.
    let conf = format!(
        r#"worker_processes 1;
worker_rlimit_nofile 16384;
error_log {p}/error.log;
pid {p}/nginx.pid;
events {{ worker_connections 8192; }}
http {{
  log_format proto '$server_protocol $status $request_uri $connection';
  access_log {p}/access.log proto;
  client_body_temp_path {p}/tmp-body;
  proxy_temp_path {p}/tmp-proxy;
  fastcgi_temp_path {p}/tmp-fcgi;
  uwsgi_temp_path {p}/tmp-uwsgi;
  scgi_temp_path {p}/tmp-scgi;
  upstream back {{
    server 127.0.0.1:{upstream};
    keepalive 1024;
    keepalive_requests 100000;
  }}
  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    http2_max_concurrent_streams 1024;
    keepalive_requests 100000;
    location / {{
      proxy_pass http://back;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"#,
        cert = cert.display(),
        key = key.display()
    );
    start_nginx(nginx, prefix, &conf, port, "nginx (HTTP/2 front)")
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The machine's `TcpExt: ListenOverflows` counter (connection attempts dropped because a
/// listen queue was full), from `/proc/net/netstat`; `None` where there is no such file.
pub fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if let (Some(n), Some(v)) = (
            names.strip_prefix("TcpExt:"),
            values.strip_prefix("TcpExt:"),
        ) {
            let i = n.split_whitespace().position(|x| x == "ListenOverflows")?;
            return v.split_whitespace().nth(i)?.parse().ok();
        }
    }
    None
}
