//! How many requests go to one host at once, and how that number follows the host's health.
//!
//! reqwest (hyper) keeps connections alive and multiplexes HTTP/2, but it opens a new
//! connection for every request that finds no idle one: it has no bound on connections per
//! host. A client that sends a wave of 300 requests at once would open 300 connections, and
//! small static servers (Python's `http.server`, whose listen backlog is 5, corporate proxies,
//! origin shields) drop the connection attempts that overflow their backlog; TCP retries them
//! 1 s, 3 s, 7 s later, and a one-second install takes minutes. So every request first takes a
//! slot of its host here ([`HostLimits::acquire`]); the rest wait in line, in order, index files
//! before archives ([`Priority`]), and nothing is opened for them until a slot frees up. The
//! caller still issues a whole wave at once: this, not the caller, paces it.
//!
//! The number of slots per host follows the host (AIMD, as TCP's congestion window does):
//! - it starts at the configured connections per host ([`crate::DEFAULT_MAX_CONNECTIONS`] on
//!   HTTP/1.1) and rises to [`H2_MAX_STREAMS`] once the host answers over HTTP/2, where
//!   requests are streams of one connection rather than connections;
//! - trouble (a connection refused, reset or timed out, a 429, 502, 503 or 504) halves it, once
//!   per round: the other requests already in flight when it was halved report the same
//!   trouble and do not halve it again;
//! - a `Retry-After` pauses the host: no request starts before it has passed (at most
//!   [`MAX_RETRY_AFTER`]);
//! - each success adds 1/window, so the window grows back by one slot per window of successes;
//! - on `https` the protocol is known only once the connection's TLS handshake has picked it
//!   (ALPN: HTTP/2 or HTTP/1.1), so until then one request goes at a time: requests started
//!   together would each open a connection of their own, where on HTTP/2 one connection
//!   carries them all (curl's `PIPEWAIT`, which cargo sets, waits the same way). A client
//!   built with [`crate::HttpConfig::client_watching_alpn`] learns of an HTTP/2 handshake at
//!   once ([`HostLimits::negotiated_h2`]); otherwise, and for HTTP/1.1, the host's first
//!   answer tells.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Most concurrent requests (streams) to one host that answers over HTTP/2: enough for every
/// file of a wide wave (a level of a few hundred bundles, their metadata files and proofs) to
/// go out at once; the server's own `SETTINGS_MAX_CONCURRENT_STREAMS` still applies.
pub const H2_MAX_STREAMS: usize = 1024;

/// How long after a connection negotiated HTTP/2 its host's held requests go out
/// ([`HostLimits::negotiated_h2`]): time for the HTTP client to finish its HTTP/2 handshake
/// and pool the connection, a small fraction of any network round trip.
pub const ALPN_SETTLE: Duration = Duration::from_millis(2);

/// Longest `Retry-After` honoured; a longer one waits this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Which requests go first when a host's slots are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Small files someone waits for (the next step of a resolution): before any [`Priority::Bulk`].
    Urgent,
    /// Large downloads that can wait (archives).
    Bulk,
}

/// The per-host slots of one client. Cheap to share ([`Arc`] inside each host's state).
#[derive(Debug)]
pub struct HostLimits {
    max_connections: usize,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
}

#[derive(Debug)]
struct Host {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Slots allowed now (fractional: successes add 1/window).
    window: f64,
    /// Most slots: the configured connections, or [`H2_MAX_STREAMS`] once on HTTP/2.
    ceiling: usize,
    multiplexed: bool,
    /// The host has answered, so its protocol is known (always true for plain `http`, which
    /// is HTTP/1.1 here); until then one request at a time.
    answered: bool,
    /// Its protocol was taken from a connection's handshake ([`HostLimits::negotiated_h2`]),
    /// not yet from an answer.
    guessed: bool,
    /// The configured connections per host (the ceiling on HTTP/1.1).
    h1_ceiling: usize,
    in_flight: usize,
    /// Bumped on every halving; a permit taken before it reports no new trouble.
    round: u64,
    /// No request starts before this (a `Retry-After`).
    paused_until: Option<Instant>,
    /// Waiters by priority, each handed a slot (and the round) when one frees up.
    queues: [VecDeque<oneshot::Sender<u64>>; 2],
    /// Most requests in flight at once so far.
    peak: usize,
    /// Halvings so far.
    halvings: u64,
}

/// A snapshot of one host's state, for tests, progress output and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostState {
    /// Slots allowed now.
    pub window: usize,
    /// The most slots the host can get back to.
    pub ceiling: usize,
    /// The host answered over HTTP/2.
    pub multiplexed: bool,
    /// Requests in flight.
    pub in_flight: usize,
    /// Most requests in flight at once so far.
    pub peak: usize,
    /// How often trouble halved the window.
    pub halvings: u64,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // The state stays consistent at every unlock; a panic elsewhere does not poison it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl State {
    fn allowed(&self) -> usize {
        if !self.answered {
            return 1;
        }
        (self.window.floor() as usize).max(1)
    }

    /// Gives a slot back and hands it on.
    fn release(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.dispatch();
    }

    /// The host's protocol is known: HTTP/2 when `multiplexed`. The requests that waited
    /// for it go out; on HTTP/2 they are streams of one connection, so the host gets
    /// [`H2_MAX_STREAMS`] slots (at once, unless it has had trouble; then it grows back
    /// towards them).
    fn answer(&mut self, multiplexed: bool) {
        if !self.answered {
            self.answered = true;
            self.dispatch();
        }
        if multiplexed && !self.multiplexed {
            self.multiplexed = true;
            let untroubled = self.halvings == 0;
            self.ceiling = self.ceiling.max(H2_MAX_STREAMS);
            if untroubled {
                self.window = self.ceiling as f64;
            }
            self.dispatch();
        }
    }

    /// Hands free slots to waiters, urgent ones first.
    fn dispatch(&mut self) {
        while self.in_flight < self.allowed() {
            let Some(tx) = self.queues[0]
                .pop_front()
                .or_else(|| self.queues[1].pop_front())
            else {
                return;
            };
            // A waiter that gave up (its future was dropped) takes no slot.
            if tx.send(self.round).is_ok() {
                self.in_flight += 1;
                self.peak = self.peak.max(self.in_flight);
            }
        }
    }
}

/// Origin key of a URL: scheme, host and port.
fn origin(url: &url::Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

impl HostLimits {
    /// Slots for each host: `max_connections` (at least 1) until a host answers over HTTP/2.
    pub fn new(max_connections: usize) -> Self {
        HostLimits {
            max_connections: max_connections.max(1),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The configured connections per host.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    fn host(&self, url: &url::Url) -> Arc<Host> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts
            .entry(origin(url))
            .or_insert_with(|| {
                Arc::new(Host {
                    state: Mutex::new(State {
                        window: self.max_connections as f64,
                        ceiling: self.max_connections,
                        multiplexed: false,
                        answered: url.scheme() != "https",
                        guessed: false,
                        h1_ceiling: self.max_connections,
                        in_flight: 0,
                        round: 0,
                        paused_until: None,
                        queues: [VecDeque::new(), VecDeque::new()],
                        peak: 0,
                        halvings: 0,
                    }),
                })
            })
            .clone()
    }

    /// A new connection of this client negotiated HTTP/2 in its TLS handshake (ALPN), before
    /// any answer came over it ([`crate::HttpConfig::client_watching_alpn`]). The connector
    /// does not say which host it connected to: when exactly one `https` host is waiting for
    /// its first answer (one request in flight, the rest held), that connection is its, and
    /// its held requests go out as streams now instead of a round trip later, as curl's
    /// `PIPEWAIT` waits for the handshake and not for an answer. With several such hosts,
    /// nothing changes (each waits for its answer). Should the answer then come over
    /// HTTP/1.1 after all, [`Permit::answered`] puts the host back to its connections.
    ///
    /// Call it shortly after the connection came up (the caller's runtime defers it by
    /// [`ALPN_SETTLE`]): the HTTP client pools the connection only after its own HTTP/2
    /// handshake, and a request released before that would open a connection of its own.
    pub fn negotiated_h2(&self) {
        let hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        let mut waiting = hosts.values().filter(|h| {
            let s = lock(&h.state);
            !s.answered && s.in_flight > 0
        });
        if let (Some(h), None) = (waiting.next(), waiting.next()) {
            let mut s = lock(&h.state);
            s.guessed = true;
            s.answer(true);
        }
    }

    /// The state of `url`'s host, if a request went there.
    pub fn state(&self, url: &url::Url) -> Option<HostState> {
        let hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        let s = lock(&hosts.get(&origin(url))?.state);
        Some(HostState {
            window: s.allowed(),
            ceiling: s.ceiling,
            multiplexed: s.multiplexed,
            in_flight: s.in_flight,
            peak: s.peak,
            halvings: s.halvings,
        })
    }

    /// Waits for a slot of `url`'s host (in line behind earlier requests of the same or a
    /// higher priority), then for the end of a `Retry-After` pause of that host. The slot is
    /// held until the [`Permit`] is reported on or dropped: hold it until the response's body
    /// has been read, since the connection is busy until then.
    pub async fn acquire(&self, url: &url::Url, priority: Priority) -> Permit {
        let host = self.host(url);
        let rx = {
            let mut s = lock(&host.state);
            let none_ahead = match priority {
                Priority::Urgent => s.queues[0].is_empty(),
                Priority::Bulk => s.queues[0].is_empty() && s.queues[1].is_empty(),
            };
            if none_ahead && s.in_flight < s.allowed() {
                s.in_flight += 1;
                s.peak = s.peak.max(s.in_flight);
                Ok(s.round)
            } else {
                let (tx, rx) = oneshot::channel();
                s.queues[priority as usize].push_back(tx);
                Err(rx)
            }
        };
        let round = match rx {
            Ok(r) => r,
            Err(rx) => {
                let mut waiting = Waiting {
                    rx: Some(rx),
                    host: host.clone(),
                };
                waiting.wait().await
            }
        };
        let permit = Permit {
            host,
            round,
            reported: false,
        };
        // A paused host: the slot is held through the pause, so the number of requests that
        // start when it ends is the (halved) window, not everything that queued meanwhile.
        loop {
            let until = lock(&permit.host.state).paused_until;
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        permit
    }
}

/// A place in a host's line; gives back a slot that was handed over after it stopped waiting.
struct Waiting {
    rx: Option<oneshot::Receiver<u64>>,
    host: Arc<Host>,
}

impl Waiting {
    async fn wait(&mut self) -> u64 {
        let rx = self.rx.as_mut().expect("waited on once");
        // The sender lives in the host's queue until it hands over a slot; it is never dropped
        // unsent while this waits (the host outlives every waiter through the Arc).
        let round = rx.await.unwrap_or(0);
        self.rx = None;
        round
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                lock(&self.host.state).release();
            }
        }
    }
}

/// A slot of one host, held for one request. Report how it went with [`Permit::success`] or
/// [`Permit::trouble`]; dropping it gives the slot back without a verdict (a 404, a refused
/// certificate: nothing about the host's load).
#[derive(Debug)]
pub struct Permit {
    host: Arc<Host>,
    round: u64,
    reported: bool,
}

impl Permit {
    /// The request went through: the window grows by 1/window, up to its ceiling.
    pub fn success(mut self) {
        self.reported = true;
        let mut s = lock(&self.host.state);
        let ceiling = s.ceiling as f64;
        s.window = (s.window + 1.0 / s.window).min(ceiling);
        s.release();
    }

    /// The host struggles (refused, reset or timed-out connection; 429, 502, 503, 504): the
    /// window halves, unless it already did since this permit was taken, and a `Retry-After`
    /// (at most [`MAX_RETRY_AFTER`]) pauses the host.
    pub fn trouble(mut self, retry_after: Option<Duration>) {
        self.reported = true;
        let mut s = lock(&self.host.state);
        if self.round == s.round {
            s.window = (s.window / 2.0).max(1.0);
            s.round += 1;
            s.halvings += 1;
        }
        if let Some(d) = retry_after {
            let until = Instant::now() + d.min(MAX_RETRY_AFTER);
            s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
        }
        s.release();
    }

    /// The host answered, over HTTP/2 when `multiplexed`: its protocol is known, so the
    /// requests that waited for it go out. On HTTP/2 its requests are streams of one connection
    /// from now on, so it gets [`H2_MAX_STREAMS`] slots (at once, unless it has had trouble;
    /// then it grows back towards them).
    pub fn answered(&self, multiplexed: bool) {
        let mut s = lock(&self.host.state);
        if s.multiplexed && !multiplexed && s.guessed {
            // [`HostLimits::negotiated_h2`] took another host's connection for this one's:
            // back to the configured connections (requests already sent stay sent).
            s.multiplexed = false;
            s.ceiling = s.h1_ceiling;
            s.window = s.window.min(s.ceiling as f64);
        }
        s.guessed = false;
        s.answer(multiplexed);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.reported {
            lock(&self.host.state).release();
        }
    }
}

/// The delay a `Retry-After` value asks for: delay-seconds, or an HTTP-date (IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`) measured from `now` (a date in the past: no delay).
/// `None` for anything else. The caller bounds it ([`MAX_RETRY_AFTER`]).
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds: as long as anyone would wait.
        return Some(Duration::from_secs(v.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_imf_fixdate(v)?;
    let now = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the Unix epoch of an IMF-fixdate (RFC 9110 §5.6.7).
fn parse_imf_fixdate(v: &str) -> Option<u64> {
    let (_, rest) = v.split_once(", ")?;
    let f: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = f.as_slice() else {
        return None;
    };
    let num = |s: &str, len: usize| -> Option<u64> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (d, y) = (num(day, 2)?, num(year, 4)?);
    let m = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|n| n == month)? as u64
        + 1;
    let t: Vec<&str> = time.split(':').collect();
    let [hh, mm, ss] = t.as_slice() else {
        return None;
    };
    let (hh, mm, ss) = (num(hh, 2)?, num(mm, 2)?, num(ss, 2)?);
    if !(1..=31).contains(&d) || y < 1970 || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), for years from 1970.
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> url::Url {
        url::Url::parse("http://127.0.0.1:8000/index/x").unwrap()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn trouble_halves_once_per_round_and_successes_grow_it_back() {
        rt().block_on(async {
            let l = HostLimits::new(8);
            let mut permits = Vec::new();
            for _ in 0..8 {
                permits.push(l.acquire(&url(), Priority::Urgent).await);
            }
            assert_eq!(l.state(&url()).unwrap().in_flight, 8);
            // Eight failures of one round: one halving.
            for p in permits {
                p.trouble(None);
            }
            let s = l.state(&url()).unwrap();
            assert_eq!((s.window, s.halvings, s.in_flight, s.peak), (4, 1, 0, 8));
            // A second round of trouble halves again.
            l.acquire(&url(), Priority::Urgent).await.trouble(None);
            assert_eq!(l.state(&url()).unwrap().window, 2);
            l.acquire(&url(), Priority::Urgent).await.trouble(None);
            l.acquire(&url(), Priority::Urgent).await.trouble(None);
            assert_eq!(l.state(&url()).unwrap().window, 1, "never below one");
            // Growth: +1 per window of successes, up to the ceiling and no further.
            let mut n = 0;
            while l.state(&url()).unwrap().window < 8 {
                l.acquire(&url(), Priority::Urgent).await.success();
                n += 1;
                assert!(n < 100, "does not grow back");
            }
            assert!(n >= 1 + 2 + 3 + 4 + 5 + 6, "grew back too fast: {n}");
            for _ in 0..50 {
                l.acquire(&url(), Priority::Urgent).await.success();
            }
            assert_eq!(l.state(&url()).unwrap().window, 8);
            // Other hosts are not affected.
            let other = url::Url::parse("http://127.0.0.1:8001/").unwrap();
            l.acquire(&other, Priority::Urgent).await.trouble(None);
            assert_eq!(l.state(&url()).unwrap().window, 8);
        });
    }

    #[test]
    fn waiters_queue_urgent_first_and_slots_pass_on() {
        rt().block_on(async {
            let l = Arc::new(HostLimits::new(1));
            let first = l.acquire(&url(), Priority::Urgent).await;
            let order = Arc::new(Mutex::new(Vec::new()));
            let mut tasks = Vec::new();
            for (name, p) in [("bulk", Priority::Bulk), ("urgent", Priority::Urgent)] {
                let (l, order) = (l.clone(), order.clone());
                tasks.push(tokio::spawn(async move {
                    let permit = l.acquire(&url(), p).await;
                    order.lock().unwrap().push(name);
                    permit.success();
                }));
                tokio::task::yield_now().await;
            }
            assert!(order.lock().unwrap().is_empty(), "no slot was free");
            drop(first);
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(*order.lock().unwrap(), ["urgent", "bulk"]);
            let s = l.state(&url()).unwrap();
            assert_eq!((s.in_flight, s.peak), (0, 1));
        });
    }

    #[test]
    fn a_waiter_that_gives_up_takes_no_slot() {
        rt().block_on(async {
            let l = HostLimits::new(1);
            let first = l.acquire(&url(), Priority::Urgent).await;
            let u = url();
            {
                let gave_up = l.acquire(&u, Priority::Urgent);
                let r = tokio::time::timeout(Duration::from_millis(5), gave_up).await;
                assert!(r.is_err());
            }
            drop(first);
            assert_eq!(l.state(&url()).unwrap().in_flight, 0);
            let again =
                tokio::time::timeout(Duration::from_secs(5), l.acquire(&url(), Priority::Urgent))
                    .await;
            assert!(again.is_ok(), "the slot was lost");
        });
    }

    #[test]
    fn http2_raises_the_ceiling_unless_the_host_struggled() {
        rt().block_on(async {
            let l = HostLimits::new(6);
            let p = l.acquire(&url(), Priority::Bulk).await;
            p.answered(true);
            p.success();
            let s = l.state(&url()).unwrap();
            assert_eq!(
                (s.window, s.ceiling, s.multiplexed),
                (H2_MAX_STREAMS, H2_MAX_STREAMS, true)
            );

            let l = HostLimits::new(6);
            l.acquire(&url(), Priority::Bulk).await.trouble(None);
            let p = l.acquire(&url(), Priority::Bulk).await;
            p.answered(true);
            drop(p);
            let s = l.state(&url()).unwrap();
            assert_eq!((s.window, s.ceiling), (3, H2_MAX_STREAMS));
        });
    }

    #[test]
    fn https_sends_one_request_until_the_host_has_answered() {
        rt().block_on(async {
            let l = HostLimits::new(6);
            let tls = url::Url::parse("https://127.0.0.1:8443/config.json").unwrap();
            let first = l.acquire(&tls, Priority::Urgent).await;
            // A second request waits: it would open a second connection before ALPN is known.
            let waiting =
                tokio::time::timeout(Duration::from_millis(20), l.acquire(&tls, Priority::Urgent))
                    .await;
            assert!(waiting.is_err(), "a second request left before the answer");
            assert_eq!(l.state(&tls).unwrap().window, 1);
            first.answered(true);
            let s = l.state(&tls).unwrap();
            assert_eq!((s.window, s.multiplexed), (H2_MAX_STREAMS, true));
            let mut many = Vec::new();
            for _ in 0..10 {
                many.push(l.acquire(&tls, Priority::Urgent).await);
            }
            assert_eq!(l.state(&tls).unwrap().in_flight, 11);
            // Plain http is HTTP/1.1 here: its window applies from the start.
            let l = HostLimits::new(6);
            let mut h1 = Vec::new();
            for _ in 0..6 {
                h1.push(l.acquire(&url(), Priority::Urgent).await);
            }
            assert_eq!(l.state(&url()).unwrap().in_flight, 6);
        });
    }

    #[test]
    fn an_http2_handshake_releases_the_held_requests_of_the_one_waiting_host() {
        rt().block_on(async {
            let l = HostLimits::new(6);
            let a = url::Url::parse("https://127.0.0.1:8443/timestamp.json").unwrap();
            let b = url::Url::parse("https://127.0.0.2:8443/config.json").unwrap();
            let first = l.acquire(&a, Priority::Urgent).await;
            let held =
                tokio::time::timeout(Duration::from_millis(20), l.acquire(&a, Priority::Urgent));
            assert!(held.await.is_err(), "a second request left before ALPN");
            // The connection of `a`'s first request negotiated HTTP/2: no answer needed.
            l.negotiated_h2();
            let s = l.state(&a).unwrap();
            assert_eq!((s.window, s.multiplexed), (H2_MAX_STREAMS, true));
            let mut many = Vec::new();
            for _ in 0..10 {
                many.push(l.acquire(&a, Priority::Urgent).await);
            }
            assert_eq!(l.state(&a).unwrap().in_flight, 11);
            // The answer says HTTP/1.1 after all (the handshake was another host's): back to
            // the configured connections; nothing more goes out until the window allows.
            first.answered(false);
            let s = l.state(&a).unwrap();
            assert_eq!((s.window, s.multiplexed, s.ceiling), (6, false, 6));
            let over =
                tokio::time::timeout(Duration::from_millis(20), l.acquire(&a, Priority::Urgent));
            assert!(over.await.is_err(), "went over the HTTP/1.1 window");
            drop(many);
            // Two hosts waiting for their first answer: a handshake cannot be told apart, so
            // both keep waiting for their answers.
            let l = HostLimits::new(6);
            let _fa = l.acquire(&a, Priority::Urgent).await;
            let _fb = l.acquire(&b, Priority::Urgent).await;
            l.negotiated_h2();
            assert_eq!(l.state(&a).unwrap().window, 1);
            assert_eq!(l.state(&b).unwrap().window, 1);
            // No host waiting: nothing to release.
            let l = HostLimits::new(6);
            l.negotiated_h2();
            assert!(l.state(&a).is_none());
        });
    }

    #[test]
    fn retry_after_pauses_the_host() {
        rt().block_on(async {
            tokio::time::pause();
            let l = HostLimits::new(4);
            let start = tokio::time::Instant::now();
            l.acquire(&url(), Priority::Urgent)
                .await
                .trouble(Some(Duration::from_secs(2)));
            let p = l.acquire(&url(), Priority::Urgent).await;
            // Paused (virtual) time: the acquire slept through the pause.
            assert!(start.elapsed() >= Duration::from_secs(2));
            p.success();
            // An absurd Retry-After is capped.
            let start = tokio::time::Instant::now();
            l.acquire(&url(), Priority::Urgent)
                .await
                .trouble(Some(Duration::from_secs(1 << 40)));
            l.acquire(&url(), Priority::Urgent).await.success();
            assert!(start.elapsed() <= MAX_RETRY_AFTER + Duration::from_secs(1));
        });
    }

    #[test]
    fn retry_after_values() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sat, 01 Jan 1994 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }
}
