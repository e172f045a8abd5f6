#!/usr/bin/env bash
# test.sh — the whole test suite: install dependencies, build twice (gcc with
# warnings as errors, and clang with AddressSanitizer, UndefinedBehaviorSanitizer
# and the libFuzzer targets); unit tests and the foundation scenarios
# (membership, replication, quorum, restarts, bad input) in the gcc build,
# everything (unit, fuzz, cluster scenarios) in the sanitizer build. Exits
# non-zero if either run failed; the last thing printed is ctest's summary of
# the sanitizer run.
set -euo pipefail

cd "$(dirname "$0")/.."

banner() {
	printf '\n'
	printf '=%.0s' $(seq 72)
	printf '\n=== %s\n' "$*"
	printf '=%.0s' $(seq 72)
	printf '\n'
}

banner "dependencies"
bash scripts/install-deps.sh

banner "build: gcc (build/)"
CC=gcc cmake -S . -B build -DVDISK_WERROR=ON
cmake --build build -j2

banner "build: clang, ASan + UBSan + libFuzzer (build-asan/)"
CC=clang cmake -S . -B build-asan -DVDISK_SANITIZE=ON -DVDISK_FUZZ=ON -DVDISK_WERROR=ON
cmake --build build-asan -j2

# The fuzzers and most cluster scenarios run once, in the sanitizer build,
# where a memory error or undefined behaviour fails them; the gcc build
# (warnings as errors, the binaries an administrator installs) runs the unit
# tests and the foundation scenarios.
banner "tests: gcc build (unit, foundation scenarios)"
rc_gcc=0
ctest --test-dir build -L 'unit|foundation' --output-on-failure || rc_gcc=$?

banner "tests: sanitizer build (gcc run: $([[ $rc_gcc == 0 ]] && echo passed || echo "FAILED, exit $rc_gcc"))"
rc_asan=0
ctest --test-dir build-asan --output-on-failure || rc_asan=$?

if ((rc_gcc != 0)); then
	exit "$rc_gcc"
fi
exit "$rc_asan"
