/*
 * texttrain.c - see texttrain.h.
 *
 * One thread: the UCI sentences are ~2,400 short texts, an epoch of the shipped model
 * takes about a second, and a single stream keeps runs reproducible bit for bit without
 * the lane bookkeeping trainer.c needs for images.
 */
#include "core/train/texttrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/catalog.h"
#include "core/nn/params.h"
#include "core/text/lexicon.h"
#include "core/text/negscope.h"
#include "core/text/tokenize.h"
#include "core/train/word2vec.h"

/* ---- encoded data ---- */

void glia_text_data_free(glia_text_data *d)
{
    free(d->ids);
    free(d->lengths);
    free(d->labels);
    free(d->sources);
    memset(d, 0, sizeof *d);
}

glia_status glia_text_data_from_uci(const glia_uci_set *set, glia_uci_split split, const glia_vocab *v,
                                    int max_len, glia_text_data *out, glia_err *err)
{
    memset(out, 0, sizeof *out);
    size_t n = 0;
    for (size_t i = 0; i < set->n; i++)
        n += set->examples[i].split == split;
    out->max_len = max_len;
    out->ids = calloc(n * (size_t)max_len + 1, sizeof *out->ids);
    out->lengths = calloc(n + 1, sizeof *out->lengths);
    out->labels = calloc(n + 1, sizeof *out->labels);
    out->sources = calloc(n + 1, sizeof *out->sources);
    if (!out->ids || !out->lengths || !out->labels || !out->sources) {
        glia_text_data_free(out);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory encoding %zu sentences", n);
    }
    for (size_t i = 0; i < set->n; i++) {
        const glia_uci_example *e = &set->examples[i];
        if (e->split != split)
            continue;
        size_t got = 0, total = 0;
        glia_status rc = glia_vocab_encode(v, e->text, e->len, (size_t)max_len,
                                           out->ids + (size_t)out->n * (size_t)max_len, &got, &total, err);
        if (rc == GLIA_OK && got == 0)
            rc = glia_err_set(err, GLIA_EINVAL, "has no words");
        if (rc != GLIA_OK) {
            glia_err_prefix(err, "%s.json element %zu", glia_uci_source_name(e->source), e->index);
            glia_text_data_free(out);
            return rc;
        }
        out->lengths[out->n] = (int32_t)got;
        out->labels[out->n] = e->label;
        out->sources[out->n] = (uint8_t)e->source;
        out->truncated += total > got;
        out->n++;
    }
    return GLIA_OK;
}

/* ---- preparation ---- */

void glia_text_job_free(glia_text_job *job)
{
    glia_text_data_free(&job->train);
    glia_text_data_free(&job->dev);
    glia_text_data_free(&job->test);
    glia_model_free(job->model);
    glia_vocab_free(job->vocab);
    glia_uci_free(&job->set);
    glia_manifest_free(&job->manifest);
    memset(job, 0, sizeof *job);
}

/* The recipe's lexicon files, as core/text/lexicon.h reads them, into the frozen table. */
static glia_status lexicon_sources(const glia_recipe_text *t, glia_lexicon_source *src, glia_err *err);
static glia_status lexicon_table(const glia_recipe_text *t, const glia_vocab *v, float *table,
                                 size_t *matched, glia_err *err)
{
    glia_lexicon_source src[GLIA_RECIPE_MAX_LEXICONS];
    glia_status rc = lexicon_sources(t, src, err);
    return rc ? rc : glia_lexicon_table(src, t->nlexicons, v, table, matched, err);
}

/* augment.negation: every train sentence that negscope.h's rule negates is added once more,
 * negated, with the other label (two classes only). The copies are train examples of the set
 * (the vocabulary sees them); dev and test are never touched. A copy that would not tokenize
 * back to the rule's tokens is skipped. */
static glia_status augment_negation(glia_uci_set *set, size_t *added, glia_err *err)
{
    char text[4096];
    glia_status rc = GLIA_OK;
    const size_t n = set->n;
    *added = 0;
    glia_uci_example *grown = realloc(set->examples, sizeof *grown * (2 * n + 1));
    if (!grown)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu negated sentences", n);
    set->examples = grown;
    for (size_t i = 0; i < n && rc == GLIA_OK; i++) {
        const glia_uci_example *e = &set->examples[i];
        glia_tok_list toks = {0}, back = {0};
        if (e->split != GLIA_UCI_TRAIN || e->label < 0 || e->label > 1 ||
            glia_tok_split(e->text, e->len, &toks, err) != GLIA_OK ||
            !glia_negscope_negate(toks.tokens, toks.n, text, sizeof text) ||
            glia_tok_split(text, strlen(text), &back, err) != GLIA_OK ||
            (back.n != toks.n + 1 && back.n + 1 != toks.n))
            goto next;
        glia_uci_example copy = *e;
        if (!(copy.text = strdup(text))) {
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for a negated sentence");
            goto next;
        }
        copy.len = strlen(text);
        copy.label = 1 - e->label;
        set->examples[set->n++] = copy;
        (*added)++;
    next:
        glia_tok_list_free(&toks);
        glia_tok_list_free(&back);
    }
    return rc;
}

/* The lexicon files of the recipe as lexicon.h takes them. */
static glia_status lexicon_sources(const glia_recipe_text *t, glia_lexicon_source *src, glia_err *err)
{
    for (int i = 0; i < t->nlexicons; i++) {
        glia_status rc = glia_lexicon_format_parse(t->lexicons[i].format, &src[i].format, err);
        if (rc != GLIA_OK) /* the recipe checked it: only a recipe built by hand gets here */
            return rc;
        snprintf(src[i].path, sizeof src[i].path, "%s", t->lexicons[i].path);
        src[i].scale = t->lexicons[i].scale;
    }
    return GLIA_OK;
}

/* init.bundle: the embedding, lexicon and rnn tensors of a language model's pretraining
 * (lmtrain.h) replace the fresh ones. Strict: its vocab.txt must be this recipe's vocabulary
 * line for line (ids index the embedding), every tensor of its file must be one of the
 * classifier's but fc, each with its exact shape, and its frozen lexicon table the one this
 * recipe's word lists give. embedding_only (init.tensors: embedding) takes the word vectors
 * alone and leaves the rnn as the seed drew it. */
static glia_status init_from_lm(const char *dir, int embedding_only, const glia_vocab *v, glia_model *model,
                                glia_err *err)
{
    char path[GLIA_PATH_MAX + 32];
    glia_vocab *lmv = NULL;
    glia_st_file *st = NULL;
    float *lex = NULL;
    glia_param *sub = malloc(sizeof *sub * (size_t)(model->nparams + 1));
    int nsub = 0;
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    glia_status rc = sub ? glia_vocab_load(path, &lmv, err) : glia_err_set(err, GLIA_ENOMEM, "out of memory");
    if (rc != GLIA_OK)
        goto out;
    const size_t nv = glia_vocab_size(v), nl = glia_vocab_size(lmv);
    for (size_t i = 0; i < (nv > nl ? nv : nl); i++) {
        const char *want = i < nv ? glia_vocab_token(v, (int32_t)i) : "(nothing)",
                   *got = i < nl ? glia_vocab_token(lmv, (int32_t)i) : "(nothing)";
        if (strcmp(want, got) != 0) {
            rc = glia_err_set(
                err, GLIA_EINVAL,
                "%s: line %zu is '%s' but the vocabulary this recipe builds has '%s' there "
                "(%zu and %zu tokens): pretrain with this recipe as the language model's classifier",
                path, i + 1, got, want, nl, nv);
            goto out;
        }
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((rc = glia_st_open(path, &st, err)))
        goto out;
    for (size_t i = 0; i < glia_st_count(st); i++) {
        const char *name = glia_st_at(st, i)->name;
        if (!glia_model_find_param(model, name) || strncmp(name, "fc.", 3) == 0) {
            rc =
                glia_err_set(err, GLIA_EINVAL,
                             "%s: holds tensor '%s', which the classifier does not take from it", path, name);
            goto out;
        }
    }
    for (int i = 0; i < model->nparams; i++)
        if (embedding_only ? strcmp(model->params[i].name, "embedding.weight") == 0
                           : strncmp(model->params[i].name, "fc.", 3) != 0)
            sub[nsub++] = model->params[i];
    const glia_param *lp = glia_model_find_param(model, "lexicon.weight");
    if (lp && !(lex = malloc(sizeof(float) * lp->size))) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory");
        goto out;
    }
    if (lp)
        memcpy(lex, lp->value, sizeof(float) * lp->size);
    if ((rc = glia_params_load(sub, nsub, st, "classifier", err))) {
        glia_err_prefix(err, "%s", path);
        goto out;
    }
    if (lp && memcmp(lex, lp->value, sizeof(float) * lp->size) != 0)
        rc = glia_err_set(err, GLIA_EINVAL,
                          "%s: lexicon.weight is not the table this recipe's lexicon files give (other word "
                          "lists or scales)",
                          path);
out:
    glia_vocab_free(lmv);
    glia_st_close(st);
    free(lex);
    free(sub);
    return rc;
}

glia_status glia_text_prepare(const glia_recipe *r, glia_text_job *job, glia_err *err)
{
    const char **texts = NULL;
    size_t ntexts = 0;
    glia_status rc;
    memset(job, 0, sizeof *job);
    if ((rc = glia_manifest_load(r->model, &job->manifest, err)))
        return rc;
    const glia_manifest *m = &job->manifest;
    const glia_data_set *takes = glia_data_for_model(glia_model_family(m->task)),
                        *data = glia_data_find(r->dataset);
    if (!takes || takes->kind != GLIA_DATA_TEXTS || !data || data->kind != GLIA_DATA_TEXTS) {
        rc = glia_err_set(err, GLIA_EINVAL, "%s: a %s model cannot be trained on data set %s", r->path,
                          m->task, r->dataset);
        goto fail;
    }
    if (m->text.lexicon_features != r->text.nlexicons) {
        rc = glia_err_set(err, GLIA_EINVAL,
                          "%s: the manifest's lexicon has %d features but the recipe lists %d lexicon files",
                          r->path, m->text.lexicon_features, r->text.nlexicons);
        goto fail;
    }
    if ((rc = r->dataset_file[0]
                  ? glia_uci_load_jsonl(r->dataset_file, m->labels, m->nlabels, &job->set, err)
                  : glia_uci_load(r->dataset_path[0] ? r->dataset_path : glia_uci_default_dir(), &job->set,
                                  err)) ||
        (r->text.augment_negation && (rc = augment_negation(&job->set, &job->negated, err))) ||
        (rc = glia_uci_texts(&job->set, GLIA_UCI_TRAIN, &texts, &ntexts, err)) ||
        (rc = glia_vocab_build_scoped(texts, ntexts, (size_t)r->text.vocab_min_count,
                                      (size_t)r->text.vocab_max_size, &m->negscope, &job->vocab, err)))
        goto fail;
    const size_t trained_words = glia_vocab_size(job->vocab);
    glia_lexicon_source src[GLIA_RECIPE_MAX_LEXICONS];
    if (r->text.vocab_lexicon_words &&
        ((rc = lexicon_sources(&r->text, src, err)) ||
         (rc = glia_lexicon_extend_vocab(src, r->text.nlexicons, job->vocab, &job->lexicon_words, err))))
        goto fail;
    const int vocab_size = (int)glia_vocab_size(job->vocab);
    if (m->text.vocab_size && m->text.vocab_size != vocab_size) {
        rc = glia_err_set(
            err, GLIA_EINVAL,
            "%s: embedding.num_embeddings is %d but the vocabulary built from the train split has %d "
            "tokens (leave num_embeddings out to follow the vocabulary)",
            m->path, m->text.vocab_size, vocab_size);
        goto fail;
    }
    job->manifest.text.vocab_size = vocab_size;
    if ((rc = glia_model_new(m, &job->model, err)))
        goto fail;
    glia_rng init;
    glia_train_seed_stream(&init, r->seed, GLIA_STREAM_INIT);
    job->model->ops->reset(job->model, &init);
    glia_param *emb = (glia_param *)glia_model_find_param(job->model, "embedding.weight");
    if (r->text.embedding_init_std > 0) /* N(0, 1) draws scaled: N(0, std), padding row still 0 */
        for (size_t i = 0; i < emb->size; i++)
            emb->value[i] *= r->text.embedding_init_std;
    /* The lexicon's words that no train sentence holds never get a gradient: a random row
     * would stay noise the classifier never learned to read, a zero row leaves them to their
     * lexicon features. */
    memset(emb->value + trained_words * (size_t)m->text.embedding_dim, 0,
           sizeof(float) * ((size_t)vocab_size - trained_words) * (size_t)m->text.embedding_dim);
    if (m->text.lexicon_features > 0) {
        float *table = (float *)glia_model_find_param(job->model, "lexicon.weight")->value;
        if ((rc = lexicon_table(&r->text, job->vocab, table, job->lexicon_matched, err)))
            goto fail;
    }
    if (r->text.pretrained[0] && (rc = glia_w2v_apply(r->text.pretrained, job->vocab, emb->value,
                                                      m->text.embedding_dim, &job->pretrained_found, err))) {
        glia_err_prefix(err, "%s: embedding.pretrained", r->path);
        goto fail;
    }
    if (r->text.init_bundle[0] && r->text.pretrained[0]) {
        rc = glia_err_set(err, GLIA_EINVAL,
                          "%s: embedding.pretrained and init.bundle both set the embedding: "
                          "choose one",
                          r->path);
        goto fail;
    }
    if (r->text.init_bundle[0] &&
        (rc = init_from_lm(r->text.init_bundle, r->text.init_embedding_only, job->vocab, job->model, err))) {
        glia_err_prefix(err, "%s: init.bundle", r->path);
        goto fail;
    }
    if ((rc = glia_text_data_from_uci(&job->set, GLIA_UCI_TRAIN, job->vocab, m->max_tokens, &job->train,
                                      err)) ||
        (rc = glia_text_data_from_uci(&job->set, GLIA_UCI_DEV, job->vocab, m->max_tokens, &job->dev, err)) ||
        (rc = glia_text_data_from_uci(&job->set, GLIA_UCI_TEST, job->vocab, m->max_tokens, &job->test, err)))
        goto fail;
    free(texts);
    return GLIA_OK;
fail:
    free(texts);
    glia_text_job_free(job);
    return rc;
}

/* ---- batches ---- */

/* Gathers rows idx[0..b) of d into ids [b, steps] (steps = the longest of them), lengths,
 * labels. */
static int gather(const glia_text_data *d, const uint32_t *idx, int b, int32_t *ids, int32_t *lengths,
                  int32_t *labels)
{
    int steps = 1;
    for (int j = 0; j < b; j++)
        if (d->lengths[idx[j]] > steps)
            steps = d->lengths[idx[j]];
    for (int j = 0; j < b; j++) {
        memcpy(ids + (size_t)j * steps, d->ids + (size_t)idx[j] * d->max_len,
               sizeof(int32_t) * (size_t)steps);
        lengths[j] = d->lengths[idx[j]];
        if (labels)
            labels[j] = d->labels[idx[j]];
    }
    return steps;
}

/* evaluation batches: sentences */
enum { EVAL_BATCH = 128 };

/* ---- the batch source ---- */

enum { NGROUPS = GLIA_UCI_NSOURCES };

typedef struct {
    int32_t *ids, *lengths, *labels;
    uint8_t *groups;
} text_bufs;

typedef struct {
    glia_source base;
    const glia_text_data *split[GLIA_NSPLITS];
    uint32_t *order;
    int pos;
    text_bufs train;
    text_bufs *lane; /* evaluation, one per lane */
    int nlanes;
} text_source;

static void bufs_free(text_bufs *b)
{
    free(b->ids);
    free(b->lengths);
    free(b->labels);
    free(b->groups);
}

static glia_status bufs_new(text_bufs *b, int n, int max_len, glia_err *err)
{
    b->ids = malloc(sizeof(int32_t) * (size_t)n * (size_t)(max_len > 0 ? max_len : 1));
    b->lengths = malloc(sizeof(int32_t) * (size_t)n);
    b->labels = malloc(sizeof(int32_t) * (size_t)n);
    b->groups = malloc((size_t)n);
    if (!b->ids || !b->lengths || !b->labels || !b->groups)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for batches of %d sentences", n);
    return GLIA_OK;
}

/* Rows idx[0..b) of d as a batch padded to its longest sentence. */
static void text_batch(const glia_text_data *d, const uint32_t *idx, int b, text_bufs *buf,
                       glia_labelled *out)
{
    const int steps = gather(d, idx, b, buf->ids, buf->lengths, buf->labels);
    for (int j = 0; j < b; j++)
        buf->groups[j] = d->sources ? d->sources[idx[j]] : 0;
    *out = (glia_labelled){.in = {.n = b, .ids = buf->ids, .lengths = buf->lengths, .steps = steps},
                           .labels = buf->labels,
                           .rows = b,
                           .groups = d->sources ? buf->groups : NULL};
}

static void text_destroy(glia_source *base)
{
    text_source *s = (text_source *)base;
    free(s->order);
    bufs_free(&s->train);
    for (int i = 0; s->lane && i < s->nlanes; i++)
        bufs_free(&s->lane[i]);
    free(s->lane);
    free(s);
}

static glia_status text_begin(glia_source *base, const glia_batch_policy *policy, glia_err *err)
{
    text_source *s = (text_source *)base;
    const glia_text_data *train = s->split[GLIA_SPLIT_TRAIN];
    const int maxb = glia_batch_max(policy);
    s->base.train = (glia_ctx_spec){.max_batch = maxb, .max_steps = train->max_len, .training = 1};
    s->base.train_rows = (size_t)maxb;
    if (!(s->order = malloc(sizeof(uint32_t) * (size_t)(train->n > 0 ? train->n : 1))))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for training buffers");
    return bufs_new(&s->train, maxb, train->max_len, err);
}

static void text_epoch(glia_source *base, glia_train_streams *rng)
{
    text_source *s = (text_source *)base;
    const int n = s->split[GLIA_SPLIT_TRAIN]->n;
    for (int i = 0; i < n; i++)
        s->order[i] = (uint32_t)i;
    glia_rng_shuffle(&rng->shuffle, s->order, (size_t)n);
    s->pos = 0;
}

static int text_next(glia_source *base, glia_train_streams *rng, glia_batch_policy *policy,
                     glia_labelled *out)
{
    text_source *s = (text_source *)base;
    const glia_text_data *train = s->split[GLIA_SPLIT_TRAIN];
    if (s->pos >= train->n)
        return 0;
    int b = glia_batch_next(policy, &rng->batch);
    if (b > train->n - s->pos)
        b = train->n - s->pos;
    text_batch(train, s->order + s->pos, b, &s->train, out);
    s->pos += b;
    return 1;
}

static glia_status text_eval_plan(glia_source *base, glia_split split, int lanes, int *nbatches,
                                  glia_ctx_spec *spec, glia_err *err)
{
    text_source *s = (text_source *)base;
    const glia_text_data *d = s->split[split];
    glia_status rc;
    *nbatches = (d->n + EVAL_BATCH - 1) / EVAL_BATCH;
    *spec = (glia_ctx_spec){.max_batch = EVAL_BATCH, .max_steps = d->max_len};
    for (int i = 0; s->lane && i < s->nlanes; i++) /* sized for the largest split: simplest kept fresh */
        bufs_free(&s->lane[i]);
    free(s->lane);
    s->nlanes = 0;
    if (!(s->lane = calloc((size_t)lanes, sizeof *s->lane)))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for evaluation buffers");
    s->nlanes = lanes;
    for (int i = 0; i < lanes; i++)
        if ((rc = bufs_new(&s->lane[i], EVAL_BATCH, d->max_len, err)))
            return rc;
    return GLIA_OK;
}

static void text_eval_batch(glia_source *base, glia_split split, int k, int lane, glia_labelled *out)
{
    text_source *s = (text_source *)base;
    const glia_text_data *d = s->split[split];
    uint32_t idx[EVAL_BATCH];
    const int pos = k * EVAL_BATCH, b = d->n - pos < EVAL_BATCH ? d->n - pos : EVAL_BATCH;
    for (int j = 0; j < b; j++)
        idx[j] = (uint32_t)(pos + j);
    text_batch(d, idx, b, &s->lane[lane], out);
}

static const glia_source_ops text_ops = {text_destroy, text_begin,     text_epoch,
                                         text_next,    text_eval_plan, text_eval_batch};

glia_status glia_text_source_new(const glia_text_data *train, const glia_text_data *val,
                                 const glia_text_data *test, int nclasses, glia_source **out, glia_err *err)
{
    const glia_text_data *split[GLIA_NSPLITS] = {train, val, test};
    *out = NULL;
    for (int i = 0; train && i < train->n; i++)
        if (train->labels[i] < 0 || train->labels[i] >= nclasses)
            return glia_err_set(err, GLIA_EINVAL,
                                "training example %d has label %d but the model has %d classes", i,
                                (int)train->labels[i], nclasses);
    text_source *s = calloc(1, sizeof *s);
    if (!s)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a batch source");
    s->base.ops = &text_ops;
    s->base.ngroups = NGROUPS;
    for (int i = 0; i < GLIA_NSPLITS; i++) {
        s->split[i] = split[i];
        s->base.examples[i] = split[i] ? (size_t)split[i]->n : 0;
    }
    *out = &s->base;
    return GLIA_OK;
}

glia_status glia_text_train(const glia_recipe *r, glia_model *model, const glia_text_data *train,
                            const glia_text_data *val, glia_progress_fn cb, void *user,
                            const atomic_int *cancel, glia_train_result *result, glia_err *err)
{
    const glia_loop_hooks hooks = {cb, user, cancel, NULL};
    return glia_text_train_hooked(r, model, train, val, &hooks, result, err);
}

glia_status glia_text_train_hooked(const glia_recipe *r, glia_model *model, const glia_text_data *train,
                                   const glia_text_data *val, const glia_loop_hooks *hooks,
                                   glia_train_result *result, glia_err *err)
{
    glia_source *src = NULL;
    memset(result, 0, sizeof *result);
    glia_status rc = glia_text_source_new(train, val, NULL, model->outputs, &src, err);
    if (rc == GLIA_OK)
        rc = glia_loop_train(r, model, src, hooks, result, err);
    glia_source_free(src);
    return rc;
}
