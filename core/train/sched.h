/*
 * sched.h - learning-rate schedules.
 *
 * A schedule maps (optimizer step, epoch) to a learning rate. The epoch-based kinds follow
 * torch.optim.lr_scheduler stepped once per epoch:
 *   constant      base_lr
 *   step          base_lr * gamma^floor(epoch / step_size)            (StepLR)
 *   exponential   base_lr * gamma^epoch                               (ExponentialLR)
 *   cosine        min_lr + (base_lr - min_lr) * (1 + cos(pi * epoch / total_epochs)) / 2
 *                                                                     (CosineAnnealingLR; after
 *                 total_epochs glia holds min_lr, where PyTorch's closed form rises again)
 *   inverse_sqrt  base_lr * sqrt(warmup_steps / max(step + 1, warmup_steps))  (per step;
 *                 the Transformer paper's decay after its warmup)
 * Linear warmup composes with any of them: over the first warmup_steps optimizer steps the
 * rate is multiplied by a factor rising linearly from warmup_start_factor to 1 (LinearLR).
 * "warmup" is an alias of constant that exists to read well in recipes.
 */
#ifndef GLIA_TRAIN_SCHED_H
#define GLIA_TRAIN_SCHED_H

#include "core/base/err.h"

typedef enum {
    GLIA_SCHED_CONSTANT,
    GLIA_SCHED_STEP,
    GLIA_SCHED_EXPONENTIAL,
    GLIA_SCHED_COSINE,
    GLIA_SCHED_INVERSE_SQRT,
} glia_sched_kind;

typedef struct {
    glia_sched_kind kind;
    float base_lr;
    int step_size;    /* step: epochs between decays */
    float gamma;      /* step, exponential: decay factor */
    int total_epochs; /* cosine: the period (the recipe's epochs) */
    float min_lr;     /* cosine: the floor */
    long warmup_steps;
    float warmup_start_factor; /* 0 means the PyTorch-like default of 1/3 */
} glia_sched_config;

/* "constant", "warmup", "step", "exponential", "cosine", "inverse_sqrt". */
glia_status glia_sched_kind_parse(const char *name, glia_sched_kind *kind, glia_err *err);
const char *glia_sched_kind_name(glia_sched_kind kind);

/* Rejects values that make no schedule (step_size < 1, gamma <= 0, min_lr > base_lr,
 * total_epochs < 1 for cosine, inverse_sqrt without warmup_steps, start factor > 1). */
glia_status glia_sched_validate(const glia_sched_config *cfg, glia_err *err);

/* The rate for optimizer step `step` (0-based, counted over the whole run) in epoch `epoch`
 * (0-based). */
float glia_sched_lr(const glia_sched_config *cfg, long step, int epoch);

#endif
