#!/bin/sh
# tests/fuzz/run.sh EXE NAME - runs one harness for GLIA_FUZZ_SECONDS (default 3) over its
# seed corpus and its regression inputs, with its dictionary when it has one; GLIA_FUZZ_ARGS
# adds libFuzzer options (bench/fuzz: -runs), GLIA_FUZZ_WORK moves the scratch directory. New inputs go to a scratch corpus in the build directory, never into the source tree;
# a crash, leak, sanitizer report or hang (-timeout) fails the run and leaves the input there
# as crash-*/leak-*/timeout-*.
set -u
exe=$1 name=$2
here=$(cd "$(dirname "$0")" && pwd)
work=${GLIA_FUZZ_WORK:-$(dirname "$exe")/work}/$name
mkdir -p "$work/corpus"
dict=
[ -f "$here/dict/$name.dict" ] && dict="-dict=$here/dict/$name.dict"
dirs=
for d in "$here/corpus/$name" "$here/regressions/$name"; do
  [ -d "$d" ] && dirs="$dirs $d"
done
# ASan: abort on the first report (libFuzzer saves the input); leaks are checked per input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-}:print_stacktrace=1:halt_on_error=1
# One allocation over 512 MiB is a failure: every input here is a few KiB, and no parser
# should size a buffer from a header it has not checked against the bytes it has.
# -error_exitcode: libFuzzer's default, 77, is what meson reads as a skipped test.
exec "$exe" $dict ${GLIA_FUZZ_ARGS:-} -max_total_time="${GLIA_FUZZ_SECONDS:-3}" -timeout=60 -rss_limit_mb=2560 \
  -malloc_limit_mb=512 -error_exitcode=1 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" $dirs
