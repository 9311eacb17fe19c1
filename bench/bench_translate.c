/*
 * bench_translate.c - in-process speed of the translation model (core/nn/seq2seq.h): training
 * steps of a recipe and decoding with a bundle. Each subcommand prints one JSON line at the end
 * (bench/translate.py puts it next to PyTorch's figures from the same run).
 *
 *   bench_translate train RECIPE --steps N --batches OUT.safetensors [--threads T] [--limit N]
 *                         [--init W.safetensors] [--tokenizer T.bpe]
 *       glia_mt_prepare the recipe (--limit: only the first N training pairs, which also feed
 *       the tokenizer), cut the training split into batches exactly as glia_mt_train's first
 *       epoch does (pairs shuffled by the seed's shuffle stream, sorted by target then source
 *       length, cut at batch_tokens padded tokens on either side, batches shuffled by the batch
 *       stream) and keep the first N + 2. They go to OUT (per batch k: bK.src [B, S], bK.src_len
 *       [B], bK.tgt [B, T] = <s> + target, bK.tgt_len [B], bK.labels [B, T] = target + </s>
 *       padded with 0; "lr" [N + 2]: the schedule's rate at each step) so that PyTorch trains on
 *       the same batches; --init also saves the initial weights and --tokenizer the tokenizer.
 *       Then the trainer's steps run on them - forward, label-smoothed cross-entropy, backward,
 *       clip, optimizer step -, the first 2 as warm-up, the other N timed one by one. Target
 *       tokens (labels, </s> included) per second: total tokens / total time, and the median of
 *       the per-step rates.
 *       --threads: BLAS threads, as `glia train --threads` gives a translation run.
 *
 *   bench_translate decode BUNDLE --sentences FILE --beam K --batch B [--threads T]
 *                          [--max-tokens N] [--precision fp32|bf16]
 *       One sentence per line of FILE, tokenised with the bundle's tokenizer (subwords and </s>,
 *       cut at input.max_tokens keeping </s>, as the test split is), translated in batches of B
 *       consecutive lines with glia_s2s_translate (beam K; max_tokens and length_penalty from
 *       the manifest's decoding section unless --max-tokens). One untimed pass over the first
 *       batch warms up; then every batch is timed: median and mean milliseconds per batch,
 *       sentences per second over the whole file. Also the source ids, the output ids and
 *       texts, for comparing with another implementation. --threads: BLAS threads.
 */
#include "bench/bench_precision.h"
#include "bench/bench_util.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/bundle.h"
#include "core/nn/seq2seq.h"
#include "core/nn/loss.h"
#include "core/train/mttrain.h"

static const char *corename(void)
{
#ifdef HAVE_OPENBLAS_THREADS
    return openblas_get_corename();
#else
    return "unknown";
#endif
}

static void set_threads(int t)
{
#ifdef HAVE_OPENBLAS_THREADS
    openblas_set_num_threads(t);
#else
    (void)t;
#endif
}

static void json_string(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void json_ids(const int32_t *ids, int n)
{
    putchar('[');
    for (int i = 0; i < n; i++)
        printf(i ? ",%d" : "%d", ids[i]);
    putchar(']');
}

/* ---- train ---- */

/* One batch as glia_mt_train builds it (mttrain.c's gather). */
typedef struct {
    int B, S, T, rows;
    int32_t *src, *slen, *tgt, *tlen, *labels; /* labels packed: rows */
    int32_t *labels_padded;                    /* [B, T], 0 = padding */
} batch;

static void batch_free(batch *b)
{
    free(b->src);
    free(b->slen);
    free(b->tgt);
    free(b->tlen);
    free(b->labels);
    free(b->labels_padded);
}

/* Span sp's batch as the trainer builds it (glia_mt_gather), plus the labels padded to
 * [B, T] (0 = padding) for PyTorch's cross-entropy. */
static int gather(const glia_mt_data *d, const uint32_t *idx, const glia_mt_span *sp, batch *out)
{
    const int B = sp->count, S = sp->S, T = sp->T;
    out->B = B;
    out->S = S;
    out->T = T;
    out->src = calloc((size_t)B * (size_t)S, sizeof(int32_t));
    out->tgt = calloc((size_t)B * (size_t)T, sizeof(int32_t));
    out->labels_padded = calloc((size_t)B * (size_t)T, sizeof(int32_t));
    out->labels = calloc((size_t)B * (size_t)T, sizeof(int32_t));
    out->slen = calloc((size_t)B, sizeof(int32_t));
    out->tlen = calloc((size_t)B, sizeof(int32_t));
    if (!out->src || !out->tgt || !out->labels_padded || !out->labels || !out->slen || !out->tlen)
        return 1;
    out->rows = glia_mt_gather(d, idx, sp, out->src, out->slen, out->tgt, out->tlen, out->labels);
    for (int j = 0, r = 0; j < B; r += out->tlen[j], j++)
        memcpy(out->labels_padded + (size_t)j * T, out->labels + r, sizeof(int32_t) * (size_t)out->tlen[j]);
    return 0;
}

static int write_batches(const char *path, const batch *bs, int nb, const float *lrs, glia_err *err)
{
    enum { PER = 5 };
    glia_st_entry *e = calloc((size_t)nb * PER + 1, sizeof *e);
    char(*names)[32] = calloc((size_t)nb * PER + 1, sizeof *names);
    int64_t(*shapes)[2] = calloc((size_t)nb * PER + 1, sizeof *shapes);
    if (!e || !names || !shapes)
        return 1;
    size_t n = 0;
    for (int k = 0; k < nb; k++) {
        const batch *b = &bs[k];
        const struct {
            const char *what;
            const int32_t *data;
            int d0, d1;
        } t[PER] = {{"src", b->src, b->B, b->S},
                    {"src_len", b->slen, b->B, 0},
                    {"tgt", b->tgt, b->B, b->T},
                    {"tgt_len", b->tlen, b->B, 0},
                    {"labels", b->labels_padded, b->B, b->T}};
        for (int i = 0; i < PER; i++, n++) {
            snprintf(names[n], sizeof names[n], "b%d.%s", k, t[i].what);
            shapes[n][0] = t[i].d0;
            shapes[n][1] = t[i].d1;
            e[n] = (glia_st_entry){names[n], GLIA_DT_I32, t[i].d1 ? 2 : 1, shapes[n], t[i].data};
        }
    }
    shapes[n][0] = nb;
    e[n] = (glia_st_entry){"lr", GLIA_DT_F32, 1, shapes[n], lrs};
    n++;
    glia_status rc = glia_st_write(path, e, n, NULL, err);
    free(e);
    free(names);
    free(shapes);
    return rc != GLIA_OK;
}

static int cmd_train(int argc, char **argv)
{
    const char *recipe_path = NULL, *out = NULL, *init = NULL, *tok = NULL;
    int steps = 10, threads = 1;
    long limit = -1;
    for (int i = 0; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--steps") == 0)
            steps = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--batches") == 0)
            out = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--limit") == 0)
            limit = atol(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--init") == 0)
            init = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--tokenizer") == 0)
            tok = argv[++i];
        else if (!recipe_path && argv[i][0] != '-')
            recipe_path = argv[i];
        else {
            fprintf(stderr, "bench_translate: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!recipe_path || !out || steps < 1 || threads < 1 || threads > 64) {
        fprintf(stderr,
                "usage: bench_translate train RECIPE --steps N --batches OUT.safetensors [--threads T] "
                "[--limit N] [--init W.safetensors] [--tokenizer T.bpe]\n");
        return 2;
    }
    set_threads(threads);
    glia_err err = {0};
    glia_recipe r;
    glia_mt_job job;
    if (glia_recipe_load(recipe_path, &r, &err)) {
        fprintf(stderr, "bench_translate: %s\n", err.msg);
        return 1;
    }
    if (limit >= 0)
        r.limit = limit;
    r.translation.eval_limit = 1; /* the dev and test splits are not used here */
    double t_prep = bench_now();
    if (glia_mt_prepare(&r, &job, &err)) {
        fprintf(stderr, "bench_translate: %s\n", err.msg);
        return 1;
    }
    t_prep = bench_now() - t_prep;
    glia_s2s *m = job.model->impl; /* this bench times the translator's own kernels */
    const glia_mt_data *d = &job.train;
    const int V = m->cfg.vocab_size;

    /* the first epoch's batches, as glia_mt_train cuts and orders them */
    glia_rng rng_shuffle, rng_batch, rng_dropout;
    glia_train_seed_stream(&rng_shuffle, r.seed, GLIA_STREAM_SHUFFLE);
    glia_train_seed_stream(&rng_batch, r.seed, GLIA_STREAM_BATCH);
    glia_train_seed_stream(&rng_dropout, r.seed, GLIA_STREAM_DROPOUT);
    uint32_t *order = malloc(sizeof(uint32_t) * (size_t)d->n);
    uint64_t *keys = malloc(sizeof(uint64_t) * (size_t)d->n);
    glia_mt_span *spans = malloc(sizeof(glia_mt_span) * (size_t)d->n);
    uint32_t *border = malloc(sizeof(uint32_t) * (size_t)d->n);
    if (!order || !keys || !spans || !border)
        return 1;
    long tokens = r.translation.batch_tokens;
    int maxS = 1, maxT = 2;
    for (int i = 0; i < d->n; i++) {
        maxS = d->src_len[i] > maxS ? d->src_len[i] : maxS;
        maxT = d->tgt_len[i] + 1 > maxT ? d->tgt_len[i] + 1 : maxT;
    }
    if (tokens < maxS || tokens < maxT) /* as mttrain.c: one pair per batch at least */
        tokens = maxS > maxT ? maxS : maxT;
    const int nb_all = glia_mt_spans(d, &rng_shuffle, tokens, order, keys, spans);
    for (int k = 0; k < nb_all; k++)
        border[k] = (uint32_t)k;
    glia_rng_shuffle(&rng_batch, border, (size_t)nb_all);
    const int warm = 2, nb = steps + warm;
    if (nb > nb_all) {
        fprintf(stderr, "bench_translate: the first epoch has only %d batches (asked for %d + %d warm-up)\n",
                nb_all, steps, warm);
        return 1;
    }
    batch *bs = calloc((size_t)nb, sizeof *bs);
    float *lrs = malloc(sizeof(float) * (size_t)nb);
    double *rate = malloc(sizeof(double) * (size_t)nb), *secs = malloc(sizeof(double) * (size_t)nb);
    double *losses = malloc(sizeof(double) * (size_t)nb);
    if (!bs || !lrs || !rate || !secs || !losses)
        return 1;
    int max_batch = 1;
    for (int k = 0; k < nb; k++) {
        const glia_mt_span *sp = &spans[border[k]];
        if (gather(d, order + sp->start, sp, &bs[k])) {
            fprintf(stderr, "bench_translate: out of memory\n");
            return 1;
        }
        max_batch = sp->count > max_batch ? sp->count : max_batch;
        lrs[k] = glia_sched_lr(&r.sched, k, 0);
    }
    if (write_batches(out, bs, nb, lrs, &err) || (init && glia_s2s_save(m, init, NULL, &err)) ||
        (tok && glia_bpe_save(job.bpe, tok, &err))) {
        fprintf(stderr, "bench_translate: %s\n", err.msg[0] ? err.msg : "out of memory");
        return 1;
    }

    /* the trainer's step, on the same buffers it would have */
    glia_optim *opt = NULL;
    glia_s2s_ctx *ctx = NULL;
    float *dlogits = malloc(sizeof(float) * (size_t)tokens * (size_t)V);
    int mb = (int)(tokens < d->n ? tokens : d->n);
    if (!dlogits || glia_s2s_enable_grads(m, &err) ||
        glia_optim_new(&r.optim, m->params, m->nparams, &opt, &err) ||
        glia_s2s_ctx_new(m, mb > max_batch ? mb : max_batch, maxS, maxT, (size_t)tokens, 1, &ctx, &err)) {
        fprintf(stderr, "bench_translate: %s\n", err.msg[0] ? err.msg : "out of memory");
        return 1;
    }
    double total_t = 0.0;
    long total_tokens = 0;
    for (int k = 0; k < nb; k++) {
        const batch *b = &bs[k];
        const float *logits = NULL;
        int got = 0;
        double t0 = bench_now();
        if (glia_s2s_forward(m, ctx, b->src, b->slen, b->S, b->tgt, b->tlen, b->T, b->B, &rng_dropout,
                             &logits, &got, &err)) {
            fprintf(stderr, "bench_translate: %s\n", err.msg);
            return 1;
        }
        losses[k] = glia_xent(logits, b->labels, b->rows, V, r.label_smoothing, -1, dlogits, NULL);
        glia_s2s_zero_grads(m);
        glia_s2s_backward(m, ctx, dlogits, NULL);
        if (r.clip_norm > 0)
            glia_clip_grad_norm(m->grads, m->size, r.clip_norm);
        glia_optim_step(opt, lrs[k]);
        secs[k] = bench_now() - t0;
        rate[k] = b->rows / secs[k];
        if (k >= warm) {
            total_t += secs[k];
            total_tokens += b->rows;
        }
    }
    printf("{\"impl\": \"glia\", \"mode\": \"train\", \"threads\": %d, \"steps\": %d, \"warmup\": %d, "
           "\"train_pairs\": %d, \"vocab\": %d, \"parameters\": %zu, \"prepare_s\": %.2f, "
           "\"timed_tokens\": %ld, \"timed_s\": %.4f, \"tokens_per_s\": %.1f, ",
           threads, steps, warm, d->n, V, m->size, t_prep, total_tokens, total_t, total_tokens / total_t);
    const glia_s2s_config *c = &m->cfg;
    printf("\"model\": {\"vocab_size\": %d, \"d_model\": %d, \"nhead\": %d, \"num_encoder_layers\": %d, "
           "\"num_decoder_layers\": %d, \"dim_feedforward\": %d, \"dropout\": %g, \"norm_first\": %d, "
           "\"tie_embeddings\": %d, \"max_positions\": %d, \"layer_norm_eps\": %g}, ",
           c->vocab_size, c->d_model, c->nhead, c->num_encoder_layers, c->num_decoder_layers,
           c->dim_feedforward, (double)c->dropout, c->norm_first, c->tie_embeddings, c->max_positions,
           (double)c->layer_norm_eps);
    printf("\"optimizer\": {\"type\": \"%s\", \"beta1\": %.9g, \"beta2\": %.9g, \"eps\": %.9g, "
           "\"weight_decay\": %.9g}, \"label_smoothing\": %g, \"clip_grad_norm\": %g, ",
           glia_optim_kind_name(r.optim.kind), (double)r.optim.beta1, (double)r.optim.beta2,
           (double)r.optim.eps, (double)r.optim.weight_decay, (double)r.label_smoothing, (double)r.clip_norm);
    printf("\"step_tokens_per_s_median\": %.1f, \"batches\": [", bench_median(rate + warm, steps));
    for (int k = 0; k < nb; k++)
        printf("%s{\"B\": %d, \"S\": %d, \"T\": %d, \"tokens\": %d, \"ms\": %.2f, \"loss\": %.5f}",
               k ? ", " : "", bs[k].B, bs[k].S, bs[k].T, bs[k].rows, secs[k] * 1e3, losses[k]);
    printf("], \"coretype\": \"%s\"}\n", corename());
    for (int k = 0; k < nb; k++)
        batch_free(&bs[k]);
    free(bs);
    free(lrs);
    free(rate);
    free(secs);
    free(losses);
    free(dlogits);
    free(order);
    free(keys);
    free(spans);
    free(border);
    glia_optim_free(opt);
    glia_s2s_ctx_free(ctx);
    glia_mt_job_free(&job);
    return 0;
}

/* ---- decode ---- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *grown = realloc(buf, 2 * cap + 1);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static int cmd_decode(int argc, char **argv)
{
    const char *bundle = NULL, *sentences = NULL, *precision = NULL;
    int beam = 1, bsz = 1, threads = 1, max_tokens = 0;
    for (int i = 0; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--sentences") == 0)
            sentences = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--beam") == 0)
            beam = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--batch") == 0)
            bsz = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--max-tokens") == 0)
            max_tokens = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--precision") == 0)
            precision = argv[++i];
        else if (!bundle && argv[i][0] != '-')
            bundle = argv[i];
        else {
            fprintf(stderr, "bench_translate: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!bundle || !sentences || beam < 1 || beam > 64 || bsz < 1 || threads < 1 || threads > 64 ||
        max_tokens < 0) {
        fprintf(stderr,
                "usage: bench_translate decode BUNDLE --sentences FILE --beam K --batch B [--threads T] "
                "[--max-tokens N] [--precision fp32|bf16]\n");
        return 2;
    }
    set_threads(threads);
    glia_err err = {0};
    glia_bundle b;
    if (glia_bundle_load(bundle, &b, &err)) {
        fprintf(stderr, "bench_translate: %s\n", err.msg);
        return 1;
    }
    if (strcmp(b.manifest.task, "translation") != 0) {
        fprintf(stderr, "bench_translate: %s is not a translation bundle\n", bundle);
        return 1;
    }
    int prc = bench_set_precision(&b, precision, "bench_translate");
    if (prc)
        return prc;
    const glia_s2s *m = b.model->impl; /* a benchmark of this family's kernels */
    const glia_bpe *bpe = glia_tokenizer_subwords(b.tokenizer);
    glia_s2s_search opts = b.manifest.decoding;
    opts.beam_size = beam;
    if (max_tokens)
        opts.max_tokens = max_tokens;
    int max_src = b.manifest.max_tokens > 0 ? b.manifest.max_tokens : m->cfg.max_positions;
    if (max_src > m->cfg.max_positions)
        max_src = m->cfg.max_positions;

    /* the sentences: one per line, tokenised as the test split is (cut keeping </s>) */
    size_t len = 0;
    char *text = read_file(sentences, &len);
    if (!text) {
        fprintf(stderr, "bench_translate: cannot read %s\n", sentences);
        return 1;
    }
    int n = 0, cap = 0, maxS = 1;
    int32_t **src = NULL, *slen = NULL;
    glia_bpe_ids ids = {0};
    for (char *line = text; line < text + len;) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        size_t ll = end ? (size_t)(end - line) : (size_t)(text + len - line);
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            src = realloc(src, sizeof *src * (size_t)cap);
            slen = realloc(slen, sizeof *slen * (size_t)cap);
            if (!src || !slen)
                return 1;
        }
        if (glia_bpe_encode(bpe, line, ll, GLIA_BPE_ADD_EOS, &ids, &err)) {
            fprintf(stderr, "bench_translate: %s line %d: %s\n", sentences, n + 1, err.msg);
            return 1;
        }
        if (ids.n > (size_t)max_src) {
            ids.n = (size_t)max_src;
            ids.ids[ids.n - 1] = GLIA_BPE_EOS;
        }
        src[n] = malloc(sizeof(int32_t) * ids.n);
        if (!src[n])
            return 1;
        memcpy(src[n], ids.ids, sizeof(int32_t) * ids.n);
        slen[n] = (int32_t)ids.n;
        maxS = slen[n] > maxS ? slen[n] : maxS;
        n++;
        line += ll + 1;
    }
    glia_bpe_ids_free(&ids);
    if (n == 0) {
        fprintf(stderr, "bench_translate: %s has no sentences\n", sentences);
        return 1;
    }

    glia_s2s_dec *dec = NULL;
    glia_s2s_output *out = malloc(sizeof *out * (size_t)bsz);
    int32_t *pad = malloc(sizeof(int32_t) * (size_t)bsz * (size_t)maxS),
            *blen = malloc(sizeof(int32_t) * bsz);
    int32_t **res = calloc((size_t)n, sizeof *res);
    int *res_n = calloc((size_t)n, sizeof *res_n), *res_fin = calloc((size_t)n, sizeof *res_fin);
    const int nbatch = (n + bsz - 1) / bsz;
    /* wall and CPU seconds per batch: on a shared machine the wall clock also counts the time
     * other processes held the core, the CPU clock only this process's own work */
    double *bt = malloc(sizeof(double) * (size_t)nbatch), *bc = malloc(sizeof(double) * (size_t)nbatch);
    if (!out || !pad || !blen || !res || !res_n || !res_fin || !bt || !bc ||
        glia_s2s_dec_new(m, bsz, maxS, beam, &dec, &err)) {
        fprintf(stderr, "bench_translate: %s\n", err.msg[0] ? err.msg : "out of memory");
        return 1;
    }
    double total = 0.0, cpu_total = 0.0;
    long out_tokens = 0;
    for (int k = -1; k < nbatch; k++) { /* k = -1: the warm-up pass over the first batch */
        const int at = k < 0 ? 0 : k * bsz, cnt = n - at < bsz ? n - at : bsz;
        int S = 1;
        for (int j = 0; j < cnt; j++)
            S = slen[at + j] > S ? slen[at + j] : S;
        memset(pad, 0, sizeof(int32_t) * (size_t)cnt * (size_t)S);
        for (int j = 0; j < cnt; j++) {
            memcpy(pad + (size_t)j * S, src[at + j], sizeof(int32_t) * (size_t)slen[at + j]);
            blen[j] = slen[at + j];
        }
        const double t0 = bench_now(), c0 = bench_cpu_now();
        if (glia_s2s_translate(m, dec, pad, blen, cnt, S, &opts, out, &err)) {
            fprintf(stderr, "bench_translate: %s\n", err.msg);
            return 1;
        }
        const double t = bench_now() - t0, c = bench_cpu_now() - c0;
        if (k < 0)
            continue;
        bt[k] = t;
        bc[k] = c;
        total += t;
        cpu_total += c;
        for (int j = 0; j < cnt; j++) {
            res[at + j] = malloc(sizeof(int32_t) * (size_t)(out[j].n > 0 ? out[j].n : 1));
            if (!res[at + j])
                return 1;
            memcpy(res[at + j], out[j].ids, sizeof(int32_t) * (size_t)out[j].n);
            res_n[at + j] = out[j].n;
            res_fin[at + j] = out[j].finished;
            out_tokens += out[j].n;
        }
    }
    const double mean_ms = total / nbatch * 1e3;
    printf(
        "{\"impl\": \"glia\", \"mode\": \"decode\", \"threads\": %d, \"beam\": %d, \"batch\": %d, "
        "\"sentences\": %d, \"max_tokens\": %d, \"length_penalty\": %g, \"no_repeat_ngram\": %d, "
        "\"max_positions\": %d, \"max_src\": %d, "
        "\"batch_ms_median\": %.4f, \"batch_ms_mean\": %.4f, \"total_s\": %.4f, \"sentences_per_s\": %.2f, "
        "\"cpu_batch_ms_median\": %.4f, \"cpu_total_s\": %.4f, "
        "\"output_tokens\": %ld, \"coretype\": \"%s\", \"precision\": \"%s\", \"model\": {\"vocab_size\": "
        "%d, \"d_model\": %d, "
        "\"dim_feedforward\": %d, \"num_encoder_layers\": %d, \"num_decoder_layers\": %d}, \"src\": [",
        threads, beam, bsz, n, opts.max_tokens, (double)opts.length_penalty, opts.no_repeat_ngram,
        m->cfg.max_positions, max_src, bench_median(bt, nbatch) * 1e3, mean_ms, total, n / total,
        bench_median(bc, nbatch) * 1e3, cpu_total, out_tokens, corename(),
        glia_precision_name(b.model->precision), m->cfg.vocab_size, m->cfg.d_model, m->cfg.dim_feedforward,
        m->cfg.num_encoder_layers, m->cfg.num_decoder_layers);
    for (int i = 0; i < n; i++) {
        if (i)
            printf(", ");
        json_ids(src[i], slen[i]);
    }
    printf("], \"out\": [");
    for (int i = 0; i < n; i++) {
        if (i)
            printf(", ");
        json_ids(res[i], res_n[i]);
    }
    printf("], \"finished\": [");
    for (int i = 0; i < n; i++)
        printf(i ? ",%d" : "%d", res_fin[i]);
    printf("], \"text\": [");
    for (int i = 0; i < n; i++) {
        char *t = NULL;
        size_t tl = 0;
        if (glia_bpe_decode(bpe, res[i], (size_t)res_n[i], &t, &tl, &err)) {
            fprintf(stderr, "bench_translate: %s\n", err.msg);
            return 1;
        }
        if (i)
            printf(", ");
        json_string(t, tl);
        free(t);
    }
    printf("]}\n");
    for (int i = 0; i < n; i++) {
        free(src[i]);
        free(res[i]);
    }
    free(src);
    free(slen);
    free(res);
    free(res_n);
    free(res_fin);
    free(bt);
    free(bc);
    free(out);
    free(pad);
    free(blen);
    free(text);
    glia_s2s_dec_free(dec);
    glia_bundle_free(&b);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "train") == 0)
        return cmd_train(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "decode") == 0)
        return cmd_decode(argc - 2, argv + 2);
    fprintf(stderr,
            "usage: bench_translate train RECIPE --steps N --batches OUT.safetensors [--threads T]\n"
            "       bench_translate decode BUNDLE --sentences FILE --beam K --batch B [--threads T]\n");
    return 2;
}
