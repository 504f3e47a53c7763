//! Durable document records in redb, with group commit.
//!
//! Every acknowledged ingest is a committed redb transaction (fsync) holding
//! the document, its text and the cluster each segment joined; the in-memory
//! index is rebuilt from these records on start. One writer thread takes all
//! pending writes at once and commits them together, so concurrent callers
//! share an fsync instead of queueing for one each.
//!
//! Every commit also bumps a generation counter kept in the same
//! transaction, so that a snapshot of the state (`snapshot`) can tell
//! whether the store has moved on since it was written, and (when the
//! journal is on) records which document ids it wrote under that
//! generation: a restart after a crash reads the last snapshot and
//! re-applies only the documents written since, instead of all of them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use prost::Message;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use thiserror::Error;
use tracing::{debug, error, warn};

use crate::proto::store::StoredDocument;

const DOCUMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("documents");
/// `STORE_ID` and `GENERATION`.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Random, set when the meta table is created: a snapshot names its store.
const STORE_ID: &str = "store_id";
/// Commits that changed documents, bumped in each group commit.
const GENERATION: &str = "generation";
/// The ids each commit put or deleted, in order, by generation: one row a
/// commit ([`encode_ids`]). Trimmed up to a snapshot's generation once that
/// snapshot is durable.
const JOURNAL: TableDefinition<u64, &[u8]> = TableDefinition::new("commits");
/// The journal as releases before [`JOURNAL`] wrote it, a row per id
/// (an insert and a removal per document cost a sixth of an ingest's
/// instructions). Dropped on open: the commits it held are then missing
/// from the journal, so the next open that needs them replays the store.
const ROW_JOURNAL: TableDefinition<(u64, u32), &str> = TableDefinition::new("journal");

/// Page cache of a durable store unless configured (redb's own default is
/// 1 GiB, which would count against every deployment's memory).
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// Writes taken in one commit at most; bounds the latency of the first.
const MAX_GROUP: usize = 4096;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("storage engine: {0}")]
    Engine(#[from] redb::Error),
    #[error("corrupt record {id:?}: {source}")]
    Corrupt {
        id: String,
        source: prost::DecodeError,
    },
    #[error("cannot create data directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("corrupt journal row of commit {generation}")]
    CorruptJournal { generation: u64 },
    #[error("the store is closed")]
    Closed,
}

/// A stored record; a record that does not decode is named by its id.
fn decode(id: &str, bytes: &[u8]) -> Result<StoredDocument, StoreError> {
    StoredDocument::decode(bytes).map_err(|source| StoreError::Corrupt {
        id: id.to_string(),
        source,
    })
}

fn engine_err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Engine(e.into())
}

pub enum Write {
    Put(StoredDocument),
    Delete(String),
}

type Ack = mpsc::SyncSender<Result<(), String>>;
/// Writes of one caller and where to acknowledge them.
struct Job {
    writes: Vec<Write>,
    ack: Ack,
    /// The same caller submits more writes right after (the next chunk of
    /// a batch being applied).
    more: bool,
}

/// How long the writer waits for the next chunk of a batch that said more
/// would follow, before it commits what it has. Every commit costs a fixed
/// amount that grows with the file (quick repair saves the allocator
/// state, which covers every page of it), so a batch is
/// better committed once than chunk by chunk; a caller that submits one
/// chunk (a unary ingest) never waits for this.
const NEXT_CHUNK_WAIT: Duration = Duration::from_millis(2);

/// A pending group commit; `wait` returns once the writes are durable.
pub struct Ticket(mpsc::Receiver<Result<(), String>>);

impl Ticket {
    pub fn wait(self) -> Result<(), StoreError> {
        match self.0.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(StoreError::Engine(redb::Error::Io(std::io::Error::other(
                msg,
            )))),
            Err(_) => Err(StoreError::Closed),
        }
    }
}

pub struct Store {
    db: Arc<Database>,
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    durable: bool,
    dir: Option<PathBuf>,
    /// A group commit failed since open: memory may hold writes the store
    /// does not (until they are rolled back), so no snapshot is taken.
    failed: Arc<AtomicBool>,
    quick_repair: bool,
    /// Opening found the file not closed cleanly and repaired it.
    repaired: bool,
}

/// How a store is opened.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Page cache, bytes. The cache is resident memory, so its cap decides
    /// how much of the process grows with the corpus; pages beyond it are
    /// read back through the operating system's file cache.
    pub cache_bytes: usize,
    /// Record the ids each commit writes (for snapshots); off, any journal
    /// left from before is cleared.
    pub journal: bool,
    /// Every commit also saves the allocator state (redb's quick repair,
    /// with two-phase commit): reopening after a crash loads it instead of
    /// walking the whole file (11.5 s for a 6.7 GB store), at some cost per
    /// commit on a large store.
    pub quick_repair: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: DEFAULT_CACHE_BYTES,
            journal: true,
            quick_repair: true,
        }
    }
}

/// Which store, and how far its commits have gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    pub store_id: u64,
    pub generation: u64,
}

impl Store {
    /// Opens (or creates) `dir/chaff.redb`; `None` keeps everything in memory.
    pub fn open(dir: Option<&Path>) -> Result<Store, StoreError> {
        Store::open_with(dir, StoreOptions::default())
    }

    /// As [`Store::open`], with every option.
    pub fn open_with(dir: Option<&Path>, options: StoreOptions) -> Result<Store, StoreError> {
        let StoreOptions {
            cache_bytes,
            journal,
            quick_repair,
        } = options;
        let repairing = Arc::new(AtomicBool::new(false));
        let (db, durable) = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                    path: dir.display().to_string(),
                    source,
                })?;
                (
                    Database::builder()
                        .set_cache_size(cache_bytes)
                        .set_repair_callback({
                            let repairing = repairing.clone();
                            move |session| {
                                if !repairing.swap(true, Ordering::SeqCst) {
                                    warn!(
                                        progress = session.progress(),
                                        "store not closed cleanly; repairing it (walks the whole file)"
                                    );
                                }
                            }
                        })
                        .create(dir.join("chaff.redb"))
                        .map_err(engine_err)?,
                    true,
                )
            }
            None => (
                Database::builder()
                    .create_with_backend(redb::backends::InMemoryBackend::new())
                    .map_err(engine_err)?,
                false,
            ),
        };
        let db = Arc::new(db);
        {
            let txn = begin_write(&db, quick_repair).map_err(engine_err)?;
            txn.open_table(DOCUMENTS).map_err(engine_err)?;
            {
                let mut meta = txn.open_table(META).map_err(engine_err)?;
                if meta.get(STORE_ID).map_err(engine_err)?.is_none() {
                    meta.insert(STORE_ID, new_store_id()).map_err(engine_err)?;
                }
            }
            txn.delete_table(ROW_JOURNAL).map_err(engine_err)?;
            if journal {
                txn.open_table(JOURNAL).map_err(engine_err)?;
            } else {
                txn.delete_table(JOURNAL).map_err(engine_err)?;
            }
            txn.commit().map_err(engine_err)?;
        }
        let (tx, rx) = mpsc::channel();
        let writer_db = db.clone();
        let failed = Arc::new(AtomicBool::new(false));
        let writer_failed = failed.clone();
        let writer = std::thread::Builder::new()
            .name("chaff-store".into())
            .spawn(move || writer_loop(&writer_db, rx, &writer_failed, journal, quick_repair))
            .map_err(|e| engine_err(redb::Error::Io(e)))?;
        Ok(Store {
            db,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            durable,
            dir: dir.map(Path::to_path_buf),
            failed,
            quick_repair,
            repaired: repairing.load(Ordering::SeqCst),
        })
    }

    /// Whether opening had to repair the file (not closed cleanly, last
    /// commit without quick repair).
    pub fn repaired(&self) -> bool {
        self.repaired
    }

    /// The data directory of a durable store.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// True once a group commit has failed in this process.
    pub fn had_failure(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// The store's id and commit generation as committed now.
    pub fn generation(&self) -> Result<Generation, StoreError> {
        let txn = self.db.begin_read().map_err(engine_err)?;
        let meta = txn.open_table(META).map_err(engine_err)?;
        let get = |key| -> Result<u64, StoreError> {
            Ok(meta.get(key).map_err(engine_err)?.map_or(0, |v| v.value()))
        };
        Ok(Generation {
            store_id: get(STORE_ID)?,
            generation: get(GENERATION)?,
        })
    }

    pub fn is_durable(&self) -> bool {
        self.durable
    }

    /// Queues writes for the next group commit. Writes are applied in the
    /// order they were submitted.
    pub fn submit(&self, writes: Vec<Write>) -> Result<Ticket, StoreError> {
        self.submit_chunk(writes, false)
    }

    /// As [`Store::submit`]; `more` says that the caller submits its next
    /// chunk right after this one, so that the writer may wait a moment
    /// (at most [`NEXT_CHUNK_WAIT`]) to commit both at once.
    pub fn submit_chunk(&self, writes: Vec<Write>, more: bool) -> Result<Ticket, StoreError> {
        let (ack, rx) = mpsc::sync_channel(1);
        self.tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(Job { writes, ack, more })
            .map_err(|_| StoreError::Closed)?;
        Ok(Ticket(rx))
    }

    pub fn get(&self, id: &str) -> Result<Option<StoredDocument>, StoreError> {
        let txn = self.db.begin_read().map_err(engine_err)?;
        let table = txn.open_table(DOCUMENTS).map_err(engine_err)?;
        let Some(v) = table.get(id).map_err(engine_err)? else {
            return Ok(None);
        };
        decode(id, v.value()).map(Some)
    }

    /// The ids written since `generation` (put or deleted; each once, in
    /// the order of their last write), or `None` when the journal does not
    /// hold every commit since: it was trimmed past it, was off, or the
    /// store was written by a release without one.
    pub fn written_since(&self, generation: u64) -> Result<Option<Vec<String>>, StoreError> {
        let txn = self.db.begin_read().map_err(engine_err)?;
        let current = {
            let meta = txn.open_table(META).map_err(engine_err)?;
            meta.get(GENERATION)
                .map_err(engine_err)?
                .map_or(0, |v| v.value())
        };
        if generation > current {
            return Ok(None);
        }
        let journal = match txn.open_table(JOURNAL) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(engine_err(e)),
        };
        let mut expected = generation + 1;
        let mut ids = Vec::new();
        for row in journal.range(generation + 1..).map_err(engine_err)? {
            let (k, v) = row.map_err(engine_err)?;
            if k.value() != expected {
                // A commit with nothing journalled.
                return Ok(None);
            }
            expected += 1;
            let row = decode_ids(v.value()).ok_or(StoreError::CorruptJournal {
                generation: k.value(),
            })?;
            ids.extend(row.into_iter().map(str::to_string));
        }
        if expected != current + 1 {
            return Ok(None);
        }
        // Last write wins: keep each id at its last position.
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        let mut last: Vec<String> = ids
            .into_iter()
            .rev()
            .filter(|id| seen.insert(id.clone()))
            .collect();
        last.reverse();
        Ok(Some(last))
    }

    /// Drops the journal up to and including `generation`, once a snapshot
    /// of it is durable (never before: an older snapshot would then look
    /// complete with writes missing).
    pub fn trim_journal(&self, generation: u64) -> Result<usize, StoreError> {
        let txn = begin_write(&self.db, self.quick_repair).map_err(engine_err)?;
        let trimmed = {
            let mut journal = txn.open_table(JOURNAL).map_err(engine_err)?;
            let mut trimmed = 0;
            journal
                .retain_in(..=generation, |_, ids| {
                    trimmed += decode_ids(ids).map_or(0, |ids| ids.len());
                    false
                })
                .map_err(engine_err)?;
            trimmed
        };
        txn.commit().map_err(engine_err)?;
        Ok(trimmed)
    }

    /// Calls `f` with each id of `ids` and its stored document (`None`:
    /// not stored), in one read transaction and in key order, which keeps
    /// the lookups of a large batch close together in the file.
    pub fn for_each_of(
        &self,
        ids: &[String],
        mut f: impl FnMut(&str, Option<StoredDocument>),
    ) -> Result<(), StoreError> {
        let mut sorted: Vec<&str> = ids.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        let txn = self.db.begin_read().map_err(engine_err)?;
        let table = txn.open_table(DOCUMENTS).map_err(engine_err)?;
        for id in sorted {
            let doc = match table.get(id).map_err(engine_err)? {
                Some(v) => Some(decode(id, v.value())?),
                None => None,
            };
            f(id, doc);
        }
        Ok(())
    }

    /// Stored documents.
    pub fn documents(&self) -> Result<usize, StoreError> {
        let txn = self.db.begin_read().map_err(engine_err)?;
        let table = txn.open_table(DOCUMENTS).map_err(engine_err)?;
        Ok(table.len().map_err(engine_err)? as usize)
    }

    /// Calls `f` with every stored document, in key order (not ingest
    /// order: see `seq`), decoded one at a time.
    pub fn for_each_record(&self, mut f: impl FnMut(StoredDocument)) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(engine_err)?;
        let table = txn.open_table(DOCUMENTS).map_err(engine_err)?;
        for row in table.iter().map_err(engine_err)? {
            let (k, v) = row.map_err(engine_err)?;
            f(decode(k.value(), v.value())?);
        }
        Ok(())
    }

    /// Waits for queued writes and stops the writer.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = writer {
            let _ = w.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

/// Appends an id to a commit's journal row: its length as a varint, then
/// its bytes.
fn encode_id(id: &str, out: &mut Vec<u8>) {
    prost::encoding::encode_varint(id.len() as u64, out);
    out.extend_from_slice(id.as_bytes());
}

/// The ids of a journal row; `None` when it is cut short or not UTF-8.
fn decode_ids(mut row: &[u8]) -> Option<Vec<&str>> {
    let mut ids = Vec::new();
    while !row.is_empty() {
        let len = usize::try_from(prost::encoding::decode_varint(&mut row).ok()?).ok()?;
        let id = row.get(..len)?;
        ids.push(std::str::from_utf8(id).ok()?);
        row = &row[len..];
    }
    Some(ids)
}

/// Unpredictable enough to tell two stores apart; not a secret.
fn new_store_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let local = 0u8;
    let seed = format!("{nanos} {} {:p}", std::process::id(), &local);
    xxhash_rust::xxh3::xxh3_64(seed.as_bytes()).max(1)
}

fn writer_loop(
    db: &Database,
    rx: mpsc::Receiver<Job>,
    failed: &AtomicBool,
    journal: bool,
    quick_repair: bool,
) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            let next = match rx.try_recv() {
                Ok(next) => Some(next),
                // The batch being applied has more chunks on the way.
                Err(mpsc::TryRecvError::Empty) if group.last().is_some_and(|job| job.more) => {
                    rx.recv_timeout(NEXT_CHUNK_WAIT).ok()
                }
                Err(_) => None,
            };
            let Some(next) = next else { break };
            group.push(next);
        }
        let result = if group.iter().all(|job| job.writes.is_empty()) {
            // Nothing to write: acknowledged once everything before it is.
            Ok(())
        } else {
            commit(db, &group, journal, quick_repair)
        };
        if let Err(e) = &result {
            failed.store(true, Ordering::SeqCst);
            error!(error = %e, writes = group.len(), "group commit failed");
        } else {
            debug!(writes = group.len(), "group commit");
        }
        for Job { ack, .. } in group {
            let _ = ack.send(result.clone().map_err(|e| e.to_string()));
        }
    }
}

/// A write transaction; with `quick_repair` its commit saves the allocator
/// state (redb's quick repair, two-phase commit). Every commit must, or the
/// open after a crash that follows one without it walks the whole file.
fn begin_write(
    db: &Database,
    quick_repair: bool,
) -> Result<redb::WriteTransaction, redb::TransactionError> {
    let mut txn = db.begin_write()?;
    txn.set_quick_repair(quick_repair);
    Ok(txn)
}

fn commit(db: &Database, group: &[Job], journal: bool, quick_repair: bool) -> Result<(), String> {
    let run = || -> Result<(), redb::Error> {
        let txn = begin_write(db, quick_repair)?;
        {
            let mut meta = txn.open_table(META)?;
            let generation = meta.get(GENERATION)?.map_or(0, |v| v.value()) + 1;
            meta.insert(GENERATION, generation)?;
            let mut table = txn.open_table(DOCUMENTS)?;
            let mut journalled = Vec::new();
            let mut buf = Vec::new();
            for w in group.iter().flat_map(|job| &job.writes) {
                let id = match w {
                    Write::Put(doc) => {
                        buf.clear();
                        doc.encode(&mut buf).expect("vec has capacity");
                        table.insert(doc.id.as_str(), buf.as_slice())?;
                        doc.id.as_str()
                    }
                    Write::Delete(id) => {
                        table.remove(id.as_str())?;
                        id.as_str()
                    }
                };
                if journal {
                    encode_id(id, &mut journalled);
                }
            }
            if journal {
                txn.open_table(JOURNAL)?
                    .insert(generation, journalled.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    };
    run().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(id: &str, seq: u64) -> Write {
        Write::Put(StoredDocument {
            id: id.to_string(),
            seq,
            ..Default::default()
        })
    }

    fn commit(store: &Store, writes: Vec<Write>) {
        store.submit(writes).unwrap().wait().unwrap();
    }

    #[test]
    fn chunks_that_say_more_follows_are_committed_together() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(dir.path())).unwrap();
        // A chunk whose successor never comes is committed all the same.
        store
            .submit_chunk(vec![put("alone", 1)], true)
            .unwrap()
            .wait()
            .unwrap();
        // Chunks a millisecond apart (less than the writer waits): one
        // commit. Without the wait the writer, idle, commits the first on
        // its own at once. A few tries, in case a loaded machine holds the
        // submitting thread past the wait.
        let grouped = (0..5).any(|round| {
            let before = store.generation().unwrap().generation;
            let tickets: Vec<Ticket> = (0..3)
                .map(|i| {
                    if i > 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    let id = format!("r{round}-{i}");
                    store.submit_chunk(vec![put(&id, 2)], i < 2).unwrap()
                })
                .collect();
            for t in tickets {
                t.wait().unwrap();
            }
            store.generation().unwrap().generation == before + 1
        });
        assert!(grouped, "every round took more than one commit");
        assert!(store.get("r0-2").unwrap().is_some());
    }

    #[test]
    fn the_journal_names_what_each_commit_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(dir.path())).unwrap();
        commit(&store, vec![put("a", 1), put("b", 2)]);
        let after_first = store.generation().unwrap().generation;
        // Nothing to write: no commit, no generation.
        commit(&store, vec![]);
        assert_eq!(store.generation().unwrap().generation, after_first);
        commit(&store, vec![put("c", 3), Write::Delete("a".into())]);
        commit(&store, vec![put("c", 4)]);
        let now = store.generation().unwrap().generation;
        assert_eq!(now, after_first + 2);

        let since = |g| store.written_since(g).unwrap();
        assert_eq!(since(now), Some(vec![]));
        // Each id once, at its last write.
        assert_eq!(since(after_first), Some(vec!["a".into(), "c".into()]));
        assert_eq!(since(0), Some(vec!["b".into(), "a".into(), "c".into()]));
        // A generation the store has not reached.
        assert_eq!(since(now + 1), None);

        assert_eq!(store.trim_journal(after_first).unwrap(), 2);
        assert_eq!(since(0), None, "trimmed commits are missing");
        assert_eq!(since(after_first), Some(vec!["a".into(), "c".into()]));
    }

    #[test]
    fn a_journal_of_rows_per_id_is_dropped_and_leaves_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(Some(dir.path())).unwrap();
            commit(&store, vec![put("a", 1)]);
            // What an earlier release wrote beside the commit: a row per id.
            let txn = store.db.begin_write().unwrap();
            txn.open_table(ROW_JOURNAL)
                .unwrap()
                .insert((1, 0), "a")
                .unwrap();
            txn.open_table(JOURNAL).unwrap().remove(1).unwrap();
            txn.commit().unwrap();
        }
        let store = Store::open(Some(dir.path())).unwrap();
        let txn = store.db.begin_read().unwrap();
        assert!(matches!(
            txn.open_table(ROW_JOURNAL),
            Err(redb::TableError::TableDoesNotExist(_))
        ));
        assert_eq!(store.written_since(0).unwrap(), None);
        assert_eq!(store.written_since(1).unwrap(), Some(vec![]));
    }

    #[test]
    fn a_journal_row_round_trips_its_ids() {
        let mut row = Vec::new();
        for id in ["a", "", "ünïcode id", &"x".repeat(300)] {
            encode_id(id, &mut row);
        }
        let ids = decode_ids(&row).unwrap();
        assert_eq!(ids, ["a", "", "ünïcode id", &"x".repeat(300)]);
        assert_eq!(decode_ids(&row[..row.len() - 1]), None);
    }

    #[test]
    fn commits_without_the_journal_leave_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(Some(dir.path())).unwrap();
            commit(&store, vec![put("a", 1)]);
        }
        let off = StoreOptions {
            journal: false,
            ..StoreOptions::default()
        };
        {
            let store = Store::open_with(Some(dir.path()), off).unwrap();
            commit(&store, vec![put("b", 2)]);
            assert_eq!(store.written_since(0).unwrap(), None);
        }
        let store = Store::open(Some(dir.path())).unwrap();
        commit(&store, vec![put("c", 3)]);
        assert_eq!(store.written_since(0).unwrap(), None);
        assert_eq!(store.written_since(1).unwrap(), None);
        assert_eq!(store.written_since(2).unwrap(), Some(vec!["c".into()]));
    }
}
