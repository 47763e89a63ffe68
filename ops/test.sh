#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs every test
# (unit and integration, each integration binary with its own throwaway
# PostgreSQL server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/install-deps.sh
bash ops/build.sh
cd build
ctest --output-on-failure --timeout 900 -j "${HANDOFF_TEST_JOBS:-2}" "$@"
