//! Evidence from what a source's lines have in common beyond their text.
//!
//! Clusters group segments whose *text* recurs. Three kinds of template
//! text escape them, because each occurrence is new text:
//!
//! - **patterned lines**: "READ MORE: <headline>", "OPINION: <title>",
//!   "Now playing: <video>". The words before the colon (the line's *head*)
//!   recur across a source's documents while the rest changes. Per source,
//!   [`Patterns`] counts the documents that carry a line with each head.
//! - **teasers** of the source's own stories: a line whose cluster is the
//!   headline (a short line at the top of the page) of an earlier document
//!   of the same source. The reverse is evidence too: the earliest document
//!   of a source that carries a cluster as its headline is that story's
//!   own page, whatever its teasers elsewhere.
//! - **numbers that are the news**: a market report or a results table
//!   repeats its sentences with new figures every day. Number masking puts
//!   them in one cluster; [`Patterns`] records, per cluster, how many
//!   members' digits differ from the first member's, so that a template
//!   sentence whose figures change every time can be told from a fixed one.
//!
//! [`analyze`] reads a document's text (no lock held); [`Patterns::add`]
//! and [`Patterns::remove`] keep the per-source and per-cluster counts;
//! [`Patterns::evidence`] gives the model features
//! ([`PATTERN_FEATURES`], named by [`names`]).

use std::io;

use xxhash_rust::xxh3::xxh3_64;

use crate::cluster::{ClusterId, DocIdx, Member, SourceIdx};
use crate::layout;
use crate::snapshot::{Reader, Result as SnapResult, SnapshotError, Writer};

/// The pattern maps grow with the corpus (millions of entries at ten
/// million documents) and are resized under the state lock: a map that
/// moves its entries a few at a time over the inserts after a resize
/// (griddle) instead of all in one (hashbrown's rehash took 137 ms in one
/// document at 7M documents).
type HashMap<K, V> = griddle::HashMap<K, V, rustc_hash::FxBuildHasher>;

/// Number of pattern features; [`names`] names them.
pub const PATTERN_FEATURES: usize = 5;

pub fn names() -> Vec<String> {
    [
        "ln_head_docs",
        "teaser",
        "headline_first",
        "numbers",
        "numbers_vary",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Bumped whenever [`analyze`] reads a text differently (heads, headline
/// slots, figures): a state snapshot keeps what the earlier reading
/// derived, so one of another version is not used (a replay re-derives).
pub const PATTERN_VERSION: u32 = 3;

/// Longest head (the text before the colon), characters.
const MAX_HEAD_CHARS: usize = 40;
/// Most words in a head.
const MAX_HEAD_WORDS: usize = 4;
/// Headlines are looked for among a document's first segments...
const HEADLINE_SEGMENTS: u32 = 3;
/// ... that are lines of this many tokens.
const HEADLINE_TOKENS: std::ops::RangeInclusive<u32> = 4..=30;
/// Numbers in a text from which all of them count as figures.
const NUMBER_LIST: u8 = 6;
/// Most figures counted in a segment.
const MAX_NUMBERS: u8 = 4;

/// The segment may be its document's headline.
const HEADLINE: u8 = 1;

/// What [`analyze`] finds in one segment. Kept for every indexed document
/// that has one, so it is small: 32-bit hashes (a collision merges two
/// heads of one source, or two sets of figures of one cluster: rare, and
/// only a count is off), and the segment's cluster once indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SegmentPattern {
    pub ordinal: u32,
    /// Hash of the lower-cased words before a leading colon; 0: none.
    pub head: u32,
    /// Hash of the segment's digits, in order; 0: no digits.
    pub digits: u32,
    /// The segment's cluster, set by [`Patterns::add`] (0 before).
    cluster: u32,
    /// Figures in the segment ([`digits`]), at most [`MAX_NUMBERS`].
    pub numbers: u8,
    flags: u8,
}

impl SegmentPattern {
    fn headline(&self) -> bool {
        self.flags & HEADLINE != 0
    }
}

/// A document's segments that carry a pattern, by ordinal (others have none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocPatterns {
    pub segments: Box<[SegmentPattern]>,
}

impl DocPatterns {
    /// The line heads of the document, each once.
    fn distinct_heads(&self) -> Vec<u32> {
        let mut heads: Vec<u32> = self
            .segments
            .iter()
            .map(|s| s.head)
            .filter(|&h| h != 0)
            .collect();
        heads.sort_unstable();
        heads.dedup();
        heads
    }

    fn get(&self, ordinal: u32) -> Option<&SegmentPattern> {
        self.segments
            .binary_search_by_key(&ordinal, |s| s.ordinal)
            .ok()
            .map(|i| &self.segments[i])
    }
}

/// The head of a line: its lower-cased words before a colon that comes
/// within the first few words ("READ MORE: ..." -> "read more"), when the
/// colon is followed by text. Times, scores and URLs have none.
pub fn head(text: &str) -> Option<String> {
    let text = text.trim_start();
    // A head is short: no need to look for its colon further on (a
    // character is at most 4 bytes). ':' is ASCII, so where it is found
    // is a character boundary.
    let near = text.len().min((MAX_HEAD_CHARS + 1) * 4);
    let colon = next_byte(&text.as_bytes()[..near], 0, |b| b == b':');
    if colon == near {
        return None;
    }
    head_at(&text[..colon], &text[colon + 1..])
}

/// The head of a text split at its first colon into `prefix` and `rest`.
fn head_at(prefix: &str, rest: &str) -> Option<String> {
    if prefix.chars().count() > MAX_HEAD_CHARS || rest.starts_with('/') {
        return None;
    }
    if !rest.chars().any(char::is_alphanumeric) {
        return None;
    }
    let words: Vec<String> = prefix
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let ok = !words.is_empty()
        && words.len() <= MAX_HEAD_WORDS
        && words.iter().all(|w| !w.chars().any(char::is_numeric));
    ok.then(|| words.join(" "))
}

/// The digits of a text (hashed, 0 when it has none) and how many
/// *figures* it has: numbers with a decimal point or thousands separator,
/// or a percentage ("fell 0.14% to 2,248.17 points" has two), or every
/// number of a text with [`NUMBER_LIST`] or more. Days, years and counters
/// alone are not figures: a template's date changes every time.
pub fn digits(text: &str) -> (u32, u8) {
    // By byte: digits, separators and '%' are ASCII, and no byte of a
    // multi-byte character is ASCII, so this reads what a walk over the
    // characters reads, without collecting them first.
    let bytes = text.as_bytes();
    let mut d = Vec::new();
    let mut figures = 0u8;
    let mut count = 0u8;
    let mut i = 0;
    loop {
        i = next_digit(bytes, i);
        if i == bytes.len() {
            break;
        }
        // One number: digits, with a point or comma between digits.
        if !d.is_empty() {
            d.push(b' ');
        }
        let mut separated = false;
        while i < bytes.len() {
            let c = bytes[i];
            if c.is_ascii_digit() {
                d.push(c);
            } else if matches!(c, b'.' | b',') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                separated = true;
            } else {
                break;
            }
            i += 1;
        }
        if separated || bytes.get(i) == Some(&b'%') {
            figures = figures.saturating_add(1);
        }
        count = count.saturating_add(1);
    }
    // Many numbers in one text are its data whatever their form: draw
    // results, scores, a table row.
    if count >= NUMBER_LIST {
        figures = figures.max(count);
    }
    if d.is_empty() {
        (0, 0)
    } else {
        ((xxh3_64(&d) as u32).max(1), figures.min(MAX_NUMBERS))
    }
}

/// The position of the first ASCII digit in `bytes` from `from` on, or its
/// length. Most text has few digits: it is skipped 16 bytes at a time, a
/// test the compiler turns into a vector compare.
fn next_digit(bytes: &[u8], from: usize) -> usize {
    next_byte(bytes, from, |b| b.wrapping_sub(b'0') < 10)
}

/// The position of the first byte from `from` on that is `wanted`, or the
/// length of `bytes`; 16 bytes at a time while none is.
#[inline(always)]
fn next_byte(bytes: &[u8], from: usize, wanted: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 16) {
        if chunk.iter().fold(false, |any, &b| any | wanted(b)) {
            break;
        }
        i += 16;
    }
    i + bytes[i..]
        .iter()
        .position(|&b| wanted(b))
        .unwrap_or(bytes.len() - i)
}

/// A document's patterns: `segments` gives each segment's text, token count
/// and `layout` flags, in order.
pub fn analyze<'a>(segments: impl Iterator<Item = (&'a str, u32, layout::Flags)>) -> DocPatterns {
    let mut out = Vec::new();
    for (ordinal, (text, tokens, flags)) in segments.enumerate() {
        let ordinal = ordinal as u32;
        let head = head(text).map_or(0, |h| hash32(&h));
        let (digits, numbers) = digits(text);
        let headline = flags & layout::OPENS_MAIN != 0
            || (ordinal < HEADLINE_SEGMENTS
                && HEADLINE_TOKENS.contains(&tokens)
                && flags & layout::RUNNING_TEXT == 0);
        if head != 0 || digits != 0 || headline {
            out.push(SegmentPattern {
                ordinal,
                head,
                digits,
                cluster: 0,
                numbers,
                flags: if headline { HEADLINE } else { 0 },
            });
        }
    }
    DocPatterns {
        segments: out.into_boxed_slice(),
    }
}

/// A nonzero 32-bit hash (0 means none).
fn hash32(s: &str) -> u32 {
    (xxh3_64(s.as_bytes()) as u32).max(1)
}

/// Cluster ids are 32-bit wherever they are kept (see the engine).
fn cluster32(c: ClusterId) -> u32 {
    u32::try_from(c).expect("cluster ids fit in 32 bits")
}

/// One document's headline occurrence of a cluster.
#[derive(Debug, Clone, Copy)]
struct Headline {
    doc: DocIdx,
    source: SourceIdx,
    precedence: (i64, u64),
}

/// Members of a cluster with digits: how many, and how many of them have
/// other digits than the first one recorded.
#[derive(Debug, Clone, Copy, Default)]
struct NumberStats {
    first: u32,
    members: u32,
    differ: u32,
}

/// Per-source counts of line heads, per-cluster headlines and numbers.
#[derive(Debug, Default)]
pub struct Patterns {
    /// (source, head) -> documents of the source with a line of that head.
    heads: HashMap<(SourceIdx, u32), u32>,
    /// By 32-bit cluster id.
    headlines: HashMap<u32, Vec<Headline>>,
    numbers: HashMap<u32, NumberStats>,
    /// What each stored document contributed (to take it back on removal;
    /// its segments carry their clusters), by document handle (handles are
    /// dense: a table, not a map); `None` for a document without patterns,
    /// deleted or not indexed.
    docs: Vec<Option<DocPatterns>>,
}

/// Bytes of a hash table's buckets (one control byte each).
fn table_bytes<K, V>(map: &HashMap<K, V>) -> usize {
    map.capacity() * (std::mem::size_of::<(K, V)>() + 1)
}

impl Patterns {
    /// Heap bytes of the tables (at their full size) and per-document
    /// entries (in use).
    pub fn heap_bytes(&self) -> usize {
        let headlines: usize = self
            .headlines
            .values()
            .map(|v| v.len() * std::mem::size_of::<Headline>())
            .sum();
        let docs: usize = self
            .docs
            .iter()
            .flatten()
            .map(|d| std::mem::size_of_val(&*d.segments))
            .sum();
        table_bytes(&self.heads)
            + table_bytes(&self.headlines)
            + headlines
            + table_bytes(&self.numbers)
            + self.docs.len() * std::mem::size_of::<Option<DocPatterns>>()
            + docs
    }

    /// Records an indexed document: `clusters` has the cluster of every
    /// segment, by ordinal.
    pub fn add(&mut self, me: &Member, mut patterns: DocPatterns, clusters: &[ClusterId]) {
        if patterns.segments.is_empty() {
            return;
        }
        for h in patterns.distinct_heads() {
            *self.heads.entry((me.source, h)).or_default() += 1;
        }
        let mut seen_numbers: Vec<u32> = Vec::new();
        let mut seen_headlines: Vec<u32> = Vec::new();
        for s in patterns.segments.iter_mut() {
            let cluster = cluster32(clusters.get(s.ordinal as usize).copied().unwrap_or(0));
            s.cluster = cluster;
            // A document counts once per cluster: checked against its own
            // segments, not by scanning the list, which a line in the
            // headline slot of every page of a large source makes long.
            if s.headline() && !seen_headlines.contains(&cluster) {
                seen_headlines.push(cluster);
                let list = self.headlines.entry(cluster).or_default();
                // Most clusters have one headline: no room for four (later
                // pushes grow by doubling as usual).
                if list.capacity() == 0 {
                    list.reserve_exact(1);
                }
                list.push(Headline {
                    doc: me.doc,
                    source: me.source,
                    precedence: me.precedence(),
                });
            }
            // A document counts once per cluster.
            if s.digits != 0 && !seen_numbers.contains(&cluster) {
                seen_numbers.push(cluster);
                let n = self.numbers.entry(cluster).or_default();
                if n.members == 0 {
                    n.first = s.digits;
                }
                n.members += 1;
                n.differ += (s.digits != n.first) as u32;
            }
        }
        let at = me.doc as usize;
        if self.docs.len() <= at {
            self.docs.resize_with(at + 1, || None);
        }
        self.docs[at] = Some(patterns);
    }

    /// Takes back what [`Patterns::add`] recorded for `member`. (A cluster
    /// whose first numbered member leaves keeps comparing with its digits.)
    pub fn remove(&mut self, member: &Member) {
        let doc = member.doc;
        let Some(patterns) = self.docs.get_mut(doc as usize).and_then(Option::take) else {
            return;
        };
        for h in patterns.distinct_heads() {
            if let Some(n) = self.heads.get_mut(&(member.source, h)) {
                *n -= 1;
                if *n == 0 {
                    self.heads.remove(&(member.source, h));
                }
            }
        }
        let mut seen_numbers: Vec<u32> = Vec::new();
        for s in patterns.segments.iter() {
            let cluster = s.cluster;
            if s.headline() {
                if let Some(list) = self.headlines.get_mut(&cluster) {
                    list.retain(|h| h.doc != doc);
                    if list.is_empty() {
                        self.headlines.remove(&cluster);
                    }
                }
            }
            if s.digits != 0 && !seen_numbers.contains(&cluster) {
                seen_numbers.push(cluster);
                if let Some(n) = self.numbers.get_mut(&cluster) {
                    n.members -= 1;
                    n.differ -= (s.digits != n.first && n.differ > 0) as u32;
                    if n.members == 0 {
                        self.numbers.remove(&cluster);
                    }
                }
            }
        }
    }

    /// The patterns recorded for an indexed document.
    pub fn of(&self, doc: DocIdx) -> Option<&DocPatterns> {
        self.docs.get(doc as usize).and_then(Option::as_ref)
    }

    /// Pattern features of each segment of a document: `patterns` are its
    /// own (from [`Patterns::of`], or from [`analyze`] for a document not
    /// indexed), `clusters` its segments' clusters by ordinal (0: none).
    pub fn evidence(
        &self,
        me: &Member,
        patterns: &DocPatterns,
        clusters: &[ClusterId],
    ) -> Vec<[f32; PATTERN_FEATURES]> {
        let indexed = self.of(me.doc).is_some();
        clusters
            .iter()
            .enumerate()
            .map(|(ordinal, &cluster)| {
                let cluster = cluster32(cluster);
                let p = patterns.get(ordinal as u32);
                let mut x = [0f32; PATTERN_FEATURES];
                if let Some(p) = p.filter(|p| p.head != 0) {
                    let n = self.heads.get(&(me.source, p.head)).copied().unwrap_or(0)
                        + (!indexed) as u32;
                    x[0] = (n.max(1) as f32).ln();
                }
                let earlier_headline = self.headlines.get(&cluster).is_some_and(|list| {
                    list.iter().any(|h| {
                        h.doc != me.doc && h.source == me.source && h.precedence < me.precedence()
                    })
                });
                let is_headline = p.is_some_and(|p| p.headline());
                x[1] = earlier_headline as u8 as f32;
                x[2] = (is_headline && !earlier_headline) as u8 as f32;
                if let Some(p) = p.filter(|p| p.digits != 0) {
                    x[3] = p.numbers as f32;
                    if let Some(n) = self.numbers.get(&cluster) {
                        // As if this document were counted, when it is not.
                        let (members, differ) = if indexed {
                            (n.members, n.differ)
                        } else {
                            (n.members + 1, n.differ + (p.digits != n.first) as u32)
                        };
                        x[4] = differ as f32 / members as f32;
                    }
                }
                x
            })
            .collect()
    }
}

impl Patterns {
    /// Every count and document entry as it is (a cluster's first digits
    /// depend on the order documents came and went, so nothing is
    /// re-derived on load).
    pub fn save(&self, w: &mut Writer) -> io::Result<()> {
        w.length(self.heads.len())?;
        for (&(source, head), &n) in &self.heads {
            w.put(source)?;
            w.put(head)?;
            w.put(n)?;
        }
        w.length(self.headlines.len())?;
        for (&cluster, list) in &self.headlines {
            w.put(cluster)?;
            w.length(list.len())?;
            for h in list {
                w.put(h.doc)?;
                w.put(h.source)?;
                w.put(h.precedence.0)?;
                w.put(h.precedence.1)?;
            }
        }
        w.length(self.numbers.len())?;
        for (&cluster, n) in &self.numbers {
            w.put(cluster)?;
            w.put(n.first)?;
            w.put(n.members)?;
            w.put(n.differ)?;
        }
        w.length(self.docs.len())?;
        w.length(self.docs.iter().flatten().count())?;
        for (doc, e) in self.docs.iter().enumerate() {
            let Some(e) = e else { continue };
            w.put(doc as DocIdx)?;
            w.length(e.segments.len())?;
            for p in e.segments.iter() {
                w.put(p.ordinal)?;
                w.put(p.head)?;
                w.put(p.digits)?;
                w.put(p.cluster)?;
                w.put(p.numbers)?;
                w.put(p.flags)?;
            }
        }
        Ok(())
    }

    /// Reads what [`Patterns::save`] wrote, for a state of `documents`
    /// document handles (live or not).
    pub fn load(r: &mut Reader, documents: usize) -> SnapResult<Patterns> {
        let n = r.length(16)?;
        let mut heads = HashMap::with_capacity_and_hasher(n, Default::default());
        for _ in 0..n {
            heads.insert((r.get()?, r.get()?), r.get()?);
        }
        let n = r.length(16)?;
        let mut headlines = HashMap::with_capacity_and_hasher(n, Default::default());
        for _ in 0..n {
            let cluster: u32 = r.get()?;
            let k = r.length(24)?;
            let mut list = Vec::with_capacity(k);
            for _ in 0..k {
                list.push(Headline {
                    doc: r.get()?,
                    source: r.get()?,
                    precedence: (r.get()?, r.get()?),
                });
            }
            headlines.insert(cluster, list);
        }
        let n = r.length(24)?;
        let mut numbers = HashMap::with_capacity_and_hasher(n, Default::default());
        for _ in 0..n {
            let cluster: u32 = r.get()?;
            numbers.insert(
                cluster,
                NumberStats {
                    first: r.get()?,
                    members: r.get()?,
                    differ: r.get()?,
                },
            );
        }
        // The table's length, then its entries (each at least 8 bytes).
        let len = r.length(0)?;
        if len > documents {
            return Err(SnapshotError::invalid(
                "pattern table longer than the documents",
            ));
        }
        let n = r.length(8)?;
        if n > len {
            return Err(SnapshotError::invalid(
                "more pattern entries than documents",
            ));
        }
        let mut docs = Vec::new();
        docs.resize_with(len, || None);
        for _ in 0..n {
            let doc: DocIdx = r.get()?;
            let k = r.length(18)?;
            let mut segments = Vec::with_capacity(k);
            for _ in 0..k {
                segments.push(SegmentPattern {
                    ordinal: r.get()?,
                    head: r.get()?,
                    digits: r.get()?,
                    cluster: r.get()?,
                    numbers: r.get()?,
                    flags: r.get()?,
                });
            }
            if !segments.is_sorted_by_key(|s| s.ordinal) {
                return Err(SnapshotError::invalid("pattern segments out of order"));
            }
            let entry = DocPatterns {
                segments: segments.into(),
            };
            match docs.get_mut(doc as usize) {
                Some(slot @ None) => *slot = Some(entry),
                Some(Some(_)) => return Err(SnapshotError::invalid("a document's patterns twice")),
                None => return Err(SnapshotError::invalid("pattern entry past the table")),
            }
        }
        Ok(Patterns {
            heads,
            headlines,
            numbers,
            docs,
        })
    }
}

/// The segment's cluster is the headline of an earlier page of its source.
pub fn teaser(x: &[f32; PATTERN_FEATURES]) -> bool {
    x[1] == 1.0
}

/// The segment may be its page's headline, and no earlier page of its
/// source has it as a headline.
pub fn headline_first(x: &[f32; PATTERN_FEATURES]) -> bool {
    x[2] == 1.0
}

/// Whether a segment's numbers are its news, from its pattern features: a
/// sentence with several figures whose digits differ in at least half of
/// its cluster's documents (the repeat rule leaves it to the model).
pub fn numbers_are_news(x: &[f32; PATTERN_FEATURES], layout: layout::Flags) -> bool {
    layout & layout::RUNNING_TEXT != 0 && x[3] >= 2.0 && x[4] >= 0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `digits` as first written, over characters.
    fn reference_digits(text: &str) -> (u32, u8) {
        let chars: Vec<char> = text.chars().collect();
        let mut d = String::new();
        let (mut figures, mut count) = (0u8, 0u8);
        let mut i = 0;
        while i < chars.len() {
            if !chars[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            if !d.is_empty() {
                d.push(' ');
            }
            let mut separated = false;
            while i < chars.len() {
                let c = chars[i];
                if c.is_ascii_digit() {
                    d.push(c);
                } else if matches!(c, '.' | ',')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)
                {
                    separated = true;
                } else {
                    break;
                }
                i += 1;
            }
            if separated || chars.get(i) == Some(&'%') {
                figures = figures.saturating_add(1);
            }
            count = count.saturating_add(1);
        }
        if count >= NUMBER_LIST {
            figures = figures.max(count);
        }
        if d.is_empty() {
            (0, 0)
        } else {
            (hash32(&d), figures.min(MAX_NUMBERS))
        }
    }

    /// `head` as first written: the first colon, wherever it is (what is
    /// done with the two sides is shared; the search is what changed).
    fn reference_head(text: &str) -> Option<String> {
        let (prefix, rest) = text.trim_start().split_once(':')?;
        head_at(prefix, rest)
    }

    /// Runs of text without digits (long enough to be skipped a chunk at a
    /// time) between numbers.
    fn mixed() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let run = prop_oneof![
            "[a-zA-Z \u{e9}\u{3a3}\u{660}\u{ff11}\u{2009}:/]{0,40}",
            "[0-9.,%]{1,5}",
        ];
        proptest::collection::vec(run, 0..12).prop_map(|runs| runs.concat())
    }

    proptest::proptest! {
        #[test]
        fn digits_by_byte_are_digits_by_character(t in "[0-9.,% a-z\u{e9}\u{660}\u{ff11}\u{2009}]{0,60}") {
            proptest::prop_assert_eq!(digits(&t), reference_digits(&t));
        }

        #[test]
        fn digits_skipping_runs_are_digits_by_character(t in mixed()) {
            proptest::prop_assert_eq!(digits(&t), reference_digits(&t));
        }

        #[test]
        fn a_head_is_found_as_by_the_first_colon(t in mixed()) {
            proptest::prop_assert_eq!(head(&t), reference_head(&t));
        }
    }

    #[test]
    fn heads_are_the_words_before_a_leading_colon() {
        assert_eq!(head("READ MORE: Syria's war").as_deref(), Some("read more"));
        assert_eq!(
            head("Now playing: Trump says").as_deref(),
            Some("now playing")
        );
        assert_eq!(head("OPINION: Why we care").as_deref(), Some("opinion"));
        assert_eq!(head("At 10:30 the police came"), None);
        assert_eq!(head("See http://example.com"), None);
        assert_eq!(head("Tags:"), None);
        assert_eq!(
            head("The minister, who spoke at length on the matter: no"),
            None
        );
        assert_eq!(head("No colon here"), None);
    }

    #[test]
    fn figures_are_counted_whole_and_dates_are_not_figures_but_number_lists_are() {
        let (a, n) = digits("The index fell by 0.14% to 2,248.17 points.");
        assert_eq!(n, 2);
        let (b, m) = digits("The index fell by 0.15% to 2,248.17 points.");
        assert_eq!(m, 2);
        assert_ne!(a, b);
        assert_eq!(digits("No numbers."), (0, 0));
        let (c, n) = digits("Dear readers, on 3 May 2025 we ask you, 1, 2, 3.");
        assert_ne!(c, 0);
        assert_eq!(n, 0);
        assert_eq!(digits("1.1, 2.2, 3%, 4.4, 5.5 and 6.6").1, MAX_NUMBERS);
        // A list of plain numbers is data: draw results change every time.
        let (_, n) = digits("The numbers were 11, 28, 34, 36, 37 and 45, and the bonus was 34.");
        assert_eq!(n, MAX_NUMBERS);
    }

    fn member(doc: DocIdx, source: SourceIdx) -> Member {
        Member {
            doc,
            source,
            published_at: doc as i64,
            seq: doc as u64,
        }
    }

    #[test]
    fn heads_count_documents_of_the_source_and_come_back_out() {
        let mut p = Patterns::default();
        let doc = |t: &str| analyze([(t, 5u32, 0u16), (t, 5, 0)].into_iter());
        for d in 0..3 {
            p.add(
                &member(d, 1),
                doc(&format!("READ MORE: story {d}")),
                &[d as u64 + 10, d as u64 + 20],
            );
        }
        p.add(&member(3, 2), doc("READ MORE: elsewhere"), &[30, 31]);
        let me = member(1, 1);
        let x = p.evidence(&me, p.of(1).unwrap(), &[11, 21]);
        assert_eq!(x[0][0], 3f32.ln());
        // Not indexed: counts itself.
        let outsider = Member {
            doc: 99,
            ..member(9, 1)
        };
        let x = p.evidence(&outsider, &doc("Read more: again"), &[0, 0]);
        assert_eq!(x[0][0], 4f32.ln());
        p.remove(&member(0, 1));
        p.remove(&member(2, 1));
        let x = p.evidence(&me, p.of(1).unwrap(), &[11, 21]);
        assert_eq!(x[0][0], 0.0);
    }

    #[test]
    fn a_headline_of_an_earlier_page_is_a_teaser_here() {
        let mut p = Patterns::default();
        let headline = "Storm closes the bridge for a week";
        // The story: its headline first.
        let story = analyze([(headline, 7u32, 0u16), ("Body text.", 30, 2)].into_iter());
        p.add(&member(1, 1), story.clone(), &[5, 6]);
        // A later page lists it far down.
        let mut list: Vec<(&str, u32, layout::Flags)> = vec![("x", 30, 2); 6];
        list.push((headline, 7, 0));
        let later = analyze(list.into_iter());
        let mut clusters = vec![100u64; 6];
        clusters.push(5);
        p.add(&member(2, 1), later.clone(), &clusters);
        let x = p.evidence(&member(2, 1), &later, &clusters);
        assert_eq!((x[6][1], x[6][2]), (1.0, 0.0));
        let x = p.evidence(&member(1, 1), &story, &[5, 6]);
        assert_eq!((x[0][1], x[0][2]), (0.0, 1.0));
        // Another source's page with the same line: no teaser of its own.
        let x = p.evidence(&member(3, 2), &later, &clusters);
        assert_eq!(x[6][1], 0.0);
    }

    #[test]
    fn figures_that_change_every_time_are_told_from_fixed_ones() {
        let mut p = Patterns::default();
        for d in 0..5u32 {
            let report = format!("The index rose by 0.{d}% to 2,10{d}.5 points today.");
            let fixed = "Copyright 2017 News Agency, all 3 rights.".to_string();
            let pats =
                analyze([(report.as_str(), 12u32, 2u16), (fixed.as_str(), 7, 0)].into_iter());
            p.add(&member(d, 1), pats, &[1, 2]);
        }
        let me = member(4, 1);
        let x = p.evidence(&me, p.of(4).unwrap(), &[1, 2]);
        assert_eq!(x[0][3], 2.0);
        assert!(x[0][4] >= 0.8, "{:?}", x[0]);
        assert!(numbers_are_news(&x[0], layout::RUNNING_TEXT));
        assert_eq!(x[1][4], 0.0);
        assert!(!numbers_are_news(&x[1], layout::RUNNING_TEXT));
    }
}
