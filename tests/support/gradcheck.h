/*
 * gradcheck.h - finite-difference checks of backward passes, for unit tests: one layer
 * driven outside any network (gc_layer, gc_check), and a whole sequential network
 * (gc_net_check).
 *
 * Both compare the analytic gradient of a scalar L with the central difference
 * (L(v + h) - L(v - h)) / 2h, coordinate by coordinate, for the inputs (layers) and every
 * parameter. By default L = sum_i y_i * r_i with a fixed random probe r in [-1, 1], so
 * dL/dy = r and every output contributes with its own weight: a backward that mixes up
 * two outputs, drops one, or gets a scale wrong moves L's gradient. L is summed in
 * double so that the only float32 noise is the forward's own rounding.
 *
 * A coordinate passes when |analytic - numeric| <= atol + rtol * |numeric|. With inputs
 * and weights of magnitude ~1 and h = 1e-2 the central difference of a float32 forward
 * is good to ~1e-5 (rounding of the few outputs a coordinate moves, over 2h) and the
 * truncation error h^2 L''' / 6 of tanh or sigmoid is ~2e-5: every layer check in
 * tests/unit stays below 0.12 of gc_defaults()' atol 5e-4 / rtol 5e-3, while a gradient
 * off by 2 per cent, a missing batch term or two swapped entries fails
 * (test_layers.c's gradcheck_catches_wrong_backward keeps it so).
 *
 * Kinks: ReLU at 0 and max-pool ties have no derivative; a layer test keeps away from
 * them by construction (gc_distinct_inputs). Inside a network that cannot be arranged for
 * every hidden unit, so gc_opts.allow_kinks counts, instead of failing, a coordinate
 * whose central difference disagrees with the analytic value while one of the one-sided
 * differences agrees with it: the step crossed a kink on the other side. The caller
 * bounds how many of those it accepts.
 *
 * GLIA_GRADCHECK_VERBOSE=1 in the environment makes gc_expect print every check's margin.
 *
 * A training-mode forward replays the same random stream every time, so dropout keeps
 * one mask through all the perturbed forwards and the backward.
 */
#ifndef GLIA_TESTS_GRADCHECK_H
#define GLIA_TESTS_GRADCHECK_H

#include <stddef.h>

#include "core/nn/layer.h"
#include "core/nn/net.h"

typedef struct {
    float step;                    /* h of the central difference */
    double atol, rtol;             /* pass when |analytic - numeric| <= atol + rtol * |numeric| */
    size_t max_inputs, max_params; /* 0: every coordinate; else a stratified sample of this many */
    int allow_kinks;               /* count one-sided agreements as kinks rather than failures */
    unsigned seed;                 /* probe r, the sample, and the replayed dropout stream */
} gc_opts;

/* step 1e-2, atol 5e-4, rtol 5e-3, every coordinate, no kinks, seed 1. */
gc_opts gc_defaults(void);

typedef struct {
    size_t checked_inputs, checked_params; /* coordinates compared */
    size_t failed;                         /* beyond tolerance */
    size_t kinks;                          /* allow_kinks: skipped, see above */
    double worst;                          /* max |a - n| / (atol + rtol |n|); <= 1 passes */
    double worst_analytic, worst_numeric;
    char worst_at[GLIA_NAME_MAX + 32]; /* "dx[17]", "weight[3]", "features.0.bias[1]" */
} gc_result;

/* Fails the current test, naming `what` and the worst coordinate, unless every compared
 * coordinate passed and at least one was compared. */
void gc_expect(const gc_result *r, const char *what);

/* One coordinate of any scalar function, for modules that are not glia_layers (the
 * recurrent layers): the central difference of loss at *v (restored afterwards) against
 * analytic, under o's step and tolerance; counted into r as an input or a parameter. */
void gc_check_coordinate(gc_result *r, const gc_opts *o, float *v, double analytic, double (*loss)(void *),
                         void *state, int is_param, const char *what, size_t index);

/* ---- one layer ---- */

typedef struct {
    glia_layer l;
    int n;
    float *values, *grads; /* all parameters, flat, owned */
    float *buffers;        /* the layer's buffers (running statistics), flat, owned */
    size_t nvalues;
    float *scratch;
    void *saved;
    int training;
    /* set by the caller after gc_layer_new: passes as an input-gradient ctx's (explanations:
     * saved state kept, inference's forward, so batch norm uses its running statistics) */
    int input_grad;
    glia_rng rng; /* replayed for every forward */
} gc_layer;

/* Initialises spec (kind and cfg set; ops taken from spec when not NULL, so a test can
 * substitute its own) for input shape in and batch n; parameters drawn from PyTorch's
 * initialisation with seed. Fails the test on an init error. */
void gc_layer_new(gc_layer *g, const glia_layer *spec, glia_shape3 in, int n, int training, unsigned seed);
void gc_layer_free(gc_layer *g);
size_t gc_in_size(const gc_layer *g);  /* floats of a batch of input */
size_t gc_out_size(const gc_layer *g); /* floats of a batch of output */
/* y = forward(x), with the replayed random stream. */
void gc_forward(gc_layer *g, const float *x, float *y);
/* Zeroes the parameter gradients, then backward(x, y, dy) -> dx (may be NULL). */
void gc_backward(gc_layer *g, const float *x, const float *y, const float *dy, float *dx);

/* Finite-difference check of dx and every parameter gradient of g at x. */
gc_result gc_check(gc_layer *g, const float *x, const gc_opts *o);

/* ---- a whole network ---- */

/* A loss over the network's output (n x k): returns L and, when dout is not NULL, writes
 * dL/dout there. */
typedef double (*gc_loss_fn)(const float *out, int n, int k, float *dout, void *user);

/* Finite-difference check of every parameter gradient of net (gradients are enabled if
 * they were not) for the batch x of n samples, through glia_net_forward/backward on a
 * training ctx. loss NULL means the probe L = sum out * r. */
gc_result gc_net_check(glia_net *net, const float *x, int n, gc_loss_fn loss, void *user, const gc_opts *o);

/* ---- inputs ---- */

/* Fills x[0..n) with distinct values spaced by `gap` in a random order, shifted so that
 * none lies within gap/2 of zero: safe from ReLU's kink and from max-pool ties for any
 * step below gap/4. */
void gc_distinct_inputs(float *x, size_t n, float gap, unsigned seed);

/* Fills x[0..n) with uniform values in [lo, hi). */
void gc_uniform(float *x, size_t n, float lo, float hi, unsigned seed);

#endif
