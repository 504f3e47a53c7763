//! Page prior + cluster evidence -> label for one segment.
//!
//! 1. boilerplate: this segment's source carries the cluster in at least
//!    `boilerplate_min_documents` documents (the document itself included):
//!    a source's template text recurs whatever the story. The exception is
//!    a page's own headline, which recurs as a teaser on the site's other
//!    pages but heads its own page's main block.
//!    Below that threshold, the segment model decides: gradient-boosted
//!    trees (`model`, fitted by `bench/model/fit.py`) over the page prior
//!    (`structure`: what the page alone shows), the layout flags, the
//!    cross-document features (`cross_features`: a first repeat in the
//!    source, other sources, who was first) and the neighbours' evidence
//!    (`document_context`).
//! 2. syndicated: the cluster's earliest occurrence (by published_at, then
//!    ingest order) is in another source, and the segment is long enough to
//!    be content rather than a stock phrase. `first_seen` names that origin,
//!    so a copy of a copy points to the first publisher.
//! 3. editorial: otherwise; an origin reports how many other sources carry it.
//!
//! Without structure (`--no-structure`), rule 1 is the repeat rule alone.

use serde::{Deserialize, Serialize};

use crate::cluster::{ClusterView, Member};
use crate::layout;
use crate::model;
use crate::pattern::{self, PATTERN_FEATURES};
use crate::trees;

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

impl MatchKind {
    /// The number the store and the snapshot keep (see `store.proto`).
    pub fn code(self) -> u8 {
        match self {
            MatchKind::None => 0,
            MatchKind::Exact => 1,
            MatchKind::Near => 2,
        }
    }

    /// The kind a stored number names, `None` for an unknown number.
    pub fn from_code(code: u32) -> Option<MatchKind> {
        match code {
            0 => Some(MatchKind::None),
            1 => Some(MatchKind::Exact),
            2 => Some(MatchKind::Near),
            _ => None,
        }
    }
}

/// Classification thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Documents of one source that make a cluster boilerplate there.
    pub boilerplate_min_documents: u32,
    /// Tokens a segment needs to count as syndicated content.
    pub syndication_min_tokens: u32,
    /// Weigh the page's structure (the fitted model); off: repeats only.
    pub use_structure: bool,
    /// Probability of template text, by the model, above which a segment is
    /// boilerplate: higher trades boilerplate recall for less editorial loss.
    pub boilerplate_probability: f32,
    /// What segments in a reader-comment section are labelled.
    pub comments: Comments,
}

/// Reader comments are the readers' text, not the publisher's: a pipeline
/// that wants the article alone drops them, an archive keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Comments {
    /// Like any other text, by the usual evidence.
    #[default]
    Keep,
    /// Always boilerplate: the article alone is editorial.
    Boilerplate,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            boilerplate_min_documents: 3,
            syndication_min_tokens: 8,
            use_structure: true,
            boilerplate_probability: 0.75,
            comments: Comments::Keep,
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
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signals {
    pub tokens: u32,
    pub matched: MatchKind,
    pub distance: u32,
    /// `layout` flags of the segment.
    pub layout: layout::Flags,
    /// Page prior: log-odds of template text from the page alone.
    pub prior: f32,
    /// What the segment's neighbours show ([`document_context`]).
    pub context: [f32; CONTEXT_FEATURES],
    /// What the source's other lines show ([`pattern::Patterns::evidence`]).
    pub pattern: [f32; PATTERN_FEATURES],
    /// The segment is its document's only one. The model reads a segment
    /// against the page around it and was fitted on pages of many blocks;
    /// a lone paragraph has no page, so repeats alone decide.
    pub lone: bool,
}

/// Number of document-context features; [`context_names`] names them.
pub const CONTEXT_FEATURES: usize = 6;

pub fn context_names() -> Vec<String> {
    [
        "nb_prior",
        "nb_repeated",
        "rep_before",
        "rep_after",
        "rep_wide",
        "page_rep",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Segments within this distance are a segment's neighbours.
const NEIGHBOURS: usize = 2;
/// Segments within this distance are its wider surroundings.
const SURROUNDINGS: usize = 10;

/// Per segment: the mean prior of its neighbours, the share of them that
/// the source repeats, the share of repeated segments before and after it,
/// the share of repeated segments in its wider surroundings, and the share
/// of the whole page the source repeats. Template text comes in runs (a
/// menu, a list of teasers, a footer), an article sits between a repeated
/// header and a repeated footer, and a page the source mostly repeats (an
/// index, a product grid) has little text of its own.
pub fn document_context(priors: &[f32], repeated: &[bool]) -> Vec<[f32; CONTEXT_FEATURES]> {
    let n = priors.len().min(repeated.len());
    let mut before = vec![0u32; n + 1];
    for i in 0..n {
        before[i + 1] = before[i] + repeated[i] as u32;
    }
    (0..n)
        .map(|i| {
            let (lo, hi) = (i.saturating_sub(NEIGHBOURS), (i + NEIGHBOURS).min(n - 1));
            let (mut p, mut r, mut k) = (0f32, 0u32, 0u32);
            for j in (lo..=hi).filter(|&j| j != i) {
                p += priors[j];
                r += repeated[j] as u32;
                k += 1;
            }
            let share = |a: u32, b: usize| if b == 0 { 0.0 } else { a as f32 / b as f32 };
            let (wlo, whi) = (
                i.saturating_sub(SURROUNDINGS),
                (i + SURROUNDINGS).min(n - 1),
            );
            let wide = before[whi + 1] - before[wlo] - repeated[i] as u32;
            [
                if k == 0 { 0.0 } else { p / k as f32 },
                share(r, k as usize),
                share(before[i], i),
                share(before[n] - before[i + 1], n - i - 1),
                share(wide, whi - wlo),
                share(before[n], n),
            ]
        })
        .collect()
}

/// Number of cross-document features; [`cross_names`] names them.
pub const CROSS_FEATURES: usize = 5;

pub fn cross_names() -> Vec<String> {
    [
        "sd2",
        "sd_threshold",
        "ln_sd",
        "multi_source",
        "earlier_elsewhere",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// What other documents say about a segment, as model features (the
/// trees combine them with the layout flags). `source_documents` counts
/// this document too.
pub fn cross_features(
    source_documents: u32,
    cluster_sources: u32,
    earlier_elsewhere: bool,
    threshold: u32,
) -> [f32; CROSS_FEATURES] {
    let b = |x: bool| x as u8 as f32;
    [
        b(source_documents >= 2),
        b(source_documents >= threshold.max(2)),
        (source_documents.max(1) as f32).ln(),
        b(cluster_sources >= 2),
        b(earlier_elsewhere),
    ]
}

/// Number of inputs of the final model; [`final_names`] names them.
pub const FINAL_FEATURES: usize = 9 + CROSS_FEATURES + CONTEXT_FEATURES + PATTERN_FEATURES;

pub fn final_names() -> Vec<String> {
    let mut n: Vec<String> = [
        "prior",
        "ln_tokens",
        "running",
        "line",
        "in_main",
        "heads_main",
        "page_has_main",
        "has_html",
        "title",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    n.extend(cross_names());
    n.extend(context_names());
    n.extend(pattern::names());
    n
}

/// The final model's inputs: the page prior, the layout flags it is read
/// with, and the cross-document features.
pub fn final_features(sig: &Signals, cross: &[f32; CROSS_FEATURES]) -> [f32; FINAL_FEATURES] {
    let flag = |b: layout::Flags| (sig.layout & b != 0) as u8 as f32;
    let mut x = [0f32; FINAL_FEATURES];
    x[0] = sig.prior;
    x[1] = (1.0 + sig.tokens as f32).ln();
    x[2] = flag(layout::RUNNING_TEXT);
    x[3] = flag(layout::LINE);
    x[4] = flag(layout::IN_MAIN);
    x[5] = layout::heads_main_block(sig.layout) as u8 as f32;
    x[6] = flag(layout::PAGE_HAS_MAIN);
    x[7] = flag(layout::MARKUP);
    x[8] = flag(layout::TITLE);
    let c = 9 + CROSS_FEATURES;
    x[9..c].copy_from_slice(cross);
    x[c..c + CONTEXT_FEATURES].copy_from_slice(&sig.context);
    x[c + CONTEXT_FEATURES..].copy_from_slice(&sig.pattern);
    x
}

/// The final model's probability that a segment is template text.
pub fn template_probability(sig: &Signals, cross: &[f32; CROSS_FEATURES]) -> f32 {
    static FINAL: std::sync::LazyLock<trees::Forest> =
        std::sync::LazyLock::new(|| trees::Forest::new(model::FINAL_TREES));
    sigmoid(FINAL.score(&final_features(sig, cross)))
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
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
    let earlier_elsewhere =
        view.earliest.source != me.source && view.earliest.precedence() < me.precedence();
    // A page's own headline recurs as a teaser on the site's other pages;
    // where it opens the main block (and is no earlier page's headline), or
    // where this page is the first of its source to carry it as a headline,
    // or where it is the page's title, it is the page's own. A sentence
    // whose figures change from page to page is news in a template (a market
    // report). The model decides these.
    let own_headline = policy.use_structure
        && ((layout::heads_main_block(sig.layout) && !pattern::teaser(&sig.pattern))
            || sig.layout & layout::TITLE != 0
            || pattern::headline_first(&sig.pattern)
            || pattern::numbers_are_news(&sig.pattern, sig.layout));
    let template = if policy.comments == Comments::Boilerplate && sig.layout & layout::COMMENT != 0
    {
        // Structure alone decides: a thread's text is its readers'.
        Some(0.8)
    } else if policy.use_structure
        && sig.layout & (layout::ATTRIBUTION | layout::REPEAT_IN_PAGE) != 0
    {
        // A credit line marks a copy or a notice, never the story; a block
        // the page renders a second time leaves the label to its first copy.
        Some(0.7)
    } else if view.source_documents >= threshold && !own_headline {
        // What a source repeats is its template, whatever the page's shape.
        // 0.75 at the threshold, approaching 1 as the repeats grow.
        let extra = (view.source_documents - threshold) as i32;
        Some(1.0 - 0.25 * 0.5f32.powi(extra))
    } else if policy.use_structure && !sig.lone {
        let cross = cross_features(
            view.source_documents,
            view.sources,
            earlier_elsewhere,
            threshold,
        );
        Some(template_probability(sig, &cross)).filter(|&p| p > policy.boilerplate_probability)
    } else {
        None
    };
    if let Some(p) = template {
        return Decision {
            label: Label::Boilerplate,
            confidence: p * closeness,
            other_sources,
            first_seen,
        };
    }
    if earlier_elsewhere && sig.tokens >= policy.syndication_min_tokens {
        return Decision {
            label: Label::Syndicated,
            confidence: 0.9 * closeness,
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
        confidence: base * (1.0 - 0.5 * repeats).max(0.1),
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
            prior: -4.0,
            context: [0.0; CONTEXT_FEATURES],
            pattern: [0.0; PATTERN_FEATURES],
            lone: false,
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
    fn more_repeats_and_a_higher_prior_never_lower_the_probability() {
        // The fitted model is monotone in these inputs (fit.py constrains it).
        for layout in [0, layout::LINE, layout::RUNNING_TEXT | layout::IN_MAIN] {
            for prior in [-6.0f32, -2.0, 0.0, 2.0] {
                let mut last = 0.0;
                for sd in 1..12 {
                    let sig = Signals {
                        layout,
                        prior,
                        ..sig(20, MatchKind::Exact, 0)
                    };
                    let p = template_probability(&sig, &cross_features(sd, 1, false, 3));
                    assert!(p >= last, "sd {sd} prior {prior}: {p} < {last}");
                    last = p;
                }
            }
        }
    }

    #[test]
    fn text_repeated_across_a_source_is_boilerplate() {
        let p = Policy::default();
        let me = m(3, 1, 30);
        let line = Signals {
            layout: layout::LINE | layout::PAGE_HAS_MAIN,
            prior: -1.0,
            context: [0.0, 1.0, 1.0, 1.0, 1.0, 1.0],
            ..sig(4, MatchKind::Exact, 0)
        };
        let d = classify(&view(10, 1, 10, m(1, 1, 10)), &me, &line, &p);
        assert_eq!(d.label, Label::Boilerplate);
        let d = classify(&view(1, 1, 1, me), &me, &line, &p);
        assert_eq!(d.label, Label::Editorial);
    }

    #[test]
    fn the_pages_title_escapes_the_repeat_rule() {
        // A site teases the story on its other pages; on its own page the
        // headline is the title, and the model decides it.
        let p = Policy::default();
        let me = m(3, 1, 30);
        let headline = Signals {
            layout: layout::PAGE_HAS_MAIN | layout::MARKUP,
            prior: -3.0,
            ..sig(8, MatchKind::Exact, 0)
        };
        let repeated = view(6, 1, 6, m(1, 1, 10));
        assert_eq!(
            classify(&repeated, &me, &headline, &p).label,
            Label::Boilerplate
        );
        let titled = Signals {
            layout: headline.layout | layout::TITLE,
            ..headline
        };
        assert_eq!(
            classify(&repeated, &me, &titled, &p).label,
            Label::Editorial
        );
    }

    #[test]
    fn reader_comments_are_boilerplate_only_when_the_policy_says_so() {
        let me = m(3, 1, 30);
        let comment = Signals {
            layout: layout::RUNNING_TEXT | layout::MARKUP | layout::COMMENT,
            prior: -4.0,
            ..sig(40, MatchKind::None, 0)
        };
        let alone = view(1, 1, 1, me);
        let keep = Policy::default();
        assert_eq!(
            classify(&alone, &me, &comment, &keep).label,
            Label::Editorial
        );
        let drop = Policy {
            comments: Comments::Boilerplate,
            ..keep
        };
        assert_eq!(
            classify(&alone, &me, &comment, &drop).label,
            Label::Boilerplate
        );
        // Outside a comment section the policy changes nothing.
        let article = Signals {
            layout: layout::RUNNING_TEXT | layout::MARKUP,
            ..comment
        };
        assert_eq!(
            classify(&alone, &me, &article, &drop).label,
            Label::Editorial
        );
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
    fn the_page_prior_decides_unrepeated_segments() {
        let p = Policy::default();
        let me = m(1, 1, 10);
        let alone = view(1, 1, 1, me);
        let template = Signals {
            prior: 6.0,
            ..sig(2, MatchKind::None, 0)
        };
        assert_eq!(
            classify(&alone, &me, &template, &p).label,
            Label::Boilerplate
        );
        let prose = Signals {
            prior: -6.0,
            ..template
        };
        assert_eq!(classify(&alone, &me, &prose, &p).label, Label::Editorial);
        let off = Policy {
            use_structure: false,
            ..p
        };
        assert_eq!(
            classify(&alone, &me, &template, &off).label,
            Label::Editorial
        );
        // A document of one paragraph has no page for the model to read.
        let lone = Signals {
            lone: true,
            ..template
        };
        assert_eq!(classify(&alone, &me, &lone, &p).label, Label::Editorial);
    }

    fn words(t: &str) -> u32 {
        t.split_whitespace().count() as u32
    }

    #[test]
    fn credit_lines_are_boilerplate_from_the_first_page() {
        let p = Policy::default();
        let me = m(1, 1, 10);
        let credit = Signals {
            layout: layout::ATTRIBUTION,
            ..sig(3, MatchKind::None, 0)
        };
        let d = classify(&view(1, 1, 1, me), &me, &credit, &p);
        assert_eq!(d.label, Label::Boilerplate);
        for t in [
            "Source: TASS",
            "(AP)",
            "© 2008 AFP",
            "Reporting by ABC News",
            "— Reuters",
            "MOSCOW, February 6. /TASS/.",
            "ABC News' Cho Park, Alex Hosenball and Paul Blake contributed to this report.",
            "—Adam Entous and Julian E. Barnes contributed to this article.",
        ] {
            assert!(layout::credit_line(t, words(t)), "{t}");
        }
        for t in [
            "AP officials said no.",
            "Sources say the deal is off",
            "Viaduct reopens",
            "Read the statement at /docs/",
            "The minister thanked everyone who contributed to this report, which took \
             two years to write and runs to four hundred pages with annexes on the budget.",
        ] {
            assert!(!layout::credit_line(t, words(t)), "{t}");
        }
    }

    #[test]
    fn context_counts_neighbours_and_repeats_around() {
        let c = document_context(&[1.0, 2.0, 3.0, 4.0], &[true, false, false, true]);
        assert_eq!(c[0], [2.5, 0.0, 0.0, 1.0 / 3.0, 1.0 / 3.0, 0.5]);
        assert_eq!(c[1], [8.0 / 3.0, 2.0 / 3.0, 1.0, 0.5, 2.0 / 3.0, 0.5]);
        assert_eq!(c[3], [2.5, 0.0, 1.0 / 3.0, 0.0, 1.0 / 3.0, 0.5]);
        assert!(document_context(&[], &[]).is_empty());
        assert_eq!(
            document_context(&[1.0], &[true]),
            vec![[0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]
        );
    }

    #[test]
    fn context_sees_a_repeated_run_beyond_the_next_neighbours() {
        // A menu of six repeated lines, then unrepeated text.
        let repeated: Vec<bool> = (0..30).map(|i| i < 6).collect();
        let c = document_context(&[0.0; 30], &repeated);
        assert_eq!(c[10][1], 0.0);
        assert_eq!(c[10][4], 6.0 / 20.0);
        assert_eq!(c[25][4], 0.0);
        assert_eq!(c[25][5], 0.2);
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
