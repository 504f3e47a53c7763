//! Document id -> engine handle, without a second copy of the id.
//!
//! The engine keeps every live document's id in its record already; a
//! `HashMap<String, DocIdx>` would store each id again (with its own heap
//! block) for about 70 bytes per document. This table holds only the
//! handles and compares ids through the records.

use xxhash_rust::xxh3::xxh3_64;

use crate::cluster::DocIdx;
use crate::table::MultiTable;

/// Handles under 32 bits of their id's hash: ids of equal bits share a
/// probe run and are told apart through the records. The bits are the
/// key, so that the table grows without reading a record (a whole rehash
/// through the records held the state lock for 40 ms at 300,000 documents)
/// and grows a few entries at a time ([`MultiTable`]).
#[derive(Debug, Default)]
pub struct DocIds {
    table: MultiTable,
}

fn key(id: &str) -> u32 {
    xxh3_64(id.as_bytes()) as u32
}

impl DocIds {
    /// The handle of `id`; `id_of` gives the id of every handle in the table.
    pub fn get<'a>(&self, id: &str, id_of: impl Fn(DocIdx) -> &'a str) -> Option<DocIdx> {
        self.table.get(key(id)).find(|&i| id_of(i) == id)
    }

    /// Adds `idx` under `id`, which must not be in the table yet.
    pub fn insert(&mut self, id: &str, idx: DocIdx) {
        self.table.insert(key(id), idx);
    }

    /// Removes `idx`, stored under `id`.
    pub fn remove(&mut self, id: &str, idx: DocIdx) {
        self.table.remove(key(id), idx);
    }

    /// Room for `more` handles; only for an empty table.
    pub fn reserve(&mut self, more: usize) {
        self.table.reserve(more);
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Heap bytes of the table.
    pub fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
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
            ids.insert(&records[i as usize], i);
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
