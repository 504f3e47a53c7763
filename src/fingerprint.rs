//! Normalised text -> fingerprints: an exact hash and a MinHash sketch of
//! the word bigrams.

use xxhash_rust::xxh3::xxh3_64;

use crate::normalize::Normalized;

/// Below this many tokens a segment matches only exactly. A sketch of a
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

pub fn fingerprint(n: &Normalized) -> Fingerprint {
    TOKEN_HASHES.with_borrow_mut(|hashes| {
        hashes.clear();
        hashes.extend((0..n.token_count()).map(|i| xxh3_64(n.token(i).as_bytes())));
        Fingerprint {
            exact: xxh3_64(n.text.as_bytes()),
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

/// (multiplier, addend) of each MinHash function: h(x) = a * x + b modulo
/// 2^32 over the 32-bit shingle hash. The shingle hash is already uniform
/// (xxh3 of the words), and minwise hashing with such simple families is as
/// good as with fully random permutations on inputs of that entropy
/// (Mitzenmacher and Vadhan 2008). 32-bit lanes let the 32 functions run as
/// four 8-lane vector multiplies per shingle (see [`minima`]).
const HASH_FAMILY: ([u32; SKETCH_LEN], [u32; SKETCH_LEN]) = {
    let mut a = [0u32; SKETCH_LEN];
    let mut b = [0u32; SKETCH_LEN];
    let mut i = 0;
    while i < SKETCH_LEN {
        a[i] = splitmix(2 * i as u64 + 0x5eed) as u32 | 1;
        b[i] = splitmix(2 * i as u64 + 0x5eee) as u32;
        i += 1;
    }
    (a, b)
};

/// Bumped whenever [`HASH_FAMILY`] or the shingling changes: stored
/// sketches of another version are recomputed from the text on restore,
/// since they would never agree with this version's.
pub const SKETCH_VERSION: u32 = 1;

/// The 32 minima over the word bigrams of a segment's token hashes, with
/// the widest vector unit the CPU has (same values on every path).
fn minima(hashes: &[u64]) -> [u32; SKETCH_LEN] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { minima_avx2(hashes) };
    }
    minima_portable(hashes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn minima_avx2(hashes: &[u64]) -> [u32; SKETCH_LEN] {
    minima_portable(hashes)
}

#[inline(always)]
fn minima_portable(hashes: &[u64]) -> [u32; SKETCH_LEN] {
    let (mul, add) = &HASH_FAMILY;
    let mut min = [u32::MAX; SKETCH_LEN];
    for w in hashes.windows(SKETCH_SHINGLE) {
        // Rotation makes the bigram hash depend on word order; the mixer
        // breaks the xor structure that bigrams sharing a word have, which
        // linear functions of the hash would otherwise carry into their
        // minima (texts sharing a sentence agreed more often than chance).
        let x = (splitmix(w[0].rotate_left(23) ^ w[1]) >> 32) as u32;
        for i in 0..SKETCH_LEN {
            min[i] = min[i].min(x.wrapping_mul(mul[i]).wrapping_add(add[i]));
        }
    }
    min
}

/// MinHash over the word bigrams of a segment's token hashes.
fn sketch(hashes: &[u64]) -> Sketch {
    let min = minima(hashes);
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

    /// The vector path computes the same minima as the portable one.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_minima_equal_portable_minima() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let hashes: Vec<u64> = (0..97u64).map(splitmix).collect();
        for n in [2, 3, 8, 31, 97] {
            // SAFETY: AVX2 support checked above.
            let vector = unsafe { minima_avx2(&hashes[..n]) };
            assert_eq!(vector, minima_portable(&hashes[..n]), "{n} tokens");
        }
    }

    #[test]
    fn short_segments_are_exact_only() {
        assert!(!fp("Read more").near_eligible());
        assert!(fp(BASE).near_eligible());
    }
}
