//! The compiled-module cache.
//!
//! Compiling a module with cranelift takes from milliseconds (a small task) to seconds (the
//! JavaScript engine); loading the serialized artifact takes about a millisecond. Artifacts live
//! in `CACHE/modules/<key>.wasmer`, where the key is the SHA-256 of the module's bytes together
//! with the engine tag (wasmer version, engine id, target and the sandbox's instrumentation
//! version), so a new wasmer, another CPU or changed metering never loads a stale artifact.
//! Files are written atomically. The cache directory is as trusted as the `ratchet` binary:
//! anyone who can write it can run code as the user.

use ratchet_formats::fsutil::write_atomic;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use wasmer::{Engine, Module};

/// The wasmer version this crate is pinned to (`=` requirement in Cargo.toml; change both
/// together).
pub const WASMER_VERSION: &str = "7.4.2";

/// Bumped whenever the instrumentation compiled into modules (metering) changes.
const INSTRUMENTATION_VERSION: u32 = 3;

/// What a lookup did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// The artifact was on disk and loaded.
    Hit,
    /// The module was compiled (and stored).
    Compiled,
    /// The module was compiled; there is no cache directory.
    Disabled,
}

/// The on-disk cache of compiled modules.
#[derive(Debug, Clone)]
pub struct ModuleCache {
    dir: Option<PathBuf>,
    engine_tag: String,
}

impl ModuleCache {
    /// A cache under `dir` (`None` disables caching) for artifacts of `engine`.
    pub fn new(dir: Option<PathBuf>, engine: &Engine) -> ModuleCache {
        let engine_tag = format!(
            "wasmer-{}/{}/{}/{}/metering-{INSTRUMENTATION_VERSION}",
            WASMER_VERSION,
            engine.deterministic_id(),
            std::env::consts::ARCH,
            std::env::consts::OS
        );
        ModuleCache { dir, engine_tag }
    }

    /// The engine tag that is part of every key.
    pub fn engine_tag(&self) -> &str {
        &self.engine_tag
    }

    /// The cache key of a module: hex SHA-256 over the module hash and the engine tag.
    pub fn key(&self, module_bytes: &[u8]) -> String {
        self.key_for_hash(&Sha256::digest(module_bytes).into())
    }

    /// The cache key of a module whose SHA-256 is `module_hash` (known in advance for the
    /// embedded JavaScript engine, which then need not be hashed on every process start).
    pub fn key_for_hash(&self, module_hash: &[u8; 32]) -> String {
        let mut h = Sha256::new();
        h.update(module_hash);
        h.update(self.engine_tag.as_bytes());
        hex(&h.finalize())
    }

    fn path_for(&self, key: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{key}.wasmer")))
    }

    /// Loads the module from the cache, or calls `compile` (which returns the serialized
    /// artifact), stores the artifact and loads it. A cache file that does not load (truncated,
    /// other format) is replaced.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        module_bytes: &[u8],
        compile: impl FnOnce() -> Result<Vec<u8>, wasmer::CompileError>,
    ) -> Result<(Module, CacheStatus), wasmer::CompileError> {
        self.load_or_compile_hashed(engine, &Sha256::digest(module_bytes).into(), compile)
    }

    /// The module whose SHA-256 is `module_hash` when its artifact is in the cache and loads;
    /// `None` otherwise (nothing is compiled).
    pub fn load_cached(&self, engine: &Engine, module_hash: &[u8; 32]) -> Option<Module> {
        let p = self.path_for(&self.key_for_hash(module_hash))?;
        if !p.is_file() {
            return None;
        }
        // SAFETY: as in `load_or_compile_hashed`: an artifact of this program for this engine
        // tag, in the trusted cache directory.
        unsafe { Module::deserialize_from_file(engine, &p) }.ok()
    }

    /// [`ModuleCache::load_or_compile`] for a module whose SHA-256 is `module_hash`.
    pub fn load_or_compile_hashed(
        &self,
        engine: &Engine,
        module_hash: &[u8; 32],
        compile: impl FnOnce() -> Result<Vec<u8>, wasmer::CompileError>,
    ) -> Result<(Module, CacheStatus), wasmer::CompileError> {
        let path = self.path_for(&self.key_for_hash(module_hash));
        if let Some(p) = &path
            && p.is_file()
        {
            // SAFETY: the artifact was written by this program for this engine tag (the key
            // covers wasmer version, engine and target); `deserialize_from_file` checks the
            // artifact's header and version. The cache directory is trusted (module docs).
            if let Ok(m) = unsafe { Module::deserialize_from_file(engine, p) } {
                return Ok((m, CacheStatus::Hit));
            }
        }
        let artifact = compile()?;
        // SAFETY: the artifact was produced just now by an engine of the same configuration.
        let module = unsafe { Module::deserialize(engine, artifact.clone()) }.map_err(|e| {
            wasmer::CompileError::Codegen(format!("loading the compiled module: {e}"))
        })?;
        let status = match &path {
            // A cache that cannot be written only costs speed: the run goes on.
            Some(p) => {
                let _ = write_atomic(p, &artifact);
                CacheStatus::Compiled
            }
            None => CacheStatus::Disabled,
        };
        Ok((module, status))
    }
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_covers_module_and_engine() {
        let engine = Engine::default();
        let a = ModuleCache::new(None, &engine);
        let mut b = a.clone();
        b.engine_tag.push_str("-other");
        assert_eq!(a.key(b"m").len(), 64);
        assert_eq!(a.key(b"m"), a.key(b"m"));
        assert_ne!(a.key(b"m"), a.key(b"n"));
        assert_ne!(a.key(b"m"), b.key(b"m"));
        assert!(a.engine_tag().contains(WASMER_VERSION));
    }
}
