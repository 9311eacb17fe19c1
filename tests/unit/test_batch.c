/*
 * test_batch.c - batch-size policies: fixed, random within [min, max] (every size
 * reachable, none outside, fixed by the seed), and adaptive (grows by `growth` after
 * `patience` epochs without an improvement larger than min_delta, capped at max).
 */
#include "core/train/batch.h"
#include "tests/support/check_main.h"

#include <string.h>

START_TEST(fixed)
{
    glia_err err = {0};
    glia_batch_policy p;
    glia_batch_config c = {GLIA_BATCH_FIXED, 64, 0, 0, 2.0f, 1, 0.0f};
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    ck_assert_int_eq(glia_batch_init(&p, &c, &err), GLIA_OK);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(glia_batch_next(&p, &rng), 64);
    ck_assert_int_eq(glia_batch_max(&p), 64);
    ck_assert_int_eq(glia_batch_end_epoch(&p, 1.0f), 0);
    c.size = 0;
    ck_assert_int_eq(glia_batch_init(&p, &c, &err), GLIA_EINVAL);
}
END_TEST

START_TEST(random_range)
{
    glia_err err = {0};
    glia_batch_policy p;
    glia_batch_config c = {GLIA_BATCH_RANDOM, 0, 16, 24, 2.0f, 1, 0.0f};
    glia_rng a, b;
    glia_rng_seed(&a, 5);
    glia_rng_seed(&b, 5);
    ck_assert_int_eq(glia_batch_init(&p, &c, &err), GLIA_OK);
    ck_assert_int_eq(glia_batch_max(&p), 24);
    int seen[25] = {0};
    for (int i = 0; i < 2000; i++) {
        int n = glia_batch_next(&p, &a);
        ck_assert_int_ge(n, 16);
        ck_assert_int_le(n, 24);
        ck_assert_int_eq(n, glia_batch_next(&p, &b)); /* same seed, same sizes */
        seen[n]++;
    }
    for (int n = 16; n <= 24; n++)
        ck_assert_msg(seen[n] > 100, "size %d drawn %d times of 2000", n, seen[n]);
    c.min = 30;
    ck_assert_int_eq(glia_batch_init(&p, &c, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "min"));
}
END_TEST

START_TEST(adaptive_growth)
{
    glia_err err = {0};
    glia_batch_policy p;
    glia_batch_config c = {GLIA_BATCH_ADAPTIVE, 32, 0, 100, 2.0f, 2, 0.01f};
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    ck_assert_int_eq(glia_batch_init(&p, &c, &err), GLIA_OK);
    ck_assert_int_eq(glia_batch_max(&p), 100);
    ck_assert_int_eq(glia_batch_next(&p, &rng), 32);
    ck_assert_int_eq(glia_batch_end_epoch(&p, 1.0f), 0);   /* first: the best so far */
    ck_assert_int_eq(glia_batch_end_epoch(&p, 0.9f), 0);   /* improved */
    ck_assert_int_eq(glia_batch_end_epoch(&p, 0.895f), 0); /* by less than min_delta: stale 1 */
    ck_assert_int_eq(glia_batch_end_epoch(&p, 0.95f), 1);  /* stale 2 = patience: grow */
    ck_assert_int_eq(glia_batch_next(&p, &rng), 64);
    ck_assert_int_eq(glia_batch_end_epoch(&p, 0.95f), 0);
    ck_assert_int_eq(glia_batch_end_epoch(&p, 0.95f), 1);
    ck_assert_int_eq(glia_batch_next(&p, &rng), 100); /* capped at max */
    ck_assert_int_eq(glia_batch_end_epoch(&p, 0.95f), 0);
    ck_assert_int_eq(glia_batch_end_epoch(&p, 0.95f), 0); /* at max: nothing left to grow */
    ck_assert_int_eq(glia_batch_next(&p, &rng), 100);
    c.growth = 1.0f;
    ck_assert_int_eq(glia_batch_init(&p, &c, &err), GLIA_EINVAL);
    c.growth = 2.0f;
    c.size = 200;
    ck_assert_int_eq(glia_batch_init(&p, &c, &err), GLIA_EINVAL);
}
END_TEST

START_TEST(policy_names)
{
    glia_err err = {0};
    glia_batch_kind k;
    ck_assert_int_eq(glia_batch_kind_parse("adaptive", &k, &err), GLIA_OK);
    ck_assert_int_eq(k, GLIA_BATCH_ADAPTIVE);
    ck_assert_int_eq(glia_batch_kind_parse("growing", &k, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "growing"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");
    tcase_add_test(tc, fixed);
    tcase_add_test(tc, random_range);
    tcase_add_test(tc, adaptive_growth);
    tcase_add_test(tc, policy_names);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
