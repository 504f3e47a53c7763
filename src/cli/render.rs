//! Human output: colour on a terminal, plain when piped (or NO_COLOR).

use console::{style, Style};

use crate::classify::Label;
use crate::labels::{ClusterInfo, DocumentLabels, Stats};
use crate::time::format_rfc3339;

fn label_style(l: Label) -> Style {
    match l {
        Label::Editorial => Style::new().green(),
        Label::Boilerplate => Style::new().red().dim(),
        Label::Syndicated => Style::new().yellow(),
    }
}

/// One line of at most `max` characters.
pub fn snippet(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

pub fn document(labels: &DocumentLabels, text: &str) -> String {
    let mut out = String::new();
    for s in &labels.segments {
        let seg = text.get(s.start as usize..s.end as usize).unwrap_or("");
        let mut evidence = format!("{:.2}", s.confidence);
        if s.cluster_documents > 1 {
            evidence.push_str(&format!(
                " {}doc/{}src",
                s.cluster_documents, s.cluster_sources
            ));
        }
        if s.comment {
            evidence.push_str(" comment");
        }
        if let Some(f) = &s.first_seen {
            if s.label == Label::Syndicated {
                evidence.push_str(&format!(" from {} ({})", f.source, f.document_id));
            }
        }
        let tag = format!("{:<11}", s.label.as_str());
        out.push_str(&format!(
            "{} {} {}\n",
            label_style(s.label).apply_to(tag),
            style(format!("{evidence:<28}")).dim(),
            snippet(seg, 90)
        ));
    }
    let sum = &labels.summary;
    out.push_str(&format!(
        "{} segments, {} bytes: editorial {:.0}%, boilerplate {:.0}%, syndicated {:.0}%",
        sum.segments,
        sum.bytes,
        sum.editorial_share * 100.0,
        sum.boilerplate_share * 100.0,
        sum.syndicated_share * 100.0
    ));
    if let Some(o) = &sum.main_origin {
        out.push_str(&format!("; main origin {} ({})", o.source, o.document_id));
    }
    out.push('\n');
    out
}

pub fn clusters(list: &[ClusterInfo]) -> String {
    let mut out = format!(
        "{}\n",
        style(format!(
            "{:>8} {:>6} {:>5} {:<11} {:<20} {}",
            "cluster", "docs", "srcs", "label", "first seen", "text"
        ))
        .bold()
    );
    for c in list {
        let first = c
            .first_seen
            .as_ref()
            .map(|f| {
                format_rfc3339(f.published_at)
                    .chars()
                    .take(10)
                    .collect::<String>()
                    + " "
                    + &f.source
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "{:>8} {:>6} {:>5} {} {:<32} {}\n",
            c.id,
            c.documents,
            c.sources,
            label_style(c.label).apply_to(format!("{:<11}", c.label.as_str())),
            snippet(&first, 32),
            snippet(&c.representative, 70)
        ));
    }
    out
}

pub fn stats(s: &Stats) -> String {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let m = &s.memory;
    format!(
        "documents             {}\nsegments              {}\nclusters              {}\nboilerplate clusters  {}\nsources               {}\nindexed fingerprints  {}\nresident memory       {:.1} MiB\nstate heap            {:.1} MiB: index {:.1}, documents {:.1}, ids {:.1}, clusters {:.1}, patterns {:.1}, sources {:.1}\ndurable               {}\nrestored from         {} in {:.2}s ({} documents re-applied)\nstore repaired        {}\n",
        s.documents,
        s.segments,
        s.clusters,
        s.boilerplate_clusters,
        s.sources,
        s.indexed_fingerprints,
        mib(s.resident_bytes),
        mib(m.total()),
        mib(m.index),
        mib(m.documents),
        mib(m.document_ids),
        mib(m.clusters),
        mib(m.patterns),
        mib(m.sources),
        s.durable,
        s.restored_from,
        s.restore_ms as f64 / 1000.0,
        s.restore_replayed,
        s.store_repaired
    )
}
