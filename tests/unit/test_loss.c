/*
 * test_loss.c - softmax cross-entropy against nn.CrossEntropyLoss (values printed by
 * PyTorch 1.13 in double), its gradient against central finite differences, label
 * smoothing, ignore_index, and stability for huge logits.
 */
#include "core/nn/kernels.h"
#include "core/nn/loss.h"
#include "tests/support/check_main.h"

#include <math.h>

static const float Z[9] = {2.0f, -1.0f, 0.5f, 0.1f, 0.2f, -3.0f, 10.0f, -10.0f, 0.0f};

START_TEST(values_match_pytorch)
{
    const int32_t y[3] = {0, 2, 1}, y_ign[3] = {0, -100, 1};
    int counted = 0;
    /* F.cross_entropy(z, y, label_smoothing=ls[, ignore_index=-100]) */
    ck_assert_double_eq_tol(glia_xent(Z, y, 3, 3, 0.0f, -100, NULL, NULL), 8.03564230537665, 1e-6);
    ck_assert_double_eq_tol(glia_xent(Z, y, 3, 3, 0.2f, -100, NULL, NULL), 7.328975638709983, 1e-6);
    ck_assert_double_eq_tol(glia_xent(Z, y_ign, 3, 3, 0.2f, -100, NULL, &counted), 9.270678348808717, 1e-6);
    ck_assert_int_eq(counted, 2);
    const int32_t none[1] = {-100};
    ck_assert_double_eq(glia_xent(Z, none, 1, 3, 0.0f, -100, NULL, &counted), 0.0);
    ck_assert_int_eq(counted, 0);
}
END_TEST

START_TEST(gradient_matches_finite_differences)
{
    const int32_t y[3] = {0, -100, 1};
    const float ls[2] = {0.0f, 0.1f};
    for (int s = 0; s < 2; s++) {
        float z[9], dz[9];
        for (int i = 0; i < 9; i++)
            z[i] = Z[i] * 0.3f;
        glia_xent(z, y, 3, 3, ls[s], -100, dz, NULL);
        for (int i = 0; i < 9; i++) {
            const float h = 1e-2f, keep = z[i];
            z[i] = keep + h;
            double lp = glia_xent(z, y, 3, 3, ls[s], -100, NULL, NULL);
            z[i] = keep - h;
            double lm = glia_xent(z, y, 3, 3, ls[s], -100, NULL, NULL);
            z[i] = keep;
            ck_assert_msg(fabs(dz[i] - (lp - lm) / (2 * h)) < 1e-4, "smoothing %g, logit %d: %g vs %g", ls[s],
                          i, dz[i], (lp - lm) / (2 * h));
        }
        for (int j = 3; j < 6; j++)
            ck_assert_float_eq(dz[j], 0.0f); /* the ignored row */
    }
}
END_TEST

START_TEST(huge_logits_stay_finite)
{
    const float z[3] = {1e30f, -1e30f, 0.0f};
    const int32_t y[1] = {1};
    float dz[3], p[3];
    double l = glia_xent(z, y, 1, 3, 0.0f, -100, dz, NULL);
    ck_assert(isfinite(l) && l > 1e29);
    for (int j = 0; j < 3; j++)
        ck_assert(isfinite(dz[j]));
    glia_softmax(z, p, 1, 3);
    ck_assert_float_eq(p[0], 1.0f);
    ck_assert_float_eq(p[1], 0.0f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("loss");
    tcase_add_test(tc, values_match_pytorch);
    tcase_add_test(tc, gradient_matches_finite_differences);
    tcase_add_test(tc, huge_logits_stay_finite);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
