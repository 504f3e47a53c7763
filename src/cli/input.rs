//! Documents in: JSONL, one object a line, unknown fields ignored, so
//! labelled benchmark files can be fed as they are; or a WARC crawl
//! ([`super::warc`]), told apart by its first bytes. `.gz` files are
//! decompressed; `-` is stdin.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;

use crate::document::{Body, Document};
use crate::time::parse_rfc3339;

#[derive(Debug, Deserialize)]
struct Record {
    id: Option<serde_json::Value>,
    source: Option<String>,
    url: Option<String>,
    published_at: Option<String>,
    text: Option<String>,
    paragraphs: Option<Vec<String>>,
    html: Option<String>,
}

/// Which body to send when a line has both `text` and `html`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Use {
    #[default]
    Text,
    Html,
}

/// One input line: a document, or what is wrong with the line.
pub struct Line {
    /// The id when it could be read, for error lines.
    pub id: Option<String>,
    pub doc: Result<Document, String>,
}

/// Parses one input line. With `markup`, a line that sends its `text` also
/// sends its `html` as the document's markup.
pub fn parse_line(line: &str, prefer: Use, markup: bool) -> Line {
    let record: Record = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(e) => {
            return Line {
                id: None,
                doc: Err(format!("not a JSON object: {e}")),
            }
        }
    };
    let id = match record.id {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => {
            return Line {
                id: None,
                doc: Err("missing `id` (a string)".into()),
            }
        }
    };
    let published_at = match record
        .published_at
        .as_deref()
        .map(parse_rfc3339)
        .transpose()
    {
        Ok(t) => t,
        Err(e) => {
            return Line {
                id: Some(id),
                doc: Err(format!("bad `published_at`: {e}")),
            }
        }
    };
    let text = match (record.text, record.paragraphs) {
        (Some(t), _) => Some(Body::Text(t)),
        (None, Some(p)) => Some(Body::Paragraphs(p)),
        (None, None) => None,
    };
    // Text chosen over html: the html still tells the page's structure.
    let (body, markup) = match (prefer, text, record.html) {
        (Use::Text, Some(t), html) => (Some(t), html.filter(|_| markup)),
        (Use::Html, _, Some(h)) | (Use::Text, None, Some(h)) => (Some(Body::Html(h)), None),
        (Use::Html, Some(t), None) => (Some(t), None),
        (_, None, None) => (None, None),
    };
    let Some(body) = body else {
        return Line {
            id: Some(id),
            doc: Err("none of `text`, `paragraphs` or `html` is set".into()),
        };
    };
    Line {
        id: Some(id.clone()),
        doc: Ok(Document {
            id,
            source: record.source.unwrap_or_default(),
            url: record.url.unwrap_or_default(),
            published_at,
            body,
            markup,
        }),
    }
}

/// An opened input: lines to read, its size on disk when known, and how
/// many of those bytes have been read so far (for progress).
pub struct Input {
    pub reader: Box<dyn BufRead>,
    pub size: Option<u64>,
    pub read: Arc<AtomicU64>,
}

/// Opens a path (`-` for stdin, `.gz` decompressed).
pub fn open(path: &Path) -> anyhow::Result<Input> {
    let read = Arc::new(AtomicU64::new(0));
    if path.as_os_str() == "-" {
        let reader = Counting {
            inner: io::stdin(),
            read: read.clone(),
        };
        return Ok(Input {
            reader: Box::new(BufReader::new(reader)),
            size: None,
            read,
        });
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().ok().map(|m| m.len());
    let file = Counting {
        inner: file,
        read: read.clone(),
    };
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Input {
        reader: Box::new(BufReader::with_capacity(1 << 20, reader)),
        size,
        read,
    })
}

struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// One input document (or what is wrong with it), where it was in the
/// input, and the bytes it took there.
pub struct Parsed {
    /// The line number (JSONL) or record number (WARC), 1-based.
    pub number: usize,
    /// What `number` counts: "line" or "record".
    pub unit: &'static str,
    pub bytes: u64,
    pub line: Line,
}

/// The documents of an opened input, JSONL or WARC.
pub fn documents(
    mut reader: Box<dyn BufRead>,
    prefer: Use,
    markup: bool,
) -> io::Result<Box<dyn Iterator<Item = io::Result<Parsed>>>> {
    if super::warc::sniff(&mut reader)? {
        return Ok(Box::new(super::warc::documents(reader)));
    }
    Ok(Box::new(lines(reader).map(move |l| {
        l.map(|(number, line)| Parsed {
            number,
            unit: "line",
            bytes: line.len() as u64,
            line: parse_line(&line, prefer, markup),
        })
    })))
}

/// Non-empty lines with their 1-based numbers.
pub fn lines(reader: Box<dyn BufRead>) -> impl Iterator<Item = io::Result<(usize, String)>> {
    reader
        .lines()
        .enumerate()
        .map(|(i, l)| l.map(|l| (i + 1, l)))
        .filter(|r| r.as_ref().map_or(true, |(_, l)| !l.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line_text(line: &str) -> Line {
        parse_line(line, Use::Text, true)
    }

    #[test]
    fn prefers_the_body_asked_for_and_falls_back_to_the_other() {
        let both = r#"{"id":"a","text":"t","html":"<p>h</p>"}"#;
        assert!(matches!(
            parse_line(both, Use::Text, true).doc.unwrap().body,
            Body::Text(_)
        ));
        assert!(matches!(
            parse_line(both, Use::Html, true).doc.unwrap().body,
            Body::Html(_)
        ));
        let html_only = r#"{"id":"a","html":"<p>h</p>","text":null}"#;
        assert!(matches!(
            parse_line(html_only, Use::Text, true).doc.unwrap().body,
            Body::Html(_)
        ));
    }

    #[test]
    fn reads_benchmark_records_and_ignores_unknown_fields() {
        let l = parse_line_text(
            r#"{"id":"a","url":null,"text":"x","labels":["editorial"],"extra":{}}"#,
        );
        let d = l.doc.unwrap();
        assert_eq!(d.id, "a");
        assert!(matches!(d.body, Body::Text(ref t) if t == "x"));
    }

    #[test]
    fn names_what_is_wrong() {
        assert!(parse_line_text("{").doc.unwrap_err().contains("JSON"));
        assert!(parse_line_text(r#"{"text":"x"}"#)
            .doc
            .unwrap_err()
            .contains("id"));
        assert!(
            parse_line_text(r#"{"id":"a","text":"x","published_at":"soon"}"#)
                .doc
                .unwrap_err()
                .contains("published_at")
        );
        assert!(parse_line_text(r#"{"id":"a"}"#)
            .doc
            .unwrap_err()
            .contains("html"));
    }
}
