//! Segment text -> normalised tokens.
//!
//! NFKC, lower case, punctuation and whitespace folded to single spaces.
//! A number (digits with inner separators, "1,234.5") becomes the single
//! token `0`: dates and counters change inside boilerplate ("Dear readers,
//! on 3 May ...") and must not break the match. Letters of scripts written
//! without spaces (Chinese, Japanese, Thai, ...) are one token each, so that
//! shingles over tokens become character shingles there.

use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Normalised text and its token boundaries, reused across segments.
#[derive(Debug, Default, Clone)]
pub struct Normalized {
    /// Tokens joined by single spaces.
    pub text: String,
    /// Byte ranges of the tokens in `text`.
    pub tokens: Vec<(u32, u32)>,
}

impl Normalized {
    pub fn token(&self, i: usize) -> &str {
        let (s, e) = self.tokens[i];
        &self.text[s as usize..e as usize]
    }
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }
}

/// Normalises `input` into `out` (cleared first).
pub fn normalize(input: &str, out: &mut Normalized) {
    out.text.clear();
    out.tokens.clear();
    if is_ascii(input.as_bytes()) || is_nfkc_quick(input.chars()) == IsNormalized::Yes {
        tokenize(input, out);
    } else {
        let nfkc: String = input.nfkc().collect();
        tokenize(&nfkc, out);
    }
}

/// `str::is_ascii`, as one reduction without an early exit: the compiler
/// turns it into vector ORs, where the standard one went byte by byte here
/// (about four instructions a byte, a fifth of normalising).
fn is_ascii(bytes: &[u8]) -> bool {
    bytes.iter().fold(0, |acc, &b| acc | b) < 0x80
}

/// Writes the tokens of NFKC text. One pass by byte, as most text is
/// ASCII (and even non-English text is mostly ASCII spaces, digits and
/// punctuation): runs of ASCII letters are copied and runs of digits
/// skipped at once, and only a non-ASCII character goes through the
/// Unicode tables. Gives exactly what the character-by-character
/// reference (`tests::feed`) gives.
fn tokenize(text: &str, out: &mut Normalized) {
    let bytes = text.as_bytes();
    let n = bytes.len();
    out.text.reserve(n + 1);
    let mut w = Writer {
        out,
        start: None,
        in_number: false,
    };
    let mut i = 0;
    while i < n {
        let b = bytes[i];
        if b.is_ascii_alphabetic() {
            w.begin();
            w.in_number = false;
            i = copy_letters(bytes, i, &mut w.out.text);
            continue;
        }
        if b.is_ascii_digit() {
            w.digit();
            while i < n && bytes[i].is_ascii_digit() {
                i += 1;
            }
            continue;
        }
        // The character at `i` (of `len` bytes) and the one after it.
        let (c, len) = if b.is_ascii() {
            (char::from(b), 1)
        } else {
            let c = text[i..]
                .chars()
                .next()
                .expect("a character at a char boundary");
            (c, c.len_utf8())
        };
        let next = || text[i + len..].chars().next();
        if c.is_ascii() {
            if w.in_number
                && matches!(c, '.' | ',' | ':' | '/')
                && next().is_some_and(|n| n.is_ascii_digit())
            {
                // Inner separator of a number: 1,234.5 and 12:30 stay one token.
            } else if c == '\'' && w.start.is_some() && next().is_some_and(joins_word) {
                // Apostrophe inside a word: "don't" -> "dont".
            } else {
                w.end_token();
            }
        } else {
            w.non_ascii(c, next());
        }
        i += len;
    }
    w.end_token();
}

/// Eight copies of a byte.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The high bit of every byte of `word` that is an ASCII letter.
#[inline]
fn letter_bytes(word: u64) -> u64 {
    // Folded to lower case and cut to 7 bits, a byte plus 0x1f reaches the
    // high bit from 'a' on and plus 0x05 beyond 'z'; neither carries into
    // the next byte. Bytes beyond ASCII are no letters.
    let y = (word | splat(0x20)) & splat(0x7f);
    let from_a = y + splat(0x80 - b'a');
    let beyond_z = y + splat(0x80 - b'z' - 1);
    from_a & !beyond_z & !word & splat(0x80)
}

/// Appends the run of ASCII letters at `bytes[i..]` to `text` in lower
/// case, eight bytes at a time; returns where the run ends. Words are
/// short, so the run is found and copied in the same register instead of
/// being scanned first and copied by a call.
#[inline]
fn copy_letters(bytes: &[u8], mut i: usize, text: &mut String) -> usize {
    let n = bytes.len();
    // SAFETY: only ASCII letters are counted into the length, so the text
    // stays UTF-8; the bytes stored past the length stay in spare capacity.
    let text = unsafe { text.as_mut_vec() };
    // Room for the rest of the input and one word more: each store below
    // writes eight bytes at the length, which is at most `n - i - 8` past
    // where it started while eight input bytes are left.
    text.reserve(n - i + 8);
    let mut len = text.len();
    let dst = text.as_mut_ptr();
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let lower = word | splat(0x20);
        // SAFETY: `len + 8` is within the capacity reserved above.
        unsafe {
            dst.add(len)
                .cast::<[u8; 8]>()
                .write_unaligned(lower.to_le_bytes())
        };
        // Letters before the first byte that is not one.
        let run = ((!letter_bytes(word) & splat(0x80)).trailing_zeros() / 8) as usize;
        len += run;
        i += run;
        if run < 8 {
            // SAFETY: the bytes up to `len` were written above.
            unsafe { text.set_len(len) };
            return i;
        }
    }
    while i < n && bytes[i].is_ascii_alphabetic() {
        // SAFETY: at most `n - i` bytes are written past the length, and
        // more were reserved.
        unsafe { dst.add(len).write(bytes[i] | 0x20) };
        len += 1;
        i += 1;
    }
    // SAFETY: the bytes up to `len` were written above.
    unsafe { text.set_len(len) };
    i
}

struct Writer<'a> {
    out: &'a mut Normalized,
    start: Option<usize>,
    in_number: bool,
}

impl Writer<'_> {
    #[inline]
    fn begin(&mut self) {
        if self.start.is_none() {
            if !self.out.text.is_empty() {
                self.out.text.push(' ');
            }
            self.start = Some(self.out.text.len());
        }
    }
    #[inline]
    fn letter(&mut self, c: char) {
        self.begin();
        self.in_number = false;
        self.out.text.push(c);
    }
    #[inline]
    fn digit(&mut self) {
        self.begin();
        if !self.in_number {
            self.out.text.push('0');
            self.in_number = true;
        }
    }
    /// A character beyond ASCII, `next` the one after it.
    fn non_ascii(&mut self, c: char, next: Option<char>) {
        if c.is_numeric() {
            self.digit();
        } else if c.is_alphabetic() || is_mark(c) {
            if is_unspaced_script(c) {
                self.end_token();
                self.letter(c);
                self.end_token();
            } else {
                for l in c.to_lowercase() {
                    self.letter(l);
                }
            }
        } else if !(c == '\u{2019}' && self.start.is_some() && next.is_some_and(joins_word)) {
            // (A typographic apostrophe inside a word is dropped.)
            self.end_token();
        }
    }
    #[inline]
    fn end_token(&mut self) {
        if let Some(s) = self.start.take() {
            self.out.tokens.push((s as u32, self.out.text.len() as u32));
        }
        self.in_number = false;
    }
}

/// Whether an apostrophe before `c` is inside a word and dropped. Not
/// before a combining character: dropping the apostrophe would bring two
/// marks together out of canonical order, and normalising the result again
/// would reorder them (normalisation must be idempotent).
fn joins_word(c: char) -> bool {
    c.is_alphabetic() && canonical_combining_class(c) == 0
}

/// Combining marks (Thai vowels, Devanagari signs, accents left after NFKC).
fn is_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F
        | 0x0670 | 0x06D6..=0x06ED | 0x0900..=0x0903 | 0x093A..=0x094F | 0x0951..=0x0957
        | 0x0962..=0x0963 | 0x0981..=0x0983 | 0x09BC..=0x09D7 | 0x0E31 | 0x0E34..=0x0E3A
        | 0x0E47..=0x0E4E | 0x0EB1 | 0x0EB4..=0x0EBC | 0x0EC8..=0x0ECD | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0x3099..=0x309A | 0xFE20..=0xFE2F)
}

/// Scripts written without spaces between words.
pub fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF          // Thai, Lao
        | 0x1000..=0x109F        // Myanmar
        | 0x1780..=0x17FF        // Khmer
        | 0x3040..=0x30FF        // Hiragana, Katakana
        | 0x31F0..=0x31FF        // Katakana extensions
        | 0x3400..=0x4DBF        // CJK extension A
        | 0x4E00..=0x9FFF        // CJK unified ideographs
        | 0xF900..=0xFAFF        // CJK compatibility ideographs
        | 0x20000..=0x3134F) // CJK extensions B..G
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(s: &str) -> (String, Vec<String>) {
        let mut n = Normalized::default();
        normalize(s, &mut n);
        let toks = (0..n.token_count())
            .map(|i| n.token(i).to_string())
            .collect();
        (n.text, toks)
    }

    #[test]
    fn folds_case_punctuation_and_space() {
        assert_eq!(
            norm("  Hello,   WORLD!! It's  fine.").0,
            "hello world its fine"
        );
    }

    #[test]
    fn masks_numbers_as_one_token() {
        assert_eq!(
            norm("On 3 May 2024, 1,234.5 readers at 12:30").0,
            "on 0 may 0 0 readers at 0"
        );
        assert_eq!(
            norm("On 14 June 2025, 987 readers at 9:05").0,
            "on 0 june 0 0 readers at 0"
        );
    }

    #[test]
    fn nfkc_and_full_width() {
        assert_eq!(norm("ＡＢＣ　ｄｅｆ ﬁne").0, "abc def fine");
        assert_eq!(norm("Ça C'EST l’été").0, "ça cest lété");
    }

    #[test]
    fn unspaced_scripts_become_character_tokens() {
        assert_eq!(norm("東京は晴れ").1, vec!["東", "京", "は", "晴", "れ"]);
        let (_, thai) = norm("สวัสดีครับ");
        assert!(thai.len() >= 8, "{thai:?}");
        assert_eq!(norm("שלום עולם").1, vec!["שלום", "עולם"]);
        assert_eq!(norm("مرحبا بالعالم").1.len(), 2);
    }

    /// The tokenizer as first written, character by character (its
    /// non-ASCII branch shared with the byte loop): the reference the byte
    /// loop's ASCII paths are checked against.
    fn feed(chars: impl Iterator<Item = char>, w: &mut Writer<'_>) {
        let mut chars = chars.peekable();
        while let Some(c) = chars.next() {
            if c.is_ascii() {
                if c.is_ascii_digit() {
                    w.digit();
                } else if c.is_ascii_alphabetic() {
                    w.letter(c.to_ascii_lowercase());
                } else {
                    let separator = w.in_number
                        && matches!(c, '.' | ',' | ':' | '/')
                        && chars.peek().is_some_and(|n| n.is_ascii_digit());
                    let apostrophe = c == '\''
                        && w.start.is_some()
                        && chars.peek().is_some_and(|&n| joins_word(n));
                    if !separator && !apostrophe {
                        w.end_token();
                    }
                }
            } else {
                let next = chars.peek().copied();
                w.non_ascii(c, next);
            }
        }
    }

    fn by_reference(s: &str) -> Normalized {
        let mut out = Normalized::default();
        let mut w = Writer {
            out: &mut out,
            start: None,
            in_number: false,
        };
        feed(s.chars(), &mut w);
        w.end_token();
        out
    }

    #[test]
    fn letter_bytes_are_the_ascii_letters_at_every_position() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                // The byte among neighbours of every kind: letters, their
                // edges ('@', '[', '`', '{'), digits and bytes beyond ASCII.
                for fill in [b'a', b'Z', b'@', b'[', b'`', b'{', b'0', 0xc3, 0xff] {
                    let mut chunk = [fill; 8];
                    chunk[pos] = b;
                    let mask = letter_bytes(u64::from_le_bytes(chunk));
                    for (k, &c) in chunk.iter().enumerate() {
                        let bit = mask >> (8 * k) & 0xff;
                        assert_eq!(bit == 0x80, c.is_ascii_alphabetic(), "{chunk:?} at {k}");
                        assert!(bit == 0 || bit == 0x80);
                    }
                }
            }
        }
    }

    /// The byte loop's tokens of `s` are the reference tokenizer's.
    fn matches_reference(s: &str) -> Result<(), TestCaseError> {
        let mut a = Normalized::default();
        tokenize(s, &mut a);
        let b = by_reference(s);
        prop_assert_eq!(a.text, b.text);
        prop_assert_eq!(a.tokens, b.tokens);
        Ok(())
    }

    proptest! {
        /// Letter runs of every length across the eight-byte steps, ended
        /// by every kind of byte the loop tells apart.
        #[test]
        fn letter_runs_are_copied_whole(
            s in "[a-zA-Z]{0,20}([ .,'0é\u{2019}\u{301}東@\\[`{][a-zA-Z]{0,20}){0,8}"
        ) {
            matches_reference(&s)?;
        }

        #[test]
        fn tokens_tile_the_text(s in "\\PC{0,120}") {
            let mut n = Normalized::default();
            normalize(&s, &mut n);
            let joined: Vec<&str> = (0..n.token_count()).map(|i| n.token(i)).collect();
            prop_assert_eq!(joined.join(" "), n.text.clone());
            prop_assert!(joined.iter().all(|t| !t.is_empty() && !t.contains(' ')));
        }

        /// The byte loop gives what the character-by-character reference
        /// gives, on any text, on ASCII, and on text dense in what its
        /// rules look at (numbers, apostrophes, marks, unspaced scripts).
        #[test]
        fn the_byte_loop_is_the_reference(
            s in "\\PC{0,120}|[\\x00-\\x7f]{0,120}|[aZ09 .,:/'!\u{2019}\u{e9}\u{301}\u{660}\u{6771}\u{e01}\u{3a3}-]{0,60}"
        ) {
            matches_reference(&s)?;
        }

        #[test]
        fn idempotent(s in "\\PC{0,120}") {
            let mut a = Normalized::default();
            normalize(&s, &mut a);
            let mut b = Normalized::default();
            normalize(&a.text.clone(), &mut b);
            prop_assert_eq!(a.text, b.text);
        }
    }
}
