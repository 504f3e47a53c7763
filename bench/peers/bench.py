#!/usr/bin/env python3
"""Side-by-side near-duplicate benchmark: the peers of peers.py and chaff on
one corpus of bench/corpus/generate.py, each process pinned to one core.

    bench.py CORPUS_DIR --chaff PATH [--peers a,b,...] [--cpu N] [--out DIR]

Prints one table and writes it, with the raw measurements, to
OUT/results.json (OUT defaults to CORPUS_DIR/peers). Measures: README.md.
"""

import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = ["harness", "rensa", "gaoya-minhash", "gaoya-minhash-native", "gaoya-simhash", "datasketch", "ccnet-exact"]
RANKED = {"gaoya-minhash", "gaoya-minhash-native", "gaoya-simhash", "ccnet-exact"}  # first candidate is the library's best


def load():
    with open("/proc/loadavg") as fh:
        return float(fh.read().split()[0])


def measure(cmd, cpu, log):
    """Run cmd pinned to one core under /usr/bin/time: CPU seconds
    (user+sys), peak RSS in bytes, wall seconds. (GNU time forks the command
    from its own small process; a child forked from this Python process
    would inherit this process's RSS as its peak.)"""
    load_before = load()
    times = log + ".time"
    with open(log, "w") as err:
        code = subprocess.call(
            ["taskset", "-c", str(cpu), "/usr/bin/time", "-o", times, "-f", "%e %U %S %M", *cmd],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    if code != 0:
        sys.exit(f"failed ({code}, see {log}): {' '.join(cmd)}")
    with open(times) as fh:
        wall, user, system, rss_kb = fh.read().split()[-4:]
    return {
        "cpu_s": float(user) + float(system),
        "user_s": float(user),
        "sys_s": float(system),
        "peak_rss": int(rss_kb) * 1024,
        "wall_s": float(wall),
        "load_before": load_before,
        "load_after": load(),
    }


def run(name, command, corpus, one, out, cpu, n, repeat):
    """The full run and a one-paragraph run; the latter is the startup
    baseline (interpreter, imports, runtime) subtracted from CPU and RSS.
    With repeat > 1, each is the run of least CPU time."""

    def best(inp, outp):
        runs = [measure(command(inp, outp), cpu, outp + ".log") for _ in range(repeat)]
        return min(runs, key=lambda r: r["cpu_s"])

    base = best(one, os.path.join(out, f"{name}.baseline"))
    full = best(corpus, os.path.join(out, f"{name}.out"))
    cpu_s = max(0.01, full["cpu_s"] - base["cpu_s"])  # GNU time counts in 10 ms
    print(f"  {name}: {cpu_s:.2f} CPU-s, {full['wall_s']:.1f} s wall, load {full['load_before']:.2f}", file=sys.stderr)
    return {
        "paragraphs_per_cpu_s": n / cpu_s,
        "bytes_per_paragraph": max(0, full["peak_rss"] - base["peak_rss"]) / n,
        "full": full,
        "baseline": base,
    }


def read_truth(path):
    """Kind of each line ("near1".."near3" for a near copy with that many
    edits) and the line of the first paragraph of its group."""
    kinds, root, line_of = [], [], {}
    with open(path) as fh:
        for i, line in enumerate(fh):
            t = json.loads(line)
            line_of[t["id"]] = i
            kinds.append(t["kind"] + (str(t["edits"]) if t["kind"] == "near" else ""))
            root.append(i if t["of"] is None else line_of[t["of"]])
    return kinds, root


def peer_verdicts(path, name, root):
    """line -> correct? for every matched line."""
    out = {}
    with open(path) as fh:
        for line in fh:
            i, found = line.split("\t")
            i, found = int(i), [int(c) for c in found.split(",")]
            if name in RANKED:
                found = found[:1]
            out[i] = any(root[c] == root[i] for c in found)
    return out


def chaff_verdicts(path, root):
    """A segment is matched when its match is not "none", and correct when
    its cluster is the cluster of an earlier paragraph of its true group."""
    out, group_clusters = {}, {}
    with open(path) as fh:
        for i, line in enumerate(fh):
            seg = json.loads(line)["segments"][0]
            if seg["match"] != "none":
                out[i] = seg["cluster"] in group_clusters.get(root[i], ())
            group_clusters.setdefault(root[i], set()).add(seg["cluster"])
    return out


def score(verdicts, kinds):
    counts = {k: kinds.count(k) for k in ("unique", "exact", "near1", "near2", "near3")}
    hit = dict.fromkeys(counts, 0)
    for i, ok in verdicts.items():
        hit[kinds[i]] += ok
    near = sum(counts[k] for k in ("near1", "near2", "near3"))
    near_hit = sum(hit[k] for k in ("near1", "near2", "near3"))
    matched = sum(1 for i in verdicts if kinds[i] != "exact")  # near and unique paragraphs
    return {
        "near_recall": near_hit / max(1, near),
        "near_recall_by_edits": {e: hit[f"near{e}"] / max(1, counts[f"near{e}"]) for e in (1, 2, 3)},
        "exact_recall": hit["exact"] / max(1, counts["exact"]),
        "precision": (near_hit / matched) if matched else None,
        "matched_near_or_unique": matched,
        "matched_unique": sum(1 for i in verdicts if kinds[i] == "unique"),
        "counts": counts,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus_dir")
    ap.add_argument("--chaff", required=True, help="path of the chaff binary")
    ap.add_argument("--peers", default=",".join(PEERS + ["chaff"]))
    ap.add_argument("--cpu", type=int, default=1, help="core to pin each process to")
    ap.add_argument("--out", help="default CORPUS_DIR/peers")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; the one of least CPU time counts")
    args = ap.parse_args()
    corpus = os.path.join(args.corpus_dir, "corpus.jsonl")
    out = args.out or os.path.join(args.corpus_dir, "peers")
    os.makedirs(out, exist_ok=True)
    one = os.path.join(out, "one.jsonl")
    with open(corpus) as src, open(one, "w") as dst:
        dst.write(src.readline())
    kinds, root = read_truth(os.path.join(args.corpus_dir, "truth.jsonl"))
    n = len(kinds)

    results = {}
    for name in args.peers.split(","):
        if name == "chaff":

            def command(inp, outp):
                # Durable, as deployed: the text goes to the store on disk,
                # memory holds the index, the records and the store's
                # bounded page cache (--ephemeral would keep all text).
                data = outp + ".data"
                shutil.rmtree(data, ignore_errors=True)
                return [args.chaff, "label", "--data-dir", data, "--input", inp, "--output", outp, "--batch-size", "1024"]

        else:

            def command(inp, outp, name=name):
                return [sys.executable, os.path.join(HERE, "peers.py"), name, inp, outp]

        r = run(name, command, corpus, one, out, args.cpu, n, args.repeat)
        path = os.path.join(out, f"{name}.out")
        r.update(score(chaff_verdicts(path, root) if name == "chaff" else peer_verdicts(path, name, root), kinds))
        results[name] = r

    chaff = results.get("chaff", {}).get("paragraphs_per_cpu_s")
    head = (
        "peer",
        "paragraphs/CPU-s",
        "bytes/paragraph",
        "near recall",
        "by edits 1/2/3",
        "exact recall",
        "precision",
        "chaff speed ratio",
    )
    rows = [head]
    for name, r in results.items():
        r["chaff_speed_ratio"] = chaff / r["paragraphs_per_cpu_s"] if chaff else None
        rows.append(
            (
                name,
                f"{r['paragraphs_per_cpu_s']:,.0f}",
                f"{r['bytes_per_paragraph']:,.0f}",
                f"{r['near_recall']:.3f}",
                "/".join(f"{v:.2f}" for v in r["near_recall_by_edits"].values()),
                f"{r['exact_recall']:.3f}",
                "-" if r["precision"] is None else f"{r['precision']:.3f}",
                "-" if chaff is None else f"{r['chaff_speed_ratio']:.2f}",
            )
        )
    widths = [max(len(row[c]) for row in rows) for c in range(len(head))]
    for k, row in enumerate(rows):
        print("| " + " | ".join(v.ljust(w) if c == 0 else v.rjust(w) for c, (v, w) in enumerate(zip(row, widths))) + " |")
        if k == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    meta = None
    if os.path.exists(os.path.join(args.corpus_dir, "meta.json")):
        with open(os.path.join(args.corpus_dir, "meta.json")) as fh:
            meta = json.load(fh)
    report = {
        "corpus": os.path.abspath(args.corpus_dir),
        "paragraphs": n,
        "corpus_meta": meta,
        "cpu": args.cpu,
        "repeat": args.repeat,
        "python": sys.version.split()[0],
        "versions": {p: importlib.metadata.version(p) for p in ("rensa", "gaoya", "datasketch", "xxhash", "numpy")},
        "chaff": {
            "binary": args.chaff,
            "version": subprocess.run([args.chaff, "--version"], capture_output=True, text=True).stdout.strip(),
            "built": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(os.path.getmtime(args.chaff))),
            "git_at_run": subprocess.run(
                ["git", "describe", "--always", "--dirty"], cwd=HERE, capture_output=True, text=True
            ).stdout.strip(),
        },
        "peers": results,
    }
    with open(os.path.join(out, "results.json"), "w") as fh:
        json.dump(report, fh, indent=1)
    print(f"results: {os.path.join(out, 'results.json')}", file=sys.stderr)


if __name__ == "__main__":
    main()
