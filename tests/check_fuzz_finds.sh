#!/bin/sh
# check_fuzz_finds.sh: the fuzzer itself finds a planted bug, and the case
# it writes replays in that bug's program, in the world the case describes.
#
#   tests/check_fuzz_finds.sh [BUILDDIR]    (make check runs it)
#
# A bounded run (a fixed libFuzzer seed, at most 20000 inputs or 60 s) of
# mutants/push-write-cancel-reports-fuzz, the fuzzer built with that bug in
# place, from an empty corpus, must write a case; then
#
#   pushpoll torture --engine push --replay CASE --mutant push-write-cancel-reports
#
# must report the violation (R2), and the same case without the bug none,
# after the same steps and allocations: the replay ran the fuzzed world in
# the bug's program, not the scenario's own world.  Skipped (77) where the
# build has no fuzzer (configure found no clang with libFuzzer).
set -u

build=$(cd "${1:-.}" && pwd)
bin=$build/pushpoll
bug=push-write-cancel-reports
fuzzer=$build/mutants/$bug-fuzz

if [ ! -x "$fuzzer" ]; then
	echo "SKIP: no $fuzzer: this build has no fuzzer (configure needs" \
	     "clang and libFuzzer: apt-get install clang libclang-rt-14-dev)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/corpus"

"$fuzzer" --engine push -seed=1 -runs=20000 -max_total_time=60 \
	-artifact_prefix="$tmp/" "$tmp/corpus" >"$tmp/fuzz.log" 2>&1
case=$(ls "$tmp"/crash-* "$tmp"/timeout-* 2>/dev/null | head -n 1)
if [ -z "$case" ]; then
	echo "FAIL: the fuzzer found no case with $bug in place:"
	tail -n 20 "$tmp/fuzz.log"
	exit 1
fi
echo "the fuzzer wrote $case after" \
     "$(grep -c '^#[0-9]' "$tmp/fuzz.log") progress lines"

"$bin" torture --engine push --replay "$case" --mutant $bug \
	>"$tmp/bug.out" 2>/dev/null
rc=$?
cat "$tmp/bug.out"
# In a sanitizer build the use after free that the callback leads to (a
# composition's state freed under the cancel that walks it) ends the case
# before the count of R2 is read: that verdict is the bug's too, but the
# case's world cannot be compared then (no steps are reported).
crashed=no
grep -q 'crashed: AddressSanitizer: heap-use-after-free' "$tmp/bug.out" &&
	crashed=yes
if [ $rc -ne 1 ] || { ! grep -q '(R2)' "$tmp/bug.out" && [ $crashed = no ]; }
then
	echo "FAIL: the replay with $bug exited $rc without the R2 violation"
	exit 1
fi
"$bin" torture --engine push --replay "$case" >"$tmp/plain.out" 2>/dev/null
rc=$?
cat "$tmp/plain.out"
if [ $rc -ne 0 ]; then
	echo "FAIL: the replay without the bug exited $rc"
	exit 1
fi
# "... N steps, M allocations, cancel ...": the world the case ran in.
world() {
	sed -n 's/.*: \([0-9]* steps, [0-9]* allocations\),.*/\1/p' "$1"
}
if [ $crashed = yes ]; then
	echo "PASS: found, and replayed in the bug's program (a sanitizer" \
	     "build: the world is compared in a plain one)"
	exit 0
fi
if [ -z "$(world "$tmp/plain.out")" ] ||
   [ "$(world "$tmp/bug.out")" != "$(world "$tmp/plain.out")" ]; then
	echo "FAIL: the replay with $bug ran another world:" \
	     "'$(world "$tmp/bug.out")', without it '$(world "$tmp/plain.out")'"
	exit 1
fi
echo "PASS: found, and replayed in the bug's program in the case's world"
