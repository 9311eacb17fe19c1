#!/usr/bin/env bash
# test_install.sh - `meson install` gives a gliad that starts: every bundle the installed
# configuration names is installed and loads, and the README that the systemd unit's
# Documentation= names is where it says (TAP output).
#
# The build is installed into a scratch DESTDIR (meson install --destdir, --no-rebuild:
# meson test has just built it); tests/support/gliad_check.sh runs the installed gliad
# --check on the installed configuration, and again without one bundle, which must fail.
#
# Usage: test_install.sh MESON BUILD_DIR GLIAD CONFIG UNIT MODELS_DIR NAME...
#   GLIAD, CONFIG, UNIT, MODELS_DIR: final installed paths (without DESTDIR);
#   NAME...: the bundles etc/gliad.yaml serves (shipped_models in meson.build).
set -u
meson=$1 build=$2 gliad=$3 config=$4 unit=$5 models_dir=$6
shift 6
models=("$@")
tmp=$(mktemp -d /tmp/glia-test-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
echo "1..6"
# shellcheck source=tests/support/tap.sh
. "$(dirname "$0")/../support/tap.sh"
# shellcheck source=tests/support/gliad_check.sh
. "$(dirname "$0")/../support/gliad_check.sh"

if out=$("$meson" install -C "$build" --no-rebuild --destdir "$root" 2>&1); then
  ok "meson install --destdir"
else
  not_ok "meson install --destdir" "$(tail -n 20 <<<"$out")"
fi

# Every bundle named by the configuration is a directory with a manifest.
missing=()
for name in "${models[@]}"; do
  [ -f "$root$models_dir/$name/model.yaml" ] || missing+=("$name")
done
if [ "${#models[@]}" -gt 0 ] && [ "${#missing[@]}" -eq 0 ]; then
  ok "the ${#models[@]} bundles etc/gliad.yaml serves are installed: ${models[*]}"
else
  not_ok "the bundles etc/gliad.yaml serves are installed" "missing in $root$models_dir: ${missing[*]:-(no bundles named)}"
fi

# gliad --check: the installed binary on the installed configuration, and without a bundle.
gliad_check_tree installed "$root" "$gliad" "$config" "$models_dir" "$tmp" "${models[@]}"

# The unit's Documentation= (file://PATH) is installed.
doc=$(sed -n 's|^Documentation=file://||p' "$root$unit")
if [ -n "$doc" ] && [ -f "$root$doc" ] && cmp -s "$root$doc" "${GLIA_SOURCE_ROOT:-.}/README.md"; then
  ok "the unit's Documentation= file://$doc is the installed README"
else
  not_ok "the unit's Documentation= is installed" "Documentation=file://${doc:-?}: no such file in $root"
fi
# The web console (issue 15): the installed configuration's console.dir holds the page.
console_dir=$(sed -n 's|^  dir: \(.*/console\)$|\1|p' "$root$config")
if [ -n "$console_dir" ] && [ -f "$root$console_dir/index.html" ] && [ -f "$root$console_dir/app.js" ]; then
  ok "the installed gliad.yaml's console.dir $console_dir holds index.html and app.js"
else
  not_ok "the web console is installed" "console.dir '${console_dir:-?}' in $config: no index.html under $root"
fi
[ "$failed" -eq 0 ]
