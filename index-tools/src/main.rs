//! `ratchet-index`: maintains a static Ratchet registry directory.
//!
//! A thin command line over `ratchet_publish` (the operations) and `ratchet_formats::index` (the file
//! formats): it parses arguments, calls the library and prints. The format it writes is
//! specified in `index-format.md`, section 6.

use clap::{Parser, Subcommand};
use ratchet_formats::index::RegistryKind;
use ratchet_formats::manifest::BundleId;
use ratchet_publish::{Registry, publish_time};
use ratchet_term::{Format, GlobalArgs, Output};
use ratchet_trust::attest::{self, AttestFields, AttestKind};
use ratchet_trust::keys::{PublicKey, SecretKey};
use ratchet_trust::owners::ChainEntry;
use std::path::PathBuf;
use std::process::ExitCode;

/// Maintain a static Ratchet registry: publish archives, yank, deprecate, list, verify.
#[derive(Parser)]
#[command(name = "ratchet-index", version, about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
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
    },
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
    },
    /// Show or change the owner keys of a bundle (changes are statements signed by an owner).
    #[command(subcommand)]
    Owner(OwnerCommand),
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
        #[arg(long)]
        report: Option<String>,
        /// Attestation time (RFC 3339 or Unix seconds; default: SOURCE_DATE_EPOCH, else now).
        #[arg(long)]
        time: Option<String>,
    },
    /// Mark a version yanked: new resolutions avoid it, locked installs still get it.
    Yank {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
        /// Version.
        version: semver::Version,
    },
    /// Clear a version's yanked flag.
    Unyank {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
        /// Version.
        version: semver::Version,
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
    /// Remove unreferenced archives and temporary files left by interrupted publishes, and
    /// repair names.txt.
    Gc {
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

fn main() -> ExitCode {
    ratchet_term::restore_default_sigpipe();
    let cli = Cli::parse();
    Output::from_args(&cli.global).install();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            ratchet_term::report_error(e.as_ref());
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Command) -> CliResult {
    match cmd {
        Command::Init {
            dir,
            name,
            kind,
            dl_url,
        } => {
            let name = name.unwrap_or_else(|| {
                dir.canonicalize()
                    .unwrap_or_else(|_| dir.clone())
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "registry".into())
            });
            let reg = Registry::init(&dir, &name, kind, dl_url.as_deref())?;
            println!(
                "Created {} registry `{}` in {}",
                kind.as_str(),
                reg.config().name,
                dir.display()
            );
        }
        Command::Publish {
            dir,
            files,
            publish_time: time,
            owner_key,
        } => {
            let reg = Registry::open(&dir)?;
            let time = publish_time(time.as_deref())?;
            let owner_keys = owner_key
                .iter()
                .map(|p| PublicKey::load(p))
                .collect::<Result<Vec<_>, _>>()?;
            for (i, file) in files.iter().enumerate() {
                match reg.publish_with(file, &time, &owner_keys) {
                    Ok(p) => {
                        for w in &p.warnings {
                            eprintln!("{w}");
                        }
                        println!(
                            "Published {} {} ({} bytes, sha256 {}){}{}",
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
                    }
                    Err(e) => {
                        if i > 0 {
                            eprintln!(
                                "{} archive(s) before this one were published; the rest were not tried",
                                i
                            );
                        }
                        return Err(e.into());
                    }
                }
            }
        }
        Command::Owner(cmd) => return owner(cmd),
        Command::Verifier(cmd) => return verifier(cmd),
        Command::Attest {
            dir,
            id,
            version,
            key,
            official,
            score,
            report,
            time,
        } => {
            let reg = Registry::open(&dir)?;
            let b = reg.bundle(&id)?;
            let line = b
                .versions
                .iter()
                .find(|l| l.version == version)
                .ok_or_else(|| format!("{id} {version} is not in this registry"))?;
            let sk = SecretKey::load_with(&key, &mut ask_password)?;
            let fields = AttestFields {
                kind: if official {
                    AttestKind::Official
                } else {
                    AttestKind::Community
                },
                id: id.to_string(),
                version: version.to_string(),
                sha256: line.sha256.clone(),
                date: publish_time(time.as_deref())?,
                score,
                report,
            };
            let a = if official {
                attest::attest(&fields, &sk)?
            } else {
                attest::attest_community(&fields, &sk)?
            };
            reg.add_attestation(a)?;
            println!(
                "{} attestation of {id} {version} by key {} added",
                if official { "Official" } else { "Community" },
                sk.public().key_id()
            );
        }
        Command::Yank { dir, id, version } => {
            let changed = Registry::open(&dir)?.set_yanked(&id, &version, true)?;
            println!(
                "{id} {version} {}",
                if changed {
                    "yanked"
                } else {
                    "was already yanked"
                }
            );
        }
        Command::Unyank { dir, id, version } => {
            let changed = Registry::open(&dir)?.set_yanked(&id, &version, false)?;
            println!(
                "{id} {version} {}",
                if changed {
                    "unyanked"
                } else {
                    "was not yanked"
                }
            );
        }
        Command::Deprecate {
            dir,
            id,
            message,
            replacement,
            undo,
            time,
        } => {
            let reg = Registry::open(&dir)?;
            if undo {
                let changed = reg.undeprecate(&id)?;
                println!(
                    "{id} {}",
                    if changed {
                        "is no longer deprecated"
                    } else {
                        "was not deprecated"
                    }
                );
            } else {
                let message = message.expect("clap requires --message");
                reg.deprecate(
                    &id,
                    &message,
                    replacement.as_ref(),
                    &publish_time(time.as_deref())?,
                )?;
                match replacement {
                    Some(r) => println!("{id} deprecated in favour of {r}"),
                    None => println!("{id} deprecated"),
                }
            }
        }
        Command::List { dir, id } => {
            let format = ratchet_term::out().format;
            let reg = Registry::open(&dir)?;
            let bundles = match &id {
                Some(id) => vec![reg.bundle(id)?],
                None => reg.list()?,
            };
            match format {
                Format::Json => {
                    let out: Vec<_> = bundles
                        .iter()
                        .map(|b| {
                            serde_json::json!({
                                "id": b.id,
                                "latest": b.latest().map(|l| l.version.to_string()),
                                "deprecated": b.deprecated,
                                "versions": b.versions,
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&out)?);
                }
                Format::Text if id.is_some() => {
                    let b = &bundles[0];
                    if let Some(d) = &b.deprecated {
                        println!("{} is deprecated: {}", b.id, d.message);
                    }
                    let (meta, _) = reg.owners(&b.id)?;
                    let records = attest::Records::of(b.id.as_str(), Some(&meta));
                    for l in &b.versions {
                        let (status, _) = records.status_of(l, reg.config());
                        println!(
                            "{} {}  {} bytes  {}  {}  {}  {status}{}",
                            l.id,
                            l.version,
                            l.size,
                            l.published,
                            &l.sha256[..12],
                            l.signer
                                .as_ref()
                                .map_or("unsigned".to_string(), |s| format!("signed by {s}")),
                            if l.yanked { "  (yanked)" } else { "" }
                        );
                    }
                }
                Format::Text => {
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
        }
        Command::Verify { dir } => {
            let reg = Registry::open(&dir)?;
            let report = reg.verify();
            for d in &report.diagnostics {
                eprintln!("{d}");
            }
            let errors = report.errors().count();
            let warnings = report.diagnostics.len() - errors;
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
        Command::Gc { dir } => {
            let r = Registry::open(&dir)?.gc()?;
            for a in &r.removed_archives {
                println!("removed unreferenced archive {a}");
            }
            for t in &r.removed_temp_files {
                println!("removed temporary file {t}");
            }
            for id in &r.added_names {
                println!("added {id} to names.txt");
            }
            if r.repaired_names_tail {
                println!("cut a torn last line off names.txt");
            }
            println!(
                "gc: {} archive(s) and {} temporary file(s) removed, {} name(s) added",
                r.removed_archives.len(),
                r.removed_temp_files.len(),
                r.added_names.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn owner(cmd: OwnerCommand) -> CliResult {
    match cmd {
        OwnerCommand::Show { dir, id } => {
            let reg = Registry::open(&dir)?;
            let (_, owners) = reg.owners(&id)?;
            let Some((chain, v)) = owners else {
                println!("{id} has no owners (no signed version published yet)");
                return Ok(ExitCode::SUCCESS);
            };
            for (n, e) in chain.chain.iter().enumerate() {
                println!("{n}: {}", e.statement);
            }
            println!(
                "owner chain valid; current owner key(s): {}",
                v.current
                    .iter()
                    .map(PublicKey::key_id)
                    .collect::<Vec<_>>()
                    .join(", ")
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
            let reg = Registry::open(&dir)?;
            let text = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let entry: ChainEntry = serde_json::from_slice(&text)
                .map_err(|e| format!("{}: not a statement file: {e}", file.display()))?;
            let v = reg.add_owner_statement(&id, entry)?;
            println!(
                "{id}: owner statement {} applied; owner key(s) now {}",
                v.seq(),
                v.current
                    .iter()
                    .map(PublicKey::key_id)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verifier(cmd: VerifierCommand) -> CliResult {
    match cmd {
        VerifierCommand::Add { dir, name, key } => {
            let mut reg = Registry::open(&dir)?;
            let pk = PublicKey::load(&key)?;
            reg.add_verifier(&name, &pk)?;
            println!("{}: verifier {name} ({}) added", dir.display(), pk.key_id());
        }
        VerifierCommand::List { dir } => {
            let reg = Registry::open(&dir)?;
            let (keys, warnings) = attest::verifier_keys(reg.config());
            for w in warnings {
                eprintln!("warning: {w}");
            }
            if keys.is_empty() {
                println!("no verifier keys (`ratchet-index verifier add`)");
            }
            for k in keys {
                println!("{}  {}  {}", k.key.key_id(), k.name, k.key.to_base64());
            }
        }
        VerifierCommand::Remove { dir, key_id } => {
            let mut reg = Registry::open(&dir)?;
            if reg.remove_verifier(&key_id)? {
                println!("{}: verifier {key_id} removed", dir.display());
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
    let reg = Registry::open(dir)?;
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
            println!(
                "wrote the signed statement to {}; the registry applies it with `ratchet-index owner apply`",
                out.display()
            );
        }
        None => {
            let v = reg.add_owner_statement(id, entry)?;
            println!(
                "{id}: owner key(s) now {}",
                v.current
                    .iter()
                    .map(PublicKey::key_id)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(())
}

/// Reads a secret key's password from the terminal without echo (when `RATCHET_KEY_PASSWORD`
/// is unset): the password source the trust library asks through.
fn ask_password(prompt: &str) -> std::io::Result<String> {
    rpassword::prompt_password(prompt)
}
