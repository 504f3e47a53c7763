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
    let m = &s.memory;
    format!(
        "documents             {}\nsegments              {}\nclusters              {}\nboilerplate clusters  {}\nsources               {}\nindexed fingerprints  {}\nresident memory       {}\nstate heap            {}: index {}, documents {}, ids {}, clusters {}, patterns {}, sources {}\ndurable               {}\nrestored from         {} in {:.2}s ({} documents re-applied)\nstore repaired        {}\n",
        s.documents,
        s.segments,
        s.clusters,
        s.boilerplate_clusters,
        s.sources,
        s.indexed_fingerprints,
        size(s.resident_bytes),
        size(m.total()),
        size(m.index),
        size(m.documents),
        size(m.document_ids),
        size(m.clusters),
        size(m.patterns),
        size(m.sources),
        s.durable,
        s.restored_from,
        s.restore_ms as f64 / 1000.0,
        s.restore_replayed,
        s.store_repaired
    )
}

/// Bytes in the largest binary unit that keeps a whole number in front.
fn size(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", b / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", b / 1_048_576.0),
        _ => format!("{:.2} GiB", b / 1_073_741_824.0),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_are_read_in_the_unit_that_fits() {
        assert_eq!(super::size(315), "315 B");
        assert_eq!(super::size(8806), "8.6 KiB");
        assert_eq!(super::size(3_277_000_000), "3.05 GiB");
        assert_eq!(super::size(436 << 20), "436.0 MiB");
    }
}
