//! JSONL documents in: one object a line, unknown fields ignored, so
//! labelled benchmark files can be fed as they are. `.gz` files are
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
}

/// One input line: a document, or what is wrong with the line.
pub struct Line {
    /// The id when it could be read, for error lines.
    pub id: Option<String>,
    pub doc: Result<Document, String>,
}

pub fn parse_line(line: &str) -> Line {
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
    let body = match (record.text, record.paragraphs) {
        (Some(t), _) => Body::Text(t),
        (None, Some(p)) => Body::Paragraphs(p),
        (None, None) => {
            return Line {
                id: Some(id),
                doc: Err("neither `text` nor `paragraphs` is set".into()),
            }
        }
    };
    Line {
        id: Some(id.clone()),
        doc: Ok(Document {
            id,
            source: record.source.unwrap_or_default(),
            url: record.url.unwrap_or_default(),
            published_at,
            body,
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

    #[test]
    fn reads_benchmark_records_and_ignores_unknown_fields() {
        let l = parse_line(r#"{"id":"a","url":null,"text":"x","labels":["editorial"],"extra":{}}"#);
        let d = l.doc.unwrap();
        assert_eq!(d.id, "a");
        assert!(matches!(d.body, Body::Text(ref t) if t == "x"));
    }

    #[test]
    fn names_what_is_wrong() {
        assert!(parse_line("{").doc.unwrap_err().contains("JSON"));
        assert!(parse_line(r#"{"text":"x"}"#)
            .doc
            .unwrap_err()
            .contains("id"));
        assert!(parse_line(r#"{"id":"a","text":"x","published_at":"soon"}"#)
            .doc
            .unwrap_err()
            .contains("published_at"));
        assert!(parse_line(r#"{"id":"a"}"#)
            .doc
            .unwrap_err()
            .contains("text"));
    }
}
