/*
 * test_rng.c - the explicit-state generator behind every random draw in training:
 * a seed fixes the stream, different seeds differ, values lie in their ranges with the
 * right moments, bounded integers are unbiased, and shuffles are permutations.
 */
#include "core/base/rng.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdlib.h>

START_TEST(seed_fixes_the_stream)
{
    glia_rng a, b, c;
    glia_rng_seed(&a, 42);
    glia_rng_seed(&b, 42);
    glia_rng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = glia_rng_next(&a);
        ck_assert_uint_eq(x, glia_rng_next(&b));
        differ += x != glia_rng_next(&c);
    }
    ck_assert_int_gt(differ, 990);
}
END_TEST

/* The block fill is the same stream as one draw at a time, in order, and leaves the state where
 * those draws would: dropout's masks, and so every training run's numbers, depend on it. */
START_TEST(uniform_fill_is_the_stream_of_single_draws)
{
    glia_rng a, b;
    glia_rng_seed(&a, 7);
    glia_rng_seed(&b, 7);
    float u[1000];
    static const size_t sizes[] = {0, 1, 3, 64, 1000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        glia_rng_uniform_fill(&a, u, sizes[s]);
        for (size_t i = 0; i < sizes[s]; i++)
            ck_assert_float_eq(u[i], glia_rng_uniform(&b));
    }
    ck_assert_uint_eq(glia_rng_next(&a), glia_rng_next(&b));
}
END_TEST

START_TEST(uniform_and_normal_moments)
{
    glia_rng r;
    glia_rng_seed(&r, 1);
    const int n = 200000;
    double su = 0, sn = 0, sn2 = 0;
    for (int i = 0; i < n; i++) {
        float u = glia_rng_uniform(&r);
        ck_assert(u >= 0.0f && u < 1.0f);
        su += u;
        float z = glia_rng_normal(&r);
        ck_assert(isfinite(z));
        sn += z;
        sn2 += (double)z * z;
    }
    ck_assert_double_eq_tol(su / n, 0.5, 0.005);
    ck_assert_double_eq_tol(sn / n, 0.0, 0.01);
    ck_assert_double_eq_tol(sn2 / n, 1.0, 0.02);
}
END_TEST

START_TEST(below_is_unbiased)
{
    glia_rng r;
    glia_rng_seed(&r, 2);
    enum { K = 7, N = 70000 };
    int hist[K] = {0};
    for (int i = 0; i < N; i++) {
        uint64_t v = glia_rng_below(&r, K);
        ck_assert_uint_lt(v, K);
        hist[v]++;
    }
    /* chi-square with 6 degrees of freedom: 22.5 is the 0.1% tail */
    double chi = 0;
    for (int k = 0; k < K; k++)
        chi += (hist[k] - N / (double)K) * (hist[k] - N / (double)K) / (N / (double)K);
    ck_assert_msg(chi < 22.5, "chi-square %.2f", chi);
    ck_assert_uint_eq(glia_rng_below(&r, 1), 0);
}
END_TEST

START_TEST(shuffle_is_a_permutation)
{
    glia_rng r;
    glia_rng_seed(&r, 3);
    enum { N = 1000 };
    uint32_t idx[N];
    int seen[N] = {0}, moved = 0;
    for (uint32_t i = 0; i < N; i++)
        idx[i] = i;
    glia_rng_shuffle(&r, idx, N);
    for (uint32_t i = 0; i < N; i++) {
        ck_assert_uint_lt(idx[i], N);
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert_int_gt(moved, N / 2);
    glia_rng_shuffle(&r, idx, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("rng");
    tcase_add_test(tc, seed_fixes_the_stream);
    tcase_add_test(tc, uniform_fill_is_the_stream_of_single_draws);
    tcase_add_test(tc, uniform_and_normal_moments);
    tcase_add_test(tc, below_is_unbiased);
    tcase_add_test(tc, shuffle_is_a_permutation);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
