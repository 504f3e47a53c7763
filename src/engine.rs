//! The engine: one pipeline behind the gRPC server and the CLI.
//!
//! document -> segments -> normalised text -> fingerprints (no lock held)
//! -> index lookup -> cluster update -> classification (under the state
//! lock) -> durable record (group commit) -> acknowledgement.
//!
//! Calls block (they wait for the store's fsync); async callers run them on
//! a blocking thread.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use tracing::{debug, info, warn};

use crate::bulk::BulkPool;
use crate::classify::{self, classify, lone_quotes_are_editorial, Label, MatchKind, Signals};
use crate::cluster::{Cluster, ClusterId, ClusterView, Clusters, DocIdx, Member, SourceIdx};
use crate::config::{EngineConfig, Limits};
use crate::doc_ids::DocIds;
use crate::document::{Document, Prepared};
use crate::error::{Error, Result};
use crate::fingerprint::{
    fingerprint, Fingerprint, Sketch, BANDS, MIN_NEAR_TOKENS, SKETCH_LEN, SKETCH_VERSION,
};
use crate::index::{SegmentIndex, SketchIndex, MAX_BUCKET};
use crate::labels::{
    ClusterInfo, ClusterPage, ClusterQuery, DocumentLabels, MemoryUse, Occurrence, SegmentLabel,
    SourceCount, Stats, Summary,
};
use crate::layout;
use crate::normalize::{normalize, Normalized};
use crate::pattern::{self, DocPatterns, Patterns};
use crate::proto::store::{StoredDocument, StoredSegment};
use crate::segment::{split_paragraphs, split_text, Span};
use crate::snapshot::{self, SnapshotError};
use crate::store::{Change, Generation, Store, StoreError, StoreOptions, Ticket, Write};
use crate::structure::{self, SegmentShape};
use crate::time::{self, Micros};

/// Default and largest page of `list_clusters`.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Documents of a batch applied under one hold of the state lock.
pub const APPLY_CHUNK: usize = 32;

pub struct Engine {
    config: EngineConfig,
    state: RwLock<State>,
    store: Store,
    /// Analyses batches; started on the first batch.
    bulk: OnceLock<BulkPool>,
    options: OpenOptions,
    restored: Restored,
    /// The store generation of the usable snapshot on disk, if any: the
    /// one loaded at open or written since. It is of the state as it is
    /// when the store is still at that generation.
    snapshot_on_disk: Mutex<Option<u64>>,
    closed: AtomicBool,
}

/// [`Engine::close`] leaves the snapshot on disk as it is while the
/// documents written since it are fewer than one in this many of the
/// state's: re-applying them at the next open (about 10 µs each) costs
/// less than writing the whole state again (about 1 µs per document, 12 s
/// at ten million), which a pipeline that runs `chaff ingest` on each new
/// batch would otherwise pay on every run.
pub const CLOSE_SNAPSHOT_JOURNAL_SHARE: u64 = 50;

/// How the engine opens its data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Page cache of the store, bytes.
    pub cache_bytes: usize,
    /// Load the state from a snapshot (plus the documents written since,
    /// from the store's journal), and write one on [`Engine::close`] and
    /// [`Engine::checkpoint`].
    pub snapshots: bool,
    /// Save the store's allocator state with every commit, so that an open
    /// after a crash need not rebuild it ([`StoreOptions::quick_repair`]).
    pub quick_repair: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            cache_bytes: crate::store::DEFAULT_CACHE_BYTES,
            snapshots: true,
            quick_repair: true,
        }
    }
}

/// How the in-memory state was rebuilt on open, for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    pub from: RestoredFrom,
    pub elapsed_ms: u64,
    /// Stored documents re-applied: all of them in a replay; those written
    /// since the snapshot otherwise (after a crash, or a close that kept
    /// the snapshot, see [`CLOSE_SNAPSHOT_JOURNAL_SHARE`]).
    pub replayed: u64,
    /// The store was not closed cleanly and had to walk its file first.
    pub store_repaired: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoredFrom {
    /// Read from a snapshot of the state.
    Snapshot,
    /// Every stored document re-applied.
    Replay,
}

impl RestoredFrom {
    pub fn as_str(self) -> &'static str {
        match self {
            RestoredFrom::Snapshot => "snapshot",
            RestoredFrom::Replay => "replay",
        }
    }
}

/// A document after the lock-free steps of the pipeline.
struct Analysis {
    doc: Prepared,
    spans: Vec<Span>,
    fingerprints: Vec<Fingerprint>,
    layout: Vec<layout::Flags>,
    /// Quantized page priors (`structure::quantize`); 0 where no model
    /// reads them (a document of one segment).
    priors: Vec<i16>,
    /// Every segment's page features, with [`Depth::Evidence`] only.
    features: Vec<structure::Features>,
    patterns: DocPatterns,
}

/// How much of the page analysis is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// What labels read.
    Labels,
    /// Every segment's page features and prior as well, for fitting the
    /// model ([`Engine::page_evidence`]).
    Evidence,
}

/// One segment's page features (see [`Engine::page_evidence`]).
#[derive(Debug, Clone)]
pub struct PageEvidence {
    pub start: u32,
    pub end: u32,
    /// `layout` flags.
    pub layout: layout::Flags,
    pub features: structure::Features,
    /// The page prior as labels read it (stored quantized).
    pub prior: f32,
}

/// What labelling needs of an indexed segment, kept small: one lives in
/// memory for every segment ever indexed (32 bytes). The index keeps what
/// it needs to forget the segment by its exact hash; the rest of the
/// fingerprint is in the store.
#[derive(Debug, Clone)]
struct SegmentRecord {
    exact: u64,
    span: Span,
    /// Cluster ids stay below 2^32 (one per distinct text at most).
    cluster: u32,
    /// Saturated; classification only compares it with small thresholds.
    tokens: u16,
    prior: i16,
    matched: MatchKind,
    /// Sketch positions that disagree (at most 32).
    distance: u8,
    layout: layout::Flags,
}

/// One live document, as labels need it: a record for every document
/// ever indexed stays in memory, so it is kept small (72 bytes and one
/// heap block for a document of one segment).
#[derive(Debug)]
struct DocRecord {
    /// The id, then the url: one allocation for both. A url equal to the
    /// id (a crawl's documents, as often as not) is not repeated.
    names: Box<str>,
    /// The id's length, and [`URL_IS_ID`].
    id_len: u32,
    source: SourceIdx,
    published_at: Micros,
    seq: u64,
    segments: Segments,
}

/// A document's segment records; a lone one inline (most documents of a
/// firehose of short texts have one), more on the heap.
#[derive(Debug)]
enum Segments {
    One(SegmentRecord),
    Many(Box<[SegmentRecord]>),
}

impl From<Vec<SegmentRecord>> for Segments {
    fn from(mut v: Vec<SegmentRecord>) -> Segments {
        match v.len() {
            1 => Segments::One(v.pop().expect("one record")),
            _ => Segments::Many(v.into_boxed_slice()),
        }
    }
}

/// Set in [`DocRecord::id_len`] when the url is the id.
const URL_IS_ID: u32 = 1 << 31;

impl DocRecord {
    fn new(
        id: &str,
        url: &str,
        source: SourceIdx,
        published_at: Micros,
        seq: u64,
        segments: Vec<SegmentRecord>,
    ) -> DocRecord {
        let id_len = u32::try_from(id.len())
            .ok()
            .filter(|&n| n < URL_IS_ID)
            .expect("ids are shorter than the document limit");
        let (names, id_len) = if url == id {
            (id.into(), id_len | URL_IS_ID)
        } else {
            ([id, url].concat().into_boxed_str(), id_len)
        };
        DocRecord {
            names,
            id_len,
            source,
            published_at,
            seq,
            segments: segments.into(),
        }
    }

    fn id(&self) -> &str {
        &self.names[..(self.id_len & !URL_IS_ID) as usize]
    }

    fn url(&self) -> &str {
        if self.id_len & URL_IS_ID != 0 {
            &self.names
        } else {
            &self.names[self.id_len as usize..]
        }
    }

    fn segments(&self) -> &[SegmentRecord] {
        match &self.segments {
            Segments::One(s) => std::slice::from_ref(s),
            Segments::Many(v) => v,
        }
    }

    /// Heap bytes beyond the record itself.
    fn heap_bytes(&self) -> usize {
        self.names.len()
            + match &self.segments {
                Segments::One(_) => 0,
                Segments::Many(v) => std::mem::size_of_val(&**v),
            }
    }
}

impl SegmentRecord {
    fn new(span: Span, fp: &Fingerprint, cluster: ClusterId, found: (MatchKind, u32)) -> Self {
        SegmentRecord {
            exact: fp.exact,
            span,
            cluster: u32::try_from(cluster).expect("cluster ids fit in 32 bits"),
            tokens: fp.tokens.min(u32::from(u16::MAX)) as u16,
            prior: 0,
            matched: found.0,
            distance: found.1.min(u32::from(u8::MAX)) as u8,
            layout: 0,
        }
    }

    fn cluster(&self) -> ClusterId {
        ClusterId::from(self.cluster)
    }
}

/// Stored documents decoded into the compact form (read in key order),
/// waiting to be applied in ingest order.
#[derive(Default)]
struct Decoded {
    /// Each document, its patterns and where its fingerprints start.
    records: Vec<(DocRecord, DocPatterns, usize)>,
    fps: Vec<Fingerprint>,
}

/// A state as [`State::open`] rebuilt it.
struct Opened {
    state: State,
    from: RestoredFrom,
    replayed: u64,
    /// The generation of the snapshot the state was read from.
    snapshot: Option<u64>,
}

struct State {
    index: Box<dyn SegmentIndex>,
    clusters: Clusters,
    /// By `DocIdx`; `None` once deleted or replaced.
    docs: Vec<Option<DocRecord>>,
    ids: DocIds,
    sources: Vec<String>,
    source_ids: HashMap<String, SourceIdx>,
    /// Live documents per source.
    source_docs: Vec<u64>,
    seq: u64,
    segments: u64,
    /// Line heads, headlines and figures (`pattern`).
    patterns: Patterns,
}

/// A batch analysed by [`Engine::analyze_batch`], waiting to be applied.
pub struct Analyzed(Vec<Result<Analysis>>);

/// A batch applied by [`Engine::apply_batch`], waiting for its commit.
pub struct Applied {
    results: Vec<Result<DocumentLabels>>,
    /// Each document applied.
    applied: Vec<AppliedDoc>,
    /// Each chunk's ticket and the end of its documents in `applied`.
    tickets: Vec<(Result<Ticket, StoreError>, usize)>,
}

/// A document of an applied batch, for rolling it back.
struct AppliedDoc {
    id: String,
    seq: u64,
    /// The `seq` of the version it replaced.
    replaced: Option<u64>,
    /// Its index in the batch's results.
    result: usize,
}

/// The second part of a snapshot, read beside the first.
struct Indexes {
    /// Document slots the patterns were written for.
    documents: usize,
    index: Box<dyn SegmentIndex>,
    patterns: Patterns,
}

thread_local! {
    /// The analysing thread's normalisation buffers, kept from one
    /// document to the next rather than grown anew for each.
    static NORMALIZED: std::cell::RefCell<Normalized> = std::cell::RefCell::default();
}

/// Marks a document that is not (yet) in the index, for dry runs.
const OUTSIDER: DocIdx = DocIdx::MAX;
const UNKNOWN_SOURCE: SourceIdx = SourceIdx::MAX;

impl Engine {
    /// Opens the store (`None`: in memory only) and rebuilds the state from
    /// it, or reads it from the snapshot when that is current (`snapshot`).
    pub fn open(config: EngineConfig, data_dir: Option<&Path>) -> Result<Engine> {
        Engine::open_with(config, data_dir, OpenOptions::default())
    }

    /// As [`Engine::open`], with every option.
    pub fn open_with(
        config: EngineConfig,
        data_dir: Option<&Path>,
        options: OpenOptions,
    ) -> Result<Engine> {
        let started = Instant::now();
        let store = Store::open_with(
            data_dir,
            StoreOptions {
                cache_bytes: options.cache_bytes,
                // In memory there is no snapshot for a journal to lead on
                // from: it would only grow.
                journal: options.snapshots && data_dir.is_some(),
                quick_repair: options.quick_repair,
            },
        )?;
        // After a crash the store checks and repairs its file first.
        let store_ms = started.elapsed().as_millis() as u64;
        let opened = State::open(&store, options.snapshots)?;
        let state = opened.state;
        let restored = Restored {
            from: opened.from,
            elapsed_ms: started.elapsed().as_millis() as u64,
            replayed: opened.replayed,
            store_repaired: store.repaired(),
        };
        info!(
            documents = state.ids.len(),
            segments = state.segments,
            clusters = state.clusters.live(),
            restored_from = restored.from.as_str(),
            replayed = restored.replayed,
            elapsed_ms = restored.elapsed_ms,
            store_ms,
            store_repaired = restored.store_repaired,
            durable = store.is_durable(),
            "engine open"
        );
        Ok(Engine {
            config,
            state: RwLock::new(state),
            store,
            bulk: OnceLock::new(),
            options,
            restored,
            snapshot_on_disk: Mutex::new(opened.snapshot),
            closed: AtomicBool::new(false),
        })
    }

    /// How the state was rebuilt when the engine opened.
    pub fn restored(&self) -> Restored {
        self.restored
    }

    /// In memory, nothing durable: tests and one-off runs.
    pub fn ephemeral(config: EngineConfig) -> Result<Engine> {
        Engine::open(config, None)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Labels a document and adds it to the index; returns once durable.
    pub fn ingest(&self, doc: Document) -> Result<DocumentLabels> {
        self.ingest_batch(vec![doc])
            .pop()
            .expect("one result per document")
    }

    /// Ingests documents in order; each is labelled as it arrives (before
    /// the next one) and acknowledged once durable. The state lock is held
    /// for [`APPLY_CHUNK`] documents at a time, and handed to any caller
    /// waiting for it in between, so that a large batch does not make a
    /// single document wait for all of it; the chunks' writes are queued
    /// together and usually share one group commit.
    ///
    /// The three steps are also callable one by one ([`Engine::analyze_batch`],
    /// [`Engine::apply_batch`], [`Engine::finish_batch`]), so that a stream
    /// of batches can overlap them: the next batch analysed while this one
    /// is applied, this one's commit awaited while the next is applied.
    pub fn ingest_batch(&self, docs: Vec<Document>) -> Vec<Result<DocumentLabels>> {
        self.finish_batch(self.apply_batch(self.analyze_batch(docs)))
    }

    /// The lock-free step of an ingest: each document analysed on its own
    /// (on the bulk pool), nothing read from the state. Batches may be
    /// analysed in any order and at once.
    pub fn analyze_batch(&self, docs: Vec<Document>) -> Analyzed {
        Analyzed(self.analyze_all(docs, time::now()))
    }

    /// Applies analysed documents to the state, in order, and queues their
    /// writes to the store. Batches are applied in the order of these calls:
    /// a stream calls it for one batch at a time.
    pub fn apply_batch(&self, batch: Analyzed) -> Applied {
        let analyses = batch.0;
        let mut results = Vec::with_capacity(analyses.len());
        let mut writes = Vec::new();
        let mut applied = Vec::new();
        let mut tickets = Vec::new();
        {
            let mut state = self.write();
            let mut analyses = analyses.into_iter().peekable();
            while let Some(analysis) = analyses.next() {
                // The next document's table positions are fetched while
                // this one is applied.
                if let Some(Ok(next)) = analyses.peek() {
                    state.prefetch(next);
                }
                match analysis {
                    Ok(a) => {
                        let (labels, stored, replaced) = state.apply(a, &self.config);
                        applied.push(AppliedDoc {
                            id: stored.id.clone(),
                            seq: stored.seq,
                            replaced,
                            result: results.len(),
                        });
                        if let Some(seq) = replaced {
                            let id = stored.id.clone();
                            writes.push(Write::Delete { id, seq });
                        }
                        writes.push(Write::Put(stored));
                        results.push(Ok(labels));
                    }
                    Err(e) => results.push(Err(e)),
                }
                if writes.len() >= APPLY_CHUNK {
                    // Submitted under the lock so the store sees writes in
                    // state order; the store may wait for the batch's next
                    // chunk to commit them together.
                    let chunk = std::mem::take(&mut writes);
                    let more = analyses.peek().is_some();
                    tickets.push((self.store.submit_chunk(chunk, more), applied.len()));
                    RwLockWriteGuard::bump(&mut state);
                }
            }
            if !writes.is_empty() {
                tickets.push((self.store.submit(writes), applied.len()));
            }
        }
        Applied {
            results,
            applied,
            tickets,
        }
    }

    /// Waits until an applied batch is durable and returns its labels; a
    /// chunk whose commit failed is rolled back and its documents answer
    /// `UNAVAILABLE`.
    pub fn finish_batch(&self, batch: Applied) -> Vec<Result<DocumentLabels>> {
        let Applied {
            mut results,
            applied,
            tickets,
        } = batch;
        let mut start = 0;
        for (ticket, end) in tickets {
            if let Err(e) = ticket.and_then(|t| t.wait()) {
                let failed = &applied[start..end];
                warn!(error = %e, documents = failed.len(), "ingest not durable; rolling back");
                self.roll_back(failed);
                for doc in failed {
                    results[doc.result] = Err(Error::Unavailable(format!(
                        "store write failed, nothing acknowledged: {e}"
                    )));
                }
            }
            start = end;
        }
        results
    }

    /// Dry-runs analysed documents against the state as it is (the read
    /// lock taken per document, so writers wait for one at most).
    pub fn dry_run_analyzed(&self, batch: Analyzed) -> Vec<Result<DocumentLabels>> {
        batch
            .0
            .into_iter()
            .map(|a| Ok(self.read().dry_run(&a?, &self.config)))
            .collect()
    }

    /// Labels a document against the index without changing it.
    pub fn dry_run(&self, doc: Document) -> Result<DocumentLabels> {
        let a = self.analyze(doc, time::now())?;
        let state = self.read();
        Ok(state.dry_run(&a, &self.config))
    }

    /// Dry-runs documents as bulk work (see [`Engine::ingest_batch`]); the
    /// read lock is taken per document, so writers wait for one at most.
    pub fn dry_run_batch(&self, docs: Vec<Document>) -> Vec<Result<DocumentLabels>> {
        self.dry_run_analyzed(self.analyze_batch(docs))
    }

    /// What the page alone shows about each segment of `doc`, as the
    /// segment model sees it (for fitting the model on labelled data); no
    /// state is read or changed.
    pub fn page_evidence(&self, doc: Document) -> Result<Vec<PageEvidence>> {
        let a = Engine::analyze_with(&self.config.limits, doc, time::now(), Depth::Evidence)?;
        Ok(a.spans
            .iter()
            .zip(&a.layout)
            .zip(&a.priors)
            .zip(a.features)
            .map(|(((s, &layout), &prior), features)| PageEvidence {
                start: s.start,
                end: s.end,
                layout,
                features,
                prior: structure::dequantize(prior),
            })
            .collect())
    }

    /// A stored document labelled against the current index, and its text
    /// when asked for.
    pub fn document(&self, id: &str, with_text: bool) -> Result<(DocumentLabels, Option<String>)> {
        let (labels, seq) = {
            let state = self.read();
            let idx = state.lookup(id)?;
            (state.relabel(idx, &self.config), state.doc(idx).seq)
        };
        let text = if with_text {
            let stored = self.store.get(seq)?.ok_or_else(|| {
                Error::NotFound(format!("document {id:?} was deleted or replaced meanwhile"))
            })?;
            Some(stored.text)
        } else {
            None
        };
        Ok((labels, text))
    }

    /// Takedown: removes the document and its contribution to every cluster.
    /// Returns the number of segments removed.
    pub fn delete(&self, id: &str) -> Result<u32> {
        let (segments, ticket) = {
            let mut state = self.write();
            let idx = state.lookup(id)?;
            let delete = Write::Delete {
                id: state.doc(idx).id().to_string(),
                seq: state.doc(idx).seq,
            };
            let segments = state.remove(idx);
            (segments, self.store.submit(vec![delete]))
        };
        ticket?.wait()?;
        Ok(segments)
    }

    pub fn cluster(&self, id: ClusterId) -> Result<ClusterInfo> {
        let (info, rep) = {
            let state = self.read();
            let c = state
                .clusters
                .get(id)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| Error::NotFound(format!("cluster {id} does not exist")))?;
            (
                state.cluster_info(id, c, None, &self.config),
                state.representative(id, c),
            )
        };
        Ok(self.with_representative(info, rep))
    }

    pub fn list_clusters(&self, q: &ClusterQuery) -> Result<ClusterPage> {
        let page_size = match q.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        } as usize;
        let after = q.page_token.as_deref().map(parse_page_token).transpose()?;
        let threshold = self.config.policy.boilerplate_min_documents;
        let (page, more) = {
            let state = self.read();
            let source = match &q.source {
                Some(s) => match state.source_ids.get(&s.to_lowercase()) {
                    Some(&idx) => Some(idx),
                    None => {
                        return Ok(ClusterPage {
                            clusters: vec![],
                            next_page_token: None,
                        })
                    }
                },
                None => None,
            };
            let mut hits: Vec<(u32, ClusterId)> = state
                .clusters
                .iter()
                .filter_map(|(id, c)| {
                    let docs = source.map_or(c.documents(), |s| c.source_documents(s));
                    let label = cluster_label(c, source, threshold);
                    let keep = docs > 0
                        && docs >= q.min_documents
                        && q.label.is_none_or(|l| l == label)
                        && after.is_none_or(|a| {
                            (std::cmp::Reverse(docs), id) > (std::cmp::Reverse(a.0), a.1)
                        });
                    keep.then_some((docs, id))
                })
                .collect();
            hits.sort_by_key(|&(docs, id)| (std::cmp::Reverse(docs), id));
            let more = hits.len() > page_size;
            hits.truncate(page_size);
            let page: Vec<_> = hits
                .iter()
                .map(|&(_, id)| {
                    let c = state.clusters.get(id).expect("listed cluster exists");
                    (
                        state.cluster_info(id, c, source, &self.config),
                        state.representative(id, c),
                    )
                })
                .collect();
            (page, more)
        };
        let next_page_token = more
            .then(|| {
                page.last()
                    .map(|(c, _)| format!("{}:{}", c.documents, c.id))
            })
            .flatten();
        let clusters = page
            .into_iter()
            .map(|(info, rep)| self.with_representative(info, rep))
            .collect();
        Ok(ClusterPage {
            clusters,
            next_page_token,
        })
    }

    pub fn stats(&self) -> Stats {
        let state = self.read();
        let threshold = self.config.policy.boilerplate_min_documents;
        Stats {
            documents: state.ids.len() as u64,
            segments: state.segments,
            clusters: state.clusters.live() as u64,
            sources: state.source_docs.iter().filter(|&&n| n > 0).count() as u64,
            boilerplate_clusters: state
                .clusters
                .iter()
                .filter(|(_, c)| c.largest_source_documents() >= threshold)
                .count() as u64,
            indexed_fingerprints: state.index.len() as u64,
            resident_bytes: resident_bytes(),
            durable: self.store.is_durable(),
            restored_from: self.restored.from.as_str().to_string(),
            restore_ms: self.restored.elapsed_ms,
            restore_replayed: self.restored.replayed,
            store_repaired: self.restored.store_repaired,
            memory: state.memory(),
        }
    }

    /// Waits for pending writes, closes the store and writes a snapshot of
    /// the state for the next open, unless the snapshot on disk is recent
    /// enough (see [`CLOSE_SNAPSHOT_JOURNAL_SHARE`]). Later calls do
    /// nothing.
    pub fn close(&self) {
        // Every change to the state is queued to the store under this lock,
        // so once the queue is drained the two agree.
        let state = self.write();
        self.store.close();
        if self.closed.swap(true, Ordering::SeqCst) || !self.options.snapshots {
            return;
        }
        let state = RwLockWriteGuard::downgrade(state);
        if let Some(journal) = self.short_journal(state.ids.len() as u64) {
            info!(
                journal,
                documents = state.ids.len(),
                "snapshot on disk kept; the documents written since it are re-applied at the next open"
            );
            return;
        }
        self.save_snapshot(&state);
    }

    /// The documents written since the snapshot on disk, when they are few
    /// enough to leave it as it is.
    fn short_journal(&self, documents: u64) -> Option<u64> {
        let on_disk = *self
            .snapshot_on_disk
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let dir = self.store.dir()?;
        if self.store.had_failure() || !snapshot::path(dir).exists() {
            return None;
        }
        let written = self.store.written_since(on_disk?).ok()??.len() as u64;
        (written * CLOSE_SNAPSHOT_JOURNAL_SHARE < documents).then_some(written)
    }

    /// Writes a snapshot of the state now, so that a restart after a crash
    /// re-applies only what is written after it (the store's journal up to
    /// it is dropped). Ingests wait while it is written; reads do not.
    /// Does nothing without snapshots, in memory, after close, or when the
    /// snapshot on disk is already of this state.
    pub fn checkpoint(&self) -> Result<()> {
        if !self.options.snapshots || self.store.dir().is_none() {
            return Ok(());
        }
        let state = self.write();
        if self.closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Every change to the state is queued to the store under this
        // lock: once what is queued is committed, the two agree.
        self.store.submit(Vec::new())?.wait()?;
        let state = RwLockWriteGuard::downgrade(state);
        self.save_snapshot(&state);
        Ok(())
    }

    fn save_snapshot(&self, state: &State) {
        let Some(dir) = self.store.dir() else {
            return;
        };
        let mut on_disk = self
            .snapshot_on_disk
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if self.store.had_failure() {
            warn!("a commit failed since open; no snapshot written");
            snapshot::remove(dir);
            *on_disk = None;
            return;
        }
        let Some(index) = state.index.as_sketch() else {
            debug!("index kind has no snapshot");
            return;
        };
        let generation = match self.store.generation() {
            Ok(g) => g,
            Err(e) => {
                warn!(error = %e, "cannot read the store generation; no snapshot written");
                return;
            }
        };
        if *on_disk == Some(generation.generation) && snapshot::path(dir).exists() {
            debug!(generation = generation.generation, "snapshot still current");
            return;
        }
        let started = Instant::now();
        let documents = state.ids.len() as u64;
        let written = snapshot::save(dir, expect(generation, documents), |w| state.save(index, w));
        match written {
            Ok(bytes) => {
                *on_disk = Some(generation.generation);
                // Only now: an older snapshot must not find a complete
                // journal with writes missing.
                let trimmed = self.store.trim_journal(generation.generation);
                info!(
                    bytes,
                    documents,
                    generation = generation.generation,
                    journal_trimmed = trimmed.as_ref().map_or(0, |n| *n),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "snapshot written"
                );
                if let Err(e) = trimmed {
                    warn!(error = %e, "journal not trimmed; it is trimmed at the next snapshot");
                }
            }
            Err(e) => warn!(error = %e, "snapshot not written"),
        }
    }

    /// Analyses a batch on the bulk pool (all cores, lowered priority): the
    /// lock-free steps (HTML parsing most of all) are most of an ingest's
    /// cost. A single document is analysed on the caller's thread, at the
    /// caller's priority: that is an interactive call.
    fn analyze_all(&self, docs: Vec<Document>, now: Micros) -> Vec<Result<Analysis>> {
        let pool = if docs.len() < 2 {
            None
        } else {
            self.bulk_pool()
        };
        let Some(pool) = pool else {
            return docs.into_iter().map(|d| self.analyze(d, now)).collect();
        };
        let limits = self.config.limits;
        pool.map(docs, move |d| {
            Engine::analyze_with(&limits, d, now, Depth::Labels)
        })
    }

    fn bulk_pool(&self) -> Option<&BulkPool> {
        if let Some(p) = self.bulk.get() {
            return Some(p);
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        match BulkPool::new(threads, self.config.bulk_nice) {
            // A pool started by a concurrent caller wins; ours is dropped.
            Ok(p) => Some(self.bulk.get_or_init(|| p)),
            Err(e) => {
                warn!(error = %e, "cannot start the bulk pool; analysing on the caller's thread");
                None
            }
        }
    }

    fn analyze(&self, doc: Document, now: Micros) -> Result<Analysis> {
        Engine::analyze_with(&self.config.limits, doc, now, Depth::Labels)
    }

    /// The lock-free steps: validate, segment, normalise, fingerprint, and
    /// what the page alone shows.
    fn analyze_with(limits: &Limits, doc: Document, now: Micros, depth: Depth) -> Result<Analysis> {
        let doc = doc.prepare(limits, now)?;
        let spans = match &doc.paragraph_spans {
            Some(p) => split_paragraphs(&doc.text, p),
            None => split_text(&doc.text),
        };
        if spans.is_empty() {
            return Err(Error::invalid(format!(
                "document {:?} has no text: send `text` or non-empty `paragraphs`",
                doc.id
            )));
        }
        if spans.len() > limits.max_segments {
            return Err(Error::limit(format!(
                "document {:?} has {} segments; the limit is {} (split it or raise --max-segments)",
                doc.id,
                spans.len(),
                limits.max_segments
            )));
        }
        let fingerprints: Vec<Fingerprint> = NORMALIZED.with_borrow_mut(|norm| {
            spans
                .iter()
                .map(|s| {
                    normalize(s.text(&doc.text), norm);
                    fingerprint(norm)
                })
                .collect()
        });
        let layout = layout::layout(
            spans
                .iter()
                .zip(&fingerprints)
                .map(|(s, f)| (s.text(&doc.text), f.tokens)),
        );
        let mut doc = doc;
        let html = doc.html.take();
        let shapes: Vec<SegmentShape<'_>> = spans
            .iter()
            .zip(&fingerprints)
            .zip(&layout)
            .map(|((s, f), &l)| SegmentShape {
                text: s.text(&doc.text),
                tokens: f.tokens,
                layout: l,
            })
            .collect();
        let patterns = pattern::analyze(shapes.iter().map(|s| (s.text, s.tokens, s.layout)));
        // The page model informs only the final model, which a document of
        // one segment never consults (`Signals::lone`): such a document
        // needs the page's flags alone, unless its evidence is asked for.
        let (flags, features) = if spans.len() == 1 && depth == Depth::Labels {
            (structure::page_flags(&shapes, html.as_ref()), Vec::new())
        } else {
            let page = structure::page_features(&shapes, html.as_ref());
            (page.flags, page.features)
        };
        drop(shapes);
        let mut layout = layout;
        for (l, f) in layout.iter_mut().zip(&flags) {
            *l |= f;
        }
        // Blocks chaff cut from html: a page that renders one twice says
        // it once. Paragraphs a caller sent are left as sent.
        if doc.from_html {
            layout::mark_repeats_in_page(&mut layout, fingerprints.iter().map(|f| f.exact));
        }
        let priors = if features.is_empty() {
            vec![0; spans.len()]
        } else {
            features
                .iter()
                .map(|f| structure::quantize(structure::prior(f)))
                .collect()
        };
        let features = match depth {
            Depth::Labels => Vec::new(),
            Depth::Evidence => features,
        };
        Ok(Analysis {
            doc,
            spans,
            fingerprints,
            layout,
            priors,
            features,
            patterns,
        })
    }

    fn roll_back(&self, applied: &[AppliedDoc]) {
        let mut state = self.write();
        for doc in applied.iter().rev() {
            let Some(idx) = state.find_id(&doc.id) else {
                continue;
            };
            if state.docs[idx as usize]
                .as_ref()
                .is_some_and(|d| d.seq == doc.seq)
            {
                state.remove(idx);
            }
        }
        drop(state);
        // A failed replacement took the old version out of memory; the store
        // still has it, so put it back.
        for doc in applied {
            let Some(old_seq) = doc.replaced else {
                continue;
            };
            match self.store.get(old_seq) {
                Ok(Some(old)) => {
                    let mut state = self.write();
                    if state.find_id(&doc.id).is_none() {
                        state.restore(&old);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(error = %e, id = %doc.id, "cannot restore earlier version after failed write")
                }
            }
        }
    }

    fn with_representative(
        &self,
        mut info: ClusterInfo,
        rep: Option<(u64, u32, u32)>,
    ) -> ClusterInfo {
        if let Some((seq, start, end)) = rep {
            match self.store.get(seq) {
                Ok(Some(d)) => {
                    info.representative = d
                        .text
                        .get(start as usize..end as usize)
                        .unwrap_or_default()
                        .to_string();
                }
                Ok(None) => {}
                Err(e) => warn!(error = %e, cluster = info.id, "cannot read representative text"),
            }
        }
        info
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read()
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write()
    }
}

fn parse_page_token(t: &str) -> Result<(u32, ClusterId)> {
    let bad = || {
        Error::invalid(format!(
            "page token {t:?} is not one this server issued; start without a token"
        ))
    };
    let (d, c) = t.split_once(':').ok_or_else(bad)?;
    Ok((d.parse().map_err(|_| bad())?, c.parse().map_err(|_| bad())?))
}

/// The label a cluster's members get in `source` (or in its largest source).
fn cluster_label(c: &Cluster, source: Option<SourceIdx>, threshold: u32) -> Label {
    let repeats = source.map_or_else(|| c.largest_source_documents(), |s| c.source_documents(s));
    if repeats >= threshold {
        Label::Boilerplate
    } else if c.sources() > 1 {
        Label::Syndicated
    } else {
        Label::Editorial
    }
}

impl State {
    fn new() -> State {
        State {
            index: Box::new(SketchIndex::new()),
            clusters: Clusters::default(),
            docs: Vec::new(),
            ids: DocIds::default(),
            sources: Vec::new(),
            source_ids: HashMap::new(),
            source_docs: Vec::new(),
            seq: 0,
            segments: 0,
            patterns: Patterns::default(),
        }
    }

    /// Where the state's heap goes (see [`MemoryUse`]).
    fn memory(&self) -> MemoryUse {
        let records: usize = self.docs.iter().flatten().map(DocRecord::heap_bytes).sum();
        let sources: usize = self.sources.iter().map(String::capacity).sum::<usize>()
            + self.sources.len() * std::mem::size_of::<String>()
            + self.source_ids.capacity() * (std::mem::size_of::<(String, SourceIdx)>() + 1)
            + self.source_ids.keys().map(String::capacity).sum::<usize>()
            + self.source_docs.len() * std::mem::size_of::<u64>();
        let index = self.index.as_sketch().map_or(0, SketchIndex::heap_bytes);
        MemoryUse {
            index: index as u64,
            documents: (self.docs.len() * std::mem::size_of::<Option<DocRecord>>() + records)
                as u64,
            document_ids: self.ids.heap_bytes() as u64,
            clusters: self.clusters.heap_bytes() as u64,
            patterns: self.patterns.heap_bytes() as u64,
            sources: sources as u64,
        }
    }

    fn find_id(&self, id: &str) -> Option<DocIdx> {
        self.ids.get(id, id_of(&self.docs))
    }

    /// The state of `store`: from its snapshot (plus the documents
    /// written since) when there is a usable one and `snapshots`, else
    /// replayed.
    fn open(store: &Store, snapshots: bool) -> Result<Opened> {
        if let Some(dir) = store.dir() {
            if !snapshots {
                snapshot::remove(dir);
            } else {
                match State::from_snapshot(store, dir) {
                    Ok(opened) => return Ok(opened),
                    Err(SnapshotError::Missing) => debug!("no snapshot; replaying the store"),
                    Err(e) => {
                        warn!(reason = %e, "snapshot not used; replaying the store");
                        snapshot::remove(dir);
                    }
                }
            }
        }
        let state = State::load(store)?;
        Ok(Opened {
            replayed: state.ids.len() as u64,
            state,
            from: RestoredFrom::Replay,
            snapshot: None,
        })
    }

    /// Reads the snapshot in `dir` if it is of a generation of `store`
    /// that the store's journal leads on from, and re-applies the
    /// documents written since.
    fn from_snapshot(store: &Store, dir: &Path) -> Result<Opened, SnapshotError> {
        let journal_err = |e: crate::store::StoreError| {
            SnapshotError::invalid(format!("cannot read the store's journal: {e}"))
        };
        let generation = store.generation().map_err(journal_err)?;
        let documents = store.documents().map_err(journal_err)? as u64;
        let r = snapshot::open(dir, expect(generation, documents))?;
        let header = r.header();
        let written = if header.generation == generation.generation {
            Vec::new()
        } else {
            store
                .written_since(header.generation)
                .map_err(journal_err)?
                .ok_or(SnapshotError::Journal {
                    snapshot: header.generation,
                    store: generation.generation,
                })?
        };
        let second = r.second_part(dir)?;
        let mut state = State::load_snapshot(r, second)?;
        if state.ids.len() as u64 != header.documents {
            return Err(SnapshotError::invalid(
                "live documents disagree with the header",
            ));
        }
        let started = Instant::now();
        let replayed = state.reapply(store, &written).map_err(journal_err)?;
        if !written.is_empty() {
            info!(
                written = written.len(),
                replayed,
                snapshot_generation = header.generation,
                store_generation = generation.generation,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "re-applied the documents written after the snapshot"
            );
        }
        if state.ids.len() as u64 != documents {
            return Err(SnapshotError::Documents {
                snapshot: state.ids.len() as u64,
                store: documents,
            });
        }
        Ok(Opened {
            state,
            from: RestoredFrom::Snapshot,
            replayed,
            snapshot: Some(header.generation),
        })
    }

    /// Brings the state up to date with the store for the documents
    /// `written` since it was saved: each takes its stored version, or
    /// leaves the state when it is no longer stored. Returns the documents
    /// re-applied.
    fn reapply(
        &mut self,
        store: &Store,
        written: &[Change],
    ) -> Result<u64, crate::store::StoreError> {
        let mut decoded = Decoded::default();
        store.for_each_of(written, |id, stored| match stored {
            Some(d) => self.decode_into(&d, &mut decoded),
            None => {
                if let Some(idx) = self.find_id(id) {
                    self.remove(idx);
                }
            }
        })?;
        // After everything in the snapshot, whose documents are all older.
        Ok(self.apply_decoded(decoded))
    }

    /// Everything but the id and source lookup tables, which are rebuilt
    /// (hashing is cheap next to reading).
    fn save(&self, index: &SketchIndex, w: &mut snapshot::Writer) -> io::Result<()> {
        w.put(self.seq)?;
        w.put(self.segments)?;
        w.length(self.sources.len())?;
        for s in &self.sources {
            w.str(s)?;
        }
        w.slice(&self.source_docs)?;
        w.length(self.docs.len())?;
        for d in &self.docs {
            let Some(d) = d else {
                w.put(0u8)?;
                continue;
            };
            w.put(1u8)?;
            w.str(d.id())?;
            w.put(d.source)?;
            w.str(d.url())?;
            w.put(d.published_at)?;
            w.put(d.seq)?;
            w.length(d.segments().len())?;
            for s in d.segments() {
                w.put(s.exact)?;
                w.put(s.span.start)?;
                w.put(s.span.end)?;
                w.put(s.span.index)?;
                w.put(s.cluster)?;
                w.put(s.tokens)?;
                w.put(s.prior)?;
                w.put(s.matched.code())?;
                w.put(s.distance)?;
                w.put(s.layout)?;
            }
        }
        self.clusters.save(w)?;
        // The second part, read beside the first on restart.
        w.split()?;
        w.length(self.docs.len())?;
        index.save(w)?;
        self.patterns.save(w)
    }

    /// Reads the two parts of a snapshot's body at once: documents,
    /// sources and clusters from `first`, the index and the source patterns
    /// from `second` on a thread of its own.
    fn load_snapshot(
        first: snapshot::Reader,
        second: snapshot::Reader,
    ) -> Result<State, SnapshotError> {
        std::thread::scope(|scope| {
            let indexes = std::thread::Builder::new()
                .name("chaff-snapshot".into())
                .spawn_scoped(scope, move || State::load_indexes(second))
                .map_err(SnapshotError::Io)?;
            let state = State::load_records(first);
            let indexes = indexes
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let (mut state, indexes) = (state?, indexes?);
            if indexes.documents != state.docs.len() {
                return Err(SnapshotError::invalid(
                    "the patterns are of another number of documents",
                ));
            }
            state.index = indexes.index;
            state.patterns = indexes.patterns;
            Ok(state)
        })
    }

    /// The second part: the index and the patterns.
    fn load_indexes(mut r: snapshot::Reader) -> Result<Indexes, SnapshotError> {
        let t = Instant::now();
        let documents = r.length(0)?;
        let index = Box::new(SketchIndex::load(&mut r)?);
        let index_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let patterns = Patterns::load(&mut r, documents)?;
        r.finish()?;
        debug!(
            index_secs,
            patterns_secs = t.elapsed().as_secs_f64(),
            "snapshot index and patterns read"
        );
        Ok(Indexes {
            documents,
            index,
            patterns,
        })
    }

    /// The first part: documents, sources and clusters.
    fn load_records(mut r: snapshot::Reader) -> Result<State, SnapshotError> {
        let state = State::read_records(&mut r)?;
        r.finish()?;
        Ok(state)
    }

    fn read_records(r: &mut snapshot::Reader) -> Result<State, SnapshotError> {
        let mut state = State::new();
        state.seq = r.get()?;
        state.segments = r.get()?;
        let n = r.length(8)?;
        for _ in 0..n {
            let s = r.string()?;
            let idx = state.sources.len() as SourceIdx;
            if state.source_ids.insert(s.clone(), idx).is_some() {
                return Err(SnapshotError::invalid("a source twice"));
            }
            state.sources.push(s);
        }
        state.source_docs = r.vec()?;
        if state.source_docs.len() != state.sources.len() {
            return Err(SnapshotError::invalid(
                "source counts disagree with sources",
            ));
        }
        let t = Instant::now();
        let n = r.length(1)?;
        state.docs.reserve_exact(n);
        let mut live = 0;
        let mut segments = 0u64;
        for _ in 0..n {
            if r.get::<u8>()? == 0 {
                state.docs.push(None);
                continue;
            }
            let id = r.string()?;
            let source: SourceIdx = r.get()?;
            let url = r.string()?;
            let published_at = r.get()?;
            let seq = r.get()?;
            let k = r.length(32)?;
            let mut recs = Vec::with_capacity(k);
            for _ in 0..k {
                let exact = r.get()?;
                let span = Span {
                    start: r.get()?,
                    end: r.get()?,
                    index: r.get()?,
                };
                recs.push(SegmentRecord {
                    exact,
                    span,
                    cluster: r.get()?,
                    tokens: r.get()?,
                    prior: r.get()?,
                    matched: match_kind(r.get()?)?,
                    distance: r.get()?,
                    layout: r.get()?,
                });
            }
            if source as usize >= state.sources.len() {
                return Err(SnapshotError::invalid("document of an unknown source"));
            }
            live += 1;
            segments += k as u64;
            state.docs.push(Some(DocRecord::new(
                &id,
                &url,
                source,
                published_at,
                seq,
                recs,
            )));
        }
        if segments != state.segments {
            return Err(SnapshotError::invalid("segment count disagrees"));
        }
        let docs_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        state.ids.reserve(live);
        for (idx, d) in state.docs.iter().enumerate() {
            if let Some(d) = d {
                state.ids.insert(d.id(), idx as DocIdx);
            }
        }
        let ids_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        state.clusters = Clusters::load(r)?;
        debug!(
            docs_secs,
            ids_secs,
            clusters_secs = t.elapsed().as_secs_f64(),
            "snapshot documents and clusters read"
        );
        Ok(state)
    }

    /// Rebuilds the state from the store, one record at a time: records
    /// are decoded into the compact form as they are read (never all
    /// decoded at once), then applied in ingest order.
    fn load(store: &Store) -> Result<State> {
        let mut state = State::new();
        let mut decoded = Decoded {
            records: Vec::with_capacity(store.documents()?),
            fps: Vec::new(),
        };
        store.for_each_record(|d| state.decode_into(&d, &mut decoded))?;
        // Sized once: growing by doubling would copy (and fault in) the
        // largest structures several times over on a big store.
        state.docs.reserve_exact(decoded.records.len());
        state.ids.reserve(decoded.records.len());
        let clusters = decoded
            .records
            .iter()
            .flat_map(|(rec, _, _)| rec.segments().iter().map(SegmentRecord::cluster))
            .max();
        state.clusters.ensure(clusters.unwrap_or(0));
        state.apply_decoded(decoded);
        Ok(state)
    }

    /// Decodes a stored document into `out`, for [`State::apply_decoded`].
    fn decode_into(&mut self, d: &StoredDocument, out: &mut Decoded) {
        let start = out.fps.len();
        let (rec, patterns) = self.decode(d, &mut out.fps);
        out.records.push((rec, patterns, start));
    }

    /// Puts decoded documents back in ingest order, as they were first
    /// applied; returns how many.
    fn apply_decoded(&mut self, decoded: Decoded) -> u64 {
        let Decoded { mut records, fps } = decoded;
        records.sort_unstable_by_key(|(rec, _, _)| rec.seq);
        let applied = records.len() as u64;
        for (rec, patterns, start) in records {
            let end = start + rec.segments().len();
            self.restore_record(rec, patterns, &fps[start..end]);
        }
        applied
    }

    fn lookup(&self, id: &str) -> Result<DocIdx> {
        self.find_id(id.trim())
            .ok_or_else(|| Error::NotFound(format!("document {id:?} is not in the index")))
    }

    fn intern(&mut self, source: &str) -> SourceIdx {
        if let Some(&s) = self.source_ids.get(source) {
            return s;
        }
        let s = self.sources.len() as SourceIdx;
        self.sources.push(source.to_string());
        self.source_ids.insert(source.to_string(), s);
        self.source_docs.push(0);
        s
    }

    fn doc(&self, idx: DocIdx) -> &DocRecord {
        self.docs[idx as usize].as_ref().expect("live document")
    }

    fn member(&self, idx: DocIdx) -> Member {
        let d = self.doc(idx);
        Member {
            doc: idx,
            source: d.source,
            published_at: d.published_at,
            seq: d.seq,
        }
    }

    /// Starts fetching what applying `a` will probe in the index.
    fn prefetch(&self, a: &Analysis) {
        for fp in &a.fingerprints {
            self.index.prefetch(fp);
        }
    }

    /// Index lookup: exact first, then near for long enough segments.
    fn find(&self, fp: &Fingerprint) -> Option<(ClusterId, MatchKind, u32)> {
        if let Some(c) = self.index.exact(fp.exact) {
            return Some((c, MatchKind::Exact, 0));
        }
        self.index
            .near(fp)
            .map(|m| (m.cluster, MatchKind::Near, m.distance))
    }

    /// Adds an analysed document (replacing an earlier version) and labels it.
    /// Also returns the `seq` of the version it replaced.
    fn apply(
        &mut self,
        a: Analysis,
        config: &EngineConfig,
    ) -> (DocumentLabels, StoredDocument, Option<u64>) {
        let replaced = self.find_id(&a.doc.id).map(|old| {
            let seq = self.doc(old).seq;
            self.remove(old);
            seq
        });
        self.seq += 1;
        let source = self.intern(&a.doc.source);
        let idx = self.docs.len() as DocIdx;
        let member = Member {
            doc: idx,
            source,
            published_at: a.doc.published_at,
            seq: self.seq,
        };
        let mut segments = Vec::with_capacity(a.spans.len());
        let mut stored_segments = Vec::with_capacity(a.spans.len());
        for (((span, fp), &layout), &prior) in a
            .spans
            .iter()
            .zip(&a.fingerprints)
            .zip(&a.layout)
            .zip(&a.priors)
        {
            let (cluster, matched, distance) = self
                .find(fp)
                .unwrap_or_else(|| (self.clusters.create(), MatchKind::None, 0));
            self.clusters.add(cluster, member);
            self.index.insert(fp, cluster);
            let rec = SegmentRecord {
                layout,
                prior,
                ..SegmentRecord::new(*span, fp, cluster, (matched, distance))
            };
            stored_segments.push(stored_segment(&rec, fp));
            segments.push(rec);
        }
        self.add_patterns(&member, a.patterns, &segments);
        let html_text = a.doc.from_html.then(|| a.doc.text.clone());
        let rec = DocRecord::new(
            &a.doc.id,
            &a.doc.url,
            source,
            a.doc.published_at,
            self.seq,
            segments,
        );
        let stored = StoredDocument {
            id: a.doc.id,
            source: a.doc.source,
            url: a.doc.url,
            published_at: a.doc.published_at,
            published_at_given: a.doc.published_given,
            seq: self.seq,
            text: a.doc.text,
            segments: stored_segments,
        };
        self.add_record(rec);
        let mut labels = self.relabel(idx, config);
        labels.replaced = replaced.is_some();
        labels.text = html_text;
        (labels, stored, replaced)
    }

    fn add_record(&mut self, rec: DocRecord) {
        let idx = self.docs.len() as DocIdx;
        self.segments += rec.segments().len() as u64;
        self.source_docs[rec.source as usize] += 1;
        self.docs.push(Some(rec));
        let id = self.docs[idx as usize].as_ref().map_or("", DocRecord::id);
        self.ids.insert(id, idx);
    }

    /// Rebuilds a stored document's contribution exactly as it was made.
    fn restore(&mut self, d: &StoredDocument) {
        let mut fps = Vec::with_capacity(d.segments.len());
        let (rec, patterns) = self.decode(d, &mut fps);
        self.restore_record(rec, patterns, &fps);
    }

    /// A stored document as the engine keeps it, with its source patterns
    /// (read from the stored text); its segments' fingerprints go to `fps`,
    /// for [`State::restore_record`].
    fn decode(
        &mut self,
        d: &StoredDocument,
        fps: &mut Vec<Fingerprint>,
    ) -> (DocRecord, DocPatterns) {
        let segments: Vec<SegmentRecord> = d
            .segments
            .iter()
            .map(|s| {
                let fp = restored_fingerprint(d, s);
                let span = Span {
                    start: s.start,
                    end: s.end,
                    index: s.index,
                };
                let matched = MatchKind::from_code(s.r#match).unwrap_or(MatchKind::None);
                let rec = SegmentRecord {
                    layout: s.layout as layout::Flags,
                    prior: s.prior.clamp(i16::MIN as i32, i16::MAX as i32) as i16,
                    ..SegmentRecord::new(span, &fp, s.cluster, (matched, s.distance))
                };
                fps.push(fp);
                rec
            })
            .collect();
        let patterns = pattern::analyze(d.segments.iter().map(|s| {
            let text = d.text.get(s.start as usize..s.end as usize);
            (
                text.unwrap_or_default(),
                s.tokens,
                s.layout as layout::Flags,
            )
        }));
        let rec = DocRecord::new(
            &d.id,
            &d.url,
            self.intern(&d.source),
            d.published_at,
            d.seq,
            segments,
        );
        (rec, patterns)
    }

    /// Puts a decoded document back into the clusters and the index.
    fn restore_record(&mut self, rec: DocRecord, patterns: DocPatterns, fps: &[Fingerprint]) {
        if let Some(old) = self.find_id(rec.id()) {
            self.remove(old);
        }
        self.seq = self.seq.max(rec.seq);
        let member = Member {
            doc: self.docs.len() as DocIdx,
            source: rec.source,
            published_at: rec.published_at,
            seq: rec.seq,
        };
        for (s, fp) in rec.segments().iter().zip(fps) {
            self.clusters.ensure(s.cluster());
            self.clusters.add(s.cluster(), member);
            self.index.insert(fp, s.cluster());
        }
        self.add_patterns(&member, patterns, rec.segments());
        self.add_record(rec);
    }

    /// Records a document's source patterns against its segments' clusters.
    fn add_patterns(&mut self, member: &Member, patterns: DocPatterns, segments: &[SegmentRecord]) {
        let clusters: Vec<ClusterId> = segments.iter().map(SegmentRecord::cluster).collect();
        self.patterns.add(member, patterns, &clusters);
    }

    /// Takes a document out of every cluster and the index.
    fn remove(&mut self, idx: DocIdx) -> u32 {
        let Some(rec) = self.docs[idx as usize].take() else {
            return 0;
        };
        self.ids.remove(rec.id(), idx);
        self.patterns.remove(&Member {
            doc: idx,
            source: rec.source,
            published_at: rec.published_at,
            seq: rec.seq,
        });
        self.segments -= rec.segments().len() as u64;
        self.source_docs[rec.source as usize] -= 1;
        for s in rec.segments() {
            self.index.remove(s.exact);
            self.clusters.remove(s.cluster(), idx);
        }
        rec.segments().len() as u32
    }

    /// Labels a stored document against the current clusters.
    fn relabel(&self, idx: DocIdx, config: &EngineConfig) -> DocumentLabels {
        let d = self.doc(idx);
        let me = self.member(idx);
        let items = d
            .segments()
            .iter()
            .map(|s| {
                let c = self
                    .clusters
                    .get(s.cluster())
                    .expect("segment's cluster exists");
                let sig = Signals {
                    tokens: u32::from(s.tokens),
                    matched: s.matched,
                    distance: u32::from(s.distance),
                    layout: s.layout,
                    prior: structure::dequantize(s.prior),
                    context: [0.0; classify::CONTEXT_FEATURES],
                    pattern: [0.0; pattern::PATTERN_FEATURES],
                    lone: false,
                };
                (s.span, sig, s.cluster(), c.view(s.cluster(), &me))
            })
            .collect();
        let none = DocPatterns::default();
        let patterns = self.patterns.of(idx).unwrap_or(&none);
        let segments = self.label_segments(items, &me, patterns, config);
        DocumentLabels {
            id: d.id().to_string(),
            source: self.sources[d.source as usize].clone(),
            url: d.url().to_string(),
            published_at: d.published_at,
            summary: Summary::of(&segments),
            segments,
            replaced: false,
            text: None,
        }
    }

    fn dry_run(&self, a: &Analysis, config: &EngineConfig) -> DocumentLabels {
        let existing = self.find_id(&a.doc.id);
        let me = Member {
            doc: existing.unwrap_or(OUTSIDER),
            source: self
                .source_ids
                .get(&a.doc.source)
                .copied()
                .unwrap_or(UNKNOWN_SOURCE),
            published_at: a.doc.published_at,
            seq: existing.map_or(self.seq + 1, |i| self.doc(i).seq),
        };
        let items = a
            .spans
            .iter()
            .zip(&a.fingerprints)
            .zip(&a.layout)
            .zip(&a.priors)
            .map(|(((span, fp), &layout), &prior)| {
                let (id, matched, distance) = self.find(fp).unwrap_or((0, MatchKind::None, 0));
                let sig = Signals {
                    tokens: fp.tokens,
                    matched,
                    distance,
                    layout,
                    prior: structure::dequantize(prior),
                    context: [0.0; classify::CONTEXT_FEATURES],
                    pattern: [0.0; pattern::PATTERN_FEATURES],
                    lone: false,
                };
                // Unmatched: a cluster of its own, as it would start.
                let view = match self.clusters.get(id) {
                    Some(c) if id != 0 => c.view(id, &me),
                    _ => ClusterView {
                        id: 0,
                        documents: 1,
                        sources: 1,
                        source_documents: 1,
                        earliest: me,
                    },
                };
                (*span, sig, id, view)
            })
            .collect();
        let segments = self.label_segments(items, &me, &a.patterns, config);
        DocumentLabels {
            id: a.doc.id.clone(),
            source: a.doc.source.clone(),
            url: a.doc.url.clone(),
            published_at: a.doc.published_at,
            summary: Summary::of(&segments),
            segments,
            replaced: false,
            text: a.doc.from_html.then(|| a.doc.text.clone()),
        }
    }

    /// Labels one document's segments: each with its neighbours' evidence
    /// (`classify::document_context`) and its source's patterns
    /// (`pattern`), then the document-level pass.
    fn label_segments(
        &self,
        mut items: Vec<(Span, Signals, ClusterId, ClusterView)>,
        me: &Member,
        patterns: &DocPatterns,
        config: &EngineConfig,
    ) -> Vec<SegmentLabel> {
        let clusters: Vec<ClusterId> = items.iter().map(|(_, _, id, _)| *id).collect();
        for ((_, sig, _, _), p) in items
            .iter_mut()
            .zip(self.patterns.evidence(me, patterns, &clusters))
        {
            sig.pattern = p;
        }
        let priors: Vec<f32> = items.iter().map(|(_, s, _, _)| s.prior).collect();
        let repeated: Vec<bool> = items
            .iter()
            .map(|(_, _, _, v)| v.source_documents >= 2)
            .collect();
        let lone = items.len() == 1;
        for ((_, sig, _, _), c) in items
            .iter_mut()
            .zip(classify::document_context(&priors, &repeated))
        {
            sig.context = c;
            sig.lone = lone;
        }
        let mut segments: Vec<SegmentLabel> = items
            .iter()
            .map(|(span, sig, id, view)| self.segment_label(*span, sig, *id, *view, me, config))
            .collect();
        let tokens: Vec<u32> = items.iter().map(|(_, s, _, _)| s.tokens).collect();
        lone_quotes_are_editorial(&mut segments, &tokens);
        segments
    }

    fn segment_label(
        &self,
        span: Span,
        sig: &Signals,
        id: ClusterId,
        view: ClusterView,
        me: &Member,
        config: &EngineConfig,
    ) -> SegmentLabel {
        let d = classify(&view, me, sig, &config.policy);
        SegmentLabel {
            start: span.start,
            end: span.end,
            index: span.index,
            label: d.label,
            confidence: d.confidence,
            cluster: id,
            matched: sig.matched,
            distance: sig.distance,
            cluster_documents: view.documents,
            cluster_sources: view.sources,
            source_documents: view.source_documents,
            first_seen: d.first_seen.and_then(|m| self.occurrence(&m)),
            other_sources: d.other_sources,
            comment: sig.layout & layout::COMMENT != 0,
            pattern: sig.pattern,
        }
    }

    fn occurrence(&self, m: &Member) -> Option<Occurrence> {
        let d = self.docs.get(m.doc as usize)?.as_ref()?;
        Some(Occurrence {
            document_id: d.id().to_string(),
            source: self.sources[d.source as usize].clone(),
            url: d.url().to_string(),
            published_at: d.published_at,
        })
    }

    fn cluster_info(
        &self,
        id: ClusterId,
        c: &Cluster,
        source: Option<SourceIdx>,
        config: &EngineConfig,
    ) -> ClusterInfo {
        ClusterInfo {
            id,
            representative: String::new(),
            documents: c.documents(),
            sources: c.sources(),
            per_source: c
                .per_source()
                .into_iter()
                .map(|(s, n)| SourceCount {
                    source: self.sources[s as usize].clone(),
                    documents: n,
                })
                .collect(),
            first_seen: c.earliest().and_then(|m| self.occurrence(&m)),
            label: cluster_label(c, source, config.policy.boilerplate_min_documents),
        }
    }

    /// (document `seq`, start, end) of the segment that stands for cluster
    /// `id`: the first segment in it of the member that joined first.
    fn representative(&self, id: ClusterId, c: &Cluster) -> Option<(u64, u32, u32)> {
        let doc = c.members().next()?.doc;
        let d = self.docs.get(doc as usize)?.as_ref()?;
        let s = d.segments().iter().find(|s| s.cluster() == id)?;
        Some((d.seq, s.span.start, s.span.end))
    }
}

/// What a snapshot of the store at `generation`, with `documents` live,
/// carries in its header (written, and required on read).
fn expect(generation: Generation, documents: u64) -> snapshot::Expect {
    snapshot::Expect {
        params: snapshot_params(),
        store_id: generation.store_id,
        generation: generation.generation,
        documents,
    }
}

/// The build-time parameters a snapshot's state depends on: a snapshot
/// of sketches computed otherwise, or written by another release, is not
/// used (a replay recomputes them). No runtime setting enters the state.
fn snapshot_params() -> u32 {
    let p = format!(
        "chaff {} sketch {SKETCH_VERSION} len {SKETCH_LEN} bands {BANDS} bucket {MAX_BUCKET} \
         near {MIN_NEAR_TOKENS} patterns {}",
        env!("CARGO_PKG_VERSION"),
        pattern::PATTERN_VERSION
    );
    xxhash_rust::xxh3::xxh3_64(p.as_bytes()) as u32
}

fn match_kind(code: u8) -> Result<MatchKind, SnapshotError> {
    MatchKind::from_code(u32::from(code))
        .ok_or_else(|| SnapshotError::invalid(format!("match kind {code}")))
}

/// The id of a live document by handle, as [`DocIds`] reads it.
fn id_of<'a>(docs: &'a [Option<DocRecord>]) -> impl Fn(DocIdx) -> &'a str + 'a {
    |i| docs[i as usize].as_ref().map_or("", DocRecord::id)
}

fn stored_segment(s: &SegmentRecord, fp: &Fingerprint) -> StoredSegment {
    StoredSegment {
        start: s.span.start,
        end: s.span.end,
        index: s.span.index,
        exact: fp.exact,
        simhash: 0,
        tokens: fp.tokens,
        anchors: Vec::new(),
        sketch: fp.sketch.map_or_else(Vec::new, |k| k.minima.to_vec()),
        sketch_bands: fp.sketch.map_or_else(Vec::new, |k| k.bands.to_vec()),
        sketch_version: SKETCH_VERSION,
        cluster: s.cluster(),
        r#match: u32::from(s.matched.code()),
        distance: u32::from(s.distance),
        layout: s.layout as u32,
        prior: s.prior as i32,
    }
}

/// A stored segment's fingerprint. Records written before sketches existed
/// (or with another sketch size or hash family) get theirs recomputed from the stored text
/// when it still normalises to the stored exact hash; otherwise the segment
/// matches only exactly.
fn restored_fingerprint(d: &StoredDocument, s: &StoredSegment) -> Fingerprint {
    let mut fp = Fingerprint {
        exact: s.exact,
        tokens: s.tokens,
        sketch: (s.sketch_version == SKETCH_VERSION)
            .then(|| Sketch::from_parts(&s.sketch, &s.sketch_bands))
            .flatten(),
    };
    if fp.sketch.is_none() && fp.tokens as usize >= MIN_NEAR_TOKENS {
        if let Some(text) = d.text.get(s.start as usize..s.end as usize) {
            let mut norm = Normalized::default();
            normalize(text, &mut norm);
            let again = fingerprint(&norm);
            if again.exact == fp.exact {
                fp.sketch = again.sketch;
            }
        }
    }
    fp
}

/// Resident set size of this process (Linux), 0 elsewhere.
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record lives in memory for every document ever indexed.
    #[test]
    fn a_document_of_one_segment_is_one_record_and_one_heap_block() {
        assert_eq!(std::mem::size_of::<SegmentRecord>(), 32);
        assert!(std::mem::size_of::<Option<DocRecord>>() <= 72);
        let seg = |cluster| {
            SegmentRecord::new(
                Span {
                    start: 0,
                    end: 4,
                    index: 0,
                },
                &Fingerprint {
                    exact: 7,
                    tokens: 1,
                    sketch: None,
                },
                cluster,
                (MatchKind::None, 0),
            )
        };
        let one = DocRecord::new("id-1", "https://x.example/1", 0, 5, 1, vec![seg(3)]);
        assert_eq!((one.id(), one.url()), ("id-1", "https://x.example/1"));
        assert!(matches!(one.segments, Segments::One(_)));
        assert_eq!(one.heap_bytes(), "id-1https://x.example/1".len());
        let two = DocRecord::new("id-2", "", 0, 5, 2, vec![seg(3), seg(4)]);
        assert_eq!((two.id(), two.url()), ("id-2", ""));
        assert_eq!(
            two.segments().iter().map(|s| s.cluster).collect::<Vec<_>>(),
            [3, 4]
        );
        // A url that is the id is kept once.
        let url = "https://x.example/news/3";
        let three = DocRecord::new(url, url, 0, 5, 3, vec![seg(5)]);
        assert_eq!((three.id(), three.url()), (url, url));
        assert_eq!(three.heap_bytes(), url.len());
        let four = DocRecord::new("", "", 0, 5, 4, vec![seg(6)]);
        assert_eq!((four.id(), four.url()), ("", ""));
    }
}
