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

/// Sum of the trees' leaf values for `x`: the model's log-odds.
pub fn score(trees: &[&[Node]], x: &[f32]) -> f32 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
