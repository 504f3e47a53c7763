//! Articles written for the tests: an outlet with a donation appeal under
//! every story, and stories that other outlets republish with light edits.

const VOCABULARY: &str = "council budget river school hospital minister village harbour railway farmers \
    election court police storm bridge museum festival union factory market winter summer drought flood \
    teachers nurses students pensioners workers drivers fishermen engineers scientists lawyers judges \
    mayor governor senator president committee agency ministry department authority commission board \
    announced rejected approved delayed criticised welcomed proposed suspended investigated promised \
    warned admitted denied confirmed revealed postponed expanded reduced doubled closed opened \
    plans funding contract report inquiry survey reform strike protest agreement deal loan grant \
    tax fares rents wages prices costs debts profits losses emissions water power roads homes \
    quickly slowly quietly openly finally already again still rarely often nearly almost \
    northern southern eastern western coastal rural urban local national regional central \
    new old large small early late public private former current annual local \
    after before during despite because although while until since unless \
    on in at for with from against about over under between across \
    the a this that these those its their his her our";

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Deterministic article text: `n` paragraphs of 35 to 60 words drawn from
/// a news vocabulary, unique to `seed` (two seeds share no word 4-shingle
/// but by rare chance).
pub fn article(seed: u64, n: usize) -> Vec<String> {
    let words: Vec<&str> = VOCABULARY.split_whitespace().collect();
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let len = 35 + rng.below(26);
            let mut p = String::new();
            for i in 0..len {
                let w = words[rng.below(words.len())];
                if i == 0 || p.ends_with(". ") {
                    let mut c = w.chars();
                    p.extend(c.next().map(|f| f.to_ascii_uppercase()));
                    p.push_str(c.as_str());
                } else {
                    p.push_str(w);
                }
                p.push_str(if i + 1 == len {
                    "."
                } else if rng.below(12) == 0 {
                    ". "
                } else {
                    " "
                });
            }
            p
        })
        .collect()
}

/// The donation appeal under every article of the outlet, in the variant
/// `v`: 0 as written, 1 with another date, 2 with one sentence reworded,
/// 3 with one sentence dropped.
pub fn appeal(v: usize) -> Vec<String> {
    let date = if v == 1 { "14 June 2025" } else { "3 May 2025" };
    // Variant 2 rewords the last sentence (three word edits). Replacing it
    // whole ("Nobody edits our work but us.", bigram Jaccard 0.63) is at the
    // sketch check's edge (18 of 32 positions, about 20 expected): such a
    // copy is matched about five times in six, so a test of it is a draw.
    let second = if v == 2 {
        "Every contribution, however big or small, powers reporting that holds the powerful to account. \
         Our journalists travel to places others ignore and stay until the story is told. \
         No billionaire or shareholder ever tells us what we write."
    } else {
        "Every contribution, however big or small, powers reporting that holds the powerful to account. \
         Our journalists travel to places others ignore and stay until the story is told. \
         No billionaire owner or shareholder tells us what to write."
    };
    let third = if v == 3 {
        "Support us monthly from just 5 dollars and help keep our journalism open to everyone."
    } else {
        "Support us monthly from just 5 dollars and help keep our journalism open to everyone. \
         It takes less than a minute to set up, and you can cancel at any time."
    };
    vec![
        format!(
            "Dear readers, on {date} we are asking you to stand with independent journalism. \
             More people are reading us than ever, but advertising revenue is falling fast."
        ),
        second.to_string(),
        third.to_string(),
        "Remind me later.".to_string(),
    ]
}

/// A republished copy: a new opening paragraph, then the original's
/// paragraphs with two words changed in each (light editing).
pub fn republish(original: &[String]) -> Vec<String> {
    let mut out = vec![
        "Our correspondent adds: this report was first published by a partner outlet and is \
                        reproduced here with light editing for our readers."
            .to_string(),
    ];
    out.extend(original.iter().map(|p| {
        let mut words: Vec<String> = p.split(' ').map(str::to_string).collect();
        let n = words.len();
        words[n / 3] = "reportedly".into();
        words[2 * n / 3] = "officials".into();
        words.join(" ")
    }));
    out
}
