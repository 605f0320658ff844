//! `ratchet registry add/list/remove/login`.

use super::CliResult;
use clap::Subcommand;
use ratchet_client::paths::Paths;
use ratchet_client::registry::store::{CredentialStore, Location};
use ratchet_client::registry::{
    AuthMethod, ClientConfig, RegistryEntry, RegistrySource, Secret, check_ca_file, check_name,
    oidc,
};
use ratchet_formats::index::RegistryKind;
use ratchet_term::{UsageError, escape_line, out, print_json};
use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

/// The JSON form of a configured registry (`cli-output.md`, `registry list`).
fn entry_json(name: &str, e: &RegistryEntry, cfg: &ClientConfig, stored: bool) -> Value {
    let auth = match &e.auth {
        AuthMethod::None => json!({"method": "none"}),
        AuthMethod::Token => json!({"method": "token"}),
        AuthMethod::ApiKey { header } => json!({"method": "api-key", "header": header}),
        AuthMethod::Basic { user } => json!({"method": "basic", "user": user}),
        AuthMethod::Oidc {
            issuer,
            client_id,
            scope,
        } => json!({"method": "oidc", "issuer": issuer, "client_id": client_id, "scope": scope}),
    };
    json!({
        "name": name,
        "url": e.url,
        "kind": e.kind.as_str(),
        "auth": auth,
        "credential_command": e.credential_command,
        "credential_stored": stored,
        "default": cfg.default.as_deref() == Some(name),
    })
}

/// "no registry named X", with the closest configured name when one is close, then `rest`.
fn no_registry(name: &str, cfg: &ClientConfig, rest: &str) -> String {
    let hint =
        ratchet_formats::diagnostic::did_you_mean(name, cfg.registries.keys().map(String::as_str))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
    format!("no registry named {name}{hint}{rest}")
}

// Parsed once per run: the size of the `add` variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Add (or replace) a named registry.
    Add {
        /// Name (lower-case letters, digits, `-`).
        name: String,
        /// Root URL (`https://`, `http://`, `file://`, `git+https://...#branch=B`, `git+ssh://`,
        /// `git+file://`), a directory, or a `.tar` file written by `ratchet bundle vendor`
        /// (unpacked into the data directory).
        url: String,
        /// public, private, partner or local.
        #[arg(long, default_value = "public")]
        kind: String,
        /// How to send the credential: none, token (also OAuth2 bearer), api-key, basic.
        #[arg(long, default_value = "none")]
        auth: String,
        /// Header for `--auth api-key` (default X-Api-Key).
        #[arg(long)]
        header: Option<String>,
        /// User for `--auth basic`.
        #[arg(long)]
        user: Option<String>,
        /// A command that prints the secret (run with `sh -c`).
        #[arg(long)]
        credential_command: Option<String>,
        /// A PEM file of the certificate authority that signed the registry's server
        /// certificate (a private CA), trusted for this registry besides the system roots.
        #[arg(long, value_name = "PATH")]
        ca_file: Option<std::path::PathBuf>,
        /// The registry key's public key file: trusted for the registry's signed state
        /// instead of trusting its root.json on first use (index-format.md §9.2).
        #[arg(long, value_name = "FILE.pub")]
        root_key: Option<std::path::PathBuf>,
        /// A mirror's public key: timestamps it signs for the registry's checkpoints are
        /// accepted (an air-gapped mirror that re-signs freshness; index-format.md §9.8).
        /// Repeat for several.
        #[arg(long, value_name = "FILE.pub")]
        mirror_key: Vec<std::path::PathBuf>,
        /// Make it the default registry.
        #[arg(long)]
        default: bool,
    },
    /// Forget the signed snapshot and registry key remembered for a registry: the next command
    /// trusts its root.json on first use again (or the key given with `registry add --root-key`).
    ForgetState {
        /// A configured name, a URL or a directory.
        name: String,
    },
    /// Replay a registry's whole transparency log and check every file of its signed state
    /// (what a witness or a mirror operator runs); exits 1 on any mismatch.
    Audit {
        /// A configured name, a URL or a directory (default: the default registry).
        name: Option<String>,
        /// Accept an expired timestamp (loudly).
        #[arg(long)]
        allow_expired: bool,
    },
    /// List the configured registries.
    List,
    /// Remove a registry and its stored credential.
    Remove {
        /// Name.
        name: String,
    },
    /// Store the credential of a registry (read from standard input or a prompt, never argv),
    /// or sign in with OpenID Connect (--oidc: the device flow, approved in a browser).
    /// Credentials go to the system keychain when one is reachable, else to credentials.json
    /// (mode 0600); RATCHET_CREDENTIAL_STORE=file|keychain|auto chooses.
    Login {
        /// Name.
        name: String,
        /// Sign in through this OpenID Connect provider (its issuer URL) with the device
        /// authorization grant; the access token is renewed with its refresh token when it
        /// expires.
        #[arg(long, value_name = "ISSUER", requires = "client_id", conflicts_with_all = ["token", "api_key", "basic"])]
        oidc: Option<String>,
        /// The OAuth client id the provider registered for this registry's command line.
        #[arg(long, value_name = "ID", requires = "oidc")]
        client_id: Option<String>,
        /// The scopes to ask for with --oidc (default "openid offline_access").
        #[arg(long, requires = "oidc")]
        scope: Option<String>,
        /// The secret is a bearer token (`Authorization: Bearer`).
        #[arg(long, conflicts_with_all = ["api_key", "basic"])]
        token: bool,
        /// The secret is an API key, sent in the header --header (default X-Api-Key).
        #[arg(long, conflicts_with = "basic")]
        api_key: bool,
        /// The header of --api-key.
        #[arg(long, requires = "api_key")]
        header: Option<String>,
        /// The secret is the password of USER (`Authorization: Basic`).
        #[arg(long, value_name = "USER")]
        basic: Option<String>,
    },
}

pub fn run(cmd: RegistryCommand) -> CliResult {
    let paths = Paths::detect();
    let mut cfg = ClientConfig::load(&paths.config)?;
    let o = out();
    match cmd {
        RegistryCommand::Add {
            name,
            url,
            kind,
            auth,
            header,
            user,
            credential_command,
            ca_file,
            root_key,
            mirror_key,
            default,
        } => {
            let mirror_keys = mirror_key
                .iter()
                .map(|p| ratchet_trust::keys::PublicKey::load(p).map(|k| k.to_base64().to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let root_key = root_key
                .map(|p| ratchet_trust::keys::PublicKey::load(&p))
                .transpose()?
                .map(|k| k.to_base64().to_string());
            check_name(&name)?;
            let kind: RegistryKind = kind.parse().map_err(UsageError)?;
            let auth = match auth.as_str() {
                "none" => AuthMethod::None,
                "token" | "bearer" | "oauth2" => AuthMethod::Token,
                "api-key" => AuthMethod::ApiKey {
                    header: header.unwrap_or_else(|| "X-Api-Key".into()),
                },
                "basic" => AuthMethod::Basic {
                    user: user.ok_or(UsageError::new("--auth basic needs --user NAME"))?,
                },
                other => {
                    return Err(UsageError::new(format_args!(
                        "--auth {other}: use none, token, api-key or basic"
                    ))
                    .into());
                }
            };
            // A vendored registry (`ratchet bundle vendor`) is unpacked under the data
            // directory and added as that directory.
            let url = if url.ends_with(".tar") && std::path::Path::new(&url).is_file() {
                let dest = paths.data.join("registries").join(&name);
                ratchet_client::vendor::unpack(std::path::Path::new(&url), &dest)?;
                dest.display().to_string()
            } else {
                url
            };
            let src = RegistrySource::from_location(&url)?;
            let ca_file = ca_file.map(|p| check_ca_file(&p)).transpose()?;
            cfg.registries.insert(
                name.clone(),
                RegistryEntry {
                    url: src.base.to_string(),
                    kind,
                    auth,
                    credential_command,
                    ca_file,
                    root_key,
                    mirror_keys,
                },
            );
            if default || cfg.default.is_none() {
                cfg.default = Some(name.clone());
            }
            cfg.save(&paths.config)?;
            if o.json() {
                let e = &cfg.registries[&name];
                print_json(&json!({"added": entry_json(&name, e, &cfg, false)}))?;
            } else {
                println!("added registry {name} ({})", escape_line(src.base.as_str()));
            }
        }
        RegistryCommand::ForgetState { name } => {
            let src = RegistrySource::select(&paths.config, Some(&name))?;
            let store = ratchet_client::integrity::StateStore::new(&paths);
            let forgot = store.forget(src.base.as_str())?;
            if o.json() {
                print_json(&json!({"registry": src.name, "forgotten": forgot}))?;
            } else if forgot {
                println!(
                    "forgot the signed state and registry key of {}; the next command trusts its root.json again",
                    escape_line(&src.name)
                );
            } else {
                println!("nothing remembered for {}", escape_line(&src.name));
            }
        }
        RegistryCommand::Audit {
            name,
            allow_expired,
        } => {
            let mut src = RegistrySource::select(&paths.config, name.as_deref())?;
            src.allow_expired = allow_expired;
            let fetcher = ratchet_client::registry::Fetcher::new(src, &paths.cache, false)?;
            let reporter: ratchet_client::events::SharedReporter =
                super::install::CliReporter::new();
            let s = ratchet_client::integrity::audit(&fetcher, &paths, &reporter)?;
            let registry = fetcher.source().name.clone();
            if o.json() {
                print_json(&json!({
                    "registry": registry,
                    "snapshot": s.size,
                    "entries": s.entries,
                    "files": s.files,
                    "ok": s.mismatches.is_empty(),
                    "mismatches": s.mismatches.iter().map(|(f, m)| json!({"file": f, "problem": m})).collect::<Vec<_>>(),
                }))?;
            } else {
                for (f, m) in &s.mismatches {
                    eprintln!("{}: {}", escape_line(f), escape_line(m));
                }
                let verdict = if s.mismatches.is_empty() {
                    "OK"
                } else {
                    "FAILED"
                };
                println!(
                    "audit of {} {verdict}: snapshot {}, {} log entries replayed to the signed state, {} files checked, {} mismatch(es)",
                    escape_line(&registry),
                    s.size,
                    s.entries,
                    s.files,
                    s.mismatches.len()
                );
            }
            if !s.mismatches.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        RegistryCommand::List => {
            let store = CredentialStore::new(&paths.config, cfg.credential_store)?;
            if o.json() {
                let list: Vec<_> = cfg
                    .registries
                    .iter()
                    .map(|(name, e)| entry_json(name, e, &cfg, store.has(name)))
                    .collect();
                print_json(&json!({"default": cfg.default, "registries": list}))?;
                return Ok(ExitCode::SUCCESS);
            }
            if cfg.registries.is_empty() {
                println!("no registries configured (add one with `ratchet registry add NAME URL`)");
            }
            for (name, e) in &cfg.registries {
                let mark = if cfg.default.as_deref() == Some(name) {
                    "*"
                } else {
                    " "
                };
                let auth = match &e.auth {
                    AuthMethod::None => "no auth".to_string(),
                    AuthMethod::Token => "token".to_string(),
                    AuthMethod::ApiKey { header } => format!("api key ({})", escape_line(header)),
                    AuthMethod::Basic { user } => format!("basic ({})", escape_line(user)),
                    AuthMethod::Oidc { issuer, .. } => {
                        format!("OpenID Connect ({})", escape_line(issuer))
                    }
                };
                let stored = if store.has(name) {
                    ", credential stored"
                } else {
                    ""
                };
                println!(
                    "{mark} {}\t{}\t{}\t{auth}{stored}",
                    escape_line(name),
                    escape_line(&e.url),
                    e.kind.as_str()
                );
            }
        }
        RegistryCommand::Remove { name } => {
            if cfg.registries.remove(&name).is_none() {
                return Err(no_registry(&name, &cfg, "").into());
            }
            if cfg.default.as_deref() == Some(&name) {
                cfg.default = None;
            }
            cfg.save(&paths.config)?;
            let store = CredentialStore::new(&paths.config, cfg.credential_store)?;
            let credential_removed = store.remove(&name)?;
            if o.json() {
                print_json(&json!({"removed": name, "credential_removed": credential_removed}))?;
            } else {
                println!("removed registry {}", escape_line(&name));
            }
        }
        RegistryCommand::Login {
            name,
            oidc,
            client_id,
            scope,
            token,
            api_key,
            header,
            basic,
        } => {
            let Some(mut entry) = cfg.registries.get(&name).cloned() else {
                return Err(no_registry(
                    &name,
                    &cfg,
                    &format!("; add it first with `ratchet registry add {name} URL --auth token`"),
                )
                .into());
            };
            // A method given here replaces the configured one once the login succeeds.
            let method = if let Some(issuer) = oidc {
                oidc::check_url("issuer", &issuer)?;
                AuthMethod::Oidc {
                    issuer,
                    client_id: client_id.expect("clap: --oidc requires --client-id"),
                    scope,
                }
            } else if token {
                AuthMethod::Token
            } else if api_key {
                AuthMethod::ApiKey {
                    header: header.unwrap_or_else(|| "X-Api-Key".into()),
                }
            } else if let Some(user) = basic {
                AuthMethod::Basic { user }
            } else {
                entry.auth.clone()
            };
            let store = CredentialStore::new(&paths.config, cfg.credential_store)?;
            let (secret, expires_at) = match &method {
                AuthMethod::None => {
                    return Err(UsageError::new(format_args!(
                        "registry {name} is configured without authentication; say how to log in: --token, --api-key, --basic USER or --oidc ISSUER --client-id ID"
                    ))
                    .into());
                }
                AuthMethod::Oidc {
                    issuer,
                    client_id,
                    scope,
                } => {
                    let tokens = device_login(&name, &entry, issuer, client_id, scope.as_deref())?;
                    (tokens.to_secret(), tokens.expires_at)
                }
                other => (read_secret(&name, other)?, None),
            };
            let location = store.save(&name, &secret)?;
            if entry.auth != method {
                entry.auth = method.clone();
                cfg.registries.insert(name.clone(), entry);
                cfg.save(&paths.config)?;
            }
            let method_name = match &method {
                AuthMethod::None => "none",
                AuthMethod::Token => "token",
                AuthMethod::ApiKey { .. } => "api-key",
                AuthMethod::Basic { .. } => "basic",
                AuthMethod::Oidc { .. } => "oidc",
            };
            let (place, file, unreachable) = match &location {
                Location::Keychain => ("keychain", None, None),
                Location::File { path, fallback } => ("file", Some(path), fallback.as_deref()),
            };
            if o.json() {
                print_json(&json!({
                    "stored": name,
                    "method": method_name,
                    "store": place,
                    "file": file,
                    "keychain_unreachable": unreachable,
                    "expires_at": expires_at,
                }))?;
            } else {
                let what = if matches!(method, AuthMethod::Oidc { .. }) {
                    format!("signed in to {}", escape_line(&name))
                } else {
                    format!("stored the credential of {}", escape_line(&name))
                };
                match &location {
                    Location::Keychain => println!("{what}: stored in the system keychain"),
                    Location::File { path, fallback } => {
                        let why = match fallback {
                            Some(r) => format!(
                                " (no system keychain is reachable: {}; RATCHET_CREDENTIAL_STORE=file says to use the file without trying)",
                                escape_line(r)
                            ),
                            None => String::new(),
                        };
                        println!(
                            "{what}: stored in {} (mode 0600){why}",
                            escape_line(&path.display().to_string())
                        );
                    }
                }
                if let Some(exp) = expires_at {
                    let left = exp.saturating_sub(oidc::now_secs());
                    println!(
                        "the access token is valid for {}; it is renewed with the refresh token when it expires",
                        humantime::format_duration(std::time::Duration::from_secs(left))
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the secret of a token, API key or basic-auth registry: from a prompt without echo on
/// a terminal, else the first line of standard input. Never from the command line.
fn read_secret(name: &str, method: &AuthMethod) -> Result<Secret, Box<dyn std::error::Error>> {
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        let what = match method {
            AuthMethod::Basic { user } => format!("password of {} for {name}", escape_line(user)),
            AuthMethod::ApiKey { .. } => format!("API key for {name}"),
            _ => format!("credential for {name}"),
        };
        rpassword::prompt_password(format!("{what}: "))?
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        line
    };
    let secret = line.trim_end_matches(['\r', '\n']).to_string();
    if secret.is_empty() {
        return Err("no credential given on standard input".into());
    }
    Ok(Secret::new(secret))
}

/// The device flow of `registry login --oidc`: discovery, the user code shown on stderr (also
/// with `--format json`, whose stdout is the result), polling until the user approves it.
fn device_login(
    name: &str,
    entry: &RegistryEntry,
    issuer: &str,
    client_id: &str,
    scope: Option<&str>,
) -> Result<oidc::TokenSet, Box<dyn std::error::Error>> {
    let provider = oidc::Provider::new(entry.ca_file.iter().cloned().collect())?;
    let discovery = provider.discover(issuer)?;
    let tokens = provider.device_login(
        &discovery,
        client_id,
        scope.unwrap_or(oidc::DEFAULT_SCOPE),
        &mut |code: &oidc::UserCode| {
            eprintln!(
                "To sign in to {}, open {} in a browser and enter the code {}",
                escape_line(name),
                escape_line(&code.verification_uri),
                escape_line(&code.user_code)
            );
            if let Some(c) = &code.verification_uri_complete {
                eprintln!("(or open {}, which fills in the code)", escape_line(c));
            }
            eprintln!(
                "waiting for the approval (the code expires in {})...",
                humantime::format_duration(code.expires_in)
            );
        },
    )?;
    Ok(tokens)
}
