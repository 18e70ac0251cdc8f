#!/bin/bash
# lloop-test: engine-independent
# The libFuzzer targets in make check: every committed corpus input (seeds
# and the regression inputs of bugs found) replayed through its target
# (handshake, transmission, fuse, fuse_uring, tls),
# then each target fuzzed for FUZZ_SECONDS (default 30 s).  Uses its own
# clang build, build-fuzz (tests/fuzz/run), not $BUILD.  The targets run a
# fake engine, so the engine under test does not matter.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# the fuzzers are an ASan and UBSan build of their own: the sanitizer
# pass of make check would only repeat the plain one
if [ -n "${LLOOP:-}" ] && "$LLOOP" --version 2>/dev/null | grep -q sanitized; then
	echo "SKIP: $LLOOP is a sanitizer build; the fuzzers have their own ASan/UBSan build, run by the plain pass"
	exit 77
fi
command -v clang-14 >/dev/null 2>&1 || {
	echo "SKIP: clang-14 not installed (scripts/deps)"
	exit 77
}
if ! compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
	echo "SKIP: libFuzzer not installed (libclang-rt-14-dev)"
	exit 77
fi

start=$SECONDS
rc=0
"$here/run" --replay || rc=1
FUZZ_SECONDS=${FUZZ_SECONDS:-30} "$here/run" || rc=1
echo "fuzz: done in $((SECONDS - start)) s"
exit "$rc"
