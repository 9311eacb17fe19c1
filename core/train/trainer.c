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

float glia_ema_decay(float decay, long t)
{
    const float warm = (float)((1.0 + (double)t) / (10.0 + (double)t));
    return warm < decay ? warm : decay;
}

void glia_ema_update(float *avg, const float *w, size_t n, float d)
{
    const float a = 1.0f - d;
    for (size_t i = 0; i < n; i++)
        avg[i] += a * (w[i] - avg[i]);
}
