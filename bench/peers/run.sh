#!/usr/bin/env bash
# Near-duplicate benchmark of chaff against rensa, gaoya, datasketch and a
# CCNet-style exact dedup on one corpus of bench/corpus/generate.py.
#   bench/peers/run.sh CORPUS_DIR [bench.py flags, e.g. --peers rensa,chaff]
# Creates bench/.venv-peers (pinned requirements.txt), builds chaff (set
# CHAFF=path to use a given binary instead), prints the table and writes
# CORPUS_DIR/peers/results.json.
set -euo pipefail
corpus=${1:?usage: bench/peers/run.sh CORPUS_DIR [bench.py flags]}
shift
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=$root/bench/.venv-peers
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  echo '*' >"$venv/.gitignore" # the venv ignores itself
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi
if [ -z "${CHAFF:-}" ]; then
  (cd "$root" && cargo build --release --quiet)
  CHAFF=$root/target/release/chaff
fi
exec "$venv/bin/python" "$here/bench.py" "$corpus" --chaff "$CHAFF" "$@"
