/*
 * skinny.c - see skinny.h.
 *
 * A block is ROWS input rows x 4 output columns: per step of 16 (or 8) along k, four weight
 * vectors and ROWS input vectors are loaded and ROWS x 4 fused multiply-adds done, so each
 * weight element is loaded once per block and each input element once per 4 columns. The
 * 16 accumulators fit AVX-512's 32 registers with room for the loads (AVX2's 16 take the
 * 2-row blocks only when spilling is to be avoided, which the compiler decides). Each
 * accumulator is reduced to its dot product at the end of the block, and the bias added last,
 * as sgemm adds the product to a C that holds the bias.
 *
 * The block shapes are compile-time constants (always_inline with literal arguments) so that
 * the compiler keeps the accumulators in registers and unrolls the row and column loops.
 */
#include "core/nn/skinny.h"
#include "core/nn/vmath.h"

#include <stddef.h>

enum { COLS = 4, MAX_ROWS = 4 };

static int mode = 1; /* 0 off, 1 the best path, 2 AVX2 only */

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86 1

__attribute__((target("avx512f"), always_inline)) static inline void block16(const float *x, int k,
                                                                             const float *w, const float *b,
                                                                             float *y, int ldy,
                                                                             const int rows, const int cols)
{
    __m512 acc[MAX_ROWS][COLS];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            acc[r][c] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= k; i += 16) {
        __m512 wv[COLS];
        for (int c = 0; c < cols; c++)
            wv[c] = _mm512_loadu_ps(w + (size_t)c * (size_t)k + i);
        for (int r = 0; r < rows; r++) {
            const __m512 xv = _mm512_loadu_ps(x + (size_t)r * (size_t)k + i);
            for (int c = 0; c < cols; c++)
                acc[r][c] = _mm512_fmadd_ps(wv[c], xv, acc[r][c]);
        }
    }
    if (i < k) {
        const __mmask16 m = (__mmask16)((1u << (k - i)) - 1u);
        __m512 wv[COLS];
        for (int c = 0; c < cols; c++)
            wv[c] = _mm512_maskz_loadu_ps(m, w + (size_t)c * (size_t)k + i);
        for (int r = 0; r < rows; r++) {
            const __m512 xv = _mm512_maskz_loadu_ps(m, x + (size_t)r * (size_t)k + i);
            for (int c = 0; c < cols; c++)
                acc[r][c] = _mm512_fmadd_ps(wv[c], xv, acc[r][c]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            y[(size_t)r * (size_t)ldy + c] = (b ? b[c] : 0.0f) + _mm512_reduce_add_ps(acc[r][c]);
}

/* Columns four at a time outermost, and for each four columns every block of up to four rows:
 * the four weight rows (4 x k floats) stay in L1 while the row blocks pass, so w streams from
 * memory once per call whatever the row count (rows outermost read it once per four rows). The
 * last n % 4 columns go one row at a time. Each output is the same block's sum either way. */
#define SKINNY_DRIVER(name, target_isa, block)                                                               \
    __attribute__((target(target_isa))) static void name(const float *x, int m, int k, const float *w,       \
                                                         const float *b, int n, float *y, int ldy)           \
    {                                                                                                        \
        int j = 0;                                                                                           \
        for (; j + COLS <= n; j += COLS) {                                                                   \
            const float *wj = w + (size_t)j * (size_t)k, *bj = b ? b + j : NULL;                             \
            for (int r0 = 0; r0 < m; r0 += MAX_ROWS) {                                                       \
                const float *xr = x + (size_t)r0 * (size_t)k;                                                \
                float *yr = y + (size_t)r0 * (size_t)ldy + j;                                                \
                switch (m - r0 < MAX_ROWS ? m - r0 : MAX_ROWS) {                                             \
                case 4: block(xr, k, wj, bj, yr, ldy, 4, COLS); break;                                       \
                case 3: block(xr, k, wj, bj, yr, ldy, 3, COLS); break;                                       \
                case 2: block(xr, k, wj, bj, yr, ldy, 2, COLS); break;                                       \
                default: block(xr, k, wj, bj, yr, ldy, 1, COLS); break;                                      \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
        for (; j < n; j++)                                                                                   \
            for (int r = 0; r < m; r++)                                                                      \
                block(x + (size_t)r * (size_t)k, k, w + (size_t)j * (size_t)k, b ? b + j : NULL,             \
                      y + (size_t)r * (size_t)ldy + j, ldy, 1, 1);                                           \
    }
SKINNY_DRIVER(linear_avx512, "avx512f", block16)

__attribute__((target("avx2,fma"), always_inline)) static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"), always_inline)) static inline void block8(const float *x, int k,
                                                                             const float *w, const float *b,
                                                                             float *y, int ldy,
                                                                             const int rows, const int cols)
{
    __m256 acc[MAX_ROWS][COLS];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            acc[r][c] = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 wv[COLS];
        for (int c = 0; c < cols; c++)
            wv[c] = _mm256_loadu_ps(w + (size_t)c * (size_t)k + i);
        for (int r = 0; r < rows; r++) {
            const __m256 xv = _mm256_loadu_ps(x + (size_t)r * (size_t)k + i);
            for (int c = 0; c < cols; c++)
                acc[r][c] = _mm256_fmadd_ps(wv[c], xv, acc[r][c]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float s = hsum8(acc[r][c]);
            for (int t = i; t < k; t++) /* the last k % 8 products */
                s += w[(size_t)c * (size_t)k + t] * x[(size_t)r * (size_t)k + t];
            y[(size_t)r * (size_t)ldy + c] = (b ? b[c] : 0.0f) + s;
        }
}

SKINNY_DRIVER(linear_avx2, "avx2,fma", block8)

/* the CPU checks are vmath's, one place for the whole core */
static int has_avx512(void)
{
    return glia_vmath_available(GLIA_VMATH_AVX512);
}

static int has_avx2(void)
{
    return glia_vmath_available(GLIA_VMATH_AVX2);
}
#endif

int glia_skinny_available(void)
{
#ifdef HAVE_X86
    if (mode == 1)
        return has_avx512() || has_avx2();
    if (mode == 2)
        return has_avx2();
#endif
    return 0;
}

void glia_skinny_enable(int m)
{
    mode = m >= 0 && m <= 2 ? m : 1;
}

void glia_skinny_linear(const float *x, int m, int k, const float *w, const float *b, int n, float *y,
                        int ldy)
{
#ifdef HAVE_X86
    if (mode == 1 && has_avx512()) {
        linear_avx512(x, m, k, w, b, n, y, ldy);
        return;
    }
    if (mode != 0 && has_avx2()) {
        linear_avx2(x, m, k, w, b, n, y, ldy);
        return;
    }
#endif
    /* callers check glia_skinny_available(); a plain loop keeps a wrong call correct */
    for (int r = 0; r < m; r++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int i = 0; i < k; i++)
                s += x[(size_t)r * (size_t)k + i] * w[(size_t)j * (size_t)k + i];
            y[(size_t)r * (size_t)ldy + j] = (b ? b[j] : 0.0f) + s;
        }
}
