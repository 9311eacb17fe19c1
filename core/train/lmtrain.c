/*
 * lmtrain.c - see lmtrain.h.
 *
 * One thread, like texttrain.c: the corpus is half a million tokens, and a single stream keeps
 * a run reproducible bit for bit. The softmax head dominates the cost (S x H per target against
 * the LSTM's 4H x (X + H) per step, both directions), so only the rows that have a target go
 * through it: the states are gathered into one matrix first and the head is one GEMM.
 */
#include "core/train/lmtrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/hash.h"
#include "core/base/yamlutil.h"
#include "core/data/fortunes.h"
#include "core/nn/kernels.h"
#include "core/nn/loss.h"
#include "core/nn/params.h"
#include "core/text/vocab.h"
#include "core/train/checkpoint.h"
#include "core/train/optim.h"
#include "core/train/recipe.h"
#include "core/train/texttrain.h"
#include "core/train/trainer.h"

struct glia_lm {
    glia_textnet *net; /* borrowed */
    int S, H, dirs, max_batch, max_steps;
    glia_param head[2]; /* head.weight [S, H], head.bias [S] */
    float *hvalues, *hgrads;
    glia_rnn_ctx *rnn;
    /* [bt, E], [bt, K], [bt, X] twice (x, dx), [bt, F]; the head's rows [N, H] twice and
     * logits [N, S] twice, N = dirs * bt */
    float *emb, *lex, *x, *dx, *dh, *rows, *drows, *logits, *dlogits;
    int32_t *targets; /* [N] */
    int32_t *where;   /* [N]: row r came from dh offset where[r] */
};

glia_status glia_lm_new(glia_textnet *net, int softmax_size, int max_batch, int max_steps, glia_rng *rng,
                        glia_lm **out, glia_err *err)
{
    *out = NULL;
    const int V = net->cfg.vocab_size, H = net->cfg.hidden_size;
    if (!net->grads)
        return glia_err_set(err, GLIA_EINVAL, "lm: the text model's gradients are not enabled");
    if (softmax_size < 0 || softmax_size > V || (softmax_size > 0 && softmax_size < 3))
        return glia_err_set(err, GLIA_EINVAL,
                            "lm: softmax_size must be 0 or in [3, %d] (the vocabulary), got %d", V,
                            softmax_size);
    if (max_batch < 1 || max_steps < 2 || max_batch > (1 << 16) || max_steps > (1 << 16))
        return glia_err_set(err, GLIA_EINVAL, "lm: batches of %d x %d steps: need at least 1 x 2", max_batch,
                            max_steps);
    glia_lm *lm = calloc(1, sizeof *lm);
    if (!lm)
        return glia_err_set(err, GLIA_ENOMEM, "lm: out of memory");
    lm->net = net;
    lm->S = softmax_size ? softmax_size : V;
    lm->H = H;
    lm->dirs = net->rnn.directions;
    lm->max_batch = max_batch;
    lm->max_steps = max_steps;
    const size_t S = (size_t)lm->S, bt = (size_t)max_batch * (size_t)max_steps, N = (size_t)lm->dirs * bt;
    const size_t E = (size_t)net->cfg.embedding_dim, K = (size_t)net->cfg.lexicon_features;
    const size_t X = (size_t)net->input_size, F = (size_t)net->features;
    int64_t wshape[2] = {lm->S, H}, bshape[1] = {lm->S};
    glia_param_shape(&lm->head[0], 2, wshape, 1);
    glia_param_shape(&lm->head[1], 1, bshape, 0);
    strcpy(lm->head[0].name, "head.weight");
    strcpy(lm->head[1].name, "head.bias");
    const size_t hsize = S * (size_t)H + S;
    glia_status rc = glia_rnn_ctx_new(&net->rnn, max_batch, max_steps, 1, &lm->rnn, err);
    if (rc != GLIA_OK)
        goto fail;
    lm->hvalues = calloc(hsize, sizeof(float));
    lm->hgrads = calloc(hsize, sizeof(float));
    lm->emb = malloc(sizeof(float) * (bt * (E + K + 2 * X + F) + 2 * N * (size_t)H + 2 * N * S));
    lm->targets = malloc(sizeof(int32_t) * N);
    lm->where = malloc(sizeof(int32_t) * N);
    if (!lm->hvalues || !lm->hgrads || !lm->emb || !lm->targets || !lm->where) {
        rc = glia_err_set(err, GLIA_ENOMEM, "lm: out of memory for a %zu-word head over %zu steps", S, bt);
        goto fail;
    }
    lm->lex = lm->emb + bt * E;
    lm->x = lm->lex + bt * K;
    lm->dx = lm->x + bt * X;
    lm->dh = lm->dx + bt * X;
    lm->rows = lm->dh + bt * F;
    lm->drows = lm->rows + N * (size_t)H;
    lm->logits = lm->drows + N * (size_t)H;
    lm->dlogits = lm->logits + N * S;
    lm->head[0].value = lm->hvalues, lm->head[0].grad = lm->hgrads;
    lm->head[1].value = lm->hvalues + S * (size_t)H, lm->head[1].grad = lm->hgrads + S * (size_t)H;
    const float bound = 1.0f / sqrtf((float)H); /* nn.Linear's default, as textnet's fc */
    glia_fill_uniform(lm->head[0].value, lm->head[0].size, bound, rng);
    glia_fill_uniform(lm->head[1].value, lm->head[1].size, bound, rng);
    *out = lm;
    return GLIA_OK;
fail:
    glia_lm_free(lm);
    return rc;
}

void glia_lm_free(glia_lm *lm)
{
    if (!lm)
        return;
    glia_rnn_ctx_free(lm->rnn);
    free(lm->hvalues);
    free(lm->hgrads);
    free(lm->emb);
    free(lm->targets);
    free(lm->where);
    free(lm);
}

glia_param *glia_lm_head(glia_lm *lm, int *n)
{
    *n = 2;
    return lm->head;
}

glia_status glia_lm_loss(glia_lm *lm, const int32_t *ids, const int32_t *lengths, int batch, int steps,
                         int backward, double *loss, long *counted, glia_err *err)
{
    glia_textnet *net = lm->net;
    *loss = 0.0;
    *counted = 0;
    if (batch < 1 || batch > lm->max_batch || steps < 1 || steps > lm->max_steps)
        return glia_err_set(err, GLIA_EINVAL, "lm: batch %d x %d steps does not fit %d x %d", batch, steps,
                            lm->max_batch, lm->max_steps);
    const int E = net->cfg.embedding_dim, K = net->cfg.lexicon_features, X = net->input_size;
    const int F = net->features, H = lm->H, S = lm->S;
    const size_t bt = (size_t)batch * (size_t)steps;
    glia_status rc = glia_embedding_forward(&net->embedding, ids, lengths, batch, steps, lm->emb, err);
    if (rc == GLIA_OK && K > 0)
        rc = glia_embedding_forward(&net->lexicon, ids, lengths, batch, steps, lm->lex, err);
    if (rc != GLIA_OK)
        return rc;
    for (size_t i = 0; i < bt; i++) {
        memcpy(lm->x + i * X, lm->emb + i * E, sizeof(float) * (size_t)E);
        if (K > 0)
            memcpy(lm->x + i * X + E, lm->lex + i * K, sizeof(float) * (size_t)K);
    }
    const float *h;
    if ((rc = glia_rnn_forward(&net->rnn, lm->rnn, lm->x, lengths, batch, steps, &h, err)))
        return rc;
    /* the rows that have a target: forward half at t predicts t + 1, reverse half t - 1 */
    int n = 0;
    for (int b = 0; b < batch; b++)
        for (int t = 0; t < lengths[b]; t++)
            for (int d = 0; d < lm->dirs; d++) {
                const int u = d == 0 ? t + 1 : t - 1;
                if (u < 0 || u >= lengths[b])
                    continue;
                const int32_t y = ids[(size_t)b * steps + u];
                if (y == GLIA_TEXTNET_PAD_ID || y == GLIA_VOCAB_UNK || y >= S)
                    continue;
                const size_t at = ((size_t)b * steps + t) * F + (size_t)d * H;
                memcpy(lm->rows + (size_t)n * H, h + at, sizeof(float) * (size_t)H);
                lm->targets[n] = y;
                lm->where[n] = (int32_t)at;
                n++;
            }
    if (n == 0)
        return GLIA_OK;
    glia_linear_forward(lm->rows, n, H, lm->head[0].value, lm->head[1].value, S, lm->logits, S);
    int m = 0;
    *loss = glia_xent(lm->logits, lm->targets, n, S, 0.0f, -1, backward ? lm->dlogits : NULL, &m);
    *counted = m;
    if (!backward)
        return GLIA_OK;
    glia_linear_backward(lm->rows, n, H, lm->head[0].value, lm->head[0].grad, lm->head[1].grad, S,
                         lm->dlogits, S, lm->drows, 0.0f);
    memset(lm->dh, 0, sizeof(float) * bt * (size_t)F);
    for (int r = 0; r < n; r++)
        memcpy(lm->dh + lm->where[r], lm->drows + (size_t)r * H, sizeof(float) * (size_t)H);
    glia_rnn_backward(&net->rnn, lm->rnn, lm->dh, NULL, NULL, lm->dx);
    /* the embedding's share of dx; the lexicon's is dropped (frozen) */
    for (size_t i = 0; i < bt; i++)
        memcpy(lm->emb + i * E, lm->dx + i * X, sizeof(float) * (size_t)E);
    glia_embedding_backward(&net->embedding, ids, lengths, batch, steps, lm->emb);
    return GLIA_OK;
}

/* ---- the corpus ---- */

glia_status glia_lm_sentences(const glia_vocab *v, const char *const *texts, size_t ntexts, int max_tokens,
                              int32_t **ids_out, int32_t **lengths_out, long *n_out, long *tokens_out,
                              glia_err *err)
{
    enum { TEXT_MAX = 4096, MIN_LEN = 3 };
    glia_status rc = GLIA_OK;
    int32_t *buf = malloc(sizeof(int32_t) * TEXT_MAX), *ids = NULL, *lengths = NULL;
    long n = 0, cap = 0, tokens = 0;
    const int32_t stops[3] = {glia_vocab_id(v, "."), glia_vocab_id(v, "!"), glia_vocab_id(v, "?")};
    *ids_out = NULL, *lengths_out = NULL, *n_out = 0, *tokens_out = 0;
    if (!buf || max_tokens < MIN_LEN) {
        free(buf);
        return buf ? glia_err_set(err, GLIA_EINVAL, "lm: max_tokens must be at least %d", MIN_LEN)
                   : glia_err_set(err, GLIA_ENOMEM, "lm: out of memory");
    }
    for (size_t i = 0; i < ntexts && rc == GLIA_OK; i++) {
        size_t got = 0;
        glia_err ignored = {0};
        if (glia_vocab_encode(v, texts[i], strlen(texts[i]), TEXT_MAX, buf, &got, NULL, &ignored) != GLIA_OK)
            continue; /* not UTF-8: a handful of fortune entries; skipped */
        size_t start = 0;
        for (size_t t = 0; t < got && rc == GLIA_OK; t++) {
            const int32_t id = buf[t];
            const int stop = id != GLIA_VOCAB_UNK && (id == stops[0] || id == stops[1] || id == stops[2]);
            if (!stop && t + 1 < got && (long)(t + 1 - start) < max_tokens)
                continue;
            const size_t len = t + 1 - start;
            if (len >= MIN_LEN) {
                if (n == cap) {
                    cap = cap ? 2 * cap : 4096;
                    int32_t *gi = realloc(ids, sizeof(int32_t) * (size_t)cap * (size_t)max_tokens);
                    if (gi)
                        ids = gi;
                    int32_t *gl = gi ? realloc(lengths, sizeof(int32_t) * (size_t)cap) : NULL;
                    if (gl)
                        lengths = gl;
                    if (!gi || !gl) {
                        rc = glia_err_set(err, GLIA_ENOMEM, "lm: out of memory for %ld sentences", cap);
                        break;
                    }
                }
                int32_t *row = ids + (size_t)n * (size_t)max_tokens;
                memcpy(row, buf + start, sizeof(int32_t) * len);
                for (size_t j = len; j < (size_t)max_tokens; j++)
                    row[j] = GLIA_TEXTNET_PAD_ID;
                lengths[n++] = (int32_t)len;
                tokens += (long)len;
            }
            start = t + 1;
        }
    }
    free(buf);
    if (rc == GLIA_OK && n == 0)
        rc = glia_err_set(err, GLIA_EINVAL, "lm: the corpus gives no sentence of %d tokens or more", MIN_LEN);
    if (rc != GLIA_OK) {
        free(ids);
        free(lengths);
        return rc;
    }
    *ids_out = ids, *lengths_out = lengths, *n_out = n, *tokens_out = tokens;
    return GLIA_OK;
}

/* ---- the recipe ---- */

enum { CORPUS_FORTUNES = 1u << 0, CORPUS_UCI = 1u << 1 };

typedef struct {
    char classifier[GLIA_PATH_MAX], fortunes_dir[GLIA_PATH_MAX];
    unsigned corpus;
    int epochs, batch, max_tokens, softmax_size, holdout;
    long limit, seed;
    float lr, clip;
    uint32_t hash; /* of the recipe file's bytes, to refuse a checkpoint of another recipe */
} lm_recipe;

static glia_status recipe_load(const char *path, lm_recipe *r, glia_err *err)
{
    static const char *const keys[] = {
        "task", "classifier",   "corpus",  "fortunes_dir", "epochs", "batch",          "max_tokens",
        "lr",   "softmax_size", "holdout", "limit",        "seed",   "clip_grad_norm", NULL};
    glia_yaml y;
    const char *task = NULL, *classifier = NULL, *fdir = NULL;
    memset(r, 0, sizeof *r);
    *r = (lm_recipe){
        .epochs = 2, .batch = 32, .max_tokens = 40, .holdout = 50, .seed = 1, .lr = 0.002f, .clip = 5.0f};
    glia_status rc = glia_yaml_load_file(path, &y, err);
    if (rc != GLIA_OK)
        return rc;
    yaml_node_t *root = glia_yaml_root(&y), *corpus;
    if ((rc = glia_yaml_check_keys(&y, root, "recipe", keys, err)) ||
        (rc = glia_yaml_string(&y, glia_yaml_get(&y, root, "task"), "task", &task, err)))
        goto out;
    if (strcmp(task, "lm") != 0) {
        rc = glia_yaml_error(&y, glia_yaml_get(&y, root, "task"), GLIA_EINVAL, err,
                             "task: expected 'lm', got '%s'", task);
        goto out;
    }
    if ((rc = glia_yaml_string(&y, glia_yaml_get(&y, root, "classifier"), "classifier", &classifier, err)))
        goto out;
    glia_recipe_resolve(path, classifier, r->classifier);
    corpus = glia_yaml_get(&y, root, "corpus");
    if (!corpus || !glia_yaml_is_seq(corpus) || glia_yaml_seq_len(corpus) == 0) {
        rc = glia_yaml_error(&y, corpus ? corpus : root, GLIA_EINVAL, err,
                             "corpus: expected a non-empty list of fortunes, uci-sentiment");
        goto out;
    }
    for (int i = 0; i < glia_yaml_seq_len(corpus); i++) {
        yaml_node_t *e = glia_yaml_seq_at(&y, corpus, i);
        const char *name;
        if ((rc = glia_yaml_string(&y, e, "corpus[]", &name, err)))
            goto out;
        const unsigned bit = strcmp(name, "fortunes") == 0        ? CORPUS_FORTUNES
                             : strcmp(name, "uci-sentiment") == 0 ? CORPUS_UCI
                                                                  : 0;
        if (!bit || (r->corpus & bit)) {
            rc = glia_yaml_error(&y, e, GLIA_EINVAL, err,
                                 bit ? "corpus: '%s' is listed twice"
                                     : "corpus: '%s' is not known (known: fortunes, uci-sentiment)",
                                 name);
            goto out;
        }
        r->corpus |= bit;
    }
    if ((rc = glia_yaml_opt_string(&y, root, "fortunes_dir", &fdir, err)) ||
        (rc = glia_yaml_opt_int(&y, root, "epochs", 1, 1000, &r->epochs, err)) ||
        (rc = glia_yaml_opt_int(&y, root, "batch", 1, 4096, &r->batch, err)) ||
        (rc = glia_yaml_opt_int(&y, root, "max_tokens", 3, 1024, &r->max_tokens, err)) ||
        (rc = glia_yaml_opt_float(&y, root, "lr", 1e-9, 1, &r->lr, err)) ||
        (rc = glia_yaml_opt_float(&y, root, "clip_grad_norm", 0, 1e6, &r->clip, err)) ||
        (rc = glia_yaml_opt_int(&y, root, "softmax_size", 0, 1 << 30, &r->softmax_size, err)) ||
        (rc = glia_yaml_opt_int(&y, root, "holdout", 2, 1 << 30, &r->holdout, err)) ||
        (rc = glia_yaml_opt_long(&y, root, "limit", 0, 1L << 40, &r->limit, err)) ||
        (rc = glia_yaml_opt_long(&y, root, "seed", 0, 0x7fffffffL, &r->seed, err)))
        goto out;
    if (fdir && *fdir)
        glia_recipe_resolve(path, fdir, r->fortunes_dir);
    else
        snprintf(r->fortunes_dir, sizeof r->fortunes_dir, "%s", glia_fortunes_default_dir());
    FILE *f = fopen(path, "rb");
    if (f) { /* the recipe loaded, so it is readable: its bytes identify a checkpoint's run */
        char chunk[4096];
        size_t got;
        uint32_t h = 2166136261u;
        while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
            h = glia_fnv1a32(chunk, got) ^ (h * 16777619u);
        fclose(f);
        r->hash = h;
    }
out:
    glia_yaml_free(&y);
    return rc;
}

/* What the run trains: the net (a copy of the classifier's freshly initialised one), the
 * head, Adam over both; and what its checkpoint holds as the model (checkpoint.h): every
 * tensor kept after pretraining (the frozen lexicon too) and the head. */
typedef struct {
    glia_textnet *net;
    glia_lm *lm;
    glia_param params[GLIA_TEXTNET_MAX_PARAMS + 2];
    int nparams;
    glia_optim *opt;
    glia_param saved[GLIA_TEXTNET_MAX_PARAMS + 2];
    int nsaved;
} lm_run;

/* The tensors kept after pretraining: every textnet tensor but the classifier's fc. */
static int kept_params(const glia_textnet *net)
{
    return net->nparams - 2; /* fc.weight, fc.bias are the state_dict's last two */
}

/* The run as checkpoint.c sees it: no best copy, so the tensors need not share a buffer. */
static glia_ckpt_model ckpt_model(const lm_run *run)
{
    return (glia_ckpt_model){.params = run->saved,
                             .nparams = run->nsaved,
                             .opt = run->opt,
                             .opt_params = run->params,
                             .nopt = run->nparams};
}

/* The output of `epoch` (vocab.txt, model.safetensors), then the checkpoint: st as the loop
 * filled it (the shuffle stream after this epoch's draw, the recipe), with the counters. */
static glia_status save_epoch(const lm_run *run, const glia_vocab *v, const char *out_dir, int epoch,
                              double seconds, glia_ckpt_state *st, glia_err *err)
{
    char path[GLIA_PATH_MAX + 32], ep[16];
    snprintf(ep, sizeof ep, "%d", epoch);
    const char *meta[] = {"format", "glia-lm-pretrained", "epoch", ep, NULL};
    snprintf(path, sizeof path, "%s/vocab.txt", out_dir);
    glia_status rc = glia_vocab_save(v, path, err);
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    if (rc == GLIA_OK)
        rc = glia_params_save(run->net->params, kept_params(run->net), path, meta, err);
    if (rc != GLIA_OK)
        return rc;
    st->epoch = epoch;
    st->step = glia_optim_steps(run->opt);
    st->seconds = seconds;
    const glia_ckpt_model m = ckpt_model(run);
    snprintf(path, sizeof path, "%s/lm.safetensors", out_dir);
    return glia_ckpt_save(path, st, &m, err);
}

/* Continues from out_dir's checkpoint when there is one (it must be this recipe's): every
 * tensor, Adam's state and steps, and st; st->epoch = 0 when there is none. The tensors come
 * from the checkpoint alone, never from model.safetensors, which an interrupted epoch may have
 * written after it. */
static glia_status try_resume(lm_run *run, const char *out_dir, glia_ckpt_state *st, glia_err *err)
{
    char path[GLIA_PATH_MAX + 32];
    struct stat sb;
    snprintf(path, sizeof path, "%s/lm.safetensors", out_dir);
    if (stat(path, &sb) != 0)
        return GLIA_OK;
    const glia_ckpt_model m = ckpt_model(run);
    return glia_ckpt_load(path, st, &m, err);
}

/* One pass over rows order[0..n) of the sentences in batches; training when opt is set. */
static glia_status run_pass(lm_run *run, const lm_recipe *r, const int32_t *ids, const int32_t *lengths,
                            const uint32_t *order, long n, int train, const atomic_int *cancel, int32_t *bids,
                            int32_t *blens, double *mean, glia_err *err)
{
    double total = 0.0;
    long count = 0;
    const int T = r->max_tokens;
    for (long at = 0; at < n; at += r->batch) {
        if (cancel && atomic_load(cancel))
            return glia_err_set(err, GLIA_ECANCELLED, "lm: cancelled");
        const int b = (int)(n - at < r->batch ? n - at : r->batch);
        int steps = 1;
        for (int j = 0; j < b; j++) {
            const uint32_t row = order[at + j];
            blens[j] = lengths[row];
            steps = blens[j] > steps ? blens[j] : steps;
        }
        for (int j = 0; j < b; j++)
            memcpy(bids + (size_t)j * steps, ids + (size_t)order[at + j] * T,
                   sizeof(int32_t) * (size_t)steps);
        double loss;
        long counted;
        if (train) {
            glia_textnet_zero_grads(run->net);
            for (int i = 0; i < run->nparams; i++)
                if (run->params[i].grad && strncmp(run->params[i].name, "head.", 5) == 0)
                    memset(run->params[i].grad, 0, sizeof(float) * run->params[i].size);
        }
        glia_status rc = glia_lm_loss(run->lm, bids, blens, b, steps, train, &loss, &counted, err);
        if (rc != GLIA_OK)
            return rc;
        if (train && counted > 0) {
            if (r->clip > 0) { /* one norm over the net's and the head's gradients */
                double sq = 0.0;
                for (int i = 0; i < run->nparams; i++)
                    for (size_t k = 0; k < run->params[i].size; k++)
                        sq += (double)run->params[i].grad[k] * run->params[i].grad[k];
                const double norm = sqrt(sq);
                if (norm > r->clip) {
                    const float s = (float)(r->clip / (norm + 1e-6));
                    for (int i = 0; i < run->nparams; i++)
                        for (size_t k = 0; k < run->params[i].size; k++)
                            run->params[i].grad[k] *= s;
                }
            }
            glia_optim_step(run->opt, r->lr);
        }
        total += loss * (double)counted;
        count += counted;
    }
    *mean = count ? total / (double)count : 0.0;
    return GLIA_OK;
}

glia_status glia_lm_recipe_run(const char *recipe_path, const char *out_dir, glia_lm_progress_fn cb,
                               void *user, const atomic_int *cancel, glia_err *err)
{
    lm_recipe r;
    glia_recipe cr;
    glia_text_job job;
    glia_fortunes fortunes = {0};
    lm_run run = {0};
    const char **uci = NULL, **texts = NULL;
    size_t nuci = 0, ntexts = 0;
    int32_t *ids = NULL, *lengths = NULL, *bids = NULL, *blens = NULL;
    uint32_t *train_rows = NULL, *hold_rows = NULL;
    long n = 0, tokens = 0, ntrain = 0, nhold = 0;
    glia_ckpt_state st = {.nlanes = 1, .nranks = 1};
    memset(&job, 0, sizeof job);
    glia_status rc = recipe_load(recipe_path, &r, err);
    if (rc != GLIA_OK)
        goto out;
    /* the classifier's vocabulary, lexicon table, architecture and initial weights */
    if ((rc = glia_recipe_load(r.classifier, &cr, err)))
        goto out;
    if (glia_recipe_kind(&cr) != GLIA_DATA_TEXTS) {
        rc = glia_err_set(err, GLIA_EINVAL, "classifier: %s does not train a text classifier", r.classifier);
        goto out;
    }
    if (cr.text.init_bundle[0]) {
        rc = glia_err_set(err, GLIA_EINVAL,
                          "classifier: %s starts from init.bundle; point at one that does not", r.classifier);
        goto out;
    }
    if ((rc = glia_text_prepare(&cr, &job, err)) ||
        (rc = glia_textnet_new(&job.manifest.text, &run.net, err)) ||
        (rc = glia_textnet_enable_grads(run.net, err)))
        goto out;
    for (int i = 0; i < run.net->nparams; i++)
        memcpy(run.net->params[i].value, glia_model_find_param(job.model, run.net->params[i].name)->value,
               sizeof(float) * run.net->params[i].size);
    if ((r.corpus & CORPUS_FORTUNES) && (rc = glia_fortunes_load(r.fortunes_dir, &fortunes, err)))
        goto out;
    if ((r.corpus & CORPUS_UCI) && (rc = glia_uci_texts(&job.set, GLIA_UCI_TRAIN, &uci, &nuci, err)))
        goto out;
    if (!(texts = malloc(sizeof *texts * (fortunes.n + nuci + 1)))) {
        rc = glia_err_set(err, GLIA_ENOMEM, "lm: out of memory");
        goto out;
    }
    for (size_t i = 0; i < fortunes.n; i++)
        texts[ntexts++] = fortunes.texts[i];
    for (size_t i = 0; i < nuci; i++)
        texts[ntexts++] = uci[i];
    if ((rc = glia_lm_sentences(job.vocab, texts, ntexts, r.max_tokens, &ids, &lengths, &n, &tokens, err)))
        goto out;
    if (r.limit > 0 && r.limit < n)
        n = r.limit;
    train_rows = malloc(sizeof(uint32_t) * (size_t)n);
    hold_rows = malloc(sizeof(uint32_t) * (size_t)n);
    bids = malloc(sizeof(int32_t) * (size_t)r.batch * (size_t)r.max_tokens);
    blens = malloc(sizeof(int32_t) * (size_t)r.batch);
    if (!train_rows || !hold_rows || !bids || !blens) {
        rc = glia_err_set(err, GLIA_ENOMEM, "lm: out of memory");
        goto out;
    }
    for (long i = 0; i < n; i++) {
        if (i % r.holdout == r.holdout - 1)
            hold_rows[nhold++] = (uint32_t)i;
        else
            train_rows[ntrain++] = (uint32_t)i;
    }
    glia_rng init, shuffle;
    glia_train_seed_stream(&init, (unsigned long)r.seed, GLIA_STREAM_INIT);
    glia_train_seed_stream(&shuffle, (unsigned long)r.seed, GLIA_STREAM_SHUFFLE);
    if ((rc = glia_lm_new(run.net, r.softmax_size, r.batch, r.max_tokens, &init, &run.lm, err)))
        goto out;
    for (int i = 0; i < run.net->ntrainable; i++)
        if (strncmp(run.net->trainable[i].name, "fc.", 3) != 0) /* no gradient reaches fc */
            run.params[run.nparams++] = run.net->trainable[i];
    int nhead;
    glia_param *head = glia_lm_head(run.lm, &nhead);
    for (int i = 0; i < nhead; i++)
        run.params[run.nparams++] = head[i];
    for (int i = 0; i < kept_params(run.net); i++)
        run.saved[run.nsaved++] = run.net->params[i];
    for (int i = 0; i < nhead; i++)
        run.saved[run.nsaved++] = head[i];
    snprintf(st.recipe, sizeof st.recipe, "lm-%08x", (unsigned)r.hash);
    glia_optim_config oc;
    glia_optim_defaults(GLIA_OPTIM_ADAM, &oc);
    oc.lr = r.lr;
    if ((rc = glia_optim_new(&oc, run.params, run.nparams, &run.opt, err)) ||
        (rc = try_resume(&run, out_dir, &st, err)))
        goto out;
    const int done = st.epoch;
    glia_lm_progress p = {.epochs = r.epochs,
                          .sentences = ntrain,
                          .holdout_sentences = nhold,
                          .tokens = tokens,
                          .vocab = run.net->cfg.vocab_size,
                          .softmax = r.softmax_size ? r.softmax_size : run.net->cfg.vocab_size};
    /* epoch 0: the corpus, and the held-out loss before (or, resumed, at) the start */
    if ((rc = run_pass(&run, &r, ids, lengths, hold_rows, nhold, 0, cancel, bids, blens, &p.holdout_loss,
                       err)))
        goto out;
    p.epoch = done;
    if (cb)
        cb(&p, user);
    for (int e = 1; e <= r.epochs; e++) {
        /* each epoch shuffles the last one's order, so a resumed run replays the draws; the
         * stream then stands where the checkpoint's did, unless the corpus has changed */
        glia_rng_shuffle(&shuffle, train_rows, (size_t)ntrain);
        if (e == done && memcmp(&shuffle, &st.shuffle, sizeof shuffle) != 0) {
            rc = glia_err_set(err, GLIA_EINVAL,
                              "lm: %s/lm.safetensors was written over another corpus (%ld training sentences "
                              "now): remove it or write the run elsewhere",
                              out_dir, ntrain);
            goto out;
        }
        if (e <= done)
            continue;
        const double t0 = glia_train_clock();
        if ((rc = run_pass(&run, &r, ids, lengths, train_rows, ntrain, 1, cancel, bids, blens, &p.train_loss,
                           err)) ||
            (rc = run_pass(&run, &r, ids, lengths, hold_rows, nhold, 0, cancel, bids, blens, &p.holdout_loss,
                           err)))
            goto out;
        p.epoch = e;
        p.seconds = glia_train_clock() - t0;
        st.shuffle = shuffle;
        if ((rc = save_epoch(&run, job.vocab, out_dir, e, st.seconds + p.seconds, &st, err)))
            goto out;
        if (cb)
            cb(&p, user);
    }
out:
    if (rc && rc != GLIA_ECANCELLED && err && strncmp(err->msg, recipe_path, strlen(recipe_path)) != 0)
        glia_err_prefix(err, "%s", recipe_path);
    glia_optim_free(run.opt);
    glia_lm_free(run.lm);
    glia_textnet_free(run.net);
    glia_text_job_free(&job);
    glia_fortunes_free(&fortunes);
    free(uci);
    free(texts);
    free(ids);
    free(lengths);
    free(bids);
    free(blens);
    free(train_rows);
    free(hold_rows);
    return rc;
}
