#!/usr/bin/env bash
# The Python client's tests, in a virtual environment of their own, against
# the chaff binary of this checkout (CHAFF_BIN, else target/debug/chaff).
# Also checks that the committed generated modules match proto/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# The tests run from their own folder: a relative CHAFF_BIN is made absolute.
if [ -n "${CHAFF_BIN:-}" ] && [ "${CHAFF_BIN#/}" = "$CHAFF_BIN" ]; then
  export CHAFF_BIN="$PWD/$CHAFF_BIN"
fi
venv="${CHAFF_PY_VENV:-${TMPDIR:-/tmp}/chaff-client-venv}"
if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian's python3 keeps venv in a package of its own.
    rm -rf "$venv"
    apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-dev.txt"
"$venv/bin/python" "$here/generate.py" --check
cd "$here"
"$venv/bin/python" -m unittest discover -s tests -v
