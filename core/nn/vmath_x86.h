/*
 * vmath_x86.h - the AVX-512F bodies of vmath.c's exp, sigmoid and tanh as inline functions, so
 * that a kernel holding its values in registers (core/nn/lstm_step.c's fused LSTM cell) runs
 * exactly the arithmetic of glia_vsigmoid / glia_vtanh without a trip through memory. The
 * method and its accuracy are vmath.c's (see there). Internal to core/nn: include it only
 * from a file that checks __builtin_cpu_supports("avx512f") before calling these.
 */
#ifndef GLIA_NN_VMATH_X86_H
#define GLIA_NN_VMATH_X86_H

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define EXP_HI     89.0f
#define EXP_LO     -104.0f
#define LOG2E      1.44269504088896341f
#define LN2_HI     0.693145751953125f
#define LN2_LO     1.42860682030941723212e-6f
#define TANH_SMALL 0.5f

/* Taylor coefficients of e^r (1/k!, k = 7 .. 0) and of tanh(x) / x in x^2 (x^15 .. x^1) */
#define E7  1.98412698412698413e-4f
#define E6  1.38888888888888889e-3f
#define E5  8.33333333333333333e-3f
#define E4  4.16666666666666667e-2f
#define E3  1.66666666666666667e-1f
#define E2  0.5f
#define T15 -1.45583438705131827e-3f /* -929569/638512875 */
#define T13 3.59212803657248102e-3f  /* 21844/6081075 */
#define T11 -8.86323552990219656e-3f /* -1382/155925 */
#define T9  2.18694885361552028e-2f  /* 62/2835 */
#define T7  -5.39682539682539683e-2f /* -17/315 */
#define T5  1.33333333333333333e-1f  /* 2/15 */
#define T3  -3.33333333333333333e-1f /* -1/3 */

__attribute__((target("avx512f"), always_inline)) static inline __m512 exp16(__m512 x)
{
    __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(EXP_LO)), _mm512_set1_ps(EXP_HI));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    __m512 p = _mm512_set1_ps(E7);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(E6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(E5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(E4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(E3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(E2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512i ni = _mm512_cvtps_epi32(n);
    __m512i n1 = _mm512_srai_epi32(ni, 1), n2 = _mm512_sub_epi32(ni, n1);
    __m512i bias = _mm512_set1_epi32(127);
    __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
    __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
    return _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
}

__attribute__((target("avx512f"), always_inline)) static inline __m512 sigmoid16(__m512 x)
{
    __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
    __m512 s = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), s, x);
}

__attribute__((target("avx512f"), always_inline)) static inline __m512 tanh16(__m512 x)
{
    const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
    __m512i xi = _mm512_castps_si512(x);
    __m512 a = _mm512_castsi512_ps(_mm512_and_si512(xi, abs_mask));
    __m512i sign = _mm512_andnot_si512(abs_mask, xi);
    /* small: a + a^3 P(a^2) */
    __m512 z = _mm512_mul_ps(a, a);
    __m512 p = _mm512_set1_ps(T15);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(T13));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(T11));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(T9));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(T7));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(T5));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(T3));
    __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), a, a);
    /* large: 1 - 2 / (e^2a + 1) */
    __m512 e = exp16(_mm512_add_ps(a, a));
    __m512 large = _mm512_sub_ps(_mm512_set1_ps(1.0f),
                                 _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
    __m512 t =
        _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(TANH_SMALL), _CMP_LT_OQ), large, small);
    t = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), sign));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), t, x);
}

#endif

#endif
