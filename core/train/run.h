/*
 * run.h - one training run from a recipe to a finished bundle directory: what `glia
 * train` does and what a daemon training job does, so that both produce the same files.
 *
 * For the recipe's model (an image model on fashion-mnist or a text model on
 * uci-sentiment): load the data, build and initialise the model, train (selecting on the
 * validation or dev split, with the recipe's checkpoint/resume settings), evaluate once
 * on the test split, and write into out_dir: model.safetensors, model.yaml (the recipe's
 * manifest with the results below its marker, and `version` when given), recipe.yaml,
 * labels.txt and, for text models, the vocabulary. Every file is written atomically; the
 * weights last but one, the manifest last, so a directory with a manifest is complete.
 */
#ifndef GLIA_TRAIN_RUN_H
#define GLIA_TRAIN_RUN_H

#include <stdatomic.h>

#include "core/nn/seq2seq.h"
#include "core/text/bpe.h"
#include "core/data/gettext.h"
#include "core/train/mtscore.h"
#include "core/data/uci.h"
#include "core/train/mttrain.h"
#include "core/train/trainer.h"

/* What the run is about to do (for a first progress line). */
typedef struct {
    const char *model;   /* the manifest's name */
    const char *dataset; /* the recipe's data set */
    size_t train, val;   /* examples */
    size_t parameters;
    size_t vocabulary; /* text models: tokens; else 0 */
    size_t pretrained; /* text models: tokens whose embedding came from embedding.pretrained */
} glia_run_info;

typedef struct {
    void (*start)(const glia_run_info *info, void *user); /* may be NULL */
    glia_progress_fn progress;                            /* may be NULL */
    void *user;
    const atomic_int *cancel; /* may be NULL */
} glia_run_hooks;

typedef struct {
    glia_train_result train;
    size_t test_examples;
    double test_accuracy, test_loss;
    int has_per_source; /* text models: accuracy per source of the UCI data */
    double per_source[GLIA_UCI_NSOURCES];
    size_t val_examples;
    double bleu, chrf; /* translation: on the test split (core/train/mtscore.h), 0..100 */
} glia_run_result;

/* version > 0 writes that number into the manifest. out_dir must exist. */
glia_status glia_run_training(const glia_recipe *r, const char *out_dir, long version,
                              const glia_run_hooks *hooks, glia_run_result *res, glia_err *err);

/* The test-split accuracy of the bundle at path on r's data set, as glia_run_training
 * measures it - for a translation model its BLEU (0..100) - the yardstick of a job's
 * promote: if_better. */
glia_status glia_run_evaluate(const glia_recipe *r, const char *bundle_path, double *accuracy, glia_err *err);

/* Corpus BLEU/chrF statistics of model's translations (beam `beam`, max_positions - 1
 * tokens) of d's sources against their references in set, added to stats: what `glia
 * train` and `glia eval` report for a translation model. */
glia_status glia_run_score_translation(const glia_s2s *model, const glia_bpe *bpe, const glia_gt_set *set,
                                       const glia_mt_data *d, int beam, glia_mt_stats *stats, glia_err *err);

#endif
