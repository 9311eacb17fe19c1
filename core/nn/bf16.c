/*
 * bf16.c - see bf16.h.
 *
 * The kernel keeps a tile of MR activation rows by NB blocks of 16 outputs in 24 of the 32
 * vector registers and walks the pairs of columns: per pair, NB weight vectors loaded and
 * MR broadcasts, MR * NB vdpbf16ps. Activations are rounded to bf16 a panel at a time (MC
 * rows by KC column pairs, on the stack) and each panel is reused across all the column
 * blocks; a KC-pair slice of NB weight blocks (64 KiB) stays in L2 while the panel's row
 * tiles run over it. Sums over several KC slices go through y (fp32).
 *
 * The tile shapes are compile-time constants: tile() is always inlined into a switch over
 * them, so the accumulators are registers, not memory.
 */
#include "core/nn/bf16.h"

#include "core/nn/kernels.h"

#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BF16_TARGET __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))

enum { MR = 6, NB = 4, MC = 24, KC = 256 };

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it a (quiet) NaN, rounding could make it inf */
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float glia_bf16_round(float x)
{
    uint32_t u = (uint32_t)to_bf16(x) << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

int glia_bf16_available(void)
{
    const char *off = getenv("GLIA_NO_BF16");
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (off && strcmp(off, "1") == 0)
        return 0;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl"))
        return 0;
    /* leaf 7, subleaf 1, EAX bit 5: AVX512_BF16 (libgcc's feature list has no name for it
     * in every compiler this builds with; F's check above has seen the OS save zmm) */
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d))
        return 0;
    return (a >> 5) & 1u;
}

/* w rounded and packed in layout; see bf16.h. */
static glia_status pack(const float *w, int rows, int cols, size_t ld, int layout, glia_bf16_mat **out,
                        glia_err *err)
{
    glia_bf16_mat *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m)
        return glia_err_set(err, GLIA_ENOMEM, "bf16: out of memory for a %d x %d weight", rows, cols);
    m->rows = rows;
    m->cols = cols;
    m->pairs = (cols + 1) / 2;
    m->blocks = (rows + 15) / 16;
    m->layout = layout;
    const size_t bytes = (glia_bf16_bytes(m) + 63) / 64 * 64; /* aligned_alloc wants a multiple */
    m->data = aligned_alloc(64, bytes > 0 ? bytes : 64);
    if (!m->data) {
        free(m);
        return glia_err_set(err, GLIA_ENOMEM, "bf16: out of memory for a %d x %d weight (%zu bytes)", rows,
                            cols, bytes);
    }
    memset(m->data, 0, bytes); /* the padding rows and columns */
    for (int r = 0; r < rows; r++) {
        const float *wr = w + (size_t)r * ld;
        const int blocked = layout == GLIA_BF16_BLOCKED;
        uint32_t *dst = blocked ? m->data + (size_t)(r / 16) * (size_t)m->pairs * 16 + (size_t)(r % 16)
                                : m->data + (size_t)r * (size_t)m->pairs;
        const size_t step = blocked ? 16 : 1;
        for (int p = 0; p < m->pairs; p++) {
            const uint32_t lo = to_bf16(wr[2 * p]), hi = 2 * p + 1 < cols ? to_bf16(wr[2 * p + 1]) : 0;
            dst[(size_t)p * step] = lo | (hi << 16);
        }
    }
    *out = m;
    return GLIA_OK;
}

glia_status glia_bf16_pack(const float *w, int rows, int cols, size_t ld, glia_bf16_mat **out, glia_err *err)
{
    return pack(w, rows, cols, ld, GLIA_BF16_BLOCKED, out, err);
}

glia_status glia_bf16_pack_rows(const float *w, int rows, int cols, size_t ld, glia_bf16_mat **out,
                                glia_err *err)
{
    return pack(w, rows, cols, ld, GLIA_BF16_ROWS, out, err);
}

void glia_bf16_free(glia_bf16_mat *m)
{
    if (!m)
        return;
    free(m->data);
    free(m);
}

size_t glia_bf16_bytes(const glia_bf16_mat *m)
{
    if (!m)
        return 0;
    return (m->layout == GLIA_BF16_ROWS ? (size_t)m->rows : (size_t)m->blocks * 16) * (size_t)m->pairs *
           sizeof(uint32_t);
}

/* One tile: mr rows of xb (xs pairs apart) times nb weight blocks from wp (bs uint32
 * apart) over pc pairs, into y (ncols valid columns from the tile's first). */
static inline __attribute__((always_inline)) BF16_TARGET void tile(const int mr, const int nb, int pc,
                                                                   const uint32_t *xb, size_t xs,
                                                                   const uint32_t *wp, size_t bs, float beta,
                                                                   float *y, int ldy, int ncols)
{
    __m512 acc[MR][NB];
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nb; c++)
            acc[r][c] = _mm512_setzero_ps();
    for (int p = 0; p < pc; p++) {
        __m512i bv[NB];
        for (int c = 0; c < nb; c++)
            bv[c] = _mm512_loadu_si512((const void *)(wp + (size_t)c * bs + (size_t)p * 16));
        for (int r = 0; r < mr; r++) {
            const __m512i a = _mm512_set1_epi32((int)xb[(size_t)r * xs + (size_t)p]);
            for (int c = 0; c < nb; c++)
                acc[r][c] = _mm512_dpbf16_ps(acc[r][c], (__m512bh)bv[c], (__m512bh)a);
        }
    }
    for (int c = 0; c < nb; c++) {
        const int left = ncols - 16 * c;
        const __mmask16 mask = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
        for (int r = 0; r < mr; r++) {
            float *yr = y + (size_t)r * (size_t)ldy + (size_t)(16 * c);
            __m512 v = acc[r][c];
            if (beta != 0.0f) /* beta 0 must not read y: it may hold anything, NaN included */
                v = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(mask, yr), v);
            _mm512_mask_storeu_ps(yr, mask, v);
        }
    }
}

#define TILE_NB(mr)                                                                                          \
    switch (nb) {                                                                                            \
    case 1: tile(mr, 1, pc, xb, xs, wp, bs, beta, y, ldy, ncols); break;                                     \
    case 2: tile(mr, 2, pc, xb, xs, wp, bs, beta, y, ldy, ncols); break;                                     \
    case 3: tile(mr, 3, pc, xb, xs, wp, bs, beta, y, ldy, ncols); break;                                     \
    default: tile(mr, 4, pc, xb, xs, wp, bs, beta, y, ldy, ncols); break;                                    \
    }

BF16_TARGET static void tile_any(int mr, int nb, int pc, const uint32_t *xb, size_t xs, const uint32_t *wp,
                                 size_t bs, float beta, float *y, int ldy, int ncols)
{
    switch (mr) {
    case 1: TILE_NB(1); break;
    case 2: TILE_NB(2); break;
    case 3: TILE_NB(3); break;
    case 4: TILE_NB(4); break;
    case 5: TILE_NB(5); break;
    default: TILE_NB(6); break;
    }
}

/* Rows [0, mr) of x, columns [2 p0, 2 (p0 + pc)) rounded to bf16 pairs into xb (KC apart);
 * columns past k are zeros. vcvtne2ps2bf16 rounds to nearest even, as to_bf16 does. */
BF16_TARGET static void round_panel(const float *x, int ldx, int mr, int k, int p0, int pc, uint32_t *xb)
{
    for (int r = 0; r < mr; r++) {
        const float *xr = x + (size_t)r * (size_t)ldx;
        uint32_t *dst = xb + (size_t)r * KC;
        for (int p = 0; p < pc; p += 16) {
            const int c0 = 2 * (p0 + p), left = k - c0;
            const __mmask16 mlo = left >= 16 ? 0xffff : left > 0 ? (__mmask16)((1u << left) - 1u) : 0;
            const __mmask16 mhi = left >= 32 ? 0xffff : left > 16 ? (__mmask16)((1u << (left - 16)) - 1u) : 0;
            const __m512 lo = _mm512_maskz_loadu_ps(mlo, xr + c0),
                         hi = _mm512_maskz_loadu_ps(mhi, xr + c0 + 16);
            const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
            const int n = pc - p < 16 ? pc - p : 16;
            _mm512_mask_storeu_epi32(dst + p, (__mmask16)((1u << n) - 1u), v);
        }
    }
}

/* glia_bf16_gemm's loops; x's rows either fp32 (x, ldx: rounded a panel at a time) or
 * already bf16 pairs (xr, xrs pairs apart: a glia_bf16_mat of rows layout). */
BF16_TARGET static void gemm(int m, int n, const float *x, int ldx, const uint32_t *xr, size_t xrs,
                             const glia_bf16_mat *w, int row0, float beta, float *y, int ldy)
{
    uint32_t xb[MC * KC] __attribute__((aligned(64)));
    const int k = w->cols, pairs = w->pairs, nblk = (n + 15) / 16, b0 = row0 / 16;
    const size_t bs = (size_t)pairs * 16; /* uint32 from one block to the next */
    GLIA_ASSERT(row0 % 16 == 0 && row0 + n <= w->rows);
    if (m <= 0 || n <= 0)
        return;
    for (int p0 = 0; p0 < pairs; p0 += KC) {
        const int pc = pairs - p0 < KC ? pairs - p0 : KC;
        const float bet = p0 == 0 ? beta : 1.0f;
        for (int i0 = 0; i0 < m; i0 += MC) {
            const int mc = m - i0 < MC ? m - i0 : MC;
            const uint32_t *panel = xb;
            size_t xs = KC;
            if (xr) {
                panel = xr + (size_t)i0 * xrs + (size_t)p0;
                xs = xrs;
            } else {
                round_panel(x + (size_t)i0 * (size_t)ldx, ldx, mc, k, p0, pc, xb);
            }
            for (int j0 = 0; j0 < nblk; j0 += NB) {
                const int nb = nblk - j0 < NB ? nblk - j0 : NB;
                const uint32_t *wp = w->data + (size_t)(b0 + j0) * bs + (size_t)p0 * 16;
                for (int r0 = 0; r0 < mc; r0 += MR) {
                    const int mr = mc - r0 < MR ? mc - r0 : MR;
                    tile_any(mr, nb, pc, panel + (size_t)r0 * xs, xs, wp, bs, bet,
                             y + (size_t)(i0 + r0) * (size_t)ldy + (size_t)(16 * j0), ldy, n - 16 * j0);
                }
            }
        }
    }
}

void glia_bf16_gemm(int m, int n, const float *x, int ldx, const glia_bf16_mat *w, int row0, float beta,
                    float *y, int ldy)
{
    gemm(m, n, x, ldx, NULL, 0, w, row0, beta, y, ldy);
}

size_t glia_bf16_conv_scratch(int c, int k, int oh, int ow)
{
    const size_t ohw = (size_t)oh * (size_t)ow, ckk = (size_t)c * (size_t)k * (size_t)k;
    const size_t packed = (ohw + 15) / 16 * 16 * ((ckk + 1) / 2);
    return packed + 16 /* to align it */ + (size_t)(c >= 2 ? 2 : 1) * (size_t)k * (size_t)k * ohw;
}

/* The patches as glia_bf16_gemm's right operand: rows are output positions (blocks of 16),
 * columns the c*k*k taps. Two input channels at a time go through the fp32 im2col (so a
 * pair of taps never straddles the buffer: 2 k^2 rows is even), then each pair of its rows
 * is rounded and interleaved, 16 positions per vector. */
BF16_TARGET void glia_bf16_conv(const float *x, int c, int h, int w, int k, int stride, int pad, int oh,
                                int ow, const glia_bf16_mat *weight, const float *bias, int relu, float *y,
                                float *scratch)
{
    const size_t ohw = (size_t)oh * (size_t)ow, kk = (size_t)k * (size_t)k, ckk = (size_t)c * kk;
    const size_t pairs = (ckk + 1) / 2, blocks = (ohw + 15) / 16;
    uint32_t *packed = (uint32_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *col = (float *)(packed + blocks * 16 * pairs);
    /* vcvtne2ps2bf16 gives row t's 16 values then row t+1's; this puts them in pairs */
    const __m512i ilv = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                         22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    GLIA_ASSERT(weight->layout == GLIA_BF16_ROWS && (size_t)weight->cols == ckk);
    for (int c0 = 0; c0 < c; c0 += 2) {
        const int cc = c - c0 < 2 ? c - c0 : 2;
        const size_t rows = (size_t)cc * kk;
        glia_im2col(x + (size_t)c0 * (size_t)h * (size_t)w, cc, h, w, k, stride, pad, oh, ow, col, ohw);
        for (size_t t = 0; t < rows; t += 2) {
            const float *r0 = col + t * ohw, *r1 = t + 1 < rows ? r0 + ohw : NULL;
            uint32_t *dst = packed + ((size_t)c0 * kk + t) / 2 * 16;
            for (size_t b = 0; b < blocks; b++) {
                const size_t at = b * 16, left = ohw - at;
                const __mmask16 mask = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
                const __m512 lo = _mm512_maskz_loadu_ps(mask, r0 + at),
                             hi = r1 ? _mm512_maskz_loadu_ps(mask, r1 + at) : _mm512_setzero_ps();
                const __m512i v = _mm512_permutexvar_epi16(ilv, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
                _mm512_storeu_si512((void *)(dst + b * pairs * 16), v);
            }
        }
    }
    const glia_bf16_mat patches = {(int)ohw, (int)ckk, (int)pairs, (int)blocks, GLIA_BF16_BLOCKED, packed};
    gemm(weight->rows, (int)ohw, NULL, 0, weight->data, pairs, &patches, 0, 0.0f, y, (int)ohw);
    for (int o = 0; o < weight->rows; o++) {
        float *restrict yo = y + (size_t)o * ohw;
        const float b = bias[o];
        if (relu)
            for (size_t i = 0; i < ohw; i++) {
                const float v = yo[i] + b;
                yo[i] = v > 0.0f ? v : (isnan(v) ? v : 0.0f); /* activation.c's ReLU */
            }
        else
            for (size_t i = 0; i < ohw; i++)
                yo[i] += b;
    }
}

void glia_linear_forward_param(const float *x, int n, int in, const glia_param *w, int row0, const float *b,
                               int out, float *y, int ldy)
{
    if (!w->bf16 || row0 % 16 != 0) {
        glia_linear_forward(x, n, in, w->value + (size_t)row0 * (size_t)in, b, out, y, ldy);
        return;
    }
    for (int i = 0; i < n; i++)
        memcpy(y + (size_t)i * (size_t)ldy, b, sizeof(float) * (size_t)out);
    glia_bf16_gemm(n, out, x, in, w->bf16, row0, 1.0f, y, ldy);
}

void glia_linear_forward_param_few(const float *x, int n, int in, const glia_param *w, const float *b,
                                   int out, float *y, int ldy)
{
    if (w->bf16)
        glia_linear_forward_param(x, n, in, w, 0, b, out, y, ldy);
    else
        glia_linear_forward_few(x, n, in, w->value, b, out, y, ldy);
}

glia_status glia_bf16_param_attach(glia_param *p, glia_err *err)
{
    if (p->bf16)
        return GLIA_OK;
    glia_status rc;
    if (p->ndim == 2)
        rc = glia_bf16_pack(p->value, (int)p->shape[0], (int)p->shape[1], (size_t)p->shape[1], &p->bf16, err);
    else if (p->ndim == 4) /* (oc, c, k, k): rows of c k k taps */
        rc = glia_bf16_pack_rows(p->value, (int)p->shape[0], (int)(p->size / (size_t)p->shape[0]),
                                 p->size / (size_t)p->shape[0], &p->bf16, err);
    else
        return glia_err_set(err, GLIA_EINVAL, "bf16: %s has %d dimensions, not a matrix or a convolution's 4",
                            p->name, p->ndim);
    if (rc)
        glia_err_prefix(err, "%s", p->name);
    return rc;
}

void glia_bf16_param_drop(glia_param *p)
{
    glia_bf16_free(p->bf16);
    p->bf16 = NULL;
}
