#!/usr/bin/env python3
"""Generate a near-duplicate benchmark corpus of N paragraphs from real text.

    generate.py --out DIR --paragraphs N [--source PATH ...] [--seed S] [--ids url|line]

Writes DIR/corpus.jsonl ({"id", "source", "text"}, one paragraph a line),
DIR/truth.jsonl ({"id", "kind", "of", "edits", "ops"}) and DIR/meta.json.
See README.md beside this file for the mix, the edits and the guarantees.
Standard library only; the output is streamed, only the base pool of real
paragraphs (bounded by the source text, not by N) is held in memory.
"""

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import sys
import time
import unicodedata
import zlib
from array import array

DEFAULT_SOURCES = ["/usr/share/common-licenses", "/usr/share/doc"]
DOC_NAMES = re.compile(r"^(README.*|copyright|changelog.*)$")
SHARES = (("unique", 0.6), ("exact", 0.2), ("near", 0.2))
MIN_WORDS = 8  # a paragraph needs at least this many words
MAX_SEEN = 0.3  # pool filter: at most this share of a paragraph's shingles seen elsewhere
SENTENCE_WORDS = (6, 20)  # sentences usable for recombination
RECOMBINE_SENTENCES = 5  # sentences per recombined paragraph
SOURCES = 1000  # source names, round-robin

WORD = re.compile(r"\w+")
NUMBER = re.compile(r"\d+")
SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")


def source_files(paths):
    """Files to read, sorted. Default directories: every file under
    common-licenses, README*/copyright/changelog* under doc."""
    for path in paths:
        if os.path.isfile(path):
            yield path
            continue
        doc_only = path.rstrip("/") == "/usr/share/doc"
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                if os.path.isfile(full) and not os.path.islink(full):
                    if not doc_only or DOC_NAMES.match(name):
                        yield full


def read_text(path):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError):
        return ""
    if b"\0" in raw[:8192]:
        return ""  # binary
    return raw.decode("utf-8", "replace")


def norm_tokens(text):
    """Lower case, accents stripped, every number 0: what near-duplicate
    tools ignore, so the pool is distinct also after their normalisation."""
    text = text.lower()
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return WORD.findall(NUMBER.sub("0", text))


def shingle_keys(tokens):
    """crc32 of each word 3-shingle (stable across runs, compact)."""
    return array("I", (zlib.crc32(f"{a} {b} {c}".encode()) for a, b, c in zip(tokens, tokens[1:], tokens[2:])))


def build_pool(paths):
    """Real paragraphs: split at blank lines, whitespace collapsed, at least
    MIN_WORDS words, distinct after normalisation, and no paragraph with more
    than MAX_SEEN of its word 3-shingles in the other kept ones (checked
    forwards and backwards, so neither of two kept paragraphs is largely
    contained in the other)."""
    paras, keys, seen_norm = [], [], set()
    files = 0
    for path in source_files(paths):
        files += 1
        for block in re.split(r"\n[ \t]*\n", read_text(path)):
            words = block.split()
            if len(words) < MIN_WORDS:
                continue
            tokens = norm_tokens(block)
            norm = " ".join(tokens)
            if len(tokens) < 3 or norm in seen_norm:
                continue
            seen_norm.add(norm)
            paras.append(" ".join(words))
            keys.append(shingle_keys(tokens))
    distinct = len(paras)
    keep = [True] * len(paras)
    for order in (range(len(paras)), reversed(range(len(paras)))):
        seen = set()
        for i in order:
            if keep[i]:
                k = keys[i]
                if sum(x in seen for x in k) > MAX_SEEN * len(k):
                    keep[i] = False
                else:
                    seen.update(k)
    pool = [p for p, k in zip(paras, keep) if k]
    return pool, {"files": files, "distinct_paragraphs": distinct, "pool": len(pool)}


def sentence_pool(pool):
    out, seen = [], set()
    lo, hi = SENTENCE_WORDS
    for para in pool:
        for s in SENTENCE_END.split(para):
            n = len(s.split())
            norm = " ".join(norm_tokens(s))
            if lo <= n <= hi and norm not in seen:
                seen.add(norm)
                out.append(s)
    return out


class Texts:
    """Text of the u-th unique paragraph, computed on demand: the shuffled
    pool first, then recombinations of RECOMBINE_SENTENCES sentences drawn
    from the whole pool by a generator seeded with (seed, u), no sentence
    over a third of the paragraph."""

    def __init__(self, pool, sentences, seed):
        self.pool, self.sentences, self.seed = pool, sentences, seed

    def __call__(self, u):
        if u < len(self.pool):
            return self.pool[u]
        rng = random.Random(f"{self.seed}/unique/{u}")
        while True:
            picked = rng.sample(self.sentences, RECOMBINE_SENTENCES)
            lengths = [len(s.split()) for s in picked]
            if 3 * max(lengths) <= sum(lengths):
                return " ".join(picked)


def typo(word, rng):
    i = rng.randrange(len(word) - 1)
    op = rng.randrange(3)
    if op == 0:  # swap two neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == 1:  # drop one
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]  # double one


def edit(words, op, rng, donor):
    """Apply one edit in place; return False when it does not apply."""
    if op == "replace":
        words[rng.randrange(len(words))] = rng.choice(donor)
    elif op == "delete":
        del words[rng.randrange(len(words))]
    elif op == "insert":
        words.insert(rng.randrange(len(words) + 1), rng.choice(donor))
    elif op == "typo":
        spots = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
        if not spots:
            return False
        i = rng.choice(spots)
        words[i] = typo(words[i], rng)
    elif op == "number":
        spots = [i for i, w in enumerate(words) if NUMBER.search(w)]
        if not spots:
            return False
        i = rng.choice(spots)
        words[i] = NUMBER.sub(lambda m: str(int(m.group()) + rng.randint(1, 9)), words[i], count=1)
    elif op == "punct":
        i = rng.randrange(len(words))
        w = words[i]
        if w[-1] in ".,;:!?":
            words[i] = w[:-1] + rng.choice([c for c in ".,;:!?" if c != w[-1]] + [""])
        else:
            words[i] = w + rng.choice(",.;:")
    return True


OPS = ("replace", "delete", "insert", "typo", "number", "punct")


def donor_words(text_of, uniques, rng):
    """Plain words (letters only) of a random unique paragraph, for the
    replace and insert edits."""
    while True:
        words = [w for w in text_of(rng.randrange(uniques)).split() if w.isalpha()]
        if words:
            return words


def near_copy(text, rng, donor):
    """1-3 edits; an edit that does not apply (no number, no long word) is
    drawn again."""
    words = text.split()
    n = rng.randint(1, 3)
    ops = []
    while len(ops) < n:
        op = rng.choice(OPS)
        if edit(words, op, rng, donor):
            ops.append(op)
    out = " ".join(words)
    return (out, ops) if out != text else near_copy(text, rng, donor)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--paragraphs", type=int, required=True)
    ap.add_argument("--source", action="append", help="file or directory (repeatable); default: Debian docs and licences")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--ids",
        choices=["url", "line"],
        default="url",
        help="url: a url per paragraph, in no order, as crawls send them (default); "
        "line: p000000123, the line number, which sorts in corpus order",
    )
    args = ap.parse_args()
    if args.ids == "url":
        def id_of(i):
            h = hashlib.blake2b(f"{args.seed}:{i}".encode(), digest_size=8).hexdigest()
            return f"https://s{i % SOURCES}.example/news/{h}-{i}"
    else:
        def id_of(i):
            return f"p{i:09d}"
    started = time.time()

    pool, meta = build_pool(args.source or DEFAULT_SOURCES)
    rng = random.Random(args.seed)
    rng.shuffle(pool)
    sentences = sentence_pool(pool)
    if not pool or not sentences:
        sys.exit("no usable paragraphs in the sources")
    meta.update(sentences=len(sentences), pool_seconds=round(time.time() - started, 1))
    print(f"pool: {meta}", file=sys.stderr)
    text_of = Texts(pool, sentences, args.seed)

    os.makedirs(args.out, exist_ok=True)
    kinds = [k for k, _ in SHARES]
    weights = [w for _, w in SHARES]
    unique_ids = array("q")  # corpus index of the u-th unique paragraph
    counts = dict.fromkeys(kinds, 0)
    with open(os.path.join(args.out, "corpus.jsonl"), "w") as corpus, open(
        os.path.join(args.out, "truth.jsonl"), "w"
    ) as truth:
        for i in range(args.paragraphs):
            pid = id_of(i)
            kind = rng.choices(kinds, weights)[0] if unique_ids else "unique"
            of, ops = None, []
            if kind == "unique":
                text = text_of(len(unique_ids))
                unique_ids.append(i)
            else:
                u = rng.randrange(len(unique_ids))
                of = id_of(unique_ids[u])
                text = text_of(u)
                if kind == "near":
                    text, ops = near_copy(text, rng, donor_words(text_of, len(unique_ids), rng))
            counts[kind] += 1
            corpus.write(json.dumps({"id": pid, "source": f"s{i % SOURCES}.example", "text": text}) + "\n")
            truth.write(json.dumps({"id": pid, "kind": kind, "of": of, "edits": len(ops), "ops": ops}) + "\n")
    meta.update(
        paragraphs=args.paragraphs,
        seed=args.seed,
        ids=args.ids,
        sources=args.source or DEFAULT_SOURCES,
        counts=counts,
        recombined=max(0, len(unique_ids) - len(pool)),
        seconds=round(time.time() - started, 1),
    )
    with open(os.path.join(args.out, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    print(json.dumps(meta), file=sys.stderr)


if __name__ == "__main__":
    main()
