//! WARC input: the crawl files of Heritrix, wget, browsertrix and Common
//! Crawl. One document per
//! - `response` record whose HTTP response is a 2xx HTML page (html);
//! - `resource` record of an HTML page (html, as browsertrix stores pages);
//! - `conversion` record of plain text (text: Common Crawl's WET files, the
//!   text it extracted from each page, one line a block).
//!
//! Requests, metadata, revisits, redirects and other payloads are passed
//! over.
//!
//! - `id` and `url` are the record's `WARC-Target-URI`, so that a later crawl
//!   of a page replaces the earlier one, as a re-sent JSONL line does;
//! - `published_at` is `WARC-Date` (when it was crawled);
//! - `source` is left empty: the engine takes the registrable domain of the
//!   url;
//! - the body is decoded as the server sent it (chunked transfer and gzip or
//!   deflate content encoding undone) in the charset its `Content-Type` or
//!   its `<meta charset>` names, UTF-8 otherwise.

use std::borrow::Cow;
use std::io::{BufRead, Read};

use warc::{RecordType, WarcHeader, WarcReader};

use super::input::{Line, Parsed};
use crate::document::{Body, Document};
use crate::time::parse_rfc3339;

/// Whether a stream is WARC: it starts with a record's version line.
pub fn sniff(reader: &mut dyn BufRead) -> std::io::Result<bool> {
    Ok(reader.fill_buf()?.starts_with(b"WARC/"))
}

/// The documents of a WARC stream, numbered by record (1-based). A record
/// the reader cannot parse ends the stream with an error: WARC has no
/// record separator to resynchronise on.
pub fn documents(reader: Box<dyn BufRead>) -> impl Iterator<Item = std::io::Result<Parsed>> {
    let mut records = WarcReader::new(reader).iter_records().enumerate();
    let mut failed = false;
    std::iter::from_fn(move || loop {
        if failed {
            return None;
        }
        let (i, record) = records.next()?;
        let number = i + 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                failed = true;
                return Some(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("WARC record {number}: {e}"),
                )));
            }
        };
        let Some(url) = record.header(WarcHeader::TargetURI) else {
            continue;
        };
        let url = url.trim_matches(|c| c == '<' || c == '>').to_string();
        let bytes = record.content_length();
        let content_type = record
            .header(WarcHeader::ContentType)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let body = match record.warc_type() {
            RecordType::Response => page(record.body()).map(|p| p.map(Body::Html)),
            RecordType::Resource if content_type.contains("html") => {
                Ok(Some(Body::Html(decode(record.body(), &content_type))))
            }
            RecordType::Conversion if content_type.starts_with("text/plain") => {
                Ok(Some(Body::Text(decode(record.body(), &content_type))))
            }
            _ => Ok(None),
        };
        let line = match body {
            Ok(None) => continue,
            Ok(Some(body)) => Line {
                id: Some(url.clone()),
                doc: record
                    .header(WarcHeader::Date)
                    .map(|d| parse_rfc3339(&d))
                    .transpose()
                    .map(|published_at| Document {
                        id: url.clone(),
                        source: String::new(),
                        url,
                        published_at,
                        body,
                        markup: None,
                    })
                    .map_err(|e| format!("bad WARC-Date: {e}")),
            },
            Err(e) => Line {
                id: Some(url),
                doc: Err(e),
            },
        };
        return Some(Ok(Parsed {
            number,
            unit: "record",
            bytes,
            line,
        }));
    })
}

/// The HTML of an HTTP response block; `None` when it is not a 2xx HTML
/// page.
fn page(block: &[u8]) -> Result<Option<String>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(block) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("truncated HTTP response head".into()),
        Err(e) => return Err(format!("bad HTTP response head: {e}")),
    };
    if !(200..300).contains(&response.code.unwrap_or(0)) {
        return Ok(None);
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
    };
    let content_type = header("content-type").unwrap_or_default();
    if !content_type.is_empty()
        && !content_type.contains("html")
        && !content_type.starts_with("text/plain")
    {
        return Ok(None);
    }
    let mut body = Cow::Borrowed(&block[head..]);
    if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        body = Cow::Owned(dechunk(&body).ok_or("bad chunked transfer encoding")?);
    }
    match header("content-encoding").as_deref().map(str::trim) {
        Some("gzip" | "x-gzip") => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .map_err(|e| format!("bad gzip content encoding: {e}"))?;
            body = Cow::Owned(out);
        }
        Some("deflate") => {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&body[..])
                .read_to_end(&mut out)
                .map_err(|e| format!("bad deflate content encoding: {e}"))?;
            body = Cow::Owned(out);
        }
        Some("" | "identity") | None => {}
        Some(other) => return Err(format!("unsupported content encoding {other:?}")),
    }
    Ok(Some(decode(&body, &content_type)))
}

/// Undoes HTTP/1.1 chunked transfer coding; `None` when it is malformed.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = size.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data
            .get(size..)?
            .strip_prefix(b"\r\n")
            .unwrap_or(&data[size..]);
    }
}

/// Bytes to text in the charset the response names (header first, then a
/// `<meta>` in the first 1,024 bytes), UTF-8 otherwise; a byte-order mark
/// wins over both, as in a browser.
fn decode(body: &[u8], content_type: &str) -> String {
    let label = charset(content_type).or_else(|| {
        let head = String::from_utf8_lossy(&body[..body.len().min(1024)]).to_ascii_lowercase();
        charset(&head)
    });
    let encoding = label
        .and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    encoding.decode(body).0.into_owned()
}

/// The value after `charset=` in a header or a meta tag.
fn charset(s: &str) -> Option<String> {
    let at = s.find("charset=")? + "charset=".len();
    let value: String = s[at..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        .collect();
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, uri: &str, block: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000001>\r\n\
             WARC-Date: 2024-05-01T12:00:00Z\r\nWARC-Target-URI: {uri}\r\n\
             Content-Type: application/http; msgtype={kind}\r\nContent-Length: {}\r\n\r\n",
            block.len()
        )
        .into_bytes();
        r.extend_from_slice(block);
        r.extend_from_slice(b"\r\n\r\n");
        r
    }

    fn docs(warc: Vec<u8>) -> Vec<(usize, Result<Document, String>)> {
        documents(Box::new(std::io::Cursor::new(warc)))
            .map(|p| p.map(|p| (p.number, p.line.doc)).unwrap())
            .collect()
    }

    fn html_of(d: &Result<Document, String>) -> &str {
        match &d.as_ref().unwrap().body {
            Body::Html(h) => h,
            other => panic!("not html: {other:?}"),
        }
    }

    #[test]
    fn html_responses_become_documents_and_the_rest_is_passed_over() {
        let mut warc = record(
            "request",
            "https://news.example/a",
            b"GET /a HTTP/1.1\r\n\r\n",
        );
        warc.extend(record(
            "response",
            "https://news.example/a",
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Story \xc3\xa9t\xc3\xa9</p>",
        ));
        warc.extend(record(
            "response",
            "https://news.example/logo.png",
            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n\x89PNG",
        ));
        warc.extend(record(
            "response",
            "https://news.example/old",
            b"HTTP/1.1 301 Moved\r\nLocation: /a\r\n\r\n",
        ));
        let got = docs(warc);
        assert_eq!(got.len(), 1);
        let (number, doc) = &got[0];
        assert_eq!(*number, 2);
        let d = doc.as_ref().unwrap();
        assert_eq!(d.id, "https://news.example/a");
        assert_eq!(d.url, "https://news.example/a");
        assert_eq!(
            d.published_at,
            Some(parse_rfc3339("2024-05-01T12:00:00Z").unwrap())
        );
        assert_eq!(html_of(doc), "<p>Story été</p>");
    }

    #[test]
    fn browsertrix_resources_and_common_crawl_wet_text_are_documents() {
        let resource = String::from_utf8(record(
            "resource",
            "https://b.example/p",
            b"<p>Kept page</p>",
        ))
        .unwrap()
        .replace(
            "application/http; msgtype=resource",
            "text/html; charset=utf-8",
        );
        let wet = String::from_utf8(record(
            "conversion",
            "https://c.example/q",
            b"Title\nFirst block.\nSecond block.",
        ))
        .unwrap()
        .replace("application/http; msgtype=conversion", "text/plain");
        let image = String::from_utf8(record("resource", "https://b.example/i.png", b"xx"))
            .unwrap()
            .replace("application/http; msgtype=resource", "image/png");
        let got = docs([resource, image, wet].concat().into_bytes());
        assert_eq!(got.len(), 2);
        assert_eq!(html_of(&got[0].1), "<p>Kept page</p>");
        match &got[1].1.as_ref().unwrap().body {
            Body::Text(t) => assert_eq!(t, "Title\nFirst block.\nSecond block."),
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn chunked_gzip_and_legacy_charsets_are_undone() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"<meta charset=\"windows-1252\"><p>caf\xe9 \x93quoted\x94</p>")
            .unwrap();
        let gz = gz.finish().unwrap();
        let (a, b) = gz.split_at(gz.len() / 2);
        let mut block = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n".to_vec();
        for part in [a, b] {
            block.extend(format!("{:x}\r\n", part.len()).into_bytes());
            block.extend_from_slice(part);
            block.extend_from_slice(b"\r\n");
        }
        block.extend_from_slice(b"0\r\n\r\n");
        let got = docs(record("response", "https://shop.example/", &block));
        assert_eq!(
            html_of(&got[0].1),
            "<meta charset=\"windows-1252\"><p>café “quoted”</p>"
        );
    }

    #[test]
    fn a_broken_record_is_an_error_and_a_bad_page_says_what_is_wrong() {
        let mut warc = record(
            "response",
            "https://a.example/",
            b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\nxx",
        );
        warc.extend_from_slice(b"WARC/1.0\r\nContent-Length: 99\r\n\r\nshort");
        let mut it = documents(Box::new(std::io::Cursor::new(warc)));
        let first = it.next().unwrap().unwrap();
        assert!(first
            .line
            .doc
            .unwrap_err()
            .contains("unsupported content encoding"));
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    proptest::proptest! {
        /// Whatever a crawl file holds, reading it ends (documents, bad
        /// records, or an error) and never panics.
        #[test]
        fn any_bytes_are_read_without_a_panic(
            head in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            block in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            length_slack in -5i64..5,
            chunked in proptest::prelude::any::<bool>(),
        ) {
            let mut http = if chunked {
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n".to_vec()
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=".to_vec()
            };
            http.extend_from_slice(&head);
            http.extend_from_slice(&block);
            let mut warc = record("response", "https://a.example/", &http);
            // A wrong Content-Length, as a truncated or hand-edited file has.
            let declared = format!("Content-Length: {}", http.len());
            let wrong = format!("Content-Length: {}", (http.len() as i64 + length_slack).max(0));
            let text = String::from_utf8_lossy(&warc).replacen(&declared, &wrong, 1).into_bytes();
            if length_slack != 0 { warc = text; }
            warc.extend_from_slice(&head);
            for parsed in documents(Box::new(std::io::Cursor::new(warc))).take(10) {
                let _ = parsed.map(|p| p.line.doc.map(|d| d.id));
            }
        }
    }

    #[test]
    fn charset_is_read_from_header_or_meta() {
        assert_eq!(
            charset(
                "text/html; charset=ISO-8859-1"
                    .to_ascii_lowercase()
                    .as_str()
            )
            .as_deref(),
            Some("iso-8859-1")
        );
        assert_eq!(
            charset("<meta http-equiv=content-type content=\"text/html; charset=shift_jis\">")
                .as_deref(),
            Some("shift_jis")
        );
        assert_eq!(charset("text/html"), None);
        assert_eq!(decode(b"\x82\xa0", "text/html; charset=shift_jis"), "あ");
    }
}
