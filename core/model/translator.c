/*
 * translator.c - the translation family: a Transformer encoder-decoder over one joint
 * subword vocabulary (core/nn/seq2seq.h). In training, one logits row per valid target
 * position (teacher forcing); in predict, greedy or beam search on the cached decoder.
 *
 * A predict ctx keeps one decoder state for the beam size last asked: rebuilding it costs
 * an allocation, so a server that mixes beam sizes pays it only when the size changes.
 * Inputs beyond what the decoder holds at once are decoded in consecutive groups, and each
 * decided sequence is copied out of the decoder so that it outlives the next group.
 */
#include "core/model/family.h"
#include "core/nn/seq2seq.h"

#include <math.h>
#include <string.h>

typedef struct {
    glia_s2s_ctx *train; /* training ctx */
    /* predict ctx: */
    glia_s2s_dec *dec;
    int dec_beam, dec_inputs;
    glia_s2s_output *outs; /* [dec_inputs] */
    int32_t *kept;         /* [kept_rows, row_len]: decided sequences, copied */
    int kept_rows, row_len;
    /* the group being decoded */
    glia_prediction *pred;
    int first;
} tr_ctx;

/* architecture: {type: transformer-seq2seq, d_model, nhead, num_encoder_layers, ...} and
 * decoding: {beam_size, max_tokens, length_penalty, no_repeat_ngram} */
static glia_status parse_translation(glia_yaml *y, yaml_node_t *arch, yaml_node_t *dec, glia_manifest *m,
                                     glia_err *err)
{
    static const char *const keys[] = {"type",
                                       "vocab_size",
                                       "d_model",
                                       "nhead",
                                       "dim_feedforward",
                                       "num_encoder_layers",
                                       "num_decoder_layers",
                                       "dropout",
                                       "layer_norm_eps",
                                       "norm_first",
                                       "tie_embeddings",
                                       "max_positions",
                                       NULL};
    static const char *const dec_keys[] = {"beam_size", "max_tokens", "length_penalty", "no_repeat_ngram",
                                           NULL};
    glia_s2s_config *c = &m->s2s;
    const char *type = NULL;
    glia_status rc;
    *c = (glia_s2s_config){0, 512, 8, 2048, 6, 6, 0.1f, 1e-5f, 0, 1, 256};
    if ((rc = glia_yaml_check_keys(y, arch, "architecture", keys, err)) ||
        (rc = glia_yaml_string(y, glia_yaml_get(y, arch, "type"), "architecture.type", &type, err)))
        return rc;
    if (strcmp(type, "transformer-seq2seq") != 0)
        return glia_yaml_error(y, arch, GLIA_EINVAL, err,
                               "architecture.type '%s': a translation model is 'transformer-seq2seq'", type);
    if ((rc = glia_yaml_opt_int(y, arch, "vocab_size", 0, 1 << 20, &c->vocab_size, err)) ||
        (rc = glia_yaml_opt_int(y, arch, "d_model", 2, 8192, &c->d_model, err)) ||
        (rc = glia_yaml_opt_int(y, arch, "nhead", 1, 256, &c->nhead, err)) ||
        (rc = glia_yaml_opt_int(y, arch, "dim_feedforward", 1, 65536, &c->dim_feedforward, err)) ||
        (rc = glia_yaml_opt_int(y, arch, "num_encoder_layers", 1, GLIA_TF_MAX_LAYERS, &c->num_encoder_layers,
                                err)) ||
        (rc = glia_yaml_opt_int(y, arch, "num_decoder_layers", 1, GLIA_TF_MAX_LAYERS, &c->num_decoder_layers,
                                err)) ||
        (rc = glia_yaml_opt_float(y, arch, "dropout", 0.0, 0.99, &c->dropout, err)) ||
        (rc = glia_yaml_opt_float(y, arch, "layer_norm_eps", 1e-12, 1.0, &c->layer_norm_eps, err)) ||
        (rc = glia_yaml_opt_bool(y, arch, "norm_first", &c->norm_first, err)) ||
        (rc = glia_yaml_opt_bool(y, arch, "tie_embeddings", &c->tie_embeddings, err)) ||
        (rc = glia_yaml_opt_int(y, arch, "max_positions", 2, 4096, &c->max_positions, err)))
        return rc;
    if (c->d_model % c->nhead != 0 || c->d_model % 2 != 0)
        return glia_yaml_error(y, arch, GLIA_EINVAL, err,
                               "architecture.d_model %d must be even and a multiple of nhead %d", c->d_model,
                               c->nhead);
    if (m->max_tokens > c->max_positions)
        return glia_yaml_error(y, arch, GLIA_EINVAL, err,
                               "input.max_tokens %d exceeds architecture.max_positions %d", m->max_tokens,
                               c->max_positions);
    m->decoding = glia_s2s_search_defaults();
    m->decoding.max_tokens = c->max_positions - 1;
    if (dec &&
        ((rc = glia_yaml_check_keys(y, dec, "decoding", dec_keys, err)) ||
         (rc = glia_yaml_opt_int(y, dec, "beam_size", 1, 64, &m->decoding.beam_size, err)) ||
         (rc = glia_yaml_opt_int(y, dec, "max_tokens", 1, c->max_positions - 1, &m->decoding.max_tokens,
                                 err)) ||
         (rc = glia_yaml_opt_float(y, dec, "length_penalty", 0.0, 10.0, &m->decoding.length_penalty, err)) ||
         (rc = glia_yaml_opt_int(y, dec, "no_repeat_ngram", 0, GLIA_S2S_MAX_NGRAM,
                                 &m->decoding.no_repeat_ngram, err))))
        return rc;
    return GLIA_OK;
}

static glia_status tr_parse_manifest(glia_yaml *y, yaml_node_t *root, glia_manifest *m, glia_err *err)
{
    glia_status rc = glia_manifest_parse_token_input(y, root, "tokenizer", m, err);
    if (rc)
        return rc;
    yaml_node_t *arch = glia_manifest_section(y, root, "architecture", err);
    return arch ? parse_translation(y, arch, glia_yaml_get(y, root, "decoding"), m, err) : err->code;
}

/* The tokenizer decides the vocabulary unless the manifest pins it. */
static glia_status tr_set_vocab_size(glia_manifest *m, int size, glia_err *err)
{
    return glia_family_set_vocab(m, &m->s2s.vocab_size, "architecture.vocab_size", size, err);
}

static glia_s2s *s2s_of(const glia_model *model)
{
    return model->impl;
}

static void sync_base(glia_model *model)
{
    glia_s2s *m = s2s_of(model);
    model->nparams = model->ntrainable = m->nparams;
    model->params = model->trainable = m->params;
    model->size = m->size;
    model->values = m->values;
    model->grads = m->grads;
    model->input_size = 0;
    model->outputs = m->cfg.vocab_size;
}

static glia_status wrap(glia_s2s *m, glia_model **out, glia_err *err)
{
    glia_model *model = glia_family_wrap(&glia_family_translator, m);
    if (!model) {
        glia_s2s_free(m);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a model");
    }
    sync_base(model);
    *out = model;
    return GLIA_OK;
}

static glia_status tr_create(const glia_manifest *man, glia_model **out, glia_err *err)
{
    glia_s2s *m = NULL;
    *out = NULL;
    if (man->s2s.vocab_size <= 0)
        return glia_err_set(err, GLIA_EINVAL, "%s: the vocabulary size is not known", man->path);
    glia_status rc = glia_s2s_new(&man->s2s, &m, err);
    return rc ? rc : wrap(m, out, err);
}

static void tr_destroy(glia_model *model)
{
    glia_s2s_free(s2s_of(model));
    free(model);
}

static void tr_reset(glia_model *model, glia_rng *rng)
{
    glia_s2s_reset(s2s_of(model), rng);
}

static glia_status tr_enable_grads(glia_model *model, glia_err *err)
{
    glia_status rc = glia_s2s_enable_grads(s2s_of(model), err);
    sync_base(model);
    return rc;
}

static glia_status tr_replica(const glia_model *master, glia_model **out, glia_err *err)
{
    glia_s2s *m = NULL;
    *out = NULL;
    glia_status rc = glia_s2s_replica(s2s_of(master), &m, err);
    return rc ? rc : wrap(m, out, err);
}

static glia_status tr_load(glia_model *model, const glia_st_file *st, glia_err *err)
{
    return glia_s2s_load(s2s_of(model), st, err);
}

static glia_status tr_save(const glia_model *model, const char *path, const char *const *meta, glia_err *err)
{
    return glia_s2s_save(s2s_of(model), path, meta, err);
}

static void tr_ctx_free(glia_model_ctx *ctx)
{
    if (!ctx)
        return;
    tr_ctx *t = ctx->impl;
    if (t) {
        glia_s2s_ctx_free(t->train);
        glia_s2s_dec_free(t->dec);
        free(t->outs);
        free(t->kept);
        free(t);
    }
    free(ctx);
}

static glia_status tr_ctx_new(const glia_model *model, const glia_ctx_spec *spec, glia_model_ctx **out,
                              glia_err *err)
{
    const glia_s2s *m = s2s_of(model);
    glia_status rc = GLIA_OK;
    tr_ctx *t = calloc(1, sizeof *t);
    *out = t ? glia_family_ctx(&glia_family_translator, spec, t) : NULL;
    if (!*out) {
        free(t);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a run context");
    }
    t->row_len = m->cfg.max_positions;
    if (spec->max_batch < 1 || spec->max_steps < 1 || spec->max_steps > m->cfg.max_positions)
        rc = glia_err_set(err, GLIA_EINVAL, "a translation context needs 1..%d source steps and a batch",
                          m->cfg.max_positions);
    else if (spec->training || spec->max_tgt_steps > 0)
        rc = glia_s2s_ctx_new(m, spec->max_batch, spec->max_steps, spec->max_tgt_steps, spec->max_tokens,
                              spec->training, &t->train, err);
    if (rc) {
        tr_ctx_free(*out);
        *out = NULL;
    }
    return rc;
}

static size_t tr_ctx_bytes(const glia_model_ctx *ctx)
{
    const tr_ctx *t = ctx->impl;
    size_t bytes = sizeof *t;
    if (t->train)
        bytes += glia_s2s_ctx_bytes(t->train);
    if (t->dec)
        bytes += glia_s2s_dec_bytes(t->dec);
    return bytes + sizeof(int32_t) * (size_t)t->kept_rows * (size_t)t->row_len;
}

static glia_status tr_forward(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b,
                              glia_rng *rng, const float **logits, int *rows, glia_err *err)
{
    tr_ctx *t = ctx->impl;
    if (!t->train)
        return glia_err_set(
            err, GLIA_EINVAL,
            "forward needs a context with target steps (training or teacher-forced evaluation)");
    return glia_s2s_forward(s2s_of(model), t->train, b->ids, b->lengths, b->steps, b->tgt, b->tgt_lengths,
                            b->tgt_steps, b->n, rng, logits, rows, err);
}

static void tr_backward(glia_model *model, glia_model_ctx *ctx, const float *dlogits,
                        const glia_grad_ready *ready)
{
    tr_ctx *t = ctx->impl;
    glia_s2s_backward(s2s_of(model), t->train, dlogits, ready);
}

/* Input i of the current group is decided: keep a copy, tell the caller. */
static void on_decided(void *user, int i, const glia_s2s_output *o)
{
    tr_ctx *t = user;
    const int at = t->first + i;
    int32_t *row = t->kept + (size_t)at * (size_t)t->row_len;
    const int n = o->n < t->row_len ? o->n : t->row_len;
    memcpy(row, o->ids, sizeof(int32_t) * (size_t)n);
    glia_sequence *s = &t->pred->seqs[at];
    *s = (glia_sequence){row, n, o->score, o->finished, NULL, 0};
    if (t->pred->on_done)
        t->pred->on_done(t->pred->user, at, s);
}

/* The decoder for this beam size, and room to keep n decided sequences. */
static glia_status prepare(const glia_s2s *m, glia_model_ctx *ctx, int beam, int n, glia_err *err)
{
    tr_ctx *t = ctx->impl;
    if (!t->dec || t->dec_beam != beam) {
        glia_s2s_dec_free(t->dec);
        free(t->outs);
        t->dec = NULL;
        t->outs = NULL;
        const int inputs = ctx->spec.max_batch / beam > 0 ? ctx->spec.max_batch / beam : 1;
        glia_status rc = glia_s2s_dec_new(m, inputs, ctx->spec.max_steps, beam, &t->dec, err);
        if (rc)
            return rc;
        if (!(t->outs = malloc(sizeof *t->outs * (size_t)inputs)))
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for decoder outputs");
        t->dec_beam = beam;
        t->dec_inputs = inputs;
    }
    if (n > t->kept_rows) {
        int32_t *kept = realloc(t->kept, sizeof(int32_t) * (size_t)n * (size_t)t->row_len);
        if (!kept)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for %d decoded sequences", n);
        t->kept = kept;
        t->kept_rows = n;
    }
    return GLIA_OK;
}

static glia_status tr_predict(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b,
                              glia_prediction *out, glia_err *err)
{
    const glia_s2s *m = s2s_of(model);
    tr_ctx *t = ctx->impl;
    const int beam = b->decode.beam_size;
    const int max_beam = ctx->spec.max_beam > 0 ? ctx->spec.max_beam : 1;
    if (beam < 1 || beam > max_beam)
        return glia_err_set(err, GLIA_EINVAL, "beam_size %d is outside 1..%d", beam, max_beam);
    if (b->n < 1 || b->steps < 1 || b->steps > ctx->spec.max_steps)
        return glia_err_set(err, GLIA_EINVAL, "%d inputs of %d steps for a context of %d steps", b->n,
                            b->steps, ctx->spec.max_steps);
    glia_status rc = prepare(m, ctx, beam, b->n, err);
    if (rc)
        return rc;
    glia_s2s_search opts = {beam, b->decode.max_tokens, b->decode.length_penalty, b->decode.no_repeat_ngram};
    t->pred = out;
    for (int at = 0; at < b->n && rc == GLIA_OK; at += t->dec_inputs) {
        const int count = b->n - at < t->dec_inputs ? b->n - at : t->dec_inputs;
        t->first = at;
        rc = glia_s2s_translate_cb(m, t->dec, b->ids + (size_t)at * (size_t)b->steps, b->lengths + at, count,
                                   b->steps, &opts, t->outs, on_decided, t, err);
    }
    t->pred = NULL;
    return rc;
}

/* out [T, S] = p [heads, T, S] averaged over heads (one sequence's attention). */
static void head_mean(const float *p, int heads, int T, int S, float *out)
{
    for (size_t i = 0; i < (size_t)T * (size_t)S; i++) {
        double a = 0.0;
        for (int h = 0; h < heads; h++)
            a += p[(size_t)h * (size_t)T * (size_t)S + i];
        out[i] = (float)(a / heads);
    }
}

/* Why the translation is what it is: the input is decoded as predict decodes it (b->decode),
 * then the decoder is run once more, teacher-forced on its own output (<s> o1 .. o(m-1)), in
 * an evaluation ctx: row t's logits give o_t's log-probability given the tokens before it,
 * and the last decoder layer's cross-attention (which an evaluation ctx keeps: its layers
 * share one set of buffers) gives the source positions output token t looked at, averaged
 * over heads. Both runs fit one ctx made for this call. */
static glia_status tr_explain(const glia_model *model, const glia_batch *b, const glia_explain_opts *opts,
                              glia_explanation *out, glia_err *err)
{
    const glia_s2s *m = s2s_of(model);
    const int S = b->lengths[0], beam = b->decode.beam_size, H = m->cfg.nhead, V = model->outputs;
    const int cap = b->decode.max_tokens + 1;
    if (opts->method != GLIA_EXPLAIN_ATTENTION)
        return glia_err_set(err, GLIA_EUNSUPPORTED, "method %s is not one for translation (attention)",
                            glia_explain_method_name(opts->method));
    out->layer_alignments = NULL;
    out->nlayers = 0;
    if (cap > m->cfg.max_positions)
        return glia_err_set(err, GLIA_EINVAL, "max_tokens %d is beyond the model's %d positions",
                            b->decode.max_tokens, m->cfg.max_positions - 1);
    glia_ctx_spec spec = {.max_batch = beam, .max_steps = S, .max_tgt_steps = cap, .max_beam = beam};
    glia_model_ctx *ctx = NULL;
    glia_s2s_ctx *keep = NULL;
    glia_sequence seq = {0};
    glia_prediction pred = {.seqs = &seq};
    int32_t *tgt = malloc(sizeof(int32_t) * (size_t)cap);
    const float *logits = NULL;
    int rows = 0;
    glia_status rc = tgt ? tr_ctx_new(model, &spec, &ctx, err)
                         : glia_err_set(err, GLIA_ENOMEM, "out of memory for an explanation");
    glia_batch one = *b;
    one.n = 1;
    one.steps = S;
    if (rc || (rc = tr_predict(model, ctx, &one, &pred, err)))
        goto done;
    int n = seq.n < cap - 1 ? seq.n : cap - 1;
    memcpy(out->tokens, seq.ids, sizeof(int32_t) * (size_t)n);
    if (seq.finished || n == 0)
        out->tokens[n++] = GLIA_S2S_EOS;
    out->ntokens = n;
    tgt[0] = GLIA_S2S_BOS;
    memcpy(tgt + 1, out->tokens, sizeof(int32_t) * (size_t)(n - 1));
    tr_ctx *t = ctx->impl;
    const int L = m->cfg.num_decoder_layers;
    glia_s2s_ctx *run = t->train;
    /* every layer's attention needs a ctx that keeps every layer's (a training one, without
     * dropout); the last layer's, an evaluation ctx's shared buffers hold */
    if (opts->all_layers) {
        if ((rc = glia_s2s_ctx_new(m, 1, S, n, 0, 1, &keep, err)))
            goto done;
        glia_s2s_ctx_no_dropout(keep);
        run = keep;
        out->layer_alignments = malloc(sizeof(float) * (size_t)L * (size_t)n * (size_t)S);
        if (!out->layer_alignments) {
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for %d layers' alignments", L);
            goto done;
        }
    }
    if ((rc = glia_s2s_forward(m, run, b->ids, b->lengths, S, tgt, &n, n, 1, NULL, &logits, &rows, err)))
        goto done;
    for (int l = 0; opts->all_layers && l < L; l++)
        head_mean(glia_s2s_cross_attention(run, l), H, n, S, out->layer_alignments + (size_t)l * n * S);
    out->nlayers = opts->all_layers ? L : 0;
    const float *p = glia_s2s_cross_attention(run, L - 1);
    GLIA_ASSERT(rows == n && p);
    for (int r = 0; r < n; r++) {
        const float *row = logits + (size_t)r * (size_t)V;
        double top = row[0], sum = 0.0;
        for (int j = 1; j < V; j++)
            top = row[j] > top ? row[j] : top;
        for (int j = 0; j < V; j++)
            sum += exp((double)row[j] - top);
        out->log_probs[r] = (float)((double)row[out->tokens[r]] - top - log(sum));
    }
    head_mean(p, H, n, S, out->alignment);
    out->target = -1;
done:
    if (rc) {
        free(out->layer_alignments);
        out->layer_alignments = NULL;
    }
    glia_s2s_ctx_free(keep);
    if (ctx)
        tr_ctx_free(ctx);
    free(tgt);
    return rc;
}

/* Every matrix of the encoder and decoder stacks (attention in/out projections, the
 * feed-forward layers; norms are vectors) and the generator's weight (the embedding's when
 * tied: that copy serves the generator only, the lookups read the fp32 table). */
static glia_param *tr_matrix(glia_model *model, int i)
{
    glia_s2s *m = s2s_of(model);
    glia_tf_stack *stacks[2] = {&m->encoder, &m->decoder};
    for (int s = 0; s < 2; s++)
        for (int j = 0; j < stacks[s]->nparams; j++)
            if (stacks[s]->params[j].ndim == 2 && i-- == 0)
                return &stacks[s]->params[j];
    /* gen_weight points into m->params, which the model owns */
    return i == 0 ? (glia_param *)m->gen_weight : NULL;
}

/* A served model's fp32 inference copies: the decoder's and the generator's weights in panels
 * (glia_s2s_prepare), which every translation then reads at any row count. */
static glia_status tr_prepare(glia_model *model, int on, glia_err *err)
{
    return glia_s2s_prepare(s2s_of(model), on, err);
}

const glia_model_ops glia_family_translator = {
    .task = "translation",
    .family = "translator",
    .input = GLIA_INPUT_TOKENS,
    .output = GLIA_OUTPUT_SEQUENCE,
    .tokenizer = GLIA_TOKENIZER_SUBWORDS,
    .parse_manifest = tr_parse_manifest,
    .set_vocab_size = tr_set_vocab_size,
    .create = tr_create,
    .destroy = tr_destroy,
    .reset = tr_reset,
    .enable_grads = tr_enable_grads,
    .replica = tr_replica,
    .load = tr_load,
    .save = tr_save,
    .ctx_new = tr_ctx_new,
    .ctx_free = tr_ctx_free,
    .ctx_bytes = tr_ctx_bytes,
    .forward = tr_forward,
    .backward = tr_backward,
    .predict = tr_predict,
    .explain = tr_explain,
    .matrix = tr_matrix,
    .prepare = tr_prepare,
};
