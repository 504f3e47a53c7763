//! Document text -> segments (paragraphs) with UTF-8 byte offsets.
//!
//! Text with blank lines is split at blank lines (a paragraph may then span
//! several lines). Text without any blank line is taken to hold one paragraph
//! per line, as scrapers often write it. Segments are trimmed of surrounding
//! whitespace and empty ones are dropped, so offsets point at the text itself.

/// A segment of the document text: `start..end` in bytes, and its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
    /// Ordinal of the segment; for paragraph input, the paragraph index.
    pub index: u32,
}

impl Span {
    pub fn text<'a>(&self, doc: &'a str) -> &'a str {
        &doc[self.start as usize..self.end as usize]
    }
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// Splits plain text into paragraphs.
pub fn split_text(text: &str) -> Vec<Span> {
    if !text.contains('\n') {
        // One line, one paragraph (a firehose of short texts is mostly
        // this): no line table.
        return trim(text, 0, text.len())
            .map(|(s, e)| Span {
                start: s as u32,
                end: e as u32,
                index: 0,
            })
            .into_iter()
            .collect();
    }
    let lines = lines(text);
    let has_blank_line = lines
        .iter()
        .any(|&(s, e)| text[s..e].trim().is_empty() && e < text.len());
    let mut spans = Vec::new();
    let mut push = |s: usize, e: usize| {
        if let Some((s, e)) = trim(text, s, e) {
            let index = spans.len() as u32;
            spans.push(Span {
                start: s as u32,
                end: e as u32,
                index,
            });
        }
    };
    if has_blank_line {
        let mut block: Option<(usize, usize)> = None;
        for &(s, e) in &lines {
            if text[s..e].trim().is_empty() {
                if let Some((bs, be)) = block.take() {
                    push(bs, be);
                }
            } else {
                block = Some(match block {
                    Some((bs, _)) => (bs, e),
                    None => (s, e),
                });
            }
        }
        if let Some((bs, be)) = block {
            push(bs, be);
        }
    } else {
        for &(s, e) in &lines {
            push(s, e);
        }
    }
    spans
}

/// Paragraph input: one segment per non-blank paragraph, offsets trimmed,
/// `index` = paragraph index.
pub fn split_paragraphs(text: &str, paragraphs: &[(u32, u32)]) -> Vec<Span> {
    paragraphs
        .iter()
        .enumerate()
        .filter_map(|(i, &(s, e))| {
            trim(text, s as usize, e as usize).map(|(s, e)| Span {
                start: s as u32,
                end: e as u32,
                index: i as u32,
            })
        })
        .collect()
}

/// Byte ranges of lines, without their terminators.
fn lines(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            out.push((start, i));
            start = i + 1;
        }
    }
    out.push((start, text.len()));
    out
}

fn trim(text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    let slice = &text[s..e];
    let lead = slice.len() - slice.trim_start().len();
    let trimmed = slice.trim();
    if trimmed.is_empty() {
        None
    } else {
        Some((s + lead, s + lead + trimmed.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn texts(text: &str) -> Vec<&str> {
        split_text(text).iter().map(|s| s.text(text)).collect()
    }

    #[test]
    fn blank_lines_separate_paragraphs() {
        assert_eq!(texts("a b\nc\n\n  d  \r\n\r\ne"), vec!["a b\nc", "d", "e"]);
    }

    #[test]
    fn one_paragraph_per_line_without_blank_lines() {
        assert_eq!(
            texts("first line\nsecond\r\nthird\n"),
            vec!["first line", "second", "third"]
        );
    }

    #[test]
    fn empty_and_whitespace_give_no_segments() {
        assert!(split_text("").is_empty());
        assert!(split_text(" \n\n \t\n").is_empty());
    }

    #[test]
    fn paragraph_spans_keep_their_index() {
        let text = "a\n\n \n\nb";
        let spans = split_paragraphs(text, &[(0, 1), (3, 4), (6, 7)]);
        assert_eq!(spans.len(), 2);
        assert_eq!((spans[1].index, spans[1].text(text)), (2, "b"));
    }

    proptest! {
        #[test]
        fn spans_are_ordered_trimmed_and_on_char_boundaries(text in "(\\PC|\n| |\r){0,200}") {
            let spans = split_text(&text);
            let mut last = 0;
            for (i, s) in spans.iter().enumerate() {
                prop_assert!(s.start as usize >= last);
                prop_assert!(s.start < s.end);
                prop_assert!(text.is_char_boundary(s.start as usize));
                prop_assert!(text.is_char_boundary(s.end as usize));
                let t = s.text(&text);
                prop_assert_eq!(t, t.trim());
                prop_assert_eq!(s.index as usize, i);
                last = s.end as usize;
            }
            // Every non-whitespace character is in some segment.
            let covered: usize = spans.iter().map(|s| s.text(&text).chars().filter(|c| !c.is_whitespace()).count()).sum();
            prop_assert_eq!(covered, text.chars().filter(|c| !c.is_whitespace()).count());
        }
    }
}
