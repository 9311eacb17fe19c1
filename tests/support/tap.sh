# shellcheck shell=bash
# tap.sh - TAP output for the shell tests, sourced after they print their plan:
#   ok NAME                 ok N - NAME
#   not_ok NAME [DETAIL...] not ok N - NAME, then each DETAIL as "# " lines
# $failed counts the not_ok lines; a test ends with `[ "$failed" -eq 0 ]`.
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
  n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift
  for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
}
