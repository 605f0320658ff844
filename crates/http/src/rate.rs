//! A minimum transfer rate per request (slow-retrieval defence, issue 14).
//!
//! Why: an idle timeout stops a server that sends nothing, but not one that drips a byte every
//! few seconds, which keeps a download alive for hours. [`RateGuard`] cuts the transfer into
//! consecutive windows (the first one doubles as a grace period for a slow start) and fails
//! it when a window ends with fewer than `bytes_per_sec × window` bytes, so any transfer either
//! keeps the rate or fails within one window of falling below it.

use crate::HttpError;
use std::time::{Duration, Instant};

/// Environment variable: the minimum transfer rate, in bytes per second (`0` turns it off).
pub const MIN_RATE_ENV: &str = "RATCHET_HTTP_MIN_RATE";
/// Environment variable: the window the rate is averaged over, in seconds.
pub const MIN_RATE_WINDOW_ENV: &str = "RATCHET_HTTP_MIN_RATE_WINDOW";
/// Default minimum rate: 1 KiB/s.
pub const DEFAULT_MIN_RATE: u64 = 1024;
/// Default window: 10 seconds.
pub const DEFAULT_MIN_RATE_WINDOW: Duration = Duration::from_secs(10);

/// The slowest transfer a client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinRate {
    /// Bytes per second, averaged over each window; 0: no floor.
    pub bytes_per_sec: u64,
    /// The window.
    pub window: Duration,
}

impl Default for MinRate {
    fn default() -> Self {
        MinRate {
            bytes_per_sec: DEFAULT_MIN_RATE,
            window: DEFAULT_MIN_RATE_WINDOW,
        }
    }
}

impl MinRate {
    /// The rate from [`MIN_RATE_ENV`] and [`MIN_RATE_WINDOW_ENV`], else the defaults.
    pub fn from_env() -> Result<MinRate, HttpError> {
        let mut r = MinRate::default();
        let num = |name: &str| -> Result<Option<u64>, HttpError> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => v.trim().parse::<u64>().map(Some).map_err(|_| {
                    HttpError::Setting(format!(
                        "{name}={v}: expected a whole number ({})",
                        if name == MIN_RATE_ENV {
                            "bytes per second, 0 for no floor"
                        } else {
                            "seconds, at least 1"
                        }
                    ))
                }),
                _ => Ok(None),
            }
        };
        if let Some(n) = num(MIN_RATE_ENV)? {
            r.bytes_per_sec = n;
        }
        if let Some(n) = num(MIN_RATE_WINDOW_ENV)? {
            if n == 0 {
                return Err(HttpError::Setting(format!(
                    "{MIN_RATE_WINDOW_ENV}=0: the window must be at least 1 second"
                )));
            }
            r.window = Duration::from_secs(n);
        }
        Ok(r)
    }

    /// A guard for one transfer starting at `start`.
    pub fn guard(self, start: Instant) -> RateGuard {
        RateGuard {
            rate: self,
            window_start: start,
            window_bytes: 0,
            total: 0,
            start,
        }
    }
}

/// A transfer that fell below the minimum rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "too slow: {window_bytes} bytes in the last {window_secs} s (at least {min_bytes_per_sec} bytes/s are required; {total} bytes in {elapsed_secs} s in all); set RATCHET_HTTP_MIN_RATE to change the floor"
)]
pub struct SlowTransfer {
    /// Bytes in the window that failed.
    pub window_bytes: u64,
    /// Its length.
    pub window_secs: u64,
    /// The floor.
    pub min_bytes_per_sec: u64,
    /// Bytes in all.
    pub total: u64,
    /// Seconds since the transfer started.
    pub elapsed_secs: u64,
}

/// Tracks one transfer against a [`MinRate`].
#[derive(Debug, Clone)]
pub struct RateGuard {
    rate: MinRate,
    window_start: Instant,
    window_bytes: u64,
    total: u64,
    start: Instant,
}

impl RateGuard {
    /// When the current window ends (wait for the next bytes at most until then, and call
    /// [`RateGuard::record`] with 0 bytes if none came); `None` without a floor.
    pub fn deadline(&self) -> Option<Instant> {
        (self.rate.bytes_per_sec > 0).then(|| self.window_start + self.rate.window)
    }

    /// Counts `n` bytes received at `now`; fails when a window ended below the floor.
    pub fn record(&mut self, n: u64, now: Instant) -> Result<(), SlowTransfer> {
        self.total += n;
        if self.rate.bytes_per_sec == 0 {
            return Ok(());
        }
        // Windows that ended before these bytes arrived are judged without them.
        while now > self.window_start + self.rate.window {
            let need = self
                .rate
                .bytes_per_sec
                .saturating_mul(self.rate.window.as_secs().max(1));
            if self.window_bytes < need {
                return Err(SlowTransfer {
                    window_bytes: self.window_bytes,
                    window_secs: self.rate.window.as_secs(),
                    min_bytes_per_sec: self.rate.bytes_per_sec,
                    total: self.total,
                    elapsed_secs: now.duration_since(self.start).as_secs(),
                });
            }
            self.window_start += self.rate.window;
            self.window_bytes = 0;
        }
        self.window_bytes += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drip_fails_at_the_end_of_a_window_and_a_steady_rate_passes() {
        let t0 = Instant::now();
        let rate = MinRate {
            bytes_per_sec: 100,
            window: Duration::from_secs(2),
        };
        let mut g = rate.guard(t0);
        // A good burst in window one, a drip in window two.
        g.record(500, t0 + Duration::from_millis(500)).unwrap();
        g.record(1, t0 + Duration::from_millis(2500)).unwrap();
        g.record(1, t0 + Duration::from_millis(3500)).unwrap();
        let e = g.record(0, t0 + Duration::from_millis(4001)).unwrap_err();
        assert_eq!(e.window_bytes, 2);
        assert_eq!(e.total, 502);
        // Steady 150 B/s for 10 s passes.
        let mut g = rate.guard(t0);
        for s in 1..=10 {
            g.record(150, t0 + Duration::from_secs(s)).unwrap();
        }
        // No floor: anything passes.
        let mut g = MinRate {
            bytes_per_sec: 0,
            window: Duration::from_secs(1),
        }
        .guard(t0);
        assert!(g.deadline().is_none());
        g.record(0, t0 + Duration::from_secs(100)).unwrap();
    }
}
