//! Durable document records in redb, with group commit.
//!
//! Every acknowledged ingest is a committed redb transaction (fsync) holding
//! the document, its text and the cluster each segment joined; the in-memory
//! index is rebuilt from these records on start. Records are found by their
//! ingest sequence number, not their id, and a commit's records are packed
//! into blocks of one 16 KiB page ([`block`]) under the first one's `seq`:
//! new blocks go to the end of the tree, and a commit makes one insert per
//! block instead of one per record (where ids, urls in any order, would put
//! each record on a page of its own). Removing a record rewrites its block.
//! The engine keeps each live document's sequence number in memory. One
//! writer thread takes all pending writes at once and commits them
//! together, so concurrent callers share an fsync instead of queueing for
//! one each.
//!
//! Every commit also bumps a generation counter kept in the same
//! transaction, so that a snapshot of the state (`snapshot`) can tell
//! whether the store has moved on since it was written, and (when the
//! journal is on) records which document ids it wrote under that
//! generation: a restart after a crash reads the last snapshot and
//! re-applies only the documents written since, instead of all of them.

mod block;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use prost::Message;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use thiserror::Error;
use tracing::{debug, error, info, warn};

use crate::proto::store::StoredDocument;

/// Blocks of records ([`block`]) by the `seq` of their first.
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// Records by `seq`, one a row, as releases before [`BLOCKS`] kept them:
/// read and removed in place, never written anew.
const DOCUMENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");
/// Records by id, as releases before [`DOCUMENTS`] kept them; moved into
/// it on open.
const ID_KEYED: TableDefinition<&str, &[u8]> = TableDefinition::new("documents");
/// `STORE_ID` and `GENERATION`.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Random, set when the meta table is created: a snapshot names its store.
const STORE_ID: &str = "store_id";
/// Commits that changed documents, bumped in each group commit.
const GENERATION: &str = "generation";
/// Records in [`BLOCKS`] (those of [`DOCUMENTS`] are its length).
const PACKED: &str = "block_records";
/// What each commit put or deleted (id and `seq`), in order, by
/// generation: one row a commit ([`encode_change`]). Trimmed up to a
/// snapshot's generation once that snapshot is durable.
const JOURNAL: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");
/// Journals of earlier releases: a row of ids per commit (without the
/// `seq` that now finds a record), and before it a row per id (an insert
/// and a removal per document cost a sixth of an ingest's instructions).
/// Dropped on open: the commits they held are then missing from the
/// journal, so the next open that needs them replays the store.
const OLD_JOURNALS: [&str; 2] = ["commits", "journal"];

/// Page cache of a durable store unless configured (redb's own default is
/// 1 GiB, which would count against every deployment's memory).
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// Writes taken in one commit at most; bounds the latency of the first.
const MAX_GROUP: usize = 4096;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("storage engine: {0}")]
    Engine(#[from] redb::Error),
    /// `key`: the record's seq, or its id in a store of an earlier release.
    #[error("corrupt record {key}: {source}")]
    Corrupt {
        key: String,
        source: prost::DecodeError,
    },
    #[error("cannot create data directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("corrupt block of records at {key}")]
    CorruptBlock { key: u64 },
    #[error("corrupt journal row of commit {generation}")]
    CorruptJournal { generation: u64 },
    #[error("the journal names {id:?} at record {seq}, which holds {found:?}")]
    JournalMismatch { id: String, seq: u64, found: String },
    #[error("the store is closed")]
    Closed,
}

/// A stored record; a record that does not decode is named by its key.
fn decode(key: impl std::fmt::Display, bytes: &[u8]) -> Result<StoredDocument, StoreError> {
    StoredDocument::decode(bytes).map_err(|source| StoreError::Corrupt {
        key: key.to_string(),
        source,
    })
}

fn engine_err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Engine(e.into())
}

/// A value of the meta table (0 until first set).
fn meta_value(meta: &impl ReadableTable<&'static str, u64>, key: &str) -> Result<u64, StoreError> {
    Ok(meta.get(key).map_err(engine_err)?.map_or(0, |v| v.value()))
}

pub enum Write {
    /// Stored under its `seq`. A new version of a stored id comes after a
    /// [`Write::Delete`] of the old one.
    Put(StoredDocument),
    /// The record of `id` stored under `seq`.
    Delete { id: String, seq: u64 },
}

/// A write as the journal lists it (see [`Store::written_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put { id: String, seq: u64 },
    Delete { id: String },
}

impl Change {
    pub fn id(&self) -> &str {
        match self {
            Change::Put { id, .. } | Change::Delete { id } => id,
        }
    }
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
            txn.open_table(BLOCKS).map_err(engine_err)?;
            {
                let mut meta = txn.open_table(META).map_err(engine_err)?;
                if meta.get(STORE_ID).map_err(engine_err)?.is_none() {
                    meta.insert(STORE_ID, new_store_id()).map_err(engine_err)?;
                }
            }
            rekey_by_seq(&txn)?;
            for old in OLD_JOURNALS {
                txn.delete_table(redb::TableDefinition::<u64, &[u8]>::new(old))
                    .map_err(engine_err)?;
            }
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
        Ok(Generation {
            store_id: meta_value(&meta, STORE_ID)?,
            generation: meta_value(&meta, GENERATION)?,
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

    /// The record stored under `seq`.
    pub fn get(&self, seq: u64) -> Result<Option<StoredDocument>, StoreError> {
        let txn = self.db.begin_read().map_err(engine_err)?;
        Reader::new(&txn)?.get(seq)
    }

    /// What was written since `generation`, each id once at its last write
    /// (in the order of those writes), or `None` when the journal does not
    /// hold every commit since: it was trimmed past it, was off, or the
    /// store was written by a release without one.
    pub fn written_since(&self, generation: u64) -> Result<Option<Vec<Change>>, StoreError> {
        let txn = self.db.begin_read().map_err(engine_err)?;
        let current = meta_value(&txn.open_table(META).map_err(engine_err)?, GENERATION)?;
        if generation > current {
            return Ok(None);
        }
        let journal = match txn.open_table(JOURNAL) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(engine_err(e)),
        };
        let mut expected = generation + 1;
        let mut changes = Vec::new();
        for row in journal.range(generation + 1..).map_err(engine_err)? {
            let (k, v) = row.map_err(engine_err)?;
            if k.value() != expected {
                // A commit with nothing journalled.
                return Ok(None);
            }
            expected += 1;
            decode_changes(v.value(), &mut changes).ok_or(StoreError::CorruptJournal {
                generation: k.value(),
            })?;
        }
        if expected != current + 1 {
            return Ok(None);
        }
        // Last write wins: keep each id at its last position.
        let mut seen = std::collections::HashSet::with_capacity(changes.len());
        let mut last: Vec<Change> = changes
            .into_iter()
            .rev()
            .filter(|c| seen.insert(c.id().to_string()))
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
                .retain_in(..=generation, |_, row| {
                    trimmed += count_changes(row);
                    false
                })
                .map_err(engine_err)?;
            trimmed
        };
        txn.commit().map_err(engine_err)?;
        Ok(trimmed)
    }

    /// Calls `f` with the id of each change and its stored document
    /// (`None`: deleted), in one read transaction, the records in key
    /// order, which keeps the lookups of a large batch close together in
    /// the file. A put whose record is missing or holds another id is an
    /// error: the journal and the records disagree.
    pub fn for_each_of(
        &self,
        changes: &[Change],
        mut f: impl FnMut(&str, Option<StoredDocument>),
    ) -> Result<(), StoreError> {
        let mut puts = Vec::with_capacity(changes.len());
        for change in changes {
            match change {
                Change::Put { id, seq } => puts.push((*seq, id.as_str())),
                Change::Delete { id } => f(id, None),
            }
        }
        puts.sort_unstable();
        let txn = self.db.begin_read().map_err(engine_err)?;
        let mut reader = Reader::new(&txn)?;
        for (seq, id) in puts {
            let doc = reader.get(seq)?.unwrap_or_default();
            if doc.id != id {
                return Err(StoreError::JournalMismatch {
                    id: id.to_string(),
                    seq,
                    found: doc.id,
                });
            }
            f(id, Some(doc));
        }
        Ok(())
    }

    /// Stored documents.
    pub fn documents(&self) -> Result<usize, StoreError> {
        let txn = self.db.begin_read().map_err(engine_err)?;
        let table = txn.open_table(DOCUMENTS).map_err(engine_err)?;
        let meta = txn.open_table(META).map_err(engine_err)?;
        let packed = meta_value(&meta, PACKED)?;
        Ok((table.len().map_err(engine_err)? + packed) as usize)
    }

    /// Calls `f` with every stored document, in ingest order (`seq`),
    /// decoded one at a time.
    pub fn for_each_record(&self, mut f: impl FnMut(StoredDocument)) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(engine_err)?;
        let records = txn.open_table(DOCUMENTS).map_err(engine_err)?;
        let blocks = txn.open_table(BLOCKS).map_err(engine_err)?;
        // Both tables in `seq` order, merged (a store of an earlier
        // release has its records in the first, later ones in blocks).
        let mut records = records.iter().map_err(engine_err)?.peekable();
        let mut records_below = |limit: u64, f: &mut dyn FnMut(StoredDocument)| {
            while let Some(row) =
                records.next_if(|row| row.as_ref().map_or(true, |(k, _)| k.value() < limit))
            {
                let (k, v) = row.map_err(engine_err)?;
                f(decode(k.value(), v.value())?);
            }
            Ok::<_, StoreError>(())
        };
        for row in blocks.iter().map_err(engine_err)? {
            let (k, v) = row.map_err(engine_err)?;
            let key = k.value();
            for entry in block::entries(v.value()) {
                let (seq, record) = entry.map_err(|_| StoreError::CorruptBlock { key })?;
                records_below(seq, &mut f)?;
                f(decode(seq, record)?);
            }
        }
        for row in records {
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

/// Appends a write to a commit's journal row, framed as a block's records
/// are ([`block::entries`]): `seq` shifted left by one with the low bit
/// set for a delete, then the id in place of the record.
fn encode_change(id: &str, seq: u64, deleted: bool, out: &mut Vec<u8>) {
    block::push_encoded(out, seq << 1 | u64::from(deleted), id.as_bytes());
}

/// Appends the changes of a journal row to `out`; `None` when it is cut
/// short or an id is not UTF-8.
fn decode_changes(row: &[u8], out: &mut Vec<Change>) -> Option<()> {
    for entry in block::entries(row) {
        let (key, id) = entry.ok()?;
        let id = std::str::from_utf8(id).ok()?.to_string();
        out.push(match key & 1 {
            0 => Change::Put { id, seq: key >> 1 },
            _ => Change::Delete { id },
        });
    }
    Some(())
}

/// The changes a journal row lists (as many as parse), without decoding
/// their ids.
fn count_changes(row: &[u8]) -> usize {
    block::entries(row).take_while(Result::is_ok).count()
}

/// Moves the records of a store written by an earlier release (keyed by
/// id) under their `seq`, in `txn`. Should two records share a `seq`
/// (which no release wrote), the one displaced gets a new `seq` past every
/// other rather than be lost.
fn rekey_by_seq(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    // Opened in a write transaction, a table that is not there is created
    // empty; it is deleted below either way.
    let old = txn.open_table(ID_KEYED).map_err(engine_err)?;
    let started = std::time::Instant::now();
    let mut table = txn.open_table(DOCUMENTS).map_err(engine_err)?;
    let mut displaced = Vec::new();
    let mut moved = 0u64;
    let mut last = table
        .last()
        .map_err(engine_err)?
        .map_or(0, |(k, _)| k.value());
    for row in old.iter().map_err(engine_err)? {
        let (k, v) = row.map_err(engine_err)?;
        let doc = decode(k.value(), v.value())?;
        last = last.max(doc.seq);
        if let Some(prev) = table.insert(doc.seq, v.value()).map_err(engine_err)? {
            displaced.push(decode(doc.seq, prev.value())?);
        }
        moved += 1;
    }
    for mut doc in displaced {
        last += 1;
        warn!(id = %doc.id, seq = doc.seq, new_seq = last, "two records of one seq; renumbering one");
        doc.seq = last;
        table
            .insert(doc.seq, doc.encode_to_vec().as_slice())
            .map_err(engine_err)?;
    }
    drop(table);
    drop(old);
    txn.delete_table(ID_KEYED).map_err(engine_err)?;
    if moved > 0 {
        info!(
            records = moved,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "records keyed by seq (store of an earlier release)"
        );
    }
    Ok(())
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
    let run = || -> Result<(), StoreError> {
        let txn = begin_write(db, quick_repair).map_err(engine_err)?;
        {
            let mut meta = txn.open_table(META).map_err(engine_err)?;
            let generation = meta_value(&meta, GENERATION)? + 1;
            meta.insert(GENERATION, generation).map_err(engine_err)?;
            let mut writer = BlockWriter {
                blocks: txn.open_table(BLOCKS).map_err(engine_err)?,
                records: txn.open_table(DOCUMENTS).map_err(engine_err)?,
                packed: meta_value(&meta, PACKED)?,
                highest: None,
                open: OpenBlock::default(),
            };
            let mut journalled = Vec::new();
            for w in group.iter().flat_map(|job| &job.writes) {
                let (id, seq, deleted) = match w {
                    Write::Put(doc) => {
                        writer.put(doc)?;
                        (doc.id.as_str(), doc.seq, false)
                    }
                    Write::Delete { id, seq } => {
                        writer.remove(*seq)?;
                        (id.as_str(), *seq, true)
                    }
                };
                if journal {
                    encode_change(id, seq, deleted, &mut journalled);
                }
            }
            writer.close()?;
            meta.insert(PACKED, writer.packed).map_err(engine_err)?;
            if journal {
                txn.open_table(JOURNAL)
                    .map_err(engine_err)?
                    .insert(generation, journalled.as_slice())
                    .map_err(engine_err)?;
            }
        }
        txn.commit().map_err(engine_err)?;
        Ok(())
    };
    run().map_err(|e| e.to_string())
}

/// The block of `seq`: the last one keyed at or below it, copied.
fn block_of(
    blocks: &impl ReadableTable<u64, &'static [u8]>,
    seq: u64,
) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    match blocks.range(..=seq).map_err(engine_err)?.next_back() {
        Some(row) => {
            let (k, v) = row.map_err(engine_err)?;
            Ok(Some((k.value(), v.value().to_vec())))
        }
        None => Ok(None),
    }
}

/// The records being packed into the commit's next block.
#[derive(Default)]
struct OpenBlock {
    key: u64,
    bytes: Vec<u8>,
    records: usize,
}

/// A commit's writes to the record tables.
struct BlockWriter<'txn> {
    blocks: redb::Table<'txn, u64, &'static [u8]>,
    records: redb::Table<'txn, u64, &'static [u8]>,
    /// Records in blocks.
    packed: u64,
    /// The highest `seq` stored, once looked up (`Some(None)`: none).
    highest: Option<Option<u64>>,
    open: OpenBlock,
}

impl BlockWriter<'_> {
    fn put(&mut self, doc: &StoredDocument) -> Result<(), StoreError> {
        let highest = match self.highest {
            Some(h) => h,
            None => {
                let in_blocks = match self.blocks.last().map_err(engine_err)? {
                    Some((k, v)) => block::last_seq(v.value())
                        .map_err(|_| StoreError::CorruptBlock { key: k.value() })?,
                    None => None,
                };
                let in_records = self
                    .records
                    .last()
                    .map_err(engine_err)?
                    .map(|(k, _)| k.value());
                in_blocks.max(in_records)
            }
        };
        if highest.is_some_and(|h| doc.seq <= h) {
            // Not past every stored record (no ingest writes one so; a
            // replaced record, say): into the block where its seq belongs.
            self.close()?;
            self.place(doc)?;
            self.highest = Some(highest);
            return Ok(());
        }
        let open = &mut self.open;
        let before = open.bytes.len();
        block::push(&mut open.bytes, doc.seq, doc);
        if open.records > 0 && open.bytes.len() > block::BUDGET {
            // It does not fit: the block is written as it was, and the
            // record opens the next.
            open.bytes.truncate(before);
            self.close()?;
            block::push(&mut self.open.bytes, doc.seq, doc);
        }
        let open = &mut self.open;
        if open.records == 0 {
            open.key = doc.seq;
        }
        open.records += 1;
        self.packed += 1;
        self.highest = Some(Some(doc.seq));
        Ok(())
    }

    /// Writes the open block, if it holds any record.
    fn close(&mut self) -> Result<(), StoreError> {
        if self.open.records > 0 {
            self.blocks
                .insert(self.open.key, self.open.bytes.as_slice())
                .map_err(engine_err)?;
            self.open.records = 0;
            self.open.bytes.clear();
        }
        Ok(())
    }

    /// Puts a record into the block its seq belongs in, or in place of a
    /// record of an earlier release's table.
    fn place(&mut self, doc: &StoredDocument) -> Result<(), StoreError> {
        let bytes = doc.encode_to_vec();
        if self.records.get(doc.seq).map_err(engine_err)?.is_some() {
            self.records
                .insert(doc.seq, bytes.as_slice())
                .map_err(engine_err)?;
            return Ok(());
        }
        let (key, block, replaced) = match block_of(&self.blocks, doc.seq)? {
            Some((key, old)) => {
                let (block, replaced) = block::with(&old, doc.seq, &bytes)
                    .map_err(|_| StoreError::CorruptBlock { key })?;
                (key, block, replaced)
            }
            None => {
                let mut block = Vec::new();
                block::push(&mut block, doc.seq, doc);
                (doc.seq, block, false)
            }
        };
        self.blocks
            .insert(key, block.as_slice())
            .map_err(engine_err)?;
        self.packed += u64::from(!replaced);
        Ok(())
    }

    /// Removes the record of `seq`, wherever it is (none: nothing to do).
    fn remove(&mut self, seq: u64) -> Result<(), StoreError> {
        let open = &mut self.open;
        if open.records > 0 && seq >= open.key {
            if let Some(rest) = block::without(&open.bytes, seq)
                .map_err(|_| StoreError::CorruptBlock { key: open.key })?
            {
                open.bytes = rest;
                open.records -= 1;
                self.packed -= 1;
            }
            return Ok(());
        }
        if let Some((key, old)) = block_of(&self.blocks, seq)? {
            let rest = block::without(&old, seq).map_err(|_| StoreError::CorruptBlock { key })?;
            if let Some(rest) = rest {
                if rest.is_empty() {
                    self.blocks.remove(key).map_err(engine_err)?;
                } else {
                    self.blocks
                        .insert(key, rest.as_slice())
                        .map_err(engine_err)?;
                }
                self.packed = self.packed.saturating_sub(1);
                return Ok(());
            }
        }
        self.records.remove(seq).map_err(engine_err)?;
        Ok(())
    }
}

/// Reads records by `seq` in one read transaction, keeping the last block
/// read (a sorted run of lookups reads each block once).
struct Reader {
    blocks: redb::ReadOnlyTable<u64, &'static [u8]>,
    records: redb::ReadOnlyTable<u64, &'static [u8]>,
    /// The last block read: its key, highest seq and bytes.
    cached: Option<(u64, u64, Vec<u8>)>,
}

impl Reader {
    fn new(txn: &redb::ReadTransaction) -> Result<Reader, StoreError> {
        Ok(Reader {
            blocks: txn.open_table(BLOCKS).map_err(engine_err)?,
            records: txn.open_table(DOCUMENTS).map_err(engine_err)?,
            cached: None,
        })
    }

    fn get(&mut self, seq: u64) -> Result<Option<StoredDocument>, StoreError> {
        let covered = self
            .cached
            .as_ref()
            .is_some_and(|(key, last, _)| (*key..=*last).contains(&seq));
        if !covered {
            self.cached = match block_of(&self.blocks, seq)? {
                Some((key, bytes)) => {
                    let last = block::last_seq(&bytes)
                        .map_err(|_| StoreError::CorruptBlock { key })?
                        .unwrap_or(key);
                    Some((key, last, bytes))
                }
                None => None,
            };
        }
        if let Some((key, _, bytes)) = &self.cached {
            let found =
                block::find(bytes, seq).map_err(|_| StoreError::CorruptBlock { key: *key })?;
            if let Some(record) = found {
                return decode(seq, record).map(Some);
            }
        }
        match self.records.get(seq).map_err(engine_err)? {
            Some(v) => decode(seq, v.value()).map(Some),
            None => Ok(None),
        }
    }
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
        let seq = |round: u64, i: u64| 2 + 3 * round + i;
        let grouped = (0..5).find(|&round| {
            let before = store.generation().unwrap().generation;
            let tickets: Vec<Ticket> = (0..3)
                .map(|i| {
                    if i > 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    let id = format!("r{round}-{i}");
                    store
                        .submit_chunk(vec![put(&id, seq(round, i))], i < 2)
                        .unwrap()
                })
                .collect();
            for t in tickets {
                t.wait().unwrap();
            }
            store.generation().unwrap().generation == before + 1
        });
        let round = grouped.expect("every round took more than one commit");
        let last = store.get(seq(round, 2)).unwrap().unwrap();
        assert_eq!(last.id, format!("r{round}-2"));
    }

    fn doc(seq: u64, text: &str) -> StoredDocument {
        StoredDocument {
            id: format!("d{seq}"),
            seq,
            text: text.to_string(),
            ..Default::default()
        }
    }

    fn delete(seq: u64) -> Write {
        Write::Delete {
            id: format!("d{seq}"),
            seq,
        }
    }

    fn all(store: &Store) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        store
            .for_each_record(|d| out.push((d.seq, d.text)))
            .unwrap();
        out
    }

    fn block_keys(store: &Store) -> Vec<u64> {
        let txn = store.db.begin_read().unwrap();
        let blocks = txn.open_table(BLOCKS).unwrap();
        blocks
            .iter()
            .unwrap()
            .map(|r| r.unwrap().0.value())
            .collect()
    }

    #[test]
    fn a_commit_packs_its_records_and_a_removal_rewrites_their_block() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(dir.path())).unwrap();
        // Records of about 1 KiB, and one past a block's budget.
        let text = |s: u64| match s {
            50 => format!("{s} {}", "y".repeat(block::BUDGET * 2)),
            _ => format!("{s} {}", "x".repeat(1000)),
        };
        let writes = (1..=100).map(|s| Write::Put(doc(s, &text(s))));
        commit(&store, writes.collect());
        let keys = block_keys(&store);
        {
            // Full blocks hold all the budget allows; the large record is
            // a block of its own, and the one after it opens the next.
            let txn = store.db.begin_read().unwrap();
            let blocks = txn.open_table(BLOCKS).unwrap();
            for (i, &key) in keys.iter().enumerate() {
                let b = blocks.get(key).unwrap().unwrap();
                let seqs: Vec<u64> = block::entries(b.value()).map(|e| e.unwrap().0).collect();
                assert_eq!(seqs[0], key);
                let next = keys.get(i + 1).copied().unwrap_or(101);
                assert_eq!(seqs, (key..next).collect::<Vec<_>>());
                if seqs.contains(&50) {
                    assert_eq!(seqs, [50]);
                } else {
                    assert!(b.value().len() <= block::BUDGET);
                    if next != 50 && next != 101 {
                        // Closed because the next record would not fit.
                        assert!(b.value().len() + 1030 > block::BUDGET, "{seqs:?}");
                    }
                }
            }
            assert!(keys.contains(&51));
        }
        for s in 0..=101 {
            let got = store.get(s).unwrap().map(|d| d.text);
            assert_eq!(got, (1..=100).contains(&s).then(|| text(s)));
        }
        // The first and last records of a block, a whole block (the
        // large one), and one that is not there.
        let (first, last) = (keys[1], keys[2] - 1);
        let gone = [first, last, 50, 500];
        commit(&store, gone.iter().map(|&s| delete(s)).collect());
        let after: Vec<u64> = keys.iter().copied().filter(|&k| k != 50).collect();
        assert_eq!(block_keys(&store), after);
        assert!(store.get(first).unwrap().is_none());
        assert_eq!(store.get(first + 1).unwrap().unwrap().text, text(first + 1));
        let left: Vec<u64> = (1..=100).filter(|s| !gone.contains(s)).collect();
        assert_eq!(all(&store).iter().map(|r| r.0).collect::<Vec<_>>(), left);
        assert_eq!(store.documents().unwrap(), left.len());
        // A record put under a seq below the highest (no ingest does) goes
        // into the block its seq belongs in; one of a seq stored replaces it.
        commit(
            &store,
            vec![Write::Put(doc(first, "back")), Write::Put(doc(40, "again"))],
        );
        assert_eq!(block_keys(&store), after);
        assert_eq!(store.get(first).unwrap().unwrap().text, "back");
        assert_eq!(store.get(40).unwrap().unwrap().text, "again");
        assert_eq!(store.documents().unwrap(), left.len() + 1);
        drop(store);
        let store = Store::open(Some(dir.path())).unwrap();
        assert_eq!(store.documents().unwrap(), left.len() + 1);
        assert_eq!(store.get(99).unwrap().unwrap().text, text(99));
    }

    #[test]
    fn records_of_an_earlier_release_are_read_and_removed_in_place() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(Some(dir.path())).unwrap();
            // What the release before blocks wrote: a row per record.
            let txn = store.db.begin_write().unwrap();
            {
                let mut records = txn.open_table(DOCUMENTS).unwrap();
                for s in [1, 2, 3, 5] {
                    let bytes = doc(s, "old").encode_to_vec();
                    records.insert(s, bytes.as_slice()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let store = Store::open(Some(dir.path())).unwrap();
        assert_eq!(store.documents().unwrap(), 4);
        commit(
            &store,
            vec![
                Write::Put(doc(6, "new")),
                delete(2),
                Write::Put(doc(7, "new")),
            ],
        );
        // Below every stored seq, between two old ones, and in place of one.
        commit(
            &store,
            vec![
                Write::Put(doc(0, "low")),
                Write::Put(doc(4, "mid")),
                Write::Put(doc(3, "redone")),
            ],
        );
        let expected = [
            (0, "low"),
            (1, "old"),
            (3, "redone"),
            (4, "mid"),
            (5, "old"),
            (6, "new"),
            (7, "new"),
        ];
        let expected: Vec<(u64, String)> =
            expected.iter().map(|&(s, t)| (s, t.to_string())).collect();
        assert_eq!(all(&store), expected);
        assert_eq!(store.documents().unwrap(), expected.len());
        for (s, t) in &expected {
            assert_eq!(&store.get(*s).unwrap().unwrap().text, t);
        }
        assert!(store.get(2).unwrap().is_none());
        commit(&store, vec![delete(1), delete(0), delete(6)]);
        assert_eq!(store.documents().unwrap(), expected.len() - 3);
        assert_eq!(
            all(&store).iter().map(|r| r.0).collect::<Vec<_>>(),
            [3, 4, 5, 7]
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// A record past every other, of this many bytes of text.
        Fresh(usize),
        /// Removes the stored record at this position (modulo their count).
        Remove(usize),
        /// Puts again a stored or removed seq (at this position among all
        /// seqs ever written).
        Again(usize),
        /// Ends the commit.
        Commit,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            6 => (0usize..3000).prop_map(Op::Fresh),
            1 => (15_000usize..20_000).prop_map(Op::Fresh),
            2 => any::<usize>().prop_map(Op::Remove),
            1 => any::<usize>().prop_map(Op::Again),
            1 => Just(Op::Commit),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Whatever the writes and however they fall into commits and
        /// blocks, the store reads back what a map of seq to record holds.
        #[test]
        fn the_blocks_read_back_as_a_map_of_records(ops in proptest::collection::vec(op(), 1..200)) {
            let store = Store::open(None).unwrap();
            let mut model = std::collections::BTreeMap::new();
            let mut ever: Vec<u64> = Vec::new();
            let mut writes = Vec::new();
            let mut next = 1u64;
            for op in ops.iter().cloned().chain([Op::Commit]) {
                match op {
                    Op::Fresh(len) => {
                        let text = "x".repeat(len) + &next.to_string();
                        model.insert(next, text.clone());
                        writes.push(Write::Put(doc(next, &text)));
                        ever.push(next);
                        next += 1;
                    }
                    Op::Remove(i) if !model.is_empty() => {
                        let seq = *model.keys().nth(i % model.len()).unwrap();
                        model.remove(&seq);
                        writes.push(delete(seq));
                    }
                    Op::Again(i) if !ever.is_empty() => {
                        let seq = ever[i % ever.len()];
                        let text = format!("again {seq} {i}");
                        model.insert(seq, text.clone());
                        writes.push(Write::Put(doc(seq, &text)));
                    }
                    Op::Commit => commit(&store, std::mem::take(&mut writes)),
                    _ => {}
                }
            }
            let expected: Vec<(u64, String)> = model.clone().into_iter().collect();
            proptest::prop_assert_eq!(all(&store), expected);
            proptest::prop_assert_eq!(store.documents().unwrap(), model.len());
            for seq in 0..next + 1 {
                let got = store.get(seq).unwrap().map(|d| d.text);
                proptest::prop_assert_eq!(got.as_ref(), model.get(&seq));
            }
        }
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
        let delete = |id: &str, seq| Write::Delete { id: id.into(), seq };
        commit(&store, vec![put("c", 3), delete("a", 1)]);
        // A new version of c replaces the old.
        commit(&store, vec![delete("c", 3), put("c", 4)]);
        let now = store.generation().unwrap().generation;
        assert_eq!(now, after_first + 2);
        assert_eq!(store.documents().unwrap(), 2);
        assert!(store.get(1).unwrap().is_none());
        assert!(store.get(3).unwrap().is_none());
        assert_eq!(store.get(4).unwrap().unwrap().id, "c");

        let since = |g| store.written_since(g).unwrap();
        let gone = |id: &str| Change::Delete { id: id.into() };
        let at = |id: &str, seq| Change::Put { id: id.into(), seq };
        assert_eq!(since(now), Some(vec![]));
        // Each id once, at its last write.
        assert_eq!(since(after_first), Some(vec![gone("a"), at("c", 4)]));
        assert_eq!(since(0), Some(vec![at("b", 2), gone("a"), at("c", 4)]));
        // A generation the store has not reached.
        assert_eq!(since(now + 1), None);

        let mut seen = Vec::new();
        store
            .for_each_of(&since(0).unwrap(), |id, doc| {
                seen.push((id.to_string(), doc.map(|d| d.seq)))
            })
            .unwrap();
        seen.sort();
        let expected = [("a", None), ("b", Some(2)), ("c", Some(4))];
        let expected: Vec<_> = expected.iter().map(|&(i, s)| (i.to_string(), s)).collect();
        assert_eq!(seen, expected);

        // Two writes in the first commit, one in the second.
        assert_eq!(store.trim_journal(after_first + 1).unwrap(), 4);
        assert_eq!(since(0), None, "trimmed commits are missing");
        assert_eq!(
            since(after_first + 1),
            Some(vec![gone("c"), at("c", 4)][1..].to_vec())
        );
    }

    #[test]
    fn a_journal_that_names_another_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(dir.path())).unwrap();
        commit(&store, vec![put("a", 1)]);
        let wrong = [Change::Put {
            id: "b".into(),
            seq: 1,
        }];
        let err = store.for_each_of(&wrong, |_, _| {}).unwrap_err();
        assert!(matches!(err, StoreError::JournalMismatch { .. }), "{err}");
        let missing = [Change::Put {
            id: "a".into(),
            seq: 7,
        }];
        assert!(store.for_each_of(&missing, |_, _| {}).is_err());
    }

    #[test]
    fn records_keyed_by_id_are_moved_under_their_seq() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(Some(dir.path())).unwrap();
            // What an earlier release wrote: records by id, one pair of
            // them (which no release wrote) under one seq.
            let txn = store.db.begin_write().unwrap();
            {
                let mut old = txn.open_table(ID_KEYED).unwrap();
                for (id, seq) in [("zeta", 1), ("alpha", 2), ("mid", 5), ("twin", 5)] {
                    let doc = StoredDocument {
                        id: id.into(),
                        seq,
                        text: format!("text of {id}"),
                        ..Default::default()
                    };
                    old.insert(id, doc.encode_to_vec().as_slice()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let store = Store::open(Some(dir.path())).unwrap();
        let mut records = Vec::new();
        store
            .for_each_record(|d| records.push((d.seq, d.id, d.text)))
            .unwrap();
        let ids: Vec<(u64, &str)> = records.iter().map(|(s, i, _)| (*s, i.as_str())).collect();
        // In seq order; of the pair, the one the other displaced moves on.
        assert_eq!(ids, [(1, "zeta"), (2, "alpha"), (5, "twin"), (6, "mid")]);
        assert_eq!(records[3].2, "text of mid");
        assert_eq!(store.get(6).unwrap().unwrap().seq, 6);
        let txn = store.db.begin_read().unwrap();
        assert!(matches!(
            txn.open_table(ID_KEYED),
            Err(redb::TableError::TableDoesNotExist(_))
        ));
    }

    #[test]
    fn journals_of_earlier_releases_are_dropped_and_leave_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(Some(dir.path())).unwrap();
            commit(&store, vec![put("a", 1)]);
            // What earlier releases wrote beside the commit: a row per id,
            // then a row of ids per commit.
            let txn = store.db.begin_write().unwrap();
            let rows: TableDefinition<(u64, u32), &str> = TableDefinition::new(OLD_JOURNALS[1]);
            txn.open_table(rows).unwrap().insert((1, 0), "a").unwrap();
            let ids: TableDefinition<u64, &[u8]> = TableDefinition::new(OLD_JOURNALS[0]);
            txn.open_table(ids)
                .unwrap()
                .insert(1, &b"\x01a"[..])
                .unwrap();
            txn.open_table(JOURNAL).unwrap().remove(1).unwrap();
            txn.commit().unwrap();
        }
        let store = Store::open(Some(dir.path())).unwrap();
        let txn = store.db.begin_read().unwrap();
        for old in OLD_JOURNALS {
            let table: TableDefinition<u64, &[u8]> = TableDefinition::new(old);
            assert!(matches!(
                txn.open_table(table),
                Err(redb::TableError::TableDoesNotExist(_))
            ));
        }
        assert_eq!(store.written_since(0).unwrap(), None);
        assert_eq!(store.written_since(1).unwrap(), Some(vec![]));
    }

    #[test]
    fn a_journal_row_round_trips_its_changes() {
        let mut row = Vec::new();
        let long = "x".repeat(300);
        let written = [
            ("a", 1, false),
            ("", 0, true),
            ("ünïcode id", u64::MAX >> 1, false),
        ];
        for (id, seq, deleted) in written.iter().copied().chain([(long.as_str(), 9, true)]) {
            encode_change(id, seq, deleted, &mut row);
        }
        let mut changes = Vec::new();
        decode_changes(&row, &mut changes).unwrap();
        assert_eq!(
            changes,
            [
                Change::Put {
                    id: "a".into(),
                    seq: 1
                },
                Change::Delete { id: "".into() },
                Change::Put {
                    id: "ünïcode id".into(),
                    seq: u64::MAX >> 1
                },
                Change::Delete { id: long },
            ]
        );
        assert_eq!(decode_changes(&row[..row.len() - 1], &mut Vec::new()), None);
        assert_eq!(count_changes(&row), 4);
        assert_eq!(count_changes(&row[..row.len() - 1]), 3);
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
        assert_eq!(
            store.written_since(2).unwrap(),
            Some(vec![Change::Put {
                id: "c".into(),
                seq: 3
            }])
        );
    }
}
