//! Open-addressing multimap from a 32-bit key (already a hash) to 32-bit
//! values, that grows a few entries at a time.
//!
//! The index's exact and band tables and the document id table are the
//! state's largest hash tables (millions of entries each) and all grow at
//! once: the band tables get one entry per new text each. Rehashing them
//! whole in one insert held the state lock for tens of milliseconds at
//! 300,000 documents (every unary call waiting for it), and the wait grows
//! with the tables. So a table that must grow keeps its old array
//! beside the new one and moves [`MOVE_STEP`] positions of it on every
//! insert; lookups read both until the old one is empty.
//!
//! Linear probing, removal by backward shift (no tombstones) in the
//! current array, one flat array of (key, value) pairs. Several entries may
//! share a key; they sit in one probe run.

use crate::snapshot::{Reader, Result as SnapResult, SnapshotError, Writer};

/// A free position. Values are stored plus one, so that a new array is
/// zeroed memory: a large one comes from the kernel untouched and is
/// faulted in as the growth fills it, instead of being written whole in
/// the insert that starts the growth (1.3 GB for the ten tables at ten
/// million texts).
const FREE: u32 = 0;
/// An entry removed from the old array while it drains: its position stays
/// taken, so that the probe runs through it stay whole.
const GONE: u32 = u32::MAX;
/// Largest value the table stores.
pub const MAX_VALUE: u32 = GONE - 2;
/// A free position in a saved table (saved tables hold values as they are).
const SAVED_FREE: u32 = u32::MAX;
/// Old positions moved per insert while a growth drains. The new array is
/// half as large again as the old one, which was 0.8 full, so it holds 0.4
/// of the old size in new entries before it must grow itself: anything
/// above 2.5 finishes in time; 16 keeps a growth short and an insert's
/// extra work to a few cache lines.
const MOVE_STEP: usize = 16;

#[derive(Debug, Default)]
pub struct MultiTable {
    entries: Vec<[u32; 2]>,
    /// Live entries in both arrays.
    len: usize,
    /// The array before the last growth, until its entries have moved.
    old: Vec<[u32; 2]>,
    /// Positions of `old` below this have moved into `entries`.
    moved: usize,
    /// Pages of `entries` not written since its growth, while it drains.
    blank: Blank,
    pages: Pages,
    /// How far past its home any entry of `entries` may sit (an upper
    /// bound: it only grows).
    reach: usize,
    /// The same for `old`: a key whose old run ends below `moved` has no
    /// entry left there, and its lookups skip the old array instead of
    /// missing the cache in both arrays (a few hundred positions at
    /// millions of entries). In the `table_drain` example (ten tables to
    /// 6M entries) texts cost 1.26-1.38 times as much while a growth
    /// drains as in between, against 1.43-1.50 reading both arrays.
    old_reach: usize,
}

/// Which new arrays track their blank pages, and the page size.
#[derive(Debug, Clone, Copy)]
struct Pages {
    /// log2 of the positions per page.
    shift: u32,
    /// Arrays of fewer positions do not track their pages.
    from: usize,
}

impl Default for Pages {
    /// 4 KiB pages, from the size on which arrays come untouched from the
    /// kernel (see `alloc`).
    fn default() -> Pages {
        Pages {
            shift: 9,
            from: crate::alloc::MAPPED_FROM_BYTES / std::mem::size_of::<[u32; 2]>(),
        }
    }
}

/// The pages of a new array that nothing has been written to, which hold
/// free positions only and are answered without reading them.
///
/// A growth's new array is untouched memory. Reading a page of it first
/// maps the kernel's shared zero page there, and the first write then
/// takes a second fault that replaces it and flushes the mapping from
/// every core's TLB. While the state tables drained at eight million
/// texts, three quarters of their new pages were read (a lookup or an
/// insert walking its run) before they were written. A run that reaches a
/// blank page ends there (its first position is free), so lookups and
/// inserts do not read one, and a page's first access is the write that
/// fills it: a 1M ingest takes a fifth fewer page faults.
#[derive(Debug, Default)]
struct Blank {
    /// A bit per page, set while the page is blank; empty when not
    /// tracking.
    bits: Vec<u64>,
    shift: u32,
}

/// Tracks nothing: for arrays that are not new.
static NOT_TRACKED: Blank = Blank {
    bits: Vec::new(),
    shift: 0,
};

impl Blank {
    fn all(size: usize, shift: u32) -> Blank {
        let pages = size.div_ceil(1 << shift);
        let mut bits = vec![u64::MAX; pages.div_ceil(64)];
        if !pages.is_multiple_of(64) {
            bits[pages / 64] = (1 << (pages % 64)) - 1;
        }
        Blank { bits, shift }
    }

    fn tracking(&self) -> bool {
        !self.bits.is_empty()
    }

    /// Whether position `i` is on a blank page (so it is free).
    #[inline]
    fn at(&self, i: usize) -> bool {
        let page = i >> self.shift;
        self.bits
            .get(page / 64)
            .is_some_and(|w| (w >> (page % 64)) & 1 == 1)
    }

    /// Whether a run that steps onto position `i` ends there unread: `i`
    /// starts a blank page.
    #[inline]
    fn ends_run(&self, i: usize) -> bool {
        self.tracking() && i & ((1 << self.shift) - 1) == 0 && self.at(i)
    }

    /// The slices of a run from `start` (`from_home`, then `wrapped`)
    /// cut at the first blank page. Only a hint for reads: a blank page is
    /// free positions, so a run read into one would end there all the
    /// same; the search looks one word of the bitmap ahead (64 pages),
    /// far beyond any run.
    fn clip<'a>(
        &self,
        start: usize,
        wrapped: &'a [[u32; 2]],
        from_home: &'a [[u32; 2]],
    ) -> (&'a [[u32; 2]], &'a [[u32; 2]]) {
        if self.at(start) {
            return (&[], &[]);
        }
        let page = (start >> self.shift) + 1;
        let word = self.bits.get(page / 64).map_or(0, |w| w >> (page % 64));
        if word == 0 {
            return (wrapped, from_home);
        }
        let blank = page + word.trailing_zeros() as usize;
        let end = (blank << self.shift) - start;
        if end < from_home.len() {
            (&[], &from_home[..end])
        } else {
            (wrapped, from_home)
        }
    }

    #[inline]
    fn write(&mut self, i: usize) {
        let page = i >> self.shift;
        if let Some(w) = self.bits.get_mut(page / 64) {
            *w &= !(1 << (page % 64));
        }
    }
}

/// Where `key`'s probe run starts in an array of `size` positions.
fn home(size: usize, key: u32) -> usize {
    // Fibonacci hashing spreads keys that differ only in high bits;
    // multiply-high maps the result onto any table size, so that the table
    // can grow by half rather than double.
    let spread = u64::from(key).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    ((spread * size as u64) >> 32) as usize
}

/// The position after `i` in an array of `size`, wrapping.
fn next(size: usize, i: usize) -> usize {
    if i + 1 == size {
        0
    } else {
        i + 1
    }
}

/// The entries of a key's probe run in one array, in probe order, with
/// their positions: from the key's home to the first free position (every
/// array keeps one, so the walk ends).
struct Run<'a> {
    entries: &'a [[u32; 2]],
    blank: &'a Blank,
    at: usize,
}

impl Iterator for Run<'_> {
    type Item = (usize, [u32; 2]);

    #[inline]
    fn next(&mut self) -> Option<(usize, [u32; 2])> {
        let e = *self.entries.get(self.at)?;
        if e[1] == FREE {
            self.entries = &[];
            return None;
        }
        let i = self.at;
        self.at = next(self.entries.len(), i);
        if self.blank.ends_run(self.at) {
            self.entries = &[];
        }
        Some((i, e))
    }
}

/// `key`'s run in `entries`, whose blank pages `blank` tracks.
fn run<'a>(entries: &'a [[u32; 2]], blank: &'a Blank, key: u32) -> Run<'a> {
    let at = if entries.is_empty() {
        0
    } else {
        home(entries.len(), key)
    };
    let entries = if blank.at(at) { &[] } else { entries };
    Run { entries, blank, at }
}

/// Steps from `from` forward (wrapping) to `to` in an array of `size`.
fn distance(size: usize, from: usize, to: usize) -> usize {
    if to >= from {
        to - from
    } else {
        to + size - from
    }
}

/// The first free position of `key`'s run, `each` called on the entries
/// before it (`None` as soon as it says stop). Blank pages end the run
/// unread; the check is compiled in only for arrays that track them.
#[inline(always)]
fn free_position(
    entries: &[[u32; 2]],
    blank: &Blank,
    key: u32,
    each: impl FnMut([u32; 2]) -> bool,
) -> Option<usize> {
    #[inline(always)]
    fn walk<const TRACKED: bool>(
        entries: &[[u32; 2]],
        blank: &Blank,
        key: u32,
        mut each: impl FnMut([u32; 2]) -> bool,
    ) -> Option<usize> {
        let size = entries.len();
        let mut i = home(size, key);
        if TRACKED && blank.at(i) {
            return Some(i);
        }
        while entries[i][1] != FREE {
            if !each(entries[i]) {
                return None;
            }
            i = next(size, i);
            if TRACKED && blank.ends_run(i) {
                break;
            }
        }
        Some(i)
    }
    if blank.tracking() {
        walk::<true>(entries, blank, key, each)
    } else {
        walk::<false>(entries, blank, key, each)
    }
}

/// Puts an entry at the first free position of its run (the array has
/// one); how far past its home it went.
fn place(entries: &mut [[u32; 2]], blank: &mut Blank, e: [u32; 2]) -> usize {
    let i = free_position(entries, blank, e[0], |_| true).expect("no stop");
    entries[i] = e;
    blank.write(i);
    distance(entries.len(), home(entries.len(), e[0]), i)
}

impl MultiTable {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room for `more` entries without a growth; only for an empty table
    /// (a state being loaded), which takes its final size at once.
    pub fn reserve(&mut self, more: usize) {
        debug_assert!(self.is_empty());
        if self.is_empty() {
            let size = (more + 1) * 5 / 4 + 1;
            if size > self.entries.len() {
                self.entries = vec![[0, FREE]; size];
                self.old = Vec::new();
                self.moved = 0;
                self.blank = Blank::default();
                self.reach = 0;
            }
        }
    }

    /// A table whose new arrays track blank pages of `1 << shift`
    /// positions from `from` positions on (for tests).
    #[cfg(test)]
    fn with_pages(shift: u32, from: usize) -> MultiTable {
        MultiTable {
            pages: Pages { shift, from },
            ..MultiTable::default()
        }
    }

    /// Whether `reach` and `old_reach` bound how far past its home every
    /// entry sits (for tests).
    #[cfg(test)]
    fn reach_holds(&self) -> bool {
        let holds = |entries: &[[u32; 2]], from: usize, reach: usize| {
            let size = entries.len();
            entries.iter().enumerate().skip(from).all(|(i, e)| {
                e[1] == FREE || e[1] == GONE || distance(size, home(size, e[0]), i) <= reach
            })
        };
        holds(&self.entries, 0, self.reach) && holds(&self.old, self.moved, self.old_reach)
    }

    /// Whether a growth is still draining.
    pub fn growing(&self) -> bool {
        !self.old.is_empty()
    }

    /// Fetches the start of `key`'s probe runs into the cache.
    pub fn prefetch(&self, key: u32) {
        if !self.entries.is_empty() {
            prefetch(&self.entries[home(self.entries.len(), key)]);
        }
        if let Some(h) = self.old_home(key) {
            prefetch(&self.old[h]);
        }
    }

    /// Where `key`'s run starts in the old array; `None` when there is no
    /// old array or the run lies below the drain's cursor (all moved).
    #[inline]
    fn old_home(&self, key: u32) -> Option<usize> {
        if self.old.is_empty() {
            return None;
        }
        let h = home(self.old.len(), key);
        let moved = h
            .checked_add(self.old_reach)
            .is_some_and(|end| end < self.moved);
        (!moved).then_some(h)
    }

    /// `key`'s entries in the old array that have not moved and are not
    /// gone: their positions and stored values (plus one).
    fn unmoved(&self, key: u32) -> impl Iterator<Item = (usize, u32)> + '_ {
        let moved = self.moved;
        let (entries, at) = match self.old_home(key) {
            Some(h) => (&self.old[..], h),
            None => (&[][..], 0),
        };
        Run {
            entries,
            blank: &NOT_TRACKED,
            at,
        }
        .filter(move |&(i, e)| i >= moved && e[0] == key && e[1] != GONE)
        .map(|(i, e)| (i, e[1]))
    }

    /// Values stored under `key`: the current array's run, then the
    /// entries of the old one that have not moved yet.
    pub fn get(&self, key: u32) -> impl Iterator<Item = u32> + '_ {
        // The current array as slices (the lookup that every probe makes),
        // cut before the blank pages ahead; the old one, empty but while a
        // growth drains, with positions.
        let start = if self.entries.is_empty() {
            0
        } else {
            home(self.entries.len(), key)
        };
        let (wrapped, from_home) = self.entries.split_at(start);
        let (wrapped, from_home) = if self.blank.tracking() {
            self.blank.clip(start, wrapped, from_home)
        } else {
            (wrapped, from_home)
        };
        let current = from_home
            .iter()
            .chain(wrapped)
            .take_while(|e| e[1] != FREE)
            .filter(move |e| e[0] == key)
            .map(|e| e[1] - 1);
        current.chain(self.unmoved(key).map(|(_, v)| v - 1))
    }

    pub fn insert(&mut self, key: u32, value: u32) {
        self.insert_capped(key, value, usize::MAX);
    }

    /// Inserts unless `key` has `cap` entries already; false when full.
    pub fn insert_capped(&mut self, key: u32, value: u32, cap: usize) -> bool {
        debug_assert!(value <= MAX_VALUE, "value {value} is reserved");
        if self.old.is_empty() {
            // Grow at a load of 0.8: probe runs stay short.
            if (self.len + 1) * 5 > self.entries.len() * 4 {
                self.grow();
            }
        } else {
            self.move_some();
        }
        let mut same = if cap == usize::MAX {
            0
        } else {
            self.unmoved(key).count()
        };
        if same >= cap {
            return false;
        }
        let free = free_position(&self.entries, &self.blank, key, |e| {
            same += usize::from(e[0] == key);
            same < cap
        });
        let Some(i) = free else { return false };
        self.entries[i] = [key, value + 1];
        self.blank.write(i);
        let size = self.entries.len();
        self.reach = self.reach.max(distance(size, home(size, key), i));
        self.len += 1;
        true
    }

    /// Starts a growth by half: the load stays between 0.53 and 0.8
    /// (doubling would let it fall to 0.4, a quarter more memory on
    /// average).
    fn grow(&mut self) {
        let size = (self.entries.len() + self.entries.len() / 2).max(16);
        self.old = std::mem::replace(&mut self.entries, vec![[0, FREE]; size]);
        self.old_reach = std::mem::replace(&mut self.reach, 0);
        self.blank = if size >= self.pages.from {
            Blank::all(size, self.pages.shift)
        } else {
            Blank::default()
        };
        self.moved = 0;
        self.move_some();
    }

    /// Moves the next positions of the old array; drops it once empty.
    fn move_some(&mut self) {
        let end = (self.moved + MOVE_STEP).min(self.old.len());
        for i in self.moved..end {
            let e = self.old[i];
            if e[1] != FREE && e[1] != GONE {
                let went = place(&mut self.entries, &mut self.blank, e);
                self.reach = self.reach.max(went);
            }
        }
        self.moved = end;
        if end == self.old.len() {
            self.old = Vec::new();
            self.moved = 0;
            // The drain has written every part of the array (its load is
            // above a half), so lookups go back to reading it directly.
            self.blank = Blank::default();
        }
    }

    /// Removes one entry (key, value); false when absent.
    pub fn remove(&mut self, key: u32, value: u32) -> bool {
        let stored = [key, value + 1];
        let found = run(&self.entries, &self.blank, key).find(|&(_, e)| e == stored);
        if let Some((i, _)) = found {
            self.shift_back(i);
            self.len -= 1;
            return true;
        }
        let found = self.unmoved(key).find(|&(_, v)| v == stored[1]);
        if let Some((i, _)) = found {
            self.old[i][1] = GONE;
            self.len -= 1;
            return true;
        }
        false
    }

    /// Empties position `i` of the current array: pulls later entries of
    /// the run into the hole when their home does not lie between the hole
    /// and them.
    fn shift_back(&mut self, i: usize) {
        let size = self.entries.len();
        // Steps from `from` forward (wrapping) to `to`.
        let mut hole = i;
        let mut j = i;
        loop {
            j = next(size, j);
            if self.blank.ends_run(j) {
                break;
            }
            let e = self.entries[j];
            if e[1] == FREE {
                break;
            }
            if distance(size, home(size, e[0]), j) >= distance(size, hole, j) {
                self.entries[hole] = e;
                hole = j;
            }
        }
        self.entries[hole] = [0, FREE];
    }

    pub fn heap_bytes(&self) -> usize {
        (self.entries.capacity() + self.old.capacity()) * std::mem::size_of::<[u32; 2]>()
    }

    /// Saves one array, values as they are and [`SAVED_FREE`] at free
    /// positions: the current array, with the old one's remaining entries
    /// placed in a copy of it while a growth drains.
    pub fn save(&self, w: &mut Writer) -> std::io::Result<()> {
        let mut saved = if self.blank.tracking() {
            // Blank pages stay unread (a copy would map them).
            let mut saved = vec![[0, FREE]; self.entries.len()];
            let page = 1 << self.blank.shift;
            let pages = saved.chunks_mut(page).zip(self.entries.chunks(page));
            for (p, (to, from)) in pages.enumerate() {
                if !self.blank.at(p * page) {
                    to.copy_from_slice(from);
                }
            }
            saved
        } else {
            self.entries.clone()
        };
        let mut not_tracked = Blank::default();
        for &e in &self.old[self.moved..] {
            if e[1] != FREE && e[1] != GONE {
                place(&mut saved, &mut not_tracked, e);
            }
        }
        for e in &mut saved {
            e[1] = if e[1] == FREE { SAVED_FREE } else { e[1] - 1 };
        }
        w.slice(&saved)
    }

    /// The table as saved, entry for entry (probe runs included), with
    /// every value below `limit`.
    pub fn load(r: &mut Reader, limit: usize) -> SnapResult<MultiTable> {
        let mut entries: Vec<[u32; 2]> = r.vec()?;
        let mut len = 0;
        let mut reach = 0;
        let size = entries.len();
        for (i, e) in entries.iter_mut().enumerate() {
            if e[1] == SAVED_FREE {
                e[1] = FREE;
            } else if e[1] as usize >= limit || e[1] > MAX_VALUE {
                return Err(SnapshotError::invalid("table entry past its values"));
            } else {
                e[1] += 1;
                len += 1;
                reach = reach.max(distance(size, home(size, e[0]), i));
            }
        }
        if len > 0 && len == entries.len() {
            return Err(SnapshotError::invalid("table without a free position"));
        }
        Ok(MultiTable {
            entries,
            len,
            reach,
            ..MultiTable::default()
        })
    }
}

/// Asks for the cache line holding `value` ahead of its use. At ten
/// million texts the tables and slot arrays are gigabytes read at random:
/// each probe is a cache and TLB miss, and asked for together the misses
/// overlap instead of following one another.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, even on a bad address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn sorted(t: &MultiTable, key: u32) -> Vec<u32> {
        let mut v: Vec<u32> = t.get(key).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn a_growth_drains_over_later_inserts() {
        growth_drains(MultiTable::default());
        // Pages of four positions, tracked in every new array.
        growth_drains(MultiTable::with_pages(2, 0));
    }

    fn growth_drains(mut t: MultiTable) {
        let mut grew_at = None;
        for v in 0..10_000u32 {
            t.insert(v.wrapping_mul(0x9e37_79b9), v);
            if t.growing() && grew_at.is_none() && v > 1000 {
                grew_at = Some(v);
            }
            if t.growing() && v.is_multiple_of(89) {
                // Mid-drain, every entry is found and absent keys are not.
                for u in (0..=v).step_by(7) {
                    assert_eq!(sorted(&t, u.wrapping_mul(0x9e37_79b9)), vec![u]);
                    assert!(sorted(&t, u.wrapping_mul(0x9e37_79b9) ^ 1).is_empty());
                }
            }
        }
        let grew_at = grew_at.expect("the table grew past 1000 entries");
        // It drained: no growth is still going on long after.
        assert!(!t.growing(), "grew at {grew_at}");
        assert_eq!(t.len(), 10_000);
        for v in 0..10_000u32 {
            assert_eq!(sorted(&t, v.wrapping_mul(0x9e37_79b9)), vec![v]);
        }
    }

    #[test]
    fn a_table_saved_while_it_grows_loads_whole() {
        saved_while_growing_loads_whole(MultiTable::default());
        saved_while_growing_loads_whole(MultiTable::with_pages(2, 0));
    }

    fn saved_while_growing_loads_whole(mut t: MultiTable) {
        let mut v = 0u32;
        while !(t.growing() && t.len() > 500) {
            t.insert(v % 97, v);
            v += 1;
        }
        // Some of the old array's entries are gone before the save.
        assert!(t.remove(3, 3));
        let dir = tempfile::tempdir().unwrap();
        let expect = snapshot::Expect {
            params: 1,
            store_id: 1,
            generation: 1,
            documents: 0,
        };
        snapshot::save(dir.path(), expect, |w| t.save(w)).unwrap();
        let mut r = snapshot::open(dir.path(), expect).unwrap();
        let loaded = MultiTable::load(&mut r, v as usize).unwrap();
        r.finish().unwrap();
        assert!(!loaded.growing());
        assert!(loaded.reach_holds());
        assert_eq!(loaded.len(), t.len());
        for key in 0..97 {
            assert_eq!(sorted(&loaded, key), sorted(&t, key), "key {key}");
        }
        // The loaded table knows how far its runs reach: once it grows,
        // lookups that skip its old array still find everything.
        let mut loaded = loaded;
        let mut grew = false;
        while !grew || loaded.growing() {
            t.insert(v % 97, v);
            loaded.insert(v % 97, v);
            v += 1;
            grew |= loaded.growing();
            if loaded.growing() && v.is_multiple_of(3) {
                for key in 0..97 {
                    assert_eq!(sorted(&loaded, key), sorted(&t, key), "key {key}");
                }
            }
        }
    }

    proptest! {
        /// The multimap holds exactly what a reference multiset holds,
        /// through inserts and removals (backward shifts, growths that are
        /// still draining, removals from the old array, the cap included),
        /// with and without blank pages tracked (of four positions, so
        /// that runs cross them).
        #[test]
        fn multitable_matches_a_reference(
            ops in proptest::collection::vec((0u32..6, 0u32..50, 0u8..3), 0..600),
            tracked in any::<bool>(),
        ) {
            let mut t = if tracked { MultiTable::with_pages(2, 0) } else { MultiTable::default() };
            let mut reference: HashMap<(u32, u32), usize> = HashMap::new();
            let count = |r: &HashMap<(u32, u32), usize>, k: u32| {
                r.iter().filter(|((rk, _), _)| *rk == k).map(|(_, n)| n).sum::<usize>()
            };
            for (key, value, op) in ops {
                // Few keys, so that runs of equal and colliding keys form.
                let key = key.wrapping_mul(0x1000_0001);
                match op {
                    0 => {
                        t.insert(key, value);
                        *reference.entry((key, value)).or_default() += 1;
                    }
                    1 => {
                        let cap = 40;
                        let room = count(&reference, key) < cap;
                        prop_assert_eq!(t.insert_capped(key, value, cap), room);
                        if room {
                            *reference.entry((key, value)).or_default() += 1;
                        }
                    }
                    _ => {
                        let present = reference.get(&(key, value)).copied().unwrap_or(0) > 0;
                        prop_assert_eq!(t.remove(key, value), present);
                        if present {
                            *reference.get_mut(&(key, value)).unwrap() -= 1;
                        }
                    }
                }
                prop_assert_eq!(t.len(), reference.values().sum::<usize>());
                prop_assert!(t.reach_holds());
                for k in 0..6u32 {
                    let k = k.wrapping_mul(0x1000_0001);
                    let mut want: Vec<u32> = reference
                        .iter()
                        .filter(|((rk, _), _)| *rk == k)
                        .flat_map(|((_, s), n)| std::iter::repeat_n(*s, *n))
                        .collect();
                    want.sort_unstable();
                    prop_assert_eq!(sorted(&t, k), want);
                }
            }
        }
    }
}
