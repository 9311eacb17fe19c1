/*
 * vmath.c - see vmath.h.
 *
 * exp: x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2 (ln2 split in a high part
 * exact in float and a low part, Cody and Waite's reduction), e^r by its Taylor polynomial
 * to r^7 (the next term is below 0.2 ulp on that interval), times 2^n built in the exponent
 * bits as 2^(n/2) * 2^(n - n/2) so that both factors stay normal numbers from the smallest
 * subnormal result to overflow (x is clamped to [-104, 89], beyond which the answer is 0 or
 * inf anyway).
 *
 * sigmoid = 1 / (1 + e^-x): the division is correctly rounded, so the result keeps exp's
 * accuracy; e^-x = inf gives exactly 0 and e^-x = 0 exactly 1.
 *
 * tanh, a = |x|: below 0.5 its odd Taylor series to x^15 (terms shrink by (2a/pi)^2 <= 0.1,
 * so the tail is below 0.2 ulp), where 1 - 2 / (e^2a + 1) would lose bits to cancellation;
 * from 0.5 on that form, whose cancellation costs at most a factor of about 2.5 there and less
 * above; the sign is put back last, so -0 stays -0 and tanh is odd exactly.
 *
 * NaN inputs are blended back in at the end (the clamps would turn them into numbers).
 */
#include "core/nn/vmath.h"
#include "core/nn/vmath_x86.h"

#include <math.h>

static int forced = -1;

static void sigmoid_scalar(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void exp_scalar(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}

static void tanh_scalar(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86 1

/* ---- AVX-512F, 16 lanes: exp16, sigmoid16, tanh16 from vmath_x86.h ---- */

/* Whole vectors, then the tail through one masked load and store: the same arithmetic for
 * every element, wherever it sits in the array. */
#define VMATH_LOOP16(name, fn)                                                                               \
    __attribute__((target("avx512f"))) static void name(float *y, const float *x, size_t n)                  \
    {                                                                                                        \
        size_t i = 0;                                                                                        \
        for (; i + 16 <= n; i += 16)                                                                         \
            _mm512_storeu_ps(y + i, fn(_mm512_loadu_ps(x + i)));                                             \
        if (i < n) {                                                                                         \
            __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);                                                 \
            _mm512_mask_storeu_ps(y + i, m, fn(_mm512_maskz_loadu_ps(m, x + i)));                            \
        }                                                                                                    \
    }
__attribute__((target("avx512f"), always_inline)) static inline __m512 exp16_nan(__m512 x)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), exp16(x), x);
}

VMATH_LOOP16(sigmoid_avx512, sigmoid16)
VMATH_LOOP16(exp_avx512, exp16_nan)
VMATH_LOOP16(tanh_avx512, tanh16)

/* ---- AVX2 + FMA, 8 lanes ---- */

__attribute__((target("avx2,fma"), always_inline)) static inline __m256 exp8(__m256 x)
{
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(EXP_LO)), _mm256_set1_ps(EXP_HI));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    __m256 p = _mm256_set1_ps(E7);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(E6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(E5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(E4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(E3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(E2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

__attribute__((target("avx2,fma"), always_inline)) static inline __m256 sigmoid8(__m256 x)
{
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    __m256 s = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    return _mm256_blendv_ps(s, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

__attribute__((target("avx2,fma"), always_inline)) static inline __m256 tanh8(__m256 x)
{
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 a = _mm256_and_ps(x, abs_mask);
    __m256 sign = _mm256_andnot_ps(abs_mask, x);
    __m256 z = _mm256_mul_ps(a, a);
    __m256 p = _mm256_set1_ps(T15);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(T13));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(T11));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(T9));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(T7));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(T5));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(T3));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), a, a);
    __m256 e = exp8(_mm256_add_ps(a, a));
    __m256 large = _mm256_sub_ps(_mm256_set1_ps(1.0f),
                                 _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
    __m256 t = _mm256_blendv_ps(large, small, _mm256_cmp_ps(a, _mm256_set1_ps(TANH_SMALL), _CMP_LT_OQ));
    t = _mm256_or_ps(t, sign);
    return _mm256_blendv_ps(t, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* The tail goes through a zero-padded copy: AVX2's masked loads exist only as maskload,
 * which needs an integer mask vector; a copy is as short and as fast for < 8 elements. */
#define VMATH_LOOP8(name, fn)                                                                                \
    __attribute__((target("avx2,fma"))) static void name(float *y, const float *x, size_t n)                 \
    {                                                                                                        \
        size_t i = 0;                                                                                        \
        for (; i + 8 <= n; i += 8)                                                                           \
            _mm256_storeu_ps(y + i, fn(_mm256_loadu_ps(x + i)));                                             \
        if (i < n) {                                                                                         \
            float buf[8] = {0};                                                                              \
            for (size_t j = 0; j < n - i; j++)                                                               \
                buf[j] = x[i + j];                                                                           \
            _mm256_storeu_ps(buf, fn(_mm256_loadu_ps(buf)));                                                 \
            for (size_t j = 0; j < n - i; j++)                                                               \
                y[i + j] = buf[j];                                                                           \
        }                                                                                                    \
    }
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 exp8_nan(__m256 x)
{
    return _mm256_blendv_ps(exp8(x), x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

VMATH_LOOP8(sigmoid_avx2, sigmoid8)
VMATH_LOOP8(exp_avx2, exp8_nan)
VMATH_LOOP8(tanh_avx2, tanh8)
#endif

int glia_vmath_available(glia_vmath_path path)
{
    switch (path) {
    case GLIA_VMATH_SCALAR: return 1;
#ifdef HAVE_X86
    case GLIA_VMATH_AVX2:
        /* a load and a bit test: libgcc fills the CPU model at start-up */
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case GLIA_VMATH_AVX512: return __builtin_cpu_supports("avx512f") ? 1 : 0;
#endif
    default: return 0;
    }
}

glia_vmath_path glia_vmath_current(void)
{
    if (forced >= 0)
        return (glia_vmath_path)forced;
    if (glia_vmath_available(GLIA_VMATH_AVX512))
        return GLIA_VMATH_AVX512;
    if (glia_vmath_available(GLIA_VMATH_AVX2))
        return GLIA_VMATH_AVX2;
    return GLIA_VMATH_SCALAR;
}

glia_vmath_path glia_vmath_force(int path)
{
    forced = path >= 0 && glia_vmath_available((glia_vmath_path)path) ? path : -1;
    return glia_vmath_current();
}

void glia_vsigmoid(float *y, const float *x, size_t n)
{
    switch (glia_vmath_current()) {
#ifdef HAVE_X86
    case GLIA_VMATH_AVX512: sigmoid_avx512(y, x, n); return;
    case GLIA_VMATH_AVX2: sigmoid_avx2(y, x, n); return;
#endif
    default: sigmoid_scalar(y, x, n);
    }
}

void glia_vtanh(float *y, const float *x, size_t n)
{
    switch (glia_vmath_current()) {
#ifdef HAVE_X86
    case GLIA_VMATH_AVX512: tanh_avx512(y, x, n); return;
    case GLIA_VMATH_AVX2: tanh_avx2(y, x, n); return;
#endif
    default: tanh_scalar(y, x, n);
    }
}

void glia_vexp(float *y, const float *x, size_t n)
{
    switch (glia_vmath_current()) {
#ifdef HAVE_X86
    case GLIA_VMATH_AVX512: exp_avx512(y, x, n); return;
    case GLIA_VMATH_AVX2: exp_avx2(y, x, n); return;
#endif
    default: exp_scalar(y, x, n);
    }
}
