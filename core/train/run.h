/*
 * run.h - one training run from a recipe to a finished bundle directory: what `glia
 * train` does and what a daemon training job does, so that both produce the same files.
 *
 * For the recipe's model and data set (core/data/catalog.h: images, sentences or
 * translation pairs, each kind with its loader and batch source): load the data, build and initialise the
 * model, train (selecting on the validation or dev split, with the recipe's checkpoint/resume settings),
 * evaluate once on the test split, and write into out_dir: model.safetensors, model.yaml (the recipe's
 * manifest with the results below its marker, and `version` when given), recipe.yaml,
 * labels.txt and, for text models, the vocabulary. Every file is written atomically; the
 * weights last but one, the manifest last, so a directory with a manifest is complete.
 */
#ifndef GLIA_TRAIN_RUN_H
#define GLIA_TRAIN_RUN_H

#include <stdatomic.h>

#include "core/data/catalog.h"
#include "core/data/uci.h"
#include "core/model/bundle.h"
#include "core/train/loop.h"
#include "core/train/mtscore.h"
#include "core/train/trainer.h"

/* What the run is about to do (for a first progress line). */
typedef struct {
    const char *model;   /* the manifest's name */
    const char *dataset; /* the recipe's data set */
    size_t train, val;   /* examples */
    size_t parameters;
    size_t vocabulary;    /* text models: tokens; else 0 */
    size_t pretrained;    /* text models: tokens whose embedding came from embedding.pretrained */
    size_t negated;       /* text models: train sentences added by augment.negation (in train) */
    size_t lexicon_words; /* text models: vocabulary tokens added by vocabulary.lexicon_words */
} glia_run_info;

typedef struct {
    void (*start)(const glia_run_info *info, void *user); /* may be NULL */
    glia_progress_fn progress;                            /* may be NULL */
    void *user;
    const atomic_int *cancel; /* may be NULL */
    glia_record_fn record;    /* may be NULL: every step's and evaluation's figures, with user */
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

/* Where and how to test a bundle: on the test split of the built-in data set of its kind
 * (core/data/catalog.h), or of an upload of that kind. */
/* The long-sentence subset `glia eval` scores apart (issue 18: where the model lost its edge). */
enum { GLIA_MT_LONG_MIN = 16, GLIA_MT_LONG_MAX = 40 };

typedef struct {
    /* translation pairs: the built-in data set whose split is tested, by name (NULL: the first of
     * the bundle's kind, gettext-en-es); images and sentences have one each */
    const char *dataset;
    const char *dir;             /* the built-in data set's directory (NULL: its default) */
    const char *file;            /* an uploaded file of sentences or pairs instead (NULL: none) */
    const char *images, *labels; /* uploaded IDX images and labels instead (NULL: none) */
    long limit;                  /* images and pairs: the first N test examples (0: all) */
    int beam;                    /* sequence models: the beam to decode with (0: the manifest's) */
    /* sequence models: which split of the pairs (0: test; 1: dev, for tuning the search), the
     * length penalty and no-repeat n-gram size when has_* says so (else the manifest's), and a
     * file that gets the translations, one a line in the split's order (NULL: none) */
    int dev;
    int has_length_penalty, has_no_repeat_ngram;
    float length_penalty;
    int no_repeat_ngram;
    const char *output;
    int lanes; /* threads of the evaluation (<= 1: the calling thread) */
} glia_test_spec;

typedef struct {
    const glia_data_set *data; /* the built-in data set of the bundle's kind */
    size_t examples;           /* images, sentences or pairs tested */
    int truncated;             /* sentences or sources cut to the model's input length */
    glia_eval_result eval;     /* through the one evaluation (loop.h): a sequence model's loss
                                * and accuracy are per target token, teacher-forced */
    int beam;                  /* sequence models: the beam decoded with */
    glia_mt_stats *stats;      /* sequence models: BLEU/chrF of the decoded outputs (owned) */
    /* sequence models: the search decoded with, how many outputs ran to its max_tokens, and
     * BLEU/chrF of the sentences of GLIA_MT_LONG_MIN..GLIA_MT_LONG_MAX English words (owned) */
    glia_decode_opts decode;
    size_t capped, long_examples;
    glia_mt_stats *long_stats;
} glia_test_result;

/* Tests the bundle b as spec says: what `glia eval` prints. The caller frees out with
 * glia_test_result_free, also after an error. */
glia_status glia_run_test(const glia_bundle *b, const glia_test_spec *spec, glia_test_result *out,
                          glia_err *err);
void glia_test_result_free(glia_test_result *r);

/* The test-split accuracy of the bundle at path on r's data set (an upload of r's when r
 * names one), as glia_run_training measures it - for a translation model its BLEU (0..100,
 * beam evaluation.beam_size, the first evaluation.limit pairs) - the yardstick of a job's
 * promote: if_better. */
glia_status glia_run_evaluate(const glia_recipe *r, const char *bundle_path, double *accuracy, glia_err *err);

#endif
