//! `chaff bench`: a load generator. Streams a JSONL corpus through
//! `AnalyzeStream` to a server (or through the engine in-process, to show
//! what gRPC costs) and prints throughput and batch latency; with
//! `--unary-rate`, also the latency of unary calls made meanwhile.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde::Serialize;

use super::unary::{Phase, Probe, UnaryArgs};
use super::{feed, Backend, FeedArgs, Target};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// JSONL corpus (`.gz` is decompressed; `-` is stdin).
    pub file: PathBuf,
    /// Print one JSON object as the last line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub feed: FeedArgs,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub unary: UnaryArgs,
}

#[derive(Debug, Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

/// The unary calls of one phase.
#[derive(Debug, Serialize)]
struct Unary {
    requests: u64,
    errors: u64,
    per_sec: f64,
    latency_ms: Percentiles,
}

impl Unary {
    fn new(p: Phase) -> Unary {
        Unary {
            requests: p.calls,
            errors: p.errors,
            per_sec: p.latencies.len() as f64 / p.seconds.max(1e-9),
            latency_ms: percentiles(p.latencies),
        }
    }
}

/// The probe's figures in the report: those made while the bulk stream
/// ran, and those of the calls alone before it.
#[derive(Debug, Serialize)]
struct UnaryFields {
    unary_mode: &'static str,
    unary_paragraphs: usize,
    unary_rate: f64,
    unary_requests: u64,
    unary_errors: u64,
    unary_per_sec: f64,
    unary_latency_ms: Percentiles,
    #[serde(skip_serializing_if = "Option::is_none")]
    unary_alone: Option<Unary>,
}

#[derive(Debug, Serialize)]
struct Report {
    path: &'static str,
    documents: u64,
    paragraphs: u64,
    bad: u64,
    bytes: u64,
    seconds: f64,
    paragraphs_per_sec: f64,
    documents_per_sec: f64,
    mb_per_sec: f64,
    batches: usize,
    batch_size: usize,
    in_flight: usize,
    batch_latency_ms: Percentiles,
    /// From the index's own Stats after the run.
    indexed_paragraphs: u64,
    indexed_fingerprints: u64,
    clusters: u64,
    resident_bytes: u64,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    unary: Option<UnaryFields>,
}

fn percentiles(mut v: Vec<Duration>) -> Percentiles {
    v.sort_unstable();
    let at = |q: f64| {
        if v.is_empty() {
            return 0.0;
        }
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        v[i].as_secs_f64() * 1000.0
    };
    Percentiles {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        p999: at(0.999),
        max: at(1.0),
    }
}

pub fn bench(a: BenchArgs) -> anyhow::Result<()> {
    let mut probe = match (a.unary.unary_rate > 0.0, &a.target.server) {
        (false, _) => None,
        (true, Some(url)) => Some(Probe::connect(url, &a.target.client, &a.file, &a.unary)?),
        (true, None) => bail!("--unary-rate measures a server's unary calls: add --server URL"),
    };
    let alone = match &mut probe {
        Some(p) if a.unary.unary_alone > 0.0 => {
            let end = Instant::now() + Duration::from_secs_f64(a.unary.unary_alone);
            Some(Unary::new(p.run(|due| due >= end)))
        }
        _ => None,
    };
    let backend = Backend::connect(&a.target)?;
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let (totals, with_bulk) = std::thread::scope(|s| {
        let done = &done;
        let probe = probe.as_mut().map(|p| {
            let end = Instant::now() + Duration::from_secs_f64(a.unary.unary_seconds.max(0.0));
            s.spawn(move || p.run(|due| due >= end || done.load(Ordering::Relaxed)))
        });
        let totals = feed(&backend, &a.file, &a.feed, "benchmarking", false, |_, _| {
            Ok(())
        });
        done.store(true, Ordering::Relaxed);
        let with_bulk = probe.map(|h| h.join().expect("unary probe panicked"));
        (totals, with_bulk)
    });
    let totals = totals?;
    let seconds = started.elapsed().as_secs_f64();
    let stats = backend.stats()?;
    backend.close();
    let report = Report {
        path: if a.target.server.is_some() {
            "grpc"
        } else {
            "in-process"
        },
        documents: totals.documents,
        paragraphs: totals.segments,
        bad: totals.bad,
        bytes: totals.bytes,
        seconds,
        paragraphs_per_sec: totals.segments as f64 / seconds,
        documents_per_sec: totals.documents as f64 / seconds,
        mb_per_sec: totals.bytes as f64 / seconds / 1e6,
        batches: totals.latencies.len(),
        batch_size: a.feed.batch_size,
        in_flight: a.feed.window,
        batch_latency_ms: percentiles(totals.latencies),
        indexed_paragraphs: stats.segments,
        indexed_fingerprints: stats.indexed_fingerprints,
        clusters: stats.clusters,
        resident_bytes: stats.resident_bytes,
        unary: with_bulk.map(|p| {
            if let Some(e) = &p.first_error {
                eprintln!(
                    "unary calls failed: {} of {}, the first: {e}",
                    p.errors, p.calls
                );
            }
            let u = Unary::new(p);
            UnaryFields {
                unary_mode: if a.unary.unary_dry_run {
                    "dry-run"
                } else {
                    "ingest"
                },
                unary_paragraphs: a.unary.unary_paragraphs,
                unary_rate: a.unary.unary_rate,
                unary_requests: u.requests,
                unary_errors: u.errors,
                unary_per_sec: u.per_sec,
                unary_latency_ms: u.latency_ms,
                unary_alone: alone,
            }
        }),
    };
    let l = &report.batch_latency_ms;
    eprintln!(
        "{}: {} documents, {} paragraphs, {:.1} MB in {:.2}s: {:.0} paragraphs/s, {:.0} documents/s, {:.2} MB/s\n\
         batches of {} ({} in flight): latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n\
         index: {} paragraphs, {} fingerprints, {} clusters; resident memory {:.1} MiB ({:.0} bytes/paragraph)",
        report.path,
        report.documents,
        report.paragraphs,
        report.bytes as f64 / 1e6,
        report.seconds,
        report.paragraphs_per_sec,
        report.documents_per_sec,
        report.mb_per_sec,
        report.batch_size,
        report.in_flight,
        l.p50,
        l.p90,
        l.p99,
        l.max,
        report.indexed_paragraphs,
        report.indexed_fingerprints,
        report.clusters,
        report.resident_bytes as f64 / (1 << 20) as f64,
        report.resident_bytes as f64 / report.indexed_paragraphs.max(1) as f64,
    );
    if let Some(u) = &report.unary {
        let line = |what: &str, n: u64, errors: u64, rate: f64, l: &Percentiles| {
            eprintln!(
                "unary {what}: {n} calls ({errors} failed), {rate:.0}/s: latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
                l.p50, l.p90, l.p99, l.p999, l.max
            )
        };
        eprintln!(
            "unary Analyze ({}, {} paragraphs) at {}/s asked, open loop:",
            u.unary_mode, u.unary_paragraphs, u.unary_rate
        );
        if let Some(o) = &u.unary_alone {
            line("alone", o.requests, o.errors, o.per_sec, &o.latency_ms);
        }
        line(
            "with the bulk stream",
            u.unary_requests,
            u.unary_errors,
            u.unary_per_sec,
            &u.unary_latency_ms,
        );
    }
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = percentiles(v);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(percentiles(vec![]).p99, 0.0);
    }
}
