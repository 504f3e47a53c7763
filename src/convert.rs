//! Library types <-> protobuf messages, both ways: the server answers with
//! them and the CLI reads them back, so both print the same thing.

use prost_types::Timestamp;

use crate::classify::{Label, MatchKind};
use crate::document::{Body, Document};
use crate::error::{Error, Result};
use crate::labels::{
    ClusterInfo, DocumentLabels, MemoryUse, Occurrence, SegmentLabel, SourceCount, Stats, Summary,
};
use crate::proto::v1 as pb;
use crate::time::{self, Micros};

pub fn timestamp(t: Micros) -> Timestamp {
    let (seconds, nanos) = time::to_parts(t);
    Timestamp { seconds, nanos }
}

fn micros(t: &Timestamp) -> Result<Micros> {
    time::from_parts(t.seconds, t.nanos).map_err(Error::invalid)
}

pub fn document_from_pb(d: pb::Document) -> Result<Document> {
    let published_at = d
        .published_at
        .as_ref()
        .map(micros)
        .transpose()
        .map_err(|e| Error::invalid(format!("document {:?}: {e}", d.id)))?;
    let body = match d.body {
        Some(pb::document::Body::Text(t)) => Body::Text(t),
        Some(pb::document::Body::Paragraphs(p)) => Body::Paragraphs(p.items),
        Some(pb::document::Body::Html(h)) => Body::Html(h),
        None => Body::Text(String::new()),
    };
    Ok(Document {
        id: d.id,
        source: d.source,
        url: d.url,
        published_at,
        body,
        markup: Some(d.markup).filter(|m| !m.is_empty()),
    })
}

pub fn document_to_pb(d: Document) -> pb::Document {
    pb::Document {
        id: d.id,
        source: d.source,
        url: d.url,
        published_at: d.published_at.map(timestamp),
        body: Some(match d.body {
            Body::Text(t) => pb::document::Body::Text(t),
            Body::Paragraphs(items) => pb::document::Body::Paragraphs(pb::Paragraphs { items }),
            Body::Html(h) => pb::document::Body::Html(h),
        }),
        markup: d.markup.unwrap_or_default(),
    }
}

pub fn label_to_pb(l: Label) -> pb::Label {
    match l {
        Label::Editorial => pb::Label::Editorial,
        Label::Boilerplate => pb::Label::Boilerplate,
        Label::Syndicated => pb::Label::Syndicated,
    }
}

pub fn label_from_pb(l: i32) -> Option<Label> {
    match pb::Label::try_from(l).ok()? {
        pb::Label::Editorial => Some(Label::Editorial),
        pb::Label::Boilerplate => Some(Label::Boilerplate),
        pb::Label::Syndicated => Some(Label::Syndicated),
        pb::Label::Unspecified => None,
    }
}

fn match_to_pb(m: MatchKind) -> pb::MatchKind {
    match m {
        MatchKind::None => pb::MatchKind::None,
        MatchKind::Exact => pb::MatchKind::Exact,
        MatchKind::Near => pb::MatchKind::Near,
    }
}

fn match_from_pb(m: i32) -> MatchKind {
    match pb::MatchKind::try_from(m) {
        Ok(pb::MatchKind::Exact) => MatchKind::Exact,
        Ok(pb::MatchKind::Near) => MatchKind::Near,
        _ => MatchKind::None,
    }
}

fn occurrence_to_pb(o: Occurrence) -> pb::Occurrence {
    pb::Occurrence {
        document_id: o.document_id,
        source: o.source,
        url: o.url,
        published_at: Some(timestamp(o.published_at)),
    }
}

fn occurrence_from_pb(o: pb::Occurrence) -> Occurrence {
    Occurrence {
        document_id: o.document_id,
        source: o.source,
        url: o.url,
        published_at: o
            .published_at
            .and_then(|t| micros(&t).ok())
            .unwrap_or_default(),
    }
}

pub fn labels_to_pb(l: DocumentLabels) -> pb::DocumentLabels {
    pb::DocumentLabels {
        id: l.id,
        source: l.source,
        url: l.url,
        published_at: Some(timestamp(l.published_at)),
        segments: l
            .segments
            .into_iter()
            .map(|s| pb::Segment {
                start: s.start,
                end: s.end,
                index: s.index,
                label: label_to_pb(s.label) as i32,
                confidence: s.confidence,
                cluster: s.cluster,
                r#match: match_to_pb(s.matched) as i32,
                distance: s.distance,
                cluster_documents: s.cluster_documents,
                cluster_sources: s.cluster_sources,
                source_documents: s.source_documents,
                first_seen: s.first_seen.map(occurrence_to_pb),
                other_sources: s.other_sources,
                comment: s.comment,
            })
            .collect(),
        summary: Some(pb::Summary {
            segments: l.summary.segments,
            bytes: l.summary.bytes,
            editorial_share: l.summary.editorial_share,
            boilerplate_share: l.summary.boilerplate_share,
            syndicated_share: l.summary.syndicated_share,
            main_origin: l.summary.main_origin.map(occurrence_to_pb),
            main_origin_share: l.summary.main_origin_share,
        }),
        replaced: l.replaced,
        text: l.text.unwrap_or_default(),
    }
}

pub fn labels_from_pb(l: pb::DocumentLabels) -> DocumentLabels {
    let summary = l.summary.unwrap_or_default();
    DocumentLabels {
        id: l.id,
        source: l.source,
        url: l.url,
        published_at: l
            .published_at
            .and_then(|t| micros(&t).ok())
            .unwrap_or_default(),
        segments: l
            .segments
            .into_iter()
            .map(|s| SegmentLabel {
                start: s.start,
                end: s.end,
                index: s.index,
                label: label_from_pb(s.label).unwrap_or(Label::Editorial),
                confidence: s.confidence,
                cluster: s.cluster,
                matched: match_from_pb(s.r#match),
                distance: s.distance,
                cluster_documents: s.cluster_documents,
                cluster_sources: s.cluster_sources,
                source_documents: s.source_documents,
                first_seen: s.first_seen.map(occurrence_from_pb),
                other_sources: s.other_sources,
                comment: s.comment,
                pattern: Default::default(),
            })
            .collect(),
        summary: Summary {
            segments: summary.segments,
            bytes: summary.bytes,
            editorial_share: summary.editorial_share,
            boilerplate_share: summary.boilerplate_share,
            syndicated_share: summary.syndicated_share,
            main_origin: summary.main_origin.map(occurrence_from_pb),
            main_origin_share: summary.main_origin_share,
        },
        replaced: l.replaced,
        text: (!l.text.is_empty()).then_some(l.text),
    }
}

pub fn cluster_to_pb(c: ClusterInfo) -> pb::Cluster {
    pb::Cluster {
        id: c.id,
        representative: c.representative,
        documents: c.documents,
        sources: c.sources,
        per_source: c
            .per_source
            .into_iter()
            .map(|s| pb::SourceCount {
                source: s.source,
                documents: s.documents,
            })
            .collect(),
        first_seen: c.first_seen.map(occurrence_to_pb),
        label: label_to_pb(c.label) as i32,
    }
}

pub fn cluster_from_pb(c: pb::Cluster) -> ClusterInfo {
    ClusterInfo {
        id: c.id,
        representative: c.representative,
        documents: c.documents,
        sources: c.sources,
        per_source: c
            .per_source
            .into_iter()
            .map(|s| SourceCount {
                source: s.source,
                documents: s.documents,
            })
            .collect(),
        first_seen: c.first_seen.map(occurrence_from_pb),
        label: label_from_pb(c.label).unwrap_or(Label::Editorial),
    }
}

pub fn stats_to_pb(s: Stats) -> pb::StatsResponse {
    pb::StatsResponse {
        documents: s.documents,
        segments: s.segments,
        clusters: s.clusters,
        sources: s.sources,
        boilerplate_clusters: s.boilerplate_clusters,
        indexed_fingerprints: s.indexed_fingerprints,
        resident_bytes: s.resident_bytes,
        durable: s.durable,
        restored_from: s.restored_from,
        restore_ms: s.restore_ms,
        restore_replayed: s.restore_replayed,
        store_repaired: s.store_repaired,
        memory: Some(pb::MemoryUse {
            index: s.memory.index,
            documents: s.memory.documents,
            document_ids: s.memory.document_ids,
            clusters: s.memory.clusters,
            patterns: s.memory.patterns,
            sources: s.memory.sources,
        }),
    }
}

pub fn stats_from_pb(s: pb::StatsResponse) -> Stats {
    Stats {
        documents: s.documents,
        segments: s.segments,
        clusters: s.clusters,
        sources: s.sources,
        boilerplate_clusters: s.boilerplate_clusters,
        indexed_fingerprints: s.indexed_fingerprints,
        resident_bytes: s.resident_bytes,
        durable: s.durable,
        restored_from: s.restored_from,
        restore_ms: s.restore_ms,
        restore_replayed: s.restore_replayed,
        store_repaired: s.store_repaired,
        memory: s.memory.map_or_else(MemoryUse::default, |m| MemoryUse {
            index: m.index,
            documents: m.documents,
            document_ids: m.document_ids,
            clusters: m.clusters,
            patterns: m.patterns,
            sources: m.sources,
        }),
    }
}
