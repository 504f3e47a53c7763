//! The state snapshot written on graceful close: a restart reads it back
//! instead of replaying the store, with the same answers; a snapshot that
//! is stale, damaged or short is never used.

mod common;

use std::path::Path;

use chaff::config::EngineConfig;
use chaff::document::{Body, Document};
use chaff::engine::{OpenOptions, RestoredFrom};
use chaff::labels::{ClusterQuery, DocumentLabels, Stats};
use chaff::proto::v1 as pb;
use chaff::proto::v1::chaff_client::ChaffClient;
use chaff::store::{Store, StoreOptions, Write};
use chaff::Engine;
use common::fixtures::{appeal, article, republish};
use common::{connect, get, ingest, outlet_doc, ServerProcess};

const T0: i64 = 1_735_000_000;

fn document(id: &str, source: &str, seconds: i64, paragraphs: &[String]) -> Document {
    Document {
        id: id.to_string(),
        source: source.to_string(),
        url: format!("https://{source}/{id}"),
        published_at: Some(seconds * 1_000_000),
        body: Body::Paragraphs(paragraphs.to_vec()),
        ..Default::default()
    }
}

/// Two outlets with their appeals, a wire story republished by both,
/// re-ingested documents and a takedown: clusters of every shape.
fn corpus() -> Vec<Document> {
    let mut docs = Vec::new();
    for i in 0..24u64 {
        let source = if i % 3 == 0 {
            "ledger.example"
        } else {
            "herald.example"
        };
        let mut p = article(i, 3);
        p.extend(appeal(i as usize % 4));
        p.push(format!("READ MORE: story number {i} of the day"));
        p.push(format!("Shares rose 1.{i}% to 2,{i}48.17 points."));
        docs.push(document(&format!("a{i}"), source, T0 + i as i64 * 60, &p));
    }
    let wire = article(1000, 4);
    docs.push(document("wire", "wire.example", T0, &wire));
    for (k, source) in ["ledger.example", "herald.example"].iter().enumerate() {
        docs.push(document(
            &format!("copy{k}"),
            source,
            T0 + 3600 + k as i64,
            &republish(&wire),
        ));
    }
    // A re-crawl with other text replaces the earlier version.
    docs.push(document(
        "a5",
        "herald.example",
        T0 + 7200,
        &article(500, 2),
    ));
    docs
}

fn open(dir: &Path, snapshots: bool) -> Engine {
    let options = OpenOptions {
        snapshots,
        ..OpenOptions::default()
    };
    Engine::open_with(EngineConfig::default(), Some(dir), options).unwrap()
}

/// Everything a client can read back: every document's labels, every
/// cluster, the counts.
fn answers(engine: &Engine, ids: &[String]) -> (Vec<Option<DocumentLabels>>, String, Stats) {
    let labels = ids
        .iter()
        .map(|id| engine.document(id, false).ok().map(|(l, _)| l))
        .collect();
    let clusters = engine
        .list_clusters(&ClusterQuery {
            page_size: 1000,
            ..Default::default()
        })
        .unwrap();
    let mut stats = engine.stats();
    stats.resident_bytes = 0;
    stats.restored_from.clear();
    stats.restore_ms = 0;
    stats.restore_replayed = 0;
    // Capacities depend on how the state was built (grown, or loaded at
    // its size), not on what it holds.
    stats.memory = Default::default();
    (labels, format!("{:?}", clusters.clusters), stats)
}

fn ids() -> Vec<String> {
    let mut ids: Vec<String> = corpus().into_iter().map(|d| d.id).collect();
    ids.push("absent".to_string());
    ids
}

/// A data directory with the corpus ingested and one document taken down,
/// and the answers before close.
fn populated(dir: &Path) -> (Vec<Option<DocumentLabels>>, String, Stats) {
    let engine = open(dir, true);
    for r in engine.ingest_batch(corpus()) {
        r.unwrap();
    }
    engine.delete("a7").unwrap();
    let before = answers(&engine, &ids());
    engine.close();
    before
}

#[test]
fn a_snapshot_restores_the_same_answers_as_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let before = populated(dir.path());
    assert!(chaff::snapshot::path(dir.path()).exists());

    let engine = open(dir.path(), true);
    assert_eq!(engine.restored().from, RestoredFrom::Snapshot);
    assert_eq!(engine.stats().restored_from, "snapshot");
    let from_snapshot = answers(&engine, &ids());
    assert_eq!(from_snapshot, before);
    // New documents join the restored clusters as they would have.
    let next = engine
        .ingest(document("a99", "ledger.example", T0 + 9000, &{
            let mut p = article(99, 2);
            p.extend(appeal(0));
            p
        }))
        .unwrap();
    let after = answers(&engine, &ids());
    engine.close();
    drop(engine);

    let engine = open(dir.path(), false);
    assert_eq!(engine.restored().from, RestoredFrom::Replay);
    assert_eq!(answers(&engine, &ids()), after);
    assert_eq!(engine.document("a99", false).unwrap().0, next);
    engine.close();
    drop(engine);
    // Opening without snapshots removes the one left behind.
    assert!(!chaff::snapshot::path(dir.path()).exists());
}

/// Records are kept by ingest order, not id: a re-crawl's new version
/// must be the one read back (and the old one gone) however the state is
/// rebuilt, a takedown's record too.
#[test]
fn a_replaced_document_reads_back_its_new_text_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), true);
    for r in engine.ingest_batch(corpus()) {
        r.unwrap();
    }
    engine.delete("a7").unwrap();
    let (_, text) = engine.document("a5", true).unwrap();
    let text = text.unwrap();
    assert!(text.contains(&article(500, 2)[0]), "{text}");
    assert!(!text.contains(&article(5, 3)[0]), "{text}");
    let live = engine.stats().documents;
    engine.close();
    drop(engine);
    for snapshots in [true, false] {
        let engine = open(dir.path(), snapshots);
        assert_eq!(engine.document("a5", true).unwrap().1.unwrap(), text);
        assert!(engine.document("a7", true).is_err());
        assert_eq!(engine.stats().documents, live);
        engine.close();
    }
    let store = Store::open(Some(dir.path())).unwrap();
    assert_eq!(store.documents().unwrap() as u64, live);
}

#[test]
fn a_reopen_without_changes_keeps_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let before = populated(dir.path());
    for _ in 0..2 {
        let engine = open(dir.path(), true);
        assert_eq!(engine.restored().from, RestoredFrom::Snapshot);
        assert_eq!(answers(&engine, &ids()), before);
        engine.close();
    }
}

/// One commit straight to the store, as a process that died before it
/// closed leaves it: document a3 taken down, no new snapshot.
fn take_down_a3(dir: &Path, journal: bool) {
    let options = StoreOptions {
        journal,
        ..StoreOptions::default()
    };
    let store = Store::open_with(Some(dir), options).unwrap();
    let mut a3 = None;
    store
        .for_each_record(|d| {
            if d.id == "a3" {
                a3 = Some(d.seq);
            }
        })
        .unwrap();
    let seq = a3.expect("a3 is stored");
    store
        .submit(vec![Write::Delete {
            id: "a3".to_string(),
            seq,
        }])
        .unwrap()
        .wait()
        .unwrap();
    store.close();
}

#[test]
fn commits_after_the_snapshot_are_reapplied_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    take_down_a3(dir.path(), true);
    let engine = open(dir.path(), true);
    assert_eq!(engine.restored().from, RestoredFrom::Snapshot);
    assert!(engine.document("a3", false).is_err());
    assert!(engine.document("a4", false).is_ok());
    let from_journal = answers(&engine, &ids());
    engine.close();
    drop(engine);
    let engine = open(dir.path(), false);
    assert_eq!(engine.restored().from, RestoredFrom::Replay);
    assert_eq!(answers(&engine, &ids()), from_journal);
}

#[test]
fn a_commit_the_journal_does_not_hold_makes_the_snapshot_stale() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    // A store written without a journal (snapshots off, or a release
    // before journals) since the snapshot.
    take_down_a3(dir.path(), false);
    let engine = open(dir.path(), true);
    assert_eq!(engine.restored().from, RestoredFrom::Replay);
    assert!(engine.document("a3", false).is_err());
    assert!(engine.document("a4", false).is_ok());
}

#[test]
fn a_checkpoint_moves_the_snapshot_forward() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let engine = open(dir.path(), true);
    engine
        .ingest(document(
            "late",
            "ledger.example",
            T0 + 9000,
            &article(77, 3),
        ))
        .unwrap();
    engine.checkpoint().unwrap();
    let after = answers(&engine, &ids());
    // Nothing written since: the reopen reads the checkpoint alone.
    engine.close();
    drop(engine);
    let engine = open(dir.path(), true);
    assert_eq!(engine.restored().from, RestoredFrom::Snapshot);
    assert_eq!(engine.restored().replayed, 0);
    assert_eq!(answers(&engine, &ids()), after);
    assert!(engine.document("late", false).is_ok());
}

fn damaged_snapshot_is_not_used(damage: impl FnOnce(&mut Vec<u8>)) {
    let dir = tempfile::tempdir().unwrap();
    let before = populated(dir.path());
    let file = chaff::snapshot::path(dir.path());
    let mut bytes = std::fs::read(&file).unwrap();
    damage(&mut bytes);
    std::fs::write(&file, &bytes).unwrap();
    let engine = open(dir.path(), true);
    assert_eq!(engine.restored().from, RestoredFrom::Replay);
    assert_eq!(answers(&engine, &ids()), before);
}

#[test]
fn a_corrupted_snapshot_is_not_used() {
    damaged_snapshot_is_not_used(|b| {
        let mid = b.len() / 2;
        b[mid] ^= 0x40;
    });
}

#[test]
fn a_truncated_snapshot_is_not_used() {
    damaged_snapshot_is_not_used(|b| b.truncate(b.len() * 2 / 3));
}

#[test]
fn a_snapshot_with_another_header_is_not_used() {
    // The generation field of the header.
    damaged_snapshot_is_not_used(|b| b[24] ^= 1);
}

async fn stats(c: &mut ChaffClient<tonic::transport::Channel>) -> pb::StatsResponse {
    c.stats(pb::StatsRequest {}).await.unwrap().into_inner()
}

fn sigterm(server: &mut ServerProcess) {
    let pid = server.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
}

async fn delete(c: &mut ChaffClient<tonic::transport::Channel>, id: &str) {
    c.delete_document(pb::DeleteDocumentRequest { id: id.into() })
        .await
        .expect("delete");
}

/// Every answer a client can read for documents `a0`..`a{n}`.
async fn read_all(c: &mut ChaffClient<tonic::transport::Channel>, n: usize) -> Vec<String> {
    let mut all = Vec::new();
    for i in 0..n {
        let id = format!("a{i}");
        let answer = c
            .get_document(pb::GetDocumentRequest {
                id: id.clone(),
                include_text: false,
            })
            .await;
        all.push(match answer {
            Ok(r) => format!("{:?}", r.into_inner().labels),
            Err(status) => format!("{:?}", status.code()),
        });
    }
    all
}

#[tokio::test]
async fn graceful_restart_reads_the_snapshot_and_kill_9_reapplies_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();

    let mut server = ServerProcess::spawn(&["--data-dir", data]);
    let mut c = connect(&server.url()).await;
    for i in 0..12 {
        ingest(&mut c, outlet_doc(i)).await;
    }
    let mut before = Vec::new();
    for i in 0..12 {
        before.push(get(&mut c, &format!("a{i}")).await);
    }
    assert_eq!(stats(&mut c).await.restored_from, "replay");
    sigterm(&mut server);

    // Graceful stop: the restart reads the snapshot, same answers.
    let mut server = ServerProcess::spawn(&["--data-dir", data]);
    let mut c = connect(&server.url()).await;
    let s = stats(&mut c).await;
    assert_eq!(
        (s.restored_from.as_str(), s.restore_replayed),
        ("snapshot", 0),
        "{s:?}"
    );
    assert_eq!(s.documents, 12);
    for (i, b) in before.iter().enumerate() {
        assert_eq!(&get(&mut c, &format!("a{i}")).await, b, "a{i}");
    }

    // More documents, a re-crawl with other text and a takedown, all
    // acknowledged, then SIGKILL: no snapshot of them.
    for i in 12..20 {
        ingest(&mut c, outlet_doc(i)).await;
    }
    let mut recrawl = outlet_doc(4);
    recrawl.body = outlet_doc(30).body;
    ingest(&mut c, recrawl).await;
    delete(&mut c, "a7").await;
    let all = read_all(&mut c, 20).await;
    server.kill_9();

    // The snapshot plus the journal's 9 documents give the same answers.
    let server = ServerProcess::spawn(&["--data-dir", data]);
    let mut c = connect(&server.url()).await;
    let s = stats(&mut c).await;
    assert_eq!(
        (s.restored_from.as_str(), s.restore_replayed),
        ("snapshot", 9),
        "{s:?}"
    );
    assert_eq!(s.documents, 19);
    assert_eq!(read_all(&mut c, 20).await, all);
    drop(server);

    // And so does a full replay.
    let server = ServerProcess::spawn(&["--data-dir", data, "--no-snapshot"]);
    let mut c = connect(&server.url()).await;
    let s = stats(&mut c).await;
    assert_eq!(
        (s.restored_from.as_str(), s.restore_replayed),
        ("replay", 19),
        "{s:?}"
    );
    assert_eq!(read_all(&mut c, 20).await, all);
}

#[tokio::test]
async fn a_periodic_snapshot_bounds_what_a_crash_reapplies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let mut server = ServerProcess::spawn(&["--data-dir", data, "--snapshot-interval", "200ms"]);
    let mut c = connect(&server.url()).await;
    for i in 0..6 {
        ingest(&mut c, outlet_doc(i)).await;
    }
    // A checkpoint written after the last acknowledged ingest.
    let acked = std::time::SystemTime::now();
    let snapshot = chaff::snapshot::path(std::path::Path::new(data));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::metadata(&snapshot)
        .and_then(|m| m.modified())
        .map_or(true, |t| t <= acked)
    {
        assert!(std::time::Instant::now() < deadline, "no periodic snapshot");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    ingest(&mut c, outlet_doc(6)).await;
    let all = read_all(&mut c, 7).await;
    server.kill_9();

    let server = ServerProcess::spawn(&["--data-dir", data]);
    let mut c = connect(&server.url()).await;
    let s = stats(&mut c).await;
    assert_eq!(s.restored_from, "snapshot", "{s:?}");
    assert!(s.restore_replayed <= 1, "{s:?}");
    assert_eq!(read_all(&mut c, 7).await, all);
}

/// Closes the engine; the snapshot file's bytes after it.
fn close_and_read_snapshot(engine: Engine, dir: &Path) -> Vec<u8> {
    engine.close();
    drop(engine);
    std::fs::read(chaff::snapshot::path(dir)).unwrap()
}

/// A close after a few writes into a large state keeps the snapshot on disk
/// (the next open re-applies the few); once the writes since it reach the
/// share, the close writes a new one.
#[test]
fn a_close_after_few_writes_keeps_the_snapshot_and_the_journal_covers_them() {
    let dir = tempfile::tempdir().unwrap();
    // Two writes since the snapshot stay below the share of these, three
    // do not.
    let docs = 2 * chaff::engine::CLOSE_SNAPSHOT_JOURNAL_SHARE + 10;
    let many: Vec<Document> = (0..docs)
        .map(|i| {
            document(
                &format!("m{i}"),
                "ledger.example",
                T0 + i as i64,
                &article(i, 2),
            )
        })
        .collect();
    let engine = open(dir.path(), true);
    for r in engine.ingest_batch(many) {
        r.unwrap();
    }
    let first = close_and_read_snapshot(engine, dir.path());

    // Two writes: below the share, the snapshot stays as it was.
    let engine = open(dir.path(), true);
    assert_eq!(engine.restored().replayed, 0);
    let late = document("late", "herald.example", T0 + 9000, &article(9000, 3));
    engine.ingest(late).unwrap();
    engine.delete("m5").unwrap();
    let mut all: Vec<String> = (0..docs).map(|i| format!("m{i}")).collect();
    all.push("late".to_string());
    let before = answers(&engine, &all);
    assert_eq!(close_and_read_snapshot(engine, dir.path()), first);

    // The next open reads it and takes both writes from the journal: the
    // ingest re-applied, the takedown's document left out.
    let engine = open(dir.path(), true);
    assert_eq!(engine.restored().from, RestoredFrom::Snapshot);
    assert_eq!(engine.restored().replayed, 1);
    assert_eq!(answers(&engine, &all), before);

    // Three writes since the snapshot reach the share: a new one is written.
    engine
        .ingest(document(
            "later",
            "herald.example",
            T0 + 9100,
            &article(9100, 3),
        ))
        .unwrap();
    assert_ne!(close_and_read_snapshot(engine, dir.path()), first);
    let engine = open(dir.path(), true);
    assert_eq!(engine.restored().from, RestoredFrom::Snapshot);
    assert_eq!(engine.restored().replayed, 0);
    assert!(engine.document("later", false).is_ok());
    assert!(engine.document("m5", false).is_err());
}
