//! `ratchet-tlog`: registry integrity as static files (`index-format.md` §9).
//!
//! Why this crate exists: author signatures (§7) say *who* made an archive, but not whether the
//! index, metadata and config files a client reads are the registry's current ones. A server or
//! mirror could serve old files (rollback, un-yank), stop updating (freeze), mix files from two
//! moments, or show different users different registries (fork). This crate holds the pieces
//! that stop those attacks, with no network code (callers supply a [`tiles::Fetch`]):
//!
//! - [`hash`]: RFC 6962 hashing and the map's own domain-separated hashes;
//! - [`tree`]: RFC 6962 roots, inclusion and consistency proofs and their verification;
//! - [`tiles`]: the transparency log as C2SP-style tiles; [`tiles::LogWriter`] appends;
//! - [`map`]: the state map, a hexary Merkle trie keyed by the SHA-256 of each file path,
//!   committing to every index, metadata and config file, stored as one small file per node;
//! - [`entry`]: the log entries (publish, yank, deprecation, owners, attestation, config);
//! - [`signed`]: the signed checkpoint and the expiring timestamp;
//! - [`root`]: `root.json`, the registry key and its rotations, each signed by the key before;
//! - [`snapshot`]: the integration API: [`snapshot::Publisher`] and [`snapshot::Snapshot`], [`snapshot::audit`];
//! - [`client`]: what a client remembers per registry, and its refusals (rollback, freeze,
//!   fork, bad signature).

pub mod client;
pub mod entry;
pub mod hash;
pub mod map;
pub mod root;
pub mod signed;
pub mod snapshot;
pub mod tiles;
pub mod tree;

pub use hash::Hash;

/// Everything that can go wrong reading or writing these structures. Messages say what and where.
#[derive(Debug, thiserror::Error)]
pub enum TlogError {
    /// A file does not have the exact format it must have.
    #[error("{file}: {reason}")]
    Malformed {
        /// The file (registry path) or record.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be fetched (missing, or the fetcher failed).
    #[error("{file}: cannot fetch: {reason}")]
    Fetch {
        /// The file (registry path).
        file: String,
        /// Why.
        reason: String,
    },
    /// A proof does not verify: the files fetched are not the ones the signed root commits to.
    #[error("proof refused: {0}")]
    BadProof(String),
    /// A signature is malformed, by an unknown key, or does not verify.
    #[error("{what}: {reason}")]
    BadSignature {
        /// Which signed file or statement.
        what: String,
        /// Why.
        reason: String,
    },
    /// The caller asked for something impossible (a leaf past the end, a bad path).
    #[error("{0}")]
    Invalid(String),
}

#[cfg(test)]
mod fuzz_tests {
    //! Every parser of this crate meets random bytes and random mutations of valid files: it
    //! must return an error or a value, never panic, and never accept a mutated signed file.

    use crate::client::ClientState;
    use crate::entry::{EntryKind, FileChange, LogEntry};
    use crate::map::{FileDigest, Leaf, Node, NodeFile, Slot};
    use crate::root::RootFile;
    use crate::signed::{Checkpoint, SignedCheckpoint, SignedTimestamp, Timestamp, timestamp_file};
    use crate::tiles::parse_bundle;

    /// xorshift64*: deterministic, so a failure reproduces.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
        fn mutate(&mut self, v: &[u8]) -> Vec<u8> {
            let mut v = v.to_vec();
            for _ in 0..1 + self.below(3) {
                match self.below(4) {
                    0 if !v.is_empty() => {
                        let i = self.below(v.len());
                        v[i] ^= 1 << self.below(8);
                    }
                    1 if !v.is_empty() => {
                        let n = self.below(v.len());
                        v.truncate(n);
                    }
                    2 => {
                        let i = self.below(v.len() + 1);
                        v.insert(i, self.next() as u8);
                    }
                    _ if !v.is_empty() => {
                        let i = self.below(v.len());
                        v.remove(i);
                    }
                    _ => {}
                }
            }
            v
        }
    }

    #[test]
    fn parsers_never_panic_and_mutated_signed_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sk = crate::signed::tests::key(dir.path(), "k");
        let keys = [sk.public().clone()];
        let cp = crate::signed::tests::checkpoint(7, 1);
        let cp_sig = cp.sign(&sk).unwrap();
        let ts = timestamp_file(&cp_sig, &Timestamp::for_checkpoint(&cp, cp.time, 60), &sk)
            .unwrap()
            .into_bytes();
        let mut node = Node::default();
        node.slots[2] = Slot::Node([5; 32]);
        node.slots[11] = Slot::Leaf(Leaf {
            key: [1; 32],
            value: FileDigest::of(b"x"),
            entry: 3,
        });
        // The same node with an inline child of two leaves in slot 4.
        let mut file = NodeFile::of(node);
        let mut child = NodeFile::default();
        for (slot, k) in [(0usize, 6u8), (7, 8)] {
            child.node.slots[slot] = Slot::Leaf(Leaf {
                key: [k; 32],
                value: FileDigest::of(&[k]),
                entry: 300,
            });
        }
        file.node.slots[4] = Slot::Node(child.node.hash());
        file.inline[4] = Some(Box::new(child));
        let node_file = file.encode();
        let entry = LogEntry {
            kind: EntryKind::Publish,
            id: Some("com.a.b".into()),
            version: Some("1.0.0".into()),
            archive: None,
            time: 0,
            state: [0; 32],
            files: vec![FileChange {
                path: "index/aa/bb/com.a.b".into(),
                digest: Some(FileDigest::of(b"line\n")),
            }],
        }
        .encode()
        .unwrap();
        let root = RootFile::genesis("reg.example", &sk)
            .unwrap()
            .to_json()
            .into_bytes();
        let state = ClientState {
            origin: "reg.example".into(),
            size: 3,
            log_root: [1; 32],
            state_root: [2; 32],
            checkpoint_time: 0,
            timestamp_issued: 0,
        }
        .to_json()
        .into_bytes();
        let bundle = crate::tiles::encode_bundle(&[entry.clone(), b"two".to_vec()]);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..3000 {
            let pick = |rng: &mut Rng, valid: &[u8]| {
                if round % 5 == 0 {
                    (0..rng.below(300)).map(|_| rng.next() as u8).collect()
                } else {
                    rng.mutate(valid)
                }
            };
            let b = pick(&mut rng, &ts);
            if let Ok(st) = SignedTimestamp::parse(&b, "t")
                && b != ts
            {
                // A mutation may leave the statements intact (untrusted comments): then it
                // must still name the same checkpoint and timestamp.
                if let Ok(v) = st.verify(&keys, &[], "t") {
                    assert_eq!(v.checkpoint, cp, "a mutated timestamp verified differently");
                }
            }
            let b = pick(&mut rng, cp_sig.as_bytes());
            if let Ok(sc) = SignedCheckpoint::parse(&b, "c")
                && sc.verify(&keys, "c").is_ok()
            {
                assert_eq!(sc.checkpoint, cp);
            }
            let _ = Checkpoint::parse(
                &String::from_utf8_lossy(&pick(&mut rng, cp.statement().as_bytes())),
                "s",
            );
            let b = pick(&mut rng, &node_file);
            if let Ok(n) = NodeFile::decode("n", &b) {
                let again = if b.starts_with(crate::map::NODE_MAGIC_V1) {
                    n.node.encode_v1()
                } else {
                    n.encode()
                };
                assert_eq!(again, b, "node files are canonical");
                assert_eq!(Node::decode("n", &b).unwrap(), n.node);
            }
            let b = pick(&mut rng, &entry);
            if let Ok(e) = LogEntry::parse(&b, "e") {
                assert_eq!(e.encode().unwrap(), b, "entries are canonical");
            }
            let _ = parse_bundle("b", &pick(&mut rng, &bundle), 2);
            if let Ok(r) = RootFile::parse(&pick(&mut rng, &root)) {
                let _ = r.verify("reg.example", None);
            }
            let _ = ClientState::from_json(&pick(&mut rng, &state), "s");
        }
    }
}
