/*
 * trainer.h - recipes and the training loop.
 *
 * A recipe (YAML) says everything that decides the resulting weights: the model
 * manifest, the data set and its validation split, seed, epochs, batch-size policy,
 * optimizer, learning-rate schedule, loss, augmentation and how the final weights
 * are selected. The same recipe and seed give the same weights, bit for bit, on the
 * same machine and BLAS: every random draw comes from streams derived from the seed.
 *
 * glia_train runs in the caller's thread. It never prints: it reports each epoch
 * through a callback, and stops between two steps when *cancel becomes non-zero or
 * the callback returns non-zero (GLIA_ECANCELLED).
 */
#ifndef GLIA_TRAIN_TRAINER_H
#define GLIA_TRAIN_TRAINER_H

#include <stdatomic.h>

#include "core/nn/net.h"
#include "core/train/batch.h"
#include "core/data/images.h"
#include "core/train/optim.h"
#include "core/train/sched.h"
#include "core/text/lexicon.h"

enum { GLIA_RECIPE_MAX_LEXICONS = 8 };

typedef struct {
    char path[GLIA_PATH_MAX];
    char model[GLIA_PATH_MAX];        /* resolved manifest path */
    char dataset[64];                 /* "fashion-mnist" */
    char dataset_path[GLIA_PATH_MAX]; /* "" = the default location */
    long validation;                  /* last N training examples held out */
    long limit;                       /* use only the first N training examples (0 = all) */
    unsigned long seed;
    int epochs;
    glia_batch_config batch;
    glia_optim_config optim;
    glia_sched_config sched;
    float label_smoothing;
    int hflip;       /* random horizontal flip, p = 0.5 */
    int translate;   /* random shift by up to this many pixels, filled with background */
    float clip_norm; /* clip the global gradient norm to this (0 = off) */
    int select_best; /* keep the epoch with the best validation accuracy (else the last) */
    /* Text classification (dataset uci-sentiment; see texttrain.h). The dev split selects,
     * so `validation` is not used. */
    long vocab_min_count; /* vocabulary.min_count: keep tokens seen this often */
    long vocab_max_size;  /* vocabulary.max_size (0 = no cap) */
    int nlexicons;        /* lexicon: one frozen feature column per list */
    glia_lexicon_source lexicons[GLIA_RECIPE_MAX_LEXICONS]; /* paths resolved against the recipe */
    char pretrained[GLIA_PATH_MAX]; /* embedding.pretrained: a word2vec output directory, "" = none */
    float embedding_init_std;       /* embedding.init_std: N(0, std) instead of PyTorch's N(0, 1); 0 = 1 */
    /* Translation (dataset gettext-en-es; see mttrain.h). dataset.limit keeps the first N
     * training pairs; the dev split selects the epoch. */
    long bpe_vocab_size;     /* tokenizer.vocab_size: the joint BPE vocabulary learned from train */
    long bpe_min_pair_count; /* tokenizer.min_pair_count */
    long batch_tokens;       /* batch_tokens: padded source or target tokens per batch, at most */
    int eval_beam;           /* evaluation.beam_size for the test split's BLEU/chrF */
    long eval_limit;         /* evaluation.limit: score only the first N test pairs (0 = all) */
    /* Not read from the file: set by the caller. Threads that split every batch (each runs
     * forward and backward on its slice with its own dropout stream and the gradients are
     * summed); with more than one, BLAS should run single-threaded. Like the BLAS, the
     * count is part of what makes a run reproducible. 0 or 1 = the calling thread only. */
    int workers;
    /* Also set by the caller: a checkpoint file (checkpoint.h) written atomically after every
     * epoch ("" = none), and whether to continue from it when it exists (resume = 1): the
     * result is then the one an uninterrupted run would have given. */
    char checkpoint[GLIA_PATH_MAX];
    int resume;
    /* Also the caller's: stop with GLIA_ETIMEDOUT at the first step after this
     * glia_train_clock() time (0 = no deadline), e.g. a job's max_runtime_seconds. */
    double deadline;
    /* Also the caller's: a user data set replacing the built-in one of a text recipe, as
     * glia_uci_load_jsonl reads it ("" = the recipe's own data set). */
    char dataset_file[GLIA_PATH_MAX];
    /* The same for an image recipe: uploaded IDX images and labels (glia_dataset_load_idx). */
    char images_file[GLIA_PATH_MAX], labels_file[GLIA_PATH_MAX];
} glia_recipe;

/* Fills PyTorch-like defaults, then reads path. */
glia_status glia_recipe_load(const char *path, glia_recipe *r, glia_err *err);

/* Applies overrides to a loaded recipe: text[0..len) is YAML (JSON is YAML too) mapping
 * any of seed, epochs, batch, optimizer, schedule, loss, augment, select, clip_grad_norm,
 * dataset {validation, limit} and lr (optimizer.lr) to new values; each key changes only
 * what it names (optimizer {lr: 0.01} keeps the optimizer and its other settings, a new
 * optimizer type starts from that type's defaults). Errors name `name`, line and key.
 * The model, data set and text settings cannot be overridden. */
glia_status glia_recipe_override(glia_recipe *r, const char *text, size_t len, const char *name,
                                 glia_err *err);

typedef struct {
    int epoch, epochs; /* epoch is 1-based: the one just finished */
    long step;
    int batch_size;
    double lr;
    double train_loss, train_accuracy;
    double val_loss, val_accuracy;
    double samples_per_second;
    double seconds; /* since the start of training */
} glia_progress;

/* Return non-zero to stop training. */
typedef int (*glia_progress_fn)(const glia_progress *p, void *user);

typedef struct {
    int best_epoch;
    double best_val_accuracy;
    double seconds;
    long steps;
} glia_train_result;

/* The seeded random streams of a training run: each use draws from its own generator,
 * seeded from (seed, stream), so that turning augmentation on, say, leaves the initial
 * weights alone. Lane i > 0 of a data-parallel run drops out with GLIA_STREAM_LANES + i. */
enum {
    GLIA_STREAM_INIT = 1,
    GLIA_STREAM_SHUFFLE,
    GLIA_STREAM_BATCH,
    GLIA_STREAM_DROPOUT,
    GLIA_STREAM_AUGMENT,
    GLIA_STREAM_LANES = 100
};
void glia_train_seed_stream(glia_rng *rng, unsigned long seed, int stream);

/* ---- pieces both training loops (glia_train here, glia_text_train in texttrain.h) share ---- */

/* Monotonic seconds. */
double glia_train_clock(void);

/* One epoch's running figures. */
typedef struct {
    double loss_sum; /* sum over examples of their loss */
    size_t right;    /* examples predicted right */
    size_t seen;     /* examples trained on */
    double started;  /* glia_train_clock() at the epoch's start */
    int last_batch;
    float lr;
} glia_epoch_tally;

/* After an epoch's last step, with p filled from the tally (glia_train_progress) and,
 * when there is a validation split (has_val), its val_loss and val_accuracy: feeds the
 * adaptive batch policy, keeps the best weights so far (values -> best, n floats, into
 * result) and stamps p->seconds since t0. Then the loop writes its checkpoint, and only
 * then reports (glia_train_report), so that a run stopped by its callback can resume. */
glia_progress glia_train_progress(const glia_recipe *r, int epoch, long step, const glia_epoch_tally *t);
void glia_train_epoch_done(glia_progress *p, int has_val, glia_batch_policy *policy, const float *values,
                           float *best, size_t n, double t0, glia_train_result *result);
/* Before each step: GLIA_ECANCELLED when *cancel is set, GLIA_ETIMEDOUT past r->deadline. */
glia_status glia_train_should_stop(const glia_recipe *r, const atomic_int *cancel, int epoch, long step,
                                   glia_err *err);
/* Calls cb (if any); GLIA_ECANCELLED when it says stop. */
glia_status glia_train_report(const glia_progress *p, glia_progress_fn cb, void *user, glia_err *err);

/* torch.nn.utils.clip_grad_norm_ over one flat gradient buffer: scales grads by
 * max_norm / (norm + 1e-6) when the L2 norm exceeds max_norm (> 0). Returns the norm. */
double glia_clip_grad_norm(float *grads, size_t n, float max_norm);

/* Mean loss and accuracy (either may be NULL) of net on ds, batch at a time, with
 * `workers` threads (<= 1: the calling thread only). */
glia_status glia_evaluate(const glia_net *net, const glia_dataset *ds, int batch, int workers, double *loss,
                          double *accuracy, glia_err *err);

#endif
