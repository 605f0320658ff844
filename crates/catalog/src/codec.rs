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
        assert!(decode_set(&B64.encode([0u8, 4, 0]), 50, 1 << 20).is_err());
    }
}
