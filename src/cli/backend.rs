//! Where CLI commands run: the engine in-process, or a server over gRPC.
//! Both answer with the same library types, so output is identical.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use prost::Message;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

use crate::config::{EngineArgs, StorageArgs, DEFAULT_MAX_MESSAGE_BYTES};
use crate::convert;
use crate::document::Document;
use crate::engine::Engine;
use crate::labels::{ClusterPage, ClusterQuery, DocumentLabels, Stats};
use crate::proto::v1 as pb;
use crate::proto::v1::chaff_client::ChaffClient;
use crate::server::COMPRESS_FROM_BYTES;

/// Where to run: `--server`, or in-process on `--data-dir` / `--ephemeral`.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Talk to a chaff server (e.g. http://127.0.0.1:50051) instead of
    /// running the engine in-process.
    #[arg(long, env = "CHAFF_SERVER")]
    pub server: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// How the client talks to a server.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Largest gRPC message sent or accepted by the client, bytes.
    #[arg(long = "client-max-message-bytes", env = "CHAFF_CLIENT_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
    /// Compression of requests of 32 KiB and more (stream batches, large
    /// pages) and of the answers the server may send back: `none` spends no
    /// CPU on it (loopback, a fast network); `zstd` or `gzip` trade CPU on
    /// both sides for bandwidth on a slow link.
    #[arg(long, env = "CHAFF_COMPRESSION", value_enum, default_value_t = Compression::None)]
    pub compression: Compression,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn encoding(self) -> Option<CompressionEncoding> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some(CompressionEncoding::Gzip),
            Compression::Zstd => Some(CompressionEncoding::Zstd),
        }
    }
}

/// Per-document outcome of a batch: labels, or why the document was refused.
pub type Outcome = Result<DocumentLabels, String>;

pub enum Backend {
    Local(Arc<Engine>),
    Remote {
        clients: Box<Clients>,
        rt: Box<Runtime>,
    },
}

impl Backend {
    pub fn connect(t: &Target) -> anyhow::Result<Backend> {
        match &t.server {
            None => {
                let engine = Engine::open_with(t.engine.config(), t.storage.dir(), t.storage.open_options()).map_err(|e| {
                    let hint = if e.to_string().contains("already open") || e.to_string().contains("lock") {
                        " (is a server using this data directory? use --server, or another --data-dir)"
                    } else {
                        ""
                    };
                    anyhow!("cannot open the engine on {}: {e}{hint}", t.storage.data_dir.display())
                })?;
                Ok(Backend::Local(Arc::new(engine)))
            }
            Some(url) => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let clients = clients(&rt, url, &t.client)?;
                Ok(Backend::Remote {
                    clients: Box::new(clients),
                    rt: Box::new(rt),
                })
            }
        }
    }

    pub fn analyze(&self, doc: Document, dry_run: bool) -> anyhow::Result<DocumentLabels> {
        match self {
            Backend::Local(e) => Ok(if dry_run {
                e.dry_run(doc)
            } else {
                e.ingest(doc)
            }?),
            Backend::Remote { clients, rt } => {
                let mode = if dry_run {
                    pb::Mode::DryRun
                } else {
                    pb::Mode::Ingest
                };
                let req = pb::AnalyzeRequest {
                    document: Some(convert::document_to_pb(doc)),
                    mode: mode as i32,
                };
                let mut client = clients.sized(req.encoded_len());
                let resp = rt.block_on(client.analyze(req)).map_err(remote)?;
                let labels = resp
                    .into_inner()
                    .labels
                    .ok_or_else(|| anyhow!("server sent no labels"))?;
                Ok(convert::labels_from_pb(labels))
            }
        }
    }

    /// Ingests batches in order, with up to `window` batches in flight on a
    /// server; `on_batch` sees each batch's outcomes in order, and how long
    /// the batch took from being sent to being answered.
    pub fn ingest_batches(
        &self,
        batches: impl Iterator<Item = anyhow::Result<Vec<Document>>>,
        window: usize,
        mut on_batch: impl FnMut(Vec<Outcome>, Duration) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        match self {
            Backend::Local(e) => local_pipeline(e, batches, window, on_batch),
            Backend::Remote { clients, rt } => rt.block_on(async {
                let window = window.max(1);
                let (tx, rx) = mpsc::channel(window);
                let mut responses = clients
                    .compressed
                    .clone()
                    .analyze_stream(ReceiverStream::new(rx))
                    .await
                    .map_err(remote)?
                    .into_inner();
                // Send times of the batches in flight, oldest first.
                let mut in_flight: VecDeque<Instant> = VecDeque::with_capacity(window);
                for batch in batches {
                    let documents = batch?.into_iter().map(convert::document_to_pb).collect();
                    if in_flight.len() == window {
                        let outcomes = next_outcomes(&mut responses).await?;
                        let sent = in_flight.pop_front().expect("a batch in flight");
                        on_batch(outcomes, sent.elapsed())?;
                    }
                    in_flight.push_back(Instant::now());
                    tx.send(pb::AnalyzeStreamRequest {
                        documents,
                        mode: pb::Mode::Ingest as i32,
                    })
                    .await
                    .map_err(|_| anyhow!("the server closed the stream"))?;
                }
                drop(tx);
                while let Some(sent) = in_flight.pop_front() {
                    let outcomes = next_outcomes(&mut responses).await?;
                    on_batch(outcomes, sent.elapsed())?;
                }
                Ok(())
            }),
        }
    }

    pub fn document(&self, id: &str) -> anyhow::Result<DocumentLabels> {
        Ok(self.get_document(id, false)?.0)
    }

    /// A stored document's labels and the text its offsets refer to.
    pub fn document_with_text(&self, id: &str) -> anyhow::Result<(DocumentLabels, String)> {
        let (labels, text) = self.get_document(id, true)?;
        Ok((labels, text.unwrap_or_default()))
    }

    fn get_document(
        &self,
        id: &str,
        include_text: bool,
    ) -> anyhow::Result<(DocumentLabels, Option<String>)> {
        match self {
            Backend::Local(e) => Ok(e.document(id, include_text)?),
            Backend::Remote { clients, rt } => {
                let req = pb::GetDocumentRequest {
                    id: id.to_string(),
                    include_text,
                };
                let resp = rt
                    .block_on(clients.plain.clone().get_document(req))
                    .map_err(remote)?
                    .into_inner();
                let labels = resp
                    .labels
                    .ok_or_else(|| anyhow!("server sent no labels"))?;
                Ok((
                    convert::labels_from_pb(labels),
                    include_text.then_some(resp.text),
                ))
            }
        }
    }

    pub fn clusters(&self, q: ClusterQuery) -> anyhow::Result<ClusterPage> {
        match self {
            Backend::Local(e) => Ok(e.list_clusters(&q)?),
            Backend::Remote { clients, rt } => {
                let req = pb::ListClustersRequest {
                    source: q.source.unwrap_or_default(),
                    label: q.label.map_or(0, |l| convert::label_to_pb(l) as i32),
                    min_documents: q.min_documents,
                    page_size: q.page_size,
                    page_token: q.page_token.unwrap_or_default(),
                };
                let r = rt
                    .block_on(clients.plain.clone().list_clusters(req))
                    .map_err(remote)?
                    .into_inner();
                Ok(ClusterPage {
                    clusters: r
                        .clusters
                        .into_iter()
                        .map(convert::cluster_from_pb)
                        .collect(),
                    next_page_token: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
                })
            }
        }
    }

    pub fn stats(&self) -> anyhow::Result<Stats> {
        match self {
            Backend::Local(e) => Ok(e.stats()),
            Backend::Remote { clients, rt } => {
                let r = rt
                    .block_on(clients.plain.clone().stats(pb::StatsRequest {}))
                    .map_err(remote)?;
                Ok(convert::stats_from_pb(r.into_inner()))
            }
        }
    }

    pub fn close(&self) {
        if let Backend::Local(e) = self {
            e.close();
        }
    }
}

/// Clients of the server over one connection. With compression on,
/// requests of at least [`COMPRESS_FROM_BYTES`] (the streams' batches, a
/// large page) go compressed, smaller ones plain, as the server does with
/// its answers: tonic makes a compression context for every message, which
/// on both sides costs more than it saves on a few kilobytes. Compression is
/// off by default: on a 2-core machine, zstd took 40% of the load
/// generator's CPU for a stream over loopback (README, Measured).
#[derive(Clone)]
pub struct Clients {
    pub plain: ChaffClient<Channel>,
    pub compressed: ChaffClient<Channel>,
}

impl Clients {
    /// The client to send a request of `bytes` (encoded) with.
    pub fn sized(&self, bytes: usize) -> ChaffClient<Channel> {
        if bytes >= COMPRESS_FROM_BYTES {
            self.compressed.clone()
        } else {
            self.plain.clone()
        }
    }
}

/// Clients of the server at `url`, their connection driven by `rt`.
pub fn clients(rt: &Runtime, url: &str, args: &ClientArgs) -> anyhow::Result<Clients> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
        .with_context(|| {
            format!("--server {url:?} is not a valid address (e.g. http://127.0.0.1:50051)")
        })?
        .connect_timeout(Duration::from_secs(10));
    let channel = rt
        .block_on(endpoint.connect())
        .with_context(|| format!("cannot connect to chaff server at {url}"))?;
    let mut plain = ChaffClient::new(channel)
        .max_decoding_message_size(args.max_message_bytes)
        .max_encoding_message_size(args.max_message_bytes);
    let Some(encoding) = args.compression.encoding() else {
        return Ok(Clients {
            compressed: plain.clone(),
            plain,
        });
    };
    plain = plain.accept_compressed(encoding);
    Ok(Clients {
        compressed: plain.clone().send_compressed(encoding),
        plain,
    })
}

/// The next batch's outcomes from a stream that must still be open.
async fn next_outcomes(
    responses: &mut tonic::Streaming<pb::AnalyzeStreamResponse>,
) -> anyhow::Result<Vec<Outcome>> {
    let r = responses
        .message()
        .await
        .map_err(remote)?
        .ok_or_else(|| anyhow!("the server ended the stream early"))?;
    Ok(outcomes(r))
}

fn outcomes(r: pb::AnalyzeStreamResponse) -> Vec<Outcome> {
    r.results
        .into_iter()
        .map(|d| match d.outcome {
            Some(pb::document_result::Outcome::Labels(l)) => Ok(convert::labels_from_pb(l)),
            Some(pb::document_result::Outcome::Error(e)) => Err(e.message),
            None => Err("server sent an empty result".to_string()),
        })
        .collect()
}

fn remote(s: tonic::Status) -> anyhow::Error {
    anyhow!("server: {}: {}", s.code(), s.message())
}

/// The in-process ingest of a stream of batches, its three steps overlapped
/// as a server's stream overlaps them: while one batch is applied to the
/// state (in input order, one at a time), the next is analysed on the bulk
/// pool and the one before waits for its commit. At most `window` batches
/// are in flight; batches are read, and their outcomes handed to
/// `on_batch`, on the calling thread, in input order.
fn local_pipeline(
    engine: &Engine,
    batches: impl Iterator<Item = anyhow::Result<Vec<Document>>>,
    window: usize,
    mut on_batch: impl FnMut(Vec<Outcome>, Duration) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use std::sync::mpsc::sync_channel;
    let window = window.max(1);
    std::thread::scope(|s| {
        let (to_analyze, analyze_rx) = sync_channel::<(Vec<Document>, Instant)>(window);
        let (to_apply, apply_rx) = sync_channel(window);
        let (to_finish, finish_rx) = sync_channel(window);
        let (to_caller, done) = sync_channel::<(Vec<Outcome>, Duration)>(window);
        let step = |name: &str| std::thread::Builder::new().name(format!("chaff-{name}"));
        // Each step ends when the one before it hangs up.
        step("analyze").spawn_scoped(s, move || {
            for (docs, sent) in analyze_rx {
                if to_apply.send((engine.analyze_batch(docs), sent)).is_err() {
                    return;
                }
            }
        })?;
        step("apply").spawn_scoped(s, move || {
            for (analyzed, sent) in apply_rx {
                if to_finish
                    .send((engine.apply_batch(analyzed), sent))
                    .is_err()
                {
                    return;
                }
            }
        })?;
        step("commit").spawn_scoped(s, move || {
            for (applied, sent) in finish_rx {
                let outcomes = engine
                    .finish_batch(applied)
                    .into_iter()
                    .map(|r| r.map_err(|e| e.to_string()))
                    .collect();
                if to_caller.send((outcomes, sent.elapsed())).is_err() {
                    return;
                }
            }
        })?;
        let mut in_flight = 0;
        let mut answer = |in_flight: &mut usize| -> anyhow::Result<()> {
            let (outcomes, latency) = done
                .recv()
                .map_err(|_| anyhow!("the ingest pipeline stopped"))?;
            *in_flight -= 1;
            on_batch(outcomes, latency)
        };
        for batch in batches {
            let batch = batch?;
            if in_flight == window {
                answer(&mut in_flight)?;
            }
            to_analyze
                .send((batch, Instant::now()))
                .map_err(|_| anyhow!("the ingest pipeline stopped"))?;
            in_flight += 1;
        }
        drop(to_analyze);
        while in_flight > 0 {
            answer(&mut in_flight)?;
        }
        Ok(())
    })
}
