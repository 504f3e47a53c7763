#!/usr/bin/env python3
"""Fit chaff's segment model and write it to src/model.rs.

The model has two stages, both gradient-boosted trees (LightGBM):
  1. the *page* model: page features (what one page shows about a segment:
     shape, layout, markup) -> log-odds of template text, the segment's prior;
     chaff stores it with each segment;
  2. the *final* model: the prior, a few layout flags and the cross-document
     features (repeats in the source, other sources, who was first) -> the
     log-odds that decide "boilerplate".
Stage 2 is trained on out-of-fold priors (folds grouped by site), so that it
learns how far a prior can be trusted on a site the page model has not seen.

Input: feature dumps written by
    chaff eval --final --gold SET.jsonl.gz --dump-features SET.features.jsonl
Rows of the Dragnet *test* split are never used (`--exclude-split test`).
Boilerplate is the positive class; editorial and syndicated the negative one;
comments are left out. Rows are weighted by characters (the benchmark's
measures are character-weighted, capped per row), each data set gets the same
total weight. The figures printed are site-grouped cross-validation figures:
each site is scored by models that never saw it.

    bench/model/fit.py /tmp/feat/*.jsonl --write src/model.rs
"""
import argparse
import json
import sys

import numpy as np
import lightgbm as lgb

# The final model's inputs, by dump column name ("prior" is stage 1's output).
FINAL = ["prior", "ln_tokens", "running", "line", "in_main", "heads_main", "page_has_main", "has_html", "title"]
CROSS = ["sd2", "sd_threshold", "ln_sd", "multi_source", "earlier_elsewhere"]
# Document context (classify::document_context); nb_prior is recomputed here
# from the out-of-fold priors, by the same definition.
CONTEXT = ["nb_prior", "nb_repeated", "rep_before", "rep_after", "rep_wide", "page_rep"]
# What the source's other lines show (pattern::Patterns::evidence).
PATTERN = ["ln_head_docs", "teaser", "headline_first", "numbers", "numbers_vary"]
NEIGHBOURS = 2


def neighbour_prior(prior, docs):
    """Mean prior of the segments within NEIGHBOURS of each, in its document."""
    out = np.zeros(len(prior))
    start = 0
    while start < len(prior):
        end = start
        while end < len(prior) and docs[end] == docs[start]:
            end += 1
        for i in range(start, end):
            lo, hi = max(start, i - NEIGHBOURS), min(end - 1, i + NEIGHBOURS)
            js = [j for j in range(lo, hi + 1) if j != i]
            out[i] = prior[js].mean() if js else 0.0
        start = end
    return out


def load(path, exclude_split, set_no):
    names, xs, ys, ws, groups, texts, use = None, [], [], [], [], [], []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "names" in r:
                names = r["names"]
                continue
            # Every row is kept for the neighbour context; only `use` rows
            # are trained on and scored.
            use.append(r.get("split") != exclude_split and r["label"] != "comments")
            xs.append(r["x"])
            ys.append(1.0 if r["label"] == "boilerplate" else 0.0)
            ws.append(min(r["chars"], 2000))
            groups.append(str(r.get('site') or r['doc']))
            texts.append((r["doc"], r.get("text", "")))
    use = np.array(use) & ~without_main_text([t[0] for t in texts], ys, ws, use)
    return (names, np.array(xs, dtype=np.float32), np.array(ys), np.array(ws, dtype=np.float64), groups,
            texts, use)


# A page whose gold has (next to) no main text among its paragraphs: a gold
# main text that does not match the page (mis-encoded, truncated to a line),
# or none at all. Such a page labels its article boilerplate and would teach
# the model that articles are template text; it is left out of fitting.
MIN_MAIN_SHARE = 0.01


def without_main_text(docs, ys, ws, use):
    """Per row: its page has under MIN_MAIN_SHARE of its scored characters
    outside boilerplate."""
    total, main = {}, {}
    for d, y, w, u in zip(docs, ys, ws, use):
        if u:
            total[d] = total.get(d, 0.0) + w
            main[d] = main.get(d, 0.0) + (w if y == 0.0 else 0.0)
    bad = {d for d in total if main[d] < MIN_MAIN_SHARE * total[d]}
    return np.array([d in bad for d in docs])


def params(a):
    return dict(objective="binary", learning_rate=a.learning_rate, num_leaves=a.leaves, max_depth=a.max_depth,
                min_data_in_leaf=a.min_leaf, feature_fraction=0.8, bagging_fraction=0.8,
                bagging_freq=1, lambda_l2=1.0, verbose=-1, num_threads=2, seed=7)


# The final model may only rise with these inputs: more repeats in the
# source, a higher prior, more template around, never make text less
# likely template.
MONOTONE = {"prior", "sd2", "sd_threshold", "ln_sd", "nb_prior", "nb_repeated", "ln_head_docs", "teaser"}
# ... and may only fall with these: the first page of a source to carry a
# line as its headline is that story's page, and a page's title names its
# own story.
DECREASING = {"headline_first", "title"}


def train(x, y, w, a, monotone=None):
    p = params(a)
    if monotone is not None:
        p["monotone_constraints"] = monotone
        p["monotone_constraints_method"] = "advanced"
    return lgb.train(p, lgb.Dataset(x, y, weight=w), num_boost_round=a.trees)


def folds(groups, k):
    uniq = sorted(set(groups))
    rng = np.random.default_rng(7)
    rng.shuffle(uniq)
    fold_of = {g: i % k for i, g in enumerate(uniq)}
    return np.array([fold_of[g] for g in groups])


def measures(score, y, w):
    pred = score > 0
    tp = (w * (pred & (y == 1))).sum()
    fp = (w * (pred & (y == 0))).sum()
    fn = (w * (~pred & (y == 1))).sum()
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f1, fp / (w * (y == 0)).sum()


def flatten(tree):
    """LightGBM tree dict -> [(feature, threshold_or_value, left, right)], root first."""
    nodes = []

    def walk(n):
        i = len(nodes)
        nodes.append(None)
        if "leaf_value" in n:
            nodes[i] = (-1, n["leaf_value"], 0, 0)
        else:
            assert n["decision_type"] == "<=", n["decision_type"]
            left = walk(n["left_child"])
            right = walk(n["right_child"])
            nodes[i] = (n["split_feature"], n["threshold"], left, right)
        return i

    walk(tree["tree_structure"])
    return nodes


def predict_flat(trees, x):
    out = np.zeros(len(x))
    for t in trees:
        for r in range(len(x)):
            i = 0
            while t[i][0] >= 0:
                i = t[i][2] if x[r, t[i][0]] <= t[i][1] else t[i][3]
            out[r] += t[i][1]
    return out


def rust_trees(name, booster, features):
    trees = [flatten(t) for t in booster.dump_model()["tree_info"]]
    lines = [f"/// {len(trees)} trees over {features}.", f"pub static {name}: &[&[Node]] = &["]
    for t in trees:
        cells = []
        for f, v, l, r in t:
            if f < 0:
                cells.append(f"L({float(v):.6}f32)")
            else:
                cells.append(f"S({f}, {float(v):.6}f32, {l}, {r})")
        lines.append("    &[" + ", ".join(cells) + "],")
    lines.append("];")
    return trees, "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dumps", nargs="+")
    ap.add_argument("--exclude-split", default="test")
    ap.add_argument("--negative-weight", type=float, default=1.5,
                    help="extra weight of non-boilerplate rows (editorial loss costs more than leak)")
    ap.add_argument("--trees", type=int, default=160)
    ap.add_argument("--leaves", type=int, default=31)
    ap.add_argument("--max-depth", type=int, default=5,
                    help="deepest a tree may grow (-1: no limit); chaff walks every tree to its full depth, "
                         "so depth, not leaves, sets the cost per segment")
    ap.add_argument("--min-leaf", type=int, default=200)
    ap.add_argument("--learning-rate", type=float, default=0.1)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--probability", type=float, default=0.75,
                    help="decision probability for the figures (chaff's --boilerplate-probability default)")
    ap.add_argument("--errors", type=int, default=0, help="print this many of the heaviest errors per set")
    ap.add_argument("--write", help="write the model as Rust to this path (src/model.rs)")
    ap.add_argument("--drop", default="", help="comma-separated final-model inputs to hold at 0 (ablations)")
    a = ap.parse_args()

    parts = [load(p, a.exclude_split, i) for i, p in enumerate(a.dumps)]
    names = parts[0][0]
    page_cols = [i for i, n in enumerate(names) if n not in CROSS and n not in CONTEXT and n not in PATTERN]
    cross_cols = [names.index(n) for n in CROSS]
    x = np.vstack([p[1] for p in parts])
    y = np.concatenate([p[2] for p in parts])
    use = np.concatenate([p[6] for p in parts])
    w = np.concatenate([p[3] * p[6] * np.where(p[2] == 0, a.negative_weight, 1.0) / (p[3] * p[6]).sum()
                        for p in parts])
    w = w / w[use].mean()
    docs = sum(([t[0] for t in p[5]] for p in parts), [])
    which = np.concatenate([np.full(len(p[2]), i) for i, p in enumerate(parts)])
    groups = sum((p[4] for p in parts), [])
    fold = folds(groups, a.folds)
    xp = x[:, page_cols]

    def final_x(prior):
        cols = ([prior] + [x[:, names.index(n)] for n in FINAL[1:]] + [x[:, c] for c in cross_cols]
                + [neighbour_prior(prior, docs)] + [x[:, names.index(n)] for n in CONTEXT[1:]]
                + [x[:, names.index(n)] for n in PATTERN])
        return np.column_stack(cols).astype(np.float32)

    # Out-of-fold priors for stage 2, and cross-validated figures.
    prior_oof = np.zeros(len(y))
    for k in range(a.folds):
        tr, te = (fold != k) & use, fold == k
        prior_oof[te] = train(xp[tr], y[tr], w[tr], a).predict(xp[te], raw_score=True)
    xf = final_x(prior_oof)
    final_names = FINAL + CROSS + CONTEXT + PATTERN
    for n in filter(None, a.drop.split(",")):
        xf[:, final_names.index(n)] = 0.0
    # The repeat rule (classify.rs) decides segments that the source carries
    # in >= threshold documents, except its own headline and figures that
    # change from page to page; the final model is fitted and scored on the
    # others.
    col = lambda n: x[:, names.index(n)]
    own_headline = (((col("heads_main") == 1) & (col("teaser") == 0)) | (col("headline_first") == 1)
                    | (col("title") == 1)
                    | ((col("running") == 1) & (col("numbers") >= 2) & (col("numbers_vary") >= 0.5)))
    ruled = (col("sd_threshold") == 1) & ~own_headline
    mono = [1 if n in MONOTONE else -1 if n in DECREASING else 0 for n in final_names]
    final_oof = np.zeros(len(y))
    for k in range(a.folds):
        tr, te = (fold != k) & use & ~ruled, fold == k
        final_oof[te] = train(xf[tr], y[tr], w[tr], a, mono).predict(xf[te], raw_score=True)
    final_oof[ruled] = 10.0
    final_oof -= np.log(a.probability / (1 - a.probability))
    print(f"site-grouped {a.folds}-fold cross-validation (segments ~ paragraphs, weights as scored)")
    print(f"{'set':<34} {'rows':>7} {'stage':>6} {'bp_P':>6} {'bp_R':>6} {'bp_F1':>6} {'edLoss':>6}")
    for i, path in enumerate(a.dumps):
        m = (which == i) & use
        raw_w = parts[i][3][parts[i][6]]
        for stage, s in (("page", prior_oof), ("final", final_oof)):
            p, r, f1, loss = measures(s[m], y[m], raw_w)
            print(f"{path.split('/')[-1]:<34} {m.sum():>7} {stage:>6} {p:6.3f} {r:6.3f} {f1:6.3f} {loss:6.3f}")

    if a.errors:
        texts = sum((p[5] for p in parts), [])
        raw = np.concatenate([p[3] for p in parts])
        for i, path in enumerate(a.dumps):
            for kind, bad in (("editorial called boilerplate", (final_oof > 0) & (y == 0)),
                              ("boilerplate missed", (final_oof <= 0) & (y == 1))):
                idx = np.where(bad & (which == i) & use)[0]
                idx = idx[np.argsort(-raw[idx])][: a.errors]
                print(f"== {path.split('/')[-1]}: {kind}")
                for j in idx:
                    print(f"  {raw[j]:6.0f} {final_oof[j]:+.2f} prior {prior_oof[j]:+.2f} sd2 {x[j, names.index('sd2')]:.0f} "
                          f"{texts[j][0]} {texts[j][1]!r}")

    page = train(xp[use], y[use], w[use], a)
    final = train(xf[use & ~ruled], y[use & ~ruled], w[use & ~ruled], a, mono)  # on out-of-fold priors
    if a.write:
        t1, page_rs = rust_trees("PAGE_TREES", page, "structure::names()")
        t2, final_rs = rust_trees("FINAL_TREES", final, "classify::final_names()")
        # The exported trees must give LightGBM's own scores.
        sample = np.arange(0, len(y), max(1, len(y) // 300))
        assert np.allclose(predict_flat(t1, xp[sample]), page.predict(xp[sample], raw_score=True), atol=1e-3)
        assert np.allclose(predict_flat(t2, xf[sample]), final.predict(xf[sample], raw_score=True), atol=1e-3)
        cmd = " ".join(["bench/model/fit.py", f"--trees {a.trees} --leaves {a.leaves} --max-depth {a.max_depth} --min-leaf {a.min_leaf}",
                        f"--learning-rate {a.learning_rate} --negative-weight {a.negative_weight}"]
                       + [p.split("/")[-1] for p in a.dumps])
        with open(a.write, "w") as f:
            f.write(HEADER.format(cmd=cmd))
            f.write(page_rs + "\n\n" + final_rs + "\n")
        print(f"wrote {a.write}", file=sys.stderr)


HEADER = """//! The segment model, fitted by `bench/model/fit.py` on the development
//! sets (never the Dragnet test split); generated, do not edit. Two stages
//! of gradient-boosted trees: `PAGE_TREES` over `structure::names()` give a
//! segment's prior, `FINAL_TREES` over `classify::final_names()` the
//! log-odds of template text.
//!
//! Fitted with: {cmd}
#![allow(clippy::excessive_precision, clippy::approx_constant)]

use crate::trees::{{leaf as L, split as S, Node}};

"""

if __name__ == "__main__":
    main()
