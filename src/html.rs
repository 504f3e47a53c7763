//! HTML -> visible text in block-level units, the segments of an HTML
//! document.
//!
//! Parsed with html5ever (through `scraper`), so broken markup is repaired
//! the way browsers repair it and entities are decoded. Script, style,
//! noscript, template, head and hidden content are dropped. Each block-level
//! element (paragraph, heading, list item, table cell, div with direct text,
//! ...) and each run of text ended by `<br><br>` becomes one block; blocks
//! are joined with "\n\n" into the document text the offsets refer to.
//! A page that a crawler decoded with the wrong charset is repaired first.

use rustc_hash::FxHashMap as HashMap;

use ego_tree::NodeId;
use scraper::{ElementRef, Html, Node};

/// Visible text and the byte spans of its blocks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extracted {
    pub text: String,
    pub blocks: Vec<(u32, u32)>,
    /// Where each block sits in the page, one per block.
    pub context: Vec<BlockContext>,
    /// The page's `<title>`, whitespace collapsed (empty without one): it
    /// names the page's own story, which a site's teasers of its other
    /// stories do not.
    pub title: String,
}

/// The markup around a block: what a reader's eye and a template designer
/// both use to tell the article from the furniture around it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BlockContext {
    /// [`tag`] bits of the block's element and its ancestors.
    pub tags: u16,
    /// [`hint`] bits from class, id and role attributes of its ancestors.
    pub hints: u16,
    /// Visible characters (whitespace excluded).
    pub chars: u32,
    /// Of those, characters inside links.
    pub link_chars: u32,
    /// Inside the element that holds most of the page's prose (readability's
    /// top candidate).
    pub in_top: bool,
    /// Inside a reader-comment section ([`comment_word`]) beside the
    /// article: see `Builder::mark_comments`.
    pub comment: bool,
}

/// Tag bits of [`BlockContext::tags`].
pub mod tag {
    pub const NAV: u16 = 1;
    pub const HEADER: u16 = 1 << 1;
    pub const FOOTER: u16 = 1 << 2;
    pub const ASIDE: u16 = 1 << 3;
    pub const FORM: u16 = 1 << 4;
    pub const CONTROL: u16 = 1 << 5;
    pub const LI: u16 = 1 << 6;
    pub const HEADING: u16 = 1 << 7;
    pub const P: u16 = 1 << 8;
    pub const CELL: u16 = 1 << 9;
    pub const ARTICLE: u16 = 1 << 10;
    pub const QUOTE: u16 = 1 << 11;
    pub const PRE: u16 = 1 << 12;
    pub const FIGURE: u16 = 1 << 13;
    /// Hidden by attribute or inline style (kept only by [`super::extract_all`]).
    pub const HIDDEN: u16 = 1 << 14;
    pub const COUNT: usize = 15;
}

/// Hint bits of [`BlockContext::hints`]: words that templates use in class
/// and id names.
pub mod hint {
    pub const NAV: u16 = 1;
    pub const FOOTER: u16 = 1 << 1;
    pub const SIDE: u16 = 1 << 2;
    pub const SOCIAL: u16 = 1 << 3;
    pub const PROMO: u16 = 1 << 4;
    pub const COMMENT: u16 = 1 << 5;
    pub const META: u16 = 1 << 6;
    pub const HEADER: u16 = 1 << 7;
    pub const CONTENT: u16 = 1 << 8;
    pub const HIDDEN: u16 = 1 << 9;
    pub const COUNT: usize = 10;
}

fn tag_bits(name: &str) -> u16 {
    match name {
        "nav" | "menu" => tag::NAV,
        "header" => tag::HEADER,
        "footer" => tag::FOOTER,
        "aside" => tag::ASIDE,
        "form" | "fieldset" => tag::FORM,
        "button" | "label" | "option" | "legend" => tag::CONTROL,
        "li" | "dt" | "dd" => tag::LI,
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => tag::HEADING,
        "p" => tag::P,
        "td" | "th" => tag::CELL,
        "article" | "main" => tag::ARTICLE,
        "blockquote" | "q" => tag::QUOTE,
        "pre" | "code" => tag::PRE,
        "figure" | "figcaption" | "caption" => tag::FIGURE,
        _ => 0,
    }
}

/// Hint bits of one class/id/role word.
fn word_hint(w: &str) -> u16 {
    const SUBSTRINGS: &[(&str, u16)] = &[
        ("navigation", hint::NAV),
        ("navbar", hint::NAV),
        ("menu", hint::NAV),
        ("breadcrumb", hint::NAV),
        ("pagination", hint::NAV),
        ("pager", hint::NAV),
        ("toolbar", hint::NAV),
        ("footer", hint::FOOTER),
        ("copyright", hint::FOOTER),
        ("legal", hint::FOOTER),
        ("contentinfo", hint::FOOTER),
        ("sidebar", hint::SIDE),
        ("widget", hint::SIDE),
        ("related", hint::SIDE),
        ("recommend", hint::SIDE),
        ("popular", hint::SIDE),
        ("trending", hint::SIDE),
        ("complementary", hint::SIDE),
        ("share", hint::SOCIAL),
        ("social", hint::SOCIAL),
        ("follow", hint::SOCIAL),
        ("facebook", hint::SOCIAL),
        ("twitter", hint::SOCIAL),
        ("tweet", hint::SOCIAL),
        ("promo", hint::PROMO),
        ("advert", hint::PROMO),
        ("banner", hint::PROMO),
        ("sponsor", hint::PROMO),
        ("newsletter", hint::PROMO),
        ("subscri", hint::PROMO),
        ("signup", hint::PROMO),
        ("cookie", hint::PROMO),
        ("donat", hint::PROMO),
        ("paywall", hint::PROMO),
        ("popup", hint::PROMO),
        ("modal", hint::PROMO),
        ("consent", hint::PROMO),
        ("comment", hint::COMMENT),
        ("reply", hint::COMMENT),
        ("respond", hint::COMMENT),
        ("disqus", hint::COMMENT),
        ("byline", hint::META),
        ("author", hint::META),
        ("dateline", hint::META),
        ("timestamp", hint::META),
        ("categor", hint::META),
        ("masthead", hint::HEADER),
        ("header", hint::HEADER),
        ("logo", hint::HEADER),
        ("branding", hint::HEADER),
        ("article", hint::CONTENT),
        ("content", hint::CONTENT),
        ("entry", hint::CONTENT),
        ("story", hint::CONTENT),
        ("hentry", hint::CONTENT),
        ("hidden", hint::HIDDEN),
        ("sr-only", hint::HIDDEN),
    ];
    const WORDS: &[(&str, u16)] = &[
        ("nav", hint::NAV),
        ("skip", hint::NAV),
        ("foot", hint::FOOTER),
        ("side", hint::SIDE),
        ("rail", hint::SIDE),
        ("more", hint::SIDE),
        ("ad", hint::PROMO),
        ("ads", hint::PROMO),
        ("meta", hint::META),
        ("tags", hint::META),
        ("tag", hint::META),
        ("date", hint::META),
        ("time", hint::META),
        ("head", hint::HEADER),
        ("top", hint::HEADER),
        ("post", hint::CONTENT),
        ("body", hint::CONTENT),
        ("text", hint::CONTENT),
        ("main", hint::CONTENT),
    ];
    let mut bits = 0;
    for &(s, b) in SUBSTRINGS {
        if w.contains(s) {
            bits |= b;
        }
    }
    for &(s, b) in WORDS {
        if w == s {
            bits |= b;
        }
    }
    bits
}

/// One pass over an element's class, id and role words (and the parts of
/// hyphenated ones): their [`hint`] bits, and whether a class or id word
/// names a reader-comment section ([`comment_word`]).
fn markup_words(e: &scraper::node::Element) -> (u16, bool) {
    let (mut bits, mut comment) = (0, false);
    for attr in ["class", "id", "role"] {
        let Some(v) = e.attr(attr) else { continue };
        let v = v.to_ascii_lowercase();
        for w in v.split(|c: char| !c.is_ascii_alphanumeric() && c != '-') {
            if w.is_empty() {
                continue;
            }
            // A slug made from a heading's text
            // ("measuring-engagement-and-scraping-comments") names no section.
            let slug = w.split('-').filter(|p| !p.is_empty()).count() > 3;
            let mut see = |w: &str| {
                bits |= word_hint(w);
                comment |= attr != "role" && !slug && comment_word(w);
            };
            see(w);
            if w.contains('-') {
                w.split('-').filter(|p| !p.is_empty()).for_each(&mut see);
            }
        }
    }
    (bits, comment)
}

/// A class or id word of a reader-comment section: "comments",
/// "comment-list", "commentBody", "disqus_thread", WordPress's "respond"
/// (the reply form). Not "responsive".
fn comment_word(w: &str) -> bool {
    w.contains("comment")
        || w.contains("disqus")
        || matches!(w, "respond" | "reply" | "replies" | "talkback")
}

/// The text of a heading over reader comments: "Comments", "12 Responses
/// to “…”", "3 thoughts on “…”", "Leave a Reply", in a few languages. Not
/// "Recent Comments" (a sidebar list), nor an article's own "Discussion" or
/// "Comment" (what a source offers a journalist).
fn comment_heading(text: &str) -> bool {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
        .collect();
    let starts = |phrase: &[&str]| words.len() >= phrase.len() && words[..phrase.len()] == *phrase;
    const OPENERS: &[&str] = &[
        "comments",
        "responses",
        "replies",
        "trackbacks",
        "pingbacks",
        "kommentare",
        "commentaires",
        "comentarios",
        "commenti",
        "reacties",
        "komentarze",
        "комментарии",
    ];
    const PHRASES: &[&[&str]] = &[
        &["thoughts", "on"],
        &["thought", "on"],
        &["reader", "comments"],
        &["leave", "a", "reply"],
        &["leave", "a", "comment"],
        &["post", "a", "comment"],
        &["add", "a", "comment"],
        &["trackback", "pings"],
    ];
    // A heading, not a sentence that starts with the word.
    (words.len() <= 12 && words.first().is_some_and(|w| OPENERS.contains(w)))
        || PHRASES.iter().any(|p| starts(p))
}

/// Visible characters of a block that reads as a paragraph of prose.
const LEAD_CHARS: u32 = 100;

/// Elements whose content is never visible text.
fn skipped(name: &str) -> bool {
    matches!(
        name,
        "script"
            | "style"
            | "noscript"
            | "template"
            | "head"
            | "svg"
            | "math"
            | "iframe"
            | "object"
            | "embed"
            | "canvas"
            | "select"
            | "textarea"
            | "audio"
            | "video"
            | "map"
    )
}

/// Elements that start and end a block of text.
fn block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "body"
            | "caption"
            | "center"
            | "dd"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hgroup"
            | "hr"
            | "html"
            | "legend"
            | "li"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "pre"
            | "section"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "tfoot"
            | "th"
            | "thead"
            | "tr"
            | "ul"
            | "button"
            | "label"
            | "option"
    )
}

fn hidden(e: &ElementRef<'_>) -> bool {
    let v = e.value();
    if v.attr("hidden").is_some()
        || v.attr("aria-hidden")
            .is_some_and(|a| a.eq_ignore_ascii_case("true"))
    {
        return true;
    }
    if v.name() == "input" {
        return true;
    }
    // The class names CSS frameworks hide with (Bootstrap, Bulma,
    // WordPress): a hidden preview of the story, a collapsed menu, text for
    // screen readers only ("Skip to content", "opens in a new window").
    if v.attr("class").is_some_and(|c| {
        c.split_ascii_whitespace().any(|t| {
            matches!(
                t,
                "hidden"
                    | "hide"
                    | "d-none"
                    | "is-hidden"
                    | "visually-hidden"
                    | "sr-only"
                    | "screen-reader-text"
            )
        })
    }) {
        return true;
    }
    v.attr("style").is_some_and(|s| {
        let s: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        s.contains("display:none") || s.contains("visibility:hidden")
    })
}

/// An open element the walk is inside of.
struct Frame {
    id: NodeId,
    tags: u16,
    hints: u16,
    link: bool,
    /// Its class/id/role names a reader-comment section.
    comment: bool,
    /// A comment heading among its children opened a comment section:
    /// the children after it are in it.
    comment_after: bool,
    /// Blocks flushed before it opened: the blocks from here on are its own.
    first_block: usize,
}

struct Builder {
    out: Extracted,
    block: String,
    /// `<br>`s since the last text.
    breaks: u32,
    pre: u32,
    stack: Vec<Frame>,
    chars: u32,
    link_chars: u32,
    /// Ancestors of each block, for the top-candidate search.
    ancestors: Vec<Vec<NodeId>>,
    /// Whether each block is inside a comment section.
    in_comment_section: Vec<bool>,
}

impl Builder {
    fn text(&mut self, t: &str) {
        let visible = t.chars().filter(|c| !c.is_whitespace()).count() as u32;
        self.chars += visible;
        if self.stack.iter().any(|f| f.link) {
            self.link_chars += visible;
        }
        if self.pre > 0 {
            self.block.push_str(t);
        } else {
            for (i, part) in t.split(char::is_whitespace).enumerate() {
                if i > 0 && !self.block.ends_with([' ', '\n']) && !self.block.is_empty() {
                    self.block.push(' ');
                }
                self.block.push_str(part);
            }
        }
        if !t.trim().is_empty() {
            self.breaks = 0;
        }
    }

    fn line_break(&mut self) {
        self.breaks += 1;
        if self.breaks >= 2 {
            self.flush();
        } else if !self.block.trim().is_empty() {
            let trimmed = self.block.trim_end().len();
            self.block.truncate(trimmed);
            self.block.push('\n');
        }
    }

    fn flush(&mut self) {
        let t = self.block.trim();
        if !t.is_empty() {
            if !self.out.text.is_empty() {
                self.out.text.push_str("\n\n");
            }
            let start = self.out.text.len() as u32;
            // A block never contains the block separator.
            let mut last_newline = false;
            for c in t.chars() {
                if c == '\n' {
                    if last_newline {
                        continue;
                    }
                    last_newline = true;
                } else {
                    last_newline = false;
                }
                self.out.text.push(c);
            }
            self.out.blocks.push((start, self.out.text.len() as u32));
            // Skip <html> and <body>: their class names describe the whole page.
            let (tags, hints) = self
                .stack
                .iter()
                .skip(2)
                .fold((0, 0), |(t, h), f| (t | f.tags, h | f.hints));
            self.out.context.push(BlockContext {
                tags,
                hints,
                chars: self.chars,
                link_chars: self.link_chars.min(self.chars),
                in_top: false,
                comment: false,
            });
            self.ancestors
                .push(self.stack.iter().map(|f| f.id).collect());
            self.in_comment_section.push(
                self.stack.iter().skip(2).any(|f| f.comment)
                    || self.stack.iter().any(|f| f.comment_after),
            );
        }
        self.block.clear();
        self.breaks = 0;
        self.chars = 0;
        self.link_chars = 0;
    }

    /// Marks the blocks inside the element with the most prose, scored as
    /// Mozilla Readability does: each paragraph-sized block gives its parent
    /// a point, one per comma and one per 100 characters (at most 3), and
    /// half of that to its grandparent; link-heavy candidates lose their
    /// share of link text.
    fn mark_top_candidate(&mut self) {
        let mut score: HashMap<NodeId, (f32, u32, u32)> = HashMap::default();
        for (ctx, (anc, &(s, e))) in self
            .out
            .context
            .iter()
            .zip(self.ancestors.iter().zip(&self.out.blocks))
        {
            for id in anc {
                let entry = score.entry(*id).or_default();
                entry.1 += ctx.chars;
                entry.2 += ctx.link_chars;
            }
            if ctx.chars < 25 {
                continue;
            }
            let text = &self.out.text[s as usize..e as usize];
            let points = 1.0
                + text.matches([',', '，', '、']).count() as f32
                + (ctx.chars as f32 / 100.0).min(3.0);
            let n = anc.len();
            if n >= 2 {
                score.entry(anc[n - 2]).or_default().0 += points;
            }
            if n >= 3 {
                score.entry(anc[n - 3]).or_default().0 += points / 2.0;
            }
        }
        let top = score
            .iter()
            .filter(|(_, v)| v.0 > 0.0)
            .map(|(id, &(points, chars, links))| {
                let density = if chars == 0 {
                    0.0
                } else {
                    links as f32 / chars as f32
                };
                (*id, points * (1.0 - density))
            })
            // Ties go to the earliest element, whatever the map's order.
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)));
        if let Some((top, _)) = top {
            for (ctx, anc) in self.out.context.iter_mut().zip(&self.ancestors) {
                ctx.in_top = anc.contains(&top);
            }
        }
    }

    /// Called as an element closes. A heading that names a comment section
    /// ("12 Comments", "Leave a Reply") opens one: older blog templates put
    /// the comments after it as its siblings, with no element of their own
    /// around them. Its id is not asked: templates make heading ids from
    /// their text ("measuring-engagement-and-scraping-comments").
    fn closed(&mut self, f: Frame) {
        let Some(parent) = self.stack.last_mut() else {
            return;
        };
        if f.tags & tag::HEADING == 0 {
            return;
        }
        let own = f.first_block..self.out.blocks.len();
        let (chars, link_chars) = self.out.context[own.clone()]
            .iter()
            .fold((0, 0), |(c, l), x| (c + x.chars, l + x.link_chars));
        // A link to the comments ("12 Comments" under a headline) is not
        // their heading.
        if link_chars * 2 > chars {
            return;
        }
        let text = if own.is_empty() {
            ""
        } else {
            let (s, _) = self.out.blocks[own.start];
            let (_, e) = self.out.blocks[own.end - 1];
            &self.out.text[s as usize..e as usize]
        };
        if comment_heading(text) {
            parent.comment_after = true;
            for inside in &mut self.in_comment_section[own] {
                *inside = true;
            }
        }
    }

    /// A block in a comment section is a reader comment, unless the page's
    /// lead (its first paragraph of prose) is in one too: then the section
    /// wraps the article itself (templates name pages "comments-open"), or
    /// the thread is the page (a forum), and nothing is marked.
    fn mark_comments(&mut self) {
        let lead = self
            .out
            .context
            .iter()
            .position(|c| c.chars >= LEAD_CHARS && c.link_chars * 2 < c.chars);
        let Some(lead) = lead else {
            // No prose at all: nothing to tell a thread from.
            return;
        };
        if self.in_comment_section[lead] {
            return;
        }
        for (ctx, &inside) in self.out.context.iter_mut().zip(&self.in_comment_section) {
            ctx.comment = inside;
        }
    }
}

/// The visible text of a page, with a wrong charset guess undone
/// ([`crate::mojibake`]): the text chaff returns for html input is its own.
pub fn extract(html: &str) -> Extracted {
    with_noscript_fallback(&crate::mojibake::repair(html), false)
}

/// All text a page carries, hidden blocks included (tagged
/// [`tag::HIDDEN`]): the markup context for text that another extractor
/// took from the page, which may have kept them.
pub fn extract_all(html: &str) -> Extracted {
    with_noscript_fallback(html, true)
}

/// Below this many visible characters a page that has `<noscript>` is read
/// as a browser without scripts shows it.
const SCRIPT_SHELL_CHARS: usize = 200;

/// Pages that scripts build (forum software such as Discourse, single-page
/// apps) show a bare shell with scripts on and put their content in
/// `<noscript>` for crawlers: for such a page the text without scripts is
/// the page, when it has content (not just "enable JavaScript"). Only a
/// near-empty page pays for the second parse.
fn with_noscript_fallback(html: &str, keep_hidden: bool) -> Extracted {
    let scripted = walk(&Html::parse_document(html), keep_hidden, false);
    let visible = |e: &Extracted| e.text.chars().filter(|c| !c.is_whitespace()).count();
    let shown = visible(&scripted);
    if shown >= SCRIPT_SHELL_CHARS || !contains_ignore_case(html, "<noscript") {
        return scripted;
    }
    let unscripted = walk(&parse_without_scripts(html), keep_hidden, true);
    if visible(&unscripted) >= SCRIPT_SHELL_CHARS {
        unscripted
    } else {
        scripted
    }
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The document as a browser without scripts parses it: `<noscript>`
/// content is markup, not text.
fn parse_without_scripts(html: &str) -> Html {
    use html5ever::tendril::TendrilSink;
    let opts = html5ever::ParseOpts {
        tree_builder: html5ever::tree_builder::TreeBuilderOpts {
            scripting_enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    html5ever::driver::parse_document(scraper::HtmlTreeSink::new(Html::new_document()), opts)
        .one(html)
}

/// `noscript`: whether `<noscript>` content is shown (the document was
/// parsed without scripts).
fn walk(doc: &Html, keep_hidden: bool, noscript: bool) -> Extracted {
    let mut b = Builder {
        out: Extracted::default(),
        block: String::new(),
        breaks: 0,
        pre: 0,
        stack: Vec::new(),
        chars: 0,
        link_chars: 0,
        ancestors: Vec::new(),
        in_comment_section: Vec::new(),
    };
    let mut skip_depth = 0u32;
    for edge in doc.tree.root().traverse() {
        match edge {
            ego_tree::iter::Edge::Open(node) => match node.value() {
                Node::Element(e) => {
                    if skip_depth > 0 {
                        skip_depth += 1;
                        continue;
                    }
                    let name = e.name();
                    let er = ElementRef::wrap(node).expect("element node");
                    let is_hidden = hidden(&er);
                    let shown_noscript = noscript && name == "noscript";
                    if (skipped(name) && !shown_noscript) || (is_hidden && !keep_hidden) {
                        skip_depth = 1;
                        continue;
                    }
                    if name == "br" {
                        b.line_break();
                    } else if block(name) {
                        b.flush();
                    }
                    if name == "pre" {
                        b.pre += 1;
                    }
                    if name != "br" {
                        let (hints, comment) = markup_words(e);
                        b.stack.push(Frame {
                            id: node.id(),
                            tags: tag_bits(name) | if is_hidden { tag::HIDDEN } else { 0 },
                            hints,
                            link: name == "a",
                            comment,
                            comment_after: false,
                            first_block: b.out.blocks.len(),
                        });
                    }
                }
                Node::Text(t) if skip_depth == 0 => b.text(t),
                _ => {}
            },
            ego_tree::iter::Edge::Close(node) => {
                if let Node::Element(e) = node.value() {
                    if skip_depth > 0 {
                        skip_depth -= 1;
                        continue;
                    }
                    let name = e.name();
                    if block(name) {
                        b.flush();
                    }
                    if name == "pre" {
                        b.pre = b.pre.saturating_sub(1);
                    }
                    if name != "br" {
                        if let Some(f) = b.stack.pop() {
                            b.closed(f);
                        }
                    }
                }
            }
        }
    }
    b.flush();
    b.mark_top_candidate();
    b.mark_comments();
    b.out.title = title(doc);
    b.out
}

/// The text of the page's first `<title>` element, whitespace collapsed.
fn title(doc: &Html) -> String {
    doc.tree
        .root()
        .descendants()
        .filter_map(ElementRef::wrap)
        .find(|e| e.value().name() == "title")
        .map(|e| {
            e.text()
                .flat_map(str::split_whitespace)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn blocks(html: &str) -> Vec<String> {
        let e = extract(html);
        e.blocks
            .iter()
            .map(|&(s, t)| e.text[s as usize..t as usize].to_string())
            .collect()
    }

    #[test]
    fn blocks_headings_lists_and_cells() {
        let html = r#"<html><head><title>T</title><style>p{}</style></head><body>
            <h1>Head &amp; line</h1><p>First  <b>bold</b>
            para.</p><ul><li>one</li><li>two <a href="/x">link</a></li></ul>
            <table><tr><td>c1</td><td>c2</td></tr></table>
            <div>direct <span>text</span><div>inner</div>tail</div></body></html>"#;
        assert_eq!(
            blocks(html),
            vec![
                "Head & line",
                "First bold para.",
                "one",
                "two link",
                "c1",
                "c2",
                "direct text",
                "inner",
                "tail"
            ]
        );
    }

    #[test]
    fn keeps_the_title_apart_from_the_blocks() {
        let e = extract(
            "<html><head><title> The  council votes\n| Example </title></head><body><p>x</p></body></html>",
        );
        assert_eq!(e.title, "The council votes | Example");
        assert_eq!(blocks("<head><title>T</title></head><p>x</p>"), vec!["x"]);
        assert_eq!(extract("<p>no title</p>").title, "");
    }

    #[test]
    fn drops_scripts_templates_and_hidden_content() {
        let html = format!(
            r#"<body><script>var x = "<p>no</p>";</script><noscript>enable js</noscript>
            <p hidden>h1</p><p aria-hidden="true">h2</p><p style="display: none">h3</p>
            <div style="visibility:hidden">h4</div><template><p>t</p></template>
            <div class="preview hidden"><p>h5</p></div><span class="sr-only">h6</span><p class="d-none">h7</p>
            <p class="hiddenish">seen</p>{ARTICLE}</body>"#
        );
        assert_eq!(blocks(&html)[0], "seen");
        assert!(blocks(&html).iter().all(|b| !b.contains("enable js")));
        // A bare shell whose <noscript> only asks for scripts: no text.
        assert!(blocks("<body><div id=app></div><noscript>You need to enable JavaScript to run this app.</noscript></body>").is_empty());
    }

    #[test]
    fn a_tie_for_the_top_candidate_goes_to_the_earliest_element() {
        // Two equal columns: the same answer on every run (the scores sit
        // in a hash map).
        let html = format!(
            "<body><main><div><div>{ARTICLE}</div></div><div><div>{ARTICLE}</div></div></main></body>"
        );
        for _ in 0..20 {
            let e = extract(&html);
            let top: Vec<bool> = e.context.iter().map(|c| c.in_top).collect();
            assert_eq!(top, [true, true, false, false]);
        }
    }

    #[test]
    fn a_page_that_scripts_build_is_read_as_without_scripts() {
        // Discourse serves crawlers the topic inside <noscript>.
        let html = format!(
            r#"<html><head><title>T</title></head><body><section id="d-splash"><div class="dots"></div></section>
            <noscript data-path="/t/1"><div id="main-outlet"><h1>Which telescope first?</h1>
            <div class="post">{ARTICLE}</div></div></noscript></body></html>"#
        );
        let got = blocks(&html);
        assert_eq!(got[0], "Which telescope first?");
        assert!(got[1].starts_with("The council voted"), "{got:?}");
    }

    #[test]
    fn double_br_splits_and_single_br_breaks_a_line() {
        assert_eq!(
            blocks("<div>a<br>b<br><br>c<br/><br/>d</div>"),
            vec!["a\nb", "c", "d"]
        );
    }

    #[test]
    fn pre_keeps_its_lines_but_not_blank_ones() {
        assert_eq!(
            blocks("<pre>x = 1\n  y = 2\n\n\nz</pre>"),
            vec!["x = 1\n  y = 2\nz"]
        );
    }

    #[test]
    fn broken_markup_is_repaired() {
        assert_eq!(
            blocks("<p>one<p>two<div>three</p>"),
            vec!["one", "two", "three"]
        );
        assert!(blocks("").is_empty());
        assert!(blocks("<<<>>>").len() <= 1);
    }

    fn comments(html: &str) -> Vec<(String, bool)> {
        let e = extract(html);
        e.blocks
            .iter()
            .zip(&e.context)
            .map(|(&(s, t), c)| (e.text[s as usize..t as usize].to_string(), c.comment))
            .collect()
    }

    const ARTICLE: &str = "<p>The council voted, on Tuesday, to close the old library, which had \
        served the town for a century, and to sell its building.</p><p>Residents, who had \
        campaigned for years, said they would appeal, and the mayor, asked about it, declined \
        to comment.</p>";

    #[test]
    fn a_comment_thread_is_marked_and_the_article_is_not() {
        let html = format!(
            r#"<body><div id="page"><article class="post">{ARTICLE}</article>
            <div id="comments" class="comments-area"><h3>2 Responses</h3>
            <ol class="commentlist"><li class="even"><p>Great piece, thanks.</p></li></ol>
            <div id="respond"><p>Leave a reply</p></div></div>
            <div class="responsive-footer">© Example</div></div></body>"#
        );
        let got = comments(&html);
        let marked: Vec<&str> = got
            .iter()
            .filter(|(_, c)| *c)
            .map(|(t, _)| t.as_str())
            .collect();
        assert_eq!(
            marked,
            ["2 Responses", "Great piece, thanks.", "Leave a reply"]
        );
        // "responsive" is not "respond".
        assert!(got.iter().any(|(t, c)| t == "© Example" && !c));
    }

    fn marked(html: &str) -> Vec<String> {
        comments(html)
            .into_iter()
            .filter(|(_, c)| *c)
            .map(|(t, _)| t)
            .collect()
    }

    #[test]
    fn a_comments_heading_opens_a_section_of_its_siblings() {
        // MovableType and TypePad: the comments follow their heading as
        // siblings, with no element of their own around them.
        let html = format!(
            r#"<body><div id="center"><div class="content"><h3>Budget cuts</h3>{ARTICLE}
            <p class="posted">Posted by Ann at 5:10 PM</p>
            <h2><a id="comments"></a>Comments</h2>
            <p>Great piece, thanks.</p><p class="posted">Posted by: Bob at 5:23 PM</p>
            </div><div id="side"><p>Archives</p></div></div></body>"#
        );
        assert_eq!(
            marked(&html),
            [
                "Comments",
                "Great piece, thanks.",
                "Posted by: Bob at 5:23 PM"
            ]
        );
        let html = format!(
            r#"<body><main>{ARTICLE}<h3>12 Responses to “Budget cuts”</h3><p>Agreed.</p>
            </main></body>"#
        );
        assert_eq!(marked(&html), ["12 Responses to “Budget cuts”", "Agreed."]);
    }

    #[test]
    fn headings_that_only_mention_comments_open_nothing() {
        for heading in [
            // An article's own section about what a source offers.
            "<h3>Comment</h3>",
            // A slug id made from the heading's text.
            r#"<h3 id="measuring-engagement-and-scraping-comments">Measuring engagement</h3>"#,
            // A sidebar list.
            "<h3>Recent Comments</h3>",
            // A link to the thread under the headline.
            r##"<h3><a href="#comments">12 Comments</a></h3>"##,
        ] {
            let html = format!(
                "<body><main>{ARTICLE}{heading}<p>Journalists need analysis.</p></main></body>"
            );
            assert!(marked(&html).is_empty(), "{heading}: {:?}", marked(&html));
        }
    }

    #[test]
    fn a_comment_named_wrapper_around_the_article_marks_nothing() {
        // Templates name the page "comments-open" around the article itself.
        let html = format!(
            r#"<body><div class="main"><div class="post comments-open">{ARTICLE}</div>
            <p>More stories</p></div></body>"#
        );
        assert!(
            comments(&html).iter().all(|(_, c)| !c),
            "{:?}",
            comments(&html)
        );
    }

    proptest! {
        #[test]
        fn blocks_tile_the_text(html in "(<p>|</p>|<br>|<div>|</div>|<pre>|</pre>|<script>|</script>|[a-z ]{1,8}|\n|&amp;){0,40}") {
            let e = extract(&html);
            let mut rebuilt = String::new();
            for (i, &(s, t)) in e.blocks.iter().enumerate() {
                if i > 0 { rebuilt.push_str("\n\n"); }
                let b = &e.text[s as usize..t as usize];
                prop_assert!(!b.trim().is_empty());
                prop_assert!(!b.contains("\n\n"));
                rebuilt.push_str(b);
            }
            prop_assert_eq!(rebuilt, e.text);
        }
    }
}
