#!/usr/bin/env bash
# bench/translate_baselines.sh - the English -> Spanish baselines of issue 6 on the test split of
# gettext-en-es, scored like glia's models (corpus BLEU-4 with the 13a tokenizer and chrF2,
# core/train/mtscore.h):
#
#   apertium   Apertium's rule-based eng-spa pair (Debian: apertium, apertium-en-es; installed by
#              scripts/setup --test), unknown-word marks off (-u)
#   copy       the English source itself as the "translation": what a system gets for copying
#              format strings, numbers, names and untranslated words
#
#   bench/translate_baselines.sh [BUILD_DIR] [DATASET]
#       BUILD_DIR: default build; it must hold cli/glia. DATASET: gettext-en-es (default),
#       docs-en-es (LibreOffice's help, issue 18.3b) or gettext-docs-en-es.
#
# The texts come from `glia gettext --dataset DATASET` (GLIA_GETTEXT_EN_ES, GLIA_DOCS_EN_ES,
# else where scripts/setup put them); the outputs stay in BUILD_DIR/translate-baselines/
# (gettext-en-es) or BUILD_DIR/translate-baselines-DATASET/ for inspection.
#
# Alignment: every English message is translated by its own `apertium -u eng-spa` run (as many
# at a time as there are cores), and each run must give exactly one line. One run over the whole
# file, one message per line, keeps the line count but not the messages apart: Apertium's
# transfer rules match across line ends ("the old\nfiles" comes out as "Las limas\nviejas"),
# and with a blank line after each message (a sentence end to Apertium) its HMM tagger still
# tags some words differently depending on the messages before them (about 5% of the test lines
# change). Separate runs make each line the translation of that message alone, in any order.
set -euo pipefail

build=${1:-build}
dataset=${2:-gettext-en-es}
root=$(cd "$(dirname "$0")/.." && pwd)
case "$build" in /*) ;; *) build=$root/$build ;; esac
glia=$build/cli/glia
if [ ! -x "$glia" ]; then
  echo "translate_baselines: $glia not found: build first (scripts/build, or ninja -C $build)" >&2
  exit 1
fi
modes=$(apertium -l 2> /dev/null || true)
if ! grep -qx '[[:space:]]*eng-spa' <<< "$modes"; then
  echo "translate_baselines: Apertium's eng-spa pair is missing: apt-get install apertium apertium-en-es" \
       "(scripts/setup --test installs it)" >&2
  exit 1
fi

out=$build/translate-baselines
[ "$dataset" = gettext-en-es ] || out=$out-$dataset
mkdir -p "$out"
"$glia" gettext --dataset "$dataset" --split test --side en > "$out/test.en"
"$glia" gettext --dataset "$dataset" --split test --side es > "$out/test.es"
n=$(wc -l < "$out/test.en")
if [ "$n" -eq 0 ] || [ "$n" -ne "$(wc -l < "$out/test.es")" ]; then
  echo "translate_baselines: test.en and test.es differ in length or are empty" >&2
  exit 1
fi

# Apertium: one process per message, the outputs gathered in data-set order.
rm -rf "$out/apertium.d"
mkdir -p "$out/apertium.d"
awk -v dir="$out/apertium.d" '{ f = sprintf("%s/%06d.en", dir, NR); print > f; close(f) }' "$out/test.en"
jobs=$(nproc 2> /dev/null || echo 1)
start=$(date +%s.%N)
find "$out/apertium.d" -name '*.en' -print0 | sort -z |
  xargs -0 -n 16 -P "$jobs" sh -c 'for f; do apertium -u eng-spa < "$f" > "${f%.en}.es" || exit 255; done' sh
end=$(date +%s.%N)
for ((i = 1; i <= n; i++)); do
  printf -v f '%s/%06d.es' "$out/apertium.d" "$i"
  mapfile -t lines < "$f"
  if [ "${#lines[@]}" -ne 1 ]; then
    echo "translate_baselines: apertium gave ${#lines[@]} lines for message $i ($f)" >&2
    exit 1
  fi
  printf '%s\n' "${lines[0]}"
done > "$out/apertium.es"
rm -rf "$out/apertium.d"
apertium_seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

score() { # system hypothesis-file
  local s
  s=$("$glia" score --hyp "$2" --ref "$out/test.es")
  printf '%s\t%s\n' "$1" "$(printf '%s\n' "$s" | head -n 1)" >> "$out/details.txt"
  printf '%-10s %6s %6s %9s\n' "$1" "$(printf '%s\n' "$s" | sed -n 's/^bleu=//p')" \
    "$(printf '%s\n' "$s" | sed -n 's/^chrf=//p')" "$n"
}

: > "$out/details.txt"
echo "$dataset test split, English -> Spanish (BLEU: 13a tokens, 4-grams; chrF2: 6-grams)"
printf '%-10s %6s %6s %9s\n' system BLEU chrF sentences
score apertium "$out/apertium.es"
score copy "$out/test.en"
# issue 18: the messages of 16 to 40 English words (glia eval's "long" line) apart
long() { # file -> its lines whose English message has 16-40 words
  awk 'NR == FNR { n = split($0, w, /[ \t]+/); if ($0 ~ /^[ \t]/) n--; keep[FNR] = n >= 16 && n <= 40; next }
       keep[FNR]' "$out/test.en" "$1"
}
long "$out/test.es" > "$out/long.es"
long "$out/apertium.es" > "$out/long.apertium.es"
s=$("$glia" score --hyp "$out/long.apertium.es" --ref "$out/long.es")
printf '%-10s %6s %6s %9s   (16-40 English words)\n' apertium "$(printf '%s\n' "$s" | sed -n 's/^bleu=//p')" \
  "$(printf '%s\n' "$s" | sed -n 's/^chrf=//p')" "$(wc -l < "$out/long.es")"
echo
cat "$out/details.txt"
echo "apertium $(apertium -V 2>/dev/null | head -n 1 | sed 's/^[^0-9]*//'), eng-spa data" \
  "$(dpkg-query -W -f '${Version}' apertium-eng-spa 2>/dev/null || echo '?'): ${apertium_seconds} s for $n messages" \
  "($jobs at a time)"
