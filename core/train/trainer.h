/*
 * trainer.h - what every training run shares, whatever the family: the progress report and
 * its callback, the result, the seeded random streams, the clock and gradient clipping.
 * The recipe is recipe.h's; the loop is loop.h's.
 *
 * Training never prints: it reports each epoch through a callback, and stops between two
 * steps when *cancel becomes non-zero or the callback returns non-zero (GLIA_ECANCELLED).
 */
#ifndef GLIA_TRAIN_TRAINER_H
#define GLIA_TRAIN_TRAINER_H

#include <stdatomic.h>

#include "core/train/batch.h"
#include "core/train/recipe.h"

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

/* One optimizer step's figures, or one evaluation's at an epoch's end: the per-step history
 * (core/train/history.h) that progress bars, curves and GET /v1/jobs/ID/history are made of.
 * Reported through a callback of its own, so the per-epoch report above stays as it is. */
typedef enum { GLIA_RECORD_STEP, GLIA_RECORD_EVAL } glia_record_kind;

typedef struct {
    glia_record_kind kind;
    long step;         /* optimizer steps done, this one included */
    int epoch, epochs; /* 1-based: the epoch this step belongs to, or the one just evaluated */
    double time_s;     /* seconds of training so far (earlier runs a checkpoint continues included) */
    double done;       /* fraction of the run done, 0..1: what an ETA is drawn from */
    /* GLIA_RECORD_STEP */
    double loss;           /* this step's mean loss over its label rows (with label smoothing) */
    double lr;             /* the learning rate this step used */
    double examples_per_s; /* over the epoch so far; label rows, as samples_per_second */
    /* GLIA_RECORD_EVAL: the epoch's mean training figures, and the validation split's
     * (-1 when there is no validation split) */
    double train_loss, train_accuracy, val_loss, val_accuracy;
} glia_train_record;

/* Called after every step and every evaluation; must not fail nor stop the run (a
 * recorder that cannot write says so itself, once). */
typedef void (*glia_record_fn)(const glia_train_record *rec, void *user);

typedef struct {
    int best_epoch;
    double best_val_accuracy;
    double seconds;
    long steps;
    /* across processes (reduce.h), with overlap: gradient buckets summed, and how many of
     * them were started while the backward pass was still running */
    long buckets, buckets_during_backward;
    double overlap_seconds; /* backward time left after each step's first bucket started, summed */
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

/* Monotonic seconds. */
double glia_train_clock(void);

/* torch.nn.utils.clip_grad_norm_ over one flat gradient buffer: scales grads by
 * max_norm / (norm + 1e-6) when the L2 norm exceeds max_norm (> 0). Returns the norm. */
double glia_clip_grad_norm(float *grads, size_t n, float max_norm);

/* The decay of a weights average's update number t (0 for the first): the recipe's decay,
 * held lower while few updates are in, min(decay, (1 + t) / (10 + t)) (TensorFlow's
 * ExponentialMovingAverage with num_updates), so that the average soon forgets the
 * initial weights rather than after about 1 / (1 - decay) steps. */
float glia_ema_decay(float decay, long t);

/* One update of an exponential moving average of n weights: avg += (1 - d) (w - avg),
 * PyTorch's ema.lerp_(w, 1 - d) (torch.optim.swa_utils.get_ema_multi_avg_fn). */
void glia_ema_update(float *avg, const float *w, size_t n, float d);

#endif
