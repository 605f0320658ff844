//! `ratchet key ...`: generate and list minisign key pairs, forget a pinned owner.

use super::CliResult;
use clap::Subcommand;
use ratchet_client::paths::Paths;
use ratchet_client::verify::PinStore;
use ratchet_term::{UsageError, escape, escape_line, out, print_json};
use ratchet_trust::keys::{self, PASSWORD_ENV};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Reads a password from the terminal without echo: the password source the library asks
/// through ([`keys::PasswordPrompt`]).
pub(crate) fn ask_password(prompt: &str) -> std::io::Result<String> {
    rpassword::prompt_password(prompt)
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Make a minisign key pair (NAME.pub, NAME.key with mode 0600); the secret key is
    /// password-protected (password from RATCHET_KEY_PASSWORD or a prompt).
    Generate {
        /// Key name (file names NAME.pub and NAME.key).
        #[arg(long, default_value = "author")]
        name: String,
        /// Directory for the key files (default: DATA/keys).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Do not encrypt the secret key (for CI only: anyone who reads the file can sign).
        #[arg(long)]
        unencrypted: bool,
    },
    /// List the public keys in the key directory with their key ids.
    List {
        /// Directory of the key files (default: DATA/keys).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Forget the owner keys pinned for a bundle id (or, with --registry, the verifier keys
    /// pinned for a registry), to accept a change deliberately.
    Forget {
        /// The bundle id.
        #[arg(required_unless_present = "registry", conflicts_with = "registry")]
        id: Option<ratchet_formats::manifest::BundleId>,
        /// A registry (configured name, URL or directory) whose verifier keys to forget.
        #[arg(long)]
        registry: Option<String>,
    },
}

pub fn run(cmd: KeyCommand) -> CliResult {
    let paths = Paths::detect();
    let default_dir = paths.data.join("keys");
    let o = out();
    match cmd {
        KeyCommand::Generate {
            name,
            dir,
            unencrypted,
        } => {
            let dir = dir.unwrap_or(default_dir);
            let mut warnings = Vec::new();
            let password = if unencrypted {
                let w = "the secret key is NOT password-protected; anyone who can read the file can sign as you. Use this for CI only.";
                o.warn(w);
                warnings.push(w);
                None
            } else {
                let p = match std::env::var(PASSWORD_ENV) {
                    Ok(p) => p,
                    Err(_) => {
                        let a = keys::password_from_env_or(
                            "the new key",
                            "New key password: ",
                            &mut ask_password,
                        )?;
                        let b = keys::password_from_env_or(
                            "the new key",
                            "Repeat password: ",
                            &mut ask_password,
                        )?;
                        if a != b {
                            return Err("the passwords differ; nothing written".into());
                        }
                        a
                    }
                };
                if p.is_empty() {
                    return Err("empty password: give one, or use --unencrypted (CI only)".into());
                }
                Some(p)
            };
            let encrypted = password.is_some();
            let kp = keys::generate(&dir, &name, password)?;
            if o.json() {
                print_json(&json!({
                    "generated": {
                        "key_id": kp.key.key_id(),
                        "public_key": kp.key.to_base64(),
                        "public_file": kp.public.display().to_string(),
                        "secret_file": kp.secret.display().to_string(),
                        "encrypted": encrypted,
                    },
                    "warnings": warnings,
                }))?;
            } else {
                println!("Generated key {}", kp.key.key_id());
                println!("  public key: {}", kp.public.display());
                println!(
                    "  secret key: {} (mode 0600; keep it secret)",
                    kp.secret.display()
                );
                println!("  {}", kp.key.to_base64());
            }
        }
        KeyCommand::List { dir } => {
            let dir = dir.unwrap_or(default_dir);
            let list = keys::list(&dir)?;
            if o.json() {
                let mut found = Vec::new();
                let mut errors = Vec::new();
                for (path, k) in list {
                    match k {
                        Ok(k) => found.push(json!({
                            "key_id": k.key_id(),
                            "path": path.display().to_string(),
                            "public_key": k.to_base64(),
                            "secret_key": path.with_extension("key").exists(),
                        })),
                        Err(e) => errors.push(json!({
                            "path": path.display().to_string(),
                            "message": e.to_string(),
                        })),
                    }
                }
                print_json(
                    &json!({"dir": dir.display().to_string(), "keys": found, "errors": errors}),
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            if list.is_empty() {
                println!("no keys in {} (ratchet key generate)", dir.display());
            }
            for (path, k) in list {
                match k {
                    Ok(k) => {
                        let secret = path.with_extension("key").exists();
                        println!(
                            "{}  {}  {}{}",
                            k.key_id(),
                            escape_line(&path.display().to_string()),
                            k.to_base64(),
                            if secret { "  (with secret key)" } else { "" }
                        );
                    }
                    Err(e) => eprintln!(
                        "{}: {}",
                        escape_line(&path.display().to_string()),
                        escape(&e.to_string())
                    ),
                }
            }
        }
        KeyCommand::Forget {
            registry: Some(r), ..
        } => {
            let src = ratchet_client::registry::RegistrySource::select(&paths.config, Some(&r))?;
            let store = PinStore::new(&paths);
            let forgotten = store.forget_verifiers(src.base.as_str())?;
            if o.json() {
                print_json(
                    &json!({"registry": src.name, "url": src.base.as_str(), "forgotten": forgotten}),
                )?;
            } else if forgotten {
                println!(
                    "forgot the verifier keys pinned for {}; the next use pins the registry's verifiers again",
                    escape_line(&src.label())
                );
            } else {
                println!(
                    "no verifier keys were pinned for {}",
                    escape_line(&src.label())
                );
            }
        }
        KeyCommand::Forget { id: None, .. } => {
            return Err(UsageError::new("name a bundle id, or --registry").into());
        }
        KeyCommand::Forget { id: Some(id), .. } => {
            let store = PinStore::new(&paths);
            let forgotten = store.forget(id.as_str())?;
            if o.json() {
                print_json(&json!({"bundle": id, "forgotten": forgotten}))?;
            } else if forgotten {
                println!(
                    "forgot the owner keys pinned for {id}; the next install trusts and pins the registry's owners again"
                );
            } else {
                println!("no owner keys were pinned for {id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
