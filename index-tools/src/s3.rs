//! `ratchet-index` commands on a registry in an S3-compatible bucket (`s3://BUCKET/PREFIX`,
//! index-format.md §15). The registry is checked out into a private directory
//! (`ratchet_publish::s3`), the command runs there as on any directory, and what it changed is
//! written back with conditional requests. When another publisher committed first (the
//! marker's `If-Match` answered 412), the checkout is thrown away and the command runs again on
//! a new one, with every check again, as for a registry in git (§6.10). Only the last attempt's
//! output is shown, with the working directory's path replaced by the registry's URL.

use crate::{Cli, Command, git};
use ratchet_publish::s3::{Begin, Bucket, Change, Committed, S3Url};
use ratchet_term::{escape_line, out};
use std::ffi::OsString;
use std::time::{Duration, Instant};

/// Environment variable: how long one command keeps trying while other publishers commit
/// first or write (seconds, default 600).
pub const TIMEOUT_ENV: &str = "RATCHET_S3_TIMEOUT";

/// Why an operation on a bucket gave up.
#[derive(Debug, thiserror::Error)]
pub enum S3CliError {
    /// More than one `s3://` argument.
    #[error(
        "more than one s3:// registry on the command line ({0}, {1}): a command works on one bucket registry"
    )]
    TwoRegistries(String, String),
    /// Other publishers kept committing first, or a writer kept the marker.
    #[error(
        "{url}: other publishers kept committing first (or writing) for {secs} s, {attempts} attempt(s); nothing of this operation was written (run it again)"
    )]
    Contended {
        /// The registry.
        url: String,
        /// Seconds spent.
        secs: u64,
        /// Attempts made.
        attempts: u32,
    },
}

/// The `s3://` argument of this process's command line, if any.
pub fn registry_arg() -> Result<Option<String>, S3CliError> {
    let mut found: Option<String> = None;
    for a in std::env::args().skip(1) {
        let url = match a.find("s3://") {
            Some(0) => a.clone(),
            // `--registry=s3://...`
            Some(i) if a.starts_with("--") && a[..i].ends_with('=') => a[i..].to_string(),
            _ => continue,
        };
        match &found {
            Some(f) if *f != url => return Err(S3CliError::TwoRegistries(f.clone(), url)),
            _ => found = Some(url),
        }
    }
    Ok(found)
}

/// Whether the command changes the registry (else its checkout is only read).
fn writes(cmd: &Command) -> bool {
    match cmd {
        Command::Mirror { dst, .. } => S3Url::is_s3(&dst.to_string_lossy()),
        Command::Site(_) => true,
        c => crate::git_change(c).is_some(),
    }
}

fn backoff(attempt: u32) {
    git::backoff(attempt);
}

/// Runs the command whose registry is the bucket `url` names.
pub fn run(url: &str, cmd: &Command) -> crate::CliResult {
    let started = Instant::now();
    let parsed = S3Url::parse(url)?;
    let shown = parsed.to_string();
    let bucket = Bucket::connect(&parsed)?;
    let cache = ratchet_publish::s3::default_cache_dir();
    let t_connected = Instant::now();
    let write = writes(cmd);
    let secs = std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(600u64);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut conflicts = 0u32;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        if attempt > 1 && Instant::now() > deadline {
            return Err(S3CliError::Contended {
                url: shown,
                secs,
                attempts: attempt - 1,
            }
            .into());
        }
        let t0 = Instant::now();
        let (co, took_over) = match bucket.begin(&cache)? {
            Begin::Busy(_) => {
                backoff(attempt.min(10));
                continue;
            }
            Begin::Ready {
                checkout,
                took_over,
            } => (checkout, took_over),
        };
        let root = co.root().display().to_string();
        // The same command line with the working directory in place of the URL.
        let args: Vec<OsString> = std::env::args_os()
            .map(|a| match a.to_str() {
                Some(s) if s.contains(url) => OsString::from(s.replace(url, &root)),
                _ => a,
            })
            .collect();
        let cmd = <Cli as clap::Parser>::try_parse_from(&args)?.command;
        // The audit log stays on this machine (never in the bucket, §13.1, §15).
        let audit = Audit::start(&parsed, &cache, co.root())?;
        let t1 = Instant::now();
        let capture = git::Capture::start()?;
        let result = crate::run(cmd);
        let captured = capture.finish()?;
        let t_op = Instant::now();
        let changes = if write && result.is_ok() {
            co.changes()?
        } else {
            Vec::new()
        };
        if changes.is_empty() {
            // What the command read may mix two states when another operation committed
            // while the checkout was listed and fetched (a failure can come from that): run it
            // again on a new checkout.
            if !bucket.still_current(&co)? {
                conflicts += 1;
                backoff(conflicts);
                continue;
            }
            if write && result.is_ok() {
                co.unchanged()?;
            }
            audit.finish()?;
            captured.replay_replacing(&root, &shown);
            return result.map_err(|e| rewrite(e, &root, &shown));
        }
        let t2 = Instant::now();
        let committed = bucket.commit(&co, &changes)?;
        if out().verbose(1) {
            out().status(format_args!(
                "{}: attempt {attempt}: checkout {} ms ({}, {} request(s), {} object(s) fetched), operation {} ms, {} change(s) found in {} ms and written in {} ms",
                escape_line(&shown),
                (t1 - t0).as_millis(),
                if co.listed {
                    "listed the prefix"
                } else if co.requests > 1 {
                    "read the journal"
                } else {
                    "already current"
                },
                co.requests,
                co.fetched,
                (t_op - t1).as_millis(),
                changes.len(),
                (t2 - t_op).as_millis(),
                t2.elapsed().as_millis()
            ));
        }
        match committed {
            Committed::Conflict => {
                conflicts += 1;
                backoff(conflicts);
                continue;
            }
            Committed::Done {
                written,
                deleted,
                generation,
            } => {
                let t3 = Instant::now();
                drop(co);
                if out().verbose(1) {
                    out().status(format_args!(
                        "{}: client set up in {} ms, checkout removed in {} ms",
                        escape_line(&shown),
                        (t_connected - started).as_millis(),
                        t3.elapsed().as_millis()
                    ));
                }
                audit.finish()?;
                captured.replay_replacing(&root, &shown);
                if let Some(w) = took_over {
                    out().warn(format_args!(
                        "{}: took over from a writer that did not finish ({}, since {}); run `ratchet-index verify` on it",
                        escape_line(&shown),
                        escape_line(&w.by),
                        w.since
                    ));
                }
                let deletes = changes
                    .iter()
                    .filter(|c| matches!(c, Change::Delete(_)))
                    .count();
                debug_assert_eq!(deletes, deleted);
                out().status(format_args!(
                    "{}: wrote {written} object(s){}, generation {generation}{}",
                    escape_line(&shown),
                    if deleted > 0 {
                        format!(", deleted {deleted}")
                    } else {
                        String::new()
                    },
                    if conflicts > 0 {
                        format!(" (after {conflicts} conflict(s) with other publishers)")
                    } else {
                        String::new()
                    }
                ));
                return result;
            }
        }
    }
}

/// An error whose text named the working directory, with the registry's URL instead.
#[derive(Debug)]
struct Rewritten {
    text: String,
}

impl std::fmt::Display for Rewritten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Rewritten {}

fn rewrite(e: Box<dyn std::error::Error>, root: &str, shown: &str) -> Box<dyn std::error::Error> {
    let text = e.to_string();
    if !text.contains(root) {
        return e;
    }
    // Usage errors keep their type (exit code 2).
    if e.downcast_ref::<ratchet_term::UsageError>().is_some() {
        return e;
    }
    let mut text = text.replace(root, shown);
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {}", c.to_string().replace(root, shown)));
        cause = c.source();
    }
    Box::new(Rewritten { text })
}

/// Environment variable naming the audit log file of a registry in a bucket.
pub const AUDIT_ENV: &str = "RATCHET_S3_AUDIT_LOG";

/// The audit log of a registry in a bucket (index-format.md §13.1, §15): a file on this
/// machine ([`AUDIT_ENV`], else `CACHE/audit/<bucket>/<prefix>.jsonl`), never uploaded. The
/// command runs with a copy of it in its working copy; the copy goes back only when the
/// command's change reached the bucket, so an attempt that lost the race logs nothing.
struct Audit {
    file: std::path::PathBuf,
    copy: std::path::PathBuf,
    before: Option<Vec<u8>>,
}

impl Audit {
    fn start(
        url: &S3Url,
        cache: &std::path::Path,
        root: &std::path::Path,
    ) -> Result<Audit, Box<dyn std::error::Error>> {
        let file = match std::env::var_os(AUDIT_ENV).filter(|v| !v.is_empty()) {
            Some(f) => std::path::PathBuf::from(f),
            None => {
                let name = if url.prefix.is_empty() {
                    "_".to_string()
                } else {
                    url.prefix.replace('/', "_")
                };
                cache
                    .join("audit")
                    .join(&url.bucket)
                    .join(format!("{name}.jsonl"))
            }
        };
        let copy = root.join(ratchet_publish::AUDIT_FILE);
        let before = std::fs::read(&file).ok();
        let _ = std::fs::remove_file(&copy);
        if let Some(b) = &before {
            std::fs::write(&copy, b).map_err(|e| format!("{}: {e}", copy.display()))?;
        }
        Ok(Audit { file, copy, before })
    }

    /// After a committed (or read-only) command: the entries it appended go to the file.
    fn finish(&self) -> Result<(), Box<dyn std::error::Error>> {
        let Ok(now) = std::fs::read(&self.copy) else {
            return Ok(());
        };
        if Some(&now) == self.before.as_ref() {
            return Ok(());
        }
        if let Some(d) = self.file.parent() {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        // The entries this command appended, after the log it started from.
        let before = self.before.as_deref().unwrap_or_default();
        let added: Option<Vec<ratchet_audit::Entry>> = now.strip_prefix(before).and_then(|tail| {
            tail.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).ok())
                .collect()
        });
        if let Some(added) = added {
            // Chained after the log's last entry under its lock (as `append_at` takes it),
            // each with its own time and actor: the same lines as in the copy when nothing
            // else appended meanwhile, and after the other command's entries when another
            // command on this machine did.
            for e in &added {
                ratchet_audit::AuditLog::new(&self.file, e.source)
                    .append_at(&ratchet_audit::Record::from(e), &e.actor, &e.time)
                    .map_err(|err| format!("{}: {err}", self.file.display()))?;
            }
            return Ok(());
        }
        // The command rewrote the log (a prune): it replaces the file unless another command
        // appended meanwhile.
        let current = std::fs::read(&self.file).ok();
        if current != self.before {
            out().warn(format_args!(
                "{}: the audit log changed while this command ran (another command on this machine) and this command rewrote it: this command's change was made but its log was not written back",
                escape_line(&self.file.display().to_string())
            ));
            return Ok(());
        }
        ratchet_formats::fsutil::write_atomic(&self.file, &now)
            .map_err(|e| format!("{}: {e}", self.file.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Audit;
    use ratchet_audit::{AuditLog, Record, Source};

    fn entries(path: &std::path::Path) -> Vec<(String, String)> {
        ratchet_audit::verify(path, None).expect("the log verifies");
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                let e: ratchet_audit::Entry = serde_json::from_str(l).unwrap();
                (e.action, e.actor)
            })
            .collect()
    }

    fn append(
        log: &std::path::Path,
        action: &str,
        id: &str,
        version: &str,
        actor: &str,
        time: &str,
    ) {
        AuditLog::new(log, Source::Registry)
            .append_at(
                &Record::bundle(action, id, Some(version), None),
                actor,
                time,
            )
            .unwrap();
    }

    /// A command started on a log of one entry and appended one entry to its copy.
    fn started(dir: &std::path::Path) -> Audit {
        let file = dir.join("machine.jsonl");
        let copy = dir.join("copy.jsonl");
        append(
            &file,
            "publish",
            "com.a.x",
            "1.0.0",
            "ann",
            "2026-12-05T08:00:00Z",
        );
        let before = std::fs::read(&file).ok();
        std::fs::write(&copy, before.as_ref().unwrap()).unwrap();
        // The command's own entry, in its copy.
        append(
            &copy,
            "yank",
            "com.a.x",
            "1.0.0",
            "bob",
            "2026-12-05T08:01:00Z",
        );
        Audit { file, copy, before }
    }

    #[test]
    fn finish_writes_the_copy_when_nothing_else_appended() {
        let dir = tempfile::tempdir().unwrap();
        let a = started(dir.path());
        a.finish().unwrap();
        assert_eq!(
            std::fs::read(&a.file).unwrap(),
            std::fs::read(&a.copy).unwrap()
        );
    }

    #[test]
    fn finish_chains_its_entries_after_another_commands() {
        let dir = tempfile::tempdir().unwrap();
        let a = started(dir.path());
        // Another command on this machine finished first.
        append(
            &a.file,
            "publish",
            "com.a.y",
            "2.0.0",
            "cat",
            "2026-12-05T08:02:00Z",
        );
        a.finish().unwrap();
        assert_eq!(
            entries(&a.file),
            [("publish", "ann"), ("publish", "cat"), ("yank", "bob")]
                .map(|(x, y)| (x.to_string(), y.to_string()))
        );
    }
}
