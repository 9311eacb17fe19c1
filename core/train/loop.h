/*
 * loop.h - the one training loop and the one evaluation, over the model interface
 * (core/model/model.h) and a batch source.
 *
 * The loop knows nothing of images, sentences or pairs: a batch source hands it typed
 * batches (glia_batch) with one label per logits row, and the model turns a batch into
 * those rows. Everything a recipe decides about the arithmetic is here, once: label
 * smoothing, gradient clipping, the schedule, the batch policy, the selection of the best
 * epoch, the checkpoint after every epoch and the resume from it, the cancel flag, the
 * deadline and the progress callback.
 *
 * Data-parallel lanes: with r->workers > 1 every batch is cut by examples into one slice
 * per lane; each lane is a replica of the model (the same values, its own gradients) that
 * runs forward and backward on its slice with its own dropout stream, and the gradients
 * are summed into the model's. A lane's loss is scaled by its share of the batch's label
 * rows, so that the step is the mean over the whole batch (over its tokens, for a
 * sequence model) whatever the number of lanes. One lane is the calling thread alone,
 * and gives what the single-threaded loops always gave, bit for bit.
 *
 * A batch source must never print, and the loop never chooses a data set or a family.
 */
#ifndef GLIA_TRAIN_LOOP_H
#define GLIA_TRAIN_LOOP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model/model.h"
#include "core/train/batch.h"
#include "core/train/trainer.h"

typedef enum { GLIA_SPLIT_TRAIN, GLIA_SPLIT_VAL, GLIA_SPLIT_TEST, GLIA_NSPLITS } glia_split;

/* The random streams a source may draw from (trainer.h's GLIA_STREAM_*); the loop seeds
 * them, saves them in checkpoints and restores them on resume. */
typedef struct {
    glia_rng shuffle, batch, augment;
} glia_train_streams;

/* A batch and its labels: labels[rows], one per logits row the model's forward gives
 * (an example for a classifier, a target token for a sequence model). groups (may be
 * NULL) puts each label row into one of the source's groups, for accuracy per group. */
typedef struct {
    glia_batch in;
    const int32_t *labels;
    int rows;
    const uint8_t *groups;
} glia_labelled;

enum { GLIA_EVAL_MAX_GROUPS = 8 };

typedef struct {
    size_t rows; /* label rows scored */
    double loss; /* mean cross-entropy per label row, no smoothing */
    double accuracy;
    int ngroups;
    double group_accuracy[GLIA_EVAL_MAX_GROUPS]; /* -1: the group had no row */
} glia_eval_result;

typedef struct glia_source glia_source;

typedef struct {
    void (*destroy)(glia_source *s);
    /* Called once before the first epoch: sets train and train_rows for the largest batch
     * the policy can ask, and allocates the training batches' buffers. */
    glia_status (*begin)(glia_source *s, const glia_batch_policy *policy, glia_err *err);
    /* Orders the training split for one epoch (draws from rng). */
    void (*epoch)(glia_source *s, glia_train_streams *rng);
    /* The epoch's next batch into out (borrowed until the next call); 0 when the epoch is
     * over. May draw batch sizes from policy and augmentation from rng. */
    int (*next)(glia_source *s, glia_train_streams *rng, glia_batch_policy *policy, glia_labelled *out);
    /* Cuts a split into *nbatches batches that `lanes` threads may fetch at once, lane i
     * into its own buffers; *spec is what a context needs for one of them. */
    glia_status (*eval_plan)(glia_source *s, glia_split split, int lanes, int *nbatches, glia_ctx_spec *spec,
                             glia_err *err);
    void (*eval_batch)(glia_source *s, glia_split split, int k, int lane, glia_labelled *out);
} glia_source_ops;

/* The common head of every source (embedded first in the source's own struct). */
struct glia_source {
    const glia_source_ops *ops;
    size_t examples[GLIA_NSPLITS]; /* examples (images, sentences, pairs) per split */
    glia_ctx_spec train;           /* what a context needs for a whole training batch (set by begin) */
    size_t train_rows;             /* label rows of a training batch at most (set by begin) */
    int ngroups;                   /* groups of glia_labelled.groups (0: none) */
};

void glia_source_free(glia_source *s); /* NULL-safe */

typedef struct {
    glia_progress_fn progress; /* may be NULL */
    void *user;
    const atomic_int *cancel; /* may be NULL */
    glia_record_fn record;    /* may be NULL: every step's and evaluation's figures, with user */
} glia_loop_hooks;

/* Trains model (initialised by the caller) on src's train split, selecting on its
 * validation split when it has one (see trainer.h for the recipe's part and the result). */
glia_status glia_loop_train(const glia_recipe *r, glia_model *model, glia_source *src,
                            const glia_loop_hooks *hooks, glia_train_result *result, glia_err *err);

/* Mean loss, accuracy and accuracy per group of model on a split of src, with `lanes`
 * threads (<= 1: the calling thread): lane i takes batches i, i + lanes, ... */
glia_status glia_loop_evaluate(const glia_model *model, glia_source *src, glia_split split, int lanes,
                               glia_eval_result *out, glia_err *err);

#endif
