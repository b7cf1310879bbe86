#!/usr/bin/env bash
# Fuzzes the ONNX importer with libFuzzer (build-san/bin/sparq-fuzz-import,
# built by scripts/sanitize.sh: ASan + UBSan + coverage).
#   1. every hostile variant of the backend models (test/fuzz/make_hostile.py)
#      runs once: values that parse but are absurd (pads of 2^62, ...);
#   2. libFuzzer mutates from the seeds (the repository's models, the ONNX
#      backend test models, a sample of the hostile variants) for --time s.
# Any crash, sanitizer report, time-out (> 10 s) or allocation over 2 GiB
# fails the run and leaves its input in build-san/fuzz/crashes/.
# The mutation seed is fixed (--seed, default 1) and CI gives --runs, so that
# CI tries the same inputs on every run of a commit: one that does not touch
# the importer cannot fail by drawing other mutations. Long runs with fresh
# seeds are made by hand and recorded in docs/testing.md.
#   bash scripts/fuzz.sh [--time SECONDS] [--runs N] [--seed N]
#   (default --time 120 --seed 1; --seed 0 draws one)
set -uo pipefail
cd "$(dirname "$0")/.."
TIME=120
RUNS=-1
SEED=1
while [ $# -gt 0 ]; do
  case "$1" in
    --time) TIME="$2"; shift 2 ;;
    --runs) RUNS="$2"; TIME=0; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    *) echo "usage: $0 [--time SECONDS] [--runs N] [--seed N]" >&2; exit 2 ;;
  esac
done
FUZZ=build-san/bin/sparq-fuzz-import
if [ ! -x "$FUZZ" ]; then
  echo "error: $FUZZ not built (run scripts/sanitize.sh first)" >&2
  exit 2
fi
source scripts/sanitizer-env.sh
WORK=build-san/fuzz
mkdir -p "$WORK/seeds" "$WORK/corpus" "$WORK/crashes"

if [ ! -f "$WORK/hostile.index" ] || [ test/fuzz/make_hostile.py -nt "$WORK/hostile.index" ]; then
  rm -rf "$WORK/hostile"
  /usr/bin/python3 test/fuzz/make_hostile.py "$WORK/hostile" || exit 1
fi
# Seeds: small models only (libFuzzer's -max_len is their largest size).
find examples test/bad-inputs/models /usr/share/libonnx-testdata/data/node \
  -name '*.onnx' -size -64k -print0 |
  while IFS= read -r -d '' f; do
    cp "$f" "$WORK/seeds/$(sha1sum "$f" | cut -c1-16)"
  done
find "$WORK/hostile" -type f -size -64k | sort | awk 'NR % 10 == 0' |
  xargs -r cp -t "$WORK/seeds"

OPTS=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=65536
      -artifact_prefix="$WORK/crashes/" -print_final_stats=1)
status=0
echo "== hostile values: $(ls "$WORK/hostile" | wc -l) variants, each once"
# Individual files run once each; the first failure stops the run and names
# its input (the index says which model, attribute and value it was).
if ! find "$WORK/hostile" -type f -print0 |
    xargs -0 -n 2000 "$FUZZ" "${OPTS[@]}" > "$WORK/hostile.log" 2>&1; then
  tail -40 "$WORK/hostile.log"
  echo "FAILED: a hostile variant crashed (build-san/fuzz/hostile.log)"
  status=1
fi
if [ "$RUNS" -ge 0 ]; then BUDGET="$RUNS runs"; else BUDGET="$TIME s"; fi
echo "== libFuzzer: $BUDGET from $(ls "$WORK/seeds" | wc -l) seeds, seed $SEED"
if ! "$FUZZ" "${OPTS[@]}" -max_total_time="$TIME" -runs="$RUNS" -seed="$SEED" \
    "$WORK/corpus" "$WORK/seeds" > "$WORK/fuzz.log" 2>&1; then
  tail -60 "$WORK/fuzz.log"
  echo "FAILED: the fuzzer found a bug; its input is in $WORK/crashes/"
  status=1
fi
grep -E "^(stat::|#[0-9]+ *DONE)" "$WORK/fuzz.log" | tail -12
exit $status
