/*
 * panel.c - see panel.h.
 *
 * The block shapes are compile-time constants (always_inline with literal row counts) so that
 * the compiler keeps the 2 x ROWS accumulators in registers and unrolls the row loop: 24
 * accumulators, the panel's two vectors and one broadcast fit AVX-512's 32 registers. Panels
 * go outermost, so one panel (32 x k floats: 32 KB at k = 256, 128 KB at 1024) stays in L1/L2
 * while every row block passes over it, and the weights stream from memory once per call.
 */
#include "core/nn/panel.h"
#include "core/nn/vmath.h"

enum { ROWS = 12 };

static int enabled = 1;

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86 1

__attribute__((target("avx512f"), always_inline)) static inline void block(const float *x, int k,
                                                                           const float *wp, const float *b,
                                                                           float *y, int ldy, __mmask16 m0,
                                                                           __mmask16 m1, const int rows)
{
    __m512 a0[ROWS], a1[ROWS];
    for (int r = 0; r < rows; r++) {
        a0[r] = _mm512_setzero_ps();
        a1[r] = _mm512_setzero_ps();
    }
    for (int i = 0; i < k; i++) {
        const __m512 w0 = _mm512_load_ps(wp + (size_t)i * GLIA_PANEL_COLS),
                     w1 = _mm512_load_ps(wp + (size_t)i * GLIA_PANEL_COLS + 16);
        for (int r = 0; r < rows; r++) {
            const __m512 xb = _mm512_set1_ps(x[(size_t)r * (size_t)k + (size_t)i]);
            a0[r] = _mm512_fmadd_ps(xb, w0, a0[r]);
            a1[r] = _mm512_fmadd_ps(xb, w1, a1[r]);
        }
    }
    /* the bias last, as sgemm adds the product to a C that holds it */
    const __m512 b0 = b ? _mm512_maskz_loadu_ps(m0, b) : _mm512_setzero_ps(),
                 b1 = b ? _mm512_maskz_loadu_ps(m1, b + 16) : _mm512_setzero_ps();
    for (int r = 0; r < rows; r++) {
        _mm512_mask_storeu_ps(y + (size_t)r * (size_t)ldy, m0, _mm512_add_ps(b0, a0[r]));
        _mm512_mask_storeu_ps(y + (size_t)r * (size_t)ldy + 16, m1, _mm512_add_ps(b1, a1[r]));
    }
}

__attribute__((target("avx512f"))) static void linear_avx512(const float *x, int m, int k, const float *wp,
                                                             const float *b, int n, float *y, int ldy)
{
    for (int j0 = 0; j0 < n; j0 += GLIA_PANEL_COLS) {
        const int nc = n - j0 < GLIA_PANEL_COLS ? n - j0 : GLIA_PANEL_COLS;
        const __mmask16 m0 = (__mmask16)(nc >= 16 ? 0xffffu : (1u << nc) - 1u),
                        m1 = (__mmask16)(nc >= 32  ? 0xffffu
                                         : nc > 16 ? (1u << (nc - 16)) - 1u
                                                   : 0u);
        const float *pw = wp + (size_t)j0 * (size_t)k, *bj = b ? b + j0 : NULL;
        for (int r0 = 0; r0 < m; r0 += ROWS) {
            const float *xr = x + (size_t)r0 * (size_t)k;
            float *yr = y + (size_t)r0 * (size_t)ldy + j0;
            switch (m - r0 < ROWS ? m - r0 : ROWS) {
            case 12: block(xr, k, pw, bj, yr, ldy, m0, m1, 12); break;
            case 11: block(xr, k, pw, bj, yr, ldy, m0, m1, 11); break;
            case 10: block(xr, k, pw, bj, yr, ldy, m0, m1, 10); break;
            case 9: block(xr, k, pw, bj, yr, ldy, m0, m1, 9); break;
            case 8: block(xr, k, pw, bj, yr, ldy, m0, m1, 8); break;
            case 7: block(xr, k, pw, bj, yr, ldy, m0, m1, 7); break;
            case 6: block(xr, k, pw, bj, yr, ldy, m0, m1, 6); break;
            case 5: block(xr, k, pw, bj, yr, ldy, m0, m1, 5); break;
            case 4: block(xr, k, pw, bj, yr, ldy, m0, m1, 4); break;
            case 3: block(xr, k, pw, bj, yr, ldy, m0, m1, 3); break;
            case 2: block(xr, k, pw, bj, yr, ldy, m0, m1, 2); break;
            default: block(xr, k, pw, bj, yr, ldy, m0, m1, 1); break;
            }
        }
    }
}
#endif

int glia_panel_available(void)
{
#ifdef HAVE_X86
    return enabled && glia_vmath_available(GLIA_VMATH_AVX512);
#else
    return 0;
#endif
}

void glia_panel_enable(int on)
{
    enabled = on != 0;
}

size_t glia_panel_floats(int n, int k)
{
    return ((size_t)n + GLIA_PANEL_COLS - 1) / GLIA_PANEL_COLS * GLIA_PANEL_COLS * (size_t)k;
}

void glia_panel_pack(const float *w, int n, int k, size_t ldw, float *wp)
{
    /* row by row: each weight row is read where it lies and written with a stride of one
     * panel row (128 bytes) into a panel that stays in L1/L2 meanwhile */
    for (int j0 = 0; j0 < n; j0 += GLIA_PANEL_COLS) {
        float *pw = wp + (size_t)j0 * (size_t)k;
        for (int c = 0; c < GLIA_PANEL_COLS; c++) {
            const float *row = j0 + c < n ? w + (size_t)(j0 + c) * ldw : NULL;
            for (int i = 0; i < k; i++)
                pw[(size_t)i * GLIA_PANEL_COLS + (size_t)c] = row ? row[i] : 0.0f;
        }
    }
}

void glia_panel_linear(const float *x, int m, int k, const float *wp, const float *b, int n, float *y,
                       int ldy)
{
#ifdef HAVE_X86
    if (glia_panel_available()) {
        linear_avx512(x, m, k, wp, b, n, y, ldy);
        return;
    }
#endif
    /* callers check glia_panel_available(); a plain loop keeps a wrong call correct */
    for (int r = 0; r < m; r++)
        for (int j = 0; j < n; j++) {
            const float *pw = wp + (size_t)(j / GLIA_PANEL_COLS) * GLIA_PANEL_COLS * (size_t)k +
                              (size_t)(j % GLIA_PANEL_COLS);
            float s = 0.0f;
            for (int i = 0; i < k; i++)
                s += x[(size_t)r * (size_t)k + (size_t)i] * pw[(size_t)i * GLIA_PANEL_COLS];
            y[(size_t)r * (size_t)ldy + j] = (b ? b[j] : 0.0f) + s;
        }
}
