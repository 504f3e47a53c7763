//! The library `Engine` directly: scripts, paragraph input, reopening.

use chaff::classify::{Label, MatchKind};
use chaff::config::EngineConfig;
use chaff::document::{Body, Document};
use chaff::Engine;

mod common;
use common::fixtures::{appeal, article};

fn text_doc(id: &str, source: &str, t: i64, text: &str) -> Document {
    Document {
        id: id.into(),
        source: source.into(),
        url: String::new(),
        published_at: Some(t * 1_000_000),
        body: Body::Text(text.into()),
        markup: None,
    }
}

/// A near copy in another source, with one edit, is syndicated from the
/// original, whatever the script.
fn assert_syndicated_near_copy(original: &str, edited: &str) {
    let e = Engine::ephemeral(EngineConfig::default()).unwrap();
    e.ingest(text_doc("o", "origin.example", 100, original))
        .unwrap();
    let copy = e
        .ingest(text_doc("c", "copy.example", 200, edited))
        .unwrap();
    let s = &copy.segments[0];
    assert_eq!(s.label, Label::Syndicated, "{edited}: {s:?}");
    assert_eq!(s.matched, MatchKind::Near);
    assert_eq!(s.first_seen.as_ref().unwrap().document_id, "o");
}

#[test]
fn chinese_japanese_and_thai_get_character_features() {
    assert_syndicated_near_copy(
        "国家统计局今天发布的数据显示，今年前三个季度全国居民人均可支配收入实际增长百分之五，农村居民收入增速继续快于城镇居民。",
        "国家统计局昨天发布的数据显示，今年前三个季度全国居民人均可支配收入实际增长百分之五，农村居民收入增速继续快于城镇居民。",
    );
    assert_syndicated_near_copy(
        "気象庁によりますと、大型の台風十号は今夜から明日にかけて九州南部に接近し、記録的な大雨となるおそれがあります。",
        "気象庁によりますと、大型の台風十号は今夜から明後日にかけて九州南部に接近し、記録的な大雨となるおそれがあります。",
    );
    assert_syndicated_near_copy(
        "กรมอุตุนิยมวิทยาประกาศเตือนว่าจะมีฝนตกหนักถึงหนักมากในหลายจังหวัดทางภาคเหนือและภาคตะวันออกเฉียงเหนือตลอดสัปดาห์นี้",
        "กรมอุตุนิยมวิทยาประกาศเตือนว่าจะมีฝนตกหนักในหลายจังหวัดทางภาคเหนือและภาคตะวันออกเฉียงเหนือตลอดสัปดาห์นี้",
    );
}

#[test]
fn right_to_left_scripts_match_too() {
    assert_syndicated_near_copy(
        "أعلنت وزارة الصحة اليوم عن افتتاح ثلاثة مستشفيات جديدة في المناطق الريفية لتحسين الخدمات الطبية المقدمة للسكان هناك",
        "أعلنت وزارة الصحة أمس عن افتتاح ثلاثة مستشفيات جديدة في المناطق الريفية لتحسين الخدمات الطبية المقدمة للسكان هناك",
    );
    assert_syndicated_near_copy(
        "משרד החינוך הודיע היום כי שנת הלימודים הבאה תיפתח במועדה למרות השביתה של המורים בבתי הספר התיכוניים ברחבי הארץ",
        "משרד החינוך הודיע אתמול כי שנת הלימודים הבאה תיפתח במועדה למרות השביתה של המורים בבתי הספר התיכוניים ברחבי הארץ",
    );
}

#[test]
fn paragraph_input_offsets_index_the_joined_text() {
    let e = Engine::ephemeral(EngineConfig::default()).unwrap();
    let items = vec![
        "First one.".to_string(),
        "   ".to_string(),
        "Third, après.".to_string(),
    ];
    let doc = Document {
        body: Body::Paragraphs(items),
        ..text_doc("p", "s.example", 1, "")
    };
    let l = e.ingest(doc).unwrap();
    let (_, text) = e.document("p", true).unwrap();
    let text = text.unwrap();
    assert_eq!(text, "First one.\n\n   \n\nThird, après.");
    let got: Vec<_> = l
        .segments
        .iter()
        .map(|s| (s.index, &text[s.start as usize..s.end as usize]))
        .collect();
    assert_eq!(got, vec![(0, "First one."), (2, "Third, après.")]);
}

#[test]
fn reopening_a_data_directory_restores_identical_labels_and_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let appeal = "Dear readers, we rely on your support to keep our reporting free for everyone. \
                  Please consider a monthly contribution today.";
    let mut before = Vec::new();
    let stats_before;
    {
        let e = Engine::open(EngineConfig::default(), Some(dir.path())).unwrap();
        for i in 0..6 {
            let own = format!(
                "Story number {} is about the {} of the river crossing and its repairs.",
                "x".repeat(i + 1),
                ["start", "middle", "end", "cost", "delay", "opening"][i]
            );
            e.ingest(text_doc(
                &format!("d{i}"),
                "site.example",
                i as i64,
                &format!("{own}\n\n{appeal}"),
            ))
            .unwrap();
        }
        e.delete("d5").unwrap();
        e.ingest(text_doc(
            "d0",
            "site.example",
            0,
            &format!("Updated story.\n\n{appeal}"),
        ))
        .unwrap();
        for i in 0..5 {
            before.push(e.document(&format!("d{i}"), false).unwrap().0);
        }
        stats_before = (e.stats().documents, e.stats().segments, e.stats().clusters);
        e.close();
    }
    let e = Engine::open(EngineConfig::default(), Some(dir.path())).unwrap();
    for (i, b) in before.iter().enumerate() {
        assert_eq!(&e.document(&format!("d{i}"), false).unwrap().0, b);
    }
    assert!(e.document("d5", false).is_err());
    let s = e.stats();
    assert_eq!((s.documents, s.segments, s.clusters), stats_before);
    assert_eq!(stats_before.0, 5);
    let m = s.memory;
    assert!(m.index > 0 && m.documents > 0 && m.document_ids > 0 && m.clusters > 0);
    assert_eq!(
        m.total(),
        m.index + m.documents + m.document_ids + m.clusters + m.patterns + m.sources
    );
    let appeal_cluster = before[1].segments[1].cluster;
    let c = e.cluster(appeal_cluster).unwrap();
    assert_eq!((c.documents, c.label), (5, Label::Boilerplate));
    assert_eq!(c.representative, appeal);
}

#[test]
fn a_batch_larger_than_a_lock_chunk_labels_as_one_document_at_a_time() {
    let appeal = "Dear readers, we rely on your support to keep our reporting free for everyone. \
                  Please consider a monthly contribution today.";
    let docs: Vec<Document> = (0..3 * chaff::engine::APPLY_CHUNK + 5)
        .map(|i| {
            let own = format!(
                "Report {i} on the river crossing: {} lanes closed and {} detours posted today.",
                ["two", "three", "four", "five"][i % 4],
                ["north", "south", "east"][i % 3]
            );
            let source = format!("site{}.example", i % 3);
            text_doc(
                &format!("d{i}"),
                &source,
                i as i64,
                &format!("{own}\n\n{appeal}"),
            )
        })
        .collect();
    let one_by_one = Engine::ephemeral(EngineConfig::default()).unwrap();
    let expected: Vec<_> = docs
        .iter()
        .map(|d| one_by_one.ingest(d.clone()).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let before: Vec<_>;
    {
        let e = Engine::open(EngineConfig::default(), Some(dir.path())).unwrap();
        let got: Vec<_> = e
            .ingest_batch(docs.clone())
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, expected);
        before = docs
            .iter()
            .map(|d| e.document(&d.id, false).unwrap().0)
            .collect();
        e.close();
    }
    // Every chunk was durable before the batch was answered.
    let e = Engine::open(EngineConfig::default(), Some(dir.path())).unwrap();
    assert_eq!(e.stats().documents, docs.len() as u64);
    for b in &before {
        assert_eq!(&e.document(&b.id, false).unwrap().0, b);
    }
}

fn paragraphs_doc(id: &str, source: &str, t: i64, paragraphs: &[String]) -> Document {
    text_doc(id, source, t, &paragraphs.join("\n\n"))
}

/// A short line of made-up words, unique to `seed`.
fn line(seed: u64, words: usize) -> String {
    let a = article(seed, 1).remove(0);
    let w: Vec<&str> = a
        .trim_end_matches('.')
        .split_whitespace()
        .take(words)
        .collect();
    let mut s = w.join(" ").replace('.', "");
    if let Some(f) = s.get_mut(0..1) {
        f.make_ascii_uppercase();
    }
    s
}

/// A headline-like line: every word capitalised.
fn title(seed: u64, words: usize) -> String {
    line(seed, words)
        .split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn final_labels(e: &Engine, id: &str) -> Vec<Label> {
    let (l, _) = e.document(id, false).unwrap();
    l.segments.iter().map(|s| s.label).collect()
}

/// The source's line heads, as the engine hands them to the model: the
/// per-source count of pages with a "READ MORE:" line grows with the pages,
/// while a one-off "Verdict:" paragraph has no repeated head and stays
/// editorial. (Whether the model calls the patterned line boilerplate is the
/// fitted model's call: on news-dev it does, 13,400 characters of "READ MORE:"
/// lines; on these made-up pages it does not.)
#[test]
fn patterned_lines_count_the_pages_of_their_source_that_share_the_head() {
    let e = Engine::ephemeral(EngineConfig::default()).unwrap();
    for i in 0..40u64 {
        let body = article(500 + i, 4);
        let mut p = vec![
            title(600 + i, 9),
            body[0].clone(),
            body[1].clone(),
            format!("READ MORE: {}", title(700 + i, 8)),
            body[2].clone(),
            body[3].clone(),
        ];
        p.extend(appeal(0));
        e.ingest(paragraphs_doc(
            &format!("p{i}"),
            "outlet.example",
            i as i64 * 3600,
            &p,
        ))
        .unwrap();
    }
    // Another source's pattern does not count here.
    let mut other = article(850, 2);
    other.push(format!("READ MORE: {}", title(851, 8)));
    e.ingest(paragraphs_doc("o", "other.example", 50 * 3600, &other))
        .unwrap();
    // One page of the outlet opens a paragraph with a word and a colon once.
    let body = article(800, 3);
    let mut p = vec![
        title(801, 9),
        body[0].clone(),
        format!("Verdict: {}", body[1]),
        body[2].clone(),
    ];
    p.extend(appeal(0));
    e.ingest(paragraphs_doc("v", "outlet.example", 100 * 3600, &p))
        .unwrap();
    let head_docs = |id: &str, i: usize| e.document(id, false).unwrap().0.segments[i].pattern[0];
    for i in [0, 20, 39] {
        // Every page's line is new text, its head is on all 40 pages.
        let (d, _) = e.document(&format!("p{i}"), false).unwrap();
        assert_eq!(d.segments[3].source_documents, 1);
        assert_eq!(head_docs(&format!("p{i}"), 3), 40f32.ln());
        assert_eq!(head_docs(&format!("p{i}"), 1), 0.0);
    }
    assert_eq!(head_docs("o", 2), 0.0);
    assert_eq!(head_docs("v", 2), 0.0);
    assert_eq!(final_labels(&e, "v")[..4], [Label::Editorial; 4]);
}

/// Each page lists the previous story's headline under its article: the
/// line recurs on two pages only, the story's and the teaser's. The engine
/// marks the teaser as an earlier page's headline and the story's own line
/// as the first page to carry it as a headline, which stays editorial.
#[test]
fn a_story_teased_on_a_later_page_of_its_source_is_marked_as_a_teaser_there_only() {
    let e = Engine::ephemeral(EngineConfig::default()).unwrap();
    let headline = |i: u64| title(900 + i, 10);
    for i in 0..10u64 {
        let mut p = vec![headline(i)];
        p.extend(article(1000 + i, 3));
        p.push("Related stories".to_string());
        if i > 0 {
            p.push(headline(i - 1));
        }
        p.push(line(1100 + i, 7));
        p.extend(appeal(0));
        e.ingest(paragraphs_doc(
            &format!("s{i}"),
            "daily.example",
            i as i64 * 3600,
            &p,
        ))
        .unwrap();
    }
    // The same line in another source is no teaser of that source's.
    let mut p = article(1300, 2);
    p.push(headline(3));
    e.ingest(paragraphs_doc("x", "elsewhere.example", 20 * 3600, &p))
        .unwrap();
    for i in 1..9u64 {
        let (d, _) = e.document(&format!("s{i}"), false).unwrap();
        let (own, teaser) = (&d.segments[0], &d.segments[5]);
        assert_eq!(own.label, Label::Editorial, "s{i}: {own:?}");
        assert_eq!(
            (own.pattern[1], own.pattern[2]),
            (0.0, 1.0),
            "s{i}: {own:?}"
        );
        assert_eq!(teaser.source_documents, 2);
        assert_eq!(
            (teaser.pattern[1], teaser.pattern[2]),
            (1.0, 0.0),
            "s{i}: {teaser:?}"
        );
    }
    let (x, _) = e.document("x", false).unwrap();
    assert_eq!(x.segments[2].pattern[1], 0.0);
}

#[test]
fn a_market_report_whose_figures_change_is_editorial_its_fixed_notice_boilerplate() {
    // Number masking puts the daily report's sentences in one cluster; the
    // figures differ on every page, so they are the news.
    let e = Engine::ephemeral(EngineConfig::default()).unwrap();
    let notice = "The data are preliminary and may be revised after the close of trading.";
    for i in 0..8u64 {
        let p = vec![
            line(1200 + i, 9),
            format!(
                "The main index {} by {}.{}% to 2,{}4{}.{}7 points at the close of trading on the exchange.",
                if i % 2 == 0 { "fell" } else { "rose" },
                i % 3,
                i + 1,
                i,
                (i * 7) % 10,
                i % 4
            ),
            format!(
                "Shares of the largest bank gained {}.{}% while the oil producer lost {}.{}% over the session.",
                i + 1,
                (i * 3) % 10,
                i % 2,
                i + 4
            ),
            notice.to_string(),
        ];
        e.ingest(paragraphs_doc(
            &format!("m{i}"),
            "wire.example",
            i as i64 * 86400,
            &p,
        ))
        .unwrap();
    }
    for i in 0..8 {
        let l = final_labels(&e, &format!("m{i}"));
        assert_eq!(l[1..3], [Label::Editorial; 2], "m{i}: {l:?}");
        assert_eq!(l[3], Label::Boilerplate, "m{i}: {l:?}");
    }
}

#[test]
fn a_dry_run_batch_labels_as_dry_runs_one_by_one_at_any_bulk_priority() {
    for bulk_nice in [0, 19] {
        let config = EngineConfig {
            bulk_nice,
            ..EngineConfig::default()
        };
        let e = Engine::ephemeral(config).unwrap();
        for i in 0..4u64 {
            let mut p = article(i, 3);
            p.extend(appeal(0));
            e.ingest(text_doc(
                &format!("a{i}"),
                "outlet.example",
                i as i64,
                &p.join("\n\n"),
            ))
            .unwrap();
        }
        let mut docs: Vec<Document> = (10..50u64)
            .map(|i| {
                let mut p = article(i, 2);
                p.extend(appeal(1));
                text_doc(
                    &format!("b{i}"),
                    "outlet.example",
                    i as i64,
                    &p.join("\n\n"),
                )
            })
            .collect();
        docs.insert(7, text_doc("empty", "outlet.example", 7, ""));
        let expected: Vec<_> = docs.iter().map(|d| e.dry_run(d.clone())).collect();
        let got = e.dry_run_batch(docs);
        assert_eq!(got.len(), expected.len());
        for (g, x) in got.iter().zip(&expected) {
            match (g, x) {
                (Ok(g), Ok(x)) => assert_eq!(g, x),
                (Err(g), Err(x)) => assert_eq!(g.to_string(), x.to_string()),
                _ => panic!("{g:?} vs {x:?}"),
            }
        }
        assert!(got[7].is_err());
        // Nothing was added.
        assert_eq!(e.stats().documents, 4);
    }
}

/// A page that renders its story twice (a preview above the story, as
/// wsj.com's pages do, or a mobile and a desktop variant) says it once: the
/// second copy of each block is boilerplate, at arrival and in the final
/// labels. Paragraphs a caller sends as text are labelled as sent, repeats
/// and all.
#[test]
fn a_block_an_html_page_renders_twice_is_labelled_once() {
    let e = Engine::ephemeral(EngineConfig::default()).unwrap();
    let story = article(41, 3);
    let blocks: String = story.iter().map(|p| format!("<p>{p}</p>")).collect();
    let html = format!(
        "<html><body><div class=\"preview mobile\">{blocks}</div><article>{blocks}</article></body></html>"
    );
    let doc = Document {
        body: Body::Html(html),
        ..text_doc("twice", "paper.example", 1, "")
    };
    let arrived = e.ingest(doc).unwrap();
    let want = [
        [Label::Editorial; 3].as_slice(),
        [Label::Boilerplate; 3].as_slice(),
    ]
    .concat();
    let got: Vec<Label> = arrived.segments.iter().map(|s| s.label).collect();
    assert_eq!(got, want);
    assert_eq!(final_labels(&e, "twice"), want);

    let other = article(42, 3);
    let text = [other.clone(), other].concat().join("\n\n");
    let sent = e
        .ingest(text_doc("sent", "other.example", 2, &text))
        .unwrap();
    assert!(
        sent.segments.iter().all(|s| s.label == Label::Editorial),
        "{:?}",
        sent.segments
    );
}

#[test]
fn the_memory_report_grows_with_the_state_and_a_takedown_frees_its_records() {
    let e = Engine::ephemeral(EngineConfig::default()).unwrap();
    let ingest = |range: std::ops::Range<u64>| {
        for i in range {
            e.ingest(text_doc(
                &format!("m{i}"),
                "memory.example",
                i as i64,
                &format!("{}\n\n{}", line(i, 24), line(i + 10_000, 12)),
            ))
            .unwrap();
        }
    };
    ingest(0..50);
    let small = e.stats().memory;
    ingest(50..2_000);
    let large = e.stats().memory;
    assert!(large.index > small.index, "{small:?} -> {large:?}");
    assert!(large.documents > small.documents, "{small:?} -> {large:?}");
    assert!(large.clusters > small.clusters, "{small:?} -> {large:?}");
    assert!(
        large.document_ids > small.document_ids,
        "{small:?} -> {large:?}"
    );
    for i in 0..1_000 {
        e.delete(&format!("m{i}")).unwrap();
    }
    let after = e.stats().memory;
    assert!(after.documents < large.documents, "{large:?} -> {after:?}");
}
