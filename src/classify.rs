//! Cluster evidence -> label for one segment.
//!
//! 1. boilerplate: this segment's source carries the cluster in at least
//!    `boilerplate_min_documents` documents (the document itself included).
//!    A source's template text recurs whatever the story.
//! 2. syndicated: the cluster's earliest occurrence (by published_at, then
//!    ingest order) is in another source, and the segment is long enough to
//!    be content rather than a stock phrase. `first_seen` names that origin,
//!    so a copy of a copy points to the first publisher.
//! 3. editorial: otherwise; an origin reports how many other sources carry it.

use serde::{Deserialize, Serialize};

use crate::cluster::{ClusterView, Member};
use crate::layout;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Editorial,
    Boilerplate,
    Syndicated,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Editorial => "editorial",
            Label::Boilerplate => "boilerplate",
            Label::Syndicated => "syndicated",
        }
    }
}

impl std::str::FromStr for Label {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "editorial" => Ok(Label::Editorial),
            "boilerplate" => Ok(Label::Boilerplate),
            "syndicated" => Ok(Label::Syndicated),
            other => Err(format!(
                "unknown label {other:?}: use editorial, boilerplate or syndicated"
            )),
        }
    }
}

/// How a segment found its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    None,
    Exact,
    Near,
}

/// Classification thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Documents of one source that make a cluster boilerplate there.
    pub boilerplate_min_documents: u32,
    /// Tokens a segment needs to count as syndicated content.
    pub syndication_min_tokens: u32,
    /// Let the page layout label short lines outside the main block.
    pub use_layout: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            boilerplate_min_documents: 3,
            syndication_min_tokens: 8,
            use_layout: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub label: Label,
    pub confidence: f32,
    /// Sources other than this one that carry the cluster.
    pub other_sources: u32,
    /// The earliest occurrence, when it is somewhere else than this document.
    pub first_seen: Option<Member>,
}

/// What a segment brings besides its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signals {
    pub tokens: u32,
    pub matched: MatchKind,
    pub distance: u32,
    /// `layout` flags of the segment.
    pub layout: u8,
}

pub fn classify(view: &ClusterView, me: &Member, sig: &Signals, policy: &Policy) -> Decision {
    let other_sources = view.sources.saturating_sub(1);
    let first_seen = (view.earliest.doc != me.doc).then_some(view.earliest);
    // A near match is slightly weaker evidence than an exact one.
    let closeness = match sig.matched {
        MatchKind::Near => 1.0 - sig.distance as f32 / 32.0,
        _ => 1.0,
    };
    let threshold = policy.boilerplate_min_documents.max(1);
    // A page's own headline recurs as a teaser on the site's other pages;
    // where it opens the main block, it is the page's own.
    let own_headline = policy.use_layout && layout::heads_main_block(sig.layout);
    if view.source_documents >= threshold && !own_headline {
        // 0.75 at the threshold, approaching 1 as the repeats grow.
        let extra = (view.source_documents - threshold) as i32;
        let confidence = (1.0 - 0.25 * 0.5f32.powi(extra)) * closeness;
        return Decision {
            label: Label::Boilerplate,
            confidence,
            other_sources,
            first_seen,
        };
    }
    let earlier_elsewhere =
        view.earliest.source != me.source && view.earliest.precedence() < me.precedence();
    if earlier_elsewhere && sig.tokens >= policy.syndication_min_tokens {
        return Decision {
            label: Label::Syndicated,
            confidence: 0.9 * closeness,
            other_sources,
            first_seen,
        };
    }
    // No cross-document verdict: a short line outside the page's main
    // block is template text the site has not repeated yet.
    if policy.use_layout && layout::template_like(sig.layout) {
        return Decision {
            label: Label::Boilerplate,
            confidence: 0.6,
            other_sources,
            first_seen,
        };
    }
    // Editorial: sure when nothing matched and the text is substantial, less
    // so as the source's repeats approach the boilerplate threshold.
    let repeats = view.source_documents.saturating_sub(1) as f32 / threshold as f32;
    let base = if sig.tokens >= policy.syndication_min_tokens {
        0.9
    } else {
        0.7
    };
    Decision {
        label: Label::Editorial,
        confidence: base * (1.0 - 0.5 * repeats),
        other_sources,
        first_seen,
    }
}

/// A lone shared paragraph shorter than this is a quotation two stories
/// share, not a republished story.
pub const LONE_SYNDICATED_TOKENS: u32 = 40;

/// Document-level pass over the segment labels: republishing copies
/// several paragraphs of one origin, while independent stories may share a
/// single quotation. A syndicated segment whose origin document lends this
/// document no other segment, and which is shorter than
/// [`LONE_SYNDICATED_TOKENS`], is the document's own (editorial), when the
/// document has editorial text besides.
pub fn lone_quotes_are_editorial(labels: &mut [crate::labels::SegmentLabel], tokens: &[u32]) {
    // Without text of its own the document is the copy, not a story quoting it.
    if !labels.iter().any(|s| s.label == Label::Editorial) {
        return;
    }
    let origin =
        |s: &crate::labels::SegmentLabel| s.first_seen.as_ref().map(|o| o.document_id.clone());
    let mut per_origin: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    for s in labels.iter().filter(|s| s.label == Label::Syndicated) {
        if let Some(o) = origin(s) {
            *per_origin.entry(o).or_default() += 1;
        }
    }
    for (s, &t) in labels.iter_mut().zip(tokens) {
        let lone = s.label == Label::Syndicated
            && origin(s).is_some_and(|o| per_origin.get(&o) == Some(&1));
        if lone && t < LONE_SYNDICATED_TOKENS {
            s.label = Label::Editorial;
            s.confidence = 0.6;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(doc: u32, source: u32, t: i64) -> Member {
        Member {
            doc,
            source,
            published_at: t,
            seq: doc as u64,
        }
    }

    fn sig(tokens: u32, matched: MatchKind, distance: u32) -> Signals {
        Signals {
            tokens,
            matched,
            distance,
            layout: 0,
        }
    }

    fn view(documents: u32, sources: u32, source_documents: u32, earliest: Member) -> ClusterView {
        ClusterView {
            id: 1,
            documents,
            sources,
            source_documents,
            earliest,
        }
    }

    #[test]
    fn repeats_in_own_source_are_boilerplate_at_threshold() {
        let p = Policy::default();
        let me = m(3, 1, 30);
        let d = classify(
            &view(2, 1, 2, m(1, 1, 10)),
            &me,
            &sig(20, MatchKind::Exact, 0),
            &p,
        );
        assert_eq!(d.label, Label::Editorial);
        let d = classify(
            &view(3, 1, 3, m(1, 1, 10)),
            &me,
            &sig(20, MatchKind::Exact, 0),
            &p,
        );
        assert_eq!(d.label, Label::Boilerplate);
        assert!(d.confidence >= 0.75);
    }

    #[test]
    fn earlier_in_other_source_is_syndicated_but_origin_is_editorial() {
        let p = Policy::default();
        let origin = m(1, 1, 10);
        let copy = m(2, 2, 20);
        let d = classify(
            &view(2, 2, 1, origin),
            &copy,
            &sig(30, MatchKind::Near, 2),
            &p,
        );
        assert_eq!(d.label, Label::Syndicated);
        assert_eq!(d.first_seen, Some(origin));
        let d = classify(
            &view(2, 2, 1, origin),
            &origin,
            &sig(30, MatchKind::None, 0),
            &p,
        );
        assert_eq!(
            (d.label, d.other_sources, d.first_seen),
            (Label::Editorial, 1, None)
        );
    }

    #[test]
    fn layout_labels_unrepeated_template_lines_only() {
        let p = Policy::default();
        let me = m(1, 1, 10);
        let alone = view(1, 1, 1, me);
        let line = Signals {
            layout: layout::PAGE_HAS_MAIN | layout::LINE,
            ..sig(2, MatchKind::None, 0)
        };
        assert_eq!(classify(&alone, &me, &line, &p).label, Label::Boilerplate);
        let in_main = Signals {
            layout: line.layout | layout::IN_MAIN,
            ..line
        };
        assert_eq!(classify(&alone, &me, &in_main, &p).label, Label::Editorial);
        let off = Policy {
            use_layout: false,
            ..p
        };
        assert_eq!(classify(&alone, &me, &line, &off).label, Label::Editorial);
    }

    #[test]
    fn short_shared_lines_are_not_syndication() {
        let d = classify(
            &view(2, 2, 1, m(1, 1, 10)),
            &m(2, 2, 20),
            &sig(3, MatchKind::Exact, 0),
            &Policy::default(),
        );
        assert_eq!(d.label, Label::Editorial);
    }
}
