#!/usr/bin/env python3
"""One near-duplicate peer over a corpus, streaming: for every paragraph in
order, query what has been indexed so far, then insert it.

    peers.py PEER CORPUS_JSONL MATCHES_TSV

MATCHES_TSV gets one line per matched paragraph: its 0-based line number, a
tab, and the line numbers of its candidates (best first when the library
ranks them), comma-separated. Peers: see PEERS below and README.md.
"""

import hashlib
import json
import re
import string
import sys
import unicodedata

NUM_PERM = 128
BANDS, ROWS = 25, 5  # datasketch's optimum for threshold 0.5 with 128 permutations
THRESHOLD = 0.5
HAMMING = 3
SEED = 1
WORD = re.compile(r"\w+")


def shingles(text):
    """Lower-cased word 3-shingles (words: runs of \\w), as strings; a
    paragraph of fewer than three words is one shingle."""
    w = WORD.findall(text.lower())
    if len(w) < 3:
        return [" ".join(w)]
    return [f"{a} {b} {c}" for a, b, c in zip(w, w[1:], w[2:])]


def rensa_peer():
    from rensa import RMinHash, RMinHashLSH

    # R-MinHash, LSH candidates (RMinHashLSH does not verify them).
    # 125 = BANDS * ROWS permutations: RMinHashLSH needs num_perm % num_bands == 0.
    lsh = RMinHashLSH(THRESHOLD, BANDS * ROWS, BANDS)

    def step(i, text):
        m = RMinHash(BANDS * ROWS, SEED)
        m.update(shingles(text))
        found = lsh.query(m)
        lsh.insert(i, m)
        return found

    return step


def gaoya_minhash_peer():
    from gaoya.minhash import MinHashStringIndex

    # Candidates are verified: only those with estimated Jaccard >= threshold, best first.
    # The native index is called with the tokens, so they are computed once a paragraph
    # (the wrapper would run the analyzer for the query and again for the insert).
    index = MinHashStringIndex(
        hash_size=32, jaccard_threshold=THRESHOLD, num_bands=BANDS, band_size=ROWS, analyzer=shingles
    ).minhash_index

    def step(i, text):
        tokens = shingles(text)
        found = [k for k, _ in index.query_tokens_return_similarity(tokens)]
        index.insert_tokens(i, tokens)
        return found

    return step


def gaoya_minhash_native_peer():
    from gaoya.minhash import MinHashStringIndex

    # As gaoya-minhash, but with gaoya's own tokeniser in Rust (lower-cased word
    # 3-grams, words split at ASCII whitespace and punctuation): not the shared
    # shingles, shown for the cost of handing Python tokens to the library.
    index = MinHashStringIndex(
        hash_size=32,
        jaccard_threshold=THRESHOLD,
        num_bands=BANDS,
        band_size=ROWS,
        analyzer="word",
        lowercase=True,
        ngram_range=(3, 3),
    )

    def step(i, text):
        found = [k for k, _ in index.query(text, return_similarity=True)]
        index.insert_document(i, text)
        return found

    return step


def gaoya_simhash_peer():
    from gaoya.simhash import SimHashStringIndex

    # 64-bit simhash over the same shingles, Hamming distance <= 3, nearest first.
    # The native index is called directly: gaoya 0.2.2's Python wrapper calls a
    # method the extension does not have for a callable analyzer with distances.
    index = SimHashStringIndex(hash_size=64, num_blocks=HAMMING + 1, hamming_distance=HAMMING, analyzer=shingles).index

    def step(i, text):
        tokens = shingles(text)
        found = [k for k, _ in index.query_tokens_return_distance(tokens)]
        index.insert_tokens(i, tokens)
        return found

    return step


def datasketch_peer():
    from datasketch import MinHash, MinHashLSH
    from xxhash import xxh32_intdigest

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)  # picks b=25, r=5; unverified candidates
    # The documented fast paths: xxh32 instead of the default sha1 as the token
    # hash, and the permutations of one template reused (saves ~0.2 ms a paragraph).
    template = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=xxh32_intdigest)

    def step(i, text):
        m = MinHash(
            num_perm=NUM_PERM,
            seed=SEED,
            hashfunc=xxh32_intdigest,
            permutations=template.permutations,
            scheme=template.scheme,
        )
        m.update_batch([s.encode() for s in shingles(text)])
        found = lsh.query(m)
        lsh.insert(i, m, check_duplication=False)
        return found

    return step


PUNCT = str.maketrans("", "", string.punctuation + "«»“”‘’„–—…·•")
DIGIT = re.compile(r"\d")


def ccnet_normalize(text):
    """CCNet's normalisation for paragraph dedup: lower case, accents
    stripped, digits to 0, punctuation removed, whitespace collapsed."""
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    text = DIGIT.sub("0", text).translate(PUNCT)
    return " ".join(text.split())


def ccnet_peer():
    first = {}  # first 8 bytes of sha1(normalised paragraph) -> first line

    def step(i, text):
        h = hashlib.sha1(ccnet_normalize(text).encode()).digest()[:8]
        j = first.setdefault(h, i)
        return [j] if j != i else []

    return step


def harness_peer():
    """No index: what reading, parsing and shingling cost on their own."""

    def step(i, text):
        shingles(text)
        return []

    return step


PEERS = {
    "harness": harness_peer,
    "rensa": rensa_peer,
    "gaoya-minhash": gaoya_minhash_peer,
    "gaoya-minhash-native": gaoya_minhash_native_peer,
    "gaoya-simhash": gaoya_simhash_peer,
    "datasketch": datasketch_peer,
    "ccnet-exact": ccnet_peer,
}


def main():
    peer, corpus, out = sys.argv[1:4]
    step = PEERS[peer]()
    with open(corpus, encoding="utf-8") as src, open(out, "w") as dst:
        for i, line in enumerate(src):
            found = step(i, json.loads(line)["text"])
            if found:
                dst.write(f"{i}\t{','.join(map(str, found))}\n")


if __name__ == "__main__":
    main()
