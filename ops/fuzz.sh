#!/usr/bin/env bash
# The fuzz stage of the test command: builds the libFuzzer targets with clang
# in build-fuzz/ (every library with coverage, ASan and UBSan; only what the
# targets need) and runs each target for HANDOFF_FUZZ_SECONDS (default 30),
# two at a time, as the ctest tests labelled "fuzz". Prints one line per
# target; exits non-zero when one found a crash, a leak, undefined behaviour
# or a broken invariant. Extra arguments go to ctest (e.g. -R webhook_fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
cxx=${HANDOFF_FUZZ_CXX:-}
if [ -z "$cxx" ]; then
  if command -v clang++-14 >/dev/null; then cxx=clang++-14; else cxx=clang++; fi
fi
targets=(pgoutput_fuzz intake_wire_fuzz webhook_fuzz config_fuzz debezium_fuzz)
start=$SECONDS
# -O1 and line tables only: quicker to build than RelWithDebInfo, and reports still name file:line.
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only" \
  -DCMAKE_CXX_COMPILER="$cxx" -DHANDOFF_FUZZ=ON -DHANDOFF_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "${HANDOFF_JOBS:-2}" --target "${targets[@]}" >build-fuzz/build.log 2>&1 ||
  { tail -n 40 build-fuzz/build.log; exit 1; }
echo "fuzz: targets built in $((SECONDS - start))s"
cd build-fuzz
rm -f fuzz/*.summary
status=0
ctest -L fuzz -j 2 --output-on-failure "$@" || status=$?
for t in "${targets[@]}"; do cat "fuzz/$t.summary" 2>/dev/null || true; done
exit "$status"
