//! HTML -> visible text in block-level units, the segments of an HTML
//! document.
//!
//! Parsed with html5ever (through `scraper`), so broken markup is repaired
//! the way browsers repair it and entities are decoded. Script, style,
//! noscript, template, head and hidden content are dropped. Each block-level
//! element (paragraph, heading, list item, table cell, div with direct text,
//! ...) and each run of text ended by `<br><br>` becomes one block; blocks
//! are joined with "\n\n" into the document text the offsets refer to.

use scraper::{ElementRef, Html, Node};

/// Visible text and the byte spans of its blocks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Extracted {
    pub text: String,
    pub blocks: Vec<(u32, u32)>,
}

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
    v.attr("style").is_some_and(|s| {
        let s: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        s.contains("display:none") || s.contains("visibility:hidden")
    })
}

struct Builder {
    out: Extracted,
    block: String,
    /// `<br>`s since the last text.
    breaks: u32,
    pre: u32,
}

impl Builder {
    fn text(&mut self, t: &str) {
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
        }
        self.block.clear();
        self.breaks = 0;
    }
}

pub fn extract(html: &str) -> Extracted {
    let doc = Html::parse_document(html);
    let mut b = Builder {
        out: Extracted::default(),
        block: String::new(),
        breaks: 0,
        pre: 0,
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
                    if skipped(name) || hidden(&er) {
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
                }
            }
        }
    }
    b.flush();
    b.out
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
    fn drops_scripts_templates_and_hidden_content() {
        let html = r#"<body><script>var x = "<p>no</p>";</script><noscript>enable js</noscript>
            <p hidden>h1</p><p aria-hidden="true">h2</p><p style="display: none">h3</p>
            <div style="visibility:hidden">h4</div><template><p>t</p></template><p>seen</p></body>"#;
        assert_eq!(blocks(html), vec!["seen"]);
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
