#!/usr/bin/env bash
# Run one bench alternately on two checkouts (old, new, old, new, ...) against the same PostgreSQL, with the
# 1-minute load average before each run: the fair way to compare code on a machine whose speed drifts.
#
#   git archive 1da3a69 | (mkdir -p /tmp/old && tar -x -C /tmp/old)     # and the same for the new commit
#   DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench \
#     bench/alternate.sh /tmp/old /tmp/new 4 bench/bench_import.py --rows 100000 --default-rows 0 --only ours
#
# Each checkout runs its own copy of the bench with this repository's .venv. Lines: time, side, load, then
# the bench's own result lines (those starting with "ours", "batch", "p50" ... are kept whole).
set -euo pipefail
old="$1" new="$2" pairs="$3"
shift 3
python="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/bin/python"
for _ in $(seq "$pairs"); do
    for side in old new; do
        dir="$old"
        [ "$side" = new ] && dir="$new"
        echo "$(date +%H:%M:%S) $side load=[$(cut -d' ' -f1-3 /proc/loadavg)]"
        (cd "$dir" && "$python" "$@" 2>&1 | grep -v '^\s*$' | tail -n 20)
    done
done
