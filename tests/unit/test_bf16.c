/*
 * test_bf16.c - core/nn/bf16.h and glia_model_set_precision (model.h):
 *   - the kernel against an fp32 reference computed on the bf16-rounded inputs, which it
 *     must match up to summation order (tight: 1e-5 of sum |x w|), and against the fp32
 *     product of the unrounded inputs (loose: 2^-7 of sum |x w|, twice the worst case of the
 *     two roundings, each at most 2^-9 relative), over shapes that hit every tile edge, an
 *     odd column count, more columns than one slice (KC pairs), a row offset and beta 0/1;
 *   - the convolution (patches packed per image) the same way, with padding, strides, odd
 *     tap counts and ReLU;
 *   - rounding to nearest even, NaN and infinity;
 *   - every family's logits in bf16 within a stated distance of fp32 (tiny models from
 *     tests/support and the shipped fashion-cnn), the copies' bytes and the training path
 *     untouched;
 *   - the fallback: GLIA_NO_BF16=1 (bf16.h) leaves a model fp32, bit for bit;
 *   - a bf16 LSTM's token table (textnet.h) holds the products of the bf16 copy: the logits
 *     with it are those without it, at batch 1 and 16.
 * The kernel and model checks need AVX512_BF16; elsewhere they report it and check only
 * the fallback (which is then what every bf16 model gets).
 */
#include "core/model/bundle.h"
#include "core/model/model.h"
#include "core/nn/bf16.h"
#include "core/nn/textnet.h"
#include "tests/support/check_main.h"
#include "tests/support/tiny_models.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static int have_bf16(void)
{
    if (glia_bf16_available())
        return 1;
    fprintf(stderr, "# no AVX512_BF16 on this CPU: bf16 kernel checks skipped\n");
    return 0;
}

START_TEST(rounds_to_nearest_even)
{
    ck_assert_float_eq(glia_bf16_round(1.0f), 1.0f);
    ck_assert_float_eq(glia_bf16_round(1.0f + 0x1p-8f), 1.0f);                      /* tie: to even (down) */
    ck_assert_float_eq(glia_bf16_round(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);        /* tie: to even (up) */
    ck_assert_float_eq(glia_bf16_round(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f); /* above the tie */
    ck_assert_float_eq(glia_bf16_round(-3.0f), -3.0f);
    ck_assert(isinf(glia_bf16_round(INFINITY)) && glia_bf16_round(-INFINITY) < 0);
    ck_assert(isnan(glia_bf16_round(NAN)));
    ck_assert(isnan(glia_bf16_round(from_bits(0x7f800001u)))); /* a NaN whose top half is inf's */
    ck_assert(isinf(glia_bf16_round(FLT_MAX)));                /* above bf16's largest finite (0x7f7f): inf */
    ck_assert_float_eq(glia_bf16_round(from_bits(0x7f7f7fffu)), from_bits(0x7f7f0000u));
}
END_TEST

static void fill(float *v, size_t n, unsigned *seed)
{
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        v[i] = ((float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f) * 1.7f;
    }
}

/* y = beta y0 + x w[row0 .. row0 + n)^T for one shape, both references checked. */
static void check_shape(int m, int n, int k, int rows, int row0, float beta)
{
    unsigned seed = (unsigned)(m * 131 + n * 17 + k * 7 + row0);
    const size_t ld = (size_t)k + 3; /* a row stride past the width, as the packing takes */
    float *x = malloc(sizeof(float) * (size_t)m * (size_t)k), *w = malloc(sizeof(float) * (size_t)rows * ld);
    float *y = malloc(sizeof(float) * (size_t)m * (size_t)(n + 1)),
          *y0 = malloc(sizeof(float) * (size_t)m * (size_t)(n + 1));
    fill(x, (size_t)m * (size_t)k, &seed);
    fill(w, (size_t)rows * ld, &seed);
    fill(y0, (size_t)m * (size_t)(n + 1), &seed);
    if (beta == 0.0f) /* beta 0 must not read y */
        for (int i = 0; i < m; i++)
            y0[(size_t)i * (size_t)(n + 1)] = NAN;
    memcpy(y, y0, sizeof(float) * (size_t)m * (size_t)(n + 1));
    glia_bf16_mat *mat = NULL;
    ck_assert_int_eq(glia_bf16_pack(w, rows, k, ld, &mat, NULL), GLIA_OK);
    glia_bf16_gemm(m, n, x, k, mat, row0, beta, y, n + 1); /* ldy n + 1: the column past n stays */
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double rounded = 0.0, exact = 0.0, mag = 0.0;
            for (int t = 0; t < k; t++) {
                const float xv = x[(size_t)i * (size_t)k + (size_t)t],
                            wv = w[(size_t)(row0 + j) * ld + (size_t)t];
                rounded += (double)glia_bf16_round(xv) * (double)glia_bf16_round(wv);
                exact += (double)xv * (double)wv;
                mag += fabs((double)xv * (double)wv);
            }
            const float old = y0[(size_t)i * (size_t)(n + 1) + (size_t)j];
            const double base = beta != 0.0f ? (double)beta * old : 0.0;
            const double got = y[(size_t)i * (size_t)(n + 1) + (size_t)j];
            ck_assert_msg(fabs(got - (base + rounded)) <= 1e-5 * (mag + fabs(base)) + 1e-6,
                          "m%d n%d k%d row0 %d beta %g: y[%d][%d] = %.9g, bf16-input reference %.9g", m, n, k,
                          row0, (double)beta, i, j, got, base + rounded);
            ck_assert_msg(fabs(got - (base + exact)) <= 0x1p-7 * mag + 1e-5 * fabs(base) + 1e-6,
                          "m%d n%d k%d: y[%d][%d] = %.9g, fp32 reference %.9g", m, n, k, i, j, got,
                          base + exact);
        }
        if (n < rows) /* the column past the product is untouched */
            ck_assert_float_eq(y[(size_t)i * (size_t)(n + 1) + (size_t)n],
                               y0[(size_t)i * (size_t)(n + 1) + (size_t)n]);
    }
    glia_bf16_free(mat);
    free(x);
    free(w);
    free(y);
    free(y0);
}

START_TEST(kernel_matches_references)
{
    if (!have_bf16())
        return;
    static const int ms[] = {1, 2, 6, 7, 25, 31};
    static const int ns[] = {1, 15, 16, 17, 64, 70};
    static const int ks[] = {1, 2, 3, 33, 513, 600};
    for (size_t a = 0; a < sizeof ms / sizeof *ms; a++)
        for (size_t b = 0; b < sizeof ns / sizeof *ns; b++)
            for (size_t c = 0; c < sizeof ks / sizeof *ks; c++)
                check_shape(ms[a], ns[b], ks[c], ns[b] + 1, 0, (a + b + c) % 2 ? 1.0f : 0.0f);
    /* rows [16, 16 + 40) of a 64-row matrix, and [32, 64) */
    check_shape(5, 40, 37, 64, 16, 0.0f);
    check_shape(9, 32, 64, 64, 32, 1.0f);
    check_shape(3, 20, 10, 64, 32, 0.5f);
}
END_TEST

/* One image of a convolution against the double-precision sum over bf16-rounded inputs
 * (tight: 1e-5 of sum |x w|) and over the fp32 inputs (loose: 2^-7 of it). */
static void check_conv(int c, int h, int w, int oc, int k, int stride, int pad, int relu)
{
    unsigned seed = (unsigned)(c * 7 + h * 13 + oc * 3 + k + stride * 5 + pad);
    const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    const size_t ckk = (size_t)c * (size_t)k * (size_t)k, ohw = (size_t)oh * (size_t)ow;
    float *x = malloc(sizeof(float) * (size_t)c * (size_t)h * (size_t)w),
          *wt = malloc(sizeof(float) * (size_t)oc * ckk);
    float *bias = malloc(sizeof(float) * (size_t)oc), *y = malloc(sizeof(float) * (size_t)oc * ohw);
    float *scratch = malloc(sizeof(float) * glia_bf16_conv_scratch(c, k, oh, ow));
    fill(x, (size_t)c * (size_t)h * (size_t)w, &seed);
    fill(wt, (size_t)oc * ckk, &seed);
    fill(bias, (size_t)oc, &seed);
    glia_bf16_mat *mat = NULL;
    ck_assert_int_eq(glia_bf16_pack_rows(wt, oc, (int)ckk, ckk, &mat, NULL), GLIA_OK);
    glia_bf16_conv(x, c, h, w, k, stride, pad, oh, ow, mat, bias, relu, y, scratch);
    for (int o = 0; o < oc; o++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                double rounded = bias[o], exact = bias[o], mag = fabs((double)bias[o]);
                for (int ci = 0; ci < c; ci++)
                    for (int ki = 0; ki < k; ki++)
                        for (int kj = 0; kj < k; kj++) {
                            const int yi = i * stride - pad + ki, xj = j * stride - pad + kj;
                            if (yi < 0 || yi >= h || xj < 0 || xj >= w)
                                continue;
                            const float xv = x[((size_t)ci * h + yi) * w + xj],
                                        wv = wt[(size_t)o * ckk + ((size_t)ci * k + ki) * k + kj];
                            rounded += (double)glia_bf16_round(xv) * (double)glia_bf16_round(wv);
                            exact += (double)xv * (double)wv;
                            mag += fabs((double)xv * (double)wv);
                        }
                if (relu) {
                    rounded = rounded > 0 ? rounded : 0;
                    exact = exact > 0 ? exact : 0;
                }
                const double got = y[((size_t)o * oh + i) * ow + j];
                ck_assert_msg(
                    fabs(got - rounded) <= 1e-5 * mag + 1e-6,
                    "conv c%d %dx%d oc%d k%d s%d p%d: y[%d][%d][%d] = %.9g, bf16-input reference %.9g", c, h,
                    w, oc, k, stride, pad, o, i, j, got, rounded);
                ck_assert_msg(fabs(got - exact) <= 0x1p-7 * mag + 1e-6,
                              "conv: y[%d][%d][%d] = %.9g, fp32 %.9g", o, i, j, got, exact);
            }
    glia_bf16_free(mat);
    free(x);
    free(wt);
    free(bias);
    free(y);
    free(scratch);
}

START_TEST(conv_matches_references)
{
    if (!have_bf16())
        return;
    check_conv(1, 28, 28, 32, 3, 1, 1, 1);  /* fashion-cnn's first layer: one channel, odd taps */
    check_conv(32, 14, 14, 64, 3, 1, 1, 0); /* a deep one: 288 taps, 196 positions (a tail block) */
    check_conv(3, 9, 7, 20, 3, 2, 0, 1);    /* stride 2, no padding, an odd channel count */
    check_conv(2, 6, 6, 17, 5, 1, 2, 0);    /* 5x5 taps, 17 outputs (a row tile's tail) */
    check_conv(5, 40, 40, 8, 3, 1, 1, 1);   /* 1600 positions, 45 taps */
    check_conv(64, 6, 6, 16, 3, 1, 1, 1);   /* 576 taps: more than one slice of KC pairs */
}
END_TEST

/* The model of a tiny manifest, initialised from a seed. */
static glia_model *tiny(const char *task)
{
    glia_manifest m = tiny_models_manifest(task, 0.0f);
    glia_model *model = NULL;
    glia_rng rng;
    glia_rng_seed(&rng, 7);
    ck_assert_int_eq(glia_model_new(&m, &model, NULL), GLIA_OK);
    model->ops->reset(model, &rng);
    return model;
}

/* Logits of one inference forward over a fixed batch of model's input kind. */
static float *logits_of(glia_model *model, int *count)
{
    enum { N = 4 };
    const size_t in = model->input_size ? model->input_size : 1;
    float *x = malloc(sizeof(float) * N * in);
    int32_t ids[N * TINY_STEPS], lengths[N] = {5, 3, 1, 4}, tgt[N * TINY_TGT], tgt_len[N] = {4, 2, 1, 3};
    for (size_t i = 0; i < N * in; i++)
        x[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
    for (int i = 0; i < N * TINY_STEPS; i++)
        ids[i] = 2 + (i * 5) % (TINY_VOCAB - 2);
    for (int i = 0; i < N * TINY_TGT; i++)
        tgt[i] = 2 + (i * 3) % (TINY_VOCAB - 2);
    glia_batch b = {.n = N, .x = x, .ids = ids, .lengths = lengths, .steps = TINY_STEPS};
    glia_ctx_spec spec = {.max_batch = N, .max_steps = TINY_STEPS};
    if (model->ops->output == GLIA_OUTPUT_SEQUENCE) {
        b.tgt = tgt;
        b.tgt_lengths = tgt_len;
        b.tgt_steps = TINY_TGT;
        spec.max_tgt_steps = TINY_TGT;
    }
    glia_model_ctx *ctx = NULL;
    const float *logits = NULL;
    int rows = 0;
    ck_assert_int_eq(model->ops->ctx_new(model, &spec, &ctx, NULL), GLIA_OK);
    ck_assert_int_eq(model->ops->forward(model, ctx, &b, NULL, &logits, &rows, NULL), GLIA_OK);
    *count = rows * model->outputs;
    float *out = malloc(sizeof(float) * (size_t)*count);
    memcpy(out, logits, sizeof(float) * (size_t)*count);
    model->ops->ctx_free(ctx);
    free(x);
    return out;
}

/* bf16 logits within tol (absolute, the logits being O(1)) of fp32's, and back to fp32's
 * bits after glia_model_set_precision(fp32). */
static void check_family(glia_model *model, double tol)
{
    int n32 = 0, n16 = 0, nback = 0;
    float *f32 = logits_of(model, &n32);
    ck_assert_int_eq(glia_model_set_precision(model, GLIA_PRECISION_BF16, NULL), GLIA_OK);
    ck_assert_int_eq(model->precision, GLIA_PRECISION_BF16);
    ck_assert(model->bf16_bytes > 0);
    float *f16 = logits_of(model, &n16);
    ck_assert_int_eq(n16, n32);
    double worst = 0.0;
    int differ = 0;
    for (int i = 0; i < n32; i++) {
        worst = fmax(worst, fabs((double)f16[i] - (double)f32[i]));
        differ |= f16[i] != f32[i];
    }
    fprintf(stderr, "# %s: %d logits, largest |bf16 - fp32| %.3g, copies %zu bytes\n", model->ops->family,
            n32, worst, model->bf16_bytes);
    ck_assert_msg(worst <= tol, "%s: bf16 logits %.3g from fp32 (allowed %.3g)", model->ops->family, worst,
                  tol);
    ck_assert_msg(differ, "%s: bf16 logits equal fp32's bit for bit: the bf16 path did not run",
                  model->ops->family);
    ck_assert_int_eq(glia_model_set_precision(model, GLIA_PRECISION_FP32, NULL), GLIA_OK);
    ck_assert_int_eq(model->precision, GLIA_PRECISION_FP32);
    ck_assert_uint_eq(model->bf16_bytes, 0);
    float *back = logits_of(model, &nback);
    ck_assert_int_eq(memcmp(back, f32, sizeof(float) * (size_t)n32), 0);
    free(f32);
    free(f16);
    free(back);
}

START_TEST(families_stay_close_to_fp32)
{
    if (!have_bf16())
        return;
    static const char *const tasks[] = {"image-classification", "text-classification", "translation"};
    for (size_t i = 0; i < sizeof tasks / sizeof *tasks; i++) {
        glia_model *model = tiny(tasks[i]);
        check_family(model, 0.05);
        glia_model_free(model);
    }
}
END_TEST

/* The shipped image models on 4 rows. fashion-cnn-bn's inference plan folds each batch norm
 * into the conv before it (net.c); a bf16 conv must run its own packed weights with its own
 * bias, and the batch norm after it, not the folded bias on unfolded weights. */
START_TEST(shipped_cnn_stays_close)
{
    if (!have_bf16())
        return;
    static const char *const bundles[] = {"models/fashion-cnn", "models/fashion-cnn-bn"};
    for (size_t i = 0; i < sizeof bundles / sizeof *bundles; i++) {
        glia_bundle b;
        glia_err err = {0};
        ck_assert_msg(glia_bundle_load(glia_test_path(bundles[i]), &b, &err) == GLIA_OK, "%s", err.msg);
        check_family(b.model, 0.1); /* logits of a few units: 0.1 is about 2 % of their spread */
        glia_bundle_free(&b);
    }
}
END_TEST

START_TEST(fallback_without_bf16_stays_fp32)
{
    glia_model *model = tiny("translation");
    int n32 = 0, n16 = 0;
    float *f32 = logits_of(model, &n32);
    setenv("GLIA_NO_BF16", "1", 1);
    ck_assert_int_eq(glia_bf16_available(), 0);
    ck_assert_int_eq(glia_model_set_precision(model, GLIA_PRECISION_BF16, NULL), GLIA_OK);
    unsetenv("GLIA_NO_BF16");
    ck_assert_int_eq(model->precision, GLIA_PRECISION_FP32);
    ck_assert_uint_eq(model->bf16_bytes, 0);
    float *f16 = logits_of(model, &n16);
    ck_assert_int_eq(memcmp(f16, f32, sizeof(float) * (size_t)n32), 0);
    free(f32);
    free(f16);
    glia_model_free(model);
}
END_TEST

START_TEST(precision_names)
{
    ck_assert_int_eq(glia_precision_parse("fp32"), GLIA_PRECISION_FP32);
    ck_assert_int_eq(glia_precision_parse("bf16"), GLIA_PRECISION_BF16);
    ck_assert_int_eq(glia_precision_parse("BF16"), -1);
    ck_assert_int_eq(glia_precision_parse("fp16"), -1);
    ck_assert_int_eq(glia_precision_parse(NULL), -1);
    ck_assert_str_eq(glia_precision_name(GLIA_PRECISION_BF16), "bf16");
    ck_assert_str_eq(glia_precision_name(GLIA_PRECISION_FP32), "fp32");
}
END_TEST

/* logits of ids [B, T] through net on a fresh inference ctx, copied to out [B, C] */
static void text_logits(const glia_textnet *net, const int32_t *ids, const int32_t *len, int B, int T,
                        float *out)
{
    glia_err err = {0};
    glia_textnet_ctx *ctx = NULL;
    const float *logits = NULL;
    ck_assert_int_eq(glia_textnet_ctx_new(net, B, T, 0, &ctx, &err), GLIA_OK);
    ck_assert_msg(glia_textnet_forward(net, ctx, ids, len, B, T, NULL, &logits, &err) == GLIA_OK, "%s",
                  err.msg);
    memcpy(out, logits, sizeof(float) * (size_t)B * (size_t)net->cfg.num_classes);
    glia_textnet_ctx_free(ctx);
}

/* A bf16 LSTM (its matrices carry bf16 copies) gets a token table from glia_textnet_prepare:
 * layer 0's projection of every token made with the bf16 copy of W_ih, which the reference path
 * then copies instead of projecting. The same products, summed in another grouping: the logits
 * equal those without a table within 1e-5, at batch 1 and 16 (padded rows among them). A table
 * of the fp32 weights would be off by the rounding of W_ih (2^-9 relative: ~1e-3 here). */
START_TEST(bf16_lstm_token_table_holds_the_bf16_projection)
{
    if (!have_bf16())
        return;
    const glia_textnet_config cfg = {.vocab_size = 50,
                                     .embedding_dim = 12,
                                     .lexicon_features = 2,
                                     .mode = GLIA_RNN_LSTM,
                                     .hidden_size = 20, /* no multiple of 16: bf16 needs none */
                                     .num_layers = 2,
                                     .bidirectional = 1,
                                     .pool = GLIA_RNN_POOL_MAX,
                                     .num_classes = 3};
    enum { B = 16, T = 7 };
    glia_textnet *net = NULL;
    glia_err err = {0};
    ck_assert_int_eq(glia_textnet_new(&cfg, &net, &err), GLIA_OK);
    glia_rng rng;
    glia_rng_seed(&rng, 4);
    for (size_t i = 0; i < net->size; i++) /* every tensor, the lexicon too, O(0.5) */
        net->values[i] = glia_rng_uniform(&rng) - 0.5f;
    for (int i = 0; i < net->rnn.nparams; i += 4) {
        ck_assert_int_eq(glia_bf16_param_attach(&net->rnn.params[i], &err), GLIA_OK);
        ck_assert_int_eq(glia_bf16_param_attach(&net->rnn.params[i + 1], &err), GLIA_OK);
    }
    int32_t ids[B * T], len[B];
    for (int b = 0; b < B; b++) {
        len[b] = 1 + (b * 3 + 1) % T;
        for (int t = 0; t < T; t++)
            ids[b * T + t] = 2 + (int32_t)glia_rng_below(&rng, cfg.vocab_size - 2);
    }
    float want1[3], want16[B * 3], got1[3], got16[B * 3];
    text_logits(net, ids, len, 1, T, want1);
    text_logits(net, ids, len, B, T, want16);
    ck_assert_int_eq(glia_textnet_prepare(net, 1, &err), GLIA_OK);
    ck_assert_ptr_nonnull(net->token_table);
    ck_assert_ptr_null(net->rnn.packed); /* the bf16 path reads no fp32 transposes */
    text_logits(net, ids, len, 1, T, got1);
    text_logits(net, ids, len, B, T, got16);
    double worst = 0.0;
    for (int i = 0; i < 3; i++)
        worst = fmax(worst, fabs((double)got1[i] - want1[i]));
    for (int i = 0; i < B * 3; i++)
        worst = fmax(worst, fabs((double)got16[i] - want16[i]));
    ck_assert_msg(worst <= 1e-5, "bf16 logits with the token table %.3g from those without", worst);
    for (int i = 0; i < net->rnn.nparams; i++)
        glia_bf16_param_drop(&net->rnn.params[i]);
    glia_textnet_free(net);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bf16");
    TCase *tc = tcase_create("bf16");
    tcase_add_test(tc, rounds_to_nearest_even);
    tcase_add_test(tc, kernel_matches_references);
    tcase_add_test(tc, conv_matches_references);
    tcase_add_test(tc, families_stay_close_to_fp32);
    tcase_add_test(tc, shipped_cnn_stays_close);
    tcase_add_test(tc, fallback_without_bf16_stays_fp32);
    tcase_add_test(tc, precision_names);
    tcase_add_test(tc, bf16_lstm_token_table_holds_the_bf16_projection);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
