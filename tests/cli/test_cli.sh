#!/usr/bin/env bash
# test_cli.sh - the `glia` command-line tool end to end (TAP output).
#
# Runs the real binary the way users do: usage and exit codes, the shipped bundle's
# evaluation on the 10,000 test images (the foundation issue's bar: accuracy >= 0.925),
# predictions on the sample images shipped with the bundle, a short training run that
# writes a complete bundle, and clear messages for bad input.
# Usage: test_cli.sh path/to/glia
set -u
glia=$1
root=${GLIA_SOURCE_ROOT:-.}
bundle=$root/models/fashion-cnn
tmp=$(mktemp -d /tmp/glia-test-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0
echo "1..11"
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
  n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift
  for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
}
# expect NAME WANT_EXIT PATTERN CMD...: exit status and a pattern in stdout+stderr
expect() {
  local name=$1 want=$2 pattern=$3
  shift 3
  local out status
  out=$("$@" 2>&1)
  status=$?
  if [ "$status" -eq "$want" ] && grep -qE -- "$pattern" <<<"$out"; then ok "$name"; else
    not_ok "$name" "exit $status (want $want), output:" "$(head -c 600 <<<"$out")"; fi
}

expect "no arguments print usage and exit 2" 2 "usage:" "$glia"
expect "an unknown command is named" 2 "unknown command 'fly'" "$glia" fly

# The shipped bundle on the whole test split; the last line is exactly accuracy=0.XXXX.
out=$("$glia" eval "$bundle" 2>&1)
last=$(tail -n 1 <<<"$out")
if [[ $last =~ ^accuracy=0\.[0-9]{4}$ ]] && awk -v a="${last#accuracy=}" 'BEGIN { exit !(a >= 0.925) }' &&
  grep -q "examples=10000" <<<"$out"; then ok "glia eval models/fashion-cnn: $last on 10000 images (>= 0.925)"; else
  not_ok "glia eval models/fashion-cnn reaches 0.925" "$out"; fi

# Sample images (PNG and PGM), one per class, named after their true class.
right=0
total=0
out=$("$glia" predict "$bundle" "$bundle"/samples/* 2>&1)
status=$?
while IFS=$'\t' read -r file label prob; do
  total=$((total + 1))
  want=$(basename "${file%.*}")
  got=$(tr 'A-Z/ ' 'a-z--' <<<"$label")
  [ "$want" = "$got" ] && right=$((right + 1))
done <<<"$out"
if [ $status -eq 0 ] && [ $total -eq 10 ] && [ $right -ge 8 ]; then ok "glia predict: $right of 10 sample images right"; else
  not_ok "glia predict gets at least 8 of 10 sample images right" "exit $status, $right of $total" "$out"; fi

expect "a missing bundle is named" 1 "nonexistent" "$glia" eval "$tmp/nonexistent"
printf 'P5\n28 28\n255\nshort' >"$tmp/truncated.pgm"
expect "a truncated image is reported, the others still predicted" 1 "truncated.pgm" \
  "$glia" predict "$bundle" "$tmp/truncated.pgm" "$bundle/samples/bag.png"
expect "text is not an image" 1 "notes.txt" "$glia" predict "$bundle" "$root/README.md" "$tmp/notes.txt"

# A short training run writes a complete bundle that the other commands accept.
cat >"$tmp/recipe.yaml" <<YAML
model: $bundle/model.yaml
dataset: {name: fashion-mnist, validation: 200}
seed: 2
epochs: 1
batch: {policy: fixed, size: 32}
optimizer: {type: adam, lr: 0.001}
YAML
out=$("$glia" train "$tmp/recipe.yaml" --out "$tmp/trained" --limit 700 --threads 2 2>&1)
if [ $? -eq 0 ] && grep -qE "^epoch 1/1 .*loss=.*val_acc=.*images/s=" <<<"$out" &&
  [[ $(tail -n 1 <<<"$out") =~ ^accuracy=0\.[0-9]{4}$ ]]; then ok "glia train prints a progress line and accuracy="; else
  not_ok "glia train runs" "$out"; fi
if [ -s "$tmp/trained/model.safetensors" ] && [ -s "$tmp/trained/labels.txt" ] && [ -s "$tmp/trained/recipe.yaml" ] &&
  grep -q "accuracy:" "$tmp/trained/model.yaml" && grep -qE "^  seconds: [0-9]+$" "$tmp/trained/model.yaml"; then
  ok "the trained bundle has weights, labels, recipe and results"; else
  not_ok "the trained bundle is complete" "$(ls -l "$tmp/trained" 2>&1)" "$(tail -n 12 "$tmp/trained/model.yaml" 2>&1)"; fi
expect "the trained bundle evaluates" 0 "^accuracy=0\.[0-9]{4}$" "$glia" eval "$tmp/trained" --limit 300
printf 'model: m.yaml\ndataset: {name: fashion-mnist}\noptimizer: {type: adam, learning_rate: 1}\n' >"$tmp/bad.yaml"
expect "a bad recipe is refused with file, line and key" 1 "bad.yaml:3:.*learning_rate" \
  "$glia" train "$tmp/bad.yaml" --out "$tmp/never"

[ $failed -eq 0 ]
