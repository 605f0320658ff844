//! Where stored registry secrets live: the operating system's keychain when one is reachable
//! (the Secret Service on Linux, the Keychain on macOS, the Credential Manager on Windows,
//! through the `keyring` crate), else `credentials.json` with mode 0600.
//!
//! A machine without a keychain (a headless CI runner has no session bus) must still work, so
//! the default, [`StoreChoice::Auto`], falls back to the file, and says so through
//! [`Location::File::fallback`] for `registry login` to report. `RATCHET_CREDENTIAL_STORE`
//! (`auto`, `keychain`, `file`) or `"credential-store"` in `registries.json` forces one place
//! (`index-format.md` §8.2).

use super::{ConfigError, Credentials, Secret};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The environment variable that chooses the credential store (over `registries.json`).
pub const STORE_ENV: &str = "RATCHET_CREDENTIAL_STORE";

/// The keychain service name the secrets are kept under.
pub const KEYCHAIN_SERVICE: &str = "ratchet-registry";

/// Which credential store to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreChoice {
    /// The keychain when reachable, else the file.
    #[default]
    Auto,
    /// The keychain only: an error when it cannot be reached.
    Keychain,
    /// `credentials.json` only.
    File,
}

impl StoreChoice {
    /// Parses `auto`, `keychain` or `file`.
    pub fn parse(s: &str) -> Option<StoreChoice> {
        match s.trim() {
            "auto" => Some(StoreChoice::Auto),
            "keychain" => Some(StoreChoice::Keychain),
            "file" => Some(StoreChoice::File),
            _ => None,
        }
    }
}

/// Where a secret was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// In the operating system's keychain.
    Keychain,
    /// In `credentials.json` (mode 0600).
    File {
        /// The file.
        path: PathBuf,
        /// Why the keychain was not used, when it was tried and could not be reached.
        fallback: Option<String>,
    },
}

/// The credential store of one configuration directory.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    config_dir: PathBuf,
    choice: StoreChoice,
}

/// A keychain failure, as one line (the keyring error's text names no secret).
fn keychain_reason(e: &keyring::Error) -> String {
    super::cause_chain(e)
        .chars()
        .take(300)
        .flat_map(char::escape_debug)
        .collect()
}

impl CredentialStore {
    /// The store for `config_dir`: `RATCHET_CREDENTIAL_STORE`, else `setting` (from
    /// `registries.json`), else [`StoreChoice::Auto`].
    pub fn new(config_dir: &Path, setting: Option<StoreChoice>) -> Result<Self, ConfigError> {
        let choice = match std::env::var(STORE_ENV) {
            Ok(v) if !v.is_empty() => {
                StoreChoice::parse(&v).ok_or(ConfigError::BadStoreChoice { value: v })?
            }
            _ => setting.unwrap_or_default(),
        };
        Ok(CredentialStore {
            config_dir: config_dir.to_path_buf(),
            choice,
        })
    }

    /// The store in use.
    pub fn choice(&self) -> StoreChoice {
        self.choice
    }

    /// The keychain entry of registry `name`: one per configuration directory, so two
    /// `RATCHET_HOME`s never share a secret.
    fn entry(&self, name: &str) -> Result<keyring::Entry, keyring::Error> {
        if !cfg!(any(
            target_os = "linux",
            target_os = "macos",
            target_os = "windows"
        )) {
            // keyring would fall back to an in-memory mock store elsewhere: not a store.
            return Err(keyring::Error::NoStorageAccess(
                "no keychain support on this operating system".into(),
            ));
        }
        keyring::Entry::new(
            KEYCHAIN_SERVICE,
            &format!("{name}@{}", self.config_dir.display()),
        )
    }

    fn file(&self) -> PathBuf {
        self.config_dir.join(super::CREDENTIALS_FILE)
    }

    fn keychain_error(&self, name: &str, e: &keyring::Error) -> ConfigError {
        ConfigError::Keychain {
            registry: name.to_string(),
            reason: keychain_reason(e),
        }
    }

    /// The stored secret of registry `name`: from the keychain, then the file.
    pub fn load(&self, name: &str) -> Result<Option<Secret>, ConfigError> {
        if self.choice != StoreChoice::File {
            match self.entry(name).and_then(|e| e.get_password()) {
                Ok(s) => return Ok(Some(Secret::new(s))),
                Err(keyring::Error::NoEntry) => {}
                Err(e) if self.choice == StoreChoice::Keychain => {
                    return Err(self.keychain_error(name, &e));
                }
                // Auto: an unreachable keychain holds nothing; the file may.
                Err(_) => {}
            }
            if self.choice == StoreChoice::Keychain {
                return Ok(None);
            }
        }
        Ok(Credentials::load(&self.config_dir)?.secrets.remove(name))
    }

    /// Stores the secret of registry `name`, replacing any other copy.
    pub fn save(&self, name: &str, secret: &Secret) -> Result<Location, ConfigError> {
        let mut fallback = None;
        if self.choice != StoreChoice::File {
            match self
                .entry(name)
                .and_then(|e| e.set_password(secret.expose()))
            {
                Ok(()) => {
                    // No stale copy in the file.
                    self.remove_from_file(name)?;
                    return Ok(Location::Keychain);
                }
                Err(e) if self.choice == StoreChoice::Keychain => {
                    return Err(self.keychain_error(name, &e));
                }
                Err(e) => fallback = Some(keychain_reason(&e)),
            }
        }
        let mut creds = Credentials::load(&self.config_dir)?;
        creds.secrets.insert(name.to_string(), secret.clone());
        creds.save(&self.config_dir)?;
        Ok(Location::File {
            path: self.file(),
            fallback,
        })
    }

    fn remove_from_file(&self, name: &str) -> Result<bool, ConfigError> {
        let mut creds = Credentials::load(&self.config_dir)?;
        let removed = creds.secrets.remove(name).is_some();
        if removed {
            creds.save(&self.config_dir)?;
        }
        Ok(removed)
    }

    /// Forgets the secret of registry `name` everywhere; says whether one was stored.
    pub fn remove(&self, name: &str) -> Result<bool, ConfigError> {
        let in_keychain = self.choice != StoreChoice::File
            && self.entry(name).and_then(|e| e.delete_credential()).is_ok();
        let in_file = self.remove_from_file(name)?;
        Ok(in_keychain || in_file)
    }

    /// Whether a secret is stored for registry `name`.
    pub fn has(&self, name: &str) -> bool {
        self.load(name).is_ok_and(|s| s.is_some())
    }
}

/// Holds an exclusive lock on `credentials.lock` in the configuration directory while it
/// lives: two commands renewing the same sign-in at once would otherwise both spend a
/// rotating refresh token, and the second would be refused.
pub struct RefreshLock {
    _file: std::fs::File,
}

impl RefreshLock {
    /// Waits for the lock.
    pub fn acquire(config_dir: &Path) -> Result<RefreshLock, ConfigError> {
        let path = config_dir.join("credentials.lock");
        let io = |source| ConfigError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(config_dir).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor this function owns; released when it is closed.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(io(std::io::Error::last_os_error()));
            }
        }
        Ok(RefreshLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_store_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let s = CredentialStore {
            config_dir: d.path().to_path_buf(),
            choice: StoreChoice::File,
        };
        assert!(!s.has("corp"));
        let loc = s.save("corp", &Secret::new("tok")).unwrap();
        assert_eq!(
            loc,
            Location::File {
                path: d.path().join("credentials.json"),
                fallback: None
            }
        );
        assert_eq!(s.load("corp").unwrap().unwrap().expose(), "tok");
        assert!(s.remove("corp").unwrap());
        assert!(!s.remove("corp").unwrap());
        assert!(s.load("corp").unwrap().is_none());
    }

    #[test]
    fn choices_parse() {
        assert_eq!(StoreChoice::parse("file"), Some(StoreChoice::File));
        assert_eq!(StoreChoice::parse("keychain"), Some(StoreChoice::Keychain));
        assert_eq!(StoreChoice::parse("auto"), Some(StoreChoice::Auto));
        assert_eq!(StoreChoice::parse("vault"), None);
    }
}
