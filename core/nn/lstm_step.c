/*
 * lstm_step.c - see lstm_step.h.
 *
 * Register budget: a block is the four gates of up to 4 x 16 units (one sequence) or of one
 * unit for up to 4 x 16 lanes (many sequences), 16 accumulators, which leaves AVX-512's other
 * 16 registers for the loads and the nonlinearities. The block widths are compile-time
 * constants (always_inline with literal arguments), so the accumulators stay in registers.
 *
 * The cell update is written as glia_lstm_cell's C is (c = f c + i g as two products and a sum,
 * then o tanh c'), so given the same pre-activations the two agree bit for bit.
 */
#include "core/nn/lstm_step.h"

#include "core/base/err.h"
#include "core/nn/vmath.h"

static int enabled = 1;

#if defined(__GNUC__) && defined(__x86_64__)
#include "core/nn/vmath_x86.h"
#define HAVE_X86 1

/* The cell of 16 units (or lanes): acc holds i, f, g, o pre-activations; returns h'. */
__attribute__((target("avx512f"), always_inline)) static inline __m512 cell16(__m512 ai, __m512 af, __m512 ag,
                                                                              __m512 ao, __m512 *c)
{
    const __m512 i = sigmoid16(ai), f = sigmoid16(af), g = tanh16(ag), o = sigmoid16(ao);
    *c = _mm512_add_ps(_mm512_mul_ps(f, *c), _mm512_mul_ps(i, g));
    return _mm512_mul_ps(tanh16(*c), o);
}

/* The cells of 16 nv units (or lanes) from their gate sums: c [16 nv] updated, h_out [16 nv]
 * written. masked: lane i of vector v keeps its cell and takes h_old's value (0 when h_old is
 * NULL) unless bit i of run[v] is set. Not inlined: its registers are its own. */
__attribute__((target("avx512f"), noinline)) static void
cells(__m512 sums[4][4], float *c, float *h_out, const float *h_old, const uint16_t *run, int masked, int nv)
{
    for (int v = 0; v < nv; v++) {
        __m512 cell = _mm512_loadu_ps(c + 16 * v);
        const __m512 y = cell16(sums[v][0], sums[v][1], sums[v][2], sums[v][3], &cell);
        if (!masked) {
            _mm512_storeu_ps(c + 16 * v, cell);
            _mm512_storeu_ps(h_out + 16 * v, y);
            continue;
        }
        const __mmask16 m = run[v];
        const __m512 old = h_old ? _mm512_loadu_ps(h_old + 16 * v) : _mm512_setzero_ps();
        _mm512_mask_storeu_ps(c + 16 * v, m, cell);
        _mm512_storeu_ps(h_out + 16 * v, _mm512_mask_blend_ps(m, old, y));
    }
}

/* Units u0 .. u0 + 16 nv of one sequence: the sums start at the step's pre-activations and
 * take h W_hh^T, one broadcast h[k] times 4 nv weight vectors per k. */
__attribute__((target("avx512f"), always_inline)) static inline void one_block(int H, const float *wt,
                                                                               const float *a, const float *h,
                                                                               float *c, float *h_out, int u0,
                                                                               const int nv)
{
    const size_t GH = 4 * (size_t)H;
    __m512 acc[4][4];
    for (int v = 0; v < nv; v++)
        for (int g = 0; g < 4; g++)
            acc[v][g] = _mm512_loadu_ps(a + (size_t)g * (size_t)H + (size_t)u0 + 16 * (size_t)v);
    for (int k = 0; h && k < H; k++) {
        const __m512 hk = _mm512_set1_ps(h[k]);
        const float *row = wt + (size_t)k * GH + (size_t)u0;
        for (int v = 0; v < nv; v++)
            for (int g = 0; g < 4; g++)
                acc[v][g] = _mm512_fmadd_ps(hk, _mm512_loadu_ps(row + (size_t)g * (size_t)H + 16 * (size_t)v),
                                            acc[v][g]);
    }
    /* through memory: with the nonlinearities' constants live too, the 16 sums would spill
     * inside the product loop instead */
    __m512 sums[4][4];
    for (int v = 0; v < nv; v++)
        for (int g = 0; g < 4; g++)
            sums[v][g] = acc[v][g];
    cells(sums, c + u0, h_out + u0, NULL, NULL, 0, nv);
}

__attribute__((target("avx512f"))) static void one_avx512(int H, const float *wt, const float *a,
                                                          const float *h, float *c, float *h_out)
{
    int u0 = 0;
    for (; u0 + 64 <= H; u0 += 64)
        one_block(H, wt, a, h, c, h_out, u0, 4);
    switch ((H - u0) / 16) {
    case 3: one_block(H, wt, a, h, c, h_out, u0, 3); break;
    case 2: one_block(H, wt, a, h, c, h_out, u0, 2); break;
    case 1: one_block(H, wt, a, h, c, h_out, u0, 1); break;
    default: break;
    }
}

/* Rows r0 .. r0 + rows of the input projection, columns j0 .. j0 + 64: each weight vector
 * loaded once for all the rows (the step kernel loads it once per step, and the weights come
 * from L2 faster than that only when reused). */
__attribute__((target("avx512f"), always_inline)) static inline void
project_block(int in, int n, const float *x, const float *wt, const float *bias, float *out, int r0, int j0,
              const int rows)
{
    __m512 acc[4][4];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < 4; v++)
            acc[r][v] = _mm512_loadu_ps(bias + j0 + 16 * v);
    for (int k = 0; k < in; k++) {
        __m512 w[4];
        for (int v = 0; v < 4; v++)
            w[v] = _mm512_loadu_ps(wt + (size_t)k * (size_t)n + (size_t)j0 + 16 * (size_t)v);
        for (int r = 0; r < rows; r++) {
            const __m512 xk = _mm512_set1_ps(x[(size_t)(r0 + r) * (size_t)in + (size_t)k]);
            for (int v = 0; v < 4; v++)
                acc[r][v] = _mm512_fmadd_ps(xk, w[v], acc[r][v]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < 4; v++)
            _mm512_storeu_ps(out + (size_t)(r0 + r) * (size_t)n + (size_t)j0 + 16 * (size_t)v, acc[r][v]);
}

__attribute__((target("avx512f"))) static void project_avx512(int m, int in, int n, const float *x,
                                                              const float *wt, const float *bias, float *out)
{
    for (int j0 = 0; j0 < n; j0 += 64) /* a 64-column slice of wt stays in L1 for all rows */
        for (int r0 = 0; r0 < m; r0 += 4) {
            switch (m - r0 < 4 ? m - r0 : 4) {
            case 4: project_block(in, n, x, wt, bias, out, r0, j0, 4); break;
            case 3: project_block(in, n, x, wt, bias, out, r0, j0, 3); break;
            case 2: project_block(in, n, x, wt, bias, out, r0, j0, 2); break;
            default: project_block(in, n, x, wt, bias, out, r0, j0, 1); break;
            }
        }
}

/* Unit u of lanes l0 .. l0 + 16 nv. */
__attribute__((target("avx512f"), always_inline)) static inline void
lanes_block(int H, const float *w_hh, const float *bias, const float *pre, size_t ldp, const float *h,
            float *c, float *h_out, size_t ld, const uint16_t *run, int u, size_t l0, const int nv)
{
    __m512 acc[4][4]; /* [lane vector][gate] */
    for (int g = 0; g < 4; g++) {
        const size_t row = (size_t)g * (size_t)H + (size_t)u;
        const __m512 b = _mm512_set1_ps(bias[row]);
        for (int v = 0; v < nv; v++)
            acc[v][g] = _mm512_add_ps(_mm512_loadu_ps(pre + row * ldp + l0 + 16 * (size_t)v), b);
    }
    const float *w[4];
    for (int g = 0; g < 4; g++)
        w[g] = w_hh + ((size_t)g * (size_t)H + (size_t)u) * (size_t)H;
    for (int k = 0; h && k < H; k++) {
        __m512 hv[4];
        for (int v = 0; v < nv; v++)
            hv[v] = _mm512_loadu_ps(h + (size_t)k * ld + l0 + 16 * (size_t)v);
        for (int g = 0; g < 4; g++) {
            const __m512 wk = _mm512_set1_ps(w[g][k]);
            for (int v = 0; v < nv; v++)
                acc[v][g] = _mm512_fmadd_ps(wk, hv[v], acc[v][g]);
        }
    }
    __m512 sums[4][4];
    for (int v = 0; v < nv; v++)
        for (int g = 0; g < 4; g++)
            sums[v][g] = acc[v][g];
    const size_t at = (size_t)u * ld + l0;
    cells(sums, c + at, h_out + at, h ? h + at : NULL, run + (l0 >> 4), 1, nv);
}

__attribute__((target("avx512f"))) static void lanes_avx512(int H, int n, const float *w_hh,
                                                            const float *bias, const float *pre, size_t ldp,
                                                            const float *h, float *c, float *h_out, size_t ld,
                                                            const uint16_t *run)
{
    const int vectors = (n + 15) / 16;
    for (int q = 0; q < vectors; q += 4) {
        const size_t l0 = 16 * (size_t)q;
        const int nv = vectors - q < 4 ? vectors - q : 4;
        for (int u = 0; u < H; u++) {
            switch (nv) {
            case 4: lanes_block(H, w_hh, bias, pre, ldp, h, c, h_out, ld, run, u, l0, 4); break;
            case 3: lanes_block(H, w_hh, bias, pre, ldp, h, c, h_out, ld, run, u, l0, 3); break;
            case 2: lanes_block(H, w_hh, bias, pre, ldp, h, c, h_out, ld, run, u, l0, 2); break;
            default: lanes_block(H, w_hh, bias, pre, ldp, h, c, h_out, ld, run, u, l0, 1); break;
            }
        }
    }
}

/* r[i] lane k <- r[k] lane i: a 16 x 16 tile transposed in registers (pairs interleaved, then
 * quads, then 128-bit blocks twice). */
__attribute__((target("avx512f"), always_inline)) static inline void tile16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
            t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    }
}

/* wt [cols, rows] = w^T for w [rows, cols], rows a multiple of 16: 16 x 16 tiles through
 * tile16, instead of a scalar loop that took 18 % of a batch-1 forward; the last cols % 16
 * columns one by one. */
__attribute__((target("avx512f"))) static void transpose_avx512(const float *w, int rows, int cols, float *wt)
{
    for (int j0 = 0; j0 < rows; j0 += 16)
        for (int k0 = 0; k0 < cols; k0 += 16) {
            if (k0 + 16 > cols) {
                for (int j = j0; j < j0 + 16; j++)
                    for (int k = k0; k < cols; k++)
                        wt[(size_t)k * (size_t)rows + (size_t)j] = w[(size_t)j * (size_t)cols + (size_t)k];
                break;
            }
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = _mm512_loadu_ps(w + (size_t)(j0 + i) * (size_t)cols + (size_t)k0);
            tile16(r);
            for (int i = 0; i < 16; i++)
                _mm512_storeu_ps(wt + (size_t)(k0 + i) * (size_t)rows + (size_t)j0, r[i]);
        }
}

__attribute__((target("avx512f"))) static void columns_in_avx512(const float *const rows[16], int n,
                                                                 float *out, size_t ldo)
{
    for (int j0 = 0; j0 < n; j0 += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = rows[i] ? _mm512_loadu_ps(rows[i] + j0) : _mm512_setzero_ps();
        tile16(r);
        for (int i = 0; i < 16; i++)
            _mm512_storeu_ps(out + (size_t)(j0 + i) * ldo, r[i]);
    }
}

__attribute__((target("avx512f"))) static void columns_out_avx512(const float *in, size_t ldi, int n,
                                                                  float *const rows[16])
{
    for (int j0 = 0; j0 < n; j0 += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = _mm512_loadu_ps(in + (size_t)(j0 + i) * ldi);
        tile16(r);
        for (int i = 0; i < 16; i++)
            if (rows[i])
                _mm512_storeu_ps(rows[i] + j0, r[i]);
    }
}

#endif

int glia_lstm_step_available(void)
{
    return enabled && glia_vmath_available(GLIA_VMATH_AVX512); /* 0 off x86 */
}

void glia_lstm_step_enable(int on)
{
    enabled = on ? 1 : 0;
}

void glia_lstm_step_transpose(const float *w, int rows, int cols, float *wt)
{
#ifdef HAVE_X86
    if (rows % 16 == 0 && glia_vmath_available(GLIA_VMATH_AVX512)) {
        transpose_avx512(w, rows, cols, wt);
        return;
    }
#endif
    for (int j = 0; j < rows; j++)
        for (int k = 0; k < cols; k++)
            wt[(size_t)k * (size_t)rows + (size_t)j] = w[(size_t)j * (size_t)cols + (size_t)k];
}

void glia_lstm_step_project(int m, int in, int n, const float *x, const float *wt, const float *bias,
                            float *out)
{
    GLIA_ASSERT(n % 64 == 0 && glia_lstm_step_available());
#ifdef HAVE_X86
    project_avx512(m, in, n, x, wt, bias, out);
#else
    (void)m, (void)in, (void)x, (void)wt, (void)bias, (void)out;
#endif
}

void glia_lstm_step_columns_in(const float *const rows[16], int n, float *out, size_t ldo)
{
#ifdef HAVE_X86
    if (n % 16 == 0 && glia_vmath_available(GLIA_VMATH_AVX512)) {
        columns_in_avx512(rows, n, out, ldo);
        return;
    }
#endif
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < n; j++)
            out[(size_t)j * ldo + (size_t)i] = rows[i] ? rows[i][j] : 0.0f;
}

void glia_lstm_step_columns_out(const float *in, size_t ldi, int n, float *const rows[16])
{
#ifdef HAVE_X86
    if (n % 16 == 0 && glia_vmath_available(GLIA_VMATH_AVX512)) {
        columns_out_avx512(in, ldi, n, rows);
        return;
    }
#endif
    for (int i = 0; i < 16; i++)
        for (int j = 0; rows[i] && j < n; j++)
            rows[i][j] = in[(size_t)j * ldi + (size_t)i];
}

void glia_lstm_step_one(int H, const float *wt_hh, const float *a, const float *h, float *c, float *h_out)
{
    GLIA_ASSERT(H % 16 == 0 && glia_lstm_step_available());
#ifdef HAVE_X86
    one_avx512(H, wt_hh, a, h, c, h_out);
#else
    (void)wt_hh, (void)a, (void)h, (void)c, (void)h_out;
#endif
}

void glia_lstm_step_lanes(int H, int n, const float *w_hh, const float *bias, const float *pre, size_t ldp,
                          const float *h, float *c, float *h_out, size_t ld, const uint16_t *run)
{
    GLIA_ASSERT(ld % 16 == 0 && ldp % 16 == 0 && glia_lstm_step_available());
#ifdef HAVE_X86
    lanes_avx512(H, n, w_hh, bias, pre, ldp, h, c, h_out, ld, run);
#else
    (void)n, (void)w_hh, (void)bias, (void)pre, (void)ldp, (void)h, (void)c, (void)h_out, (void)ld, (void)run;
#endif
}
