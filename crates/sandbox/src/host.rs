//! The `ratchet` import module: what a task can reach beyond WASI.
//!
//! Two capabilities, both taking a JSON request and producing a JSON response (see
//! `task-abi.md`): `fetch` (HTTP, performed by the host only for declared domains, redirects
//! followed one hop at a time and each hop checked, every byte counted against the bandwidth
//! limit) and `command` (starts a declared program directly, never through a shell, with an
//! argument list, the run's environment, and the run's deadline and output cap). The JavaScript
//! engine calls the same functions, so this is the only door out of the sandbox.

use super::limits::{LimitExceeded, LimitKind};
use super::policy::NetworkRule;
use ratchet_formats::manifest::units::ByteSize;
use ratchet_formats::task::HttpMock;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// True for addresses a declared *domain name* must not lead to: loopback, private, link-local
/// (cloud metadata services), carrier-grade NAT, unspecified, multicast, and IPv6 unique-local
/// and link-local (also inside IPv4-mapped IPv6). A domain that resolves there would let a
/// bundle reach the user's own machine or network (DNS rebinding).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// A declared name that resolves only to internal addresses ([`is_internal`]).
#[derive(Debug)]
struct InternalOnly {
    host: String,
}

impl std::fmt::Display for InternalOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves only to internal addresses", self.host)
    }
}

impl std::error::Error for InternalOnly {}

/// Resolves names with the system resolver and keeps only public addresses, unless the name is
/// `localhost`, which a bundle can only reach by declaring it as such. (An address written in
/// the URL is connected to without resolving: the bundle declared that address.) Filtering
/// here, on the addresses the client connects to, leaves no window between check and use.
#[derive(Debug)]
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let lookup = host.clone();
            let all: Vec<SocketAddr> = tokio::task::spawn_blocking(move || {
                (lookup.as_str(), 0)
                    .to_socket_addrs()
                    .map(Iterator::collect)
            })
            .await??;
            if host.eq_ignore_ascii_case("localhost") {
                return Ok(Box::new(all.into_iter()) as reqwest::dns::Addrs);
            }
            let kept: Vec<SocketAddr> = all.into_iter().filter(|a| !is_internal(a.ip())).collect();
            if kept.is_empty() {
                return Err(
                    Box::new(InternalOnly { host }) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The client every fetch uses, built on first use: the trust roots of the registry client
/// ([`ratchet_http`]), no redirects (each hop is checked here), names resolved by
/// [`PublicOnlyResolver`], no kept-alive connections between fetches, and no proxy: a proxy
/// resolves names itself, which would take the internal-address check out of the host's hands.
fn client() -> Result<&'static reqwest::blocking::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::blocking::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let config = ratchet_http::HttpConfig {
                proxy: ratchet_http::Proxy::Direct,
                ..ratchet_http::HttpConfig::default()
            };
            config
                .blocking_builder()
                .map_err(|e| e.to_string())?
                .dns_resolver(Arc::new(PublicOnlyResolver))
                .pool_max_idle_per_host(0)
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The first error of type `T` in `e`'s chain of causes.
fn find_cause<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur = Some(e);
    while let Some(x) = cur {
        if let Some(t) = x.downcast_ref::<T>() {
            return Some(t);
        }
        cur = x.source();
    }
    None
}

/// A failed request in words: what a refused certificate means, else reqwest's chain.
fn describe(e: &reqwest::Error) -> String {
    if let Some(p) = ratchet_http::certificate_problem(e) {
        return p.describe().to_string();
    }
    let mut parts = Vec::new();
    if e.is_timeout() {
        parts.push("timed out".to_string());
    } else if e.is_connect() {
        parts.push("cannot connect".to_string());
    } else if !e.is_builder() {
        parts.push("request failed".to_string());
    }
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        parts.push(x.to_string());
        src = x.source();
    }
    parts.join(": ")
}

/// Most redirects one fetch follows.
const MAX_REDIRECTS: usize = 10;

pub use ratchet_formats::hostcall::{CommandRequest, FetchRequest};

/// A refused or failed request, as the guest sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HostError {
    /// `denied` (not permitted), `invalid` (malformed request) or `failed` (the network or
    /// program failed).
    pub kind: &'static str,
    /// What happened.
    pub message: String,
}

impl HostError {
    fn denied(message: String) -> Self {
        HostError {
            kind: "denied",
            message,
        }
    }
    fn invalid(message: String) -> Self {
        HostError {
            kind: "invalid",
            message,
        }
    }
    fn failed(message: String) -> Self {
        HostError {
            kind: "failed",
            message,
        }
    }
}

/// What the host functions may use, and what they counted.
#[derive(Debug)]
pub struct Host {
    /// Fetch rule.
    pub network: NetworkRule,
    /// Allowed commands.
    pub commands: Vec<String>,
    /// Environment passed to commands (the same the task gets).
    pub env: Vec<(String, String)>,
    /// Working directory of commands (the run's scratch area).
    pub workdir: PathBuf,
    /// Answers fetches whose URL contains the mock's `url` (tests).
    pub mock: Option<HttpMock>,
    /// Network byte budget.
    pub max_network: u64,
    /// Output cap for each stream of a command.
    pub max_output: u64,
    /// When the run must end.
    pub deadline: Instant,
    /// Bytes transferred so far.
    pub network_bytes: u64,
    /// Requests refused because they were not permitted (also returned to the guest); at most
    /// [`MAX_DENIALS`], each cut to [`MAX_DENIAL_LEN`] bytes.
    pub denials: Vec<String>,
    /// Denials not kept in [`Host::denials`].
    pub denials_dropped: usize,
}

/// Request headers a task may not set (compared in lower case; `proxy-*` too), except
/// `content-length` when it equals the body's length.
pub const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
];

/// Most denials a run's report keeps.
pub const MAX_DENIALS: usize = 20;
/// Longest denial message a run's report keeps, in bytes.
pub const MAX_DENIAL_LEN: usize = 300;

/// Outcome of a host call: a JSON response for the guest, or a limit that stops the run.
pub type HostResult = Result<Value, LimitExceeded>;

impl Host {
    fn deny(&mut self, message: String) -> Value {
        // The message quotes guest-supplied text (URLs, program names): keep what is stored
        // for the run's report bounded, however often and with whatever the guest asks.
        if self.denials.len() < MAX_DENIALS {
            let mut m = message.clone();
            if m.len() > MAX_DENIAL_LEN {
                let mut cut = MAX_DENIAL_LEN;
                while !m.is_char_boundary(cut) {
                    cut -= 1;
                }
                m.truncate(cut);
                m.push_str("...");
            }
            self.denials.push(m);
        } else {
            self.denials_dropped += 1;
        }
        error_value(HostError::denied(message))
    }

    fn remaining(&self) -> Result<Duration, LimitExceeded> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(LimitExceeded {
                kind: LimitKind::WallTime,
                detail: "the deadline passed during a host call".into(),
            });
        }
        Ok(self.deadline - now)
    }

    fn charge(&mut self, n: u64) -> Result<(), LimitExceeded> {
        self.network_bytes = self.network_bytes.saturating_add(n);
        if self.network_bytes > self.max_network {
            return Err(LimitExceeded {
                kind: LimitKind::NetworkBandwidth,
                detail: format!(
                    "{} transferred, limit {}",
                    ByteSize(self.network_bytes),
                    ByteSize(self.max_network)
                ),
            });
        }
        Ok(())
    }

    /// Checks `url` against the network rule: Ok(parsed) or the reason it is refused.
    fn check_url(&self, url: &str) -> Result<url::Url, String> {
        let u = url::Url::parse(url).map_err(|e| format!("`{url}` is not a valid URL: {e}"))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(format!("`{url}`: only http and https URLs can be fetched"));
        }
        let host = u
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !self
            .network
            .allows(u.scheme(), &host, u.port_or_known_default())
        {
            return Err(format!(
                "network access to {}://{host}{} is not permitted (declared domains: {})",
                u.scheme(),
                u.port().map(|p| format!(":{p}")).unwrap_or_default(),
                self.network.declared_list()
            ));
        }
        Ok(u)
    }

    /// `ratchet.fetch`: the request JSON in, the response JSON out.
    pub fn fetch(&mut self, request: &[u8]) -> HostResult {
        let req = match ratchet_formats::hostcall::decode_fetch(request) {
            Ok(r) => r,
            Err(m) => return Ok(error_value(HostError::invalid(m))),
        };
        let mut method = req
            .method
            .clone()
            .unwrap_or_else(|| "GET".into())
            .to_ascii_uppercase();
        let mocked = self
            .mock
            .as_ref()
            .filter(|mock| {
                req.url.contains(&mock.url)
                    && mock
                        .method
                        .as_ref()
                        .is_none_or(|m| m.eq_ignore_ascii_case(&method))
            })
            .map(|mock| mock.response.clone());
        // A bare Ratchet task directory declares nothing to check a mock against: its mocks
        // answer first (nothing leaves the machine).
        if self.network.mocks_first
            && let Some(response) = &mocked
        {
            return Ok(mock_response(response, &req.url));
        }
        let mut url = match self.check_url(&req.url) {
            Ok(u) => u,
            Err(m) => return Ok(self.deny(m)),
        };
        // A test's mock answers before the header rules and the network: nothing leaves the
        // machine, so only the domain permission above (which a mock never grants) applies.
        if let Some(response) = &mocked {
            return Ok(mock_response(response, url.as_str()));
        }
        let body_len = req.body.as_ref().map_or(0, String::len);
        // The URL alone decides which host is reached: a `Host` header would let a task reach
        // an undeclared virtual host of a declared address (a shared CDN); hop-by-hop headers
        // belong to the connection, which the runtime manages. `Content-Length` is accepted
        // when it states the body's true length (Ratchet's HTTP client accepts it, and its
        // tasks set it); the runtime then sends its own, equal, value.
        for (k, v) in &req.headers {
            let lower = k.to_ascii_lowercase();
            if lower == "content-length" {
                if v.trim().parse::<usize>().ok() != Some(body_len) {
                    let shown: String = v.chars().take(40).collect();
                    return Ok(error_value(HostError::invalid(format!(
                        "fetch header `{k}: {shown}` does not match the body's length ({body_len} bytes): leave it out or give the true length"
                    ))));
                }
                continue;
            }
            if FORBIDDEN_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") {
                return Ok(self.deny(format!(
                    "fetch header `{k}` may not be set by a task (the URL decides the host; the runtime manages the connection)"
                )));
            }
        }
        let mut body = req.body.clone().unwrap_or_default().into_bytes();
        for _hop in 0..=MAX_REDIRECTS {
            let remaining = self.remaining()?;
            let request_bytes = method.len()
                + url.as_str().len()
                + req
                    .headers
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 4)
                    .sum::<usize>()
                + body.len()
                + 16;
            self.charge(request_bytes as u64)?;
            let client = match client() {
                Ok(c) => c,
                Err(m) => return Ok(error_value(HostError::failed(m))),
            };
            let Ok(m) = reqwest::Method::from_bytes(method.as_bytes()) else {
                return Ok(error_value(HostError::invalid(format!(
                    "fetch request is not valid: `{method}` is not an HTTP method"
                ))));
            };
            let mut builder = client.request(m, url.as_str()).timeout(remaining);
            for (k, v) in &req.headers {
                // Checked above to equal the body's length; the client sets its own.
                if !k.eq_ignore_ascii_case("content-length") {
                    builder = builder.header(k, v);
                }
            }
            if !body.is_empty() {
                builder = builder.body(body.clone());
            }
            let mut resp = match builder.send() {
                Ok(r) => r,
                Err(e) if e.is_builder() => {
                    return Ok(error_value(HostError::invalid(format!(
                        "fetch request is not valid: {}",
                        describe(&e)
                    ))));
                }
                Err(e) if find_cause::<InternalOnly>(&e).is_some() => {
                    let why = find_cause::<InternalOnly>(&e)
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    return Ok(self.deny(format!(
                        "network access to {url} refused: {why} (a declared address, not a name, is needed to reach it)"
                    )));
                }
                Err(e) => {
                    if e.is_timeout() {
                        self.remaining()?;
                    }
                    return Ok(error_value(HostError::failed(format!(
                        "fetch {url} failed: {}",
                        describe(&e)
                    ))));
                }
            };
            let status = resp.status();
            let header_bytes: usize = resp
                .headers()
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len() + 4)
                .sum::<usize>()
                + 16;
            self.charge(header_bytes as u64)?;
            if status.is_redirection()
                && let Some(loc) = resp.headers().get("location").and_then(|v| v.to_str().ok())
            {
                let next = match url.join(loc) {
                    Ok(n) => n,
                    Err(e) => {
                        return Ok(error_value(HostError::failed(format!(
                            "bad redirect from {url} to `{loc}`: {e}"
                        ))));
                    }
                };
                if let Err(m) = self.check_url(next.as_str()) {
                    return Ok(self.deny(format!("redirect from {url} refused: {m}")));
                }
                if status.as_u16() == 303
                    || (matches!(status.as_u16(), 301 | 302) && method == "POST")
                {
                    method = "GET".into();
                    body.clear();
                }
                url = next;
                continue;
            }
            let left = self.max_network.saturating_sub(self.network_bytes);
            let mut data = Vec::new();
            let read = (&mut resp)
                .take(left.saturating_add(1))
                .read_to_end(&mut data);
            if let Err(e) = read {
                if Instant::now() >= self.deadline {
                    return Err(LimitExceeded {
                        kind: LimitKind::WallTime,
                        detail: format!("reading the response of {url}"),
                    });
                }
                return Ok(error_value(HostError::failed(format!(
                    "reading the response of {url} failed: {e}"
                ))));
            }
            if data.len() as u64 > left {
                return Err(LimitExceeded {
                    kind: LimitKind::NetworkBandwidth,
                    detail: format!(
                        "the response of {url} is larger than the {} left of {}",
                        ByteSize(left),
                        ByteSize(self.max_network)
                    ),
                });
            }
            self.charge(data.len() as u64)?;
            let mut headers = Map::new();
            for (k, v) in resp.headers() {
                headers.insert(
                    k.as_str().to_string(),
                    Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                );
            }
            let mut out = json!({
                "ok": status.is_success(),
                "status": status.as_u16(),
                "status_text": status.canonical_reason().unwrap_or(""),
                "url": url.as_str(),
                "headers": headers,
            });
            match String::from_utf8(data) {
                Ok(s) => out["body"] = Value::String(s),
                Err(e) => out["body_base64"] = Value::String(base64(e.as_bytes())),
            }
            return Ok(out);
        }
        Ok(error_value(HostError::failed(format!(
            "more than {MAX_REDIRECTS} redirects fetching {}",
            req.url
        ))))
    }

    /// `ratchet.command`: the request JSON in, the response JSON out.
    pub fn command(&mut self, request: &[u8]) -> HostResult {
        let req = match ratchet_formats::hostcall::decode_command(request) {
            Ok(r) => r,
            Err(m) => return Ok(error_value(HostError::invalid(m))),
        };
        if !self.commands.contains(&req.program) {
            let declared = if self.commands.is_empty() {
                "none".to_string()
            } else {
                self.commands.join(", ")
            };
            return Ok(self.deny(format!(
                "starting command `{}` is not permitted (declared commands: {declared})",
                req.program
            )));
        }
        let Some(path) = find_program(&req.program) else {
            return Ok(error_value(HostError::failed(format!(
                "command `{}` is not installed (not found on PATH)",
                req.program
            ))));
        };
        let remaining = self.remaining()?;
        let mut child = match Command::new(&path)
            .args(&req.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.workdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                return Ok(error_value(HostError::failed(format!(
                    "cannot start `{}`: {e}",
                    req.program
                ))));
            }
        };
        let input = req.stdin.unwrap_or_default().into_bytes();
        let mut stdin = child.stdin.take();
        let writer = std::thread::spawn(move || {
            if let Some(s) = stdin.as_mut() {
                let _ = s.write_all(&input);
            }
        });
        let cap = self.max_output;
        let overflow = Arc::new(AtomicBool::new(false));
        let read_capped = |r: Option<Box<dyn Read + Send>>| {
            let overflow = overflow.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(r) = r {
                    let _ = r.take(cap + 1).read_to_end(&mut buf);
                }
                if buf.len() as u64 > cap {
                    overflow.store(true, Ordering::SeqCst);
                }
                buf
            })
        };
        let out = read_capped(
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let err = read_capped(
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let started = Instant::now();
        let status = loop {
            let stop = if overflow.load(Ordering::SeqCst) {
                Some(LimitExceeded {
                    kind: LimitKind::Output,
                    detail: format!(
                        "command `{}` wrote more than {}",
                        req.program,
                        ByteSize(cap)
                    ),
                })
            } else if started.elapsed() >= remaining {
                Some(LimitExceeded {
                    kind: LimitKind::WallTime,
                    detail: format!(
                        "command `{}` still running at the deadline (killed)",
                        req.program
                    ),
                })
            } else {
                None
            };
            if let Some(limit) = stop {
                let _ = child.kill();
                let _ = child.wait();
                return Err(limit);
            }
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => {
                    return Ok(error_value(HostError::failed(format!(
                        "waiting for `{}`: {e}",
                        req.program
                    ))));
                }
            }
        };
        // A process the command started (`sleep 45 &`) may still hold its stdin, stdout or stderr
        // open: wait for the output only until the deadline, then stop the task (in a worker,
        // the parent then kills that process with the whole group, task-abi.md §10).
        while !(out.is_finished() && err.is_finished() && writer.is_finished()) {
            if started.elapsed() >= remaining {
                return Err(LimitExceeded {
                    kind: LimitKind::WallTime,
                    detail: format!(
                        "command `{}` exited, but a process it started still held its output at the deadline",
                        req.program
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = writer.join();
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if overflow.load(Ordering::SeqCst) {
            return Err(LimitExceeded {
                kind: LimitKind::Output,
                detail: format!(
                    "command `{}` wrote more than {}",
                    req.program,
                    ByteSize(cap)
                ),
            });
        }
        Ok(json!({
            "status": status.code(),
            "success": status.success(),
            "stdout": String::from_utf8_lossy(&stdout),
            "stderr": String::from_utf8_lossy(&stderr),
        }))
    }
}

/// `{"error": MESSAGE, "kind": KIND}`.
fn error_value(e: HostError) -> Value {
    json!({ "error": e.message, "kind": e.kind })
}

/// The response a test's `mock.http` gives (built from Ratchet's `{ok, status, statusText,
/// body}`; a non-string body is passed as its JSON text).
fn mock_response(response: &Value, url: &str) -> Value {
    let status = response
        .get("status")
        .and_then(Value::as_u64)
        .unwrap_or(200);
    let written = response.get("body").filter(|b| !b.is_null());
    let body = match written {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let mut out = json!({
        "ok": response.get("ok").and_then(Value::as_bool).unwrap_or((200..300).contains(&status)),
        "status": status,
        "status_text": response.get("statusText").and_then(Value::as_str).unwrap_or(""),
        "url": url,
        "headers": response.get("headers").cloned().unwrap_or_else(|| json!({})),
        "body": body,
        "mocked": true,
    });
    // The mock's body as written, so the task sees exactly that value (a string stays a
    // string) rather than the text re-parsed.
    if let Some(b) = written {
        out["body_json"] = b.clone();
    }
    out
}

/// Finds a program on the host's `PATH`.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Standard base64 with padding (RFC 4648).
fn base64(data: &[u8]) -> String {
    use ct_codecs::Encoder;
    // Encoding fails only when the output length overflows `usize`.
    ct_codecs::Base64::encode_to_string(data).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(a.parse().unwrap()), "{a}");
        }
        for a in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
