//! The unary-latency probe of `chaff bench`: unary `Analyze` calls of a
//! news-sized article at a fixed rate, open loop. Each call is due at a time
//! set by the clock alone and its latency counts from that time, so a server
//! that stalls cannot hide the stall by slowing the sender down (coordinated
//! omission).

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use clap::Args;
use prost::Message;
use tokio::runtime::Runtime;

use super::backend::Clients;
use super::input;
use crate::convert;
use crate::document::{Body, Document};
use crate::proto::v1 as pb;

#[derive(Debug, Args)]
pub struct UnaryArgs {
    /// Also send unary `Analyze` calls at this many a second while the bulk
    /// stream runs (open loop; needs --server). 0: no probe.
    #[arg(long, default_value_t = 0.0)]
    pub unary_rate: f64,
    /// Paragraphs of each unary article (made from the corpus's first lines).
    #[arg(long, default_value_t = 30)]
    pub unary_paragraphs: usize,
    /// Seconds of unary calls alone, before the bulk stream starts, for the
    /// latency without it (0: none).
    #[arg(long, default_value_t = 5.0)]
    pub unary_alone: f64,
    /// Stop the unary calls beside the bulk stream after this many seconds
    /// if the stream has not ended by then (an overloaded server would
    /// otherwise slow the stream, and so lengthen the probe, without end).
    #[arg(long, default_value_t = 30.0)]
    pub unary_seconds: f64,
    /// Send the unary calls as dry runs instead of ingesting them.
    #[arg(long)]
    pub unary_dry_run: bool,
}

/// A call that takes longer than this counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Corpus lines read for the articles' paragraphs.
const POOL_LINES: usize = 4096;
/// Sources the articles are spread over; each has its own first and last
/// paragraph in every article, as a site's template would.
const SOURCES: u64 = 64;

/// What one phase of the probe measured.
pub struct Phase {
    pub calls: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
    /// Of the calls that succeeded, from due time to answer.
    pub latencies: Vec<Duration>,
}

pub struct Probe {
    rt: Runtime,
    clients: Clients,
    period: Duration,
    paragraphs: usize,
    mode: pb::Mode,
    pool: Vec<String>,
    /// Ids are `unary-RUN-N`: new on every run against the same server.
    run: u128,
    sent: u64,
}

impl Probe {
    pub fn connect(
        url: &str,
        client: &super::backend::ClientArgs,
        corpus: &Path,
        a: &UnaryArgs,
    ) -> anyhow::Result<Probe> {
        if !(a.unary_rate.is_finite() && a.unary_rate > 0.0) {
            bail!("--unary-rate must be a positive number of calls a second");
        }
        if a.unary_paragraphs < 3 {
            bail!("--unary-paragraphs must be at least 3");
        }
        let pool = paragraph_pool(corpus)?;
        // One worker answers the calls; the pacing runs on the caller's
        // thread, whose sleep is finer than tokio's millisecond timer.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let clients = super::backend::clients(&rt, url, client)?;
        Ok(Probe {
            rt,
            clients,
            period: Duration::from_secs_f64(1.0 / a.unary_rate),
            paragraphs: a.unary_paragraphs,
            mode: if a.unary_dry_run {
                pb::Mode::DryRun
            } else {
                pb::Mode::Ingest
            },
            pool,
            run: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            sent: 0,
        })
    }

    /// Sends a call every period from now until `stop` says the next due
    /// time is past the phase (at least one call), then waits for the calls
    /// in flight.
    pub fn run(&mut self, stop: impl Fn(Instant) -> bool) -> Phase {
        let start = Instant::now();
        let mut calls = Vec::new();
        for i in 0u32.. {
            let due = start + self.period * i;
            if i > 0 && stop(due) {
                break;
            }
            // Built before it is due, so that building it is not timed.
            let request = pb::AnalyzeRequest {
                document: Some(convert::document_to_pb(self.article(self.sent))),
                mode: self.mode as i32,
            };
            let mut client = self.clients.sized(request.encoded_len());
            self.sent += 1;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            calls.push(self.rt.spawn(async move {
                let answer = tokio::time::timeout(CALL_TIMEOUT, client.analyze(request)).await;
                let latency = due.elapsed();
                match answer {
                    Ok(Ok(_)) => Ok(latency),
                    Ok(Err(s)) => Err(format!("{}: {}", s.code(), s.message())),
                    Err(_) => Err(format!("no answer in {}s", CALL_TIMEOUT.as_secs())),
                }
            }));
        }
        let seconds = start.elapsed().as_secs_f64();
        let mut phase = Phase {
            calls: calls.len() as u64,
            errors: 0,
            first_error: None,
            seconds,
            latencies: Vec::with_capacity(calls.len()),
        };
        self.rt.block_on(async {
            for call in calls {
                match call.await {
                    Ok(Ok(latency)) => phase.latencies.push(latency),
                    Ok(Err(e)) => {
                        phase.errors += 1;
                        phase.first_error.get_or_insert(e);
                    }
                    Err(e) => {
                        phase.errors += 1;
                        phase.first_error.get_or_insert(e.to_string());
                    }
                }
            }
        });
        phase
    }

    /// Article `n`: a template paragraph of its source first and last, and
    /// between them corpus paragraphs with their words shuffled, so that
    /// each is new to the index.
    fn article(&self, n: u64) -> Document {
        let source = n % SOURCES;
        let pick = |k: u64| self.pool[(k % self.pool.len() as u64) as usize].as_str();
        let mut rng = Rng(n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.run as u64 | 1);
        let mut paragraphs = Vec::with_capacity(self.paragraphs);
        paragraphs.push(pick(source).to_string());
        for j in 1..self.paragraphs as u64 - 1 {
            let mut words: Vec<&str> = pick(n * self.paragraphs as u64 + j + SOURCES * 2)
                .split_whitespace()
                .collect();
            for k in (1..words.len()).rev() {
                words.swap(k, (rng.next() % (k as u64 + 1)) as usize);
            }
            paragraphs.push(words.join(" "));
        }
        paragraphs.push(pick(source + SOURCES).to_string());
        Document {
            id: format!("unary-{}-{n}", self.run),
            source: format!("unary{source}.example"),
            url: format!("https://unary{source}.example/{}/{n}", self.run),
            published_at: None,
            body: Body::Paragraphs(paragraphs),
            markup: None,
        }
    }
}

/// Texts of the corpus's first lines, split into paragraphs.
fn paragraph_pool(corpus: &Path) -> anyhow::Result<Vec<String>> {
    let mut pool = Vec::new();
    for line in input::lines(input::open(corpus)?.reader).take(POOL_LINES) {
        let (_, line) = line.map_err(|e| anyhow!("cannot read {}: {e}", corpus.display()))?;
        let paragraphs = match input::parse_line(&line, input::Use::Text, false).doc {
            Ok(Document {
                body: Body::Text(t),
                ..
            }) => t.split("\n\n").map(str::to_string).collect(),
            Ok(Document {
                body: Body::Paragraphs(p),
                ..
            }) => p,
            _ => continue,
        };
        pool.extend(
            paragraphs
                .into_iter()
                .map(|p| p.trim().to_string())
                .filter(|p| p.split_whitespace().count() >= 3),
        );
    }
    if pool.is_empty() {
        bail!(
            "the first {POOL_LINES} lines of {} have no text paragraph of three words or more for the unary articles",
            corpus.display()
        );
    }
    Ok(pool)
}

/// xorshift64: a cheap, repeatable shuffle.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
