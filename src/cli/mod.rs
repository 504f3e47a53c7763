//! The `chaff` command line: a thin shell over [`Backend`] (the engine
//! in-process, or a server).

mod backend;
mod bench;
mod eval;
mod input;
mod render;
mod unary;
mod warc;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use backend::{Backend, Outcome, Target};

use crate::classify::Label;
use crate::config::ServeArgs;
use crate::document::{Body, Document};
use crate::engine::Engine;
use crate::labels::{ClusterQuery, DocumentLabels};
use crate::server::{self, ServeOptions};

#[derive(Debug, Parser)]
#[command(
    name = "chaff",
    version,
    about = "Labels every paragraph editorial, boilerplate or syndicated, with provenance."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server.
    Serve(ServeArgs),
    /// Label one article (a dry run unless --ingest) and print its segments.
    Check(CheckArgs),
    /// Add a JSONL stream of documents to the index.
    Ingest(IngestArgs),
    /// Label a JSONL file, one output line per input document.
    Label(LabelArgs),
    /// List the largest clusters (boilerplate of a source with --source).
    Clusters(ClustersArgs),
    /// Print index totals.
    Stats(StatsArgs),
    /// Ask a server's grpc.health.v1 service; exits 0 only when SERVING.
    Health(HealthArgs),
    /// Label a labelled corpus from an empty index and score the labels.
    Eval(eval::EvalArgs),
    /// Load generator: stream a corpus through a server (or in-process) and
    /// print throughput and batch latency.
    Bench(bench::BenchArgs),
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The server to ask.
    #[arg(long, env = "CHAFF_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// Service to ask about ("" for the server as a whole).
    #[arg(long, default_value = "chaff.v1.Chaff")]
    pub service: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Text file of the article; stdin when absent or `-`.
    pub file: Option<PathBuf>,
    /// Publisher (defaults to the registrable domain of --url).
    #[arg(long)]
    pub source: Option<String>,
    #[arg(long)]
    pub url: Option<String>,
    /// Document id (defaults to the file name).
    #[arg(long)]
    pub id: Option<String>,
    /// RFC 3339 publication time.
    #[arg(long)]
    pub published_at: Option<String>,
    /// Add the article to the index instead of a dry run.
    #[arg(long)]
    pub ingest: bool,
    /// The file is an HTML page.
    #[arg(long)]
    pub html: bool,
    /// Print the labels as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct FeedArgs {
    /// Documents per batch (one durable commit each).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Batches in flight: sent to a server, or moving through the in-process
    /// ingest (one analysed, one applied, the rest awaiting their commit).
    #[arg(long, alias = "in-flight", default_value_t = 4)]
    pub window: usize,
    /// Report bad records and carry on instead of stopping at the first.
    #[arg(long)]
    pub skip_bad: bool,
    /// Which body to send when a line has both `text` and `html`. With
    /// `text`, the line's `html` still goes along as `markup`: structural
    /// evidence for the text's paragraphs.
    #[arg(long = "use", value_enum, default_value_t = input::Use::Text)]
    pub use_body: input::Use,
    /// Do not send a line's `html` as `markup` with its `text`.
    #[arg(long)]
    pub no_markup: bool,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// JSONL file (`.gz` is decompressed; `-` is stdin).
    pub file: PathBuf,
    #[command(flatten)]
    pub feed: FeedArgs,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// JSONL documents (`.gz` is decompressed; `-` is stdin).
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write one JSON line per input document (`-`: stdout).
    #[arg(long)]
    pub output: PathBuf,
    /// Ingest everything first, then label every document against the
    /// final index (a batch result); default: label each as it arrives.
    #[arg(long = "final")]
    pub final_labels: bool,
    /// Give every segment its "text".
    #[arg(long)]
    pub with_text: bool,
    #[command(flatten)]
    pub feed: FeedArgs,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct ClustersArgs {
    /// Only clusters of this source (counts are then this source's documents).
    #[arg(long)]
    pub source: Option<String>,
    /// How many clusters to list.
    #[arg(long, default_value_t = 20)]
    pub top: u32,
    /// Only clusters with this label (editorial, boilerplate, syndicated).
    #[arg(long)]
    pub label: Option<Label>,
    /// Only clusters with at least this many documents.
    #[arg(long, default_value_t = 1)]
    pub min_documents: u32,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: Target,
}

/// Parses arguments and runs the command; the process exit code follows.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve(_));
    init_tracing(if serving { "info" } else { "warn" });
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(default: &str) {
    // html5ever reports each parse recovery it does not implement ("foster
    // parenting") as a warning: noise about the pages, not about chaff.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default},html5ever=error"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(a) => serve(a),
        Command::Check(a) => check(a),
        Command::Ingest(a) => ingest(a),
        Command::Label(a) => label(a),
        Command::Clusters(a) => clusters(a),
        Command::Stats(a) => stats(a),
        Command::Health(a) => health(a),
        Command::Eval(a) => eval::eval(a),
        Command::Bench(a) => bench::bench(a),
    }
}

fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let engine = Arc::new(
        Engine::open_with(a.engine.config(), a.storage.dir(), a.storage.open_options())
            .with_context(|| {
                format!(
                    "cannot open data directory {}",
                    a.storage.data_dir.display()
                )
            })?,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("cannot listen on {}", a.listen))?;
        // One machine-readable line, for supervisors and tests using port 0.
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        let opts = ServeOptions {
            max_message_bytes: a.max_message_bytes,
            drain_timeout: a.drain_timeout,
            admission: server::Admission::new(a.max_in_flight, a.queue_timeout),
            snapshot_interval: (!a.snapshot_interval.is_zero()).then_some(a.snapshot_interval),
        };
        server::serve(engine, listener, opts, server::shutdown_signal()).await
    })
}

fn check(a: CheckArgs) -> anyhow::Result<()> {
    let (text, default_id) = match a.file.as_deref() {
        None => (read_stdin()?, "stdin".to_string()),
        Some(p) if p.as_os_str() == "-" => (read_stdin()?, "stdin".to_string()),
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
            p.file_name()
                .map_or("article".into(), |n| n.to_string_lossy().into_owned()),
        ),
    };
    let published_at = a
        .published_at
        .as_deref()
        .map(crate::time::parse_rfc3339)
        .transpose()
        .map_err(|e| anyhow!("--published-at: {e}"))?;
    let doc = Document {
        id: a.id.unwrap_or(default_id),
        source: a.source.unwrap_or_default(),
        url: a.url.unwrap_or_default(),
        published_at,
        body: if a.html {
            Body::Html(text.clone())
        } else {
            Body::Text(text.clone())
        },
        markup: None,
    };
    let backend = Backend::connect(&a.target)?;
    let labels = backend.analyze(doc, !a.ingest)?;
    backend.close();
    if a.json {
        println!("{}", serde_json::to_string(&labels)?);
    } else {
        print!(
            "{}",
            render::document(&labels, labels.text.as_deref().unwrap_or(&text))
        );
    }
    Ok(())
}

fn read_stdin() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("cannot read stdin")?;
    Ok(s)
}

/// Totals of a feed.
#[derive(Debug, Default)]
struct FeedTotals {
    documents: u64,
    segments: u64,
    bad: u64,
    /// Bytes of the input lines sent.
    bytes: u64,
    /// Per batch: from sent to answered.
    latencies: Vec<std::time::Duration>,
}

/// What the reader knows about each line sent in a batch.
struct LineInfo {
    number: usize,
    /// What `number` counts ("line", "record").
    unit: &'static str,
    id: Option<String>,
    /// Set when the line was refused before it reached the engine.
    error: Option<String>,
    /// The text sent (plain or paragraph input), when asked for.
    text: Option<String>,
}

/// Reads `path`, sends its documents in batches, and hands every line's
/// outcome, in input order, to `on_line`.
fn feed(
    backend: &Backend,
    path: &std::path::Path,
    args: &FeedArgs,
    what: &str,
    keep_text: bool,
    mut on_line: impl FnMut(&LineInfo, Result<&DocumentLabels, &str>) -> anyhow::Result<()>,
) -> anyhow::Result<FeedTotals> {
    let input = input::open(path)?;
    let progress = progress_bar(input.size, what);
    let read = input.read.clone();
    let pending: Rc<RefCell<VecDeque<Vec<LineInfo>>>> = Rc::default();
    let producer_pending = pending.clone();
    let skip_bad = args.skip_bad;
    let prefer = args.use_body;
    let markup = !args.no_markup;
    let read_bytes = Rc::new(std::cell::Cell::new(0u64));
    let bytes = read_bytes.clone();
    let batch_size = args.batch_size.max(1);
    let mut records = input::documents(input.reader, prefer, markup)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let batches = std::iter::from_fn(move || {
        let mut docs = Vec::new();
        let mut infos = Vec::new();
        while docs.len() < batch_size {
            let Some(next) = records.next() else { break };
            let input::Parsed {
                number: n,
                unit,
                bytes: size,
                line: parsed,
            } = match next {
                Ok(p) => p,
                Err(e) => return Some(Err(anyhow!("cannot read {}: {e}", path.display()))),
            };
            bytes.set(bytes.get() + size);
            match parsed.doc {
                Ok(d) => {
                    let text = keep_text.then(|| sent_text(&d)).flatten();
                    docs.push(d);
                    infos.push(LineInfo {
                        number: n,
                        unit,
                        id: parsed.id,
                        error: None,
                        text,
                    });
                }
                // Refused lines travel with their batch so that they are
                // reported, and labelled, in input order.
                Err(e) if skip_bad => infos.push(LineInfo {
                    number: n,
                    unit,
                    id: parsed.id,
                    error: Some(e),
                    text: None,
                }),
                Err(e) => {
                    return Some(Err(anyhow!("{unit} {n}: {e} (use --skip-bad to carry on)")))
                }
            }
        }
        if infos.is_empty() {
            return None;
        }
        producer_pending.borrow_mut().push_back(infos);
        Some(Ok(docs))
    });
    let mut totals = FeedTotals::default();
    let result = backend.ingest_batches(batches, args.window, |outcomes, latency| {
        totals.latencies.push(latency);
        let infos = pending
            .borrow_mut()
            .pop_front()
            .ok_or_else(|| anyhow!("more batches answered than sent"))?;
        let mut outcomes = outcomes.into_iter();
        for info in &infos {
            let outcome = match &info.error {
                Some(e) => Err(e.clone()),
                None => outcomes
                    .next()
                    .ok_or_else(|| anyhow!("fewer results than documents in a batch"))?,
            };
            match &outcome {
                Ok(l) => {
                    totals.documents += 1;
                    totals.segments += l.segments.len() as u64;
                }
                Err(e) => {
                    if !skip_bad {
                        bail!(
                            "{} {} (id {:?}): {e} (use --skip-bad to carry on)",
                            info.unit,
                            info.number,
                            info.id.as_deref().unwrap_or("")
                        );
                    }
                    totals.bad += 1;
                    progress.suspend(|| eprintln!("skipped {} {}: {e}", info.unit, info.number));
                }
            }
            on_line(info, outcome.as_ref().map_err(String::as_str))?;
        }
        progress.set_position(read.load(Ordering::Relaxed));
        progress.set_message(format!("{} documents", totals.documents));
        Ok(())
    });
    progress.finish_and_clear();
    result?;
    totals.bytes = read_bytes.get();
    Ok(totals)
}

/// The text a plain or paragraph document's offsets refer to (HTML
/// documents get theirs back in the labels).
fn sent_text(d: &Document) -> Option<String> {
    match &d.body {
        Body::Text(t) => Some(t.clone()),
        Body::Paragraphs(p) => Some(p.join(crate::document::PARAGRAPH_JOINER)),
        Body::Html(_) => None,
    }
}

fn progress_bar(size: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(size, ProgressDrawTarget::hidden());
    }
    let bar = match size {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{spinner} {prefix} [{bar:30}] {bytes}/{total_bytes} {msg} ({eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.set_prefix(what.to_string());
    bar
}

fn ingest(a: IngestArgs) -> anyhow::Result<()> {
    let backend = Backend::connect(&a.target)?;
    let started = Instant::now();
    let totals = feed(
        &backend,
        &a.file,
        &a.feed,
        "ingesting",
        false,
        |_, _| Ok(()),
    )?;
    let secs = started.elapsed().as_secs_f64();
    let stats = backend.stats()?;
    backend.close();
    eprintln!(
        "ingested {} documents ({} segments) in {:.2}s: {:.0} docs/s, {:.0} segments/s; {} bad records skipped; index: {} documents, {} clusters",
        totals.documents,
        totals.segments,
        secs,
        totals.documents as f64 / secs.max(1e-9),
        totals.segments as f64 / secs.max(1e-9),
        totals.bad,
        stats.documents,
        stats.clusters
    );
    Ok(())
}

fn label(a: LabelArgs) -> anyhow::Result<()> {
    let backend = Backend::connect(&a.target)?;
    let mut out = JsonLines::new(if a.output.as_os_str() == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout()))
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(&a.output)
                .with_context(|| format!("cannot create {}", a.output.display()))?,
        ))
    });
    let started = Instant::now();
    // Final mode keeps the ids (whether the text came from HTML), and the
    // refusals, to label once all are in.
    let mut order: Vec<Pending> = Vec::new();
    let keep_text = a.with_text && !a.final_labels;
    let totals = feed(
        &backend,
        &a.input,
        &a.feed,
        "labelling",
        keep_text,
        |info, outcome| {
            if a.final_labels {
                order.push(match outcome {
                    Ok(l) => Ok((l.id.clone(), l.text.is_some())),
                    Err(e) => Err((info.id.clone(), e.to_string())),
                });
                return Ok(());
            }
            write_outcome(
                &mut out,
                info.id.as_deref(),
                outcome,
                a.with_text,
                info.text.as_deref(),
            )
        },
    )?;
    if a.final_labels {
        for entry in &order {
            match entry {
                Ok((id, from_html)) => {
                    let (mut labels, text) = if a.with_text || *from_html {
                        let (l, t) = backend.document_with_text(id)?;
                        (l, Some(t))
                    } else {
                        (backend.document(id)?, None)
                    };
                    if *from_html {
                        labels.text = text.clone();
                    }
                    write_outcome(
                        &mut out,
                        Some(id),
                        Ok(&labels),
                        a.with_text,
                        text.as_deref(),
                    )?;
                }
                Err((id, e)) => write_outcome(&mut out, id.as_deref(), Err(e), false, None)?,
            }
        }
    }
    out.flush()?;
    backend.close();
    eprintln!(
        "labelled {} documents ({} segments, {} bad) in {:.2}s{}",
        totals.documents,
        totals.segments,
        totals.bad,
        started.elapsed().as_secs_f64(),
        if a.final_labels {
            " against the final index"
        } else {
            " as they arrived"
        }
    );
    Ok(())
}

/// A document to label at the end: its id and whether its text came from
/// HTML, or the id (if known) and message of a refused line.
type Pending = Result<(String, bool), (Option<String>, String)>;

/// One output line. With `with_text`, every segment also gets its "text",
/// cut from the text that was sent (`sent`) or, for HTML, extracted.
fn write_outcome(
    out: &mut JsonLines,
    id: Option<&str>,
    outcome: Result<&DocumentLabels, &str>,
    with_text: bool,
    sent: Option<&str>,
) -> anyhow::Result<()> {
    match outcome {
        Ok(l) => match sent.or(l.text.as_deref()).filter(|_| with_text) {
            Some(text) => {
                let mut v = serde_json::to_value(l)?;
                if let Some(segments) = v["segments"].as_array_mut() {
                    for (s, seg) in segments.iter_mut().zip(&l.segments) {
                        let t = text
                            .get(seg.start as usize..seg.end as usize)
                            .unwrap_or_default();
                        s["text"] = serde_json::Value::from(t);
                    }
                }
                out.write(&v)
            }
            None => out.write(l),
        },
        Err(e) => out.write(&serde_json::json!({ "id": id, "error": e, "segments": [] })),
    }
}

/// JSONL output. Each line is serialised into one buffer and written
/// whole: serde's many small writes would each go through the `dyn Write`
/// (a tenth of `chaff label`'s instructions went there).
struct JsonLines {
    out: Box<dyn Write>,
    line: Vec<u8>,
}

impl JsonLines {
    fn new(out: Box<dyn Write>) -> JsonLines {
        JsonLines {
            out,
            line: Vec::new(),
        }
    }

    fn write(&mut self, value: &impl serde::Serialize) -> anyhow::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, value)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn clusters(a: ClustersArgs) -> anyhow::Result<()> {
    let backend = Backend::connect(&a.target)?;
    let page = backend.clusters(ClusterQuery {
        source: a.source,
        label: a.label,
        min_documents: a.min_documents,
        page_size: a.top,
        page_token: None,
    })?;
    backend.close();
    if a.json {
        for c in &page.clusters {
            println!("{}", serde_json::to_string(c)?);
        }
    } else {
        print!("{}", render::clusters(&page.clusters));
    }
    Ok(())
}

fn health(a: HealthArgs) -> anyhow::Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let status = rt.block_on(async {
        let endpoint = tonic::transport::Endpoint::from_shared(a.server.clone())
            .with_context(|| format!("--server {:?} is not a valid address", a.server))?
            .connect_timeout(std::time::Duration::from_secs(3))
            .timeout(std::time::Duration::from_secs(3));
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot connect to {}", a.server))?;
        let r = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: a.service.clone(),
            })
            .await
            .map_err(|s| anyhow!("health check failed: {}: {}", s.code(), s.message()))?;
        anyhow::Ok(r.into_inner().status())
    })?;
    println!("{}", status.as_str_name());
    if status != ServingStatus::Serving {
        bail!(
            "{} is not serving",
            if a.service.is_empty() {
                "the server"
            } else {
                &a.service
            }
        );
    }
    Ok(())
}

fn stats(a: StatsArgs) -> anyhow::Result<()> {
    let backend = Backend::connect(&a.target)?;
    let s = backend.stats()?;
    backend.close();
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        print!("{}", render::stats(&s));
    }
    Ok(())
}
