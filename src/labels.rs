//! What the engine answers: labels with their evidence, cluster and index
//! summaries. The gRPC server and the CLI both render these.

use serde::Serialize;

use crate::classify::{Label, MatchKind};
use crate::cluster::ClusterId;
use crate::time::Micros;

/// One occurrence of a cluster's content.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Occurrence {
    #[serde(rename = "id")]
    pub document_id: String,
    pub source: String,
    pub url: String,
    #[serde(with = "crate::time::rfc3339")]
    pub published_at: Micros,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentLabel {
    pub start: u32,
    pub end: u32,
    pub index: u32,
    pub label: Label,
    pub confidence: f32,
    pub cluster: ClusterId,
    #[serde(rename = "match")]
    pub matched: MatchKind,
    pub distance: u32,
    pub cluster_documents: u32,
    pub cluster_sources: u32,
    pub source_documents: u32,
    pub first_seen: Option<Occurrence>,
    pub other_sources: u32,
    /// In a reader-comment section of the page's markup.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub comment: bool,
    /// The segment's pattern features (`pattern::Patterns::evidence`), for
    /// the feature dump of `chaff eval`; in-process only (zero over gRPC).
    #[serde(skip)]
    pub pattern: [f32; crate::pattern::PATTERN_FEATURES],
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Summary {
    pub segments: u32,
    pub bytes: u64,
    pub editorial_share: f64,
    pub boilerplate_share: f64,
    pub syndicated_share: f64,
    /// The origin most of the syndicated bytes come from.
    pub main_origin: Option<Occurrence>,
    pub main_origin_share: f64,
}

impl Summary {
    pub fn of(segments: &[SegmentLabel]) -> Summary {
        let bytes: u64 = segments.iter().map(|s| (s.end - s.start) as u64).sum();
        let share = |label: Label| {
            let b: u64 = segments
                .iter()
                .filter(|s| s.label == label)
                .map(|s| (s.end - s.start) as u64)
                .sum();
            if bytes == 0 {
                0.0
            } else {
                b as f64 / bytes as f64
            }
        };
        // Syndicated bytes per origin document; first-come wins ties.
        let mut origins: Vec<(&Occurrence, u64)> = Vec::new();
        for s in segments.iter().filter(|s| s.label == Label::Syndicated) {
            if let Some(o) = &s.first_seen {
                let len = (s.end - s.start) as u64;
                match origins
                    .iter_mut()
                    .find(|(x, _)| x.document_id == o.document_id)
                {
                    Some((_, n)) => *n += len,
                    None => origins.push((o, len)),
                }
            }
        }
        let main = origins
            .iter()
            .enumerate()
            .max_by_key(|(i, (_, n))| (*n, std::cmp::Reverse(*i)))
            .map(|(_, o)| *o);
        Summary {
            segments: segments.len() as u32,
            bytes,
            editorial_share: share(Label::Editorial),
            boilerplate_share: share(Label::Boilerplate),
            syndicated_share: share(Label::Syndicated),
            main_origin: main.map(|(o, _)| o.clone()),
            main_origin_share: main.map_or(0.0, |(_, n)| {
                if bytes == 0 {
                    0.0
                } else {
                    n as f64 / bytes as f64
                }
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentLabels {
    pub id: String,
    pub source: String,
    pub url: String,
    #[serde(with = "crate::time::rfc3339")]
    pub published_at: Micros,
    pub segments: Vec<SegmentLabel>,
    pub summary: Summary,
    /// This ingest replaced an earlier version of the same id.
    pub replaced: bool,
    /// For HTML input: the extracted text the offsets refer to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterInfo {
    pub id: ClusterId,
    pub representative: String,
    pub documents: u32,
    pub sources: u32,
    pub per_source: Vec<SourceCount>,
    pub first_seen: Option<Occurrence>,
    pub label: Label,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceCount {
    pub source: String,
    pub documents: u32,
}

/// Filter and page of `ListClusters`.
#[derive(Debug, Clone, Default)]
pub struct ClusterQuery {
    pub source: Option<String>,
    pub label: Option<Label>,
    pub min_documents: u32,
    pub page_size: u32,
    pub page_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterPage {
    pub clusters: Vec<ClusterInfo>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Stats {
    pub documents: u64,
    pub segments: u64,
    pub clusters: u64,
    pub sources: u64,
    pub boilerplate_clusters: u64,
    pub indexed_fingerprints: u64,
    pub resident_bytes: u64,
    pub durable: bool,
    /// How the state was rebuilt on open: "snapshot" or "replay".
    pub restored_from: String,
    /// How long that took, milliseconds.
    pub restore_ms: u64,
    /// Stored documents re-applied on open: all in a replay, those written
    /// after the snapshot when restored from one.
    pub restore_replayed: u64,
    /// The store was not closed cleanly and walked its file to repair it.
    pub store_repaired: bool,
    /// Where the in-memory state's heap goes.
    pub memory: MemoryUse,
}

/// Heap bytes of the in-memory state by structure: hash tables at their
/// full size, arrays as far as they are filled (their spare capacity is
/// reserved, not touched); the allocator's own overhead and rounding not
/// counted. What an operator reads to see what grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct MemoryUse {
    /// Fingerprint slots and lookup tables.
    pub index: u64,
    /// Per-document records: ids, urls, segment records.
    pub documents: u64,
    /// The id -> document table.
    pub document_ids: u64,
    pub clusters: u64,
    /// Source patterns: line heads, headlines, figures.
    pub patterns: u64,
    pub sources: u64,
}

impl MemoryUse {
    pub fn total(&self) -> u64 {
        self.index
            + self.documents
            + self.document_ids
            + self.clusters
            + self.patterns
            + self.sources
    }
}
