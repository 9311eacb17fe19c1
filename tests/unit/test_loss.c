/*
 * test_loss.c - softmax cross-entropy as nn.CrossEntropyLoss(reduction='mean',
 * label_smoothing=ls, ignore_index=ii).
 *
 * Values: against F.cross_entropy's numbers for a fixed case (PyTorch's formula in
 * Python doubles; the first row is also worked by hand below), and against PyTorch's
 * definition written out here in long double for random cases:
 *   row loss = (1 - ls) * (-log p_y) + ls * mean_j(-log p_j),
 * averaged over the rows whose label is not ignore_index. Gradient: against central
 * finite differences, and its closed form (softmax - q) / counted. ignore_index (the
 * default -100 and one inside the class range), rows all ignored, huge logits.
 */
#include "core/base/rng.h"
#include "core/nn/kernels.h"
#include "core/nn/loss.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdlib.h>

static const float Z[9] = {2.0f, -1.0f, 0.5f, 0.1f, 0.2f, -3.0f, 10.0f, -10.0f, 0.0f};

/* PyTorch's definition, in long double. */
static double reference(const float *z, const int32_t *y, int n, int k, double ls, int32_t ignore,
                        int *counted)
{
    long double total = 0;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (y[i] == ignore)
            continue;
        const float *zi = z + (size_t)i * k;
        long double max = zi[0], sum = 0, mean_neg_logp = 0;
        for (int j = 1; j < k; j++)
            max = zi[j] > max ? zi[j] : max;
        for (int j = 0; j < k; j++)
            sum += expl(zi[j] - max);
        long double lse = max + logl(sum);
        for (int j = 0; j < k; j++)
            mean_neg_logp += (lse - zi[j]) / k;
        total += (1 - ls) * (lse - zi[y[i]]) + ls * mean_neg_logp;
        m++;
    }
    *counted = m;
    return m ? (double)(total / m) : 0.0;
}

START_TEST(values_match_pytorch)
{
    const int32_t y[3] = {0, 2, 1}, y_ign[3] = {0, -100, 1};
    int counted = 0;
    /* F.cross_entropy(z, y, label_smoothing=ls[, ignore_index=-100]) */
    ck_assert_double_eq_tol(glia_xent(Z, y, 3, 3, 0.0f, -100, NULL, NULL), 8.03564230537665, 1e-6);
    ck_assert_double_eq_tol(glia_xent(Z, y, 3, 3, 0.2f, -100, NULL, NULL), 7.328975638709983, 1e-6);
    ck_assert_double_eq_tol(glia_xent(Z, y_ign, 3, 3, 0.2f, -100, NULL, &counted), 9.270678348808717, 1e-6);
    ck_assert_int_eq(counted, 2);
    /* the first row alone, by hand: log-sum-exp(2, -1, 0.5) = 2.2413843..., so
     * nll = 0.2413843 and, with ls = 0.2, 0.8 * nll + 0.2 * mean(0.24, 3.24, 1.74) */
    const double lse = log(exp(2.0) + exp(-1.0) + exp(0.5));
    ck_assert_double_eq_tol(glia_xent(Z, y, 1, 3, 0.0f, -100, NULL, NULL), lse - 2.0, 1e-7);
    ck_assert_double_eq_tol(glia_xent(Z, y, 1, 3, 0.2f, -100, NULL, NULL),
                            0.8 * (lse - 2.0) + 0.2 * ((lse - 2.0) + (lse + 1.0) + (lse - 0.5)) / 3.0, 1e-7);
}
END_TEST

START_TEST(values_match_definition)
{
    static const int ks[] = {1, 2, 3, 10, 100};
    static const float smoothing[] = {0.0f, 0.1f, 0.5f, 1.0f};
    static const int32_t ignores[] = {-100, 1};
    glia_rng rng;
    glia_rng_seed(&rng, 5);
    for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++)
        for (size_t b = 0; b < 4; b++)
            for (int c = 0; c < 2; c++) {
                enum { N = 9 };
                int k = ks[a];
                float *z = malloc(sizeof(float) * N * k);
                int32_t y[N];
                ck_assert_ptr_nonnull(z);
                for (int i = 0; i < N * k; i++)
                    z[i] = 8.0f * glia_rng_uniform(&rng) - 4.0f;
                for (int i = 0; i < N; i++)
                    y[i] = (int32_t)glia_rng_below(&rng, (uint64_t)k);
                y[3] = ignores[c]; /* always at least one ignored row */
                int counted = -1, want_counted;
                double got = glia_xent(z, y, N, k, smoothing[b], ignores[c], NULL, &counted);
                double want = reference(z, y, N, k, smoothing[b], ignores[c], &want_counted);
                ck_assert_int_eq(counted, want_counted);
                if (ignores[c] == -100)
                    ck_assert_int_eq(counted, N - 1);
                ck_assert_msg(fabs(got - want) <= 1e-6 * fmax(1.0, fabs(want)),
                              "k=%d ls=%g ignore=%d: %.10g vs %.10g", k, smoothing[b], ignores[c], got, want);
                if (k > 1)
                    ck_assert(want > 0.1);
                free(z);
            }
}
END_TEST

/* ---- gradient ---- */

static void check_gradient(const float *z0, const int32_t *y, int n, int k, float ls, int32_t ignore)
{
    float *z = malloc(sizeof(float) * n * k), *dz = malloc(sizeof(float) * n * k),
          *p = malloc(sizeof(float) * n * k);
    ck_assert(z && dz && p);
    for (int i = 0; i < n * k; i++)
        z[i] = z0[i];
    int m;
    glia_xent(z, y, n, k, ls, ignore, dz, &m);
    glia_softmax(z, p, n, k);
    for (int i = 0; i < n; i++) {
        double row = 0;
        for (int j = 0; j < k; j++) {
            const float h = 1e-2f, keep = z[i * k + j];
            z[i * k + j] = keep + h;
            double dp = (double)z[i * k + j] - keep, lp = glia_xent(z, y, n, k, ls, ignore, NULL, NULL);
            z[i * k + j] = keep - h;
            double dm = (double)keep - z[i * k + j], lm = glia_xent(z, y, n, k, ls, ignore, NULL, NULL);
            z[i * k + j] = keep;
            double numeric = (lp - lm) / (dp + dm), analytic = dz[i * k + j];
            ck_assert_msg(fabs(analytic - numeric) <= 2e-5 + 1e-4 * fabs(numeric),
                          "ls=%g ignore=%d, logit (%d,%d): analytic %.8g, numeric %.8g", ls, ignore, i, j,
                          analytic, numeric);
            /* the closed form: (softmax - q) / counted, 0 on an ignored row */
            double q = y[i] == ignore ? 0.0 : (j == y[i] ? 1.0 - ls : 0.0) + (double)ls / k;
            double closed = y[i] == ignore ? 0.0 : (p[i * k + j] - q) / m;
            ck_assert_msg(fabs(analytic - closed) <= 1e-6, "logit (%d,%d): %.8g vs closed form %.8g", i, j,
                          analytic, closed);
            row += analytic;
        }
        ck_assert_msg(fabs(row) <= 1e-6, "row %d's gradient sums to %g", i, row);
    }
    free(z);
    free(dz);
    free(p);
}

START_TEST(gradient_matches_finite_differences)
{
    const int32_t y[3] = {0, -100, 1};
    const float ls[3] = {0.0f, 0.1f, 1.0f};
    float z[9];
    for (int i = 0; i < 9; i++)
        z[i] = Z[i] * 0.3f;
    for (int s = 0; s < 3; s++)
        check_gradient(z, y, 3, 3, ls[s], -100);
    /* a wider, random case, with an in-range ignore_index */
    enum { N = 6, K = 11 };
    float zr[N * K];
    int32_t yr[N] = {0, 10, 4, 4, 7, 2};
    glia_rng rng;
    glia_rng_seed(&rng, 6);
    for (int i = 0; i < N * K; i++)
        zr[i] = 4.0f * glia_rng_uniform(&rng) - 2.0f;
    check_gradient(zr, yr, N, K, 0.0f, -100);
    check_gradient(zr, yr, N, K, 0.2f, 4);
}
END_TEST

/* A vocabulary's rows (k >= 256) with a gradient take their exponentials in float (of z - max
 * rounded to float, as PyTorch's float32 softmax does): the loss
 * against the double reference and the gradient against the closed form (softmax - q) / m
 * in double, for several widths, smoothings and a wide logit range. */
START_TEST(vocabulary_rows_match_definition)
{
    static const int ks[] = {255, 256, 1000, 8000};
    static const float smoothing[] = {0.0f, 0.1f};
    glia_rng rng;
    glia_rng_seed(&rng, 9);
    for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++)
        for (size_t b = 0; b < 2; b++) {
            enum { N = 5 };
            const int k = ks[a];
            float *z = malloc(sizeof(float) * N * k), *dz = malloc(sizeof(float) * N * k);
            ck_assert(z && dz);
            int32_t y[N];
            for (int i = 0; i < N * k; i++)
                z[i] = 30.0f * glia_rng_uniform(&rng) - 15.0f;
            for (int i = 0; i < N; i++)
                y[i] = (int32_t)glia_rng_below(&rng, (uint64_t)k);
            y[2] = -100;
            int counted, want_counted;
            double got = glia_xent(z, y, N, k, smoothing[b], -100, dz, &counted);
            double want = reference(z, y, N, k, smoothing[b], -100, &want_counted);
            ck_assert_int_eq(counted, want_counted);
            ck_assert_msg(fabs(got - want) <= 1e-6 * fmax(1.0, fabs(want)), "k=%d ls=%g: %.10g vs %.10g", k,
                          smoothing[b], got, want);
            for (int i = 0; i < N; i++) {
                const float *zi = z + (size_t)i * k;
                double mx = zi[0], sum = 0.0;
                for (int j = 1; j < k; j++)
                    mx = zi[j] > mx ? zi[j] : mx;
                for (int j = 0; j < k; j++)
                    sum += exp(zi[j] - mx);
                for (int j = 0; j < k; j++) {
                    double q = y[i] == -100 ? 0.0 : (j == y[i] ? 1.0 - smoothing[b] : 0.0) + smoothing[b] / k;
                    double pj = y[i] == -100 ? 0.0 : exp(zi[j] - mx) / sum / counted;
                    double closed = y[i] == -100 ? 0.0 : pj - q / counted;
                    /* z - max rounded to float (|z - max| < 32: 2^-19) moves exp by up to 2e-6 of
                     * it; p - q may cancel, so the bound is on p's part */
                    ck_assert_msg(
                        fabs(dz[(size_t)i * k + j] - closed) <= 4e-6 * pj + 1e-7 * fabs(closed) + 1e-12,
                        "k=%d row %d logit %d: %.9g vs %.9g", k, i, j, (double)dz[(size_t)i * k + j], closed);
                }
            }
            free(z);
            free(dz);
        }
}
END_TEST

/* ---- ignore_index ---- */

START_TEST(ignore_index)
{
    /* rows labelled ignore_index neither count nor move the loss */
    const int32_t y[3] = {0, 2, 1}, only_first[3] = {0, 7, 7};
    int counted;
    double all_three = glia_xent(Z, y, 3, 3, 0.1f, 7, NULL, &counted);
    ck_assert_int_eq(counted, 3);
    double first = glia_xent(Z, y, 1, 3, 0.1f, 7, NULL, NULL);
    ck_assert_double_eq_tol(glia_xent(Z, only_first, 3, 3, 0.1f, 7, NULL, &counted), first, 1e-12);
    ck_assert_int_eq(counted, 1);
    ck_assert(fabs(all_three - first) > 0.1);
    /* the mean is over counted rows: three rows are the mean of three single rows */
    double sum = 0;
    for (int i = 0; i < 3; i++)
        sum += glia_xent(Z + 3 * i, y + i, 1, 3, 0.1f, 7, NULL, NULL);
    ck_assert_double_eq_tol(all_three, sum / 3.0, 1e-9);
    /* an ignore_index inside the class range ignores that class's rows */
    ck_assert_double_eq_tol(glia_xent(Z, y, 3, 3, 0.0f, 2, NULL, &counted),
                            (glia_xent(Z, y, 1, 3, 0.0f, -100, NULL, NULL) +
                             glia_xent(Z + 6, y + 2, 1, 3, 0.0f, -100, NULL, NULL)) /
                                2.0,
                            1e-9);
    ck_assert_int_eq(counted, 2);
    /* every row ignored: 0, nothing counted, a zero gradient */
    const int32_t none[3] = {-100, -100, -100};
    float dz[9];
    for (int i = 0; i < 9; i++)
        dz[i] = NAN;
    ck_assert_double_eq(glia_xent(Z, none, 3, 3, 0.3f, -100, dz, &counted), 0.0);
    ck_assert_int_eq(counted, 0);
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq(dz[i], 0.0f);
}
END_TEST

START_TEST(extremes)
{
    /* a confident wrong answer: large and finite, never inf */
    const float z[3] = {1e30f, -1e30f, 0.0f};
    const int32_t y[1] = {1}, right[1] = {0};
    float dz[3], p[3];
    double l = glia_xent(z, y, 1, 3, 0.0f, -100, dz, NULL);
    ck_assert(isfinite(l));
    ck_assert_double_eq_tol(l, 2e30, 1e24);
    for (int j = 0; j < 3; j++)
        ck_assert(isfinite(dz[j]));
    ck_assert_float_eq(dz[0], 1.0f);
    ck_assert_float_eq(dz[1], -1.0f);
    glia_softmax(z, p, 1, 3);
    ck_assert_float_eq(p[0], 1.0f);
    ck_assert_float_eq(p[1], 0.0f);
    /* a confident right answer: 0, never negative; with smoothing, bounded below by the
     * smoothed target's entropy and growing with the confidence */
    ck_assert_double_eq_tol(glia_xent(z, right, 1, 3, 0.0f, -100, NULL, NULL), 0.0, 1e-12);
    const float big[3] = {20.0f, 0.0f, 0.0f}, bigger[3] = {40.0f, 0.0f, 0.0f};
    double q_on = 0.9 + 0.1 / 3, q_off = 0.1 / 3, entropy = -(q_on * log(q_on) + 2 * q_off * log(q_off));
    double l20 = glia_xent(big, right, 1, 3, 0.1f, -100, NULL, NULL);
    double l40 = glia_xent(bigger, right, 1, 3, 0.1f, -100, NULL, NULL);
    ck_assert(l20 > entropy && l40 > l20);
    /* one class: nothing to learn */
    const float one[2] = {3.0f, -5.0f};
    const int32_t zero[2] = {0, 0};
    ck_assert_double_eq_tol(glia_xent(one, zero, 2, 1, 0.1f, -100, dz, NULL), 0.0, 1e-12);
    ck_assert_float_eq_tol(dz[0], 0.0f, 1e-7f);
    ck_assert_float_eq_tol(dz[1], 0.0f, 1e-7f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("loss");
    tcase_add_test(tc, values_match_pytorch);
    tcase_add_test(tc, values_match_definition);
    tcase_add_test(tc, gradient_matches_finite_differences);
    tcase_add_test(tc, vocabulary_rows_match_definition);
    tcase_add_test(tc, ignore_index);
    tcase_add_test(tc, extremes);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
