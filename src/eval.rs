//! Scores labels against a labelled corpus, with the measures of the
//! benchmark scorer: character-weighted boilerplate precision, recall and
//! F1, editorial loss, boilerplate leak, syndicated precision, recall and
//! F1, and how often `first_seen` names the true origin.
//!
//! Gold paragraphs are `text.split("\n\n")`. Each takes the predicted label
//! with the most characters of overlap; characters no segment covers count
//! as editorial; ties go to editorial, then syndicated, then boilerplate.
//! Gold `comments` paragraphs are left out.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::classify::Label;
use crate::labels::DocumentLabels;

/// One labelled document of the gold file (other fields are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct GoldRecord {
    pub id: String,
    #[serde(default)]
    pub site: Option<String>,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub extra: Option<GoldExtra>,
    /// The data set's own main text (extraction track).
    #[serde(default)]
    pub gold_main_text: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct GoldExtra {
    /// Paragraph index -> ids of the pages sharing the paragraph.
    #[serde(default)]
    pub syndicated_with: HashMap<String, Vec<String>>,
}

/// Character-weighted confusion counts, gold label x predicted label.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// [gold][pred], gold and pred in editorial, boilerplate, syndicated.
    pub chars: [[u64; 3]; 3],
    /// Gold-syndicated paragraphs predicted syndicated with a first_seen.
    pub provenance: u64,
    /// ... whose first_seen is a page sharing the paragraph.
    pub partner: u64,
    /// ... whose first_seen is the earliest such page (file order).
    pub earliest: u64,
}

fn idx(l: Label) -> usize {
    match l {
        Label::Editorial => 0,
        Label::Boilerplate => 1,
        Label::Syndicated => 2,
    }
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn f1(p: Option<f64>, r: Option<f64>) -> Option<f64> {
    match (p, r) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    }
}

/// The headline measures of a set of counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Measures {
    pub bp_precision: Option<f64>,
    pub bp_recall: Option<f64>,
    pub bp_f1: Option<f64>,
    pub editorial_loss: Option<f64>,
    pub boilerplate_leak: Option<f64>,
    pub syn_precision: Option<f64>,
    pub syn_recall: Option<f64>,
    pub syn_f1: Option<f64>,
    /// Of syndicated hits with a first_seen: share naming a partner page.
    pub first_seen_partner: Option<f64>,
    /// ... share naming the earliest page.
    pub first_seen_origin: Option<f64>,
    pub chars: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        for g in 0..3 {
            for p in 0..3 {
                self.chars[g][p] += o.chars[g][p];
            }
        }
        self.provenance += o.provenance;
        self.partner += o.partner;
        self.earliest += o.earliest;
    }

    pub fn measures(&self) -> Measures {
        let c = &self.chars;
        let col = |p: usize| c[0][p] + c[1][p] + c[2][p];
        let row = |g: usize| c[g][0] + c[g][1] + c[g][2];
        let bp_precision = ratio(c[1][1], col(1));
        let bp_recall = ratio(c[1][1], row(1));
        let syn_precision = ratio(c[2][2], col(2));
        let syn_recall = ratio(c[2][2], row(2));
        Measures {
            bp_precision,
            bp_recall,
            bp_f1: f1(bp_precision, bp_recall),
            editorial_loss: ratio(c[0][1] + c[0][2], row(0)),
            boilerplate_leak: ratio(c[1][0], row(1)),
            syn_precision,
            syn_recall,
            syn_f1: f1(syn_precision, syn_recall),
            first_seen_partner: ratio(self.partner, self.provenance),
            first_seen_origin: ratio(self.earliest, self.provenance),
            chars: (0..3).map(row).sum(),
        }
    }
}

/// Scores one document. `order` maps page ids to their position in the
/// gold file (for "earliest").
pub fn score_document(
    gold: &GoldRecord,
    pred: Option<&DocumentLabels>,
    order: &HashMap<String, usize>,
) -> Counts {
    let mut counts = Counts::default();
    if gold.text.is_empty() {
        return counts;
    }
    // Byte ranges of the gold paragraphs.
    let mut paragraphs = Vec::new();
    let mut start = 0;
    for p in gold.text.split("\n\n") {
        paragraphs.push((start, start + p.len()));
        start += p.len() + 2;
    }
    let segments = pred.map_or(&[][..], |p| &p.segments[..]);
    for (i, &(ps, pe)) in paragraphs.iter().enumerate() {
        let gold_label = match gold.labels.get(i).map(String::as_str) {
            Some("editorial") => Label::Editorial,
            Some("boilerplate") => Label::Boilerplate,
            Some("syndicated") => Label::Syndicated,
            _ => continue, // comments, or a missing label
        };
        let chars =
            |s: usize, e: usize| gold.text.get(s..e).map_or(0, |t| t.chars().count() as u64);
        let total = chars(ps, pe);
        let mut overlap = [0u64; 3];
        let mut covered = 0;
        let mut first_seen = None;
        for s in segments {
            let (s0, s1) = (s.start as usize, s.end as usize);
            let (a, b) = (s0.max(ps), s1.min(pe));
            if a < b {
                let n = chars(a, b);
                overlap[idx(s.label)] += n;
                covered += n;
                if s.label == Label::Syndicated && first_seen.is_none() {
                    first_seen = s.first_seen.as_ref().map(|f| f.document_id.clone());
                }
            }
        }
        overlap[0] += total.saturating_sub(covered);
        // Most overlap wins; ties: editorial, syndicated, boilerplate.
        let pred_label = [Label::Editorial, Label::Syndicated, Label::Boilerplate]
            .into_iter()
            .max_by_key(|&l| (overlap[idx(l)], std::cmp::Reverse(tie_rank(l))))
            .expect("three labels");
        counts.chars[idx(gold_label)][idx(pred_label)] += total;
        if gold_label == Label::Syndicated && pred_label == Label::Syndicated {
            if let Some(fs) = first_seen {
                counts.provenance += 1;
                let partners = gold
                    .extra
                    .as_ref()
                    .and_then(|e| e.syndicated_with.get(&i.to_string()))
                    .map_or(&[][..], |v| &v[..]);
                if partners.contains(&fs) {
                    counts.partner += 1;
                }
                let earliest = partners
                    .iter()
                    .chain(std::iter::once(&gold.id))
                    .min_by_key(|id| order.get(*id).copied().unwrap_or(usize::MAX));
                if earliest == Some(&fs) {
                    counts.earliest += 1;
                }
            }
        }
    }
    counts
}

fn tie_rank(l: Label) -> u8 {
    match l {
        Label::Editorial => 0,
        Label::Syndicated => 1,
        Label::Boilerplate => 2,
    }
}

/// Totals over all documents, sites with at least `min_site_pages`
/// documents, and each of those sites.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub documents: usize,
    pub all: Measures,
    pub sites_min_pages: usize,
    pub sites: usize,
    pub site_documents: usize,
    pub big_sites: Measures,
    pub by_site: BTreeMap<String, Measures>,
    /// Documents of each site in `by_site`.
    pub site_pages: BTreeMap<String, usize>,
}

pub fn report(per_doc: &[(Option<String>, Counts)], min_site_pages: usize) -> Report {
    let mut pages: HashMap<&str, usize> = HashMap::new();
    for (site, _) in per_doc {
        if let Some(s) = site {
            *pages.entry(s.as_str()).or_default() += 1;
        }
    }
    let mut all = Counts::default();
    let mut big = Counts::default();
    let mut by_site: BTreeMap<String, Counts> = BTreeMap::new();
    let mut site_documents = 0;
    for (site, c) in per_doc {
        all.add(c);
        if let Some(s) = site.as_deref().filter(|s| pages[s] >= min_site_pages) {
            big.add(c);
            site_documents += 1;
            by_site.entry(s.to_string()).or_default().add(c);
        }
    }
    Report {
        documents: per_doc.len(),
        all: all.measures(),
        sites_min_pages: min_site_pages,
        sites: by_site.len(),
        site_documents,
        big_sites: big.measures(),
        site_pages: by_site
            .keys()
            .map(|s| (s.clone(), pages[s.as_str()]))
            .collect(),
        by_site: by_site
            .into_iter()
            .map(|(s, c)| (s, c.measures()))
            .collect(),
    }
}

/// Extraction track: the main text a labelling keeps (its editorial and
/// syndicated segments) against the gold main text, as bags of words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Extraction {
    pub documents: usize,
    pub mean_precision: Option<f64>,
    pub mean_recall: Option<f64>,
    pub mean_f1: Option<f64>,
}

/// Lower-cased runs of word characters, counted.
fn bag(text: &str) -> HashMap<String, u32> {
    let mut bag = HashMap::new();
    for w in text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
    {
        *bag.entry(w.to_lowercase()).or_default() += 1;
    }
    bag
}

/// The gold main text without reader comments: Dragnet marks them with a
/// line of `!@#$%^&*()` characters containing "^&*".
pub fn gold_main(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        let head = t.split_whitespace().next().unwrap_or("");
        if t.contains("^&*") && head.chars().all(|c| "!@#$%^&*()".contains(c)) {
            return &text[..offset];
        }
        offset += line.len();
    }
    text
}

/// (precision, recall, f1) of one document; `None` where undefined.
pub fn extraction_document(gold: &str, predicted: &str) -> (Option<f64>, Option<f64>, f64) {
    let (g, p) = (bag(gold), bag(predicted));
    let (gn, pn): (u32, u32) = (g.values().sum(), p.values().sum());
    let tp: u32 = p
        .iter()
        .map(|(w, n)| (*n).min(g.get(w).copied().unwrap_or(0)))
        .sum();
    let precision = (pn > 0).then(|| tp as f64 / pn as f64);
    let recall = (gn > 0).then(|| tp as f64 / gn as f64);
    let f1 = match (gn, pn) {
        (0, 0) => 1.0,
        _ => 2.0 * tp as f64 / (gn + pn) as f64,
    };
    (precision, recall, f1)
}

pub fn extraction(scores: &[(Option<f64>, Option<f64>, f64)]) -> Extraction {
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    Extraction {
        documents: scores.len(),
        mean_precision: mean(scores.iter().filter_map(|s| s.0).collect()),
        mean_recall: mean(scores.iter().filter_map(|s| s.1).collect()),
        mean_f1: mean(scores.iter().map(|s| s.2).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::MatchKind;
    use crate::labels::{Occurrence, SegmentLabel, Summary};

    fn seg(start: u32, end: u32, label: Label, first_seen: Option<&str>) -> SegmentLabel {
        SegmentLabel {
            start,
            end,
            index: 0,
            label,
            confidence: 1.0,
            cluster: 1,
            matched: MatchKind::None,
            distance: 0,
            cluster_documents: 1,
            cluster_sources: 1,
            source_documents: 1,
            first_seen: first_seen.map(|id| Occurrence {
                document_id: id.into(),
                source: String::new(),
                url: String::new(),
                published_at: 0,
            }),
            other_sources: 0,
            comment: false,
            pattern: Default::default(),
        }
    }

    #[test]
    fn paragraphs_take_the_label_with_most_overlap_and_uncovered_is_editorial() {
        let gold: GoldRecord = serde_json::from_str(
            r#"{"id":"b","site":"s","text":"aaaa\n\nbbbb\n\ncccc\n\ndddd","labels":["editorial","boilerplate","syndicated","comments"],
                "extra":{"syndicated_with":{"2":["a"]}}}"#,
        )
        .unwrap();
        let pred = DocumentLabels {
            id: "b".into(),
            source: String::new(),
            url: String::new(),
            published_at: 0,
            segments: vec![
                seg(0, 4, Label::Boilerplate, None),
                seg(12, 16, Label::Syndicated, Some("a")),
            ],
            summary: Summary::default(),
            replaced: false,
            text: None,
        };
        let order: HashMap<String, usize> = [("a".to_string(), 0), ("b".to_string(), 1)].into();
        let c = score_document(&gold, Some(&pred), &order);
        // editorial -> boilerplate, boilerplate -> editorial (uncovered), syndicated hit.
        assert_eq!(c.chars[0][1], 4);
        assert_eq!(c.chars[1][0], 4);
        assert_eq!(c.chars[2][2], 4);
        assert_eq!((c.provenance, c.partner, c.earliest), (1, 1, 1));
        let m = c.measures();
        assert_eq!(m.bp_precision, Some(0.0));
        assert_eq!(m.editorial_loss, Some(1.0));
        assert_eq!(m.syn_f1, Some(1.0));
        assert_eq!(m.chars, 12);
        // No prediction: all editorial.
        let c = score_document(&gold, None, &order);
        assert_eq!(c.chars[1][0] + c.chars[2][0] + c.chars[0][0], 12);
    }

    #[test]
    fn extraction_compares_bags_of_words() {
        let (p, r, f) = extraction_document("The cat sat. The end", "the cat, the dog");
        assert_eq!((p, r), (Some(0.75), Some(0.6)));
        assert!((f - 2.0 * 3.0 / 9.0).abs() < 1e-9);
        assert_eq!(extraction_document("", ""), (None, None, 1.0));
        assert_eq!(
            gold_main("story\n!@#$%^&*()  COMMENTS\nnice post"),
            "story\n"
        );
        assert_eq!(gold_main("a ^&* b"), "a ^&* b");
    }

    #[test]
    fn site_subset_keeps_sites_with_enough_pages() {
        let mut c = Counts::default();
        c.chars[1][1] = 10;
        let docs = vec![
            (Some("big".to_string()), c),
            (Some("big".to_string()), c),
            (Some("small".to_string()), Counts::default()),
            (None, c),
        ];
        let r = report(&docs, 2);
        assert_eq!((r.documents, r.sites, r.site_documents), (4, 1, 2));
        assert_eq!(r.big_sites.chars, 20);
        assert_eq!(r.all.chars, 30);
        assert_eq!(r.site_pages.get("big"), Some(&2));
        assert!(!r.site_pages.contains_key("small"));
    }
}
