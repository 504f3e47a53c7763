//! Fingerprint -> cluster lookup: exact, and near within a Hamming radius.
//!
//! The near lookup uses blocked tables (Manku, Jain and Das Sarma,
//! "Detecting Near-Duplicates for Web Crawling", WWW 2007): the 64 bits are
//! cut into `radius + 1` blocks and each block keys one table. Two simhashes
//! within `radius` bits agree exactly on at least one block (pigeonhole), so
//! probing each table with the query's block finds every candidate, and a
//! popcount on the candidates settles the distance.
//!
//! A 64-bit simhash of a paragraph moves by several bits for each edited
//! word, so most paragraphs with a reworded or dropped sentence fall
//! outside any selective radius. Paragraphs therefore also match by
//! anchors (sampled word shingles, see `fingerprint`). Anchors vote for the
//! indexed texts that have them, one text at a time, never for a cluster as
//! a whole: a cluster's union of anchors grows with every member and would
//! end up matching anything. The text that shares the largest share of
//! anchors with the segment, at least `MIN_ANCHOR_SHARE` of each side's and
//! at least two, is a near match, and the segment joins its cluster.

use std::collections::HashMap;

use crate::cluster::ClusterId;
use crate::fingerprint::Fingerprint;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NearMatch {
    pub cluster: ClusterId,
    /// Simhash matches: Hamming distance. Anchor matches: the segment's
    /// anchors that the matched text does not have.
    pub distance: u32,
}

/// Share of each side's anchors two texts must share to match.
pub const MIN_ANCHOR_SHARE: f32 = 0.4;
/// Texts an anchor may point to; an anchor found in this many is a stock
/// phrase and counts neither for nor against a match.
pub const MAX_POSTINGS: usize = 16;
/// Fewest shared anchors for a match: one shared shingle is a phrase.
pub const MIN_SHARED_ANCHORS: u32 = 2;

/// What the engine needs from an index. The in-memory [`BlockedIndex`] is
/// the embedded default; a shared backend implements the same calls.
pub trait SegmentIndex: Send + Sync {
    fn exact(&self, exact: u64) -> Option<ClusterId>;
    /// Nearest indexed simhash within the radius (ties: lowest cluster id),
    /// else the cluster of the indexed text that shares most anchors.
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
    /// Anchors of this text.
    anchors: u32,
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
    /// Anchor -> exact hashes of the indexed texts that have it.
    anchors: HashMap<u64, Vec<u64>>,
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
            anchors: HashMap::new(),
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

    fn near_anchors(&self, fp: &Fingerprint) -> Option<NearMatch> {
        // Shared anchors per indexed text.
        let mut votes: HashMap<u64, u32> = HashMap::new();
        let mut total = 0u32;
        for a in &fp.anchors {
            let postings = self.anchors.get(a).map_or(&[][..], |p| &p[..]);
            if postings.len() >= MAX_POSTINGS {
                continue; // a stock phrase: no evidence either way
            }
            total += 1;
            for &text in postings {
                *votes.entry(text).or_default() += 1;
            }
        }
        let needed = |n: u32| ((n as f32 * MIN_ANCHOR_SHARE).ceil() as u32).max(MIN_SHARED_ANCHORS);
        votes
            .into_iter()
            .filter_map(|(text, shared)| {
                let e = self.exact.get(&text)?;
                let larger = total.max(e.anchors);
                (shared >= needed(total) && shared >= needed(e.anchors))
                    .then_some((shared, larger, e.cluster))
            })
            // Highest share of the larger side; ties: lowest cluster.
            .max_by(|a, b| {
                let (ra, rb) = (a.0 as u64 * b.1 as u64, b.0 as u64 * a.1 as u64);
                ra.cmp(&rb).then(b.2.cmp(&a.2))
            })
            .map(|(shared, _, cluster)| NearMatch {
                cluster,
                distance: total - shared,
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
        self.near_anchors(fp)
    }

    fn insert(&mut self, fp: &Fingerprint, cluster: ClusterId) {
        if let Some(e) = self.exact.get_mut(&fp.exact) {
            e.refs += 1;
            return;
        }
        for anchor in &fp.anchors {
            let postings = self.anchors.entry(*anchor).or_default();
            if postings.len() < MAX_POSTINGS {
                postings.push(fp.exact);
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
                anchors: fp.anchors.len() as u32,
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
        for anchor in &fp.anchors {
            let Some(postings) = self.anchors.get_mut(anchor) else {
                continue;
            };
            if let Some(pos) = postings.iter().position(|&t| t == fp.exact) {
                postings.swap_remove(pos);
            }
            if postings.is_empty() {
                self.anchors.remove(anchor);
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
            anchors: Vec::new(),
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
    fn texts_sharing_enough_anchors_match() {
        let mut idx = BlockedIndex::new(3);
        let stored = Fingerprint {
            exact: 1,
            simhash: 0,
            tokens: 30,
            anchors: vec![10, 11, 12, 13, 14, 15],
        };
        idx.insert(&stored, 4);
        // Three of six anchors destroyed by edits: still a match.
        let edited = Fingerprint {
            exact: 2,
            simhash: u64::MAX,
            tokens: 30,
            anchors: vec![10, 11, 12, 97, 98, 99],
        };
        assert_eq!(
            idx.near(&edited),
            Some(NearMatch {
                cluster: 4,
                distance: 3
            })
        );
        // Two of six: not enough.
        let other = Fingerprint {
            anchors: vec![10, 11, 95, 96, 98, 99],
            ..edited.clone()
        };
        assert_eq!(idx.near(&other), None);
        // One shared phrase in a short segment: not enough either.
        let short = Fingerprint {
            anchors: vec![10],
            ..edited.clone()
        };
        assert_eq!(idx.near(&short), None);
        idx.remove(&stored);
        assert_eq!(idx.near(&edited), None);
    }

    #[test]
    fn a_cluster_does_not_match_by_the_union_of_its_members() {
        let mut idx = BlockedIndex::new(3);
        let text = |exact, anchors: Vec<u64>| Fingerprint {
            exact,
            simhash: exact.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            tokens: 30,
            anchors,
        };
        idx.insert(&text(1, vec![1, 2, 3, 4, 5, 6]), 7);
        idx.insert(&text(2, vec![11, 12, 13, 14, 15, 16]), 7);
        // Two anchors of each member: four of six in the cluster, but no
        // single text shares enough.
        assert_eq!(idx.near(&text(3, vec![1, 2, 11, 12, 21, 22])), None);
        assert!(idx.near(&text(4, vec![1, 2, 3, 11, 21, 22])).is_some());
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
            anchors: Vec::new(),
        };
        idx.insert(&short, 1);
        assert_eq!(idx.exact(1), Some(1));
        assert!(idx.near(&Fingerprint { exact: 2, ..short }).is_none());
    }
}
