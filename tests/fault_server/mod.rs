//! A small static file server on loopback (std::net, one thread per connection) that serves a
//! registry directory with ETags and 304s, and injects faults per path: 5xx a number of times,
//! a truncated body, other bytes, a stall, an added delay. It logs every request path.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every request: (path, had If-None-Match, Authorization or X-Api-Key value).
pub type Log = Arc<Mutex<Vec<(String, bool, Option<String>)>>>;

/// What to do with requests for one path.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer 503 this many more times.
    Fail(u32),
    /// Announce the full length but close after half the body.
    Truncate,
    /// Serve these bytes instead.
    Replace(Vec<u8>),
    /// Serve these bytes instead, for the next request only (then the file itself).
    ReplaceOnce(Vec<u8>),
    /// Accept the request and never answer.
    Stall,
    /// Answer `302 Found` with this `Location`.
    Redirect(String),
    /// Answer with this status line (`403 Forbidden`) and body, every time.
    Status(String, Vec<u8>),
    /// Announce the full length, then send the body one byte at a time, this long apart
    /// (slow retrieval).
    Drip(Duration),
}

/// A running server.
pub struct Server {
    /// Its port.
    pub port: u16,
    /// Faults by request path (`/index/..`).
    pub faults: Arc<Mutex<HashMap<String, Fault>>>,
    /// Every request: (path, had If-None-Match, Authorization or X-Api-Key value).
    pub log: Log,
    /// When each request of `log` arrived (same order).
    pub times: Arc<Mutex<Vec<Instant>>>,
}

impl Server {
    /// The root URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Sets a fault.
    pub fn fault(&self, path: &str, f: Fault) {
        self.faults.lock().unwrap().insert(path.to_string(), f);
    }

    /// Requests seen for paths containing `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p.contains(needle))
            .count()
    }
}

/// Serves `root` with `delay` added before every answer.
pub fn serve(root: PathBuf, delay: Duration) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // A listen queue for a wave of a few hundred connections at once (std's is 128): the
    // connection attempts a full queue drops come back a second later, which would be a round
    // trip of the server's making. Listening again on a listening socket only resizes it.
    #[cfg(target_os = "linux")]
    // SAFETY: the descriptor is the listener's own, open for as long as `listener` lives.
    unsafe {
        libc::listen(std::os::fd::AsRawFd::as_raw_fd(&listener), 4096);
    }
    let port = listener.local_addr().unwrap().port();
    let faults: Arc<Mutex<HashMap<String, Fault>>> = Arc::default();
    let log: Log = Arc::default();
    let times: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let (f2, l2, t2) = (faults.clone(), log.clone(), times.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(s) = stream else { continue };
            let (root, faults, log, times) = (root.clone(), f2.clone(), l2.clone(), t2.clone());
            std::thread::spawn(move || handle(s, root, faults, log, times, delay));
        }
    });
    Server {
        port,
        faults,
        log,
        times,
    }
}

fn handle(
    mut s: std::net::TcpStream,
    root: PathBuf,
    faults: Arc<Mutex<HashMap<String, Fault>>>,
    log: Log,
    times: Arc<Mutex<Vec<Instant>>>,
    delay: Duration,
) {
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    s.set_nodelay(true).ok();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut inm = None;
        let mut auth = None;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap_or((&h, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "if-none-match" => inm = Some(v.trim().to_string()),
                "authorization" | "x-api-key" => auth = Some(v.trim().to_string()),
                _ => {}
            }
        }
        {
            // One lock for both, so the two lists stay in the same order.
            let mut l = log.lock().unwrap();
            l.push((path.clone(), inm.is_some(), auth.clone()));
            times.lock().unwrap().push(Instant::now());
        }
        std::thread::sleep(delay);
        let fault = {
            let mut f = faults.lock().unwrap();
            let cur = f.get(&path).cloned();
            if let Some(Fault::ReplaceOnce(_)) = cur {
                f.remove(&path);
            }
            if let Some(Fault::Fail(n)) = cur {
                if n <= 1 {
                    f.remove(&path);
                } else {
                    f.insert(path.clone(), Fault::Fail(n - 1));
                }
            }
            cur
        };
        let file = root.join(path.trim_start_matches('/'));
        let body = std::fs::read(&file).ok();
        let respond = |s: &mut std::net::TcpStream, status: &str, extra: &str, body: &[u8]| {
            let mut msg = format!(
                "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            msg.extend_from_slice(body);
            s.write_all(&msg).is_ok()
        };
        let ok = match (fault, body) {
            (Some(Fault::Stall), _) => {
                std::thread::sleep(Duration::from_secs(600));
                return;
            }
            (Some(Fault::Fail(_)), _) => respond(&mut s, "503 Service Unavailable", "", b"busy"),
            (Some(Fault::Truncate), Some(b)) => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.len());
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&b[..b.len() / 2]);
                return;
            }
            (Some(Fault::Replace(r)), _) | (Some(Fault::ReplaceOnce(r)), _) => {
                respond(&mut s, "200 OK", "", &r)
            }
            (Some(Fault::Drip(gap)), Some(b)) => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.len());
                if s.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for byte in &b {
                    std::thread::sleep(gap);
                    if s.write_all(&[*byte]).is_err() {
                        return;
                    }
                }
                true
            }
            (Some(Fault::Status(line, b)), _) => respond(&mut s, &line, "", &b),
            (Some(Fault::Redirect(to)), _) => {
                respond(&mut s, "302 Found", &format!("Location: {to}\r\n"), b"")
            }
            (_, Some(b)) => {
                // A hash of the whole body: files of the same length (signed timestamps
                // re-signed in place) must not share an ETag.
                let etag = {
                    use std::hash::{Hash, Hasher};
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    b.hash(&mut h);
                    format!("\"{:x}\"", h.finish())
                };
                if inm.as_deref() == Some(etag.as_str()) {
                    respond(
                        &mut s,
                        "304 Not Modified",
                        &format!("ETag: {etag}\r\n"),
                        b"",
                    )
                } else {
                    respond(&mut s, "200 OK", &format!("ETag: {etag}\r\n"), &b)
                }
            }
            (_, None) => respond(&mut s, "404 Not Found", "", b"not found"),
        };
        if !ok {
            return;
        }
    }
}

/// Round trips as the server saw them, with `gap` the server's added delay: a request that
/// arrived at least `gap` after every earlier one (so after all of them were answered: the
/// client waited for answers) starts a new round trip; the others belong to the current one,
/// however late a connection of it came up. Returns the number of requests of each round trip,
/// in order.
pub fn waves(times: &[Instant], gap: Duration) -> Vec<usize> {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut out: Vec<usize> = Vec::new();
    let mut last: Option<Instant> = None;
    for t in sorted {
        match last {
            Some(l) if t.duration_since(l) < gap => {
                if let Some(n) = out.last_mut() {
                    *n += 1;
                }
            }
            _ => out.push(1),
        }
        last = Some(t);
    }
    out
}
