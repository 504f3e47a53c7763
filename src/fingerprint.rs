//! Normalised text -> fingerprints: an exact hash, a 64-bit simhash and a
//! MinHash sketch of the word bigrams.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::normalize::Normalized;

/// Below this many tokens a segment matches only exactly. A simhash of a
/// handful of features is dominated by each one: changing one word of a
/// five-word line moves a third of its features, so near matches of short
/// lines are noise in both directions ("Read more" vs "Read more here",
/// or two unrelated bylines). Short lines repeat verbatim when they are
/// boilerplate, so exact matching loses little.
pub const MIN_NEAR_TOKENS: usize = 8;

/// Words per sketch shingle. Word bigrams: an edited word changes at most
/// two of them, so a short paragraph with three edits keeps enough shared
/// shingles to be found (trigrams lose up to nine, most of a ten-word
/// paragraph), while verification against the lengths (see `index`) keeps
/// texts that merely share a phrase apart.
pub const SKETCH_SHINGLE: usize = 2;
/// MinHash functions per sketch.
pub const SKETCH_LEN: usize = 32;
/// LSH bands and rows per band: candidates are texts that agree on all
/// minima of at least one band. Two rows keep a band selective (a shared
/// common bigram alone does not make a candidate), eight bands find texts
/// of Jaccard 0.5 with probability 1 - (1 - 0.5^2)^8 = 0.90 and of 0.7 with
/// 0.9998.
pub const BANDS: usize = 8;
pub const BAND_ROWS: usize = 2;

/// MinHash sketch of a text's word bigrams (Broder 1997), stored compactly.
///
/// Only the lowest 8 bits of each minimum are kept (b-bit minwise hashing,
/// Li and König 2010): two texts agree on a position with probability
/// J + (1 - J) / 256 for Jaccard similarity J, precise enough to verify a
/// candidate at a quarter of the memory of full minima. The band keys are
/// hashed from the full minima, since 8-bit rows would collide by chance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sketch {
    pub minima: [u8; SKETCH_LEN],
    pub bands: [u32; BANDS],
}

impl Sketch {
    /// Positions on which two sketches agree.
    #[inline]
    pub fn agreement(a: &[u8; SKETCH_LEN], b: &[u8; SKETCH_LEN]) -> u32 {
        a.iter().zip(b).map(|(x, y)| u32::from(x == y)).sum()
    }

    /// Rebuilds a stored sketch (`None` when the lengths are not this
    /// version's: such a segment matches exactly only until re-ingested).
    pub fn from_parts(minima: &[u8], bands: &[u32]) -> Option<Sketch> {
        Some(Sketch {
            minima: minima.try_into().ok()?,
            bands: bands.try_into().ok()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// xxh3 of the normalised text.
    pub exact: u64,
    /// Simhash over word unigrams and word bigrams (character unigrams and
    /// bigrams in unspaced scripts).
    pub simhash: u64,
    pub tokens: u32,
    /// MinHash sketch for near matching; `None` for segments too short for
    /// it (see [`MIN_NEAR_TOKENS`]).
    pub sketch: Option<Sketch>,
}

impl Fingerprint {
    /// Whether near-duplicate matching applies (see [`MIN_NEAR_TOKENS`]).
    pub fn near_eligible(&self) -> bool {
        self.tokens as usize >= MIN_NEAR_TOKENS && self.sketch.is_some()
    }
}

const BIGRAM_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

pub fn fingerprint(n: &Normalized) -> Fingerprint {
    TOKEN_HASHES.with_borrow_mut(|hashes| {
        hashes.clear();
        hashes.extend((0..n.token_count()).map(|i| xxh3_64(n.token(i).as_bytes())));
        Fingerprint {
            exact: xxh3_64(n.text.as_bytes()),
            simhash: simhash(hashes),
            tokens: n.token_count() as u32,
            sketch: (hashes.len() >= MIN_NEAR_TOKENS).then(|| sketch(hashes)),
        }
    })
}

thread_local! {
    /// Token hashes of the segment being fingerprinted, reused.
    static TOKEN_HASHES: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// splitmix64: constants for the hash family and a final mixer.
const fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// (multiplier, addend) of each MinHash function: multiply-shift hashing
/// (Dietzfelbinger 1996) of the shingle hash, which is already uniform.
/// The product must wrap modulo 2^64: without the wrap the high half is
/// monotone in the input and every function picks the same minimum.
const HASH_FAMILY: [(u64, u64); SKETCH_LEN] = {
    let mut f = [(0u64, 0u64); SKETCH_LEN];
    let mut i = 0;
    while i < SKETCH_LEN {
        f[i] = (
            splitmix(2 * i as u64 + 0x5eed) | 1,
            splitmix(2 * i as u64 + 0x5eee),
        );
        i += 1;
    }
    f
};

/// MinHash over the word bigrams of a segment's token hashes.
fn sketch(hashes: &[u64]) -> Sketch {
    let mut min = [u32::MAX; SKETCH_LEN];
    for w in hashes.windows(SKETCH_SHINGLE) {
        // Rotation makes the bigram hash depend on word order.
        let x = w[0].rotate_left(23) ^ w[1];
        for (m, &(a, b)) in min.iter_mut().zip(&HASH_FAMILY) {
            let v = (x.wrapping_mul(a).wrapping_add(b) >> 32) as u32;
            *m = (*m).min(v);
        }
    }
    let mut s = Sketch::default();
    for (o, m) in s.minima.iter_mut().zip(&min) {
        *o = *m as u8;
    }
    for (b, (key, rows)) in s
        .bands
        .iter_mut()
        .zip(min.chunks_exact(BAND_ROWS))
        .enumerate()
    {
        let mut h = splitmix(b as u64);
        for &r in rows {
            h = splitmix(h ^ u64::from(r));
        }
        *key = h as u32;
    }
    s
}

/// Charikar's simhash: each feature hash votes +1/-1 on every bit.
///
/// Unigrams keep the fingerprint stable under small edits (one changed word
/// moves one feature of ~n), bigrams keep some word order so that two
/// paragraphs with the same bag of words still differ.
fn simhash(hashes: &[u64]) -> u64 {
    let mut votes = BitVotes::default();
    let mut prev: Option<u64> = None;
    for &h in hashes {
        votes.add(h);
        if let Some(p) = prev {
            votes.add(xxh3_64_with_seed(&p.to_le_bytes(), h ^ BIGRAM_SEED));
        }
        prev = Some(h);
    }
    votes.majority()
}

/// Byte `i` of entry `b` is bit `i` of `b`: spreads 8 bits over 8 byte
/// counters, so one addition counts 8 bits at once.
const SPREAD: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut i = 0;
        while i < 8 {
            if b & (1 << i) != 0 {
                t[b] |= 1 << (8 * i);
            }
            i += 1;
        }
        b += 1;
    }
    t
};

/// Per-bit counts of set bits over many 64-bit hashes: 8-bit counters
/// packed in words (byte `i` of `packed[j]` counts bit `8 j + i`), flushed
/// to 32-bit totals before they can overflow. A simhash bit is set when
/// more than half of the features set it, which is what summing +1/-1
/// votes decides, at an eighth of the additions.
struct BitVotes {
    packed: [u64; 8],
    pending: u32,
    totals: [u32; 64],
    features: u32,
}

impl Default for BitVotes {
    fn default() -> Self {
        BitVotes {
            packed: [0; 8],
            pending: 0,
            totals: [0; 64],
            features: 0,
        }
    }
}

impl BitVotes {
    #[inline]
    fn add(&mut self, h: u64) {
        for (j, p) in self.packed.iter_mut().enumerate() {
            *p += SPREAD[((h >> (8 * j)) & 0xff) as usize];
        }
        self.pending += 1;
        self.features += 1;
        if self.pending == 255 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        for (j, p) in self.packed.iter_mut().enumerate() {
            for i in 0..8 {
                self.totals[8 * j + i] += ((*p >> (8 * i)) & 0xff) as u32;
            }
            *p = 0;
        }
        self.pending = 0;
    }

    fn majority(mut self) -> u64 {
        self.flush();
        let n = u64::from(self.features);
        self.totals.iter().enumerate().fold(0u64, |acc, (bit, &c)| {
            if 2 * u64::from(c) > n {
                acc | (1 << bit)
            } else {
                acc
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;

    fn fp(s: &str) -> Fingerprint {
        let mut n = Normalized::default();
        normalize(s, &mut n);
        fingerprint(&n)
    }

    const BASE: &str = "The council voted on Tuesday to close the old library building on Main Street \
        and move its collection to the new community centre, ending a debate that lasted two years.";

    #[test]
    fn exact_hash_ignores_case_punctuation_and_numbers() {
        assert_eq!(fp("Hello, World! 2024").exact, fp("hello world 1999").exact);
        assert_ne!(fp("hello world").exact, fp("hello word").exact);
    }

    #[test]
    fn one_word_edit_stays_close_and_unrelated_text_is_far() {
        let a = fp(BASE);
        let b = fp(&BASE.replace("Tuesday", "Wednesday"));
        let c = fp(
            "Scientists announced a new species of frog discovered in the rainforest canopy \
            after a decade of careful field work by a small team of volunteers.",
        );
        let near = (a.simhash ^ b.simhash).count_ones();
        let far = (a.simhash ^ c.simhash).count_ones();
        assert!(near <= 8, "near distance {near}");
        assert!(far >= 16, "far distance {far}");
    }

    /// The packed counters decide every bit as summing +1/-1 votes does.
    #[test]
    fn packed_votes_equal_plain_votes() {
        let mut x = 0x1234_5678_9abc_def0u64;
        for n in [0usize, 1, 2, 7, 254, 255, 256, 600] {
            let hashes: Vec<u64> = (0..n)
                .map(|_| {
                    x = splitmix(x);
                    x
                })
                .collect();
            let mut votes = [0i64; 64];
            let mut prev: Option<u64> = None;
            let mut add = |h: u64| {
                for (bit, v) in votes.iter_mut().enumerate() {
                    *v += if (h >> bit) & 1 == 1 { 1 } else { -1 };
                }
            };
            for &h in &hashes {
                add(h);
                if let Some(p) = prev {
                    add(xxh3_64_with_seed(&p.to_le_bytes(), h ^ BIGRAM_SEED));
                }
                prev = Some(h);
            }
            let plain =
                votes.iter().enumerate().fold(
                    0u64,
                    |acc, (bit, &v)| if v > 0 { acc | (1 << bit) } else { acc },
                );
            assert_eq!(simhash(&hashes), plain, "{n} hashes");
        }
    }

    /// Sketches estimate similarity: a one-word edit keeps most positions,
    /// unrelated text agrees only by chance, and the functions differ (a
    /// broken family picks one minimum for all of them).
    #[test]
    fn sketch_agreement_tracks_similarity() {
        let a = fp(BASE).sketch.unwrap();
        let b = fp(&BASE.replace("Tuesday", "Wednesday")).sketch.unwrap();
        let c = fp(
            "Scientists announced a new species of frog discovered in the rainforest \
            canopy after a decade of careful field work by a small team of volunteers.",
        )
        .sketch
        .unwrap();
        assert!(Sketch::agreement(&a.minima, &b.minima) >= 24);
        assert!(Sketch::agreement(&a.minima, &c.minima) <= 6);
        let mut keys = a.bands.to_vec();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), BANDS);
        let mut minima = a.minima.to_vec();
        minima.sort_unstable();
        minima.dedup();
        assert!(minima.len() > SKETCH_LEN / 2, "{minima:?}");
    }

    #[test]
    fn short_segments_are_exact_only() {
        assert!(!fp("Read more").near_eligible());
        assert!(fp(BASE).near_eligible());
    }
}
