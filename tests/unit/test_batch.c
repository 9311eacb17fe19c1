/*
 * test_batch.c - batch-size policies: fixed, random within [min, max] (every size
 * reachable, none outside, fixed by the seed), and adaptive (grows by `growth` after
 * `patience` epochs without an improvement larger than min_delta, capped at max).
 *
 * Also: the policy names, glia_batch_max (what buffers are sized for) for every kind, and one
 * case per configuration glia_batch_init must refuse.
 */
#include "core/train/batch.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static glia_batch_policy init_ok(glia_batch_config c)
{
    glia_batch_policy p;
    glia_err err = {0};
    ck_assert_msg(glia_batch_init(&p, &c, &err) == GLIA_OK, "%s", err.msg);
    return p;
}

/* ---- fixed --------------------------------------------------------------------------------- */

START_TEST(fixed_ignores_rng_and_losses)
{
    static const int sizes[] = {1, 7, 64, 100000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        glia_batch_policy p = init_ok((glia_batch_config){.kind = GLIA_BATCH_FIXED, .size = sizes[k]});
        glia_rng rng, before;
        glia_rng_seed(&rng, 99);
        before = rng;
        for (int e = 0; e < 6; e++) {
            for (int i = 0; i < 20; i++)
                ck_assert_int_eq(glia_batch_next(&p, &rng), sizes[k]);
            ck_assert_int_eq(glia_batch_end_epoch(&p, 10.0f + (float)e), 0); /* worse and worse */
        }
        ck_assert_int_eq(glia_batch_max(&p), sizes[k]);
        ck_assert_mem_eq(&rng, &before, sizeof rng); /* no draws: the batch stream stays put */
    }
}
END_TEST

/* ---- random -------------------------------------------------------------------------------- */

/* Every draw lies in [min, max], every size is drawn about equally often (chi-square), and the
 * seed fixes the sequence. */
START_TEST(random_uniform_in_range)
{
    static const int ranges[][2] = {{1, 2}, {16, 24}, {5, 5}, {32, 96}, {1, 1}};
    for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
        const int lo = ranges[k][0], hi = ranges[k][1], span = hi - lo + 1;
        glia_batch_policy p =
            init_ok((glia_batch_config){.kind = GLIA_BATCH_RANDOM, .size = 3, .min = lo, .max = hi});
        ck_assert_int_eq(glia_batch_max(&p), hi);
        glia_rng a, b;
        glia_rng_seed(&a, 1234 + k);
        glia_rng_seed(&b, 1234 + k);
        const int n = 1000 * span;
        int hist[128] = {0};
        for (int i = 0; i < n; i++) {
            int s = glia_batch_next(&p, &a);
            ck_assert_msg(s >= lo && s <= hi, "[%d, %d]: drew %d", lo, hi, s);
            ck_assert_int_eq(s, glia_batch_next(&p, &b));
            hist[s - lo]++;
        }
        double chi2 = 0;
        for (int v = 0; v < span; v++) {
            ck_assert_msg(hist[v] > 0, "[%d, %d]: size %d never drawn", lo, hi, lo + v);
            chi2 += (hist[v] - 1000.0) * (hist[v] - 1000.0) / 1000.0;
        }
        /* far beyond the 0.1% tail for up to 64 degrees of freedom (about 112) */
        ck_assert_msg(chi2 < 130.0, "[%d, %d]: chi-square %.1f over %d sizes", lo, hi, chi2, span);
        /* end_epoch has nothing to do for random */
        ck_assert_int_eq(glia_batch_end_epoch(&p, 1.0f), 0);
        ck_assert_int_eq(glia_batch_end_epoch(&p, 2.0f), 0);
        ck_assert_int_eq(glia_batch_end_epoch(&p, 3.0f), 0);
        ck_assert_int_eq(glia_batch_max(&p), hi);
    }
}
END_TEST

START_TEST(random_depends_on_seed)
{
    glia_batch_policy p = init_ok((glia_batch_config){.kind = GLIA_BATCH_RANDOM, .min = 1, .max = 1000});
    glia_rng a, b;
    glia_rng_seed(&a, 1);
    glia_rng_seed(&b, 2);
    int same = 0;
    for (int i = 0; i < 200; i++)
        same += glia_batch_next(&p, &a) == glia_batch_next(&p, &b);
    ck_assert_int_lt(same, 10);
}
END_TEST

/* ---- adaptive ------------------------------------------------------------------------------ */

/* Feeds losses and checks the size after each epoch and whether end_epoch reported growth. */
static void run_losses(glia_batch_policy *p, const float *loss, const int *size_after, int n,
                       const char *what)
{
    glia_rng rng;
    glia_rng_seed(&rng, 5);
    for (int e = 0; e < n; e++) {
        int before = glia_batch_next(p, &rng);
        int grew = glia_batch_end_epoch(p, loss[e]);
        int now = glia_batch_next(p, &rng);
        ck_assert_msg(now == size_after[e], "%s, epoch %d (loss %g): size %d, want %d", what, e,
                      (double)loss[e], now, size_after[e]);
        ck_assert_msg(grew == (now > before), "%s, epoch %d: end_epoch returned %d, size %d -> %d", what, e,
                      grew, before, now);
        ck_assert_int_eq(glia_batch_max(p), p->cfg.max);
    }
}

START_TEST(adaptive_grows_after_patience)
{
    glia_batch_policy p = init_ok((glia_batch_config){.kind = GLIA_BATCH_ADAPTIVE,
                                                      .size = 16,
                                                      .max = 1000,
                                                      .growth = 2.0f,
                                                      .patience = 3,
                                                      .min_delta = 0.0f});
    /* improvements reset the count; three stale epochs in a row grow the batch */
    const float loss[] = {2.0f,  1.5f, 1.6f, 1.5f, 1.4f, 1.4f, 1.45f,
                          1.41f, 1.3f, 1.3f, 1.3f, 1.3f, 1.3f, 1.3f};
    const int size[] = {16, 16, 16, 16, 16, 16, 16, 32, 32, 32, 32, 64, 64, 64};
    run_losses(&p, loss, size, (int)(sizeof loss / sizeof loss[0]), "patience 3");
}
END_TEST

START_TEST(adaptive_patience_one_and_cap)
{
    glia_batch_policy p = init_ok((glia_batch_config){.kind = GLIA_BATCH_ADAPTIVE,
                                                      .size = 20,
                                                      .max = 100,
                                                      .growth = 2.0f,
                                                      .patience = 1,
                                                      .min_delta = 0.0f});
    /* every stale epoch grows: 20, 40, 80, then capped at 100 and stays there */
    const float loss[] = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.5f, 0.6f};
    const int size[] = {20, 40, 80, 100, 100, 100, 100};
    run_losses(&p, loss, size, (int)(sizeof loss / sizeof loss[0]), "patience 1");
}
END_TEST

/* An improvement must beat the best by more than min_delta; a worse epoch does not move the
 * best (the next epoch is compared with the best, not with the last). */
START_TEST(adaptive_min_delta)
{
    glia_batch_policy p = init_ok((glia_batch_config){.kind = GLIA_BATCH_ADAPTIVE,
                                                      .size = 8,
                                                      .max = 64,
                                                      .growth = 2.0f,
                                                      .patience = 2,
                                                      .min_delta = 0.25f});
    const float loss[] = {
        1.0f,  /* best 1.0 */
        0.75f, /* exactly min_delta better: not more than it - stale 1 */
        0.7f,  /* 0.3 better than 1.0: improvement, best 0.7 */
        0.5f,  /* 0.2 better: stale 1 */
        2.0f,  /* worse: stale 2 - grow to 16 */
        0.44f, /* 0.26 better than the best 0.7 (not than the last, 2.0): improvement */
        0.2f,  /* 0.24 better: stale 1 */
        0.19f, /* stale 2 - grow to 32 */
    };
    const int size[] = {8, 8, 8, 8, 16, 16, 16, 32};
    run_losses(&p, loss, size, (int)(sizeof loss / sizeof loss[0]), "min_delta 0.25");
}
END_TEST

/* The size is multiplied by growth and rounded up, so a factor such as 1.5 always grows. */
START_TEST(adaptive_fractional_growth)
{
    glia_batch_policy p = init_ok((glia_batch_config){.kind = GLIA_BATCH_ADAPTIVE,
                                                      .size = 10,
                                                      .max = 40,
                                                      .growth = 1.5f,
                                                      .patience = 1,
                                                      .min_delta = 0.0f});
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    glia_batch_end_epoch(&p, 1.0f);
    int prev = glia_batch_next(&p, &rng), steps = 0;
    ck_assert_int_eq(prev, 10);
    while (glia_batch_end_epoch(&p, 1.0f)) {
        int now = glia_batch_next(&p, &rng);
        int lo = (int)(prev * 1.5f), hi = (int)ceilf(prev * 1.5f);
        ck_assert_int_ge(now, lo < 40 ? lo : 40);
        ck_assert_int_le(now, hi < 40 ? hi : 40);
        prev = now;
        ck_assert_int_lt(++steps, 10);
    }
    ck_assert_int_eq(prev, 40); /* 10, 15, 23 (or 22), 35 (or 33), then the cap */
    ck_assert_int_eq(glia_batch_next(&p, &rng), 40);

    /* a growth barely above 1 still moves a small batch */
    p = init_ok((glia_batch_config){.kind = GLIA_BATCH_ADAPTIVE,
                                    .size = 3,
                                    .max = 10,
                                    .growth = 1.01f,
                                    .patience = 1,
                                    .min_delta = 0.0f});
    glia_batch_end_epoch(&p, 1.0f);
    ck_assert_int_eq(glia_batch_end_epoch(&p, 1.0f), 1);
    ck_assert_int_eq(glia_batch_next(&p, &rng), 4);
}
END_TEST

/* Starting at max there is nothing to grow; a loss that is not finite (no validation set, a
 * diverged run) is not an epoch without improvement. */
START_TEST(adaptive_edges)
{
    glia_rng rng;
    glia_rng_seed(&rng, 3);
    glia_batch_policy p = init_ok((glia_batch_config){.kind = GLIA_BATCH_ADAPTIVE,
                                                      .size = 50,
                                                      .max = 50,
                                                      .growth = 2.0f,
                                                      .patience = 1,
                                                      .min_delta = 0.0f});
    for (int e = 0; e < 5; e++)
        ck_assert_int_eq(glia_batch_end_epoch(&p, 1.0f), 0);
    ck_assert_int_eq(glia_batch_next(&p, &rng), 50);

    p = init_ok((glia_batch_config){
        .kind = GLIA_BATCH_ADAPTIVE, .size = 4, .max = 64, .growth = 2.0f, .patience = 2, .min_delta = 0.0f});
    ck_assert_int_eq(glia_batch_end_epoch(&p, 1.0f), 0);
    for (int e = 0; e < 5; e++) {
        ck_assert_int_eq(glia_batch_end_epoch(&p, NAN), 0);
        ck_assert_int_eq(glia_batch_end_epoch(&p, INFINITY), 0);
    }
    ck_assert_int_eq(glia_batch_next(&p, &rng), 4);
    ck_assert_int_eq(glia_batch_end_epoch(&p, 1.0f), 0); /* stale 1 */
    ck_assert_int_eq(glia_batch_end_epoch(&p, 1.0f), 1); /* stale 2: grow */
    ck_assert_int_eq(glia_batch_next(&p, &rng), 8);

    /* init resets everything: a policy can be reused */
    p = init_ok((glia_batch_config){
        .kind = GLIA_BATCH_ADAPTIVE, .size = 4, .max = 64, .growth = 2.0f, .patience = 2, .min_delta = 0.0f});
    ck_assert_int_eq(glia_batch_next(&p, &rng), 4);
    ck_assert_int_eq(p.stale, 0);
    ck_assert_int_eq(p.have_best, 0);
}
END_TEST

/* ---- names and invalid configurations ------------------------------------------------------ */

START_TEST(kind_names)
{
    static const struct {
        const char *name;
        glia_batch_kind kind;
    } good[] = {
        {"fixed", GLIA_BATCH_FIXED}, {"random", GLIA_BATCH_RANDOM}, {"adaptive", GLIA_BATCH_ADAPTIVE}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        glia_batch_kind k = (glia_batch_kind)-1;
        glia_err err = {0};
        ck_assert_int_eq(glia_batch_kind_parse(good[i].name, &k, &err), GLIA_OK);
        ck_assert_int_eq(k, good[i].kind);
    }
    static const char *const bad[] = {"", "Fixed", "RANDOM", "adaptive ", "grow", "dynamic"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        glia_batch_kind k = GLIA_BATCH_RANDOM;
        glia_err err = {0};
        ck_assert_int_eq(glia_batch_kind_parse(bad[i], &k, &err), GLIA_EINVAL);
        char quoted[32];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        ck_assert_msg(strstr(err.msg, quoted) != NULL, "message does not name %s: %s", quoted, err.msg);
        ck_assert_msg(strstr(err.msg, "adaptive") != NULL, "message lacks the known names: %s", err.msg);
        ck_assert_int_eq(k, GLIA_BATCH_RANDOM);
    }
    glia_batch_kind k;
    ck_assert_int_eq(glia_batch_kind_parse("x", &k, NULL), GLIA_EINVAL);
}
END_TEST

typedef struct {
    const char *what;
    glia_batch_config cfg;
    const char *msg;
} bad_config;

static const bad_config bad_configs[] = {
    {"fixed size 0", {.kind = GLIA_BATCH_FIXED, .size = 0}, "size must be >= 1"},
    {"fixed negative size", {.kind = GLIA_BATCH_FIXED, .size = -8}, "size must be >= 1"},
    {"random min 0", {.kind = GLIA_BATCH_RANDOM, .min = 0, .max = 10}, "1 <= min <= max"},
    {"random max < min", {.kind = GLIA_BATCH_RANDOM, .min = 20, .max = 10}, "min 20, max 10"},
    {"random negative", {.kind = GLIA_BATCH_RANDOM, .min = -5, .max = -1}, "1 <= min <= max"},
    {"adaptive size 0",
     {.kind = GLIA_BATCH_ADAPTIVE, .size = 0, .max = 64, .growth = 2, .patience = 1},
     "size 0"},
    {"adaptive size > max",
     {.kind = GLIA_BATCH_ADAPTIVE, .size = 128, .max = 64, .growth = 2, .patience = 1},
     "size 128, max 64"},
    {"adaptive growth 1",
     {.kind = GLIA_BATCH_ADAPTIVE, .size = 8, .max = 64, .growth = 1, .patience = 1},
     "growth > 1"},
    {"adaptive growth < 1",
     {.kind = GLIA_BATCH_ADAPTIVE, .size = 8, .max = 64, .growth = 0.5f, .patience = 1},
     "growth > 1"},
    {"adaptive growth NaN",
     {.kind = GLIA_BATCH_ADAPTIVE, .size = 8, .max = 64, .growth = NAN, .patience = 1},
     "growth > 1"},
    {"adaptive patience 0",
     {.kind = GLIA_BATCH_ADAPTIVE, .size = 8, .max = 64, .growth = 2, .patience = 0},
     "patience >= 1"},
    {"adaptive negative min_delta",
     {.kind = GLIA_BATCH_ADAPTIVE, .size = 8, .max = 64, .growth = 2, .patience = 1, .min_delta = -0.1f},
     "min_delta >= 0"},
    {"adaptive NaN min_delta",
     {.kind = GLIA_BATCH_ADAPTIVE, .size = 8, .max = 64, .growth = 2, .patience = 1, .min_delta = NAN},
     "min_delta >= 0"},
    {"unknown kind", {.kind = (glia_batch_kind)7, .size = 8}, "unknown policy"},
};
enum { N_BAD_CONFIGS = sizeof bad_configs / sizeof bad_configs[0] };

START_TEST(rejects_invalid_config)
{
    const bad_config *b = &bad_configs[_i];
    glia_batch_policy p;
    glia_err err = {0};
    ck_assert_msg(glia_batch_init(&p, &b->cfg, &err) == GLIA_EINVAL, "%s: accepted", b->what);
    ck_assert_int_eq(err.code, GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, b->msg) != NULL, "%s: message lacks '%s': %s", b->what, b->msg, err.msg);
    ck_assert_int_eq(glia_batch_init(&p, &b->cfg, NULL), GLIA_EINVAL);
}
END_TEST

/* Fields a kind does not use are not checked for it. */
START_TEST(accepts_unused_fields)
{
    init_ok((glia_batch_config){.kind = GLIA_BATCH_FIXED, .size = 32, .min = -1, .max = -1, .growth = 0});
    init_ok((glia_batch_config){.kind = GLIA_BATCH_RANDOM, .size = 0, .min = 1, .max = 1, .growth = 0});
    init_ok((glia_batch_config){
        .kind = GLIA_BATCH_ADAPTIVE, .size = 1, .min = 0, .max = 1, .growth = 1.001f, .patience = 1});
}
END_TEST

/* ---- first checks (kept from the original suite) -------------------------------------------- */

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

static Suite *suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");
    tcase_add_test(tc, fixed_ignores_rng_and_losses);
    tcase_add_test(tc, random_uniform_in_range);
    tcase_add_test(tc, random_depends_on_seed);
    tcase_add_test(tc, adaptive_grows_after_patience);
    tcase_add_test(tc, adaptive_patience_one_and_cap);
    tcase_add_test(tc, adaptive_min_delta);
    tcase_add_test(tc, adaptive_fractional_growth);
    tcase_add_test(tc, adaptive_edges);
    tcase_add_test(tc, kind_names);
    tcase_add_loop_test(tc, rejects_invalid_config, 0, N_BAD_CONFIGS);
    tcase_add_test(tc, accepts_unused_fields);
    tcase_add_test(tc, fixed);
    tcase_add_test(tc, random_range);
    tcase_add_test(tc, adaptive_growth);
    tcase_add_test(tc, policy_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return glia_check_run(suite());
}
