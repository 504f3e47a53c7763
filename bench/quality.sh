#!/usr/bin/env bash
# Paragraph-track quality of chaff on the labelled benchmark sets, streaming
# and final labels, scored by `chaff eval` (the benchmark scorer's measures).
#   bench/quality.sh BENCH_DIR [extra chaff eval flags...]
set -euo pipefail
bench=${1:?usage: bench/quality.sh BENCH_DIR [chaff eval flags]}
shift
cd "$(dirname "$0")/.."
cargo build --release --quiet
for set in news-dev dragnet wcxb-dev; do
  for mode in streaming final; do
    flag=(); [ "$mode" = final ] && flag=(--final)
    echo "== $set ($mode)"
    ./target/release/chaff eval --gold "$bench/$set.jsonl.gz" "${flag[@]}" "$@" 2>/dev/null | tail -n +2
  done
done
