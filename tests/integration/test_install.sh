#!/usr/bin/env bash
# test_install.sh - `meson install` gives a gliad that starts: every bundle the installed
# configuration names is installed and loads, and the README that the systemd unit's
# Documentation= names is where it says (TAP output).
#
# The build is installed into a scratch DESTDIR (meson install --destdir, --no-rebuild:
# meson test has just built it). The installed configuration holds the final paths
# (MODELS_DIR/NAME), which do not exist outside the DESTDIR, so gliad checks a copy of it
# written next to it (same directory, so relative paths mean the same) whose MODELS_DIR
# paths are prefixed with the DESTDIR; nothing else in it changes. A bundle removed from
# the DESTDIR must make that check fail, which shows the check looks at the files.
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
echo "1..5"
# shellcheck source=tests/support/tap.sh
. "$(dirname "$0")/../support/tap.sh"

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

# gliad --check: the installed binary, the installed configuration (rewritten copy).
check_config=$(dirname "$root$config")/gliad-destdir.yaml
sed -e "s|path: $models_dir/|path: $root$models_dir/|" "$root$config" >"$check_config"
want="configuration ok, ${#models[@]} model(s), 0 failed to load"
out=$("$root$gliad" --config "$check_config" --check 2>&1)
status=$?
if [ "$status" -eq 0 ] && grep -qF -- "$want" <<<"$out"; then
  ok "installed gliad --check on the installed configuration: $want"
else
  not_ok "installed gliad --check on the installed configuration" "exit $status, want 0 and '$want':" \
    "$(tail -n 20 <<<"$out")"
fi

# Without one of the bundles the same check fails and names it.
last=
[ "${#models[@]}" -gt 0 ] && last=${models[${#models[@]} - 1]}
if [ -n "$last" ] && mv "$root$models_dir/$last" "$tmp/moved-away"; then
  out=$("$root$gliad" --config "$check_config" --check 2>&1)
  status=$?
  if [ "$status" -ne 0 ] && grep -qF -- "$last" <<<"$out"; then
    ok "--check fails when bundle $last is missing (exit $status)"
  else
    not_ok "--check fails when bundle $last is missing" "exit $status:" "$(tail -n 20 <<<"$out")"
  fi
else
  not_ok "--check fails when a bundle is missing" "cannot move bundle ${last:-(none named)} out of $root$models_dir"
fi

# The unit's Documentation= (file://PATH) is installed.
doc=$(sed -n 's|^Documentation=file://||p' "$root$unit")
if [ -n "$doc" ] && [ -f "$root$doc" ] && cmp -s "$root$doc" "${GLIA_SOURCE_ROOT:-.}/README.md"; then
  ok "the unit's Documentation= file://$doc is the installed README"
else
  not_ok "the unit's Documentation= is installed" "Documentation=file://${doc:-?}: no such file in $root"
fi
[ "$failed" -eq 0 ]
