//! Fingerprint -> cluster lookup: exact, and near within a Hamming radius.
//!
//! The near lookup uses blocked tables (Manku, Jain and Das Sarma,
//! "Detecting Near-Duplicates for Web Crawling", WWW 2007): the 64 bits are
//! cut into `radius + 1` blocks and each block keys one table. Two simhashes
//! within `radius` bits agree exactly on at least one block (pigeonhole), so
//! probing each table with the query's block finds every candidate, and a
//! popcount on the candidates settles the distance.
//!
//! A simhash of a paragraph moves by several bits for each edited word, so
//! a paragraph whose sentence was reworded or dropped is often outside the
//! radius. Multi-sentence paragraphs therefore also match by sentences: the
//! cluster whose known sentences cover at least half of the paragraph's
//! tokens, verbatim after normalisation, is a near match.

use std::collections::HashMap;

use crate::cluster::ClusterId;
use crate::fingerprint::Fingerprint;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NearMatch {
    pub cluster: ClusterId,
    /// Simhash matches: Hamming distance. Sentence matches: tokens of the
    /// segment outside the shared sentences.
    pub distance: u32,
}

/// Share of a segment's tokens that shared sentences must cover.
pub const MIN_SENTENCE_COVERAGE: f32 = 0.5;

/// What the engine needs from an index. The in-memory [`BlockedIndex`] is
/// the embedded default; a shared backend implements the same calls.
pub trait SegmentIndex: Send + Sync {
    fn exact(&self, exact: u64) -> Option<ClusterId>;
    /// Nearest indexed simhash within the radius (ties: lowest cluster id),
    /// else the cluster that shares most of the segment's sentences.
    fn near(&self, fp: &Fingerprint) -> Option<NearMatch>;
    /// Records one more segment with this fingerprint in `cluster`. The
    /// first one of an exact hash also enters the near tables when
    /// `fp.near_eligible()`.
    fn insert(&mut self, fp: &Fingerprint, cluster: ClusterId);
    /// Forgets one segment with this fingerprint; the last one takes the
    /// fingerprint out of every table.
    fn remove(&mut self, fp: &Fingerprint);
    /// Distinct fingerprints indexed.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Copy)]
struct ExactEntry {
    cluster: ClusterId,
    /// Segments sharing this exact hash.
    refs: u32,
    simhash: u64,
    near: bool,
}

#[derive(Debug, Clone, Copy)]
struct NearEntry {
    simhash: u64,
    cluster: ClusterId,
}

pub struct BlockedIndex {
    radius: u32,
    /// (shift, mask) of each block.
    blocks: Vec<(u32, u64)>,
    tables: Vec<HashMap<u64, Vec<NearEntry>>>,
    exact: HashMap<u64, ExactEntry>,
    /// Sentence hash -> (cluster, distinct texts of that cluster with it).
    sentences: HashMap<u64, (ClusterId, u32)>,
}

/// Largest supported radius: beyond it blocks get too short to be selective.
pub const MAX_RADIUS: u32 = 7;

impl BlockedIndex {
    pub fn new(radius: u32) -> Self {
        let radius = radius.min(MAX_RADIUS);
        let n = radius as u64 + 1;
        let blocks = (0..n)
            .map(|i| {
                let lo = 64 * i / n;
                let hi = 64 * (i + 1) / n;
                let width = hi - lo;
                let mask = if width == 64 {
                    u64::MAX
                } else {
                    (1u64 << width) - 1
                };
                (lo as u32, mask)
            })
            .collect::<Vec<_>>();
        BlockedIndex {
            radius,
            tables: vec![HashMap::new(); blocks.len()],
            blocks,
            exact: HashMap::new(),
            sentences: HashMap::new(),
        }
    }

    pub fn radius(&self) -> u32 {
        self.radius
    }

    fn key(&self, table: usize, simhash: u64) -> u64 {
        let (shift, mask) = self.blocks[table];
        (simhash >> shift) & mask
    }

    fn near_simhash(&self, simhash: u64) -> Option<NearMatch> {
        let mut best: Option<NearMatch> = None;
        for (t, table) in self.tables.iter().enumerate() {
            let Some(bucket) = table.get(&self.key(t, simhash)) else {
                continue;
            };
            for e in bucket {
                let distance = (e.simhash ^ simhash).count_ones();
                if distance > self.radius {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some(b) => (distance, e.cluster) < (b.distance, b.cluster),
                };
                if better {
                    best = Some(NearMatch {
                        cluster: e.cluster,
                        distance,
                    });
                }
            }
        }
        best
    }

    fn near_sentences(&self, fp: &Fingerprint) -> Option<NearMatch> {
        let mut covered: Vec<(ClusterId, u32)> = Vec::new();
        for s in &fp.sentences {
            if let Some(&(cluster, _)) = self.sentences.get(&s.hash) {
                match covered.iter_mut().find(|(c, _)| *c == cluster) {
                    Some((_, n)) => *n += s.tokens,
                    None => covered.push((cluster, s.tokens)),
                }
            }
        }
        let (cluster, tokens) = covered
            .into_iter()
            .max_by_key(|&(c, n)| (n, std::cmp::Reverse(c)))?;
        let needed = (fp.tokens as f32 * MIN_SENTENCE_COVERAGE).ceil() as u32;
        (tokens >= needed.max(1)).then(|| NearMatch {
            cluster,
            distance: fp.tokens.saturating_sub(tokens),
        })
    }
}

impl SegmentIndex for BlockedIndex {
    fn exact(&self, exact: u64) -> Option<ClusterId> {
        self.exact.get(&exact).map(|e| e.cluster)
    }

    fn near(&self, fp: &Fingerprint) -> Option<NearMatch> {
        if fp.near_eligible() {
            if let Some(m) = self.near_simhash(fp.simhash) {
                return Some(m);
            }
        }
        self.near_sentences(fp)
    }

    fn insert(&mut self, fp: &Fingerprint, cluster: ClusterId) {
        if let Some(e) = self.exact.get_mut(&fp.exact) {
            e.refs += 1;
            return;
        }
        for sentence in &fp.sentences {
            let e = self.sentences.entry(sentence.hash).or_insert((cluster, 0));
            if e.0 == cluster {
                e.1 += 1;
            }
        }
        let near = fp.near_eligible();
        self.exact.insert(
            fp.exact,
            ExactEntry {
                cluster,
                refs: 1,
                simhash: fp.simhash,
                near,
            },
        );
        if near {
            for t in 0..self.tables.len() {
                let key = self.key(t, fp.simhash);
                self.tables[t].entry(key).or_default().push(NearEntry {
                    simhash: fp.simhash,
                    cluster,
                });
            }
        }
    }

    fn remove(&mut self, fp: &Fingerprint) {
        let Some(e) = self.exact.get_mut(&fp.exact) else {
            return;
        };
        e.refs -= 1;
        if e.refs > 0 {
            return;
        }
        let e = self.exact.remove(&fp.exact).expect("entry present");
        for sentence in &fp.sentences {
            if let Some(s) = self.sentences.get_mut(&sentence.hash) {
                if s.0 == e.cluster {
                    s.1 -= 1;
                    if s.1 == 0 {
                        self.sentences.remove(&sentence.hash);
                    }
                }
            }
        }
        if !e.near {
            return;
        }
        for t in 0..self.tables.len() {
            let key = self.key(t, e.simhash);
            if let Some(bucket) = self.tables[t].get_mut(&key) {
                if let Some(pos) = bucket
                    .iter()
                    .position(|n| n.simhash == e.simhash && n.cluster == e.cluster)
                {
                    bucket.swap_remove(pos);
                }
                if bucket.is_empty() {
                    self.tables[t].remove(&key);
                }
            }
        }
    }

    fn len(&self) -> usize {
        self.exact.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fp(exact: u64, simhash: u64) -> Fingerprint {
        Fingerprint {
            exact,
            simhash,
            tokens: 20,
            sentences: Vec::new(),
        }
    }

    proptest! {
        /// The blocked tables find exactly what a linear scan finds.
        #[test]
        fn near_equals_linear_scan(
            radius in 0u32..=MAX_RADIUS,
            stored in proptest::collection::vec(any::<u64>(), 1..40),
            query in any::<u64>(),
            flips in proptest::collection::vec(0u32..64, 0..8),
        ) {
            let mut idx = BlockedIndex::new(radius);
            for (i, s) in stored.iter().enumerate() {
                idx.insert(&fp(i as u64, *s), i as u64 + 1);
            }
            // Also query a near copy of a stored value.
            let mut probe = stored[0];
            for f in &flips { probe ^= 1 << f; }
            for q in [query, probe] {
                let expected = stored.iter().enumerate()
                    .map(|(i, s)| ((s ^ q).count_ones(), i as u64 + 1))
                    .filter(|(d, _)| *d <= radius)
                    .min();
                let got = idx.near(&fp(u64::MAX, q)).map(|m| (m.distance, m.cluster));
                prop_assert_eq!(got, expected);
            }
        }
    }

    #[test]
    fn shared_sentences_covering_half_match() {
        use crate::fingerprint::Sentence;
        let s = |hash, tokens| Sentence { hash, tokens };
        let mut idx = BlockedIndex::new(3);
        let stored = Fingerprint {
            exact: 1,
            simhash: 0,
            tokens: 30,
            sentences: vec![s(10, 10), s(11, 10), s(12, 10)],
        };
        idx.insert(&stored, 4);
        // Third sentence reworded: 20 of 30 tokens shared.
        let reworded = Fingerprint {
            exact: 2,
            simhash: u64::MAX,
            tokens: 30,
            sentences: vec![s(10, 10), s(11, 10), s(99, 10)],
        };
        assert_eq!(
            idx.near(&reworded),
            Some(NearMatch {
                cluster: 4,
                distance: 10
            })
        );
        // Only one sentence of three shared: not enough.
        let other = Fingerprint {
            sentences: vec![s(10, 10), s(98, 10), s(99, 10)],
            ..reworded.clone()
        };
        assert_eq!(idx.near(&other), None);
        idx.remove(&stored);
        assert_eq!(idx.near(&reworded), None);
    }

    #[test]
    fn remove_is_reference_counted() {
        let mut idx = BlockedIndex::new(3);
        let a = fp(1, 0xffff);
        idx.insert(&a, 7);
        idx.insert(&a, 7);
        idx.remove(&a);
        assert_eq!(idx.exact(1), Some(7));
        assert!(idx.near(&fp(9, 0xfffe)).is_some());
        idx.remove(&a);
        assert_eq!(idx.exact(1), None);
        assert!(idx.near(&fp(9, 0xfffe)).is_none());
        assert!(idx.is_empty());
    }

    #[test]
    fn short_fingerprints_stay_out_of_near_tables() {
        let mut idx = BlockedIndex::new(3);
        let short = Fingerprint {
            exact: 1,
            simhash: 5,
            tokens: 2,
            sentences: Vec::new(),
        };
        idx.insert(&short, 1);
        assert_eq!(idx.exact(1), Some(1));
        assert!(idx.near(&Fingerprint { exact: 2, ..short }).is_none());
    }
}
