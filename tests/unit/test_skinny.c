/*
 * test_skinny.c - core/nn/skinny.h: on every path this CPU has (AVX-512, AVX2, and the plain
 * loop when both are off), y = x w^T + b for row counts 1..9 (full four-row blocks and each
 * remainder), column counts with and without a remainder of 4, and k with and without a tail
 * of 16 or 8, against a double-precision reference; with and without bias; rows of y ldy apart
 * (the columns past n untouched); and glia_linear_forward_few, which routes few rows here,
 * against glia_linear_forward. And core/nn/panel.h (the kernel on weights packed into 32-column
 * panels): the layout (every weight where the kernel reads it, zeros past n), and the AVX-512
 * path (when this CPU has it) and the plain loop against the same reference for 0..27 rows
 * (full 12-row blocks and each remainder), partial last panels, and weight rows longer than k.
 */
#include "core/nn/kernels.h"
#include "core/nn/panel.h"
#include "core/nn/skinny.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static uint32_t seed = 12345u;

static float uniform(void)
{
    seed = seed * 1664525u + 1013904223u;
    return (float)((seed >> 8) & 0xffffff) / (float)0x1000000 * 2.0f - 1.0f;
}

static float *random_floats(size_t n)
{
    float *p = malloc(sizeof *p * (n ? n : 1));
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++)
        p[i] = uniform();
    return p;
}

static float *packed(const float *w, int n, int k, size_t ldw)
{
    void *p = NULL;
    ck_assert_int_eq(posix_memalign(&p, 64, sizeof(float) * glia_panel_floats(n, k)), 0);
    glia_panel_pack(w, n, k, ldw, p);
    return p;
}

/* Which kernel check_case runs: skinny on w as it lies, or panel on w packed first. */
static int use_panel;

/* |got - want| within a float sum's rounding of k products of magnitude <= 1; w's rows are
 * longer than k for panel (ldw > k: what its packing reads, the cross-attention's q rows) */
static void check_case(int m, int k, int n, int with_bias)
{
    const int ldy = n + 3, ldw = use_panel ? k + 5 : k;
    float *x = random_floats((size_t)m * k), *w = random_floats((size_t)n * ldw),
          *b = random_floats((size_t)n);
    float *y = malloc(sizeof *y * (size_t)(m ? m : 1) * ldy);
    ck_assert_ptr_nonnull(y);
    for (int i = 0; i < m * ldy; i++)
        y[i] = 777.0f;
    if (use_panel) {
        float *wp = packed(w, n, k, (size_t)ldw);
        glia_panel_linear(x, m, k, wp, with_bias ? b : NULL, n, y, ldy);
        free(wp);
    } else {
        glia_skinny_linear(x, m, k, w, with_bias ? b : NULL, n, y, ldy);
    }
    const double tol = 1e-6 * k + 1e-6;
    for (int r = 0; r < m; r++) {
        for (int j = 0; j < n; j++) {
            double want = with_bias ? b[j] : 0.0;
            for (int i = 0; i < k; i++)
                want += (double)x[(size_t)r * k + i] * (double)w[(size_t)j * ldw + i];
            ck_assert_msg(fabs(y[(size_t)r * ldy + j] - want) <= tol,
                          "%s m %d k %d n %d: y[%d][%d] = %g, want %g", use_panel ? "panel" : "skinny", m, k,
                          n, r, j, (double)y[(size_t)r * ldy + j], want);
        }
        for (int j = n; j < ldy; j++)
            ck_assert_msg(y[(size_t)r * ldy + j] == 777.0f, "m %d k %d n %d: wrote past column n", m, k, n);
    }
    free(x);
    free(w);
    free(b);
    free(y);
}

static void check_all_shapes(void)
{
    static const int ks[] = {1, 7, 8, 15, 16, 17, 33, 256};
    static const int ns[] = {1, 3, 4, 5, 8, 13};
    for (int m = 0; m <= 9; m++)
        for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++)
            for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++)
                check_case(m, ks[a], ns[c], (int)((m + a + c) % 2));
}

START_TEST(best_path_matches_reference)
{
    glia_skinny_enable(1);
    check_all_shapes();
}
END_TEST

START_TEST(avx2_path_matches_reference)
{
    glia_skinny_enable(2);
    if (!glia_skinny_available()) {
        glia_skinny_enable(1);
        return; /* no AVX2 here: nothing to check */
    }
    check_all_shapes();
    glia_skinny_enable(1);
}
END_TEST

START_TEST(plain_loop_matches_reference)
{
    glia_skinny_enable(0);
    ck_assert_int_eq(glia_skinny_available(), 0);
    check_all_shapes();
    glia_skinny_enable(1);
}
END_TEST

START_TEST(few_rows_agree_with_gemm)
{
    const int k = 48, n = 37;
    for (int mode = 0; mode <= 2; mode++) {
        glia_skinny_enable(mode);
        for (int m = 1; m <= GLIA_LINEAR_SKINNY_ROWS + 2; m++) {
            float *x = random_floats((size_t)m * k), *w = random_floats((size_t)n * k), *b = random_floats(n);
            float *y = random_floats((size_t)m * n), *ref = random_floats((size_t)m * n);
            glia_linear_forward_few(x, m, k, w, b, n, y, n);
            glia_linear_forward(x, m, k, w, b, n, ref, n);
            for (int i = 0; i < m * n; i++)
                ck_assert_msg(fabsf(y[i] - ref[i]) <= 1e-4f, "mode %d m %d: %g vs %g", mode, m, (double)y[i],
                              (double)ref[i]);
            free(x);
            free(w);
            free(b);
            free(y);
            free(ref);
        }
    }
    glia_skinny_enable(1);
}
END_TEST

/* ---- panel.h: the packed layout and the kernel over 12-row blocks ---- */

START_TEST(panel_layout_holds_every_weight_and_zeros_past_n)
{
    const int n = 37, k = 5, ldw = 9;
    float *w = random_floats((size_t)n * ldw), *wp = packed(w, n, k, ldw);
    const size_t floats = glia_panel_floats(n, k);
    ck_assert_uint_eq(floats, (size_t)64 * k);
    for (size_t p = 0; p < floats; p++) {
        const size_t panel = p / ((size_t)GLIA_PANEL_COLS * k), in_panel = p % ((size_t)GLIA_PANEL_COLS * k);
        const int j = (int)(panel * GLIA_PANEL_COLS + in_panel % GLIA_PANEL_COLS),
                  i = (int)(in_panel / GLIA_PANEL_COLS);
        const float want = j < n ? w[(size_t)j * ldw + i] : 0.0f;
        ck_assert_msg(wp[p] == want, "packed[%zu] (column %d, input %d) = %g, want %g", p, j, i,
                      (double)wp[p], (double)want);
    }
    free(w);
    free(wp);
}
END_TEST

/* rows 0..27: two full 12-row blocks and every remainder; columns with and without a partial
 * last panel (and one below 16) */
static void check_panel_shapes(void)
{
    static const int ks[] = {1, 2, 17, 64, 300};
    static const int ns[] = {1, 5, 16, 31, 32, 33, 70, 96};
    use_panel = 1;
    for (int m = 0; m <= 27; m++)
        for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++)
            for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++)
                check_case(m, ks[a], ns[c], (int)((m + a + c) % 2));
    use_panel = 0;
}

START_TEST(panel_best_path_matches_reference)
{
    glia_panel_enable(1);
    check_panel_shapes();
}
END_TEST

START_TEST(panel_plain_loop_matches_reference)
{
    glia_panel_enable(0);
    ck_assert_int_eq(glia_panel_available(), 0);
    check_panel_shapes();
    glia_panel_enable(1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("skinny");
    TCase *tc = tcase_create("skinny");
    tcase_add_test(tc, best_path_matches_reference);
    tcase_add_test(tc, avx2_path_matches_reference);
    tcase_add_test(tc, plain_loop_matches_reference);
    tcase_add_test(tc, few_rows_agree_with_gemm);
    tcase_add_test(tc, panel_layout_holds_every_weight_and_zeros_past_n);
    tcase_add_test(tc, panel_best_path_matches_reference);
    tcase_add_test(tc, panel_plain_loop_matches_reference);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
