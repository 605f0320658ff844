//! Where ratchet keeps its files on this machine.
//!
//! Configuration, credentials, caches and installed bundles follow the XDG base directories on
//! Linux (and the platform conventions elsewhere). `RATCHET_HOME` overrides every path at once,
//! so tests and CI run isolated from the user's real files: with it set, everything lives under
//! `$RATCHET_HOME/{config,cache,data}`.

use std::path::PathBuf;

/// Environment variable that relocates every ratchet path.
pub const HOME_ENV: &str = "RATCHET_HOME";

/// The directories ratchet uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Configuration (registries, sandbox policy).
    pub config: PathBuf,
    /// Re-creatable data (index cache, compiled modules, downloads).
    pub cache: PathBuf,
    /// Installed bundles, lockfile, pinned keys.
    pub data: PathBuf,
}

impl Paths {
    /// Paths from `RATCHET_HOME`, or the platform's directories.
    pub fn detect() -> Paths {
        if let Some(home) = std::env::var_os(HOME_ENV).filter(|h| !h.is_empty()) {
            return Paths::under(PathBuf::from(home));
        }
        match directories::ProjectDirs::from("dev", "ratchet", "ratchet") {
            Some(d) => Paths {
                config: d.config_dir().to_path_buf(),
                cache: d.cache_dir().to_path_buf(),
                data: d.data_dir().to_path_buf(),
            },
            None => Paths::under(std::env::temp_dir().join("ratchet")),
        }
    }

    /// All paths under one root (`RATCHET_HOME` layout).
    pub fn under(root: PathBuf) -> Paths {
        Paths {
            config: root.join("config"),
            cache: root.join("cache"),
            data: root.join("data"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_root() {
        let p = Paths::under(PathBuf::from("/x"));
        assert_eq!(p.config, PathBuf::from("/x/config"));
        assert_eq!(p.cache, PathBuf::from("/x/cache"));
        assert_eq!(p.data, PathBuf::from("/x/data"));
    }
}
