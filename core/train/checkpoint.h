/*
 * checkpoint.h - everything a training run needs to continue exactly where it stopped,
 * in one safetensors file written atomically at the end of every epoch.
 *
 * A run resumed from the checkpoint of epoch k gives the same weights, bit for bit, as a
 * run that was never interrupted: besides the weights the file holds every optimizer
 * buffer and the step count, the best weights so far and their epoch, the batch policy's
 * state, and the state of every random stream (shuffling, batch sizes, dropout of each
 * lane, augmentation). Shuffling happens at the start of an epoch, so an epoch boundary
 * is a complete position in the data.
 *
 * Layout: tensors "model.<param>", "best.<param>" (when there is a best copy), "ema.<param>"
 * (when the run averages its weights) and
 * "optim.<param>.<buffer>" (PyTorch's state keys: exp_avg, exp_avg_sq, momentum_buffer,
 * ...), all F32; scalars and random states in the metadata ("glia.checkpoint": "1",
 * "epoch", "step", ..., "rng.<stream>" as 64 hex digits, "recipe" when the loop names one). A file that does
 * not match the model (a missing tensor, another shape, another number of lanes or processes, another recipe
 * when the loop names one) is refused with a message naming what differs, never half-loaded into
 * a run.
 */
#ifndef GLIA_TRAIN_CHECKPOINT_H
#define GLIA_TRAIN_CHECKPOINT_H

#include "core/base/rng.h"
#include "core/model/model.h"
#include "core/nn/layer.h"
#include "core/train/batch.h"
#include "core/train/optim.h"
#include "core/train/trainer.h"

/* Lanes of the whole run: threads of one process, or processes x threads (reduce.h). */
enum { GLIA_CKPT_MAX_LANES = 256, GLIA_CKPT_RECIPE_MAX = 24 };

typedef struct {
    int epoch;      /* epochs completed */
    long step;      /* optimizer steps taken */
    double seconds; /* training time so far (wall clock of the interrupted runs summed) */
    glia_rng shuffle, batch, augment;
    int nlanes; /* dropout streams: one per data-parallel lane of the whole run */
    int nranks; /* processes the lanes are spread over (1: one process); resume needs the same */
    glia_rng dropout[GLIA_CKPT_MAX_LANES];
    glia_batch_policy policy;
    int best_epoch;
    double best_val_accuracy;
    /* What the run trains, as its loop names it (lmtrain.c: a hash of the recipe's bytes), or
     * "": saved as "recipe"; a load asked for a non-empty one refuses a file with another, since
     * a checkpoint of the same shapes from another recipe would resume silently into a run that
     * neither recipe describes. */
    char recipe[GLIA_CKPT_RECIPE_MAX];
} glia_ckpt_state;

/* What a checkpoint holds besides st: the model's parameters (their values), the buffer
 * they point into (base) and a copy of it holding the best weights so far (best, NULL when
 * the run keeps none), and the optimizer with the parameters it was created over (the
 * trainable ones: a text model's frozen lexicon table is a model parameter, not an
 * optimizer one). Without best the parameters need not share one buffer (base unused): a
 * loop may list tensors of its own beside the model's, as lmtrain.c its softmax head. */
typedef struct {
    const glia_param *params;
    int nparams;
    const float *base;
    float *best;
    glia_optim *opt;
    const glia_param *opt_params;
    int nopt;
    float *ema; /* the weights' moving average (recipe key ema), laid out as base; NULL: none */
} glia_ckpt_model;

/* The one description of a model for a checkpoint: its parameters and value buffer, and
 * the optimizer over its trainable ones (best may be NULL). */
glia_ckpt_model glia_ckpt_describe(const glia_model *model, float *best, glia_optim *opt);

/* Writes path atomically (temp file, fsync, rename). */
glia_status glia_ckpt_save(const char *path, const glia_ckpt_state *st, const glia_ckpt_model *m,
                           glia_err *err);

/* Reads path into st, the parameters' values, m->best (when the file has a best copy)
 * and the optimizer, after checking every tensor's presence and size first: on failure
 * nothing has been written. */
glia_status glia_ckpt_load(const char *path, glia_ckpt_state *st, const glia_ckpt_model *m, glia_err *err);

/* For the training loops: when r asks to resume and its checkpoint exists, loads it into
 * st (whose nlanes and policy the caller set) and m, and sets *resumed; otherwise leaves
 * everything alone. */
glia_status glia_ckpt_resume(const glia_recipe *r, glia_ckpt_state *st, const glia_ckpt_model *m,
                             int *resumed, glia_err *err);
/* After `epochs_done` epochs: when r names a checkpoint, completes st (random streams are
 * the caller's to fill) with the counters, the policy and the selection so far, and saves. */
glia_status glia_ckpt_after_epoch(const glia_recipe *r, glia_ckpt_state *st, int epochs_done, long step,
                                  double seconds, const glia_batch_policy *policy,
                                  const glia_train_result *res, const glia_ckpt_model *m, glia_err *err);

#endif
