#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench: build first (the Makefile runs `make tests`), then every
# benchmark section of bench/bench.py; writes build/bench/results.json,
# docs/BENCHMARKS.md and docs/bench-throughput.svg.  Extra arguments go to
# bench.py (e.g. --only throughput --runs 3).  Needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SEMI_BUILD=${SEMI_BUILD:-$here/../build}
exec /usr/bin/python3 "$here/bench.py" --write-docs "$@"
