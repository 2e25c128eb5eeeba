#!/usr/bin/env bash
# Reliability trials, long form: kill -9 and Ctrl-C trials, journal damage, malformed and
# mutated runbooks, secret scans, template injection, stalls and sandbox probes (tests/trials.rs),
# repeated many more times than the short form CI runs. Prints the table for docs/reliability.md.
#   bench/trials.sh            # long form
#   bench/trials.sh short      # what CI runs
#   MESHBOOK_TRIALS_SEED=N bench/trials.sh   # replay the random choices of an earlier run
set -euo pipefail
cd "$(dirname "$0")/.."
form="${1:-long}"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
MESHBOOK_TRIALS="$form" MESHBOOK_TRIALS_TABLE="$table" \
  cargo test --locked --test trials -- --nocapture >&2
echo "trials ($form form, $(date -u +%Y-%m-%d), $(nproc) cores):"
cat "$table"
