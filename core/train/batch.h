/*
 * batch.h - batch-size policies.
 *
 *   fixed     every batch has `size` examples (the last of an epoch may be smaller)
 *   random    each batch size is drawn uniformly from [min, max] with the recipe's batch stream
 *   adaptive  starts at `size`; after an epoch whose validation loss did not improve on the
 *             best by more than min_delta for `patience` epochs in a row, the size is
 *             multiplied by `growth` (capped at max) - the "don't decay the learning rate,
 *             increase the batch size" idea (Smith et al., 2018)
 * Draws come from an explicit glia_rng, so a recipe and seed fix every size.
 */
#ifndef GLIA_TRAIN_BATCH_H
#define GLIA_TRAIN_BATCH_H

#include "core/base/err.h"
#include "core/base/rng.h"

typedef enum {
    GLIA_BATCH_FIXED,
    GLIA_BATCH_RANDOM,
    GLIA_BATCH_ADAPTIVE,
} glia_batch_kind;

typedef struct {
    glia_batch_kind kind;
    int size;        /* fixed; adaptive's start */
    int min, max;    /* random's range; adaptive's cap is max */
    float growth;    /* adaptive: factor > 1 */
    int patience;    /* adaptive: epochs without improvement before growing */
    float min_delta; /* adaptive: an improvement smaller than this does not count */
} glia_batch_config;

typedef struct {
    glia_batch_config cfg;
    int current;     /* adaptive: the size now */
    float best_loss; /* adaptive: best validation loss seen */
    int stale;       /* adaptive: epochs since it improved */
    int have_best;
} glia_batch_policy;

/* "fixed", "random", "adaptive". */
glia_status glia_batch_kind_parse(const char *name, glia_batch_kind *kind, glia_err *err);

/* Validates cfg (sizes >= 1, min <= max, adaptive's size <= max, growth > 1) and resets p. */
glia_status glia_batch_init(glia_batch_policy *p, const glia_batch_config *cfg, glia_err *err);

/* The size of the next batch. */
int glia_batch_next(glia_batch_policy *p, glia_rng *rng);

/* The largest size this policy can ever return: what buffers must hold. */
int glia_batch_max(const glia_batch_policy *p);

/* Reports an epoch's validation loss; adaptive may grow the batch. Returns 1 if it grew. */
int glia_batch_end_epoch(glia_batch_policy *p, float val_loss);

#endif
