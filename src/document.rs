//! Incoming documents: validation, source resolution and the text that
//! segment offsets refer to.

use crate::config::Limits;
use crate::error::{Error, Result};
use crate::time::Micros;

/// A document as a caller sends it.
#[derive(Debug, Clone, Default)]
pub struct Document {
    pub id: String,
    /// Empty: derived from `url`.
    pub source: String,
    pub url: String,
    pub published_at: Option<Micros>,
    pub body: Body,
    /// The page's HTML when `body` is text extracted from it: read for
    /// structural evidence only; segments and offsets still come from `body`.
    pub markup: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Body {
    Text(String),
    /// Pre-split paragraphs, joined with [`PARAGRAPH_JOINER`] for offsets.
    Paragraphs(Vec<String>),
    /// A web page; its visible text, in blocks, becomes the document text.
    Html(String),
}

impl Default for Body {
    fn default() -> Self {
        Body::Text(String::new())
    }
}

/// Paragraph input is joined with a blank line, so that the joined text
/// splits back into the same paragraphs.
pub const PARAGRAPH_JOINER: &str = "\n\n";

/// Longest accepted document id, in bytes.
pub const MAX_ID_BYTES: usize = 1024;

/// A validated document whose text is final.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: String,
    pub source: String,
    pub url: String,
    pub published_at: Micros,
    /// False when `published_at` is the ingest time.
    pub published_given: bool,
    pub text: String,
    /// Paragraph spans for `Body::Paragraphs` and block spans for
    /// `Body::Html`; `None` for plain text.
    pub paragraph_spans: Option<Vec<(u32, u32)>>,
    /// The text was extracted from HTML (callers need it for the offsets).
    pub from_html: bool,
    /// The page's blocks with their markup context, from `Body::Html` or
    /// `Document::markup`.
    pub html: Option<crate::html::Extracted>,
}

impl Document {
    /// Checks the document against `limits` and resolves its source and time.
    pub fn prepare(self, limits: &Limits, now: Micros) -> Result<Prepared> {
        let id = self.id.trim().to_string();
        if id.is_empty() {
            return Err(Error::invalid(
                "document id is empty: set `id` to a stable identifier",
            ));
        }
        if id.len() > MAX_ID_BYTES {
            return Err(Error::invalid(format!(
                "document id is {} bytes; at most {MAX_ID_BYTES} are allowed",
                id.len()
            )));
        }
        let url = self.url.trim().to_string();
        let source = resolve_source(&self.source, &url)
            .map_err(|e| Error::invalid(format!("document {id:?}: {e}")))?;
        let input_bytes = match &self.body {
            Body::Text(t) | Body::Html(t) => t.len(),
            Body::Paragraphs(p) => p.iter().map(|p| p.len() + PARAGRAPH_JOINER.len()).sum(),
        } + self.markup.as_ref().map_or(0, |m| m.len());
        if input_bytes > limits.max_document_bytes {
            return Err(Error::limit(format!(
                "document {id:?} is {input_bytes} bytes; the limit is {} (split it or raise --max-document-bytes)",
                limits.max_document_bytes
            )));
        }
        let from_html = matches!(self.body, Body::Html(_));
        let markup = self
            .markup
            .filter(|m| !m.trim().is_empty())
            .map(|m| crate::html::extract_all(&m));
        let (text, paragraph_spans, html) = match self.body {
            Body::Text(text) => (text, None, markup),
            Body::Paragraphs(items) => {
                let (text, spans) = join_paragraphs(&items);
                (text, Some(spans), markup)
            }
            Body::Html(html) => {
                let e = crate::html::extract(&html);
                (e.text.clone(), Some(e.blocks.clone()), Some(e))
            }
        };
        if text.trim().is_empty() {
            let what = if from_html {
                "no visible text in its html"
            } else {
                "no text"
            };
            return Err(Error::invalid(format!(
                "document {id:?} has {what}: send `text`, non-empty `paragraphs` or `html` with visible text"
            )));
        }
        let (published_at, published_given) = match self.published_at {
            Some(t) => (t, true),
            None => (now, false),
        };
        Ok(Prepared {
            id,
            source,
            url,
            published_at,
            published_given,
            text,
            paragraph_spans,
            from_html,
            html,
        })
    }
}

fn join_paragraphs(items: &[String]) -> (String, Vec<(u32, u32)>) {
    let total = items.iter().map(|p| p.len() + PARAGRAPH_JOINER.len()).sum();
    let mut text = String::with_capacity(total);
    let mut spans = Vec::with_capacity(items.len());
    for (i, p) in items.iter().enumerate() {
        if i > 0 {
            text.push_str(PARAGRAPH_JOINER);
        }
        let start = text.len() as u32;
        text.push_str(p);
        spans.push((start, text.len() as u32));
    }
    (text, spans)
}

/// The caller's source, or the registrable domain of the url (Public Suffix
/// List), lower-cased.
pub fn resolve_source(source: &str, url: &str) -> std::result::Result<String, String> {
    let source = source.trim();
    if !source.is_empty() {
        return Ok(source.to_lowercase());
    }
    if url.is_empty() {
        return Err(
            "neither `source` nor `url` is set: set one so that chaff knows who published it"
                .into(),
        );
    }
    let parsed = url::Url::parse(url)
        .map_err(|e| format!("url {url:?} is not valid ({e}); set `source` or fix the url"))?;
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) => d.to_lowercase(),
        Some(other) => return Ok(other.to_string()),
        None => return Err(format!("url {url:?} has no host; set `source`")),
    };
    let host = host.trim_end_matches('.');
    Ok(psl::domain_str(host).unwrap_or(host).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_from_url_uses_registrable_domain() {
        assert_eq!(
            resolve_source("", "https://www.bbc.co.uk/news/1").unwrap(),
            "bbc.co.uk"
        );
        assert_eq!(
            resolve_source("", "http://a.b.example.com/x").unwrap(),
            "example.com"
        );
        assert_eq!(
            resolve_source(" Example.ORG ", "https://x.com").unwrap(),
            "example.org"
        );
        assert_eq!(
            resolve_source("", "http://127.0.0.1:8080/").unwrap(),
            "127.0.0.1"
        );
        assert!(resolve_source("", "").is_err());
        assert!(resolve_source("", "not a url").is_err());
    }

    #[test]
    fn paragraphs_join_with_offsets() {
        let (text, spans) = join_paragraphs(&["ab".into(), "".into(), "cé".into()]);
        assert_eq!(text, "ab\n\n\n\ncé");
        assert_eq!(spans, vec![(0, 2), (4, 4), (6, 9)]);
    }
}
