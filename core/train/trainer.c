/*
 * trainer.c - see trainer.h.
 *
 * Random streams: weight init, shuffling, batch-size draws, dropout and augmentation
 * each get their own generator seeded from (seed, stream), so that turning
 * augmentation on, say, does not change the initial weights.
 */
#include "core/train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double glia_train_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- training loop ---- */

void glia_train_seed_stream(glia_rng *rng, unsigned long seed, int stream)
{
    glia_rng_seed(rng, (uint64_t)seed * 0x100000001b3ULL + (uint64_t)stream);
}

glia_progress glia_train_progress(const glia_recipe *r, int epoch, long step, const glia_epoch_tally *t)
{
    glia_progress p = {0};
    p.epoch = epoch + 1;
    p.epochs = r->epochs;
    p.step = step;
    p.batch_size = t->last_batch;
    p.lr = t->lr;
    p.train_loss = t->seen ? t->loss_sum / (double)t->seen : 0.0;
    p.train_accuracy = t->seen ? (double)t->right / (double)t->seen : 0.0;
    p.samples_per_second = (double)t->seen / (glia_train_clock() - t->started);
    p.val_loss = p.val_accuracy = -1.0;
    return p;
}

void glia_train_epoch_done(glia_progress *p, int has_val, glia_batch_policy *policy, const float *values,
                           float *best, size_t n, double t0, glia_train_result *result)
{
    if (has_val) {
        glia_batch_end_epoch(policy, (float)p->val_loss);
        if (p->val_accuracy > result->best_val_accuracy) {
            result->best_val_accuracy = p->val_accuracy;
            result->best_epoch = p->epoch;
            memcpy(best, values, sizeof(float) * n);
        }
    }
    p->seconds = glia_train_clock() - t0;
}

glia_status glia_train_should_stop(const glia_recipe *r, const atomic_int *cancel, int epoch, long step,
                                   glia_err *err)
{
    if (cancel && atomic_load(cancel))
        return glia_err_set(err, GLIA_ECANCELLED, "training cancelled at epoch %d, step %ld", epoch + 1,
                            step);
    if (r->deadline > 0 && glia_train_clock() >= r->deadline)
        return glia_err_set(err, GLIA_ETIMEDOUT, "training stopped at its time limit, at epoch %d, step %ld",
                            epoch + 1, step);
    return GLIA_OK;
}

glia_status glia_train_report(const glia_progress *p, glia_progress_fn cb, void *user, glia_err *err)
{
    if (cb && cb(p, user))
        return glia_err_set(err, GLIA_ECANCELLED, "training stopped by its progress callback after epoch %d",
                            p->epoch);
    return GLIA_OK;
}

double glia_clip_grad_norm(float *grads, size_t n, float max_norm)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)grads[i] * grads[i];
    double norm = sqrt(sum);
    if (max_norm > 0 && norm > max_norm) {
        /* torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) */
        float scale = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < n; i++)
            grads[i] *= scale;
    }
    return norm;
}
