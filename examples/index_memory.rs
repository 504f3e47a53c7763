//! The index alone on a JSONL corpus (`{"text": ...}` per line, e.g. from
//! bench/corpus/generate.py): memory per paragraph and time per step,
//! without the engine's records, the store or JSON output.
//!
//!     cargo run --release --example index_memory -- /tmp/c1m/corpus.jsonl
//!
//! Each paragraph is looked up (exact, then near) and inserted into the
//! cluster it matched or a new one, as the engine does.

use std::io::BufRead;
use std::time::Instant;

use chaff::engine::resident_bytes;
use chaff::fingerprint::fingerprint;
use chaff::index::{SegmentIndex, SketchIndex};
use chaff::normalize::{normalize, Normalized};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: index_memory CORPUS.jsonl"))?;
    let mut texts = Vec::new();
    for line in std::io::BufReader::new(std::fs::File::open(&path)?).lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        texts.push(v["text"].as_str().unwrap_or_default().to_string());
    }
    let n = texts.len().max(1) as f64;

    let mut norm = Normalized::default();
    let started = Instant::now();
    for t in &texts {
        normalize(t, &mut norm);
    }
    let normalize_s = started.elapsed().as_secs_f64();

    // Normalise and fingerprint alone, timed by this process's CPU time
    // (robust to other load on the machine): the per-core rate.
    let cpu_started = cpu_seconds();
    let mut exact = 0u64;
    for t in &texts {
        normalize(t, &mut norm);
        exact ^= fingerprint(&norm).exact;
    }
    let both_cpu = cpu_seconds() - cpu_started;
    let cpu_started = cpu_seconds();
    for t in &texts {
        normalize(t, &mut norm);
        exact ^= norm.tokens.len() as u64;
    }
    let normalize_cpu = cpu_seconds() - cpu_started;
    // Fingerprinting alone, measured directly on texts normalised
    // beforehand (the first 200k, to bound the memory this takes).
    let normalized: Vec<Normalized> = texts
        .iter()
        .take(200_000)
        .map(|t| {
            let mut n = Normalized::default();
            normalize(t, &mut n);
            n
        })
        .collect();
    let cpu_started = cpu_seconds();
    for n in &normalized {
        exact ^= fingerprint(n).exact;
    }
    let fingerprint_cpu = cpu_seconds() - cpu_started;
    drop(normalized);
    println!(
        "per CPU-second: normalize {:.0} paragraphs, normalize + fingerprint {:.0} paragraphs, \
         fingerprint alone {:.0} paragraphs [{exact:x}]",
        n / normalize_cpu.max(1e-9),
        n / both_cpu.max(1e-9),
        n.min(200_000.0) / fingerprint_cpu.max(1e-9),
    );

    let before = resident_bytes();
    let mut index = SketchIndex::new();
    let mut clusters = 0u64;
    let (mut fingerprint_s, mut index_s) = (0.0, 0.0);
    for t in &texts {
        normalize(t, &mut norm);
        let started = Instant::now();
        let fp = fingerprint(&norm);
        let fingerprinted = Instant::now();
        let cluster = index
            .exact(fp.exact)
            .or_else(|| index.near(&fp).map(|m| m.cluster))
            .unwrap_or_else(|| {
                clusters += 1;
                clusters
            });
        index.insert(&fp, cluster);
        fingerprint_s += (fingerprinted - started).as_secs_f64();
        index_s += fingerprinted.elapsed().as_secs_f64();
    }
    let grown = resident_bytes().saturating_sub(before);
    println!(
        "{} paragraphs, {} distinct, {} clusters\n\
         per paragraph: normalize {:.2} us, fingerprint {:.2} us, index lookup+insert {:.2} us\n\
         index heap {:.1} B/paragraph ({:.1} B per distinct text), RSS growth {:.1} B/paragraph",
        texts.len(),
        index.len(),
        clusters,
        normalize_s / n * 1e6,
        fingerprint_s / n * 1e6,
        index_s / n * 1e6,
        index.heap_bytes() as f64 / n,
        index.heap_bytes() as f64 / index.len().max(1) as f64,
        grown as f64 / n,
    );
    Ok(())
}

/// CPU seconds (user + system) of this process so far (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let f: Vec<u64> = s
                .rsplit(')')
                .next()?
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|x| x.parse().ok())
                .collect();
            Some((f.first()? + f.get(1)?) as f64 / 100.0)
        })
        .unwrap_or(0.0)
}
