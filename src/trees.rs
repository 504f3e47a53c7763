//! Gradient-boosted decision trees, evaluated from static tables.
//!
//! The segment model (`model`) is fitted offline by `bench/model/fit.py`
//! and compiled in as node arrays; evaluating one tree is a handful of
//! comparisons, so labelling stays cheap.

/// One node: a split on `feature <= threshold`, or a leaf with its value.
#[derive(Debug, Clone, Copy)]
pub struct Node {
    /// Feature index; `LEAF` for a leaf.
    pub feature: u16,
    /// Split threshold, or the leaf's value.
    pub value: f32,
    pub left: u16,
    pub right: u16,
}

const LEAF: u16 = u16::MAX;

/// A leaf.
pub const fn leaf(value: f32) -> Node {
    Node {
        feature: LEAF,
        value,
        left: 0,
        right: 0,
    }
}

/// A split: `feature <= threshold` goes to `left`.
pub const fn split(feature: u16, threshold: f32, left: u16, right: u16) -> Node {
    Node {
        feature,
        value: threshold,
        left,
        right,
    }
}

/// Sum of the trees' leaf values for `x`: the model's log-odds, by the
/// plain walk that stops at a leaf. The reference [`Forest::score`] is
/// tested against; the product evaluates forests.
#[cfg(test)]
fn score(trees: &[&[Node]], x: &[f32]) -> f32 {
    trees
        .iter()
        .map(|t| {
            let mut i = 0usize;
            loop {
                let n = &t[i];
                if n.feature == LEAF {
                    return n.value;
                }
                let v = x.get(n.feature as usize).copied().unwrap_or(0.0);
                i = if v <= n.value { n.left } else { n.right } as usize;
            }
        })
        .sum()
}

/// A model's trees laid out for evaluation: one array of nodes in which a
/// leaf points to itself, so that each tree is walked as many steps as it
/// is deep whatever the input, with no branch on the data, and four trees
/// are walked side by side (their loads overlap). A walk that stops at a
/// leaf branches on the data, mispredicts, and was a sixth of an ingest's
/// CPU. Scores are the same to the bit as that walk's (tested): same
/// comparisons, leaf values added in the same order.
#[derive(Debug)]
pub struct Forest {
    nodes: Vec<Flat>,
    /// Each tree's root in `nodes` and its depth (steps to its deepest leaf).
    trees: Vec<(u32, u32)>,
}

#[derive(Debug, Clone, Copy)]
struct Flat {
    feature: u16,
    value: f32,
    left: u32,
    right: u32,
}

/// Trees walked side by side.
const LANES: usize = 4;

impl Forest {
    pub fn new(trees: &[&[Node]]) -> Forest {
        let mut nodes = Vec::new();
        let mut roots = Vec::with_capacity(trees.len());
        for t in trees {
            let base = nodes.len() as u32;
            for (i, n) in t.iter().enumerate() {
                let at = base + i as u32;
                nodes.push(if n.feature == LEAF {
                    Flat {
                        feature: 0,
                        value: n.value,
                        left: at,
                        right: at,
                    }
                } else {
                    Flat {
                        feature: n.feature,
                        value: n.value,
                        left: base + u32::from(n.left),
                        right: base + u32::from(n.right),
                    }
                });
            }
            roots.push((base, depth(t, 0)));
        }
        Forest {
            nodes,
            trees: roots,
        }
    }

    /// Sum of the trees' leaf values for `x`: the model's log-odds.
    pub fn score(&self, x: &[f32]) -> f32 {
        let nodes = &self.nodes[..];
        let mut sum = 0.0f32;
        for group in self.trees.chunks(LANES) {
            let mut at = [0u32; LANES];
            let mut steps = 0;
            for (lane, &(root, depth)) in group.iter().enumerate() {
                at[lane] = root;
                steps = steps.max(depth);
            }
            for _ in 0..steps {
                for a in at.iter_mut().take(group.len()) {
                    let n = nodes[*a as usize];
                    let v = x.get(usize::from(n.feature)).copied().unwrap_or(0.0);
                    *a = if v <= n.value { n.left } else { n.right };
                }
            }
            for &a in at.iter().take(group.len()) {
                sum += nodes[a as usize].value;
            }
        }
        sum
    }
}

/// Steps from node `i` of `t` to its deepest leaf.
fn depth(t: &[Node], i: usize) -> u32 {
    let n = &t[i];
    if n.feature == LEAF {
        0
    } else {
        1 + depth(t, usize::from(n.left)).max(depth(t, usize::from(n.right)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The forest gives the walk's scores to the bit, on the fitted models
    /// and inputs that reach every kind of leaf.
    #[test]
    fn forest_scores_equal_the_walk() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for model in [crate::model::PAGE_TREES, crate::model::FINAL_TREES] {
            let forest = Forest::new(model);
            for _ in 0..20_000 {
                let x: Vec<f32> = (0..64)
                    .map(|_| match next() % 4 {
                        0 => 0.0,
                        1 => 1.0,
                        _ => (next() % 2000) as f32 / 100.0 - 5.0,
                    })
                    .collect();
                let short = &x[..(next() % 64) as usize];
                for x in [&x[..], short] {
                    assert_eq!(forest.score(x).to_bits(), score(model, x).to_bits());
                }
            }
        }
        let t1: &[Node] = &[split(0, 0.5, 1, 2), leaf(-1.0), leaf(3.0)];
        let forest = Forest::new(&[t1, &[leaf(0.25)]]);
        assert_eq!(forest.score(&[0.0]), -0.75);
        assert_eq!(forest.score(&[f32::NAN]), 3.25);
        assert_eq!(Forest::new(&[]).score(&[1.0]), 0.0);
    }

    #[test]
    fn walks_splits_to_leaves_and_sums_trees() {
        let t1: &[Node] = &[
            split(0, 0.5, 1, 2),
            leaf(-1.0),
            split(1, 2.0, 3, 4),
            leaf(0.5),
            leaf(2.0),
        ];
        let t2: &[Node] = &[leaf(0.25)];
        let trees: &[&[Node]] = &[t1, t2];
        assert_eq!(score(trees, &[0.0, 9.0]), -0.75);
        assert_eq!(score(trees, &[1.0, 2.0]), 0.75);
        assert_eq!(score(trees, &[1.0, 3.0]), 2.25);
        assert_eq!(score(&[], &[1.0]), 0.0);
    }
}
