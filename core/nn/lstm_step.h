/*
 * lstm_step.h - the recurrent step of an LSTM at inference: the product h W_hh^T, the gate
 * nonlinearities and the new cell and hidden state in one pass, with the gate values kept in
 * registers (the forward pass of core/nn/rnn.c otherwise writes the product to memory, reads it
 * back for each nonlinearity and again for the cell update).
 *
 * Two shapes, both AVX-512F, picked at run time from the CPU (__builtin_cpu_supports, never the
 * build machine's flags) so they keep their speed when OpenBLAS runs its Haswell kernels:
 *
 *  - one sequence (batch 1): the gates are a vector along the hidden units. W_ih^T and W_hh^T
 *    (made once at load by glia_rnn_pack, or per forward by glia_lstm_step_transpose) are read
 *    row by row, one broadcast of x[k] or h[k] times 4 x H/16 weight vectors per k: the
 *    products OpenBLAS' sgemm and sgemv make after packing the weights on every call or with a
 *    reduction per output, here with neither. The input projection of every step goes first
 *    (glia_lstm_step_project, each weight vector serving 4 steps), then the steps.
 *  - many sequences side by side (lanes): every state is feature-major, [H][ld] with sequence b
 *    at column b, so a vector holds one unit of 16 sequences, W_hh is read where it lies (one
 *    broadcast element per multiply-add) and nothing is packed.
 *
 * Gate order and formulas are PyTorch's nn.LSTM (i, f, g, o; c' = f c + i g; h' = o tanh c');
 * sigmoid and tanh are vmath.c's, bit for bit. The sums of the product run in another order
 * than sgemm's, so results differ from the reference path's in the last bits.
 */
#ifndef GLIA_NN_LSTM_STEP_H
#define GLIA_NN_LSTM_STEP_H

#include <stddef.h>
#include <stdint.h>

/* Whether this CPU runs the kernels (AVX-512F) and they are not turned off. */
int glia_lstm_step_available(void);

/* Tests and benchmarks: 0 turns the kernels off (callers take the reference path), 1 back on.
 * Not thread-safe: call it before any forward. */
void glia_lstm_step_enable(int on);

/* wt [cols, rows] = w^T for w [rows, cols] (row-major): W_ih and W_hh in the layout
 * glia_lstm_step_one reads. */
void glia_lstm_step_transpose(const float *w, int rows, int cols, float *wt);

/* The lanes' layout to and from rows, 16 lanes at a time: out[j, i] = rows[i][j] for j < n
 * (rows[i] NULL: 0), out's rows ldo apart; and rows[i][j] = in[j, i] (rows[i] NULL: skipped).
 * 16 x 16 tiles transposed in registers where n is a multiple of 16. */
void glia_lstm_step_columns_in(const float *const rows[16], int n, float *out, size_t ldo);
void glia_lstm_step_columns_out(const float *in, size_t ldi, int n, float *const rows[16]);

/* The input projection of m steps of one sequence: out [m, n] = x [m, in] wt + bias, wt [in, n]
 * = W_ih^T, bias [n] = b_ih + b_hh, n a multiple of 64; 4 rows x 64 columns of sums in
 * registers, so each weight vector loaded serves 4 steps. */
void glia_lstm_step_project(int m, int in, int n, const float *x, const float *wt, const float *bias,
                            float *out);

/* One step of one sequence, H a multiple of 16: a [4H] holds the step's input projection plus
 * both biases; wt_hh [H, 4H] = W_hh^T; h [H] the previous hidden state, or NULL at the first
 * step (h = 0); c [H] the cell, updated in place; h_out [H] receives the new hidden state (not
 * h). */
void glia_lstm_step_one(int H, const float *wt_hh, const float *a, const float *h, float *c, float *h_out);

/* n sequences as lanes. pre [4H][ldp]: the input projection at this step (lane b at column b,
 * without bias); bias [4H]: b_ih + b_hh; h [H][ld] the previous hidden states (NULL: all 0);
 * c [H][ld] the cells; h_out [H][ld] the new hidden states (not h). run has one bit per lane,
 * 16 lanes a word: a lane whose bit is clear keeps its cell and copies h to h_out (a sequence
 * that has ended). ld and ldp are multiples of 16 and at least n rounded up to 16; the lanes
 * from n to that bound are computed from whatever they hold and must not be read as results. */
void glia_lstm_step_lanes(int H, int n, const float *w_hh, const float *bias, const float *pre, size_t ldp,
                          const float *h, float *c, float *h_out, size_t ld, const uint16_t *run);

#endif
