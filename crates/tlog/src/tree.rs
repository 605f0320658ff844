//! RFC 6962 Merkle tree algorithms over any source of perfect-subtree hashes.
//!
//! Why a separate module: the same root, inclusion-proof and consistency-proof code must run on
//! the publisher (hashes it holds in memory), on a client (hashes read from fetched tiles) and in
//! tests (a plain in-memory tree), so the algorithms only ask a [`HashSource`] for the hash of a
//! perfect subtree `(height, index)`: the node covering leaves `index << height ..
//! (index + 1) << height`. Verification (RFC 9162 §2.1.3.2 and §2.1.4.2) needs no source at all.

use crate::TlogError;
use crate::hash::{Hash, empty_root, node_hash};

/// Anything that can give the hash of a complete (perfect) subtree of the tree being read.
pub trait HashSource {
    /// The hash of the perfect subtree of `height` levels at `index` (covering leaves
    /// `index << height .. (index + 1) << height`), which lies entirely inside the tree.
    fn node(&mut self, height: u32, index: u64) -> Result<Hash, TlogError>;
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The RFC 6962 hash of leaves `lo..hi` (`lo < hi`; `lo` aligned as the RFC's recursion makes it).
pub fn range_hash(src: &mut dyn HashSource, lo: u64, hi: u64) -> Result<Hash, TlogError> {
    if lo >= hi {
        return Err(TlogError::Invalid(format!("empty range {lo}..{hi}")));
    }
    let n = hi - lo;
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        let h = n.trailing_zeros();
        return src.node(h, lo >> h);
    }
    let k = split(n);
    let left = range_hash(src, lo, lo + k)?;
    let right = range_hash(src, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// The root of a tree of `size` leaves (RFC 6962 MTH); the empty tree's root is `SHA-256("")`.
pub fn root(src: &mut dyn HashSource, size: u64) -> Result<Hash, TlogError> {
    if size == 0 {
        Ok(empty_root())
    } else {
        range_hash(src, 0, size)
    }
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 PATH).
pub fn inclusion_proof(
    src: &mut dyn HashSource,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, TlogError> {
    if index >= size {
        return Err(TlogError::Invalid(format!(
            "leaf {index} is not in a tree of {size} leaves"
        )));
    }
    let mut proof = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    // Walk down from the root, collecting siblings; the RFC lists them bottom-up.
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            proof.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(src, lo, lo + k)?);
            lo += k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The consistency proof between the trees of `old` and `new` leaves (RFC 6962 PROOF).
/// Empty when `old` is 0 or equal to `new`.
pub fn consistency_proof(
    src: &mut dyn HashSource,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, TlogError> {
    if old > new {
        return Err(TlogError::Invalid(format!(
            "no consistency proof from {old} leaves to fewer ({new})"
        )));
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut proof = Vec::new();
    let (mut m, mut lo, hi_end) = (old, 0u64, new);
    let mut hi = hi_end;
    let mut complete = true;
    // SUBPROOF(m, D[lo:hi], complete), iteratively: siblings are pushed top-down, then reversed.
    loop {
        let n = hi - lo;
        if m == n {
            if !complete {
                proof.push(range_hash(src, lo, hi)?);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            proof.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(src, lo, lo + k)?);
            m -= k;
            lo += k;
            complete = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2): `leaf` (a leaf hash) is leaf `index` of the
/// tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), TlogError> {
    if index >= size {
        return Err(TlogError::BadProof(format!(
            "leaf {index} cannot be in a tree of {size} leaves"
        )));
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(TlogError::BadProof(format!(
                "inclusion proof of leaf {index} in {size} leaves is too long"
            )));
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(TlogError::BadProof(format!(
            "inclusion proof of leaf {index} in {size} leaves is too short"
        )));
    }
    if r != *root {
        return Err(TlogError::BadProof(format!(
            "leaf {index} is not in the tree of {size} leaves with that root (the proof leads elsewhere)"
        )));
    }
    Ok(())
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2): the tree of `old` leaves with root
/// `old_root` is a prefix of the tree of `new` leaves with root `new_root`.
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), TlogError> {
    let bad = |why: &str| {
        Err(TlogError::BadProof(format!(
            "the tree of {new} leaves does not extend the one of {old} leaves: {why}"
        )))
    };
    if old > new {
        return bad("it is smaller");
    }
    if old == new {
        if !proof.is_empty() {
            return bad("a proof between equal sizes must be empty");
        }
        return if old_root == new_root {
            Ok(())
        } else {
            bad("same size, different roots")
        };
    }
    if old == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            bad("a proof from the empty tree must be empty")
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return bad("the proof is empty");
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return bad("the proof is too long");
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return bad("the proof is too short");
    }
    if fr != *old_root || sr != *new_root {
        return bad("the proof does not lead to both roots");
    }
    Ok(())
}

/// A whole tree in memory: every perfect subtree hash, level by level. Used by tests, by the
/// benchmark's generator and by auditors that replay a log.
#[derive(Debug, Clone, Default)]
pub struct MemTree {
    levels: Vec<Vec<Hash>>,
}

impl MemTree {
    /// An empty tree.
    pub fn new() -> MemTree {
        MemTree::default()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut h = 0;
        while self.levels[h].len().is_multiple_of(2) {
            let n = self.levels[h].len();
            let parent = node_hash(&self.levels[h][n - 2], &self.levels[h][n - 1]);
            if self.levels.len() == h + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[h + 1].push(parent);
            h += 1;
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The perfect-subtree hashes at `height` (index order).
    pub fn level(&self, height: usize) -> &[Hash] {
        self.levels.get(height).map_or(&[], |l| l.as_slice())
    }
}

impl HashSource for MemTree {
    fn node(&mut self, height: u32, index: u64) -> Result<Hash, TlogError> {
        self.levels
            .get(height as usize)
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or_else(|| TlogError::Invalid(format!("no node at height {height} index {index}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    /// RFC 6962 MTH written directly from its definition, to check the tiled/iterative code.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn tree(n: u64) -> (MemTree, Vec<Hash>) {
        let mut t = MemTree::new();
        let mut leaves = Vec::new();
        for i in 0..n {
            let l = leaf_hash(format!("entry {i}").as_bytes());
            t.push(l);
            leaves.push(l);
        }
        (t, leaves)
    }

    #[test]
    fn roots_match_the_rfc_definition() {
        let (mut t, leaves) = tree(300);
        for n in 0..=300u64 {
            assert_eq!(
                root(&mut t, n).unwrap(),
                mth(&leaves[..n as usize]),
                "n={n}"
            );
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_tampering_fails() {
        let (mut t, leaves) = tree(130);
        for n in 1..=130u64 {
            let r = root(&mut t, n).unwrap();
            for i in 0..n {
                let p = inclusion_proof(&mut t, i, n).unwrap();
                assert!(p.len() <= 64 - (n - 1).leading_zeros() as usize);
                let l = &leaves[i as usize];
                verify_inclusion(l, i, n, &p, &r).unwrap();
                // Another leaf, index, size, root, a flipped bit, a truncated or extended proof.
                let other = leaf_hash(b"other");
                assert!(verify_inclusion(&other, i, n, &p, &r).is_err());
                if n > 1 {
                    assert!(verify_inclusion(l, (i + 1) % n, n, &p, &r).is_err());
                    let mut q = p.clone();
                    q[0][5] ^= 1;
                    assert!(verify_inclusion(l, i, n, &q, &r).is_err());
                    assert!(verify_inclusion(l, i, n, &p[..p.len() - 1], &r).is_err());
                }
                let mut longer = p.clone();
                longer.push(other);
                assert!(verify_inclusion(l, i, n, &longer, &r).is_err());
                assert!(verify_inclusion(l, i, n, &p, &other).is_err());
                assert!(verify_inclusion(l, n, n, &p, &r).is_err());
            }
        }
    }

    /// Every (leaf, size) and every (old size, new size) pair up to 300 leaves.
    #[test]
    fn all_pairs_up_to_300() {
        let (mut t, leaves) = tree(300);
        let roots: Vec<Hash> = (0..=300u64).map(|n| root(&mut t, n).unwrap()).collect();
        for n in 1..=300u64 {
            let rn = &roots[n as usize];
            for i in 0..n {
                let p = inclusion_proof(&mut t, i, n).unwrap();
                verify_inclusion(&leaves[i as usize], i, n, &p, rn).unwrap();
            }
            for m in 0..=n {
                let p = consistency_proof(&mut t, m, n).unwrap();
                let rm = &roots[m as usize];
                verify_consistency(m, n, &p, rm, rn).unwrap();
                if m > 0 && m < n {
                    assert!(verify_consistency(m, n, &p, rn, rm).is_err(), "{m} {n}");
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_tampering_fails() {
        let (mut t, _) = tree(260);
        let roots: Vec<Hash> = (0..=260u64).map(|n| root(&mut t, n).unwrap()).collect();
        let sizes: Vec<u64> = (0..=260).collect();
        for &n in &sizes {
            // Every m for small n; a spread of m for large n keeps the test quick.
            for m in 0..=n {
                if n > 70 && m % 7 != 0 && m + 3 < n && m > 3 {
                    continue;
                }
                let p = consistency_proof(&mut t, m, n).unwrap();
                let (ro, rn) = (&roots[m as usize], &roots[n as usize]);
                verify_consistency(m, n, &p, ro, rn).unwrap();
                if m == 0 {
                    continue;
                }
                if m < n {
                    // A different old root (a fork), a tampered hash, a short proof.
                    let fork = leaf_hash(b"fork");
                    assert!(verify_consistency(m, n, &p, &fork, rn).is_err(), "{m} {n}");
                    assert!(verify_consistency(m, n, &p, ro, &fork).is_err());
                    let mut q = p.clone();
                    let last = q.len() - 1;
                    q[last][0] ^= 0x80;
                    assert!(verify_consistency(m, n, &q, ro, rn).is_err());
                    assert!(verify_consistency(m, n, &p[..p.len() - 1], ro, rn).is_err());
                    let mut longer = p.clone();
                    longer.push(fork);
                    assert!(verify_consistency(m, n, &longer, ro, rn).is_err());
                    // The sizes swapped.
                    assert!(verify_consistency(n, m, &p, rn, ro).is_err());
                } else {
                    assert!(verify_consistency(m, n, &[*ro], ro, rn).is_err());
                }
            }
        }
    }
}
