//! Document id -> engine handle, without a second copy of the id.
//!
//! The engine keeps every live document's id in its record already; a
//! `HashMap<String, DocIdx>` would store each id again (with its own heap
//! block) for about 70 bytes per document. This table holds only the
//! handles and compares ids through the records.

use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

use crate::cluster::DocIdx;

#[derive(Debug, Default)]
pub struct DocIds {
    table: HashTable<DocIdx>,
}

fn hash(id: &str) -> u64 {
    xxh3_64(id.as_bytes())
}

impl DocIds {
    /// The handle of `id`; `id_of` gives the id of every handle in the table.
    pub fn get<'a>(&self, id: &str, id_of: impl Fn(DocIdx) -> &'a str) -> Option<DocIdx> {
        self.table.find(hash(id), |&i| id_of(i) == id).copied()
    }

    /// Adds `idx` under `id`, which must not be in the table yet. `id_of`
    /// must know `idx` already (the table may rehash every entry).
    pub fn insert<'a>(&mut self, id: &str, idx: DocIdx, id_of: impl Fn(DocIdx) -> &'a str) {
        self.table.insert_unique(hash(id), idx, |&i| hash(id_of(i)));
    }

    /// Removes `idx`, stored under `id`.
    pub fn remove(&mut self, id: &str, idx: DocIdx) {
        if let Ok(entry) = self.table.find_entry(hash(id), |&i| i == idx) {
            entry.remove();
        }
    }

    /// Room for `more` handles; only for an empty table (no ids to rehash).
    pub fn reserve(&mut self, more: usize) {
        debug_assert!(self.table.is_empty());
        self.table.reserve(more, |_| 0);
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Heap bytes of the table (its buckets and control bytes).
    pub fn heap_bytes(&self) -> usize {
        self.table.allocation_size()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_id_through_the_records() {
        let mut records: Vec<String> = Vec::new();
        let mut ids = DocIds::default();
        for i in 0..1000u32 {
            records.push(format!("doc-{i}"));
            ids.insert(&records[i as usize], i, |d| records[d as usize].as_str());
        }
        assert_eq!(ids.len(), 1000);
        assert_eq!(
            ids.get("doc-417", |d| records[d as usize].as_str()),
            Some(417)
        );
        assert_eq!(ids.get("doc-1000", |d| records[d as usize].as_str()), None);
        ids.remove("doc-417", 417);
        assert_eq!(ids.get("doc-417", |d| records[d as usize].as_str()), None);
        assert_eq!(
            ids.get("doc-418", |d| records[d as usize].as_str()),
            Some(418)
        );
        assert_eq!(ids.len(), 999);
    }
}
