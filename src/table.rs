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
        Some((i, e))
    }
}

fn run(entries: &[[u32; 2]], key: u32) -> Run<'_> {
    let at = if entries.is_empty() {
        0
    } else {
        home(entries.len(), key)
    };
    Run { entries, at }
}

/// Puts an entry at the first free position of its run; the array has one.
fn place(entries: &mut [[u32; 2]], e: [u32; 2]) {
    let size = entries.len();
    let mut i = home(size, e[0]);
    while entries[i][1] != FREE {
        i = next(size, i);
    }
    entries[i] = e;
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
            }
        }
    }

    /// Whether a growth is still draining (for tests).
    #[cfg(test)]
    fn growing(&self) -> bool {
        !self.old.is_empty()
    }

    /// Fetches the start of `key`'s probe runs into the cache.
    pub fn prefetch(&self, key: u32) {
        if !self.entries.is_empty() {
            prefetch(&self.entries[home(self.entries.len(), key)]);
        }
        if !self.old.is_empty() {
            prefetch(&self.old[home(self.old.len(), key)]);
        }
    }

    /// Values stored under `key`: the current array's run, then the
    /// entries of the old one that have not moved yet.
    pub fn get(&self, key: u32) -> impl Iterator<Item = u32> + '_ {
        let moved = self.moved;
        // The current array as slices (the lookup that every probe makes);
        // the old one, empty but while a growth drains, with positions.
        let start = if self.entries.is_empty() {
            0
        } else {
            home(self.entries.len(), key)
        };
        let (wrapped, from_home) = self.entries.split_at(start);
        let current = from_home
            .iter()
            .chain(wrapped)
            .take_while(|e| e[1] != FREE)
            .filter(move |e| e[0] == key)
            .map(|e| e[1] - 1);
        let old = run(&self.old, key)
            .filter(move |&(i, e)| i >= moved && e[0] == key && e[1] != GONE)
            .map(|(_, e)| e[1] - 1);
        current.chain(old)
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
        let mut same = if self.old.is_empty() || cap == usize::MAX {
            0
        } else {
            let moved = self.moved;
            run(&self.old, key)
                .filter(|&(i, e)| i >= moved && e[0] == key && e[1] != GONE)
                .count()
        };
        let size = self.entries.len();
        let mut i = home(size, key);
        while self.entries[i][1] != FREE {
            same += usize::from(self.entries[i][0] == key);
            if same >= cap {
                return false;
            }
            i = next(size, i);
        }
        if same >= cap {
            return false;
        }
        self.entries[i] = [key, value + 1];
        self.len += 1;
        true
    }

    /// Starts a growth by half: the load stays between 0.53 and 0.8
    /// (doubling would let it fall to 0.4, a quarter more memory on
    /// average).
    fn grow(&mut self) {
        let size = (self.entries.len() + self.entries.len() / 2).max(16);
        self.old = std::mem::replace(&mut self.entries, vec![[0, FREE]; size]);
        self.moved = 0;
        self.move_some();
    }

    /// Moves the next positions of the old array; drops it once empty.
    fn move_some(&mut self) {
        let end = (self.moved + MOVE_STEP).min(self.old.len());
        for i in self.moved..end {
            let e = self.old[i];
            if e[1] != FREE && e[1] != GONE {
                place(&mut self.entries, e);
            }
        }
        self.moved = end;
        if end == self.old.len() {
            self.old = Vec::new();
            self.moved = 0;
        }
    }

    /// Removes one entry (key, value); false when absent.
    pub fn remove(&mut self, key: u32, value: u32) -> bool {
        let stored = [key, value + 1];
        let found = run(&self.entries, key).find(|&(_, e)| e == stored);
        if let Some((i, _)) = found {
            self.shift_back(i);
            self.len -= 1;
            return true;
        }
        let moved = self.moved;
        let found = run(&self.old, key).find(|&(i, e)| i >= moved && e == stored);
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
        let distance = |from: usize, to: usize| {
            if to >= from {
                to - from
            } else {
                to + size - from
            }
        };
        let mut hole = i;
        let mut j = i;
        loop {
            j = next(size, j);
            let e = self.entries[j];
            if e[1] == FREE {
                break;
            }
            if distance(home(size, e[0]), j) >= distance(hole, j) {
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
        let mut saved = self.entries.clone();
        for &e in &self.old[self.moved..] {
            if e[1] != FREE && e[1] != GONE {
                place(&mut saved, e);
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
        for e in &mut entries {
            if e[1] == SAVED_FREE {
                e[1] = FREE;
            } else if e[1] as usize >= limit || e[1] > MAX_VALUE {
                return Err(SnapshotError::invalid("table entry past its values"));
            } else {
                e[1] += 1;
                len += 1;
            }
        }
        if len > 0 && len == entries.len() {
            return Err(SnapshotError::invalid("table without a free position"));
        }
        Ok(MultiTable {
            entries,
            len,
            old: Vec::new(),
            moved: 0,
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
        let mut t = MultiTable::default();
        let mut grew_at = None;
        for v in 0..10_000u32 {
            t.insert(v.wrapping_mul(0x9e37_79b9), v);
            if t.growing() && grew_at.is_none() && v > 1000 {
                grew_at = Some(v);
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
        let mut t = MultiTable::default();
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
        assert_eq!(loaded.len(), t.len());
        for key in 0..97 {
            assert_eq!(sorted(&loaded, key), sorted(&t, key), "key {key}");
        }
    }

    proptest! {
        /// The multimap holds exactly what a reference multiset holds,
        /// through inserts and removals (backward shifts, growths that are
        /// still draining, removals from the old array, the cap included).
        #[test]
        fn multitable_matches_a_reference(
            ops in proptest::collection::vec((0u32..6, 0u32..50, 0u8..3), 0..600)
        ) {
            let mut t = MultiTable::default();
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
