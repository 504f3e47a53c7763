//! The real server on an ephemeral port, driven by the generated client.

mod common;

use std::time::Duration;

use chaff::config::EngineConfig;
use chaff::proto::v1 as pb;
use chaff::proto::v1::chaff_client::ChaffClient;
use chaff::server::Admission;
use common::fixtures::{appeal, article, republish};
use common::{doc, get, ingest, labels, ts, TestServer};
use pb::Label::{Boilerplate, Editorial, Syndicated};
use tonic::transport::Channel;
use tonic::Code;

const OUTLET: &str = "dailyledger.example";
const DAY: i64 = 86_400;
const T0: i64 = 1_735_000_000;

/// Labels of an outlet article once its appeal is known boilerplate.
const OWN_TEXT_THEN_APPEAL: [pb::Label; 7] = [
    Editorial,
    Editorial,
    Editorial,
    Boilerplate,
    Boilerplate,
    Boilerplate,
    Boilerplate,
];

/// Ingests the outlet's articles 0..n, unchanged appeal, a day apart.
async fn ingest_outlet(c: &mut ChaffClient<Channel>, n: usize) {
    for i in 0..n {
        let d = doc(
            &format!("a{i}"),
            OUTLET,
            T0 + i as i64 * DAY,
            &outlet_article(i, 0),
        );
        ingest(c, d).await;
    }
}

/// Article `n` of the outlet as document `a{n}`, `n` seconds after T0.
fn outlet_doc_at(n: usize) -> pb::Document {
    doc(
        &format!("a{n}"),
        OUTLET,
        T0 + n as i64,
        &outlet_article(n, 0),
    )
}

/// Article `i` of the outlet: three paragraphs of its own, then the appeal.
fn outlet_article(i: usize, variant: usize) -> Vec<String> {
    let mut p = article(i as u64, 3);
    p.extend(appeal(variant));
    p
}

#[tokio::test]
async fn donation_appeal_becomes_boilerplate_and_articles_stay_editorial() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    // Variants: as written, another date, a reworded sentence, a dropped one.
    let variants = [0, 1, 2, 3, 0, 2];
    let mut seen = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        let l = ingest(
            &mut c,
            doc(
                &format!("a{i}"),
                OUTLET,
                T0 + i as i64 * DAY,
                &outlet_article(i, *v),
            ),
        )
        .await;
        seen.push(l);
    }
    // Streaming view: the first article cannot know that the appeal
    // repeats, and its paragraphs read as prose; the second has seen it
    // once, below the repeat threshold, so the fitted model weighs that
    // first repeat with the page's shape.
    assert_eq!(labels(&seen[0])[..6], [Editorial; 6]);
    assert_eq!(labels(&seen[1])[..3], [Editorial; 3]);
    assert_eq!(seen[0].segments[6].source_documents, 1);
    assert!(seen[1].segments[3..]
        .iter()
        .all(|s| s.source_documents == 2));
    // From the third article on (the default threshold), the appeal is
    // boilerplate in every variant, the articles' own text is editorial.
    for (i, l) in seen.iter().enumerate().skip(2) {
        assert_eq!(labels(l)[..3], [Editorial; 3], "article {i}: {l:?}");
        assert_eq!(labels(l)[3..], [Boilerplate; 4], "article {i}: {l:?}");
        assert!(l.segments[3..].iter().all(|s| s.source_documents >= 3));
        let s = l.summary.as_ref().unwrap();
        assert!(
            s.boilerplate_share > 0.2 && s.editorial_share > 0.5,
            "{s:?}"
        );
    }
    // The reworded and the shortened paragraphs joined the original clusters.
    let reworded = &seen[2].segments[4];
    assert_eq!(reworded.r#match(), pb::MatchKind::Near);
    assert_eq!(reworded.cluster, seen[0].segments[4].cluster);
    assert_eq!(seen[3].segments[5].cluster, seen[0].segments[5].cluster);
    // Retroactive: the first article's appeal is boilerplate now.
    let first = get(&mut c, "a0").await;
    assert_eq!(labels(&first), OWN_TEXT_THEN_APPEAL.to_vec());
    // Offsets point at the text that was sent.
    let text = outlet_article(0, 0).join("\n\n");
    let s = &first.segments[6];
    assert_eq!(&text[s.start as usize..s.end as usize], "Remind me later.");
    server.stop().await;
}

#[tokio::test]
async fn republished_story_is_syndicated_with_the_original_as_first_seen() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let story = article(100, 4);
    let original = ingest(&mut c, doc("orig", "wire.example", T0, &story)).await;
    assert_eq!(labels(&original), vec![Editorial; 4]);
    let copy = ingest(
        &mut c,
        doc("copy", "portal.example", T0 + 3600, &republish(&story)),
    )
    .await;
    assert_eq!(
        labels(&copy),
        vec![Editorial, Syndicated, Syndicated, Syndicated, Syndicated],
        "{copy:?}"
    );
    for s in &copy.segments[1..] {
        let f = s.first_seen.as_ref().expect("first_seen");
        assert_eq!(
            (f.document_id.as_str(), f.source.as_str()),
            ("orig", "wire.example")
        );
        assert_eq!(f.published_at, ts(T0));
    }
    let summary = copy.summary.unwrap();
    assert_eq!(summary.main_origin.unwrap().document_id, "orig");
    assert!(summary.syndicated_share > 0.7);
    // The origin stays editorial and reports who carries it.
    let original = get(&mut c, "orig").await;
    assert_eq!(labels(&original), vec![Editorial; 4]);
    assert!(original
        .segments
        .iter()
        .all(|s| s.other_sources == 1 && s.first_seen.is_none()));
    // A copy of the copy points to the first publisher.
    let copy2 = ingest(
        &mut c,
        doc(
            "copy2",
            "aggregator.example",
            T0 + 7200,
            &republish(&story)[1..],
        ),
    )
    .await;
    assert!(
        copy2.segments.iter().all(
            |s| s.label() == Syndicated && s.first_seen.as_ref().unwrap().document_id == "orig"
        ),
        "{copy2:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn copy_that_arrives_before_its_original_points_to_it_once_it_arrives() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let story = article(200, 3);
    let early = ingest(
        &mut c,
        doc("copy", "portal.example", T0 + 3600, &republish(&story)),
    )
    .await;
    assert_eq!(labels(&early), vec![Editorial; 4]);
    let original = ingest(&mut c, doc("orig", "wire.example", T0, &story)).await;
    assert_eq!(labels(&original), vec![Editorial; 3], "{original:?}");
    let copy = get(&mut c, "copy").await;
    assert_eq!(
        labels(&copy),
        vec![Editorial, Syndicated, Syndicated, Syndicated]
    );
    assert!(copy.segments[1..]
        .iter()
        .all(|s| s.first_seen.as_ref().unwrap().document_id == "orig"));
    server.stop().await;
}

#[tokio::test]
async fn recrawls_replace_and_deletes_remove_their_contribution() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    // The same article crawled five times: one document, not five.
    for _ in 0..5 {
        let l = ingest(&mut c, doc("a0", OUTLET, T0, &outlet_article(0, 0))).await;
        assert_eq!(labels(&l)[..6], [Editorial; 6]);
        assert!(l.segments.iter().all(|s| s.cluster_documents == 1));
    }
    let stats = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!((stats.documents, stats.segments), (1, 7));
    for i in 1..3 {
        ingest(
            &mut c,
            doc(
                &format!("a{i}"),
                OUTLET,
                T0 + i * DAY,
                &outlet_article(i as usize, 0),
            ),
        )
        .await;
    }
    assert_eq!(labels(&get(&mut c, "a0").await)[3], Boilerplate);
    // Takedown of one article: the appeal is back under the threshold.
    let deleted = c
        .delete_document(pb::DeleteDocumentRequest { id: "a2".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.segments, 7);
    let a0 = get(&mut c, "a0").await;
    assert_eq!(labels(&a0)[3], Editorial);
    assert_eq!(a0.segments[3].source_documents, 2);
    let err = c
        .get_document(pb::GetDocumentRequest {
            id: "a2".into(),
            include_text: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = c
        .delete_document(pb::DeleteDocumentRequest { id: "a2".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let stats = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!((stats.documents, stats.segments), (2, 14));
    server.stop().await;
}

#[tokio::test]
async fn html_documents_label_blocks_of_their_visible_text() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let html = |i: usize| {
        let own: String = article(i as u64, 2)
            .iter()
            .map(|p| format!("<p>{p}</p>"))
            .collect();
        let appeal: String = appeal(0)
            .iter()
            .map(|p| format!("<div class=\"appeal\">{p}</div>"))
            .collect();
        format!("<html><head><style>.x{{}}</style></head><body><article>{own}</article><aside>{appeal}<br><br>Share</aside><script>track()</script></body></html>")
    };
    let mut last = None;
    for i in 0..3 {
        let d = pb::Document {
            body: Some(pb::document::Body::Html(html(i))),
            ..doc(&format!("h{i}"), OUTLET, T0 + i as i64, &[])
        };
        last = Some(ingest(&mut c, d).await);
    }
    let l = last.unwrap();
    assert!(!l.text.contains("track()") && !l.text.contains(".x{"));
    assert_eq!(
        labels(&l),
        vec![
            Editorial,
            Editorial,
            Boilerplate,
            Boilerplate,
            Boilerplate,
            Boilerplate,
            Boilerplate
        ]
    );
    let s = &l.segments[5];
    assert_eq!(
        &l.text[s.start as usize..s.end as usize],
        "Remind me later."
    );
    let full = c
        .get_document(pb::GetDocumentRequest {
            id: "h2".into(),
            include_text: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.text, l.text);
    let err = c
        .analyze(pb::AnalyzeRequest {
            document: Some(pb::Document {
                body: Some(pb::document::Body::Html("<script>only()</script>".into())),
                ..doc("e", OUTLET, T0, &[])
            }),
            mode: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("no visible text"),
        "{}",
        err.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn reader_comments_are_marked_and_labelled_as_the_server_is_told() {
    let page = |i: usize| {
        let own: String = article(i as u64, 2)
            .iter()
            .map(|p| format!("<p>{p}</p>"))
            .collect();
        let thread: String = article(100 + i as u64, 2)
            .iter()
            .map(|p| format!("<li class=\"comment\"><p>{p}</p></li>"))
            .collect();
        format!(
            "<html><body><div class=\"post\">{own}</div>\
             <div id=\"comments\"><ol class=\"commentlist\">{thread}</ol></div></body></html>"
        )
    };
    let html_doc = |id: &str, i: usize| pb::Document {
        body: Some(pb::document::Body::Html(page(i))),
        ..doc(id, OUTLET, T0 + i as i64, &[])
    };
    let marks = |l: &pb::DocumentLabels| l.segments.iter().map(|s| s.comment).collect::<Vec<_>>();
    // By default a comment is marked and labelled like any other text.
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let l = ingest(&mut c, html_doc("keep", 0)).await;
    assert_eq!(marks(&l), [false, false, true, true]);
    assert_eq!(labels(&l), [Editorial; 4]);
    server.stop().await;
    // --comments boilerplate: the article alone is editorial.
    let mut config = EngineConfig::default();
    config.policy.comments = chaff::classify::Comments::Boilerplate;
    let server = TestServer::start_with(config, 64 << 20).await;
    let mut c = server.client().await;
    let l = ingest(&mut c, html_doc("drop", 1)).await;
    assert_eq!(marks(&l), [false, false, true, true]);
    assert_eq!(labels(&l), [Editorial, Editorial, Boilerplate, Boilerplate]);
    // Relabelled against the final index, the same.
    assert_eq!(labels(&get(&mut c, "drop").await), labels(&l));
    server.stop().await;
}

#[tokio::test]
async fn dry_run_labels_without_changing_the_index() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    ingest_outlet(&mut c, 3).await;
    let before = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    let r = c
        .analyze(pb::AnalyzeRequest {
            document: Some(doc("probe", OUTLET, T0 + 9 * DAY, &outlet_article(9, 1))),
            mode: pb::Mode::DryRun as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .labels
        .unwrap();
    assert_eq!(labels(&r), OWN_TEXT_THEN_APPEAL.to_vec());
    let after = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    let counts = |s: &pb::StatsResponse| {
        (
            s.documents,
            s.segments,
            s.clusters,
            s.indexed_fingerprints,
            s.memory.unwrap_or_default(),
        )
    };
    assert_eq!(counts(&before), counts(&after));
    let memory = after.memory.unwrap();
    assert!(memory.index > 0 && memory.documents > 0 && memory.clusters > 0);
    let err = c
        .get_document(pb::GetDocumentRequest {
            id: "probe".into(),
            include_text: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn markup_informs_text_labels_without_moving_offsets() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let own = article(7, 3);
    let menu = ["Home", "World", "Sport", "Contact"];
    let headline = "Council votes to keep the Mill Street library open";
    let paragraphs: Vec<String> = menu
        .iter()
        .map(|m| m.to_string())
        .chain(std::iter::once(headline.to_string()))
        .chain(own.iter().cloned())
        .collect();
    let markup = format!(
        "<body><nav class=\"menu\"><ul>{}</ul></nav><article class=\"story\"><h1>{headline}</h1>{}</article></body>",
        menu.iter()
            .map(|m| format!("<li><a href=\"/{m}\">{m}</a></li>"))
            .collect::<String>(),
        own.iter().map(|p| format!("<p>{p}</p>")).collect::<String>()
    );
    let dry = |d: pb::Document| pb::AnalyzeRequest {
        document: Some(d),
        mode: pb::Mode::DryRun as i32,
    };
    let plain = c
        .analyze(dry(doc("m", OUTLET, T0, &paragraphs)))
        .await
        .unwrap()
        .into_inner()
        .labels
        .unwrap();
    let marked = c
        .analyze(dry(pb::Document {
            markup: markup.clone(),
            ..doc("m", OUTLET, T0, &paragraphs)
        }))
        .await
        .unwrap()
        .into_inner()
        .labels
        .unwrap();
    // Same segments, same offsets into the text that was sent.
    let spans = |l: &pb::DocumentLabels| {
        l.segments
            .iter()
            .map(|s| (s.start, s.end))
            .collect::<Vec<_>>()
    };
    assert_eq!(spans(&plain), spans(&marked));
    assert!(
        marked.text.is_empty(),
        "text input returns no extracted text"
    );
    // The menu of links in a <nav> reads as template; the story as the page's own.
    assert_eq!(labels(&marked)[..4], [Boilerplate; 4], "{marked:?}");
    assert_eq!(labels(&marked)[4..], [Editorial; 4], "{marked:?}");
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_the_server_keeps_serving() {
    let mut config = EngineConfig::default();
    config.limits.max_document_bytes = 10_000;
    config.limits.max_segments = 50;
    let server = TestServer::start_with(config, 64 << 10).await;
    let mut c = server.client().await;
    let analyze = |d: pb::Document| pb::AnalyzeRequest {
        document: Some(d),
        mode: 0,
    };
    let cases: Vec<(pb::AnalyzeRequest, Code, &str)> = vec![
        (
            analyze(doc("e", OUTLET, T0, &[])),
            Code::InvalidArgument,
            "no text",
        ),
        (
            analyze(doc("e", OUTLET, T0, &["  \n\n ".into()])),
            Code::InvalidArgument,
            "no text",
        ),
        (
            analyze(doc("", OUTLET, T0, &article(1, 1))),
            Code::InvalidArgument,
            "id is empty",
        ),
        (
            analyze(doc("big", OUTLET, T0, &["word ".repeat(3000)])),
            Code::ResourceExhausted,
            "max-document-bytes",
        ),
        (
            analyze(doc("many", OUTLET, T0, &vec!["x".to_string(); 51])),
            Code::ResourceExhausted,
            "max-segments",
        ),
        (
            // The markup counts towards the document's size.
            analyze(pb::Document {
                markup: format!("<p>{}</p>", "word ".repeat(2000)),
                ..doc("marked", OUTLET, T0, &article(1, 1))
            }),
            Code::ResourceExhausted,
            "max-document-bytes",
        ),
        (
            analyze(pb::Document {
                published_at: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -5,
                }),
                ..doc("t", OUTLET, T0, &article(1, 1))
            }),
            Code::InvalidArgument,
            "nanos",
        ),
        (
            analyze(pb::Document {
                source: String::new(),
                url: String::new(),
                ..doc("s", OUTLET, T0, &article(1, 1))
            }),
            Code::InvalidArgument,
            "source",
        ),
        (
            pb::AnalyzeRequest {
                document: None,
                mode: 0,
            },
            Code::InvalidArgument,
            "document",
        ),
        (
            pb::AnalyzeRequest {
                document: Some(doc("m", OUTLET, T0, &article(1, 1))),
                mode: 42,
            },
            Code::InvalidArgument,
            "mode",
        ),
    ];
    for (req, code, needle) in cases {
        let err = c.analyze(req).await.unwrap_err();
        assert_eq!(err.code(), code, "{err:?}");
        assert!(
            err.message().contains(needle),
            "{needle:?} not in {:?}",
            err.message()
        );
    }
    // Over the transport's message limit.
    let err = c
        .analyze(analyze(doc("huge", OUTLET, T0, &["y".repeat(100 << 10)])))
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::ResourceExhausted | Code::OutOfRange),
        "{err:?}"
    );
    // Still serving.
    let ok = ingest(&mut c, doc("fine", OUTLET, T0, &article(1, 2))).await;
    assert_eq!(ok.segments.len(), 2);
    // The source defaults to the registrable domain of the url.
    let l = ingest(
        &mut c,
        pb::Document {
            source: String::new(),
            url: "https://news.bbc.co.uk/x".into(),
            ..doc("u", "", T0, &article(2, 1))
        },
    )
    .await;
    assert_eq!(l.source, "bbc.co.uk");
    server.stop().await;
}

#[tokio::test]
async fn stream_answers_batches_in_order_with_per_document_errors() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let batches: Vec<pb::AnalyzeStreamRequest> = (0..4)
        .map(|b| pb::AnalyzeStreamRequest {
            documents: (0..3)
                .map(|i| {
                    let n = b * 3 + i;
                    if n == 4 {
                        doc("", OUTLET, T0, &article(1, 1)) // refused
                    } else {
                        outlet_doc_at(n)
                    }
                })
                .collect(),
            mode: 0,
        })
        .collect();
    let mut responses = c
        .analyze_stream(tokio_stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    let mut batch = 0;
    while let Some(r) = responses.message().await.unwrap() {
        assert_eq!(r.batch, batch);
        assert_eq!(r.results.len(), 3);
        for res in r.results {
            match res.outcome.unwrap() {
                pb::document_result::Outcome::Labels(l) => {
                    assert_eq!(l.id, format!("a{n}"));
                    let expected = if n >= 2 { Boilerplate } else { Editorial };
                    assert_eq!(labels(&l)[3], expected, "doc {n}");
                }
                pb::document_result::Outcome::Error(e) => {
                    assert_eq!(n, 4);
                    assert_eq!(e.code, Code::InvalidArgument as i32);
                    assert!(e.message.contains("id"));
                }
            }
            n += 1;
        }
        batch += 1;
    }
    assert_eq!(n, 12);
    let stats = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.documents, 11);
    server.stop().await;
}

/// A stream's batches overlap inside the server (one analysed while the
/// one before is applied and the one before that committed), yet each is
/// applied after the batches before it: a dry run sees the ingests sent
/// ahead of it, and a bad batch ends the stream after their answers.
#[tokio::test]
async fn stream_batches_see_the_batches_before_them() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let batch = |ids: std::ops::Range<usize>, mode: i32| pb::AnalyzeStreamRequest {
        documents: ids.map(outlet_doc_at).collect(),
        mode,
    };
    let ingest = pb::Mode::Ingest as i32;
    let dry = pb::Mode::DryRun as i32;
    let batches = vec![
        batch(0..1, ingest),
        batch(1..2, ingest),
        batch(2..3, dry),
        batch(3..4, ingest),
        batch(4..5, 7), // no such mode
        batch(5..6, ingest),
    ];
    let mut responses = c
        .analyze_stream(tokio_stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    let err = loop {
        match responses.message().await {
            Ok(Some(r)) => {
                assert_eq!(r.batch, seen.len() as u64);
                let Some(pb::document_result::Outcome::Labels(l)) = &r.results[0].outcome else {
                    panic!("batch {} refused: {r:?}", r.batch);
                };
                seen.push(labels(l)[3]);
            }
            Ok(None) => panic!("the stream ended without the bad batch's error"),
            Err(e) => break e,
        }
    };
    // The third document of the outlet, a dry run, already finds the
    // appeal on two pages of the source, as does the fourth.
    assert_eq!(seen, [Editorial, Editorial, Boilerplate, Boilerplate]);
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("mode 7"), "{}", err.message());
    let stats = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(
        stats.documents, 3,
        "a0, a1 and a3; not the dry run, nothing after the error"
    );
    server.stop().await;
}

#[tokio::test]
async fn clusters_list_and_page_by_source_and_label() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    ingest_outlet(&mut c, 4).await;
    ingest(
        &mut c,
        doc("other", "elsewhere.example", T0, &article(77, 2)),
    )
    .await;
    let list = |page_token: String| pb::ListClustersRequest {
        source: OUTLET.into(),
        label: pb::Label::Boilerplate as i32,
        min_documents: 0,
        page_size: 3,
        page_token,
    };
    let first = c
        .list_clusters(list(String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.clusters.len(), 3);
    assert!(!first.next_page_token.is_empty());
    let second = c
        .list_clusters(list(first.next_page_token.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.clusters.len(), 1);
    assert!(second.next_page_token.is_empty());
    let all: Vec<_> = first.clusters.iter().chain(&second.clusters).collect();
    assert!(all
        .iter()
        .all(|c| c.documents == 4 && c.label() == Boilerplate));
    assert!(all.iter().any(|c| c.representative == "Remind me later."));
    let appeal_first = &all[0];
    assert_eq!(appeal_first.first_seen.as_ref().unwrap().document_id, "a0");
    let one = c
        .get_cluster(pb::GetClusterRequest {
            id: appeal_first.id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(&one, *appeal_first);
    assert_eq!(
        one.per_source,
        vec![pb::SourceCount {
            source: OUTLET.into(),
            documents: 4
        }]
    );
    let err = c
        .get_cluster(pb::GetClusterRequest { id: 999_999 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = c.list_clusters(list("garbage".into())).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let editorial = c
        .list_clusters(pb::ListClustersRequest {
            label: pb::Label::Editorial as i32,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(editorial.clusters.len(), 4 * 3 + 2);
    server.stop().await;
}

#[tokio::test]
async fn health_reflection_and_compression_work_for_generic_clients() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let server = TestServer::start().await;
    let channel = server.channel().await;
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "chaff.v1.Chaff"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
    }
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = reflection
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        resp.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"chaff.v1.Chaff") && names.contains(&"grpc.health.v1.Health"),
        "{names:?}"
    );
    // v1alpha too, for older tools.
    let mut alpha =
        tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient::new(
            channel.clone(),
        );
    let req = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    assert!(alpha
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .is_some());
    for enc in [
        tonic::codec::CompressionEncoding::Gzip,
        tonic::codec::CompressionEncoding::Zstd,
    ] {
        let mut c = chaff::proto::v1::chaff_client::ChaffClient::new(channel.clone())
            .send_compressed(enc)
            .accept_compressed(enc);
        let l = ingest(&mut c, doc(&format!("{enc:?}"), OUTLET, T0, &article(5, 3))).await;
        assert_eq!(l.segments.len(), 3);
    }
    server.stop().await;
}

#[tokio::test]
async fn deadlines_are_honoured() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    // A stream whose deadline runs out between two batches is ended with
    // DEADLINE_EXCEEDED instead of doing the late work.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    req.set_timeout(std::time::Duration::from_millis(300));
    let batch = |id: &str| pb::AnalyzeStreamRequest {
        documents: vec![doc(id, OUTLET, T0, &article(9, 2))],
        mode: 0,
    };
    tx.send(batch("early")).await.unwrap();
    let mut responses = c.analyze_stream(req).await.unwrap().into_inner();
    assert_eq!(responses.message().await.unwrap().unwrap().results.len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let _ = tx.send(batch("late")).await;
    let err = responses.message().await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    let late = c
        .get_document(pb::GetDocumentRequest {
            id: "late".into(),
            include_text: false,
        })
        .await;
    assert_eq!(late.unwrap_err().code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn a_headline_teased_on_other_pages_stays_editorial_on_its_own_page() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let headline = |i: usize| {
        format!(
            "Story {} headline about the river",
            ["one", "two", "three", "four", "five"][i]
        )
    };
    for i in 0..5 {
        // Each page: its headline, its article, then teasers of the others.
        let mut p = vec![headline(i)];
        p.extend(article(300 + i as u64, 3));
        p.extend((0..5).filter(|&j| j != i).map(headline));
        ingest(
            &mut c,
            doc(&format!("t{i}"), OUTLET, T0 + i as i64 * DAY, &p),
        )
        .await;
    }
    for i in 0..5 {
        let l = get(&mut c, &format!("t{i}")).await;
        // Own headline (repeated on 4 other pages) stays editorial here...
        assert_eq!(
            l.segments[0].label(),
            Editorial,
            "t{i}: {:?}",
            l.segments[0]
        );
        assert!(l.segments[0].source_documents >= 3);
        assert_eq!(labels(&l)[1..4], [Editorial; 3]);
        // ...while the teasers of the other stories are boilerplate.
        assert_eq!(labels(&l)[4..], [Boilerplate; 4], "t{i}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_quote_two_independent_stories_share_is_not_syndication_or_boilerplate() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let quote = "\"We will not rest until every family has a safe home,\" the housing minister told reporters on Monday.".to_string();
    let mut a = article(400, 3);
    a.insert(1, quote.clone());
    let mut b = article(401, 3);
    b.insert(2, quote);
    ingest(&mut c, doc("first", "alpha.example", T0, &a)).await;
    let second = ingest(&mut c, doc("second", "beta.example", T0 + 3600, &b)).await;
    assert_eq!(labels(&second), vec![Editorial; 4], "{second:?}");
    let shared = &second.segments[2];
    assert_eq!((shared.cluster_documents, shared.cluster_sources), (2, 2));
    assert_eq!(labels(&get(&mut c, "first").await), vec![Editorial; 4]);
    server.stop().await;
}

#[tokio::test]
async fn wire_attribution_lines_are_not_editorial() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    // A portal's copies of wire stories end with the agency's line.
    for i in 0..4u64 {
        let story = article(500 + i, 3);
        ingest(
            &mut c,
            doc(
                &format!("w{i}"),
                "wire.example",
                T0 + i as i64 * DAY,
                &story,
            ),
        )
        .await;
        let mut copy = story.clone();
        copy.push("© 2025 AFP".to_string());
        copy.push("Source: TASS".to_string());
        let l = ingest(
            &mut c,
            doc(
                &format!("p{i}"),
                "portal.example",
                T0 + i as i64 * DAY + 60,
                &copy,
            ),
        )
        .await;
        assert_eq!(labels(&l)[..3], [Syndicated; 3], "p{i}");
        assert_eq!(labels(&l)[3..], [Boilerplate; 2], "p{i}: {l:?}");
    }
    server.stop().await;
}

fn analyze_request(id: &str, mode: pb::Mode) -> pb::AnalyzeRequest {
    pb::AnalyzeRequest {
        document: Some(doc(id, OUTLET, T0, &outlet_article(0, 0))),
        mode: mode as i32,
    }
}

#[tokio::test]
async fn a_unary_call_over_the_in_flight_limit_is_refused_with_resource_exhausted() {
    let admission = Admission::new(1, Duration::ZERO);
    let server =
        TestServer::start_admitting(EngineConfig::default(), 4 << 20, admission.clone()).await;
    let mut c = server.client().await;
    let held = admission.try_admit().expect("the one place is free");
    for mode in [pb::Mode::Ingest, pb::Mode::DryRun] {
        let err = c.analyze(analyze_request("a0", mode)).await.unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        assert!(err.message().contains("retry"), "{}", err.message());
    }
    let err = c.stats(pb::StatsRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    // A stream is not a unary call: it is served while the place is taken.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(pb::AnalyzeStreamRequest {
        documents: vec![doc("s0", OUTLET, T0, &outlet_article(1, 0))],
        mode: pb::Mode::Ingest as i32,
    })
    .await
    .unwrap();
    drop(tx);
    let mut out = c
        .analyze_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("stream")
        .into_inner();
    let batch = out.message().await.expect("batch").expect("one batch");
    assert!(matches!(
        batch.results[0].outcome,
        Some(pb::document_result::Outcome::Labels(_))
    ));
    // Nothing of the refused calls was ingested; once the place is free
    // the same call goes through.
    drop(held);
    ingest(&mut c, doc("a0", OUTLET, T0, &outlet_article(0, 0))).await;
    let s = c.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(s.documents, 2);
    server.stop().await;
}

#[tokio::test]
async fn a_unary_call_over_the_limit_waits_for_a_place_within_the_queue_timeout() {
    let admission = Admission::new(1, Duration::from_secs(60));
    let server =
        TestServer::start_admitting(EngineConfig::default(), 4 << 20, admission.clone()).await;
    let mut c = server.client().await;
    let held = admission.try_admit().expect("the one place is free");
    let call =
        tokio::spawn(async move { c.analyze(analyze_request("a0", pb::Mode::DryRun)).await });
    // The call queues for the place (it cannot finish without it) ...
    tokio::task::yield_now().await;
    assert!(!call.is_finished());
    // ... and is answered once the place is given back.
    drop(held);
    let labels = call.await.unwrap().expect("admitted").into_inner().labels;
    assert_eq!(labels.expect("labels").segments.len(), 7);
    server.stop().await;
}

#[tokio::test]
async fn no_in_flight_limit_admits_every_call() {
    let admission = Admission::new(0, Duration::ZERO);
    let _places: Vec<_> = (0..1000)
        .map(|_| admission.try_admit().expect("unlimited"))
        .collect();
    let server = TestServer::start_admitting(EngineConfig::default(), 4 << 20, admission).await;
    let mut c = server.client().await;
    c.analyze(analyze_request("a0", pb::Mode::DryRun))
        .await
        .expect("admitted");
    server.stop().await;
}
