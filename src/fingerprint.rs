//! Normalised text -> fingerprints: an exact hash and a 64-bit simhash.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::normalize::Normalized;

/// Below this many tokens a segment matches only exactly. A simhash of a
/// handful of features is dominated by each one: changing one word of a
/// five-word line moves a third of its features, so near matches of short
/// lines are noise in both directions ("Read more" vs "Read more here",
/// or two unrelated bylines). Short lines repeat verbatim when they are
/// boilerplate, so exact matching loses little.
pub const MIN_NEAR_TOKENS: usize = 8;

/// Words per anchor shingle. An edited word destroys this many shingles;
/// three words are short enough to survive three edits in a paragraph and,
/// with the index ignoring stock phrases, specific enough for precision
/// (tests/near_duplicates.rs measures both).
pub const ANCHOR_SHINGLE: usize = 3;
/// One shingle in `ANCHOR_SAMPLE` (chosen by hash, so the same in every
/// copy) becomes an anchor: halves the index at little cost in recall.
pub const ANCHOR_SAMPLE: u64 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// xxh3 of the normalised text.
    pub exact: u64,
    /// Simhash over word unigrams and word bigrams (character unigrams and
    /// bigrams in unspaced scripts).
    pub simhash: u64,
    pub tokens: u32,
    /// Sampled hashes of word 3-shingles (sorted, distinct), for matching
    /// paragraphs with reworded, added or dropped words and sentences.
    pub anchors: Vec<u64>,
}

impl Fingerprint {
    /// Whether near-duplicate matching applies (see [`MIN_NEAR_TOKENS`]).
    pub fn near_eligible(&self) -> bool {
        self.tokens as usize >= MIN_NEAR_TOKENS
    }
}

const BIGRAM_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

pub fn fingerprint(n: &Normalized) -> Fingerprint {
    Fingerprint {
        exact: xxh3_64(n.text.as_bytes()),
        simhash: simhash(n),
        tokens: n.token_count() as u32,
        anchors: anchors(n),
    }
}

/// Content-defined sample of the segment's word shingles. Segments too
/// short for near matching get none.
fn anchors(n: &Normalized) -> Vec<u64> {
    let count = n.token_count();
    if count < MIN_NEAR_TOKENS {
        return Vec::new();
    }
    let hashes: Vec<u64> = (0..count).map(|i| xxh3_64(n.token(i).as_bytes())).collect();
    let mut out: Vec<u64> = hashes
        .windows(ANCHOR_SHINGLE)
        .map(|w| {
            let mut buf = [0u8; 8 * ANCHOR_SHINGLE];
            for (chunk, h) in buf.chunks_exact_mut(8).zip(w) {
                chunk.copy_from_slice(&h.to_le_bytes());
            }
            xxh3_64(&buf)
        })
        .filter(|h| h % ANCHOR_SAMPLE == 0)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Charikar's simhash: each feature hash votes +1/-1 on every bit.
///
/// Unigrams keep the fingerprint stable under small edits (one changed word
/// moves one feature of ~n), bigrams keep some word order so that two
/// paragraphs with the same bag of words still differ.
fn simhash(n: &Normalized) -> u64 {
    let mut votes = [0i32; 64];
    let mut prev: Option<u64> = None;
    for i in 0..n.token_count() {
        let h = xxh3_64(n.token(i).as_bytes());
        vote(&mut votes, h);
        if let Some(p) = prev {
            vote(
                &mut votes,
                xxh3_64_with_seed(&p.to_le_bytes(), h ^ BIGRAM_SEED),
            );
        }
        prev = Some(h);
    }
    votes.iter().enumerate().fold(
        0u64,
        |acc, (bit, &v)| if v > 0 { acc | (1 << bit) } else { acc },
    )
}

#[inline]
fn vote(votes: &mut [i32; 64], h: u64) {
    for (bit, v) in votes.iter_mut().enumerate() {
        // Branch-free: +1 when the bit is set, -1 otherwise.
        *v += (((h >> bit) & 1) as i32) * 2 - 1;
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

    #[test]
    fn short_segments_are_exact_only() {
        assert!(!fp("Read more").near_eligible());
        assert!(fp(BASE).near_eligible());
    }
}
