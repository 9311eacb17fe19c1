/*
 * mttrain.c - see mttrain.h.
 *
 * One thread drives the loop; the GEMMs inside the model use the BLAS threads the caller
 * set. Pairs are bucketed by length because gettext messages run from one word to forty:
 * random batches would pad most rows to the longest message and waste most of the work.
 */
#include "core/train/mttrain.h"
#include "core/text/detok.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/data/catalog.h"
#include "core/data/helpdocs.h"

/* ---- encoded data ---- */

void glia_mt_data_free(glia_mt_data *d)
{
    free(d->src_off);
    free(d->src_len);
    free(d->tgt_off);
    free(d->tgt_len);
    free(d->pair);
    free(d->ids);
    memset(d, 0, sizeof *d);
}

static glia_status push_ids(glia_mt_data *d, size_t *cap, const int32_t *ids, size_t n, glia_err *err)
{
    if (d->nids + n > *cap) {
        size_t c = *cap ? *cap : 1 << 16;
        while (c < d->nids + n)
            c *= 2;
        int32_t *grown = realloc(d->ids, c * sizeof *grown);
        if (!grown)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory encoding pairs");
        d->ids = grown;
        *cap = c;
    }
    memcpy(d->ids + d->nids, ids, n * sizeof *ids);
    d->nids += n;
    return GLIA_OK;
}

glia_status glia_mt_data_encode(const glia_gt_set *set, glia_gt_split split, const glia_bpe *bpe, int max_src,
                                int max_positions, int drop, long limit, glia_mt_data *out, glia_err *err)
{
    glia_status rc = GLIA_OK;
    glia_bpe_ids s = {0}, t = {0};
    size_t n = 0, cap = 0;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < set->n; i++)
        n += set->pairs[i].split == split;
    if (limit > 0 && (size_t)limit < n)
        n = (size_t)limit;
    out->src_off = malloc((n + 1) * sizeof(int32_t));
    out->src_len = malloc((n + 1) * sizeof(int32_t));
    out->tgt_off = malloc((n + 1) * sizeof(int32_t));
    out->tgt_len = malloc((n + 1) * sizeof(int32_t));
    out->pair = malloc((n + 1) * sizeof(uint32_t));
    if (!out->src_off || !out->src_len || !out->tgt_off || !out->tgt_len || !out->pair) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory encoding %zu pairs", n);
        goto fail;
    }
    const int max_tgt = max_positions - 1; /* <s> + tokens as decoder input, tokens + </s> as labels */
    for (size_t i = 0; i < set->n && (size_t)out->n < n; i++) {
        const glia_gt_pair *p = &set->pairs[i];
        if (p->split != split)
            continue;
        if ((rc = glia_bpe_encode(bpe, p->en, p->en_len, GLIA_BPE_ADD_EOS, &s, err)) ||
            (rc = glia_bpe_encode(bpe, p->es, p->es_len, 0, &t, err))) {
            glia_err_prefix(err, "gettext pair %zu", i);
            goto fail;
        }
        if (s.n > (size_t)max_src || t.n > (size_t)max_tgt) {
            if (drop) {
                out->dropped++;
                continue;
            }
            out->truncated += s.n > (size_t)max_src;
            if (s.n > (size_t)max_src) {
                s.n = (size_t)max_src;
                s.ids[s.n - 1] = GLIA_BPE_EOS;
            }
            if (t.n > (size_t)max_tgt)
                t.n = (size_t)max_tgt;
        }
        const int k = out->n++;
        out->pair[k] = (uint32_t)i;
        out->src_off[k] = (int32_t)out->nids;
        out->src_len[k] = (int32_t)s.n;
        if ((rc = push_ids(out, &cap, s.ids, s.n, err)))
            goto fail;
        out->tgt_off[k] = (int32_t)out->nids;
        out->tgt_len[k] = (int32_t)t.n;
        if ((rc = push_ids(out, &cap, t.ids, t.n, err)))
            goto fail;
        out->src_tokens += s.n;
        out->tgt_tokens += t.n + 1;
    }
    glia_bpe_ids_free(&s);
    glia_bpe_ids_free(&t);
    return GLIA_OK;
fail:
    glia_bpe_ids_free(&s);
    glia_bpe_ids_free(&t);
    glia_mt_data_free(out);
    return rc;
}

/* ---- preparation ---- */

glia_status glia_mt_load_pairs(const glia_recipe *r, glia_gt_set *set, glia_err *err)
{
    if (r->dataset_file[0])
        return glia_gt_load_tsv(r->dataset_file, set, err);
    return glia_pairs_load(r->dataset, r->dataset_path[0] ? r->dataset_path : NULL, set, err);
}

void glia_mt_job_free(glia_mt_job *job)
{
    glia_mt_data_free(&job->train);
    glia_mt_data_free(&job->dev);
    glia_mt_data_free(&job->test);
    glia_model_free(job->model);
    glia_bpe_free(job->bpe);
    glia_gt_free(&job->set);
    glia_manifest_free(&job->manifest);
    memset(job, 0, sizeof *job);
}

glia_status glia_mt_prepare(const glia_recipe *r, glia_mt_job *job, glia_err *err)
{
    const char **texts = NULL;
    size_t *lens = NULL, nt = 0;
    glia_manifest init = {0}; /* init.bundle's manifest */
    glia_st_file *st = NULL;
    glia_status rc;
    memset(job, 0, sizeof *job);
    if ((rc = glia_manifest_load(r->model, &job->manifest, err)))
        return rc;
    const glia_manifest *m = &job->manifest;
    const glia_data_set *takes = glia_data_for_model(glia_model_family(m->task)),
                        *data = glia_data_find(r->dataset);
    if (!takes || takes->kind != GLIA_DATA_PAIRS || !data || data->kind != GLIA_DATA_PAIRS) {
        rc = glia_err_set(err, GLIA_EINVAL, "%s: a %s model cannot be trained on data set %s", r->path,
                          m->task, r->dataset);
        goto fail;
    }
    if ((rc = glia_mt_load_pairs(r, &job->set, err)))
        goto fail;
    /* the tokenizer learns from the pairs the model trains on: both sides of the train split */
    texts = malloc(2 * job->set.n * sizeof *texts + 1);
    lens = malloc(2 * job->set.n * sizeof *lens + 1);
    if (!texts || !lens) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for the tokenizer's texts");
        goto fail;
    }
    size_t kept = 0;
    for (size_t i = 0; i < job->set.n; i++) {
        const glia_gt_pair *p = &job->set.pairs[i];
        if (p->split != GLIA_GT_TRAIN || (r->limit > 0 && kept >= (size_t)r->limit))
            continue;
        kept++;
        texts[nt] = p->en;
        lens[nt++] = p->en_len;
        texts[nt] = p->es;
        lens[nt++] = p->es_len;
    }
    glia_bpe_opts bo = glia_bpe_defaults();
    bo.vocab_size = (size_t)r->translation.bpe_vocab_size;
    bo.min_pair_count = (size_t)r->translation.bpe_min_pair_count;
    if (r->translation.init_bundle[0]) { /* fine-tuning: the bundle's tokenizer, as it is */
        char mpath[GLIA_PATH_MAX + 16];
        struct stat sb;
        snprintf(mpath, sizeof mpath, "%s%s", r->translation.init_bundle,
                 stat(r->translation.init_bundle, &sb) == 0 && S_ISDIR(sb.st_mode) ? "/model.yaml" : "");
        if ((rc = glia_manifest_load(mpath, &init, err)) ||
            (rc = glia_bpe_load(init.tokenizer, &job->bpe, err))) {
            glia_err_prefix(err, "%s: init.bundle", r->path);
            goto fail;
        }
    } else if ((rc = glia_bpe_learn(texts, lens, nt, &bo, &job->bpe, err))) {
        glia_err_prefix(err, "%s: tokenizer", r->path);
        goto fail;
    }
    const int vocab_size = (int)glia_bpe_size(job->bpe);
    if (m->s2s.vocab_size && m->s2s.vocab_size != vocab_size) {
        rc = glia_err_set(
            err, GLIA_EINVAL,
            "%s: architecture.vocab_size is %d but the tokenizer learned from the train split has %d "
            "ids (leave vocab_size out to follow the tokenizer)",
            m->path, m->s2s.vocab_size, vocab_size);
        goto fail;
    }
    job->manifest.s2s.vocab_size = vocab_size;
    if ((rc = glia_model_new(m, &job->model, err)))
        goto fail;
    glia_rng init_rng;
    glia_train_seed_stream(&init_rng, r->seed, GLIA_STREAM_INIT);
    job->model->ops->reset(job->model, &init_rng);
    if (r->translation.init_bundle[0]) { /* every parameter from the bundle, shapes checked strictly */
        if ((rc = glia_st_open(init.weights, &st, err)) ||
            (rc = job->model->ops->load(job->model, st, err))) {
            glia_err_prefix(err, "%s: init.bundle %s", r->path, init.weights);
            goto fail;
        }
    }
    const int P = m->s2s.max_positions, src_max = m->max_tokens;
    if ((rc = glia_mt_data_encode(&job->set, GLIA_GT_TRAIN, job->bpe, src_max, P, 1, r->limit, &job->train,
                                  err)) ||
        (rc = glia_mt_data_encode(&job->set, GLIA_GT_DEV, job->bpe, src_max, P, 0, r->translation.eval_limit,
                                  &job->dev, err)) ||
        (rc = glia_mt_data_encode(&job->set, GLIA_GT_TEST, job->bpe, src_max, P, 0, r->translation.eval_limit,
                                  &job->test, err)))
        goto fail;
    free(texts);
    free(lens);
    glia_st_close(st);
    glia_manifest_free(&init);
    return GLIA_OK;
fail:
    free(texts);
    free(lens);
    glia_st_close(st);
    glia_manifest_free(&init);
    glia_mt_job_free(job);
    return rc;
}

/* ---- batches ---- */

static int cmp_u64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* order: every pair of d once, by target length, then source length, then position in
 * `order` as given (a shuffle breaks the ties). keys: d->n scratch words. */
static void sort_by_length(const glia_mt_data *d, uint32_t *order, uint64_t *keys)
{
    for (int k = 0; k < d->n; k++) {
        const uint32_t p = order[k];
        keys[k] = (uint64_t)d->tgt_len[p] << 48 | (uint64_t)d->src_len[p] << 32 | (uint32_t)k;
    }
    qsort(keys, (size_t)d->n, sizeof *keys, cmp_u64);
    for (int k = 0; k < d->n; k++) /* reuse the low words as the new order */
        keys[k] = order[keys[k] & 0xffffffffu];
    for (int k = 0; k < d->n; k++)
        order[k] = (uint32_t)keys[k];
}

int glia_mt_spans(const glia_mt_data *d, glia_rng *rng, long tokens, uint32_t *order, uint64_t *keys,
                  glia_mt_span *spans)
{
    for (int i = 0; i < d->n; i++)
        order[i] = (uint32_t)i;
    if (rng)
        glia_rng_shuffle(rng, order, (size_t)d->n);
    sort_by_length(d, order, keys);
    int nb = 0;
    for (int i = 0; i < d->n;) {
        glia_mt_span sp = {i, 0, 0, 0};
        while (i < d->n) {
            const uint32_t p = order[i];
            int S = sp.S > d->src_len[p] ? sp.S : d->src_len[p];
            int T = sp.T > d->tgt_len[p] + 1 ? sp.T : d->tgt_len[p] + 1;
            long c = sp.count + 1;
            if (sp.count > 0 && (c * S > tokens || c * T > tokens))
                break;
            sp.S = S;
            sp.T = T;
            sp.count++;
            i++;
        }
        spans[nb++] = sp;
    }
    return nb;
}

int glia_mt_gather(const glia_mt_data *d, const uint32_t *idx, const glia_mt_span *sp, int32_t *src,
                   int32_t *slen, int32_t *tgt, int32_t *tlen, int32_t *labels)
{
    int rows = 0;
    memset(src, 0, sizeof(int32_t) * (size_t)sp->count * (size_t)sp->S);
    memset(tgt, 0, sizeof(int32_t) * (size_t)sp->count * (size_t)sp->T);
    for (int j = 0; j < sp->count; j++) {
        const uint32_t p = idx[j];
        const int32_t *s = d->ids + d->src_off[p], *t = d->ids + d->tgt_off[p];
        const int n = d->tgt_len[p];
        memcpy(src + (size_t)j * (size_t)sp->S, s, sizeof(int32_t) * (size_t)d->src_len[p]);
        slen[j] = d->src_len[p];
        int32_t *row = tgt + (size_t)j * (size_t)sp->T;
        row[0] = GLIA_BPE_BOS;
        memcpy(row + 1, t, sizeof(int32_t) * (size_t)n);
        tlen[j] = n + 1;
        memcpy(labels + rows, t, sizeof(int32_t) * (size_t)n);
        labels[rows + n] = GLIA_BPE_EOS;
        rows += n + 1;
    }
    return rows;
}

/* Buffers for batches of d under a token budget. */
typedef struct {
    uint32_t *order;
    uint64_t *keys;
    glia_mt_span *spans;
    int32_t *src, *tgt, *slen, *tlen, *labels;
    int max_batch, max_S, max_T;
} batch_bufs;

static void bufs_free(batch_bufs *b)
{
    free(b->order);
    free(b->keys);
    free(b->spans);
    free(b->src);
    free(b->tgt);
    free(b->slen);
    free(b->tlen);
    free(b->labels);
    memset(b, 0, sizeof *b);
}

static glia_status bufs_new(const glia_mt_data *d, long tokens, batch_bufs *b, glia_err *err)
{
    memset(b, 0, sizeof *b);
    int maxS = 1, maxT = 2;
    for (int i = 0; i < d->n; i++) {
        maxS = d->src_len[i] > maxS ? d->src_len[i] : maxS;
        maxT = d->tgt_len[i] + 1 > maxT ? d->tgt_len[i] + 1 : maxT;
    }
    if (tokens < maxS || tokens < maxT)
        tokens = maxS > maxT ? maxS : maxT; /* one pair per batch at least */
    b->max_batch = (int)(tokens < d->n ? tokens : (d->n > 0 ? d->n : 1));
    b->max_S = maxS;
    b->max_T = maxT;
    const size_t n = (size_t)(d->n > 0 ? d->n : 1), B = (size_t)b->max_batch;
    b->order = malloc(n * sizeof(uint32_t));
    b->keys = malloc(n * sizeof(uint64_t));
    b->spans = malloc(n * sizeof(glia_mt_span));
    b->src = malloc((size_t)tokens * sizeof(int32_t) + B * sizeof(int32_t));
    b->tgt = malloc((size_t)tokens * sizeof(int32_t) + B * sizeof(int32_t));
    b->slen = malloc(B * sizeof(int32_t));
    b->tlen = malloc(B * sizeof(int32_t));
    b->labels = malloc((size_t)tokens * sizeof(int32_t) + B * sizeof(int32_t));
    if (!b->order || !b->keys || !b->spans || !b->src || !b->tgt || !b->slen || !b->tlen || !b->labels) {
        bufs_free(b);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for batches of %ld tokens", tokens);
    }
    return GLIA_OK;
}

/* ---- translating a data set ---- */

glia_status glia_mt_translate_data(const glia_model *model, const glia_bpe *bpe, const glia_mt_data *d,
                                   const glia_decode_opts *opts, int batch, glia_mt_emit_fn emit, void *user,
                                   glia_err *err)
{
    glia_status rc = GLIA_OK;
    glia_model_ctx *ctx = NULL;
    glia_sequence *seqs = NULL;
    uint32_t *order = NULL;
    uint64_t *keys = NULL;
    int32_t *src = NULL, *slen = NULL;
    char **texts = NULL;
    size_t *tlens = NULL;
    char *finished = NULL;
    if (d->n == 0)
        return GLIA_OK;
    int maxS = 1;
    for (int i = 0; i < d->n; i++)
        maxS = d->src_len[i] > maxS ? d->src_len[i] : maxS;
    if (batch < 1)
        batch = 1;
    order = malloc(sizeof(uint32_t) * (size_t)d->n);
    keys = malloc(sizeof(uint64_t) * (size_t)d->n);
    seqs = malloc(sizeof *seqs * (size_t)batch);
    src = malloc(sizeof(int32_t) * (size_t)batch * (size_t)maxS);
    slen = malloc(sizeof(int32_t) * (size_t)batch);
    texts = calloc((size_t)d->n, sizeof *texts);
    tlens = calloc((size_t)d->n, sizeof *tlens);
    finished = calloc((size_t)d->n, 1);
    if (!order || !keys || !seqs || !src || !slen || !texts || !tlens || !finished) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory translating %d sentences", d->n);
        goto done;
    }
    /* decoder rows for `batch` inputs of beam_size hypotheses each: one predict per batch */
    const glia_ctx_spec spec = {
        .max_batch = batch * opts->beam_size, .max_steps = maxS, .max_beam = opts->beam_size};
    if ((rc = model->ops->ctx_new(model, &spec, &ctx, err)))
        goto done;
    /* sources sorted by length: a batch's members finish at similar steps */
    for (int i = 0; i < d->n; i++)
        order[i] = (uint32_t)i;
    sort_by_length(d, order, keys);
    for (int at = 0; at < d->n; at += batch) {
        const int n = d->n - at < batch ? d->n - at : batch;
        int S = 1;
        for (int j = 0; j < n; j++)
            S = d->src_len[order[at + j]] > S ? d->src_len[order[at + j]] : S;
        GLIA_ASSERT(n >= 1 && n <= batch && S <= maxS);
        memset(src, 0, sizeof(int32_t) * (size_t)n * (size_t)S);
        for (int j = 0; j < n; j++) {
            const uint32_t p = order[at + j];
            memcpy(src + (size_t)j * (size_t)S, d->ids + d->src_off[p],
                   sizeof(int32_t) * (size_t)d->src_len[p]);
            slen[j] = d->src_len[p];
        }
        const glia_batch in = {.n = n, .ids = src, .lengths = slen, .steps = S, .decode = *opts};
        glia_prediction pred = {.seqs = seqs};
        if ((rc = model->ops->predict(model, ctx, &in, &pred, err)))
            goto done;
        for (int j = 0; j < n; j++) {
            const uint32_t p = order[at + j];
            char *source = NULL;
            size_t source_len = 0;
            if ((rc = glia_bpe_decode(bpe, seqs[j].ids, (size_t)seqs[j].n, &texts[p], &tlens[p], err)) ||
                (rc = glia_bpe_decode(bpe, d->ids + d->src_off[p], (size_t)d->src_len[p], &source,
                                      &source_len, err)))
                goto done;
            tlens[p] = glia_detok_tidy(source, source_len, texts[p], tlens[p]);
            free(source);
            finished[p] = (char)seqs[j].finished;
        }
    }
    for (int i = 0; i < d->n; i++)
        if ((rc = emit(i, texts[i], tlens[i], finished[i], user, err)))
            goto done;
done:
    for (int i = 0; texts && i < d->n; i++)
        free(texts[i]);
    free(texts);
    free(tlens);
    free(finished);
    if (ctx)
        model->ops->ctx_free(ctx);
    free(seqs);
    free(order);
    free(keys);
    free(src);
    free(slen);
    return rc;
}

/* ---- the batch source ---- */

/* Where one reader gathers a batch: padded sources and decoder inputs, lengths, labels. */
typedef struct {
    int32_t *src, *tgt, *slen, *tlen, *labels;
} gather_bufs;

/* A split cut into spans, and a gather buffer per reader. */
typedef struct {
    batch_bufs plan; /* order, keys, spans and the largest batch */
    int nspans;
    gather_bufs *readers;
    int nreaders;
} split_plan;

typedef struct {
    glia_source base;
    const glia_mt_data *split[GLIA_NSPLITS];
    long batch_tokens;
    split_plan train, eval;
    uint32_t *border; /* the epoch's order of the training spans */
    int next;
} mt_source;

static void plan_free(split_plan *p)
{
    for (int i = 0; p->readers && i < p->nreaders; i++) {
        free(p->readers[i].src);
        free(p->readers[i].tgt);
        free(p->readers[i].slen);
        free(p->readers[i].tlen);
        free(p->readers[i].labels);
    }
    free(p->readers);
    bufs_free(&p->plan);
    memset(p, 0, sizeof *p);
}

/* Spans of d under `tokens`, and `readers` gather buffers (the plan's own first). */
static glia_status plan_new(const glia_mt_data *d, long tokens, int readers, split_plan *p, glia_err *err)
{
    glia_status rc = bufs_new(d, tokens, &p->plan, err);
    if (rc)
        return rc;
    if (!(p->readers = calloc((size_t)readers, sizeof *p->readers)))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for batches");
    p->nreaders = readers;
    p->readers[0] = (gather_bufs){p->plan.src, p->plan.tgt, p->plan.slen, p->plan.tlen, p->plan.labels};
    p->plan.src = p->plan.tgt = p->plan.slen = p->plan.tlen = p->plan.labels = NULL;
    for (int i = 1; i < readers; i++) {
        batch_bufs b;
        if ((rc = bufs_new(d, tokens, &b, err)))
            return rc;
        p->readers[i] = (gather_bufs){b.src, b.tgt, b.slen, b.tlen, b.labels};
        b.src = b.tgt = b.slen = b.tlen = b.labels = NULL;
        bufs_free(&b);
    }
    return GLIA_OK;
}

static void span_batch(const glia_mt_data *d, const split_plan *p, int k, int reader, glia_labelled *out)
{
    const glia_mt_span *sp = &p->plan.spans[k];
    const gather_bufs *g = &p->readers[reader];
    const int rows =
        glia_mt_gather(d, p->plan.order + sp->start, sp, g->src, g->slen, g->tgt, g->tlen, g->labels);
    *out = (glia_labelled){.in = {.n = sp->count,
                                  .ids = g->src,
                                  .lengths = g->slen,
                                  .steps = sp->S,
                                  .tgt = g->tgt,
                                  .tgt_lengths = g->tlen,
                                  .tgt_steps = sp->T},
                           .labels = g->labels,
                           .rows = rows};
}

static void mt_destroy(glia_source *base)
{
    mt_source *s = (mt_source *)base;
    plan_free(&s->train);
    plan_free(&s->eval);
    free(s->border);
    free(s);
}

static glia_status mt_begin(glia_source *base, const glia_batch_policy *policy, glia_err *err)
{
    mt_source *s = (mt_source *)base;
    const glia_mt_data *train = s->split[GLIA_SPLIT_TRAIN];
    (void)policy; /* batches are cut by tokens, not by the policy's sizes */
    glia_status rc = plan_new(train, s->batch_tokens, 1, &s->train, err);
    if (rc)
        return rc;
    const batch_bufs *b = &s->train.plan;
    long tokens = s->batch_tokens;
    if (tokens < b->max_S || tokens < b->max_T) /* as bufs_new: one pair per batch at least */
        tokens = b->max_S > b->max_T ? b->max_S : b->max_T;
    s->base.train = (glia_ctx_spec){.max_batch = b->max_batch,
                                    .max_steps = b->max_S,
                                    .max_tgt_steps = b->max_T,
                                    .max_tokens = (size_t)s->batch_tokens,
                                    .training = 1};
    s->base.train_rows = (size_t)tokens;
    if (!(s->border = malloc(sizeof(uint32_t) * (size_t)(train->n > 0 ? train->n : 1))))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for training buffers");
    return GLIA_OK;
}

static void mt_epoch(glia_source *base, glia_train_streams *rng)
{
    mt_source *s = (mt_source *)base;
    batch_bufs *b = &s->train.plan;
    s->train.nspans = glia_mt_spans(s->split[GLIA_SPLIT_TRAIN], &rng->shuffle, s->batch_tokens, b->order,
                                    b->keys, b->spans);
    for (int k = 0; k < s->train.nspans; k++)
        s->border[k] = (uint32_t)k;
    glia_rng_shuffle(&rng->batch, s->border, (size_t)s->train.nspans);
    s->next = 0;
}

static int mt_next(glia_source *base, glia_train_streams *rng, glia_batch_policy *policy, glia_labelled *out)
{
    mt_source *s = (mt_source *)base;
    (void)rng;
    (void)policy;
    if (s->next >= s->train.nspans)
        return 0;
    span_batch(s->split[GLIA_SPLIT_TRAIN], &s->train, (int)s->border[s->next++], 0, out);
    return 1;
}

/* evaluation batches: spans of this many padded tokens on either side */
enum { EVAL_SPAN_TOKENS = 8192 };

static glia_status mt_eval_plan(glia_source *base, glia_split split, int lanes, int *nbatches,
                                glia_ctx_spec *spec, glia_err *err)
{
    mt_source *s = (mt_source *)base;
    const glia_mt_data *d = s->split[split];
    plan_free(&s->eval);
    glia_status rc = plan_new(d, EVAL_SPAN_TOKENS, lanes, &s->eval, err);
    if (rc)
        return rc;
    const batch_bufs *b = &s->eval.plan;
    s->eval.nspans = glia_mt_spans(d, NULL, EVAL_SPAN_TOKENS, b->order, b->keys, b->spans);
    *nbatches = s->eval.nspans;
    /* max_tgt_steps without training: a teacher-forced forward that keeps nothing for backward */
    *spec = (glia_ctx_spec){.max_batch = b->max_batch,
                            .max_steps = b->max_S,
                            .max_tgt_steps = b->max_T,
                            .max_tokens = EVAL_SPAN_TOKENS};
    return GLIA_OK;
}

static void mt_eval_batch(glia_source *base, glia_split split, int k, int lane, glia_labelled *out)
{
    mt_source *s = (mt_source *)base;
    span_batch(s->split[split], &s->eval, k, lane, out);
}

static const glia_source_ops mt_ops = {mt_destroy, mt_begin, mt_epoch, mt_next, mt_eval_plan, mt_eval_batch};

glia_status glia_mt_source_new(const glia_mt_data *train, const glia_mt_data *val, const glia_mt_data *test,
                               long batch_tokens, glia_source **out, glia_err *err)
{
    const glia_mt_data *split[GLIA_NSPLITS] = {train, val, test};
    mt_source *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a batch source");
    s->base.ops = &mt_ops;
    s->batch_tokens = batch_tokens;
    for (int i = 0; i < GLIA_NSPLITS; i++) {
        s->split[i] = split[i];
        s->base.examples[i] = split[i] ? (size_t)split[i]->n : 0;
    }
    *out = &s->base;
    return GLIA_OK;
}

glia_status glia_mt_train(const glia_recipe *r, glia_model *model, const glia_mt_data *train,
                          const glia_mt_data *val, glia_progress_fn cb, void *user, const atomic_int *cancel,
                          glia_train_result *result, glia_err *err)
{
    const glia_loop_hooks hooks = {cb, user, cancel, NULL};
    return glia_mt_train_hooked(r, model, train, val, &hooks, result, err);
}

glia_status glia_mt_train_hooked(const glia_recipe *r, glia_model *model, const glia_mt_data *train,
                                 const glia_mt_data *val, const glia_loop_hooks *hooks,
                                 glia_train_result *result, glia_err *err)
{
    glia_source *src = NULL;
    memset(result, 0, sizeof *result);
    glia_status rc = glia_mt_source_new(train, val, NULL, r->translation.batch_tokens, &src, err);
    if (rc == GLIA_OK)
        rc = glia_loop_train(r, model, src, hooks, result, err);
    glia_source_free(src);
    return rc;
}
