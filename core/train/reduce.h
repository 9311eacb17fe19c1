/*
 * reduce.h - the seam for data-parallel training across processes.
 *
 * A run of `size` processes (ranks) trains one model: every rank reads the same batches in
 * the same order (the same recipe and seed), takes its shard of each, and the loop hands
 * the step's flat gradient buffer to the reducer, which sums it over every rank, so that
 * every rank applies the same update - the one a single process would apply to the whole
 * batch. The loop also sums its counters (loss, right answers, evaluation tallies) and
 * gathers small per-rank records (random states for the checkpoint, weight digests) here.
 *
 * core/ knows no transport: the caller provides the operations (glia's CLI over MPI, in
 * cli/cli_mpi.c; a test may provide threads or a fake). Every operation is collective:
 * each rank must call it, in the same order, or the run deadlocks - which is why the loop
 * calls them unconditionally on every rank, never behind a rank-local condition.
 */
#ifndef GLIA_TRAIN_REDUCE_H
#define GLIA_TRAIN_REDUCE_H

#include <stddef.h>

#include "core/base/err.h"

typedef struct glia_reducer glia_reducer;

struct glia_reducer {
    int rank; /* this process: 0 .. size - 1; rank 0 alone writes files */
    int size; /* processes in the run (>= 1) */
    /* Sums n floats over every rank, in place; every rank gets the same bits. */
    glia_status (*sum_f32)(const glia_reducer *red, float *buf, size_t n, glia_err *err);
    /* The same for doubles (counters: exact for integers below 2^53). */
    glia_status (*sum_f64)(const glia_reducer *red, double *buf, size_t n, glia_err *err);
    /* Every rank's `bytes` bytes at mine, in rank order, into all (size * bytes bytes). */
    glia_status (*gather)(const glia_reducer *red, const void *mine, size_t bytes, void *all, glia_err *err);
    void *user; /* the transport's own state */
};

#endif
