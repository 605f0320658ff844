//! The signed checkpoint and the expiring timestamp.
//!
//! Why two statements: the *checkpoint* (signed by the registry key at every change) names the
//! log's size and root and the state map's root: it is what witnesses and auditors compare, and
//! it never expires. The *timestamp* (signed again at least once per validity period, by the
//! registry key or by a mirror key a client opted into) binds one checkpoint to an expiry, so a
//! server that stops updating (freeze) is noticed, and an air-gapped mirror can vouch for
//! freshness without holding the registry key. Both are minisign signatures (Ed25519, `ED`
//! prehashed, `index-format.md` §7) whose trusted comment is the statement itself, so `minisign
//! -V` can check them too.
//!
//! Files: `log/checkpoint` is the checkpoint's signature (4 lines); `timestamp` is the
//! checkpoint's signature followed by the timestamp's (8 lines), so one request gets both.

use crate::TlogError;
use crate::entry::{format_time, parse_time};
use crate::hash::{Hash, from_hex, sha256, to_hex};
use ratchet_trust::bundle_sig::{ParsedSig, parse_sig, sign_bytes, verify_bytes};
use ratchet_trust::{PublicKey, SecretKey};

/// First word of a checkpoint statement.
pub const CHECKPOINT_TAG: &str = "ratchet-checkpoint-v1";
/// First word of a timestamp statement.
pub const TIMESTAMP_TAG: &str = "ratchet-timestamp-v1";
/// Largest `log/checkpoint` file.
pub const MAX_CHECKPOINT_BYTES: usize = 2048;
/// Largest `timestamp` file.
pub const MAX_TIMESTAMP_BYTES: usize = 4096;
/// Default validity of a timestamp: one day.
pub const DEFAULT_VALIDITY_SECS: u64 = 24 * 3600;
/// Longest validity a client accepts: 30 days (a timestamp that never expires defeats freeze
/// detection).
pub const MAX_VALIDITY_SECS: u64 = 30 * 24 * 3600;

/// A registry's name in its signed statements, so one registry's statements cannot be replayed
/// as another's: 1 to 128 printable ASCII bytes without spaces or `=` (a host name, usually).
pub fn valid_origin(o: &str) -> bool {
    !o.is_empty() && o.len() <= 128 && o.bytes().all(|b| b.is_ascii_graphic() && b != b'=')
}

/// The registry's signed state: log size (the snapshot version) and root, state map root, time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The registry's name in signatures.
    pub origin: String,
    /// Entries in the log: the snapshot version. Only grows.
    pub size: u64,
    /// RFC 6962 root of the log.
    pub log_root: Hash,
    /// Root of the state map.
    pub state_root: Hash,
    /// When it was made (Unix seconds).
    pub time: u64,
}

/// A freshness statement for one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// The registry's name in signatures.
    pub origin: String,
    /// The checkpoint's size (repeated so a reader sees it without hashing).
    pub size: u64,
    /// SHA-256 of the checkpoint statement's text.
    pub checkpoint: Hash,
    /// When it was signed.
    pub issued: u64,
    /// When it stops being accepted.
    pub expires: u64,
}

/// Splits `tag k=v k=v ...` with exactly these keys in this order.
fn fields<'a>(
    text: &'a str,
    tag: &str,
    keys: &[&str],
    what: &str,
) -> Result<Vec<&'a str>, TlogError> {
    let bad = |r: String| TlogError::Malformed {
        file: what.to_string(),
        reason: r,
    };
    let mut words = text.split(' ');
    if words.next() != Some(tag) {
        return Err(bad(format!("not a {tag} statement")));
    }
    let mut out = Vec::new();
    for k in keys {
        let w = words.next().ok_or_else(|| bad(format!("no `{k}=`")))?;
        let v = w
            .strip_prefix(k)
            .and_then(|r| r.strip_prefix('='))
            .ok_or_else(|| bad(format!("expected `{k}=` , found `{}`", clip(w))))?;
        out.push(v);
    }
    if words.next().is_some() {
        return Err(bad("unexpected words at the end".into()));
    }
    Ok(out)
}

fn clip(s: &str) -> String {
    s.chars().take(40).flat_map(char::escape_default).collect()
}

fn num(v: &str, name: &str, what: &str) -> Result<u64, TlogError> {
    let ok = !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit());
    let ok = ok && (v == "0" || !v.starts_with('0'));
    v.parse()
        .ok()
        .filter(|_| ok)
        .ok_or_else(|| TlogError::Malformed {
            file: what.to_string(),
            reason: format!("{name} `{}` is not a number", clip(v)),
        })
}

fn hash(v: &str, name: &str, what: &str) -> Result<Hash, TlogError> {
    from_hex(v).ok_or_else(|| TlogError::Malformed {
        file: what.to_string(),
        reason: format!("{name} is not 64 lower-case hex digits"),
    })
}

fn time(v: &str, name: &str, what: &str) -> Result<u64, TlogError> {
    parse_time(v).ok_or_else(|| TlogError::Malformed {
        file: what.to_string(),
        reason: format!(
            "{name} `{}` is not an RFC 3339 UTC time with seconds",
            clip(v)
        ),
    })
}

fn origin(v: &str, what: &str) -> Result<String, TlogError> {
    if valid_origin(v) {
        Ok(v.to_string())
    } else {
        Err(TlogError::Malformed {
            file: what.to_string(),
            reason: "bad origin".into(),
        })
    }
}

impl Checkpoint {
    /// `ratchet-checkpoint-v1 origin=<o> size=<n> log=<hex> state=<hex> time=<RFC 3339>`.
    pub fn statement(&self) -> String {
        format!(
            "{CHECKPOINT_TAG} origin={} size={} log={} state={} time={}",
            self.origin,
            self.size,
            to_hex(&self.log_root),
            to_hex(&self.state_root),
            format_time(self.time)
        )
    }

    /// Parses a statement, exactly.
    pub fn parse(text: &str, what: &str) -> Result<Checkpoint, TlogError> {
        let f = fields(
            text,
            CHECKPOINT_TAG,
            &["origin", "size", "log", "state", "time"],
            what,
        )?;
        let c = Checkpoint {
            origin: origin(f[0], what)?,
            size: num(f[1], "size", what)?,
            log_root: hash(f[2], "log", what)?,
            state_root: hash(f[3], "state", what)?,
            time: time(f[4], "time", what)?,
        };
        if c.statement() != text {
            return Err(TlogError::Malformed {
                file: what.to_string(),
                reason: "not in canonical form".into(),
            });
        }
        Ok(c)
    }

    /// Signs it: the `log/checkpoint` file's text.
    pub fn sign(&self, sk: &SecretKey) -> Result<String, TlogError> {
        sign_statement(sk, &self.statement())
    }
}

impl Timestamp {
    /// A timestamp for `checkpoint`, issued at `issued`, valid for `validity` seconds.
    pub fn for_checkpoint(checkpoint: &Checkpoint, issued: u64, validity: u64) -> Timestamp {
        Timestamp {
            origin: checkpoint.origin.clone(),
            size: checkpoint.size,
            checkpoint: sha256(checkpoint.statement().as_bytes()),
            issued: issued.min(crate::entry::MAX_TIME),
            expires: issued.saturating_add(validity).min(crate::entry::MAX_TIME),
        }
    }

    /// `ratchet-timestamp-v1 origin=<o> size=<n> checkpoint=<hex> issued=<t> expires=<t>`.
    pub fn statement(&self) -> String {
        format!(
            "{TIMESTAMP_TAG} origin={} size={} checkpoint={} issued={} expires={}",
            self.origin,
            self.size,
            to_hex(&self.checkpoint),
            format_time(self.issued),
            format_time(self.expires)
        )
    }

    /// Parses a statement, exactly.
    pub fn parse(text: &str, what: &str) -> Result<Timestamp, TlogError> {
        let f = fields(
            text,
            TIMESTAMP_TAG,
            &["origin", "size", "checkpoint", "issued", "expires"],
            what,
        )?;
        let t = Timestamp {
            origin: origin(f[0], what)?,
            size: num(f[1], "size", what)?,
            checkpoint: hash(f[2], "checkpoint", what)?,
            issued: time(f[3], "issued", what)?,
            expires: time(f[4], "expires", what)?,
        };
        if t.statement() != text {
            return Err(TlogError::Malformed {
                file: what.to_string(),
                reason: "not in canonical form".into(),
            });
        }
        Ok(t)
    }
}

fn sign_statement(sk: &SecretKey, statement: &str) -> Result<String, TlogError> {
    sign_bytes(sk, statement.as_bytes(), statement).map_err(|e| TlogError::BadSignature {
        what: "signing".into(),
        reason: e.to_string(),
    })
}

/// The `timestamp` file's text: the checkpoint's signature (as in `log/checkpoint`) and the
/// timestamp's, signed with `sk` (the registry key, or a mirror's key).
pub fn timestamp_file(
    checkpoint_sig: &str,
    timestamp: &Timestamp,
    sk: &SecretKey,
) -> Result<String, TlogError> {
    let mut s = checkpoint_sig.to_string();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(&sign_statement(sk, &timestamp.statement())?);
    Ok(s)
}

/// A parsed checkpoint signature (not yet verified).
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    /// The statement.
    pub checkpoint: Checkpoint,
    sig: ParsedSig,
}

/// Splits text into lines each ending with `\n`, refusing anything else.
fn lines_of<'a>(bytes: &'a [u8], what: &str, n: usize) -> Result<Vec<&'a str>, TlogError> {
    let bad = |r: &str| TlogError::Malformed {
        file: what.to_string(),
        reason: r.to_string(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
    let body = text
        .strip_suffix('\n')
        .ok_or_else(|| bad("no final newline"))?;
    let lines: Vec<&str> = body.split('\n').collect();
    if lines.len() != n {
        return Err(bad(&format!("{} lines instead of {n}", lines.len())));
    }
    if lines.iter().any(|l| l.contains('\r')) {
        return Err(bad("carriage return"));
    }
    Ok(lines)
}

fn parse_box(lines: &[&str], what: &str) -> Result<ParsedSig, TlogError> {
    let text = lines.join("\n") + "\n";
    parse_sig(text.as_bytes(), what).map_err(|e| TlogError::BadSignature {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

fn verify_statement(
    sig: &ParsedSig,
    keys: &[PublicKey],
    what: &str,
    keys_name: &str,
) -> Result<PublicKey, TlogError> {
    verify_bytes(
        sig,
        sig.trusted_comment.as_bytes(),
        &sig.trusted_comment,
        keys,
        what,
        keys_name,
    )
    .map_err(|e| TlogError::BadSignature {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

impl SignedCheckpoint {
    /// Parses a `log/checkpoint` file (4 lines, at most [`MAX_CHECKPOINT_BYTES`]).
    pub fn parse(bytes: &[u8], what: &str) -> Result<SignedCheckpoint, TlogError> {
        if bytes.len() > MAX_CHECKPOINT_BYTES {
            return Err(TlogError::Malformed {
                file: what.to_string(),
                reason: format!("{} bytes (limit {MAX_CHECKPOINT_BYTES})", bytes.len()),
            });
        }
        let lines = lines_of(bytes, what, 4)?;
        Self::from_lines(&lines, what)
    }

    fn from_lines(lines: &[&str], what: &str) -> Result<SignedCheckpoint, TlogError> {
        let sig = parse_box(lines, what)?;
        let checkpoint = Checkpoint::parse(&sig.trusted_comment, what)?;
        Ok(SignedCheckpoint { checkpoint, sig })
    }

    /// Checks the signature against the registry's keys; returns the signing key.
    pub fn verify(&self, registry_keys: &[PublicKey], what: &str) -> Result<PublicKey, TlogError> {
        verify_statement(&self.sig, registry_keys, what, "registry keys")
    }
}

/// A parsed `timestamp` file (not yet verified).
#[derive(Debug, Clone)]
pub struct SignedTimestamp {
    /// The checkpoint it carries.
    pub checkpoint: SignedCheckpoint,
    /// The timestamp statement.
    pub timestamp: Timestamp,
    sig: ParsedSig,
}

/// A timestamp whose signatures verified and whose statements agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTimestamp {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The timestamp.
    pub timestamp: Timestamp,
    /// True when a mirror key (not the registry key) signed the timestamp.
    pub by_mirror: bool,
    /// Key id of the timestamp's signer.
    pub timestamp_key: String,
}

impl SignedTimestamp {
    /// Parses a `timestamp` file: exactly 8 lines, at most [`MAX_TIMESTAMP_BYTES`].
    pub fn parse(bytes: &[u8], what: &str) -> Result<SignedTimestamp, TlogError> {
        if bytes.len() > MAX_TIMESTAMP_BYTES {
            return Err(TlogError::Malformed {
                file: what.to_string(),
                reason: format!("{} bytes (limit {MAX_TIMESTAMP_BYTES})", bytes.len()),
            });
        }
        let lines = lines_of(bytes, what, 8)?;
        let checkpoint = SignedCheckpoint::from_lines(&lines[..4], what)?;
        let sig = parse_box(&lines[4..], what)?;
        let timestamp = Timestamp::parse(&sig.trusted_comment, what)?;
        Ok(SignedTimestamp {
            checkpoint,
            timestamp,
            sig,
        })
    }

    /// Checks both signatures (the checkpoint by a registry key, the timestamp by a registry
    /// key or one of `mirror_keys`) and that the statements agree (origin, size, checkpoint
    /// hash, a validity of at most [`MAX_VALIDITY_SECS`]). Expiry against the clock is the
    /// client's check ([`crate::client`]).
    pub fn verify(
        &self,
        registry_keys: &[PublicKey],
        mirror_keys: &[PublicKey],
        what: &str,
    ) -> Result<VerifiedTimestamp, TlogError> {
        self.checkpoint.verify(registry_keys, what)?;
        let mut all: Vec<PublicKey> = registry_keys.to_vec();
        all.extend_from_slice(mirror_keys);
        let key = verify_statement(&self.sig, &all, what, "registry and mirror keys")?;
        let by_mirror = !registry_keys.contains(&key);
        let (c, t) = (&self.checkpoint.checkpoint, &self.timestamp);
        let bad = |r: String| TlogError::Malformed {
            file: what.to_string(),
            reason: r,
        };
        if t.origin != c.origin || t.size != c.size {
            return Err(bad(format!(
                "the timestamp (origin {}, size {}) is for another checkpoint (origin {}, size {})",
                t.origin, t.size, c.origin, c.size
            )));
        }
        if t.checkpoint != sha256(c.statement().as_bytes()) {
            return Err(bad("the timestamp names another checkpoint".into()));
        }
        if t.expires <= t.issued || t.expires - t.issued > MAX_VALIDITY_SECS {
            return Err(bad(format!(
                "validity from {} to {} is not between 1 second and 30 days",
                format_time(t.issued),
                format_time(t.expires)
            )));
        }
        Ok(VerifiedTimestamp {
            checkpoint: c.clone(),
            timestamp: t.clone(),
            by_mirror,
            timestamp_key: key.key_id(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A throwaway unencrypted key pair.
    pub(crate) fn key(dir: &std::path::Path, name: &str) -> SecretKey {
        let kp = ratchet_trust::keys::generate(dir, name, None).unwrap();
        SecretKey::load(&kp.secret).unwrap()
    }

    pub(crate) fn checkpoint(size: u64, log: u8) -> Checkpoint {
        Checkpoint {
            origin: "registry.example.com".into(),
            size,
            log_root: [log; 32],
            state_root: [2; 32],
            time: 1_767_225_600,
        }
    }

    #[test]
    fn sign_parse_verify_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let reg = key(dir.path(), "registry");
        let mirror = key(dir.path(), "mirror");
        let other = key(dir.path(), "other");
        let cp = checkpoint(42, 1);
        let cp_sig = cp.sign(&reg).unwrap();
        let sc = SignedCheckpoint::parse(cp_sig.as_bytes(), "log/checkpoint").unwrap();
        assert_eq!(sc.checkpoint, cp);
        sc.verify(&[reg.public().clone()], "cp").unwrap();
        assert!(sc.verify(&[other.public().clone()], "cp").is_err());

        let ts = Timestamp::for_checkpoint(&cp, cp.time, DEFAULT_VALIDITY_SECS);
        let file = timestamp_file(&cp_sig, &ts, &reg).unwrap();
        assert_eq!(file.lines().count(), 8);
        let st = SignedTimestamp::parse(file.as_bytes(), "timestamp").unwrap();
        let v = st
            .verify(&[reg.public().clone()], &[], "timestamp")
            .unwrap();
        assert!(!v.by_mirror);
        assert_eq!(v.timestamp.expires, cp.time + 86400);

        // A mirror re-signs freshness for the registry's checkpoint.
        let ts2 = Timestamp::for_checkpoint(&cp, cp.time + 90000, DEFAULT_VALIDITY_SECS);
        let mfile = timestamp_file(&cp_sig, &ts2, &mirror).unwrap();
        let st = SignedTimestamp::parse(mfile.as_bytes(), "timestamp").unwrap();
        assert!(
            st.verify(&[reg.public().clone()], &[], "t").is_err(),
            "mirror not opted in"
        );
        let v = st
            .verify(&[reg.public().clone()], &[mirror.public().clone()], "t")
            .unwrap();
        assert!(v.by_mirror);
        // ...but cannot sign a checkpoint of its own.
        let fake = checkpoint(43, 9).sign(&mirror).unwrap();
        let ts3 = Timestamp::for_checkpoint(&checkpoint(43, 9), cp.time, 3600);
        let ffile = timestamp_file(&fake, &ts3, &mirror).unwrap();
        let st = SignedTimestamp::parse(ffile.as_bytes(), "t").unwrap();
        assert!(
            st.verify(&[reg.public().clone()], &[mirror.public().clone()], "t")
                .is_err()
        );

        // A timestamp for another checkpoint; a validity over 30 days.
        let wrong = Timestamp::for_checkpoint(&checkpoint(42, 7), cp.time, 3600);
        let wfile = timestamp_file(&cp_sig, &wrong, &reg).unwrap();
        let st = SignedTimestamp::parse(wfile.as_bytes(), "t").unwrap();
        let e = st
            .verify(&[reg.public().clone()], &[], "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("another checkpoint"), "{e}");
        let long = Timestamp::for_checkpoint(&cp, cp.time, MAX_VALIDITY_SECS + 1);
        let lfile = timestamp_file(&cp_sig, &long, &reg).unwrap();
        let st = SignedTimestamp::parse(lfile.as_bytes(), "t").unwrap();
        assert!(st.verify(&[reg.public().clone()], &[], "t").is_err());

        // Edited statements break the signature; malformed files are refused before any check.
        let edited = file.replacen("size=42", "size=43", 1);
        if let Ok(st) = SignedTimestamp::parse(edited.as_bytes(), "t") {
            assert!(st.verify(&[reg.public().clone()], &[], "t").is_err())
        }
        for bad in [
            file.trim_end().to_string(),
            file.replacen('\n', "\r\n", 1),
            file.clone() + "\n",
            file.lines().take(4).collect::<Vec<_>>().join("\n") + "\n",
            "x".repeat(MAX_TIMESTAMP_BYTES + 1),
        ] {
            assert!(
                SignedTimestamp::parse(bad.as_bytes(), "t").is_err(),
                "{bad}"
            );
        }
        // Statements are parsed exactly.
        let s = cp.statement();
        assert_eq!(Checkpoint::parse(&s, "s").unwrap(), cp);
        for bad in [
            s.replacen("size=42", "size=042", 1),
            s.replacen("size=42", "size=-1", 1),
            s.replacen(" log=", "  log=", 1),
            s.clone() + " extra=1",
            s.replacen("origin=registry.example.com", "origin=", 1),
            s.replacen("time=2026-01-01T00:00:00Z", "time=2026-01-01", 1),
            s.replacen(CHECKPOINT_TAG, TIMESTAMP_TAG, 1),
        ] {
            assert!(Checkpoint::parse(&bad, "s").is_err(), "{bad}");
        }
    }
}
