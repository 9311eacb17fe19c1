/*
 * rnn.c - see rnn.h.
 *
 * Forward, per layer and direction: the input projection of every step at once
 * (gates[B*T, G*H] = b_ih + b_hh + X W_ih^T, one GEMM over the whole padded block), then
 * one small GEMM per step for the recurrent term (rec[B, G*H] = h W_hh^T) and the gate
 * nonlinearities for the sequences still running at that step. A direction walks "steps"
 * s = 0..max_len-1; sequence b is running while s < lengths[b] and is then at position
 * s (forward) or lengths[b]-1-s (reverse), so both directions see exactly the steps
 * pack_padded_sequence would give them and a finished sequence's state simply stops
 * changing (which is why h_n is the running state after the loop). Rows of finished
 * sequences still go through the step GEMM - a GEMM row depends only on its own input
 * row, so this costs time, never correctness - and a batcher that groups sequences of
 * similar length keeps that waste small.
 *
 * Saved state (training): the activated gates and the cell state of every position,
 * stored by position rather than by step, so backward finds h_{t-1} and c_{t-1} of
 * either direction with an index and never needs the step order again. The input is
 * copied with padded positions zeroed: the weight-gradient GEMMs run over the whole
 * padded block, where 0 * (NaN at a padded position) would otherwise leak into dW.
 *
 * Backward walks the steps backwards with the carried dh, dc of each running sequence;
 * per step it only needs dh_{t-1} += dA W_hh (one GEMM). The pre-activation gradients dA
 * of every position are kept, so the weight gradients are three GEMMs over the whole
 * block afterwards: dW_ih += dA^T X, dW_hh += dA^T H_prev, dX (+)= dA W_ih.
 *
 * Inference of an LSTM in fp32 where the CPU has AVX-512F takes forward_direction_fast instead:
 * the same results through core/nn/lstm_step.h's kernels (one sequence at a time below 16,
 * sequences as vector lanes from 16), W_ih^T and W_hh^T from rnn->packed when glia_rnn_pack
 * made them, and layer 0's projection from a token table under glia_rnn_forward_table.
 */
#include "core/nn/rnn.h"

#include "core/nn/bf16.h"
#include "core/nn/kernels.h"
#include "core/nn/lstm_step.h"
#include "core/nn/params.h"
#include "core/nn/vmath.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters ---- */

/* ---- embedding ---- */

glia_status glia_embedding_init(glia_embedding *e, int num_embeddings, int embedding_dim, int has_padding_idx,
                                int padding_idx, const char *prefix, glia_err *err)
{
    memset(e, 0, sizeof *e);
    if (num_embeddings <= 0 || embedding_dim <= 0)
        return glia_err_set(err, GLIA_EINVAL,
                            "embedding: num_embeddings and embedding_dim must be positive (got %d, %d)",
                            num_embeddings, embedding_dim);
    if ((size_t)num_embeddings > SIZE_MAX / sizeof(float) / (size_t)embedding_dim)
        return glia_err_set(err, GLIA_EINVAL, "embedding: %d x %d is too large", num_embeddings,
                            embedding_dim);
    if (has_padding_idx && (padding_idx < -num_embeddings || padding_idx >= num_embeddings))
        return glia_err_set(err, GLIA_EINVAL, "embedding: padding_idx %d is outside [%d, %d)", padding_idx,
                            -num_embeddings, num_embeddings);
    e->num_embeddings = num_embeddings;
    e->embedding_dim = embedding_dim;
    e->padding_idx = !has_padding_idx ? -1 : padding_idx < 0 ? num_embeddings + padding_idx : padding_idx;
    int64_t shape[2] = {num_embeddings, embedding_dim};
    glia_param_shape(&e->weight, 2, shape, 1);
    return glia_param_name(&e->weight, prefix, "weight", err);
}

void glia_embedding_bind(glia_embedding *e, float *values, float *grads)
{
    e->weight.value = values;
    e->weight.grad = grads;
}

void glia_embedding_reset(glia_embedding *e, glia_rng *rng)
{
    GLIA_ASSERT(e->weight.value);
    for (size_t i = 0; i < e->weight.size; i++)
        e->weight.value[i] = glia_rng_normal(rng);
    if (e->padding_idx >= 0)
        memset(e->weight.value + (size_t)e->padding_idx * (size_t)e->embedding_dim, 0,
               sizeof(float) * (size_t)e->embedding_dim);
}

glia_status glia_embedding_forward(const glia_embedding *e, const int32_t *ids, const int32_t *lengths,
                                   int batch, int steps, float *out, glia_err *err)
{
    GLIA_ASSERT(e->weight.value);
    const size_t dim = (size_t)e->embedding_dim;
    for (int b = 0; b < batch; b++) {
        int len = lengths ? lengths[b] : steps;
        for (int t = 0; t < steps; t++) {
            size_t at = (size_t)b * (size_t)steps + (size_t)t;
            float *row = out + at * dim;
            if (t >= len) {
                memset(row, 0, sizeof(float) * dim);
                continue;
            }
            int32_t id = ids[at];
            if (id < 0 || id >= e->num_embeddings)
                return glia_err_set(err, GLIA_EINVAL,
                                    "embedding: token id %ld at sequence %d, step %d is outside the "
                                    "vocabulary [0, %d)",
                                    (long)id, b, t, e->num_embeddings);
            memcpy(row, e->weight.value + (size_t)id * dim, sizeof(float) * dim);
        }
    }
    return GLIA_OK;
}

void glia_embedding_backward(glia_embedding *e, const int32_t *ids, const int32_t *lengths, int batch,
                             int steps, const float *dout)
{
    GLIA_ASSERT(e->weight.grad);
    const size_t dim = (size_t)e->embedding_dim;
    for (int b = 0; b < batch; b++) {
        int len = lengths ? lengths[b] : steps;
        for (int t = 0; t < len; t++) {
            size_t at = (size_t)b * (size_t)steps + (size_t)t;
            int32_t id = ids[at];
            GLIA_ASSERT(id >= 0 && id < e->num_embeddings);
            if (id == e->padding_idx)
                continue;
            float *restrict g = e->weight.grad + (size_t)id * dim;
            const float *restrict d = dout + at * dim;
            for (size_t j = 0; j < dim; j++)
                g[j] += d[j];
        }
    }
}

/* ---- RNN / LSTM parameters ---- */

glia_status glia_rnn_mode_parse(const char *name, glia_rnn_mode *mode, glia_err *err)
{
    if (strcmp(name, "lstm") == 0 || strcmp(name, "LSTM") == 0)
        *mode = GLIA_RNN_LSTM;
    else if (strcmp(name, "rnn_tanh") == 0 || strcmp(name, "RNN_TANH") == 0)
        *mode = GLIA_RNN_TANH;
    else
        return glia_err_set(err, GLIA_ENOTFOUND, "unknown recurrent mode '%s' (known: lstm, rnn_tanh)", name);
    return GLIA_OK;
}

glia_status glia_rnn_init(glia_rnn *rnn, const glia_rnn_config *cfg, const char *prefix, glia_err *err)
{
    memset(rnn, 0, sizeof *rnn);
    if (cfg->mode != GLIA_RNN_TANH && cfg->mode != GLIA_RNN_LSTM)
        return glia_err_set(err, GLIA_EINVAL, "rnn: unknown mode %d", (int)cfg->mode);
    if (cfg->input_size <= 0 || cfg->hidden_size <= 0)
        return glia_err_set(err, GLIA_EINVAL, "rnn: input_size and hidden_size must be positive (got %d, %d)",
                            cfg->input_size, cfg->hidden_size);
    if (cfg->num_layers < 1 || cfg->num_layers > GLIA_RNN_MAX_LAYERS)
        return glia_err_set(err, GLIA_EINVAL, "rnn: num_layers must be in 1..%d (got %d)",
                            GLIA_RNN_MAX_LAYERS, cfg->num_layers);
    if (cfg->bidirectional != 0 && cfg->bidirectional != 1)
        return glia_err_set(err, GLIA_EINVAL, "rnn: bidirectional must be 0 or 1 (got %d)",
                            cfg->bidirectional);
    const int gates = cfg->mode == GLIA_RNN_LSTM ? 4 : 1;
    /* every GEMM dimension and leading dimension must fit an int */
    if (cfg->hidden_size > INT_MAX / 8 || cfg->input_size > INT_MAX / 8)
        return glia_err_set(err, GLIA_EINVAL, "rnn: input_size %d or hidden_size %d is too large",
                            cfg->input_size, cfg->hidden_size);
    rnn->cfg = *cfg;
    rnn->gates = gates;
    rnn->directions = cfg->bidirectional ? 2 : 1;
    rnn->output_size = cfg->hidden_size * rnn->directions;
    const int64_t gh = (int64_t)gates * cfg->hidden_size, h = cfg->hidden_size;
    static const char *const kinds[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    for (int l = 0; l < cfg->num_layers; l++) {
        int64_t in = l == 0 ? cfg->input_size : rnn->output_size;
        for (int d = 0; d < rnn->directions; d++) {
            for (int k = 0; k < 4; k++) {
                glia_param *p = &rnn->params[rnn->nparams++];
                int64_t shape[2] = {gh, k == 0 ? in : h};
                glia_param_shape(p, k < 2 ? 2 : 1, shape, 1);
                char local[64];
                snprintf(local, sizeof local, "%s_l%d%s", kinds[k], l, d ? "_reverse" : "");
                glia_status rc = glia_param_name(p, prefix, local, err);
                if (rc != GLIA_OK)
                    return rc;
                rnn->size += p->size;
            }
        }
    }
    return GLIA_OK;
}

void glia_rnn_bind(glia_rnn *rnn, float *values, float *grads)
{
    glia_params_bind(rnn->params, rnn->nparams, values, grads);
}

void glia_rnn_reset(glia_rnn *rnn, glia_rng *rng)
{
    float bound = 1.0f / sqrtf((float)rnn->cfg.hidden_size);
    for (int i = 0; i < rnn->nparams; i++) {
        GLIA_ASSERT(rnn->params[i].value);
        glia_fill_uniform(rnn->params[i].value, rnn->params[i].size, bound, rng);
    }
}

/* ---- run context ---- */

struct glia_rnn_ctx {
    glia_rnn_config cfg;
    int gates, directions, max_batch, max_steps, training;
    size_t bytes;
    float *block;     /* every float buffer below is a slice of this one allocation */
    int32_t *lengths; /* [max_batch] of the last forward */
    int batch, steps, max_len, has_forward;
    float *input;                                   /* training: x with padded positions zeroed */
    float *outputs[GLIA_RNN_MAX_LAYERS];            /* training: every layer's; else 2, alternating */
    float *gate_store[GLIA_RNN_MAX_LAYERS * 2];     /* training LSTM: per (layer, direction); else [0] */
    float *cell_store[GLIA_RNN_MAX_LAYERS * 2];     /* training LSTM: per (layer, direction) */
    float *h, *c;                                   /* [B, H] running state */
    float *rec;                                     /* [B, GH] recurrent term of one step */
    float *h_n, *c_n;                               /* [layers * directions, B, H] */
    float *dgates, *step_dgates, *dh, *dc, *dh_rec; /* backward: [B*T, GH], [B, GH], [B, H] x 3 */
    float *h_prev;                                  /* backward: [B*T, H] h_{t-1} of every position */
    float *dlayer[2];                               /* backward: dL/d(layer output), alternating */
    /* inference LSTM, lstm_step.h's kernels (forward_direction_fast): lanes = max_batch rounded
     * up to 16; gate_store[0] is then at least [4H, max_steps * lanes] */
    int lanes;
    float *wt;     /* batch below 16 without rnn->packed: W_ih^T then W_hh^T of the direction */
    float *xg;     /* [max_steps * lanes, widest input] the inputs in step order, per direction */
    float *hT[2];  /* [H, lanes] hidden states, this step's and the last */
    float *cT;     /* [H, lanes] cells */
    float *bsum;   /* [4H] b_ih + b_hh */
    uint16_t *run; /* [lanes / 16] the sequences still running at the step */
    /* glia_rnn_forward_table: layer 0's projections by token, for the call's duration */
    const float *table;
    const int32_t *ids;
};

glia_status glia_rnn_ctx_new(const glia_rnn *rnn, int max_batch, int max_steps, int training,
                             glia_rnn_ctx **out, glia_err *err)
{
    *out = NULL;
    if (max_batch <= 0 || max_steps <= 0)
        return glia_err_set(err, GLIA_EINVAL, "rnn: max_batch and max_steps must be positive (got %d, %d)",
                            max_batch, max_steps);
    const glia_rnn_config *cfg = &rnn->cfg;
    const size_t H = (size_t)cfg->hidden_size, GH = (size_t)rnn->gates * H, D = (size_t)rnn->output_size;
    const size_t in = (size_t)cfg->input_size, L = (size_t)cfg->num_layers, dirs = (size_t)rnn->directions;
    size_t widest = GH > D ? GH : D;
    widest = widest > in ? widest : in;
    /* GEMMs see B*T rows and index up to B*T*widest floats with int strides and sizes */
    if ((size_t)max_batch * (size_t)max_steps > (size_t)INT_MAX / widest)
        return glia_err_set(err, GLIA_EINVAL, "rnn: a context for %d sequences of %d steps is too large",
                            max_batch, max_steps);
    const size_t BT = (size_t)max_batch * (size_t)max_steps, B = (size_t)max_batch;
    const int lstm = cfg->mode == GLIA_RNN_LSTM, keep_gates = training && lstm;
    /* the fast inference path's buffers (forward_direction_fast), for every inference LSTM ctx */
    const int fast = lstm && !training;
    const size_t lanes = (B + 15) / 16 * 16, in_widest = in > D ? in : D;
    if (fast && lanes * (size_t)max_steps > (size_t)INT_MAX / widest)
        return glia_err_set(err, GLIA_EINVAL, "rnn: a context for %d sequences of %d steps is too large",
                            max_batch, max_steps);
    const size_t LT = fast ? lanes * (size_t)max_steps : BT;

    glia_rnn_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for an rnn context");
    ctx->cfg = *cfg;
    ctx->gates = rnn->gates;
    ctx->directions = rnn->directions;
    ctx->max_batch = max_batch;
    ctx->max_steps = max_steps;
    ctx->training = training ? 1 : 0;

    /* two passes over the same layout: the first counts, the second hands out slices */
    for (int pass = 0; pass < 2; pass++) {
        size_t used = 0;
        float *base = ctx->block;
#define SLICE(ptr, n)                                                                                        \
    do {                                                                                                     \
        if (pass)                                                                                            \
            (ptr) = base + used;                                                                             \
        used += (n);                                                                                         \
    } while (0)
        if (training)
            SLICE(ctx->input, BT * in);
        for (size_t l = 0; l < (training ? L : 2); l++)
            SLICE(ctx->outputs[l], BT * D);
        for (size_t i = 0; i < (keep_gates ? L * dirs : 1); i++)
            SLICE(ctx->gate_store[i], (LT > BT ? LT : BT) * GH);
        for (size_t i = 0; i < (keep_gates ? L * dirs : 0); i++)
            SLICE(ctx->cell_store[i], BT * H);
        SLICE(ctx->h, B * H);
        SLICE(ctx->c, B * H);
        SLICE(ctx->rec, B * GH);
        SLICE(ctx->h_n, L * dirs * B * H);
        if (lstm)
            SLICE(ctx->c_n, L * dirs * B * H);
        if (fast) {
            SLICE(ctx->wt, (in_widest + H) * GH);
            SLICE(ctx->xg, LT * in_widest);
            SLICE(ctx->hT[0], H * lanes);
            SLICE(ctx->hT[1], H * lanes);
            SLICE(ctx->cT, H * lanes);
            SLICE(ctx->bsum, GH);
        }
        if (training) {
            SLICE(ctx->dgates, BT * GH);
            SLICE(ctx->step_dgates, B * GH);
            SLICE(ctx->dh, B * H);
            SLICE(ctx->dc, B * H);
            SLICE(ctx->dh_rec, B * H);
            SLICE(ctx->h_prev, BT * H);
            if (L > 1) {
                SLICE(ctx->dlayer[0], BT * D);
                SLICE(ctx->dlayer[1], BT * D);
            }
        }
#undef SLICE
        if (!pass) {
            if (used > SIZE_MAX / sizeof(float))
                goto oom;
            ctx->lanes = fast ? (int)lanes : 0;
            ctx->bytes =
                used * sizeof(float) + B * sizeof(int32_t) + lanes / 16 * sizeof(uint16_t) + sizeof *ctx;
            ctx->block = calloc(used, sizeof(float));
            ctx->lengths = calloc(B, sizeof(int32_t));
            ctx->run = fast ? calloc(lanes / 16, sizeof(uint16_t)) : NULL;
            if (!ctx->block || !ctx->lengths || (fast && !ctx->run))
                goto oom;
        }
    }
    *out = ctx;
    return GLIA_OK;
oom:
    glia_rnn_ctx_free(ctx);
    return glia_err_set(err, GLIA_ENOMEM, "out of memory for an rnn context of %d sequences of %d steps",
                        max_batch, max_steps);
}

void glia_rnn_ctx_free(glia_rnn_ctx *ctx)
{
    if (!ctx)
        return;
    free(ctx->block);
    free(ctx->lengths);
    free(ctx->run);
    free(ctx);
}

size_t glia_rnn_ctx_bytes(const glia_rnn_ctx *ctx)
{
    return ctx->bytes;
}

const float *glia_rnn_h_n(const glia_rnn_ctx *ctx)
{
    return ctx->h_n;
}

const float *glia_rnn_c_n(const glia_rnn_ctx *ctx)
{
    return ctx->c_n;
}

/* ---- forward ---- */

/* Position of sequence b (length len) at step s of direction d. */
static inline int position(int d, int len, int s)
{
    return d ? len - 1 - s : s;
}

void glia_lstm_cell(float *restrict a, float *restrict c, float *restrict y, int H)
{
    /* whole rows through the vector kernels; tanh(c) goes through y before o scales it */
    glia_vsigmoid(a, a, 2 * (size_t)H);
    glia_vtanh(a + 2 * H, a + 2 * H, (size_t)H);
    glia_vsigmoid(a + 3 * H, a + 3 * H, (size_t)H);
    for (int j = 0; j < H; j++)
        c[j] = a[H + j] * c[j] + a[j] * a[2 * H + j];
    glia_vtanh(y, c, (size_t)H);
    for (int j = 0; j < H; j++)
        y[j] *= a[3 * H + j];
}

/* forward_direction for an inference LSTM through lstm_step.h's kernels, when the CPU has them
 * and the direction runs fp32 (a bf16 copy goes through forward_direction). Same inputs and
 * results; the sums run in another order, so outputs may differ in the last bits.
 *
 * Fewer than 16 sequences: one after the other, the gates along the units; W_hh^T is made once
 * per call (64 KB at H = 64, against 19 steps that each read all of it). 16 or more: the
 * sequences side by side as vector lanes, every state [H, lanes]; the input projection of
 * every step is one GEMM into gate_store[0] as [4H, steps * lanes] (xg holds the inputs in step
 * order for this direction: the reverse one reads each sequence from its own end), and each
 * step's new states go to y row by row. */
/* Floats before slot's W_ih^T in rnn->packed: each layer and direction holds W_ih^T [in, 4H]
 * then W_hh^T [H, 4H]. */
static size_t packed_offset(const glia_rnn *rnn, int slot)
{
    size_t off = 0;
    for (int i = 0; i < slot; i++) {
        const int in = i / rnn->directions ? rnn->output_size : rnn->cfg.input_size;
        off += (size_t)(in + rnn->cfg.hidden_size) * (size_t)(4 * rnn->cfg.hidden_size);
    }
    return off;
}

glia_status glia_rnn_pack(glia_rnn *rnn, glia_err *err)
{
    glia_rnn_unpack(rnn);
    const int H = rnn->cfg.hidden_size, GH = 4 * H, slots = rnn->cfg.num_layers * rnn->directions;
    if (rnn->cfg.mode != GLIA_RNN_LSTM || H % 16 != 0 || !glia_lstm_step_available())
        return GLIA_OK; /* nothing reads a copy */
    float *packed = malloc(sizeof(float) * packed_offset(rnn, slots));
    if (!packed)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for the LSTM's transposed weights");
    for (int slot = 0; slot < slots; slot++) {
        const int in = slot / rnn->directions ? rnn->output_size : rnn->cfg.input_size;
        float *wt = packed + packed_offset(rnn, slot);
        glia_lstm_step_transpose(rnn->params[slot * 4].value, GH, in, wt);
        glia_lstm_step_transpose(rnn->params[slot * 4 + 1].value, GH, H, wt + (size_t)in * (size_t)GH);
    }
    rnn->packed = packed;
    return GLIA_OK;
}

void glia_rnn_unpack(glia_rnn *rnn)
{
    free(rnn->packed);
    rnn->packed = NULL;
}

static int fast_ok(const glia_rnn *rnn, const glia_rnn_ctx *ctx, const glia_param *p)
{
    const int H = rnn->cfg.hidden_size;
    return ctx->lanes && !p[0].bf16 && !p[1].bf16 && glia_lstm_step_available() &&
           (ctx->batch >= 16 || H % 16 == 0);
}

static void forward_direction_fast(const glia_rnn *rnn, glia_rnn_ctx *ctx, int layer, int d, const float *x,
                                   int in, float *y)
{
    const int B = ctx->batch, T = ctx->steps, H = rnn->cfg.hidden_size, GH = 4 * H;
    const int D = rnn->output_size, slot = layer * rnn->directions + d;
    const glia_param *p = &rnn->params[slot * 4];
    const float *w_ih = p[0].value, *w_hh = p[1].value, *b_ih = p[2].value, *b_hh = p[3].value;
    float *h_n = ctx->h_n + (size_t)slot * (size_t)B * (size_t)H;
    float *c_n = ctx->c_n + (size_t)slot * (size_t)B * (size_t)H;

    /* layer 0 of glia_rnn_forward_table: a position's projection (biases in) is its token's row */
    const float *table = layer == 0 ? ctx->table : NULL;
    const size_t trow = (size_t)rnn->directions * (size_t)GH;

    if (B < 16) {
        const float *wt_ih = ctx->wt, *wt_hh = ctx->wt + (size_t)in * (size_t)GH;
        if (rnn->packed) {
            wt_ih = rnn->packed + packed_offset(rnn, slot);
            wt_hh = wt_ih + (size_t)in * (size_t)GH;
        } else {
            if (!table)
                glia_lstm_step_transpose(w_ih, GH, in, ctx->wt);
            glia_lstm_step_transpose(w_hh, GH, H, ctx->wt + (size_t)in * (size_t)GH);
        }
        for (int j = 0; j < GH; j++)
            ctx->bsum[j] = b_ih[j] + b_hh[j];
        float *c = ctx->c;
        memset(c, 0, sizeof(float) * (size_t)B * (size_t)H);
        float *gates = ctx->gate_store[0];
        for (int b = 0; b < B; b++) {
            const int len = ctx->lengths[b];
            const float *h = NULL;
            float *cb = c + (size_t)b * (size_t)H;
            /* the projection of all the sequence's steps first (fused into each step, W_ih came
             * from L2 once per step: 0.070 ms per batch-1 forward against 0.051 split) */
            if (!table)
                glia_lstm_step_project(len, in, GH, x + (size_t)b * (size_t)T * (size_t)in, wt_ih, ctx->bsum,
                                       gates + (size_t)b * (size_t)T * (size_t)GH);
            for (int s = 0; s < len; s++) {
                const size_t at = (size_t)b * (size_t)T + (size_t)position(d, len, s);
                float *yb = y + at * (size_t)D + (size_t)d * H;
                const float *a = table ? table + (size_t)ctx->ids[at] * trow + (size_t)d * (size_t)GH
                                       : gates + at * (size_t)GH;
                glia_lstm_step_one(H, wt_hh, a, h, cb, yb);
                h = yb;
            }
            memcpy(h_n + (size_t)b * (size_t)H, h, sizeof(float) * (size_t)H);
            memcpy(c_n + (size_t)b * (size_t)H, cb, sizeof(float) * (size_t)H);
        }
        return;
    }

    const size_t lanes = (size_t)(B + 15) / 16 * 16, N = (size_t)ctx->max_len * lanes;
    float *xg = ctx->xg, *pt = ctx->gate_store[0];
    if (table) { /* the tokens' rows as columns of pt; the biases are in them */
        for (int s = 0; s < ctx->max_len; s++)
            for (size_t b0 = 0; b0 < lanes; b0 += 16) {
                const float *rows[16];
                for (size_t i = 0; i < 16; i++) {
                    const size_t b = b0 + i;
                    const int len = b < (size_t)B ? ctx->lengths[b] : 0;
                    rows[i] = s < len
                                  ? table +
                                        (size_t)ctx->ids[b * (size_t)T + (size_t)position(d, len, s)] * trow +
                                        (size_t)d * (size_t)GH
                                  : NULL;
                }
                glia_lstm_step_columns_in(rows, GH, pt + (size_t)s * lanes + b0, N);
            }
        memset(ctx->bsum, 0, sizeof(float) * (size_t)GH);
    }
    for (int s = 0; !table && s < ctx->max_len; s++)
        for (size_t b = 0; b < lanes; b++) {
            float *row = xg + ((size_t)s * lanes + b) * (size_t)in;
            const int len = b < (size_t)B ? ctx->lengths[b] : 0;
            if (s < len)
                memcpy(row, x + (b * (size_t)T + (size_t)position(d, len, s)) * (size_t)in,
                       sizeof(float) * (size_t)in);
            else
                memset(row, 0, sizeof(float) * (size_t)in);
        }
    if (!table) {
        glia_gemm(0, 1, GH, (int)N, in, 1.0f, w_ih, in, xg, in, 0.0f, pt, (int)N);
        for (int j = 0; j < GH; j++)
            ctx->bsum[j] = b_ih[j] + b_hh[j];
    }
    memset(ctx->cT, 0, sizeof(float) * (size_t)H * lanes);
    const float *h = NULL;
    for (int s = 0; s < ctx->max_len; s++) {
        for (size_t q = 0; q < lanes / 16; q++) {
            unsigned m = 0;
            for (size_t i = 0; i < 16 && q * 16 + i < (size_t)B; i++)
                m |= (unsigned)(s < ctx->lengths[q * 16 + i]) << i;
            ctx->run[q] = (uint16_t)m;
        }
        float *h_out = ctx->hT[s & 1];
        glia_lstm_step_lanes(H, B, w_hh, ctx->bsum, pt + (size_t)s * lanes, N, h, ctx->cT, h_out, lanes,
                             ctx->run);
        for (size_t b0 = 0; b0 < (size_t)B; b0 += 16) { /* the running sequences' rows of y */
            float *rows[16];
            for (size_t i = 0; i < 16; i++) {
                const size_t b = b0 + i;
                const int len = b < (size_t)B ? ctx->lengths[b] : 0;
                rows[i] = s < len
                              ? y + (b * (size_t)T + (size_t)position(d, len, s)) * (size_t)D + (size_t)d * H
                              : NULL;
            }
            glia_lstm_step_columns_out(h_out + b0, lanes, H, rows);
        }
        h = h_out;
    }
    for (int b = 0; b < B; b++)
        for (int u = 0; u < H; u++) {
            h_n[(size_t)b * (size_t)H + (size_t)u] = h[(size_t)u * lanes + (size_t)b];
            c_n[(size_t)b * (size_t)H + (size_t)u] = ctx->cT[(size_t)u * lanes + (size_t)b];
        }
}

/* One direction of one layer: x [B*T, in] -> its half of y [B*T, D]; final state into
 * h_n/c_n slot `slot`. */
static void forward_direction(const glia_rnn *rnn, glia_rnn_ctx *ctx, int layer, int d, const float *x,
                              int in, float *y)
{
    const int B = ctx->batch, T = ctx->steps, H = rnn->cfg.hidden_size, GH = rnn->gates * H;
    const int D = rnn->output_size, slot = layer * rnn->directions + d;
    const int lstm = rnn->cfg.mode == GLIA_RNN_LSTM, keep = ctx->training && lstm;
    const glia_param *p = &rnn->params[slot * 4];
    const float *w_hh = p[1].value, *b_ih = p[2].value, *b_hh = p[3].value;
    float *gates = keep ? ctx->gate_store[slot] : ctx->gate_store[0];
    float *cells = keep ? ctx->cell_store[slot] : NULL;
    float *h = ctx->h, *c = ctx->c, *rec = ctx->rec;
    const size_t BT = (size_t)B * (size_t)T;

    /* gates = x W_ih^T + (b_ih + b_hh) at every position at once; rec holds the summed bias
     * until the recurrence overwrites it. Under glia_rnn_forward_table (bf16 copies: the
     * kernels' path takes the fp32 ones) layer 0's are the tokens' rows, biases in. */
    const float *table = layer == 0 ? ctx->table : NULL;
    const size_t trow = (size_t)rnn->directions * (size_t)GH;
    for (int j = 0; j < GH; j++)
        rec[j] = b_ih[j] + b_hh[j];
    if (table) {
        for (int b = 0; b < B; b++)
            for (int t = 0; t < ctx->lengths[b]; t++) {
                const size_t at = (size_t)b * (size_t)T + (size_t)t;
                memcpy(gates + at * (size_t)GH, table + (size_t)ctx->ids[at] * trow + (size_t)d * (size_t)GH,
                       sizeof(float) * (size_t)GH);
            }
    } else {
        glia_linear_forward_param(x, (int)BT, in, &p[0], 0, rec, GH, gates, GH);
    }
    memset(h, 0, sizeof(float) * (size_t)B * (size_t)H);
    memset(c, 0, sizeof(float) * (size_t)B * (size_t)H);

    /* One sequence: the recurrent product lands straight in its gate row (gemv, beta = 1).
     * A batch: one GEMM into rec, added per running row (writing into the gate rows, T rows
     * apart, measured slower: 3.52 -> 3.67 ms of CPU per batch of 64). */
    const int fused = B == 1;

    for (int s = 0; s < ctx->max_len; s++) {
        if (s > 0 && p[1].bf16) /* bf16 inference (bf16.h): the same products, through the copy */
            glia_bf16_gemm(B, GH, h, H, p[1].bf16, 0, fused ? 1.0f : 0.0f,
                           fused ? gates + (size_t)position(d, ctx->lengths[0], s) * (size_t)GH : rec, GH);
        else if (s > 0 && fused)
            glia_gemv(1, GH, H, 1.0f, h, w_hh, H, 1.0f,
                      gates + (size_t)position(d, ctx->lengths[0], s) * (size_t)GH);
        else if (s > 0)
            glia_gemm(0, 1, B, GH, H, 1.0f, h, H, w_hh, H, 0.0f, rec, GH);
        for (int b = 0; b < B; b++) {
            const int len = ctx->lengths[b];
            if (s >= len)
                continue;
            const size_t at = (size_t)b * (size_t)T + (size_t)position(d, len, s);
            float *restrict a = gates + at * (size_t)GH;
            const float *restrict r = rec + (size_t)b * (size_t)GH;
            float *restrict hb = h + (size_t)b * (size_t)H, *restrict yb = y + at * (size_t)D + (size_t)d * H;
            if (s > 0 && !fused)
                for (int j = 0; j < GH; j++)
                    a[j] += r[j];
            if (!lstm) {
                glia_vtanh(yb, a, (size_t)H);
                memcpy(hb, yb, sizeof(float) * (size_t)H);
                continue;
            }
            float *restrict cb = c + (size_t)b * (size_t)H;
            glia_lstm_cell(a, cb, yb, H);
            memcpy(hb, yb, sizeof(float) * (size_t)H);
            if (cells)
                memcpy(cells + at * (size_t)H, cb, sizeof(float) * (size_t)H);
        }
    }
    memcpy(ctx->h_n + (size_t)slot * (size_t)B * (size_t)H, h, sizeof(float) * (size_t)B * (size_t)H);
    if (lstm)
        memcpy(ctx->c_n + (size_t)slot * (size_t)B * (size_t)H, c, sizeof(float) * (size_t)B * (size_t)H);
}

static glia_status run_forward(const glia_rnn *rnn, glia_rnn_ctx *ctx, const float *x, const int32_t *lengths,
                               int batch, int steps, const float **out, glia_err *err)
{
    GLIA_ASSERT(memcmp(&ctx->cfg, &rnn->cfg, sizeof rnn->cfg) == 0);
    *out = NULL;
    ctx->has_forward = 0;
    if (batch < 1 || batch > ctx->max_batch)
        return glia_err_set(err, GLIA_EINVAL, "rnn: batch of %d sequences; this context takes 1..%d", batch,
                            ctx->max_batch);
    if (steps < 1 || steps > ctx->max_steps)
        return glia_err_set(err, GLIA_EINVAL, "rnn: sequences of %d steps; this context takes 1..%d", steps,
                            ctx->max_steps);
    int max_len = 0;
    for (int b = 0; b < batch; b++) {
        int len = lengths ? lengths[b] : steps;
        if (len < 1 || len > steps)
            return glia_err_set(err, GLIA_EINVAL, "rnn: sequence %d has length %d; lengths must be in 1..%d",
                                b, len, steps);
        ctx->lengths[b] = len;
        max_len = len > max_len ? len : max_len;
    }
    ctx->batch = batch;
    ctx->steps = steps;
    ctx->max_len = max_len;

    const size_t BT = (size_t)batch * (size_t)steps, D = (size_t)rnn->output_size;
    int in_size = rnn->cfg.input_size;
    const float *in = x;
    if (ctx->training) {
        const size_t row = (size_t)in_size;
        for (int b = 0; b < batch; b++) {
            size_t first = (size_t)b * (size_t)steps, valid = (size_t)ctx->lengths[b];
            memcpy(ctx->input + first * row, x + first * row, sizeof(float) * valid * row);
            memset(ctx->input + (first + valid) * row, 0, sizeof(float) * ((size_t)steps - valid) * row);
        }
        in = ctx->input;
    }
    for (int l = 0; l < rnn->cfg.num_layers; l++) {
        float *y = ctx->training ? ctx->outputs[l] : ctx->outputs[l & 1];
        memset(y, 0, sizeof(float) * BT * D); /* padded positions stay 0 */
        for (int d = 0; d < rnn->directions; d++)
            if (fast_ok(rnn, ctx, &rnn->params[(l * rnn->directions + d) * 4]))
                forward_direction_fast(rnn, ctx, l, d, in, in_size, y);
            else
                forward_direction(rnn, ctx, l, d, in, in_size, y);
        in = y;
        in_size = rnn->output_size;
    }
    ctx->has_forward = ctx->training;
    *out = in;
    return GLIA_OK;
}

glia_status glia_rnn_forward(const glia_rnn *rnn, glia_rnn_ctx *ctx, const float *x, const int32_t *lengths,
                             int batch, int steps, const float **out, glia_err *err)
{
    ctx->table = NULL;
    ctx->ids = NULL;
    return run_forward(rnn, ctx, x, lengths, batch, steps, out, err);
}

int glia_rnn_table_ok(const glia_rnn *rnn, const glia_rnn_ctx *ctx, int batch)
{
    if (ctx->training || !ctx->lanes || batch < 1 || batch > ctx->max_batch)
        return 0;
    for (int d = 0; d < rnn->directions; d++) {
        const glia_param *p = &rnn->params[d * 4];
        /* the kernels' path (forward_direction_fast), or the reference one with bf16 copies of
         * both matrices (forward_direction, which then copies the rows instead of projecting) */
        const int fast = !p[0].bf16 && !p[1].bf16 && glia_lstm_step_available() &&
                         (batch >= 16 || rnn->cfg.hidden_size % 16 == 0);
        if (!fast && !(p[0].bf16 && p[1].bf16))
            return 0;
    }
    return 1;
}

void glia_rnn_table_fill(const glia_rnn *rnn, const float *x, int rows, float *table)
{
    const int GH = 4 * rnn->cfg.hidden_size, in = rnn->cfg.input_size, dirs = rnn->directions;
    for (int d = 0; d < dirs; d++) {
        const glia_param *p = &rnn->params[d * 4];
        float *t = table + (size_t)d * (size_t)GH;
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < GH; j++)
                t[(size_t)r * (size_t)dirs * (size_t)GH + (size_t)j] = p[2].value[j] + p[3].value[j];
        /* with a bf16 copy, the product forward_direction's projection makes from it */
        if (p[0].bf16)
            glia_bf16_gemm(rows, GH, x, in, p[0].bf16, 0, 1.0f, t, dirs * GH);
        else
            glia_gemm(0, 1, rows, GH, in, 1.0f, x, in, p[0].value, in, 1.0f, t, dirs * GH);
    }
}

glia_status glia_rnn_forward_table(const glia_rnn *rnn, glia_rnn_ctx *ctx, const float *table,
                                   const int32_t *ids, const int32_t *lengths, int batch, int steps,
                                   const float **out, glia_err *err)
{
    GLIA_ASSERT(glia_rnn_table_ok(rnn, ctx, batch));
    ctx->table = table;
    ctx->ids = ids;
    glia_status rc = run_forward(rnn, ctx, NULL, lengths, batch, steps, out, err);
    ctx->table = NULL;
    ctx->ids = NULL;
    return rc;
}

/* ---- backward ---- */

/* One direction of one layer. x [B*T, in] is the layer's input and y [B*T, D] its output;
 * dy [B*T, D] is dL/dy (read at valid positions only). dx [B*T, in] receives dL/dx,
 * overwritten (accumulate 0) or added to (1); NULL skips it. */
static void backward_direction(glia_rnn *rnn, glia_rnn_ctx *ctx, int layer, int d, const float *x, int in,
                               const float *y, const float *dy, const float *dh_n, const float *dc_n,
                               float *dx, int accumulate)
{
    const int B = ctx->batch, T = ctx->steps, H = rnn->cfg.hidden_size, GH = rnn->gates * H;
    const int D = rnn->output_size, slot = layer * rnn->directions + d;
    const int lstm = rnn->cfg.mode == GLIA_RNN_LSTM;
    glia_param *p = &rnn->params[slot * 4];
    const float *w_ih = p[0].value, *w_hh = p[1].value;
    const float *gates = lstm ? ctx->gate_store[slot] : NULL, *cells = lstm ? ctx->cell_store[slot] : NULL;
    float *dA = ctx->dgates, *step = ctx->step_dgates, *dh = ctx->dh, *dc = ctx->dc, *dh_rec = ctx->dh_rec;
    const size_t BT = (size_t)B * (size_t)T, BH = (size_t)B * (size_t)H;

    memset(dA, 0, sizeof(float) * BT * (size_t)GH); /* padded positions: no gradient */
    memset(step, 0, sizeof(float) * (size_t)B * (size_t)GH);
    if (dh_n)
        memcpy(dh, dh_n + (size_t)slot * BH, sizeof(float) * BH);
    else
        memset(dh, 0, sizeof(float) * BH);
    if (lstm && dc_n)
        memcpy(dc, dc_n + (size_t)slot * BH, sizeof(float) * BH);
    else
        memset(dc, 0, sizeof(float) * BH);

    for (int s = ctx->max_len - 1; s >= 0; s--) {
        for (int b = 0; b < B; b++) {
            const int len = ctx->lengths[b];
            if (s >= len)
                continue;
            const int pos = position(d, len, s);
            const size_t at = (size_t)b * (size_t)T + (size_t)pos;
            const float *restrict dyb = dy + at * (size_t)D + (size_t)d * H;
            float *restrict dhb = dh + (size_t)b * (size_t)H;
            float *restrict da = dA + at * (size_t)GH, *restrict st = step + (size_t)b * (size_t)GH;
            if (!lstm) {
                const float *restrict yb = y + at * (size_t)D + (size_t)d * H;
                for (int j = 0; j < H; j++) {
                    float g = dyb[j] + dhb[j];
                    st[j] = da[j] = g * (1.0f - yb[j] * yb[j]);
                }
                continue;
            }
            const float *restrict a = gates + at * (size_t)GH, *restrict cb = cells + at * (size_t)H;
            /* c_{t-1}: the previous step's cell of this direction, 0 before the first */
            const float *cprev =
                s > 0 ? cells + ((size_t)b * (size_t)T + (size_t)position(d, len, s - 1)) * H : NULL;
            float *restrict dcb = dc + (size_t)b * (size_t)H;
            for (int j = 0; j < H; j++) {
                float i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
                float tc = tanhf(cb[j]), cp = cprev ? cprev[j] : 0.0f;
                float dhj = dyb[j] + dhb[j];
                float dcj = dcb[j] + dhj * o * (1.0f - tc * tc);
                st[j] = da[j] = dcj * g * i * (1.0f - i);
                st[H + j] = da[H + j] = dcj * cp * f * (1.0f - f);
                st[2 * H + j] = da[2 * H + j] = dcj * i * (1.0f - g * g);
                st[3 * H + j] = da[3 * H + j] = dhj * tc * o * (1.0f - o);
                dcb[j] = dcj * f;
            }
        }
        if (s == 0)
            break; /* every sequence's first step: nothing earlier to carry to */
        glia_gemm(0, 0, B, H, GH, 1.0f, step, GH, w_hh, H, 0.0f, dh_rec, H);
        for (int b = 0; b < B; b++)
            if (s < ctx->lengths[b])
                memcpy(dh + (size_t)b * (size_t)H, dh_rec + (size_t)b * (size_t)H, sizeof(float) * (size_t)H);
    }

    /* h_{t-1} of every position (0 at each sequence's first step and at padding) */
    float *hp = ctx->h_prev;
    memset(hp, 0, sizeof(float) * BT * (size_t)H);
    for (int b = 0; b < B; b++) {
        const int len = ctx->lengths[b];
        for (int s = 1; s < len; s++) {
            size_t at = (size_t)b * (size_t)T + (size_t)position(d, len, s);
            size_t prev = (size_t)b * (size_t)T + (size_t)position(d, len, s - 1);
            memcpy(hp + at * (size_t)H, y + prev * (size_t)D + (size_t)d * H, sizeof(float) * (size_t)H);
        }
    }
    glia_linear_backward(x, (int)BT, in, w_ih, p[0].grad, NULL, GH, dA, GH, NULL, 0.0f);
    if (p[1].grad)
        glia_gemm(1, 0, GH, H, (int)BT, 1.0f, dA, GH, hp, H, 1.0f, p[1].grad, H);
    float *gb_ih = p[2].grad, *gb_hh = p[3].grad;
    if (gb_ih || gb_hh) {
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < ctx->lengths[b]; t++) {
                const float *restrict da = dA + ((size_t)b * (size_t)T + (size_t)t) * (size_t)GH;
                for (int j = 0; gb_ih && j < GH; j++)
                    gb_ih[j] += da[j];
                for (int j = 0; gb_hh && j < GH; j++)
                    gb_hh[j] += da[j];
            }
        }
    }
    /* the input projection's dx; its bias gradient is the two biases' sums over valid steps above */
    glia_linear_backward(x, (int)BT, in, w_ih, NULL, NULL, GH, dA, GH, dx, accumulate ? 1.0f : 0.0f);
}

void glia_rnn_backward(glia_rnn *rnn, glia_rnn_ctx *ctx, const float *dout, const float *dh_n,
                       const float *dc_n, float *dx)
{
    GLIA_ASSERT(memcmp(&ctx->cfg, &rnn->cfg, sizeof rnn->cfg) == 0);
    GLIA_ASSERT(ctx->training && ctx->has_forward);
    const int L = rnn->cfg.num_layers;
    const float *dy = dout;
    for (int l = L - 1; l >= 0; l--) {
        const float *x = l ? ctx->outputs[l - 1] : ctx->input;
        const int in = l ? rnn->output_size : rnn->cfg.input_size;
        float *dx_l = l ? ctx->dlayer[(l - 1) & 1] : dx;
        for (int d = 0; d < rnn->directions; d++)
            backward_direction(rnn, ctx, l, d, x, in, ctx->outputs[l], dy, dh_n, dc_n, dx_l, d > 0);
        dy = dx_l;
    }
}

/* ---- pooling over time ---- */

glia_status glia_rnn_pool_parse(const char *name, glia_rnn_pool *pool, glia_err *err)
{
    if (strcmp(name, "last") == 0)
        *pool = GLIA_RNN_POOL_LAST;
    else if (strcmp(name, "mean") == 0)
        *pool = GLIA_RNN_POOL_MEAN;
    else if (strcmp(name, "max") == 0)
        *pool = GLIA_RNN_POOL_MAX;
    else
        return glia_err_set(err, GLIA_ENOTFOUND, "unknown pooling '%s' (known: last, mean, max)", name);
    return GLIA_OK;
}

/* The step LAST picks for feature f: the reverse half's last state is at position 0. */
static inline int last_step(int f, int features, int directions, int len)
{
    return directions == 2 && f >= features / 2 ? 0 : len - 1;
}

/* The step MAX picks for feature f of sequence xb: the first maximum, or the first NaN. */
static inline int max_step(const float *xb, int f, int features, int len)
{
    int best = 0;
    float v = xb[f];
    for (int t = 1; t < len && !isnan(v); t++) {
        float u = xb[(size_t)t * (size_t)features + (size_t)f];
        if (u > v || isnan(u)) {
            v = u;
            best = t;
        }
    }
    return best;
}

void glia_rnn_pool_forward(glia_rnn_pool pool, const float *x, const int32_t *lengths, int batch, int steps,
                           int features, int directions, float *y)
{
    GLIA_ASSERT(directions == 1 || (directions == 2 && features % 2 == 0));
    const size_t F = (size_t)features;
    for (int b = 0; b < batch; b++) {
        const int len = lengths ? lengths[b] : steps;
        const float *xb = x + (size_t)b * (size_t)steps * F;
        float *restrict yb = y + (size_t)b * F;
        switch (pool) {
        case GLIA_RNN_POOL_LAST:
            for (int f = 0; f < features; f++)
                yb[f] = xb[(size_t)last_step(f, features, directions, len) * F + (size_t)f];
            break;
        case GLIA_RNN_POOL_MEAN:
            memcpy(yb, xb, sizeof(float) * F);
            for (int t = 1; t < len; t++)
                for (size_t f = 0; f < F; f++)
                    yb[f] += xb[(size_t)t * F + f];
            for (size_t f = 0; f < F; f++)
                yb[f] /= (float)len;
            break;
        case GLIA_RNN_POOL_MAX:
            /* max_step's answer, row by row so the loop runs along memory and vectorises:
             * the largest value, or the column's first NaN */
            memcpy(yb, xb, sizeof(float) * F);
            for (int t = 1; t < len; t++) {
                const float *restrict row = xb + (size_t)t * F;
                for (size_t f = 0; f < F; f++) {
                    float v = yb[f], u = row[f];
                    yb[f] = v != v || !(u > v || u != u) ? v : u;
                }
            }
            break;
        }
    }
}

void glia_rnn_pool_backward(glia_rnn_pool pool, const float *x, const int32_t *lengths, int batch, int steps,
                            int features, int directions, const float *dy, float *dx)
{
    GLIA_ASSERT(directions == 1 || (directions == 2 && features % 2 == 0));
    const size_t F = (size_t)features;
    memset(dx, 0, sizeof(float) * (size_t)batch * (size_t)steps * F);
    for (int b = 0; b < batch; b++) {
        const int len = lengths ? lengths[b] : steps;
        const float *xb = x + (size_t)b * (size_t)steps * F, *dyb = dy + (size_t)b * F;
        float *dxb = dx + (size_t)b * (size_t)steps * F;
        switch (pool) {
        case GLIA_RNN_POOL_LAST:
            for (int f = 0; f < features; f++)
                dxb[(size_t)last_step(f, features, directions, len) * F + (size_t)f] = dyb[f];
            break;
        case GLIA_RNN_POOL_MEAN:
            for (int t = 0; t < len; t++)
                for (size_t f = 0; f < F; f++)
                    dxb[(size_t)t * F + f] = dyb[f] / (float)len;
            break;
        case GLIA_RNN_POOL_MAX:
            for (int f = 0; f < features; f++)
                dxb[(size_t)max_step(xb, f, features, len) * F + (size_t)f] = dyb[f];
            break;
        }
    }
}
