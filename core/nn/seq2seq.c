/*
 * seq2seq.c - see seq2seq.h.
 *
 * Training path: embed source and target (scaled, positions added, dropout), encoder,
 * decoder over the encoder's output, then the generator on the valid target rows only,
 * gathered into one [rows, E] matrix so the largest GEMM of the model ([rows, E] x [E, V])
 * never touches padding. Backward runs the same chain in reverse; the decoder hands back
 * dL/d(memory), which is the encoder's output gradient.
 *
 * Decoding path: encode once, start the decoder cache on the memory, then one cached step
 * per output token for every live row. Rows that finish leave the batch (the cache gathers
 * the rest), so a batch costs what its longest live member costs, not the batch size times
 * the longest output.
 */
#include "core/nn/seq2seq.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "core/nn/bf16.h"
#include "core/nn/kernels.h"
#include "core/nn/panel.h"
#include "core/nn/params.h"
#include "core/nn/vmath.h"

/* ---- the model ---- */

static glia_status check_config(const glia_s2s_config *c, glia_err *err)
{
    if (c->vocab_size < 5)
        return glia_err_set(err, GLIA_EINVAL, "seq2seq: vocab_size must be at least 5 (got %d)",
                            c->vocab_size);
    if (c->d_model < 1 || c->nhead < 1 || c->d_model % c->nhead != 0)
        return glia_err_set(err, GLIA_EINVAL, "seq2seq: d_model %d must be a positive multiple of nhead %d",
                            c->d_model, c->nhead);
    if (c->d_model % 2 != 0)
        return glia_err_set(err, GLIA_EINVAL, "seq2seq: d_model must be even (sinusoidal positions), got %d",
                            c->d_model);
    if (c->dim_feedforward < 1)
        return glia_err_set(err, GLIA_EINVAL, "seq2seq: dim_feedforward must be positive");
    if (c->num_encoder_layers < 1 || c->num_encoder_layers > GLIA_TF_MAX_LAYERS ||
        c->num_decoder_layers < 1 || c->num_decoder_layers > GLIA_TF_MAX_LAYERS)
        return glia_err_set(err, GLIA_EINVAL,
                            "seq2seq: encoder and decoder layers must be 1..%d (got %d, %d)",
                            GLIA_TF_MAX_LAYERS, c->num_encoder_layers, c->num_decoder_layers);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return glia_err_set(err, GLIA_EINVAL, "seq2seq: dropout must be in [0, 1)");
    if (!(c->layer_norm_eps > 0.0f))
        return glia_err_set(err, GLIA_EINVAL, "seq2seq: layer_norm_eps must be positive");
    if (c->max_positions < 2 || c->max_positions > 4096)
        return glia_err_set(err, GLIA_EINVAL, "seq2seq: max_positions must be 2..4096 (got %d)",
                            c->max_positions);
    return GLIA_OK;
}

/* The zeroed parameter block, in 2 MB pages where the kernel gives them (transparent huge pages
 * on request): a decoding step at batch 1 streams the decoder's and the generator's 19 MB of
 * weights, and in 4 KB pages that is some 4,800 pages a step, more than the TLB holds. Freed
 * with free(). */
static float *param_block(size_t n)
{
    const size_t huge = (size_t)2 << 20, bytes = n * sizeof(float);
    if (bytes < huge)
        return calloc(n, sizeof(float));
    void *p = NULL;
    const size_t rounded = (bytes + huge - 1) / huge * huge;
    if (posix_memalign(&p, huge, rounded) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, rounded, MADV_HUGEPAGE); /* a hint: 4 KB pages still work */
#endif
    memset(p, 0, bytes);
    return p;
}

glia_status glia_s2s_new(const glia_s2s_config *cfg, glia_s2s **out, glia_err *err)
{
    glia_status rc;
    *out = NULL;
    if ((rc = check_config(cfg, err)))
        return rc;
    glia_s2s *m = calloc(1, sizeof *m);
    if (!m)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a seq2seq model");
    m->cfg = *cfg;
    const int V = cfg->vocab_size, E = cfg->d_model;
    glia_tf_config ec = glia_tf_config_default(E, cfg->nhead, cfg->dim_feedforward, cfg->num_encoder_layers);
    ec.dropout = cfg->dropout;
    ec.layer_norm_eps = cfg->layer_norm_eps;
    ec.norm_first = cfg->norm_first;
    glia_tf_config dc = ec;
    dc.num_layers = cfg->num_decoder_layers;
    if ((rc = glia_embedding_init(&m->embedding, V, E, 1, GLIA_S2S_PAD, "embedding", err)) ||
        (rc = glia_tf_stack_init(&m->encoder, GLIA_TF_ENCODER, &ec, "transformer.encoder", err)) ||
        (rc = glia_tf_stack_init(&m->decoder, GLIA_TF_DECODER, &dc, "transformer.decoder", err)))
        goto fail;
    /* state_dict order: embedding, transformer (encoder then decoder), generator */
    int n = 0;
    m->params[n++] = m->embedding.weight;
    for (int i = 0; i < m->encoder.nparams; i++)
        m->params[n++] = m->encoder.params[i];
    for (int i = 0; i < m->decoder.nparams; i++)
        m->params[n++] = m->decoder.params[i];
    int gw = -1;
    if (!cfg->tie_embeddings) {
        gw = n;
        m->params[n] = m->embedding.weight;
        if ((rc = glia_param_name(&m->params[n++], NULL, "generator.weight", err)))
            goto fail;
    }
    int gb = n;
    glia_param *bias = &m->params[n++];
    memset(bias, 0, sizeof *bias);
    bias->ndim = 1;
    bias->shape[0] = V;
    bias->size = (size_t)V;
    if ((rc = glia_param_name(bias, NULL, "generator.bias", err)))
        goto fail;
    m->nparams = n;
    m->size = 0;
    for (int i = 0; i < n; i++)
        m->size += m->params[i].size;
    m->values = param_block(m->size);
    m->pe = malloc(sizeof(float) * (size_t)cfg->max_positions * (size_t)E);
    if (!m->values || !m->pe) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for a seq2seq model of %zu parameters", m->size);
        goto fail;
    }
    glia_tf_positional_encoding(m->pe, cfg->max_positions, E);
    glia_params_bind(m->params, m->nparams, m->values, NULL);
    m->gen_weight = gw >= 0 ? &m->params[gw] : &m->params[0];
    m->gen_bias = &m->params[gb];
    /* the modules' own views follow the flat buffer */
    float *p = m->values;
    glia_embedding_bind(&m->embedding, p, NULL);
    p += m->embedding.weight.size;
    glia_tf_stack_bind(&m->encoder, p, NULL);
    p += m->encoder.size;
    glia_tf_stack_bind(&m->decoder, p, NULL);
    *out = m;
    return GLIA_OK;
fail:
    glia_s2s_free(m);
    return rc;
}

void glia_s2s_free(glia_s2s *m)
{
    if (!m)
        return;
    if (!m->shares_values)
        free(m->values);
    free(m->grads);
    free(m->pe);
    glia_s2s_prepare(m, 0, NULL);
    free(m);
}

static void bind_all(glia_s2s *m)
{
    glia_params_bind(m->params, m->nparams, m->values, m->grads);
    float *p = m->values, *g = m->grads;
    glia_embedding_bind(&m->embedding, p, g);
    size_t at = m->embedding.weight.size;
    glia_tf_stack_bind(&m->encoder, p + at, g ? g + at : NULL);
    at += m->encoder.size;
    glia_tf_stack_bind(&m->decoder, p + at, g ? g + at : NULL);
}

/* A prepared model's panels are copies of the values: after load or reset writes them, the
 * panels are packed again (a failure leaves none, and translations pack their own). */
static glia_status repack(glia_s2s *m, glia_err *err)
{
    return m->gen_panels ? glia_s2s_prepare(m, 1, err) : GLIA_OK;
}

void glia_s2s_reset(glia_s2s *m, glia_rng *rng)
{
    const float std = 1.0f / sqrtf((float)m->cfg.d_model);
    glia_param *w = &m->params[0];
    for (size_t i = 0; i < w->size; i++)
        w->value[i] = glia_rng_normal(rng) * std;
    memset(w->value + (size_t)GLIA_S2S_PAD * (size_t)m->cfg.d_model, 0,
           sizeof(float) * (size_t)m->cfg.d_model);
    glia_tf_stack_reset(&m->encoder, rng);
    glia_tf_stack_reset(&m->decoder, rng);
    if (!m->cfg.tie_embeddings) { /* nn.Linear(E, V): kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(E), 1/sqrt(E)) */
        glia_param *g = (glia_param *)m->gen_weight;
        for (size_t i = 0; i < g->size; i++)
            g->value[i] = (2.0f * glia_rng_uniform(rng) - 1.0f) * std;
    }
    memset(m->gen_bias->value, 0, sizeof(float) * m->gen_bias->size);
    repack(m, NULL);
}

glia_status glia_s2s_enable_grads(glia_s2s *m, glia_err *err)
{
    if (m->grads)
        return GLIA_OK;
    m->grads = calloc(m->size, sizeof(float));
    if (!m->grads)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for seq2seq gradients");
    bind_all(m);
    return GLIA_OK;
}

glia_status glia_s2s_replica(const glia_s2s *master, glia_s2s **out, glia_err *err)
{
    glia_s2s *r = NULL;
    glia_status rc = glia_s2s_new(&master->cfg, &r, err);
    if (rc != GLIA_OK)
        return rc;
    /* the same config gives the same layout: the master's buffer fits */
    free(r->values);
    r->values = master->values;
    r->shares_values = 1;
    if ((rc = glia_s2s_enable_grads(r, err))) {
        glia_s2s_free(r);
        return rc;
    }
    *out = r;
    return GLIA_OK;
}

void glia_s2s_zero_grads(glia_s2s *m)
{
    if (m->grads)
        memset(m->grads, 0, sizeof(float) * m->size);
}

const glia_param *glia_s2s_find_param(const glia_s2s *m, const char *name)
{
    return glia_params_find(m->params, m->nparams, name);
}

static glia_status load_values(glia_s2s *m, const glia_st_file *st, glia_err *err);

glia_status glia_s2s_load(glia_s2s *m, const glia_st_file *st, glia_err *err)
{
    glia_status rc = load_values(m, st, err);
    glia_status rp = repack(m, rc ? NULL : err);
    return rc ? rc : rp;
}

static glia_status load_values(glia_s2s *m, const glia_st_file *st, glia_err *err)
{
    glia_status rc;
    if (!m->cfg.tie_embeddings)
        return glia_params_load_strict(m->params, m->nparams, st, "manifest", err);
    if ((rc = glia_params_load(m->params, m->nparams, st, "manifest", err)))
        return rc;
    /* tied: PyTorch's state_dict repeats the embedding as generator.weight; accept it when equal */
    for (size_t i = 0; i < glia_st_count(st); i++) {
        const glia_st_tensor *t = glia_st_at(st, i);
        if (glia_s2s_find_param(m, t->name))
            continue;
        if (strcmp(t->name, "generator.weight") != 0)
            return glia_err_set(err, GLIA_EINVAL,
                                "unexpected tensor '%s' (not a parameter of the manifest's model)", t->name);
        const glia_param *e = &m->params[0];
        float *tmp = malloc(sizeof(float) * e->size);
        if (!tmp)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory checking generator.weight");
        rc = glia_st_read_f32(t, tmp, e->size, err);
        if (rc == GLIA_OK && memcmp(tmp, e->value, sizeof(float) * e->size) != 0)
            rc = glia_err_set(err, GLIA_EINVAL,
                              "generator.weight differs from embedding.weight but the manifest ties them "
                              "(tie_embeddings: true)");
        free(tmp);
        if (rc)
            return rc;
    }
    return GLIA_OK;
}

glia_status glia_s2s_save(const glia_s2s *m, const char *path, const char *const *meta, glia_err *err)
{
    return glia_params_save(m->params, m->nparams, path, meta, err);
}

/* ---- training ---- */

struct glia_s2s_ctx {
    int max_batch, max_src, max_tgt, training;
    size_t max_tokens; /* 0: none */
    glia_tf_ctx *enc, *dec;
    float *x, *y;           /* embedded inputs [B, S, E], [B, T, E] */
    uint8_t *xkeep, *ykeep; /* dropout's keep decisions (training, dropout > 0) */
    float *hv;              /* valid decoder rows [rows, E] */
    float *logits;          /* [rows, V] */
    float *dh, *dmem, *dx, *dy;
    /* the last forward */
    int batch, S, T, rows;
    int32_t *src, *tgt, *src_len, *tgt_len;
    size_t bytes;
};

const float *glia_s2s_cross_attention(const glia_s2s_ctx *ctx, int layer)
{
    return glia_tf_cross_attention(ctx->dec, layer);
}

void glia_s2s_ctx_no_dropout(glia_s2s_ctx *ctx)
{
    glia_tf_ctx_no_dropout(ctx->enc);
    glia_tf_ctx_no_dropout(ctx->dec);
}

void glia_s2s_ctx_free(glia_s2s_ctx *c)
{
    if (!c)
        return;
    glia_tf_ctx_free(c->enc);
    glia_tf_ctx_free(c->dec);
    free(c->x);
    free(c->y);
    free(c->xkeep);
    free(c->ykeep);
    free(c->hv);
    free(c->logits);
    free(c->dh);
    free(c->dmem);
    free(c->dx);
    free(c->dy);
    free(c->src);
    free(c->tgt);
    free(c->src_len);
    free(c->tgt_len);
    free(c);
}

size_t glia_s2s_ctx_bytes(const glia_s2s_ctx *c)
{
    return c->bytes + glia_tf_ctx_bytes(c->enc) + glia_tf_ctx_bytes(c->dec);
}

glia_status glia_s2s_ctx_new(const glia_s2s *m, int max_batch, int max_src, int max_tgt, size_t max_tokens,
                             int training, glia_s2s_ctx **out, glia_err *err)
{
    glia_status rc;
    *out = NULL;
    if (max_batch < 1 || max_src < 1 || max_tgt < 1 || max_src > m->cfg.max_positions ||
        max_tgt > m->cfg.max_positions)
        return glia_err_set(err, GLIA_EINVAL,
                            "seq2seq: a context needs 1..max_positions (%d) steps and a positive batch (got "
                            "batch %d, source %d, target %d)",
                            m->cfg.max_positions, max_batch, max_src, max_tgt);
    glia_s2s_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a seq2seq context");
    c->max_batch = max_batch;
    c->max_src = max_src;
    c->max_tgt = max_tgt;
    c->training = training;
    const size_t E = (size_t)m->cfg.d_model, V = (size_t)m->cfg.vocab_size, B = (size_t)max_batch;
    size_t NS = B * (size_t)max_src, NT = B * (size_t)max_tgt;
    if (max_tokens) {
        NS = NS < max_tokens ? NS : max_tokens;
        NT = NT < max_tokens ? NT : max_tokens;
    }
    c->max_tokens = max_tokens;
    if ((rc = glia_tf_ctx_new_tokens(&m->encoder, max_batch, max_src, max_src, max_tokens, training, &c->enc,
                                     err)) ||
        (rc = glia_tf_ctx_new_tokens(&m->decoder, max_batch, max_tgt, max_src, max_tokens, training, &c->dec,
                                     err)))
        goto fail;
    c->x = malloc(sizeof(float) * NS * E);
    c->y = malloc(sizeof(float) * NT * E);
    c->hv = malloc(sizeof(float) * NT * E);
    c->logits = malloc(sizeof(float) * NT * V);
    c->src = malloc(sizeof(int32_t) * NS);
    c->tgt = malloc(sizeof(int32_t) * NT);
    c->src_len = malloc(sizeof(int32_t) * B);
    c->tgt_len = malloc(sizeof(int32_t) * B);
    c->bytes = sizeof(float) * (NS * E + 2 * NT * E + NT * V) + sizeof(int32_t) * (NS + NT + 2 * B);
    if (training) {
        c->dh = malloc(sizeof(float) * NT * E);
        c->dmem = malloc(sizeof(float) * NS * E);
        c->dx = malloc(sizeof(float) * NS * E);
        c->dy = malloc(sizeof(float) * NT * E);
        c->bytes += sizeof(float) * (2 * NT * E + 2 * NS * E);
        if (m->cfg.dropout > 0.0f) {
            c->xkeep = malloc(NS * E);
            c->ykeep = malloc(NT * E);
            c->bytes += (NS + NT) * E;
        }
        if (!c->dh || !c->dmem || !c->dx || !c->dy || (m->cfg.dropout > 0.0f && (!c->xkeep || !c->ykeep)))
            goto oom;
    }
    if (!c->x || !c->y || !c->hv || !c->logits || !c->src || !c->tgt || !c->src_len || !c->tgt_len)
        goto oom;
    *out = c;
    return GLIA_OK;
oom:
    rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for a seq2seq context of %d x (%d, %d)", max_batch,
                      max_src, max_tgt);
fail:
    glia_s2s_ctx_free(c);
    return rc;
}

/* Inverted dropout on the valid rows of x [batch, steps, E] (each sequence's rows are contiguous);
 * keep records the decisions. */
static void dropout_rows(float *x, uint8_t *keep, const int32_t *len, int batch, int steps, int E, float p,
                         glia_rng *rng)
{
    for (int b = 0; b < batch; b++) {
        size_t o = (size_t)b * (size_t)steps * (size_t)E;
        glia_dropout_forward(x + o, x + o, keep + o, (size_t)len[b] * (size_t)E, p, rng);
    }
}

static void dropout_back(float *dx, const uint8_t *keep, const int32_t *len, int batch, int steps, int E,
                         float p)
{
    for (int b = 0; b < batch; b++) {
        size_t o = (size_t)b * (size_t)steps * (size_t)E;
        glia_dropout_backward(dx + o, dx + o, keep + o, (size_t)len[b] * (size_t)E, p);
    }
}

/* logits [rows, V] = h [rows, E] W^T + bias (training's many rows) */
static void generator_forward(const glia_s2s *m, const float *h, int rows, float *logits)
{
    glia_linear_forward_param(h, rows, m->cfg.d_model, m->gen_weight, 0, m->gen_bias->value,
                              m->cfg.vocab_size, logits, m->cfg.vocab_size);
}

glia_status glia_s2s_forward(const glia_s2s *m, glia_s2s_ctx *c, const int32_t *src, const int32_t *src_len,
                             int S, const int32_t *tgt, const int32_t *tgt_len, int T, int batch,
                             glia_rng *rng, const float **logits, int *rows, glia_err *err)
{
    glia_status rc;
    const int E = m->cfg.d_model;
    if (batch < 1 || batch > c->max_batch || S < 1 || S > c->max_src || T < 1 || T > c->max_tgt)
        return glia_err_set(err, GLIA_EINVAL,
                            "seq2seq: batch %d of (%d, %d) steps does not fit the context (%d of (%d, %d))",
                            batch, S, T, c->max_batch, c->max_src, c->max_tgt);
    if (c->max_tokens &&
        ((size_t)batch * (size_t)S > c->max_tokens || (size_t)batch * (size_t)T > c->max_tokens))
        return glia_err_set(err, GLIA_EINVAL,
                            "seq2seq: batch %d x (%d, %d) steps exceeds the context's %zu tokens", batch, S,
                            T, c->max_tokens);
    int n = 0;
    for (int b = 0; b < batch; b++) {
        if (src_len[b] < 1 || src_len[b] > S || tgt_len[b] < 1 || tgt_len[b] > T)
            return glia_err_set(err, GLIA_EINVAL, "seq2seq: pair %d has lengths (%d, %d) outside 1..(%d, %d)",
                                b, (int)src_len[b], (int)tgt_len[b], S, T);
        n += tgt_len[b];
    }
    const int drop = c->training && m->cfg.dropout > 0.0f && rng;
    if ((rc = glia_tf_embed_forward(&m->embedding, m->pe, src, src_len, batch, S, 0, c->x, err)) ||
        (rc = glia_tf_embed_forward(&m->embedding, m->pe, tgt, tgt_len, batch, T, 0, c->y, err)))
        return rc;
    if (drop) {
        dropout_rows(c->x, c->xkeep, src_len, batch, S, E, m->cfg.dropout, rng);
        dropout_rows(c->y, c->ykeep, tgt_len, batch, T, E, m->cfg.dropout, rng);
    }
    const float *memory = NULL, *h = NULL;
    if ((rc = glia_tf_forward(&m->encoder, c->enc, c->x, src_len, batch, S, NULL, NULL, 0, rng, &memory,
                              err)) ||
        (rc =
             glia_tf_forward(&m->decoder, c->dec, c->y, tgt_len, batch, T, memory, src_len, S, rng, &h, err)))
        return rc;
    int r = 0;
    for (int b = 0; b < batch; b++)
        for (int t = 0; t < tgt_len[b]; t++, r++)
            memcpy(c->hv + (size_t)r * (size_t)E, h + ((size_t)b * (size_t)T + (size_t)t) * (size_t)E,
                   sizeof(float) * (size_t)E);
    generator_forward(m, c->hv, n, c->logits);
    c->batch = batch;
    c->S = S;
    c->T = T;
    c->rows = n;
    memcpy(c->src, src, sizeof(int32_t) * (size_t)batch * (size_t)S);
    memcpy(c->tgt, tgt, sizeof(int32_t) * (size_t)batch * (size_t)T);
    memcpy(c->src_len, src_len, sizeof(int32_t) * (size_t)batch);
    memcpy(c->tgt_len, tgt_len, sizeof(int32_t) * (size_t)batch);
    *logits = c->logits;
    *rows = n;
    return GLIA_OK;
}

void glia_s2s_backward(glia_s2s *m, glia_s2s_ctx *c, const float *dlogits, const glia_grad_ready *ready)
{
    GLIA_ASSERT(c->training && m->grads);
    const int E = m->cfg.d_model, V = m->cfg.vocab_size, B = c->batch, S = c->S, T = c->T, n = c->rows;
    /* generator: dW += dlogits^T hv, db += column sums, dhv = dlogits W (into c->hv's rows of dh) */
    float *dhv = c->hv; /* hv is no longer needed once read: reuse it for dL/d(hv) */
    glia_linear_backward(c->hv, n, E, m->gen_weight->value, m->gen_weight->grad, m->gen_bias->grad, V,
                         dlogits, V, dhv, 0.0f);
    /* the generator's tail of the buffer; tied, its weight is the embedding's: not yet final */
    glia_grad_ready_params(ready, m->cfg.tie_embeddings ? m->gen_bias : m->gen_weight, m->gen_bias);
    memset(c->dh, 0, sizeof(float) * (size_t)B * (size_t)T * (size_t)E);
    int r = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < c->tgt_len[b]; t++, r++)
            memcpy(c->dh + ((size_t)b * (size_t)T + (size_t)t) * (size_t)E, dhv + (size_t)r * (size_t)E,
                   sizeof(float) * (size_t)E);
    glia_tf_backward(&m->decoder, c->dec, c->dh, c->dy, c->dmem, ready);
    glia_tf_backward(&m->encoder, c->enc, c->dmem, c->dx, NULL, ready);
    if (c->xkeep) {
        dropout_back(c->dx, c->xkeep, c->src_len, B, S, E, m->cfg.dropout);
        dropout_back(c->dy, c->ykeep, c->tgt_len, B, T, E, m->cfg.dropout);
    }
    glia_tf_embed_backward(&m->embedding, c->src, c->src_len, B, S, c->dx);
    glia_tf_embed_backward(&m->embedding, c->tgt, c->tgt_len, B, T, c->dy);
    glia_grad_ready_params(ready, &m->params[0], &m->params[0]);
}

/* ---- decoding ---- */

glia_s2s_search glia_s2s_search_defaults(void)
{
    return (glia_s2s_search){1, 128, 0.6f, 0};
}

typedef struct {
    double score; /* sum of log-probabilities */
    int len;      /* tokens so far (without <s>) */
    int32_t *ids; /* [max_out] */
} hyp;

struct glia_s2s_dec {
    int max_inputs, max_src, max_beam, max_out;
    glia_tf_ctx *enc;
    glia_tf_cache *cache;
    float *x;           /* embedded sources / one step's inputs */
    float *logits;      /* [rows, V] */
    int32_t *tok;       /* [rows]: the last token of each live row */
    int32_t *from;      /* [rows]: gather map */
    int32_t *owner;     /* [rows]: input of each live row */
    int32_t *slot;      /* [rows]: which hypothesis of its input a row is */
    hyp *alive, *next;  /* [max_inputs * max_beam] */
    hyp *done;          /* [max_inputs * max_beam]: finished hypotheses per input */
    int *ndone;         /* [max_inputs] */
    int32_t *store;     /* the ids of alive, next and done */
    double *cand_score; /* per input: the best 2k candidates */
    int32_t *cand_row, *cand_tok;
    /* the panels of this translation (the model's when prepared, else the dec's own, packed per
     * translation from PANEL_MIN_ROWS rows), or gen NULL: the few-row path */
    const float *gen;
    glia_tf_panels own;
    float *gen_own;
    size_t gen_own_bytes;
    /* start(): sources by length, their groups, one group's padded ids and lengths, each
     * source's lengths and first row in the packed memory */
    int32_t *order, *group_end, *group_src, *group_len, *src_len, *mem_at, *plan_cut;
    int64_t *plan_cost;
    float *mem;     /* the encoder's valid output rows, packed */
    float *scratch; /* [V]: logsumexp's exponentials */
    size_t bytes;
};

/* The generator over one decoding step's live rows: on this translation's panels, else
 * glia_linear_forward_param_few. */
static void step_generator(const glia_s2s *m, const glia_s2s_dec *d, const float *h, int rows, float *logits)
{
    if (d->gen)
        glia_panel_linear(h, rows, m->cfg.d_model, d->gen, m->gen_bias->value, m->cfg.vocab_size, logits,
                          m->cfg.vocab_size);
    else
        glia_linear_forward_param_few(h, rows, m->cfg.d_model, m->gen_weight, m->gen_bias->value,
                                      m->cfg.vocab_size, logits, m->cfg.vocab_size);
}

/* From how many rows (inputs x beam) a translation on an unprepared model packs the decoder's
 * and the generator's weights into panels of its own: up to 4 rows skinny's blocks already read
 * each weight once a step, and packing costs about one step's reading (~3.5 ms for this model,
 * against a batch-32 greedy translation's ~250 ms). */
enum { PANEL_MIN_ROWS = 5 };

static int has_bf16(const glia_s2s *m)
{
    return m->gen_weight->bf16 || m->decoder.params[0].bf16;
}

/* Packs V x E generator weights into *gp (allocated at the first call). */
static glia_status pack_generator(const glia_s2s *m, float **gp, glia_err *err)
{
    const int V = m->cfg.vocab_size, E = m->cfg.d_model;
    if (!*gp) {
        void *p = NULL;
        if (posix_memalign(&p, 64, glia_panel_floats(V, E) * sizeof(float)) != 0)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for the generator's packed weights");
        *gp = p;
    }
    glia_panel_pack(m->gen_weight->value, V, E, (size_t)E, *gp);
    return GLIA_OK;
}

glia_status glia_s2s_prepare(glia_s2s *m, int on, glia_err *err)
{
    glia_tf_panels_free(&m->panels);
    free(m->gen_panels);
    m->gen_panels = NULL;
    if (!on || !glia_panel_available() || has_bf16(m))
        return GLIA_OK;
    glia_status rc = glia_tf_panels_pack(&m->decoder, &m->panels, err);
    if (rc == GLIA_OK)
        rc = pack_generator(m, &m->gen_panels, err);
    if (rc != GLIA_OK) { /* all or nothing */
        glia_tf_panels_free(&m->panels);
        free(m->gen_panels);
        m->gen_panels = NULL;
    }
    return rc;
}

/* The panels a translation of `rows` rows runs on: the model's when prepared, else its own
 * packed now (the values may have changed since the last translation) from PANEL_MIN_ROWS up,
 * else none. */
static glia_status use_panels(const glia_s2s *m, glia_s2s_dec *d, int rows, glia_err *err)
{
    glia_status rc;
    d->gen = NULL;
    glia_tf_cache_use_panels(d->cache, NULL);
    if (m->gen_panels) {
        d->gen = m->gen_panels;
        glia_tf_cache_use_panels(d->cache, &m->panels);
        return GLIA_OK;
    }
    if (rows < PANEL_MIN_ROWS || !glia_panel_available() || has_bf16(m))
        return GLIA_OK;
    if ((rc = glia_tf_panels_pack(&m->decoder, &d->own, err)) || (rc = pack_generator(m, &d->gen_own, err)))
        return rc;
    d->gen_own_bytes = glia_panel_floats(m->cfg.vocab_size, m->cfg.d_model) * sizeof(float);
    d->gen = d->gen_own;
    glia_tf_cache_use_panels(d->cache, &d->own);
    return GLIA_OK;
}

void glia_s2s_dec_free(glia_s2s_dec *d)
{
    if (!d)
        return;
    glia_tf_ctx_free(d->enc);
    glia_tf_cache_free(d->cache);
    free(d->x);
    free(d->logits);
    free(d->tok);
    free(d->from);
    free(d->owner);
    free(d->slot);
    free(d->alive);
    free(d->next);
    free(d->done);
    free(d->ndone);
    free(d->store);
    free(d->cand_score);
    free(d->cand_row);
    free(d->cand_tok);
    glia_tf_panels_free(&d->own);
    free(d->gen_own);
    free(d->order);
    free(d->group_end);
    free(d->group_src);
    free(d->group_len);
    free(d->src_len);
    free(d->mem_at);
    free(d->plan_cut);
    free(d->plan_cost);
    free(d->mem);
    free(d->scratch);
    free(d);
}

size_t glia_s2s_dec_bytes(const glia_s2s_dec *d)
{
    return d->bytes + glia_tf_ctx_bytes(d->enc) + glia_tf_cache_bytes(d->cache) + d->own.bytes +
           d->gen_own_bytes;
}

glia_status glia_s2s_dec_new(const glia_s2s *m, int max_inputs, int max_src, int max_beam, glia_s2s_dec **out,
                             glia_err *err)
{
    glia_status rc;
    *out = NULL;
    if (max_inputs < 1 || max_src < 1 || max_src > m->cfg.max_positions || max_beam < 1 || max_beam > 64)
        return glia_err_set(
            err, GLIA_EINVAL,
            "seq2seq: decoding needs 1.. inputs, 1..%d source steps and a beam of 1..64 (got %d, "
            "%d, %d)",
            m->cfg.max_positions, max_inputs, max_src, max_beam);
    glia_s2s_dec *d = calloc(1, sizeof *d);
    if (!d)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a decoder");
    d->max_inputs = max_inputs;
    d->max_src = max_src;
    d->max_beam = max_beam;
    d->max_out = m->cfg.max_positions; /* <s> + up to max_positions - 1 tokens */
    const size_t E = (size_t)m->cfg.d_model, V = (size_t)m->cfg.vocab_size;
    const size_t R = (size_t)max_inputs * (size_t)max_beam, X = (size_t)max_inputs * (size_t)max_src;
    if ((rc = glia_tf_ctx_new(&m->encoder, max_inputs, max_src, max_src, 0, &d->enc, err)) ||
        (rc = glia_tf_cache_new(&m->decoder, (int)R, d->max_out, max_src, &d->cache, err)))
        goto fail;
    d->x = malloc(sizeof(float) * (X > R ? X : R) * E);
    d->logits = malloc(sizeof(float) * R * V);
    d->tok = malloc(sizeof(int32_t) * R);
    d->from = malloc(sizeof(int32_t) * R);
    d->owner = malloc(sizeof(int32_t) * R);
    d->slot = malloc(sizeof(int32_t) * R);
    d->alive = calloc(R, sizeof(hyp));
    d->next = calloc(R, sizeof(hyp));
    d->done = calloc(R, sizeof(hyp));
    d->ndone = calloc((size_t)max_inputs, sizeof(int));
    d->store = malloc(sizeof(int32_t) * 3 * R * (size_t)d->max_out);
    d->cand_score = malloc(sizeof(double) * 2 * (size_t)max_beam);
    d->cand_row = malloc(sizeof(int32_t) * 2 * (size_t)max_beam);
    d->cand_tok = malloc(sizeof(int32_t) * 2 * (size_t)max_beam);
    const size_t I = (size_t)max_inputs;
    d->order = malloc(sizeof(int32_t) * I);
    d->group_end = malloc(sizeof(int32_t) * I);
    d->group_src = malloc(sizeof(int32_t) * X);
    d->group_len = malloc(sizeof(int32_t) * I);
    d->src_len = malloc(sizeof(int32_t) * I);
    d->mem_at = malloc(sizeof(int32_t) * I);
    d->plan_cut = malloc(sizeof(int32_t) * (I + 1));
    d->plan_cost = malloc(sizeof(int64_t) * (I + 1));
    d->mem = malloc(sizeof(float) * X * E);
    d->scratch = malloc(sizeof(float) * V);
    if (!d->x || !d->logits || !d->tok || !d->from || !d->owner || !d->slot || !d->alive || !d->next ||
        !d->done || !d->ndone || !d->store || !d->cand_score || !d->cand_row || !d->cand_tok || !d->order ||
        !d->group_end || !d->group_src || !d->group_len || !d->src_len || !d->mem_at || !d->plan_cut ||
        !d->plan_cost || !d->mem || !d->scratch) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for a decoder of %zu rows", R);
        goto fail;
    }
    for (size_t r = 0; r < R; r++) {
        d->alive[r].ids = d->store + r * (size_t)d->max_out;
        d->next[r].ids = d->store + (R + r) * (size_t)d->max_out;
        d->done[r].ids = d->store + (2 * R + r) * (size_t)d->max_out;
    }
    d->bytes = sizeof *d + sizeof(float) * ((X > R ? X : R) * E + R * V + X * E + V) +
               sizeof(int32_t) * (4 * R + 6 * I + 1 + X) + sizeof(int64_t) * (I + 1) + 3 * R * sizeof(hyp) +
               sizeof(int32_t) * 3 * R * (size_t)d->max_out;
    *out = d;
    return GLIA_OK;
fail:
    glia_s2s_dec_free(d);
    return rc;
}

/* log(sum(exp(z))) of one row whose largest logit is mx: z[v] - lse is then the
 * log-probability of v, and a larger logit always gives a larger one (greedy's argmax and beam
 * search's ranking agree). exp in float through glia_vexp into scratch (V floats; libm's double
 * exp over 8,000 logits was 9 % of greedy decoding at batch 32), the sum in double over eight
 * partial sums (one serial chain of 8,000 double adds waits on each add's latency). */
static double logsumexp(const float *z, int V, float mx, float *scratch)
{
    for (int v = 0; v < V; v++)
        scratch[v] = z[v] - mx;
    glia_vexp(scratch, scratch, (size_t)V);
    return (double)mx + log(glia_sum_f64(scratch, (size_t)V));
}

static double length_penalty(int n, float alpha)
{
    return alpha == 0.0f ? 1.0 : pow((5.0 + n) / 6.0, (double)alpha);
}

/* The no-repeat n-gram guard (as fairseq's and Hugging Face's no_repeat_ngram_size): a token
 * that would complete an n-gram the hypothesis ids[0..len) already holds gets logit -inf, so
 * the softmax renormalises over the rest. Greedy decoding of a small model otherwise falls
 * into loops ("de la de la de la ...") that run to the length cap. </s> never occurs in ids,
 * so a hypothesis can always end. */
static void ban_repeats(const int32_t *ids, int len, int ngram, float *z)
{
    if (ngram < 1 || len < ngram)
        return;
    const int32_t *tail = ids + len - (ngram - 1); /* the n-1 tokens the next one would follow */
    const size_t tail_bytes = sizeof(int32_t) * (size_t)(ngram - 1);
    for (int j = 0; j + ngram <= len; j++)
        if (tail_bytes == 0 || memcmp(ids + j, tail, tail_bytes) == 0)
            z[ids[j + ngram - 1]] = -INFINITY;
}

/* Embeds one position for every live row (token tok[r] at position pos). */
static glia_status embed_step(const glia_s2s *m, glia_s2s_dec *d, int rows, int pos, glia_err *err)
{
    return glia_tf_embed_forward(&m->embedding, m->pe, d->tok, NULL, rows, 1, pos, d->x, err);
}

static void copy_hyp(hyp *dst, const hyp *src)
{
    dst->score = src->score;
    dst->len = src->len;
    memcpy(dst->ids, src->ids, sizeof(int32_t) * (size_t)src->len);
}

/* Splits the n sources, ordered by length (d->order, shortest first), into groups to encode
 * apart (d->group_end[g]: one past the last of group g, in that order); returns how many.
 * A batch is encoded padded to its longest member, so 32 test sentences of 3..45 subwords
 * cost 1,440 rows for 377 valid ones; a group costs its size times its longest plus what one
 * more encoder call costs (sgemm packs every weight again: about GROUP_ROWS rows' work), and
 * the cheapest split of the ordered list is found exactly (O(n^2), n is a batch). */
enum { GROUP_ROWS = 24 };

static int plan_groups(glia_s2s_dec *d, const int32_t *len, int n)
{
    int32_t *o = d->order;
    for (int i = 0; i < n; i++) { /* insertion sort: stable, and n is a batch */
        int j = i;
        for (; j > 0 && len[o[j - 1]] > len[i]; j--)
            o[j] = o[j - 1];
        o[j] = i;
    }
    int64_t *best = d->plan_cost;
    int32_t *cut = d->plan_cut;
    best[0] = 0;
    for (int j = 1; j <= n; j++) { /* best[j]: the first j ordered sources; cut[j]: its last group's start */
        best[j] = INT64_MAX;
        for (int i = 0; i < j; i++) {
            const int64_t c = best[i] + (int64_t)(j - i) * len[o[j - 1]] + GROUP_ROWS;
            if (c < best[j]) {
                best[j] = c;
                cut[j] = i;
            }
        }
    }
    int groups = 0;
    for (int j = n; j > 0; j = cut[j])
        groups++;
    for (int j = n, g = groups - 1; j > 0; j = cut[j], g--)
        d->group_end[g] = j;
    return groups;
}

/* Encodes the sources group by group (plan_groups), gathers each one's valid output rows into
 * d->mem in input order and packed (what glia_tf_cache_start_packed takes), and starts the
 * decoder cache on them. A source's encoding does not depend on its neighbours. */
static glia_status start(const glia_s2s *m, glia_s2s_dec *d, const int32_t *src, const int32_t *src_len,
                         int n, int S, glia_err *err)
{
    glia_status rc;
    const size_t E = (size_t)m->cfg.d_model;
    for (int i = 0; i < n; i++) {
        d->src_len[i] = src_len ? src_len[i] : S;
        if (d->src_len[i] < 1 || d->src_len[i] > S)
            return glia_err_set(err, GLIA_EINVAL, "seq2seq: source %d has length %d, not 1..%d", i,
                                d->src_len[i], S);
    }
    for (int i = 0, at = 0; i < n; at += d->src_len[i], i++)
        d->mem_at[i] = at;
    const int groups = plan_groups(d, d->src_len, n);
    for (int g = 0, first = 0; g < groups; first = d->group_end[g], g++) {
        const int ng = d->group_end[g] - first, Sg = d->src_len[d->order[d->group_end[g] - 1]];
        for (int q = 0; q < ng; q++) {
            const int i = d->order[first + q];
            d->group_len[q] = d->src_len[i];
            memcpy(d->group_src + (size_t)q * (size_t)Sg, src + (size_t)i * (size_t)S,
                   sizeof(int32_t) * (size_t)d->src_len[i]);
        }
        const float *memory = NULL;
        if ((rc = glia_tf_embed_forward(&m->embedding, m->pe, d->group_src, d->group_len, ng, Sg, 0, d->x,
                                        err)) ||
            (rc = glia_tf_forward(&m->encoder, d->enc, d->x, d->group_len, ng, Sg, NULL, NULL, 0, NULL,
                                  &memory, err)))
            return rc;
        for (int q = 0; q < ng; q++)
            memcpy(d->mem + (size_t)d->mem_at[d->order[first + q]] * E, memory + (size_t)q * (size_t)Sg * E,
                   sizeof(float) * (size_t)d->group_len[q] * E);
    }
    return glia_tf_cache_start_packed(&m->decoder, d->cache, d->mem, d->src_len, n, err);
}

static void finish_greedy(glia_s2s_dec *d, int i, glia_s2s_output *out, glia_s2s_done_fn on_done, void *user)
{
    out[i].ids = d->alive[i].ids;
    out[i].n = d->alive[i].len;
    out[i].score = d->alive[i].score;
    if (on_done)
        on_done(user, i, &out[i]);
}

static glia_status greedy(const glia_s2s *m, glia_s2s_dec *d, int n, int max_out, int ngram,
                          glia_s2s_output *out, glia_s2s_done_fn on_done, void *user, glia_err *err)
{
    glia_status rc;
    const int V = m->cfg.vocab_size;
    int rows = n;
    for (int i = 0; i < n; i++) {
        d->owner[i] = i;
        d->tok[i] = GLIA_S2S_BOS;
        d->alive[i].score = 0.0;
        d->alive[i].len = 0;
        out[i].finished = 0;
    }
    for (int pos = 0; rows > 0 && pos < max_out; pos++) {
        const float *h = NULL;
        if ((rc = embed_step(m, d, rows, pos, err)) ||
            (rc = glia_tf_cache_step(&m->decoder, d->cache, d->x, &h, err)))
            return rc;
        step_generator(m, d, h, rows, d->logits);
        int kept = 0;
        for (int r = 0; r < rows; r++) {
            float *z = d->logits + (size_t)r * (size_t)V;
            hyp *hp = &d->alive[d->owner[r]];
            ban_repeats(hp->ids, hp->len, ngram, z);
            const int best = glia_argmax(z, V);
            hp->score += (double)z[best] - logsumexp(z, V, z[best], d->scratch);
            if (best == GLIA_S2S_EOS) {
                out[d->owner[r]].finished = 1;
                finish_greedy(d, d->owner[r], out, on_done, user);
                continue;
            }
            hp->ids[hp->len++] = best;
            d->from[kept] = r;
            d->owner[kept] = d->owner[r];
            d->tok[kept] = best;
            kept++;
        }
        if (kept > 0 && kept < rows)
            glia_tf_cache_gather(d->cache, d->from, kept);
        rows = kept;
    }
    for (int r = 0; r < rows; r++) /* stopped by the length limit */
        finish_greedy(d, d->owner[r], out, on_done, user);
    return GLIA_OK;
}

/* Inserts (s, row, tok) into the descending list of at most cap candidates. */
static void cand_insert(glia_s2s_dec *d, int *nc, int cap, double s, int32_t row, int32_t tok)
{
    int i = *nc < cap ? (*nc)++ : cap;
    if (i == cap && !(s > d->cand_score[cap - 1]))
        return;
    if (i == cap)
        i = cap - 1;
    while (i > 0 && s > d->cand_score[i - 1]) {
        d->cand_score[i] = d->cand_score[i - 1];
        d->cand_row[i] = d->cand_row[i - 1];
        d->cand_tok[i] = d->cand_tok[i - 1];
        i--;
    }
    d->cand_score[i] = s;
    d->cand_row[i] = row;
    d->cand_tok[i] = tok;
}

/* Keeps input i's finished list as its best k by normalised score, best first. */
static void add_done(glia_s2s_dec *d, int i, int k, const hyp *h, double norm)
{
    hyp *list = d->done + (size_t)i * (size_t)k;
    int at;
    if (d->ndone[i] < k)
        at = d->ndone[i]++;
    else if (norm > list[k - 1].score)
        at = k - 1;
    else
        return;
    copy_hyp(&list[at], h);
    list[at].score = norm;
    for (; at > 0 && list[at].score > list[at - 1].score;
         at--) { /* swapping keeps each ids block owned once */
        hyp t = list[at];
        list[at] = list[at - 1];
        list[at - 1] = t;
    }
}

/* The best 2k continuations of input i's live rows r0..r1 into the candidate list, best first
 * (at the last step only </s>); returns how many there are. */
static int beam_candidates(const glia_s2s *m, glia_s2s_dec *d, int i, int r0, int r1, int k, int last,
                           int ngram)
{
    const int V = m->cfg.vocab_size;
    int nc = 0;
    for (int r = r0; r < r1; r++) {
        const hyp *hp = &d->alive[(size_t)i * (size_t)k + (size_t)d->slot[r]];
        if (hp->score == -INFINITY)
            continue;
        float *z = d->logits + (size_t)r * (size_t)V;
        ban_repeats(hp->ids, hp->len, ngram, z);
        const double lse = logsumexp(z, V, z[glia_argmax(z, V)], d->scratch);
        for (int v = 0; v < V; v++) {
            if ((last && v != GLIA_S2S_EOS) || z[v] == -INFINITY)
                continue;
            double s = hp->score + ((double)z[v] - lse);
            if (nc == 2 * k && !(s > d->cand_score[2 * k - 1]))
                continue;
            cand_insert(d, &nc, 2 * k, s, r, v);
        }
    }
    return nc;
}

/* Takes input i's nc candidates in order: </s> ends the parent hypothesis (when ranked within the
 * first k), any other token extends it into d->next and a new row at *kept, until k are live.
 * Returns how many are. */
static int beam_extend(glia_s2s_dec *d, int i, int nc, int k, float alpha, int *kept)
{
    int live = 0;
    for (int c = 0; c < nc && live < k; c++) {
        const int r = d->cand_row[c];
        const hyp *parent = &d->alive[(size_t)i * (size_t)k + (size_t)d->slot[r]];
        if (d->cand_tok[c] == GLIA_S2S_EOS) {
            /* only candidates ranked within the first k may end a hypothesis */
            if (c < k) {
                hyp tmp = {d->cand_score[c], parent->len, parent->ids};
                add_done(d, i, k, &tmp, d->cand_score[c] / length_penalty(parent->len + 1, alpha));
            }
            continue;
        }
        hyp *nh = &d->next[(size_t)i * (size_t)k + (size_t)live];
        copy_hyp(nh, parent);
        nh->ids[nh->len++] = d->cand_tok[c];
        nh->score = d->cand_score[c];
        d->from[*kept] = r;
        d->owner[*kept] = i;
        d->slot[*kept] = live;
        d->tok[*kept] = d->cand_tok[c];
        (*kept)++;
        live++;
    }
    return live;
}

/* Input i's output: its best finished hypothesis. */
static void beam_finish(glia_s2s_dec *d, int i, int k, int max_out, glia_s2s_output *out,
                        glia_s2s_done_fn on_done, void *user)
{
    const hyp *best = &d->done[(size_t)i * (size_t)k];
    out[i].ids = best->ids;
    out[i].n = best->len;
    out[i].score = best->score;
    out[i].finished = best->len < max_out - 1; /* else </s> was forced at the limit */
    if (on_done)
        on_done(user, i, &out[i]);
}

/* Input i's live new hypotheses become its live ones: the records (and their id blocks) swap,
 * nothing is copied; the slots past them are dead. */
static void beam_advance(glia_s2s_dec *d, int i, int k, int live)
{
    for (int s = 0; s < live; s++) {
        hyp *a = &d->alive[(size_t)i * (size_t)k + (size_t)s],
            *b = &d->next[(size_t)i * (size_t)k + (size_t)s];
        hyp t = *a;
        *a = *b;
        *b = t;
    }
    for (int s = live; s < k; s++)
        d->alive[(size_t)i * (size_t)k + (size_t)s].score = -INFINITY;
}

static glia_status beam(const glia_s2s *m, glia_s2s_dec *d, int n, int k, int max_out, float alpha, int ngram,
                        glia_s2s_output *out, glia_s2s_done_fn on_done, void *user, glia_err *err)
{
    glia_status rc;
    /* one row per (input, beam); at the first step only beam 0 of each input counts */
    int rows = n * k;
    for (int r = 0; r < rows; r++) {
        d->from[r] = r / k;
        d->owner[r] = r / k;
        d->slot[r] = r % k;
        d->tok[r] = GLIA_S2S_BOS;
        d->alive[r].score = r % k == 0 ? 0.0 : -INFINITY;
        d->alive[r].len = 0;
    }
    for (int i = 0; i < n; i++)
        d->ndone[i] = 0;
    glia_tf_cache_gather(d->cache, d->from, rows);
    for (int pos = 0; rows > 0; pos++) {
        const int last = pos == max_out - 1; /* </s> is forced after max_out tokens */
        const float *h = NULL;
        if ((rc = embed_step(m, d, rows, pos, err)) ||
            (rc = glia_tf_cache_step(&m->decoder, d->cache, d->x, &h, err)))
            return rc;
        step_generator(m, d, h, rows, d->logits);
        int kept = 0;
        for (int r0 = 0; r0 < rows;) { /* input i's live rows are r0..r1 */
            const int i = d->owner[r0];
            int r1 = r0;
            while (r1 < rows && d->owner[r1] == i)
                r1++;
            const int nc = beam_candidates(m, d, i, r0, r1, k, last, ngram);
            const int live = beam_extend(d, i, nc, k, alpha, &kept);
            if (d->ndone[i] >= k || last || live == 0) {
                kept -= live; /* drop the input's rows */
                beam_finish(d, i, k, max_out, out, on_done, user);
            } else {
                beam_advance(d, i, k, live);
            }
            r0 = r1;
        }
        if (kept > 0)
            glia_tf_cache_gather(d->cache, d->from, kept);
        rows = kept;
    }
    return GLIA_OK;
}

glia_status glia_s2s_translate(const glia_s2s *m, glia_s2s_dec *d, const int32_t *src, const int32_t *src_len,
                               int n, int S, const glia_s2s_search *opts, glia_s2s_output *out, glia_err *err)
{
    return glia_s2s_translate_cb(m, d, src, src_len, n, S, opts, out, NULL, NULL, err);
}

glia_status glia_s2s_translate_cb(const glia_s2s *m, glia_s2s_dec *d, const int32_t *src,
                                  const int32_t *src_len, int n, int S, const glia_s2s_search *opts,
                                  glia_s2s_output *out, glia_s2s_done_fn on_done, void *user, glia_err *err)
{
    glia_status rc;
    if (n < 1 || n > d->max_inputs || S < 1 || S > d->max_src)
        return glia_err_set(err, GLIA_EINVAL,
                            "seq2seq: %d inputs of %d steps do not fit the decoder (%d of %d)", n, S,
                            d->max_inputs, d->max_src);
    if (opts->beam_size < 1 || opts->beam_size > d->max_beam)
        return glia_err_set(err, GLIA_EINVAL, "seq2seq: beam_size must be 1..%d (got %d)", d->max_beam,
                            opts->beam_size);
    if (opts->max_tokens < 1)
        return glia_err_set(err, GLIA_EINVAL, "seq2seq: max_tokens must be positive (got %d)",
                            opts->max_tokens);
    if (!(opts->length_penalty >= 0.0f && opts->length_penalty <= 10.0f))
        return glia_err_set(err, GLIA_EINVAL, "seq2seq: length_penalty must be in [0, 10]");
    if (opts->no_repeat_ngram < 0 || opts->no_repeat_ngram > GLIA_S2S_MAX_NGRAM)
        return glia_err_set(err, GLIA_EINVAL, "seq2seq: no_repeat_ngram must be 0..%d (got %d)",
                            GLIA_S2S_MAX_NGRAM, opts->no_repeat_ngram);
    int max_out = opts->max_tokens + 1; /* the tokens and the closing </s> */
    if (max_out > d->max_out)
        max_out = d->max_out;
    if ((rc = start(m, d, src, src_len, n, S, err)) || (rc = use_panels(m, d, n * opts->beam_size, err)))
        return rc;
    if (opts->beam_size == 1)
        return greedy(m, d, n, max_out - 1 > 0 ? max_out - 1 : 1, opts->no_repeat_ngram, out, on_done, user,
                      err);
    return beam(m, d, n, opts->beam_size, max_out, opts->length_penalty, opts->no_repeat_ngram, out, on_done,
                user, err);
}
