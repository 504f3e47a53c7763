//! Segments + layout + markup -> structural features and the page prior.
//!
//! What one page shows about each of its segments, before any other page
//! is seen: its shape (length, punctuation, sentences), where it sits
//! relative to the main block (`layout`), and, when the page's HTML is at
//! hand, its markup context (link density, tag path, class/id words,
//! readability's top candidate). The page model (boosted trees in
//! [`crate::model`], fitted by `bench/model/fit.py`) turns these into the
//! *prior*: the log-odds that the segment is template text. `classify`
//! weighs it against the cross-document evidence.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::html::{hint, tag, BlockContext, Extracted};
use crate::layout;
use crate::model;

/// Index of the feature that says the segment was found in the markup.
pub const HAS_MARKUP: usize = 16;

/// Index of the feature that says the segment repeats the page's title
/// ([`matches_title`]).
pub const TITLE: usize = 20 + tag::COUNT + hint::COUNT;
/// Index of the feature that says the same text occurs elsewhere on the page.
const DUPLICATE: usize = TITLE + 1;
/// Index of the log distance, in segments, to the page's main block.
const MAIN_DISTANCE: usize = TITLE + 2;

/// Number of page features; [`names`] names them in order.
pub const PAGE_FEATURES: usize = 23 + tag::COUNT + hint::COUNT;

/// Feature names, in vector order (the fitting script reads them).
pub fn names() -> Vec<String> {
    let mut n: Vec<String> = [
        "bias",
        "ln_tokens",
        "running",
        "line",
        "in_main",
        "page_has_main",
        "heads_main",
        "before_main",
        "after_main",
        "position",
        "ends_sentence",
        "punct_share",
        "digit_share",
        "titlecase_share",
        "separators",
        "legal",
        "has_html",
        "link_density",
        "all_link",
        "in_top",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    n.extend((0..tag::COUNT).map(|i| format!("tag_{i}")));
    n.extend((0..hint::COUNT).map(|i| format!("hint_{i}")));
    n.extend(["title", "dup_in_page", "ln_dist_main"].map(String::from));
    n
}

pub type Features = [f32; PAGE_FEATURES];

/// One segment as the feature step sees it.
pub struct SegmentShape<'a> {
    pub text: &'a str,
    pub tokens: u32,
    pub layout: layout::Flags,
}

/// What one page shows about its segments.
pub struct Page {
    pub features: Vec<Features>,
    /// Layout flags that only the page's text and markup can set:
    /// [`layout::MARKUP`], [`layout::TITLE`], [`layout::COMMENT`].
    pub flags: Vec<layout::Flags>,
}

/// Features and flags of every segment of one page. `html` is the page's
/// markup, already extracted; segments are aligned to its blocks by their
/// text.
pub fn page_features(segments: &[SegmentShape<'_>], html: Option<&Extracted>) -> Page {
    let n = segments.len();
    let main: Vec<usize> = (0..n)
        .filter(|&i| segments[i].layout & layout::IN_MAIN != 0)
        .collect();
    let (first_main, last_main) = (main.first().copied(), main.last().copied());
    let markup = Markup::of(segments, html);
    let copies = copies_on_page(segments);
    let flags: Vec<layout::Flags> = (0..n).map(|i| markup.flags(i, &segments[i])).collect();
    let features = segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut f = [0f32; PAGE_FEATURES];
            let flag = |b: layout::Flags| (s.layout & b != 0) as u8 as f32;
            let outside = s.layout & layout::PAGE_HAS_MAIN != 0 && s.layout & layout::IN_MAIN == 0;
            let shape = text_shape(s.text);
            f[0] = 1.0;
            f[1] = (1.0 + s.tokens as f32).ln();
            f[2] = flag(layout::RUNNING_TEXT);
            f[3] = flag(layout::LINE);
            f[4] = flag(layout::IN_MAIN);
            f[5] = flag(layout::PAGE_HAS_MAIN);
            f[6] = layout::heads_main_block(s.layout) as u8 as f32;
            f[7] = (outside && first_main.is_some_and(|m| i < m)) as u8 as f32;
            f[8] = (outside && last_main.is_some_and(|m| i > m)) as u8 as f32;
            f[9] = if n > 1 {
                i as f32 / (n - 1) as f32
            } else {
                0.0
            };
            f[10] = shape.ends_sentence as u8 as f32;
            f[11] = shape.punct_share;
            f[12] = shape.digit_share;
            f[13] = shape.titlecase_share;
            f[14] = shape.separators as u8 as f32;
            f[15] = shape.legal as u8 as f32;
            f[TITLE] = (flags[i] & layout::TITLE != 0) as u8 as f32;
            f[DUPLICATE] = (copies[i] > 1) as u8 as f32;
            f[MAIN_DISTANCE] = match (first_main, last_main) {
                (Some(a), _) if i < a => ((a - i) as f32).ln_1p(),
                (_, Some(b)) if i > b => ((i - b) as f32).ln_1p(),
                _ => 0.0,
            };
            if let Some(ctx) = markup.context(i) {
                let density = if ctx.chars == 0 {
                    0.0
                } else {
                    ctx.link_chars as f32 / ctx.chars as f32
                };
                f[HAS_MARKUP] = 1.0;
                f[17] = density;
                f[18] = (density >= 0.9) as u8 as f32;
                f[19] = ctx.in_top as u8 as f32;
                for b in 0..tag::COUNT {
                    f[20 + b] = (ctx.tags >> b & 1) as f32;
                }
                for b in 0..hint::COUNT {
                    f[20 + tag::COUNT + b] = (ctx.hints >> b & 1) as f32;
                }
            }
            f
        })
        .collect();
    Page { features, flags }
}

/// The flags alone ([`Page::flags`]), for a page whose segments no model
/// reads: a document of one segment is labelled by its repeats, and the
/// flags are what the rules read of its page (its title, its markup, a
/// comment section).
pub fn page_flags(segments: &[SegmentShape<'_>], html: Option<&Extracted>) -> Vec<layout::Flags> {
    let markup = Markup::of(segments, html);
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| markup.flags(i, s))
        .collect()
}

/// What the page's markup says of each segment: the block it was found
/// in, and the page's title.
struct Markup {
    contexts: Option<Vec<Option<BlockContext>>>,
    title: HashSet<String>,
}

impl Markup {
    fn of(segments: &[SegmentShape<'_>], html: Option<&Extracted>) -> Markup {
        Markup {
            contexts: html.map(|e| align(segments, e)),
            title: html.map_or_else(HashSet::default, |e| words(&e.title).collect()),
        }
    }

    fn context(&self, i: usize) -> Option<BlockContext> {
        self.contexts.as_ref().and_then(|c| c[i])
    }

    /// [`layout::TITLE`], [`layout::MARKUP`] and [`layout::COMMENT`].
    fn flags(&self, i: usize, s: &SegmentShape<'_>) -> layout::Flags {
        let mut flags = 0;
        if matches_title(s.text, &self.title) {
            flags |= layout::TITLE;
        }
        if let Some(ctx) = self.context(i) {
            flags |= layout::MARKUP;
            if ctx.comment {
                flags |= layout::COMMENT;
            }
        }
        flags
    }
}

/// Lower-cased words (runs of letters and digits) of a text.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Fewest words of a segment read as the page's title.
const TITLE_WORDS: usize = 3;
/// Share of the segment's words that the title must have.
const TITLE_INSIDE: f32 = 0.8;
/// Share of the title's distinct words that the segment must cover.
const TITLE_COVER: f32 = 0.6;

/// The segment is the page's title, bar the site's name around it ("Mayor
/// resigns | Example News"): a site teases its stories on each other's pages,
/// so a headline repeats across the site, but only its own page carries it
/// as its title. The site's name alone covers too little of a title to
/// count.
pub fn matches_title(text: &str, title: &HashSet<String>) -> bool {
    if title.is_empty() {
        return false;
    }
    let seg: Vec<String> = words(text).collect();
    if seg.len() < TITLE_WORDS {
        return false;
    }
    let found: Vec<&String> = seg.iter().filter(|w| title.contains(*w)).collect();
    let inside = found.len();
    let distinct: HashSet<&String> = found.into_iter().collect();
    inside as f32 >= TITLE_INSIDE * seg.len() as f32
        && distinct.len() as f32 >= TITLE_COVER * title.len() as f32
}

/// How many segments of the page carry each segment's text (whitespace and
/// case aside): menus and calls to action recur within one page, prose does
/// not. Texts are compared by a hash of that form, built in one buffer.
fn copies_on_page(segments: &[SegmentShape<'_>]) -> Vec<u32> {
    if segments.len() < 2 {
        return vec![1; segments.len()];
    }
    let mut buf = String::new();
    let keys: Vec<u64> = segments
        .iter()
        .map(|s| {
            squashed_lower(s.text, &mut buf);
            xxhash_rust::xxh3::xxh3_64(buf.as_bytes())
        })
        .collect();
    let mut count: HashMap<u64, u32> = HashMap::default();
    count.reserve(keys.len());
    for &k in &keys {
        *count.entry(k).or_default() += 1;
    }
    keys.iter().map(|k| count[k]).collect()
}

/// `text`'s words joined by single spaces, lower-cased, into `out`.
fn squashed_lower(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        // `split_whitespace` as below: it also splits at a vertical tab,
        // which ASCII whitespace does not include.
        for w in text.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.extend(w.bytes().map(|b| b.to_ascii_lowercase() as char));
        }
        return;
    }
    // Unicode lower-casing depends on context (a final sigma), so the
    // joined text is lower-cased whole.
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    out.push_str(&joined.to_lowercase());
}

/// The page prior of one segment: log-odds of template text.
pub fn prior(f: &Features) -> f32 {
    static PAGE: std::sync::LazyLock<crate::trees::Forest> =
        std::sync::LazyLock::new(|| crate::trees::Forest::new(model::PAGE_TREES));
    PAGE.score(f)
}

/// The prior as stored: log-odds in 1/256 steps, saturated.
pub fn quantize(prior: f32) -> i16 {
    (prior * 256.0)
        .round()
        .clamp(i16::MIN as f32, i16::MAX as f32) as i16
}

pub fn dequantize(q: i16) -> f32 {
    q as f32 / 256.0
}

struct TextShape {
    ends_sentence: bool,
    punct_share: f32,
    digit_share: f32,
    titlecase_share: f32,
    separators: bool,
    legal: bool,
}

/// One pass over the characters: this runs for every segment of every
/// document.
fn text_shape(text: &str) -> TextShape {
    let (mut visible, mut punct, mut digits) = (0u32, 0u32, 0u32);
    let (mut words, mut title) = (0u32, 0u32);
    let mut separators = false;
    let mut copyright_sign = false;
    // Within a run of non-whitespace: whether its first letter was seen.
    let mut letter_seen = false;
    if text.is_ascii() {
        // The same counts by byte (most text is ASCII): no case tables.
        for &b in text.as_bytes() {
            // `char::is_whitespace` on ASCII, vertical tab included.
            if matches!(b, b' ' | b'\t'..=b'\r') {
                letter_seen = false;
                continue;
            }
            visible += 1;
            if b.is_ascii_digit() {
                digits += 1;
            } else if !b.is_ascii_alphabetic() {
                punct += 1;
            } else if !letter_seen {
                letter_seen = true;
                words += 1;
                title += b.is_ascii_uppercase() as u32;
            }
            separators |= b == b'|';
        }
    } else {
        for c in text.chars() {
            if c.is_whitespace() {
                letter_seen = false;
                continue;
            }
            visible += 1;
            if c.is_ascii_digit() {
                digits += 1;
            } else if !c.is_alphanumeric() {
                punct += 1;
            }
            if !letter_seen && c.is_alphabetic() {
                letter_seen = true;
                words += 1;
                title += c.is_uppercase() as u32;
            }
            separators |= matches!(c, '|' | '»' | '·' | '•' | '›' | '«' | '‹');
            copyright_sign |= c == '©';
        }
    }
    let share = |a: u32, b: u32| if b == 0 { 0.0 } else { a as f32 / b as f32 };
    TextShape {
        ends_sentence: layout::ends_sentence(text),
        punct_share: share(punct, visible),
        digit_share: share(digits, visible),
        titlecase_share: share(title, words),
        separators,
        legal: copyright_sign || legal_phrase(text),
    }
}

/// "copyright" or "all rights reserved" in any case. Both are ASCII, so an
/// ASCII lower-casing finds what a full one would, at a fraction of the
/// cost (no per-character case tables).
fn legal_phrase(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("copyright") || lower.contains("all rights reserved")
}

/// Blocks of `html` that carry each segment's text, matched in page order.
/// A segment that matches no block (the caller's text was extracted some
/// other way) has no markup context.
fn align(segments: &[SegmentShape<'_>], html: &Extracted) -> Vec<Option<BlockContext>> {
    let squash = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let blocks: Vec<String> = html
        .blocks
        .iter()
        .map(|&(s, e)| squash(&html.text[s as usize..e as usize]))
        .collect();
    // Other extractors break paragraphs at every <br>: a block's lines
    // stand for it too.
    let lines: Vec<(usize, String)> = html
        .blocks
        .iter()
        .enumerate()
        .filter(|(_, &(s, e))| html.text[s as usize..e as usize].contains('\n'))
        .flat_map(|(j, &(s, e))| {
            html.text[s as usize..e as usize]
                .split('\n')
                .map(move |l| (j, squash(l)))
        })
        .collect();
    let mut at: HashMap<&str, Vec<usize>> = HashMap::default();
    for (j, b) in blocks
        .iter()
        .enumerate()
        .chain(lines.iter().map(|(j, l)| (*j, l)))
    {
        at.entry(b.as_str()).or_default().push(j);
    }
    for js in at.values_mut() {
        js.sort_unstable();
    }
    let mut next = 0usize;
    segments
        .iter()
        .map(|s| {
            let t = squash(s.text);
            let j = at.get(t.as_str()).and_then(|js| {
                // The first occurrence at or after the last match; else any.
                js.iter()
                    .find(|&&j| j >= next)
                    .or_else(|| js.first())
                    .copied()
            })?;
            next = j + 1;
            html.context.get(j).copied()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape as first written (two passes and a lower-cased copy).
    fn reference_shape(text: &str) -> TextShape {
        let (mut visible, mut punct, mut digits) = (0u32, 0u32, 0u32);
        let mut separators = false;
        for c in text.chars() {
            if c.is_whitespace() {
                continue;
            }
            visible += 1;
            if c.is_ascii_digit() {
                digits += 1;
            } else if !c.is_alphanumeric() {
                punct += 1;
            }
            separators |= matches!(c, '|' | '»' | '·' | '•' | '›' | '«' | '‹');
        }
        let (mut words, mut title) = (0u32, 0u32);
        for w in text.split_whitespace() {
            if let Some(c) = w.chars().find(|c| c.is_alphabetic()) {
                words += 1;
                title += c.is_uppercase() as u32;
            }
        }
        let lower = text.to_lowercase();
        let share = |a: u32, b: u32| if b == 0 { 0.0 } else { a as f32 / b as f32 };
        TextShape {
            ends_sentence: layout::ends_sentence(text),
            punct_share: share(punct, visible),
            digit_share: share(digits, visible),
            titlecase_share: share(title, words),
            separators,
            legal: text.contains('©')
                || lower.contains("copyright")
                || lower.contains("all rights reserved"),
        }
    }

    fn same(a: &TextShape, b: &TextShape) -> bool {
        (a.ends_sentence, a.separators, a.legal) == (b.ends_sentence, b.separators, b.legal)
            && a.punct_share == b.punct_share
            && a.digit_share == b.digit_share
            && a.titlecase_share == b.titlecase_share
    }

    #[test]
    fn the_one_pass_shape_is_the_reference_shape() {
        for t in [
            "",
            "   ",
            "© 2008 AFP. All Rights Reserved.",
            "COPYRIGHT 2020 The Ledger",
            "copyrigh t",
            "Home | News | Sport » Football",
            "\"Quoted,\" he said — 12.5% of 2,000 (AP).",
            "Ünïcödé Wörds and 東京 テキスト… ok",
            "x1 Y2 ,z 3a",
        ] {
            assert!(same(&text_shape(t), &reference_shape(t)), "{t:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn shapes_agree_on_any_text(t in "[a-zA-Z0-9 ,.|©\u{e9}\u{c9}\u{6771}\u{a0}\t\n-]{0,60}") {
            proptest::prop_assert!(same(&text_shape(&t), &reference_shape(&t)));
        }

        #[test]
        fn shapes_agree_on_ascii_text(t in "[\\x00-\\x7f]{0,80}") {
            proptest::prop_assert!(same(&text_shape(&t), &reference_shape(&t)));
        }

        /// The in-page copy key is the form first written: words joined
        /// by one space, lower-cased.
        #[test]
        fn the_copy_key_is_the_squashed_lower_text(
            t in "[a-zA-Z0-9 \\t\\n\\x0b\\x0c\\r,.\u{a0}\u{3a3}\u{3c3}\u{c9}\u{130}\u{6771}]{0,60}"
        ) {
            let mut out = String::new();
            squashed_lower(&t, &mut out);
            let reference = t.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
            proptest::prop_assert_eq!(out, reference);
        }
    }

    fn shapes(texts: &[&str]) -> Vec<SegmentShape<'static>> {
        texts
            .iter()
            .map(|t| SegmentShape {
                text: Box::leak(t.to_string().into_boxed_str()),
                tokens: t.split_whitespace().count() as u32,
                layout: 0,
            })
            .collect()
    }

    #[test]
    fn names_match_the_vector() {
        assert_eq!(names().len(), PAGE_FEATURES);
    }

    #[test]
    fn segments_take_the_context_of_their_block() {
        let html = crate::html::extract(
            r#"<body><nav class="menu"><ul><li><a href="/">Home</a></li></ul></nav>
            <div class="article-body"><p>The council voted, on Tuesday, to close the old library.</p></div>
            <footer><p>© 2025 Example</p></footer></body>"#,
        );
        let segs = shapes(&[
            "Home",
            "The council voted, on Tuesday, to close the old library.",
            "Unmatched text",
            "© 2025 Example",
        ]);
        let f = page_features(&segs, Some(&html)).features;
        let has = |i: usize, k: usize| f[i][k] == 1.0;
        // Home: in a nav, all link, menu hint.
        assert!(has(0, 16) && has(0, 18) && has(0, 20) && has(0, 20 + tag::COUNT));
        // The paragraph: in the top candidate, content hint, a <p>.
        assert!(has(1, 19) && has(1, 20 + 8) && has(1, 20 + tag::COUNT + 8));
        assert_eq!(f[1][17], 0.0);
        // No block carries it: no markup features.
        assert!(f[2][16..].iter().all(|&x| x == 0.0));
        // The footer line, with its legal mark.
        assert!(has(3, 15) && has(3, 20 + 2));
    }

    #[test]
    fn the_title_marks_the_pages_own_headline_not_the_site_name() {
        let title: HashSet<String> =
            words("Mayor resigns over budget row | Example News").collect();
        assert!(matches_title("Mayor resigns over budget row", &title));
        assert!(matches_title("Mayor Resigns Over Budget Row!", &title));
        // The site's name, another story's teaser, a short line: not the title.
        assert!(!matches_title("Example News", &title));
        assert!(!matches_title(
            "Council approves budget for new library",
            &title
        ));
        assert!(!matches_title("Mayor resigns", &title));
        assert!(!matches_title(
            "Mayor resigns over budget row",
            &HashSet::default()
        ));
    }

    #[test]
    fn page_features_flag_the_title_copies_and_distance_to_the_main_block() {
        let html = crate::html::extract(
            "<head><title>Mayor resigns over budget row - Example</title></head><body></body>",
        );
        let mut segs = shapes(&[
            "Menu",
            "Mayor resigns over budget row",
            "Menu",
            "Body text.",
        ]);
        segs[3].layout = layout::IN_MAIN | layout::PAGE_HAS_MAIN;
        for s in &mut segs[..3] {
            s.layout = layout::PAGE_HAS_MAIN;
        }
        let f = page_features(&segs, Some(&html)).features;
        assert_eq!(f[1][TITLE], 1.0);
        assert_eq!(f[0][TITLE], 0.0);
        assert_eq!(
            (f[0][DUPLICATE], f[1][DUPLICATE], f[2][DUPLICATE]),
            (1.0, 0.0, 1.0)
        );
        assert_eq!(f[3][MAIN_DISTANCE], 0.0);
        assert!((f[0][MAIN_DISTANCE] - 4f32.ln()).abs() < 1e-6);
        assert!(f[1][MAIN_DISTANCE] > f[2][MAIN_DISTANCE]);
    }

    #[test]
    fn quantized_prior_round_trips_closely() {
        for p in [-7.3f32, -0.01, 0.0, 2.5, 100.0] {
            assert!((dequantize(quantize(p)) - p).abs() <= 1.0 / 256.0);
        }
        assert_eq!(quantize(1e9), i16::MAX);
    }
}
