//! Writing an archive: collect the bundle's files, generate the metadata, write a normalised
//! gzip tar atomically.

use super::paths::{Clash, PathSet, check_entry_path};
use super::{
    ARCHIVE_EXT, ArchiveError, CHECKSUM_FILE, FILE_MODE, IGNORE_FILE, MANIFEST_JSON, META_DIR,
    PackProblem, SIGNATURE_FILE, VCS_DIRS, VERIFICATION_JSON, render_checksum_list, to_hex,
};
use crate::manifest::{MANIFEST_FILE, Manifest, ResolvedManifest};
use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Modification time written into every entry when `SOURCE_DATE_EPOCH` is not set:
/// 2024-01-01T00:00:00Z. A constant, never the current time, so builds are reproducible.
pub const DEFAULT_MTIME: u64 = 1_704_067_200;

/// Largest time a plain tar header holds (11 octal digits).
const MAX_MTIME: u64 = 0o777_7777_7777;

/// How to build an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// Modification time of every entry, in seconds since 1970.
    pub mtime: u64,
    /// Content of `.bundle/verification.json`; `None` takes the file from the bundle directory
    /// when it is there.
    pub verification: Option<Vec<u8>>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            mtime: DEFAULT_MTIME,
            verification: None,
        }
    }
}

impl BuildOptions {
    /// Options from the environment: `SOURCE_DATE_EPOCH` sets the time stamp, otherwise
    /// [`DEFAULT_MTIME`]. An unusable value also gives [`DEFAULT_MTIME`]; use
    /// [`BuildOptions::from_env_checked`] to report it instead.
    pub fn from_env() -> Self {
        Self::from_env_checked().unwrap_or_default()
    }

    /// Like [`BuildOptions::from_env`], but an unusable `SOURCE_DATE_EPOCH` is an error.
    pub fn from_env_checked() -> Result<Self, ArchiveError> {
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => Self::with_source_date_epoch(Some(&v)),
            Err(std::env::VarError::NotPresent) => Self::with_source_date_epoch(None),
            Err(std::env::VarError::NotUnicode(v)) => Err(ArchiveError::BadSourceDateEpoch {
                value: v.to_string_lossy().into_owned(),
                max: MAX_MTIME,
            }),
        }
    }

    /// Options for a given `SOURCE_DATE_EPOCH` value (`None` or empty: unset).
    pub fn with_source_date_epoch(value: Option<&str>) -> Result<Self, ArchiveError> {
        let mtime = match value.map(str::trim) {
            None | Some("") => DEFAULT_MTIME,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|t| *t <= MAX_MTIME)
                .ok_or_else(|| ArchiveError::BadSourceDateEpoch {
                    value: v.to_string(),
                    max: MAX_MTIME,
                })?,
        };
        Ok(BuildOptions {
            mtime,
            verification: None,
        })
    }
}

/// What [`build_archive`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltArchive {
    /// The archive file.
    pub path: PathBuf,
    /// Lowercase hex SHA-256 of the archive bytes.
    pub sha256: String,
    /// Size of the archive in bytes.
    pub size: u64,
    /// Number of entries (files), generated `.bundle/` files included.
    pub files: usize,
    /// Size of the decompressed tar stream, which readers compare with
    /// [`super::Limits::max_unpacked_bytes`].
    pub unpacked_size: u64,
    /// What the builder left out and why (a stale `.bundle/verification.json`).
    pub warnings: Vec<String>,
}

/// SHA-256 over the bundle's packed files (the ones [`bundle_files`] lists, by path and content,
/// leaving out `.bundle/verification.json` and every `*.rbundle`, which a build may itself write
/// into the bundle directory): `.bundle/verification.json` records it, and a build includes that
/// file only while the files are unchanged since the tests ran.
pub fn sources_digest(src_dir: &Path) -> Result<String, ArchiveError> {
    let mut h = Sha256::new();
    for (rel, path) in bundle_files(src_dir)? {
        if rel == VERIFICATION_JSON || rel.ends_with(&format!(".{ARCHIVE_EXT}")) {
            continue;
        }
        let data = std::fs::read(&path).map_err(ArchiveError::io(path))?;
        h.update(rel.as_bytes());
        h.update([0]);
        h.update(super::sha256_hex(&data).as_bytes());
        h.update([b'\n']);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// The archive's file name for a manifest: `<id>-<version>.rbundle`.
pub fn archive_file_name(m: &Manifest) -> String {
    format!("{}-{}.{ARCHIVE_EXT}", m.id, m.version)
}

/// The files of the bundle in `src_dir` that an archive holds, as (entry path, file path)
/// pairs sorted by entry path bytes.
///
/// Left out: files matched by a `.ratchetignore` in their directory or any directory above it
/// up to the bundle root (gitignore syntax; `.gitignore`, global git excludes and `.ignore`
/// files are not read), version-control directories ([`VCS_DIRS`]) at any depth, and the
/// generated files (`bundle.sig`, and everything under `.bundle/` except
/// `.bundle/verification.json`). `.ratchetignore` files themselves are kept. Symbolic links and
/// special files are errors, as are names that are not valid entry paths or that differ only in
/// letter case.
pub fn bundle_files(src_dir: &Path) -> Result<Vec<(String, PathBuf)>, ArchiveError> {
    bundle_files_except(src_dir, None)
}

fn bundle_files_except(
    src_dir: &Path,
    skip: Option<&Path>,
) -> Result<Vec<(String, PathBuf)>, ArchiveError> {
    let root = src_dir.canonicalize().map_err(ArchiveError::io(src_dir))?;
    let mut walker = ignore::WalkBuilder::new(&root);
    walker
        .standard_filters(false)
        .follow_links(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .filter_entry(|e| {
            !(e.depth() > 0
                && e.file_type().is_some_and(|t| t.is_dir())
                && is_vcs_dir(e.file_name()))
        });
    let mut out = Vec::new();
    for item in walker.build() {
        let entry = item.map_err(|e| walk_error(&root, e))?;
        if entry.depth() == 0 {
            continue;
        }
        let path = entry.path();
        let rel = match path.strip_prefix(&root).ok().and_then(rel_str) {
            Some(r) => r,
            None => {
                return Err(ArchiveError::Unpackable {
                    path: crate::fsutil::rel_display(&root, path),
                    problem: PackProblem::NonUtf8Name,
                });
            }
        };
        let Some(ft) = entry.file_type() else {
            continue;
        };
        if ft.is_dir() {
            continue;
        }
        if ft.is_symlink() {
            let target = std::fs::read_link(path)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            return Err(ArchiveError::Unpackable {
                path: rel,
                problem: PackProblem::Symlink { target },
            });
        }
        if !ft.is_file() {
            return Err(ArchiveError::Unpackable {
                path: rel,
                problem: PackProblem::SpecialFile,
            });
        }
        if is_generated(&rel) || skip.is_some_and(|s| s == path) {
            continue;
        }
        check_entry_path(&rel).map_err(|reason| ArchiveError::Unpackable {
            path: rel.clone(),
            problem: PackProblem::UnportablePath(reason),
        })?;
        out.push((rel, path.to_path_buf()));
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut seen = PathSet::default();
    for (rel, _) in &out {
        seen.add(rel, false)
            .map_err(|clash| ArchiveError::Unpackable {
                path: rel.clone(),
                problem: match clash {
                    Clash::Duplicate(first) => PackProblem::CaseDuplicate { first },
                    Clash::Conflict(other) => PackProblem::CaseConflict { other },
                },
            })?;
    }
    Ok(out)
}

fn is_vcs_dir(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| VCS_DIRS.contains(&n))
}

/// True for files the builder generates, which are never taken from the source directory.
fn is_generated(rel: &str) -> bool {
    rel == SIGNATURE_FILE
        || (rel.starts_with(META_DIR)
            && rel.as_bytes().get(META_DIR.len()) == Some(&b'/')
            && rel != VERIFICATION_JSON)
}

fn rel_str(rel: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in rel.components() {
        parts.push(c.as_os_str().to_str()?);
    }
    Some(parts.join("/"))
}

fn walk_error(root: &Path, e: ignore::Error) -> ArchiveError {
    fn find_path(e: &ignore::Error) -> Option<&Path> {
        match e {
            ignore::Error::WithPath { path, .. } => Some(path),
            ignore::Error::WithLineNumber { err, .. } | ignore::Error::WithDepth { err, .. } => {
                find_path(err)
            }
            ignore::Error::Partial(errs) => errs.first().and_then(find_path),
            _ => None,
        }
    }
    let path = find_path(&e).map_or_else(
        || root.display().to_string(),
        |p| crate::fsutil::rel_display(root, p),
    );
    ArchiveError::Unpackable {
        path,
        problem: PackProblem::Walk(e),
    }
}

/// Builds the archive of the bundle in `src_dir` (whose parsed manifest is `manifest`) into the
/// file `out`, written atomically. See `index-format.md`, section 5, for the layout.
pub fn build_archive(
    src_dir: &Path,
    manifest: &Manifest,
    out: &Path,
    opts: &BuildOptions,
) -> Result<BuiltArchive, ArchiveError> {
    build(src_dir, manifest, out, opts, None)
}

/// Produces the `bundle.sig` text for a checksum list (`build --sign`); an error stops the
/// build with nothing written.
pub type Signer<'a> = &'a mut dyn FnMut(&[u8]) -> io::Result<Vec<u8>>;

/// [`build_archive`] with the signature written in the same pass: once the checksum list is
/// written, `sign` is called with it and its answer becomes `bundle.sig`, the last entry (as
/// [`with_signature`] would place it, so the file is byte for byte the one a build followed by
/// [`with_signature`] gives). The archive is written once. The figures returned (size, hash,
/// entries) are the signed file's.
pub fn build_archive_signed(
    src_dir: &Path,
    manifest: &Manifest,
    out: &Path,
    opts: &BuildOptions,
    sign: Signer<'_>,
) -> Result<BuiltArchive, ArchiveError> {
    build(src_dir, manifest, out, opts, Some(sign))
}

fn build(
    src_dir: &Path,
    manifest: &Manifest,
    out: &Path,
    opts: &BuildOptions,
    sign: Option<Signer<'_>>,
) -> Result<BuiltArchive, ArchiveError> {
    let out_abs = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .and_then(|p| p.canonicalize().ok())
        .or_else(|| std::env::current_dir().ok())
        .zip(out.file_name())
        .map(|(dir, name)| dir.join(name));
    let mut files = bundle_files_except(src_dir, out_abs.as_deref())?;
    let mut verification = None;
    let mut warnings = Vec::new();
    if let Some(i) = files.iter().position(|(rel, _)| rel == VERIFICATION_JSON) {
        let (_, path) = files.remove(i);
        if opts.verification.is_none() {
            let bytes = std::fs::read(&path).map_err(ArchiveError::io(path))?;
            match stale_verification(&bytes, manifest, src_dir) {
                None => verification = Some(bytes),
                Some(why) => warnings.push(format!(
                    "left out {VERIFICATION_JSON}: {why}; run `ratchet bundle test` again to include fresh results"
                )),
            }
        }
    }
    if let Some(v) = &opts.verification {
        verification = Some(v.clone());
    }
    check_named_paths_packed(manifest, &files)?;

    let mut manifest_json = serde_json::to_vec_pretty(&ResolvedManifest::new(manifest.clone()))
        .map_err(|e| ArchiveError::Unpackable {
            path: MANIFEST_JSON.into(),
            problem: PackProblem::Serialize(e),
        })?;
    manifest_json.push(b'\n');

    let mut failure: Option<ArchiveError> = None;
    let mut result: Option<(u64, usize, String, u64)> = None;
    let written = crate::fsutil::write_atomic_with(out, |file| {
        match write_tar(
            file,
            &files,
            &manifest_json,
            verification.as_deref(),
            opts.mtime,
            sign,
        ) {
            Ok(r) => {
                result = Some(r);
                Ok(())
            }
            Err(e) => {
                failure = Some(e);
                Err(io::Error::other("archive not written"))
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    written.map_err(ArchiveError::io(out))?;
    let (unpacked_size, entries, sha256, size) = result.expect("set when writing succeeded");
    Ok(BuiltArchive {
        path: out.to_path_buf(),
        sha256,
        size,
        files: entries,
        unpacked_size,
        warnings,
    })
}

/// Why a source `.bundle/verification.json` does not describe these sources (`None`: it does).
fn stale_verification(bytes: &[u8], manifest: &Manifest, src_dir: &Path) -> Option<String> {
    let v: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return Some(format!("it is not JSON ({e})")),
    };
    let (id, version) = (
        v["bundle"]["id"].as_str().unwrap_or(""),
        v["bundle"]["version"].as_str().unwrap_or(""),
    );
    if id != manifest.id.as_str() || version != manifest.version.to_string() {
        return Some(format!(
            "it is for {id} {version}, not {} {}",
            manifest.id, manifest.version
        ));
    }
    match (v["sources"].as_str(), sources_digest(src_dir)) {
        (Some(recorded), Ok(now)) if recorded == now => None,
        (Some(_), _) => Some("the bundle's files changed since the tests ran".into()),
        (None, _) => Some("it does not record which files were tested".into()),
    }
}

/// Every path the manifest names must be in the archive (not left out by `.ratchetignore`).
fn check_named_paths_packed(
    manifest: &Manifest,
    files: &[(String, PathBuf)],
) -> Result<(), ArchiveError> {
    let packed = |rel: &str| {
        let rel = rel.trim_end_matches('/');
        let prefix = format!("{rel}/");
        files
            .iter()
            .any(|(f, _)| f == rel || f.starts_with(&prefix))
    };
    if !packed(MANIFEST_FILE) {
        return Err(ArchiveError::Unpackable {
            path: MANIFEST_FILE.into(),
            problem: PackProblem::ManifestLeftOut,
        });
    }
    for (field, rel) in manifest.named_paths() {
        if !packed(rel) {
            return Err(ArchiveError::Unpackable {
                path: rel.to_string(),
                problem: PackProblem::NamedPathLeftOut { field },
            });
        }
    }
    Ok(())
}

/// Writes the tar stream; returns (unpacked size, entries, sha256 hex, archive size).
fn write_tar(
    file: &mut std::fs::File,
    files: &[(String, PathBuf)],
    manifest_json: &[u8],
    verification: Option<&[u8]>,
    mtime: u64,
    sign: Option<Signer<'_>>,
) -> Result<(u64, usize, String, u64), ArchiveError> {
    let out_err = |e: io::Error| ArchiveError::Io {
        path: PathBuf::from("(archive being written)"),
        source: e,
    };
    let hashed = HashingWriter {
        inner: file,
        hasher: Sha256::new(),
        count: 0,
    };
    let gz = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(hashed, Compression::new(6));
    let mut tar = tar::Builder::new(CountingWriter {
        inner: gz,
        count: 0,
    });
    let mut sums: Vec<(String, String)> = Vec::with_capacity(files.len() + 2);
    let mut entries = 0usize;
    let mut add = |tar: &mut tar::Builder<_>,
                   path: &str,
                   data: &[u8],
                   sums: Option<&mut Vec<(String, String)>>| {
        if let Some(sums) = sums {
            sums.push((path.to_string(), to_hex(&Sha256::digest(data))));
        }
        entries += 1;
        append_file(tar, path, data, mtime).map_err(out_err)
    };
    add(&mut tar, MANIFEST_JSON, manifest_json, Some(&mut sums))?;
    if let Some(v) = verification {
        add(&mut tar, VERIFICATION_JSON, v, Some(&mut sums))?;
    }
    for (rel, path) in files {
        let data = std::fs::read(path).map_err(ArchiveError::io(path))?;
        add(&mut tar, rel, &data, Some(&mut sums))?;
    }
    let list = render_checksum_list(&sums);
    add(&mut tar, CHECKSUM_FILE, &list, None)?;
    if let Some(sign) = sign {
        let sig = sign(&list).map_err(out_err)?;
        add(&mut tar, SIGNATURE_FILE, &sig, None)?;
    }
    let counting = tar.into_inner().map_err(out_err)?;
    let unpacked = counting.count;
    let hashed = counting.inner.finish().map_err(out_err)?;
    Ok((
        unpacked,
        entries,
        to_hex(&hashed.hasher.finalize()),
        hashed.count,
    ))
}

/// Returns the archive `bytes` with its `bundle.sig` replaced by `signature` (or removed, for
/// `None`): every other entry is copied unchanged and in order, the signature is the last entry
/// (with the checksum list's time stamp), and the gzip stream is written with the builder's
/// settings, so the result is reproducible apart from the signature. The input's structure and
/// checksums are verified first ([`super::read_archive_unparsed`]; a signature covers the
/// checksum list, not the parsed manifest).
pub fn with_signature(
    bytes: &[u8],
    signature: Option<&[u8]>,
    limits: &super::Limits,
) -> Result<Vec<u8>, ArchiveError> {
    use std::io::Read;
    super::read_archive_unparsed(std::io::Cursor::new(bytes), limits)?;
    let malformed = |e: io::Error| ArchiveError::Malformed {
        where_: "while re-reading".into(),
        problem: super::Corruption::Decode(e),
    };
    let mut src = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let gz = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::new(6));
    let mut out = tar::Builder::new(gz);
    let mut mtime = DEFAULT_MTIME;
    for entry in src.entries().map_err(malformed)? {
        let mut entry = entry.map_err(malformed)?;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if path == SIGNATURE_FILE {
            continue;
        }
        if path == CHECKSUM_FILE {
            mtime = entry.header().mtime().unwrap_or(DEFAULT_MTIME);
        }
        let mut header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(malformed)?;
        out.append_data(&mut header, &path, data.as_slice())
            .map_err(malformed)?;
    }
    if let Some(sig) = signature {
        append_file(&mut out, SIGNATURE_FILE, sig, mtime).map_err(malformed)?;
    }
    out.into_inner()
        .and_then(|gz| gz.finish())
        .map_err(malformed)
}

fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    mtime: u64,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_mode(FILE_MODE);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    tar.append_data(&mut h, path, data)
}

/// Hashes and counts what passes through (the compressed archive).
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts what passes through (the decompressed tar stream).
struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch_parsing() {
        assert_eq!(
            BuildOptions::with_source_date_epoch(None).unwrap().mtime,
            DEFAULT_MTIME
        );
        assert_eq!(
            BuildOptions::with_source_date_epoch(Some(""))
                .unwrap()
                .mtime,
            DEFAULT_MTIME
        );
        assert_eq!(
            BuildOptions::with_source_date_epoch(Some("1700000000"))
                .unwrap()
                .mtime,
            1_700_000_000
        );
        assert!(BuildOptions::with_source_date_epoch(Some("yesterday")).is_err());
        assert!(BuildOptions::with_source_date_epoch(Some("-5")).is_err());
        assert!(BuildOptions::with_source_date_epoch(Some("99999999999999")).is_err());
    }

    #[test]
    fn generated_names() {
        assert!(is_generated("bundle.sig"));
        assert!(is_generated(".bundle/manifest.json"));
        assert!(is_generated(".bundle/checksum.sha256"));
        assert!(is_generated(".bundle/other"));
        assert!(!is_generated(".bundle/verification.json"));
        assert!(!is_generated(".bundlex/a"));
        assert!(!is_generated("sub/bundle.sig"));
    }
}
