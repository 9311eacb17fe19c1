#!/usr/bin/env bash
# bench/translate_tune.sh - the decoding grid of issue 18 (3a) on the DEV split of gettext-en-es:
# beam size, GNMT length penalty alpha and the no-repeat n-gram size of a translation bundle,
# each setting scored by `glia eval --split dev` (BLEU, chrF, brevity penalty, outputs that ran
# to the length cap, the 16-40-word subset). Pick on dev, then report test once.
#
#   bench/translate_tune.sh [BUILD_DIR [MODEL_DIR [SETTINGS...]]]
#
# SETTINGS are beam:alpha:n triples (default: the grid below). DATASET=NAME in the environment
# tunes on another translation data set's dev split (docs-en-es, gettext-docs-en-es; default
# gettext-en-es). One OpenBLAS thread, niced: the
# grid takes about 2 minutes a setting on a shared 2-core machine. Each setting's log and
# translations stay in BUILD_DIR/translate-tune/MODEL-DATASET/; the table goes to stdout and is appended to
# grid.tsv there.
set -euo pipefail

build=${1:-build}
model=${2:-models/translate-en-es}
shift 2 2> /dev/null || shift $#
root=$(cd "$(dirname "$0")/.." && pwd)
case "$build" in /*) ;; *) build=$root/$build ;; esac
case "$model" in /*) ;; *) model=$root/$model ;; esac
glia=$build/cli/glia
[ -x "$glia" ] || { echo "translate_tune: $glia not found: build first" >&2; exit 1; }
settings=("$@")
if [ ${#settings[@]} -eq 0 ]; then
  settings=(1:0.6:0 1:0.6:3 1:0.6:4
            4:0.6:0 4:1.0:0 4:1.5:0 4:2.0:0
            4:0.6:3 4:1.0:3 4:1.5:3 4:2.0:3
            8:1.0:0 8:1.5:0)
fi
dataset=${DATASET:-gettext-en-es}
out=$build/translate-tune/$(basename "$model")-$dataset
mkdir -p "$out"
printf 'beam\talpha\tngram\tbleu\tchrf\tbp\tcapped\tlong_bleu\tlong_chrf\n' | tee -a "$out/grid.tsv"
for s in "${settings[@]}"; do
  IFS=: read -r beam alpha n <<< "$s"
  tag="dev-b$beam-a$alpha-n$n"
  OPENBLAS_NUM_THREADS=1 nice -n 10 "$glia" eval "$model" --dataset "$dataset" --split dev --threads 1 --beam "$beam" \
    --length-penalty "$alpha" --no-repeat-ngram "$n" --output "$out/$tag.es" > "$out/$tag.log"
  bleu=$(sed -n 's/^bleu=//p' "$out/$tag.log")
  chrf=$(sed -n 's/^chrf=//p' "$out/$tag.log")
  bp=$(sed -n 's/.*(BP = \([0-9.]*\).*/\1/p' "$out/$tag.log")
  capped=$(sed -n 's/.* capped=\([0-9]*\).*/\1/p' "$out/$tag.log")
  long_bleu=$(sed -n 's/^long .* bleu=\([0-9.]*\) .*/\1/p' "$out/$tag.log")
  long_chrf=$(sed -n 's/^long .* chrf=\([0-9.]*\)$/\1/p' "$out/$tag.log")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$beam" "$alpha" "$n" "$bleu" "$chrf" "$bp" "$capped" \
    "$long_bleu" "$long_chrf" | tee -a "$out/grid.tsv"
done
