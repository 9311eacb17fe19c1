# shellcheck shell=bash
# gliad_check.sh - the two TAP results that an installed or unpacked gliad gives on its
# own configuration, shared by test_install.sh (meson install --destdir) and test_deb.sh
# (dpkg-deb -x); sourced after tap.sh.
#
#   gliad_check_tree WHAT ROOT GLIAD CONFIG MODELS_DIR SCRATCH NAME...
#
# GLIAD, CONFIG and MODELS_DIR are final paths (/usr/sbin/gliad, ...) of a tree unpacked
# under ROOT. The configuration names MODELS_DIR/NAME, which does not exist outside ROOT,
# so gliad checks a copy written next to it (same directory: relative paths mean the
# same) whose MODELS_DIR paths are prefixed with ROOT; nothing else in it changes.
#  1. ROOT's gliad --check on that copy loads every NAME;
#  2. with the last NAME moved out of ROOT (into SCRATCH) the same check fails and names
#     it, which shows the check looks at the files. The bundle stays moved away.
gliad_check_tree() {
  local what=$1 root=$2 gliad=$3 config=$4 models_dir=$5 scratch=$6
  shift 6
  local models=("$@") check_config want out status last=
  check_config=$(dirname "$root$config")/gliad-check-tree.yaml
  sed -e "s|path: $models_dir/|path: $root$models_dir/|" "$root$config" >"$check_config"
  want="configuration ok, ${#models[@]} model(s), 0 failed to load"
  out=$("$root$gliad" --config "$check_config" --check 2>&1)
  status=$?
  if [ "$status" -eq 0 ] && grep -qF -- "$want" <<<"$out"; then
    ok "$what gliad --check on its own configuration: $want"
  else
    not_ok "$what gliad --check on its own configuration" "exit $status, want 0 and '$want':" \
      "$(tail -n 20 <<<"$out")"
  fi

  [ "${#models[@]}" -gt 0 ] && last=${models[${#models[@]} - 1]}
  if [ -n "$last" ] && mv "$root$models_dir/$last" "$scratch/moved-away"; then
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
}
