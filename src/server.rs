//! The gRPC shell over [`Engine`]: request -> library call on a blocking
//! thread -> response, plus health, reflection, compression, limits and a
//! graceful shutdown that drains in-flight calls and flushes the store.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status, Streaming};
use tracing::{debug, info, warn};

use crate::calls::CallPool;
use crate::convert;
use crate::engine::{Analyzed, Applied, Engine};
use crate::error::Error;
use crate::labels::{ClusterQuery, DocumentLabels};
use crate::proto::v1 as pb;
use crate::proto::v1::chaff_server::{Chaff, ChaffServer};

/// The one mapping from library errors to gRPC status codes.
pub fn status(e: &Error) -> Status {
    let code = match e {
        Error::InvalidArgument(_) => Code::InvalidArgument,
        Error::LimitExceeded(_) | Error::Overloaded(_) => Code::ResourceExhausted,
        Error::NotFound(_) => Code::NotFound,
        Error::Store(
            crate::store::StoreError::Corrupt { .. }
            | crate::store::StoreError::CorruptBlock { .. }
            | crate::store::StoreError::CorruptJournal { .. },
        ) => Code::DataLoss,
        Error::Store(_) | Error::Unavailable(_) => Code::Unavailable,
    };
    Status::new(code, e.to_string())
}

/// Admission of unary calls: at most `max_in_flight` run at once (0: no
/// limit); a call beyond them waits up to `queue_timeout` for a place and is
/// then refused with RESOURCE_EXHAUSTED, so that an overload is answered at
/// once instead of growing a queue in which every call misses its deadline.
/// Clones share the places.
#[derive(Debug, Clone)]
pub struct Admission {
    places: Option<Arc<Semaphore>>,
    max_in_flight: usize,
    queue_timeout: Duration,
}

/// A unary call's place; given back when dropped.
#[derive(Debug)]
pub struct Place {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Default for Admission {
    fn default() -> Self {
        Admission::new(
            crate::config::DEFAULT_MAX_IN_FLIGHT,
            crate::config::DEFAULT_QUEUE_TIMEOUT,
        )
    }
}

impl Admission {
    pub fn new(max_in_flight: usize, queue_timeout: Duration) -> Admission {
        Admission {
            places: (max_in_flight > 0).then(|| Arc::new(Semaphore::new(max_in_flight))),
            max_in_flight,
            queue_timeout,
        }
    }

    /// A place now, if one is free.
    pub fn try_admit(&self) -> Option<Place> {
        match &self.places {
            None => Some(Place { _permit: None }),
            Some(p) => p
                .clone()
                .try_acquire_owned()
                .ok()
                .map(|p| Place { _permit: Some(p) }),
        }
    }

    /// A place within the queue timeout, or [`Error::Overloaded`].
    pub async fn admit(&self) -> crate::Result<Place> {
        if let Some(p) = self.try_admit() {
            return Ok(p);
        }
        let places = self
            .places
            .clone()
            .expect("an unlimited admission always admits");
        let wait = self.queue_timeout;
        match tokio::time::timeout(wait, places.acquire_owned()).await {
            Ok(Ok(p)) => Ok(Place { _permit: Some(p) }),
            // Ok(Err): closed, which this semaphore never is.
            Ok(Err(_)) | Err(_) => {
                debug!(
                    max_in_flight = self.max_in_flight,
                    waited_ms = wait.as_millis() as u64,
                    "unary call refused: server busy"
                );
                Err(Error::Overloaded(format!(
                    "{} calls are in flight and none ended within {} ms; retry with backoff",
                    self.max_in_flight,
                    wait.as_millis()
                )))
            }
        }
    }
}

pub struct ChaffService {
    engine: Arc<Engine>,
    admission: Admission,
    calls: CallPool,
}

impl ChaffService {
    pub fn new(engine: Arc<Engine>, admission: Admission) -> Self {
        ChaffService {
            engine,
            admission,
            calls: CallPool::new(),
        }
    }

    /// Runs a blocking engine call off the async workers (on the call
    /// pool, see [`crate::calls`]), once admitted.
    async fn run<T, F>(&self, f: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> crate::Result<T> + Send + 'static,
    {
        let place = self.admission.admit().await.map_err(|e| status(&e))?;
        let engine = self.engine.clone();
        // The place is held until the work is done, even if the caller
        // gives up on the call meanwhile: the work goes on regardless.
        self.calls
            .run(move || {
                let r = f(&engine);
                drop(place);
                r
            })
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| status(&e))
    }
}

/// Unary answers smaller than this go uncompressed even to a client that
/// accepts compression. tonic makes a new compression context for every
/// message (zstd's, at its default level, is megabytes of window and match
/// tables, allocated and partly cleared each time), which for the few
/// kilobytes of an article's labels cost a tenth of a dry run's server CPU
/// to save a couple of kilobytes on the wire; past this size the bytes
/// saved are worth the context.
pub const COMPRESS_FROM_BYTES: usize = 32 << 10;

/// A unary answer, compressed (if the client accepts it) only when it is
/// at least [`COMPRESS_FROM_BYTES`] long.
fn unary_response<T: prost::Message>(message: T) -> Response<T> {
    let small = message.encoded_len() < COMPRESS_FROM_BYTES;
    let mut r = Response::new(message);
    if small {
        r.disable_compression();
    }
    r
}

fn dry_run(mode: i32) -> Result<bool, Status> {
    match pb::Mode::try_from(mode) {
        Ok(pb::Mode::Unspecified | pb::Mode::Ingest) => Ok(false),
        Ok(pb::Mode::DryRun) => Ok(true),
        Err(_) => Err(Status::invalid_argument(format!(
            "mode {mode} is unknown: use MODE_INGEST (1) or MODE_DRY_RUN (2)"
        ))),
    }
}

#[tonic::async_trait]
impl Chaff for ChaffService {
    async fn analyze(
        &self,
        req: Request<pb::AnalyzeRequest>,
    ) -> Result<Response<pb::AnalyzeResponse>, Status> {
        let req = req.into_inner();
        let dry = dry_run(req.mode)?;
        let doc = req
            .document
            .ok_or_else(|| Status::invalid_argument("request has no `document`"))?;
        let doc = convert::document_from_pb(doc).map_err(|e| status(&e))?;
        let labels = self
            .run(move |e| if dry { e.dry_run(doc) } else { e.ingest(doc) })
            .await?;
        Ok(unary_response(pb::AnalyzeResponse {
            labels: Some(convert::labels_to_pb(labels)),
        }))
    }

    type AnalyzeStreamStream = ReceiverStream<Result<pb::AnalyzeStreamResponse, Status>>;

    async fn analyze_stream(
        &self,
        req: Request<Streaming<pb::AnalyzeStreamRequest>>,
    ) -> Result<Response<Self::AnalyzeStreamStream>, Status> {
        // A stream's deadline covers the whole call; tonic enforces it only
        // until the response headers, so batches check it themselves.
        let deadline = deadline(req.metadata());
        let mut input = req.into_inner();
        // The batches of one stream go through three steps that overlap:
        // analysed (lock-free, on the bulk pool), applied to the state (in
        // order, one at a time), their commit awaited and answered. Every
        // channel holds one batch, so a slow reader stalls the stream
        // (HTTP/2 flow control) instead of growing our buffers: at most a
        // handful of batches per stream are held.
        let (tx, rx) = mpsc::channel(1);
        let (to_apply, mut analyzed) = mpsc::channel::<Result<Analyzing, Status>>(1);
        let (to_finish, mut applied) = mpsc::channel::<Result<StreamBatch, Status>>(1);
        let engine = self.engine.clone();
        tokio::spawn(async move {
            let mut batch = 0u64;
            while let Some(next) = input.next().await {
                let item = match next {
                    Err(s) => {
                        debug!(status = %s, "analyze stream input ended with an error");
                        Err(s)
                    }
                    Ok(_) if deadline.is_some_and(|d| Instant::now() >= d) => {
                        Err(Status::deadline_exceeded(format!(
                            "the call's deadline passed after {batch} batches; open a new stream"
                        )))
                    }
                    Ok(req) => dry_run(req.mode).map(|dry| {
                        let engine = engine.clone();
                        tokio::task::spawn_blocking(move || {
                            StreamBatch::analyze(&engine, batch, req.documents, dry)
                        })
                    }),
                };
                let stop = item.is_err();
                if to_apply.send(item).await.is_err() || stop {
                    return;
                }
                batch += 1;
            }
        });
        let engine = self.engine.clone();
        tokio::spawn(async move {
            while let Some(item) = analyzed.recv().await {
                let next = match item {
                    Ok(analysis) => match analysis.await {
                        Ok(b) => {
                            let engine = engine.clone();
                            tokio::task::spawn_blocking(move || b.apply(&engine))
                                .await
                                .map_err(worker_failed)
                        }
                        Err(e) => Err(worker_failed(e)),
                    },
                    Err(s) => Err(s),
                };
                let stop = next.is_err();
                if to_finish.send(next).await.is_err() || stop {
                    return;
                }
            }
        });
        let engine = self.engine.clone();
        tokio::spawn(async move {
            // Once the caller is gone or a batch failed, the batches already
            // applied are still awaited (a failed commit is rolled back),
            // just not answered.
            let mut answers = Some(tx);
            while let Some(item) = applied.recv().await {
                let response = match item {
                    Ok(b) => {
                        let engine = engine.clone();
                        tokio::task::spawn_blocking(move || b.finish(&engine))
                            .await
                            .map_err(worker_failed)
                    }
                    Err(s) => Err(s),
                };
                let failed = response.is_err();
                if let Some(tx) = &answers {
                    if tx.send(response).await.is_err() || failed {
                        // The caller's response stream ends here.
                        answers = None;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_document(
        &self,
        req: Request<pb::GetDocumentRequest>,
    ) -> Result<Response<pb::GetDocumentResponse>, Status> {
        let req = req.into_inner();
        require_id(&req.id)?;
        let (labels, text) = self
            .run(move |e| e.document(&req.id, req.include_text))
            .await?;
        Ok(unary_response(pb::GetDocumentResponse {
            labels: Some(convert::labels_to_pb(labels)),
            text: text.unwrap_or_default(),
        }))
    }

    async fn delete_document(
        &self,
        req: Request<pb::DeleteDocumentRequest>,
    ) -> Result<Response<pb::DeleteDocumentResponse>, Status> {
        let id = req.into_inner().id;
        require_id(&id)?;
        let segments = self.run(move |e| e.delete(&id)).await?;
        Ok(unary_response(pb::DeleteDocumentResponse { segments }))
    }

    async fn get_cluster(
        &self,
        req: Request<pb::GetClusterRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        let id = req.into_inner().id;
        let c = self.run(move |e| e.cluster(id)).await?;
        Ok(unary_response(convert::cluster_to_pb(c)))
    }

    async fn list_clusters(
        &self,
        req: Request<pb::ListClustersRequest>,
    ) -> Result<Response<pb::ListClustersResponse>, Status> {
        let r = req.into_inner();
        let label = match r.label {
            0 => None,
            l => Some(convert::label_from_pb(l).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "label {l} is unknown: use 1 (editorial), 2 (boilerplate) or 3 (syndicated)"
                ))
            })?),
        };
        let q = ClusterQuery {
            source: (!r.source.trim().is_empty()).then(|| r.source.trim().to_string()),
            label,
            min_documents: r.min_documents,
            page_size: r.page_size,
            page_token: (!r.page_token.is_empty()).then_some(r.page_token),
        };
        let page = self.run(move |e| e.list_clusters(&q)).await?;
        Ok(unary_response(pb::ListClustersResponse {
            clusters: page
                .clusters
                .into_iter()
                .map(convert::cluster_to_pb)
                .collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn stats(
        &self,
        _: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsResponse>, Status> {
        let s = self.run(|e| Ok(e.stats())).await?;
        Ok(unary_response(convert::stats_to_pb(s)))
    }
}

/// The instant a call's `grpc-timeout` header runs out.
fn deadline(meta: &tonic::metadata::MetadataMap) -> Option<Instant> {
    let v = meta.get("grpc-timeout")?.to_str().ok()?;
    let (num, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = num.parse().ok()?;
    let d = match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    };
    Instant::now().checked_add(d)
}

fn require_id(id: &str) -> Result<(), Status> {
    if id.trim().is_empty() {
        return Err(Status::invalid_argument("`id` is empty: name the document"));
    }
    Ok(())
}

fn worker_failed(e: tokio::task::JoinError) -> Status {
    Status::internal(format!("worker failed: {e}"))
}

/// A stream batch's analysis, running.
type Analyzing = tokio::task::JoinHandle<StreamBatch>;

/// One stream batch between the steps of `analyze_stream`: invalid
/// documents get their own error, the others are ingested (or dry-run)
/// together with one durable commit.
struct StreamBatch {
    batch: u64,
    ids: Vec<String>,
    /// Each document's refusal; `None` for those the engine answers, in
    /// order.
    refused: Vec<Option<Error>>,
    step: Step,
}

enum Step {
    Analyzed { analyzed: Analyzed, dry: bool },
    Applied(Applied),
    Answered(Vec<crate::Result<DocumentLabels>>),
}

impl StreamBatch {
    fn analyze(engine: &Engine, batch: u64, docs: Vec<pb::Document>, dry: bool) -> StreamBatch {
        let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
        let converted: Vec<_> = docs.into_iter().map(convert::document_from_pb).collect();
        let refused = converted
            .iter()
            .map(|c| c.as_ref().err().map(|e| Error::invalid(e.to_string())))
            .collect();
        let valid: Vec<_> = converted.into_iter().filter_map(Result::ok).collect();
        StreamBatch {
            batch,
            ids,
            refused,
            step: Step::Analyzed {
                analyzed: engine.analyze_batch(valid),
                dry,
            },
        }
    }

    /// Applies an ingest to the state; labels a dry run against it.
    fn apply(mut self, engine: &Engine) -> StreamBatch {
        self.step = match self.step {
            Step::Analyzed {
                analyzed,
                dry: true,
            } => Step::Answered(engine.dry_run_analyzed(analyzed)),
            Step::Analyzed {
                analyzed,
                dry: false,
            } => Step::Applied(engine.apply_batch(analyzed)),
            done => done,
        };
        self
    }

    /// Waits for an ingest's commit; the answer.
    fn finish(self, engine: &Engine) -> pb::AnalyzeStreamResponse {
        let labelled = match self.step {
            Step::Applied(applied) => engine.finish_batch(applied),
            Step::Answered(labelled) => labelled,
            Step::Analyzed { .. } => unreachable!("a batch is applied before it is finished"),
        };
        let mut labelled = labelled.into_iter();
        let results = self
            .ids
            .into_iter()
            .zip(self.refused)
            .map(|(id, refused)| {
                let r = refused.map_or_else(
                    || labelled.next().expect("one result per valid document"),
                    Err,
                );
                let outcome = match r {
                    Ok(l) => pb::document_result::Outcome::Labels(convert::labels_to_pb(l)),
                    Err(e) => {
                        let s = status(&e);
                        pb::document_result::Outcome::Error(pb::DocumentError {
                            code: s.code() as i32,
                            message: s.message().to_string(),
                        })
                    }
                };
                pb::DocumentResult {
                    id,
                    outcome: Some(outcome),
                }
            })
            .collect();
        pb::AnalyzeStreamResponse {
            batch: self.batch,
            results,
        }
    }
}

/// Transport settings of [`serve`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub max_message_bytes: usize,
    pub drain_timeout: Duration,
    pub admission: Admission,
    /// Periodic snapshots of the state ([`Engine::checkpoint`]).
    pub snapshot_interval: Option<Duration>,
}

/// Serves until `shutdown` resolves, then stops taking calls, gives the
/// in-flight ones `drain_timeout` to finish, and flushes the store.
pub async fn serve(
    engine: Arc<Engine>,
    listener: TcpListener,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ChaffServer<ChaffService>>().await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let chaff = ChaffServer::new(ChaffService::new(engine.clone(), opts.admission.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(opts.max_message_bytes)
        .max_encoding_message_size(opts.max_message_bytes);

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    // Without TCP_NODELAY a small answer waits for the client's delayed ACK
    // (40 ms on Linux) whenever the previous one is not yet acknowledged;
    // tonic sets it only on listeners it binds itself.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(chaff)
        .serve_with_incoming_shutdown(incoming, async {
            let _ = stop_rx.await;
        });
    tokio::pin!(server);
    let checkpoints = opts
        .snapshot_interval
        .map(|every| tokio::spawn(checkpoints(engine.clone(), every)));
    info!(%addr, "serving");
    tokio::select! {
        r = &mut server => r?,
        _ = shutdown => {
            info!(drain_timeout_ms = opts.drain_timeout.as_millis() as u64, "shutting down; draining in-flight calls");
            health.set_not_serving::<ChaffServer<ChaffService>>().await;
            health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            let _ = stop_tx.send(());
            match tokio::time::timeout(opts.drain_timeout, &mut server).await {
                Ok(r) => r?,
                Err(_) => warn!("drain timeout reached; dropping calls still in flight"),
            }
        }
    }
    if let Some(task) = checkpoints {
        task.abort();
    }
    tokio::task::spawn_blocking(move || engine.close()).await?;
    info!("store flushed; stopped");
    Ok(())
}

/// Writes a snapshot every `every`, off the async threads. One that is
/// still being written when the server stops finishes before the close.
async fn checkpoints(engine: Arc<Engine>, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let engine = engine.clone();
        match tokio::task::spawn_blocking(move || engine.checkpoint()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "checkpoint failed"),
            Err(e) => warn!(error = %e, "checkpoint task failed"),
        }
    }
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::codec::SingleMessageCompressionOverride;

    fn compression_disabled<T>(r: &Response<T>) -> bool {
        r.extensions().get::<SingleMessageCompressionOverride>()
            == Some(&SingleMessageCompressionOverride::Disable)
    }

    #[test]
    fn only_large_unary_answers_are_compressed() {
        let small = unary_response(pb::GetDocumentResponse {
            labels: None,
            text: "a short text".into(),
        });
        assert!(compression_disabled(&small));
        let large = unary_response(pb::GetDocumentResponse {
            labels: None,
            text: "x".repeat(COMPRESS_FROM_BYTES),
        });
        assert!(!compression_disabled(&large));
    }
}
