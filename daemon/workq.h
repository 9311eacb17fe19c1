/*
 * workq.h - gliad's inference queue: a bounded FIFO of requests served by a pool of
 * worker threads, with dynamic batching and deadlines.
 *
 * The HTTP threads submit items and return at once (the connection is suspended); a
 * worker runs the model and calls the item's done callback, which resumes it. Rules:
 *   - the queue holds at most `capacity` items: workq_submit refuses the next one
 *     (the caller answers 503 with Retry-After) instead of blocking;
 *   - an item still queued at its deadline is taken out and completed WORKQ_TIMEOUT by
 *     the deadline thread, never run; a worker also skips items that expired while it
 *     was gathering a batch;
 *   - a worker takes the oldest item and every queued item for the same model version
 *     behind it, up to max_batch samples. If the batch is short and other workers are
 *     busy (so more requests are likely on their way), it waits up to max_wait_us from
 *     the oldest item's arrival for more; on an idle server a lone request runs at once;
 *   - workq_drain stops new submissions and waits (bounded) until everything queued and
 *     running is done; workq_free then joins the threads.
 * Each worker keeps one glia_ctx per model version it has run (keyed by the version's id),
 * so running a request allocates nothing.
 */
#ifndef GLIAD_WORKQ_H
#define GLIAD_WORKQ_H

#include "daemon/registry.h"

typedef enum {
    WORKQ_PENDING = 0,
    WORKQ_OK,
    WORKQ_TIMEOUT,  /* expired in the queue: not run */
    WORKQ_SHUTDOWN, /* the daemon stopped before it ran */
    WORKQ_ERROR,    /* the run failed (out of memory) */
} workq_status;

typedef struct workq_item workq_item;
struct workq_item {
    registry_model *model; /* counted reference owned by the item's creator */
    int n;                 /* samples */
    const float *x;        /* n * model->in_floats, borrowed until done */
    float *y;              /* n * model->out_floats, written by the worker */
    double deadline;       /* monotonic seconds (workq_now) */
    /* filled by the queue */
    workq_status status;
    double enqueued, started, finished; /* monotonic seconds */
    int batch;                          /* samples in the batch it ran in */
    /* called exactly once, from a worker or the deadline thread, without queue locks held */
    void (*done)(workq_item *it);
    void *user;
    workq_item *next; /* queue link: the queue's own */
};

typedef struct workq workq;

typedef struct {
    int workers;     /* threads */
    int capacity;    /* queued items at most */
    int max_batch;   /* samples per batch at most */
    int max_wait_us; /* how long a short batch may wait for company */
} workq_config;

/* Called by a worker after each batch, outside locks (for metrics). */
typedef void (*workq_batch_fn)(void *user, const registry_model *m, int samples, double compute_seconds);

glia_status workq_new(const workq_config *cfg, workq_batch_fn on_batch, void *user, workq **out,
                      glia_err *err);
/* 0 if queued; -1 if the queue is full or draining (the item is untouched, done not called). */
int workq_submit(workq *q, workq_item *it);
/* Stops accepting, then waits until queued and running work is done or timeout_ms passes;
 * whatever is still queued then is completed WORKQ_SHUTDOWN. Returns items cut off. */
int workq_drain(workq *q, int timeout_ms);
/* Drains with timeout 0 (what is still queued is completed WORKQ_SHUTDOWN), then joins
 * the threads: a batch that is running finishes and completes its items first. The
 * queue stays valid for the observers (depth, busy) and refuses submissions. Idempotent. */
void workq_stop(workq *q);
/* workq_stop, then frees. */
void workq_free(workq *q);

int workq_depth(workq *q);
int workq_capacity(const workq *q);
int workq_busy(workq *q);
int workq_workers(const workq *q);
double workq_now(void);

#endif
