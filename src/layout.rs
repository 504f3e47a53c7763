//! Segments -> layout: where the document's main text block is.
//!
//! A page a site has not repeated yet still shows its template by shape:
//! menus, bylines-of-others, teaser links and footers are short lines
//! around one dense block of sentences. The main block is the run of
//! segments with the largest score (maximum-sum subarray), where a segment
//! of running text scores its token count and a short line costs a little;
//! the few short lines right before it (headline, byline, date) belong to
//! it. This is evidence for segments that have no cross-document evidence
//! yet; `classify` decides how much it weighs.

/// Per-segment flags: what layout, structure and the credit-line rule
/// found. Stored with each segment.
pub type Flags = u16;

/// The segment lies in the main block.
pub const IN_MAIN: Flags = 1;
/// The segment reads as running text (sentences, or long).
pub const RUNNING_TEXT: Flags = 2;
/// The page has a main block at all (else layout says nothing).
pub const PAGE_HAS_MAIN: Flags = 4;
/// The segment is a short line (under `LINE_TOKENS` tokens).
pub const LINE: Flags = 8;
/// The segment heads the main block: the longest line of its lead,
/// typically the headline.
pub const OPENS_MAIN: Flags = 16;

/// The page's markup was at hand and the segment was found in it (set by
/// `structure`, not by `layout`).
pub const MARKUP: Flags = 32;

/// A credit line: a wire service's attribution or a copyright notice.
pub const ATTRIBUTION: Flags = 64;

/// The segment repeats the page's `<title>` (set by `structure`, not by
/// `layout`): the page's own headline, however often the site teases it
/// elsewhere.
pub const TITLE: Flags = 128;

/// The segment sits in a reader-comment section of the page's markup (set
/// from `structure`): readers' text, not the publisher's.
pub const COMMENT: Flags = 256;

/// The segment repeats an earlier block of the same page, in a document
/// chaff extracted from html (set by the engine): a second rendering of
/// that block (a hidden preview, a mobile variant, a print copy). The
/// page's text says it once, so the copy is not more of the article.
pub const REPEAT_IN_PAGE: Flags = 512;

/// Flags every segment whose exact fingerprint an earlier segment of the
/// same document has ([`REPEAT_IN_PAGE`]).
pub fn mark_repeats_in_page(flags: &mut [Flags], exact: impl IntoIterator<Item = u64>) {
    let mut seen = rustc_hash::FxHashSet::default();
    for (f, h) in flags.iter_mut().zip(exact) {
        if !seen.insert(h) {
            *f |= REPEAT_IN_PAGE;
        }
    }
}

/// Tokens of a segment that reads as running text when it ends a sentence.
const SENTENCE_TOKENS: u32 = 10;
/// Tokens of a segment that reads as running text whatever its end.
const LONG_TOKENS: u32 = 30;
/// Shorter segments are lines (menu items, labels, dates).
const LINE_TOKENS: u32 = 5;
/// Short segments just before the main block taken into it.
const LEAD_SEGMENTS: usize = 3;
/// Largest segment taken into the main block as its lead (a headline).
const LEAD_TOKENS: u32 = 25;
/// A main block needs at least this many tokens of running text.
const MIN_MAIN_TOKENS: i64 = 40;

/// The text ends like a sentence (closing quotes and brackets aside).
pub fn ends_sentence(text: &str) -> bool {
    let t = text.trim_end_matches(['"', '\'', '”', '’', ')', ']', '»', ' ']);
    t.ends_with(['.', '!', '?', '…', '。', '！', '？', ':', ';'])
}

/// Flags per segment, from each segment's text and token count.
pub fn layout<'a>(segments: impl Iterator<Item = (&'a str, u32)>) -> Vec<Flags> {
    let mut credits = Vec::new();
    let shapes: Vec<(u32, bool)> = segments
        .map(|(text, tokens)| {
            credits.push(credit_line(text, tokens));
            let running =
                tokens >= LONG_TOKENS || (tokens >= SENTENCE_TOKENS && ends_sentence(text));
            (tokens, running)
        })
        .collect();
    let score = |&(tokens, running): &(u32, bool)| -> i64 {
        if running {
            tokens as i64
        } else if tokens < LINE_TOKENS {
            -4
        } else {
            -2
        }
    };
    // Kadane's maximum-sum subarray.
    let (mut best, mut best_range) = (0i64, None);
    let (mut sum, mut start) = (0i64, 0usize);
    for (i, s) in shapes.iter().enumerate() {
        if sum <= 0 {
            sum = 0;
            start = i;
        }
        sum += score(s);
        if sum > best {
            best = sum;
            best_range = Some((start, i));
        }
    }
    let mut flags: Vec<Flags> = shapes
        .iter()
        .zip(&credits)
        .map(|(&(tokens, running), &credit)| {
            let mut f = if running { RUNNING_TEXT } else { 0 };
            if tokens < LINE_TOKENS {
                f |= LINE;
            }
            if credit {
                f |= ATTRIBUTION;
            }
            f
        })
        .collect();
    let Some((mut a, b)) = best_range.filter(|_| best >= MIN_MAIN_TOKENS) else {
        return flags;
    };
    let body = a;
    while a > 0 && body - a < LEAD_SEGMENTS && shapes[a - 1].0 <= LEAD_TOKENS && !shapes[a - 1].1 {
        a -= 1;
    }
    for (i, f) in flags.iter_mut().enumerate() {
        *f |= PAGE_HAS_MAIN;
        if (a..=b).contains(&i) {
            *f |= IN_MAIN;
        }
    }
    // The headline: the longest line of the lead (menu items, bylines and
    // dates are shorter); the later one on a tie.
    if let Some(h) = (a..body).max_by_key(|&i| (shapes[i].0, i)) {
        flags[h] |= OPENS_MAIN;
    }
    flags
}

/// Longest line read as a credit line.
const CREDIT_TOKENS: u32 = 10;
/// Longest contributor line: it may list half a dozen names.
const CONTRIBUTOR_TOKENS: u32 = 30;

/// A wire service's attribution ("Source: TASS", "(AP)", "Reporting by
/// ...", a dateline that ends in the agency, "MOSCOW, May 6. /TASS/."), a
/// contributor line ("... contributed to this report.") or a copyright
/// notice ("© 2008 AFP"): text that marks where the story came from or who
/// owns it, never the story. `tokens` is the segment's normalised length.
pub fn credit_line(text: &str, tokens: u32) -> bool {
    if tokens > CONTRIBUTOR_TOKENS {
        return false;
    }
    let t = text.trim().to_lowercase();
    const CONTRIBUTED: &[&str] = &[
        "contributed to this report",
        "contributed to this story",
        "contributed to this article",
        "contributed reporting",
    ];
    let end = t.trim_end_matches(|c: char| ".,;:!*)]—–- ".contains(c));
    if CONTRIBUTED.iter().any(|c| end.ends_with(c)) {
        return true;
    }
    tokens <= CREDIT_TOKENS && (agency_credit(&t) || agency_dateline(&t))
}

/// An agency's name set off at the end of a line: "/TASS/.", "(AP)".
fn agency_dateline(t: &str) -> bool {
    let end = t.trim_end_matches(|c: char| ".,;:—–- ".contains(c));
    let Some(close) = end.chars().next_back().filter(|c| matches!(c, '/' | ')')) else {
        return false;
    };
    let open = if close == ')' { '(' } else { '/' };
    let inner = &end[..end.len() - 1];
    inner
        .rfind(open)
        .is_some_and(|i| AGENCIES.contains(&inner[i + 1..].trim()))
}

const AGENCIES: &[&str] = &[
    "ap",
    "afp",
    "reuters",
    "tass",
    "xinhua",
    "dpa",
    "upi",
    "ani",
    "pti",
    "ians",
    "efe",
    "ansa",
    "bloomberg",
];

/// The line opens with an attribution or is an agency's bare name.
fn agency_credit(t: &str) -> bool {
    const OPENINGS: &[&str] = &[
        "source:",
        "sources:",
        "via ",
        "via:",
        "reporting by ",
        "additional reporting by ",
        "written by ",
        "edited by ",
        "editing by ",
        "compiled by ",
        "based on materials from ",
        "courtesy of ",
        "with files from ",
        "copyright ",
        "copyright©",
        "©",
        "(c) ",
        "all rights reserved",
    ];
    if OPENINGS.iter().any(|o| t.starts_with(o)) {
        return true;
    }
    let bare = t.trim_matches(|c: char| "()[]—–-., ".contains(c));
    AGENCIES.contains(&bare)
}

/// The line that heads the main block: the page's headline.
pub fn heads_main_block(flags: Flags) -> bool {
    flags & OPENS_MAIN != 0 && flags & RUNNING_TEXT == 0
}

/// Layout alone says boilerplate: a short line outside the main block of a
/// page that has one.
pub fn template_like(flags: Flags) -> bool {
    flags & PAGE_HAS_MAIN != 0 && flags & IN_MAIN == 0 && flags & LINE != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str =
        "The council voted on Tuesday to close the old library building and move its books.";

    fn flags(segs: &[&str]) -> Vec<Flags> {
        layout(
            segs.iter()
                .map(|s| (*s, s.split_whitespace().count() as u32)),
        )
    }

    #[test]
    fn menus_and_footers_around_an_article_are_template_like() {
        let f = flags(&[
            "Home",
            "News",
            "Sport",
            "Library to close",
            "By A. Writer",
            P,
            P,
            "Quote of the day.",
            P,
            "Share",
            "Contact us",
            "© 2025 Example",
        ]);
        let t: Vec<bool> = f.iter().map(|&x| template_like(x)).collect();
        // The three short lines before the article are taken as its lead.
        assert_eq!(
            t,
            vec![true, true, false, false, false, false, false, false, false, true, true, true]
        );
    }

    #[test]
    fn pages_without_a_main_block_say_nothing() {
        let f = flags(&["Home", "News", "One two three four five six"]);
        assert!(f.iter().all(|&x| !template_like(x)));
        assert!(flags(&[]).is_empty());
    }
}
