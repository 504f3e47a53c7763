//! Fingerprint -> cluster lookup: exact, and near by MinHash sketch.
//!
//! Near matching is locality-sensitive hashing with a verification step.
//! Every text long enough for near matching keeps a 32-position MinHash
//! sketch of its word bigrams (see `fingerprint`). Candidates are the
//! indexed texts that agree with the segment on both minima of at least one
//! of 8 bands; a candidate matches only when the two sketches agree on
//! enough positions, which estimates their Jaccard similarity J.
//!
//! How much is enough depends on the lengths. A copy with a few edited
//! words differs from its original in a fixed number of bigrams (an edit
//! changes at most two on each side), and two bigram sets of total size S
//! whose symmetric difference is D have J = (S - D) / (S + D). So the
//! threshold follows that curve for a fixed D ([`LENGTH_SLACK`]), clamped to
//! [`MIN_AGREEMENT`]..=[`MAX_AGREEMENT`] of 32 positions: short paragraphs
//! with three edits (J ~ 0.4) still match, while a long text that shares a
//! sentence or two with another (J ~ 0.1-0.3, common where paragraphs are
//! assembled from stock sentences) does not, however many texts share that
//! sentence. Texts vote one at a time, never as a cluster: a cluster's union
//! grows with every member and would end up matching anything.
//!
//! Memory: per indexed text a dense slot (exact hash, cluster, reference
//! count, length, 32 sketch bytes, the 8 band keys: 81 bytes) plus one
//! 8-byte entry in the exact table and one in each band table, all
//! open-addressing arrays without per-entry allocations. The slot keeps its
//! band keys so that a segment can be forgotten by its exact hash alone:
//! callers need not keep whole fingerprints to undo an insert.

use crate::cluster::ClusterId;
use crate::fingerprint::{Fingerprint, Sketch, BANDS, MIN_NEAR_TOKENS, SKETCH_LEN, SKETCH_SHINGLE};
use crate::snapshot::{Reader, Result as SnapResult, SnapshotError, Writer};
use crate::table::{self, prefetch, MultiTable};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NearMatch {
    pub cluster: ClusterId,
    /// Sketch positions (of 32) on which the segment and the matched text
    /// disagree: 0 for the same bigram set, about 32 (1 - J) otherwise.
    pub distance: u32,
}

/// Fewest agreeing positions (of 32) for any match: J >= 0.375. Below it,
/// two texts sharing one common phrase agree by chance too often.
pub const MIN_AGREEMENT: u32 = 12;
/// Agreement that always suffices: J >= 0.56. A compromise, measured:
/// lower (16, J >= 0.5) lets a paragraph match another that contains it as
/// one of three sentences often enough to drop precision below 0.99 on the
/// recombined 1M benchmark corpus; higher (20) loses republished
/// paragraphs that were split, merged or lost a sentence (J ~ 0.5-0.7,
/// syndication recall on news-dev 0.921 against 0.936 at 18).
pub const MAX_AGREEMENT: u32 = 18;
/// Bigrams by which a near copy may differ from its original (both sides
/// counted): three or four edited words, plus some slack for the noise.
pub const LENGTH_SLACK: u32 = 16;
/// Entries one band key may have in its table. A key shared by this many
/// texts is a stock phrase pair; more entries would only slow every lookup
/// of it (texts with that band still match through their other bands, or
/// through the copies already there).
pub const MAX_BUCKET: usize = 32;

/// Agreement needed between sketches of texts of `a` and `b` tokens (as
/// stored: saturated at 255, where the threshold is long at its maximum).
pub fn needed_agreement(a: u32, b: u32) -> u32 {
    let shingles = |t: u32| t.saturating_sub(SKETCH_SHINGLE as u32 - 1).max(1);
    let s = shingles(a) + shingles(b);
    let d = LENGTH_SLACK;
    let k = SKETCH_LEN as u32;
    // ceil(k (s - d) / (s + d)), without floats.
    let curve = if s > d {
        (k * (s - d)).div_ceil(s + d)
    } else {
        0
    };
    curve.clamp(MIN_AGREEMENT, MAX_AGREEMENT)
}

/// What the engine needs from an index. The in-memory [`SketchIndex`] is
/// the embedded default; a shared backend implements the same calls.
pub trait SegmentIndex: Send + Sync {
    fn exact(&self, exact: u64) -> Option<ClusterId>;
    /// The cluster of the indexed text whose sketch agrees most with the
    /// segment's among those that agree enough (ties: lowest cluster id).
    fn near(&self, fp: &Fingerprint) -> Option<NearMatch>;
    /// Records one more segment with this fingerprint in `cluster`. The
    /// first one of an exact hash also enters the near tables when
    /// `fp.near_eligible()`.
    fn insert(&mut self, fp: &Fingerprint, cluster: ClusterId);
    /// Forgets one segment with this exact hash; the last one takes the
    /// text out of every table.
    fn remove(&mut self, exact: u64);
    /// Distinct fingerprints indexed.
    fn len(&self) -> usize;
    /// A hint that `fp` is looked up and inserted next: an in-memory index
    /// starts fetching the table positions it will probe.
    fn prefetch(&self, _fp: &Fingerprint) {}
    /// The in-memory index, which snapshots can save; other backends
    /// are rebuilt from the store.
    fn as_sketch(&self) -> Option<&SketchIndex> {
        None
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The in-memory index: dense slots and open-addressing tables over them.
#[derive(Debug, Default)]
pub struct SketchIndex {
    /// Low 32 bits of the exact hash -> slot.
    by_exact: MultiTable,
    /// Band key -> slot, one table per band.
    bands: [MultiTable; BANDS],
    // Slots, structure of arrays (no padding).
    exact: Vec<u64>,
    /// Cluster ids are dense and below 2^32 (one per distinct text at most).
    cluster: Vec<u32>,
    /// Segments sharing the exact hash; 0 marks a free slot.
    refs: Vec<u32>,
    /// Token count saturated at 255; 0 when not in the band tables.
    tokens: Vec<u8>,
    minima: Vec<[u8; SKETCH_LEN]>,
    /// The keys under which the slot sits in the band tables.
    band_keys: Vec<[u32; BANDS]>,
    free: Vec<u32>,
    live: usize,
}

impl SketchIndex {
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, exact: u64) -> Option<u32> {
        self.by_exact
            .get(exact as u32)
            .find(|&s| self.exact[s as usize] == exact)
    }

    fn band_tokens(fp: &Fingerprint) -> u8 {
        if fp.near_eligible() {
            fp.tokens.min(255) as u8
        } else {
            0
        }
    }

    /// Heap memory of the index, for reports: the tables at their full
    /// size (every entry of an open-addressing table is written), the slot
    /// arrays as far as they are filled (their spare capacity is reserved,
    /// not touched, so it is not resident).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of_val;
        self.by_exact.heap_bytes()
            + self.bands.iter().map(MultiTable::heap_bytes).sum::<usize>()
            + size_of_val(&self.exact[..])
            + size_of_val(&self.cluster[..])
            + size_of_val(&self.refs[..])
            + size_of_val(&self.tokens[..])
            + size_of_val(&self.minima[..])
            + size_of_val(&self.band_keys[..])
            + size_of_val(&self.free[..])
    }

    fn best(&self, sketch: &Sketch, tokens: u32) -> Option<NearMatch> {
        for (table, &key) in self.bands.iter().zip(&sketch.bands) {
            table.prefetch(key);
        }
        // The candidates first, their slots fetched, then compared: the
        // slots' misses overlap too. Order does not matter: the best is
        // the same whichever candidate comes first.
        let mut candidates = [0u32; BANDS * MAX_BUCKET];
        let mut n = 0;
        for (table, &key) in self.bands.iter().zip(&sketch.bands) {
            for slot in table.get(key).take(MAX_BUCKET) {
                prefetch(&self.minima[slot as usize]);
                candidates[n] = slot;
                n += 1;
            }
        }
        let mut best: Option<(u32, u32)> = None; // (agreement, cluster)
        for &slot in &candidates[..n] {
            let s = slot as usize;
            let agree = Sketch::agreement(&self.minima[s], &sketch.minima);
            // Most candidates share a band by chance and agree on few
            // positions: they are turned away before their length is read,
            // a cache miss of its own at ten million texts (half of the
            // lookup's time there, measured).
            if agree < MIN_AGREEMENT || agree < needed_agreement(tokens, u32::from(self.tokens[s]))
            {
                continue;
            }
            let cluster = self.cluster[s];
            if best.is_none_or(|(a, c)| agree > a || (agree == a && cluster < c)) {
                best = Some((agree, cluster));
            }
        }
        best.map(|(agree, cluster)| NearMatch {
            cluster: ClusterId::from(cluster),
            distance: SKETCH_LEN as u32 - agree,
        })
    }
}

impl SegmentIndex for SketchIndex {
    fn exact(&self, exact: u64) -> Option<ClusterId> {
        self.slot(exact)
            .map(|s| ClusterId::from(self.cluster[s as usize]))
    }

    fn prefetch(&self, fp: &Fingerprint) {
        self.by_exact.prefetch(fp.exact as u32);
        if let (true, Some(sketch)) = (fp.near_eligible(), &fp.sketch) {
            for (table, &key) in self.bands.iter().zip(&sketch.bands) {
                table.prefetch(key);
            }
        }
    }

    fn near(&self, fp: &Fingerprint) -> Option<NearMatch> {
        if !fp.near_eligible() {
            return None;
        }
        self.best(fp.sketch.as_ref()?, fp.tokens.min(255))
    }

    fn insert(&mut self, fp: &Fingerprint, cluster: ClusterId) {
        if let Some(s) = self.slot(fp.exact) {
            self.refs[s as usize] += 1;
            return;
        }
        let cluster = u32::try_from(cluster).expect("cluster ids fit in 32 bits");
        let tokens = Self::band_tokens(fp);
        let minima = fp.sketch.map_or([0; SKETCH_LEN], |s| s.minima);
        let band_keys = fp.sketch.map_or([0; BANDS], |s| s.bands);
        let slot = match self.free.pop() {
            Some(s) => {
                let i = s as usize;
                self.exact[i] = fp.exact;
                self.cluster[i] = cluster;
                self.refs[i] = 1;
                self.tokens[i] = tokens;
                self.minima[i] = minima;
                self.band_keys[i] = band_keys;
                s
            }
            None => {
                let s = u32::try_from(self.exact.len())
                    .ok()
                    .filter(|&s| s <= table::MAX_VALUE)
                    .expect("fewer than 2^32 - 2 distinct texts");
                if self.exact.len() == self.exact.capacity() {
                    // Grow by half, like the tables, rather than double.
                    let more = (self.exact.len() / 2).max(64);
                    self.exact.reserve_exact(more);
                    self.cluster.reserve_exact(more);
                    self.refs.reserve_exact(more);
                    self.tokens.reserve_exact(more);
                    self.minima.reserve_exact(more);
                    self.band_keys.reserve_exact(more);
                }
                self.exact.push(fp.exact);
                self.cluster.push(cluster);
                self.refs.push(1);
                self.tokens.push(tokens);
                self.minima.push(minima);
                self.band_keys.push(band_keys);
                s
            }
        };
        self.live += 1;
        self.by_exact.insert(fp.exact as u32, slot);
        if tokens == 0 {
            return;
        }
        for (table, &key) in self.bands.iter_mut().zip(&band_keys) {
            table.insert_capped(key, slot, MAX_BUCKET);
        }
    }

    fn remove(&mut self, exact: u64) {
        let Some(slot) = self.slot(exact) else {
            return;
        };
        let s = slot as usize;
        self.refs[s] -= 1;
        if self.refs[s] > 0 {
            return;
        }
        self.by_exact.remove(exact as u32, slot);
        if self.tokens[s] > 0 {
            for (table, &key) in self.bands.iter_mut().zip(&self.band_keys[s]) {
                // Absent when the bucket was full at insertion.
                table.remove(key, slot);
            }
        }
        self.tokens[s] = 0;
        self.free.push(slot);
        self.live -= 1;
    }

    fn len(&self) -> usize {
        self.live
    }

    fn as_sketch(&self) -> Option<&SketchIndex> {
        Some(self)
    }
}

impl SketchIndex {
    /// Writes the index as it is: slots and tables, nothing rehashed.
    pub fn save(&self, w: &mut Writer) -> std::io::Result<()> {
        w.slice(&self.exact)?;
        w.slice(&self.cluster)?;
        w.slice(&self.refs)?;
        w.slice(&self.tokens)?;
        w.slice(&self.minima)?;
        w.slice(&self.band_keys)?;
        w.slice(&self.free)?;
        self.by_exact.save(w)?;
        for t in &self.bands {
            t.save(w)?;
        }
        Ok(())
    }

    pub fn load(r: &mut Reader) -> SnapResult<SketchIndex> {
        let exact: Vec<u64> = r.vec()?;
        let cluster: Vec<u32> = r.vec()?;
        let refs: Vec<u32> = r.vec()?;
        let tokens: Vec<u8> = r.vec()?;
        let minima: Vec<[u8; SKETCH_LEN]> = r.vec()?;
        let band_keys: Vec<[u32; BANDS]> = r.vec()?;
        let free: Vec<u32> = r.vec()?;
        let n = exact.len();
        if [
            cluster.len(),
            refs.len(),
            tokens.len(),
            minima.len(),
            band_keys.len(),
        ]
        .iter()
        .any(|&l| l != n)
            || free.iter().any(|&s| s as usize >= n)
        {
            return Err(SnapshotError::invalid("index slot arrays disagree"));
        }
        let live = refs.iter().filter(|&&r| r > 0).count();
        let by_exact = MultiTable::load(r, n)?;
        let mut bands: [MultiTable; BANDS] = Default::default();
        for t in &mut bands {
            *t = MultiTable::load(r, n)?;
        }
        if by_exact.len() != live {
            return Err(SnapshotError::invalid(
                "index exact table disagrees with its slots",
            ));
        }
        Ok(SketchIndex {
            by_exact,
            bands,
            exact,
            cluster,
            refs,
            tokens,
            minima,
            band_keys,
            free,
            live,
        })
    }
}

const _: () = assert!(MIN_NEAR_TOKENS >= SKETCH_SHINGLE);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::fingerprint;
    use crate::normalize::{normalize, Normalized};
    use proptest::prelude::*;

    fn text(s: &str) -> Fingerprint {
        let mut n = Normalized::default();
        normalize(s, &mut n);
        fingerprint(&n)
    }

    /// A synthetic fingerprint: `minima` and `bands` chosen freely.
    fn synthetic(
        exact: u64,
        tokens: u32,
        minima: [u8; SKETCH_LEN],
        bands: [u32; BANDS],
    ) -> Fingerprint {
        Fingerprint {
            exact,
            tokens,
            sketch: Some(Sketch { minima, bands }),
        }
    }

    proptest! {
        /// near() finds what a linear scan under the same rule finds: the
        /// text sharing a band key whose sketch agrees most, if enough.
        #[test]
        fn near_equals_linear_scan(
            base in proptest::array::uniform32(any::<u8>()),
            texts in proptest::collection::vec(
                (proptest::collection::vec(0usize..SKETCH_LEN, 0..32), 8u32..80, 0u32..4, 1u64..6),
                1..20,
            ),
            query in (proptest::collection::vec(0usize..SKETCH_LEN, 0..32), 8u32..80, 0u32..4),
            removed in proptest::collection::vec(any::<bool>(), 20),
        ) {
            // Each text: the base sketch with some positions changed, band
            // keys from a small set so that candidates collide.
            let make = |changed: &[usize], band_seed: u32, salt: u8| {
                let mut m = base;
                for &p in changed {
                    m[p] = m[p].wrapping_add(1).wrapping_add(salt);
                }
                let bands = std::array::from_fn(|b| (b as u32) * 4 + (band_seed + b as u32) % 4);
                (m, bands)
            };
            let mut idx = SketchIndex::new();
            let mut stored = Vec::new();
            for (i, (changed, tokens, band_seed, cluster)) in texts.iter().enumerate() {
                let (m, bands) = make(changed, *band_seed, i as u8);
                let fp = synthetic(i as u64 + 1, *tokens, m, bands);
                idx.insert(&fp, *cluster);
                stored.push((fp, *cluster));
            }
            let mut live = Vec::new();
            for (i, (fp, cluster)) in stored.into_iter().enumerate() {
                if removed[i] {
                    idx.remove(fp.exact);
                } else {
                    live.push((fp, cluster));
                }
            }
            let (changed, tokens, band_seed) = query;
            let (m, bands) = make(&changed, band_seed, 200);
            let q = synthetic(u64::MAX, tokens, m, bands);
            let qs = q.sketch.unwrap();
            let expected = live
                .iter()
                .filter_map(|(fp, cluster)| {
                    let s = fp.sketch.unwrap();
                    let shares_band = s.bands.iter().zip(&qs.bands).any(|(a, b)| a == b);
                    let agree = Sketch::agreement(&s.minima, &qs.minima);
                    (shares_band && agree >= needed_agreement(tokens, fp.tokens))
                        .then_some((SKETCH_LEN as u32 - agree, *cluster))
                })
                .min();
            let got = idx.near(&q).map(|m| (m.distance, m.cluster));
            prop_assert_eq!(got, expected);
            prop_assert_eq!(idx.len(), live.len());
        }
    }

    #[test]
    fn threshold_follows_the_length() {
        // Short texts: the floor; long ones: the cap; monotone between.
        assert_eq!(needed_agreement(8, 8), MIN_AGREEMENT);
        assert_eq!(needed_agreement(200, 300), MAX_AGREEMENT);
        assert_eq!(needed_agreement(255, 255), MAX_AGREEMENT);
        let mut last = 0;
        for t in 8..100 {
            let n = needed_agreement(t, t);
            assert!(n >= last);
            last = n;
        }
    }

    const BASE: &str = "The council voted on Tuesday to close the old library building on Main Street \
        and move its collection to the new community centre, ending a debate that lasted two years.";

    #[test]
    fn edited_copies_match_and_texts_sharing_a_sentence_do_not() {
        let mut idx = SketchIndex::new();
        idx.insert(&text(BASE), 4);
        let edited = text(&BASE.replace("Tuesday", "Wednesday").replace("old ", ""));
        let m = idx.near(&edited).expect("an edited copy matches");
        assert_eq!(m.cluster, 4);
        assert!(m.distance < 16, "{m:?}");
        // The same sentence inside a much longer, different paragraph.
        let longer = text(&format!(
            "{BASE} Residents who wanted the branch kept open had collected signatures for \
            months, and the mayor promised that the reading room would stay in use until the \
            end of the year while the new building was fitted out with shelves and computers."
        ));
        assert_eq!(idx.near(&longer), None);
        // The same holds in general, not just for that paragraph: a sketch
        // estimates similarity, so a few of many such paragraphs (word
        // bigram Jaccard 0.4 against `BASE`) pass the check by chance.
        let words = [
            "river", "budget", "school", "nurses", "harbour", "winter", "court", "farmers",
            "bridge", "energy", "museum", "police", "rail", "housing", "market", "festival",
        ];
        let mut state = 7u64;
        let mut matched = 0;
        for _ in 0..200 {
            let tail: Vec<&str> = (0..46)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    words[(state >> 60) as usize]
                })
                .collect();
            let longer = text(&format!("{BASE} {}", tail.join(" ")));
            matched += usize::from(idx.near(&longer).is_some());
        }
        assert!(
            matched <= 10,
            "{matched} of 200 paragraphs containing BASE matched it"
        );
        let unrelated = text(
            "Scientists announced a new species of frog discovered in the rainforest canopy \
            after a decade of careful field work by a small team of volunteers.",
        );
        assert_eq!(idx.near(&unrelated), None);
        idx.remove(text(BASE).exact);
        assert_eq!(idx.near(&edited), None);
        assert!(idx.is_empty());
    }

    #[test]
    fn a_cluster_does_not_match_by_the_union_of_its_members() {
        let mut idx = SketchIndex::new();
        let mut a = [0u8; SKETCH_LEN];
        let mut b = [0u8; SKETCH_LEN];
        for i in 0..SKETCH_LEN {
            a[i] = i as u8;
            b[i] = 100 + i as u8;
        }
        let bands = [7; BANDS];
        idx.insert(&synthetic(1, 60, a, bands), 7);
        idx.insert(&synthetic(2, 60, b, bands), 7);
        // Half of each member: the cluster covers all 32 positions, no
        // single text more than 16.
        let mut q = a;
        q[16..].copy_from_slice(&b[16..]);
        let need = needed_agreement(60, 20);
        assert!(need > 16);
        assert_eq!(idx.near(&synthetic(3, 60, q, bands)), None);
        let mut q = a;
        q[need as usize..].copy_from_slice(&b[need as usize..]);
        assert_eq!(
            idx.near(&synthetic(3, 60, q, bands)).map(|m| m.cluster),
            Some(7)
        );
    }

    #[test]
    fn remove_is_reference_counted_and_slots_are_reused() {
        let mut idx = SketchIndex::new();
        let a = text(BASE);
        idx.insert(&a, 7);
        idx.insert(&a, 7);
        idx.remove(a.exact);
        assert_eq!(idx.exact(a.exact), Some(7));
        let copy = text(&BASE.replace("Tuesday", "Monday"));
        assert!(idx.near(&copy).is_some());
        idx.remove(a.exact);
        assert_eq!(idx.exact(a.exact), None);
        assert!(idx.near(&copy).is_none());
        assert!(idx.is_empty());
        idx.insert(&copy, 9);
        assert_eq!(idx.exact.len(), 1, "the freed slot is reused");
        assert_eq!(idx.near(&a).map(|m| m.cluster), Some(9));
    }

    #[test]
    fn full_buckets_stop_growing() {
        let mut idx = SketchIndex::new();
        let bands = [3; BANDS];
        for i in 0..(MAX_BUCKET as u64 + 10) {
            idx.insert(&synthetic(i + 1, 20, [i as u8; SKETCH_LEN], bands), i + 1);
        }
        assert_eq!(idx.bands[0].get(3).count(), MAX_BUCKET);
        // Removing texts that never entered a band table is harmless.
        for i in 0..(MAX_BUCKET as u64 + 10) {
            idx.remove(synthetic(i + 1, 20, [i as u8; SKETCH_LEN], bands).exact);
        }
        assert!(idx.is_empty());
        assert_eq!(idx.bands[0].get(3).count(), 0);
    }

    #[test]
    fn short_fingerprints_stay_out_of_near_tables() {
        let mut idx = SketchIndex::new();
        let short = text("Read more about it");
        assert!(short.sketch.is_none());
        idx.insert(&short, 1);
        assert_eq!(idx.exact(short.exact), Some(1));
        assert!(idx.near(&short).is_none());
        assert!(idx.bands.iter().all(|t| t.is_empty()));
    }
}
