/*
 * gradcheck.h - a single layer driven outside any network, for unit tests: its
 * parameters, gradients, scratch and saved state in one bundle, and a finite-difference
 * check of its backward pass.
 *
 * The check uses the scalar L = sum_i y_i * r_i with a fixed random r, so dL/dy = r and
 * every output contributes. The numeric gradient is the central difference
 * (L(v + h) - L(v - h)) / 2h per input and per parameter, with L summed in double; a
 * training-mode forward replays the same random stream each time, so dropout keeps one
 * mask. Inputs are chosen by the caller away from kinks (ReLU at 0, max-pool ties).
 */
#ifndef GLIA_TESTS_GRADCHECK_H
#define GLIA_TESTS_GRADCHECK_H

#include "core/nn/layer.h"

typedef struct {
    glia_layer l;
    int n;
    float *values, *grads; /* all parameters, flat */
    size_t nvalues;
    float *scratch;
    void *saved;
    int training;
    glia_rng rng; /* replayed for every forward */
} gc_layer;

/* Initialises spec (kind + cfg set) for input shape in and batch n; parameters drawn
 * from PyTorch's initialisation with seed. Fails the test on an init error. */
void gc_layer_new(gc_layer *g, const glia_layer *spec, glia_shape3 in, int n, int training, unsigned seed);
void gc_layer_free(gc_layer *g);
/* y = forward(x), with the replayed random stream. */
void gc_forward(gc_layer *g, const float *x, float *y);
/* Zeroes the parameter gradients, then backward(x, y, dy) -> dx (may be NULL). */
void gc_backward(gc_layer *g, const float *x, const float *y, const float *dy, float *dx);

typedef struct {
    double max_err_x, max_err_param; /* max |analytic - numeric| / max(0.1, |numeric|) */
    size_t checked;
} gc_result;

/* Finite-difference check of dx and every parameter gradient at x, step h. */
gc_result gc_check(gc_layer *g, const float *x, float h, unsigned seed);

/* Fills x[0..n) with distinct values spaced by `gap` in a random order, shifted so that
 * none lies within gap/2 of zero: safe from ReLU's kink and from max-pool ties. */
void gc_distinct_inputs(float *x, size_t n, float gap, unsigned seed);

#endif
