#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing, the demo and the
# benchmarks need. Idempotent; run as root or with sudo available.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libpq-dev postgresql-15 postgresql-contrib
  liblmdb-dev lmdb-utils
  libzmq3-dev cppzmq-dev
  libsimdjson-dev
  libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libcpp-httplib-dev libssl-dev libcurl4-openssl-dev ca-certificates
  libgtest-dev libgmock-dev libbenchmark-dev
  curl procps util-linux
  clang-14 libclang-rt-14-dev llvm-14   # the fuzz stage: clang, libFuzzer + sanitizer runtimes, llvm-symbolizer
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package starts a cluster of its own; handoff's tests and demo run their own servers.
echo "install-deps: done"
