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
 *     (and, for a sequence model, the same decode settings) behind it, up to max_batch
 *     inputs, and runs them as one typed batch through the model's predict. If the batch is short and other
 * workers are busy (so more requests are likely on their way), it waits up to max_wait_us from the oldest
 * item's arrival for more; on an idle server a lone request runs at once;
 *   - fairness across models: a model (by name, whatever its version) runs on at most
 *     model_workers workers at once; a worker skips the queued items of a model at its cap
 *     and takes the oldest item of another, so a slow model cannot hold every worker;
 *   - a sequence model's request runs in turns of at most turn_tokens decoder tokens, each
 *     sentence counted by the output it is likely to have (workq_sentence_tokens: beam_size x
 *     its likely length, from its source's, within max_tokens): after each turn what is left
 *     goes back to the tail of the queue (no deadline any more: it has started), so a request
 *     that arrived meanwhile waits for one turn, not for the whole long request. A batch's
 *     sentences share one turn, so short sentences batch together and a long one still bounds
 *     it. Its outputs are those of one run: each input is decoded on its own rows, whatever
 *     else shares the batch;
 *   - workq_drain stops new submissions and waits (bounded) until everything queued and
 *     running is done; workq_free then joins the threads.
 *   - a sequence model's request is answered the moment its last input is decided, not when
 *     the whole batch is (glia_prediction.on_done).
 * Each worker keeps one run context per model version it has run (keyed by the version's
 * id), so running a request allocates nothing. The queue never names a model family: it
 * asks the model's ops for its input and output kinds.
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
    WORKQ_INVALID,  /* an input could not be prepared (an undecodable image): not run; error says why */
} workq_status;

/* Turns an encoded input (raw, len bytes: e.g. a PNG whose header an HTTP thread has read)
 * into the model's input x, on a worker: 0, or -1 with a sentence for the client in msg that
 * names the input as `what`. */
typedef int (*workq_prepare_fn)(const registry_model *m, const unsigned char *raw, size_t len, float *x,
                                const char *what, char *msg, size_t cap);

/* One request's inputs, typed by its model's input kind (glia_model_ops.input), as the codecs
 * write them and the worker reads them: never floats in a row. */
typedef struct {
    int n;                   /* inputs */
    float *x;                /* GLIA_INPUT_TENSOR: [n, model input_size] */
    int32_t *ids;            /* GLIA_INPUT_TOKENS: [n, stride], lengths[i] ids then padding */
    int32_t *lengths;        /* GLIA_INPUT_TOKENS: [n] */
    int stride;              /* GLIA_INPUT_TOKENS: the manifest's max_tokens */
    glia_decode_opts decode; /* GLIA_OUTPUT_SEQUENCE: the request's search settings */
    /* GLIA_INPUT_TENSOR from encoded images: the codec refuses an image whose header declares
     * more than max_pixels, or more than max_request_pixels with the images before it (0: no
     * limit), before decoding it; pixels adds up the inputs' sizes (an image's as its header
     * declares it, a tensor's C x H x W) */
    long max_pixels, max_request_pixels, pixels;
    /* GLIA_INPUT_TENSOR: inputs left encoded by the codec (raw[i], raw_len[i] bytes, malloc'd;
     * NULL: input i is in x already). A worker prepares them just before running them, so
     * that decoding, resizing and its memory are the workers' work, never an HTTP thread's. */
    unsigned char **raw;
    size_t *raw_len;
    workq_prepare_fn prepare;
} workq_input;

/* One request's outputs, by its model's output kind. */
typedef struct {
    float *logits;       /* GLIA_OUTPUT_CLASSES: [n, model outputs] */
    glia_sequence *seqs; /* GLIA_OUTPUT_SEQUENCE: [n], their ids in tokens */
    int32_t *tokens;     /* GLIA_OUTPUT_SEQUENCE: [n, decode.max_tokens] */
} workq_output;

typedef struct workq_item workq_item;
struct workq_item {
    registry_model *model; /* counted reference owned by the item's creator */
    workq_input in;        /* the creator's (workq_item_inputs), read by the worker */
    workq_output out;      /* the creator's (workq_item_outputs), written by the worker */
    double deadline;       /* monotonic seconds (workq_now) */
    /* filled by the queue */
    workq_status status;
    double enqueued, started, finished; /* monotonic seconds */
    int batch;                          /* inputs in the batch it ran in (its last turn's) */
    char error[256];                    /* WORKQ_INVALID: why, for the client */
    int taken, slice, left; /* the queue's: inputs run in past turns, in this turn, not yet decided */
    /* Optional: work of its own instead of the model's predict (an explanation). A worker
     * runs such an item alone, never in a batch, after preparing its inputs as any other
     * (and after the deadline check); returns 0, or -1 for WORKQ_ERROR. Called without
     * queue locks held; it may write the item's outputs and user's state. */
    int (*run)(workq_item *it);
    /* called exactly once, from a worker or the deadline thread, without queue locks held */
    void (*done)(workq_item *it);
    void *user;
    workq_item *next; /* queue link: the queue's own */
};

/* Room for n inputs of it->model (zeroed), in it->in; decode gets the manifest's defaults.
 * GLIA_ENOMEM when it cannot. */
glia_status workq_item_inputs(workq_item *it, int n, glia_err *err);
/* Room for the outputs of it->in (call once the decode settings are final). */
glia_status workq_item_outputs(workq_item *it, glia_err *err);
/* Room to keep input index of in encoded (the bytes are copied) for prepare to finish on a
 * worker; GLIA_ENOMEM when it cannot. */
glia_status workq_input_keep_raw(workq_input *in, int index, const void *bytes, size_t len,
                                 workq_prepare_fn prepare, glia_err *err);
/* Frees what the three above allocated (not the model reference). */
void workq_item_release(workq_item *it);

typedef struct workq workq;

typedef struct {
    int workers;       /* threads */
    int capacity;      /* queued items at most */
    int max_batch;     /* inputs per batch at most */
    int max_wait_us;   /* how long a short batch may wait for company */
    int model_workers; /* workers one model may hold at once; 0: all of them */
    long turn_tokens;  /* a sequence model's turn: workq_sentence_tokens summed at most; 0: no split */
} workq_config;

/* A sentence's likely output, in decoder steps (</s> included), from its source's subwords
 * (</s> included): 2 x source + 8. On the gettext-en-es test split no reference exceeds
 * 2 x source + 4 (the largest ratio is 3.0, on a 2-token source; the median 1.13), and no
 * translation of translate-en-es at beam 4 takes more than 2 x source + 8 steps (largest
 * ratio 2.4, median 1.00). */
enum { WORKQ_LIKELY_OUTPUT_PER_SOURCE = 2, WORKQ_LIKELY_OUTPUT_EXTRA = 8 };

/* Decoder tokens a sentence of source_tokens subwords counts for in a turn: beam_size x
 * min(max_tokens, its likely output). A translation that runs longer than that (up to
 * max_tokens) makes its turn longer than turn_tokens by as much: the bound is on the likely
 * cost, the budget that only max_tokens bounded before let 6 sentences into a batch at the
 * manifest's beam 4 x max_tokens 159 however short they were. */
long workq_sentence_tokens(const glia_decode_opts *decode, int source_tokens);

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

/* New fairness settings (model_workers, turn_tokens; as in workq_config), e.g. after a
 * reload changed them or the models served. */
void workq_set_fairness(workq *q, int model_workers, long turn_tokens);

int workq_depth(workq *q);
int workq_capacity(const workq *q);
int workq_busy(workq *q);
int workq_workers(const workq *q);
double workq_now(void);

#endif
