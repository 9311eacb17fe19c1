/*
 * trainer.h - what every training run shares, whatever the family: the progress report and
 * its callback, the result, the seeded random streams, the clock, and the pieces of an
 * epoch the one loop (loop.h) and the family trainers use. The recipe is recipe.h's.
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

#endif
