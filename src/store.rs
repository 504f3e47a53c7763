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
//! whether the store has moved on since it was written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use prost::Message;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use thiserror::Error;
use tracing::{debug, error};

use crate::proto::store::StoredDocument;

const DOCUMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("documents");
/// `STORE_ID` and `GENERATION`.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Random, set when the meta table is created: a snapshot names its store.
const STORE_ID: &str = "store_id";
/// Commits that changed documents, bumped in each group commit.
const GENERATION: &str = "generation";

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
type Job = (Vec<Write>, Ack);

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
        Store::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// As [`Store::open`], with the store's page cache capped at
    /// `cache_bytes`. The cache is resident memory, so its cap decides
    /// how much of the process grows with the corpus; pages beyond it are
    /// read back through the operating system's file cache.
    pub fn open_with_cache(dir: Option<&Path>, cache_bytes: usize) -> Result<Store, StoreError> {
        let (db, durable) = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                    path: dir.display().to_string(),
                    source,
                })?;
                (
                    Database::builder()
                        .set_cache_size(cache_bytes)
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
            let txn = db.begin_write().map_err(engine_err)?;
            txn.open_table(DOCUMENTS).map_err(engine_err)?;
            {
                let mut meta = txn.open_table(META).map_err(engine_err)?;
                if meta.get(STORE_ID).map_err(engine_err)?.is_none() {
                    meta.insert(STORE_ID, new_store_id()).map_err(engine_err)?;
                }
            }
            txn.commit().map_err(engine_err)?;
        }
        let (tx, rx) = mpsc::channel();
        let writer_db = db.clone();
        let failed = Arc::new(AtomicBool::new(false));
        let writer_failed = failed.clone();
        let writer = std::thread::Builder::new()
            .name("chaff-store".into())
            .spawn(move || writer_loop(&writer_db, rx, &writer_failed))
            .map_err(|e| engine_err(redb::Error::Io(e)))?;
        Ok(Store {
            db,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            durable,
            dir: dir.map(Path::to_path_buf),
            failed,
        })
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
        let (ack, rx) = mpsc::sync_channel(1);
        self.tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send((writes, ack))
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

/// Unpredictable enough to tell two stores apart; not a secret.
fn new_store_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let local = 0u8;
    let seed = format!("{nanos} {} {:p}", std::process::id(), &local);
    xxhash_rust::xxh3::xxh3_64(seed.as_bytes()).max(1)
}

fn writer_loop(db: &Database, rx: mpsc::Receiver<Job>, failed: &AtomicBool) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let result = commit(db, &group);
        if let Err(e) = &result {
            failed.store(true, Ordering::SeqCst);
            error!(error = %e, writes = group.len(), "group commit failed");
        } else {
            debug!(writes = group.len(), "group commit");
        }
        for (_, ack) in group {
            let _ = ack.send(result.clone().map_err(|e| e.to_string()));
        }
    }
}

fn commit(db: &Database, group: &[Job]) -> Result<(), String> {
    let run = || -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        {
            let mut table = txn.open_table(DOCUMENTS)?;
            let mut buf = Vec::new();
            for (writes, _) in group {
                for w in writes {
                    match w {
                        Write::Put(doc) => {
                            buf.clear();
                            doc.encode(&mut buf).expect("vec has capacity");
                            table.insert(doc.id.as_str(), buf.as_slice())?;
                        }
                        Write::Delete(id) => {
                            table.remove(id.as_str())?;
                        }
                    }
                }
            }
            let mut meta = txn.open_table(META)?;
            let generation = meta.get(GENERATION)?.map_or(0, |v| v.value());
            meta.insert(GENERATION, generation + 1)?;
        }
        txn.commit()?;
        Ok(())
    };
    run().map_err(|e| e.to_string())
}
