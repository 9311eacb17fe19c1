/*
 * workq.c - see workq.h.
 *
 * One mutex guards the queue; idle workers sleep on `work`, a worker gathering a short batch
 * on `fill`, the deadline thread on `tick`, drain on `idle`. `running` says which model each
 * worker runs (the per-model cap counts it); a request's turns are slices [taken, taken +
 * slice) of its inputs. Items are completed (done callbacks) only with the mutex released,
 * because a callback resumes an HTTP connection and must not wait on the queue.
 *
 * A submission wakes a thread only when it has something to do: one idle worker if there is
 * one, a gathering worker only once the queue holds enough inputs to fill its batch (else its
 * timed wait ends it), the deadline thread only when the new deadline is earlier than the one
 * it sleeps towards. Waking each of them on every request cost gliad about a third of its
 * CPU per request at concurrency 64 on a small model (futex wake-ups and context switches).
 */
#include "daemon/workq.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"

enum {
    CTX_CACHE = 8,
    /* decoder rows (inputs x beam) a sequence model's ctx holds at once: 128 rows of a
     * 256-wide, 3+3-layer model with 160 positions keep ~60 MB of keys and values */
    TRANSLATE_ROWS = 128,
};

struct workq {
    workq_config cfg;
    workq_batch_fn on_batch;
    void *user;
    pthread_mutex_t mu;
    pthread_cond_t work, tick, idle, fill;
    workq_item *head, *tail;
    int depth, busy, draining, stopping;
    long queued_inputs; /* inputs of the queued items not run yet (an upper bound on what a batch may gather)
                         */
    int idle_workers;   /* workers waiting on `work` */
    int *need;          /* [workers]: inputs a gathering worker's batch lacks; 0 when it is not gathering */
    const workq_item **gathering; /* [workers]: the first item of the batch it gathers, or NULL */
    double tick_at;               /* when the sleeping deadline thread looks next; 0 while it is awake */
    int closed;                   /* drain has cut the queue: a request's next turn is not queued any more */
    /* [workers]: the name of the model each one runs, "" when idle. A copy, not the model:
     * a batch's requests may release the last reference to an old version (a promote
     * swapped it out) before its worker is done, while the others still read this. */
    char (*running)[sizeof((registry_model *)0)->name];
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
    q->queued_inputs -= it->in.n - it->taken;
}

/* Puts it at the tail of the queue. Caller holds the mutex. */
static void append(workq *q, workq_item *it)
{
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->depth++;
    q->queued_inputs += it->in.n - it->taken;
}

static int joins(const workq_item *first, const workq_item *it);

/* Wakes who has work now that it (NULL: several items) was appended: the gathering workers
 * once the queue may fill one's batch, and one idle worker (another submission wakes the next)
 * unless it may join a batch being gathered, which takes it at the latest when its wait ends:
 * an idle worker that took it would start a second short batch of the same model. The count is
 * of every queued input, whatever its model: a gatherer may wake for nothing, never sleep
 * through a full batch. Caller holds the mutex. */
static void wake_for_work(workq *q, const workq_item *it)
{
    int fill = 0, joined = 0;
    for (int i = 0; i < q->nthreads; i++) {
        if (!q->gathering[i])
            continue;
        fill = fill || q->queued_inputs >= q->need[i];
        joined = joined || (it && joins(q->gathering[i], it));
    }
    if (fill)
        pthread_cond_broadcast(&q->fill);
    if (!joined && q->idle_workers > 0)
        pthread_cond_signal(&q->work);
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

static int sequence_model(const registry_model *m)
{
    return m->bundle.model->ops->output == GLIA_OUTPUT_SEQUENCE;
}

/* Does it run in turns of turn_tokens decoder tokens (a sequence model, turns on)? */
static int in_turns(const workq *q, const workq_item *it)
{
    return sequence_model(it->model) && q->cfg.turn_tokens > 0;
}

long workq_sentence_tokens(const glia_decode_opts *decode, int source_tokens)
{
    const long beam = decode->beam_size > 0 ? decode->beam_size : 1;
    const long most = decode->max_tokens > 0 ? decode->max_tokens : 1;
    const long likely = WORKQ_LIKELY_OUTPUT_PER_SOURCE * (long)source_tokens + WORKQ_LIKELY_OUTPUT_EXTRA;
    return beam * (likely < most ? likely : most);
}

/* Input i of it's share of a turn (workq_sentence_tokens); without source lengths, its bound. */
static long input_tokens(const workq_item *it, int i)
{
    return workq_sentence_tokens(&it->in.decode, it->in.lengths ? it->in.lengths[i] : INT_MAX / 4);
}

/* Inputs of it, from it->taken on, that the batch being formed takes: at most room, and for a
 * model in turns only while their shares fit in the *left tokens of the turn (taken off it).
 * first: it starts the batch, and takes at least one input whatever it costs (a single
 * input is never split) and is not bound by room. Any other item is taken whole or not at
 * all, except in turns, where a slice of it may join and the rest waits for its next turn.
 * Items that join a batch share its decode settings, so one turn bounds the whole batch:
 * two long requests batched together still make one turn, not two. */
static int take_inputs(const workq *q, const workq_item *it, int room, long *left, int first)
{
    const int rest = it->in.n - it->taken;
    if (!in_turns(q, it))
        return first || rest <= room ? rest : 0;
    int n = 0;
    while (n < rest && (first || n < room)) {
        const long cost = input_tokens(it, it->taken + n);
        if (cost > *left && !(first && n == 0))
            break;
        *left -= cost;
        n++;
    }
    return n;
}

/* Does the rest of it fit in one turn of its own? */
static int fits_one_turn(const workq *q, const workq_item *it)
{
    long left = q->cfg.turn_tokens;
    return take_inputs(q, it, INT_MAX, &left, 1) == it->in.n - it->taken;
}

/* Tokens a new turn starts with: turn_tokens in turns, else no bound. */
static long turn_budget(const workq *q, const workq_item *first)
{
    return in_turns(q, first) ? q->cfg.turn_tokens : LONG_MAX;
}

/* Is a batch with samples inputs and left tokens of its turn full: may nothing join it? */
static int batch_full(const workq *q, const workq_item *first, int samples, long left)
{
    if (samples >= q->cfg.max_batch)
        return 1;
    /* the cheapest input: a one-token source */
    return in_turns(q, first) && left < workq_sentence_tokens(&first->in.decode, 1);
}

/* May a worker start it now? Not when its model already runs on model_workers workers
 * (by name: an old and a new version of a model share its cap). Caller holds the mutex. */
static int under_cap(const workq *q, const workq_item *it)
{
    if (q->cfg.model_workers <= 0 || q->cfg.model_workers >= q->cfg.workers)
        return 1;
    /* A sequence model's request that fits in one turn holds a worker no longer than a turn,
     * the wait the cap bounds anyway: it may take the worker the cap keeps from its model,
     * so that a short translation is not queued behind the long ones of its own model. */
    if (in_turns(q, it) && it->taken == 0 && fits_one_turn(q, it))
        return 1;
    int n = 0;
    for (int i = 0; i < q->nthreads; i++)
        n += strcmp(q->running[i], it->model->name) == 0;
    return n < q->cfg.model_workers;
}

/* The oldest queued item a worker may start, unlinked, or NULL. Caller holds the mutex. */
static workq_item *take_next(workq *q)
{
    for (workq_item *prev = NULL, *it = q->head; it; prev = it, it = it->next)
        if (under_cap(q, it)) {
            unlink_item(q, prev, it);
            return it;
        }
    return NULL;
}

/* May it run in one batch with first? The same model version, and for a sequence model the
 * same decode settings (a predict takes one setting for the whole batch). */
static int joins(const workq_item *first, const workq_item *it)
{
    const glia_decode_opts *a = &first->in.decode, *b = &it->in.decode;
    return !first->run && !it->run && it->model->id == first->model->id &&
           (!sequence_model(it->model) ||
            (a->beam_size == b->beam_size && a->max_tokens == b->max_tokens &&
             a->length_penalty == b->length_penalty && a->no_repeat_ngram == b->no_repeat_ngram));
}

/* Moves queued items that may join the batch onto its tail while they fit in max_batch inputs
 * and the *left tokens of its turn. Caller holds the mutex. */
static void gather(workq *q, const workq_item *first, long *left, workq_item **tail, int *samples)
{
    workq_item *prev = NULL, *it = q->head;
    while (it && !batch_full(q, first, *samples, *left)) {
        workq_item *next = it->next;
        const int n = joins(first, it) ? take_inputs(q, it, q->cfg.max_batch - *samples, left, 0) : 0;
        if (n > 0) {
            unlink_item(q, prev, it);
            it->slice = n;
            (*tail)->next = it;
            *tail = it;
            *samples += n;
        } else {
            prev = it;
        }
        it = next;
    }
}

/* A run context for one model version. */
typedef struct {
    uint64_t id;
    const glia_model_ops *ops;
    glia_ctx_spec spec;
    glia_model_ctx *ctx;
} ctx_slot;

static void slot_clear(ctx_slot *s)
{
    if (s->ctx)
        s->ops->ctx_free(s->ctx);
    memset(s, 0, sizeof *s);
}

/* A batch of items packed into one typed batch, and where each of its inputs came from. */
typedef struct {
    float *x;               /* [x_cap] floats: several items' tensors */
    int32_t *ids, *lengths; /* [cap, steps_cap], [cap] */
    int *owner;             /* [input]: its item's place in items */
    int *index;             /* [input]: its place in that item */
    workq_item **items;     /* [item]: NULL once answered (the item may be gone then) */
    int *remaining;         /* [item]: inputs of its turn not decided yet */
    glia_sequence *seqs;    /* [input]: a sequence model's predictions */
    int nitems, cap, steps_cap;
    size_t x_cap;
} packing;

typedef struct {
    workq *q;
    int index; /* in q->running */
    ctx_slot slots[CTX_CACHE];
    int next_victim;
    packing pack;
} worker;

/* The ctx a batch of n inputs (beam: its beam size) needs from model m. */
static glia_ctx_spec spec_for(const worker *w, const registry_model *m, int n, int beam)
{
    const glia_model *model = m->bundle.model;
    const int cap = n > w->q->cfg.max_batch ? n : w->q->cfg.max_batch;
    /* a sequence model decodes its inputs in groups that fit its decoder rows */
    return (glia_ctx_spec){.max_batch = sequence_model(m) ? TRANSLATE_ROWS : cap,
                           .max_steps =
                               model->ops->input == GLIA_INPUT_TOKENS ? m->bundle.manifest.max_tokens : 0,
                           .max_beam = beam};
}

static int slot_fits(const ctx_slot *s, const glia_ctx_spec *want)
{
    return s->spec.max_batch >= want->max_batch && s->spec.max_beam >= want->max_beam;
}

static ctx_slot *worker_slot(worker *w, const registry_model *m, int n, int beam)
{
    glia_err err = {0};
    const glia_ctx_spec want = spec_for(w, m, n, beam);
    ctx_slot *s = NULL;
    for (int i = 0; i < CTX_CACHE && !s; i++)
        if (w->slots[i].ctx && w->slots[i].id == m->id)
            s = &w->slots[i];
    if (s && slot_fits(s, &want))
        return s;
    if (!s) {
        /* an empty slot, else round-robin: old versions fall out as new ones are used */
        for (int i = 0; i < CTX_CACHE && !s; i++)
            if (!w->slots[i].ctx)
                s = &w->slots[i];
        if (!s) {
            s = &w->slots[w->next_victim];
            w->next_victim = (w->next_victim + 1) % CTX_CACHE;
        }
    }
    slot_clear(s);
    const glia_model *model = m->bundle.model;
    if (model->ops->ctx_new(model, &want, &s->ctx, &err) != GLIA_OK) {
        log_error("worker: %s: %s", m->name, err.msg);
        return NULL;
    }
    s->id = m->id;
    s->ops = model->ops;
    s->spec = want;
    return s;
}

/* *buf holds at least n elements of size bytes (*cap counts them); grows, never shrinks. */
static int reserve(void **buf, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return 0;
    void *grown = realloc(*buf, size * n);
    if (!grown)
        return -1;
    *buf = grown;
    *cap = n;
    return 0;
}

/* Room for n inputs of input_size floats (tensors) or of up to steps ids each. The float
 * buffer is sized in floats, not inputs: the next batch may be for a model with larger
 * inputs. */
static int packing_reserve(packing *p, int n, size_t input_size, int steps)
{
    if (reserve((void **)&p->x, &p->x_cap, (size_t)n * input_size, sizeof(float)))
        return -1;
    if (n > p->cap || steps > p->steps_cap) {
        const int cap = n > p->cap ? n : p->cap, steps_cap = steps > p->steps_cap ? steps : p->steps_cap;
        size_t have = 0; /* each array below is regrown to cap (realloc keeps what fits) */
        if (reserve((void **)&p->ids, &have, (size_t)cap * (size_t)(steps_cap ? steps_cap : 1),
                    sizeof(int32_t)) ||
            (have = 0, reserve((void **)&p->lengths, &have, (size_t)cap, sizeof(int32_t))) ||
            (have = 0, reserve((void **)&p->owner, &have, (size_t)cap, sizeof(int))) ||
            (have = 0, reserve((void **)&p->index, &have, (size_t)cap, sizeof(int))) ||
            (have = 0, reserve((void **)&p->items, &have, (size_t)cap, sizeof(workq_item *))) ||
            (have = 0, reserve((void **)&p->remaining, &have, (size_t)cap, sizeof(int))) ||
            (have = 0, reserve((void **)&p->seqs, &have, (size_t)cap, sizeof(glia_sequence))))
            return -1;
        p->cap = cap;
        p->steps_cap = steps_cap;
    }
    return 0;
}

static void packing_free(packing *p)
{
    free(p->x);
    free(p->ids);
    free(p->lengths);
    free(p->owner);
    free(p->index);
    free(p->items);
    free(p->remaining);
    free(p->seqs);
}

/* The items' inputs as one typed batch: tensors one after another, token rows to the
 * longest input of the batch. -1 when out of memory. */
static int pack(packing *p, const registry_model *m, workq_item *batch, int samples, glia_batch *b)
{
    const glia_model *model = m->bundle.model;
    const int tokens = model->ops->input == GLIA_INPUT_TOKENS;
    int steps = 1, k = 0, j = 0;
    for (workq_item *it = batch; it && tokens; it = it->next)
        for (int i = it->taken; i < it->taken + it->slice; i++)
            steps = it->in.lengths[i] > steps ? it->in.lengths[i] : steps;
    if (packing_reserve(p, samples, model->input_size, tokens ? steps : 0))
        return -1;
    *b = (glia_batch){.n = samples, .decode = batch->in.decode};
    for (workq_item *it = batch; it; it = it->next, j++) {
        p->items[j] = it;
        p->remaining[j] = it->slice;
        for (int i = it->taken; i < it->taken + it->slice; i++, k++) {
            p->owner[k] = j;
            p->index[k] = i;
            if (!tokens) {
                if (batch->next) /* one item is run from its own buffer */
                    memcpy(p->x + (size_t)k * model->input_size, it->in.x + (size_t)i * model->input_size,
                           sizeof(float) * model->input_size);
                continue;
            }
            p->lengths[k] = it->in.lengths[i];
            memcpy(p->ids + (size_t)k * (size_t)steps, it->in.ids + (size_t)i * (size_t)it->in.stride,
                   sizeof(int32_t) * (size_t)steps);
        }
    }
    p->nitems = j;
    b->x = !tokens && !batch->next ? batch->in.x : p->x;
    b->ids = p->ids;
    b->lengths = p->lengths;
    b->steps = tokens ? steps : 0;
    return 0;
}

static void complete_one(workq_item *it, workq_status status)
{
    it->next = NULL;
    it->status = status;
    it->finished = workq_now();
    it->done(it);
}

/* Input i of the batch is decided: into its item's outputs, and the item answered when it
 * was its last. */
static void sequence_done(void *user, int i, const glia_sequence *seq)
{
    packing *p = user;
    const int j = p->owner[i], at = p->index[i];
    workq_item *it = p->items[j];
    const int cap = it->in.decode.max_tokens, n = seq->n < cap ? seq->n : cap;
    int32_t *row = it->out.tokens + (size_t)at * (size_t)cap;
    memcpy(row, seq->ids, sizeof(int32_t) * (size_t)n);
    /* the source stays the item's until it is freed: the codec tidies the text against it */
    const int32_t *src = it->in.ids ? it->in.ids + (size_t)at * (size_t)it->in.stride : NULL;
    it->out.seqs[at] = (glia_sequence){row, n, seq->score, seq->finished, src, src ? it->in.lengths[at] : 0};
    p->remaining[j]--;
    if (--it->left == 0) {
        p->items[j] = NULL;
        complete_one(it, WORKQ_OK);
    }
}

/* Takes the items refuse() is true of out of *batch and completes them with status; returns
 * the inputs left. */
static int drop_from_batch(workq_item **batch, int samples, int (*refuse)(workq_item *it, double now),
                           workq_status status)
{
    const double now = workq_now();
    workq_item *dropped = NULL;
    for (workq_item **p = batch; *p;) {
        workq_item *it = *p;
        if (refuse(it, now)) {
            *p = it->next;
            it->next = dropped;
            dropped = it;
            samples -= it->slice;
        } else {
            p = &it->next;
        }
    }
    complete_list(dropped, status);
    return samples;
}

/* It expired while its batch was gathered. */
static int expired(workq_item *it, double now)
{
    return it->deadline > 0 && now >= it->deadline;
}

/* Puts started requests back at the tail of the queue for their next turn, without a
 * deadline (they are running) and over the capacity (they were admitted); once drain has
 * cut the queue they are completed WORKQ_SHUTDOWN instead. */
static void requeue(workq *q, workq_item *list)
{
    if (!list)
        return;
    pthread_mutex_lock(&q->mu);
    if (q->closed || q->stopping) {
        pthread_mutex_unlock(&q->mu);
        complete_list(list, WORKQ_SHUTDOWN);
        return;
    }
    while (list) {
        workq_item *it = list;
        list = it->next;
        it->deadline = 0;
        append(q, it);
    }
    wake_for_work(q, NULL);
    pthread_mutex_unlock(&q->mu);
}

/* Prepares the inputs the codecs left encoded (decodes images) in its turn: 1 when one cannot
 * be (it->error says why) and it must leave the batch. */
static int unprepared(workq_item *it, double now)
{
    workq_input *in = &it->in;
    const size_t size = it->model->bundle.model->input_size;
    int failed = 0;
    for (int i = it->taken; in->raw && i < it->taken + it->slice; i++) {
        char what[32];
        if (!in->raw[i])
            continue;
        snprintf(what, sizeof what, in->n == 1 ? "the image" : "inputs[%d]", i);
        failed = failed || in->prepare(it->model, in->raw[i], in->raw_len[i], in->x + (size_t)i * size, what,
                                       it->error, sizeof it->error);
        free(in->raw[i]); /* its memory goes as soon as it is decoded */
        in->raw[i] = NULL;
    }
    return failed;
}

/* Runs the batch (a linked list of items for one model version) through the model's predict. */
static void run_batch(worker *w, workq_item *batch, int samples)
{
    registry_model *m = batch->model;
    const glia_model *model = m->bundle.model;
    samples = drop_from_batch(&batch, samples, expired, WORKQ_TIMEOUT);
    samples = drop_from_batch(&batch, samples, unprepared, WORKQ_INVALID);
    if (!batch)
        return;
    if (batch->run) { /* its own work, alone (joins keeps others out of its batch) */
        batch->started = workq_now();
        batch->batch = 1;
        complete_one(batch, batch->run(batch) == 0 ? WORKQ_OK : WORKQ_ERROR);
        return;
    }
    ctx_slot *slot = worker_slot(w, m, samples, batch->in.decode.beam_size);
    glia_batch b;
    if (!slot || pack(&w->pack, m, batch, samples, &b)) {
        complete_list(batch, WORKQ_ERROR);
        return;
    }
    double t0 = workq_now();
    for (workq_item *it = batch; it; it = it->next) {
        if (it->taken == 0)
            it->started = t0;
        it->batch = samples;
    }
    glia_prediction out = {0};
    if (sequence_model(m)) {
        /* items are answered (and may release the model) while the batch still runs */
        registry_model_ref(m);
        out = (glia_prediction){.seqs = w->pack.seqs, .on_done = sequence_done, .user = &w->pack};
    }
    glia_err err = {0};
    const int failed = model->ops->predict(model, slot->ctx, &b, &out, &err) != GLIA_OK;
    const double t1 = workq_now();
    int decided = samples;
    if (failed)
        log_error("worker: %s: %s", m->name, err.msg);
    if (sequence_model(m)) {
        workq_item *again = NULL, **end = &again;
        for (int j = 0; j < w->pack.nitems; j++) {
            workq_item *it = w->pack.items[j];
            if (!it) /* answered */
                continue;
            decided -= w->pack.remaining[j];
            if (failed || w->pack.remaining[j] > 0) {
                complete_one(it, WORKQ_ERROR);
                continue;
            }
            it->taken += it->slice; /* its turn is done and inputs are left: another turn */
            *end = it;
            end = &it->next;
        }
        *end = NULL;
        requeue(w->q, again);
        if (w->q->on_batch)
            w->q->on_batch(w->q->user, m, decided, t1 - t0);
        registry_model_unref(m);
        return;
    }
    if (failed) {
        complete_list(batch, WORKQ_ERROR);
        return;
    }
    size_t off = 0;
    for (workq_item *it = batch; it; it = it->next) {
        memcpy(it->out.logits, out.logits + off, sizeof(float) * (size_t)it->in.n * (size_t)model->outputs);
        off += (size_t)it->in.n * (size_t)model->outputs;
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
        workq_item *batch, *tail;
        /* a model at its cap leaves its items queued: wait for a worker to finish */
        while (!(batch = take_next(q)) && !(q->stopping && !q->head)) {
            q->idle_workers++;
            pthread_cond_wait(&q->work, &q->mu);
            q->idle_workers--;
        }
        if (!batch)
            break;
        snprintf(q->running[w->index], sizeof q->running[w->index], "%s", batch->model->name);
        tail = batch;
        long left = turn_budget(q, batch);
        int samples = batch->slice = take_inputs(q, batch, INT_MAX, &left, 1);
        gather(q, batch, &left, &tail, &samples);
        /* busy from here, so that drain never sees this batch as done */
        int others_busy = q->busy++;
        if (!batch_full(q, batch, samples, left) && q->cfg.max_wait_us > 0 && others_busy > 0) {
            struct timespec ts;
            double limit = batch->enqueued + q->cfg.max_wait_us * 1e-6;
            until(&ts, limit);
            while (!batch_full(q, batch, samples, left) && !q->stopping && workq_now() < limit) {
                /* a batch in turns may fill by tokens before inputs: any arrival may finish it */
                q->need[w->index] = in_turns(q, batch) ? 1 : q->cfg.max_batch - samples;
                q->gathering[w->index] = batch;
                int rc = pthread_cond_timedwait(&q->fill, &q->mu, &ts);
                q->gathering[w->index] = NULL;
                gather(q, batch, &left, &tail, &samples);
                if (rc == ETIMEDOUT)
                    break;
            }
            /* what arrived for it but did not fit was left to this batch: another worker's */
            if (q->head && q->idle_workers > 0)
                pthread_cond_signal(&q->work);
        }
        pthread_mutex_unlock(&q->mu);
        run_batch(w, batch, samples);
        pthread_mutex_lock(&q->mu);
        q->busy--;
        q->running[w->index][0] = '\0';
        if (q->head) /* items of a model that was at its cap may start now */
            pthread_cond_broadcast(&q->work);
        else if (q->busy == 0)
            pthread_cond_broadcast(&q->idle);
    }
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < CTX_CACHE; i++)
        slot_clear(&w->slots[i]);
    packing_free(&w->pack);
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
        q->tick_at = next; /* a submission with an earlier deadline wakes it */
        pthread_cond_timedwait(&q->tick, &q->mu, &ts);
        q->tick_at = 0;
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
    pthread_cond_init(&q->fill, &ca);
    pthread_condattr_destroy(&ca);
    q->threads = calloc((size_t)cfg->workers, sizeof *q->threads);
    q->running = calloc((size_t)cfg->workers, sizeof *q->running);
    q->need = calloc((size_t)cfg->workers, sizeof *q->need);
    q->gathering = calloc((size_t)cfg->workers, sizeof *q->gathering);
    if (!q->threads || !q->running || !q->need || !q->gathering) {
        workq_free(q);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for the work queue");
    }
    for (int i = 0; i < cfg->workers; i++) {
        worker *w = calloc(1, sizeof *w);
        if (w) {
            w->q = q;
            w->index = i;
        }
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
    it->taken = it->slice = 0;
    it->left = it->in.n;
    append(q, it);
    wake_for_work(q, it);
    /* the deadline thread sleeps towards the earliest deadline it saw; while it is awake
     * (tick_at 0) it scans the queue again before it sleeps */
    if (it->deadline > 0 && q->tick_at > 0 && it->deadline < q->tick_at)
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
    q->closed = 1;
    workq_item *rest = q->head;
    int cut = q->depth;
    q->head = q->tail = NULL;
    q->depth = 0;
    q->queued_inputs = 0;
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
    pthread_cond_broadcast(&q->fill);
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
    pthread_cond_destroy(&q->fill);
    free(q->threads);
    free(q->running);
    free(q->need);
    free(q->gathering);
    free(q);
}

void workq_set_fairness(workq *q, int model_workers, long turn_tokens)
{
    pthread_mutex_lock(&q->mu);
    q->cfg.model_workers = model_workers;
    q->cfg.turn_tokens = turn_tokens;
    pthread_cond_broadcast(&q->work); /* a raised cap may let queued items start */
    pthread_mutex_unlock(&q->mu);
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

glia_status workq_item_inputs(workq_item *it, int n, glia_err *err)
{
    const glia_bundle *b = &it->model->bundle;
    const glia_model *model = b->model;
    workq_input *in = &it->in;
    *in = (workq_input){.n = n, .decode = glia_model_decode_defaults(&b->manifest)};
    if (model->ops->input == GLIA_INPUT_TENSOR) {
        in->x = calloc((size_t)n * (model->input_size ? model->input_size : 1), sizeof(float));
        if (in->x)
            return GLIA_OK;
    } else {
        in->stride = b->manifest.max_tokens;
        in->ids = calloc((size_t)n * (size_t)in->stride, sizeof(int32_t));
        in->lengths = calloc((size_t)n, sizeof(int32_t));
        if (in->ids && in->lengths)
            return GLIA_OK;
    }
    return glia_err_set(err, GLIA_ENOMEM, "out of memory for %d inputs", n);
}

glia_status workq_item_outputs(workq_item *it, glia_err *err)
{
    const glia_model *model = it->model->bundle.model;
    const size_t n = (size_t)it->in.n;
    workq_output *out = &it->out;
    if (model->ops->output == GLIA_OUTPUT_CLASSES) {
        if ((out->logits = calloc(n * (size_t)model->outputs, sizeof(float))))
            return GLIA_OK;
    } else {
        const size_t cap = (size_t)(it->in.decode.max_tokens > 0 ? it->in.decode.max_tokens : 1);
        out->seqs = calloc(n, sizeof *out->seqs);
        out->tokens = calloc(n * cap, sizeof(int32_t));
        if (out->seqs && out->tokens)
            return GLIA_OK;
    }
    return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu outputs", n);
}

glia_status workq_input_keep_raw(workq_input *in, int index, const void *bytes, size_t len,
                                 workq_prepare_fn prepare, glia_err *err)
{
    if (!in->raw) {
        in->raw = calloc((size_t)in->n, sizeof *in->raw);
        in->raw_len = calloc((size_t)in->n, sizeof *in->raw_len);
    }
    unsigned char *copy = in->raw && in->raw_len ? malloc(len ? len : 1) : NULL;
    if (!copy)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for an encoded input of %zu bytes", len);
    memcpy(copy, bytes, len);
    free(in->raw[index]);
    in->raw[index] = copy;
    in->raw_len[index] = len;
    in->prepare = prepare;
    return GLIA_OK;
}

void workq_item_release(workq_item *it)
{
    for (int i = 0; it->in.raw && i < it->in.n; i++)
        free(it->in.raw[i]);
    free(it->in.raw);
    free(it->in.raw_len);
    free(it->in.x);
    free(it->in.ids);
    free(it->in.lengths);
    free(it->out.logits);
    free(it->out.seqs);
    free(it->out.tokens);
    it->in = (workq_input){0};
    it->out = (workq_output){0};
}
