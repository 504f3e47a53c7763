#!/usr/bin/env python3
"""Scale curve: throughput and memory of one chaff process as its index grows.

    bench/scale/run.py CORPUS.jsonl --chaff target/release/chaff [--every 1000000]
        [--data-dir DIR] [--batch-size 1024] [--reopen] [--json OUT]

Streams the corpus into `chaff ingest --data-dir DIR -` (in-process engine,
durable store) through a pipe and, every `--every` paragraphs, samples the
process: paragraphs/s (wall) and paragraphs per CPU-second over the last
window, resident memory, and resident memory per indexed paragraph. The pipe
holds a few thousand lines at most, so lines written are lines ingested to
within a batch or two. With --reopen it then times `chaff stats` on the data
directory: the restart (rebuilding the index from the store).

Paragraphs per CPU-second is the figure to compare across sizes on a busy
machine: wall-clock rates move with the load of other processes.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def sample(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    with open(f"/proc/{pid}/statm") as f:
        rss = int(f.read().split()[1]) * PAGE
    return time.monotonic(), cpu, rss


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("--chaff", required=True)
    ap.add_argument("--every", type=int, default=1_000_000)
    ap.add_argument("--data-dir", help="store directory (default: a temporary one, removed afterwards)")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--reopen", action="store_true", help="time a restart on the data directory")
    ap.add_argument("--json", help="write the rows here too")
    args = ap.parse_args()

    tmp = None
    data_dir = args.data_dir
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="chaff-scale-")
        data_dir = os.path.join(tmp, "data")
    proc = subprocess.Popen(
        [args.chaff, "ingest", "--data-dir", data_dir, "--batch-size", str(args.batch_size), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    t0, c0, rss0 = sample(proc.pid)
    rows = []
    last = (0, t0, c0)
    n = 0
    print(f"{'paragraphs':>12} {'par/s':>9} {'par/CPU-s':>10} {'RSS MiB':>8} {'B/par':>6}", flush=True)

    def record(n, t, cpu, rss):
        pn, pt, pc = last
        row = {
            "paragraphs": n,
            "window_paragraphs_per_sec": (n - pn) / max(t - pt, 1e-9),
            "window_paragraphs_per_cpu_sec": (n - pn) / max(cpu - pc, 1e-9),
            "rss_bytes": rss,
            "rss_growth_bytes_per_paragraph": (rss - rss0) / max(n, 1),
        }
        rows.append(row)
        print(
            f"{n:>12,} {row['window_paragraphs_per_sec']:>9,.0f} {row['window_paragraphs_per_cpu_sec']:>10,.0f}"
            f" {rss / 2**20:>8,.0f} {row['rss_growth_bytes_per_paragraph']:>6,.0f}",
            flush=True,
        )

    with open(args.corpus, "rb") as f:
        for line in f:
            proc.stdin.write(line)
            n += 1
            if n % args.every == 0:
                t, cpu, rss = sample(proc.pid)
                record(n, t, cpu, rss)
                last = (n, t, cpu)
    # Last window: sample just before the process exits (after stdin closes
    # it drains and commits; its /proc entry is gone after wait).
    proc.stdin.close()
    final = sample(proc.pid)
    while proc.poll() is None:
        final = sample(proc.pid)
        time.sleep(0.05)
    if n % args.every:
        record(n, *final)
    if proc.returncode:
        sys.exit(f"chaff ingest failed with {proc.returncode}")
    result = {"corpus": args.corpus, "batch_size": args.batch_size, "baseline_rss_bytes": rss0, "rows": rows}
    if args.reopen:
        start = time.monotonic()
        out = subprocess.run([args.chaff, "stats", "--data-dir", data_dir], capture_output=True, text=True, check=True)
        result["reopen_seconds"] = time.monotonic() - start
        print(f"reopen (chaff stats on the data directory): {result['reopen_seconds']:.1f} s")
        print(out.stdout.strip())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if tmp:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
