//! Typed events: what the client tells its user while it works, without printing anything.
//!
//! The library never writes to a terminal. Everything a user should hear about (progress,
//! trust decided on first use, yanked or deprecated versions, downgrades, a wait for another
//! process) is an [`Event`] handed to a [`Reporter`] the front end supplies; the `ratchet` CLI
//! renders events as text on stderr (quiet, normal or verbose) or collects them into its JSON
//! document. Events carry structured fields, never pre-rendered sentences to be parsed back;
//! their strings came from a registry and must be escaped before they reach a terminal.

use crate::verify::Notice;
use ratchet_formats::manifest::BundleId;
use ratchet_trust::VerificationStatus;
use semver::Version;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Hears the events of an operation. Called from worker threads too, so it must be cheap and
/// thread-safe; it must not block on user input.
pub trait Reporter: Send + Sync {
    /// One event happened.
    fn report(&self, event: &Event);
}

/// A reporter that ignores everything (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReporter;

impl Reporter for NoReporter {
    fn report(&self, _event: &Event) {}
}

/// A reporter that keeps every event, in order (tests, JSON documents).
#[derive(Debug, Default)]
pub struct EventLog {
    events: Mutex<Vec<Event>>,
}

impl EventLog {
    /// The events so far, in the order they were reported.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Reporter for EventLog {
    fn report(&self, event: &Event) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event.clone());
        }
    }
}

/// A shared reporter, as the client holds it.
pub type SharedReporter = Arc<dyn Reporter>;

/// The no-op reporter, shared.
pub fn no_reporter() -> SharedReporter {
    Arc::new(NoReporter)
}

/// Why an update moves a bundle to an older version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DowngradeReason {
    /// The installed version was yanked.
    Yanked,
    /// The installed version is no longer in the registry's index.
    GoneFromIndex,
    /// The requirements now in force (a changed request, a dependency's requirement) allow no
    /// version as new as the installed one.
    Requirements,
}

impl std::fmt::Display for DowngradeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DowngradeReason::Yanked => "the installed version was yanked",
            DowngradeReason::GoneFromIndex => "the installed version is gone from the index",
            DowngradeReason::Requirements => "the requirements allow no newer version",
        })
    }
}

/// Something that happened during an install, update or removal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// One wave of registry files arrived (index and metadata files, `config.json`).
    WaveFetched {
        /// Files asked for.
        files: usize,
        /// Bytes received (cached files count too).
        bytes: u64,
    },
    /// Archive bytes arrived (progress; reported many times per archive).
    DownloadProgress {
        /// Bytes since the last such event.
        bytes: u64,
    },
    /// An archive passed every check of `index-format.md` §7.6 and was unpacked.
    ArchiveVerified {
        /// The bundle.
        id: BundleId,
        /// Its version.
        version: Version,
        /// Key id of the owner key that signed it (`None`: unsigned, allowed).
        signer: Option<String>,
        /// Its attestation status.
        status: VerificationStatus,
    },
    /// A trust notice (first-use pin, rotation accepted, unsigned allowed, verifier changes,
    /// ignored attestations).
    Trust(Notice),
    /// A locked version that is yanked is kept (a lockfile or an installed version asks for it).
    Yanked {
        /// The bundle.
        id: BundleId,
        /// The yanked version kept.
        version: Version,
    },
    /// A bundle of the result is deprecated.
    Deprecated {
        /// The bundle.
        id: BundleId,
        /// The registry's message.
        message: String,
        /// The bundle to use instead, if the registry names one.
        replacement: Option<BundleId>,
    },
    /// An update moves a bundle to an older version.
    Downgraded {
        /// The bundle.
        id: BundleId,
        /// The installed version.
        from: Version,
        /// The version it moves to.
        to: Version,
        /// Why.
        why: DowngradeReason,
    },
    /// Another process holds the installation lock; this one waits for it.
    WaitingForLock {
        /// The lock file.
        path: PathBuf,
    },
    /// An index or metadata file had a problem that was skipped (a bad line, an unusable
    /// metadata file).
    IndexProblem {
        /// What was skipped and why.
        message: String,
    },
    /// About the registry's signed state (`index-format.md` §9.7): a registry key pinned on
    /// first use or rotated, a registry without a signed timestamp, an expired timestamp
    /// accepted with `--allow-expired` (`loud`: say it so nobody misses it).
    Integrity {
        /// What to tell.
        message: String,
        /// A warning that must stand out.
        loud: bool,
    },
}
