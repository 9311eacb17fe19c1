/*
 * word2vec.c - see word2vec.h.
 *
 * Design: the corpus is tokenized once into one array of vocabulary ids (tokens outside the
 * vocabulary left out) with the start of every text, so an epoch is a walk over integers. Every
 * buffer the epochs need - the subsampled text, the noise draws, the pair's coefficients and
 * the centre word's gradient - is sized before the first epoch; the loop itself allocates
 * nothing.
 *
 * Noise words come from Walker's alias table over count^0.75 (two lookups per draw, exact, V
 * entries) rather than word2vec.c's 1e8-entry table: the same distribution without 400 MB and
 * without the table's rounding of rare words' shares.
 *
 * Random streams are derived from the seed as core/train's are (seed * 0x100000001b3 + stream),
 * one for initialisation and one for training, so changing the subsampling leaves the initial
 * vectors alone.
 */
#include "core/train/word2vec.h"

#include "core/base/rng.h"
#include "core/base/yamlutil.h"
#include "core/formats/safetensors.h"
#include "core/text/tokenize.h"
#include "core/data/uci.h"
#include "core/data/wordnet.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { STREAM_INIT = 0, STREAM_TRAIN = 1, MAX_DIM = 4096 };

struct glia_w2v {
    glia_vocab *vocab;
    int dim;
    float *vectors; /* [V, dim] input vectors */
    bool trained;   /* cfg and stats below are meaningful (a loaded model has only the vectors) */
    glia_w2v_config cfg;
    size_t texts, tokens;
};

void glia_w2v_defaults(glia_w2v_config *c)
{
    *c = (glia_w2v_config){.dim = 100,
                           .window = 5,
                           .negative = 5,
                           .min_count = 5,
                           .max_vocab = 0,
                           .epochs = 5,
                           .lr = 0.025f,
                           .sample = 1e-3f,
                           .seed = 1};
}

glia_status glia_w2v_config_check(const glia_w2v_config *c, glia_err *err)
{
    if (c->dim < 1 || c->dim > MAX_DIM)
        return glia_err_set(err, GLIA_EINVAL, "word2vec: dim must be in 1..%d, got %d", MAX_DIM, c->dim);
    if (c->window < 1 || c->window > 100)
        return glia_err_set(err, GLIA_EINVAL, "word2vec: window must be in 1..100, got %d", c->window);
    if (c->negative < 0 || c->negative > 100)
        return glia_err_set(err, GLIA_EINVAL, "word2vec: negative must be in 0..100, got %d", c->negative);
    if (c->min_count < 1)
        return glia_err_set(err, GLIA_EINVAL, "word2vec: min_count must be at least 1, got %d", c->min_count);
    if (c->max_vocab < 0 || c->max_vocab == 1 || c->max_vocab == 2)
        return glia_err_set(
            err, GLIA_EINVAL,
            "word2vec: max_vocab must be 0 (no cap) or at least 3 (\"<pad>\", \"<unk>\" and a "
            "word), got %d",
            c->max_vocab);
    if (c->epochs < 1 || c->epochs > 10000)
        return glia_err_set(err, GLIA_EINVAL, "word2vec: epochs must be in 1..10000, got %d", c->epochs);
    if (!(c->lr > 0 && c->lr <= 1))
        return glia_err_set(err, GLIA_EINVAL, "word2vec: lr must be in (0, 1], got %g", (double)c->lr);
    if (!(c->sample >= 0 && c->sample <= 1))
        return glia_err_set(err, GLIA_EINVAL, "word2vec: sample must be in [0, 1], got %g",
                            (double)c->sample);
    return GLIA_OK;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void seed_stream(glia_rng *rng, unsigned long seed, int stream)
{
    glia_rng_seed(rng, (uint64_t)seed * 0x100000001b3ULL + (uint64_t)stream);
}

/* ---- the loss of one pair ---- */

/* -log s(x), without overflow for either sign of x */
static inline float softplus_neg(float x)
{
    return x > 0 ? log1pf(expf(-x)) : -x + log1pf(expf(x));
}

static inline float sigmoid(float x)
{
    if (x >= 0)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* Eight running sums: the compiler may not reorder a float sum by itself, and one sum is a
 * chain of dependent adds; eight fixed lanes vectorise and still give the same bits every run. */
static inline float dot(const float *restrict a, const float *restrict b, int dim)
{
    float lane[8] = {0};
    int d = 0;
    for (; d + 8 <= dim; d += 8)
        for (int j = 0; j < 8; j++)
            lane[j] += a[d + j] * b[d + j];
    float s = ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
    for (; d < dim; d++)
        s += a[d] * b[d];
    return s;
}

/* coef[k] = dL/d(outputs[k] . center) = s(x_k) - [k == 0]; returns L. Every gradient of the pair
 * is a coefficient times a vector (dL/dcenter = sum_k coef[k] outputs[k], dL/doutputs[k] =
 * coef[k] center), which is all the trainer and glia_w2v_sgns need. */
static double sgns_coefficients(const float *center, const float *const *outputs, int n, int dim, float *coef)
{
    double loss = 0;
    for (int k = 0; k < n; k++) {
        float x = dot(center, outputs[k], dim);
        if (k == 0) {
            loss += softplus_neg(x);
            coef[k] = sigmoid(x) - 1.0f;
        } else {
            loss += softplus_neg(-x);
            coef[k] = sigmoid(x);
        }
    }
    return loss;
}

/* dL/dcenter = sum_k coef[k] outputs[k], into grad[0..dim): the trainer's step and
 * glia_w2v_sgns share it, so the gradient check covers what training applies. */
static inline void center_gradient(const float *const *outputs, int n, int dim, const float *restrict coef,
                                   float *restrict grad)
{
    memset(grad, 0, (size_t)dim * sizeof *grad);
    for (int k = 0; k < n; k++) {
        const float *restrict u = outputs[k];
        float g = coef[k];
        for (int d = 0; d < dim; d++)
            grad[d] += g * u[d];
    }
}

double glia_w2v_sgns(const float *center, const float *const *outputs, int n_outputs, int dim,
                     float *grad_center, float *const *grad_outputs)
{
    float coef[128];
    GLIA_ASSERT(n_outputs >= 1 && n_outputs <= (int)(sizeof coef / sizeof coef[0]));
    double loss = sgns_coefficients(center, outputs, n_outputs, dim, coef);
    if (grad_center)
        center_gradient(outputs, n_outputs, dim, coef, grad_center);
    if (grad_outputs)
        for (int k = 0; k < n_outputs; k++)
            for (int d = 0; d < dim; d++)
                grad_outputs[k][d] = coef[k] * center[d];
    return loss;
}

/* ---- the corpus ---- */

typedef struct {
    const glia_vocab *vocab;
    int32_t *ids;
    size_t n, cap;
    size_t tokens; /* every token, in the vocabulary or not */
} encoder;

static glia_status encode_token(void *ctx, const char *token, size_t len, glia_err *err)
{
    encoder *e = ctx;
    (void)len;
    e->tokens++;
    int32_t id = glia_vocab_id(e->vocab, token);
    if (id == GLIA_VOCAB_UNK)
        return GLIA_OK;
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 1 << 16;
        int32_t *ids = realloc(e->ids, cap * sizeof *ids);
        if (!ids)
            return glia_err_set(err, GLIA_ENOMEM, "word2vec: out of memory for %zu token ids", cap);
        e->ids = ids;
        e->cap = cap;
    }
    e->ids[e->n++] = id;
    return GLIA_OK;
}

/* Vose's alias method: draw i uniformly, keep it with probability prob[i], else take alias[i].
 * Weights are count^0.75; "<pad>" and "<unk>" have count 0 and are never drawn. */
static glia_status build_alias(const size_t *counts, size_t V, float *prob, int32_t *alias, glia_err *err)
{
    glia_status rc = GLIA_OK;
    double *scaled = malloc(V * sizeof *scaled);
    int32_t *small = malloc(V * sizeof *small), *large = malloc(V * sizeof *large);
    if (!scaled || !small || !large) {
        rc = glia_err_set(err, GLIA_ENOMEM, "word2vec: out of memory for the noise table (%zu words)", V);
        goto out;
    }
    double total = 0;
    for (size_t i = 0; i < V; i++)
        total += scaled[i] = pow((double)counts[i], 0.75);
    size_t ns = 0, nl = 0;
    for (size_t i = 0; i < V; i++) {
        scaled[i] = scaled[i] * (double)V / total;
        alias[i] = (int32_t)i;
        if (scaled[i] < 1.0)
            small[ns++] = (int32_t)i;
        else
            large[nl++] = (int32_t)i;
    }
    while (ns > 0 && nl > 0) {
        int32_t s = small[--ns], l = large[nl - 1];
        prob[s] = (float)scaled[s];
        alias[s] = l;
        scaled[l] -= 1.0 - scaled[s];
        if (scaled[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    /* what is left has weight 1 up to rounding */
    while (nl > 0)
        prob[large[--nl]] = 1.0f;
    while (ns > 0) {
        int32_t s = small[--ns];
        prob[s] = counts[s] ? 1.0f : 0.0f;
        if (!counts[s]) /* never a word that does not occur ("<pad>", "<unk>"), even after rounding */
            alias[s] = (int32_t)(V - 1);
    }
out:
    free(scaled);
    free(small);
    free(large);
    return rc;
}

static inline int32_t draw_noise(glia_rng *rng, const float *prob, const int32_t *alias, uint32_t V)
{
    uint64_t r = glia_rng_next(rng);
    uint32_t i = (uint32_t)(((r >> 32) * (uint64_t)V) >> 32);
    float u = (float)(r & 0xffffff) * (1.0f / 16777216.0f);
    return u < prob[i] ? (int32_t)i : alias[i];
}

/* One SGD step on the loss of a pair: coefficients from the vectors as they are, then every
 * vector moves (outputs first, as they read the centre's old value). */
static inline void sgns_step(float *restrict center, float *const *outputs, int n, int dim, float alpha,
                             float *restrict coef, float *restrict grad)
{
    center_gradient((const float *const *)outputs, n, dim, coef, grad);
    for (int k = 0; k < n; k++) {
        float *restrict u = outputs[k];
        float g = -alpha * coef[k];
        for (int d = 0; d < dim; d++)
            u[d] += g * center[d];
    }
    for (int d = 0; d < dim; d++)
        center[d] -= alpha * grad[d];
}

typedef struct {
    glia_vocab *vocab;
    size_t V;
    int32_t *ids;   /* the training stream: in-vocabulary ids of every text, back to back */
    size_t *starts; /* text t is ids[starts[t] .. starts[t+1]) */
    size_t *counts; /* per id, in the stream */
    float *keep;    /* per id, probability of surviving subsampling */
    float *prob;    /* alias table */
    int32_t *alias;
    int32_t *sentence; /* one subsampled text */
    uint32_t *order;   /* the texts of an epoch, shuffled */
    float *out;        /* output vectors [V, dim] */
    float *coef, *grad;
    float **outputs;
    size_t tokens;
} trainer;

static void trainer_free(trainer *t)
{
    glia_vocab_free(t->vocab);
    free(t->ids);
    free(t->starts);
    free(t->counts);
    free(t->keep);
    free(t->prob);
    free(t->alias);
    free(t->sentence);
    free(t->order);
    free(t->out);
    free(t->coef);
    free(t->grad);
    free(t->outputs);
}

static glia_status prepare(trainer *t, const char *const *texts, size_t n, const glia_w2v_config *c,
                           glia_err *err)
{
    glia_status rc;
    encoder e = {0};
    size_t longest = 0, trainable = 0;
    if ((rc = glia_vocab_build(texts, n, (size_t)c->min_count, (size_t)c->max_vocab, &t->vocab, err)))
        return glia_err_prefix(err, "word2vec vocabulary");
    t->V = glia_vocab_size(t->vocab);
    if (t->V > INT32_MAX)
        return glia_err_set(err, GLIA_EINVAL, "word2vec: %zu words is more than ids can hold", t->V);
    e.vocab = t->vocab;
    if (n > UINT32_MAX)
        return glia_err_set(err, GLIA_EINVAL, "word2vec: %zu texts is more than 2^32 - 1", n);
    if (!(t->starts = malloc((n + 1) * sizeof *t->starts)) ||
        !(t->order = malloc((n ? n : 1) * sizeof *t->order)))
        return glia_err_set(err, GLIA_ENOMEM, "word2vec: out of memory for %zu texts", n);
    for (size_t i = 0; i < n; i++) {
        t->starts[i] = e.n;
        if ((rc = glia_tok_each(texts[i], strlen(texts[i]), encode_token, &e, err))) {
            free(e.ids);
            return glia_err_prefix(err, "word2vec: text %zu", i);
        }
        size_t len = e.n - t->starts[i];
        longest = len > longest ? len : longest;
        trainable += len >= 2;
    }
    t->starts[n] = e.n;
    t->ids = e.ids;
    t->tokens = e.tokens;
    if (trainable == 0)
        return glia_err_set(err, GLIA_EINVAL,
                            "word2vec: no text has two words seen at least min_count=%d times: nothing to "
                            "train on (%zu texts, %zu tokens)",
                            c->min_count, n, e.tokens);
    size_t V = t->V, dim = (size_t)c->dim, nout = (size_t)c->negative + 1;
    t->counts = calloc(V, sizeof *t->counts);
    t->keep = malloc(V * sizeof *t->keep);
    t->prob = malloc(V * sizeof *t->prob);
    t->alias = malloc(V * sizeof *t->alias);
    t->sentence = malloc(longest * sizeof *t->sentence);
    t->out = calloc(V * dim, sizeof *t->out);
    t->coef = malloc(nout * sizeof *t->coef);
    t->grad = malloc(dim * sizeof *t->grad);
    t->outputs = malloc(nout * sizeof *t->outputs);
    if (!t->counts || !t->keep || !t->prob || !t->alias || !t->sentence || !t->out || !t->coef || !t->grad ||
        !t->outputs)
        return glia_err_set(err, GLIA_ENOMEM, "word2vec: out of memory for %zu words of %zu dimensions", V,
                            dim);
    for (size_t i = 0; i < e.n; i++)
        t->counts[t->ids[i]]++;
    /* word2vec.c: keep with probability (sqrt(f / t) + 1) * t / f, f = count / stream length */
    double threshold = (double)c->sample * (double)e.n;
    for (size_t i = 0; i < V; i++) {
        double f = (double)t->counts[i];
        t->keep[i] = c->sample > 0 && f > 0 ? (float)((sqrt(f / threshold) + 1) * threshold / f) : 1.0f;
    }
    return build_alias(t->counts, V, t->prob, t->alias, err);
}

glia_status glia_w2v_train(const char *const *texts, size_t n, const glia_w2v_config *cfg,
                           glia_w2v_progress_fn cb, void *user, const atomic_int *cancel, glia_w2v **out,
                           glia_err *err)
{
    glia_status rc;
    trainer t = {0};
    glia_w2v *m = NULL;
    glia_rng rng;
    *out = NULL;
    if ((rc = glia_w2v_config_check(cfg, err)) || (rc = prepare(&t, texts, n, cfg, err)))
        goto fail;
    const int dim = cfg->dim, window = cfg->window, negative = cfg->negative;
    const size_t V = t.V, stream = t.starts[n];
    if (!(m = calloc(1, sizeof *m)) || !(m->vectors = malloc(V * (size_t)dim * sizeof *m->vectors))) {
        rc = glia_err_set(err, GLIA_ENOMEM, "word2vec: out of memory for %zu x %d vectors", V, dim);
        goto fail;
    }
    m->dim = dim;
    m->cfg = *cfg;
    m->trained = true;
    m->texts = n;
    m->tokens = t.tokens;
    seed_stream(&rng, cfg->seed, STREAM_INIT);
    for (size_t i = 0; i < V * (size_t)dim; i++)
        m->vectors[i] = (glia_rng_uniform(&rng) - 0.5f) / (float)dim;
    seed_stream(&rng, cfg->seed, STREAM_TRAIN);

    const double total = (double)stream * cfg->epochs + 1;
    size_t read = 0; /* stream tokens read so far, over all epochs: drives the learning rate */
    float alpha = cfg->lr;
    for (int epoch = 1; epoch <= cfg->epochs; epoch++) {
        double started = now_seconds(), loss = 0;
        size_t pairs = 0;
        /* The sources come in blocks (WordNet's nouns by topic, then verbs, ..., then reviews), so
         * an unshuffled pass would end every epoch on one topic at the lowest learning rate. */
        for (size_t i = 0; i < n; i++)
            t.order[i] = (uint32_t)i;
        glia_rng_shuffle(&rng, t.order, n);
        for (size_t i = 0; i < n; i++) {
            const size_t s = t.order[i];
            if (cancel && atomic_load(cancel)) {
                rc = glia_err_set(err, GLIA_ECANCELLED, "word2vec: cancelled in epoch %d of %d", epoch,
                                  cfg->epochs);
                goto fail;
            }
            const int32_t *ids = t.ids + t.starts[s];
            size_t len = t.starts[s + 1] - t.starts[s], kept = 0;
            alpha = cfg->lr * (float)fmax(1.0 - (double)read / total, 1e-4);
            read += len;
            for (size_t i = 0; i < len; i++)
                if (t.keep[ids[i]] >= 1.0f || glia_rng_uniform(&rng) < t.keep[ids[i]])
                    t.sentence[kept++] = ids[i];
            for (size_t pos = 0; pos < kept; pos++) {
                float *center = m->vectors + (size_t)t.sentence[pos] * dim;
                size_t reach = (size_t)window - glia_rng_below(&rng, (uint64_t)window);
                size_t lo = pos > reach ? pos - reach : 0, hi = pos + reach < kept ? pos + reach : kept - 1;
                for (size_t a = lo; a <= hi; a++) {
                    if (a == pos)
                        continue;
                    int32_t context = t.sentence[a];
                    int nout = 1;
                    t.outputs[0] = t.out + (size_t)context * dim;
                    for (int k = 0; k < negative; k++) {
                        int32_t noise = draw_noise(&rng, t.prob, t.alias, (uint32_t)V);
                        if (noise != context)
                            t.outputs[nout++] = t.out + (size_t)noise * dim;
                    }
                    loss += sgns_coefficients(center, (const float *const *)t.outputs, nout, dim, t.coef);
                    sgns_step(center, t.outputs, nout, dim, alpha, t.coef, t.grad);
                    pairs++;
                }
            }
        }
        if (cb) {
            double seconds = now_seconds() - started;
            glia_w2v_progress p = {.epoch = epoch,
                                   .epochs = cfg->epochs,
                                   .loss = pairs ? loss / (double)pairs : 0,
                                   .words_per_sec = seconds > 0 ? (double)stream / seconds : 0,
                                   .seconds = seconds,
                                   .lr = alpha,
                                   .pairs = pairs,
                                   .texts = n,
                                   .tokens = t.tokens,
                                   .train_tokens = stream,
                                   .vocab = V};
            cb(&p, user);
        }
    }
    m->vocab = t.vocab;
    t.vocab = NULL;
    trainer_free(&t);
    *out = m;
    return GLIA_OK;
fail:
    glia_w2v_free(m);
    trainer_free(&t);
    return rc;
}

/* ---- the model ---- */

void glia_w2v_free(glia_w2v *m)
{
    if (!m)
        return;
    glia_vocab_free(m->vocab);
    free(m->vectors);
    free(m);
}

const glia_vocab *glia_w2v_vocab(const glia_w2v *m)
{
    return m->vocab;
}
int glia_w2v_dim(const glia_w2v *m)
{
    return m->dim;
}
const float *glia_w2v_vectors(const glia_w2v *m)
{
    return m->vectors;
}

static glia_status join(char *out, size_t size, const char *dir, const char *name, glia_err *err)
{
    if (snprintf(out, size, "%s/%s", dir, name) >= (int)size)
        return glia_err_set(err, GLIA_EINVAL, "word2vec: directory name too long: %s", dir);
    return GLIA_OK;
}

glia_status glia_w2v_save(const glia_w2v *m, const char *dir, glia_err *err)
{
    char path[4096], fields[9][32];
    glia_status rc;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return glia_err_set(err, GLIA_EIO, "%s: cannot create the directory: %s", dir, strerror(errno));
    if ((rc = join(path, sizeof path, dir, "vocab.txt", err)) || (rc = glia_vocab_save(m->vocab, path, err)))
        return rc;
    /* the config travels with the vectors, so a directory says how it was made */
    const char *meta[2 * 10 + 1] = {"format", "glia-word2vec"};
    size_t nmeta = 2;
    if (m->trained) {
        const glia_w2v_config *c = &m->cfg;
        static const char *const keys[] = {"dim", "window", "negative", "min_count", "epochs",
                                           "lr",  "sample", "seed",     "texts"};
        snprintf(fields[0], sizeof fields[0], "%d", c->dim);
        snprintf(fields[1], sizeof fields[1], "%d", c->window);
        snprintf(fields[2], sizeof fields[2], "%d", c->negative);
        snprintf(fields[3], sizeof fields[3], "%d", c->min_count);
        snprintf(fields[4], sizeof fields[4], "%d", c->epochs);
        snprintf(fields[5], sizeof fields[5], "%g", (double)c->lr);
        snprintf(fields[6], sizeof fields[6], "%g", (double)c->sample);
        snprintf(fields[7], sizeof fields[7], "%lu", c->seed);
        snprintf(fields[8], sizeof fields[8], "%zu", m->texts);
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            meta[nmeta++] = keys[i];
            meta[nmeta++] = fields[i];
        }
    }
    meta[nmeta] = NULL;
    int64_t shape[2] = {(int64_t)glia_vocab_size(m->vocab), m->dim};
    glia_st_entry entry = {
        .name = "weight", .dtype = GLIA_DT_F32, .ndim = 2, .shape = shape, .data = m->vectors};
    if ((rc = join(path, sizeof path, dir, "vectors.safetensors", err)))
        return rc;
    return glia_st_write(path, &entry, 1, meta, err);
}

glia_status glia_w2v_load(const char *dir, glia_w2v **out, glia_err *err)
{
    char path[4096];
    glia_status rc;
    glia_st_file *f = NULL;
    glia_w2v *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m)
        return glia_err_set(err, GLIA_ENOMEM, "word2vec: out of memory");
    if ((rc = join(path, sizeof path, dir, "vocab.txt", err)) ||
        (rc = glia_vocab_load(path, &m->vocab, err)) ||
        (rc = join(path, sizeof path, dir, "vectors.safetensors", err)) || (rc = glia_st_open(path, &f, err)))
        goto fail;
    size_t V = glia_vocab_size(m->vocab);
    const glia_st_tensor *w = glia_st_find(f, "weight");
    if (!w) {
        rc = glia_err_set(err, GLIA_EFORMAT, "%s: no tensor 'weight' (word2vec vectors are [words, dim])",
                          path);
        goto fail;
    }
    if (w->ndim != 2 || w->shape[0] != (int64_t)V || w->shape[1] < 1 || w->shape[1] > MAX_DIM) {
        rc =
            glia_err_set(err, GLIA_EFORMAT,
                         "%s: 'weight' must be [%zu, dim] (one row per line of vocab.txt, dim 1..%d), got %d "
                         "dimensions [%lld, %lld]",
                         path, V, MAX_DIM, w->ndim, w->ndim > 0 ? (long long)w->shape[0] : 0LL,
                         w->ndim > 1 ? (long long)w->shape[1] : 0LL);
        goto fail;
    }
    m->dim = (int)w->shape[1];
    if (!(m->vectors = malloc(V * (size_t)m->dim * sizeof *m->vectors))) {
        rc = glia_err_set(err, GLIA_ENOMEM, "%s: out of memory for %zu x %d vectors", path, V, m->dim);
        goto fail;
    }
    if ((rc = glia_st_check_finite(w, err)) ||
        (rc = glia_st_read_f32(w, m->vectors, V * (size_t)m->dim, err))) {
        glia_err_prefix(err, "%s", path);
        goto fail;
    }
    glia_st_close(f);
    *out = m;
    return GLIA_OK;
fail:
    glia_st_close(f);
    glia_w2v_free(m);
    return rc;
}

glia_status glia_w2v_nearest(const glia_w2v *m, const char *token, int k, int32_t *ids, float *sims,
                             int *found, glia_err *err)
{
    const size_t V = glia_vocab_size(m->vocab), dim = (size_t)m->dim;
    int32_t q = glia_vocab_id(m->vocab, token);
    *found = 0;
    if (q < 2)
        return glia_err_set(err, GLIA_ENOTFOUND, "word2vec: '%s' is not in the vocabulary", token);
    const float *v = m->vectors + (size_t)q * dim;
    double vn = sqrt(dot(v, v, (int)dim));
    for (size_t i = 2; i < V; i++) {
        if ((int32_t)i == q)
            continue;
        const float *u = m->vectors + i * dim;
        double un = sqrt(dot(u, u, (int)dim));
        float sim = vn > 0 && un > 0 ? (float)(dot(u, v, (int)dim) / (vn * un)) : 0.0f;
        /* insertion into the sorted top k */
        int j = *found < k ? (*found)++ : k;
        while (j > 0 && sims[j - 1] < sim) {
            if (j < k) {
                sims[j] = sims[j - 1];
                ids[j] = ids[j - 1];
            }
            j--;
        }
        if (j < k) {
            sims[j] = sim;
            ids[j] = (int32_t)i;
        }
    }
    return GLIA_OK;
}

glia_status glia_w2v_apply(const char *dir, const glia_vocab *target, float *weight, int dim, size_t *n_found,
                           glia_err *err)
{
    glia_w2v *m = NULL;
    glia_status rc;
    size_t copied = 0;
    if (n_found)
        *n_found = 0;
    if ((rc = glia_w2v_load(dir, &m, err)))
        return rc;
    if (m->dim != dim) {
        rc = glia_err_set(
            err, GLIA_EINVAL,
            "%s: the word2vec vectors have %d dimensions but the embedding has %d (train word2vec "
            "with dim: %d, or give the embedding %d)",
            dir, m->dim, dim, dim, m->dim);
        goto out;
    }
    for (size_t id = 2; id < glia_vocab_size(target); id++) {
        int32_t src = glia_vocab_id(m->vocab, glia_vocab_token(target, (int32_t)id));
        if (src < 2)
            continue;
        memcpy(weight + id * (size_t)dim, m->vectors + (size_t)src * dim, (size_t)dim * sizeof *weight);
        copied++;
    }
    if (n_found)
        *n_found = copied;
out:
    glia_w2v_free(m);
    return rc;
}

/* ---- recipes ---- */

glia_status glia_w2v_recipe_load(const char *path, glia_w2v_recipe *r, glia_err *err)
{
    static const char *const keys[] = {"task",     "corpus",    "wordnet_dir", "dim",    "window",
                                       "negative", "min_count", "max_vocab",   "epochs", "lr",
                                       "sample",   "seed",      NULL};
    glia_yaml y;
    glia_status rc;
    const char *task = NULL, *wordnet_dir = NULL;
    long seed;
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    glia_w2v_defaults(&r->cfg);
    seed = (long)r->cfg.seed;
    if ((rc = glia_yaml_load_file(path, &y, err)))
        return rc;
    yaml_node_t *root = glia_yaml_root(&y), *corpus;
    if ((rc = glia_yaml_check_keys(&y, root, "recipe", keys, err)) ||
        (rc = glia_yaml_string(&y, glia_yaml_get(&y, root, "task"), "task", &task, err)))
        goto out;
    if (strcmp(task, "word2vec") != 0) {
        rc = glia_yaml_error(&y, glia_yaml_get(&y, root, "task"), GLIA_EINVAL, err,
                             "task: expected 'word2vec', got '%s'", task);
        goto out;
    }
    corpus = glia_yaml_get(&y, root, "corpus");
    if (!corpus || !glia_yaml_is_seq(corpus) || glia_yaml_seq_len(corpus) == 0) {
        rc = glia_yaml_error(&y, corpus ? corpus : root, GLIA_EINVAL, err,
                             "corpus: expected a non-empty list of wordnet, uci-sentiment");
        goto out;
    }
    for (int i = 0; i < glia_yaml_seq_len(corpus); i++) {
        yaml_node_t *e = glia_yaml_seq_at(&y, corpus, i);
        const char *name;
        unsigned bit;
        if ((rc = glia_yaml_string(&y, e, "corpus[]", &name, err)))
            goto out;
        if (strcmp(name, "wordnet") == 0) {
            bit = GLIA_W2V_CORPUS_WORDNET;
        } else if (strcmp(name, "uci-sentiment") == 0) {
            bit = GLIA_W2V_CORPUS_UCI;
        } else {
            rc = glia_yaml_error(&y, e, GLIA_EINVAL, err,
                                 "corpus: '%s' is not known (known: wordnet, uci-sentiment)", name);
            goto out;
        }
        if (r->corpus & bit) {
            rc = glia_yaml_error(&y, e, GLIA_EINVAL, err, "corpus: '%s' is listed twice", name);
            goto out;
        }
        r->corpus |= bit;
    }
    glia_w2v_config *c = &r->cfg;
    if ((rc = glia_yaml_opt_string(&y, root, "wordnet_dir", &wordnet_dir, err)) ||
        (rc = glia_yaml_opt_int(&y, root, "dim", 1, MAX_DIM, &c->dim, err)) ||
        (rc = glia_yaml_opt_int(&y, root, "window", 1, 100, &c->window, err)) ||
        (rc = glia_yaml_opt_int(&y, root, "negative", 0, 100, &c->negative, err)) ||
        (rc = glia_yaml_opt_int(&y, root, "min_count", 1, 1 << 30, &c->min_count, err)) ||
        (rc = glia_yaml_opt_int(&y, root, "max_vocab", 0, 1 << 30, &c->max_vocab, err)) ||
        (rc = glia_yaml_opt_int(&y, root, "epochs", 1, 10000, &c->epochs, err)) ||
        (rc = glia_yaml_opt_float(&y, root, "lr", 1e-9, 1, &c->lr, err)) ||
        (rc = glia_yaml_opt_float(&y, root, "sample", 0, 1, &c->sample, err)) ||
        (rc = glia_yaml_opt_long(&y, root, "seed", 0, 0x7fffffffL, &seed, err)))
        goto out;
    c->seed = (unsigned long)seed;
    if (c->max_vocab == 1 || c->max_vocab == 2) {
        rc = glia_yaml_error(&y, glia_yaml_get(&y, root, "max_vocab"), GLIA_EINVAL, err,
                             "max_vocab: must be 0 (no cap) or at least 3 (\"<pad>\", \"<unk>\" and a word)");
        goto out;
    }
    if (!wordnet_dir || !*wordnet_dir) {
        snprintf(r->wordnet_dir, sizeof r->wordnet_dir, "%s", GLIA_WORDNET_DEFAULT_DIR);
    } else if (wordnet_dir[0] == '/') {
        snprintf(r->wordnet_dir, sizeof r->wordnet_dir, "%s", wordnet_dir);
    } else {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        snprintf(r->wordnet_dir, sizeof r->wordnet_dir, "%s/%s", dirname(dir), wordnet_dir);
    }
    if (wordnet_dir && !(r->corpus & GLIA_W2V_CORPUS_WORDNET)) {
        rc = glia_yaml_error(&y, glia_yaml_get(&y, root, "wordnet_dir"), GLIA_EINVAL, err,
                             "wordnet_dir: given, but corpus does not list wordnet");
        goto out;
    }
    rc = glia_w2v_config_check(c, err);
out:
    glia_yaml_free(&y);
    return rc;
}

glia_status glia_w2v_recipe_run(const char *recipe_path, const char *out_dir, glia_w2v_progress_fn cb,
                                void *user, const atomic_int *cancel, glia_err *err)
{
    glia_w2v_recipe *r = malloc(sizeof *r);
    glia_wordnet_corpus wordnet = {0};
    glia_uci_set uci = {0};
    const char **uci_texts = NULL, **texts = NULL;
    size_t n_uci = 0, n = 0;
    glia_w2v *m = NULL;
    glia_status rc;
    if (!r)
        return glia_err_set(err, GLIA_ENOMEM, "word2vec: out of memory");
    if ((rc = glia_w2v_recipe_load(recipe_path, r, err)))
        goto out;
    if ((r->corpus & GLIA_W2V_CORPUS_WORDNET) && (rc = glia_wordnet_load(r->wordnet_dir, &wordnet, err)))
        goto out;
    if ((r->corpus & GLIA_W2V_CORPUS_UCI) &&
        ((rc = glia_uci_load(glia_uci_default_dir(), &uci, err)) ||
         (rc = glia_uci_texts(&uci, GLIA_UCI_TRAIN, &uci_texts, &n_uci, err))))
        goto out;
    if (!(texts = malloc((wordnet.n + n_uci + 1) * sizeof *texts))) {
        rc = glia_err_set(err, GLIA_ENOMEM, "word2vec: out of memory for %zu texts", wordnet.n + n_uci);
        goto out;
    }
    for (size_t i = 0; i < wordnet.n; i++)
        texts[n++] = wordnet.texts[i];
    for (size_t i = 0; i < n_uci; i++)
        texts[n++] = uci_texts[i];
    if ((rc = glia_w2v_train(texts, n, &r->cfg, cb, user, cancel, &m, err)) ||
        (rc = glia_w2v_save(m, out_dir, err)))
        goto out;
out:
    if (rc && rc != GLIA_ECANCELLED && err && strncmp(err->msg, recipe_path, strlen(recipe_path)) != 0)
        glia_err_prefix(err, "%s", recipe_path);
    glia_w2v_free(m);
    free(texts);
    free(uci_texts);
    glia_uci_free(&uci);
    glia_wordnet_free(&wordnet);
    free(r);
    return rc;
}
