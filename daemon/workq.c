/*
 * workq.c - see workq.h.
 *
 * One mutex guards the queue; workers sleep on `work`, the deadline thread on `tick`,
 * drain on `idle`. Items are completed (done callbacks) only with the mutex released,
 * because a callback resumes an HTTP connection and must not wait on the queue.
 */
#include "daemon/workq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"

enum {
    CTX_CACHE = 8,
    /* decoder rows (inputs x beam) one translation call runs at most: 128 rows of a
     * 256-wide, 3+3-layer model with 160 positions keep ~60 MB of keys and values */
    TRANSLATE_ROWS = 128,
};

struct workq {
    workq_config cfg;
    workq_batch_fn on_batch;
    void *user;
    pthread_mutex_t mu;
    pthread_cond_t work, tick, idle;
    workq_item *head, *tail;
    int depth, busy, draining, stopping;
    pthread_t *threads;
    int nthreads;
    pthread_t deadline_thread;
    int deadline_started;
    int joined; /* workq_stop has joined the threads */
};

double workq_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void until(struct timespec *ts, double when)
{
    ts->tv_sec = (time_t)when;
    ts->tv_nsec = (long)((when - (double)ts->tv_sec) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void unlink_item(workq *q, workq_item *prev, workq_item *it)
{
    if (prev)
        prev->next = it->next;
    else
        q->head = it->next;
    if (q->tail == it)
        q->tail = prev;
    it->next = NULL;
    q->depth--;
}

static void complete_list(workq_item *list, workq_status status)
{
    while (list) {
        workq_item *next = list->next;
        list->next = NULL;
        list->status = status;
        list->finished = workq_now();
        list->done(list);
        list = next;
    }
}

/* Moves queued items for the same model version as the batch onto the batch's tail
 * while they fit in max_batch samples. Caller holds the mutex. */
static void gather(workq *q, uint64_t id, workq_item **tail, int *samples)
{
    workq_item *prev = NULL, *it = q->head;
    while (it && *samples < q->cfg.max_batch) {
        workq_item *next = it->next;
        if (it->model->id == id && *samples + it->n <= q->cfg.max_batch) {
            unlink_item(q, prev, it);
            (*tail)->next = it;
            *tail = it;
            *samples += it->n;
        } else {
            prev = it;
        }
        it = next;
    }
}

/* A run context for one model version: glia_ctx for an image model, glia_textnet_ctx
 * (plus the int32 ids it takes) for a text model. */
typedef struct {
    uint64_t id;
    int cap;
    glia_ctx *ctx;
    glia_textnet_ctx *tctx;
    int32_t *ids, *lengths;
    glia_s2s_dec *dec; /* translation: for dec_inputs sources with beams up to dec_beam */
    int dec_inputs, dec_beam;
    int translating; /* a translation slot (dec is made per beam size on first use) */
} ctx_slot;

static void slot_clear(ctx_slot *s)
{
    glia_ctx_free(s->ctx);
    glia_textnet_ctx_free(s->tctx);
    glia_s2s_dec_free(s->dec);
    free(s->ids);
    free(s->lengths);
    memset(s, 0, sizeof *s);
}

static int slot_used(const ctx_slot *s)
{
    return s->ctx || s->tctx || s->translating;
}

typedef struct {
    workq *q;
    ctx_slot slots[CTX_CACHE];
    int next_victim;
    float *x;
    size_t x_cap;
} worker;

static ctx_slot *worker_slot(worker *w, const registry_model *m, int n)
{
    glia_err err = {0};
    int cap = n > w->q->cfg.max_batch ? n : w->q->cfg.max_batch;
    ctx_slot *s = NULL;
    for (int i = 0; i < CTX_CACHE && !s; i++)
        if (slot_used(&w->slots[i]) && w->slots[i].id == m->id)
            s = &w->slots[i];
    if (s && s->cap >= n)
        return s;
    if (!s) {
        /* an empty slot, else round-robin: old versions fall out as new ones are used */
        for (int i = 0; i < CTX_CACHE && !s; i++)
            if (!slot_used(&w->slots[i]))
                s = &w->slots[i];
        if (!s) {
            s = &w->slots[w->next_victim];
            w->next_victim = (w->next_victim + 1) % CTX_CACHE;
        }
    }
    slot_clear(s);
    glia_status rc;
    if (m->bundle.s2s) {
        const int steps = m->bundle.manifest.max_tokens;
        s->translating = 1;
        s->ids = malloc(sizeof(int32_t) * TRANSLATE_ROWS * (size_t)steps);
        s->lengths = malloc(sizeof(int32_t) * TRANSLATE_ROWS);
        rc = s->ids && s->lengths ? GLIA_OK
                                  : glia_err_set(&err, GLIA_ENOMEM, "out of memory for a translation slot");
    } else if (m->bundle.text) {
        const int steps = m->bundle.manifest.max_tokens;
        rc = glia_textnet_ctx_new(m->bundle.text, cap, steps, 0, &s->tctx, &err);
        s->ids = malloc(sizeof(int32_t) * (size_t)cap * (size_t)steps);
        s->lengths = malloc(sizeof(int32_t) * (size_t)cap);
        if (rc == GLIA_OK && (!s->ids || !s->lengths))
            rc = glia_err_set(&err, GLIA_ENOMEM, "out of memory for a text batch of %d", cap);
    } else {
        rc = glia_ctx_new(m->bundle.net, cap, 0, &s->ctx, &err);
    }
    if (rc != GLIA_OK) {
        log_error("worker: %s", err.msg);
        slot_clear(s);
        return NULL;
    }
    s->id = m->id;
    s->cap = cap;
    return s;
}

/* Runs a text model on x: `samples` rows of [length, ids...] (registry.h), packed to the
 * longest sentence of the batch. NULL (logged) if the rows are not what the codec wrote. */
static const float *run_text(ctx_slot *s, const registry_model *m, const float *x, int samples)
{
    const size_t row = m->in_floats;
    int steps = 1;
    for (int i = 0; i < samples; i++) {
        int len = (int)x[(size_t)i * row];
        s->lengths[i] = len;
        steps = len > steps ? len : steps;
    }
    for (int i = 0; i < samples; i++)
        for (int t = 0; t < steps; t++)
            s->ids[(size_t)i * steps + t] = (int32_t)x[(size_t)i * row + 1 + (size_t)t];
    const float *logits = NULL;
    glia_err err = {0};
    if (glia_textnet_forward(m->bundle.text, s->tctx, s->ids, s->lengths, samples, steps, NULL, &logits,
                             &err)) {
        log_error("worker: %s: %s", m->name, err.msg);
        return NULL;
    }
    return logits;
}

/* ---- translation: every request is answered the moment its last sentence is decoded ---- */

typedef struct {
    workq_item *item;
    int index; /* the input's position in its item */
} tr_input;

typedef struct {
    const registry_model *m;
    tr_input *inputs; /* the group being decoded */
    int *remaining;   /* per item of the batch: inputs not decided yet */
    workq_item **items;
    int nitems;
} tr_run;

static void complete_one(workq_item *it, workq_status status)
{
    it->next = NULL;
    it->status = status;
    it->finished = workq_now();
    it->done(it);
}

static int item_index(const tr_run *t, const workq_item *it)
{
    for (int i = 0; i < t->nitems; i++)
        if (t->items[i] == it)
            return i;
    return -1;
}

/* An input is decided: its row [n, finished, score, ids...] into the item's outputs, and the
 * item answered when it was its last. */
static void tr_done(void *user, int i, const glia_s2s_output *out)
{
    tr_run *t = user;
    const tr_input *in = &t->inputs[i];
    float *y = in->item->y + (size_t)in->index * t->m->out_floats;
    const int cap = (int)t->m->out_floats - 3, n = out->n < cap ? out->n : cap;
    y[0] = (float)n;
    y[1] = (float)out->finished;
    y[2] = (float)out->score;
    for (int k = 0; k < n; k++)
        y[3 + k] = (float)out->ids[k];
    const int at = item_index(t, in->item);
    if (at >= 0 && --t->remaining[at] == 0) {
        t->items[at] = NULL;
        complete_one(in->item, WORKQ_OK);
    }
}

/* Decodes the batch's sentences in groups of equal search settings (beam_size, max_tokens)
 * that fit TRANSLATE_ROWS decoder rows. Returns the sentences decoded; items left
 * unanswered on failure are completed WORKQ_ERROR by the caller (t->items not NULL). */
static int run_translation(ctx_slot *s, tr_run *t, workq_item *batch)
{
    const registry_model *m = t->m;
    const size_t row = m->in_floats;
    int total = 0, done = 0;
    for (workq_item *it = batch; it; it = it->next)
        total += it->n;
    tr_input *all = malloc(sizeof *all * (size_t)total);
    if (!all)
        return 0;
    int k = 0;
    for (workq_item *it = batch; it; it = it->next)
        for (int i = 0; i < it->n; i++)
            all[k++] = (tr_input){it, i};
    glia_err err = {0};
    for (int at = 0; at < total;) {
        const float *first = all[at].item->x + (size_t)all[at].index * row;
        glia_s2s_search opts = m->bundle.manifest.decoding;
        opts.beam_size = (int)first[1];
        opts.max_tokens = (int)first[2];
        const int max_inputs = TRANSLATE_ROWS / opts.beam_size > 0 ? TRANSLATE_ROWS / opts.beam_size : 1;
        if (!s->dec || s->dec_beam != opts.beam_size) {
            glia_s2s_dec_free(s->dec);
            s->dec = NULL;
            if (glia_s2s_dec_new(m->bundle.s2s, max_inputs, m->bundle.manifest.max_tokens, opts.beam_size,
                                 &s->dec, &err)) {
                log_error("worker: %s: %s", m->name, err.msg);
                break;
            }
            s->dec_beam = opts.beam_size;
            s->dec_inputs = max_inputs;
        }
        int n = 0, steps = 1;
        while (at + n < total && n < s->dec_inputs) {
            const float *x = all[at + n].item->x + (size_t)all[at + n].index * row;
            if ((int)x[1] != opts.beam_size || (int)x[2] != opts.max_tokens)
                break;
            steps = (int)x[0] > steps ? (int)x[0] : steps;
            n++;
        }
        for (int j = 0; j < n; j++) {
            const float *x = all[at + j].item->x + (size_t)all[at + j].index * row;
            s->lengths[j] = (int32_t)x[0];
            for (int q = 0; q < steps; q++)
                s->ids[(size_t)j * (size_t)steps + (size_t)q] = q < (int)x[0] ? (int32_t)x[3 + q] : 0;
        }
        glia_s2s_output out[TRANSLATE_ROWS];
        t->inputs = all + at;
        if (glia_s2s_translate_cb(m->bundle.s2s, s->dec, s->ids, s->lengths, n, steps, &opts, out, tr_done, t,
                                  &err)) {
            log_error("worker: %s: %s", m->name, err.msg);
            break;
        }
        at += n;
        done += n;
    }
    free(all);
    return done;
}

/* Runs the batch (a linked list of items for one model version). */
static void run_batch(worker *w, workq_item *batch, int samples)
{
    const registry_model *m = batch->model;
    double now = workq_now();
    workq_item *expired = NULL;
    /* skip what expired while the batch was gathered */
    for (workq_item **p = &batch; *p;) {
        workq_item *it = *p;
        if (it->deadline > 0 && now >= it->deadline) {
            *p = it->next;
            it->next = expired;
            expired = it;
            samples -= it->n;
        } else {
            p = &it->next;
        }
    }
    complete_list(expired, WORKQ_TIMEOUT);
    if (!batch)
        return;
    ctx_slot *ctx = worker_slot(w, m, samples);
    if (ctx && m->bundle.s2s) {
        double t0 = workq_now();
        int nitems = 0;
        for (workq_item *it = batch; it; it = it->next) {
            it->started = t0;
            it->batch = samples;
            nitems++;
        }
        workq_item **items = malloc(sizeof *items * (size_t)nitems);
        int *remaining = malloc(sizeof *remaining * (size_t)nitems);
        if (!items || !remaining) {
            free(items);
            free(remaining);
            complete_list(batch, WORKQ_ERROR);
            return;
        }
        int i = 0;
        for (workq_item *it = batch; it; it = it->next, i++) {
            items[i] = it;
            remaining[i] = it->n;
        }
        tr_run t = {m, NULL, remaining, items, nitems};
        /* items are answered (and may release the model) while the batch still runs */
        registry_model_ref((registry_model *)m);
        int decoded = run_translation(ctx, &t, batch);
        for (i = 0; i < nitems; i++) /* what a failure left unanswered */
            if (items[i])
                complete_one(items[i], WORKQ_ERROR);
        if (w->q->on_batch)
            w->q->on_batch(w->q->user, m, decoded, workq_now() - t0);
        registry_model_unref((registry_model *)m);
        free(items);
        free(remaining);
        return;
    }
    const float *x = batch->x;
    size_t need = (size_t)samples * m->in_floats;
    if (ctx && batch->next) { /* several requests: one contiguous input */
        if (need > w->x_cap) {
            float *nx = realloc(w->x, sizeof(float) * need);
            if (nx) {
                w->x = nx;
                w->x_cap = need;
            }
        }
        if (need <= w->x_cap) {
            size_t off = 0;
            for (workq_item *it = batch; it; it = it->next) {
                memcpy(w->x + off, it->x, sizeof(float) * (size_t)it->n * m->in_floats);
                off += (size_t)it->n * m->in_floats;
            }
            x = w->x;
        } else {
            ctx = NULL;
        }
    }
    if (!ctx) {
        complete_list(batch, WORKQ_ERROR);
        return;
    }
    double t0 = workq_now();
    for (workq_item *it = batch; it; it = it->next) {
        it->started = t0;
        it->batch = samples;
    }
    const float *y = m->bundle.text ? run_text(ctx, m, x, samples)
                                    : glia_net_forward(m->bundle.net, ctx->ctx, x, samples, NULL);
    double t1 = workq_now();
    if (!y) {
        complete_list(batch, WORKQ_ERROR);
        return;
    }
    size_t off = 0;
    for (workq_item *it = batch; it; it = it->next) {
        memcpy(it->y, y + off, sizeof(float) * (size_t)it->n * m->out_floats);
        off += (size_t)it->n * m->out_floats;
    }
    if (w->q->on_batch)
        w->q->on_batch(w->q->user, m, samples, t1 - t0);
    complete_list(batch, WORKQ_OK);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    workq *q = w->q;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->stopping)
            pthread_cond_wait(&q->work, &q->mu);
        if (!q->head)
            break;
        workq_item *batch = q->head, *tail;
        unlink_item(q, NULL, batch);
        tail = batch;
        int samples = batch->n;
        gather(q, batch->model->id, &tail, &samples);
        /* busy from here, so that drain never sees this batch as done */
        int others_busy = q->busy++;
        if (samples < q->cfg.max_batch && q->cfg.max_wait_us > 0 && others_busy > 0) {
            struct timespec ts;
            double limit = batch->enqueued + q->cfg.max_wait_us * 1e-6;
            until(&ts, limit);
            while (samples < q->cfg.max_batch && !q->stopping && workq_now() < limit) {
                int rc = pthread_cond_timedwait(&q->work, &q->mu, &ts);
                gather(q, batch->model->id, &tail, &samples);
                if (rc == ETIMEDOUT)
                    break;
            }
        }
        pthread_mutex_unlock(&q->mu);
        run_batch(w, batch, samples);
        pthread_mutex_lock(&q->mu);
        q->busy--;
        if (!q->head && q->busy == 0)
            pthread_cond_broadcast(&q->idle);
    }
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < CTX_CACHE; i++)
        slot_clear(&w->slots[i]);
    free(w->x);
    free(w);
    return NULL;
}

/* Completes queued items whose deadline has passed, so that a suspended connection is
 * answered 504 on time even while every worker is busy. */
static void *deadline_main(void *arg)
{
    workq *q = arg;
    pthread_mutex_lock(&q->mu);
    while (!q->stopping) {
        double now = workq_now(), next = now + 1.0;
        workq_item *expired = NULL, *prev = NULL, *it = q->head;
        while (it) {
            workq_item *after = it->next;
            if (it->deadline > 0 && it->deadline <= now) {
                unlink_item(q, prev, it);
                it->next = expired;
                expired = it;
            } else {
                if (it->deadline > 0 && it->deadline < next)
                    next = it->deadline;
                prev = it;
            }
            it = after;
        }
        if (expired) {
            if (!q->head && q->busy == 0)
                pthread_cond_broadcast(&q->idle);
            pthread_mutex_unlock(&q->mu);
            complete_list(expired, WORKQ_TIMEOUT);
            pthread_mutex_lock(&q->mu);
            continue;
        }
        struct timespec ts;
        until(&ts, next);
        pthread_cond_timedwait(&q->tick, &q->mu, &ts);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

glia_status workq_new(const workq_config *cfg, workq_batch_fn on_batch, void *user, workq **out,
                      glia_err *err)
{
    *out = NULL;
    if (cfg->workers < 1 || cfg->capacity < 1 || cfg->max_batch < 1 || cfg->max_wait_us < 0)
        return glia_err_set(err, GLIA_EINVAL, "work queue: workers, capacity and max batch must be >= 1");
    workq *q = calloc(1, sizeof *q);
    if (!q)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for the work queue");
    q->cfg = *cfg;
    q->on_batch = on_batch;
    q->user = user;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->work, &ca);
    pthread_cond_init(&q->tick, &ca);
    pthread_cond_init(&q->idle, &ca);
    pthread_condattr_destroy(&ca);
    q->threads = calloc((size_t)cfg->workers, sizeof *q->threads);
    if (!q->threads) {
        workq_free(q);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for the work queue");
    }
    for (int i = 0; i < cfg->workers; i++) {
        worker *w = calloc(1, sizeof *w);
        if (w)
            w->q = q;
        if (!w || pthread_create(&q->threads[i], NULL, worker_main, w) != 0) {
            free(w);
            workq_free(q);
            return glia_err_set(err, GLIA_EIO, "cannot start inference worker %d", i + 1);
        }
        q->nthreads++;
    }
    if (pthread_create(&q->deadline_thread, NULL, deadline_main, q) != 0) {
        workq_free(q);
        return glia_err_set(err, GLIA_EIO, "cannot start the deadline thread");
    }
    q->deadline_started = 1;
    *out = q;
    return GLIA_OK;
}

int workq_submit(workq *q, workq_item *it)
{
    pthread_mutex_lock(&q->mu);
    if (q->draining || q->stopping || q->depth >= q->cfg.capacity) {
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    it->status = WORKQ_PENDING;
    it->enqueued = workq_now();
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->depth++;
    pthread_cond_signal(&q->work);
    if (it->deadline > 0)
        pthread_cond_signal(&q->tick);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

int workq_drain(workq *q, int timeout_ms)
{
    struct timespec ts;
    until(&ts, workq_now() + timeout_ms * 1e-3);
    pthread_mutex_lock(&q->mu);
    q->draining = 1;
    while ((q->head || q->busy) && pthread_cond_timedwait(&q->idle, &q->mu, &ts) != ETIMEDOUT)
        ;
    workq_item *rest = q->head;
    int cut = q->depth;
    q->head = q->tail = NULL;
    q->depth = 0;
    pthread_mutex_unlock(&q->mu);
    complete_list(rest, WORKQ_SHUTDOWN);
    return cut;
}

void workq_stop(workq *q)
{
    if (!q)
        return;
    workq_drain(q, 0);
    pthread_mutex_lock(&q->mu);
    int joined = q->joined;
    q->stopping = 1;
    q->joined = 1;
    pthread_cond_broadcast(&q->work);
    pthread_cond_broadcast(&q->tick);
    pthread_mutex_unlock(&q->mu);
    if (joined)
        return;
    for (int i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    if (q->deadline_started)
        pthread_join(q->deadline_thread, NULL);
}

void workq_free(workq *q)
{
    if (!q)
        return;
    workq_stop(q);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->tick);
    pthread_cond_destroy(&q->idle);
    free(q->threads);
    free(q);
}

int workq_depth(workq *q)
{
    pthread_mutex_lock(&q->mu);
    int d = q->depth;
    pthread_mutex_unlock(&q->mu);
    return d;
}

int workq_capacity(const workq *q)
{
    return q->cfg.capacity;
}

int workq_busy(workq *q)
{
    pthread_mutex_lock(&q->mu);
    int b = q->busy;
    pthread_mutex_unlock(&q->mu);
    return b;
}

int workq_workers(const workq *q)
{
    return q->cfg.workers;
}
