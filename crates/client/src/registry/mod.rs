//! The client's view of registries: which registries the user configured, how to authenticate
//! to each, and how a `--registry NAME|URL|PATH` argument becomes a place to fetch from.
//!
//! Configuration (`registries.json`) and credentials (`credentials.json`, mode 0600) live apart in
//! the config directory ([`crate::paths::Paths`]), so configuration can be shared or shown while
//! secrets stay private. Secrets are wrapped in [`Secret`], whose `Debug` and `Display` print
//! `<redacted>`, so no error, log or debug output can leak one by accident. Fetching lives in
//! [`fetch`]; the keychain-or-file store of secrets in [`store`]; OpenID Connect sign-in (device
//! flow and token refresh) in [`oidc`].

pub mod fetch;
pub mod git;
pub mod oidc;
pub mod store;

use ratchet_formats::index::RegistryKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use fetch::{FetchError, Fetcher};

/// File of the configured registries, in the config directory.
pub const REGISTRIES_FILE: &str = "registries.json";
/// File of the stored credentials (mode 0600), in the config directory.
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// A secret (token, API key, password). Never printed: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for building a request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How a registry wants the credential sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum AuthMethod {
    /// No credential.
    #[default]
    None,
    /// `Authorization: Bearer <token>` (an OAuth2 access token is a bearer token too).
    Token,
    /// `<header>: <key>`.
    ApiKey {
        /// The header name, e.g. `X-Api-Key`.
        header: String,
    },
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// The user name (the password is the stored secret).
        user: String,
    },
    /// An OpenID Connect sign-in (`ratchet registry login NAME --oidc ISSUER --client-id ID`):
    /// the stored secret is an [`oidc::TokenSet`] whose access token is sent as
    /// `Authorization: Bearer` and renewed with its refresh token when it expires.
    Oidc {
        /// The provider's issuer URL (its discovery document is at
        /// `ISSUER/.well-known/openid-configuration`).
        issuer: String,
        /// The OAuth client id registered with the provider for this registry's command line
        /// (a public client allowed the device grant and refresh tokens).
        #[serde(rename = "client-id")]
        client_id: String,
        /// The scopes asked for (default [`oidc::DEFAULT_SCOPE`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
    },
}

/// One configured registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryEntry {
    /// URL of the registry root (`https://`, `http://`, `file://`).
    pub url: String,
    /// Public, private, partner or local.
    pub kind: RegistryKind,
    /// How to authenticate.
    #[serde(default)]
    pub auth: AuthMethod,
    /// A command whose standard output is the secret (run with `sh -c`), tried before the
    /// credentials file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_command: Option<String>,
    /// A PEM file of the certificate authorities that this registry's server certificate chains
    /// to (a private CA), trusted for this registry besides the usual roots. An absolute path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The registry key (base64 minisign public key) given with `registry add --root-key`:
    /// trusted instead of trust on first use of the registry's `root.json` (§9.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_key: Option<String>,
    /// Mirror keys (base64) whose timestamps are accepted for this registry's checkpoints
    /// (`registry add --mirror-key`, §9.8): they vouch for freshness only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirror_keys: Vec<String>,
}

/// `registries.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// The registry used when a command gets no `--registry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Registries by name.
    #[serde(default)]
    pub registries: BTreeMap<String, RegistryEntry>,
    /// The Ratchet version this client installs for (`requirements.ratchet_version` is checked
    /// against it); `RATCHET_TARGET_VERSION` overrides it; default [`DEFAULT_RATCHET_VERSION`].
    #[serde(
        default,
        rename = "ratchet-version",
        skip_serializing_if = "Option::is_none"
    )]
    pub ratchet_version: Option<semver::Version>,
    /// Most connections to one host on HTTP/1 (1 to 64, default 6); HTTP/2 hosts get one
    /// connection with many streams. `RATCHET_HTTP_MAX_CONNECTIONS` overrides it.
    #[serde(
        default,
        rename = "max-connections-per-host",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_connections_per_host: Option<usize>,
    /// Where stored secrets go: the keychain when reachable (`auto`, the default), `keychain`
    /// only, or `file` only (`credentials.json`); `RATCHET_CREDENTIAL_STORE` overrides it.
    #[serde(
        default,
        rename = "credential-store",
        skip_serializing_if = "Option::is_none"
    )]
    pub credential_store: Option<store::StoreChoice>,
}

/// The Ratchet version a client targets when nothing says otherwise.
pub const DEFAULT_RATCHET_VERSION: semver::Version = semver::Version::new(1, 0, 0);

/// Environment variable overriding the targeted Ratchet version.
pub const TARGET_VERSION_ENV: &str = "RATCHET_TARGET_VERSION";

/// The Ratchet version this client targets: `RATCHET_TARGET_VERSION`, else `ratchet-version` in
/// `registries.json`, else [`DEFAULT_RATCHET_VERSION`].
pub fn target_ratchet_version(config_dir: &Path) -> Result<semver::Version, ConfigError> {
    if let Ok(v) = std::env::var(TARGET_VERSION_ENV)
        && !v.is_empty()
    {
        return semver::Version::parse(v.trim())
            .map_err(|source| ConfigError::BadTargetVersion { value: v, source });
    }
    Ok(ClientConfig::load(config_dir)?
        .ratchet_version
        .unwrap_or(DEFAULT_RATCHET_VERSION))
}

/// Client configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `registries.json` does not parse.
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: serde_json::Error,
    },
    /// The credentials file does not parse (its text, secrets, is never quoted).
    #[error("{}: not a credentials file (line {line})", path.display())]
    BadCredentialsFile {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the problem.
        line: usize,
    },
    /// `RATCHET_TARGET_VERSION` is not a SemVer version.
    #[error("{TARGET_VERSION_ENV}=`{value}`: not a SemVer version: {source}")]
    BadTargetVersion {
        /// The variable's value.
        value: String,
        /// Why it does not parse.
        source: semver::Error,
    },
    /// A registry name that is not lower-case letters, digits and `-`.
    #[error(
        "registry name `{name}`: use lower-case letters, digits and `-`, starting with a letter"
    )]
    BadName {
        /// The name given.
        name: String,
    },
    /// A registry's credential command cannot be started.
    #[error("registry {registry}: cannot run its credential command: {source}")]
    CredentialCommand {
        /// The registry's name.
        registry: String,
        /// Why.
        source: std::io::Error,
    },
    /// A registry's credential command exited with a failure.
    #[error("registry {registry}: its credential command failed ({status})")]
    CredentialCommandFailed {
        /// The registry's name.
        registry: String,
        /// How it exited.
        status: std::process::ExitStatus,
    },
    /// A registry URL that does not parse.
    #[error("registry URL `{location}`: {source}")]
    BadUrl {
        /// The URL as given.
        location: String,
        /// Why.
        source: url::ParseError,
    },
    /// A registry directory path that cannot be made absolute.
    #[error("registry path `{location}`: {source}")]
    BadPath {
        /// The path as given.
        location: String,
        /// Why.
        source: std::io::Error,
    },
    /// A registry directory path that is not absolute once resolved.
    #[error("registry path `{location}` is not absolute")]
    PathNotAbsolute {
        /// The path as given.
        location: String,
    },
    /// A registry URL with a user or password in it.
    #[error(
        "registry URL with a user or password in it: store the credential with `ratchet registry login NAME` instead"
    )]
    CredentialInUrl,
    /// A registry URL of a scheme other than http, https, file or a git one.
    #[error(
        "registry URL `{location}`: use http://, https://, file://, git+https://, git+ssh://, git+file:// or a directory path"
    )]
    UnsupportedScheme {
        /// The URL as given.
        location: String,
    },
    /// No `--registry` and no default registry configured.
    #[error(
        "no registry is configured: pass --registry NAME|URL|PATH, or add one with `ratchet registry add NAME URL`"
    )]
    NoRegistry,
    /// `--registry NAME` that is neither a configured registry nor a URL or directory.
    #[error(
        "`{name}` is neither a configured registry (see `ratchet registry list`) nor a URL or directory"
    )]
    UnknownRegistry {
        /// The name given.
        name: String,
    },
    /// A CA file cannot be read or is not PEM.
    #[error(transparent)]
    CaFile(#[from] ratchet_http::HttpError),
    /// `RATCHET_CREDENTIAL_STORE` names no store.
    #[error("{}=`{value}`: use auto, keychain or file", store::STORE_ENV)]
    BadStoreChoice {
        /// The variable's value.
        value: String,
    },
    /// The keychain was required (`credential-store: keychain`) and could not be used.
    #[error(
        "registry {registry}: the system keychain cannot be used: {reason} (set {}=file to keep credentials in credentials.json)",
        store::STORE_ENV
    )]
    Keychain {
        /// The registry's name.
        registry: String,
        /// What the keychain said.
        reason: String,
    },
    /// The sign-in of an OpenID Connect registry expired and could not be renewed.
    #[error(
        "registry {registry}: the sign-in has expired and could not be renewed; log in again with `ratchet registry login {registry}`"
    )]
    SignInExpired {
        /// The registry's name.
        registry: String,
        /// Why the refresh failed.
        #[source]
        source: oidc::OidcError,
    },
    /// A git-hosted registry URL with a bad `#branch=`, `#tag=` or `#rev=`.
    #[error(transparent)]
    Git(#[from] git::GitError),
}

/// Checks a registry's CA file (`registry add --ca-file`): it must hold PEM certificates. Returns
/// its absolute path, which is what `registries.json` stores (the command may run elsewhere).
pub fn check_ca_file(path: &Path) -> Result<PathBuf, ConfigError> {
    let abs = std::path::absolute(path).map_err(io_err(path))?;
    ratchet_http::read_ca_file(&abs)?;
    Ok(abs)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ConfigError + '_ {
    move |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks a registry name: lower-case letters, digits and `-`, starting with a letter.
pub fn check_name(name: &str) -> Result<(), ConfigError> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::BadName {
            name: name.to_string(),
        })
    }
}

impl ClientConfig {
    /// Reads `registries.json` from `config_dir` (absent: empty).
    pub fn load(config_dir: &Path) -> Result<Self, ConfigError> {
        let path = config_dir.join(REGISTRIES_FILE);
        match std::fs::read(&path) {
            Ok(b) => Self::parse(&b, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClientConfig::default()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Parses `registries.json` bytes; `path` names the file in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, ConfigError> {
        serde_json::from_slice(bytes).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes `registries.json` atomically.
    pub fn save(&self, config_dir: &Path) -> Result<(), ConfigError> {
        let path = config_dir.join(REGISTRIES_FILE);
        let mut s = serde_json::to_string_pretty(self).expect("config serializes");
        s.push('\n');
        ratchet_formats::fsutil::write_atomic(&path, s.as_bytes()).map_err(io_err(&path))
    }
}

/// Stored secrets by registry name (`credentials.json`, mode 0600).
#[derive(Default, Serialize, Deserialize)]
pub struct Credentials {
    /// Secrets by registry name.
    #[serde(default)]
    pub secrets: BTreeMap<String, Secret>,
}

impl Credentials {
    /// Reads `credentials.json` (absent: empty).
    pub fn load(config_dir: &Path) -> Result<Self, ConfigError> {
        let path = config_dir.join(CREDENTIALS_FILE);
        match std::fs::read(&path) {
            Ok(b) => Self::parse(&b, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Parses `credentials.json` bytes; `path` names the file in errors, which never quote
    /// the file (serde's message would: only the line is kept).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, ConfigError> {
        serde_json::from_slice(bytes).map_err(|e| ConfigError::BadCredentialsFile {
            path: path.to_path_buf(),
            line: e.line(),
        })
    }

    /// Writes `credentials.json` atomically with mode 0600.
    pub fn save(&self, config_dir: &Path) -> Result<(), ConfigError> {
        let path = config_dir.join(CREDENTIALS_FILE);
        let s = serde_json::to_string_pretty(self).expect("credentials serialize");
        ratchet_formats::fsutil::write_private_atomic(&path, s.as_bytes()).map_err(io_err(&path))
    }
}

/// The environment variable that holds the secret of registry `name`:
/// `RATCHET_REGISTRY_<NAME>_TOKEN`, the name upper-cased with `-` as `_`.
pub fn token_env_var(name: &str) -> String {
    let n: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("RATCHET_REGISTRY_{n}_TOKEN")
}

/// A credential ready to attach to requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// How to send it.
    pub method: AuthMethod,
    /// The secret.
    pub secret: Secret,
}

impl Auth {
    /// The header name and value to send.
    pub fn header(&self) -> Option<(String, String)> {
        match &self.method {
            AuthMethod::None => None,
            AuthMethod::Token | AuthMethod::Oidc { .. } => Some((
                "authorization".into(),
                format!("Bearer {}", self.secret.expose()),
            )),
            AuthMethod::ApiKey { header } => {
                Some((header.clone(), self.secret.expose().to_string()))
            }
            AuthMethod::Basic { user } => Some((
                "authorization".into(),
                format!(
                    "Basic {}",
                    base64(format!("{user}:{}", self.secret.expose()).as_bytes())
                ),
            )),
        }
    }
}

/// Standard base64 with padding (RFC 4648).
fn base64(bytes: &[u8]) -> String {
    use ct_codecs::Encoder;
    // Encoding fails only when the output length overflows `usize`.
    ct_codecs::Base64::encode_to_string(bytes).unwrap_or_default()
}

/// Finds the secret of a configured registry: the environment variable, then the credential
/// command, then the credential store (keychain or file). `Ok(None)` when there is none.
pub fn find_secret(
    store: &store::CredentialStore,
    name: &str,
    entry: &RegistryEntry,
) -> Result<Option<Secret>, ConfigError> {
    if let Some(s) = external_secret(name, entry)? {
        return Ok(Some(s));
    }
    store.load(name)
}

/// The secret given from outside the store: the environment variable, then the credential
/// command.
fn external_secret(name: &str, entry: &RegistryEntry) -> Result<Option<Secret>, ConfigError> {
    if let Ok(v) = std::env::var(token_env_var(name))
        && !v.is_empty()
    {
        return Ok(Some(Secret::new(v)));
    }
    if let Some(cmd) = &entry.credential_command {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stderr(std::process::Stdio::null())
            .output()
            .map_err(|source| ConfigError::CredentialCommand {
                registry: name.to_string(),
                source,
            })?;
        if !out.status.success() {
            return Err(ConfigError::CredentialCommandFailed {
                registry: name.to_string(),
                status: out.status,
            });
        }
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !s.is_empty() {
            return Ok(Some(Secret::new(s)));
        }
    }
    Ok(None)
}

/// The bearer token of an OpenID Connect registry: a token from the environment or the
/// credential command as it is; else the stored token set's access token, renewed first when
/// it has expired or is about to (under [`store::RefreshLock`], re-reading the set in case
/// another command renewed it meanwhile). A failed renewal is
/// [`ConfigError::SignInExpired`].
fn oidc_access_token(
    config_dir: &Path,
    store: &store::CredentialStore,
    name: &str,
    entry: &RegistryEntry,
    client_id: &str,
) -> Result<Option<Secret>, ConfigError> {
    if let Some(s) = external_secret(name, entry)? {
        return Ok(Some(s));
    }
    let Some(stored) = store.load(name)? else {
        return Ok(None);
    };
    let Some(tokens) = oidc::TokenSet::from_secret(&stored) else {
        // A plain token stored by `registry login NAME` on stdin: sent as it is.
        return Ok(Some(stored));
    };
    if !tokens.needs_refresh(oidc::now_secs()) {
        return Ok(Some(tokens.access_token));
    }
    let _lock = store::RefreshLock::acquire(config_dir)?;
    let tokens = match store
        .load(name)?
        .as_ref()
        .and_then(oidc::TokenSet::from_secret)
    {
        Some(t) => t,
        None => return Ok(None),
    };
    if !tokens.needs_refresh(oidc::now_secs()) {
        return Ok(Some(tokens.access_token));
    }
    let expired = |source| ConfigError::SignInExpired {
        registry: name.to_string(),
        source,
    };
    let provider = oidc::Provider::new(entry.ca_file.iter().cloned().collect()).map_err(expired)?;
    let renewed = provider.refresh(&tokens, client_id).map_err(expired)?;
    store.save(name, &renewed.to_secret())?;
    Ok(Some(renewed.access_token))
}

/// A registry chosen for one command: its name, root URL and credential.
#[derive(Debug, Clone)]
pub struct RegistrySource {
    /// The configured name, or the URL/path as given.
    pub name: String,
    /// Root URL, ending in `/`.
    pub base: url::Url,
    /// The credential, when the registry has one.
    pub auth: Option<Auth>,
    /// The kind the user configured for it in `registries.json` (`None` for a URL or path
    /// given directly). Unlike the `kind` in the registry's own `config.json`, which whoever
    /// hosts the registry writes, this one the user chose.
    pub configured_kind: Option<RegistryKind>,
    /// The registry's own CA file (`ca-file` in `registries.json`), if configured.
    pub ca_file: Option<PathBuf>,
    /// `max-connections-per-host` of `registries.json`, if set (the fetcher applies
    /// `RATCHET_HTTP_MAX_CONNECTIONS` and the default, [`ratchet_http::max_connections`]).
    pub max_connections: Option<usize>,
    /// The registry key the user gave (`registry add --root-key`, base64): trusted instead of
    /// the one the registry's `root.json` names on first use (`index-format.md` §9.2).
    pub root_key: Option<String>,
    /// Accept an expired signed timestamp for this command (`--allow-expired`), loudly.
    pub allow_expired: bool,
    /// Mirror keys (base64) the user opted into (`index-format.md` §9.8).
    pub mirror_keys: Vec<String>,
}

impl RegistrySource {
    /// A source for a URL or path with no credential.
    pub fn from_location(loc: &str) -> Result<RegistrySource, ConfigError> {
        let mut base = if loc.contains("://") {
            url::Url::parse(loc).map_err(|source| ConfigError::BadUrl {
                location: loc.to_string(),
                source,
            })?
        } else {
            let p = std::path::absolute(loc).map_err(|source| ConfigError::BadPath {
                location: loc.to_string(),
                source,
            })?;
            url::Url::from_directory_path(&p).map_err(|()| ConfigError::PathNotAbsolute {
                location: loc.to_string(),
            })?
        };
        let git = git::is_git_scheme(base.scheme());
        // `git+ssh://git@host/...` names the ssh user, which is no secret (the ssh agent or key
        // is); a password is refused everywhere.
        if base.password().is_some() || (!base.username().is_empty() && base.scheme() != "git+ssh")
        {
            return Err(ConfigError::CredentialInUrl);
        }
        if !matches!(base.scheme(), "http" | "https" | "file") && !git {
            return Err(ConfigError::UnsupportedScheme {
                location: loc.to_string(),
            });
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        if git {
            git::GitSpec::from_url(&base)?;
        }
        Ok(RegistrySource {
            name: loc.to_string(),
            base,
            auth: None,
            configured_kind: None,
            ca_file: None,
            max_connections: None,
            root_key: None,
            allow_expired: false,
            mirror_keys: Vec::new(),
        })
    }

    /// True when the user, not the host, vouches that this is a local development registry:
    /// it is a directory on this machine (`file://`), or the user configured it as `local`.
    /// `--allow-unsigned` needs this as well as `"kind": "local"` in its `config.json`.
    pub fn is_local(&self) -> bool {
        self.base.scheme() == "file" || self.configured_kind == Some(RegistryKind::Local)
    }

    /// The repository and commit of a git-hosted registry (`git+https://...#branch=main`,
    /// [`git`]); `None` for any other.
    pub fn git(&self) -> Option<git::GitSpec> {
        if git::is_git_scheme(self.base.scheme()) {
            git::GitSpec::from_url(&self.base).ok()
        } else {
            None
        }
    }

    /// The source named by `--registry` (a configured name, a URL or a path), or the default
    /// registry when `arg` is `None`.
    pub fn select(config_dir: &Path, arg: Option<&str>) -> Result<RegistrySource, ConfigError> {
        let cfg = ClientConfig::load(config_dir)?;
        let name = match arg {
            Some(a) => a.to_string(),
            None => cfg.default.clone().ok_or(ConfigError::NoRegistry)?,
        };
        // A URL or path of a configured registry gets that registry's name and credential.
        let by_location = || {
            let base = RegistrySource::from_location(&name).ok()?.base;
            cfg.registries
                .iter()
                .find(|(_, e)| RegistrySource::from_location(&e.url).is_ok_and(|s| s.base == base))
        };
        let found = match cfg.registries.get_key_value(&name) {
            Some(kv) => Some(kv),
            None => by_location(),
        };
        if let Some((name, entry)) = found {
            let name = name.clone();
            let mut src = RegistrySource::from_location(&entry.url)?;
            src.name = name.clone();
            src.configured_kind = Some(entry.kind);
            src.ca_file = entry.ca_file.clone();
            src.root_key = entry.root_key.clone();
            src.mirror_keys = entry.mirror_keys.clone();
            src.max_connections = cfg.max_connections_per_host;
            let store = store::CredentialStore::new(config_dir, cfg.credential_store)?;
            let secret = match &entry.auth {
                AuthMethod::None => None,
                AuthMethod::Oidc { client_id, .. } => {
                    oidc_access_token(config_dir, &store, &name, entry, client_id)?
                }
                _ => find_secret(&store, &name, entry)?,
            };
            if let Some(secret) = secret {
                src.auth = Some(Auth {
                    method: entry.auth.clone(),
                    secret,
                });
            }
            return Ok(src);
        }
        if !name.contains("://") && !name.contains('/') && !Path::new(&name).exists() {
            return Err(ConfigError::UnknownRegistry { name });
        }
        let mut src = RegistrySource::from_location(&name)?;
        src.max_connections = cfg.max_connections_per_host;
        Ok(src)
    }

    /// What to run to give this registry a credential: `ratchet registry login NAME` (or the
    /// environment variable) for a configured registry; for a URL given directly, first
    /// `ratchet registry add`.
    pub fn login_advice(&self) -> String {
        if self.configured_kind.is_some() {
            format!(
                "run `ratchet registry login {}` (or set {})",
                self.name,
                token_env_var(&self.name)
            )
        } else {
            format!(
                "configure it with `ratchet registry add NAME {} --kind private --auth token` (or `--auth basic --user U`, `--auth api-key`), then run `ratchet registry login NAME`",
                self.base
            )
        }
    }

    /// A short label for messages: the name, with the URL when they differ.
    pub fn label(&self) -> String {
        if self.name == self.base.as_str() {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, self.base)
        }
    }
}

/// An error and its causes in one line, each cause once (many errors repeat their cause in
/// their own text). Shared by the sign-in and keychain errors.
pub(crate) fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_selection_refusals_are_typed() {
        let t = tempfile::tempdir().unwrap();
        match RegistrySource::select(t.path(), Some("nosuchregistry")) {
            Err(ConfigError::UnknownRegistry { name }) => assert_eq!(name, "nosuchregistry"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            RegistrySource::select(t.path(), None),
            Err(ConfigError::NoRegistry)
        ));
        assert!(matches!(
            RegistrySource::from_location("ftp://example.com/reg"),
            Err(ConfigError::UnsupportedScheme { location }) if location == "ftp://example.com/reg"
        ));
        assert!(matches!(
            RegistrySource::from_location("https://u:p@example.com/reg"),
            Err(ConfigError::CredentialInUrl)
        ));
        assert!(matches!(
            check_name("Bad_Name"),
            Err(ConfigError::BadName { name }) if name == "Bad_Name"
        ));
        std::fs::write(t.path().join(REGISTRIES_FILE), "{oops").unwrap();
        match ClientConfig::load(t.path()) {
            Err(ConfigError::Parse { path, .. }) => {
                assert_eq!(path, t.path().join(REGISTRIES_FILE))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2-very-secret");
        let a = Auth {
            method: AuthMethod::Token,
            secret: s.clone(),
        };
        for text in [
            format!("{s}"),
            format!("{s:?}"),
            format!("{a:?}"),
            format!("{a:#?}"),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert_eq!(a.header().unwrap().1, "Bearer hunter2-very-secret");
    }

    #[test]
    fn basic_auth_encodes() {
        let a = Auth {
            method: AuthMethod::Basic { user: "ann".into() },
            secret: Secret::new("pw"),
        };
        assert_eq!(a.header().unwrap().1, "Basic YW5uOnB3");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn env_var_names() {
        assert_eq!(
            token_env_var("acme-corp"),
            "RATCHET_REGISTRY_ACME_CORP_TOKEN"
        );
        assert!(check_name("acme-corp").is_ok());
        assert!(check_name("Acme").is_err());
    }

    #[test]
    fn credentials_file_is_private() {
        let d = tempfile::tempdir().unwrap();
        let mut c = Credentials::default();
        c.secrets.insert("x".into(), Secret::new("s3"));
        c.save(d.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.path().join(CREDENTIALS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let back = Credentials::load(d.path()).unwrap();
        assert_eq!(back.secrets["x"].expose(), "s3");
    }
}
