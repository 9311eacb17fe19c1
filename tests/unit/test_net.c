/*
 * test_net.c - sequential networks built from a manifest.
 *
 * The module tree gives PyTorch's parameter names and state_dict order; the whole
 * backward pass (every layer kind chained, with the probe loss and with cross-entropy,
 * dropout keeping one mask) against central finite differences, and the check shown to
 * catch one broken layer inside the chain; gradients accumulate until zeroed; inference
 * and training contexts give the same logits, and dropout only acts in training; save
 * and strict load round-trip under PyTorch's names, while a missing, extra, misshaped
 * (even with the right element count) or integer tensor is refused with its name; a
 * replica shares values but not gradients; the shipped fashion-cnn bundle builds and
 * loads strictly; a conv with its ReLU folded in matches the two run one by one.
 */
#include "core/model/manifest.h"
#include "core/nn/loss.h"
#include "core/nn/net.h"
#include "tests/support/check_main.h"
#include "tests/support/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "net");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

/* Every layer kind: conv (same and strided), relu, max-pool, avg-pool with padding, tanh,
 * [dropout,] flatten, linear, sigmoid, linear. The dropout sits in a module of its own so
 * that both variants name their parameters alike. */
static const char *small_manifest(int dropout)
{
    char text[2048];
    snprintf(
        text, sizeof text,
        "name: small\ntask: image-classification\ninput: {shape: [2, 6, 6]}\n"
        "architecture:\n  type: sequential\n  modules:\n"
        "    - name: features\n      layers:\n"
        "        - {type: conv2d, in_channels: 2, out_channels: 3, kernel_size: 3, padding: 1}\n"
        "        - {type: relu}\n"
        "        - {type: maxpool2d, kernel_size: 2, stride: 2}\n"
        "        - {type: conv2d, in_channels: 3, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}\n"
        "        - {type: tanh}\n"
        "        - {type: avgpool2d, kernel_size: 3, stride: 1, padding: 1}\n"
        "%s"
        "    - name: head\n      layers:\n"
        "        - {type: flatten}\n"
        "        - {type: linear, in_features: 16, out_features: 5}\n"
        "        - {type: sigmoid}\n"
        "        - {type: linear, in_features: 5, out_features: 4}\n",
        dropout ? "    - name: drop\n      layers:\n        - {type: dropout, p: 0.5}\n" : "");
    return glia_test_write(tmpdir, dropout ? "dropout.yaml" : "model.yaml", text);
}

static glia_net *net_from(const char *manifest_path, unsigned seed)
{
    glia_err err = {0};
    glia_manifest m;
    glia_net *net = NULL;
    ck_assert_msg(glia_manifest_load(manifest_path, &m, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_net_new(m.input, m.layers, m.nlayers, &net, &err) == GLIA_OK, "%s", err.msg);
    glia_manifest_free(&m);
    glia_rng rng;
    glia_rng_seed(&rng, seed);
    glia_net_reset(net, &rng);
    return net;
}

static glia_net *small_net(int dropout)
{
    return net_from(small_manifest(dropout), 3);
}

static float *batch(glia_net *net, int n, unsigned seed)
{
    size_t nx = glia_shape3_size(net->input) * (size_t)n;
    float *x = malloc(sizeof(float) * nx);
    ck_assert_ptr_nonnull(x);
    gc_uniform(x, nx, -1.0f, 1.0f, seed);
    return x;
}

/* ---- structure ---- */

START_TEST(names_shapes_and_order_are_pytorch)
{
    glia_net *net = small_net(1);
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[4];
    } want[] = {
        {"features.0.weight", 4, {3, 2, 3, 3}}, {"features.0.bias", 1, {3}},
        {"features.3.weight", 4, {4, 3, 3, 3}}, {"features.3.bias", 1, {4}},
        {"head.1.weight", 2, {5, 16}},          {"head.1.bias", 1, {5}},
        {"head.3.weight", 2, {4, 5}},           {"head.3.bias", 1, {4}},
    };
    ck_assert_int_eq(net->nparams, 8);
    ck_assert_int_eq(net->nlayers, 11);
    size_t off = 0;
    for (int i = 0; i < 8; i++) {
        const glia_param *p = &net->params[i];
        ck_assert_str_eq(p->name, want[i].name);
        ck_assert_int_eq(p->ndim, want[i].ndim);
        size_t size = 1;
        for (int d = 0; d < p->ndim; d++) {
            ck_assert_int_eq(p->shape[d], want[i].shape[d]);
            size *= (size_t)p->shape[d];
        }
        ck_assert_uint_eq(p->size, size);
        ck_assert_ptr_eq(p->value, net->values + off); /* one flat buffer, state_dict order */
        ck_assert_ptr_eq(glia_net_find_param(net, want[i].name), p);
        off += size;
    }
    ck_assert_uint_eq(net->size, off);
    ck_assert_ptr_null(glia_net_find_param(net, "features.1.weight"));
    ck_assert_ptr_null(glia_net_find_param(net, "drop.0.weight"));
    ck_assert_str_eq(net->layers[6].name, "drop.0");
    ck_assert_int_eq(net->output.c, 4);
    ck_assert_int_eq(net->output.h * net->output.w, 1);
    glia_net_free(net);
}
END_TEST

START_TEST(bad_layers_are_refused_with_their_name)
{
    glia_err err = {0};
    glia_net *net = NULL;
    glia_layer specs[3] = {{0}};
    specs[0].kind = GLIA_LAYER_CONV2D;
    specs[0].cfg.conv.in_channels = 1;
    specs[0].cfg.conv.out_channels = 2;
    specs[0].cfg.conv.kernel = 3;
    specs[0].cfg.conv.stride = 1;
    snprintf(specs[0].name, sizeof specs[0].name, "body.0");
    specs[1].kind = GLIA_LAYER_FLATTEN;
    snprintf(specs[1].name, sizeof specs[1].name, "body.1");
    specs[2].kind = GLIA_LAYER_LINEAR;
    specs[2].cfg.linear.in_features = 9; /* 2 x 2 x 2 = 8 arrive */
    specs[2].cfg.linear.out_features = 3;
    snprintf(specs[2].name, sizeof specs[2].name, "head.0");
    ck_assert_int_eq(glia_net_new((glia_shape3){1, 4, 4}, specs, 3, &net, &err), GLIA_EINVAL);
    ck_assert_ptr_null(net);
    ck_assert_msg(strstr(err.msg, "layer head.0: linear: in_features is 9 but its input has 8"), "%s",
                  err.msg);
    /* the same specs with the right size build */
    specs[2].cfg.linear.in_features = 8;
    ck_assert_msg(glia_net_new((glia_shape3){1, 4, 4}, specs, 3, &net, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_str_eq(net->params[2].name, "head.0.weight");
    glia_net_free(net);
    ck_assert_int_eq(glia_net_new((glia_shape3){0, 4, 4}, specs, 3, &net, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "input shape"));
}
END_TEST

/* ---- gradients ---- */

typedef struct {
    const int32_t *labels;
    float smoothing;
    int32_t ignore;
} xent_args;

static double xent_loss(const float *out, int n, int k, float *dout, void *user)
{
    const xent_args *a = user;
    return glia_xent(out, a->labels, n, k, a->smoothing, a->ignore, dout, NULL);
}

/* ReLU and max-pool inside a net have kinks the inputs cannot all avoid: accept a few
 * coordinates where the step crossed one (the analytic value then matches the one-sided
 * difference on the other side), never a plain disagreement. */
static void expect_net_grads(const gc_result *r, size_t nparams, const char *what)
{
    gc_expect(r, what);
    ck_assert_uint_eq(r->checked_params, nparams);
    ck_assert_msg(r->kinks * 50 <= r->checked_params, "%s: %zu of %zu coordinates at kinks", what, r->kinks,
                  r->checked_params);
}

START_TEST(whole_net_gradient)
{
    for (int dropout = 0; dropout < 2; dropout++) {
        glia_net *net = small_net(dropout);
        const int n = 3;
        float *x = batch(net, n, 5);
        gc_opts o = gc_defaults();
        /* a smaller step than a lone layer's: every hidden ReLU and max-pool window moves
         * with a first-layer weight, and fewer of them cross a kink */
        o.step = 3e-3f;
        o.allow_kinks = 1;
        gc_result r = gc_net_check(net, x, n, NULL, NULL, &o);
        expect_net_grads(&r, net->size,
                         dropout ? "whole net with dropout, probe loss" : "whole net, probe loss");

        /* cross-entropy with smoothing and an ignored row: the gradients are a mean over
         * rows and small (down to 1e-4 for the first layer), so is the absolute tolerance;
         * float rounding of a loss near 1.4 then limits the step from below */
        const int32_t labels[3] = {1, -100, 3};
        xent_args a = {labels, 0.1f, -100};
        o.atol = 3e-5;
        r = gc_net_check(net, x, n, xent_loss, &a, &o);
        expect_net_grads(&r, net->size,
                         dropout ? "whole net with dropout, cross-entropy" : "whole net, cross-entropy");
        free(x);
        glia_net_free(net);
    }
}
END_TEST

/* A net whose head.1 (linear) passes back a dx five per cent too large: every parameter
 * before it gets a wrong gradient, those after it stay right. */
static void inflated_dx_backward(glia_layer *l, const float *x, const float *y, const float *dy, float *dx,
                                 int n, glia_pass *p)
{
    glia_linear_ops.backward(l, x, y, dy, dx, n, p);
    for (size_t i = 0; dx && i < glia_shape3_size(l->in) * (size_t)n; i++)
        dx[i] *= 1.05f;
}

START_TEST(whole_net_check_catches_a_broken_layer)
{
    glia_net *net = small_net(0);
    glia_layer_ops broken = glia_linear_ops;
    broken.backward = inflated_dx_backward;
    ck_assert_str_eq(net->layers[7].name, "head.1");
    net->layers[7].ops = &broken;
    float *x = batch(net, 2, 6);
    gc_opts o = gc_defaults();
    o.step = 3e-3f;
    o.allow_kinks = 1;
    gc_result r = gc_net_check(net, x, 2, NULL, NULL, &o);
    ck_assert_msg(r.failed > 0, "an inflated dx went unnoticed (worst %g x tolerance)", r.worst);
    ck_assert_msg(strncmp(r.worst_at, "features.", 9) == 0, "worst at %s", r.worst_at);
    free(x);
    glia_net_free(net);
}
END_TEST

START_TEST(gradients_accumulate_until_zeroed)
{
    glia_err err = {0};
    glia_net *net = small_net(0);
    ck_assert_int_eq(glia_net_enable_grads(net, &err), GLIA_OK);
    for (int i = 0; i < net->nparams; i++)
        ck_assert_ptr_eq(net->params[i].grad, net->grads + (net->params[i].value - net->values));
    glia_ctx *ctx;
    ck_assert_int_eq(glia_ctx_new(net, 2, 1, &ctx, &err), GLIA_OK);
    float *x = batch(net, 2, 7), dout[8];
    gc_uniform(dout, 8, -1.0f, 1.0f, 8);
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    float *once = malloc(sizeof(float) * net->size);
    ck_assert_ptr_nonnull(once);
    glia_net_zero_grads(net);
    glia_net_forward(net, ctx, x, 2, &rng);
    glia_net_backward(net, ctx, dout, NULL);
    memcpy(once, net->grads, sizeof(float) * net->size);
    glia_net_backward(net, ctx, dout, NULL);
    double norm = 0.0;
    for (size_t i = 0; i < net->size; i++) {
        ck_assert_float_eq_tol(net->grads[i], 2.0f * once[i], 1e-6f * fmaxf(1.0f, fabsf(once[i])));
        norm += fabs(once[i]);
    }
    ck_assert(norm > 0.0);
    glia_net_zero_grads(net);
    for (size_t i = 0; i < net->size; i++)
        ck_assert_float_eq(net->grads[i], 0.0f);
    free(x);
    free(once);
    glia_ctx_free(ctx);
    glia_net_free(net);
}
END_TEST

/* A conv followed by a ReLU runs as one layer (net.c): the flag is set exactly there,
 * and the folded net gives the logits and gradients of the same net run layer by
 * layer (flags cleared by hand), in inference and in training. */
START_TEST(folded_conv_relu_matches_layer_by_layer)
{
    glia_err err = {0};
    glia_net *net = small_net(0);
    ck_assert_int_eq(net->layers[0].cfg.conv.relu, 1); /* conv, relu */
    ck_assert_int_eq(net->layers[3].cfg.conv.relu, 0); /* conv, tanh */
    ck_assert_int_eq(glia_net_enable_grads(net, &err), GLIA_OK);
    float *x = batch(net, 3, 9), dout[12];
    gc_uniform(dout, 12, -1.0f, 1.0f, 10);
    float logits[2][2][12], *grads[2];
    for (int unfold = 0; unfold < 2; unfold++) {
        net->layers[0].cfg.conv.relu = !unfold;
        glia_ctx *inf, *tr;
        ck_assert_int_eq(glia_ctx_new(net, 3, 0, &inf, &err), GLIA_OK);
        ck_assert_int_eq(glia_ctx_new(net, 3, 1, &tr, &err), GLIA_OK);
        glia_rng rng;
        glia_rng_seed(&rng, 1);
        memcpy(logits[unfold][0], glia_net_forward(net, inf, x, 3, NULL), sizeof logits[0][0]);
        glia_net_zero_grads(net);
        memcpy(logits[unfold][1], glia_net_forward(net, tr, x, 3, &rng), sizeof logits[0][1]);
        glia_net_backward(net, tr, dout, NULL);
        grads[unfold] = malloc(sizeof(float) * net->size);
        ck_assert_ptr_nonnull(grads[unfold]);
        memcpy(grads[unfold], net->grads, sizeof(float) * net->size);
        glia_ctx_free(inf);
        glia_ctx_free(tr);
    }
    for (int i = 0; i < 12; i++) {
        ck_assert_float_eq(logits[0][0][i], logits[1][0][i]);
        ck_assert_float_eq(logits[0][1][i], logits[1][1][i]);
    }
    /* the folded backward sums the bias gradient in its own order: rounding only */
    for (size_t i = 0; i < net->size; i++)
        ck_assert_float_eq_tol(grads[0][i], grads[1][i], 1e-6f * fmaxf(1.0f, fabsf(grads[1][i])));
    free(grads[0]);
    free(grads[1]);
    free(x);
    glia_net_free(net);
}
END_TEST

/* ---- contexts ---- */

START_TEST(inference_and_training_contexts_agree)
{
    glia_err err = {0};
    glia_net *net = small_net(0), *dnet = small_net(1);
    ck_assert_uint_eq(net->size, dnet->size);
    memcpy(dnet->values, net->values, sizeof(float) * net->size);
    enum { N = 4, K = 4 };
    glia_ctx *inf, *tr, *one, *dinf, *dtr;
    ck_assert_int_eq(glia_ctx_new(net, N, 0, &inf, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new(net, 1, 0, &one, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new(dnet, N, 0, &dinf, &err), GLIA_OK);
    ck_assert_int_eq(glia_net_enable_grads(net, &err), GLIA_OK);
    ck_assert_int_eq(glia_net_enable_grads(dnet, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new(net, N, 1, &tr, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new(dnet, N, 1, &dtr, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_max_batch(inf), N);
    ck_assert_uint_gt(glia_ctx_bytes(tr), glia_ctx_bytes(inf));
    float *x = batch(net, N, 2), ref[N * K], got[N * K];
    glia_rng rng;
    glia_rng_seed(&rng, 1);

    memcpy(ref, glia_net_forward(net, inf, x, N, NULL), sizeof ref);
    for (int i = 0; i < N * K; i++)
        ck_assert(isfinite(ref[i]));
    /* training ctx, no dropout: the same logits */
    ck_assert_mem_eq(glia_net_forward(net, tr, x, N, &rng), ref, sizeof ref);
    /* dropout is the identity in inference */
    ck_assert_mem_eq(glia_net_forward(dnet, dinf, x, N, NULL), ref, sizeof ref);
    /* ... and acts in training */
    memcpy(got, glia_net_forward(dnet, dtr, x, N, &rng), sizeof got);
    ck_assert(memcmp(got, ref, sizeof ref) != 0);
    /* one sample at a time, and a smaller batch in a bigger ctx */
    for (int s = 0; s < N; s++) {
        const float *y = glia_net_forward(net, one, x + (size_t)s * glia_shape3_size(net->input), 1, NULL);
        for (int j = 0; j < K; j++)
            ck_assert_float_eq_tol(y[j], ref[s * K + j], 1e-6f);
    }
    const float *y = glia_net_forward(net, inf, x, 2, NULL);
    for (int j = 0; j < 2 * K; j++)
        ck_assert_float_eq_tol(y[j], ref[j], 1e-6f);
    /* a new forward in a ctx does not depend on what the ctx held before */
    memcpy(got, glia_net_forward(net, inf, x, N, NULL), sizeof got);
    ck_assert_mem_eq(got, ref, sizeof ref);

    glia_ctx *bad = NULL;
    ck_assert_int_eq(glia_ctx_new(net, 0, 0, &bad, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "batch size"));
    free(x);
    glia_ctx_free(inf);
    glia_ctx_free(tr);
    glia_ctx_free(one);
    glia_ctx_free(dinf);
    glia_ctx_free(dtr);
    glia_net_free(net);
    glia_net_free(dnet);
}
END_TEST

/* Inference runs the leading sample-wise layers one sample at a time (net.c): the same bits as
 * running the batch layer by layer (an input-gradient ctx: training's buffers and path, the
 * running statistics and no dropout of inference), whether that prefix ends before a linear
 * (small net: conv, relu, pool; the strided conv after them is not on the direct kernel), holds
 * batch norms with running statistics of their own (bn net: all but the linear), or is the
 * whole net (conv net, which also matches a ctx of batch 1 sample by sample: no GEMM follows). */
static const char *all_conv_manifest(void)
{
    return glia_test_write(
        tmpdir, "conv.yaml",
        "name: conv\ntask: image-classification\ninput: {shape: [1, 8, 8]}\n"
        "architecture:\n  type: sequential\n  modules:\n"
        "    - name: features\n      layers:\n"
        "        - {type: conv2d, in_channels: 1, out_channels: 5, kernel_size: 3, padding: 1}\n"
        "        - {type: relu}\n"
        "        - {type: conv2d, in_channels: 5, out_channels: 3, kernel_size: 3, padding: 1}\n"
        "        - {type: relu}\n"
        "        - {type: maxpool2d, kernel_size: 2, stride: 2}\n"
        "        - {type: flatten}\n");
}

static const char *bn_manifest(void);

/* got within float rounding of want (1e-5 of the larger magnitude, at least 1e-6). */
static void expect_close(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabsf(got[i] - want[i]) <= 1e-5f * fmaxf(1.0f, fmaxf(fabsf(got[i]), fabsf(want[i]))),
                      "%s: output %zu is %.9g, expected %.9g", what, i, (double)got[i], (double)want[i]);
}

START_TEST(sample_wise_prefix_matches_one_sample_at_a_time)
{
    enum { N = 5 };
    glia_err err = {0};
    glia_net *nets[3] = {small_net(0), net_from(bn_manifest(), 4), net_from(all_conv_manifest(), 5)};
    /* batch norm's running statistics away from (0, 1), so that they matter */
    gc_uniform(nets[1]->values + nets[1]->grad_size, nets[1]->size - nets[1]->grad_size, 0.5f, 2.0f, 8);
    for (int t = 0; t < 3; t++) {
        glia_net *net = nets[t];
        const size_t in = glia_shape3_size(net->input), k = glia_shape3_size(net->output);
        glia_ctx *big = NULL, *one = NULL, *layered = NULL;
        ck_assert_int_eq(glia_ctx_new(net, N, 0, &big, &err), GLIA_OK);
        ck_assert_int_eq(glia_ctx_new(net, 1, 0, &one, &err), GLIA_OK);
        ck_assert_int_eq(glia_ctx_new_input_grad(net, N, &layered, &err), GLIA_OK);
        float *x = batch(net, N, 20 + (unsigned)t), *ref = malloc(sizeof(float) * N * k);
        ck_assert_ptr_nonnull(ref);
        memcpy(ref, glia_net_forward(net, layered, x, N, NULL), sizeof(float) * N * k);
        const float *got = glia_net_forward(net, big, x, N, NULL);
        if (t == 1) /* inference folds the batch norms into the convs: rounding differs */
            expect_close(got, ref, N * k, "bn net, batch norms folded");
        else
            ck_assert_msg(memcmp(got, ref, sizeof(float) * N * k) == 0,
                          "net %d: batch %d differs from layer by layer", t, N);
        if (t == 2)
            for (int s = 0; s < N; s++)
                ck_assert(memcmp(glia_net_forward(net, one, x + (size_t)s * in, 1, NULL), ref + (size_t)s * k,
                                 sizeof(float) * k) == 0);
        /* and a shorter batch in the same ctx */
        memcpy(ref, glia_net_forward(net, layered, x, 2, NULL), sizeof(float) * 2 * k);
        got = glia_net_forward(net, big, x, 2, NULL);
        if (t == 1)
            expect_close(got, ref, 2 * k, "bn net, batch of 2");
        else
            ck_assert(memcmp(got, ref, sizeof(float) * 2 * k) == 0);
        free(x);
        free(ref);
        glia_ctx_free(big);
        glia_ctx_free(one);
        glia_ctx_free(layered);
        glia_net_free(net);
    }
}
END_TEST

/* Inference folds each batch norm (and the ReLU after it) into the conv before it, from the
 * weights and running statistics of the moment: a forward after they change (a trainer's
 * evaluation between epochs) follows them, and one sample in a ctx of batch 1 agrees too. */
START_TEST(folded_batch_norm_follows_the_weights)
{
    enum { N = 3 };
    glia_err err = {0};
    glia_net *net = net_from(bn_manifest(), 6);
    const size_t in = glia_shape3_size(net->input), k = glia_shape3_size(net->output);
    glia_ctx *inf = NULL, *one = NULL, *layered = NULL;
    ck_assert_int_eq(glia_ctx_new(net, N, 0, &inf, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new(net, 1, 0, &one, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new_input_grad(net, N, &layered, &err), GLIA_OK);
    float *x = batch(net, N, 31), *before = malloc(sizeof(float) * N * k),
          *ref = malloc(sizeof(float) * N * k);
    ck_assert_ptr_nonnull(before);
    ck_assert_ptr_nonnull(ref);
    for (int round = 0; round < 2; round++) {
        /* new running statistics and batch-norm weights: away from (0, 1) and (1, 0) */
        gc_uniform(net->values + net->grad_size, net->size - net->grad_size, 0.5f, 2.0f,
                   40 + (unsigned)round);
        gc_uniform((float *)glia_net_find_param(net, "features.1.weight")->value, 3, 0.5f, 1.5f,
                   50 + (unsigned)round);
        gc_uniform((float *)glia_net_find_param(net, "features.4.bias")->value, 2, -1.0f, 1.0f,
                   60 + (unsigned)round);
        glia_net_weights_changed(net);
        memcpy(ref, glia_net_forward(net, layered, x, N, NULL), sizeof(float) * N * k);
        expect_close(glia_net_forward(net, inf, x, N, NULL), ref, N * k, "batch, folded");
        for (int s = 0; s < N; s++)
            expect_close(glia_net_forward(net, one, x + (size_t)s * in, 1, NULL), ref + (size_t)s * k, k,
                         "one sample, folded");
        if (round == 0)
            memcpy(before, ref, sizeof(float) * N * k);
        else /* the statistics did change the answer */
            ck_assert(memcmp(before, ref, sizeof(float) * N * k) != 0);
    }
    free(x);
    free(before);
    free(ref);
    glia_ctx_free(inf);
    glia_ctx_free(one);
    glia_ctx_free(layered);
    glia_net_free(net);
}
END_TEST

/* Inference runs a 3x3 "same" conv of 8 or more input channels as a Winograd convolution,
 * with weights transformed once per weights generation: within rounding of the layers as they are (an
 * input-gradient ctx), the same bits in a batch as one sample at a time, and following new
 * weights. */
START_TEST(inference_runs_winograd_convs)
{
    enum { N = 4 };
    glia_err err = {0};
    glia_net *net =
        net_from(glia_test_write(tmpdir, "wino.yaml",
                                 "name: wino\ntask: image-classification\ninput: {shape: [1, 9, 10]}\n"
                                 "architecture:\n  type: sequential\n  modules:\n"
                                 "    - name: features\n      layers:\n"
                                 "        - {type: conv2d, in_channels: 1, out_channels: 8, kernel_size: "
                                 "3, padding: 1}\n"
                                 "        - {type: relu}\n"
                                 "        - {type: conv2d, in_channels: 8, out_channels: 6, kernel_size: "
                                 "3, padding: 1}\n"
                                 "        - {type: relu}\n"
                                 "        - {type: maxpool2d, kernel_size: 2, stride: 2}\n"
                                 "        - {type: flatten}\n"),
                 7);
    const size_t in = glia_shape3_size(net->input), k = glia_shape3_size(net->output);
    glia_ctx *inf = NULL, *one = NULL, *layered = NULL;
    ck_assert_int_eq(glia_ctx_new(net, N, 0, &inf, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new(net, 1, 0, &one, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new_input_grad(net, N, &layered, &err), GLIA_OK);
    float *x = batch(net, N, 41), *ref = malloc(sizeof(float) * N * k), *got = malloc(sizeof(float) * N * k);
    ck_assert_ptr_nonnull(ref);
    ck_assert_ptr_nonnull(got);
    for (int round = 0; round < 2; round++) {
        if (round == 1) { /* new weights for the Winograd conv */
            gc_uniform((float *)glia_net_find_param(net, "features.2.weight")->value, 8 * 6 * 9, -0.5f, 0.5f,
                       42);
            glia_net_weights_changed(net);
        }
        memcpy(ref, glia_net_forward(net, layered, x, N, NULL), sizeof(float) * N * k);
        memcpy(got, glia_net_forward(net, inf, x, N, NULL), sizeof(float) * N * k);
        expect_close(got, ref, N * k, "Winograd against the direct convolution");
        ck_assert(memcmp(got, ref, sizeof(float) * N * k) != 0); /* it did run another way */
        for (int s = 0; s < N; s++)
            ck_assert(memcmp(glia_net_forward(net, one, x + (size_t)s * in, 1, NULL), got + (size_t)s * k,
                             sizeof(float) * k) == 0);
    }
    free(x);
    free(ref);
    free(got);
    glia_ctx_free(inf);
    glia_ctx_free(one);
    glia_ctx_free(layered);
    glia_net_free(net);
}
END_TEST

static const char *path_in_tmp(const char *name);

/* conv 1 -> 8 (direct), batch norm, ReLU, conv 8 -> 6 (Winograd), batch norm, ReLU, pool: both
 * kinds of derived weights (the folds and Winograd's), over one channel of 6 x 7 */
static const char *cached_manifest(void)
{
    return glia_test_write(
        tmpdir, "cached.yaml",
        "name: cached\ntask: image-classification\ninput: {shape: [1, 6, 7]}\n"
        "architecture:\n  type: sequential\n  modules:\n"
        "    - name: features\n      layers:\n"
        "        - {type: conv2d, in_channels: 1, out_channels: 8, kernel_size: 3, padding: 1}\n"
        "        - {type: batchnorm2d, num_features: 8}\n"
        "        - {type: relu}\n"
        "        - {type: conv2d, in_channels: 8, out_channels: 6, kernel_size: 3, padding: 1}\n"
        "        - {type: batchnorm2d, num_features: 6}\n"
        "        - {type: relu}\n"
        "        - {type: maxpool2d, kernel_size: 2, stride: 2}\n"
        "        - {type: flatten}\n");
}

/* want = the net's layers as they are (an input-gradient ctx, the direct kernels), then got =
 * the inference ctx's, within rounding of it. */
static void expect_follows(glia_net *net, glia_ctx *inf, glia_ctx *layered, const float *x, int n, float *got,
                           float *want, const char *what)
{
    const size_t k = glia_shape3_size(net->output) * (size_t)n;
    memcpy(want, glia_net_forward(net, layered, x, n, NULL), sizeof(float) * k);
    memcpy(got, glia_net_forward(net, inf, x, n, NULL), sizeof(float) * k);
    expect_close(got, want, k, what);
}

/* An inference ctx derives its folded and Winograd weights once per weights generation: a
 * write that nobody announces leaves its answers as they were (the derived weights really are
 * kept), and after glia_net_weights_changed - or a load, a reset, a training forward that
 * moves batch norm's statistics - they follow the new weights, within rounding of the direct
 * kernels, in a batch and one sample at a time. A ctx moved to another net of the same shape
 * derives that net's. */
START_TEST(inference_derives_weights_once_per_generation)
{
    enum { N = 3 };
    glia_err err = {0};
    glia_net *net = net_from(cached_manifest(), 11), *other = net_from(cached_manifest(), 12);
    const size_t k = glia_shape3_size(net->output);
    float *conv = (float *)glia_net_find_param(net, "features.3.weight")->value;
    /* running statistics away from (0, 1), so that the folds matter, with means small enough
     * that the ReLUs let some of it through */
    glia_net *both[2] = {net, other};
    for (int t = 0; t < 2; t++) {
        gc_uniform(both[t]->values + both[t]->grad_size, both[t]->size - both[t]->grad_size, 0.5f, 2.0f,
                   13 + (unsigned)t);
        gc_uniform((float *)glia_net_find_param(both[t], "features.1.running_mean")->value, 8, -0.2f, 0.2f,
                   15 + (unsigned)t);
        gc_uniform((float *)glia_net_find_param(both[t], "features.4.running_mean")->value, 6, -0.2f, 0.2f,
                   17 + (unsigned)t);
    }
    glia_net_weights_changed(net);
    glia_net_weights_changed(other);
    glia_ctx *inf = NULL, *one = NULL, *layered = NULL, *train = NULL;
    ck_assert_int_eq(glia_ctx_new(net, N, 0, &inf, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new(net, 1, 0, &one, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new_input_grad(net, N, &layered, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new(net, N, 1, &train, &err), GLIA_OK);
    float *x = batch(net, N, 15), *first = malloc(sizeof(float) * N * k),
          *got = malloc(sizeof(float) * N * k), *want = malloc(sizeof(float) * N * k);
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(got);
    ck_assert_ptr_nonnull(want);

    expect_follows(net, inf, layered, x, N, first, want, "first forward");
    int positive = 0;
    for (size_t i = 0; i < N * k; i++)
        positive += first[i] > 0.0f;
    ck_assert_int_gt(positive, (int)(N * k / 4)); /* the ReLUs do not hide the weights */
    ck_assert(memcmp(glia_net_forward(net, one, x, 1, NULL), first, sizeof(float) * k) == 0);

    /* an unannounced write: the ctx keeps what it derived, the layers as they are do not */
    const unsigned long before = glia_net_generation(net);
    for (int i = 0; i < 8 * 6 * 9; i++)
        conv[i] *= -1.5f;
    memcpy(got, glia_net_forward(net, inf, x, N, NULL), sizeof(float) * N * k);
    ck_assert_msg(memcmp(got, first, sizeof(float) * N * k) == 0, "the derived weights were not kept");
    ck_assert(memcmp(glia_net_forward(net, layered, x, N, NULL), first, sizeof(float) * N * k) != 0);
    ck_assert_uint_eq(glia_net_generation(net), before);

    /* announced: both ctxs follow */
    glia_net_weights_changed(net);
    ck_assert_uint_ne(glia_net_generation(net), before);
    expect_follows(net, inf, layered, x, N, got, want, "after glia_net_weights_changed");
    ck_assert(memcmp(got, first, sizeof(float) * N * k) != 0);
    expect_close(glia_net_forward(net, one, x, 1, NULL), want, k, "one sample, after the change");

    /* a training forward moves the running statistics, and says so */
    glia_rng rng;
    glia_rng_seed(&rng, 16);
    memcpy(first, got, sizeof(float) * N * k);
    glia_net_forward(net, train, x, N, &rng);
    expect_follows(net, inf, layered, x, N, got, want, "after a training forward");
    ck_assert(memcmp(got, first, sizeof(float) * N * k) != 0);

    /* another net of the same shape in the same ctx: its own weights */
    expect_follows(other, inf, layered, x, N, got, want, "another net");
    ck_assert(memcmp(got, first, sizeof(float) * N * k) != 0);

    /* a load and a reset are writes too */
    const char *path = path_in_tmp("cached.safetensors");
    ck_assert_msg(glia_net_save(other, path, NULL, &err) == GLIA_OK, "%s", err.msg);
    glia_st_file *st = NULL;
    ck_assert_msg(glia_st_open(path, &st, &err) == GLIA_OK, "%s", err.msg);
    glia_net_forward(net, inf, x, N, NULL);
    ck_assert_msg(glia_net_load(net, st, &err) == GLIA_OK, "%s", err.msg);
    glia_st_close(st);
    expect_follows(net, inf, layered, x, N, got, want, "after a load");
    memcpy(first, got, sizeof(float) * N * k);
    glia_rng_seed(&rng, 17);
    glia_net_reset(net, &rng);
    expect_follows(net, inf, layered, x, N, got, want, "after a reset");
    ck_assert(memcmp(got, first, sizeof(float) * N * k) != 0);

    free(x);
    free(first);
    free(got);
    free(want);
    glia_ctx_free(inf);
    glia_ctx_free(one);
    glia_ctx_free(layered);
    glia_ctx_free(train);
    glia_net_free(net);
    glia_net_free(other);
}
END_TEST

/* ---- weights ---- */

static const char *path_in_tmp(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

START_TEST(save_load_round_trip)
{
    glia_err err = {0};
    glia_net *a = small_net(0), *b = net_from(small_manifest(0), 77);
    ck_assert(memcmp(a->values, b->values, sizeof(float) * a->size) != 0);
    const char *path = path_in_tmp("w.safetensors");
    const char *meta[] = {"format", "pt", NULL};
    ck_assert_msg(glia_net_save(a, path, meta, &err) == GLIA_OK, "%s", err.msg);

    glia_st_file *st;
    ck_assert_msg(glia_st_open(path, &st, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(glia_st_count(st), (size_t)a->nparams);
    ck_assert_str_eq(glia_st_metadata(st, "format"), "pt");
    for (int i = 0; i < a->nparams; i++) {
        const glia_param *p = &a->params[i];
        const glia_st_tensor *t = glia_st_find(st, p->name);
        ck_assert_msg(t != NULL, "%s not saved", p->name);
        ck_assert_int_eq(t->dtype, GLIA_DT_F32);
        ck_assert_int_eq(t->ndim, p->ndim);
        for (int d = 0; d < p->ndim; d++)
            ck_assert_int_eq(t->shape[d], p->shape[d]);
        ck_assert_mem_eq(t->data, p->value, sizeof(float) * p->size);
    }
    ck_assert_ptr_nonnull(glia_st_find(st, "features.0.weight"));
    ck_assert_msg(glia_net_load(b, st, &err) == GLIA_OK, "%s", err.msg);
    glia_st_close(st);
    ck_assert_mem_eq(a->values, b->values, sizeof(float) * a->size);

    /* the loaded net computes what the saved one did */
    glia_ctx *ca, *cb;
    ck_assert_int_eq(glia_ctx_new(a, 2, 0, &ca, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new(b, 2, 0, &cb, &err), GLIA_OK);
    float *x = batch(a, 2, 9);
    ck_assert_mem_eq(glia_net_forward(a, ca, x, 2, NULL), glia_net_forward(b, cb, x, 2, NULL),
                     sizeof(float) * 8);
    free(x);
    glia_ctx_free(ca);
    glia_ctx_free(cb);

    /* PyTorch's float64 state dicts convert on load */
    glia_st_entry *entries = calloc((size_t)a->nparams, sizeof *entries);
    double *wide = malloc(sizeof(double) * a->size);
    ck_assert(entries && wide);
    for (size_t i = 0; i < a->size; i++)
        wide[i] = (double)a->values[i];
    for (int i = 0; i < a->nparams; i++)
        entries[i] = (glia_st_entry){a->params[i].name, GLIA_DT_F64, a->params[i].ndim, a->params[i].shape,
                                     wide + (a->params[i].value - a->values)};
    ck_assert_int_eq(glia_st_write(path, entries, (size_t)a->nparams, NULL, &err), GLIA_OK);
    memset(b->values, 0, sizeof(float) * b->size);
    ck_assert_int_eq(glia_st_open(path, &st, &err), GLIA_OK);
    ck_assert_msg(glia_net_load(b, st, &err) == GLIA_OK, "%s", err.msg);
    glia_st_close(st);
    ck_assert_mem_eq(a->values, b->values, sizeof(float) * a->size);
    free(entries);
    free(wide);
    glia_net_free(a);
    glia_net_free(b);
}
END_TEST

/* Writes a's tensors with one change and expects b's strict load to refuse the file with
 * code, the tensor's name and a phrase. */
typedef enum { DROP, RESHAPE, EXTRA, INTEGER } change;

static void expect_refused(glia_net *a, glia_net *b, change what, const char *name, glia_status code,
                           const char *phrase)
{
    glia_err err = {0};
    const char *path = path_in_tmp("bad.safetensors");
    glia_st_entry *all = calloc((size_t)a->nparams + 1, sizeof *all);
    ck_assert_ptr_nonnull(all);
    static int64_t transposed[2], flat[1], extra_shape[1] = {2};
    static float extra[2] = {1, 2};
    static int32_t ints[64];
    size_t n = 0;
    for (int i = 0; i < a->nparams; i++) {
        const glia_param *p = &a->params[i];
        glia_st_entry e = {p->name, GLIA_DT_F32, p->ndim, p->shape, p->value};
        if (strcmp(p->name, name) == 0) {
            if (what == DROP)
                continue;
            if (what == RESHAPE && p->ndim == 2) { /* same element count, transposed */
                transposed[0] = p->shape[1];
                transposed[1] = p->shape[0];
                e.shape = transposed;
            } else if (what == RESHAPE) { /* same element count, flattened */
                flat[0] = (int64_t)p->size;
                e.ndim = 1;
                e.shape = flat;
            } else if (what == INTEGER) {
                ck_assert_uint_le(p->size, 64);
                e.dtype = GLIA_DT_I32;
                e.data = ints;
            }
        }
        all[n++] = e;
    }
    if (what == EXTRA)
        all[n++] = (glia_st_entry){name, GLIA_DT_F32, 1, extra_shape, extra};
    ck_assert_msg(glia_st_write(path, all, n, NULL, &err) == GLIA_OK, "%s", err.msg);
    glia_st_file *st;
    ck_assert_msg(glia_st_open(path, &st, &err) == GLIA_OK, "%s", err.msg);
    glia_err_clear(&err);
    ck_assert_int_eq(glia_net_load(b, st, &err), code);
    ck_assert_msg(strstr(err.msg, name) && strstr(err.msg, phrase), "'%s' lacks '%s' or '%s'", err.msg, name,
                  phrase);
    glia_st_close(st);
    free(all);
}

START_TEST(strict_load_refuses_mismatches)
{
    glia_net *a = small_net(0), *b = small_net(0);
    expect_refused(a, b, DROP, "head.3.bias", GLIA_ENOTFOUND, "missing");
    expect_refused(a, b, DROP, "features.0.weight", GLIA_ENOTFOUND, "missing");
    expect_refused(a, b, RESHAPE, "head.1.weight", GLIA_EINVAL,
                   "has shape [16, 5] but the manifest expects [5, 16]");
    expect_refused(a, b, RESHAPE, "features.3.weight", GLIA_EINVAL, "has shape [108]");
    expect_refused(a, b, EXTRA, "head.9.weight", GLIA_EINVAL, "unexpected");
    expect_refused(a, b, EXTRA, "features.1.weight", GLIA_EINVAL, "unexpected");
    expect_refused(a, b, INTEGER, "head.1.bias", GLIA_EUNSUPPORTED, "I32");
    glia_net_free(a);
    glia_net_free(b);
}
END_TEST

START_TEST(replica_shares_values_not_gradients)
{
    glia_err err = {0};
    glia_net *net = small_net(0), *r;
    ck_assert_int_eq(glia_net_enable_grads(net, &err), GLIA_OK);
    ck_assert_int_eq(glia_net_replica(net, &r, &err), GLIA_OK);
    ck_assert_ptr_eq(r->values, net->values);
    ck_assert_ptr_nonnull(r->grads);
    ck_assert_ptr_ne(r->grads, net->grads);
    for (int i = 0; i < net->nparams; i++) {
        ck_assert_str_eq(r->params[i].name, net->params[i].name);
        ck_assert_ptr_eq(r->params[i].value, net->params[i].value);
        ck_assert_ptr_eq(r->params[i].grad, r->grads + (r->params[i].value - r->values));
    }
    net->values[0] += 1.0f; /* seen through the replica */
    ck_assert_float_eq(r->layers[0].params[0].value[0], net->values[0]);
    /* a backward through the replica fills its own gradients only */
    glia_ctx *ctx;
    ck_assert_int_eq(glia_ctx_new(r, 2, 1, &ctx, &err), GLIA_OK);
    float *x = batch(net, 2, 3), dout[8];
    gc_uniform(dout, 8, -1.0f, 1.0f, 4);
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    glia_net_zero_grads(net);
    glia_net_zero_grads(r);
    glia_net_forward(r, ctx, x, 2, &rng);
    glia_net_backward(r, ctx, dout, NULL);
    double in_replica = 0, in_master = 0;
    for (size_t i = 0; i < net->size; i++) {
        in_replica += fabs(r->grads[i]);
        in_master += fabs(net->grads[i]);
    }
    ck_assert(in_replica > 0.0);
    ck_assert(in_master == 0.0);
    free(x);
    glia_ctx_free(ctx);
    glia_net_free(r);
    glia_net_free(net); /* the replica did not free the shared values: ASan would say */
}
END_TEST

/* ---- batch normalisation: buffers ---- */

static const char *bn_manifest(void)
{
    return glia_test_write(
        tmpdir, "bn.yaml",
        "name: bn\ntask: image-classification\ninput: {shape: [2, 5, 5]}\n"
        "architecture:\n  type: sequential\n  modules:\n"
        "    - name: features\n      layers:\n"
        "        - {type: conv2d, in_channels: 2, out_channels: 3, kernel_size: 3, padding: 1}\n"
        "        - {type: batchnorm2d, num_features: 3}\n"
        "        - {type: tanh}\n"
        "        - {type: conv2d, in_channels: 3, out_channels: 2, kernel_size: 3}\n"
        "        - {type: batchnorm2d, num_features: 2, momentum: 0.3}\n"
        "    - name: head\n      layers:\n"
        "        - {type: flatten}\n"
        "        - {type: linear, in_features: 18, out_features: 4}\n");
}

/* Buffers follow the parameters in the value buffer, are named as PyTorch names them in
 * state_dict order, and have no gradient; the optimizer's list leaves them out. */
START_TEST(bn_buffers_layout)
{
    glia_err err = {0};
    glia_net *net = net_from(bn_manifest(), 3);
    static const char *const names[] = {
        "features.0.weight",
        "features.0.bias",
        "features.1.weight",
        "features.1.bias",
        "features.1.running_mean",
        "features.1.running_var",
        "features.1.num_batches_tracked",
        "features.3.weight",
        "features.3.bias",
        "features.4.weight",
        "features.4.bias",
        "features.4.running_mean",
        "features.4.running_var",
        "features.4.num_batches_tracked",
        "head.1.weight",
        "head.1.bias",
    };
    ck_assert_int_eq(net->nparams, 16);
    ck_assert_int_eq(net->ntrainable, 10);
    for (int i = 0; i < 16; i++)
        ck_assert_str_eq(net->params[i].name, names[i]);
    /* 3*2*9+3 + 3+3 + 2*3*9+2 + 2+2 + 18*4+4 parameters; 3+3+1 + 2+2+1 buffer floats */
    ck_assert_uint_eq(net->grad_size, 57 + 6 + 56 + 4 + 76);
    ck_assert_uint_eq(net->size, net->grad_size + 12);
    ck_assert_int_eq(net->params[6].ndim, 0);
    ck_assert(net->params[6].int64 && net->params[6].buffer);
    for (int i = 0; i < net->ntrainable; i++)
        ck_assert(!net->trainable[i].buffer);
    ck_assert_int_eq(glia_net_enable_grads(net, &err), GLIA_OK);
    for (int i = 0; i < net->nparams; i++) {
        const glia_param *p = &net->params[i];
        if (p->buffer) {
            ck_assert_ptr_null(p->grad);
            ck_assert(p->value >= net->values + net->grad_size &&
                      p->value + p->size <= net->values + net->size);
        } else {
            ck_assert_ptr_eq(p->grad, net->grads + (p->value - net->values));
        }
    }
    /* PyTorch's initial values */
    ck_assert_float_eq(glia_net_find_param(net, "features.1.weight")->value[2], 1.0f);
    ck_assert_float_eq(glia_net_find_param(net, "features.1.bias")->value[2], 0.0f);
    ck_assert_float_eq(glia_net_find_param(net, "features.1.running_mean")->value[2], 0.0f);
    ck_assert_float_eq(glia_net_find_param(net, "features.1.running_var")->value[2], 1.0f);
    ck_assert_float_eq(glia_net_find_param(net, "features.4.num_batches_tracked")->value[0], 0.0f);
    glia_net_free(net);
}
END_TEST

/* The whole backward through two batch norms in training mode, against finite differences
 * of the parameters (the buffers are not among them). */
START_TEST(bn_whole_net_gradient)
{
    glia_net *net = net_from(bn_manifest(), 5);
    const int n = 3;
    float *x = batch(net, n, 6);
    gc_opts o = gc_defaults();
    /* normalising by the batch's own deviation makes the loss curve more in a weight than a
     * plain layer does: a smaller step keeps the central difference's truncation error small */
    o.step = 3e-3f;
    gc_result r = gc_net_check(net, x, n, NULL, NULL, &o);
    expect_net_grads(&r, net->grad_size, "whole net with batch norm, probe loss");
    free(x);
    glia_net_free(net);
}
END_TEST

/* Training forwards move the running estimates and count batches; inference forwards do
 * not; the weights file keeps num_batches_tracked as an int64 scalar and a fresh net loads
 * every buffer back; an F32 counter is refused by name. */
START_TEST(bn_save_load_round_trip)
{
    glia_err err = {0};
    glia_net *a = net_from(bn_manifest(), 3), *b = net_from(bn_manifest(), 9);
    glia_ctx *train, *infer;
    ck_assert_int_eq(glia_ctx_new(a, 4, 1, &train, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new(a, 4, 0, &infer, &err), GLIA_OK);
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    for (int i = 0; i < 3; i++) {
        float *x = batch(a, 4, 10 + (unsigned)i);
        glia_net_forward(a, train, x, 4, &rng);
        glia_net_forward(a, infer, x, 4, NULL);
        free(x);
    }
    const glia_param *nbt = glia_net_find_param(a, "features.4.num_batches_tracked");
    const glia_param *rm = glia_net_find_param(a, "features.1.running_mean");
    ck_assert_float_eq(nbt->value[0], 3.0f);
    ck_assert(rm->value[0] != 0.0f);

    const char *path = path_in_tmp("bn.safetensors");
    ck_assert_msg(glia_net_save(a, path, NULL, &err) == GLIA_OK, "%s", err.msg);
    glia_st_file *st;
    ck_assert_int_eq(glia_st_open(path, &st, &err), GLIA_OK);
    ck_assert_uint_eq(glia_st_count(st), 16);
    const glia_st_tensor *t = glia_st_find(st, "features.4.num_batches_tracked");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, GLIA_DT_I64);
    ck_assert_int_eq(t->ndim, 0);
    int64_t v;
    memcpy(&v, t->data, sizeof v);
    ck_assert_int_eq(v, 3);
    ck_assert_msg(glia_net_load(b, st, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_mem_eq(a->values, b->values, sizeof(float) * a->size);
    glia_st_close(st);

    /* the counter as F32, as a careless converter might write it */
    float one = 1.0f;
    glia_st_entry e[16];
    for (int i = 0; i < 16; i++) {
        const glia_param *p = &a->params[i];
        e[i] = (glia_st_entry){p->name, GLIA_DT_F32, p->ndim, p->shape, p->value};
        if (p->int64)
            e[i].data = &one;
    }
    const char *bad = path_in_tmp("bn-f32.safetensors");
    ck_assert_int_eq(glia_st_write(bad, e, 16, NULL, &err), GLIA_OK);
    ck_assert_int_eq(glia_st_open(bad, &st, &err), GLIA_OK);
    ck_assert_int_eq(glia_net_load(b, st, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "num_batches_tracked"));
    ck_assert_ptr_nonnull(strstr(err.msg, "I64"));
    glia_st_close(st);
    glia_ctx_free(train);
    glia_ctx_free(infer);
    glia_net_free(a);
    glia_net_free(b);
}
END_TEST

/* A replica shares the parameters but keeps its own copy of the buffers, so that lanes
 * training at once never write one running estimate together. */
START_TEST(bn_replica_owns_its_buffers)
{
    glia_err err = {0};
    glia_net *net = net_from(bn_manifest(), 3), *r;
    ck_assert_int_eq(glia_net_enable_grads(net, &err), GLIA_OK);
    ck_assert_int_eq(glia_net_replica(net, &r, &err), GLIA_OK);
    const size_t nb = net->size - net->grad_size;
    ck_assert_ptr_nonnull(r->own_buffers);
    ck_assert_mem_eq(r->own_buffers, net->values + net->grad_size, sizeof(float) * nb);
    glia_ctx *ctx;
    ck_assert_int_eq(glia_ctx_new(r, 2, 1, &ctx, &err), GLIA_OK);
    float *x = batch(net, 2, 3), *before = malloc(sizeof(float) * nb);
    memcpy(before, net->values + net->grad_size, sizeof(float) * nb);
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    glia_net_forward(r, ctx, x, 2, &rng);
    ck_assert_mem_eq(before, net->values + net->grad_size, sizeof(float) * nb);
    ck_assert(memcmp(before, r->own_buffers, sizeof(float) * nb) != 0);
    ck_assert_float_eq(glia_net_find_param(r, "features.1.num_batches_tracked")->value[0], 1.0f);
    free(x);
    free(before);
    glia_ctx_free(ctx);
    glia_net_free(r);
    glia_net_free(net);
}
END_TEST

/* ---- the shipped bundle ---- */

START_TEST(fashion_cnn_builds_and_loads)
{
    glia_err err = {0};
    glia_manifest m;
    glia_net *net;
    ck_assert_msg(glia_manifest_load(glia_test_path("models/fashion-cnn/model.yaml"), &m, &err) == GLIA_OK,
                  "%s", err.msg);
    ck_assert_msg(glia_net_new(m.input, m.layers, m.nlayers, &net, &err) == GLIA_OK, "%s", err.msg);
    static const char *const names[] = {
        "features.0.weight",   "features.0.bias",   "features.2.weight",   "features.2.bias",
        "features.5.weight",   "features.5.bias",   "features.7.weight",   "features.7.bias",
        "classifier.2.weight", "classifier.2.bias", "classifier.5.weight", "classifier.5.bias",
    };
    ck_assert_int_eq(net->nparams, 12);
    for (int i = 0; i < 12; i++)
        ck_assert_str_eq(net->params[i].name, names[i]);
    ck_assert_int_eq(net->params[8].shape[0], 256);
    ck_assert_int_eq(net->params[8].shape[1], 3136);
    ck_assert_int_eq(net->output.c, 10);
    /* 320 + 9248 + 18496 + 36928 + 803072 + 2570 parameters, as PyTorch counts them */
    ck_assert_uint_eq(net->size, 870634);
    glia_st_file *st;
    ck_assert_msg(glia_st_open(m.weights, &st, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_net_load(net, st, &err) == GLIA_OK, "%s", err.msg);
    glia_st_close(st);
    glia_ctx *ctx;
    ck_assert_int_eq(glia_ctx_new(net, 2, 0, &ctx, &err), GLIA_OK);
    float *x = batch(net, 2, 1);
    const float *y = glia_net_forward(net, ctx, x, 2, NULL);
    for (int i = 0; i < 20; i++)
        ck_assert(isfinite(y[i]));
    free(x);
    glia_ctx_free(ctx);
    glia_net_free(net);
    glia_manifest_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("net");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, names_shapes_and_order_are_pytorch);
    tcase_add_test(tc, bad_layers_are_refused_with_their_name);
    tcase_add_test(tc, whole_net_gradient);
    tcase_add_test(tc, whole_net_check_catches_a_broken_layer);
    tcase_add_test(tc, gradients_accumulate_until_zeroed);
    tcase_add_test(tc, folded_conv_relu_matches_layer_by_layer);
    tcase_add_test(tc, inference_and_training_contexts_agree);
    tcase_add_test(tc, sample_wise_prefix_matches_one_sample_at_a_time);
    tcase_add_test(tc, folded_batch_norm_follows_the_weights);
    tcase_add_test(tc, inference_runs_winograd_convs);
    tcase_add_test(tc, inference_derives_weights_once_per_generation);
    tcase_add_test(tc, save_load_round_trip);
    tcase_add_test(tc, strict_load_refuses_mismatches);
    tcase_add_test(tc, replica_shares_values_not_gradients);
    tcase_add_test(tc, bn_buffers_layout);
    tcase_add_test(tc, bn_whole_net_gradient);
    tcase_add_test(tc, bn_save_load_round_trip);
    tcase_add_test(tc, bn_replica_owns_its_buffers);
    tcase_add_test(tc, fashion_cnn_builds_and_loads);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
