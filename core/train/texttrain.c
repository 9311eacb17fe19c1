/*
 * texttrain.c - see texttrain.h.
 *
 * One thread: the UCI sentences are ~2,400 short texts, an epoch of the shipped model
 * takes about a second, and a single stream keeps runs reproducible bit for bit without
 * the lane bookkeeping trainer.c needs for images.
 */
#include "core/train/texttrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/kernels.h"
#include "core/nn/loss.h"
#include "core/train/word2vec.h"
#include "core/train/checkpoint.h"

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
    glia_textnet_free(job->net);
    glia_vocab_free(job->vocab);
    glia_uci_free(&job->set);
    glia_manifest_free(&job->manifest);
    memset(job, 0, sizeof *job);
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
    if (m->kind != GLIA_MODEL_TEXT || strcmp(r->dataset, "uci-sentiment") != 0) {
        rc = glia_err_set(err, GLIA_EINVAL, "%s: a %s model cannot be trained on data set %s", r->path,
                          m->task, r->dataset);
        goto fail;
    }
    if (m->text.lexicon_features != r->nlexicons) {
        rc = glia_err_set(err, GLIA_EINVAL,
                          "%s: the manifest's lexicon has %d features but the recipe lists %d lexicon files",
                          r->path, m->text.lexicon_features, r->nlexicons);
        goto fail;
    }
    if ((rc = r->dataset_file[0]
                  ? glia_uci_load_jsonl(r->dataset_file, m->labels, m->nlabels, &job->set, err)
                  : glia_uci_load(r->dataset_path[0] ? r->dataset_path : glia_uci_default_dir(), &job->set,
                                  err)) ||
        (rc = glia_uci_texts(&job->set, GLIA_UCI_TRAIN, &texts, &ntexts, err)) ||
        (rc = glia_vocab_build(texts, ntexts, (size_t)r->vocab_min_count, (size_t)r->vocab_max_size,
                               &job->vocab, err)))
        goto fail;
    glia_textnet_config cfg = m->text;
    cfg.vocab_size = (int)glia_vocab_size(job->vocab);
    if (m->text.vocab_size && m->text.vocab_size != cfg.vocab_size) {
        rc = glia_err_set(
            err, GLIA_EINVAL,
            "%s: embedding.num_embeddings is %d but the vocabulary built from the train split has %d "
            "tokens (leave num_embeddings out to follow the vocabulary)",
            m->path, m->text.vocab_size, cfg.vocab_size);
        goto fail;
    }
    if ((rc = glia_textnet_new(&cfg, &job->net, err)))
        goto fail;
    glia_rng init;
    glia_train_seed_stream(&init, r->seed, GLIA_STREAM_INIT);
    glia_textnet_reset(job->net, &init);
    if (r->embedding_init_std > 0) { /* N(0, 1) draws scaled: N(0, std), padding row still 0 */
        glia_param *w = &job->net->embedding.weight;
        for (size_t i = 0; i < w->size; i++)
            w->value[i] *= r->embedding_init_std;
    }
    if (cfg.lexicon_features > 0) {
        float *table = (float *)glia_textnet_find_param(job->net, "lexicon.weight")->value;
        if ((rc =
                 glia_lexicon_table(r->lexicons, r->nlexicons, job->vocab, table, job->lexicon_matched, err)))
            goto fail;
    }
    if (r->pretrained[0] && (rc = glia_w2v_apply(r->pretrained, job->vocab, job->net->embedding.weight.value,
                                                 cfg.embedding_dim, &job->pretrained_found, err))) {
        glia_err_prefix(err, "%s: embedding.pretrained", r->path);
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

enum { EVAL_BATCH = 128 };

glia_status glia_text_evaluate(const glia_textnet *net, const glia_text_data *d, double *loss,
                               double *accuracy, double *per_source, glia_err *err)
{
    glia_textnet_ctx *ctx = NULL;
    const int k = net->cfg.num_classes;
    int32_t *ids = malloc(sizeof(int32_t) * EVAL_BATCH * (size_t)(d->max_len > 0 ? d->max_len : 1));
    int32_t lengths[EVAL_BATCH], labels[EVAL_BATCH];
    uint32_t idx[EVAL_BATCH];
    size_t right = 0, src_n[GLIA_UCI_NSOURCES] = {0}, src_right[GLIA_UCI_NSOURCES] = {0};
    double loss_sum = 0.0;
    glia_status rc = GLIA_OK;
    if (!ids)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory evaluating");
    if (d->n > 0 && (rc = glia_textnet_ctx_new(net, EVAL_BATCH, d->max_len, 0, &ctx, err)))
        goto done;
    for (int pos = 0; pos < d->n; pos += EVAL_BATCH) {
        int b = d->n - pos < EVAL_BATCH ? d->n - pos : EVAL_BATCH;
        for (int j = 0; j < b; j++)
            idx[j] = (uint32_t)(pos + j);
        int steps = gather(d, idx, b, ids, lengths, labels);
        const float *logits = NULL;
        if ((rc = glia_textnet_forward(net, ctx, ids, lengths, b, steps, NULL, &logits, err)))
            goto done;
        loss_sum += glia_xent(logits, labels, b, k, 0.0f, -1, NULL, NULL) * b;
        for (int j = 0; j < b; j++) {
            int ok = glia_argmax(logits + (size_t)j * k, k) == labels[j];
            int s = d->sources ? d->sources[pos + j] : 0;
            right += (size_t)ok;
            if (s < GLIA_UCI_NSOURCES) {
                src_n[s]++;
                src_right[s] += (size_t)ok;
            }
        }
    }
    if (loss)
        *loss = d->n ? loss_sum / d->n : 0.0;
    if (accuracy)
        *accuracy = d->n ? (double)right / d->n : 0.0;
    for (int s = 0; per_source && s < GLIA_UCI_NSOURCES; s++)
        per_source[s] = src_n[s] ? (double)src_right[s] / (double)src_n[s] : -1.0;
done:
    glia_textnet_ctx_free(ctx);
    free(ids);
    return rc;
}

/* ---- the loop ---- */

glia_status glia_text_train(const glia_recipe *r, glia_textnet *net, const glia_text_data *train,
                            const glia_text_data *val, glia_progress_fn cb, void *user,
                            const atomic_int *cancel, glia_train_result *result, glia_err *err)
{
    glia_status rc = GLIA_OK;
    glia_optim *opt = NULL;
    glia_textnet_ctx *ctx = NULL;
    glia_batch_policy policy;
    glia_rng rng_shuffle, rng_batch, rng_dropout;
    int32_t *ids = NULL, *lengths = NULL, *labels = NULL;
    float *dlogits = NULL, *best = NULL;
    uint32_t *order = NULL;
    const int k = net->cfg.num_classes;

    memset(result, 0, sizeof *result);
    if (train->n == 0)
        return glia_err_set(err, GLIA_EINVAL, "the training split is empty");
    for (int i = 0; i < train->n; i++)
        if (train->labels[i] < 0 || train->labels[i] >= k)
            return glia_err_set(err, GLIA_EINVAL,
                                "training example %d has label %d but the model has %d classes", i,
                                (int)train->labels[i], k);
    glia_train_seed_stream(&rng_shuffle, r->seed, GLIA_STREAM_SHUFFLE);
    glia_train_seed_stream(&rng_batch, r->seed, GLIA_STREAM_BATCH);
    glia_train_seed_stream(&rng_dropout, r->seed, GLIA_STREAM_DROPOUT);
    if ((rc = glia_batch_init(&policy, &r->batch, err)) || (rc = glia_textnet_enable_grads(net, err)))
        return rc;
    const int maxb = glia_batch_max(&policy);
    if ((rc = glia_optim_new(&r->optim, net->trainable, net->ntrainable, &opt, err)) ||
        (rc = glia_textnet_ctx_new(net, maxb, train->max_len, 1, &ctx, err)))
        goto done;
    ids = malloc(sizeof(int32_t) * (size_t)maxb * (size_t)train->max_len);
    lengths = malloc(sizeof(int32_t) * (size_t)maxb);
    labels = malloc(sizeof(int32_t) * (size_t)maxb);
    dlogits = malloc(sizeof(float) * (size_t)maxb * (size_t)k);
    order = malloc(sizeof(uint32_t) * (size_t)train->n);
    best = malloc(sizeof(float) * net->size);
    if (!ids || !lengths || !labels || !dlogits || !order || !best) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for training buffers");
        goto done;
    }
    double t0 = glia_train_clock(), earlier = 0.0;
    long step = 0;
    int first_epoch = 0, resumed = 0;
    result->best_val_accuracy = -1.0;
    glia_ckpt_model ck = {net->params, net->nparams, net->values, best, opt, net->trainable, net->ntrainable};
    glia_ckpt_state st = {.nlanes = 1, .policy = policy};
    if ((rc = glia_ckpt_resume(r, &st, &ck, &resumed, err)))
        goto done;
    if (resumed) {
        rng_shuffle = st.shuffle;
        rng_batch = st.batch;
        rng_dropout = st.dropout[0];
        policy = st.policy;
        step = st.step;
        first_epoch = st.epoch;
        earlier = st.seconds;
        result->best_epoch = st.best_epoch;
        result->best_val_accuracy = st.best_val_accuracy;
    }
    for (int epoch = first_epoch; epoch < r->epochs; epoch++) {
        double te = glia_train_clock(), loss_sum = 0.0;
        size_t right = 0;
        for (int i = 0; i < train->n; i++)
            order[i] = (uint32_t)i;
        glia_rng_shuffle(&rng_shuffle, order, (size_t)train->n);
        float lr = 0.0f;
        int last_b = 0;
        for (int pos = 0; pos < train->n;) {
            if ((rc = glia_train_should_stop(r, cancel, epoch, step, err)))
                goto done;
            int b = glia_batch_next(&policy, &rng_batch);
            if (b > train->n - pos)
                b = train->n - pos;
            int steps = gather(train, order + pos, b, ids, lengths, labels);
            const float *logits = NULL;
            if ((rc = glia_textnet_forward(net, ctx, ids, lengths, b, steps, &rng_dropout, &logits, err)))
                goto done;
            double loss = glia_xent(logits, labels, b, k, r->label_smoothing, -1, dlogits, NULL);
            if (!isfinite(loss)) {
                rc = glia_err_set(
                    err, GLIA_EINVAL,
                    "the loss became %g at epoch %d, step %ld: lower the learning rate or enable "
                    "clip_grad_norm",
                    loss, epoch + 1, step);
                goto done;
            }
            for (int j = 0; j < b; j++)
                right += glia_argmax(logits + (size_t)j * k, k) == labels[j];
            loss_sum += loss * b;
            glia_textnet_zero_grads(net);
            glia_textnet_backward(net, ctx, dlogits);
            if (r->clip_norm > 0)
                glia_clip_grad_norm(net->grads, net->size, r->clip_norm);
            lr = glia_sched_lr(&r->sched, step, epoch);
            glia_optim_step(opt, lr);
            step++;
            pos += b;
            last_b = b;
        }
        glia_epoch_tally tally = {loss_sum, right, (size_t)train->n, te, last_b, lr};
        glia_progress p = glia_train_progress(r, epoch, step, &tally);
        int has_val = val && val->n;
        if (has_val && (rc = glia_text_evaluate(net, val, &p.val_loss, &p.val_accuracy, NULL, err)))
            goto done;
        glia_train_epoch_done(&p, has_val, &policy, net->values, best, net->size, t0, result);
        st.shuffle = rng_shuffle;
        st.batch = rng_batch;
        st.dropout[0] = rng_dropout;
        if ((rc = glia_ckpt_after_epoch(r, &st, epoch + 1, step, earlier + glia_train_clock() - t0, &policy,
                                        result, &ck, err)) ||
            (rc = glia_train_report(&p, cb, user, err)))
            goto done;
    }
    if (r->select_best && result->best_epoch > 0)
        memcpy(net->values, best, sizeof(float) * net->size);
    result->seconds = earlier + glia_train_clock() - t0;
    result->steps = step;
done:
    glia_optim_free(opt);
    glia_textnet_ctx_free(ctx);
    free(ids);
    free(lengths);
    free(labels);
    free(dlogits);
    free(order);
    free(best);
    return rc;
}
