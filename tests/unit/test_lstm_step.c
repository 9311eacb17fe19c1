/*
 * test_lstm_step.c - core/nn/lstm_step.h and the inference forward of core/nn/rnn.c that runs it.
 *
 * glia_rnn_forward on an inference ctx (the kernels' path) against a naive double-precision
 * LSTM written here that runs each sequence on its own at its own length, and against the
 * reference path of rnn.c (the kernels turned off): outputs at every position (0 at padding),
 * h_n and c_n. The cases cover both kernel shapes and their edges: batches below 16 (one
 * sequence at a time, with and without the copies glia_rnn_pack makes) and of 16 and more
 * (sequences as vector lanes: 16, 17, 40 and 64, so full and partial lane vectors and a
 * second group of 64), different lengths in one batch (a finished sequence must keep its
 * state), two layers, one and two directions, an input width that is no multiple of 16, and
 * hidden sizes 16, 48 and 64 (one to four vectors per gate) and 20 (lanes only: the batch-1
 * kernel needs a multiple of 16 and leaves such a layer to the reference path). The token
 * table (glia_rnn_forward_table: layer 0's projections gathered by token id) against the same
 * forward on the rows the ids pick. Plus the transpose and the projection kernel on their own.
 *
 * Tolerance: products of up to ~170 terms of magnitude <= 0.5 in float, through sigmoid and
 * tanh (slope <= 1) over up to 12 steps: a few 1e-6; 1e-4 leaves room while a wrong gate,
 * bias or step (errors of 1e-2 and more) fails.
 */
#include "core/nn/lstm_step.h"
#include "core/nn/rnn.h"
#include "tests/support/check_main.h"
#include "tests/support/gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double TOL = 1e-4;

static float *uniform(size_t n, float lo, float hi, unsigned seed)
{
    float *x = calloc(n ? n : 1, sizeof(float));
    ck_assert_ptr_nonnull(x);
    gc_uniform(x, n, lo, hi, seed);
    return x;
}

static double sigm(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

/* One direction of one layer for sequence b alone: x rows [len, in] -> y rows [len, D] (its
 * half), h_n and c_n [H]. */
static void ref_direction(const glia_rnn *rnn, int layer, int d, const double *x, int in, int len, double *y,
                          double *hn, double *cn)
{
    const int H = rnn->cfg.hidden_size, D = rnn->output_size;
    const glia_param *p = &rnn->params[(layer * rnn->directions + d) * 4];
    double *h = calloc((size_t)H, sizeof *h), *c = calloc((size_t)H, sizeof *c);
    double *a = calloc(4 * (size_t)H, sizeof *a);
    ck_assert(h && c && a);
    for (int s = 0; s < len; s++) {
        const int t = d ? len - 1 - s : s;
        for (int j = 0; j < 4 * H; j++) {
            double v = (double)p[2].value[j] + p[3].value[j];
            for (int k = 0; k < in; k++)
                v += (double)p[0].value[(size_t)j * in + k] * x[(size_t)t * in + k];
            for (int k = 0; k < H; k++)
                v += (double)p[1].value[(size_t)j * H + k] * h[k];
            a[j] = v;
        }
        for (int u = 0; u < H; u++) {
            c[u] = sigm(a[H + u]) * c[u] + sigm(a[u]) * tanh(a[2 * H + u]);
            h[u] = sigm(a[3 * H + u]) * tanh(c[u]);
            y[(size_t)t * D + (size_t)d * H + u] = h[u];
        }
    }
    memcpy(hn, h, sizeof *h * (size_t)H);
    memcpy(cn, c, sizeof *c * (size_t)H);
    free(h);
    free(c);
    free(a);
}

typedef struct {
    int in, H, layers, dirs, batch, steps;
} lcase;

/* Runs c through the inference forward (kernels on, and with pack = 1 on the copies) and
 * compares with the double reference and with the reference path. */
static void check_case(lcase lc, int pack, unsigned seed)
{
    glia_err err = {0};
    glia_rnn rnn;
    glia_rnn_config cfg = {GLIA_RNN_LSTM, lc.in, lc.H, lc.layers, lc.dirs == 2};
    ck_assert_int_eq(glia_rnn_init(&rnn, &cfg, "rnn", &err), GLIA_OK);
    float *w = uniform(rnn.size, -0.5f, 0.5f, seed);
    glia_rnn_bind(&rnn, w, NULL);
    const int B = lc.batch, T = lc.steps, D = rnn.output_size, H = lc.H, L = lc.layers, dirs = lc.dirs;
    float *x = uniform((size_t)B * T * lc.in, -1.0f, 1.0f, seed + 1);
    int32_t *len = malloc(sizeof *len * (size_t)B);
    ck_assert_ptr_nonnull(len);
    for (int b = 0; b < B; b++) {
        len[b] = b == 0 ? T : 1 + (int)((b * 7u + seed) % (unsigned)T); /* one full length */
        for (int t = len[b]; t < T; t++)                                /* padding: never read */
            for (int k = 0; k < lc.in; k++)
                x[((size_t)b * T + t) * lc.in + k] = NAN;
    }

    /* the double reference, sequence by sequence, layer by layer */
    const size_t nstate = (size_t)L * dirs * B * H;
    double *ry = calloc((size_t)B * T * D, sizeof *ry), *rh = calloc(nstate, sizeof *rh);
    double *rc = calloc(nstate, sizeof *rc);
    double *lin = calloc((size_t)T * (lc.in > D ? lc.in : D), sizeof *lin),
           *lout = calloc((size_t)T * D, sizeof *lout);
    ck_assert(ry && rh && rc && lin && lout);
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < len[b] * lc.in; i++)
            lin[i] = x[(size_t)b * T * lc.in + i];
        int in = lc.in;
        for (int l = 0; l < L; l++) {
            for (int d = 0; d < dirs; d++) {
                const size_t at = ((size_t)(l * dirs + d) * B + b) * H;
                ref_direction(&rnn, l, d, lin, in, len[b], lout, rh + at, rc + at);
            }
            memcpy(lin, lout, sizeof *lin * (size_t)len[b] * D);
            in = D;
        }
        memcpy(ry + (size_t)b * T * D, lout, sizeof *lout * (size_t)len[b] * D);
    }

    float *got[2] = {NULL, NULL}, *got_h[2] = {NULL, NULL}, *got_c[2] = {NULL, NULL};
    for (int run = 0; run < 2; run++) { /* 0: the kernels; 1: the reference path */
        glia_lstm_step_enable(run == 0);
        if (pack && run == 0)
            ck_assert_int_eq(glia_rnn_pack(&rnn, &err), GLIA_OK);
        glia_rnn_ctx *ctx = NULL;
        ck_assert_int_eq(glia_rnn_ctx_new(&rnn, B, T, 0, &ctx, &err), GLIA_OK);
        const float *out = NULL;
        ck_assert_int_eq(glia_rnn_forward(&rnn, ctx, x, len, B, T, &out, &err), GLIA_OK);
        got[run] = malloc(sizeof(float) * (size_t)B * T * D);
        got_h[run] = malloc(sizeof(float) * nstate);
        got_c[run] = malloc(sizeof(float) * nstate);
        ck_assert(got[run] && got_h[run] && got_c[run]);
        memcpy(got[run], out, sizeof(float) * (size_t)B * T * D);
        memcpy(got_h[run], glia_rnn_h_n(ctx), sizeof(float) * nstate);
        memcpy(got_c[run], glia_rnn_c_n(ctx), sizeof(float) * nstate);
        glia_rnn_ctx_free(ctx);
        glia_rnn_unpack(&rnn);
    }
    glia_lstm_step_enable(1);

    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int f = 0; f < D; f++) {
                const size_t i = ((size_t)b * T + t) * D + f;
                const double want = t < len[b] ? ry[i] : 0.0;
                ck_assert_msg(fabs(got[0][i] - want) <= TOL && fabs(got[0][i] - got[1][i]) <= TOL,
                              "in %d H %d L %d dirs %d B %d pack %d: y[%d][%d][%d] = %g, reference %g, "
                              "reference path %g",
                              lc.in, H, L, dirs, B, pack, b, t, f, (double)got[0][i], want,
                              (double)got[1][i]);
            }
    for (size_t i = 0; i < nstate; i++)
        ck_assert_msg(fabs(got_h[0][i] - rh[i]) <= TOL && fabs(got_c[0][i] - rc[i]) <= TOL &&
                          fabs(got_h[0][i] - got_h[1][i]) <= TOL && fabs(got_c[0][i] - got_c[1][i]) <= TOL,
                      "in %d H %d L %d dirs %d B %d pack %d: h_n/c_n[%zu] = %g/%g, reference %g/%g", lc.in, H,
                      L, dirs, B, pack, i, (double)got_h[0][i], (double)got_c[0][i], rh[i], rc[i]);
    for (int r = 0; r < 2; r++) {
        free(got[r]);
        free(got_h[r]);
        free(got_c[r]);
    }
    free(ry);
    free(rh);
    free(rc);
    free(lin);
    free(lout);
    free(len);
    free(x);
    free(w);
}

START_TEST(forward_matches_reference)
{
    if (!glia_lstm_step_available())
        return; /* the reference path alone runs here; test_rnn covers it */
    const lcase cases[] = {
        {102, 64, 1, 2, 1, 12}, /* the sentiment models' shape, batch 1 */
        {102, 64, 1, 2, 3, 9},  {102, 64, 1, 2, 16, 7}, {102, 64, 1, 2, 17, 6}, {102, 64, 1, 2, 64, 5},
        {40, 48, 2, 2, 5, 6},   {40, 48, 2, 2, 40, 6},  {7, 16, 1, 1, 2, 8},    {7, 16, 1, 1, 70, 4},
        {9, 20, 1, 2, 3, 5}, /* H = 20: below 16 sequences the reference path */
        {9, 20, 1, 2, 18, 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int pack = 0; pack < 2; pack++)
            check_case(cases[i], pack, 11u + (unsigned)i);
}
END_TEST

/* glia_rnn_forward_table against glia_rnn_forward on the rows the ids pick (ids at padded
 * positions out of range: never read). */
static void check_table(int in, int H, int B, unsigned seed)
{
    glia_err err = {0};
    glia_rnn rnn;
    const int T = 7, V = 23;
    glia_rnn_config cfg = {GLIA_RNN_LSTM, in, H, 1, 1};
    ck_assert_int_eq(glia_rnn_init(&rnn, &cfg, "rnn", &err), GLIA_OK);
    float *w = uniform(rnn.size, -0.5f, 0.5f, seed), *rows = uniform((size_t)V * in, -1.0f, 1.0f, seed + 1);
    glia_rnn_bind(&rnn, w, NULL);
    float *table = uniform((size_t)V * 2 * 4 * H, 0, 0, 0), *x = uniform((size_t)B * T * in, 0, 0, 0);
    int32_t *ids = malloc(sizeof *ids * (size_t)B * T), *len = malloc(sizeof *len * (size_t)B);
    ck_assert(ids && len);
    glia_rnn_table_fill(&rnn, rows, V, table);
    for (int b = 0; b < B; b++) {
        len[b] = b == 0 ? T : 1 + (int)((b * 5u + seed) % (unsigned)T);
        for (int t = 0; t < T; t++) {
            const size_t at = (size_t)b * T + t;
            ids[at] = t < len[b] ? (int32_t)((at * 7 + seed) % (unsigned)V) : -1;
            if (t < len[b])
                memcpy(x + at * in, rows + (size_t)ids[at] * in, sizeof(float) * (size_t)in);
        }
    }
    glia_rnn_ctx *c1 = NULL, *c2 = NULL;
    ck_assert_int_eq(glia_rnn_ctx_new(&rnn, B, T, 0, &c1, &err), GLIA_OK);
    ck_assert_int_eq(glia_rnn_ctx_new(&rnn, B, T, 0, &c2, &err), GLIA_OK);
    ck_assert(glia_rnn_table_ok(&rnn, c1, B));
    const float *want = NULL, *got = NULL;
    ck_assert_int_eq(glia_rnn_forward(&rnn, c1, x, len, B, T, &want, &err), GLIA_OK);
    ck_assert_int_eq(glia_rnn_forward_table(&rnn, c2, table, ids, len, B, T, &got, &err), GLIA_OK);
    for (size_t i = 0; i < (size_t)B * T * 2 * H; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= 1e-5, "in %d H %d B %d: y[%zu] = %g, want %g", in, H, B, i,
                      (double)got[i], (double)want[i]);
    for (size_t i = 0; i < (size_t)2 * B * H; i++)
        ck_assert_msg(fabs(glia_rnn_h_n(c2)[i] - glia_rnn_h_n(c1)[i]) <= 1e-5 &&
                          fabs(glia_rnn_c_n(c2)[i] - glia_rnn_c_n(c1)[i]) <= 1e-5,
                      "in %d H %d B %d: h_n/c_n[%zu]", in, H, B, i);
    glia_rnn_ctx_free(c1);
    glia_rnn_ctx_free(c2);
    free(w);
    free(rows);
    free(table);
    free(x);
    free(ids);
    free(len);
}

START_TEST(token_table_matches_forward)
{
    if (!glia_lstm_step_available())
        return;
    check_table(102, 64, 1, 3);
    check_table(102, 64, 5, 4);
    check_table(102, 64, 16, 5);
    check_table(30, 32, 33, 6);
    check_table(9, 20, 17, 7); /* H = 20: rows of y one unit at a time */
}
END_TEST

START_TEST(transpose_and_projection)
{
    const int rows = 64, cols = 37, m = 7, n = 64, in = 37;
    float *w = uniform((size_t)rows * cols, -1.0f, 1.0f, 5), *wt = uniform((size_t)rows * cols, 0, 0, 6);
    glia_lstm_step_transpose(w, rows, cols, wt);
    for (int j = 0; j < rows; j++)
        for (int k = 0; k < cols; k++)
            ck_assert_msg(wt[(size_t)k * rows + j] == w[(size_t)j * cols + k], "wt[%d][%d]", k, j);
    if (glia_lstm_step_available()) {
        float *x = uniform((size_t)m * in, -1.0f, 1.0f, 7), *bias = uniform((size_t)n, -1.0f, 1.0f, 8);
        float *out = uniform((size_t)m * n, 0, 0, 9);
        /* wt here is [in = 37, n = 64]: the transpose of w [64, 37] */
        glia_lstm_step_project(m, in, n, x, wt, bias, out);
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++) {
                double want = bias[j];
                for (int k = 0; k < in; k++)
                    want += (double)x[(size_t)r * in + k] * w[(size_t)j * in + k];
                ck_assert_msg(fabs(out[(size_t)r * n + j] - want) <= 1e-5, "out[%d][%d] = %g, want %g", r, j,
                              (double)out[(size_t)r * n + j], want);
            }
        free(x);
        free(bias);
        free(out);
    }
    free(w);
    free(wt);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lstm_step");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, forward_matches_reference);
    tcase_add_test(tc, token_table_matches_forward);
    tcase_add_test(tc, transpose_and_projection);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
