//! `ratchet-testkit`: the one fixture builder every test file and benchmark uses to make real
//! bundles, archives and registries (the model is cargo-test-support's
//! `Package::new(..).dep(..).publish()`), so no test spells out a `bundle.yaml` by string
//! replacement of its own or keeps a private copy of "make a registry".
//!
//! ```no_run
//! use ratchet_testkit::{Bundle, TestRegistry};
//! let work = std::path::Path::new("/tmp/work");
//! let reg = TestRegistry::new(work);
//! Bundle::new("com.x.lib", "1.0.0").publish(&reg);
//! Bundle::new("com.x.app", "1.0.0").dep("com.x.lib", "^1").publish(&reg);
//! ```
//!
//! A bundle starts as what `ratchet bundle init` writes (one JavaScript task with schemas and a
//! test), so every fixture is valid unless a test changes it on purpose with [`Bundle::edit`].
//! [`Bundle::readme`] and [`Bundle::wasm_task`] change the README and the kind of task;
//! [`Bundle::build_signed`] and [`Bundle::publish_signed`] sign the archive with a
//! `ratchet_trust::keys::SecretKey` (and publish it with that key as its owner).
//! Test code: failures panic with the cause.

use ratchet_formats::archive::{BuildOptions, archive_file_name, build_archive};
use ratchet_formats::index::{IndexLine, LOCK_FILE, RegistryKind};
use ratchet_publish::Registry;
use ratchet_trust::keys::SecretKey;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Publish time used by fixtures unless a test names another.
pub const TIME: &str = "2026-01-01T00:00:00Z";

type Edit = Box<dyn FnOnce(&Path)>;

/// A bundle to write, build or publish.
pub struct Bundle {
    id: String,
    version: String,
    deps: Vec<(String, String)>,
    description: Option<String>,
    keywords: Vec<String>,
    readme: Option<String>,
    wasm: Option<Vec<u8>>,
    edits: Vec<Edit>,
}

impl Bundle {
    /// A valid bundle `id` at `version` with one JavaScript task.
    pub fn new(id: &str, version: &str) -> Bundle {
        Bundle {
            id: id.to_string(),
            version: version.to_string(),
            deps: Vec::new(),
            description: None,
            keywords: Vec::new(),
            readme: None,
            wasm: None,
            edits: Vec::new(),
        }
    }

    /// Adds a dependency on `id` with the requirement `req`.
    pub fn dep(mut self, id: &str, req: &str) -> Bundle {
        self.deps.push((id.to_string(), req.to_string()));
        self
    }

    /// Sets the description.
    pub fn description(mut self, text: &str) -> Bundle {
        self.description = Some(text.to_string());
        self
    }

    /// Adds a keyword.
    pub fn keyword(mut self, word: &str) -> Bundle {
        self.keywords.push(word.to_string());
        self
    }

    /// Replaces the text of the bundle's `README.md` (a different README makes a different
    /// archive of the same id and version).
    pub fn readme(mut self, text: &str) -> Bundle {
        self.readme = Some(text.to_string());
        self
    }

    /// Makes the example task (`tasks/addition`) a WebAssembly task: its `main.js` is removed
    /// and `module` (a compiled module, e.g. from `wat::parse_str`) becomes its `main.wasm`.
    /// The task's schemas and test stay those of the example, so the bundle validates and
    /// builds; `bundle test` passes only when the module does the addition.
    pub fn wasm_task(mut self, module: &[u8]) -> Bundle {
        self.wasm = Some(module.to_vec());
        self
    }

    /// Changes the bundle directory after it is written and before it is built (to make it
    /// invalid, add files, ...). Edits run in the order given.
    pub fn edit(mut self, f: impl FnOnce(&Path) + 'static) -> Bundle {
        self.edits.push(Box::new(f));
        self
    }

    /// Writes the bundle directory under `work/src/ID-VERSION` and returns it.
    pub fn write(self, work: &Path) -> PathBuf {
        let src = work.join(format!("src/{}-{}", self.id, self.version));
        if let Err(e) = ratchet_validate::scaffold::init_bundle(&src, Some(&self.id)) {
            panic!("bundle init {}: {e}", src.display());
        }
        let yaml_path = src.join("bundle.yaml");
        let mut yaml = read_text(&yaml_path).replace(
            "version: \"0.1.0\"",
            &format!("version: \"{}\"", self.version),
        );
        if !self.deps.is_empty() {
            let mut block = String::from("  dependencies:\n");
            for (d, req) in &self.deps {
                block.push_str(&format!(
                    "    - bundle_id: \"{d}\"\n      version: \"{req}\"\n"
                ));
            }
            yaml = yaml.replace("  requirements:\n", &format!("{block}  requirements:\n"));
        }
        if let Some(text) = &self.description {
            yaml = replace_field(&yaml, "description", &json_string(text));
        }
        if !self.keywords.is_empty() {
            let list: Vec<String> = self.keywords.iter().map(|k| json_string(k)).collect();
            yaml = replace_field(&yaml, "keywords", &format!("[{}]", list.join(", ")));
        }
        write(&yaml_path, yaml);
        if let Some(text) = &self.readme {
            write(&src.join("README.md"), text);
        }
        if let Some(module) = &self.wasm {
            let task = src.join("tasks/addition");
            let js = task.join(ratchet_formats::task::JS_MAIN);
            std::fs::remove_file(&js).unwrap_or_else(|e| panic!("{}: {e}", js.display()));
            write(&task.join(ratchet_formats::task::WASM_MAIN), module);
        }
        for edit in self.edits {
            edit(&src);
        }
        src
    }

    /// Writes the bundle and builds its archive into `work/out/`; returns the archive's path.
    pub fn build(self, work: &Path) -> PathBuf {
        let src = self.write(work);
        let m = match ratchet_formats::manifest::load_manifest(&src) {
            Ok(m) => m,
            Err(d) => panic!("fixture {} does not load: {d:?}", src.display()),
        };
        let out = work.join("out");
        mkdir(&out);
        let path = out.join(archive_file_name(&m));
        if let Err(e) = build_archive(&src, &m, &path, &BuildOptions::default()) {
            panic!("build {}: {e}", src.display());
        }
        path
    }

    /// Writes and builds the bundle like [`Bundle::build`], but archives `yaml` as its
    /// `bundle.yaml` (its `.bundle/manifest.json` is the valid one): a hostile manifest behind a
    /// consistent checksum list, so only parsing it can refuse it. Signed by `key` when given,
    /// with the binding the fixture's id and version call for (the signature is made over the
    /// checksum list without parsing the manifest).
    pub fn build_with_yaml(self, work: &Path, yaml: &[u8], key: Option<&SecretKey>) -> PathBuf {
        use ratchet_formats::archive::{Limits, read_archive_unparsed, with_signature};
        let src = self.write(work);
        let m = ratchet_formats::manifest::load_manifest(&src)
            .unwrap_or_else(|d| panic!("fixture {} does not load: {d:?}", src.display()));
        write(&src.join("bundle.yaml"), yaml);
        let out = work.join("out");
        mkdir(&out);
        let path = out.join(archive_file_name(&m));
        if let Err(e) = build_archive(&src, &m, &path, &BuildOptions::default()) {
            panic!("build {}: {e}", src.display());
        }
        let Some(key) = key else { return path };
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let limits = Limits::default();
        let checked = read_archive_unparsed(bytes.as_slice(), &limits)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let list = checked.checksum_list();
        let comment = ratchet_trust::bundle_sig::trusted_comment(m.id.as_str(), &m.version, list);
        let sig = ratchet_trust::bundle_sig::sign_bytes(key, list, &comment)
            .unwrap_or_else(|e| panic!("sign {}: {e}", path.display()));
        let signed = with_signature(&bytes, Some(sig.as_bytes()), &limits)
            .unwrap_or_else(|e| panic!("attach to {}: {e}", path.display()));
        write(&path, signed);
        path
    }

    /// Writes and builds the bundle like [`Bundle::build`], then signs the archive in place with
    /// `key` (the signature goes into the archive, as `ratchet bundle build --sign` puts it).
    pub fn build_signed(self, work: &Path, key: &SecretKey) -> PathBuf {
        let path = self.build(work);
        sign_archive(&path, key);
        path
    }

    /// Builds the bundle in the registry's work directory and publishes it at [`TIME`].
    pub fn publish(self, reg: &TestRegistry) -> IndexLine {
        let archive = self.build(&reg.work);
        reg.publish_file(&archive)
    }

    /// Builds the bundle signed by `key` and publishes it at [`TIME`] with `key` as its owner
    /// (the first signed publish of an id records its owner keys; later ones must be signed by
    /// one of them).
    pub fn publish_signed(self, reg: &TestRegistry, key: &SecretKey) -> IndexLine {
        let archive = self.build_signed(&reg.work, key);
        reg.publish_signed_file(&archive, key)
    }
}

/// A local registry made with `ratchet-index init` semantics in `WORK/reg`, with its work
/// directory for sources and archives.
pub struct TestRegistry {
    /// Where bundle sources (`src/`) and archives (`out/`) go.
    pub work: PathBuf,
    /// The registry.
    pub reg: Registry,
}

impl TestRegistry {
    /// A new, empty local registry `test` in `work/reg`.
    pub fn new(work: &Path) -> TestRegistry {
        let dir = work.join("reg");
        let reg = Registry::init(&dir, "test", RegistryKind::Local, None)
            .unwrap_or_else(|e| panic!("init {}: {e}", dir.display()));
        TestRegistry {
            work: work.to_path_buf(),
            reg,
        }
    }

    /// The registry directory.
    pub fn dir(&self) -> PathBuf {
        self.work.join("reg")
    }

    /// Publishes an archive at [`TIME`].
    pub fn publish_file(&self, archive: &Path) -> IndexLine {
        match self.reg.publish(archive, TIME) {
            Ok(p) => p.line,
            Err(e) => panic!("publish {}: {e}", archive.display()),
        }
    }

    /// Publishes an archive signed by `key` at [`TIME`], naming `key` as the owner key (needed
    /// on the first signed publish of an id, accepted on later ones while it is an owner).
    pub fn publish_signed_file(&self, archive: &Path, key: &SecretKey) -> IndexLine {
        let owners = std::slice::from_ref(key.public());
        match self.reg.publish_with(archive, TIME, owners) {
            Ok(p) => p.line,
            Err(e) => panic!("publish {}: {e}", archive.display()),
        }
    }

    /// Every file of the registry (but the lock file) with its bytes.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        snapshot(&self.dir())
    }
}

/// Signs the archive file at `archive` in place with `key`.
pub fn sign_archive(archive: &Path, key: &SecretKey) {
    if let Err(e) = ratchet_trust::bundle_sig::sign_archive_file(archive, Some(key), None, None) {
        panic!("sign {}: {e}", archive.display());
    }
}

/// A new unencrypted key pair `name` in `dir`, loaded: the signing key of a fixture.
pub fn secret_key(dir: &Path, name: &str) -> SecretKey {
    let kp = ratchet_trust::keys::generate(dir, name, None)
        .unwrap_or_else(|e| panic!("generate key {name} in {}: {e}", dir.display()));
    SecretKey::load(&kp.secret).unwrap_or_else(|e| panic!("load key {name}: {e}"))
}

/// Every file below `dir` (but a registry's lock file) with its bytes, keyed by relative path:
/// compare two of them to assert that an operation wrote nothing.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if e.file_name() != LOCK_FILE {
                let rel = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
                let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                out.insert(rel, bytes);
            }
        }
    }
    out
}

/// `field: value` with the value of the first line that sets `field` (at any indentation)
/// replaced, or the line added under `bundle:` when the manifest has none.
fn replace_field(yaml: &str, field: &str, value: &str) -> String {
    let prefix = format!("{field}:");
    let mut done = false;
    let mut out: Vec<String> = yaml
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if !done && t.starts_with(&prefix) {
                done = true;
                let indent = &l[..l.len() - t.len()];
                format!("{indent}{field}: {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    if !done && let Some(i) = out.iter().position(|l| l.trim_end() == "bundle:") {
        out.insert(i + 1, format!("  {field}: {value}"));
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn read_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn write(p: &Path, text: impl AsRef<[u8]>) {
    std::fs::write(p, text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn mkdir(p: &Path) {
    std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Copies a directory tree (files and directories only): tests work on a copy of a committed
/// registry such as `sample-index/`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The workspace root (where `sample-index/` and `sample-keys/` are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|e| panic!("workspace root: {e}"))
}

/// The committed, public SAMPLE registry key (`sample-keys/sample-registry.key`, never trust
/// it): give it to `ratchet-index --registry-key` to change a copy of `sample-index/`.
pub fn sample_registry_key_path() -> PathBuf {
    repo_root().join("sample-keys/sample-registry.key")
}

/// The SAMPLE registry key, loaded, with timestamps valid 1 day: what a test that changes a copy
/// of `sample-index/` through `ratchet_publish::Registry` signs with
/// (`Registry::with_registry_key`).
pub fn sample_registry_key() -> ratchet_publish::RegistryKey {
    let path = sample_registry_key_path();
    let sk = SecretKey::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ratchet_publish::RegistryKey::new(sk, 24 * 3600).unwrap_or_else(|e| panic!("{e}"))
}

/// A copy of the committed `sample-index/` at `to`, with a fresh timestamp signed by the SAMPLE
/// registry key (valid 1 day), so that a client may read it over HTTP: the committed one is
/// signed at a fixed time and its timestamp has expired (`index-format.md` §9.12), which an HTTP
/// client refuses as a freeze. Returns `to`.
pub fn sample_index_copy(to: &Path) -> PathBuf {
    copy_dir(&repo_root().join("sample-index"), to);
    ratchet_publish::Registry::open(to)
        .unwrap_or_else(|e| panic!("{}: {e}", to.display()))
        .with_registry_key(sample_registry_key())
        .refresh_timestamp(None)
        .unwrap_or_else(|e| panic!("sign a fresh timestamp for {}: {e}", to.display()));
    to.to_path_buf()
}

/// A copy of the committed `sample-index/` at `to` without its signed files (`root.json`,
/// `timestamp`, `log/`, `state/`): an unsigned registry (`index-format.md` §9.12), for a test of
/// what a client does when only the host stands between it and the files (a hostile host
/// editing `config.json` or metadata by hand). Returns `to`.
pub fn unsigned_sample_index_copy(to: &Path) -> PathBuf {
    copy_dir(&repo_root().join("sample-index"), to);
    for f in ["root.json", "timestamp"] {
        std::fs::remove_file(to.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    for d in ["log", "state"] {
        std::fs::remove_dir_all(to.join(d)).unwrap_or_else(|e| panic!("{d}: {e}"));
    }
    to.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_publishes_and_resolves_dependencies() {
        let t = std::env::temp_dir().join(format!("testkit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        let reg = TestRegistry::new(&t);
        let lib = Bundle::new("com.x.lib", "1.2.0")
            .description("Parses \"quoted\" things")
            .keyword("parse")
            .publish(&reg);
        assert_eq!(lib.version.to_string(), "1.2.0");
        let app = Bundle::new("com.x.app", "0.3.0")
            .dep("com.x.lib", "^1.2")
            .publish(&reg);
        assert_eq!(app.dependencies.len(), 1);
        assert_eq!(app.dependencies[0].bundle_id.to_string(), "com.x.lib");
        let m = ratchet_formats::manifest::load_manifest(&t.join("src/com.x.lib-1.2.0")).unwrap();
        assert_eq!(m.description, "Parses \"quoted\" things");
        assert_eq!(m.keywords, vec!["parse".to_string()]);
        let before = reg.snapshot();
        assert!(before.keys().any(|k| k.ends_with(".rbundle")), "{before:?}");
        assert!(reg.reg.verify().is_ok());
        std::fs::remove_dir_all(&t).unwrap();
    }

    fn scratch(name: &str) -> PathBuf {
        let t = std::env::temp_dir().join(format!("testkit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        t
    }

    #[test]
    fn wasm_task_replaces_the_javascript_entry() {
        // The smallest module: the magic number and version 1.
        let module = b"\0asm\x01\0\0\0";
        let t = scratch("wasm");
        let archive = Bundle::new("com.x.wasm", "1.0.0")
            .wasm_task(module)
            .build(&t);
        let limits = ratchet_formats::archive::Limits::default();
        let a = ratchet_formats::archive::read_archive_file(&archive, &limits).unwrap();
        assert_eq!(
            a.files.get("tasks/addition/main.wasm").map(Vec::as_slice),
            Some(&module[..])
        );
        assert!(!a.files.contains_key("tasks/addition/main.js"));
        let dir = t.join("src/com.x.wasm-1.0.0/tasks/addition");
        assert_eq!(
            ratchet_formats::task::TaskKind::detect(&dir),
            Some(ratchet_formats::task::TaskKind::Wasm)
        );
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn readme_replaces_the_scaffold_text() {
        let t = scratch("readme");
        let src = Bundle::new("com.x.doc", "1.0.0")
            .readme("# Doc\n\nSays what it does.\n")
            .write(&t);
        assert_eq!(
            read_text(&src.join("README.md")),
            "# Doc\n\nSays what it does.\n"
        );
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn signed_builds_verify_and_signed_publishes_record_the_owner() {
        use ratchet_trust::{bundle_sig, keys};
        let t = scratch("signed");
        let pair = keys::generate(&t.join("keys"), "k", None).unwrap();
        let sk = SecretKey::load(&pair.secret).unwrap();
        let signed = Bundle::new("com.x.signed", "1.0.0").build_signed(&t, &sk);
        let read = |p: &Path| {
            let limits = ratchet_formats::archive::Limits::default();
            ratchet_formats::archive::read_archive_file(p, &limits).unwrap()
        };
        let signed = read(&signed);
        bundle_sig::verify_archive(&signed, std::slice::from_ref(&pair.key), "test key").unwrap();
        // Another key does not verify it: the signature is really the key's.
        let other = keys::generate(&t.join("keys"), "o", None).unwrap();
        assert!(
            bundle_sig::verify_archive(&signed, std::slice::from_ref(&other.key), "other key")
                .is_err()
        );
        // An unsigned build does not verify.
        let plain = read(&Bundle::new("com.x.plain", "1.0.0").build(&t));
        assert!(
            bundle_sig::verify_archive(&plain, std::slice::from_ref(&pair.key), "test key")
                .is_err()
        );

        // Published signed: the line names the signer, and a later version signed by another
        // key is refused (the first publish recorded the owner).
        let reg = TestRegistry::new(&t.join("r"));
        let line = Bundle::new("com.x.owned", "1.0.0").publish_signed(&reg, &sk);
        assert_eq!(line.signer.as_deref(), Some(pair.key.key_id().as_str()));
        let osk = SecretKey::load(&other.secret).unwrap();
        let foreign = Bundle::new("com.x.owned", "1.1.0").build_signed(&reg.work, &osk);
        assert!(reg.reg.publish(&foreign, TIME).is_err());
        std::fs::remove_dir_all(&t).unwrap();
    }
}
