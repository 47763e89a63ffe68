#!/usr/bin/env bash
# Configures and builds handoff into ./build (Release with debug info), two jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "${HANDOFF_JOBS:-2}"
