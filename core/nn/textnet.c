/*
 * textnet.c - see textnet.h.
 *
 * The embedding and lexicon lookups are written to their own buffers and then
 * interleaved into x [B, T, E + K], so glia_embedding_forward/backward (which work on
 * contiguous [B, T, dim] blocks) are reused as they are; the copies are a few KB per
 * sentence, nothing next to the recurrent GEMMs.
 *
 * The inference copies (the token table, the LSTM's transposed weights) live in the net, not
 * in each ctx as net.c's derived weights do: the table is 9.4 MB for sentiment-lstm, once per
 * model rather than once per gliad worker and batch size, and it is made at load, not by a
 * served request. They follow the weights' generation all the same. A forward reads the
 * generation, then the one the copies were made from (acquire: what the remake wrote is seen);
 * equal, it reads the copies without a lock. Otherwise it takes the lock, looks again, and the
 * first thread remakes them while the others wait. Nothing else can be reading the old copies
 * then: a forward that read them began before the write it would overlap, which is the
 * caller's to prevent (textnet.h).
 */
#include "core/nn/textnet.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/bf16.h"
#include "core/nn/kernels.h"
#include "core/nn/params.h"

struct glia_textnet_copies {
    pthread_mutex_t lock;
    atomic_int wanted; /* between glia_textnet_prepare(net, 1) and (net, 0) */
    atomic_ulong made; /* the generation the copies were made from (0: none yet) */
};

struct glia_textnet_ctx {
    int max_batch, max_steps, training;
    size_t bytes;
    glia_rnn_ctx *rnn;
    float *block;            /* one allocation; every float buffer below is a slice of it */
    float *emb;              /* [B, T, E] */
    float *lex;              /* [B, T, K] */
    float *x;                /* [B, T, E + K], after embedding dropout */
    uint8_t *xkeep;          /* training: embedding dropout's keep decision per element of x */
    float *pooled, *dropped; /* [B, F]: pooled, after dropout */
    uint8_t *pkeep;          /* training [B, F]: dropout's keep decisions */
    float *logits;           /* [B, C] */
    float *dpooled;          /* backward [B, F] */
    float *dh;               /* backward [B, T, F] */
    float *dx;               /* backward [B, T, E + K] */
    int32_t *ids, *lengths;  /* copies of the last forward's */
    const float *h;          /* the rnn's output of the last forward (borrowed from rnn ctx) */
    int batch, steps, has_forward;
    int no_dropout; /* an input-gradient ctx: training's buffers, inference's forward */
};

static glia_status check_config(const glia_textnet_config *c, glia_err *err)
{
    if (c->vocab_size < 2 || c->vocab_size > (1 << 24))
        return glia_err_set(err, GLIA_EINVAL, "textnet: vocab_size must be in [2, %d] (got %d)", 1 << 24,
                            c->vocab_size);
    if (c->embedding_dim < 1 || c->embedding_dim > 4096)
        return glia_err_set(err, GLIA_EINVAL, "textnet: embedding_dim must be in [1, 4096] (got %d)",
                            c->embedding_dim);
    if (c->lexicon_features < 0 || c->lexicon_features > 64)
        return glia_err_set(err, GLIA_EINVAL, "textnet: lexicon features must be in [0, 64] (got %d)",
                            c->lexicon_features);
    if (c->hidden_size < 1 || c->hidden_size > 4096)
        return glia_err_set(err, GLIA_EINVAL, "textnet: hidden_size must be in [1, 4096] (got %d)",
                            c->hidden_size);
    if (c->num_classes < 2 || c->num_classes > 4096)
        return glia_err_set(err, GLIA_EINVAL, "textnet: num_classes must be in [2, 4096] (got %d)",
                            c->num_classes);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return glia_err_set(err, GLIA_EINVAL, "textnet: dropout must be in [0, 1) (got %g)",
                            (double)c->dropout);
    if (!(c->embedding_dropout >= 0.0f && c->embedding_dropout < 1.0f))
        return glia_err_set(err, GLIA_EINVAL, "textnet: embedding_dropout must be in [0, 1) (got %g)",
                            (double)c->embedding_dropout);
    if (c->pool != GLIA_RNN_POOL_LAST && c->pool != GLIA_RNN_POOL_MEAN && c->pool != GLIA_RNN_POOL_MAX)
        return glia_err_set(err, GLIA_EINVAL, "textnet: unknown pooling %d", (int)c->pool);
    return GLIA_OK;
}

/* Points every view (modules, params[], trainable[]) at values and, if allocated, grads. */
static void bind_all(glia_textnet *net)
{
    float *v = net->values, *g = net->grads;
    size_t off = 0;
    glia_embedding_bind(&net->embedding, v, g);
    off += net->embedding.weight.size;
    if (net->cfg.lexicon_features > 0) {
        /* frozen: no gradient, whatever the net's mode */
        glia_embedding_bind(&net->lexicon, v + off, NULL);
        off += net->lexicon.weight.size;
    }
    glia_rnn_bind(&net->rnn, v + off, g ? g + off : NULL);
    off = 0;
    net->ntrainable = 0;
    for (int i = 0; i < net->nparams; i++) {
        glia_param *p = &net->params[i];
        p->value = v + off;
        int frozen =
            net->cfg.lexicon_features > 0 && i == 1; /* lexicon.weight, right after embedding.weight */
        p->grad = g && !frozen ? g + off : NULL;
        off += p->size;
        if (!frozen)
            net->trainable[net->ntrainable++] = *p;
    }
}

glia_status glia_textnet_new(const glia_textnet_config *cfg, glia_textnet **out, glia_err *err)
{
    *out = NULL;
    glia_status rc = check_config(cfg, err);
    if (rc != GLIA_OK)
        return rc;
    glia_textnet *net = calloc(1, sizeof *net);
    if (!net || !(net->copies = calloc(1, sizeof *net->copies))) {
        free(net);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory building the text model");
    }
    pthread_mutex_init(&net->copies->lock, NULL);
    net->generation = &net->own_generation;
    atomic_init(&net->own_generation, 1);
    net->cfg = *cfg;
    net->input_size = cfg->embedding_dim + cfg->lexicon_features;
    glia_rnn_config rc_cfg = {cfg->mode, net->input_size, cfg->hidden_size, cfg->num_layers,
                              cfg->bidirectional};
    if ((rc = glia_embedding_init(&net->embedding, cfg->vocab_size, cfg->embedding_dim, 1,
                                  GLIA_TEXTNET_PAD_ID, "embedding", err)) ||
        (cfg->lexicon_features > 0 &&
         (rc = glia_embedding_init(&net->lexicon, cfg->vocab_size, cfg->lexicon_features, 0, 0, "lexicon",
                                   err))) ||
        (rc = glia_rnn_init(&net->rnn, &rc_cfg, "rnn", err)))
        goto fail;
    net->features = net->rnn.output_size;

    /* The state_dict, in registration order; the lexicon is the one frozen tensor. */
    net->params[net->nparams++] = net->embedding.weight;
    if (cfg->lexicon_features > 0)
        net->params[net->nparams++] = net->lexicon.weight;
    for (int i = 0; i < net->rnn.nparams; i++)
        net->params[net->nparams++] = net->rnn.params[i];
    glia_param *w = &net->params[net->nparams++], *b = &net->params[net->nparams++];
    int64_t wshape[2] = {cfg->num_classes, net->features}, bshape[1] = {cfg->num_classes};
    glia_param_shape(w, 2, wshape, 1);
    glia_param_shape(b, 1, bshape, 0);
    strcpy(w->name, "fc.weight");
    strcpy(b->name, "fc.bias");
    net->fc_weight = w;
    net->fc_bias = b;
    for (int i = 0; i < net->nparams; i++)
        net->size += net->params[i].size;
    net->values = calloc(net->size, sizeof *net->values);
    if (!net->values) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu text model parameters", net->size);
        goto fail;
    }
    bind_all(net);
    *out = net;
    return GLIA_OK;
fail:
    glia_textnet_free(net);
    return rc;
}

glia_status glia_textnet_enable_grads(glia_textnet *net, glia_err *err)
{
    if (!net->grads) {
        net->grads = calloc(net->size, sizeof *net->grads);
        if (!net->grads)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu gradients", net->size);
    }
    bind_all(net);
    return GLIA_OK;
}

glia_status glia_textnet_replica(const glia_textnet *master, glia_textnet **out, glia_err *err)
{
    glia_textnet *r = NULL;
    glia_status rc = glia_textnet_new(&master->cfg, &r, err);
    if (rc != GLIA_OK)
        return rc;
    /* the same config gives the same layout: the master's buffer fits */
    free(r->values);
    r->values = master->values;
    r->shares_values = 1;
    r->generation = master->generation;
    if ((rc = glia_textnet_enable_grads(r, err))) {
        glia_textnet_free(r);
        return rc;
    }
    *out = r;
    return GLIA_OK;
}

void glia_textnet_free(glia_textnet *net)
{
    if (!net)
        return;
    if (!net->shares_values)
        free(net->values);
    free(net->grads);
    glia_textnet_prepare(net, 0, NULL);
    pthread_mutex_destroy(&net->copies->lock);
    free(net->copies);
    free(net);
}

void glia_textnet_weights_changed(const glia_textnet *net)
{
    /* release: a forward that reads the new generation (acquire) sees the values written before */
    atomic_fetch_add_explicit(net->generation, 1, memory_order_release);
}

/* Frees the copies and, with on, makes them again from the values as they are now. */
static glia_status make_copies(glia_textnet *net, int on, glia_err *err)
{
    glia_rnn_unpack(&net->rnn);
    free(net->token_table);
    net->token_table = NULL;
    if (!on)
        return GLIA_OK;
    /* a bf16 LSTM (glia_model_set_precision attached copies to every matrix) runs the reference
     * path, which reads no transposed fp32 copy: only its table is made, from the bf16 copy */
    const int bf16 = net->rnn.params[0].bf16 != NULL;
    glia_status rc = bf16 ? GLIA_OK : glia_rnn_pack(&net->rnn, err);
    const int V = net->cfg.vocab_size, E = net->cfg.embedding_dim, K = net->cfg.lexicon_features;
    const int X = net->input_size;
    const size_t width = (size_t)net->rnn.directions * 4 * (size_t)net->cfg.hidden_size;
    /* only where a path reads it - the kernels' (glia_rnn_pack made its copy) or a bf16 LSTM's -
     * and within the budget: the table is vocabulary x 2 x 4H floats, 9.4 MB for sentiment-lstm,
     * 42 MB for the 20,489 words of sentiment-negation, which keeps the GEMM */
    const int reads = net->rnn.packed || (bf16 && net->cfg.mode == GLIA_RNN_LSTM);
    if (rc != GLIA_OK || !reads || (size_t)V * width > GLIA_TEXTNET_TABLE_MAX_BYTES / sizeof(float))
        return rc;
    float *x = malloc(sizeof(float) * (size_t)V * (size_t)X);
    net->token_table = malloc(sizeof(float) * (size_t)V * width);
    if (!x || !net->token_table) {
        free(x);
        free(net->token_table);
        net->token_table = NULL;
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for the text classifier's token table");
    }
    for (int v = 0; v < V; v++) {
        memcpy(x + (size_t)v * X, net->embedding.weight.value + (size_t)v * E, sizeof(float) * (size_t)E);
        if (K > 0)
            memcpy(x + (size_t)v * X + E, net->lexicon.weight.value + (size_t)v * K,
                   sizeof(float) * (size_t)K);
    }
    glia_rnn_table_fill(&net->rnn, x, V, net->token_table);
    free(x);
    return GLIA_OK;
}

glia_status glia_textnet_prepare(glia_textnet *net, int on, glia_err *err)
{
    /* read before making: a write announced meanwhile leaves the copies older, remade later */
    const unsigned long generation = atomic_load_explicit(net->generation, memory_order_acquire);
    glia_status rc = make_copies(net, on, err);
    atomic_store_explicit(&net->copies->wanted, on, memory_order_relaxed);
    atomic_store_explicit(&net->copies->made, on ? generation : 0, memory_order_release);
    return rc;
}

/* Before an inference forward: the copies of the current weights (see the top of this file). */
static void copies_follow(const glia_textnet *net)
{
    struct glia_textnet_copies *c = net->copies;
    const unsigned long generation = atomic_load_explicit(net->generation, memory_order_acquire);
    if (!atomic_load_explicit(&c->wanted, memory_order_relaxed) ||
        atomic_load_explicit(&c->made, memory_order_acquire) == generation)
        return;
    pthread_mutex_lock(&c->lock);
    if (atomic_load_explicit(&c->made, memory_order_relaxed) != generation) {
        glia_err ignored = {0};
        /* the net is never a const object (glia_textnet_new allocates it) and the lock keeps
         * this the one writer: the const of a forward says it leaves the weights alone */
        make_copies((glia_textnet *)net, 1, &ignored);
        atomic_store_explicit(&c->made, generation, memory_order_release);
    }
    pthread_mutex_unlock(&c->lock);
}

void glia_textnet_reset(glia_textnet *net, glia_rng *rng)
{
    glia_embedding_reset(&net->embedding, rng);
    glia_rnn_reset(&net->rnn, rng);
    float bound = 1.0f / sqrtf((float)net->features);
    glia_fill_uniform(net->fc_weight->value, net->fc_weight->size, bound, rng);
    glia_fill_uniform(net->fc_bias->value, net->fc_bias->size, bound, rng);
    glia_textnet_weights_changed(net);
}

void glia_textnet_zero_grads(glia_textnet *net)
{
    if (net->grads)
        memset(net->grads, 0, net->size * sizeof *net->grads);
}

const glia_param *glia_textnet_find_param(const glia_textnet *net, const char *name)
{
    return glia_params_find(net->params, net->nparams, name);
}

glia_status glia_textnet_load(glia_textnet *net, const glia_st_file *st, glia_err *err)
{
    glia_status rc = glia_params_load_strict(net->params, net->nparams, st, "manifest", err);
    glia_textnet_weights_changed(net); /* a failed load may have written some tensors */
    return rc;
}

glia_status glia_textnet_save(const glia_textnet *net, const char *path, const char *const *meta,
                              glia_err *err)
{
    return glia_params_save(net->params, net->nparams, path, meta, err);
}

/* ---- run contexts ---- */

glia_status glia_textnet_ctx_new(const glia_textnet *net, int max_batch, int max_steps, int training,
                                 glia_textnet_ctx **out, glia_err *err)
{
    *out = NULL;
    if (max_batch <= 0 || max_steps <= 0 || max_batch > (1 << 16) || max_steps > (1 << 16))
        return glia_err_set(err, GLIA_EINVAL,
                            "textnet: max_batch and max_steps must be in [1, 65536] (got %d, %d)", max_batch,
                            max_steps);
    glia_textnet_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a text model context");
    ctx->max_batch = max_batch;
    ctx->max_steps = max_steps;
    ctx->training = training;
    const size_t bt = (size_t)max_batch * (size_t)max_steps, B = (size_t)max_batch;
    const size_t E = (size_t)net->cfg.embedding_dim, K = (size_t)net->cfg.lexicon_features;
    const size_t X = (size_t)net->input_size, F = (size_t)net->features, C = (size_t)net->cfg.num_classes;
    size_t floats = bt * (E + K + X) + B * F + B * C;
    if (training)
        floats += 2 * B * F /* dropped, dpooled */ + bt * F /* dh */ + bt * X /* dx */;
    const size_t keep_bytes = training ? bt * X + B * F : 0; /* xkeep, pkeep */
    glia_status rc = glia_rnn_ctx_new(&net->rnn, max_batch, max_steps, training, &ctx->rnn, err);
    if (rc != GLIA_OK)
        goto fail;
    ctx->block = calloc(floats, sizeof(float));
    ctx->ids = calloc(bt, sizeof *ctx->ids);
    ctx->lengths = calloc(B, sizeof *ctx->lengths);
    ctx->xkeep = keep_bytes ? malloc(keep_bytes) : NULL;
    if (!ctx->block || !ctx->ids || !ctx->lengths || (keep_bytes && !ctx->xkeep)) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for a text model context (%zu floats)", floats);
        goto fail;
    }
    float *p = ctx->block;
    ctx->emb = p, p += bt * E;
    ctx->lex = p, p += bt * K;
    ctx->x = p, p += bt * X;
    ctx->pooled = p, p += B * F;
    ctx->logits = p, p += B * C;
    if (training) {
        ctx->pkeep = ctx->xkeep + bt * X;
        ctx->dropped = p, p += B * F;
        ctx->dpooled = p, p += B * F;
        ctx->dh = p, p += bt * F;
        ctx->dx = p, p += bt * X;
    }
    ctx->bytes = sizeof *ctx + floats * sizeof(float) + keep_bytes + (bt + B) * sizeof(int32_t) +
                 glia_rnn_ctx_bytes(ctx->rnn);
    *out = ctx;
    return GLIA_OK;
fail:
    glia_textnet_ctx_free(ctx);
    return rc;
}

void glia_textnet_ctx_free(glia_textnet_ctx *ctx)
{
    if (!ctx)
        return;
    glia_rnn_ctx_free(ctx->rnn);
    free(ctx->block);
    free(ctx->xkeep);
    free(ctx->ids);
    free(ctx->lengths);
    free(ctx);
}

size_t glia_textnet_ctx_bytes(const glia_textnet_ctx *ctx)
{
    return ctx->bytes;
}

glia_status glia_textnet_ctx_new_input_grad(const glia_textnet *net, int max_batch, int max_steps,
                                            glia_textnet_ctx **out, glia_err *err)
{
    glia_status rc = glia_textnet_ctx_new(net, max_batch, max_steps, 1, out, err);
    if (rc == GLIA_OK)
        (*out)->no_dropout = 1;
    return rc;
}

const float *glia_textnet_inputs(const glia_textnet_ctx *ctx)
{
    return ctx->x;
}

static glia_status forward(const glia_textnet *net, glia_textnet_ctx *ctx, const int32_t *ids,
                           const int32_t *lengths, int batch, int steps, glia_rng *rng, const float *alpha,
                           const float **logits, glia_err *err)
{
    *logits = NULL;
    ctx->has_forward = 0;
    if (batch < 1 || batch > ctx->max_batch || steps < 1 || steps > ctx->max_steps)
        return glia_err_set(err, GLIA_EINVAL,
                            "textnet: batch %d x %d steps does not fit the context's %d x %d", batch, steps,
                            ctx->max_batch, ctx->max_steps);
    for (int b = 0; b < batch; b++)
        if (lengths[b] < 1 || lengths[b] > steps)
            return glia_err_set(err, GLIA_EINVAL, "textnet: sequence %d has length %d, outside [1, %d]", b,
                                (int)lengths[b], steps);
    const int E = net->cfg.embedding_dim, K = net->cfg.lexicon_features, X = net->input_size;
    const int F = net->features, C = net->cfg.num_classes;
    const size_t bt = (size_t)batch * (size_t)steps;
    glia_status rc;
    if (!ctx->training)
        copies_follow(net);
    if (!ctx->training && !alpha && net->token_table && glia_rnn_table_ok(&net->rnn, ctx->rnn, batch)) {
        /* inference through the token table: the embedding, the lexicon and layer 0's input
         * projection are one row per token, gathered by the rnn */
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < lengths[b]; t++) {
                const int32_t id = ids[(size_t)b * (size_t)steps + (size_t)t];
                if (id < 0 || id >= net->cfg.vocab_size)
                    return glia_err_set(err, GLIA_EINVAL,
                                        "embedding: token id %ld at sequence %d, step %d is outside the "
                                        "vocabulary [0, %d)",
                                        (long)id, b, t, net->cfg.vocab_size);
            }
        if ((rc = glia_rnn_forward_table(&net->rnn, ctx->rnn, net->token_table, ids, lengths, batch, steps,
                                         &ctx->h, err)))
            return rc;
        goto pooled;
    }
    rc = glia_embedding_forward(&net->embedding, ids, lengths, batch, steps, ctx->emb, err);
    if (rc == GLIA_OK && K > 0)
        rc = glia_embedding_forward(&net->lexicon, ids, lengths, batch, steps, ctx->lex, err);
    if (rc != GLIA_OK)
        return rc;
    for (size_t i = 0; i < bt; i++) {
        memcpy(ctx->x + i * X, ctx->emb + i * E, sizeof(float) * (size_t)E);
        if (K > 0)
            memcpy(ctx->x + i * X + E, ctx->lex + i * K, sizeof(float) * (size_t)K);
    }
    for (int b = 0; alpha && b < batch; b++)
        for (size_t i = 0; i < (size_t)steps * (size_t)X; i++)
            ctx->x[(size_t)b * (size_t)steps * (size_t)X + i] *= alpha[b];
    const int drop_x = ctx->training && !ctx->no_dropout && net->cfg.embedding_dropout > 0.0f;
    if (drop_x) {
        GLIA_ASSERT(rng);
        if (!net->cfg.dropout_words_only || K == 0) {
            glia_dropout_forward(ctx->x, ctx->x, ctx->xkeep, bt * (size_t)X, net->cfg.embedding_dropout, rng);
        } else { /* per row: the E word columns; the K lexicon columns are kept (and their
                    gradient, scaled by backward, is dropped anyway: the table is frozen) */
            for (size_t i = 0; i < bt; i++) {
                glia_dropout_forward(ctx->x + i * X, ctx->x + i * X, ctx->xkeep + i * X, (size_t)E,
                                     net->cfg.embedding_dropout, rng);
                memset(ctx->xkeep + i * X + E, 1, (size_t)K);
            }
        }
    }
    if ((rc = glia_rnn_forward(&net->rnn, ctx->rnn, ctx->x, lengths, batch, steps, &ctx->h, err)))
        return rc;
pooled:
    glia_rnn_pool_forward(net->cfg.pool, ctx->h, lengths, batch, steps, F, net->rnn.directions, ctx->pooled);
    const float *fc_in = ctx->pooled;
    if (ctx->training && !ctx->no_dropout && net->cfg.dropout > 0.0f) {
        GLIA_ASSERT(rng);
        glia_dropout_forward(ctx->pooled, ctx->dropped, ctx->pkeep, (size_t)batch * F, net->cfg.dropout, rng);
        fc_in = ctx->dropped;
    } else if (ctx->training) {
        memcpy(ctx->dropped, ctx->pooled, sizeof(float) * (size_t)batch * F);
    }
    glia_linear_forward_param(fc_in, batch, F, net->fc_weight, 0, net->fc_bias->value, C, ctx->logits, C);
    if (ctx->training) {
        memcpy(ctx->ids, ids, sizeof(int32_t) * bt);
        memcpy(ctx->lengths, lengths, sizeof(int32_t) * (size_t)batch);
    }
    ctx->batch = batch;
    ctx->steps = steps;
    ctx->has_forward = 1;
    *logits = ctx->logits;
    return GLIA_OK;
}

glia_status glia_textnet_forward(const glia_textnet *net, glia_textnet_ctx *ctx, const int32_t *ids,
                                 const int32_t *lengths, int batch, int steps, glia_rng *rng,
                                 const float **logits, glia_err *err)
{
    return forward(net, ctx, ids, lengths, batch, steps, rng, NULL, logits, err);
}

glia_status glia_textnet_forward_scaled(const glia_textnet *net, glia_textnet_ctx *ctx, const int32_t *ids,
                                        const int32_t *lengths, int batch, int steps, const float *alpha,
                                        const float **logits, glia_err *err)
{
    GLIA_ASSERT(ctx->no_dropout);
    return forward(net, ctx, ids, lengths, batch, steps, NULL, alpha, logits, err);
}

void glia_textnet_input_backward(const glia_textnet *net, glia_textnet_ctx *ctx, const float *dlogits,
                                 float *dx)
{
    GLIA_ASSERT(ctx->no_dropout && ctx->has_forward);
    const int B = ctx->batch, T = ctx->steps, X = net->input_size, F = net->features;
    const int C = net->cfg.num_classes;
    /* parameter gradients go through the params' grad views, NULL on a served net */
    glia_linear_backward(ctx->dropped, B, F, net->fc_weight->value, net->fc_weight->grad, net->fc_bias->grad,
                         C, dlogits, C, ctx->dpooled, 0.0f);
    glia_rnn_pool_backward(net->cfg.pool, ctx->h, ctx->lengths, B, T, F, net->rnn.directions, ctx->dpooled,
                           ctx->dh);
    glia_rnn_backward((glia_rnn *)&net->rnn, ctx->rnn, ctx->dh, NULL, NULL, ctx->dx);
    memcpy(dx, ctx->dx, sizeof(float) * (size_t)B * (size_t)T * (size_t)X);
}

void glia_textnet_backward(glia_textnet *net, glia_textnet_ctx *ctx, const float *dlogits,
                           const glia_grad_ready *ready)
{
    GLIA_ASSERT(ctx->training && ctx->has_forward && net->grads);
    const int B = ctx->batch, T = ctx->steps;
    const int E = net->cfg.embedding_dim, X = net->input_size, F = net->features, C = net->cfg.num_classes;
    const size_t bt = (size_t)B * (size_t)T;
    /* fc: dW += dlogits^T fc_in, db += column sums, d(fc_in) = dlogits W */
    glia_linear_backward(ctx->dropped, B, F, net->fc_weight->value, net->fc_weight->grad, net->fc_bias->grad,
                         C, dlogits, C, ctx->dpooled, 0.0f);
    /* state_dict order: the tables, the rnn, fc; the pass meets them the other way round */
    const glia_param *first_rnn = net->fc_weight - net->rnn.nparams;
    glia_grad_ready_params(ready, net->fc_weight, net->fc_bias);
    if (net->cfg.dropout > 0.0f)
        glia_dropout_backward(ctx->dpooled, ctx->dpooled, ctx->pkeep, (size_t)B * F, net->cfg.dropout);
    glia_rnn_pool_backward(net->cfg.pool, ctx->h, ctx->lengths, B, T, F, net->rnn.directions, ctx->dpooled,
                           ctx->dh);
    glia_rnn_backward(&net->rnn, ctx->rnn, ctx->dh, NULL, NULL, ctx->dx);
    glia_grad_ready_params(ready, first_rnn, net->fc_weight - 1);
    if (net->cfg.embedding_dropout > 0.0f)
        glia_dropout_backward(ctx->dx, ctx->dx, ctx->xkeep, bt * (size_t)X, net->cfg.embedding_dropout);
    /* The embedding's share of dx, compacted to [B, T, E] (reusing ctx->emb: the forward's
     * lookups are no longer needed). The lexicon's share is dropped: it is frozen. */
    for (size_t i = 0; i < bt; i++)
        memcpy(ctx->emb + i * E, ctx->dx + i * X, sizeof(float) * (size_t)E);
    glia_embedding_backward(&net->embedding, ctx->ids, ctx->lengths, B, T, ctx->emb);
    /* the embedding and the frozen lexicon: the head of the buffer up to the rnn (the
     * lexicon's region stays zero, and its param has no grad view) */
    if (ready)
        glia_grad_ready_range(ready, 0, (size_t)(first_rnn->grad - ready->grads));
}
