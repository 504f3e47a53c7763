//! Near-duplicate recall and precision on real paragraphs (licence texts
//! that may be copied verbatim) with generated edits: words replaced,
//! deleted or inserted, typos, changed numbers and punctuation.

use chaff::fingerprint::{fingerprint, Fingerprint};
use chaff::index::{SegmentIndex, SketchIndex};
use chaff::normalize::{normalize, Normalized};

const CORPUS: &str = include_str!("fixtures/licences.txt");

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

const INSERTS: &[&str] = &[
    "also", "however", "new", "only", "local", "certain", "said", "very", "2024", "each",
];

/// One random edit of the kinds real copies carry.
fn edit(words: &mut Vec<String>, rng: &mut Rng) {
    let i = rng.below(words.len());
    match rng.below(6) {
        0 => words[i] = INSERTS[rng.below(INSERTS.len())].to_string(),
        1 if words.len() > 3 => {
            words.remove(i);
        }
        2 => words.insert(i, INSERTS[rng.below(INSERTS.len())].to_string()),
        3 => {
            // Typo: swap two inner letters.
            let mut c: Vec<char> = words[i].chars().collect();
            if c.len() >= 4 {
                let j = 1 + rng.below(c.len() - 2);
                c.swap(j, j - 1);
                words[i] = c.into_iter().collect();
            } else {
                words[i].push('s');
            }
        }
        4 => words.insert(i, format!("{}", 10 + rng.below(990))),
        _ => words[i].push(','),
    }
}

fn fp(text: &str, n: &mut Normalized) -> Fingerprint {
    normalize(text, n);
    fingerprint(n)
}

/// (correct, wrong, missed) over `variants` edited copies per paragraph
/// and edit count.
fn run(edits: usize, variants: usize) -> (usize, usize, usize) {
    let paragraphs: Vec<&str> = CORPUS
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let mut n = Normalized::default();
    let mut index = SketchIndex::new();
    for (i, p) in paragraphs.iter().enumerate() {
        index.insert(&fp(p, &mut n), i as u64 + 1);
    }
    let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ edits as u64);
    let (mut correct, mut wrong, mut missed) = (0, 0, 0);
    for (i, p) in paragraphs.iter().enumerate() {
        for _ in 0..variants {
            let mut words: Vec<String> = p.split(' ').map(str::to_string).collect();
            for _ in 0..edits {
                edit(&mut words, &mut rng);
            }
            let q = fp(&words.join(" "), &mut n);
            let found = index
                .exact(q.exact)
                .or_else(|| index.near(&q).map(|m| m.cluster));
            match found {
                Some(c) if c == i as u64 + 1 => correct += 1,
                Some(_) => wrong += 1,
                None => missed += 1,
            }
        }
    }
    (correct, wrong, missed)
}

#[test]
fn edited_paragraphs_are_found_and_only_their_own() {
    let mut measured = Vec::new();
    for edits in 1..=3 {
        let (correct, wrong, missed) = run(edits, 5);
        let total = correct + wrong + missed;
        let recall = correct as f64 / total as f64;
        let precision = correct as f64 / (correct + wrong).max(1) as f64;
        println!("{edits} edits: recall {recall:.3} precision {precision:.3} ({correct} found, {wrong} wrong, {missed} missed of {total})");
        measured.push((edits, recall, precision));
    }
    for (edits, recall, precision) in measured {
        assert!(precision >= 0.99, "{edits} edits: precision {precision:.3}");
        assert!(recall >= 0.95, "{edits} edits: recall {recall:.3}");
    }
}
