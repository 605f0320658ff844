//! What a client remembers about each registry, and the refusals that memory makes possible.
//!
//! Why: a signature alone cannot tell an old registry state from the current one. The client
//! keeps, per registry, the newest checkpoint it accepted (log size = snapshot version, log
//! root, state root) and compares every new `timestamp` with it: fewer entries is a rollback, the
//! same size with another root or a log that does not extend the remembered one is a fork, an
//! expired timestamp is a freeze. [`check`] does all of it and returns the state to remember;
//! the caller saves that state before it uses any file verified against it.

use crate::TlogError;
use crate::entry::format_time;
use crate::hash::{Hash, from_hex, to_hex};
use crate::signed::{SignedTimestamp, VerifiedTimestamp};
use crate::tiles::{Fetch, TileReader};
use crate::tree;
use ratchet_trust::PublicKey;
use serde::{Deserialize, Serialize};

/// How far in the future a timestamp's `issued` may be (clock skew).
pub const MAX_CLOCK_SKEW_SECS: u64 = 3600;

/// The remembered state of one registry (`DATA/trust/registries/<hash>.state.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientState {
    /// The registry's origin in its signatures.
    pub origin: String,
    /// Log size (snapshot version) of the newest accepted checkpoint.
    pub size: u64,
    /// Its log root.
    pub log_root: Hash,
    /// Its state map root.
    pub state_root: Hash,
    /// Its time.
    pub checkpoint_time: u64,
    /// The newest `issued` of an accepted timestamp.
    pub timestamp_issued: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct StateFile {
    v: u32,
    origin: String,
    size: u64,
    log_root: String,
    state_root: String,
    checkpoint_time: u64,
    timestamp_issued: u64,
}

impl ClientState {
    /// The state file's JSON.
    pub fn to_json(&self) -> String {
        let f = StateFile {
            v: 1,
            origin: self.origin.clone(),
            size: self.size,
            log_root: to_hex(&self.log_root),
            state_root: to_hex(&self.state_root),
            checkpoint_time: self.checkpoint_time,
            timestamp_issued: self.timestamp_issued,
        };
        serde_json::to_string_pretty(&f).unwrap_or_default() + "\n"
    }

    /// Reads a state file (at most 4 KiB); `what` names it in errors.
    pub fn from_json(bytes: &[u8], what: &str) -> Result<ClientState, TlogError> {
        let bad = |r: String| TlogError::Malformed {
            file: what.to_string(),
            reason: r,
        };
        if bytes.len() > 4096 {
            return Err(bad("too large".into()));
        }
        let f: StateFile = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if f.v != 1 {
            return Err(bad(format!("unknown version {}", f.v)));
        }
        Ok(ClientState {
            origin: f.origin,
            size: f.size,
            log_root: from_hex(&f.log_root).ok_or_else(|| bad("bad log-root".into()))?,
            state_root: from_hex(&f.state_root).ok_or_else(|| bad("bad state-root".into()))?,
            checkpoint_time: f.checkpoint_time,
            timestamp_issued: f.timestamp_issued,
        })
    }
}

/// How to judge a new timestamp.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The current time (Unix seconds).
    pub now: u64,
    /// Accept an expired timestamp (`--allow-expired`): the caller MUST warn loudly. Rollback and
    /// fork are still refused.
    pub allow_expired: bool,
}

/// Why a new timestamp was refused. Each message says what happened and how to recover.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The file is not a well-formed timestamp.
    #[error(
        "the registry's timestamp is unreadable: {reason}; nothing was changed (report it to the registry's operator)"
    )]
    Unreadable {
        /// What is wrong.
        reason: String,
    },
    /// A signature is by a key not trusted for this registry, or does not verify.
    #[error(
        "the registry's timestamp is not signed by its registry key: {reason}; if the registry rotated its key, its root.json must carry the rotation; to trust a new key deliberately, run `ratchet registry forget-state NAME` and give `--root-key`"
    )]
    BadSignature {
        /// Details.
        reason: String,
    },
    /// Signed for another registry.
    #[error(
        "the timestamp is signed for registry `{got}`, but this registry is `{pinned}`: the server serves another registry's files"
    )]
    WrongOrigin {
        /// The remembered origin.
        pinned: String,
        /// The timestamp's.
        got: String,
    },
    /// Fewer log entries than already seen: an old snapshot is served.
    #[error(
        "rollback: the registry now claims snapshot {got}, but snapshot {seen} was already seen: the server or a mirror serves an old copy; nothing was changed; try again later or another mirror"
    )]
    Rollback {
        /// The remembered snapshot.
        seen: u64,
        /// The served one.
        got: u64,
    },
    /// The served log does not extend the remembered one (or the same size has another root).
    #[error(
        "fork: the registry's log at snapshot {got} does not extend snapshot {seen} seen before ({reason}): two different histories were signed with the registry key; nothing was changed; report it to the registry's operator (its key may be stolen)"
    )]
    Fork {
        /// The remembered snapshot.
        seen: u64,
        /// The served one.
        got: u64,
        /// What did not match.
        reason: String,
    },
    /// The timestamp expired: the registry stopped updating, or someone replays an old one.
    #[error("freeze: the registry's timestamp expired at {}, it is now {}: the server or mirror stopped updating or replays old files; try again later, or pass --allow-expired to use it anyway (unsafe: you may not see yanks and security fixes)", format_time(*expired_at), format_time(*now))]
    Expired {
        /// When it expired.
        expired_at: u64,
        /// Now.
        now: u64,
    },
    /// Issued in the future beyond clock skew.
    #[error("the registry's timestamp was issued at {}, after now ({}): check this machine's clock", format_time(*issued), format_time(*now))]
    FromTheFuture {
        /// Its issue time.
        issued: u64,
        /// Now.
        now: u64,
    },
    /// The proof that the log extends the remembered one could not be fetched.
    #[error(
        "cannot check that the registry's log extends snapshot {seen}: {reason}; nothing was changed; try again"
    )]
    Unverifiable {
        /// The remembered snapshot.
        seen: u64,
        /// Why.
        reason: String,
    },
}

/// The outcome of an accepted timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// What to remember from now on (save it before using files verified against it).
    pub state: ClientState,
    /// The verified statements.
    pub verified: VerifiedTimestamp,
    /// True when the snapshot moved forward.
    pub advanced: bool,
    /// True when it was accepted only because of `allow_expired` (warn loudly).
    pub expired: bool,
}

/// Judges a freshly fetched `timestamp` file against what the client remembers (`seen`: `None`
/// on first use, when the registry key itself is pinned on first use or given by the user).
/// `fetch` reads log tiles for the consistency proof when the log grew. The caller reads the
/// `timestamp` file with a limit of [`crate::signed::MAX_TIMESTAMP_BYTES`] (a longer one is
/// refused here anyway), and saves [`Accepted::state`] before using any file it verifies.
pub fn check(
    seen: Option<&ClientState>,
    timestamp_file: &[u8],
    registry_keys: &[PublicKey],
    mirror_keys: &[PublicKey],
    policy: &Policy,
    fetch: &mut dyn Fetch,
) -> Result<Accepted, Refusal> {
    let st = SignedTimestamp::parse(timestamp_file, "timestamp").map_err(|e| match e {
        TlogError::BadSignature { reason, .. } => Refusal::BadSignature { reason },
        e => Refusal::Unreadable {
            reason: e.to_string(),
        },
    })?;
    let v = st
        .verify(registry_keys, mirror_keys, "timestamp")
        .map_err(|e| match e {
            TlogError::BadSignature { reason, .. } => Refusal::BadSignature { reason },
            e => Refusal::Unreadable {
                reason: e.to_string(),
            },
        })?;
    let (c, t) = (&v.checkpoint, &v.timestamp);
    if let Some(s) = seen {
        if s.origin != c.origin {
            return Err(Refusal::WrongOrigin {
                pinned: s.origin.clone(),
                got: c.origin.clone(),
            });
        }
        if c.size < s.size {
            return Err(Refusal::Rollback {
                seen: s.size,
                got: c.size,
            });
        }
        if c.size == s.size && (c.log_root != s.log_root || c.state_root != s.state_root) {
            return Err(Refusal::Fork {
                seen: s.size,
                got: c.size,
                reason: "the same snapshot with other roots".into(),
            });
        }
    }
    if t.issued > policy.now.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(Refusal::FromTheFuture {
            issued: t.issued,
            now: policy.now,
        });
    }
    let expired = policy.now >= t.expires;
    if expired && !policy.allow_expired {
        return Err(Refusal::Expired {
            expired_at: t.expires,
            now: policy.now,
        });
    }
    if let Some(s) = seen
        && c.size > s.size
    {
        let mut r = TileReader::new(fetch, c.size);
        let proof =
            tree::consistency_proof(&mut r, s.size, c.size).map_err(|e| Refusal::Unverifiable {
                seen: s.size,
                reason: e.to_string(),
            })?;
        tree::verify_consistency(s.size, c.size, &proof, &s.log_root, &c.log_root).map_err(
            |e| Refusal::Fork {
                seen: s.size,
                got: c.size,
                reason: e.to_string(),
            },
        )?;
    }
    let advanced = seen.is_none_or(|s| c.size > s.size);
    let state = ClientState {
        origin: c.origin.clone(),
        size: c.size,
        log_root: c.log_root,
        state_root: c.state_root,
        checkpoint_time: c.time,
        timestamp_issued: seen.map_or(t.issued, |s| s.timestamp_issued.max(t.issued)),
    };
    Ok(Accepted {
        state,
        verified: v,
        advanced,
        expired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signed::tests::key;
    use crate::signed::{Checkpoint, Timestamp, timestamp_file};
    use crate::tiles::LogWriter;
    use std::collections::HashMap;

    type Files = HashMap<String, Vec<u8>>;

    struct Reg<'k> {
        files: Files,
        log: LogWriter,
        sk: &'k ratchet_trust::SecretKey,
        tag: &'static str,
    }

    const T0: u64 = 1_767_225_600;

    impl Reg<'_> {
        /// Appends `n` entries and returns a timestamp file issued at `issued`.
        fn grow(&mut self, n: u64, issued: u64) -> Vec<u8> {
            let start = self.log.size();
            let entries: Vec<Vec<u8>> = (start..start + n)
                .map(|i| format!("{}{i}\n", self.tag).into_bytes())
                .collect();
            for f in self.log.append(&entries).unwrap() {
                self.files.insert(f.path, f.bytes);
            }
            self.stamp(issued)
        }

        fn stamp(&self, issued: u64) -> Vec<u8> {
            let cp = Checkpoint {
                origin: "reg.example".into(),
                size: self.log.size(),
                log_root: self.log.root(),
                state_root: [self.log.size() as u8; 32],
                time: issued,
            };
            let sig = cp.sign(self.sk).unwrap();
            let ts = Timestamp::for_checkpoint(&cp, issued, 86400);
            timestamp_file(&sig, &ts, self.sk).unwrap().into_bytes()
        }
    }

    fn run(
        seen: Option<&ClientState>,
        file: &[u8],
        reg: &Reg<'_>,
        keys: &[PublicKey],
        now: u64,
    ) -> Result<Accepted, Refusal> {
        let files = reg.files.clone();
        let mut f = move |p: &str, _: usize| Ok(files.get(p).cloned());
        let policy = Policy {
            now,
            allow_expired: false,
        };
        check(seen, file, keys, &[], &policy, &mut f)
    }

    #[test]
    fn advance_rollback_freeze_fork_and_bad_keys() {
        let dir = tempfile::tempdir().unwrap();
        let sk = key(dir.path(), "reg");
        let keys = vec![sk.public().clone()];
        let mut reg = Reg {
            files: Files::new(),
            log: LogWriter::new(),
            sk: &sk,
            tag: "e",
        };
        let t10 = reg.grow(10, T0);
        let first = run(None, &t10, &reg, &keys, T0 + 60).unwrap();
        assert!(first.advanced && !first.expired);
        let s10 = first.state;
        assert_eq!(s10.size, 10);
        // Same snapshot again: accepted, not advanced.
        let again = run(Some(&s10), &t10, &reg, &keys, T0 + 120).unwrap();
        assert!(!again.advanced);
        // Growth is checked by a consistency proof from the tiles.
        let t300 = reg.grow(290, T0 + 3600);
        let a = run(Some(&s10), &t300, &reg, &keys, T0 + 3700).unwrap();
        assert!(a.advanced);
        let s300 = a.state;
        // Rollback: the old timestamp after the new one was seen.
        let r = run(Some(&s300), &t10, &reg, &keys, T0 + 3800).unwrap_err();
        assert_eq!(r, Refusal::Rollback { seen: 300, got: 10 });
        assert!(r.to_string().contains("rollback"));
        // Freeze: a timestamp past its expiry, refused unless allowed.
        let r = run(Some(&s300), &t300, &reg, &keys, T0 + 3600 + 86400).unwrap_err();
        assert!(
            matches!(r, Refusal::Expired { expired_at, .. } if expired_at == T0 + 3600 + 86400)
        );
        assert!(r.to_string().contains("--allow-expired"));
        let files = reg.files.clone();
        let mut f = move |p: &str, _: usize| Ok(files.get(p).cloned());
        let loud = Policy {
            now: T0 + 90000,
            allow_expired: true,
        };
        let ok = check(Some(&s300), &t300, &keys, &[], &loud, &mut f).unwrap();
        assert!(ok.expired);
        // ... but an allowed expiry never lets a rollback through.
        assert!(matches!(
            check(Some(&s300), &t10, &keys, &[], &loud, &mut f),
            Err(Refusal::Rollback { .. })
        ));
        // Fork: another history signed with the same key (same size, other roots; longer,
        // not extending).
        let mut fork = Reg {
            files: Files::new(),
            log: LogWriter::new(),
            sk: &sk,
            tag: "other history ",
        };
        let f300 = fork.grow(300, T0 + 3600);
        let r = run(Some(&s300), &f300, &fork, &keys, T0 + 3700).unwrap_err();
        assert!(
            matches!(
                r,
                Refusal::Fork {
                    seen: 300,
                    got: 300,
                    ..
                }
            ),
            "{r:?}"
        );
        let f400 = fork.grow(100, T0 + 4000);
        let r = run(Some(&s300), &f400, &fork, &keys, T0 + 4100).unwrap_err();
        assert!(
            matches!(
                r,
                Refusal::Fork {
                    seen: 300,
                    got: 400,
                    ..
                }
            ),
            "{r:?}"
        );
        // Withheld tiles: not accepted, not called a fork.
        let files = Files::new();
        let mut none = move |p: &str, _: usize| Ok(files.get(p).cloned());
        let policy = Policy {
            now: T0 + 4100,
            allow_expired: false,
        };
        let t400 = reg.grow(100, T0 + 4000);
        let r = check(Some(&s300), &t400, &keys, &[], &policy, &mut none).unwrap_err();
        assert!(
            matches!(r, Refusal::Unverifiable { seen: 300, .. }),
            "{r:?}"
        );
        // Another key; a timestamp from the future; garbage.
        let stranger = key(dir.path(), "stranger");
        let r = run(
            Some(&s300),
            &t400,
            &reg,
            &[stranger.public().clone()],
            T0 + 4100,
        );
        assert!(matches!(r, Err(Refusal::BadSignature { .. })), "{r:?}");
        let r = run(Some(&s300), &t400, &reg, &keys, T0 - 86400);
        assert!(matches!(r, Err(Refusal::FromTheFuture { .. })), "{r:?}");
        let r = run(Some(&s300), b"garbage\n", &reg, &keys, T0);
        assert!(matches!(r, Err(Refusal::Unreadable { .. })), "{r:?}");
        // The state file round-trips and is read strictly.
        let json = s300.to_json();
        assert_eq!(ClientState::from_json(json.as_bytes(), "s").unwrap(), s300);
        assert!(
            ClientState::from_json(json.replace("\"v\": 1", "\"v\": 2").as_bytes(), "s").is_err()
        );
        assert!(ClientState::from_json(b"{}", "s").is_err());
    }
}
