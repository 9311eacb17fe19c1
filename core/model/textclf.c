/*
 * textclf.c - the text-classification family: embedding (+ frozen lexicon features) ->
 * LSTM/RNN -> pooling -> linear (core/nn/textnet.h) over a word vocabulary's ids. One
 * logits row per text.
 */
#include "core/model/family.h"
#include "core/nn/textnet.h"

#include <math.h>
#include <string.h>

/* architecture of a text-classification model (type text-rnn), see textnet.h:
 *   embedding: {num_embeddings: V (optional: the vocabulary's size), embedding_dim: E}
 *   lexicon: {features: K}                    (optional)
 *   rnn: {type: lstm|rnn_tanh, hidden_size: H, num_layers: 1, bidirectional: false}
 *   pooling: last|mean|max, embedding_dropout: 0, dropout: 0
 *   embedding_dropout_scope: all|words      (words: the lexicon features are never dropped)
 *   classifier: {out_features: C}
 */
static glia_status parse_text_architecture(glia_yaml *y, yaml_node_t *arch, glia_manifest *m, glia_err *err)
{
    static const char *const arch_keys[] = {
        "type",    "embedding",  "lexicon", "rnn", "pooling", "embedding_dropout", "embedding_dropout_scope",
        "dropout", "classifier", NULL};
    static const char *const emb_keys[] = {"num_embeddings", "embedding_dim", "padding_idx", NULL};
    static const char *const lex_keys[] = {"features", NULL};
    static const char *const rnn_keys[] = {"type", "hidden_size", "num_layers", "bidirectional", NULL};
    static const char *const cls_keys[] = {"out_features", NULL};
    glia_textnet_config *t = &m->text;
    const char *type = NULL, *mode = "lstm", *pool = "last", *scope = "all";
    long padding_idx = 0;
    glia_status rc;
    *t = (glia_textnet_config){.mode = GLIA_RNN_LSTM, .num_layers = 1, .pool = GLIA_RNN_POOL_LAST};
    yaml_node_t *emb = glia_yaml_get(y, arch, "embedding"), *lex = glia_yaml_get(y, arch, "lexicon");
    yaml_node_t *rnn = glia_yaml_get(y, arch, "rnn"), *cls = glia_yaml_get(y, arch, "classifier");
    if ((rc = glia_yaml_check_keys(y, arch, "architecture", arch_keys, err)) ||
        (rc = glia_yaml_string(y, glia_yaml_get(y, arch, "type"), "architecture.type", &type, err)))
        return rc;
    if (strcmp(type, "text-rnn") != 0)
        return glia_yaml_error(y, arch, GLIA_EUNSUPPORTED, err,
                               "architecture.type '%s' is not supported for text-classification (supported: "
                               "text-rnn)",
                               type);
    if (!emb || !rnn || !cls)
        return glia_yaml_error(y, arch, GLIA_EINVAL, err,
                               "architecture: text-rnn needs embedding, rnn and classifier");
    if ((rc = glia_yaml_check_keys(y, emb, "architecture.embedding", emb_keys, err)) ||
        (rc = glia_yaml_opt_int(y, emb, "num_embeddings", 2, 1 << 24, &t->vocab_size, err)) ||
        (rc = glia_yaml_opt_int(y, emb, "embedding_dim", 1, 4096, &t->embedding_dim, err)) ||
        (rc = glia_yaml_opt_long(y, emb, "padding_idx", 0, 0, &padding_idx, err)) ||
        (lex && ((rc = glia_yaml_check_keys(y, lex, "architecture.lexicon", lex_keys, err)) ||
                 (rc = glia_yaml_opt_int(y, lex, "features", 0, 64, &t->lexicon_features, err)))) ||
        (rc = glia_yaml_check_keys(y, rnn, "architecture.rnn", rnn_keys, err)) ||
        (rc = glia_yaml_opt_string(y, rnn, "type", &mode, err)) ||
        (rc = glia_yaml_opt_int(y, rnn, "hidden_size", 1, 4096, &t->hidden_size, err)) ||
        (rc = glia_yaml_opt_int(y, rnn, "num_layers", 1, GLIA_RNN_MAX_LAYERS, &t->num_layers, err)) ||
        (rc = glia_yaml_opt_bool(y, rnn, "bidirectional", &t->bidirectional, err)) ||
        (rc = glia_yaml_opt_string(y, arch, "pooling", &pool, err)) ||
        (rc = glia_yaml_opt_float(y, arch, "embedding_dropout", 0.0, 0.99, &t->embedding_dropout, err)) ||
        (rc = glia_yaml_opt_string(y, arch, "embedding_dropout_scope", &scope, err)) ||
        (rc = glia_yaml_opt_float(y, arch, "dropout", 0.0, 0.99, &t->dropout, err)) ||
        (rc = glia_yaml_check_keys(y, cls, "architecture.classifier", cls_keys, err)) ||
        (rc = glia_yaml_opt_int(y, cls, "out_features", 2, 4096, &t->num_classes, err)))
        return rc;
    if (!t->embedding_dim || !t->hidden_size || !t->num_classes)
        return glia_yaml_error(
            y, arch, GLIA_EINVAL, err,
            "architecture: embedding.embedding_dim, rnn.hidden_size and classifier.out_features "
            "are required");
    if (strcmp(scope, "all") != 0 && strcmp(scope, "words") != 0)
        return glia_yaml_error(y, arch, GLIA_EINVAL, err,
                               "architecture.embedding_dropout_scope: expected all (every column of x) or "
                               "words (the embedding's, not the lexicon's), got '%s'",
                               scope);
    t->dropout_words_only = strcmp(scope, "words") == 0;
    if ((rc = glia_rnn_mode_parse(mode, &t->mode, err)))
        return glia_yaml_error(y, rnn, rc, err, "architecture.rnn.type: %s", err->msg);
    if ((rc = glia_rnn_pool_parse(pool, &t->pool, err)))
        return glia_yaml_error(y, arch, rc, err, "architecture.pooling: %s", err->msg);
    return GLIA_OK;
}

static glia_status text_parse_manifest(glia_yaml *y, yaml_node_t *root, glia_manifest *m, glia_err *err)
{
    glia_status rc = glia_manifest_parse_token_input(y, root, "vocabulary", m, err);
    if (rc)
        return rc;
    yaml_node_t *arch = glia_manifest_section(y, root, "architecture", err);
    return arch ? parse_text_architecture(y, arch, m, err) : err->code;
}

/* The vocabulary decides the embedding's rows; a manifest that states num_embeddings must
 * agree with it. */
static glia_status text_set_vocab_size(glia_manifest *m, int size, glia_err *err)
{
    return glia_family_set_vocab(m, &m->text.vocab_size, "architecture.embedding.num_embeddings", size, err);
}

static glia_textnet *net_of(const glia_model *model)
{
    return model->impl;
}

static void sync_base(glia_model *model)
{
    glia_textnet *net = net_of(model);
    model->nparams = net->nparams;
    model->params = net->params;
    model->ntrainable = net->ntrainable;
    model->trainable = net->trainable;
    model->size = net->size;
    model->values = net->values;
    model->grads = net->grads;
    model->input_size = 0;
    model->outputs = net->cfg.num_classes;
}

static glia_status wrap(glia_textnet *net, glia_model **out, glia_err *err)
{
    glia_model *model = glia_family_wrap(&glia_family_text_classifier, net);
    if (!model) {
        glia_textnet_free(net);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a model");
    }
    sync_base(model);
    *out = model;
    return GLIA_OK;
}

static glia_status text_create(const glia_manifest *m, glia_model **out, glia_err *err)
{
    glia_textnet *net = NULL;
    *out = NULL;
    if (m->text.vocab_size <= 0)
        return glia_err_set(err, GLIA_EINVAL, "%s: the vocabulary size is not known", m->path);
    glia_status rc = glia_textnet_new(&m->text, &net, err);
    return rc ? rc : wrap(net, out, err);
}

static void text_destroy(glia_model *model)
{
    glia_textnet_free(net_of(model));
    free(model);
}

static void text_reset(glia_model *model, glia_rng *rng)
{
    glia_textnet_reset(net_of(model), rng);
}

static glia_status text_enable_grads(glia_model *model, glia_err *err)
{
    glia_status rc = glia_textnet_enable_grads(net_of(model), err);
    sync_base(model);
    return rc;
}

static glia_status text_replica(const glia_model *master, glia_model **out, glia_err *err)
{
    glia_textnet *net = NULL;
    *out = NULL;
    glia_status rc = glia_textnet_replica(net_of(master), &net, err);
    return rc ? rc : wrap(net, out, err);
}

static glia_status text_load(glia_model *model, const glia_st_file *st, glia_err *err)
{
    return glia_textnet_load(net_of(model), st, err);
}

static glia_status text_save(const glia_model *model, const char *path, const char *const *meta,
                             glia_err *err)
{
    return glia_textnet_save(net_of(model), path, meta, err);
}

static glia_status text_ctx_new(const glia_model *model, const glia_ctx_spec *spec, glia_model_ctx **out,
                                glia_err *err)
{
    glia_textnet_ctx *ctx = NULL;
    *out = NULL;
    glia_status rc =
        glia_textnet_ctx_new(net_of(model), spec->max_batch, spec->max_steps, spec->training, &ctx, err);
    if (rc)
        return rc;
    if (!(*out = glia_family_ctx(&glia_family_text_classifier, spec, ctx))) {
        glia_textnet_ctx_free(ctx);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a run context");
    }
    return GLIA_OK;
}

static void text_ctx_free(glia_model_ctx *ctx)
{
    if (ctx) {
        glia_textnet_ctx_free(ctx->impl);
        free(ctx);
    }
}

static size_t text_ctx_bytes(const glia_model_ctx *ctx)
{
    return glia_textnet_ctx_bytes(ctx->impl);
}

static glia_status text_forward(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b,
                                glia_rng *rng, const float **logits, int *rows, glia_err *err)
{
    *rows = b->n;
    return glia_textnet_forward(net_of(model), ctx->impl, b->ids, b->lengths, b->n, b->steps, rng, logits,
                                err);
}

static void text_backward(glia_model *model, glia_model_ctx *ctx, const float *dlogits,
                          const glia_grad_ready *ready)
{
    glia_textnet_backward(net_of(model), ctx->impl, dlogits, ready);
}

static glia_status text_predict(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b,
                                glia_prediction *out, glia_err *err)
{
    return glia_textnet_forward(net_of(model), ctx->impl, b->ids, b->lengths, b->n, b->steps, NULL,
                                &out->logits, err);
}

/* Attributions of one text to its tokens, over the token vectors x = cat(embedding, lexicon)
 * (the lexicon is an embedding table too, frozen; leaving it out would hide its share):
 *   gradient_x_embedding   score_t = sum_j dlogit/dx_tj . x_tj
 *   integrated_gradients   score_t = sum_j x_tj . sum over k of w_k dlogit/dx_tj at a_k x
 * a midpoint rule along the straight path from the all-zero input, so that the scores add up
 * to logit(x) - logit(0) as the number of steps grows. Its steps are not evenly spaced: an
 * LSTM's logit can change almost as a step along the path (a gate saturating, max pooling
 * switching), within 1e-4 of alpha on the shipped model, where evenly spaced steps miss it
 * and the sum drifts from the gap by several percent at 256 steps. So the logit is first
 * evaluated (forward only, cheap) on a grid of GRID x steps points, and the steps are placed
 * where it changes: each takes an equal share of the logit's variation (plus a floor, so that
 * flat stretches are still sampled). The path's points run CHUNK at a time through one ctx. */
enum { CHUNK = 16, GRID = 4 };

/* The target's logit at alpha[0..n) x the text (ids repeated chunk times, ctx's batch) into f. */
static glia_status logits_along(const glia_textnet *net, glia_textnet_ctx *ctx, const int32_t *ids,
                                const int32_t *lengths, int len, int chunk, int k, int target,
                                const float *alpha, int n, float *f, glia_err *err)
{
    for (int s0 = 0; s0 < n; s0 += chunk) {
        const int m = n - s0 < chunk ? n - s0 : chunk;
        const float *logits = NULL;
        glia_status rc =
            glia_textnet_forward_scaled(net, ctx, ids, lengths, m, len, alpha + s0, &logits, err);
        if (rc)
            return rc;
        for (int r = 0; r < m; r++)
            f[s0 + r] = logits[(size_t)r * (size_t)k + (size_t)target];
    }
    return GLIA_OK;
}

/* The steps' midpoints at[0..steps) and widths w[0..steps) (summing to 1) from the logit f on
 * the grid j / g, j = 0..g: equal shares of |f's change| + a floor of a quarter of the mean. */
static void place_steps(const float *f, int g, int steps, float *at, float *w)
{
    double total = 0.0;
    for (int j = 0; j < g; j++)
        total += fabs((double)f[j + 1] - f[j]);
    const double floor_share = total > 0.0 ? 0.25 * total / g : 1.0;
    total += floor_share * g;
    double acc = 0.0, lo = 0.0; /* the cumulative weight up to grid cell j; the last boundary */
    int j = 0;
    for (int s = 1; s <= steps; s++) {
        const double want = total * s / steps;
        double cell = fabs((double)f[j + 1] - f[j]) + floor_share;
        while (j < g - 1 && acc + cell < want) {
            acc += cell;
            j++;
            cell = fabs((double)f[j + 1] - f[j]) + floor_share;
        }
        double hi = s == steps ? 1.0 : ((double)j + (want - acc) / cell) / g;
        hi = hi > 1.0 ? 1.0 : hi;
        at[s - 1] = (float)((lo + hi) / 2.0);
        w[s - 1] = (float)(hi - lo);
        lo = hi;
    }
}

static glia_status text_explain(const glia_model *model, const glia_batch *b, const glia_explain_opts *opts,
                                glia_explanation *out, glia_err *err)
{
    const glia_textnet *net = net_of(model);
    const int len = b->lengths[0], k = model->outputs, X = net->input_size;
    const int ig = opts->method == GLIA_EXPLAIN_INTEGRATED_GRADIENTS;
    const int points = ig ? opts->steps : 1, chunk = points < CHUNK ? points : CHUNK;
    const size_t row = (size_t)len * (size_t)X;
    glia_textnet_ctx *ctx = NULL;
    const float *logits = NULL;
    glia_status rc = GLIA_OK;
    if (opts->method != GLIA_EXPLAIN_GRADIENT_X_EMBEDDING && !ig)
        return glia_err_set(err, GLIA_EUNSUPPORTED,
                            "method %s is not one for texts (gradient_x_embedding, integrated_gradients)",
                            glia_explain_method_name(opts->method));
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)len * (size_t)chunk);
    int32_t *lengths = malloc(sizeof(int32_t) * (size_t)chunk);
    float *x = malloc(sizeof(float) * row);
    float *dx = malloc(sizeof(float) * row * (size_t)chunk), *grad = calloc(row, sizeof(float));
    float *dlogits = calloc((size_t)k * (size_t)chunk, sizeof(float));
    const int g = GRID * points;
    float *grid = malloc(sizeof(float) * (size_t)(g + 1)), *f = calloc((size_t)(g + 1), sizeof(float));
    float *at = malloc(sizeof(float) * (size_t)points), *width = malloc(sizeof(float) * (size_t)points);
    if (!ids || !lengths || !x || !dx || !grad || !dlogits || !grid || !f || !at || !width) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for an explanation");
        goto done;
    }
    for (int r = 0; r < chunk; r++) {
        memcpy(ids + (size_t)r * (size_t)len, b->ids, sizeof(int32_t) * (size_t)len);
        lengths[r] = len;
    }
    if ((rc = glia_textnet_ctx_new_input_grad(net, chunk, len, &ctx, err)) ||
        (rc = glia_textnet_forward_scaled(net, ctx, ids, lengths, 1, len, NULL, &logits, err)))
        goto done;
    const int predicted = glia_softmax_argmax(logits, k, out->probs);
    out->target = opts->target < 0 ? predicted : opts->target;
    out->logit = logits[out->target];
    out->baseline_logit = 0.0f;
    memcpy(x, glia_textnet_inputs(ctx), sizeof(float) * row);
    for (int r = 0; r < chunk; r++)
        dlogits[(size_t)r * (size_t)k + (size_t)out->target] = 1.0f;
    if (!ig) {
        glia_textnet_input_backward(net, ctx, dlogits, grad);
    } else {
        for (int j = 0; j <= g; j++)
            grid[j] = (float)j / (float)g;
        if ((rc = logits_along(net, ctx, ids, lengths, len, chunk, k, out->target, grid, g + 1, f, err)))
            goto done;
        out->baseline_logit = f[0];
        place_steps(f, g, points, at, width);
        for (int s0 = 0; s0 < points; s0 += chunk) {
            const int m = points - s0 < chunk ? points - s0 : chunk;
            if ((rc = glia_textnet_forward_scaled(net, ctx, ids, lengths, m, len, at + s0, &logits, err)))
                goto done;
            glia_textnet_input_backward(net, ctx, dlogits, dx);
            for (size_t i = 0; i < row * (size_t)m; i++)
                grad[i % row] += dx[i] * width[s0 + (int)(i / row)];
        }
    }
    for (int t = 0; t < len; t++) {
        double sum = 0.0;
        for (int j = 0; j < X; j++)
            sum += (double)grad[(size_t)t * X + j] * (double)x[(size_t)t * X + j];
        out->scores[t] = (float)sum;
    }
done:
    glia_textnet_ctx_free(ctx);
    free(ids);
    free(lengths);
    free(x);
    free(dx);
    free(grad);
    free(dlogits);
    free(grid);
    free(f);
    free(at);
    free(width);
    return rc;
}

/* The LSTM's weight_ih and weight_hh of every layer and direction, and fc.weight (the
 * embedding tables are looked up, not multiplied). */
static glia_param *text_matrix(glia_model *model, int i)
{
    glia_textnet *net = net_of(model);
    const int n = net->rnn.nparams / 2; /* four per layer and direction, two of them matrices */
    if (i < n)
        return &net->rnn.params[i / 2 * 4 + i % 2];
    return i == n ? net->fc_weight : NULL;
}

/* The LSTM's inference copies (glia_textnet_prepare). */
static glia_status text_prepare(glia_model *model, int on, glia_err *err)
{
    return glia_textnet_prepare(net_of(model), on, err);
}

/* The copies above follow the weights' generation (textnet.h). */
static void text_weights_changed(const glia_model *model)
{
    glia_textnet_weights_changed(net_of(model));
}

const glia_model_ops glia_family_text_classifier = {
    .task = "text-classification",
    .family = "text-classifier",
    .input = GLIA_INPUT_TOKENS,
    .output = GLIA_OUTPUT_CLASSES,
    .tokenizer = GLIA_TOKENIZER_WORDS,
    .parse_manifest = text_parse_manifest,
    .set_vocab_size = text_set_vocab_size,
    .create = text_create,
    .destroy = text_destroy,
    .reset = text_reset,
    .enable_grads = text_enable_grads,
    .replica = text_replica,
    .load = text_load,
    .save = text_save,
    .ctx_new = text_ctx_new,
    .ctx_free = text_ctx_free,
    .ctx_bytes = text_ctx_bytes,
    .forward = text_forward,
    .backward = text_backward,
    .predict = text_predict,
    .explain = text_explain,
    .matrix = text_matrix,
    .prepare = text_prepare,
    .weights_changed = text_weights_changed,
};
