#!/usr/bin/env bash
# run_fuzz.sh NAME BINARY WORKDIR DICT SEED_DIR...: runs one libFuzzer target for
# $HANDOFF_FUZZ_SECONDS (default 30) on WORKDIR/corpus/NAME (kept between runs,
# new inputs go there) and the seed directories, with the dictionary DICT
# ("-" for none), and prints one summary line,
# also written to WORKDIR/NAME.summary. Exits non-zero when the target found a
# crash, a leak, undefined behaviour or a broken invariant (the input is then
# in WORKDIR/artifacts/NAME/, and the log's tail is printed).
set -uo pipefail
name=$1 bin=$2 work=$3 dict=$4
shift 4
secs=${HANDOFF_FUZZ_SECONDS:-30}
corpus=$work/corpus/$name
artifacts=$work/artifacts/$name
log=$work/$name.log
mkdir -p "$corpus" "$artifacts"
opts=()
[ "$dict" != - ] && opts+=("-dict=$dict")
seeds=()
for d in "$@"; do [ -d "$d" ] && seeds+=("$d"); done
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer  # file:line in reports
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
start=$SECONDS
"$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "${opts[@]}" "$corpus" "${seeds[@]}" >"$log" 2>&1
rc=$?
elapsed=$((SECONDS - start))
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
last=$(grep -E '^#[0-9]+' "$log" | tail -1)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
if [ "$rc" -eq 0 ]; then
  result=clean
else
  found=$(ls -t "$artifacts" 2>/dev/null | head -1)
  result="FAILED (exit $rc${found:+, input $artifacts/$found})"
fi
line="fuzz $name: ${runs:-?} runs in ${elapsed}s, cov ${cov:-?}, corpus ${corp:-?}, $result"
echo "$line" | tee "$work/$name.summary"
if [ "$rc" -ne 0 ]; then
  tail -n 60 "$log"
  [ -n "${found:-}" ] && echo "reproduce: $bin $artifacts/$found"
fi
exit "$rc"
