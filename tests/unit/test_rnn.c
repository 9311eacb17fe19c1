/*
 * test_rnn.c - core/nn/rnn: embedding, tanh RNN and LSTM (backpropagation through time),
 * pooling over time, for padded batches of sequences of different lengths.
 *
 * Forward: against a naive double-precision reference written here that runs every
 * sequence on its own, at its own length (so the reverse direction starting at
 * lengths[b]-1 is checked by construction, not by re-deriving the indexing).
 * Backward: every input coordinate and every parameter against central finite
 * differences of L = sum(out * r) + sum(h_n * r_h) + sum(c_n * r_c), for one and two
 * layers, one and two directions, padded batches; the probe r is non-zero at padded
 * positions too, so a backward that reads dout there fails. Padding invariance: a
 * sequence alone and inside a padded batch with longer neighbours gives the same
 * outputs, states and gradients up to rounding (expect_close: the BLAS kernels may sum
 * in another order at another batch size), and NaN written into padded positions (inputs,
 * output gradients, token ids out of range) changes no bit of any result at the same
 * batch size. Plus the names, shapes
 * and order of PyTorch's state_dict, the initialisation bounds, the backward contract,
 * the errors, and a case showing the finite-difference tolerance catches a gradient a
 * few per cent off.
 *
 * Tolerance of the finite differences (fd_check below, i.e. the criterion of
 * tests/support/gradcheck.c): |analytic - numeric| <= 5e-4 + 5e-3 |numeric|, step 1e-2.
 * The forward is float32, L is summed in double. Rounding: a perturbed coordinate moves
 * at most a few hundred outputs, each rounded to ~1e-7 relative, so L(v+h) - L(v-h) is
 * off by ~1e-6 and the quotient by ~5e-5. Truncation: h^2/6 * L''' with sigmoid/tanh
 * chains of depth <= 2 layers x 6 steps stays ~1e-4 at these magnitudes (inputs and
 * weights ~0.5). Both well under atol, while a 2 % error on one coordinate of a
 * gradient of size ~0.1 or more exceeds rtol (fd_catches_wrong_backward).
 * GLIA_GRADCHECK_VERBOSE=1 prints each check's margin.
 */
#include "core/formats/safetensors.h"
#include "core/nn/params.h"
#include "core/nn/rnn.h"
#include "tests/support/check_main.h"
#include "tests/support/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffers ---- */

static float *floats(size_t n)
{
    float *x = calloc(n ? n : 1, sizeof(float));
    ck_assert_ptr_nonnull(x);
    return x;
}

static float *uniform(size_t n, float lo, float hi, unsigned seed)
{
    float *x = floats(n);
    gc_uniform(x, n, lo, hi, seed);
    return x;
}

static void expect_near(const float *a, const double *b, size_t n, double tol, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs((double)a[i] - b[i]) <= tol, "%s[%zu]: %.8g, expected %.8g", what, i, a[i], b[i]);
}

/* Bitwise equality of floats (NaN == NaN when the bits match). */
static void expect_same(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(memcmp(&a[i], &b[i], sizeof(float)) == 0, "%s[%zu]: %.9g differs from %.9g", what, i,
                      a[i], b[i]);
}

/* Equality up to rounding, for one computation done at two batch sizes. OpenBLAS picks its
 * GEMM kernel by CPU (or OPENBLAS_CORETYPE) and blocks it by the matrix sizes, so a
 * sequence's sums may run in another order alone than in a batch: bit equality across
 * batch sizes is not a property of the code. Every element must be within 1e-5 of the
 * array's largest magnitude. Measured on padding_invariance: the Haswell and Prescott
 * kernels differ by at most 2.4e-7 on arrays whose largest value is 3.1 (a couple of
 * float32 ulps of it; over 100x below the bound), while one padded step leaking into the
 * sequence (its length one longer) moves outputs, states, dx and gradients by 5e3 to 1e5
 * times the bound. Relative to each element would not do: a gradient that is a
 * difference of order-1 terms keeps only their absolute error. NaN fails. */
static void expect_close(const float *a, const float *b, size_t n, const char *what)
{
    double scale = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)b[i]));
    const double tol = 1e-5 * scale;
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs((double)a[i] - b[i]) <= tol, "%s[%zu]: %.9g differs from %.9g by more than %.3g",
                      what, i, a[i], b[i], tol);
}

static void expect_zero(const float *a, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(a[i] == 0.0f, "%s[%zu] is %.8g, expected 0", what, i, a[i]);
}

/* ---- finite differences ---- */

/* The shared finite-difference checker (tests/support/gradcheck) at its defaults:
 * step 1e-2, |analytic - numeric| <= 5e-4 + 5e-3 |numeric|. */
static void fd_check(gc_result *r, float *v, double analytic, double (*loss)(void *), void *state,
                     int is_param, const char *what, size_t index)
{
    const gc_opts o = gc_defaults();
    gc_check_coordinate(r, &o, v, analytic, loss, state, is_param, what, index);
}

/* ---- an RNN with its buffers ---- */

enum { MAXB = 8 };

typedef struct {
    glia_rnn rnn;
    float *values, *grads;
    glia_rnn_ctx *ctx;
    int batch, steps;
    int32_t lengths[MAXB];
    float *x, *dx;            /* [B, T, in] */
    float *r_out, *r_h, *r_c; /* probes: dL/dout, dL/dh_n, dL/dc_n */
    size_t nx, nout, nstate;
    const float *out; /* of the last forward */
} rnn_case;

static void case_new(rnn_case *c, glia_rnn_mode mode, int in, int hidden, int layers, int bi, int batch,
                     int steps, const int32_t *lengths, unsigned seed)
{
    glia_err err = {0};
    memset(c, 0, sizeof *c);
    glia_rnn_config cfg = {mode, in, hidden, layers, bi};
    ck_assert_msg(glia_rnn_init(&c->rnn, &cfg, NULL, &err) == GLIA_OK, "%s", err.msg);
    c->values = floats(c->rnn.size);
    c->grads = floats(c->rnn.size);
    glia_rnn_bind(&c->rnn, c->values, c->grads);
    glia_rng rng;
    glia_rng_seed(&rng, seed);
    glia_rnn_reset(&c->rnn, &rng);
    ck_assert_msg(glia_rnn_ctx_new(&c->rnn, batch, steps, 1, &c->ctx, &err) == GLIA_OK, "%s", err.msg);
    c->batch = batch;
    c->steps = steps;
    ck_assert_int_le(batch, MAXB);
    for (int b = 0; b < batch; b++)
        c->lengths[b] = lengths ? lengths[b] : steps;
    c->nx = (size_t)batch * (size_t)steps * (size_t)in;
    c->nout = (size_t)batch * (size_t)steps * (size_t)c->rnn.output_size;
    c->nstate = (size_t)layers * (size_t)c->rnn.directions * (size_t)batch * (size_t)hidden;
    c->x = uniform(c->nx, -1.0f, 1.0f, seed + 1);
    c->dx = floats(c->nx);
    c->r_out = uniform(c->nout, -1.0f, 1.0f, seed + 2);
    c->r_h = uniform(c->nstate, -1.0f, 1.0f, seed + 3);
    c->r_c = uniform(c->nstate, -1.0f, 1.0f, seed + 4);
}

static void case_free(rnn_case *c)
{
    glia_rnn_ctx_free(c->ctx);
    free(c->values);
    free(c->grads);
    free(c->x);
    free(c->dx);
    free(c->r_out);
    free(c->r_h);
    free(c->r_c);
}

static void case_forward(rnn_case *c)
{
    glia_err err = {0};
    ck_assert_msg(glia_rnn_forward(&c->rnn, c->ctx, c->x, c->lengths, c->batch, c->steps, &c->out, &err) ==
                      GLIA_OK,
                  "%s", err.msg);
}

static double case_loss(void *state)
{
    rnn_case *c = state;
    case_forward(c);
    const float *h = glia_rnn_h_n(c->ctx), *cn = glia_rnn_c_n(c->ctx);
    double s = 0.0;
    for (size_t i = 0; i < c->nout; i++)
        s += (double)c->out[i] * c->r_out[i];
    for (size_t i = 0; i < c->nstate; i++)
        s += (double)h[i] * c->r_h[i] + (cn ? (double)cn[i] * c->r_c[i] : 0.0);
    return s;
}

/* Zeroes the gradients, runs forward and backward with the probes; dx and grads hold the result. */
static void case_backward(rnn_case *c)
{
    memset(c->grads, 0, sizeof(float) * c->rnn.size);
    case_forward(c);
    glia_rnn_backward(&c->rnn, c->ctx, c->r_out, c->r_h, c->r_c, c->dx);
}

/* How check_case breaks the analytic gradient, to show the check notices. */
typedef enum { INTACT, DX_TWO_PERCENT, ONE_WEIGHT_OFF, STEPS_SWAPPED, HH_GRAD_DROPPED } breakage;

static gc_result check_case(rnn_case *c, breakage broken)
{
    gc_result r = {0};
    case_backward(c);
    float *dx = floats(c->nx), *grads = floats(c->rnn.size);
    memcpy(dx, c->dx, sizeof(float) * c->nx);
    memcpy(grads, c->grads, sizeof(float) * c->rnn.size);
    const size_t in = (size_t)c->rnn.cfg.input_size;
    switch (broken) {
    case INTACT: break;
    case DX_TWO_PERCENT:
        for (size_t i = 0; i < c->nx; i++)
            dx[i] *= 1.02f;
        break;
    case ONE_WEIGHT_OFF: grads[3] += 0.02f; break;
    case STEPS_SWAPPED: /* the first two steps' input gradients of sequence 0 exchanged */
        for (size_t j = 0; j < in; j++) {
            float t = dx[j];
            dx[j] = dx[in + j];
            dx[in + j] = t;
        }
        break;
    case HH_GRAD_DROPPED: /* the recurrent weight of layer 0 gets no gradient */
        memset(grads + c->rnn.params[0].size, 0, sizeof(float) * c->rnn.params[1].size);
        break;
    }
    for (size_t i = 0; i < c->nx; i++)
        fd_check(&r, &c->x[i], dx[i], case_loss, c, 0, "dx", i);
    for (int p = 0; p < c->rnn.nparams; p++) {
        glia_param *q = &c->rnn.params[p];
        const float *g = grads + (q->value - c->values);
        for (size_t i = 0; i < q->size; i++)
            fd_check(&r, &q->value[i], g[i], case_loss, c, 1, q->name, i);
    }
    free(dx);
    free(grads);
    return r;
}

/* ---- naive reference: every sequence alone, in double ---- */

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* out [B, T, D] (0 at padding), h_n and c_n [L * dirs, B, H]. */
static void naive_forward(const glia_rnn *rnn, const float *x, const int32_t *lengths, int B, int T,
                          double *out, double *h_n, double *c_n)
{
    const int H = rnn->cfg.hidden_size, G = rnn->gates, GH = G * H, D = rnn->output_size;
    const int in0 = rnn->cfg.input_size, dirs = rnn->directions, lstm = rnn->cfg.mode == GLIA_RNN_LSTM;
    const int wide = in0 > D ? in0 : D;
    double *cur = calloc((size_t)T * wide, sizeof(double)), *next = calloc((size_t)T * D, sizeof(double));
    double *h = calloc((size_t)H, sizeof(double)), *c = calloc((size_t)H, sizeof(double));
    double *a = calloc((size_t)GH, sizeof(double));
    ck_assert(cur && next && h && c && a);
    memset(out, 0, sizeof(double) * (size_t)B * T * D);
    for (int b = 0; b < B; b++) {
        const int len = lengths[b];
        int in = in0;
        for (int t = 0; t < len; t++)
            for (int j = 0; j < in; j++)
                cur[t * in + j] = x[((size_t)b * T + t) * in0 + j];
        for (int l = 0; l < rnn->cfg.num_layers; l++) {
            for (int d = 0; d < dirs; d++) {
                const glia_param *p = &rnn->params[(l * dirs + d) * 4];
                const float *w_ih = p[0].value, *w_hh = p[1].value, *b_ih = p[2].value, *b_hh = p[3].value;
                memset(h, 0, sizeof(double) * H);
                memset(c, 0, sizeof(double) * H);
                for (int s = 0; s < len; s++) {
                    const int t = d ? len - 1 - s : s;
                    for (int k = 0; k < GH; k++) {
                        double acc = (double)b_ih[k] + b_hh[k];
                        for (int j = 0; j < in; j++)
                            acc += (double)w_ih[k * in + j] * cur[t * in + j];
                        for (int j = 0; j < H; j++)
                            acc += (double)w_hh[k * H + j] * h[j];
                        a[k] = acc;
                    }
                    for (int j = 0; j < H; j++) {
                        if (lstm) {
                            double i = sigmoid(a[j]), f = sigmoid(a[H + j]), g = tanh(a[2 * H + j]),
                                   o = sigmoid(a[3 * H + j]);
                            c[j] = f * c[j] + i * g;
                            h[j] = o * tanh(c[j]);
                        } else {
                            h[j] = tanh(a[j]);
                        }
                        next[t * D + d * H + j] = h[j];
                    }
                }
                for (int j = 0; j < H; j++) {
                    h_n[((size_t)(l * dirs + d) * B + b) * H + j] = h[j];
                    if (c_n)
                        c_n[((size_t)(l * dirs + d) * B + b) * H + j] = c[j];
                }
            }
            in = D;
            memcpy(cur, next, sizeof(double) * (size_t)len * D);
        }
        for (int t = 0; t < len; t++)
            memcpy(out + ((size_t)b * T + t) * D, cur + (size_t)t * D, sizeof(double) * D);
    }
    free(cur);
    free(next);
    free(h);
    free(c);
    free(a);
}

/* ---- names, shapes, initialisation, configuration errors ---- */

START_TEST(names_and_shapes_follow_pytorch)
{
    glia_err err = {0};
    glia_rnn rnn;
    glia_rnn_config cfg = {GLIA_RNN_LSTM, 5, 7, 2, 1};
    ck_assert_int_eq(glia_rnn_init(&rnn, &cfg, "encoder", &err), GLIA_OK);
    /* nn.LSTM(5, 7, num_layers=2, bidirectional=True).state_dict(), in order */
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[2];
    } want[] = {
        {"encoder.weight_ih_l0", 2, {28, 5}},
        {"encoder.weight_hh_l0", 2, {28, 7}},
        {"encoder.bias_ih_l0", 1, {28}},
        {"encoder.bias_hh_l0", 1, {28}},
        {"encoder.weight_ih_l0_reverse", 2, {28, 5}},
        {"encoder.weight_hh_l0_reverse", 2, {28, 7}},
        {"encoder.bias_ih_l0_reverse", 1, {28}},
        {"encoder.bias_hh_l0_reverse", 1, {28}},
        {"encoder.weight_ih_l1", 2, {28, 14}},
        {"encoder.weight_hh_l1", 2, {28, 7}},
        {"encoder.bias_ih_l1", 1, {28}},
        {"encoder.bias_hh_l1", 1, {28}},
        {"encoder.weight_ih_l1_reverse", 2, {28, 14}},
        {"encoder.weight_hh_l1_reverse", 2, {28, 7}},
        {"encoder.bias_ih_l1_reverse", 1, {28}},
        {"encoder.bias_hh_l1_reverse", 1, {28}},
    };
    ck_assert_int_eq(rnn.nparams, 16);
    size_t total = 0;
    for (int i = 0; i < 16; i++) {
        ck_assert_str_eq(rnn.params[i].name, want[i].name);
        ck_assert_int_eq(rnn.params[i].ndim, want[i].ndim);
        size_t n = 1;
        for (int d = 0; d < want[i].ndim; d++) {
            ck_assert_int_eq(rnn.params[i].shape[d], want[i].shape[d]);
            n *= (size_t)want[i].shape[d];
        }
        ck_assert_uint_eq(rnn.params[i].size, n);
        total += n;
    }
    ck_assert_uint_eq(rnn.size, total);
    ck_assert_int_eq(rnn.output_size, 14);
    ck_assert_int_eq(rnn.gates, 4);

    /* nn.RNN(3, 6): G = 1, no prefix, one direction */
    glia_rnn_config rc = {GLIA_RNN_TANH, 3, 6, 1, 0};
    ck_assert_int_eq(glia_rnn_init(&rnn, &rc, NULL, &err), GLIA_OK);
    ck_assert_int_eq(rnn.nparams, 4);
    ck_assert_str_eq(rnn.params[0].name, "weight_ih_l0");
    ck_assert_int_eq(rnn.params[0].shape[0], 6);
    ck_assert_int_eq(rnn.params[0].shape[1], 3);
    ck_assert_str_eq(rnn.params[3].name, "bias_hh_l0");
    ck_assert_uint_eq(rnn.size, 6 * 3 + 6 * 6 + 6 + 6);
    ck_assert_int_eq(rnn.output_size, 6);

    /* binding is consecutive, in state_dict order */
    float *v = floats(rnn.size), *g = floats(rnn.size);
    glia_rnn_bind(&rnn, v, g);
    ck_assert_ptr_eq(rnn.params[0].value, v);
    ck_assert_ptr_eq(rnn.params[1].value, v + 18);
    ck_assert_ptr_eq(rnn.params[3].grad, g + 18 + 36 + 6);
    glia_rnn_bind(&rnn, v, NULL);
    ck_assert_ptr_null(rnn.params[2].grad);
    free(v);
    free(g);

    glia_rnn_mode mode;
    ck_assert_int_eq(glia_rnn_mode_parse("lstm", &mode, &err), GLIA_OK);
    ck_assert_int_eq(mode, GLIA_RNN_LSTM);
    ck_assert_int_eq(glia_rnn_mode_parse("rnn_tanh", &mode, &err), GLIA_OK);
    ck_assert_int_eq(mode, GLIA_RNN_TANH);
    ck_assert_int_eq(glia_rnn_mode_parse("gru", &mode, &err), GLIA_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "gru"));
    glia_rnn_pool pool;
    ck_assert_int_eq(glia_rnn_pool_parse("max", &pool, &err), GLIA_OK);
    ck_assert_int_eq(pool, GLIA_RNN_POOL_MAX);
    ck_assert_int_eq(glia_rnn_pool_parse("first", &pool, &err), GLIA_ENOTFOUND);
}
END_TEST

START_TEST(bad_configurations)
{
    static const struct {
        glia_rnn_config cfg;
        const char *want;
    } cases[] = {
        {{GLIA_RNN_LSTM, 0, 4, 1, 0}, "input_size"},    {{GLIA_RNN_LSTM, 3, 0, 1, 0}, "hidden_size"},
        {{GLIA_RNN_TANH, 3, 4, 0, 0}, "num_layers"},    {{GLIA_RNN_TANH, 3, 4, 9, 0}, "num_layers"},
        {{GLIA_RNN_LSTM, 3, 4, 1, 2}, "bidirectional"}, {{(glia_rnn_mode)7, 3, 4, 1, 0}, "mode"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        glia_err err = {0};
        glia_rnn rnn;
        ck_assert_int_eq(glia_rnn_init(&rnn, &cases[i].cfg, NULL, &err), GLIA_EINVAL);
        ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
    }
    char prefix[200];
    memset(prefix, 'a', sizeof prefix - 1);
    prefix[sizeof prefix - 1] = 0;
    glia_err err = {0};
    glia_rnn rnn;
    glia_rnn_config cfg = {GLIA_RNN_LSTM, 3, 4, 1, 0};
    ck_assert_int_eq(glia_rnn_init(&rnn, &cfg, prefix, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "longer"));
    glia_embedding e;
    ck_assert_int_eq(glia_embedding_init(&e, 0, 3, 0, 0, NULL, &err), GLIA_EINVAL);
    ck_assert_int_eq(glia_embedding_init(&e, 5, 3, 1, 5, NULL, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "padding_idx"));
    ck_assert_int_eq(glia_embedding_init(&e, 5, 3, 1, -6, NULL, &err), GLIA_EINVAL);
    ck_assert_int_eq(glia_rnn_init(&rnn, &cfg, NULL, &err), GLIA_OK);
    glia_rnn_ctx *ctx = NULL;
    ck_assert_int_eq(glia_rnn_ctx_new(&rnn, 0, 4, 0, &ctx, &err), GLIA_EINVAL);
    ck_assert_int_eq(glia_rnn_ctx_new(&rnn, 4, 0, 0, &ctx, &err), GLIA_EINVAL);
    ck_assert_int_eq(glia_rnn_ctx_new(&rnn, 1 << 20, 1 << 20, 0, &ctx, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "too large"));
    ck_assert_ptr_null(ctx);
}
END_TEST

START_TEST(reset_uses_pytorch_bounds)
{
    glia_err err = {0};
    glia_rnn rnn;
    glia_rnn_config cfg = {GLIA_RNN_LSTM, 10, 16, 2, 1};
    ck_assert_int_eq(glia_rnn_init(&rnn, &cfg, NULL, &err), GLIA_OK);
    float *v = floats(rnn.size);
    glia_rnn_bind(&rnn, v, NULL);
    glia_rng rng;
    glia_rng_seed(&rng, 5);
    glia_rnn_reset(&rnn, &rng);
    const float bound = 0.25f; /* 1/sqrt(16) for every parameter, biases included */
    for (int p = 0; p < rnn.nparams; p++) {
        const glia_param *q = &rnn.params[p];
        float lo = INFINITY, hi = -INFINITY;
        double sum = 0.0;
        for (size_t i = 0; i < q->size; i++) {
            ck_assert_msg(fabsf(q->value[i]) <= bound, "%s[%zu] = %g", q->name, i, q->value[i]);
            lo = fminf(lo, q->value[i]);
            hi = fmaxf(hi, q->value[i]);
            sum += q->value[i];
        }
        /* 64 or more uniform draws: the extremes are near the bounds (each misses the top
         * tenth with probability 0.95^64 < 4 %, so 0.8 is safe), the mean within 4 standard
         * deviations (bound / sqrt(3 n)) of 0 */
        double sd = bound / sqrt(3.0 * (double)q->size);
        ck_assert_msg(hi > 0.8f * bound && lo < -0.8f * bound, "%s spans [%g, %g]", q->name, lo, hi);
        ck_assert_msg(fabs(sum / (double)q->size) < 4.0 * sd, "%s mean %g", q->name, sum / (double)q->size);
    }
    /* the same seed gives the same weights */
    float *again = floats(rnn.size);
    glia_rnn_bind(&rnn, again, NULL);
    glia_rng_seed(&rng, 5);
    glia_rnn_reset(&rnn, &rng);
    expect_same(again, v, rnn.size, "reset");

    glia_embedding e;
    ck_assert_int_eq(glia_embedding_init(&e, 500, 20, 1, -500, "embedding", &err), GLIA_OK);
    ck_assert_int_eq(e.padding_idx, 0);
    ck_assert_str_eq(e.weight.name, "embedding.weight");
    float *w = floats(e.weight.size);
    glia_embedding_bind(&e, w, NULL);
    glia_embedding_reset(&e, &rng);
    expect_zero(w, 20, "padding row");
    double s = 0.0, s2 = 0.0;
    size_t n = e.weight.size - 20;
    for (size_t i = 20; i < e.weight.size; i++) {
        s += w[i];
        s2 += (double)w[i] * w[i];
    }
    double mean = s / (double)n, var = s2 / (double)n - mean * mean;
    /* N(0, 1) over 9980 draws: mean within ~4 sigma (0.04), variance within 0.1 */
    ck_assert_msg(fabs(mean) < 0.04 && fabs(var - 1.0) < 0.1, "mean %g variance %g", mean, var);
    free(v);
    free(again);
    free(w);
}
END_TEST

/* ---- forward against the naive reference ---- */

START_TEST(forward_matches_naive)
{
    static const int32_t lengths[] = {6, 2, 5, 1};
    static const struct {
        glia_rnn_mode mode;
        int in, hidden, layers, bi;
    } cfgs[] = {
        {GLIA_RNN_LSTM, 3, 4, 1, 0}, {GLIA_RNN_LSTM, 3, 5, 2, 1}, {GLIA_RNN_TANH, 4, 3, 1, 1},
        {GLIA_RNN_TANH, 2, 6, 3, 1}, {GLIA_RNN_LSTM, 5, 3, 3, 0},
    };
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        for (int training = 0; training < 2; training++) {
            rnn_case c;
            case_new(&c, cfgs[k].mode, cfgs[k].in, cfgs[k].hidden, cfgs[k].layers, cfgs[k].bi, 4, 7, lengths,
                     (unsigned)(10 + k));
            if (!training) { /* an inference context: no saved state, same numbers */
                glia_err err = {0};
                glia_rnn_ctx_free(c.ctx);
                ck_assert_int_eq(glia_rnn_ctx_new(&c.rnn, 4, 7, 0, &c.ctx, &err), GLIA_OK);
            }
            double *out = calloc(c.nout, sizeof(double)), *h = calloc(c.nstate, sizeof(double));
            double *cn = calloc(c.nstate, sizeof(double));
            ck_assert(out && h && cn);
            case_forward(&c);
            naive_forward(&c.rnn, c.x, c.lengths, 4, 7, out, h, cn);
            char what[64];
            snprintf(what, sizeof what, "config %zu output", k);
            expect_near(c.out, out, c.nout, 2e-6, what);
            expect_near(glia_rnn_h_n(c.ctx), h, c.nstate, 2e-6, "h_n");
            if (cfgs[k].mode == GLIA_RNN_LSTM)
                expect_near(glia_rnn_c_n(c.ctx), cn, c.nstate, 2e-6, "c_n");
            else
                ck_assert_ptr_null(glia_rnn_c_n(c.ctx));
            /* padded positions are exactly 0 (the reference wrote 0 there too; say it plainly) */
            for (int b = 0; b < 4; b++)
                expect_zero(c.out + ((size_t)b * 7 + lengths[b]) * c.rnn.output_size,
                            (size_t)(7 - lengths[b]) * c.rnn.output_size, "padded output");
            free(out);
            free(h);
            free(cn);
            case_free(&c);
        }
    }
}
END_TEST

/* ---- gradients ---- */

static void check_grads(glia_rnn_mode mode, int in, int hidden, int layers, int bi, int batch, int steps,
                        const int32_t *lengths, const char *what)
{
    rnn_case c;
    case_new(&c, mode, in, hidden, layers, bi, batch, steps, lengths, 21);
    gc_result r = check_case(&c, INTACT);
    gc_expect(&r, what);
    ck_assert_uint_eq(r.checked_inputs + r.checked_params, c.nx + c.rnn.size);
    /* padded positions: dx is exactly 0 */
    for (int b = 0; b < batch; b++)
        expect_zero(c.dx + ((size_t)b * steps + c.lengths[b]) * in, (size_t)(steps - c.lengths[b]) * in,
                    "dx at padding");
    case_free(&c);
}

START_TEST(lstm_gradients)
{
    static const int32_t padded[] = {5, 2, 4}, short_ones[] = {1, 3};
    check_grads(GLIA_RNN_LSTM, 3, 4, 1, 0, 2, 4, NULL, "lstm, one layer, full lengths");
    check_grads(GLIA_RNN_LSTM, 3, 4, 1, 0, 3, 5, padded, "lstm, one layer, padded");
    check_grads(GLIA_RNN_LSTM, 3, 4, 1, 1, 3, 5, padded, "lstm, bidirectional, padded");
    check_grads(GLIA_RNN_LSTM, 3, 4, 2, 1, 3, 6, padded, "lstm, two layers, bidirectional, padded");
    check_grads(GLIA_RNN_LSTM, 2, 3, 2, 0, 3, 6, padded, "lstm, two layers, padded");
    check_grads(GLIA_RNN_LSTM, 2, 3, 3, 1, 2, 4, short_ones, "lstm, three layers, lengths 1 and 3");
}
END_TEST

START_TEST(rnn_gradients)
{
    static const int32_t padded[] = {5, 2, 4}, short_ones[] = {1, 3};
    check_grads(GLIA_RNN_TANH, 3, 4, 1, 0, 2, 4, NULL, "rnn, one layer, full lengths");
    check_grads(GLIA_RNN_TANH, 3, 4, 1, 0, 3, 5, padded, "rnn, one layer, padded");
    check_grads(GLIA_RNN_TANH, 3, 4, 2, 1, 3, 6, padded, "rnn, two layers, bidirectional, padded");
    check_grads(GLIA_RNN_TANH, 2, 5, 2, 0, 3, 6, padded, "rnn, two layers, padded");
    check_grads(GLIA_RNN_TANH, 2, 3, 3, 1, 2, 4, short_ones, "rnn, three layers, lengths 1 and 3");
}
END_TEST

START_TEST(fd_catches_wrong_backward)
{
    static const int32_t padded[] = {5, 2, 4};
    for (breakage broken = INTACT; broken <= HH_GRAD_DROPPED; broken++) {
        rnn_case c;
        case_new(&c, GLIA_RNN_LSTM, 3, 4, 2, 1, 3, 5, padded, 3);
        gc_result r = check_case(&c, broken);
        if (broken == INTACT)
            gc_expect(&r, "intact lstm");
        else
            ck_assert_msg(r.failed > 0, "breakage %d went unnoticed (worst %g x tolerance at %s)",
                          (int)broken, r.worst, r.worst_at);
        case_free(&c);
    }
}
END_TEST

/* ---- the backward contract ---- */

START_TEST(backward_contract)
{
    static const int32_t padded[] = {5, 2, 4};
    rnn_case c;
    case_new(&c, GLIA_RNN_LSTM, 3, 4, 2, 1, 3, 5, padded, 4);
    case_backward(&c);
    float *g1 = floats(c.rnn.size), *dx1 = floats(c.nx);
    memcpy(g1, c.grads, sizeof(float) * c.rnn.size);
    memcpy(dx1, c.dx, sizeof(float) * c.nx);

    /* a second backward of the same forward accumulates the same gradients again; dx,
     * even when it held NaN, is overwritten with the same values */
    for (size_t i = 0; i < c.nx; i++)
        c.dx[i] = NAN;
    glia_rnn_backward(&c.rnn, c.ctx, c.r_out, c.r_h, c.r_c, c.dx);
    expect_same(c.dx, dx1, c.nx, "dx of a repeated backward");
    for (size_t i = 0; i < c.rnn.size; i++)
        ck_assert_msg(fabsf(c.grads[i] - 2.0f * g1[i]) <= 1e-5f * fmaxf(1.0f, fabsf(g1[i])),
                      "grad[%zu]: %g after two backwards of %g", i, c.grads[i], g1[i]);

    /* dx NULL: the parameter gradients alone, the same */
    memset(c.grads, 0, sizeof(float) * c.rnn.size);
    glia_rnn_backward(&c.rnn, c.ctx, c.r_out, c.r_h, c.r_c, NULL);
    expect_same(c.grads, g1, c.rnn.size, "grads without dx");

    /* dh_n, dc_n NULL mean zero */
    float *zero = floats(c.nstate);
    memset(c.grads, 0, sizeof(float) * c.rnn.size);
    glia_rnn_backward(&c.rnn, c.ctx, c.r_out, NULL, NULL, dx1);
    float *g2 = floats(c.rnn.size), *dx2 = floats(c.nx);
    memcpy(g2, c.grads, sizeof(float) * c.rnn.size);
    memset(c.grads, 0, sizeof(float) * c.rnn.size);
    glia_rnn_backward(&c.rnn, c.ctx, c.r_out, zero, zero, dx2);
    expect_same(c.grads, g2, c.rnn.size, "grads with NULL state gradients");
    expect_same(dx2, dx1, c.nx, "dx with NULL state gradients");

    /* parameters without gradient buffers in a training context: backward gives dx only */
    glia_rnn_bind(&c.rnn, c.values, NULL);
    glia_rnn_backward(&c.rnn, c.ctx, c.r_out, zero, zero, dx2);
    expect_same(dx2, dx1, c.nx, "dx without parameter gradients");
    glia_rnn_bind(&c.rnn, c.values, c.grads);

    /* bad batches are refused with a message, and leave no output */
    glia_err err = {0};
    const float *out = c.out;
    int32_t bad[3] = {5, 0, 4};
    ck_assert_int_eq(glia_rnn_forward(&c.rnn, c.ctx, c.x, bad, 3, 5, &out, &err), GLIA_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(err.msg, "sequence 1 has length 0"));
    bad[1] = 6;
    ck_assert_int_eq(glia_rnn_forward(&c.rnn, c.ctx, c.x, bad, 3, 5, &out, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "length 6"));
    ck_assert_int_eq(glia_rnn_forward(&c.rnn, c.ctx, c.x, padded, 4, 5, &out, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "batch"));
    ck_assert_int_eq(glia_rnn_forward(&c.rnn, c.ctx, c.x, padded, 0, 5, &out, &err), GLIA_EINVAL);
    ck_assert_int_eq(glia_rnn_forward(&c.rnn, c.ctx, c.x, padded, 3, 6, &out, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "6 steps"));
    ck_assert_uint_gt(glia_rnn_ctx_bytes(c.ctx), 0);
    free(g1);
    free(dx1);
    free(g2);
    free(dx2);
    free(zero);
    case_free(&c);
}
END_TEST

/* ---- padding invariance ---- */

typedef struct {
    float *out, *h, *c, *dx, *grads;
} run_result;

static void run_result_free(run_result *r)
{
    free(r->out);
    free(r->h);
    free(r->c);
    free(r->dx);
    free(r->grads);
}

/* Forward and backward of c with dout/dh_n/dc_n given; copies everything out. */
static run_result run(rnn_case *c, const float *dout, const float *dh, const float *dcell)
{
    run_result r;
    memset(c->grads, 0, sizeof(float) * c->rnn.size);
    case_forward(c);
    glia_rnn_backward(&c->rnn, c->ctx, dout, dh, dcell, c->dx);
    r.out = floats(c->nout);
    r.h = floats(c->nstate);
    r.c = floats(c->nstate);
    r.dx = floats(c->nx);
    r.grads = floats(c->rnn.size);
    memcpy(r.out, c->out, sizeof(float) * c->nout);
    memcpy(r.h, glia_rnn_h_n(c->ctx), sizeof(float) * c->nstate);
    if (glia_rnn_c_n(c->ctx))
        memcpy(r.c, glia_rnn_c_n(c->ctx), sizeof(float) * c->nstate);
    memcpy(r.dx, c->dx, sizeof(float) * c->nx);
    memcpy(r.grads, c->grads, sizeof(float) * c->rnn.size);
    return r;
}

static void padding_invariance(glia_rnn_mode mode)
{
    enum { B = 3, T = 7, IN = 3, H = 4, L = 2, DIRS = 2, ME = 1, LEN = 3 };
    static const int32_t lengths[B] = {7, LEN, 6};
    const int D = H * DIRS;
    rnn_case batch, alone;
    case_new(&batch, mode, IN, H, L, 1, B, T, lengths, 31);
    case_new(&alone, mode, IN, H, L, 1, 1, LEN, NULL, 31); /* same seed: same weights */
    expect_same(alone.values, batch.values, batch.rnn.size, "weights");
    memcpy(alone.x, batch.x + (size_t)ME * T * IN, sizeof(float) * LEN * IN);

    /* the loss of the batch depends on sequence ME only: its outputs and final states */
    float *dout = floats(batch.nout), *dh = floats(batch.nstate), *dc = floats(batch.nstate);
    for (int t = 0; t < LEN; t++)
        memcpy(dout + ((size_t)ME * T + t) * D, alone.r_out + (size_t)t * D, sizeof(float) * D);
    for (int s = 0; s < L * DIRS; s++) {
        memcpy(dh + ((size_t)s * B + ME) * H, alone.r_h + (size_t)s * H, sizeof(float) * H);
        memcpy(dc + ((size_t)s * B + ME) * H, alone.r_c + (size_t)s * H, sizeof(float) * H);
    }
    run_result a = run(&alone, alone.r_out, alone.r_h, alone.r_c);
    run_result b = run(&batch, dout, dh, dc);
    expect_close(b.out + (size_t)ME * T * D, a.out, (size_t)LEN * D, "output alone vs in a batch");
    expect_zero(b.out + ((size_t)ME * T + LEN) * D, (size_t)(T - LEN) * D, "output at padding");
    for (int s = 0; s < L * DIRS; s++) {
        expect_close(b.h + ((size_t)s * B + ME) * H, a.h + (size_t)s * H, H, "h_n alone vs in a batch");
        expect_close(b.c + ((size_t)s * B + ME) * H, a.c + (size_t)s * H, H, "c_n alone vs in a batch");
    }
    expect_close(b.dx + (size_t)ME * T * IN, a.dx, (size_t)LEN * IN, "dx alone vs in a batch");
    expect_zero(b.dx + ((size_t)ME * T + LEN) * IN, (size_t)(T - LEN) * IN, "dx at padding");
    expect_close(b.grads, a.grads, batch.rnn.size, "parameter gradients alone vs in a batch");

    /* NaN at every padded position of the inputs and of dout changes no bit of anything */
    run_result full = run(&batch, batch.r_out, batch.r_h, batch.r_c);
    for (int s = 0; s < B; s++)
        for (int t = lengths[s]; t < T; t++) {
            for (int j = 0; j < IN; j++)
                batch.x[((size_t)s * T + t) * IN + j] = NAN;
            for (int j = 0; j < D; j++)
                batch.r_out[((size_t)s * T + t) * D + j] = NAN;
        }
    run_result poisoned = run(&batch, batch.r_out, batch.r_h, batch.r_c);
    expect_same(poisoned.out, full.out, batch.nout, "output with NaN padding");
    expect_same(poisoned.h, full.h, batch.nstate, "h_n with NaN padding");
    expect_same(poisoned.c, full.c, batch.nstate, "c_n with NaN padding");
    expect_same(poisoned.dx, full.dx, batch.nx, "dx with NaN padding");
    expect_same(poisoned.grads, full.grads, batch.rnn.size, "gradients with NaN padding");

    /* an inference context reads no padded input either */
    glia_err err = {0};
    glia_rnn_ctx *ictx = NULL;
    const float *out = NULL;
    ck_assert_int_eq(glia_rnn_ctx_new(&batch.rnn, B, T, 0, &ictx, &err), GLIA_OK);
    ck_assert_int_eq(glia_rnn_forward(&batch.rnn, ictx, batch.x, lengths, B, T, &out, &err), GLIA_OK);
    expect_same(out, full.out, batch.nout, "inference output with NaN padding");
    expect_same(glia_rnn_h_n(ictx), full.h, batch.nstate, "inference h_n with NaN padding");
    glia_rnn_ctx_free(ictx);

    run_result_free(&a);
    run_result_free(&b);
    run_result_free(&full);
    run_result_free(&poisoned);
    free(dout);
    free(dh);
    free(dc);
    case_free(&batch);
    case_free(&alone);
}

START_TEST(lstm_padding_invariance)
{
    padding_invariance(GLIA_RNN_LSTM);
}
END_TEST

START_TEST(rnn_padding_invariance)
{
    padding_invariance(GLIA_RNN_TANH);
}
END_TEST

/* ---- pooling ---- */

static void naive_pool(glia_rnn_pool pool, const float *x, const int32_t *lengths, int B, int T, int F,
                       int dirs, double *y)
{
    for (int b = 0; b < B; b++)
        for (int f = 0; f < F; f++) {
            const int len = lengths[b];
            double v;
            if (pool == GLIA_RNN_POOL_LAST) {
                int t = dirs == 2 && f >= F / 2 ? 0 : len - 1;
                v = x[((size_t)b * T + t) * F + f];
            } else if (pool == GLIA_RNN_POOL_MEAN) {
                v = 0.0;
                for (int t = 0; t < len; t++)
                    v += x[((size_t)b * T + t) * F + f];
                v /= len;
            } else {
                v = -INFINITY;
                for (int t = 0; t < len; t++)
                    v = fmax(v, x[((size_t)b * T + t) * F + f]);
            }
            y[(size_t)b * F + f] = v;
        }
}

typedef struct {
    glia_rnn_pool pool;
    float *x, *y, *r;
    const int32_t *lengths;
    int B, T, F, dirs;
} pool_run;

static double pool_loss(void *state)
{
    pool_run *p = state;
    glia_rnn_pool_forward(p->pool, p->x, p->lengths, p->B, p->T, p->F, p->dirs, p->y);
    double s = 0.0;
    for (int i = 0; i < p->B * p->F; i++)
        s += (double)p->y[i] * p->r[i];
    return s;
}

START_TEST(pooling_forward_and_gradients)
{
    enum { B = 3, T = 5, F = 6 };
    static const int32_t lengths[B] = {5, 1, 3};
    static const char *names[] = {"last", "mean", "max"};
    for (int dirs = 1; dirs <= 2; dirs++)
        for (glia_rnn_pool pool = GLIA_RNN_POOL_LAST; pool <= GLIA_RNN_POOL_MAX; pool++) {
            size_t nx = (size_t)B * T * F;
            float *x = floats(nx), *y = floats(B * F), *r = uniform(B * F, -1.0f, 1.0f, 9), *dx = floats(nx);
            double *ref = calloc(B * F, sizeof(double));
            ck_assert_ptr_nonnull(ref);
            gc_distinct_inputs(x, nx, 0.05f, 8); /* no max ties within a step of 1e-2 */
            for (int b = 0; b < B; b++)          /* padded positions hold the largest values of all */
                for (int t = lengths[b]; t < T; t++)
                    for (int f = 0; f < F; f++)
                        x[((size_t)b * T + t) * F + f] = 100.0f + (float)t;
            glia_rnn_pool_forward(pool, x, lengths, B, T, F, dirs, y);
            naive_pool(pool, x, lengths, B, T, F, dirs, ref);
            expect_near(y, ref, B * F, 1e-6, names[pool]);

            glia_rnn_pool_backward(pool, x, lengths, B, T, F, dirs, r, dx);
            pool_run run = {pool, x, y, r, lengths, B, T, F, dirs};
            gc_result res = {0};
            for (size_t i = 0; i < nx; i++)
                fd_check(&res, &x[i], dx[i], pool_loss, &run, 0, names[pool], i);
            gc_expect(&res, names[pool]);
            for (int b = 0; b < B; b++)
                expect_zero(dx + ((size_t)b * T + lengths[b]) * F, (size_t)(T - lengths[b]) * F,
                            "pool dx at padding");
            free(x);
            free(y);
            free(r);
            free(dx);
            free(ref);
        }
}
END_TEST

START_TEST(pooling_picks)
{
    /* one sequence of 3 steps, 4 features (2 per direction) and a padded 4th step */
    static const int32_t len3[] = {3};
    float x[4 * 4] = {1,   2,   3,   4,    /* t = 0 */
                      5,   2,   7,   NAN,  /* t = 1 */
                      9,   2,   NAN, 8,    /* t = 2 */
                      100, 100, 100, 100}; /* padding */
    float y[4], dy[4] = {1, 2, 3, 4}, dx[16];
    glia_rnn_pool_forward(GLIA_RNN_POOL_LAST, x, len3, 1, 4, 4, 2, y);
    ck_assert(y[0] == 9 && y[1] == 2 && y[2] == 3 && y[3] == 4); /* forward half at t=2, reverse at t=0 */
    glia_rnn_pool_forward(GLIA_RNN_POOL_LAST, x, len3, 1, 4, 4, 1, y);
    ck_assert(y[0] == 9 && y[1] == 2 && isnan(y[2]) && y[3] == 8);
    glia_rnn_pool_forward(GLIA_RNN_POOL_MAX, x, len3, 1, 4, 4, 2, y);
    ck_assert(y[0] == 9 && y[1] == 2 && isnan(y[2]) && isnan(y[3])); /* NaN wins, padding ignored */
    glia_rnn_pool_backward(GLIA_RNN_POOL_MAX, x, len3, 1, 4, 4, 2, dy, dx);
    /* ties go to the first maximum: feature 1 is 2 at every step */
    static const float want[16] = {0, 2, 0, 0, 0, 0, 0, 4, 1, 0, 3, 0, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++)
        ck_assert_msg(dx[i] == want[i], "dx[%d] = %g, want %g", i, dx[i], want[i]);
    glia_rnn_pool_forward(GLIA_RNN_POOL_MEAN, x, len3, 1, 4, 4, 2, y);
    ck_assert(y[0] == 5 && y[1] == 2);
}
END_TEST

/* ---- embedding ---- */

START_TEST(embedding_forward_and_backward)
{
    enum { V = 6, E = 3, B = 2, T = 4 };
    glia_err err = {0};
    glia_embedding e;
    ck_assert_int_eq(glia_embedding_init(&e, V, E, 1, 0, NULL, &err), GLIA_OK);
    ck_assert_str_eq(e.weight.name, "weight");
    ck_assert_int_eq(e.weight.shape[0], V);
    ck_assert_int_eq(e.weight.shape[1], E);
    float *w = uniform(V * E, -1.0f, 1.0f, 3), *g = floats(V * E), out[B * T * E];
    glia_embedding_bind(&e, w, g);
    static const int32_t lengths[B] = {4, 2};
    /* token 0 is the padding index, used at a valid position; -7 and 99 sit in padding */
    static const int32_t ids[B * T] = {3, 0, 3, 5, 1, 3, -7, 99};
    ck_assert_int_eq(glia_embedding_forward(&e, ids, lengths, B, T, out, &err), GLIA_OK);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *row = out + ((size_t)b * T + t) * E;
            if (t >= lengths[b])
                expect_zero(row, E, "embedding at padding");
            else
                expect_same(row, w + (size_t)ids[b * T + t] * E, E, "embedding row");
        }
    float dout[B * T * E];
    for (int i = 0; i < B * T * E; i++)
        dout[i] = (float)(i + 1);
    dout[(1 * T + 3) * E] = NAN; /* padding: never read */
    glia_embedding_backward(&e, ids, lengths, B, T, dout);
    glia_embedding_backward(&e, ids, lengths, B, T, dout); /* accumulates */
    float want[V * E] = {0};
    for (int b = 0; b < B; b++)
        for (int t = 0; t < lengths[b]; t++)
            for (int j = 0; j < E; j++)
                if (ids[b * T + t] != 0)
                    want[ids[b * T + t] * E + j] += 2.0f * dout[(b * T + t) * E + j];
    expect_same(g, want, V * E, "embedding gradient");
    expect_zero(g, E, "padding row gradient");

    /* an id outside the vocabulary at a valid position is refused, naming it */
    int32_t bad[B * T] = {3, 0, 6, 5, 1, 3, 0, 0};
    ck_assert_int_eq(glia_embedding_forward(&e, bad, lengths, B, T, out, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "token id 6 at sequence 0, step 2"));
    bad[2] = -1;
    ck_assert_int_eq(glia_embedding_forward(&e, bad, lengths, B, T, out, &err), GLIA_EINVAL);
    /* lengths NULL: every step valid, so the padding's 99 is now an error */
    ck_assert_int_eq(glia_embedding_forward(&e, ids, NULL, B, T, out, &err), GLIA_EINVAL);
    /* without padding_idx, row 0 gets its gradient */
    ck_assert_int_eq(glia_embedding_init(&e, V, E, 0, 0, NULL, &err), GLIA_OK);
    ck_assert_int_eq(e.padding_idx, -1);
    glia_embedding_bind(&e, w, g);
    memset(g, 0, sizeof(float) * V * E);
    glia_embedding_backward(&e, ids, lengths, B, T, dout);
    expect_same(g, dout + E, E, "row 0 without padding_idx");
    free(w);
    free(g);
}
END_TEST

/* embedding -> LSTM (two layers, bidirectional) -> pooling: every weight of the chain
 * against finite differences, for a padded batch whose padding holds ids outside the
 * vocabulary. */
typedef struct {
    glia_embedding emb;
    rnn_case c;
    glia_rnn_pool pool;
    const int32_t *ids;
    float *pooled, *r;
} chain;

static double chain_loss(void *state)
{
    chain *k = state;
    glia_err err = {0};
    ck_assert_int_eq(
        glia_embedding_forward(&k->emb, k->ids, k->c.lengths, k->c.batch, k->c.steps, k->c.x, &err), GLIA_OK);
    case_forward(&k->c);
    glia_rnn_pool_forward(k->pool, k->c.out, k->c.lengths, k->c.batch, k->c.steps, k->c.rnn.output_size,
                          k->c.rnn.directions, k->pooled);
    double s = 0.0;
    for (int i = 0; i < k->c.batch * k->c.rnn.output_size; i++)
        s += (double)k->pooled[i] * k->r[i];
    return s;
}

START_TEST(embedding_lstm_pool_chain_gradients)
{
    enum { V = 7, E = 3, H = 3, B = 3, T = 5 };
    static const int32_t lengths[B] = {5, 2, 4};
    static const int32_t ids[B * T] = {1, 2, 0, 4, 6, 5, 1, 1000, -3, 1000, 3, 3, 2, 0, 77};
    glia_err err = {0};
    for (glia_rnn_pool pool = GLIA_RNN_POOL_LAST; pool <= GLIA_RNN_POOL_MAX; pool++) {
        chain k;
        memset(&k, 0, sizeof k);
        k.pool = pool;
        k.ids = ids;
        case_new(&k.c, GLIA_RNN_LSTM, E, H, 2, 1, B, T, lengths, 41);
        ck_assert_int_eq(glia_embedding_init(&k.emb, V, E, 1, 0, "embedding", &err), GLIA_OK);
        float *w = floats(V * E), *g = floats(V * E);
        glia_embedding_bind(&k.emb, w, g);
        glia_rng rng;
        glia_rng_seed(&rng, 42);
        glia_embedding_reset(&k.emb, &rng);
        const int F = k.c.rnn.output_size;
        k.pooled = floats(B * F);
        k.r = uniform(B * F, -1.0f, 1.0f, 43);
        float *dout = floats(k.c.nout);

        chain_loss(&k);
        memset(k.c.grads, 0, sizeof(float) * k.c.rnn.size);
        glia_rnn_pool_backward(pool, k.c.out, lengths, B, T, F, 2, k.r, dout);
        glia_rnn_backward(&k.c.rnn, k.c.ctx, dout, NULL, NULL, k.c.dx);
        glia_embedding_backward(&k.emb, ids, lengths, B, T, k.c.dx);
        float *grads = floats(k.c.rnn.size), *gw = floats(V * E);
        memcpy(grads, k.c.grads, sizeof(float) * k.c.rnn.size);
        memcpy(gw, g, sizeof(float) * V * E);

        gc_result r = {0};
        expect_zero(gw, E, "padding row gradient"); /* PyTorch: used in forward, never trained */
        for (size_t i = E; i < (size_t)V * E; i++)
            fd_check(&r, &w[i], gw[i], chain_loss, &k, 1, "embedding.weight", i);
        for (int p = 0; p < k.c.rnn.nparams; p++) {
            glia_param *q = &k.c.rnn.params[p];
            const float *a = grads + (q->value - k.c.values);
            for (size_t i = 0; i < q->size; i++)
                fd_check(&r, &q->value[i], a[i], chain_loss, &k, 1, q->name, i);
        }
        gc_expect(&r, pool == GLIA_RNN_POOL_LAST   ? "chain, last"
                      : pool == GLIA_RNN_POOL_MEAN ? "chain, mean"
                                                   : "chain, max");
        free(w);
        free(g);
        free(grads);
        free(gw);
        free(dout);
        free(k.pooled);
        free(k.r);
        case_free(&k.c);
    }
}
END_TEST

/* ---- loading by PyTorch name ---- */

START_TEST(params_load_by_name)
{
    glia_err err = {0};
    glia_rnn a, b;
    glia_rnn_config cfg = {GLIA_RNN_LSTM, 3, 2, 2, 1};
    ck_assert_int_eq(glia_rnn_init(&a, &cfg, "lstm", &err), GLIA_OK);
    ck_assert_int_eq(glia_rnn_init(&b, &cfg, "lstm", &err), GLIA_OK);
    float *va = floats(a.size), *vb = floats(b.size), other[2] = {1, 2};
    glia_rnn_bind(&a, va, NULL);
    glia_rnn_bind(&b, vb, NULL);
    glia_rng rng;
    glia_rng_seed(&rng, 77);
    glia_rnn_reset(&a, &rng);

    char dir[64], path[128];
    glia_test_mkdtemp(dir, sizeof dir, "rnn");
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    glia_st_entry entries[GLIA_RNN_MAX_PARAMS + 1];
    for (int i = 0; i < a.nparams; i++)
        entries[i] = (glia_st_entry){a.params[i].name, GLIA_DT_F32, a.params[i].ndim, a.params[i].shape,
                                     a.params[i].value};
    int64_t oshape[1] = {2};
    entries[a.nparams] = (glia_st_entry){"fc.bias", GLIA_DT_F32, 1, oshape, other}; /* another module's */
    ck_assert_int_eq(glia_st_write(path, entries, (size_t)a.nparams + 1, NULL, &err), GLIA_OK);
    glia_st_file *st = NULL;
    ck_assert_int_eq(glia_st_open(path, &st, &err), GLIA_OK);
    ck_assert_msg(glia_params_load(b.params, b.nparams, st, "module", &err) == GLIA_OK, "%s", err.msg);
    expect_same(vb, va, a.size, "loaded weights");
    glia_st_close(st);

    /* a missing tensor and a misshapen one are named */
    ck_assert_int_eq(glia_st_write(path, entries, 3, NULL, &err), GLIA_OK);
    ck_assert_int_eq(glia_st_open(path, &st, &err), GLIA_OK);
    ck_assert_int_eq(glia_params_load(b.params, b.nparams, st, "module", &err), GLIA_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "lstm.bias_hh_l0"));
    glia_st_close(st);
    entries[0].ndim = 1;
    entries[0].shape = oshape;
    ck_assert_int_eq(glia_st_write(path, entries, 1, NULL, &err), GLIA_OK);
    ck_assert_int_eq(glia_st_open(path, &st, &err), GLIA_OK);
    ck_assert_int_eq(glia_params_load(b.params, 1, st, "module", &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "has shape [2] but the module expects [8, 3]"));
    glia_st_close(st);
    glia_test_rmtree(dir);
    free(va);
    free(vb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rnn");
    TCase *tc = tcase_create("rnn");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, names_and_shapes_follow_pytorch);
    tcase_add_test(tc, bad_configurations);
    tcase_add_test(tc, reset_uses_pytorch_bounds);
    tcase_add_test(tc, forward_matches_naive);
    tcase_add_test(tc, lstm_gradients);
    tcase_add_test(tc, rnn_gradients);
    tcase_add_test(tc, fd_catches_wrong_backward);
    tcase_add_test(tc, backward_contract);
    tcase_add_test(tc, lstm_padding_invariance);
    tcase_add_test(tc, rnn_padding_invariance);
    tcase_add_test(tc, pooling_forward_and_gradients);
    tcase_add_test(tc, pooling_picks);
    tcase_add_test(tc, embedding_forward_and_backward);
    tcase_add_test(tc, embedding_lstm_pool_chain_gradients);
    tcase_add_test(tc, params_load_by_name);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
