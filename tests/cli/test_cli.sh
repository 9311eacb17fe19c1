#!/usr/bin/env bash
# test_cli.sh - the `glia` command-line tool end to end (TAP output).
#
# Runs the real binary the way users do: usage and exit codes, the shipped bundle's
# evaluation on the 10,000 test images (the foundation issue's bar: accuracy >= 0.925),
# predictions on the sample images shipped with the bundle, a short training run that
# writes a complete bundle, and clear messages for bad input; then the same for the
# sentiment-lstm text bundle (needs the UCI sentences of scripts/setup --test). The command
# line itself: every command's --help, usage errors (exit 2, a message and a usage line),
# options that do not apply to the model (eval --dataset among them), and --version of glia and gliad.
# Usage: test_cli.sh path/to/glia [path/to/gliad]
set -u
glia=$1
gliad=${2:-}
root=${GLIA_SOURCE_ROOT:-.}
bundle=$root/models/fashion-cnn
tmp=$(mktemp -d /tmp/glia-test-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "1..43"
# shellcheck source=tests/support/tap.sh
. "$(dirname "$0")/../support/tap.sh"
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

# ---- the command line: help, usage errors, --version ----
for c in train eval predict forward score gettext; do
  expect "glia $c --help prints its usage and options, exit 0" 0 "^usage: glia $c" "$glia" $c --help
done
out=$("$glia" --help 2>&1)
if [ $? -eq 0 ] && grep -q "^usage: glia COMMAND" <<<"$out" && [ "$(grep -cE "^  (train|eval|predict|forward|score|gettext) " <<<"$out")" -eq 6 ]; then
  ok "glia --help lists the six commands"; else not_ok "glia --help lists the commands" "$out"; fi
text=$root/models/sentiment-lstm
translate=$root/models/translate-en-es
expect "an unknown option is named, exit 2" 2 "unrecognized option '--bogus'" "$glia" eval "$bundle" --bogus
expect "an option without its argument, exit 2" 2 "option '--limit' requires an argument" "$glia" eval "$bundle" --limit
expect "a missing argument, exit 2 with a usage line" 2 "^usage: glia forward DIR IN" "$glia" forward "$bundle" "$tmp/in.safetensors"
expect "an extra argument is named, exit 2" 2 "unexpected argument 'extra'" "$glia" forward "$bundle" a b extra
expect "--beam x is not a number, exit 2" 2 "--beam expects an integer from 1 to 64, got 'x'" "$glia" predict "$translate" hello --beam x
expect "--beam 0 is out of range, exit 2" 2 "--beam expects an integer from 1 to 64, got '0'" "$glia" predict "$translate" hello --beam 0
expect "--beam after the sentences is an option: a text model refuses it, exit 2" 2 \
  "--beam does not apply to text-classification models" "$glia" predict "$text" "I loved it" --beam 2
expect "the same with POSIXLY_CORRECT set" 2 "--beam does not apply" env POSIXLY_CORRECT=1 "$glia" predict "$text" "I loved it" --beam 2
expect "--beam on an image model's eval, exit 2" 2 "--beam does not apply to image models" "$glia" eval "$bundle" --beam 2
expect "--dataset on an image model's eval, exit 2" 2 "--dataset does not apply to image models" \
  "$glia" eval "$bundle" --dataset docs-en-es
expect "a translator is tested on translation pairs only, exit 1" 1 "cannot be tested on data set 'fashion-mnist'" \
  "$glia" eval "$translate" --dataset fashion-mnist
expect "after --, a sentence may start with '-'" 0 $'\t-not bad at all$' "$glia" predict "$text" -- "-not bad at all"
expect "options may come first: glia predict --beam 1 DIR TEXT" 0 $'^Cannot open file\t' "$glia" predict --beam 1 "$translate" "Cannot open file"
expect "score without --ref, exit 2" 2 "--ref FILE is required" "$glia" score --hyp "$tmp/hyp"
version_ok() { # NAME OUTPUT: "NAME X.Y.Z", a revision and the BLAS line
  grep -qE "^$1 [0-9]+\.[0-9]+\.[0-9]+" <<<"$2" && grep -qE "^revision: [^ ]+$" <<<"$2" &&
    grep -qE "^blas: (OpenBLAS, core [A-Za-z0-9_]+, [0-9]+ threads?|not OpenBLAS)" <<<"$2"
}
out=$("$glia" --version 2>&1)
if [ $? -eq 0 ] && version_ok glia "$out"; then ok "glia --version: $(tr '\n' ' ' <<<"$out")"; else
  not_ok "glia --version prints version, revision and BLAS core" "$out"; fi
if [ -z "$gliad" ]; then ok "gliad --version # SKIP no gliad given"; else
  dout=$("$gliad" --version 2>&1)
  if [ $? -eq 0 ] && version_ok gliad "$dout" && [ "$(sed -n 2p <<<"$dout")" = "$(sed -n 2p <<<"$out")" ]; then
    ok "gliad --version: the same version and revision"; else not_ok "gliad --version" "$dout"; fi
fi

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
mkdir -p "$tmp/trained"  # what a kill during a checkpoint write leaves, and a file that only looks like it
touch "$tmp/trained/checkpoint.safetensors.tmp.Ab12Cd" "$tmp/trained/notes.tmp.1"
out=$("$glia" train "$tmp/recipe.yaml" --out "$tmp/trained" --limit 700 --threads 2 2>&1)
status=$?
if [ ! -e "$tmp/trained/checkpoint.safetensors.tmp.Ab12Cd" ] && [ -e "$tmp/trained/notes.tmp.1" ] &&
  grep -q "removed $tmp/trained/checkpoint.safetensors.tmp.Ab12Cd" <<<"$out"; then
  ok "glia train removes an earlier run's unfinished temporary from OUT, and only that"; else
  not_ok "glia train removes stale temporaries" "$out" "$(ls -la "$tmp/trained" 2>&1)"; fi
if [ $status -eq 0 ] && grep -qE "^epoch 1/1 .*loss=.*val_acc=.*images/s=" <<<"$out" &&
  [[ $(tail -n 1 <<<"$out") =~ ^accuracy=0\.[0-9]{4}$ ]]; then ok "glia train prints a progress line and accuracy="; else
  not_ok "glia train runs" "$out"; fi
if [ -s "$tmp/trained/model.safetensors" ] && [ -s "$tmp/trained/labels.txt" ] && [ -s "$tmp/trained/recipe.yaml" ] &&
  grep -q "accuracy:" "$tmp/trained/model.yaml" && grep -qE "^  seconds: [0-9]+$" "$tmp/trained/model.yaml"; then
  ok "the trained bundle has weights, labels, recipe and results"; else
  not_ok "the trained bundle is complete" "$(ls -l "$tmp/trained" 2>&1)" "$(tail -n 12 "$tmp/trained/model.yaml" 2>&1)"; fi
expect "the trained bundle evaluates" 0 "^accuracy=0\.[0-9]{4}$" "$glia" eval "$tmp/trained" --limit 300
# validation: 0 trains on every image: nothing selects, the last epoch is kept and said so
sed -e 's/validation: 200/validation: 0/' "$tmp/recipe.yaml" >"$tmp/noval.yaml"
out=$("$glia" train "$tmp/noval.yaml" --out "$tmp/noval" --limit 300 --threads 1 2>&1)
if grep -q "^kept the last epoch (no validation split)" <<<"$out" && grep -q "^epoch 1/1 .*train_acc=" <<<"$out" &&
  ! grep -q "val_acc=" <<<"$out" &&
  grep -qE "^  selected_epoch: 1 +# the last: no validation split$" "$tmp/noval/model.yaml" &&
  ! grep -q "validation_accuracy" "$tmp/noval/model.yaml"; then
  ok "glia train without a validation split keeps the last epoch and writes no validation accuracy"; else
  not_ok "glia train without a validation split" "$out" "$(tail -n 12 "$tmp/noval/model.yaml" 2>&1)"; fi
printf 'model: m.yaml\ndataset: {name: fashion-mnist}\noptimizer: {type: adam, learning_rate: 1}\n' >"$tmp/bad.yaml"
expect "a bad recipe is refused with file, line and key" 1 "bad.yaml:3:.*learning_rate" \
  "$glia" train "$tmp/bad.yaml" --out "$tmp/never"

# ---- the text model ----
uci=${GLIA_UCI_SENTIMENT:-$root/.cache/data/uci-sentiment}
if [ ! -s "$uci/yelp.json" ]; then
  for i in 1 2 3 4 5 6 7; do ok "text model # SKIP no UCI sentences (scripts/setup --test fetches them)"; done
  [ $failed -eq 0 ]
  exit
fi
out=$("$glia" eval "$text" 2>&1)
last=$(tail -n 1 <<<"$out")
if [[ $last =~ ^accuracy=0\.[0-9]{4}$ ]] && awk -v a="${last#accuracy=}" 'BEGIN { exit !(a >= 0.85) }' &&
  grep -qE "examples=307 amazon=0\.[0-9]{4} imdb=0\.[0-9]{4} yelp=0\.[0-9]{4} overall=" <<<"$out"; then
  ok "glia eval models/sentiment-lstm: $last on 307 sentences (>= 0.85), per source"; else
  not_ok "glia eval models/sentiment-lstm reaches 0.85 with per-source lines" "$out"; fi
out=$("$glia" predict "$text" "I loved it" "The food was awful." 2>&1)
if [ $? -eq 0 ] && grep -qP "^positive\t0\.\d{4}\tI loved it$" <<<"$out" &&
  grep -qP "^negative\t0\.\d{4}\tThe food was awful\.$" <<<"$out"; then ok "glia predict on sentences: label, probability, text"; else
  not_ok "glia predict on sentences" "$out"; fi
expect "an empty sentence is refused, the others still predicted" 1 "has no words" "$glia" predict "$text" "" "fine"
sed -e 's/embedding_dim: 100/embedding_dim: 8/' -e 's/hidden_size: 64/hidden_size: 8/' "$text/model.yaml" >"$tmp/model.yaml"
cp "$text/labels.txt" "$tmp/"
cat >"$tmp/text-recipe.yaml" <<EOR
model: model.yaml
dataset: {name: uci-sentiment, path: $uci}
seed: 3
epochs: 2
vocabulary: {min_count: 2}
lexicon:
  - {path: $root/.cache/npm-bench/node_modules/sentiment/languages/en/labels.json, scale: 0.2}
  - {path: $root/.cache/npm-bench/node_modules/vader-sentiment/vader_lexicon.txt, format: tsv, scale: 0.25}
batch: {policy: fixed, size: 64}
optimizer: {type: adam, lr: 0.01}
EOR
expect "glia train on uci-sentiment: one line per epoch" 0 "^epoch 2/2 .*sentences/s=" \
  "$glia" train "$tmp/text-recipe.yaml" --out "$tmp/text"
if [ -s "$tmp/text/model.safetensors" ] && [ -s "$tmp/text/vocab.txt" ] && [ -s "$tmp/text/labels.txt" ] &&
  grep -q "accuracy_yelp:" "$tmp/text/model.yaml"; then ok "the trained text bundle has weights, vocabulary, labels and results"; else
  not_ok "the trained text bundle is complete" "$(ls -l "$tmp/text" 2>&1)"; fi
expect "the trained text bundle evaluates" 0 "^accuracy=0\.[0-9]{4}$" "$glia" eval "$tmp/text"
sed -e 's/features: 2/features: 3/' "$tmp/model.yaml" >"$tmp/model3.yaml"
sed -e 's/model: model.yaml/model: model3.yaml/' "$tmp/text-recipe.yaml" >"$tmp/text-recipe3.yaml"
expect "a lexicon count that differs from the manifest's is named" 1 "lexicon has 3 features but the recipe lists 2" \
  "$glia" train "$tmp/text-recipe3.yaml" --out "$tmp/never"

[ $failed -eq 0 ]
