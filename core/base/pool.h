/*
 * pool.h - a fork-join pool of threads for data-parallel work inside one call.
 *
 * glia_pool_run(pool, fn, arg) calls fn(arg, i) for every i in [0, n) - i = 0 on the
 * calling thread, the others on the pool's threads - and returns when all are done.
 * Threads sleep on a condition variable between runs, so an idle pool costs nothing.
 * One caller at a time: a pool belongs to the one training job or worker that made it.
 * This is how training uses both cores with single-threaded BLAS: each thread runs the
 * whole forward and backward pass of its slice of the batch, so the element-wise layers,
 * im2col and pooling run in parallel too, not just the GEMMs.
 */
#ifndef GLIA_BASE_POOL_H
#define GLIA_BASE_POOL_H

#include "core/base/err.h"

typedef struct glia_pool glia_pool;
typedef void (*glia_pool_fn)(void *arg, int index);

/* n >= 1 lanes (n - 1 threads are started). */
glia_status glia_pool_new(int n, glia_pool **out, glia_err *err);
/* Joins the threads; safe on NULL. */
void glia_pool_free(glia_pool *pool);
int glia_pool_size(const glia_pool *pool);
void glia_pool_run(glia_pool *pool, glia_pool_fn fn, void *arg);

#endif
