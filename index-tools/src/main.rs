//! `ratchet-index`: maintains a static Ratchet registry directory.
//!
//! A thin command line over `ratchet_publish` (the operations) and `ratchet_formats::index` (the file
//! formats): it parses arguments, calls the library and prints. The format it writes is
//! specified in `index-format.md`, section 6.

use clap::{CommandFactory, Parser, Subcommand};
use ratchet_formats::index::{NamesFile, RegistryConfig, RegistryKind};
use ratchet_formats::manifest::BundleId;
use ratchet_publish::{PublishError, Registry, RegistryKey, SignedState, publish_time};
use ratchet_term::{GlobalArgs, Output, UsageError, escape, escape_line, out, print_json};
use ratchet_trust::attest::{self, AttestFields, AttestKind};
use ratchet_trust::keys::{PublicKey, SecretKey};
use ratchet_trust::owners::ChainEntry;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

mod enterprise;
mod git;
mod mirror;
mod quality;
mod s3;
mod site;
mod stats;

/// Maintain a static Ratchet registry: publish archives, yank, deprecate, list, verify.
#[derive(Parser)]
#[command(name = "ratchet-index", version, about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    /// The registry's secret key, needed for every change of a signed registry (one with
    /// root.json; index-format.md §9). Default: the file named by RATCHET_REGISTRY_KEY; its
    /// password comes from RATCHET_KEY_PASSWORD or a prompt.
    #[arg(long, global = true, value_name = "FILE.key")]
    registry_key: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an empty registry in a new or empty directory.
    Init {
        /// The registry directory.
        dir: PathBuf,
        /// Registry name shown to users (default: the directory name).
        #[arg(long)]
        name: Option<String>,
        /// public, private, partner or local.
        #[arg(long, default_value = "local")]
        kind: RegistryKind,
        /// Download URL template with a `{sha256}` marker (default: archives next to the index).
        #[arg(long = "dl-url")]
        dl_url: Option<String>,
        /// Clients send their credentials with every request (config.json `auth-required`).
        #[arg(long)]
        auth_required: bool,
        /// Refuse unsigned archives (config.json `policies.require-signatures`).
        #[arg(long)]
        require_signatures: bool,
        /// Keep bundle metadata in `meta/` files only, without the metadata line in index files
        /// (config.json without `meta-in-index`, the layout of registries made before it):
        /// clients then make one more request per bundle (index-format.md §6.3.1).
        #[arg(long)]
        no_meta_in_index: bool,
        /// Sign the registry's state with the registry key (--registry-key) from the start,
        /// naming it ORIGIN in every signature (index-format.md §9.2; usually its host name).
        #[arg(long, value_name = "ORIGIN")]
        origin: Option<String>,
    },
    /// Give an existing registry a registry key, in place: root.json, a transparency log with
    /// one entry per existing bundle, the state map, a checkpoint and the first timestamp
    /// (index-format.md §9.12). Needs --registry-key.
    InitLog {
        /// The registry directory.
        dir: PathBuf,
        /// The name signed into every statement (1 to 128 printable ASCII characters without
        /// space or `=`; usually the registry's host name).
        #[arg(long)]
        origin: String,
        /// The time signed into the log entries, the checkpoint and the timestamp (RFC 3339 or
        /// Unix seconds; default now). For reproducible sample registries: the timestamp is
        /// valid from this time, so one in the past expires early.
        #[arg(long)]
        time: Option<String>,
    },
    /// Re-sign the expiring timestamp for the current checkpoint (run from cron at least twice
    /// per validity period). Needs --registry-key, or --mirror-key for a mirror.
    Timestamp {
        /// The registry directory.
        dir: PathBuf,
        /// How long the timestamp is valid (e.g. `1d`, `12h`; at most 30 days).
        #[arg(long, default_value = "1d")]
        validity: String,
        /// Sign with a mirror key instead: it vouches for freshness only (index-format.md §9.8).
        #[arg(long, value_name = "MIRROR.key")]
        mirror_key: Option<PathBuf>,
    },
    /// Carry each bundle's metadata in its index file (config.json `meta-in-index`,
    /// index-format.md §6.3.1): writes every index file's metadata line that is missing or
    /// behind its metadata file, then turns the key on; on a registry that has it, repairs
    /// the lines an interrupted change or an older publisher left behind.
    MetaInIndex {
        /// The registry directory.
        dir: PathBuf,
    },
    /// Show the transparency log's entries (verified against the signed checkpoint).
    Log {
        /// The registry directory.
        dir: PathBuf,
        /// First entry to show.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Most entries to show.
        #[arg(long, default_value_t = 1000)]
        limit: u64,
    },
    /// Manage the registry key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Validate archives and add them to the registry, one after the other in the order given
    /// (dependencies first). Each publish is all-or-nothing; the first refusal changes nothing
    /// and stops, and the archives before it stay published (the command says how many).
    Publish {
        /// The registry directory.
        dir: PathBuf,
        /// `.rbundle` archives.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Publish time (RFC 3339 or Unix seconds; default: SOURCE_DATE_EPOCH, else now).
        #[arg(long)]
        publish_time: Option<String>,
        /// The signer's public key, recorded as an owner on an id's first signed publish
        /// (repeat it to record co-owners; the archive must be signed by one of them).
        #[arg(long, value_name = "FILE.pub")]
        owner_key: Vec<PathBuf>,
        /// Check every archive against the registry as it is and say what would be published,
        /// without writing anything (an archive needing one published before it in the same
        /// run is refused).
        #[arg(long)]
        dry_run: bool,
    },
    /// Show or change the owner keys of a bundle (changes are statements signed by an owner).
    #[command(subcommand)]
    Owner(OwnerCommand),
    /// Print a shell completion script (e.g. `ratchet-index completions bash > /etc/bash_completion.d/ratchet-index`).
    Completions {
        /// The shell.
        shell: ratchet_term::Shell,
    },
    /// Write man pages: one roff page per command and subcommand into --out DIR, or the top
    /// page on standard output.
    Man {
        /// Directory to write the pages in (created if needed).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Name or remove the registry's verifier keys (config.json), whose attestations make
    /// versions officially verified.
    #[command(subcommand)]
    Verifier(VerifierCommand),
    /// Sign an attestation of one published version and add it to the registry. `--official`
    /// needs a verifier key named in config.json.
    Attest {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
        /// Version.
        version: semver::Version,
        /// The attester's secret key (password from RATCHET_KEY_PASSWORD or a prompt).
        #[arg(long)]
        key: PathBuf,
        /// An official verification (by a registry verifier) rather than a community one.
        #[arg(long)]
        official: bool,
        /// Community score, 1 to 5.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
        score: Option<u8>,
        /// URL of the verification report.
        #[arg(long, conflicts_with = "verification")]
        report: Option<String>,
        /// A passing `verification.json` of this archive (`ratchet bundle check FILE.rbundle
        /// -o FILE`): stored in the registry under reports/ and named by the attestation
        /// (official attestations only).
        #[arg(long, value_name = "FILE", requires = "official")]
        verification: Option<PathBuf>,
        /// Attestation time (RFC 3339 or Unix seconds; default: SOURCE_DATE_EPOCH, else now).
        #[arg(long)]
        time: Option<String>,
    },
    /// The registry's enterprise policy (config.json `policies.enterprise`).
    #[command(subcommand)]
    Policy(enterprise::PolicyCommand),
    /// The registry's security advisories (advisories.jsonl, OSV records).
    #[command(subcommand)]
    Advisory(quality::AdvisoryCommand),
    /// Name or list the keys of approver roles (config.json `keys`).
    #[command(subcommand)]
    Approver(enterprise::ApproverCommand),
    /// Sign an approval of one published version for one scope, as one approver role.
    Approve {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
        /// Version.
        version: semver::Version,
        /// What was reviewed (security_scan, dependencies, compatibility...).
        #[arg(long)]
        scope: String,
        /// The approver role signing (security_team...).
        #[arg(long)]
        role: String,
        /// The approver's secret key (password from RATCHET_KEY_PASSWORD or a prompt).
        #[arg(long)]
        key: PathBuf,
        /// Approval time (RFC 3339 or Unix seconds; default: SOURCE_DATE_EPOCH, else now).
        #[arg(long)]
        time: Option<String>,
    },
    /// List versions with their approvals and what the policy still requires.
    Approvals {
        /// The registry directory.
        dir: PathBuf,
        /// Only this bundle.
        id: Option<BundleId>,
        /// Only versions still missing a required approval.
        #[arg(long)]
        pending: bool,
    },
    /// The registry's audit log: verify, export for a SIEM, prune.
    #[command(subcommand)]
    Audit(enterprise::AuditCommand),
    /// Mark a version yanked: new resolutions avoid it, locked installs still get it.
    /// `--undo` clears the flag.
    Yank {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
        /// Version.
        version: semver::Version,
        /// Clear the yanked flag instead (like `cargo yank --undo`).
        #[arg(long)]
        undo: bool,
        /// Say what would change, without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Clear a version's yanked flag (the same as `yank --undo`).
    Unyank {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
        /// Version.
        version: semver::Version,
        /// Say what would change, without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Deprecate a bundle (all its versions), optionally naming its replacement.
    Deprecate {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
        /// Why, shown to users.
        #[arg(long, required_unless_present = "undo")]
        message: Option<String>,
        /// The bundle to use instead.
        #[arg(long)]
        replacement: Option<BundleId>,
        /// Remove the deprecation instead.
        #[arg(long, conflicts_with_all = ["message", "replacement"])]
        undo: bool,
        /// Deprecation time (RFC 3339 or Unix seconds; default: SOURCE_DATE_EPOCH, else now).
        #[arg(long)]
        time: Option<String>,
    },
    /// List the registry's bundles, or one bundle's versions.
    List {
        /// The registry directory.
        dir: PathBuf,
        /// Show this bundle's versions.
        id: Option<BundleId>,
    },
    /// Check the whole registry; prints every problem and exits non-zero on any error.
    Verify {
        /// The registry directory.
        dir: PathBuf,
    },
    /// Download statistics from access logs, and related bundles (index-format.md §11).
    #[command(subcommand)]
    Stats(stats::StatsCommand),
    /// Generate the registry's static web marketplace (index-format.md §14).
    Site(site::SiteArgs),
    /// The registry's search catalog (catalog/, kept up to date by every publish, yank,
    /// deprecation and attestation).
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Copy a registry (a directory, http(s):// or git+...:// URL) into a directory, checking
    /// every file as an installing client would (hashes, signatures, owner chains, the signed
    /// snapshot) before it is exposed; archives first. Run it again to bring the copy up to date
    /// (only what changed is fetched) or to finish an interrupted run.
    Mirror {
        /// The registry to copy.
        src: String,
        /// The directory to copy it into (created if needed).
        dst: PathBuf,
        /// Copy only bundles whose id matches (`*` wildcards; repeatable), with their
        /// dependencies.
        #[arg(long = "id", value_name = "PATTERN")]
        ids: Vec<String>,
        /// Copy only the bundles and versions this lockfile names.
        #[arg(long, value_name = "FILE", conflicts_with = "ids")]
        lockfile: Option<PathBuf>,
        /// Accept unsigned archives from a source that is a local directory.
        #[arg(long)]
        allow_unsigned: bool,
    },
    /// Remove unreferenced archives and temporary files left by interrupted publishes, and
    /// repair names.txt.
    Gc {
        /// The registry directory.
        dir: PathBuf,
        /// Say what would be removed and repaired, without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Recompute the whole search catalog from the registry's index, archives and metadata
    /// (creates it in a registry that has none; repairs what `verify` reports).
    Rebuild {
        /// The registry directory (default: the current directory).
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Rotate the registry key: root.json gains a statement naming the new key, signed by the
    /// current one (--registry-key); the change is logged and signed by the new key.
    Rotate {
        /// The registry directory.
        dir: PathBuf,
        /// The new registry secret key (its password: RATCHET_KEY_PASSWORD or a prompt).
        #[arg(long, value_name = "NEW.key")]
        new_key: PathBuf,
    },
    /// Show the registry key, origin and signed state.
    Show {
        /// The registry directory.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum VerifierCommand {
    /// Add (or rename) a verifier key.
    Add {
        /// The registry directory.
        dir: PathBuf,
        /// The verifier's name, shown as "officially verified by NAME".
        #[arg(long)]
        name: String,
        /// The verifier's public key file.
        #[arg(long, value_name = "FILE.pub")]
        key: PathBuf,
    },
    /// List the verifier keys.
    List {
        /// The registry directory.
        dir: PathBuf,
    },
    /// Remove a verifier key by its key id.
    Remove {
        /// The registry directory.
        dir: PathBuf,
        /// The key id (16 hex digits, as `ratchet key list` shows).
        key_id: String,
    },
}

#[derive(Subcommand)]
enum OwnerCommand {
    /// Show the owner chain of a bundle and check it.
    Show {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
    },
    /// Add an owner key, by a statement signed with a current owner's secret key.
    Add {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
        /// A current owner's secret key.
        #[arg(long)]
        key: PathBuf,
        /// The public key to add.
        #[arg(long = "new")]
        new: PathBuf,
        /// Write the signed statement to this file instead of applying it (`owner apply`).
        #[arg(long)]
        statement_out: Option<PathBuf>,
    },
    /// Replace the signing owner key with a new one, by a statement signed with the old key.
    Rotate {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
        /// The current owner's secret key (replaced).
        #[arg(long)]
        key: PathBuf,
        /// The new public key.
        #[arg(long = "new")]
        new: PathBuf,
        /// Write the signed statement to this file instead of applying it (`owner apply`).
        #[arg(long)]
        statement_out: Option<PathBuf>,
    },
    /// Append a signed statement (JSON written by `owner add|rotate --statement-out`).
    Apply {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
        /// The statement file.
        file: PathBuf,
    },
}

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// The `--registry-key` option (or `RATCHET_REGISTRY_KEY`), set once in `main`.
static REGISTRY_KEY: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// Environment variable with the validity of the timestamps publishes sign (default 1 day).
const VALIDITY_ENV: &str = "RATCHET_TIMESTAMP_VALIDITY";

fn parse_validity(s: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid validity `{s}` ({e}): use e.g. `1d`, `12h`, `30m`"))?;
    Ok(d.as_secs())
}

/// Loads the registry key from `--registry-key` / `RATCHET_REGISTRY_KEY` (`None`: not given).
fn registry_key(validity: Option<u64>) -> Result<Option<RegistryKey>, Box<dyn std::error::Error>> {
    let Some(Some(path)) = REGISTRY_KEY.get() else {
        return Ok(None);
    };
    let validity = match validity {
        Some(v) => v,
        None => match std::env::var(VALIDITY_ENV) {
            Ok(v) if !v.is_empty() => parse_validity(&v)?,
            _ => ratchet_tlog_default_validity(),
        },
    };
    let sk = SecretKey::load_with(path, &mut ask_password)?;
    Ok(Some(RegistryKey::new(sk, validity)?))
}

fn ratchet_tlog_default_validity() -> u64 {
    24 * 3600
}

/// Opens a registry for a change: a signed registry (root.json) gets the registry key, which
/// it needs for every change (loaded only then, so unsigned registries never prompt).
fn open_for_change(dir: &std::path::Path) -> Result<Registry, Box<dyn std::error::Error>> {
    let reg = Registry::open(dir)?;
    if !reg.is_signed() {
        return Ok(reg);
    }
    Ok(match registry_key(None)? {
        Some(k) => reg.with_registry_key(k),
        None => reg,
    })
}

fn main() -> ExitCode {
    ratchet_term::restore_default_sigpipe();
    let cli: Cli = ratchet_term::parse_args();
    Output::from_args(&cli.global).install();
    let _ =
        REGISTRY_KEY
            .set(cli.registry_key.or_else(|| {
                std::env::var_os(ratchet_publish::REGISTRY_KEY_ENV).map(PathBuf::from)
            }));
    let result = match s3::registry_arg() {
        Ok(Some(url)) => s3::run(&url, &cli.command),
        Ok(None) => run_in_git_or_not(cli.command),
        Err(e) => Err(UsageError::new(e).into()),
    };
    match result {
        Ok(code) => code,
        Err(e) => ratchet_term::fail(e.as_ref()),
    }
}

/// Most attempts of one operation on a registry in git whose pushes are rejected.
const GIT_ATTEMPTS: u32 = 60;

/// The registry directory a command changes and the commit message saying what it does;
/// `None` for commands that change nothing (listings, dry runs, statements written to a file).
fn git_change(cmd: &Command) -> Option<(PathBuf, String)> {
    let name = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let (dir, what) = match cmd {
        Command::Init { dir, name: n, .. } => (
            dir,
            format!("init registry {}", n.clone().unwrap_or_else(|| name(dir))),
        ),
        Command::InitLog { dir, origin, .. } => (dir, format!("init-log {origin}")),
        Command::Timestamp { dir, .. } => (dir, "timestamp".into()),
        Command::MetaInIndex { dir } => (dir, "metadata lines in index files".into()),
        Command::Key(KeyCommand::Rotate { dir, .. }) => (dir, "rotate the registry key".into()),
        Command::Publish {
            dir,
            files,
            dry_run: false,
            ..
        } => (
            dir,
            format!(
                "publish {}",
                files.iter().map(name).collect::<Vec<_>>().join(", ")
            ),
        ),
        Command::Attest {
            dir,
            id,
            version,
            official,
            ..
        } => (
            dir,
            format!(
                "attest {id} {version} ({})",
                if *official { "official" } else { "community" }
            ),
        ),
        Command::Yank {
            dir,
            id,
            version,
            undo,
            dry_run: false,
        } => (
            dir,
            format!("{} {id} {version}", if *undo { "unyank" } else { "yank" }),
        ),
        Command::Unyank {
            dir,
            id,
            version,
            dry_run: false,
        } => (dir, format!("unyank {id} {version}")),
        Command::Deprecate { dir, id, undo, .. } => (
            dir,
            format!("{} {id}", if *undo { "undeprecate" } else { "deprecate" }),
        ),
        Command::Owner(OwnerCommand::Add {
            dir,
            id,
            statement_out: None,
            ..
        }) => (dir, format!("owner add {id}")),
        Command::Owner(OwnerCommand::Rotate {
            dir,
            id,
            statement_out: None,
            ..
        }) => (dir, format!("owner rotate {id}")),
        Command::Owner(OwnerCommand::Apply { dir, id, .. }) => (dir, format!("owner apply {id}")),
        Command::Verifier(VerifierCommand::Add { dir, name: n, .. }) => {
            (dir, format!("verifier add {n}"))
        }
        Command::Verifier(VerifierCommand::Remove { dir, key_id }) => {
            (dir, format!("verifier remove {key_id}"))
        }
        Command::Catalog(CatalogCommand::Rebuild { dir: Some(dir) }) => {
            (dir, "catalog rebuild".into())
        }
        Command::Stats(stats::StatsCommand::Ingest { registry: dir, .. }) => {
            (dir, "stats ingest".into())
        }
        Command::Stats(stats::StatsCommand::Related { registry: dir, .. }) => {
            (dir, "stats related".into())
        }
        Command::Gc {
            dir,
            dry_run: false,
        } => (dir, "gc".into()),
        Command::Policy(enterprise::PolicyCommand::Set { dir, .. }) => (dir, "policy set".into()),
        Command::Approver(enterprise::ApproverCommand::Add { dir, role, .. }) => {
            (dir, format!("approver add {role}"))
        }
        Command::Approve {
            dir, id, version, ..
        } => (dir, format!("approve {id} {version}")),
        _ => return None,
    };
    Some((dir.clone(), format!("ratchet-index: {what}")))
}

/// Runs a command; on a registry that is a git working tree (index-format.md §6.10), as one
/// commit pushed to the upstream, run again on the new upstream commit when another publisher
/// pushed first. Only the last attempt's output is shown.
fn run_in_git_or_not(cmd: Command) -> CliResult {
    let Some((dir, message)) = git_change(&cmd) else {
        return run(cmd);
    };
    let Some(tree) = git::Tree::detect(&dir)? else {
        return run(cmd);
    };
    tree.require_clean()?;
    let mut first = Some(cmd);
    for attempt in 1..=GIT_ATTEMPTS {
        tree.sync(attempt == 1)?;
        // A retry runs the command line again (the first parse is known to succeed).
        let cmd = first
            .take()
            .unwrap_or_else(|| ratchet_term::parse_args::<Cli>().command);
        let capture = git::Capture::start()?;
        let result = run(cmd);
        let captured = capture.finish()?;
        let committed = tree.commit(&message)?;
        let pushed = if committed {
            tree.push()?
        } else {
            git::Pushed::NoUpstream
        };
        if pushed == git::Pushed::Rejected {
            tree.discard()?;
            git::backoff(attempt);
            continue;
        }
        captured.replay();
        if committed {
            let head = tree.head()?;
            out().status(format_args!(
                "committed {} \"{}\"{}",
                &head[..head.len().min(12)],
                escape_line(&message),
                match (&pushed, tree.upstream()) {
                    (git::Pushed::Yes, Some(u)) if attempt > 1 => format!(
                        ", pushed to {} (after {} rejected push(es))",
                        escape_line(&u),
                        attempt - 1
                    ),
                    (git::Pushed::Yes, Some(u)) => format!(", pushed to {}", escape_line(&u)),
                    _ => " (no upstream: not pushed)".into(),
                }
            ));
        }
        return result;
    }
    Err(tree.contended(GIT_ATTEMPTS).into())
}

/// An unknown bundle id, said with the closest id of the registry's `names.txt`.
#[derive(Debug)]
struct UnknownId {
    source: PublishError,
    suggestion: Option<BundleId>,
}

impl std::fmt::Display for UnknownId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.source)?;
        match &self.suggestion {
            Some(s) => write!(f, "; did you mean `{s}`?"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for UnknownId {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Adds "did you mean" to an unknown-bundle error of `reg`; other errors pass unchanged.
fn hint(reg: &Registry, e: PublishError) -> Box<dyn std::error::Error> {
    match &e {
        PublishError::UnknownBundle(id) => {
            let suggestion = NamesFile::load(reg.root())
                .ok()
                .and_then(|n| n.suggest(id.as_str()).cloned());
            Box::new(UnknownId {
                source: e,
                suggestion,
            })
        }
        _ => Box::new(e),
    }
}

/// Refuses an id the registry does not hold, naming the closest one it does.
fn known(reg: &Registry, id: &BundleId) -> Result<(), Box<dyn std::error::Error>> {
    match reg.index_file(id) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(hint(reg, PublishError::UnknownBundle(id.clone()))),
        Err(e) => Err(e.into()),
    }
}

/// Sets (or with `undo` clears) a version's yanked flag, or says what would change.
fn yank(
    dir: &std::path::Path,
    id: &BundleId,
    version: &semver::Version,
    undo: bool,
    dry_run: bool,
) -> CliResult {
    let reg = open_for_change(dir)?;
    let yanked = !undo;
    let changed = if dry_run {
        let b = reg.bundle(id).map_err(|e| hint(&reg, e))?;
        let line = b
            .versions
            .iter()
            .find(|l| &l.version == version)
            .ok_or_else(|| PublishError::UnknownVersion(id.clone(), version.clone()))?;
        line.yanked != yanked
    } else {
        reg.set_yanked(id, version, yanked)
            .map_err(|e| hint(&reg, e))?
    };
    if out().json() {
        print_json(&json!({
            "id": id,
            "version": version.to_string(),
            "yanked": yanked,
            "changed": changed,
            "dry_run": dry_run,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let what = match (yanked, changed) {
        (true, true) if dry_run => "would be yanked",
        (true, true) => "yanked",
        (true, false) => "was already yanked",
        (false, true) if dry_run => "would be unyanked",
        (false, true) => "unyanked",
        (false, false) => "was not yanked",
    };
    println!("{id} {version} {what}");
    if dry_run {
        println!("dry run: nothing was written");
    }
    Ok(ExitCode::SUCCESS)
}

fn run(cmd: Command) -> CliResult {
    let o = out();
    match cmd {
        Command::Completions { shell } => {
            ratchet_term::completions(Cli::command(), shell, &mut std::io::stdout())?;
        }
        Command::Man { out: dir } => {
            let written = ratchet_term::man_pages(Cli::command(), dir.as_deref())?;
            if !written.is_empty() {
                o.status(format_args!("wrote {} man page(s)", written.len()));
            }
        }
        Command::Init {
            dir,
            name,
            kind,
            dl_url,
            auth_required,
            require_signatures,
            no_meta_in_index,
            origin,
        } => {
            let key = match &origin {
                Some(_) => Some(registry_key(None)?.ok_or(
                    "--origin signs the registry: give its secret key with --registry-key FILE (or RATCHET_REGISTRY_KEY)",
                )?),
                None => None,
            };
            let name = name.unwrap_or_else(|| {
                dir.canonicalize()
                    .unwrap_or_else(|_| dir.clone())
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "registry".into())
            });
            let mut config = RegistryConfig::new(name, kind);
            // New registries carry each bundle's metadata in its index file (§6.3.1).
            config.meta_in_index = !no_meta_in_index;
            if let Some(dl) = dl_url {
                config.dl = dl;
            }
            config.auth_required = auth_required;
            if require_signatures {
                config.policies.insert(
                    ratchet_trust::attest::REQUIRE_SIGNATURES.to_string(),
                    Value::Bool(true),
                );
            }
            let mut reg = Registry::init_with(&dir, config)?;
            let mut signed = None;
            if let (Some(origin), Some(key)) = (&origin, key) {
                reg = reg.with_registry_key(key);
                signed = Some(reg.init_log(origin)?);
            }
            let c = reg.config();
            if o.json() {
                let mut created = json!({
                    "dir": dir.display().to_string(),
                    "name": c.name,
                    "kind": c.kind.as_str(),
                    "dl": c.dl,
                    "auth_required": c.auth_required,
                    "require_signatures": attest::requires_signatures(c),
                });
                if let Some(s) = &signed {
                    created["signed"] = signed_json(s);
                }
                print_json(&json!({ "created": created }))?;
            } else {
                println!(
                    "Created {} registry `{}` in {}",
                    kind.as_str(),
                    escape_line(&c.name),
                    dir.display()
                );
                if c.auth_required {
                    println!("  clients send their credentials with every request (auth-required)");
                }
                if attest::requires_signatures(c) {
                    println!("  unsigned archives are refused (require-signatures)");
                }
                if let Some(s) = &signed {
                    print_signed("  signed", s);
                }
            }
        }
        Command::Publish {
            dir,
            files,
            publish_time: time,
            owner_key,
            dry_run,
        } => {
            let reg = open_for_change(&dir)?;
            let time = publish_time(time.as_deref())?;
            let owner_keys = owner_key
                .iter()
                .map(|p| PublicKey::load(p))
                .collect::<Result<Vec<_>, _>>()?;
            let mut published = Vec::new();
            let mut warnings = Vec::new();
            for (i, file) in files.iter().enumerate() {
                let result = if dry_run {
                    reg.check_publish(file, &time, &owner_keys)
                } else {
                    reg.publish_with(file, &time, &owner_keys)
                };
                match result {
                    Ok(p) => {
                        if !o.json() {
                            for w in &p.warnings {
                                eprintln!("{}", escape(&w.to_string()));
                            }
                            println!(
                                "{} {} {} ({} bytes, sha256 {}){}{}",
                                if dry_run {
                                    "Would publish"
                                } else {
                                    "Published"
                                },
                                p.line.id,
                                p.line.version,
                                p.line.size,
                                p.line.sha256,
                                p.line
                                    .signer
                                    .as_ref()
                                    .map(|s| format!(", signed by {s}"))
                                    .unwrap_or_else(|| ", UNSIGNED".into()),
                                if p.new_bundle { " (new bundle)" } else { "" }
                            );
                            if o.verbose(1) {
                                println!("  index file:   {}", p.index_file);
                                println!("  archive file: {}", p.archive_file);
                            }
                        }
                        published.push(p.summary_json());
                        warnings.extend(p.warnings);
                    }
                    Err(e) => {
                        if o.json() {
                            // What was published before the refusal is still said.
                            print_json(&json!({
                                "dry_run": dry_run,
                                "published": published,
                                "warnings": warnings,
                            }))?;
                        } else if i > 0 {
                            eprintln!(
                                "{} archive(s) before this one {}; the rest were not tried",
                                i,
                                if dry_run {
                                    "would be published"
                                } else {
                                    "were published"
                                }
                            );
                        }
                        return Err(e.into());
                    }
                }
            }
            if o.json() {
                print_json(&json!({
                    "dry_run": dry_run,
                    "published": published,
                    "warnings": warnings,
                }))?;
            } else if dry_run {
                println!("dry run: nothing was written");
            }
        }
        Command::Owner(cmd) => return owner(cmd),
        Command::Mirror {
            src,
            dst,
            ids,
            lockfile,
            allow_unsigned,
        } => return mirror::run(&src, &dst, ids, lockfile, allow_unsigned),
        Command::Stats(cmd) => return stats::run(cmd),
        Command::Site(args) => return site::run(args),
        Command::Verifier(cmd) => return verifier(cmd),
        Command::Policy(cmd) => return enterprise::policy(cmd),
        Command::Advisory(cmd) => return quality::advisory(cmd),
        Command::Approver(cmd) => return enterprise::approver(cmd),
        Command::Audit(cmd) => return enterprise::audit(cmd),
        Command::Approve {
            dir,
            id,
            version,
            scope,
            role,
            key,
            time,
        } => return enterprise::approve_cmd(dir, id, version, scope, role, key, time),
        Command::Approvals { dir, id, pending } => {
            return enterprise::approvals(dir, id, pending);
        }
        Command::Attest {
            dir,
            id,
            version,
            key,
            official,
            score,
            report,
            verification,
            time,
        } => {
            let reg = open_for_change(&dir)?;
            let b = reg.bundle(&id).map_err(|e| hint(&reg, e))?;
            let line = b
                .versions
                .iter()
                .find(|l| l.version == version)
                .ok_or_else(|| PublishError::UnknownVersion(id.clone(), version.clone()))?;
            let sk = SecretKey::load_with(&key, &mut ask_password)?;
            let date = publish_time(time.as_deref())?;
            let report = match &verification {
                Some(file) => Some(quality::store_report(
                    &reg,
                    file,
                    id.as_str(),
                    &version.to_string(),
                    &line.sha256,
                    sk.public(),
                    &date,
                )?),
                None => report,
            };
            let fields = AttestFields {
                kind: if official {
                    AttestKind::Official
                } else {
                    AttestKind::Community
                },
                id: id.to_string(),
                version: version.to_string(),
                sha256: line.sha256.clone(),
                date,
                score,
                report,
            };
            let a = if official {
                attest::attest(&fields, &sk)?
            } else {
                attest::attest_community(&fields, &sk)?
            };
            reg.add_attestation(a)?;
            let kind = if official { "official" } else { "community" };
            if o.json() {
                print_json(&json!({"attested": {
                    "id": id,
                    "version": version.to_string(),
                    "kind": kind,
                    "key_id": sk.public().key_id(),
                    "sha256": fields.sha256,
                    "report": fields.report,
                }}))?;
            } else {
                println!(
                    "{} attestation of {id} {version} by key {} added",
                    if official { "Official" } else { "Community" },
                    sk.public().key_id()
                );
            }
        }
        Command::Yank {
            dir,
            id,
            version,
            undo,
            dry_run,
        } => return yank(&dir, &id, &version, undo, dry_run),
        Command::Unyank {
            dir,
            id,
            version,
            dry_run,
        } => return yank(&dir, &id, &version, true, dry_run),
        Command::Deprecate {
            dir,
            id,
            message,
            replacement,
            undo,
            time,
        } => {
            let reg = open_for_change(&dir)?;
            known(&reg, &id)?;
            if undo {
                let changed = reg.undeprecate(&id)?;
                if o.json() {
                    print_json(&json!({"id": id, "deprecated": false, "changed": changed}))?;
                } else {
                    println!(
                        "{id} {}",
                        if changed {
                            "is no longer deprecated"
                        } else {
                            "was not deprecated"
                        }
                    );
                }
            } else {
                let Some(message) = message else {
                    return Err(UsageError::new("deprecate needs --message (or --undo)").into());
                };
                if replacement.as_ref() != Some(&id)
                    && let Some(r) = &replacement
                {
                    known(&reg, r)?;
                }
                reg.deprecate(
                    &id,
                    &message,
                    replacement.as_ref(),
                    &publish_time(time.as_deref())?,
                )
                .map_err(|e| hint(&reg, e))?;
                if o.json() {
                    print_json(&json!({
                        "id": id,
                        "deprecated": true,
                        "changed": true,
                        "message": message,
                        "replacement": replacement,
                    }))?;
                } else {
                    match replacement {
                        Some(r) => println!("{id} deprecated in favour of {r}"),
                        None => println!("{id} deprecated"),
                    }
                }
            }
        }
        Command::List { dir, id } => {
            let reg = Registry::open(&dir)?;
            let bundles = match &id {
                Some(id) => vec![reg.bundle(id).map_err(|e| hint(&reg, e))?],
                None => reg.list()?,
            };
            if o.json() {
                let list: Vec<_> = bundles
                    .iter()
                    .map(|b| {
                        json!({
                            "id": b.id,
                            "latest": b.latest().map(|l| l.version.to_string()),
                            "deprecated": b.deprecated,
                            "versions": b.versions,
                        })
                    })
                    .collect();
                print_json(&json!({"bundles": list}))?;
            } else if id.is_some() {
                let b = &bundles[0];
                if let Some(d) = &b.deprecated {
                    println!("{} is deprecated: {}", b.id, escape(&d.message));
                }
                let (meta, _) = reg.owners(&b.id)?;
                let records = attest::Records::of(b.id.as_str(), Some(&meta));
                for l in &b.versions {
                    let (status, _) = records.status_of(l, reg.config());
                    println!(
                        "{} {}  {} bytes  {}  {}  {}  {}{}",
                        l.id,
                        l.version,
                        l.size,
                        escape_line(&l.published),
                        escape_line(l.sha256.get(..12).unwrap_or(&l.sha256)),
                        l.signer
                            .as_ref()
                            .map_or("unsigned".to_string(), |s| format!(
                                "signed by {}",
                                escape_line(s)
                            )),
                        escape_line(&status.to_string()),
                        if l.yanked { "  (yanked)" } else { "" }
                    );
                }
            } else {
                for b in &bundles {
                    let latest = b
                        .latest()
                        .map_or("(all yanked)".to_string(), |l| l.version.to_string());
                    let dep = if b.deprecated.is_some() {
                        "  (deprecated)"
                    } else {
                        ""
                    };
                    println!("{}  {latest}  {} version(s){dep}", b.id, b.versions.len());
                }
                println!("{} bundle(s)", bundles.len());
            }
        }
        Command::Verify { dir } => {
            let reg = Registry::open(&dir)?;
            let report = reg.verify();
            let errors = report.errors().count();
            let warnings = report.diagnostics.len() - errors;
            if o.json() {
                print_json(&json!({
                    "registry": dir.display().to_string(),
                    "ok": report.is_ok(),
                    "bundles": report.bundles,
                    "versions": report.versions,
                    "archives": report.archives,
                    "errors": errors,
                    "warnings": warnings,
                    "diagnostics": report.diagnostics,
                }))?;
                return Ok(if report.is_ok() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            for d in &report.diagnostics {
                eprintln!("{}", escape(&d.to_string()));
            }
            let summary = format!(
                "{} bundle(s), {} version(s), {} archive(s): {errors} error(s), {warnings} warning(s)",
                report.bundles, report.versions, report.archives
            );
            if report.is_ok() {
                println!("{} is consistent: {summary}", dir.display());
            } else {
                eprintln!("{} is NOT consistent: {summary}", dir.display());
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Catalog(CatalogCommand::Rebuild { dir }) => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            let reg = Registry::open(&dir)?;
            let r = reg.catalog_rebuild()?;
            if o.json() {
                print_json(&json!({"catalog": {
                    "bundles": r.bundles,
                    "searchable": r.searchable,
                    "files": r.written.files,
                    "bytes": r.written.bytes,
                }}))?;
            } else {
                println!(
                    "Rebuilt the search catalog of {}: {} searchable bundle(s) of {}, {} file(s), {} bytes",
                    escape_line(&dir.display().to_string()),
                    r.searchable,
                    r.bundles,
                    r.written.files,
                    r.written.bytes
                );
            }
        }
        Command::InitLog { dir, origin, time } => {
            let time = time
                .as_deref()
                .map(ratchet_publish::parse_time_secs)
                .transpose()?;
            let key = registry_key(None)?.ok_or(
                "init-log signs the registry: give its secret key with --registry-key FILE (or RATCHET_REGISTRY_KEY)",
            )?;
            let reg = Registry::open(&dir)?.with_registry_key(key);
            let s = reg.init_log_at(&origin, time)?;
            if o.json() {
                print_json(&json!({"signed": signed_json(&s)}))?;
            } else {
                print_signed(&format!("{}: signed", dir.display()), &s);
            }
        }
        Command::Timestamp {
            dir,
            validity,
            mirror_key,
        } => {
            let validity = parse_validity(&validity)?;
            let mut reg = Registry::open(&dir)?;
            let mirror = match mirror_key {
                Some(p) => Some(RegistryKey::new(
                    SecretKey::load_with(&p, &mut ask_password)?,
                    validity,
                )?),
                None => {
                    if let Some(k) = registry_key(Some(validity))? {
                        reg = reg.with_registry_key(k);
                    }
                    None
                }
            };
            let s = reg.refresh_timestamp(mirror.as_ref())?;
            if o.json() {
                print_json(&json!({"timestamp": signed_json(&s), "validity_secs": validity}))?;
            } else {
                print_signed(
                    &format!("{}: timestamp re-signed for {validity} s,", dir.display()),
                    &s,
                );
            }
        }
        Command::MetaInIndex { dir } => {
            let mut reg = open_for_change(&dir)?;
            let was_on = reg.config().meta_in_index;
            let ids = reg.enable_meta_in_index()?;
            if o.json() {
                print_json(&json!({"meta_in_index": true, "was_on": was_on, "rewritten": ids}))?;
            } else {
                for id in &ids {
                    println!("wrote the metadata line of {id}");
                }
                println!(
                    "{}: meta-in-index {}, {} index file(s) rewritten",
                    escape_line(&dir.display().to_string()),
                    if was_on { "was on" } else { "turned on" },
                    ids.len()
                );
            }
        }
        Command::Log { dir, from, limit } => {
            let reg = Registry::open(&dir)?;
            let entries = reg.log_entries(from, limit)?;
            if o.json() {
                let list: Vec<Value> = entries
                    .iter()
                    .map(|(i, e)| {
                        json!({
                            "index": i,
                            "kind": e.kind.as_str(),
                            "id": e.id,
                            "version": e.version,
                            "archive": e.archive.as_ref().map(ratchet_tlog::hash::to_hex),
                            "time": ratchet_tlog::entry::format_time(e.time),
                            "state": ratchet_tlog::hash::to_hex(&e.state),
                            "files": e.files.iter().map(|f| json!({
                                "path": f.path,
                                "sha256": f.digest.map(|d| ratchet_tlog::hash::to_hex(&d.sha256)),
                                "size": f.digest.map(|d| d.size),
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                print_json(&json!({"entries": list}))?;
            } else {
                for (i, e) in &entries {
                    println!(
                        "{i:>6}  {}  {:<12} {} {}",
                        ratchet_tlog::entry::format_time(e.time),
                        e.kind.as_str(),
                        escape_line(e.id.as_deref().unwrap_or("-")),
                        escape_line(e.version.as_deref().unwrap_or("-")),
                    );
                    for f in &e.files {
                        match f.digest {
                            Some(d) => println!(
                                "        {} {} {}",
                                escape_line(&f.path),
                                ratchet_tlog::hash::to_hex(&d.sha256),
                                d.size
                            ),
                            None => println!("        {} removed", escape_line(&f.path)),
                        }
                    }
                }
                if entries.is_empty() {
                    println!("no entries from {from} on");
                }
            }
        }
        Command::Key(KeyCommand::Rotate { dir, new_key }) => {
            let reg = open_for_change(&dir)?;
            if !reg.is_signed() {
                return Err(format!(
                    "{} has no registry key yet: give it one with `ratchet-index init-log`",
                    dir.display()
                )
                .into());
            }
            let new = SecretKey::load_with(&new_key, &mut ask_password)?;
            let validity = match std::env::var(VALIDITY_ENV) {
                Ok(v) if !v.is_empty() => parse_validity(&v)?,
                _ => ratchet_tlog_default_validity(),
            };
            let s = reg.rotate_registry_key(RegistryKey::new(new, validity)?)?;
            if o.json() {
                print_json(&json!({"rotated": signed_json(&s)}))?;
            } else {
                print_signed(&format!("{}: registry key rotated;", dir.display()), &s);
            }
        }
        Command::Key(KeyCommand::Show { dir }) => {
            let reg = Registry::open(&dir)?;
            let s = reg.signed_state()?;
            if o.json() {
                print_json(&json!({"signed": s.as_ref().map(signed_json)}))?;
            } else {
                match s {
                    Some(s) => print_signed(&dir.display().to_string(), &s),
                    None => println!(
                        "{} has no registry key (unsigned; `ratchet-index init-log` adds one)",
                        dir.display()
                    ),
                }
            }
        }
        Command::Gc { dir, dry_run } => {
            let r = Registry::open(&dir)?.gc_with(dry_run)?;
            if o.json() {
                print_json(&json!({
                    "dry_run": dry_run,
                    "removed_archives": r.removed_archives,
                    "removed_temp_files": r.removed_temp_files,
                    "added_names": r.added_names,
                    "repaired_names_tail": r.repaired_names_tail,
                    "rebuilt_catalog": r.rebuilt_catalog,
                    "removed_integrity": r.removed_integrity,
                    "rewritten_hints": r.rewritten_hints,
                    "removed_hints": r.removed_hints,
                    "rewritten_meta_lines": r.rewritten_meta_lines,
                }))?;
                return Ok(ExitCode::SUCCESS);
            }
            let (remove, add, cut) = if dry_run {
                ("would remove", "would add", "would cut")
            } else {
                ("removed", "added", "cut")
            };
            for a in &r.removed_archives {
                println!("{remove} unreferenced archive {}", escape_line(a));
            }
            for t in &r.removed_temp_files {
                println!("{remove} temporary file {}", escape_line(t));
            }
            for id in &r.added_names {
                println!("{add} {id} to names.txt");
            }
            if r.rebuilt_catalog {
                println!(
                    "{} the search catalog, which was behind the index",
                    if dry_run { "would rebuild" } else { "rebuilt" }
                );
            }
            if r.repaired_names_tail {
                println!("{cut} a torn last line off names.txt");
            }
            for id in &r.rewritten_hints {
                println!(
                    "{} the prefetch hint of {id}",
                    if dry_run { "would update" } else { "updated" }
                );
            }
            for f in &r.removed_hints {
                println!("{remove} prefetch file {}", escape_line(f));
            }
            for id in &r.rewritten_meta_lines {
                println!(
                    "{} the metadata line of {id}'s index file",
                    if dry_run { "would rewrite" } else { "rewrote" }
                );
            }
            if !r.removed_integrity.is_empty() {
                println!(
                    "{remove} {} map node and log tile file(s) no recent snapshot needs",
                    r.removed_integrity.len()
                );
                if out().verbose(1) {
                    for f in &r.removed_integrity {
                        println!("  {}", escape_line(f));
                    }
                }
            }
            println!(
                "gc{}: {} archive(s) and {} temporary file(s) {remove}, {} name(s) {add}",
                if dry_run {
                    " (dry run, nothing changed)"
                } else {
                    ""
                },
                r.removed_archives.len(),
                r.removed_temp_files.len(),
                r.added_names.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn owner(cmd: OwnerCommand) -> CliResult {
    let o = out();
    let owners_json = |v: &ratchet_trust::owners::VerifiedOwners| -> Vec<String> {
        v.current.iter().map(PublicKey::key_id).collect()
    };
    match cmd {
        OwnerCommand::Show { dir, id } => {
            let reg = Registry::open(&dir)?;
            known(&reg, &id)?;
            let (_, owners) = reg.owners(&id)?;
            if o.json() {
                let doc = match &owners {
                    Some((chain, v)) => json!({
                        "id": id,
                        "owners": owners_json(v),
                        "chain": chain.chain.iter().map(|e| e.statement.clone()).collect::<Vec<_>>(),
                    }),
                    None => json!({"id": id, "owners": [], "chain": []}),
                };
                print_json(&doc)?;
                return Ok(ExitCode::SUCCESS);
            }
            let Some((chain, v)) = owners else {
                println!("{id} has no owners (no signed version published yet)");
                return Ok(ExitCode::SUCCESS);
            };
            for (n, e) in chain.chain.iter().enumerate() {
                println!("{n}: {}", escape(&e.statement));
            }
            println!(
                "owner chain valid; current owner key(s): {}",
                owners_json(&v).join(", ")
            );
        }
        OwnerCommand::Add {
            dir,
            id,
            key,
            new,
            statement_out,
        } => change_owners(&dir, &id, &key, &new, statement_out, false)?,
        OwnerCommand::Rotate {
            dir,
            id,
            key,
            new,
            statement_out,
        } => change_owners(&dir, &id, &key, &new, statement_out, true)?,
        OwnerCommand::Apply { dir, id, file } => {
            let reg = open_for_change(&dir)?;
            known(&reg, &id)?;
            let text = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let entry: ChainEntry = serde_json::from_slice(&text)
                .map_err(|e| format!("{}: not a statement file: {e}", file.display()))?;
            let v = reg.add_owner_statement(&id, entry)?;
            if o.json() {
                print_json(&json!({"id": id, "applied": v.seq(), "owners": owners_json(&v)}))?;
            } else {
                println!(
                    "{id}: owner statement {} applied; owner key(s) now {}",
                    v.seq(),
                    owners_json(&v).join(", ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verifier(cmd: VerifierCommand) -> CliResult {
    let o = out();
    match cmd {
        VerifierCommand::Add { dir, name, key } => {
            let mut reg = open_for_change(&dir)?;
            let pk = PublicKey::load(&key)?;
            reg.add_verifier(&name, &pk)?;
            if o.json() {
                print_json(
                    &json!({"added": {"name": name, "key_id": pk.key_id(), "key": pk.to_base64()}}),
                )?;
            } else {
                println!(
                    "{}: verifier {} ({}) added",
                    dir.display(),
                    escape_line(&name),
                    pk.key_id()
                );
            }
        }
        VerifierCommand::List { dir } => {
            let reg = Registry::open(&dir)?;
            let (keys, warnings) = attest::verifier_keys(reg.config());
            if o.json() {
                let list: Vec<_> = keys
                    .iter()
                    .map(|k| json!({"key_id": k.key.key_id(), "name": k.name, "key": k.key.to_base64()}))
                    .collect();
                print_json(&json!({"verifiers": list, "warnings": warnings}))?;
                return Ok(ExitCode::SUCCESS);
            }
            for w in warnings {
                o.warn(escape(&w.to_string()));
            }
            if keys.is_empty() {
                println!("no verifier keys (`ratchet-index verifier add`)");
            }
            for k in keys {
                println!(
                    "{}  {}  {}",
                    k.key.key_id(),
                    escape_line(&k.name),
                    k.key.to_base64()
                );
            }
        }
        VerifierCommand::Remove { dir, key_id } => {
            let mut reg = open_for_change(&dir)?;
            if reg.remove_verifier(&key_id)? {
                if o.json() {
                    print_json(&json!({"removed": key_id}))?;
                } else {
                    println!("{}: verifier {key_id} removed", dir.display());
                }
            } else {
                return Err(format!("no verifier key {key_id} in {}", dir.display()).into());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Makes an add (current keys + new) or rotate (current keys - signer + new) statement signed
/// by `key`, and applies it or writes it to `statement_out`.
fn change_owners(
    dir: &std::path::Path,
    id: &BundleId,
    key: &std::path::Path,
    new: &std::path::Path,
    statement_out: Option<PathBuf>,
    rotate: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let reg = open_for_change(dir)?;
    known(&reg, id)?;
    let sk = SecretKey::load_with(key, &mut ask_password)?;
    let new_key = PublicKey::load(new)?;
    let (_, owners) = reg.owners(id)?;
    let (chain, v) = owners
        .ok_or_else(|| format!("{id} has no owners yet: its first signed publish records them"))?;
    let mut keys: Vec<PublicKey> = v
        .current
        .iter()
        .filter(|k| !(rotate && *k == sk.public()))
        .cloned()
        .collect();
    if keys.contains(&new_key) {
        return Err(format!("key {} is already an owner of {id}", new_key.key_id()).into());
    }
    keys.push(new_key);
    // Rotating the signing key out: what it signed so far stays installable (the statement
    // lists it); anything it signs later is refused.
    let retired = if rotate {
        Some(reg.signed_by(id, &sk.public().key_id())?)
    } else {
        None
    };
    let entry = chain.statement(id.as_str(), &keys, &sk, retired)?;
    match statement_out {
        Some(out) => {
            let mut text = serde_json::to_string_pretty(&entry)?;
            text.push('\n');
            std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
            if ratchet_term::out().json() {
                print_json(&json!({"id": id, "statement_out": out.display().to_string()}))?;
            } else {
                println!(
                    "wrote the signed statement to {}; the registry applies it with `ratchet-index owner apply`",
                    out.display()
                );
            }
        }
        None => {
            let v = reg.add_owner_statement(id, entry)?;
            let owners: Vec<String> = v.current.iter().map(PublicKey::key_id).collect();
            if ratchet_term::out().json() {
                print_json(&json!({"id": id, "applied": v.seq(), "owners": owners}))?;
            } else {
                println!("{id}: owner key(s) now {}", owners.join(", "));
            }
        }
    }
    Ok(())
}

/// JSON form of a signed state.
fn signed_json(s: &SignedState) -> Value {
    json!({
        "origin": s.origin,
        "snapshot": s.size,
        "log_root": s.log_root,
        "state_root": s.state_root,
        "registry_key": s.key_id,
    })
}

fn print_signed(head: &str, s: &SignedState) {
    println!(
        "{head} origin {}, snapshot {}, registry key {}",
        escape_line(&s.origin),
        s.size,
        s.key_id
    );
}

/// Reads a secret key's password from the terminal without echo (when `RATCHET_KEY_PASSWORD`
/// is unset): the password source the trust library asks through.
fn ask_password(prompt: &str) -> std::io::Result<String> {
    rpassword::prompt_password(prompt)
}
