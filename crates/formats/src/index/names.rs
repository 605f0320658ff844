//! `names.txt`: every bundle id of the registry, one a line, in first-publish order.
//!
//! Clients use it to list bundles and say "did you mean" without an API; the search catalog of
//! a later wave grows from it. It is append-only, so publishing costs the same however many ids
//! the registry holds, and a mirror syncs it incrementally with an HTTP range request from the
//! length it already has. A torn last line (a publisher killed mid-append) has no newline;
//! readers ignore it and the next writer cuts it off before appending.

use super::{FormatError, LineProblem};
use crate::manifest::BundleId;
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The parsed names file.
#[derive(Debug, Clone, Default)]
pub struct NamesFile {
    /// Ids in file order, first occurrence only.
    pub ids: Vec<BundleId>,
    /// Lines that are not ids.
    pub problems: Vec<LineProblem>,
    /// True when the last line has no newline (an interrupted append; ignored).
    pub torn_tail: bool,
}

impl NamesFile {
    /// Parses the file's bytes; `file` names it in problems.
    pub fn parse(bytes: &[u8], file: &str) -> NamesFile {
        let mut out = NamesFile::default();
        let mut seen = BTreeSet::new();
        let mut rest = bytes;
        let mut n = 0;
        while !rest.is_empty() {
            n += 1;
            let Some(i) = rest.iter().position(|&b| b == b'\n') else {
                out.torn_tail = true;
                break;
            };
            let raw = String::from_utf8_lossy(&rest[..i]).into_owned();
            rest = &rest[i + 1..];
            if raw.is_empty() {
                continue;
            }
            match BundleId::parse(&raw) {
                Ok(id) => {
                    if seen.insert(id.clone()) {
                        out.ids.push(id);
                    }
                }
                Err(e) => out.problems.push(LineProblem {
                    file: file.to_string(),
                    line: n,
                    message: e.to_string(),
                }),
            }
        }
        out
    }

    /// The listed id closest to `word` ("did you mean"): an id with the same skeleton first
    /// (`com.foo.a_b` for `com.foo.a-b`), else the most similar spelling, if close enough.
    pub fn suggest(&self, word: &str) -> Option<&BundleId> {
        let skeleton = BundleId::skeleton(word);
        if let Some(id) = self
            .ids
            .iter()
            .find(|id| BundleId::skeleton(id.as_str()) == skeleton)
        {
            return Some(id);
        }
        // Reverse-DNS ids share long prefixes (`com.`), which makes similarity scores such as
        // Jaro-Winkler find everything alike: an edit distance of a few characters is the test.
        let word = word.to_ascii_lowercase();
        let limit = (word.len() / 6).clamp(1, 3);
        self.ids
            .iter()
            .map(|id| (strsim::damerau_levenshtein(&word, id.as_str()), id))
            .filter(|(d, _)| *d <= limit)
            .min_by_key(|(d, _)| *d)
            .map(|(_, id)| id)
    }

    /// Reads `DIR/names.txt` (an absent file is an empty list).
    pub fn load(registry: &Path) -> Result<NamesFile, FormatError> {
        let path = registry.join(super::NAMES_FILE);
        let file = path.display().to_string();
        match std::fs::read(&path) {
            Ok(bytes) => Ok(NamesFile::parse(&bytes, &file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(NamesFile::default()),
            Err(source) => Err(FormatError::Io { file, source }),
        }
    }
}

/// Appends `id` to the names file at `path` (creating it), first cutting off a torn last line.
/// Callers hold the registry lock.
pub fn append(path: &Path, id: &BundleId) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    repair_tail(&mut f)?;
    f.write_all(format!("{id}\n").as_bytes())?;
    f.sync_data()
}

/// Cuts a torn last line off the names file at `path`; true when there was one.
pub fn repair(path: &Path) -> io::Result<bool> {
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(mut f) => repair_tail(&mut f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn repair_tail(f: &mut File) -> io::Result<bool> {
    let len = f.metadata()?.len();
    let mut last = [0u8];
    if len == 0 || {
        f.seek(SeekFrom::Start(len - 1))?;
        f.read_exact(&mut last)?;
        last[0] == b'\n'
    } {
        return Ok(false);
    }
    // Our own appends tear at most one id (128 bytes); whatever else follows the last newline
    // is not a line either. Scan back in chunks to the last newline and cut there.
    const CHUNK: u64 = 64 << 10;
    let mut end = len;
    let keep = loop {
        let start = end.saturating_sub(CHUNK);
        let mut buf = vec![0u8; (end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            break start + i as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    f.set_len(keep)?;
    f.sync_data()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_ids() {
        let n = NamesFile::parse(b"com.oss.json-utils\ncom.ratchet.core-utils\n", "names.txt");
        assert_eq!(
            n.suggest("com.oss.json_utils").unwrap().as_str(),
            "com.oss.json-utils"
        );
        assert_eq!(
            n.suggest("com.ratchet.core-util").unwrap().as_str(),
            "com.ratchet.core-utils"
        );
        assert!(n.suggest("org.unrelated.thing-x").is_none());
        // A shared `com.` prefix is no likeness.
        assert!(n.suggest("com.nope.nope").is_none());
        assert_eq!(
            n.suggest("com.ratchet.cor-utlis").unwrap().as_str(),
            "com.ratchet.core-utils"
        );
    }

    #[test]
    fn append_repairs_torn_tail_and_parse_ignores_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("names.txt");
        let a = BundleId::parse("com.a.one").unwrap();
        let b = BundleId::parse("com.b.two").unwrap();
        append(&p, &a).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"com.b.t")
            .unwrap();
        let n = NamesFile::parse(&std::fs::read(&p).unwrap(), "names.txt");
        assert_eq!(n.ids, vec![a.clone()]);
        assert!(n.torn_tail);
        append(&p, &b).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "com.a.one\ncom.b.two\n"
        );
        let n = NamesFile::parse(b"com.a.one\nNot An Id\n\ncom.a.one\n", "names.txt");
        assert_eq!(n.ids.len(), 1);
        assert_eq!(n.problems[0].line, 2);
        assert!(!repair(&p).unwrap());
        // A long tail without a newline (more than one chunk) is cut back to the last line.
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&vec![b'x'; 150_000]).unwrap();
        assert!(repair(&p).unwrap());
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "com.a.one\ncom.b.two\n"
        );
        // A file that is nothing but a torn line is emptied.
        std::fs::write(&p, "com.c.th").unwrap();
        append(&p, &a).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "com.a.one\n");
    }
}
