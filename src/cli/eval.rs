//! `chaff eval`: label a gold file from an empty index and score the
//! labels with the benchmark scorer's measures.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{feed, input, Backend, FeedArgs, Target};
use crate::classify::Label;
use crate::eval::{
    extraction, extraction_document, report, score_document, GoldRecord, Measures, Report,
};
use crate::labels::DocumentLabels;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Labelled JSONL: {"id", "text", "labels": [one per "\n\n" paragraph],
    /// "site"?, "extra": {"syndicated_with"}?, "gold_main_text"?} plus the
    /// document fields. With --use html: the extraction track (the text of
    /// the editorial and syndicated segments against `gold_main_text`, as
    /// bags of words, pages with html only).
    #[arg(long)]
    pub gold: PathBuf,
    /// Score labels against the final index (default: as they arrived).
    #[arg(long = "final")]
    pub final_labels: bool,
    /// Only the records whose "split" is this (e.g. `test`): the stream is
    /// those records alone, in file order, from an empty index.
    #[arg(long)]
    pub split: Option<String>,
    /// The site subset keeps sites with at least this many documents.
    #[arg(long, default_value_t = 5)]
    pub min_site_pages: usize,
    /// Also print a table per site (sites of the subset).
    #[arg(long)]
    pub by_site: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write each segment's model features and gold label to this JSONL
    /// file, for fitting the segment model (`bench/model/fit.py`).
    #[arg(long, value_name = "FILE")]
    pub dump_features: Option<PathBuf>,
    #[command(flatten)]
    pub feed: FeedArgs,
    #[command(flatten)]
    pub target: Target,
}

pub fn eval(mut a: EvalArgs) -> anyhow::Result<()> {
    // The protocol starts from an empty index: in-process runs are in memory.
    a.target.storage.ephemeral = true;
    a.feed.skip_bad = true;
    let html = a.feed.use_body == input::Use::Html;
    // A split is fed as a file of its own; the guard removes it at the end.
    let _split_file = match &a.split {
        Some(split) => {
            let (path, guard) = split_file(&a.gold, split)?;
            a.gold = path;
            Some(guard)
        }
        None => None,
    };
    if a.dump_features.is_some() && a.target.server.is_some() {
        // Pattern features travel in-process only.
        anyhow::bail!("--dump-features needs the in-process engine: drop --server");
    }
    let gold = read_gold(&a.gold)?;
    let order: HashMap<String, usize> = gold
        .iter()
        .enumerate()
        .map(|(i, g)| (g.id.clone(), i))
        .collect();
    let backend = Backend::connect(&a.target)?;
    let mut predictions: HashMap<String, DocumentLabels> = HashMap::new();
    let mut ids = Vec::new();
    feed(
        &backend,
        &a.gold,
        &a.feed,
        "evaluating",
        false,
        |_, outcome| {
            if let Ok(l) = outcome {
                ids.push(l.id.clone());
                if !a.final_labels {
                    predictions.insert(l.id.clone(), l.clone());
                }
            }
            Ok(())
        },
    )?;
    if a.final_labels {
        for id in ids {
            let l = if html {
                // HTML offsets refer to the extracted text: fetch it too.
                let (mut l, text) = backend.document_with_text(&id)?;
                l.text = Some(text);
                l
            } else {
                backend.document(&id)?
            };
            predictions.insert(id, l);
        }
    }
    backend.close();
    if let Some(path) = &a.dump_features {
        dump_features(&a, &gold, &predictions, path)?;
    }
    let mode = if a.final_labels {
        "against the final index"
    } else {
        "as they arrived"
    };
    if html {
        let pages = site_pages(&gold);
        let scored: Vec<_> = gold
            .iter()
            .filter_map(|g| {
                let l = predictions.get(&g.id)?;
                let text = l.text.as_deref()?; // pages without html are left out
                let main: Vec<&str> = l
                    .segments
                    .iter()
                    .filter(|s| s.label != Label::Boilerplate)
                    .filter_map(|s| text.get(s.start as usize..s.end as usize))
                    .collect();
                let gold_text = crate::eval::gold_main(g.gold_main_text.as_deref().unwrap_or(""));
                // The site, when it is in the subset of sites with enough pages.
                let big = g.site.as_deref().filter(|s| pages[s] >= a.min_site_pages);
                Some((big, extraction_document(gold_text, &main.join("\n\n"))))
            })
            .collect();
        let all = extraction(&scored.iter().map(|(_, s)| *s).collect::<Vec<_>>());
        let mut per_site: std::collections::BTreeMap<&str, Vec<_>> = Default::default();
        for (site, s) in &scored {
            if let Some(site) = site {
                per_site.entry(site).or_default().push(*s);
            }
        }
        let big = extraction(&per_site.values().flatten().copied().collect::<Vec<_>>());
        let by_site: std::collections::BTreeMap<&str, _> = per_site
            .iter()
            .map(|(site, s)| (*site, extraction(s)))
            .collect();
        if a.json {
            println!(
                "{}",
                serde_json::json!({ "all": all, "sites_min_pages": a.min_site_pages, "big_sites": big, "by_site": by_site })
            );
        } else {
            println!("extraction track (html input), labels {mode}; bags of words against gold_main_text");
            println!(
                "{:<28} {:>6} {:>6} {:>6} {:>7}",
                "subset", "docs", "mean_P", "mean_R", "mean_F1"
            );
            let sites = by_site
                .iter()
                .filter(|_| a.by_site)
                .map(|(site, e)| (format!("  {site}"), *e));
            for (name, e) in [
                ("all".to_string(), all),
                (format!("sites>={}", a.min_site_pages), big),
            ]
            .into_iter()
            .chain(sites)
            {
                println!(
                    "{name:<28} {:>6} {:>6} {:>6} {:>7}",
                    e.documents,
                    cell(e.mean_precision),
                    cell(e.mean_recall),
                    cell(e.mean_f1)
                );
            }
        }
        return Ok(());
    }
    let per_doc: Vec<_> = gold
        .iter()
        .map(|g| {
            (
                g.site.clone(),
                score_document(g, predictions.get(&g.id), &order),
            )
        })
        .collect();
    let r = report(&per_doc, a.min_site_pages);
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        print!("{}", table(&r, a.by_site, a.final_labels));
    }
    Ok(())
}

/// One JSON line per segment: gold label of the paragraph it starts in,
/// characters, and the model's features (page features, then cross-document
/// features from the labels), in the order `names` gives.
fn dump_features(
    a: &EvalArgs,
    gold: &[GoldRecord],
    predictions: &HashMap<String, DocumentLabels>,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use std::io::Write;
    let html = a.feed.use_body == input::Use::Html;
    let engine = crate::Engine::ephemeral(a.target.engine.config())?;
    let threshold = a.target.engine.config().policy.boilerplate_min_documents;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    let mut names = crate::structure::names();
    names.extend(crate::classify::cross_names());
    names.extend(crate::classify::context_names());
    names.extend(crate::pattern::names());
    writeln!(out, "{}", serde_json::json!({ "names": names }))?;
    let input = input::open(&a.gold)?;
    let by_id: HashMap<&str, &GoldRecord> = gold.iter().map(|g| (g.id.as_str(), g)).collect();
    for line in input.reader.lines() {
        let line = line?;
        let parsed = input::parse_line(&line, a.feed.use_body, !a.feed.no_markup);
        let (Some(id), Ok(doc)) = (parsed.id, parsed.doc) else {
            continue;
        };
        let (Some(g), Some(labels)) = (by_id.get(id.as_str()), predictions.get(&id)) else {
            continue;
        };
        let split = serde_json::from_str::<serde_json::Value>(&line)?
            .get("split")
            .cloned()
            .unwrap_or_default();
        let Ok(evidence) = engine.page_evidence(doc) else {
            continue;
        };
        // Paragraph starts of the gold text (byte offsets).
        let mut starts = Vec::new();
        let mut at = 0usize;
        for p in g.text.split("\n\n") {
            starts.push(at);
            at += p.len() + 2;
        }
        // HTML input: segments are chaff's blocks of its own extracted text;
        // a block takes the label of the gold paragraph with its text (or
        // with its first line's), and is left out when none has it.
        let squash = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        let by_text: HashMap<String, &String> =
            g.text.split("\n\n").map(&squash).zip(&g.labels).collect();
        let html_text = labels.text.as_deref().filter(|_| html);
        let priors: Vec<f32> = evidence.iter().map(|e| e.prior).collect();
        let repeated: Vec<bool> = labels
            .segments
            .iter()
            .map(|l| l.source_documents >= 2)
            .collect();
        let context = crate::classify::document_context(&priors, &repeated);
        for ((e, l), c) in evidence.iter().zip(&labels.segments).zip(&context) {
            let (text, gold_label) = match html_text {
                Some(t) => {
                    let text = t.get(e.start as usize..e.end as usize).unwrap_or("");
                    let found = by_text
                        .get(&squash(text))
                        .or_else(|| by_text.get(&squash(text.split('\n').next().unwrap_or(""))));
                    let Some(label) = found else { continue };
                    (text, label.as_str())
                }
                None => {
                    let p = starts
                        .partition_point(|&s| s <= e.start as usize)
                        .saturating_sub(1);
                    let Some(label) = g.labels.get(p) else {
                        continue;
                    };
                    (
                        g.text.get(e.start as usize..e.end as usize).unwrap_or(""),
                        label.as_str(),
                    )
                }
            };
            let earlier_elsewhere = l
                .first_seen
                .as_ref()
                .is_some_and(|o| o.source != labels.source);
            let cross = crate::classify::cross_features(
                l.source_documents,
                l.cluster_sources,
                earlier_elsewhere,
                threshold,
            );
            let x: Vec<f32> = e
                .features
                .iter()
                .chain(cross.iter())
                .chain(c.iter())
                .chain(l.pattern.iter())
                .copied()
                .collect();
            let chars = text.chars().count();
            let snippet: String = text.chars().take(60).collect();
            writeln!(
                out,
                "{}",
                serde_json::json!({
                    "doc": g.id, "site": g.site, "split": split, "label": gold_label,
                    "chars": chars, "x": x, "text": snippet, "pred": l.label.as_str(),
                })
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Removes a temporary file when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes the records of one split to a temporary file.
fn split_file(gold: &std::path::Path, split: &str) -> anyhow::Result<(PathBuf, RemoveOnDrop)> {
    use std::io::Write;
    let path =
        std::env::temp_dir().join(format!("chaff-eval-{}-{split}.jsonl", std::process::id()));
    let guard = RemoveOnDrop(path.clone());
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?,
    );
    let mut kept = 0usize;
    for line in input::open(gold)?.reader.lines() {
        let line = line.with_context(|| format!("cannot read {}", gold.display()))?;
        let v: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if v.get("split").and_then(|s| s.as_str()) == Some(split) {
            writeln!(out, "{line}")?;
            kept += 1;
        }
    }
    out.flush()?;
    if kept == 0 {
        anyhow::bail!("no record of {} has \"split\": {split:?}", gold.display());
    }
    Ok((path, guard))
}

fn site_pages(gold: &[GoldRecord]) -> HashMap<&str, usize> {
    let mut pages = HashMap::new();
    for s in gold.iter().filter_map(|g| g.site.as_deref()) {
        *pages.entry(s).or_default() += 1;
    }
    pages
}

fn read_gold(path: &std::path::Path) -> anyhow::Result<Vec<GoldRecord>> {
    let input = input::open(path)?;
    let mut out = Vec::new();
    for (n, line) in input.reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let g: GoldRecord = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: not a gold record", path.display(), n + 1))?;
        out.push(g);
    }
    Ok(out)
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

fn row(name: &str, docs: usize, m: &Measures) -> String {
    format!(
        "{name:<28} {docs:>6} {} {} {} {} {} {} {} {} {} {}\n",
        cell(m.bp_precision),
        cell(m.bp_recall),
        cell(m.bp_f1),
        cell(m.editorial_loss),
        cell(m.boilerplate_leak),
        cell(m.syn_precision),
        cell(m.syn_recall),
        cell(m.syn_f1),
        cell(m.first_seen_partner),
        cell(m.first_seen_origin),
    )
}

fn table(r: &Report, by_site: bool, final_labels: bool) -> String {
    let mut out = format!(
        "labels {}; character-weighted\n{:<28} {:>6} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}\n",
        if final_labels { "against the final index" } else { "as they arrived" },
        "subset",
        "docs",
        "bp_P",
        "bp_R",
        "bp_F1",
        "edLos",
        "bpLek",
        "syn_P",
        "syn_R",
        "synF1",
        "fsPar",
        "fsOrg"
    );
    out.push_str(&row("all", r.documents, &r.all));
    out.push_str(&row(
        &format!("sites>={} ({} sites)", r.sites_min_pages, r.sites),
        r.site_documents,
        &r.big_sites,
    ));
    if by_site {
        for (site, m) in &r.by_site {
            let pages = r.site_pages.get(site).copied().unwrap_or(0);
            out.push_str(&row(&format!("  {site}"), pages, m));
        }
    }
    out
}
