/*
 * panel.h - nn.Linear for the tens of rows of one decoding step (greedy search over a batch,
 * beam search's rows) on a weight copied once per translation into column panels.
 *
 * At 5..128 rows neither of the other paths fits: core/nn/skinny.c reads every weight row once
 * per four input rows (8 times at 32 rows) and reduces each dot product across a vector, and
 * OpenBLAS' sgemm copies ("packs") the whole weight into its own layout on every call - at
 * greedy batch 32 that copy (sgemm_incopy) was 11 % of decoding and sgemm's kernel at 32 rows
 * ran at a third of its large-matrix speed. Here the weight is packed once, by the caller, into
 * panels of 32 output columns: panel p holds, for each input i, the 32 weights w[32p + c][i]
 * side by side. A block of up to 12 input rows times one panel keeps 24 AVX-512 accumulators in
 * registers; per input i it loads the panel's two vectors once and multiplies them with each
 * row's x[r][i] broadcast, so the weights are read once per 12 rows, from L1, and no sum runs
 * across a vector.
 *
 * AVX-512F only, picked at run time (glia_panel_available, vmath's CPU check), never from the
 * build machine's flags: it keeps its speed when OpenBLAS runs its Haswell kernels. Elsewhere
 * callers keep their other path. Sums run over the inputs in order and the bias is added last,
 * as skinny's do; outputs may differ from sgemm's in the last bits, so a caller takes this path
 * for a whole decoding run.
 */
#ifndef GLIA_NN_PANEL_H
#define GLIA_NN_PANEL_H

#include <stddef.h>

enum { GLIA_PANEL_COLS = 32 };

/* Whether this CPU runs the kernel (AVX-512F) and it is not turned off. */
int glia_panel_available(void);

/* Tests and benchmarks: 0 turns the kernel off (glia_panel_available answers 0), 1 back on.
 * Not thread-safe: call it before decoding starts. */
void glia_panel_enable(int on);

/* Floats of the packed copy of an (n x k) weight: n rounded up to GLIA_PANEL_COLS, times k. */
size_t glia_panel_floats(int n, int k);

/* w (n x k, row-major, rows ldw floats apart) into panels wp (glia_panel_floats(n, k) floats,
 * 64-byte aligned); the columns past n in the last panel are zeros. */
void glia_panel_pack(const float *w, int n, int k, size_t ldw, float *wp);

/* y [m, n] (rows ldy apart) = x [m, k] (rows k apart) w^T + b, with w packed by
 * glia_panel_pack; b (n) or NULL. Any m >= 0; only call it when glia_panel_available(). */
void glia_panel_linear(const float *x, int m, int k, const float *wp, const float *b, int n, float *y,
                       int ldy);

#endif
