/*
 * test_panel.c - core/nn/panel.h: the packed layout (every weight where the kernel reads it,
 * zeros past n), and y = x w^T + b on the AVX-512 path (when this CPU has it) and on the plain
 * loop against a double-precision reference: row counts 0..27 (two full 12-row blocks and every
 * remainder), column counts with and without a partial last panel (and one below 16), k of 1
 * and up, a weight with rows longer than k (ldw > k: the cross-attention's q rows of in_proj),
 * with and without bias, rows of y ldy apart with the columns past n untouched.
 */
#include "core/nn/panel.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static uint32_t seed = 4242u;

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

/* |got - want| within a float sum's rounding of k products of magnitude <= 1 */
static void check_case(int m, int k, int n, int with_bias)
{
    const int ldy = n + 3, ldw = k + 5;
    float *x = random_floats((size_t)m * k), *w = random_floats((size_t)n * ldw),
          *b = random_floats((size_t)n);
    float *wp = packed(w, n, k, (size_t)ldw);
    float *y = malloc(sizeof *y * (size_t)(m ? m : 1) * ldy);
    ck_assert_ptr_nonnull(y);
    for (int i = 0; i < m * ldy; i++)
        y[i] = 777.0f;
    glia_panel_linear(x, m, k, wp, with_bias ? b : NULL, n, y, ldy);
    const double tol = 1e-6 * k + 1e-6;
    for (int r = 0; r < m; r++) {
        for (int j = 0; j < n; j++) {
            double want = with_bias ? b[j] : 0.0;
            for (int i = 0; i < k; i++)
                want += (double)x[(size_t)r * k + i] * (double)w[(size_t)j * ldw + i];
            ck_assert_msg(fabs(y[(size_t)r * ldy + j] - want) <= tol,
                          "m %d k %d n %d: y[%d][%d] = %g, want %g", m, k, n, r, j,
                          (double)y[(size_t)r * ldy + j], want);
        }
        for (int j = n; j < ldy; j++)
            ck_assert_msg(y[(size_t)r * ldy + j] == 777.0f, "m %d k %d n %d: wrote past column n", m, k, n);
    }
    free(x);
    free(w);
    free(b);
    free(wp);
    free(y);
}

static void check_all_shapes(void)
{
    static const int ks[] = {1, 2, 17, 64, 300};
    static const int ns[] = {1, 5, 16, 31, 32, 33, 70, 96};
    for (int m = 0; m <= 27; m++)
        for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++)
            for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++)
                check_case(m, ks[a], ns[c], (int)((m + a + c) % 2));
}

START_TEST(layout_holds_every_weight_and_zeros_past_n)
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

START_TEST(best_path_matches_reference)
{
    glia_panel_enable(1);
    check_all_shapes();
}
END_TEST

START_TEST(plain_loop_matches_reference)
{
    glia_panel_enable(0);
    ck_assert_int_eq(glia_panel_available(), 0);
    check_all_shapes();
    glia_panel_enable(1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("panel");
    TCase *tc = tcase_create("panel");
    tcase_add_test(tc, layout_holds_every_weight_and_zeros_past_n);
    tcase_add_test(tc, best_path_matches_reference);
    tcase_add_test(tc, plain_loop_matches_reference);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
