#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs every test
# (unit, integration and the fault-injection suite, each PostgreSQL test
# binary with its own throwaway servers), then prints how many faults the
# fault suite injected. Then the fuzz stage (ops/fuzz.sh): the libFuzzer
# targets, built with clang in build-fuzz/, each run for
# HANDOFF_FUZZ_SECONDS (default 30; 0 skips the stage).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/install-deps.sh
bash ops/build.sh
cd build
status=0
ctest --output-on-failure --timeout 900 -j "${HANDOFF_TEST_JOBS:-2}" "$@" || status=$?
# ctest keeps each test's output in its log; the suite's summary line is in it.
grep -h "^faults injected:" Testing/Temporary/LastTest*.log 2>/dev/null || true
cd ..
if [ "${HANDOFF_FUZZ_SECONDS:-30}" != 0 ]; then
  bash ops/fuzz.sh || status=1
fi
exit "$status"
