//! Undoing the commonest mojibake: a UTF-8 page that a crawler decoded as
//! Latin-1 or Windows-1252, so that "don’t" arrives as "donâ€™t".
//!
//! Scraped pages reach chaff as strings, decoded by whatever fetched them;
//! a wrong charset guess turns every curly quote and accented letter into
//! two or three junk characters, which split words and defeat matching
//! against correctly decoded copies of the same text. The repair is the
//! reverse of the mistake, taken only when it is unambiguous: every
//! character maps back to one byte and those bytes are valid UTF-8 with at
//! least one multi-byte sequence. Correct text almost never passes: a
//! Latin-1 letter followed by ASCII (the "é " of "café ") is not valid
//! UTF-8, and any character beyond Windows-1252 stops the attempt.

use std::borrow::Cow;

/// `s` with the mojibake undone, or `s` itself when it is not (or not
/// unambiguously) mojibake.
pub fn repair(s: &str) -> Cow<'_, str> {
    // Pure ASCII (the usual case) has nothing to undo.
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    // Each run of non-ASCII characters must map back to whole UTF-8
    // characters: a correct page fails at its first one ("é" of "café " is
    // the lone byte E9), before the rest of it is copied.
    let mut bytes = Vec::new();
    let mut run = None;
    for c in s.chars() {
        if c.is_ascii() {
            if let Some(start) = run.take() {
                if std::str::from_utf8(&bytes[start..]).is_err() {
                    return Cow::Borrowed(s);
                }
            }
        } else {
            run.get_or_insert(bytes.len());
        }
        match byte_of(c) {
            Some(b) => bytes.push(b),
            None => return Cow::Borrowed(s),
        }
    }
    match String::from_utf8(bytes) {
        Ok(fixed) if !fixed.is_ascii() => Cow::Owned(fixed),
        _ => Cow::Borrowed(s),
    }
}

/// The byte a Latin-1 or Windows-1252 decoder turned into `c`.
fn byte_of(c: char) -> Option<u8> {
    if let Ok(b) = u8::try_from(u32::from(c)) {
        // Latin-1 maps every byte to the code point of its value (and
        // Windows-1252 decoders map its five undefined bytes so as well).
        return Some(b);
    }
    // Windows-1252's 0x80-0x9F: the characters it puts where Latin-1 has
    // control codes.
    let b = match c {
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => return None,
    };
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::repair;
    use proptest::prelude::*;

    /// What a crawler that guessed the charset wrong hands over.
    fn garble(s: &str, windows_1252: bool) -> String {
        const WINDOWS: &str = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ";
        s.bytes()
            .map(|b| {
                let latin = char::from(b);
                if windows_1252 {
                    WINDOWS
                        .chars()
                        .find(|&c| super::byte_of(c) == Some(b))
                        .unwrap_or(latin)
                } else {
                    latin
                }
            })
            .collect()
    }

    #[test]
    fn text_decoded_as_latin_1_or_windows_1252_is_restored() {
        let right =
            "Pet insurance doesn’t have to be a wallet-buster — café prices, “really”. 住所";
        for windows in [false, true] {
            let wrong = garble(right, windows);
            assert_ne!(wrong, right);
            assert_eq!(repair(&wrong), right, "windows-1252: {windows}");
        }
    }

    #[test]
    fn correct_text_is_left_alone() {
        for s in [
            "plain ascii",
            "café au lait, naïve, Æsir",
            "don’t — “quoted” – ok",
            "£5 or €6",
            "Ã alone at the end Ã",
            "中文 and Ã©",
            "",
        ] {
            assert_eq!(repair(s), s, "{s}");
        }
    }

    proptest! {
        /// Any text, garbled either way, comes back whole.
        #[test]
        fn garbled_text_round_trips(s in "\\PC{0,40}", windows in any::<bool>()) {
            let wrong = garble(&s, windows);
            prop_assert_eq!(repair(&wrong), s);
        }

        /// A repair never invents text: its bytes are exactly the bytes the
        /// input's characters stand for.
        #[test]
        fn a_repair_is_an_exact_undo(s in "[a-zé’Ã©â€™\\u{80}-\\u{ff} ]{0,30}") {
            let fixed = repair(&s);
            if fixed != s {
                let bytes: Option<Vec<u8>> = s.chars().map(super::byte_of).collect();
                prop_assert_eq!(bytes.as_deref(), Some(fixed.as_bytes()));
            }
        }
    }
}
