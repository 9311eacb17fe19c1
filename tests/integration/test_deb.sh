#!/usr/bin/env bash
# test_deb.sh - glia's Debian package: scripts/deb builds it, lintian finds no error or
# warning and every override in scripts/debian/glia.lintian-overrides still matches, and the
# package unpacked with `dpkg-deb -x` holds what it must (binaries, unit, man pages, the
# configuration as a conffile, the bundles that configuration serves) and its gliad
# passes `--check` on its own configuration (TAP output).
#
# The --check on paths rewritten into the scratch root, and its counter-check without a
# bundle, are tests/support/gliad_check.sh's, shared with test_install.sh.
#
# Usage: test_deb.sh NAME...   (the bundles etc/gliad.yaml serves: shipped_models)
# Needs GLIA_SOURCE_ROOT (the checkout scripts/deb packages). Skipped, saying so, when
# debhelper or lintian is missing: scripts/setup --test installs both.
set -u
models=("$@")
src=${GLIA_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}

for tool in dpkg-buildpackage dh lintian; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "1..0 # SKIP $tool is not installed (scripts/setup --test installs debhelper and lintian)"
    exit 0
  fi
done

tmp=$(mktemp -d /tmp/glia-test-deb-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "1..11"
# shellcheck source=tests/support/tap.sh
. "$(dirname "$0")/../support/tap.sh"
# shellcheck source=tests/support/gliad_check.sh
. "$(dirname "$0")/../support/gliad_check.sh"

# 1. The build, as README says to run it (no tests inside, two jobs).
start=$(date +%s)
out=$(DEB_BUILD_OPTIONS="nocheck parallel=2" "$src/scripts/deb" "$tmp/out" 2>&1)
status=$?
deb=$(tail -n 1 <<<"$out")
if [ "$status" -eq 0 ] && [ -f "$deb" ]; then
  ok "scripts/deb built $(basename "$deb") ($(($(date +%s) - start)) s, $(du -k "$deb" | cut -f1) KiB)"
else
  not_ok "scripts/deb builds the package" "exit $status:" "$(tail -n 30 <<<"$out")"
  for _ in $(seq 2 11); do not_ok "skipped: no package"; done
  exit 1
fi

# 2. The package's version is the project's (debian/changelog kept in step with meson.build).
want_version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$src/meson.build" | head -n 1)
version=$(dpkg-deb -f "$deb" Version)
depends=$(dpkg-deb -f "$deb" Depends)
if [ -n "$want_version" ] && [ "$version" = "$want_version" ] && grep -q 'libmicrohttpd' <<<"$depends" \
  && ! grep -qF '${' <<<"$depends"; then
  ok "version $version as in meson.build; Depends from shlibs: $depends"
else
  not_ok "version and Depends" "package $version, meson.build ${want_version:-?}; Depends: $depends"
fi

# 3. lintian: no error, no warning, no override left that matches nothing.
lint=$(lintian --display-info --show-overrides "$deb" 2>&1 | grep -v '^running with root privileges')
bad=$(grep -E '^(E|W): |unused-override|mismatched-override' <<<"$lint")
infos=$(grep -c '^I: ' <<<"$lint")
overridden=$(grep -c '^O: ' <<<"$lint")
if [ -z "$bad" ] && [ "$overridden" -gt 0 ]; then
  ok "lintian: 0 errors, 0 warnings, $infos info tags, $overridden overridden (each explained)"
else
  not_ok "lintian: no error, no warning, every override used" "$bad" \
    "(overridden: $overridden; the overrides are scripts/debian/glia.lintian-overrides)"
fi
printf '%s\n' "$lint" | awk '/^[EWIO]: / { print $1, $3 }' | sort | uniq -c | sed 's/^ */# lintian: /'

root=$tmp/root
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$tmp/control"

# 4. The files the package must hold.
missing=()
for f in usr/sbin/gliad usr/bin/glia; do [ -x "$root/$f" ] || missing+=("$f"); done
for f in lib/systemd/system/gliad.service etc/gliad/gliad.yaml usr/share/man/man8/gliad.8.gz \
  usr/share/man/man1/glia.1.gz usr/share/doc/glia/copyright usr/share/doc/glia/README.md \
  usr/share/lintian/overrides/glia; do
  [ -f "$root/$f" ] || missing+=("$f")
done
if [ "${#missing[@]}" -eq 0 ]; then
  ok "gliad, glia, the unit, the configuration, man pages, README and copyright are in the package"
else
  not_ok "the package's files" "missing: ${missing[*]}"
fi

# 5. Every bundle the configuration serves, each with its manifest.
missing=()
for name in "${models[@]}"; do
  [ -f "$root/usr/share/glia/models/$name/model.yaml" ] || missing+=("$name")
done
if [ "${#models[@]}" -gt 0 ] && [ "${#missing[@]}" -eq 0 ]; then
  ok "the ${#models[@]} bundles etc/gliad.yaml serves are in /usr/share/glia/models: ${models[*]}"
else
  not_ok "the bundles are in /usr/share/glia/models" "missing: ${missing[*]:-(no bundles named)}"
fi

# 6. Every file under /etc is a conffile, and the conffiles name nothing else.
conffiles=$(sort "$tmp/control/conffiles" 2>/dev/null)
etc_files=$(cd "$root" && find etc -type f | sed 's|^|/|' | sort)
if [ -n "$conffiles" ] && [ "$conffiles" = "$etc_files" ]; then
  ok "conffiles: $(tr '\n' ' ' <<<"$conffiles")"
else
  not_ok "the files under /etc are the conffiles" "conffiles: ${conffiles:-(none)}" "files under /etc: $etc_files"
fi

# 7. The unit starts the packaged gliad on the packaged configuration, its Documentation=
#    is there uncompressed, and the maintainer scripts enable it.
unit=$root/lib/systemd/system/gliad.service
exec_start=$(sed -n 's|^ExecStart=||p' "$unit")
doc=$(sed -n 's|^Documentation=file://||p' "$unit")
if [ "$exec_start" = "/usr/sbin/gliad --config /etc/gliad/gliad.yaml" ] && [ -n "$doc" ] && [ -f "$root$doc" ] \
  && grep -q "deb-systemd-helper enable 'gliad.service'" "$tmp/control/postinst" 2>/dev/null; then
  ok "the unit runs $exec_start, documents $doc, postinst enables gliad.service"
else
  not_ok "the unit's paths and postinst" "ExecStart=$exec_start" "Documentation=file://${doc:-?}" \
    "postinst: $(grep -c gliad.service "$tmp/control/postinst" 2>/dev/null || echo missing)"
fi

# 8. No path of the scratch build directory inside the binaries (the data-set default is
#    /var/cache/glia/data), and --version names the packaged revision.
leaks=$(grep -lac -e '/glia-deb-' "$root/usr/bin/glia" "$root/usr/sbin/gliad")
revision=$("$root/usr/sbin/gliad" --version 2>&1 | sed -n 's/^revision: //p')
want_revision=$(git -C "$src" describe --always --dirty --abbrev=12 2>/dev/null)
if [ -z "$leaks" ] && grep -qa '/var/cache/glia/data' "$root/usr/bin/glia" && [ -n "$revision" ] \
  && [ "$revision" = "$want_revision" ]; then
  ok "no build path in the binaries; gliad --version: revision $revision"
else
  not_ok "build paths and revision" "binaries naming the build directory: ${leaks:-none}" \
    "revision ${revision:-?}, want ${want_revision:-?}"
fi

# 9. The unpacked glia runs the packaged bundles on their packaged samples: every sample
#     (samples/LABEL.png, the label in lower case with '/' and ' ' as '-') gets its label.
samples=0 wrong=()
for name in "${models[@]}"; do
  dir=$root/usr/share/glia/models/$name
  [ -d "$dir/samples" ] || continue
  while IFS=$'\t' read -r file label _; do
    samples=$((samples + 1))
    stem=$(basename "${file%.*}")
    slug=$(tr 'A-Z/ ' 'a-z--' <<<"$label")
    [ "$slug" = "$stem" ] || wrong+=("$stem: $label")
  done < <("$root/usr/bin/glia" predict "$dir" "$dir"/samples/* 2>&1)
done
if [ "$samples" -gt 0 ] && [ "${#wrong[@]}" -eq 0 ]; then
  ok "unpacked glia predict: the $samples packaged samples get their labels"
else
  not_ok "unpacked glia predict on the packaged samples" "$samples predicted; wrong: ${wrong[*]:-none}"
fi

# 10, 11. The unpacked gliad --check on the unpacked configuration, and without a bundle.
gliad_check_tree unpacked "$root" /usr/sbin/gliad /etc/gliad/gliad.yaml /usr/share/glia/models "$tmp" "${models[@]}"
[ "$failed" -eq 0 ]
