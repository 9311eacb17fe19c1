#!/usr/bin/env bash
# test_systemd.sh - systemd/gliad.service passes `systemd-analyze verify` and its
# sandbox scores 2.0 or lower in `systemd-analyze security` (TAP output).
# Usage: test_systemd.sh UNIT GLIAD
set -u
unit=$1
gliad=$2
tmp=$(mktemp -d /tmp/glia-test-systemd-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "1..2"
sed -e "s|@SBINDIR@/gliad|$(realpath "$gliad")|; s|@SYSCONFDIR@|/etc|; s|@DOCDIR@|/usr/share/doc/glia|" "$unit" \
  >"$tmp/gliad.service"
if out=$(systemd-analyze verify "$tmp/gliad.service" 2>&1) && [ -z "$out" ]; then
  echo "ok 1 - systemd-analyze verify"
else
  echo "not ok 1 - systemd-analyze verify"
  printf '%s\n' "$out" | sed 's/^/# /'
fi
out=$(systemd-analyze security --offline=true "$tmp/gliad.service" 2>&1)
score=$(grep -oE 'exposure level for gliad.service: [0-9.]+' <<<"$out" | grep -oE '[0-9.]+$')
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
  echo "ok 2 - systemd-analyze security: exposure $score (<= 2.0)"
else
  echo "not ok 2 - systemd-analyze security: exposure ${score:-unknown} (want <= 2.0)"
  printf '%s\n' "$out" | tail -n 30 | sed 's/^/# /'
fi
