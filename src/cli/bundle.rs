//! `ratchet bundle ...`: init, validate, test, dev.

use super::CliResult;
use clap::Subcommand;
use ratchet_client::paths::Paths;
use ratchet_formats::archive::{self, BuildOptions, Limits};
use ratchet_formats::diagnostic::Diagnostic;
use ratchet_formats::manifest::Platform;
use ratchet_sandbox::bundle_test::{Verdict, test_bundle, write_verification};
use ratchet_sandbox::{Policy, Runtime};
use ratchet_term::{Format, escape, escape_line, out, print_json};
use ratchet_validate::validate_bundle;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum BundleCommand {
    /// Create a new bundle with one example task that validates and builds as is.
    Init {
        /// Directory to create the bundle in (default: current directory).
        dir: Option<PathBuf>,
        /// Bundle id (reverse-DNS, e.g. com.example.my-bundle); default from the directory name.
        #[arg(long)]
        id: Option<String>,
    },
    /// Check a bundle directory and report every problem at once.
    Validate {
        /// Bundle directory (default: current directory).
        dir: Option<PathBuf>,
    },
    /// Validate a bundle directory and pack it into a reproducible `<id>-<version>.rbundle`.
    ///
    /// Files matched by `.ratchetignore` and version-control directories are left out.
    /// `SOURCE_DATE_EPOCH` sets the time stamp written into the archive. The same sources give
    /// the same bytes; a signed archive differs from another signing of them only in
    /// `bundle.sig` (minisign signatures are randomised).
    Build {
        /// Bundle directory (default: current directory).
        dir: Option<PathBuf>,
        /// Archive file to write, or a directory to write `<id>-<version>.rbundle` in (an
        /// existing one, or any path ending in `/`, created if needed; default: the current
        /// directory).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Sign the archive (writes bundle.sig) with this secret key; `--sign` alone uses
        /// DATA/keys/author.key (made by `ratchet key generate`).
        #[arg(long, value_name = "SECRET_KEY", num_args = 0..=1)]
        #[allow(clippy::option_option)]
        sign: Option<Option<PathBuf>>,
    },
    /// Sign an archive: add bundle.sig, a minisign signature over .bundle/checksum.sha256 bound
    /// to the bundle id, version and checksum list.
    Sign {
        /// The `.rbundle` file (rewritten in place).
        file: PathBuf,
        /// Secret key (default: DATA/keys/author.key).
        #[arg(long, conflicts_with = "signature")]
        key: Option<PathBuf>,
        /// Attach this signature made elsewhere (e.g. by the minisign tool) instead.
        #[arg(long, requires = "public")]
        signature: Option<PathBuf>,
        /// Public key the attached signature must verify against.
        #[arg(long = "pub")]
        public: Option<PathBuf>,
        /// Print the trusted comment a signature of this archive must carry, and exit.
        #[arg(long)]
        print_comment: bool,
        /// Print the archive's bundle.sig (to keep or check it with `minisign -V`), and exit.
        #[arg(long, conflicts_with = "print_comment")]
        print_signature: bool,
    },
    /// Check every file hash and the signature of an archive; says exactly what failed.
    Verify {
        /// The `.rbundle` file.
        file: PathBuf,
        /// Public key the signature must be by (default: your keys in DATA/keys and the owner
        /// keys this client pinned for the bundle when it installed it).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Verify an archive and show its manifest and files, without extracting it.
    Inspect {
        /// The `.rbundle` file.
        file: PathBuf,
    },
    /// Run every task's tests and the local quality checks; write .bundle/verification.json.
    ///
    /// A Ratchet task directory without bundle.yaml is tested on its own (nothing written).
    Test {
        /// Bundle directory, or a bare Ratchet task directory (default: current directory).
        dir: Option<PathBuf>,
    },
    /// Run the full quality check of a bundle directory or archive: its tests, performance,
    /// compatibility with this runtime, the static security scan and security advisories.
    Check(super::check::CheckArgs),
    /// Turn a Ratchet task repository or task directory into bundles that validate, test and
    /// build as they are.
    Import(super::import::ImportArgs),
    /// Resolve, download, verify and install bundles from a registry.
    Install(super::install::InstallArgs),
    /// Move installed bundles to newer versions, changing as little as possible.
    Update(super::install::UpdateArgs),
    /// List installed bundles that have newer versions in the registry.
    Outdated(super::install::OutdatedArgs),
    /// List installed bundles.
    List,
    /// Remove installed bundles (refused while another installed bundle needs them).
    Remove(super::install::RemoveArgs),
    /// Search the registries' catalogs (every configured registry, or --registry).
    Search(super::search::SearchArgs),
    /// List the categories of the registries' bundles, with how many bundles each has.
    Categories(super::search::SearchRegistryArgs),
    /// List the registries' tags (keywords) with how many bundles have each.
    Tags(super::search::TagsArgs),
    /// Show every version of a bundle in a registry.
    Info {
        /// Bundle id.
        id: String,
        #[command(flatten)]
        reg: super::install::RegistryArgs,
    },
    /// Resolve a bundle and print its dependency graph.
    Deps {
        /// `ID` or `ID@REQUIREMENT`.
        spec: String,
        #[command(flatten)]
        reg: super::install::RegistryArgs,
        /// Show who depends on each bundle instead.
        #[arg(long)]
        invert: bool,
    },
    /// Publish an archive into a local registry (a directory or file:// URL).
    Publish(super::publish::PublishArgs),
    /// Pack the locked bundles (archives, their index lines and trust records) into one tar
    /// file that is a registry directory, for a machine without network access: there,
    /// `ratchet registry add NAME FILE.tar` and `ratchet bundle install --locked --registry NAME`.
    Vendor {
        /// The lockfile (default: the one in the data directory).
        #[arg(long, value_name = "FILE")]
        lockfile: Option<PathBuf>,
        /// The tar file to write.
        #[arg(short = 'o', long = "out", value_name = "FILE.tar")]
        out: PathBuf,
        /// Use only the cache (no network).
        #[arg(long)]
        offline: bool,
        /// Accept unsigned bundles of a local registry, as `install --allow-unsigned` does.
        #[arg(long)]
        allow_unsigned: bool,
    },
    /// Watch the bundle and re-validate and re-test on every change.
    Dev {
        /// Bundle directory (default: current directory).
        dir: Option<PathBuf>,
        /// Polling interval in milliseconds.
        #[arg(long, default_value_t = 500)]
        interval: u64,
        /// Stop after this many rounds (for scripts and tests; default: run until interrupted).
        #[arg(long, hide = true)]
        rounds: Option<u32>,
    },
}

pub fn run(cmd: BundleCommand) -> CliResult {
    match cmd {
        BundleCommand::Publish(args) => super::publish::run(args),
        BundleCommand::Vendor {
            lockfile,
            out: file,
            offline,
            allow_unsigned,
        } => vendor(lockfile, &file, offline, allow_unsigned),
        BundleCommand::Build { dir, out, sign } => {
            build(dir.unwrap_or_else(|| PathBuf::from(".")), out, sign)
        }
        BundleCommand::Sign {
            file,
            key,
            signature,
            public,
            print_comment,
            print_signature,
        } => {
            if print_signature {
                let a = archive::read_archive_file(&file, &Limits::default())?;
                let Some(sig) = a.signature else {
                    return Err(format!("{} is not signed", file.display()).into());
                };
                let sig = String::from_utf8_lossy(&sig);
                if out().json() {
                    print_json(&json!({"signature": sig}))?;
                } else {
                    print!("{}", escape(&sig));
                }
                return Ok(ExitCode::SUCCESS);
            }
            sign(&file, key, signature, public, print_comment)
        }
        BundleCommand::Verify { file, key } => verify(&file, key),
        BundleCommand::Install(args) => super::install::install(args),
        BundleCommand::Update(args) => super::install::update(args),
        BundleCommand::Outdated(args) => super::install::outdated(args, out().format),
        BundleCommand::List => super::install::list(out().format),
        BundleCommand::Remove(args) => super::install::remove(args),
        BundleCommand::Search(args) => super::search::search(args),
        BundleCommand::Categories(reg) => super::search::categories(reg),
        BundleCommand::Tags(args) => super::search::tags(args),
        BundleCommand::Info { id, reg } => super::install::info(id, reg, out().format),
        BundleCommand::Deps { spec, reg, invert } => {
            super::install::deps(spec, reg, invert, out().format)
        }
        BundleCommand::Inspect { file } => inspect(&file, out().format),
        BundleCommand::Init { dir, id } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            let files = ratchet_validate::scaffold::init_bundle(&dir, id.as_deref())?;
            if out().json() {
                let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                print_json(
                    &json!({"created": {"dir": dir.display().to_string(), "files": files}}),
                )?;
            } else {
                println!(
                    "Created bundle in {} ({} files)",
                    dir.display(),
                    files.len()
                );
                println!(
                    "Next: ratchet bundle validate {0} && ratchet bundle build {0}",
                    dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BundleCommand::Validate { dir } => {
            let format = out().format;
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            let report = validate_bundle(&dir);
            let valid = report.is_valid();
            match format {
                Format::Json => {
                    print_json(&json!({
                        "valid": valid,
                        "bundle": report.manifest.as_ref().map(|m| json!({"id": m.id, "version": m.version.to_string()})),
                        "diagnostics": report.diagnostics,
                    }))?;
                }
                Format::Text => print_report(&report.diagnostics, report.manifest.as_ref(), valid),
            }
            Ok(if valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        BundleCommand::Import(args) => super::import::run(args),
        BundleCommand::Test { dir } => {
            let format = out().format;
            run_tests(&dir.unwrap_or_else(|| PathBuf::from(".")), format)
        }
        BundleCommand::Check(args) => super::check::run(args),
        BundleCommand::Dev {
            dir,
            interval,
            rounds,
        } => dev(&dir.unwrap_or_else(|| PathBuf::from(".")), interval, rounds),
    }
}

/// Runs the bundle's tests and writes `.bundle/verification.json`.
fn test_dir(
    dir: &Path,
) -> Result<(ratchet_sandbox::bundle_test::Verification, PathBuf), Box<dyn std::error::Error>> {
    let paths = Paths::detect();
    let policy = Policy::load(&paths.config)?;
    // Each test case runs in a worker process under OS limits (task-abi.md §10).
    let rt = Runtime::new(Some(paths.cache.join("modules")))
        .isolated(ratchet_sandbox::isolate::Isolation::current_exe()?);
    let v = test_bundle(&rt, dir, &policy)?;
    if !dir.join(ratchet_formats::manifest::MANIFEST_FILE).is_file() {
        // A bare Ratchet task directory: tested, but it is the author's, not a bundle.
        return Ok((v, PathBuf::new()));
    }
    let written = write_verification(dir, &v)?;
    Ok((v, written))
}

fn run_tests(dir: &Path, format: Format) -> CliResult {
    let (v, written) = test_dir(dir)?;
    render_verification(&v, &written, format)
}

/// Prints a `verification.json` (text or JSON) and says where it was written (`written` empty:
/// nothing written); exit 1 when anything failed.
pub(super) fn render_verification(
    v: &ratchet_sandbox::bundle_test::Verification,
    written: &Path,
    format: Format,
) -> CliResult {
    if format == Format::Text {
        for w in &v.warnings {
            eprintln!("warning: {}", escape(w));
        }
    }
    match format {
        Format::Json => print_json(v)?,
        Format::Text => {
            for t in &v.tests {
                let tag = match t.result {
                    Verdict::Passed => "PASS",
                    Verdict::Failed => "FAIL",
                    Verdict::Skipped => "SKIP",
                };
                let ms = t
                    .wall_ms
                    .map(|m| format!(" ({m:.1} ms)"))
                    .unwrap_or_default();
                println!("{tag} {:<17} {}{ms}", t.kind, escape_line(&t.name));
                if let Some(m) = &t.message
                    && t.result != Verdict::Passed
                {
                    println!("     {}", escape(m).replace('\n', "\n     "));
                }
            }
            println!(
                "{} passed, {} failed, {} skipped",
                v.summary.passed, v.summary.failed, v.summary.skipped
            );
            if v.summary.failed == 0 && !v.passed {
                println!(
                    "no task test or integration test ran: the bundle is not verified (add tests/*.json to its tasks; see the reasons above)"
                );
            }
            if written.as_os_str().is_empty() && v.archive_sha256.is_some() {
                out().status(format_args!(
                    "an archive: no report written (-o FILE writes it)"
                ));
            } else if written.as_os_str().is_empty() {
                out().status(format_args!(
                    "a Ratchet task directory without bundle.yaml: nothing written (ratchet bundle import makes it a bundle)"
                ));
            } else {
                out().status(format_args!("wrote {}", written.display()));
            }
        }
    }
    Ok(if v.summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A cheap fingerprint of the bundle's files (paths, sizes, modification times), ignoring the
/// generated `.bundle/` directory.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.file_name()
                .is_some_and(|n| n == ".bundle" || n == "target" || n == ".git")
            {
                continue;
            }
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(p),
                Ok(m) => out.push((p, m.len(), m.modified().unwrap_or(std::time::UNIX_EPOCH))),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

fn dev(dir: &Path, interval: u64, rounds: Option<u32>) -> CliResult {
    let json = out().json();
    if !json {
        println!("watching {} (Ctrl-C to stop)", dir.display());
    }
    let mut last = None;
    let mut done = 0u32;
    loop {
        let now = fingerprint(dir);
        if last.as_ref() != Some(&now) {
            last = Some(now);
            let report = validate_bundle(dir);
            if json {
                // One JSON document per line and round (JSON lines).
                let tests = if report.is_valid() {
                    match test_dir(dir) {
                        Ok((v, _)) => json!(v),
                        Err(e) => json!({"error": e.to_string()}),
                    }
                } else {
                    serde_json::Value::Null
                };
                println!(
                    "{}",
                    json!({
                        "round": done + 1,
                        "valid": report.is_valid(),
                        "diagnostics": report.diagnostics,
                        "tests": tests,
                    })
                );
            } else {
                println!("--- change detected: validating");
                print_report(
                    &report.diagnostics,
                    report.manifest.as_ref(),
                    report.is_valid(),
                );
                if report.is_valid() {
                    println!("--- testing");
                    if let Err(e) = run_tests(dir, Format::Text) {
                        ratchet_term::report_error(e.as_ref());
                    }
                }
            }
            done += 1;
            if rounds.is_some_and(|r| done >= r) {
                return Ok(ExitCode::SUCCESS);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(interval));
    }
}

fn default_key() -> PathBuf {
    Paths::detect().data.join("keys").join("author.key")
}

fn sign(
    file: &Path,
    key: Option<PathBuf>,
    signature: Option<PathBuf>,
    public: Option<PathBuf>,
    print_comment: bool,
) -> CliResult {
    use ratchet_trust::bundle_sig;
    use ratchet_trust::keys::{PublicKey, SecretKey};
    if print_comment {
        let a = archive::read_archive_file(file, &Limits::default())?;
        let comment = bundle_sig::trusted_comment_for(&a);
        if out().json() {
            print_json(&json!({"trusted_comment": comment}))?;
        } else {
            println!("{}", escape_line(&comment));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let pk = public.as_deref().map(PublicKey::load).transpose()?;
    let sig = match signature {
        Some(s) => {
            let text = std::fs::read(&s).map_err(|e| format!("{}: {e}", s.display()))?;
            bundle_sig::sign_archive_file(file, None, Some(&text), pk.as_ref())?
        }
        None => {
            let sk = SecretKey::load_with(
                &key.unwrap_or_else(default_key),
                &mut super::key::ask_password,
            )?;
            bundle_sig::sign_archive_file(file, Some(&sk), None, pk.as_ref())?
        }
    };
    let parsed = bundle_sig::parse_sig(sig.as_bytes(), "bundle.sig")?;
    let bytes = std::fs::read(file)?;
    let sha256 = archive::sha256_hex(&bytes);
    if out().json() {
        print_json(&json!({"signed": {
            "path": file.display().to_string(),
            "key_id": parsed.key_id,
            "trusted_comment": parsed.trusted_comment,
            "sha256": sha256,
        }}))?;
    } else {
        println!("Signed {} with key {}", file.display(), parsed.key_id);
        println!(
            "  trusted comment: {}",
            escape_line(&parsed.trusted_comment)
        );
        println!("  sha256: {sha256}");
    }
    Ok(ExitCode::SUCCESS)
}

/// One check of `bundle verify`: what was checked, whether it passed, and what was found.
struct Check {
    check: &'static str,
    ok: bool,
    message: String,
    key_id: Option<String>,
}

/// Prints the checks of `bundle verify` (text: `ok`/`FAILED` lines; JSON: one document) and
/// returns the exit code: 0 when every check passed.
fn report_checks(file: &Path, bundle: Option<(String, String)>, checks: &[Check]) -> CliResult {
    let ok = checks.iter().all(|c| c.ok);
    if out().json() {
        let list: Vec<_> = checks
            .iter()
            .map(
                |c| json!({"check": c.check, "ok": c.ok, "message": c.message, "key_id": c.key_id}),
            )
            .collect();
        print_json(&json!({
            "file": file.display().to_string(),
            "bundle": bundle.map(|(id, version)| json!({"id": id, "version": version})),
            "ok": ok,
            "checks": list,
        }))?;
    } else {
        let o = out();
        for c in checks {
            if c.ok {
                println!(
                    "{}    {}",
                    o.paint_stdout("ok", "32"),
                    escape_line(&c.message)
                );
            } else {
                eprintln!(
                    "{} {}: {}",
                    o.paint_stderr("FAILED", "1;31"),
                    c.check,
                    escape(&c.message)
                );
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn verify(file: &Path, key: Option<PathBuf>) -> CliResult {
    use ratchet_trust::bundle_sig;
    use ratchet_trust::keys::PublicKey;
    let check = |check, ok, message: String, key_id: Option<String>| Check {
        check,
        ok,
        message,
        key_id,
    };
    let a = match archive::read_archive_file(file, &Limits::default()) {
        Ok(a) => a,
        Err(e) => {
            return report_checks(
                file,
                None,
                &[check("file check", false, e.to_string(), None)],
            );
        }
    };
    let b = &a.manifest.bundle;
    let bundle = Some((b.id.to_string(), b.version.to_string()));
    let listed = String::from_utf8_lossy(a.checksum_list()).lines().count();
    let mut checks = vec![check(
        "files",
        true,
        format!("every file matches .bundle/checksum.sha256 ({listed} files listed)"),
        None,
    )];
    let Some(sig) = &a.signature else {
        checks.push(check(
            "signature",
            false,
            format!("{} {} is not signed (no bundle.sig)", b.id, b.version),
            None,
        ));
        return report_checks(file, bundle, &checks);
    };
    let parsed = match bundle_sig::parse_sig(sig, "bundle.sig") {
        Ok(p) => p,
        Err(e) => {
            checks.push(check("signature", false, e.to_string(), None));
            return report_checks(file, bundle, &checks);
        }
    };
    let keys = match &key {
        Some(k) => vec![PublicKey::load(k)?],
        None => {
            let paths = Paths::detect();
            let mut keys: Vec<PublicKey> = ratchet_trust::keys::list(&paths.data.join("keys"))?
                .into_iter()
                .filter_map(|(_, k)| k.ok())
                .collect();
            if let Ok(Some(pin)) = ratchet_client::verify::PinStore::new(&paths).load(b.id.as_str())
            {
                keys.extend(
                    pin.keys
                        .iter()
                        .filter_map(|k| PublicKey::from_base64(k).ok()),
                );
            }
            if keys.is_empty() {
                checks.push(check(
                    "signature",
                    false,
                    format!(
                        "bundle.sig is by key {}, and there is no key here to check it against: pass its public key with --key FILE.pub (none in {} and no owner pinned for {})",
                        parsed.key_id,
                        paths.data.join("keys").display(),
                        b.id
                    ),
                    Some(parsed.key_id.clone()),
                ));
                return report_checks(file, bundle, &checks);
            }
            keys
        }
    };
    match bundle_sig::verify_archive(&a, &keys, "given keys") {
        Ok(k) => checks.push(check(
            "signature",
            true,
            format!(
                "bundle.sig by key {} is bound to {} {} and this checksum list",
                k.key_id(),
                b.id,
                b.version
            ),
            Some(k.key_id()),
        )),
        Err(e) => {
            let mut message = e.to_string();
            if key.is_none() {
                message.push_str(&format!(
                    " (signed by key {}: pass its public key with --key)",
                    parsed.key_id
                ));
            }
            checks.push(check(
                "signature",
                false,
                message,
                Some(parsed.key_id.clone()),
            ));
        }
    }
    report_checks(file, bundle, &checks)
}

fn build(dir: PathBuf, out_path: Option<PathBuf>, sign_key: Option<Option<PathBuf>>) -> CliResult {
    let o = out();
    let report = validate_bundle(&dir);
    let Some(manifest) = report.manifest.as_ref().filter(|_| report.is_valid()) else {
        if o.json() {
            print_json(&json!({"built": null, "diagnostics": report.diagnostics}))?;
        } else {
            print_report(&report.diagnostics, None, false);
            eprintln!("not building: fix the errors above first");
        }
        return Ok(ExitCode::FAILURE);
    };
    // Every warning as a diagnostic (`cli-output.md`): the bundle's, then the archive's.
    let mut warnings: Vec<Diagnostic> = report.warnings().cloned().collect();
    if !o.json() {
        for d in report.warnings() {
            eprintln!("{}", escape(&d.to_string()));
        }
    }
    // The secret key is loaded (and its password asked) before anything is written, so a key
    // that cannot sign leaves no archive behind.
    let secret = match sign_key {
        Some(k) => {
            let k = k.unwrap_or_else(default_key);
            Some(ratchet_trust::keys::SecretKey::load_with(
                &k,
                &mut super::key::ask_password,
            )?)
        }
        None => None,
    };
    let opts = BuildOptions::from_env_checked()?;
    let name = archive::archive_file_name(manifest);
    let dest = match out_path {
        None => PathBuf::from(&name),
        Some(p) if p.is_dir() => p.join(&name),
        Some(p) if p.as_os_str().to_string_lossy().ends_with('/') => {
            std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            p.join(&name)
        }
        Some(p) => p,
    };
    // With --sign the signature is made from the checksum list while the archive is written:
    // one pass over the files, one file written (issue 19).
    let mut sign_error: Option<ratchet_trust::TrustError> = None;
    let built = match &secret {
        None => archive::build_archive(&dir, manifest, &dest, &opts)?,
        Some(sk) => {
            let mut sign = |list: &[u8]| -> std::io::Result<Vec<u8>> {
                let comment = ratchet_trust::bundle_sig::trusted_comment(
                    manifest.id.as_str(),
                    &manifest.version,
                    list,
                );
                match ratchet_trust::bundle_sig::sign_bytes(sk, list, &comment) {
                    Ok(sig) => Ok(sig.into_bytes()),
                    Err(e) => {
                        let text = e.to_string();
                        sign_error = Some(e);
                        Err(std::io::Error::other(text))
                    }
                }
            };
            match archive::build_archive_signed(&dir, manifest, &dest, &opts, &mut sign) {
                Ok(b) => b,
                Err(e) => {
                    return Err(match sign_error {
                        // Nothing was written: the archive is written in one go or not at all.
                        Some(se) => format!("cannot sign {}: {se}", dest.display()).into(),
                        None => e.into(),
                    });
                }
            }
        }
    };
    let shown = built.path.display().to_string();
    for w in &built.warnings {
        o.warn(escape(w));
        warnings.push(Diagnostic::warning("archive", shown.clone(), w.clone()));
    }
    let limits = Limits::default();
    if built.files > limits.max_entries
        || built.unpacked_size > limits.max_unpacked_bytes
        || built.size > limits.max_archive_bytes
    {
        let w = format!(
            "this archive exceeds the default reader limits ({} entries, {} bytes unpacked, {} bytes compressed); registries and clients may refuse it",
            limits.max_entries, limits.max_unpacked_bytes, limits.max_archive_bytes
        );
        o.warn(&w);
        warnings.push(Diagnostic::warning("archive-limits", shown, w));
    }
    // The figures are the final (signed) file's: the signature was written with it.
    let signer = secret.as_ref().map(|sk| sk.public().key_id());
    let files = built.files;
    let (size, sha256) = (built.size, built.sha256.clone());
    if o.json() {
        print_json(&json!({
            "built": {
                "id": manifest.id,
                "version": manifest.version.to_string(),
                "path": built.path.display().to_string(),
                "files": files,
                "size": size,
                "sha256": sha256,
                "signed_by": signer,
            },
            "warnings": warnings,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Built {} {}: {}",
        manifest.id,
        manifest.version,
        built.path.display()
    );
    println!("  files:  {files}");
    println!("  size:   {size} bytes");
    match signer {
        Some(k) => {
            println!("  signed: key {k}");
            println!("  sha256: {sha256} (signed)");
        }
        None => println!("  sha256: {sha256}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(file: &Path, format: Format) -> CliResult {
    let limits = Limits::default();
    let len = std::fs::metadata(file)
        .map_err(|e| format!("{}: {e}", file.display()))?
        .len();
    if len > limits.max_archive_bytes {
        return Err(format!(
            "{}: archive is larger than the limit of {} bytes",
            file.display(),
            limits.max_archive_bytes
        )
        .into());
    }
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let sha256 = archive::sha256_hex(&bytes);
    let bundle = archive::read_archive(bytes.as_slice(), &limits)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let m = &bundle.manifest.bundle;
    match format {
        Format::Json => {
            let files: Vec<_> = bundle
                .files
                .iter()
                .map(|(p, d)| serde_json::json!({"path": p, "size": d.len(), "sha256": archive::sha256_hex(d)}))
                .collect();
            let verification = bundle.verification().map(|v| {
                serde_json::from_slice::<serde_json::Value>(v).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(v).into_owned())
                })
            });
            let out = serde_json::json!({
                "archive": {"path": file.display().to_string(), "size": bytes.len(), "sha256": sha256},
                "manifest": bundle.manifest,
                "signed": bundle.signature.is_some(),
                "verification": verification,
                "files": files,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Text => {
            println!("{} {} ({})", m.id, m.version, escape_line(&m.name));
            println!("  {}", escape(m.description.trim()).replace('\n', "\n  "));
            if let Some(a) = &m.author {
                println!(
                    "  author:       {}{}",
                    escape_line(&a.name),
                    a.email
                        .as_ref()
                        .map(|e| format!(" <{}>", escape_line(e)))
                        .unwrap_or_default()
                );
            }
            println!("  license:      {}", escape_line(&m.license.to_string()));
            println!("  pricing:      {}", m.pricing_model().as_str());
            if !m.dependencies.is_empty() {
                let deps: Vec<String> = m
                    .dependencies
                    .iter()
                    .map(|d| format!("{} {}", d.bundle_id, escape_line(&d.version.to_string())))
                    .collect();
                println!("  dependencies: {}", deps.join(", "));
            }
            for (section, items) in m.contents.sections() {
                if !items.is_empty() {
                    let names: Vec<String> = items
                        .iter()
                        .map(|i| {
                            if i.exported {
                                escape_line(i.name()).into_owned()
                            } else {
                                format!("{} (internal)", escape_line(i.name()))
                            }
                        })
                        .collect();
                    println!(
                        "  {section}:{:width$}{}",
                        "",
                        names.join(", "),
                        width = 13 - section.len()
                    );
                }
            }
            if let Some(r) = &m.requirements.ratchet_version {
                println!("  ratchet:      {}", escape_line(&r.to_string()));
            }
            if !m.requirements.platform.is_empty() {
                println!(
                    "  platforms:    {}",
                    Platform::join(&m.requirements.platform)
                );
            }
            let perms = m.permissions.to_list();
            println!(
                "  permissions:  {}",
                if perms.is_empty() {
                    "none (pure computation)".to_string()
                } else {
                    perms
                        .iter()
                        .map(|p| escape_line(&p.to_string()).into_owned())
                        .collect::<Vec<_>>()
                        .join("; ")
                }
            );
            let r = ratchet_sandbox::policy::requested_limits(&m.resources, None);
            println!(
                "  limits:       {}",
                ratchet_sandbox::policy::limits_line(&r)
            );
            println!("  archive:      {} bytes, sha256 {sha256}", bytes.len());
            println!(
                "  signature:    {}",
                if bundle.signature.is_some() {
                    "bundle.sig present (not checked here)"
                } else {
                    "none"
                }
            );
            println!(
                "  verification: {}",
                if bundle.verification().is_some() {
                    "present"
                } else {
                    "none"
                }
            );
            println!(
                "Files ({}, {} bytes):",
                bundle.files.len(),
                bundle.content_size()
            );
            let width = bundle
                .files
                .values()
                .map(|d| d.len().to_string().len())
                .max()
                .unwrap_or(1);
            for (p, d) in &bundle.files {
                println!("  {:>width$}  {}", d.len(), escape_line(p));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(
    diags: &[Diagnostic],
    manifest: Option<&ratchet_formats::manifest::Manifest>,
    valid: bool,
) {
    for d in diags {
        eprintln!("{}", escape(&d.to_string()));
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    match (valid, manifest) {
        (true, Some(m)) => println!("{} {} is valid ({warnings} warning(s))", m.id, m.version),
        _ => eprintln!("bundle is invalid: {errors} error(s), {warnings} warning(s)"),
    }
}

/// `bundle vendor`: packs the lockfile's bundles into a tar file that is a registry.
fn vendor(
    lockfile: Option<PathBuf>,
    file: &Path,
    offline: bool,
    allow_unsigned: bool,
) -> CliResult {
    let paths = Paths::detect();
    let lockfile = lockfile.unwrap_or_else(|| paths.data.join(ratchet_client::install::LOCK_FILE));
    let v = ratchet_client::vendor::vendor(&paths, &lockfile, file, offline, allow_unsigned)?;
    if out().json() {
        print_json(&json!({
            "file": file.display().to_string(),
            "bundles": v.bundles.iter().map(|l| json!({
                "id": l.id,
                "version": l.version.to_string(),
                "sha256": l.sha256,
                "size": l.size,
            })).collect::<Vec<_>>(),
            "archive_bytes": v.archive_bytes,
            "tar_bytes": v.tar_bytes,
        }))?;
    } else {
        for l in &v.bundles {
            println!("packed {} {}", escape_line(l.id.as_str()), l.version);
        }
        println!(
            "wrote {} ({} bundle(s), {} bytes): on the other machine, `ratchet registry add NAME {}`",
            file.display(),
            v.bundles.len(),
            v.tar_bytes,
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
