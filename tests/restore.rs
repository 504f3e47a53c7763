//! Data directories written before segments carried a MinHash sketch (they
//! have the former `anchors` instead), or with an earlier sketch hash
//! family: restoring them recomputes the sketch from the stored text, so
//! near copies still find the old segments.

use chaff::classify::MatchKind;
use chaff::config::EngineConfig;
use chaff::document::{Body, Document};
use chaff::fingerprint::fingerprint;
use chaff::normalize::{normalize, Normalized};
use chaff::proto::store::{StoredDocument, StoredSegment};
use chaff::store::{Store, Write};
use chaff::Engine;

const TEXT: &str = "The council voted on Tuesday to close the old library building on Main \
    Street and move its collection to the new community centre, ending a debate that lasted \
    two years.";

fn doc(id: &str, text: &str) -> Document {
    Document {
        id: id.to_string(),
        // The source comes from the url's host.
        url: format!("https://example.org/{id}"),
        published_at: Some(1_700_000_000_000_000),
        body: Body::Text(text.to_string()),
        ..Default::default()
    }
}

fn fingerprint_of(text: &str) -> chaff::fingerprint::Fingerprint {
    let mut n = Normalized::default();
    normalize(text, &mut n);
    fingerprint(&n)
}

#[test]
fn records_without_a_sketch_still_match_near_copies() {
    // As an early version wrote it: anchors, no sketch.
    restored_record_matches_near_copies(StoredSegment {
        anchors: vec![1, 2, 3],
        ..Default::default()
    });
}

#[test]
fn sketches_of_an_earlier_hash_family_are_recomputed() {
    // A sketch that is not this text's under the current family (here the
    // sketch of unrelated text, as the first family's minima would be),
    // marked with the first family's version (0).
    let other = fingerprint_of(
        "Scientists announced a new species of frog discovered in the rainforest \
         canopy after a decade of careful field work by a small team of volunteers.",
    )
    .sketch
    .unwrap();
    restored_record_matches_near_copies(StoredSegment {
        sketch: other.minima.to_vec(),
        sketch_bands: other.bands.to_vec(),
        sketch_version: 0,
        ..Default::default()
    });
}

fn restored_record_matches_near_copies(old: StoredSegment) {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(Some(dir.path())).unwrap();
        let fp = fingerprint_of(TEXT);
        let record = StoredDocument {
            id: "old".to_string(),
            source: "example.org".to_string(),
            url: "https://example.org/old".to_string(),
            published_at: 1_600_000_000_000_000,
            published_at_given: true,
            seq: 1,
            text: TEXT.to_string(),
            segments: vec![StoredSegment {
                start: 0,
                end: TEXT.len() as u32,
                exact: fp.exact,
                cluster: 1,
                tokens: fp.tokens,
                ..old
            }],
        };
        store
            .submit(vec![Write::Put(record)])
            .unwrap()
            .wait()
            .unwrap();
        store.close();
    }
    let engine = Engine::open(EngineConfig::default(), Some(dir.path())).unwrap();
    let copy = TEXT.replace("Tuesday", "Wednesday");
    let labels = engine.ingest(doc("new", &copy)).unwrap();
    let seg = &labels.segments[0];
    assert_eq!(seg.matched, MatchKind::Near, "{seg:?}");
    assert_eq!(seg.cluster, 1);
    // What is stored now carries the sketch.
    drop(engine);
    let engine = Engine::open(EngineConfig::default(), Some(dir.path())).unwrap();
    let again = engine.dry_run(doc("third", &copy)).unwrap();
    assert_eq!(again.segments[0].cluster, 1);
}
