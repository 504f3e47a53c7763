//! The library `Engine` directly: scripts, paragraph input, reopening.

use chaff::classify::{Label, MatchKind};
use chaff::config::EngineConfig;
use chaff::document::{Body, Document};
use chaff::Engine;

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
