/*
 * test_vmath.c - core/nn/vmath.h: on every path this CPU has (libm, AVX2, AVX-512),
 * sigmoid, tanh and exp against the correctly rounded answer (computed in double) over a dense
 * sweep of floats in [-120, 120], the extremes (subnormals, FLT_MAX, infinities), NaN and
 * signed zero; and the same answer for an element wherever it sits (whole vectors and tails).
 */
#include "core/nn/vmath.h"
#include "tests/support/check_main.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ULP 4.0

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static float ref_sigmoid(float x)
{
    return (float)(1.0 / (1.0 + exp(-(double)x)));
}

static float ref_exp(float x)
{
    return (float)exp((double)x);
}

static float ref_tanh(float x)
{
    return (float)tanh((double)x);
}

/* Error in units of the reference's last place; a subnormal reference (or 0 against one)
 * counts by FLT_MIN's ulp, so results that flush at the bottom of the range pass. */
static double ulp_err(float got, float want)
{
    if (isnan(want))
        return isnan(got) ? 0.0 : INFINITY;
    if (isinf(want) || isinf(got))
        return got == want ? 0.0 : INFINITY;
    float a = fabsf(want) < FLT_MIN ? FLT_MIN : fabsf(want);
    double ulp = (double)nextafterf(a, INFINITY) - (double)a;
    double e = fabs((double)got - (double)want) / ulp;
    return fabsf(want) < FLT_MIN && fabsf(got) <= FLT_MIN ? 0.0 : e;
}

/* The inputs: every 997th float bit pattern from 0 to 120 and its negation, then the
 * special values. */
static float *inputs(size_t *n)
{
    const uint32_t top = 0x42f00000u; /* 120.0f */
    size_t cap = 2 * (size_t)(top / 997u + 1) + 64, k = 0;
    float *x = malloc(sizeof *x * cap);
    ck_assert_ptr_nonnull(x);
    for (uint32_t u = 0; u <= top; u += 997u) {
        x[k++] = from_bits(u);
        x[k++] = -from_bits(u);
    }
    const float special[] = {0.0f,    -0.0f,    FLT_MIN,     -FLT_MIN,     FLT_TRUE_MIN, -FLT_TRUE_MIN,
                             FLT_MAX, -FLT_MAX, INFINITY,    -INFINITY,    NAN,          -NAN,
                             0.5f,    -0.5f,    0.49999997f, -0.49999997f, 88.72f,       -88.72f,
                             89.0f,   -89.0f,   103.9f,      -103.9f,      104.5f,       -104.5f,
                             9.0f,    -9.0f,    1e-20f,      -1e-20f};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++)
        x[k++] = special[i];
    *n = k;
    return x;
}

static void check_fn(const char *name, void (*fn)(float *, const float *, size_t), float (*ref)(float))
{
    size_t n;
    float *x = inputs(&n), *y = malloc(sizeof *y * n);
    ck_assert_ptr_nonnull(y);
    for (int path = GLIA_VMATH_SCALAR; path <= GLIA_VMATH_AVX512; path++) {
        if (!glia_vmath_available((glia_vmath_path)path))
            continue;
        ck_assert_int_eq(glia_vmath_force(path), path);
        fn(y, x, n);
        double worst = 0.0;
        float worst_x = 0.0f;
        for (size_t i = 0; i < n; i++) {
            double e = ulp_err(y[i], ref(x[i]));
            if (e > worst) {
                worst = e;
                worst_x = x[i];
            }
        }
        printf("# %s path %d: %zu inputs, worst %.2f ulp at %.9g\n", name, path, n, worst, (double)worst_x);
        ck_assert_msg(worst <= MAX_ULP, "%s on path %d: %.2f ulp at x = %.9g", name, path, worst,
                      (double)worst_x);
        /* in place, and each element the same at any offset and array length */
        float buf[40], one;
        for (int len = 1; len <= 40; len++) {
            for (int off = 0; off + len <= 40 && off < 3; off++) {
                memcpy(buf, x + 1000, sizeof(float) * 40);
                fn(buf + off, buf + off, (size_t)len);
                for (int i = 0; i < len; i++) {
                    fn(&one, x + 1000 + off + i, 1);
                    ck_assert_msg(memcmp(&one, buf + off + i, sizeof one) == 0,
                                  "%s path %d: len %d off %d elem %d", name, path, len, off, i);
                }
            }
        }
    }
    glia_vmath_force(-1);
    free(x);
    free(y);
}

START_TEST(sigmoid_matches_reference)
{
    check_fn("sigmoid", glia_vsigmoid, ref_sigmoid);
}
END_TEST

START_TEST(tanh_matches_reference)
{
    check_fn("tanh", glia_vtanh, ref_tanh);
}
END_TEST

START_TEST(exp_matches_reference)
{
    check_fn("exp", glia_vexp, ref_exp);
}
END_TEST

START_TEST(exact_at_the_edges)
{
    const float x[6] = {INFINITY, -INFINITY, -0.0f, 0.0f, NAN, 200.0f};
    for (int path = GLIA_VMATH_SCALAR; path <= GLIA_VMATH_AVX512; path++) {
        if (!glia_vmath_available((glia_vmath_path)path))
            continue;
        glia_vmath_force(path);
        float s[6], t[6];
        glia_vsigmoid(s, x, 6);
        glia_vtanh(t, x, 6);
        float e[6];
        glia_vexp(e, x, 6);
        ck_assert(e[0] == INFINITY && e[1] == 0.0f && e[2] == 1.0f && e[3] == 1.0f && isnan(e[4]) &&
                  e[5] == INFINITY);
        ck_assert(s[0] == 1.0f && s[1] == 0.0f && s[2] == 0.5f && s[3] == 0.5f && isnan(s[4]) &&
                  s[5] == 1.0f);
        ck_assert(t[0] == 1.0f && t[1] == -1.0f && t[2] == 0.0f && signbit(t[2]) && t[3] == 0.0f &&
                  !signbit(t[3]) && isnan(t[4]) && t[5] == 1.0f);
    }
    glia_vmath_force(-1);
}
END_TEST

START_TEST(best_path_is_the_default)
{
    glia_vmath_path best = glia_vmath_available(GLIA_VMATH_AVX512) ? GLIA_VMATH_AVX512
                           : glia_vmath_available(GLIA_VMATH_AVX2) ? GLIA_VMATH_AVX2
                                                                   : GLIA_VMATH_SCALAR;
    ck_assert_int_eq(glia_vmath_force(-1), best);
    ck_assert_int_eq(glia_vmath_current(), best);
    ck_assert(glia_vmath_available(GLIA_VMATH_SCALAR));
    ck_assert(!glia_vmath_available((glia_vmath_path)7));
    ck_assert_int_eq(glia_vmath_force(7), best); /* an unknown path is refused */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmath");
    TCase *tc = tcase_create("vmath");
    tcase_add_test(tc, sigmoid_matches_reference);
    tcase_add_test(tc, tanh_matches_reference);
    tcase_add_test(tc, exp_matches_reference);
    tcase_add_test(tc, exact_at_the_edges);
    tcase_add_test(tc, best_path_is_the_default);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
