/*
 * transformer.c - see transformer.h.
 *
 * A layer is a chain of sublayers, each f(u) with a residual connection and a norm:
 *   post-norm: h = x + drop(f(x)), out = norm(h)      (saved: h, the norm statistics)
 *   pre-norm:  u = norm(x), out = x + drop(f(u))     (saved: u, the norm statistics)
 * where f is self-attention, cross-attention or the feed-forward block. Backward of a
 * sublayer is the same chain reversed, so one forward and one backward routine per
 * sublayer kind serve both layer types and both norm placements.
 *
 * Attention: q = u Wq^T + bq is one GEMM over all rows, kv = src W_kv^T + b_kv another
 * (src = u for self-attention, the memory for cross-attention); then per (sequence, head)
 * one GEMM for the scores of the valid queries against the valid keys and one for
 * probabilities x values. The causal mask cuts each score row at its own position.
 * Dropout of the probabilities keeps both the softmax p and the dropped pd = p * keep /
 * (1 - dropout); backward recovers the mask as pd != 0 (where p is 0 the mask does not
 * matter: d(score) = p (dp - sum p dp)). The feed-forward block keeps only
 * drop(relu(z)), whose positive entries are exactly the ones ReLU and dropout both pass.
 *
 * Padded rows: the input copies have them zeroed, attention never reads padded keys and
 * writes 0 for padded queries, and backward zeroes the output gradient there, so every
 * gradient at a padded row is exactly 0 and adds nothing to the weight-gradient GEMMs
 * (which run over the whole padded block).
 */
#include "core/nn/transformer.h"

#include "core/nn/bf16.h"
#include "core/nn/kernels.h"
#include "core/nn/panel.h"
#include "core/nn/params.h"
#include "core/nn/skinny.h"
#include "core/nn/vmath.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- layer norm ---- */

#define LN_LANES 8

void glia_layernorm_forward(const float *x, int n, int dim, const float *weight, const float *bias, float eps,
                            float *y, float *mean, float *rstd)
{
    for (int i = 0; i < n; i++) {
        const float *restrict xi = x + (size_t)i * (size_t)dim;
        float *restrict yi = y + (size_t)i * (size_t)dim;
        double s = 0.0;
        for (int j = 0; j < dim; j++)
            s += xi[j];
        const double mu = s / dim;
        double v = 0.0;
        for (int j = 0; j < dim; j++) {
            double d = xi[j] - mu;
            v += d * d;
        }
        const float r = (float)(1.0 / sqrt(v / dim + (double)eps)), m = (float)mu;
        for (int j = 0; j < dim; j++)
            yi[j] = (xi[j] - m) * r * weight[j] + bias[j];
        if (mean)
            mean[i] = m;
        if (rstd)
            rstd[i] = r;
    }
}

void glia_layernorm_backward(const float *x, const float *mean, const float *rstd, const float *weight,
                             const float *dy, int n, int dim, float *dx, float *dweight, float *dbias)
{
    for (int i = 0; i < n; i++) {
        const float *restrict xi = x + (size_t)i * (size_t)dim, *restrict dyi = dy + (size_t)i * (size_t)dim;
        float *restrict dxi = dx + (size_t)i * (size_t)dim;
        const float m = mean[i], r = rstd[i];
        /* sums of g = dy * w and of g * xhat in LN_LANES independent partial sums: one serial
         * chain of double adds per row kept the loop from vectorising */
        double a[LN_LANES] = {0}, c[LN_LANES] = {0};
        const int db = dim - dim % LN_LANES;
        for (int j = 0; j < db; j += LN_LANES)
            for (int l = 0; l < LN_LANES; l++) {
                const float xh = (xi[j + l] - m) * r, g = dyi[j + l] * weight[j + l];
                a[l] += g;
                c[l] += (double)g * xh;
            }
        for (int j = db; j < dim; j++) {
            const float xh = (xi[j] - m) * r, g = dyi[j] * weight[j];
            a[0] += g;
            c[0] += (double)g * xh;
        }
        if (dweight)
            for (int j = 0; j < dim; j++)
                dweight[j] += dyi[j] * ((xi[j] - m) * r);
        if (dbias)
            for (int j = 0; j < dim; j++)
                dbias[j] += dyi[j];
        double as = 0.0, cs = 0.0;
        for (int l = 0; l < LN_LANES; l++) {
            as += a[l];
            cs += c[l];
        }
        const float ma = (float)(as / dim), mc = (float)(cs / dim);
        for (int j = 0; j < dim; j++) {
            const float xh = (xi[j] - m) * r;
            dxi[j] = r * (dyi[j] * weight[j] - ma - xh * mc);
        }
    }
}

/* ---- attention ---- */

static inline int row_limit(const glia_attn_shape *s, int sk, int t)
{
    return s->causal && t + 1 < sk ? t + 1 : sk;
}

void glia_attention_forward(const glia_attn_shape *s, const float *q, int ldq, const float *k, const float *v,
                            int ldkv, float *p, float *pd, float dropout, glia_rng *rng, float *out, int ldo)
{
    const int B = s->batch, H = s->heads, Dh = s->head_dim, T = s->q_steps, S = s->kv_steps;
    const float scale = 1.0f / sqrtf((float)Dh);
    const int drop = dropout > 0.0f && rng && pd != p;
    for (int b = 0; b < B; b++) {
        const int tq = s->q_lengths[b], sk = s->kv_lengths[b];
        for (int h = 0; h < H; h++) {
            const size_t at = ((size_t)b * (size_t)H + (size_t)h) * (size_t)T * (size_t)S;
            float *pb = p + at, *pdb = drop ? pd + at : pb;
            const float *qb = q + (size_t)b * (size_t)T * (size_t)ldq + (size_t)h * (size_t)Dh;
            const float *kb = k + (size_t)b * (size_t)S * (size_t)ldkv + (size_t)h * (size_t)Dh;
            const float *vb = v + (size_t)b * (size_t)S * (size_t)ldkv + (size_t)h * (size_t)Dh;
            glia_gemm(0, 1, tq, sk, Dh, scale, qb, ldq, kb, ldkv, 0.0f, pb, S);
            for (int t = 0; t < T; t++) {
                float *restrict row = pb + (size_t)t * (size_t)S;
                if (t >= tq) {
                    memset(row, 0, sizeof(float) * (size_t)S);
                    if (drop)
                        memset(pdb + (size_t)t * (size_t)S, 0, sizeof(float) * (size_t)S);
                    continue;
                }
                const int lim = row_limit(s, sk, t);
                float mx = row[0];
                for (int j = 1; j < lim; j++)
                    mx = row[j] > mx ? row[j] : mx;
                float sum = 0.0f;
                for (int j = 0; j < lim; j++) {
                    row[j] = expf(row[j] - mx);
                    sum += row[j];
                }
                const float inv = 1.0f / sum;
                for (int j = 0; j < lim; j++)
                    row[j] *= inv;
                memset(row + lim, 0, sizeof(float) * (size_t)(S - lim));
                if (drop) {
                    float *dr = pdb + (size_t)t * (size_t)S;
                    glia_dropout_forward(row, dr, NULL, (size_t)lim, dropout, rng);
                    memset(dr + lim, 0, sizeof(float) * (size_t)(S - lim));
                }
            }
            glia_gemm(0, 0, tq, Dh, sk, 1.0f, pdb, S, vb, ldkv, 0.0f,
                      out + (size_t)b * (size_t)T * (size_t)ldo + (size_t)h * (size_t)Dh, ldo);
        }
        for (int t = tq; t < T; t++)
            memset(out + ((size_t)b * (size_t)T + (size_t)t) * (size_t)ldo, 0,
                   sizeof(float) * (size_t)H * Dh);
    }
}

void glia_attention_backward(const glia_attn_shape *s, const float *q, int ldq, const float *k,
                             const float *v, int ldkv, const float *p, const float *pd, float dropout,
                             const float *dout, int ldo, float *dq, float *dk, float *dv, float *scratch)
{
    const int B = s->batch, H = s->heads, Dh = s->head_dim, T = s->q_steps, S = s->kv_steps, E = H * Dh;
    const float scale = 1.0f / sqrtf((float)Dh);
    const int drop = dropout > 0.0f && pd && pd != p;
    const float keep_scale = dropout < 1.0f ? 1.0f / (1.0f - dropout) : 0.0f;
    for (size_t r = 0; r < (size_t)B * (size_t)T; r++)
        memset(dq + r * (size_t)ldq, 0, sizeof(float) * (size_t)E);
    for (size_t r = 0; r < (size_t)B * (size_t)S; r++) {
        memset(dk + r * (size_t)ldkv, 0, sizeof(float) * (size_t)E);
        memset(dv + r * (size_t)ldkv, 0, sizeof(float) * (size_t)E);
    }
    for (int b = 0; b < B; b++) {
        const int tq = s->q_lengths[b], sk = s->kv_lengths[b];
        for (int h = 0; h < H; h++) {
            const size_t at = ((size_t)b * (size_t)H + (size_t)h) * (size_t)T * (size_t)S;
            const float *pb = p + at, *pdb = drop ? pd + at : pb;
            const size_t qo = (size_t)b * (size_t)T * (size_t)ldq + (size_t)h * (size_t)Dh;
            const size_t ko = (size_t)b * (size_t)S * (size_t)ldkv + (size_t)h * (size_t)Dh;
            const float *dob = dout + (size_t)b * (size_t)T * (size_t)ldo + (size_t)h * (size_t)Dh;
            /* d(pd) = dout v^T; dv += pd^T dout */
            glia_gemm(0, 1, tq, sk, Dh, 1.0f, dob, ldo, v + ko, ldkv, 0.0f, scratch, S);
            glia_gemm(1, 0, sk, Dh, tq, 1.0f, pdb, S, dob, ldo, 1.0f, dv + ko, ldkv);
            for (int t = 0; t < tq; t++) {
                const int lim = row_limit(s, sk, t);
                float *restrict ds = scratch + (size_t)t * (size_t)S;
                const float *restrict pr = pb + (size_t)t * (size_t)S;
                if (drop) {
                    const float *restrict dr = pdb + (size_t)t * (size_t)S;
                    for (int j = 0; j < lim; j++)
                        ds[j] = dr[j] != 0.0f ? ds[j] * keep_scale : 0.0f;
                }
                float c = 0.0f;
                for (int j = 0; j < lim; j++)
                    c += pr[j] * ds[j];
                for (int j = 0; j < lim; j++)
                    ds[j] = pr[j] * (ds[j] - c) * scale;
                for (int j = lim; j < sk; j++)
                    ds[j] = 0.0f;
            }
            /* dq += ds k, dk += ds^T q (the 1/sqrt(Dh) is folded into ds) */
            glia_gemm(0, 0, tq, Dh, sk, 1.0f, scratch, S, k + ko, ldkv, 1.0f, dq + qo, ldq);
            glia_gemm(1, 0, sk, Dh, tq, 1.0f, scratch, S, q + qo, ldq, 1.0f, dk + ko, ldkv);
        }
    }
}

/* ---- positional encoding, scaled embeddings ---- */

void glia_tf_positional_encoding(float *pe, int steps, int d_model)
{
    for (int pos = 0; pos < steps; pos++)
        for (int i = 0; i < d_model; i += 2) {
            double angle = pos * exp((double)i * (-log(10000.0) / d_model));
            pe[(size_t)pos * (size_t)d_model + (size_t)i] = (float)sin(angle);
            if (i + 1 < d_model)
                pe[(size_t)pos * (size_t)d_model + (size_t)i + 1] = (float)cos(angle);
        }
}

glia_status glia_tf_embed_forward(const glia_embedding *e, const float *pe, const int32_t *ids,
                                  const int32_t *lengths, int batch, int steps, int start, float *out,
                                  glia_err *err)
{
    glia_status rc = glia_embedding_forward(e, ids, lengths, batch, steps, out, err);
    if (rc != GLIA_OK)
        return rc;
    const size_t E = (size_t)e->embedding_dim;
    const float scale = sqrtf((float)E);
    for (int b = 0; b < batch; b++) {
        const int len = lengths ? lengths[b] : steps;
        for (int t = 0; t < len; t++) {
            float *restrict row = out + ((size_t)b * (size_t)steps + (size_t)t) * E;
            const float *restrict pr = pe + (size_t)(start + t) * E;
            for (size_t j = 0; j < E; j++)
                row[j] = row[j] * scale + pr[j];
        }
    }
    return GLIA_OK;
}

void glia_tf_embed_backward(glia_embedding *e, const int32_t *ids, const int32_t *lengths, int batch,
                            int steps, const float *dout)
{
    GLIA_ASSERT(e->weight.grad);
    const size_t dim = (size_t)e->embedding_dim;
    const float scale = sqrtf((float)dim);
    for (int b = 0; b < batch; b++) {
        const int len = lengths ? lengths[b] : steps;
        for (int t = 0; t < len; t++) {
            const size_t at = (size_t)b * (size_t)steps + (size_t)t;
            const int32_t id = ids[at];
            GLIA_ASSERT(id >= 0 && id < e->num_embeddings);
            if (id == e->padding_idx)
                continue;
            float *restrict g = e->weight.grad + (size_t)id * dim;
            const float *restrict d = dout + at * dim;
            for (size_t j = 0; j < dim; j++)
                g[j] += scale * d[j];
        }
    }
}

/* ---- stacks: parameters ---- */

/* Offsets of a layer's parameters (state_dict order). */
enum {
    P_SA = 0, /* self_attn: in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias */
    P_ENC_FF = 4,
    P_ENC_N1 = 8,
    P_ENC_N2 = 10,
    P_DEC_CA = 4,
    P_DEC_FF = 8,
    P_DEC_N1 = 12,
    P_DEC_N2 = 14,
    P_DEC_N3 = 16,
};

glia_tf_config glia_tf_config_default(int d_model, int nhead, int dim_feedforward, int num_layers)
{
    return (glia_tf_config){d_model, nhead, dim_feedforward, num_layers, 0.1f, 1e-5f, 0};
}

static glia_status add_param(glia_tf_stack *st, const char *prefix, const char *local, int ndim, int64_t d0,
                             int64_t d1, glia_err *err)
{
    glia_param *p = &st->params[st->nparams++];
    int64_t shape[2] = {d0, d1};
    glia_param_shape(p, ndim, shape, ndim > 1);
    st->size += p->size;
    return glia_param_name(p, prefix, local, err);
}

glia_status glia_tf_stack_init(glia_tf_stack *st, glia_tf_kind kind, const glia_tf_config *cfg,
                               const char *prefix, glia_err *err)
{
    memset(st, 0, sizeof *st);
    if (kind != GLIA_TF_ENCODER && kind != GLIA_TF_DECODER)
        return glia_err_set(err, GLIA_EINVAL, "transformer: unknown stack kind %d", (int)kind);
    if (cfg->d_model <= 0 || cfg->nhead <= 0 || cfg->dim_feedforward <= 0)
        return glia_err_set(
            err, GLIA_EINVAL,
            "transformer: d_model, nhead and dim_feedforward must be positive (got %d, %d, %d)", cfg->d_model,
            cfg->nhead, cfg->dim_feedforward);
    if (cfg->d_model % cfg->nhead != 0)
        return glia_err_set(err, GLIA_EINVAL, "transformer: nhead %d does not divide d_model %d", cfg->nhead,
                            cfg->d_model);
    if (cfg->d_model > (1 << 20) || cfg->dim_feedforward > (1 << 22))
        return glia_err_set(err, GLIA_EINVAL, "transformer: d_model %d or dim_feedforward %d is too large",
                            cfg->d_model, cfg->dim_feedforward);
    if (cfg->num_layers < 1 || cfg->num_layers > GLIA_TF_MAX_LAYERS)
        return glia_err_set(err, GLIA_EINVAL, "transformer: num_layers must be in 1..%d (got %d)",
                            GLIA_TF_MAX_LAYERS, cfg->num_layers);
    if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f))
        return glia_err_set(err, GLIA_EINVAL, "transformer: dropout must be in [0, 1) (got %g)",
                            (double)cfg->dropout);
    if (!(cfg->layer_norm_eps > 0.0f))
        return glia_err_set(err, GLIA_EINVAL, "transformer: layer_norm_eps must be positive (got %g)",
                            (double)cfg->layer_norm_eps);
    if (cfg->norm_first != 0 && cfg->norm_first != 1)
        return glia_err_set(err, GLIA_EINVAL, "transformer: norm_first must be 0 or 1 (got %d)",
                            cfg->norm_first);
    st->kind = kind;
    st->cfg = *cfg;
    st->per_layer = kind == GLIA_TF_ENCODER ? GLIA_TF_ENC_LAYER_PARAMS : GLIA_TF_DEC_LAYER_PARAMS;
    const int64_t E = cfg->d_model, F = cfg->dim_feedforward;
    const int has = prefix && *prefix;
    for (int l = 0; l < cfg->num_layers; l++) {
        char base[GLIA_NAME_MAX];
        snprintf(base, sizeof base, "%s%slayers.%d", has ? prefix : "", has ? "." : "", l);
        static const char *const attn[2] = {"self_attn", "multihead_attn"};
        for (int a = 0; a < (kind == GLIA_TF_DECODER ? 2 : 1); a++) {
            char local[64];
            glia_status rc;
            snprintf(local, sizeof local, "%s.in_proj_weight", attn[a]);
            if ((rc = add_param(st, base, local, 2, 3 * E, E, err)) != GLIA_OK)
                return rc;
            snprintf(local, sizeof local, "%s.in_proj_bias", attn[a]);
            if ((rc = add_param(st, base, local, 1, 3 * E, 0, err)) != GLIA_OK)
                return rc;
            snprintf(local, sizeof local, "%s.out_proj.weight", attn[a]);
            if ((rc = add_param(st, base, local, 2, E, E, err)) != GLIA_OK)
                return rc;
            snprintf(local, sizeof local, "%s.out_proj.bias", attn[a]);
            if ((rc = add_param(st, base, local, 1, E, 0, err)) != GLIA_OK)
                return rc;
        }
        glia_status rc;
        if ((rc = add_param(st, base, "linear1.weight", 2, F, E, err)) != GLIA_OK ||
            (rc = add_param(st, base, "linear1.bias", 1, F, 0, err)) != GLIA_OK ||
            (rc = add_param(st, base, "linear2.weight", 2, E, F, err)) != GLIA_OK ||
            (rc = add_param(st, base, "linear2.bias", 1, E, 0, err)) != GLIA_OK)
            return rc;
        for (int n = 1; n <= (kind == GLIA_TF_DECODER ? 3 : 2); n++) {
            char local[32];
            snprintf(local, sizeof local, "norm%d.weight", n);
            if ((rc = add_param(st, base, local, 1, E, 0, err)) != GLIA_OK)
                return rc;
            snprintf(local, sizeof local, "norm%d.bias", n);
            if ((rc = add_param(st, base, local, 1, E, 0, err)) != GLIA_OK)
                return rc;
        }
    }
    glia_status rc;
    if ((rc = add_param(st, prefix, "norm.weight", 1, E, 0, err)) != GLIA_OK ||
        (rc = add_param(st, prefix, "norm.bias", 1, E, 0, err)) != GLIA_OK)
        return rc;
    for (int i = 0; i < st->nparams; i++)
        st->params[i].decay = 1;
    return GLIA_OK;
}

void glia_tf_stack_bind(glia_tf_stack *st, float *values, float *grads)
{
    glia_params_bind(st->params, st->nparams, values, grads);
}

void glia_tf_stack_reset(glia_tf_stack *st, glia_rng *rng)
{
    const int attn = st->kind == GLIA_TF_DECODER ? 8 : 4; /* attention parameters per layer, linears follow */
    for (int i = 0; i < st->nparams; i++) {
        glia_param *p = &st->params[i];
        GLIA_ASSERT(p->value);
        const int local = i < st->nparams - 2 ? i % st->per_layer : -1;
        if (p->ndim == 2) { /* xavier_uniform_: fan_in = shape[1], fan_out = shape[0] */
            float bound = sqrtf(6.0f / (float)(p->shape[0] + p->shape[1]));
            glia_fill_uniform(p->value, p->size, bound, rng);
        } else if (local == attn + 1 || local == attn + 3) {
            /* nn.Linear's bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = the weight's columns */
            float bound = 1.0f / sqrtf((float)st->params[i - 1].shape[1]);
            glia_fill_uniform(p->value, p->size, bound, rng);
        } else if ((local >= attn + 4 || local < 0) && (local < 0 ? i == st->nparams - 2 : local % 2 == 0)) {
            for (size_t j = 0; j < p->size; j++) /* a norm's weight */
                p->value[j] = 1.0f;
        } else {
            memset(p->value, 0, sizeof(float) * p->size); /* attention biases, norm biases */
        }
    }
}

/* ---- stacks: run context ---- */

typedef enum { SUB_SELF, SUB_CROSS, SUB_FF } sub_kind;

typedef struct {
    float *aux;         /* [N, E] post-norm: x + drop(f(x)) (the norm's input); pre-norm: norm(x) */
    float *mean, *rstd; /* [N] the norm's statistics */
    float *out;         /* [N, E] the sublayer's output */
    uint8_t *mask;      /* [N, E] residual dropout: 1 kept (training with dropout) */
    float *q, *kv;      /* attention: [N, E], [Nk, 2E] */
    float *p, *pd;      /* attention: [B, H, T, Tk] probabilities; after dropout (else pd == p) */
    float *att;         /* attention: [N, E] heads concatenated, before out_proj */
    float *hid;         /* feed-forward: [N, F] drop(relu(linear1(u))) */
} tf_sub;

struct glia_tf_ctx {
    glia_tf_kind kind;
    glia_tf_config cfg;
    int nsub, max_batch, max_steps, max_mem, training;
    size_t max_rows, max_keys; /* batch x steps and batch x memory steps at most */
    size_t bytes;
    float *block;
    uint8_t *masks;
    int32_t *len, *mem_len;
    int batch, steps, mem_steps, dropping, has_forward;
    int no_dropout;                    /* a training ctx kept for an explanation: inference's forward */
    float *input;                      /* [N, E] x with padded rows zeroed */
    float *mem;                        /* decoder: [Nk, E] memory with padded rows zeroed */
    tf_sub sub[GLIA_TF_MAX_LAYERS][3]; /* inference: every layer uses [0] */
    float *fin_mean, *fin_rstd, *out;  /* final norm */
    float *f;                          /* [N, E] a sublayer's f before dropout */
    float *g[2], *df, *du, *datt, *dq, *dkv, *dp, *dhid; /* backward */
};

static int nsub_of(glia_tf_kind kind)
{
    return kind == GLIA_TF_DECODER ? 3 : 2;
}

static sub_kind kind_of(glia_tf_kind kind, int k)
{
    if (kind == GLIA_TF_ENCODER)
        return k == 0 ? SUB_SELF : SUB_FF;
    return k == 0 ? SUB_SELF : k == 1 ? SUB_CROSS : SUB_FF;
}

const float *glia_tf_cross_attention(const glia_tf_ctx *ctx, int layer)
{
    if (ctx->kind != GLIA_TF_DECODER || !ctx->has_forward || layer < 0 || layer >= ctx->cfg.num_layers ||
        (!ctx->training && layer != ctx->cfg.num_layers - 1))
        return NULL;
    return ctx->sub[ctx->training ? layer : 0][1].p;
}

void glia_tf_ctx_no_dropout(glia_tf_ctx *ctx)
{
    ctx->no_dropout = 1;
}

glia_status glia_tf_ctx_new(const glia_tf_stack *st, int max_batch, int max_steps, int max_mem_steps,
                            int training, glia_tf_ctx **out, glia_err *err)
{
    return glia_tf_ctx_new_tokens(st, max_batch, max_steps, max_mem_steps, 0, training, out, err);
}

/* GEMM sizes and strides are ints: a context whose products would overflow one is refused. */
static glia_status ctx_check_size(const glia_tf_stack *st, int max_batch, int max_steps, int max_mem_steps,
                                  glia_err *err)
{
    if (max_batch <= 0 || max_steps <= 0 || max_mem_steps <= 0)
        return glia_err_set(
            err, GLIA_EINVAL,
            "transformer: max_batch, max_steps and max_mem_steps must be positive (got %d, %d, %d)",
            max_batch, max_steps, max_mem_steps);
    const glia_tf_config *cfg = &st->cfg;
    const size_t E = (size_t)cfg->d_model, F = (size_t)cfg->dim_feedforward, H = (size_t)cfg->nhead;
    const size_t widest = F > 3 * E ? F : 3 * E;
    const size_t B = (size_t)max_batch, T = (size_t)max_steps, S = (size_t)max_mem_steps;
    if (B * T > (size_t)INT_MAX / widest || B * S > (size_t)INT_MAX / widest || T * S > (size_t)INT_MAX ||
        B * H * T > (size_t)INT_MAX / (T > S ? T : S))
        return glia_err_set(err, GLIA_EINVAL,
                            "transformer: a context for %d sequences of %d (memory %d) steps is too large",
                            max_batch, max_steps, max_mem_steps);
    return GLIA_OK;
}

/* A walk over a context's arrays in their order in its float block and its mask block: counting
 * (place 0) sums their sizes so that each block is allocated once; placing (place 1) points the
 * arrays into the blocks. */
typedef struct {
    int place;
    size_t used, mused; /* floats and mask bytes so far */
} ctx_layout;

static void slice(glia_tf_ctx *c, ctx_layout *lay, float **p, size_t n)
{
    if (lay->place)
        *p = c->block + lay->used;
    lay->used += n;
}

/* The arrays of one sublayer (layer l's sublayer k when training: inference reuses one set). */
static void layout_sub(glia_tf_ctx *c, ctx_layout *lay, tf_sub *s, sub_kind kind)
{
    const size_t E = (size_t)c->cfg.d_model, F = (size_t)c->cfg.dim_feedforward, H = (size_t)c->cfg.nhead;
    const size_t N = c->max_rows, T = (size_t)c->max_steps;
    const int drop = c->training && c->cfg.dropout > 0.0f;
    slice(c, lay, &s->aux, N * E);
    slice(c, lay, &s->mean, N);
    slice(c, lay, &s->rstd, N);
    slice(c, lay, &s->out, N * E);
    if (drop) {
        if (lay->place)
            s->mask = c->masks + lay->mused;
        lay->mused += N * E;
    }
    if (kind == SUB_FF) {
        slice(c, lay, &s->hid, N * F);
        return;
    }
    const size_t rows_k = kind == SUB_CROSS ? c->max_keys : N,
                 tk = kind == SUB_CROSS ? (size_t)c->max_mem : T;
    slice(c, lay, &s->q, N * E);
    slice(c, lay, &s->kv, rows_k * 2 * E);
    slice(c, lay, &s->p, H * N * tk);
    if (drop)
        slice(c, lay, &s->pd, H * N * tk);
    else if (lay->place)
        s->pd = s->p;
    slice(c, lay, &s->att, N * E);
}

/* Every array of the context, in block order: the sublayers, the final norm, then backward scratch. */
static void layout(glia_tf_ctx *c, ctx_layout *lay)
{
    const size_t E = (size_t)c->cfg.d_model, F = (size_t)c->cfg.dim_feedforward;
    const size_t N = c->max_rows, Nk = c->max_keys, T = (size_t)c->max_steps, S = (size_t)c->max_mem;
    const size_t L = (size_t)c->cfg.num_layers;
    slice(c, lay, &c->input, N * E);
    if (c->kind == GLIA_TF_DECODER)
        slice(c, lay, &c->mem, Nk * E);
    for (size_t l = 0; l < (c->training ? L : 1); l++)
        for (int k = 0; k < c->nsub; k++)
            layout_sub(c, lay, &c->sub[l][k], kind_of(c->kind, k));
    slice(c, lay, &c->fin_mean, N);
    slice(c, lay, &c->fin_rstd, N);
    slice(c, lay, &c->out, N * E);
    slice(c, lay, &c->f, N * E);
    if (c->training) {
        slice(c, lay, &c->g[0], N * E);
        slice(c, lay, &c->g[1], N * E);
        slice(c, lay, &c->df, N * E);
        slice(c, lay, &c->du, N * E);
        slice(c, lay, &c->datt, N * E);
        slice(c, lay, &c->dq, N * E);
        slice(c, lay, &c->dkv, (Nk > N ? Nk : N) * 2 * E);
        slice(c, lay, &c->dp, T * (S > T ? S : T));
        slice(c, lay, &c->dhid, N * F);
    }
}

/* The blocks a counting walk sized, zeroed; false when memory runs out. */
static bool ctx_alloc(glia_tf_ctx *c, const ctx_layout *count)
{
    const size_t B = (size_t)c->max_batch;
    if (count->used > SIZE_MAX / sizeof(float))
        return false;
    c->bytes = count->used * sizeof(float) + count->mused + 2 * B * sizeof(int32_t) + sizeof *c;
    c->block = calloc(count->used, sizeof(float));
    c->masks = calloc(count->mused ? count->mused : 1, 1);
    c->len = calloc(B, sizeof(int32_t));
    c->mem_len = calloc(B, sizeof(int32_t));
    return c->block && c->masks && c->len && c->mem_len;
}

glia_status glia_tf_ctx_new_tokens(const glia_tf_stack *st, int max_batch, int max_steps, int max_mem_steps,
                                   size_t max_tokens, int training, glia_tf_ctx **out, glia_err *err)
{
    *out = NULL;
    if (st->kind != GLIA_TF_DECODER)
        max_mem_steps = max_steps;
    glia_status rc = ctx_check_size(st, max_batch, max_steps, max_mem_steps, err);
    if (rc != GLIA_OK)
        return rc;
    glia_tf_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a transformer context");
    const size_t B = (size_t)max_batch, T = (size_t)max_steps, S = (size_t)max_mem_steps;
    c->kind = st->kind;
    c->cfg = st->cfg;
    c->nsub = nsub_of(st->kind);
    c->max_batch = max_batch;
    c->max_steps = max_steps;
    c->max_mem = max_mem_steps;
    /* rows of the queries and of the memory: a token budget caps batch x steps (sequences of
     * similar length come in batches of many short or few long ones); attention scores are
     * at most H x rows x key steps, whatever the batch */
    c->max_rows = max_tokens && max_tokens < B * T ? max_tokens : B * T;
    c->max_keys = max_tokens && max_tokens < B * S ? max_tokens : B * S;
    c->training = training ? 1 : 0;
    ctx_layout count = {.place = 0}, place = {.place = 1};
    layout(c, &count);
    if (!ctx_alloc(c, &count)) {
        glia_tf_ctx_free(c);
        return glia_err_set(err, GLIA_ENOMEM,
                            "out of memory for a transformer context of %d sequences of %d steps", max_batch,
                            max_steps);
    }
    layout(c, &place);
    *out = c;
    return GLIA_OK;
}

void glia_tf_ctx_free(glia_tf_ctx *c)
{
    if (!c)
        return;
    free(c->block);
    free(c->masks);
    free(c->len);
    free(c->mem_len);
    free(c);
}

size_t glia_tf_ctx_bytes(const glia_tf_ctx *c)
{
    return c->bytes;
}

/* ---- stacks: forward ---- */

static glia_attn_shape attn_shape(const glia_tf_ctx *c, sub_kind kind)
{
    glia_attn_shape s;
    s.batch = c->batch;
    s.heads = c->cfg.nhead;
    s.head_dim = c->cfg.d_model / c->cfg.nhead;
    s.q_steps = c->steps;
    s.q_lengths = c->len;
    if (kind == SUB_CROSS) {
        s.kv_steps = c->mem_steps;
        s.kv_lengths = c->mem_len;
        s.causal = 0;
    } else {
        s.kv_steps = c->steps;
        s.kv_lengths = c->len;
        s.causal = c->kind == GLIA_TF_DECODER;
    }
    return s;
}

/* A forward's nn.Linear: an inference ctx's few rows (up to GLIA_LINEAR_SKINNY_ROWS: a short
 * source encoded alone) take skinny (core/nn/skinny.h), which reads each weight once where it
 * lies - sgemm packed the encoder's 9.4 MB of weights again for every ~10-row product, 8 % of
 * batch-1 decoding. Training, bf16 copies and larger batches keep glia_linear_forward_param. */
static void ctx_linear(const glia_tf_ctx *c, const float *x, int n, int in, const glia_param *w, int row0,
                       const float *b, int out, float *y, int ldy)
{
    if (!c->training && !w->bf16 && n <= GLIA_LINEAR_SKINNY_ROWS && glia_skinny_available())
        glia_skinny_linear(x, n, in, w->value + (size_t)row0 * (size_t)in, b, out, y, ldy);
    else
        glia_linear_forward_param(x, n, in, w, row0, b, out, y, ldy);
}

/* f(u) into c->f for one sublayer; pp: its first parameter. */
static void f_forward(glia_tf_ctx *c, const glia_param *pp, sub_kind kind, tf_sub *s, const float *u,
                      glia_rng *rng)
{
    const int E = c->cfg.d_model, F = c->cfg.dim_feedforward, N = c->batch * c->steps;
    if (kind == SUB_FF) {
        ctx_linear(c, u, N, E, &pp[0], 0, pp[1].value, F, s->hid, F);
        const size_t n = (size_t)N * (size_t)F;
        float *restrict hid = s->hid;
        for (size_t i = 0; i < n; i++)
            hid[i] = hid[i] > 0.0f ? hid[i] : 0.0f;
        /* drop(relu(z)): a dropped or non-positive z is +0, a kept positive one z / (1 - p) */
        if (c->dropping)
            glia_dropout_forward(hid, hid, NULL, n, c->cfg.dropout, rng);
        ctx_linear(c, s->hid, N, F, &pp[2], 0, pp[3].value, E, c->f, E);
        return;
    }
    const float *src = kind == SUB_CROSS ? c->mem : u;
    const int Nk = kind == SUB_CROSS ? c->batch * c->mem_steps : N;
    const float *b = pp[1].value;
    ctx_linear(c, u, N, E, &pp[0], 0, b, E, s->q, E);
    ctx_linear(c, src, Nk, E, &pp[0], E, b + E, 2 * E, s->kv, 2 * E);
    glia_attn_shape sh = attn_shape(c, kind);
    glia_attention_forward(&sh, s->q, E, s->kv, s->kv + E, 2 * E, s->p, s->pd,
                           c->dropping ? c->cfg.dropout : 0.0f, c->dropping ? rng : NULL, s->att, E);
    ctx_linear(c, s->att, N, E, &pp[2], 0, pp[3].value, E, c->f, E);
}

/* out = x + drop(f) (pre-norm) or aux = x + drop(f), out = norm(aux) (post-norm). */
static void sub_forward(glia_tf_ctx *c, const glia_param *pp, const glia_param *norm, sub_kind kind,
                        tf_sub *s, const float *x, glia_rng *rng)
{
    const int E = c->cfg.d_model, N = c->batch * c->steps;
    const float eps = c->cfg.layer_norm_eps;
    const int pre = c->cfg.norm_first;
    if (pre)
        glia_layernorm_forward(x, N, E, norm[0].value, norm[1].value, eps, s->aux, s->mean, s->rstd);
    f_forward(c, pp, kind, s, pre ? s->aux : x, rng);
    const size_t n = (size_t)N * (size_t)E;
    float *restrict r = pre ? s->out : s->aux;
    if (c->dropping) /* c->f is scratch: dropped in place */
        glia_dropout_forward(c->f, c->f, s->mask, n, c->cfg.dropout, rng);
    const float *restrict f = c->f;
    for (size_t i = 0; i < n; i++)
        r[i] = x[i] + f[i];
    if (!pre)
        glia_layernorm_forward(s->aux, N, E, norm[0].value, norm[1].value, eps, s->out, s->mean, s->rstd);
}

static const glia_param *norm_of(const glia_tf_stack *st, int l, int k)
{
    static const int enc[2] = {P_ENC_N1, P_ENC_N2}, dec[3] = {P_DEC_N1, P_DEC_N2, P_DEC_N3};
    return &st->params[l * st->per_layer + (st->kind == GLIA_TF_ENCODER ? enc[k] : dec[k])];
}

static const glia_param *block_of(const glia_tf_stack *st, int l, int k)
{
    static const int enc[2] = {P_SA, P_ENC_FF}, dec[3] = {P_SA, P_DEC_CA, P_DEC_FF};
    return &st->params[l * st->per_layer + (st->kind == GLIA_TF_ENCODER ? enc[k] : dec[k])];
}

static glia_status check_lengths(const int32_t *lengths, int batch, int steps, const char *what,
                                 int32_t *into, glia_err *err)
{
    for (int b = 0; b < batch; b++) {
        int len = lengths ? lengths[b] : steps;
        if (len < 1 || len > steps)
            return glia_err_set(err, GLIA_EINVAL, "transformer: %s length %d of sequence %d is outside 1..%d",
                                what, len, b, steps);
        into[b] = len;
    }
    return GLIA_OK;
}

/* dst [batch, steps, E] = src with rows past each length zeroed */
static void copy_valid(float *dst, const float *src, const int32_t *len, int batch, int steps, int E)
{
    for (int b = 0; b < batch; b++) {
        const size_t at = (size_t)b * (size_t)steps * (size_t)E, valid = (size_t)len[b] * (size_t)E;
        memcpy(dst + at, src + at, sizeof(float) * valid);
        memset(dst + at + valid, 0, sizeof(float) * ((size_t)steps * (size_t)E - valid));
    }
}

glia_status glia_tf_forward(const glia_tf_stack *st, glia_tf_ctx *c, const float *x, const int32_t *lengths,
                            int batch, int steps, const float *memory, const int32_t *mem_lengths,
                            int mem_steps, glia_rng *rng, const float **out, glia_err *err)
{
    const int dec = st->kind == GLIA_TF_DECODER, E = st->cfg.d_model;
    GLIA_ASSERT(st->kind == c->kind && st->cfg.d_model == c->cfg.d_model &&
                st->cfg.num_layers == c->cfg.num_layers);
    c->has_forward = 0;
    if (batch < 1 || batch > c->max_batch || steps < 1 || steps > c->max_steps)
        return glia_err_set(err, GLIA_EINVAL,
                            "transformer: batch %d x %d steps does not fit the context (%d x %d)", batch,
                            steps, c->max_batch, c->max_steps);
    if (dec && (!memory || mem_steps < 1 || mem_steps > c->max_mem))
        return glia_err_set(err, GLIA_EINVAL,
                            "transformer: the decoder needs a memory of 1..%d steps (got %s%d)", c->max_mem,
                            memory ? "" : "none, ", mem_steps);
    if ((size_t)batch * (size_t)steps > c->max_rows ||
        (dec && (size_t)batch * (size_t)mem_steps > c->max_keys))
        return glia_err_set(err, GLIA_EINVAL,
                            "transformer: batch %d x %d (memory %d) steps exceeds the context's %zu tokens",
                            batch, steps, mem_steps, c->max_rows);
    if (!dec && memory)
        return glia_err_set(err, GLIA_EINVAL, "transformer: an encoder takes no memory");
    glia_status rc = check_lengths(lengths, batch, steps, "sequence", c->len, err);
    if (rc != GLIA_OK)
        return rc;
    if (dec && (rc = check_lengths(mem_lengths, batch, mem_steps, "memory", c->mem_len, err)) != GLIA_OK)
        return rc;
    c->dropping = c->training && !c->no_dropout && st->cfg.dropout > 0.0f;
    if (c->dropping && !rng)
        return glia_err_set(err, GLIA_EINVAL, "transformer: a training forward with dropout needs an rng");
    c->batch = batch;
    c->steps = steps;
    c->mem_steps = dec ? mem_steps : steps;
    copy_valid(c->input, x, c->len, batch, steps, E);
    if (dec)
        copy_valid(c->mem, memory, c->mem_len, batch, mem_steps, E);

    const float *h = c->input;
    for (int l = 0; l < st->cfg.num_layers; l++) {
        tf_sub *subs = c->sub[c->training ? l : 0];
        for (int k = 0; k < c->nsub; k++) {
            sub_forward(c, block_of(st, l, k), norm_of(st, l, k), kind_of(st->kind, k), &subs[k], h, rng);
            h = subs[k].out;
        }
    }
    const glia_param *fin = &st->params[st->nparams - 2];
    glia_layernorm_forward(h, batch * steps, E, fin[0].value, fin[1].value, st->cfg.layer_norm_eps, c->out,
                           c->fin_mean, c->fin_rstd);
    c->has_forward = 1;
    *out = c->out;
    return GLIA_OK;
}

/* ---- stacks: backward ---- */

/* d(u) into du (overwritten) for df = dL/df of one sublayer; accumulates the parameter
 * gradients and, for cross-attention, dL/d(memory) into dmem when not NULL. */
static void f_backward(glia_tf_ctx *c, const glia_param *pp, sub_kind kind, tf_sub *s, const float *u,
                       const float *df, float *du, float *dmem)
{
    const int E = c->cfg.d_model, F = c->cfg.dim_feedforward, N = c->batch * c->steps;
    if (kind == SUB_FF) {
        glia_linear_backward(s->hid, N, F, pp[2].value, pp[2].grad, pp[3].grad, E, df, E, c->dhid, 0.0f);
        const float scale = c->dropping ? 1.0f / (1.0f - c->cfg.dropout) : 1.0f;
        glia_relu_backward(s->hid, c->dhid, (size_t)N * (size_t)F, scale);
        glia_linear_backward(u, N, E, pp[0].value, pp[0].grad, pp[1].grad, F, c->dhid, F, du, 0.0f);
        return;
    }
    const float *src = kind == SUB_CROSS ? c->mem : u;
    const int Nk = kind == SUB_CROSS ? c->batch * c->mem_steps : N;
    const size_t EE = (size_t)E * (size_t)E;
    glia_linear_backward(s->att, N, E, pp[2].value, pp[2].grad, pp[3].grad, E, df, E, c->datt, 0.0f);
    glia_attn_shape sh = attn_shape(c, kind);
    glia_attention_backward(&sh, s->q, E, s->kv, s->kv + E, 2 * E, s->p, s->pd,
                            c->dropping ? c->cfg.dropout : 0.0f, c->datt, E, c->dq, c->dkv, c->dkv + E,
                            c->dp);
    float *w = pp[0].value, *gw = pp[0].grad, *gb = pp[1].grad;
    glia_linear_backward(u, N, E, w, gw, gb, E, c->dq, E, du, 0.0f);
    float *dsrc = kind == SUB_CROSS ? dmem : du;
    glia_linear_backward(src, Nk, E, w + EE, gw ? gw + EE : NULL, gb ? gb + E : NULL, 2 * E, c->dkv, 2 * E,
                         dsrc, 1.0f);
}

/* dx (overwritten) for dout of one sublayer with input x. */
static void sub_backward(glia_tf_ctx *c, const glia_param *pp, const glia_param *norm, sub_kind kind,
                         tf_sub *s, const float *x, const float *dout, float *dx, float *dmem)
{
    const int E = c->cfg.d_model, N = c->batch * c->steps;
    const size_t n = (size_t)N * (size_t)E;
    const int pre = c->cfg.norm_first;
    float *restrict df = c->df, *restrict du = c->du;
    /* d(residual branch) = pre-norm: dout; post-norm: dh = norm'(dout), kept in du */
    const float *dr = dout;
    if (!pre) {
        glia_layernorm_backward(s->aux, s->mean, s->rstd, norm[0].value, dout, N, E, du, norm[0].grad,
                                norm[1].grad);
        dr = du;
    }
    if (c->dropping)
        glia_dropout_backward(dr, df, s->mask, n, c->cfg.dropout);
    else
        memcpy(df, dr, sizeof(float) * n);
    if (pre) {
        f_backward(c, pp, kind, s, s->aux, df, du, dmem);
        glia_layernorm_backward(x, s->mean, s->rstd, norm[0].value, du, N, E, dx, norm[0].grad, norm[1].grad);
        for (size_t i = 0; i < n; i++)
            dx[i] += dout[i];
    } else {
        f_backward(c, pp, kind, s, x, df, dx, dmem);
        for (size_t i = 0; i < n; i++)
            dx[i] += du[i];
    }
}

void glia_tf_backward(glia_tf_stack *st, glia_tf_ctx *c, const float *dout, float *dx, float *dmemory,
                      const glia_grad_ready *ready)
{
    GLIA_ASSERT(c->training && c->has_forward);
    const int E = st->cfg.d_model, N = c->batch * c->steps, L = st->cfg.num_layers;
    const int dec = st->kind == GLIA_TF_DECODER;
    float *cur = c->g[1], *nxt = c->g[0];
    copy_valid(nxt, dout, c->len, c->batch, c->steps, E);
    const float *top = L ? c->sub[L - 1][c->nsub - 1].out : c->input;
    const glia_param *fin = &st->params[st->nparams - 2];
    glia_layernorm_backward(top, c->fin_mean, c->fin_rstd, fin[0].value, nxt, N, E, cur, fin[0].grad,
                            fin[1].grad);
    glia_grad_ready_params(ready, &fin[0], &fin[1]);
    if (dec && dmemory)
        memset(dmemory, 0, sizeof(float) * (size_t)c->batch * (size_t)c->mem_steps * (size_t)E);
    for (int l = L - 1; l >= 0; l--) {
        for (int k = c->nsub - 1; k >= 0; k--) {
            const float *x = k ? c->sub[l][k - 1].out : l ? c->sub[l - 1][c->nsub - 1].out : c->input;
            sub_backward(c, block_of(st, l, k), norm_of(st, l, k), kind_of(st->kind, k), &c->sub[l][k], x,
                         cur, nxt, dec ? dmemory : NULL);
            float *t = cur;
            cur = nxt;
            nxt = t;
        }
        /* a layer's parameters are touched by its own sublayers only */
        const glia_param *first = &st->params[(size_t)l * (size_t)st->per_layer];
        glia_grad_ready_params(ready, first, first + st->per_layer - 1);
    }
    if (dx)
        memcpy(dx, cur, sizeof(float) * (size_t)N * (size_t)E);
}

/* ---- incremental decoding ---- */

struct glia_tf_cache {
    glia_tf_config cfg;
    int max_batch, max_steps, max_mem;
    int batch, pos, mem_steps, started;
    size_t bytes;
    float *block;
    int32_t *mem_len, *tmp_len;
    /* row b's memory: cross-attention keys/values from ckv row mem_row[b] on (the valid memory
     * rows of the batch, packed one sequence after another); beams of one input
     * share it, so reordering rows permutes these indices instead of copying the memory */
    int32_t *mem_row, *tmp_row;
    float *k[GLIA_TF_MAX_LAYERS], *v[GLIA_TF_MAX_LAYERS]; /* [B, max_steps, E] */
    float *ckv[GLIA_TF_MAX_LAYERS];                       /* [B, max_mem, 2E] */
    float *x, *u, *qkv, *att, *f, *hid, *sc, *out, *tmp;
    const glia_tf_panels *panels; /* glia_tf_cache_use_panels: borrowed, NULL when off */
};

glia_status glia_tf_cache_new(const glia_tf_stack *dec, int max_batch, int max_steps, int max_mem_steps,
                              glia_tf_cache **out, glia_err *err)
{
    *out = NULL;
    if (dec->kind != GLIA_TF_DECODER)
        return glia_err_set(err, GLIA_EINVAL, "transformer: a key/value cache needs a decoder stack");
    if (max_batch <= 0 || max_steps <= 0 || max_mem_steps <= 0)
        return glia_err_set(
            err, GLIA_EINVAL,
            "transformer: max_batch, max_steps and max_mem_steps must be positive (got %d, %d, %d)",
            max_batch, max_steps, max_mem_steps);
    const size_t E = (size_t)dec->cfg.d_model, F = (size_t)dec->cfg.dim_feedforward,
                 L = (size_t)dec->cfg.num_layers;
    const size_t B = (size_t)max_batch, T = (size_t)max_steps, S = (size_t)max_mem_steps;
    const size_t widest = F > 3 * E ? F : 3 * E, longest = T > S ? T : S;
    if (B * longest > (size_t)INT_MAX / widest)
        return glia_err_set(err, GLIA_EINVAL, "transformer: a cache for %d rows of %d steps is too large",
                            max_batch, max_steps);
    glia_tf_cache *c = calloc(1, sizeof *c);
    if (!c)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a transformer cache");
    c->cfg = dec->cfg;
    c->max_batch = max_batch;
    c->max_steps = max_steps;
    c->max_mem = max_mem_steps;
    const size_t used = L * (2 * B * T * E + B * S * 2 * E) + B * (E * 6 + 3 * E + F) + longest + B * T * E;
    c->block = calloc(used, sizeof(float));
    c->mem_len = calloc(B, sizeof(int32_t));
    c->tmp_len = calloc(B, sizeof(int32_t));
    c->mem_row = calloc(B, sizeof(int32_t));
    c->tmp_row = calloc(B, sizeof(int32_t));
    if (!c->block || !c->mem_len || !c->tmp_len || !c->mem_row || !c->tmp_row) {
        glia_tf_cache_free(c);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a transformer cache of %d rows", max_batch);
    }
    c->bytes = used * sizeof(float) + 4 * B * sizeof(int32_t) + sizeof *c;
    float *p = c->block;
    for (size_t l = 0; l < L; l++) {
        c->k[l] = p, p += B * T * E;
        c->v[l] = p, p += B * T * E;
        c->ckv[l] = p, p += B * S * 2 * E;
    }
    c->x = p, p += B * E;
    c->u = p, p += B * E;
    c->att = p, p += B * E;
    c->f = p, p += B * E;
    c->out = p, p += B * E;
    p += B * E; /* spare */
    c->qkv = p, p += B * 3 * E;
    c->hid = p, p += B * F;
    c->sc = p, p += longest;
    c->tmp = p, p += B * T * E; /* the spare self-attention buffer of glia_tf_cache_gather */
    GLIA_ASSERT((size_t)(p - c->block) == used);
    *out = c;
    return GLIA_OK;
}

void glia_tf_cache_free(glia_tf_cache *c)
{
    if (!c)
        return;
    free(c->block);
    free(c->mem_len);
    free(c->tmp_len);
    free(c->mem_row);
    free(c->tmp_row);
    free(c);
}

size_t glia_tf_cache_bytes(const glia_tf_cache *c)
{
    return c->bytes;
}

int glia_tf_cache_position(const glia_tf_cache *c)
{
    return c->pos;
}

/* Checks a start's sizes and lengths and resets the position; row b's memory keys/values will
 * start at ckv row mem_row[b]: the sum of the lengths before it (the valid rows, packed). */
static glia_status cache_begin(const glia_tf_stack *dec, glia_tf_cache *c, const int32_t *mem_lengths,
                               int batch, int mem_steps, glia_err *err)
{
    GLIA_ASSERT(dec->kind == GLIA_TF_DECODER && dec->cfg.d_model == c->cfg.d_model);
    c->started = 0;
    if (batch < 1 || batch > c->max_batch || mem_steps < 1 || mem_steps > c->max_mem)
        return glia_err_set(err, GLIA_EINVAL,
                            "transformer: batch %d x memory %d does not fit the cache (%d x %d)", batch,
                            mem_steps, c->max_batch, c->max_mem);
    glia_status rc = check_lengths(mem_lengths, batch, mem_steps, "memory", c->mem_len, err);
    if (rc != GLIA_OK)
        return rc;
    c->batch = batch;
    c->mem_steps = mem_steps;
    c->pos = 0;
    int32_t at = 0;
    for (int b = 0; b < batch; b++) {
        c->mem_row[b] = at;
        at += c->mem_len[b];
    }
    return GLIA_OK;
}

glia_status glia_tf_cache_start(const glia_tf_stack *dec, glia_tf_cache *c, const float *memory,
                                const int32_t *mem_lengths, int batch, int mem_steps, glia_err *err)
{
    glia_status rc = cache_begin(dec, c, mem_lengths, batch, mem_steps, err);
    if (rc != GLIA_OK)
        return rc;
    const int E = c->cfg.d_model;
    /* cross-attention keys/values of the valid memory rows, [b, s] at row mem_row[b] + s */
    for (int l = 0; l < c->cfg.num_layers; l++) {
        const glia_param *pp = block_of(dec, l, 1);
        for (int b = 0; b < batch; b++)
            glia_linear_forward_param(memory + (size_t)b * (size_t)mem_steps * (size_t)E, c->mem_len[b], E,
                                      &pp[0], E, pp[1].value + E, 2 * E,
                                      c->ckv[l] + (size_t)c->mem_row[b] * 2 * (size_t)E, 2 * E);
    }
    c->started = 1;
    return GLIA_OK;
}

glia_status glia_tf_cache_start_packed(const glia_tf_stack *dec, glia_tf_cache *c, const float *memory,
                                       const int32_t *mem_lengths, int batch, glia_err *err)
{
    GLIA_ASSERT(mem_lengths != NULL);
    int longest = 1;
    for (int b = 0; b < batch; b++)
        longest = mem_lengths[b] > longest ? mem_lengths[b] : longest;
    glia_status rc = cache_begin(dec, c, mem_lengths, batch, longest, err);
    if (rc != GLIA_OK)
        return rc;
    const int E = c->cfg.d_model, rows = c->mem_row[batch - 1] + c->mem_len[batch - 1];
    /* the valid rows lie as the keys/values will: one GEMM per layer for the whole batch */
    for (int l = 0; l < c->cfg.num_layers; l++) {
        const glia_param *pp = block_of(dec, l, 1);
        glia_linear_forward_param(memory, rows, E, &pp[0], E, pp[1].value + E, 2 * E, c->ckv[l], 2 * E);
    }
    c->started = 1;
    return GLIA_OK;
}

/* One query row against n cached keys/values (row stride ld) for every head: two sgemv per
 * head, which read the cache where it lies (1-row sgemm calls went through OpenBLAS' small-matrix
 * path with its per-call set-up), and the softmax's exp through vmath. */
static void attend_one(glia_tf_cache *c, const float *q, const float *k, const float *v, int ld, int n,
                       float *out)
{
    const int H = c->cfg.nhead, Dh = c->cfg.d_model / H;
    const float scale = 1.0f / sqrtf((float)Dh);
    float *restrict sc = c->sc;
    for (int h = 0; h < H; h++) {
        const size_t o = (size_t)h * (size_t)Dh;
        glia_gemv(1, n, Dh, scale, q + o, k + o, ld, 0.0f, sc);
        float mx = sc[0];
        for (int j = 1; j < n; j++)
            mx = sc[j] > mx ? sc[j] : mx;
        for (int j = 0; j < n; j++)
            sc[j] -= mx;
        glia_vexp(sc, sc, (size_t)n);
        float sum = 0.0f;
        for (int j = 0; j < n; j++)
            sum += sc[j];
        const float inv = 1.0f / sum;
        for (int j = 0; j < n; j++)
            sc[j] *= inv;
        glia_gemv(0, Dh, n, 1.0f, sc, v + o, ld, 0.0f, out + o);
    }
}

/* The step's nn.Linear number `slot` of layer l (glia_tf_panels' order) over the batch's rows:
 * on the panels when the cache has them, else the few-row path (skinny, sgemv, bf16 or sgemm). */
static void step_linear(const glia_tf_cache *c, int l, int slot, const float *x, int in, const glia_param *w,
                        const float *b, int out, float *y, int ldy)
{
    if (c->panels)
        glia_panel_linear(x, c->batch, in, c->panels->w[l][slot], b, out, y, ldy);
    else
        glia_linear_forward_param_few(x, c->batch, in, w, b, out, y, ldy);
}

glia_status glia_tf_panels_pack(const glia_tf_stack *dec, glia_tf_panels *p, glia_err *err)
{
    GLIA_ASSERT(dec->kind == GLIA_TF_DECODER);
    const int E = dec->cfg.d_model, F = dec->cfg.dim_feedforward, L = dec->cfg.num_layers;
    const int rows[6] = {3 * E, E, E, E, F, E}, cols[6] = {E, E, E, E, E, F};
    if (!p->block) {
        size_t n = 0;
        for (int k = 0; k < 6; k++)
            n += glia_panel_floats(rows[k], cols[k]);
        n *= (size_t)L;
        void *q = NULL;
        if (posix_memalign(&q, 64, n * sizeof(float)) != 0)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for the decoder's packed weights");
        p->block = q;
        p->bytes = n * sizeof(float);
        float *at = p->block;
        for (int l = 0; l < L; l++)
            for (int k = 0; k < 6; k++) {
                p->w[l][k] = at;
                at += glia_panel_floats(rows[k], cols[k]);
            }
    }
    for (int l = 0; l < L; l++) {
        const glia_param *sa = block_of(dec, l, 0), *ca = block_of(dec, l, 1), *ff = block_of(dec, l, 2);
        const glia_param *w[6] = {&sa[0], &sa[2], &ca[0], &ca[2], &ff[0], &ff[2]};
        for (int k = 0; k < 6; k++)
            glia_panel_pack(w[k]->value, rows[k], cols[k], (size_t)cols[k], p->w[l][k]);
    }
    return GLIA_OK;
}

void glia_tf_panels_free(glia_tf_panels *p)
{
    free(p->block);
    memset(p, 0, sizeof *p);
}

void glia_tf_cache_use_panels(glia_tf_cache *c, const glia_tf_panels *p)
{
    c->panels = p;
}

/* Residual and norm of one step's sublayer: x = norm(x + f) or x = x + f. */
static void step_residual(glia_tf_cache *c, const glia_param *norm)
{
    const int E = c->cfg.d_model, B = c->batch;
    const size_t n = (size_t)B * (size_t)E;
    if (c->cfg.norm_first) {
        for (size_t i = 0; i < n; i++)
            c->x[i] += c->f[i];
        return;
    }
    for (size_t i = 0; i < n; i++)
        c->u[i] = c->x[i] + c->f[i];
    glia_layernorm_forward(c->u, B, E, norm[0].value, norm[1].value, c->cfg.layer_norm_eps, c->x, NULL, NULL);
}

/* The sublayer's input: norm(x) into u (pre-norm) or x itself. */
static const float *step_input(glia_tf_cache *c, const glia_param *norm)
{
    if (!c->cfg.norm_first)
        return c->x;
    glia_layernorm_forward(c->x, c->batch, c->cfg.d_model, norm[0].value, norm[1].value,
                           c->cfg.layer_norm_eps, c->u, NULL, NULL);
    return c->u;
}

glia_status glia_tf_cache_step(const glia_tf_stack *dec, glia_tf_cache *c, const float *y, const float **out,
                               glia_err *err)
{
    if (!c->started)
        return glia_err_set(err, GLIA_EINVAL, "transformer: cache step before a successful start");
    if (c->pos >= c->max_steps)
        return glia_err_set(err, GLIA_EINVAL, "transformer: the cache holds %d positions, all decoded",
                            c->max_steps);
    const int E = c->cfg.d_model, F = c->cfg.dim_feedforward, B = c->batch, T = c->max_steps, pos = c->pos;
    const size_t EE = (size_t)E * (size_t)E;
    memcpy(c->x, y, sizeof(float) * (size_t)B * (size_t)E);
    for (int l = 0; l < c->cfg.num_layers; l++) {
        /* causal self-attention over positions 0..pos */
        const glia_param *pp = block_of(dec, l, 0);
        const float *u = step_input(c, norm_of(dec, l, 0));
        step_linear(c, l, 0, u, E, &pp[0], pp[1].value, 3 * E, c->qkv, 3 * E);
        for (int b = 0; b < B; b++) {
            const size_t row = ((size_t)b * (size_t)T + (size_t)pos) * (size_t)E;
            memcpy(c->k[l] + row, c->qkv + (size_t)b * 3 * E + E, sizeof(float) * (size_t)E);
            memcpy(c->v[l] + row, c->qkv + (size_t)b * 3 * E + 2 * (size_t)E, sizeof(float) * (size_t)E);
            const size_t seq = (size_t)b * (size_t)T * (size_t)E;
            attend_one(c, c->qkv + (size_t)b * 3 * E, c->k[l] + seq, c->v[l] + seq, E, pos + 1,
                       c->att + (size_t)b * (size_t)E);
        }
        step_linear(c, l, 1, c->att, E, &pp[2], pp[3].value, E, c->f, E);
        step_residual(c, norm_of(dec, l, 0));

        /* cross-attention over the memory's valid positions */
        pp = block_of(dec, l, 1);
        u = step_input(c, norm_of(dec, l, 1));
        step_linear(c, l, 2, u, E, &pp[0], pp[1].value, E, c->qkv, E);
        for (int b = 0; b < B; b++) {
            const float *kv = c->ckv[l] + (size_t)c->mem_row[b] * 2 * (size_t)E;
            attend_one(c, c->qkv + (size_t)b * (size_t)E, kv, kv + E, 2 * E, c->mem_len[b],
                       c->att + (size_t)b * E);
        }
        step_linear(c, l, 3, c->att, E, &pp[2], pp[3].value, E, c->f, E);
        step_residual(c, norm_of(dec, l, 1));

        /* feed-forward */
        pp = block_of(dec, l, 2);
        u = step_input(c, norm_of(dec, l, 2));
        step_linear(c, l, 4, u, E, &pp[0], pp[1].value, F, c->hid, F);
        for (size_t i = 0; i < (size_t)B * (size_t)F; i++)
            c->hid[i] = c->hid[i] > 0.0f ? c->hid[i] : 0.0f;
        step_linear(c, l, 5, c->hid, F, &pp[2], pp[3].value, E, c->f, E);
        step_residual(c, norm_of(dec, l, 2));
    }
    (void)EE;
    const glia_param *fin = &dec->params[dec->nparams - 2];
    glia_layernorm_forward(c->x, B, E, fin[0].value, fin[1].value, c->cfg.layer_norm_eps, c->out, NULL, NULL);
    c->pos++;
    *out = c->out;
    return GLIA_OK;
}

void glia_tf_cache_reorder(glia_tf_cache *c, const int32_t *from)
{
    glia_tf_cache_gather(c, from, c->batch);
}

void glia_tf_cache_gather(glia_tf_cache *c, const int32_t *from, int batch)
{
    GLIA_ASSERT(batch >= 1 && batch <= c->max_batch);
    const size_t E = (size_t)c->cfg.d_model, B = (size_t)batch, old = (size_t)c->batch;
    const size_t self_row = (size_t)c->max_steps * E, self_n = (size_t)c->pos * E;
    for (size_t b = 0; b < B; b++)
        GLIA_ASSERT(from[b] >= 0 && (size_t)from[b] < old);
    /* each self-attention buffer is copied once, into the spare tmp, which then takes its place
     * (tmp is at least as large as a buffer); the memory is not copied at all */
    for (int l = 0; l < c->cfg.num_layers; l++) {
        float **bufs[2] = {&c->k[l], &c->v[l]};
        for (int i = 0; i < 2; i++) {
            for (size_t b = 0; b < B; b++)
                memcpy(c->tmp + b * self_row, *bufs[i] + (size_t)from[b] * self_row, sizeof(float) * self_n);
            float *t = *bufs[i];
            *bufs[i] = c->tmp;
            c->tmp = t;
        }
    }
    for (size_t b = 0; b < B; b++) {
        c->tmp_len[b] = c->mem_len[from[b]];
        c->tmp_row[b] = c->mem_row[from[b]];
    }
    memcpy(c->mem_len, c->tmp_len, sizeof(int32_t) * B);
    memcpy(c->mem_row, c->tmp_row, sizeof(int32_t) * B);
    c->batch = batch;
}
