//! `chaff eval`: label a gold file from an empty index and score the
//! labels with the benchmark scorer's measures.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{feed, input, Backend, FeedArgs, Target};
use crate::eval::{report, score_document, GoldRecord, Measures, Report};
use crate::labels::DocumentLabels;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Labelled JSONL: {"id", "text", "labels": [one per "\n\n" paragraph],
    /// "site"?, "extra": {"syndicated_with"}?} plus the document fields.
    #[arg(long)]
    pub gold: PathBuf,
    /// Score labels against the final index (default: as they arrived).
    #[arg(long = "final")]
    pub final_labels: bool,
    /// The site subset keeps sites with at least this many documents.
    #[arg(long, default_value_t = 5)]
    pub min_site_pages: usize,
    /// Also print a table per site (sites of the subset).
    #[arg(long)]
    pub by_site: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub feed: FeedArgs,
    #[command(flatten)]
    pub target: Target,
}

pub fn eval(mut a: EvalArgs) -> anyhow::Result<()> {
    if a.feed.use_body == input::Use::Html {
        anyhow::bail!(
            "chaff eval scores the paragraph track, whose offsets refer to the gold `text`: run it with --use text"
        );
    }
    // The protocol starts from an empty index: in-process runs are in memory.
    a.target.storage.ephemeral = true;
    a.feed.skip_bad = true;
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
            let l = backend.document(&id)?;
            predictions.insert(id, l);
        }
    }
    backend.close();
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
            out.push_str(&row(&format!("  {site}"), 0, m));
        }
    }
    out
}
