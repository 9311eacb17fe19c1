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
 * calls them unconditionally on every rank, never behind a rank-local condition. The
 * gradient buckets (bucket_floats) are the same on every rank because they are cut from
 * the buffer's size alone, and started in buffer order from the tail whatever the timing.
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
    /* Optional, all three or none (NULL: the loop sums the whole gradient buffer with
     * sum_f32 once the backward pass has returned). start_sum_f32 starts the sum that
     * sum_f32 does and returns at once: buf is not to be touched until wait_all has
     * returned. progress lets the started sums advance (MPI moves a non-blocking collective
     * only inside its own calls, unless a progress thread is configured); wait_all ends every
     * started sum. The loop starts the same sums in the same order on every rank. */
    glia_status (*start_sum_f32)(const glia_reducer *red, float *buf, size_t n, glia_err *err);
    glia_status (*progress)(const glia_reducer *red, glia_err *err);
    glia_status (*wait_all)(const glia_reducer *red, glia_err *err);
    /* Floats of a gradient bucket: with the three above, the loop sums the gradients in
     * buckets of this size from the buffer's tail, each started as soon as the backward pass
     * has made it final (0: no overlap, one blocking sum after the pass). */
    size_t bucket_floats;
    void *user; /* the transport's own state */
};

#endif
