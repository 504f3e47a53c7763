//! A real server process, killed with SIGKILL mid-stream and restarted on
//! the same data directory: nothing acknowledged may be lost.

mod common;

use std::time::Duration;

use chaff::proto::v1 as pb;
use common::fixtures::article;
use common::{connect, doc, get, ingest, outlet_doc, ServerProcess};

const T0: i64 = 1_735_000_000;

#[tokio::test]
async fn kill_9_mid_stream_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let mut server = ServerProcess::spawn(&["--data-dir", data]);
    let mut c = connect(&server.url()).await;

    // Phase 1: an outlet's articles, all acknowledged; note their labels.
    for i in 0..10 {
        ingest(&mut c, outlet_doc(i)).await;
    }
    let mut before = Vec::new();
    for i in 0..10 {
        before.push(get(&mut c, &format!("a{i}")).await);
    }
    assert_eq!(before[0].segments[4].label(), pb::Label::Boilerplate);

    // Phase 2: unrelated documents streamed in small batches; kill the
    // server after some acknowledgements while more are in flight.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let feeder = tokio::spawn(async move {
        for b in 0..10_000u64 {
            let documents = (0..5)
                .map(|k| {
                    let n = 1_000 + b * 5 + k;
                    doc(
                        &format!("s{n}"),
                        &format!("site{}.example", n % 7),
                        T0 + n as i64,
                        &article(n, 2),
                    )
                })
                .collect();
            if tx
                .send(pb::AnalyzeStreamRequest { documents, mode: 0 })
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut responses = c
        .analyze_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let mut acked = Vec::new();
    while acked.len() < 200 {
        let r = responses.message().await.unwrap().expect("stream open");
        for d in r.results {
            assert!(matches!(
                d.outcome,
                Some(pb::document_result::Outcome::Labels(_))
            ));
            acked.push(d.id);
        }
    }
    server.kill_9();
    feeder.abort();
    let _ = responses.message().await; // the stream breaks

    // Restart on the same directory.
    let server = ServerProcess::spawn(&["--data-dir", data]);
    let mut c = connect(&server.url()).await;
    for (i, b) in before.iter().enumerate() {
        assert_eq!(
            &get(&mut c, &format!("a{i}")).await,
            b,
            "labels of a{i} changed across the restart"
        );
    }
    for id in &acked {
        let l = get(&mut c, id).await;
        assert_eq!(l.segments.len(), 2, "{id}");
    }
    let stats = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert!(stats.documents >= 10 + acked.len() as u64, "{stats:?}");
    assert!(stats.durable);
    // Every commit saved the store's allocator state (quick repair), so
    // the crash did not make the store walk its file.
    assert!(!stats.store_repaired, "{stats:?}");
    // New documents keep clustering with the restored ones.
    let l = c
        .analyze(pb::AnalyzeRequest {
            document: Some(outlet_doc(50)),
            mode: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .labels
        .unwrap();
    assert_eq!(l.segments[3].label(), pb::Label::Boilerplate);
    assert!(l.segments[3].source_documents >= 11);
    drop(server);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Without quick repair a crash leaves the store to walk its whole file on
/// the next open (and says so); nothing acknowledged is lost either way.
#[tokio::test]
async fn without_quick_repair_a_crash_makes_the_store_repair_itself() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let args = ["--data-dir", data, "--no-quick-repair"];
    let mut server = ServerProcess::spawn(&args);
    let mut c = connect(&server.url()).await;
    for i in 0..5 {
        ingest(&mut c, outlet_doc(i)).await;
    }
    let stats = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert!(!stats.store_repaired, "a new store needs no repair");
    let before = get(&mut c, "a4").await;
    server.kill_9();

    let server = ServerProcess::spawn(&args);
    let mut c = connect(&server.url()).await;
    let stats = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert!(stats.store_repaired, "{stats:?}");
    assert_eq!(stats.documents, 5);
    assert_eq!(get(&mut c, "a4").await, before);
    drop(server);
}

#[tokio::test]
async fn sigterm_drains_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let mut server = ServerProcess::spawn(&["--data-dir", data, "--drain-timeout", "5s"]);
    let mut c = connect(&server.url()).await;
    for i in 0..5 {
        ingest(&mut c, outlet_doc(i)).await;
    }
    let pid = server.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    let server = ServerProcess::spawn(&["--data-dir", data]);
    let mut c = connect(&server.url()).await;
    let stats = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.documents, 5);
}
