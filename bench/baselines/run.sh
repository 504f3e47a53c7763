#!/usr/bin/env bash
# Baselines for chaff: the per-page extractors trafilatura (without and with comments), readability-lxml and
# jusText on the benchmark files, scored with the benchmark's own score.py (paragraph and extraction tracks).
# See README.md beside this file.
#
#   bench/baselines/run.sh BENCH_DIR [OUT_DIR]
#
# BENCH_DIR holds dragnet.jsonl.gz, wcxb-dev.jsonl.gz and score.py. OUT_DIR defaults to bench/out.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 BENCH_DIR [OUT_DIR]" >&2
  exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BENCH=$(cd "$1" && pwd)
OUT=${2:-$ROOT/bench/out}
mkdir -p "$OUT/scores"
OUT=$(cd "$OUT" && pwd)
VENV=$ROOT/bench/.venv
PY=$VENV/bin/python
EXTRACTORS="trafilatura trafilatura-comments readability justext"

# 1. The virtual environment: made once, and installed again only when requirements.txt changes.
if ! cmp -s "$HERE/requirements.txt" "$VENV/baselines-requirements.txt"; then
  [ -x "$PY" ] || "${PYTHON:-python3}" -m venv "$VENV"
  # The pip that comes with Python 3.11 fails to resolve lxml[html_clean]; a pinned newer pip does.
  "$PY" -m pip install --quiet --disable-pip-version-check pip==26.3
  "$PY" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/baselines-requirements.txt"
fi

# 2. Extraction, one extractor at a time, single process. Pages without html get no prediction line.
: > "$OUT/wall.tsv"
for data in dragnet wcxb-dev; do
  for ex in $EXTRACTORS; do
    t0=$EPOCHREALTIME
    "$PY" "$HERE/extract.py" --extractor "$ex" --input "$BENCH/$data.jsonl.gz" \
      --out-labels "$OUT/$ex.$data.labels.jsonl" --out-text "$OUT/$ex.$data.text.jsonl"
    awk -v ex="$ex" -v data="$data" -v t0="$t0" -v t1="$EPOCHREALTIME" \
      'BEGIN { printf "%s\t%s\t%.1f\n", ex, data, t1 - t0 }' >> "$OUT/wall.tsv"
  done
done

# 3. WCXB is scored on its pages with html only: score.py would count a page without a prediction line as
#    all-editorial (paragraph track) or as an empty extract (extraction track), which no extractor could avoid.
"$PY" "$HERE/report.py" html-only "$BENCH/wcxb-dev.jsonl.gz" "$OUT/wcxb-dev-html.jsonl.gz"

# 4. Scoring. --strict: a scored page without a prediction line is an error.
score_set() {  # SET_NAME GOLD DATA [score.py options...]
  local set=$1 gold=$2 data=$3 ex
  shift 3
  for ex in $EXTRACTORS; do
    "$PY" "$BENCH/score.py" "$gold" "$OUT/$ex.$data.labels.jsonl" --strict --min-site-pages 5 "$@" \
      --save "$OUT/scores/$set.$ex.para.json" > "$OUT/scores/$set.$ex.para.txt"
    "$PY" "$BENCH/score.py" --extraction "$gold" "$OUT/$ex.$data.text.jsonl" --strict --min-site-pages 5 "$@" \
      --save "$OUT/scores/$set.$ex.extr.json" > "$OUT/scores/$set.$ex.extr.txt"
  done
}
score_set dragnet "$BENCH/dragnet.jsonl.gz" dragnet
score_set dragnet-test "$BENCH/dragnet.jsonl.gz" dragnet --split test
score_set wcxb-dev-html "$OUT/wcxb-dev-html.jsonl.gz" wcxb-dev

# 5. One summary table (also kept as OUT_DIR/summary.md).
"$PY" "$HERE/report.py" table "$OUT" | tee "$OUT/summary.md"
