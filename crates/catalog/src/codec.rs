//! Compact binary encodings inside the JSON catalog files: posting lists and ordinal sets
//! (`index-format.md` §10.4), both carried as unpadded base64url strings.
//!
//! JSON keeps the files inspectable and lets readers ignore unknown fields; the bulky parts
//! (postings, sets of bundles) are binary so that a shard of a common term stays a few KB.
//! Decoding is strict: any truncated record, overlong varint, unsorted ordinal or trailing
//! byte is an error, never a panic or a guess.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// Fixed-size part of a posting, after the ordinal delta.
pub const POSTING_FIXED_BYTES: usize = 14;

/// One bundle in the posting list of a term, with what a query needs to score, filter and sort
/// it without fetching anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posting {
    /// The bundle's ordinal in the catalog.
    pub ord: u32,
    /// Field-weighted term frequency, in halves (saturating at 255).
    pub wtf: u8,
    /// Bucket of the bundle's weighted length: `round(ln(1 + len) * 20)`.
    pub len_bucket: u8,
    /// Flags: bits 0-1 verification (0 none, 1 community, 2 official), bit 2 deprecated,
    /// bits 3-5 platforms (linux, macos, windows).
    pub flags: u8,
    /// Pricing model: 0 free, 1 paid, 2 freemium, 3 subscription.
    pub model: u8,
    /// Price in whole units of its currency, rounded up (0: none).
    pub price: u16,
    /// `round(log2(1 + downloads) * 2000)`, saturating.
    pub downloads: u16,
    /// Rating in tenths of a star (0: not rated).
    pub rating: u8,
    /// Trend, `round(trend * 10)` clamped to -128..=127, stored as two's complement.
    pub trend: u8,
    /// Days since 2020-01-01 of the latest publish (saturating).
    pub updated: u16,
    /// Sort key of the name: its first three characters in base 37.
    pub name_key: u16,
}

/// A malformed encoded value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

fn push_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Result<u32, DecodeError> {
    let mut v: u64 = 0;
    for i in 0..5 {
        let b = *bytes
            .get(*pos)
            .ok_or_else(|| DecodeError("truncated number".into()))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return u32::try_from(v).map_err(|_| DecodeError("number out of range".into()));
        }
    }
    Err(DecodeError("number longer than 5 bytes".into()))
}

fn b64_decode(s: &str, limit: usize) -> Result<Vec<u8>, DecodeError> {
    if s.len() / 4 * 3 > limit {
        return Err(DecodeError(format!(
            "encoded data longer than {limit} bytes"
        )));
    }
    B64.decode(s)
        .map_err(|e| DecodeError(format!("not base64url: {e}")))
}

/// Encodes a card's facet keys (§10.2): sorted 32-bit keys, little-endian, as base64url.
pub fn encode_keys(keys: &[u32]) -> String {
    let mut out = Vec::with_capacity(keys.len() * 4);
    for k in keys {
        out.extend_from_slice(&k.to_le_bytes());
    }
    B64.encode(out)
}

/// Decodes a card's facet keys, refusing a length that is not a multiple of 4, keys out of
/// order or repeated, and more than `limit` keys.
pub fn decode_keys(s: &str, limit: usize) -> Result<Vec<u32>, DecodeError> {
    if s.len() > limit.saturating_mul(16).div_ceil(3) {
        return Err(DecodeError(format!("more than {limit} facet keys")));
    }
    let b = B64
        .decode(s)
        .map_err(|e| DecodeError(format!("not base64url: {e}")))?;
    if b.len() % 4 != 0 {
        return Err(DecodeError("facet keys are not 4 bytes each".into()));
    }
    if b.len() / 4 > limit {
        return Err(DecodeError(format!("more than {limit} facet keys")));
    }
    let keys: Vec<u32> = b
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if keys.windows(2).any(|w| w[0] >= w[1]) {
        return Err(DecodeError("facet keys out of order or repeated".into()));
    }
    Ok(keys)
}

/// Encodes postings sorted by ordinal (the caller sorts).
pub fn encode_postings(postings: &[Posting]) -> String {
    let mut out = Vec::with_capacity(postings.len() * (POSTING_FIXED_BYTES + 2));
    let mut prev: Option<u32> = None;
    for p in postings {
        let delta = match prev {
            None => p.ord,
            Some(q) => p.ord - q,
        };
        prev = Some(p.ord);
        push_varint(&mut out, delta);
        out.extend_from_slice(&[p.wtf, p.len_bucket, p.flags, p.model]);
        out.extend_from_slice(&p.price.to_le_bytes());
        out.extend_from_slice(&p.downloads.to_le_bytes());
        out.extend_from_slice(&[p.rating, p.trend]);
        out.extend_from_slice(&p.updated.to_le_bytes());
        out.extend_from_slice(&p.name_key.to_le_bytes());
    }
    B64.encode(out)
}

/// Decodes a posting list: ordinals strictly increasing and below `slots`; at most `limit`
/// decoded bytes.
pub fn decode_postings(s: &str, slots: u32, limit: usize) -> Result<Vec<Posting>, DecodeError> {
    let bytes = b64_decode(s, limit)?;
    let mut out = Vec::with_capacity(bytes.len() / (POSTING_FIXED_BYTES + 1));
    let mut pos = 0;
    let mut prev: Option<u32> = None;
    while pos < bytes.len() {
        let delta = read_varint(&bytes, &mut pos)?;
        let ord = match prev {
            None => delta,
            Some(q) => {
                if delta == 0 {
                    return Err(DecodeError("ordinals not strictly increasing".into()));
                }
                q.checked_add(delta)
                    .ok_or_else(|| DecodeError("ordinal overflows".into()))?
            }
        };
        if ord >= slots {
            return Err(DecodeError(format!(
                "ordinal {ord} is not below the catalog's {slots} slots"
            )));
        }
        prev = Some(ord);
        let f = bytes
            .get(pos..pos + POSTING_FIXED_BYTES)
            .ok_or_else(|| DecodeError("truncated posting".into()))?;
        pos += POSTING_FIXED_BYTES;
        let u16_at = |i: usize| u16::from_le_bytes([f[i], f[i + 1]]);
        out.push(Posting {
            ord,
            wtf: f[0],
            len_bucket: f[1],
            flags: f[2],
            model: f[3],
            price: u16_at(4),
            downloads: u16_at(6),
            rating: f[8],
            trend: f[9],
            updated: u16_at(10),
            name_key: u16_at(12),
        });
    }
    Ok(out)
}

/// Encodes a sorted set of ordinals: a leading `0` byte and varint deltas, or a leading `1`
/// byte and a bitmap (bit `i % 8` of byte `i / 8` for ordinal `i`), whichever is shorter.
pub fn encode_set(ords: &[u32]) -> String {
    let max = ords.last().copied().unwrap_or(0) as usize;
    let bitmap_len = 1 + max / 8 + 1;
    if !ords.is_empty() && bitmap_len < 1 + ords.len() {
        // The list takes at least a byte per ordinal: the bitmap is shorter.
        return encode_bitmap(ords, bitmap_len);
    }
    let mut list = vec![0u8];
    let mut prev: Option<u32> = None;
    for &o in ords {
        push_varint(&mut list, prev.map_or(o, |q| o - q));
        prev = Some(o);
    }
    if !ords.is_empty() && bitmap_len < list.len() {
        encode_bitmap(ords, bitmap_len)
    } else {
        B64.encode(list)
    }
}

fn encode_bitmap(ords: &[u32], bitmap_len: usize) -> String {
    let mut bm = vec![0u8; bitmap_len];
    bm[0] = 1;
    for &o in ords {
        bm[1 + o as usize / 8] |= 1 << (o % 8);
    }
    B64.encode(bm)
}

/// Decodes a set of ordinals (all below `slots`), sorted and without repeats.
pub fn decode_set(s: &str, slots: u32, limit: usize) -> Result<Vec<u32>, DecodeError> {
    let bytes = b64_decode(s, limit)?;
    let (kind, rest) = bytes
        .split_first()
        .ok_or_else(|| DecodeError("empty set encoding".into()))?;
    let mut out = Vec::with_capacity(match kind {
        0 => rest.len(),
        _ => rest.iter().map(|b| b.count_ones() as usize).sum(),
    });
    match kind {
        0 => {
            let mut pos = 0;
            let mut prev: Option<u32> = None;
            while pos < rest.len() {
                let d = read_varint(rest, &mut pos)?;
                let o = match prev {
                    None => d,
                    Some(q) if d > 0 => q
                        .checked_add(d)
                        .ok_or_else(|| DecodeError("ordinal overflows".into()))?,
                    Some(_) => {
                        return Err(DecodeError("ordinals not strictly increasing".into()));
                    }
                };
                out.push(o);
                prev = Some(o);
            }
        }
        1 => {
            for (i, &b) in rest.iter().enumerate() {
                let mut b = b;
                while b != 0 {
                    out.push((i * 8) as u32 + b.trailing_zeros());
                    b &= b - 1;
                }
            }
        }
        k => return Err(DecodeError(format!("unknown set encoding {k}"))),
    }
    if let Some(&o) = out.iter().find(|&&o| o >= slots) {
        return Err(DecodeError(format!(
            "ordinal {o} is not below the catalog's {slots} slots"
        )));
    }
    Ok(out)
}

/// A set of ordinals kept in the form it was stored in (§10.4): adding or removing a member of
/// a dense set (a facet chunk of a common value: tens of thousands of members) flips a bit
/// instead of decoding and encoding every member, so a catalog update's cost does not grow
/// with how common a value is. [`SetBuf::encode`] gives what [`encode_set`] gives for the same
/// members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetBuf {
    /// A bitmap (ordinal `i` is bit `i % 8` of byte `i / 8`).
    Bitmap(Vec<u8>),
    /// The members, increasing.
    List(Vec<u32>),
}

impl SetBuf {
    /// Decodes a set as [`decode_set`] does (the same checks and errors), keeping a bitmap as
    /// one.
    pub fn decode(s: &str, slots: u32, limit: usize) -> Result<SetBuf, DecodeError> {
        let bytes = b64_decode(s, limit)?;
        match bytes.split_first() {
            Some((1, rest)) => {
                let set = SetBuf::Bitmap(rest.to_vec());
                if let Some(o) = set.last()
                    && o >= slots
                {
                    // The lowest offending ordinal, as decode_set names it.
                    let first = (slots..=o).find(|&x| set.contains(x)).unwrap_or(o);
                    return Err(DecodeError(format!(
                        "ordinal {first} is not below the catalog's {slots} slots"
                    )));
                }
                Ok(set)
            }
            _ => decode_set(s, slots, limit).map(SetBuf::List),
        }
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        match self {
            SetBuf::Bitmap(b) => b.iter().map(|x| x.count_ones() as usize).sum(),
            SetBuf::List(l) => l.len(),
        }
    }

    /// Whether the set has no member.
    pub fn is_empty(&self) -> bool {
        match self {
            SetBuf::Bitmap(b) => b.iter().all(|&x| x == 0),
            SetBuf::List(l) => l.is_empty(),
        }
    }

    /// Whether `o` is a member.
    pub fn contains(&self, o: u32) -> bool {
        match self {
            SetBuf::Bitmap(b) => b
                .get(o as usize / 8)
                .is_some_and(|x| x & (1 << (o % 8)) != 0),
            SetBuf::List(l) => l.binary_search(&o).is_ok(),
        }
    }

    /// Adds (`true`) or removes (`false`) `o`.
    pub fn set(&mut self, o: u32, member: bool) {
        match self {
            SetBuf::Bitmap(b) => {
                let i = o as usize / 8;
                if member && b.len() <= i {
                    b.resize(i + 1, 0);
                }
                if let Some(x) = b.get_mut(i) {
                    if member {
                        *x |= 1 << (o % 8);
                    } else {
                        *x &= !(1 << (o % 8));
                    }
                }
            }
            SetBuf::List(l) => match (l.binary_search(&o), member) {
                (Err(i), true) => l.insert(i, o),
                (Ok(i), false) => {
                    l.remove(i);
                }
                _ => {}
            },
        }
    }

    /// The highest member.
    pub fn last(&self) -> Option<u32> {
        match self {
            SetBuf::Bitmap(b) => b
                .iter()
                .rposition(|&x| x != 0)
                .map(|i| (i * 8) as u32 + 7 - b[i].leading_zeros()),
            SetBuf::List(l) => l.last().copied(),
        }
    }

    /// The lowest member at or above `o`.
    pub fn first_from(&self, o: u32) -> Option<u32> {
        match self {
            SetBuf::Bitmap(_) => {
                let last = self.last()?;
                (o..=last).find(|&x| self.contains(x))
            }
            SetBuf::List(l) => l.get(l.partition_point(|&x| x < o)).copied(),
        }
    }

    /// The members, increasing.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            SetBuf::Bitmap(b) => {
                let mut out = Vec::new();
                for (i, &x) in b.iter().enumerate() {
                    let mut x = x;
                    while x != 0 {
                        out.push((i * 8) as u32 + x.trailing_zeros());
                        x &= x - 1;
                    }
                }
                out
            }
            SetBuf::List(l) => l.clone(),
        }
    }

    /// The set's encoding: exactly [`encode_set`] of its members.
    pub fn encode(&self) -> String {
        if let SetBuf::Bitmap(b) = self
            && let Some(max) = self.last()
        {
            // encode_set picks the bitmap when it is shorter than the least a list takes.
            let bitmap_len = 1 + max as usize / 8 + 1;
            if bitmap_len < 1 + self.len() {
                let mut out = Vec::with_capacity(bitmap_len);
                out.push(1);
                out.extend_from_slice(&b[..bitmap_len - 1]);
                return B64.encode(out);
            }
        }
        encode_set(&self.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ord: u32) -> Posting {
        Posting {
            ord,
            wtf: 3,
            len_bucket: 90,
            flags: 0b1010_0001,
            model: 1,
            price: 300,
            downloads: 40000,
            rating: 45,
            trend: 250,
            updated: 2500,
            name_key: 1234,
        }
    }

    #[test]
    fn postings_round_trip_and_refuse_damage() {
        let ps = vec![p(0), p(7), p(300), p(100_000)];
        let s = encode_postings(&ps);
        assert_eq!(decode_postings(&s, 100_001, 1 << 20).unwrap(), ps);
        assert!(
            decode_postings(&s, 100_000, 1 << 20).is_err(),
            "ord >= slots"
        );
        let mut bytes = B64.decode(&s).unwrap();
        bytes.pop();
        assert!(decode_postings(&B64.encode(&bytes), 200_000, 1 << 20).is_err());
        assert!(decode_postings("!!", 10, 1 << 20).is_err());
        assert!(decode_postings(&s, 200_000, 8).is_err(), "over the limit");
    }

    #[test]
    fn sets_round_trip_in_both_encodings() {
        let sparse = vec![3, 900, 70_000];
        let dense: Vec<u32> = (0..5000).filter(|i| i % 3 != 0).collect();
        for set in [sparse, dense, vec![]] {
            let s = encode_set(&set);
            assert_eq!(decode_set(&s, 100_000, 1 << 20).unwrap(), set);
        }
        assert!(decode_set(&encode_set(&[5]), 5, 1 << 20).is_err());
        assert!(decode_set(&B64.encode([7u8]), 5, 1 << 20).is_err());
        let keys: Vec<u32> = (1..=101).collect();
        assert_eq!(
            decode_keys(&encode_keys(&keys[..100]), 100).unwrap().len(),
            100
        );
        assert!(
            decode_keys(&encode_keys(&keys), 100).is_err(),
            "one key too many"
        );
        assert!(
            decode_keys(&encode_keys(&[2, 1]), 100).is_err(),
            "out of order"
        );
        assert!(decode_set(&B64.encode([0u8, 4, 0]), 50, 1 << 20).is_err());
    }

    #[test]
    fn a_set_buffer_encodes_as_encode_set_and_decodes_as_decode_set() {
        let mut rng = 7u64;
        let mut next = move || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 33) as u32
        };
        for density in [1u32, 3, 20, 200, 3000] {
            let mut ords: Vec<u32> = (0..4000).filter(|_| next() % density == 0).collect();
            let mut buf = SetBuf::decode(&encode_set(&ords), 65536, 1 << 20).unwrap();
            assert_eq!(buf.to_vec(), ords);
            assert_eq!(buf.encode(), encode_set(&ords));
            // Members in and out, at the ends and beyond, one at a time.
            for _ in 0..200 {
                let o = next() % 4100;
                let member = next() % 2 == 0;
                buf.set(o, member);
                match (ords.binary_search(&o), member) {
                    (Err(i), true) => ords.insert(i, o),
                    (Ok(i), false) => {
                        ords.remove(i);
                    }
                    _ => {}
                }
                assert_eq!(buf.len(), ords.len());
                assert_eq!(buf.is_empty(), ords.is_empty());
                assert_eq!(buf.last(), ords.last().copied());
                assert_eq!(buf.contains(o), member);
                let from = ords.get(ords.partition_point(|&x| x < o)).copied();
                assert_eq!(buf.first_from(o), from);
                assert_eq!(buf.first_from(0), ords.first().copied());
                assert_eq!(buf.encode(), encode_set(&ords), "density {density}");
            }
        }
        // The same refusals as decode_set, with the same words.
        let dense: Vec<u32> = (0..100).collect();
        for (set, slots) in [(encode_set(&dense), 50), (encode_set(&[5, 9]), 6)] {
            assert_eq!(
                SetBuf::decode(&set, slots, 1 << 20)
                    .unwrap_err()
                    .to_string(),
                decode_set(&set, slots, 1 << 20).unwrap_err().to_string()
            );
        }
        assert!(SetBuf::decode("Ag", 10, 100).is_err());
    }
}
