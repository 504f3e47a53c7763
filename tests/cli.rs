//! The `chaff` command line, run as a process.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::ServerProcess;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn chaff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaff"))
        .args(args)
        .env_remove("CHAFF_SERVER")
        .env_remove("CHAFF_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run chaff")
}

fn ok(args: &[&str]) -> (String, String) {
    let out = chaff(args);
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "chaff {args:?} failed:\n{stderr}");
    (stdout, stderr)
}

fn jsonl(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn label_letters(doc: &serde_json::Value) -> String {
    doc["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap().chars().next().unwrap())
        .collect()
}

#[test]
fn check_labels_an_article_against_an_ingested_outlet() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let news = fixture("news.jsonl");
    let (_, summary) = ok(&["ingest", news.to_str().unwrap(), "--data-dir", data]);
    assert!(
        summary.contains("ingested 6 documents (37 segments)"),
        "{summary}"
    );
    let article = fixture("article.txt");
    let (out, _) = ok(&[
        "check",
        article.to_str().unwrap(),
        "--source",
        "dailyledger.example",
        "--data-dir",
        data,
    ]);
    // Piped: plain text, no colour codes.
    assert!(!out.contains('\u{1b}'), "{out:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 7, "{out}");
    assert!(
        lines[0].starts_with("editorial") && lines[1].starts_with("editorial"),
        "{out}"
    );
    assert!(
        lines[2..6].iter().all(|l| l.starts_with("boilerplate")),
        "{out}"
    );
    assert!(lines[6].contains("boilerplate 7"), "{out}");
    // JSON, from stdin, and the dry run changed nothing.
    let text = std::fs::read_to_string(&article).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chaff"))
        .args([
            "check",
            "--json",
            "--url",
            "https://www.dailyledger.example/x",
            "--data-dir",
            data,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["source"], "dailyledger.example");
    assert_eq!(label_letters(&doc), "eebbbb");
    let s = &doc["segments"][5];
    assert_eq!(
        &text[s["start"].as_u64().unwrap() as usize..s["end"].as_u64().unwrap() as usize],
        "Remind me later."
    );
    let (stats, _) = ok(&["stats", "--json", "--data-dir", data]);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["documents"], 6);
    assert_eq!(stats["durable"], true);
}

#[test]
fn ingest_names_the_bad_line_and_skip_bad_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("docs.jsonl");
    let good = std::fs::read_to_string(fixture("news.jsonl")).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(2, r#"{"id": "broken", "text": "#);
    lines.insert(
        4,
        r#"{"id": "empty", "source": "x.example", "text": "   "}"#,
    );
    std::fs::write(&input, lines.join("\n")).unwrap();
    let data = dir.path().join("data");
    let args = [
        "ingest",
        input.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    let out = chaff(&args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3") && err.contains("--skip-bad"),
        "{err}"
    );
    let mut skip = args.to_vec();
    skip.push("--skip-bad");
    let (_, summary) = ok(&skip);
    assert!(summary.contains("2 bad records skipped"), "{summary}");
    assert!(
        summary.contains("skipped line 5") && summary.contains("no text"),
        "{summary}"
    );
    assert!(summary.contains("index: 6 documents"), "{summary}");
}

#[test]
fn label_streams_or_relabels_at_the_end_and_matches_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let news = fixture("news.jsonl");
    let news = news.to_str().unwrap();
    let out = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    ok(&[
        "label",
        "--input",
        news,
        "--output",
        &out("stream.jsonl"),
        "--ephemeral",
    ]);
    ok(&[
        "label",
        "--input",
        news,
        "--output",
        &out("final.jsonl"),
        "--final",
        "--ephemeral",
        "--batch-size",
        "2",
    ]);
    let stream = jsonl(&std::fs::read_to_string(out("stream.jsonl")).unwrap());
    let fin = jsonl(&std::fs::read_to_string(out("final.jsonl")).unwrap());
    let ids: Vec<_> = fin.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "ledger-harbour",
            "ledger-library",
            "ledger-bus",
            "ledger-school",
            "wire-storm",
            "portal-storm"
        ]
    );
    // As they arrived: the first article could not know its appeal (what
    // the page's shape says of the short "Remind me later." is the fitted
    // model's call).
    assert!(label_letters(&stream[0]).starts_with("eeeeee"));
    assert_eq!(label_letters(&stream[3]), "eeebbbb");
    // Against the final index it can.
    assert_eq!(label_letters(&fin[0]), "eeebbbb");
    // The attribution line closing the copy is template-like.
    assert_eq!(label_letters(&fin[5]), "esssb");
    let syn = &fin[5]["segments"][1];
    assert_eq!(syn["match"], "near");
    assert_eq!(syn["first_seen"]["id"], "wire-storm");
    assert_eq!(syn["first_seen"]["source"], "regionalwire.example");
    assert_eq!(syn["first_seen"]["published_at"], "2025-05-06T18:00:00Z");
    assert_eq!(fin[5]["summary"]["main_origin"]["id"], "wire-storm");

    // The same commands against a server give the same output.
    for (mode, local) in [(None, "stream.jsonl"), (Some("--final"), "final.jsonl")] {
        let server = ServerProcess::spawn(&["--ephemeral"]);
        let remote = out(&format!("remote-{local}"));
        let mut args = vec![
            "label",
            "--input",
            news,
            "--output",
            &remote,
            "--server",
            &server.addr,
        ];
        let url = server.url();
        args[6] = &url;
        args.extend(mode);
        ok(&args);
        assert_eq!(
            std::fs::read_to_string(&remote).unwrap(),
            std::fs::read_to_string(out(local)).unwrap(),
            "{mode:?}"
        );
    }
}

#[test]
fn clusters_lists_a_sources_boilerplate_and_stats_prints_totals() {
    let server = ServerProcess::spawn(&["--ephemeral"]);
    let url = server.url();
    let news = fixture("news.jsonl");
    ok(&["ingest", news.to_str().unwrap(), "--server", &url]);
    let (out, _) = ok(&[
        "clusters",
        "--source",
        "dailyledger.example",
        "--top",
        "4",
        "--label",
        "boilerplate",
        "--server",
        &url,
    ]);
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{out}");
    assert!(rows.iter().all(|r| r.contains("boilerplate")), "{out}");
    assert!(out.contains("Remind me later."), "{out}");
    let (json, _) = ok(&["clusters", "--top", "1", "--json", "--server", &url]);
    let top = jsonl(&json);
    assert_eq!(top.len(), 1);
    assert_eq!(top[0]["documents"], 4);
    assert_eq!(top[0]["first_seen"]["id"], "ledger-harbour");
    let (health, _) = ok(&["health", "--server", &url]);
    assert_eq!(health.trim(), "SERVING");
    let (stats, _) = ok(&["stats", "--server", &url]);
    assert!(stats.contains("documents             6"), "{stats}");
    assert!(stats.contains("durable               false"), "{stats}");
}

#[test]
fn errors_say_what_to_fix() {
    let out = chaff(&["stats", "--server", "http://127.0.0.1:1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
    let out = chaff(&[
        "label",
        "--input",
        "/nonexistent/x.jsonl",
        "--output",
        "-",
        "--ephemeral",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open"));
    let out = chaff(&[
        "check",
        "--ephemeral",
        "--published-at",
        "yesterday",
        "--source",
        "a.example",
        "/dev/null",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
}

#[test]
fn html_pages_are_segmented_into_blocks_and_labelled() {
    let pages = fixture("pages.jsonl");
    let pages = pages.to_str().unwrap();
    let (out, _) = ok(&[
        "label",
        "--input",
        pages,
        "--output",
        "-",
        "--use",
        "html",
        "--final",
        "--with-text",
        "--ephemeral",
    ]);
    let docs = jsonl(&out);
    assert_eq!(docs.len(), 3);
    for d in &docs {
        let text = d["text"].as_str().expect("extracted text");
        assert!(!text.contains("tracking"), "script text leaked: {text}");
        assert_eq!(label_letters(d), "bbbeeebb");
        for s in d["segments"].as_array().unwrap() {
            let (start, end) = (
                s["start"].as_u64().unwrap() as usize,
                s["end"].as_u64().unwrap() as usize,
            );
            assert_eq!(&text[start..end], s["text"].as_str().unwrap());
        }
    }
    assert_eq!(
        docs[0]["segments"][3]["text"],
        "Bridge repairs finish early"
    );
    // The default --use text reads the same lines' text: no "text" echoed.
    let (out, _) = ok(&["label", "--input", pages, "--output", "-", "--ephemeral"]);
    let docs = jsonl(&out);
    assert!(docs[0].get("text").is_none());
    assert_eq!(label_letters(&docs[2]), "bbbeee");
    // check --html on a page file.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.html");
    let check_page = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "check",
            "--html",
            "--json",
            "--source",
            "a.example",
            "--ephemeral",
        ];
        args.extend(extra);
        args.push(page.to_str().unwrap());
        serde_json::from_str(&ok(&args).0).unwrap()
    };
    std::fs::write(&page, "<html><body><nav>Home</nav><p>Hello <b>world</b> &amp; all.</p><script>x()</script></body></html>").unwrap();
    assert_eq!(check_page(&[])["text"], "Home\n\nHello world & all.");
    // A reader comment: marked; labelled boilerplate when asked.
    std::fs::write(
        &page,
        "<html><body><div class=\"post\"><p>The council voted on Tuesday to close the old library, \
         which had served the town for a century, and to sell the building to the highest bidder.</p></div>\
         <div id=\"comments\"><p>What a shame, I grew up in that library.</p></div></body></html>",
    )
    .unwrap();
    for (flag, label) in [("keep", "editorial"), ("boilerplate", "boilerplate")] {
        let d = check_page(&["--comments", flag]);
        let segs = d["segments"].as_array().unwrap();
        assert_eq!(segs[0]["label"], "editorial");
        assert!(segs[0].get("comment").is_none());
        assert_eq!(
            (&segs[1]["label"], &segs[1]["comment"]),
            (&label.into(), &true.into())
        );
    }
}

#[test]
fn bench_prints_throughput_and_latency_as_json() {
    let news = fixture("news.jsonl");
    let news = news.to_str().unwrap();
    let server = ServerProcess::spawn(&["--ephemeral"]);
    let url = server.url();
    for target in [vec!["--ephemeral"], vec!["--server", url.as_str()]] {
        let mut args = vec![
            "bench",
            news,
            "--json",
            "--batch-size",
            "2",
            "--in-flight",
            "2",
        ];
        args.extend(target.iter().copied());
        let (out, summary) = ok(&args);
        let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(last["documents"], 6, "{summary}");
        assert_eq!(last["paragraphs"], 37);
        assert_eq!(last["batches"], 3);
        assert_eq!(last["indexed_paragraphs"], 37);
        assert!(last["paragraphs_per_sec"].as_f64().unwrap() > 0.0);
        let l = &last["batch_latency_ms"];
        assert!(l["p50"].as_f64().unwrap() <= l["p99"].as_f64().unwrap());
        assert!(summary.contains("latency p50"), "{summary}");
    }
}

#[test]
fn bench_measures_unary_calls_alone_and_beside_the_stream() {
    let news = fixture("news.jsonl");
    let news = news.to_str().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(&["--data-dir", data.path().to_str().unwrap()]);
    let url = server.url();
    let (out, summary) = ok(&[
        "bench",
        news,
        "--json",
        "--server",
        &url,
        "--batch-size",
        "1",
        "--in-flight",
        "1",
        "--unary-rate",
        "200",
        "--unary-paragraphs",
        "12",
        "--unary-alone",
        "0.3",
    ]);
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["documents"], 6, "{summary}");
    assert_eq!(last["unary_mode"], "ingest");
    let alone = &last["unary_alone"];
    for (what, requests, errors, l) in [
        (
            "beside the stream",
            &last["unary_requests"],
            &last["unary_errors"],
            &last["unary_latency_ms"],
        ),
        (
            "alone",
            &alone["requests"],
            &alone["errors"],
            &alone["latency_ms"],
        ),
    ] {
        assert!(requests.as_u64().unwrap() > 0, "{what}: {summary}");
        assert_eq!(errors, 0, "{what}: {summary}");
        let at = |q: &str| l[q].as_f64().unwrap();
        assert!(0.0 < at("p50"), "{what}: {l}");
        assert!(
            at("p50") <= at("p90") && at("p90") <= at("p99"),
            "{what}: {l}"
        );
        assert!(
            at("p99") <= at("p999") && at("p999") <= at("max"),
            "{what}: {l}"
        );
    }
    // Every call was ingested, each article with its 12 paragraphs.
    let calls = last["unary_requests"].as_u64().unwrap() + alone["requests"].as_u64().unwrap();
    assert_eq!(last["indexed_paragraphs"], 37 + 12 * calls, "{summary}");
    assert!(summary.contains("unary with the bulk stream"), "{summary}");

    // Dry runs add nothing; without a phase alone there is no `unary_alone`.
    let (out, summary) = ok(&[
        "bench",
        news,
        "--json",
        "--server",
        &url,
        "--unary-rate",
        "100",
        "--unary-alone",
        "0",
        "--unary-dry-run",
    ]);
    let next: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(next["unary_mode"], "dry-run");
    assert!(next["unary_requests"].as_u64().unwrap() > 0, "{summary}");
    assert!(next.get("unary_alone").is_none());
    // The corpus went in again under the same ids: replaced, not added.
    assert_eq!(next["indexed_paragraphs"], last["indexed_paragraphs"]);

    let out = chaff(&["bench", news, "--ephemeral", "--unary-rate", "10"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--server"));
}

/// `chaff eval` scores a labelled file on both tracks, by site with
/// `--by-site`: the courier's three pages, their menu gold boilerplate and
/// their story gold editorial (the gold main text).
#[test]
fn eval_scores_both_tracks_per_site() {
    let dir = tempfile::tempdir().unwrap();
    let gold = dir.path().join("gold.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(fixture("pages.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut d: serde_json::Value = serde_json::from_str(l).unwrap();
            let text = d["text"].as_str().unwrap().to_string();
            let paragraphs: Vec<&str> = text.split("\n\n").collect();
            let labels: Vec<&str> = (0..paragraphs.len())
                .map(|i| if i < 3 { "boilerplate" } else { "editorial" })
                .collect();
            d["labels"] = serde_json::json!(labels);
            d["site"] = serde_json::json!("valleycourier.example");
            d["gold_main_text"] = serde_json::json!(paragraphs[3..].join("\n"));
            d.to_string()
        })
        .collect();
    std::fs::write(&gold, lines.join("\n")).unwrap();
    let gold = gold.to_str().unwrap();
    let site_args = ["--final", "--by-site", "--min-site-pages", "3"];

    let (out, _) = ok(&[&["eval", "--gold", gold, "--json"][..], &site_args].concat());
    let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(r["documents"], 3);
    assert_eq!(r["site_pages"]["valleycourier.example"], 3);
    assert_eq!(r["all"]["bp_f1"], 1.0, "{r}");
    assert_eq!(r["by_site"]["valleycourier.example"]["bp_f1"], 1.0);
    let (table, _) = ok(&[&["eval", "--gold", gold][..], &site_args].concat());
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with("valleycourier.example"))
        .unwrap_or_else(|| panic!("no site row:\n{table}"));
    assert_eq!(row.split_whitespace().nth(1), Some("3"), "{row}");

    let (out, _) = ok(&[
        &["eval", "--gold", gold, "--use", "html", "--json"][..],
        &site_args,
    ]
    .concat());
    let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let site = &r["by_site"]["valleycourier.example"];
    assert_eq!(site["documents"], 3, "{r}");
    assert_eq!(site["mean_f1"], 1.0, "{r}");
    assert_eq!(r["all"]["mean_f1"], 1.0);
}

/// A WARC record, gzipped on its own as crawlers write them.
fn warc_record(kind: &str, uri: &str, date: &str, block: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut r = format!(
        "WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:{:08x}-0000-4000-8000-000000000000>\r\n\
         WARC-Date: {date}\r\nWARC-Target-URI: {uri}\r\nContent-Type: application/http; msgtype={kind}\r\n\
         Content-Length: {}\r\n\r\n",
        uri.len(),
        block.len()
    )
    .into_bytes();
    r.extend_from_slice(block);
    r.extend_from_slice(b"\r\n\r\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&r).unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_warc_crawl_is_labelled_like_the_same_pages_sent_as_html() {
    // The three fixture pages as a crawler stores them, with the requests,
    // a stylesheet and a redirect that are not pages.
    let mut warc = Vec::new();
    for line in std::fs::read_to_string(fixture("pages.jsonl"))
        .unwrap()
        .lines()
    {
        let page: serde_json::Value = serde_json::from_str(line).unwrap();
        let (url, date) = (
            page["url"].as_str().unwrap(),
            page["published_at"].as_str().unwrap(),
        );
        warc.extend(warc_record(
            "request",
            url,
            date,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ));
        let html = page["html"].as_str().unwrap();
        let block = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Length: {}\r\n\r\n{html}",
            html.len()
        );
        warc.extend(warc_record("response", url, date, block.as_bytes()));
    }
    warc.extend(warc_record(
        "response",
        "https://www.valleycourier.example/site.css",
        "2025-06-03T09:00:01Z",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/css\r\n\r\nbody{}",
    ));
    warc.extend(warc_record(
        "response",
        "https://www.valleycourier.example/old",
        "2025-06-03T09:00:02Z",
        b"HTTP/1.1 301 Moved Permanently\r\nLocation: /2\r\n\r\n",
    ));
    // A page chaff cannot decode: reported with its record number and url.
    warc.extend(warc_record(
        "response",
        "https://www.valleycourier.example/brotli",
        "2025-06-03T09:00:03Z",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: br\r\n\r\n\x1b\x03",
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crawl.warc.gz");
    std::fs::write(&path, warc).unwrap();
    let (out, err) = ok(&[
        "label",
        "--input",
        path.to_str().unwrap(),
        "--output",
        "-",
        "--final",
        "--with-text",
        "--ephemeral",
        "--skip-bad",
    ]);
    assert!(
        err.contains("skipped record 9: unsupported content encoding \"br\""),
        "{err}"
    );
    let mut docs = jsonl(&out);
    let refused = docs.pop().unwrap();
    assert_eq!(refused["id"], "https://www.valleycourier.example/brotli");
    assert!(refused["error"].as_str().unwrap().contains("br"));
    assert_eq!(docs.len(), 3, "{out}");
    for (i, d) in docs.iter().enumerate() {
        let url = format!("https://www.valleycourier.example/{i}");
        assert_eq!(d["id"], url.as_str());
        assert_eq!(d["url"], url.as_str());
        assert_eq!(d["source"], "valleycourier.example");
        // The same labels as the html lines of the JSONL fixture get.
        assert_eq!(label_letters(d), "bbbeeebb");
    }
    assert_eq!(
        docs[0]["segments"][3]["text"],
        "Bridge repairs finish early"
    );
    // A truncated crawl: the records before the cut are labelled, then the
    // command says where the file broke.
    let mut cut = std::fs::read(&path).unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&cut[..]), &mut raw).unwrap();
    raw.truncate(raw.len() - 40);
    cut = raw;
    let broken = dir.path().join("cut.warc");
    std::fs::write(&broken, cut).unwrap();
    let out = chaff(&[
        "label",
        "--input",
        broken.to_str().unwrap(),
        "--output",
        "-",
        "--ephemeral",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("WARC record"), "{stderr}");
}
