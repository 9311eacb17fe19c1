/*
 * test_workq.c - gliad's inference queue: answers equal a direct forward pass; requests
 * waiting together run as one batch (and only with their own model version); a full queue
 * refuses instead of blocking; a queued request past its deadline is completed TIMEOUT
 * without running; drain completes everything exactly once; a model at its worker cap
 * leaves the other worker to another model; a long sequence request runs in turns that let
 * a later request through, and a turn counts a sentence by its likely output, so that short
 * sentences share one. A worker is held busy by an
 * item whose done callback blocks, which makes every scenario deterministic.
 */
#include "daemon/workq.h"
#include "tests/support/check_main.h"
#include "tests/support/tiny_bundle.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

static char tmpdir[256];
static registry *reg;
static registry_model *model;

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "workq");
    tiny_bundle_write(tmpdir, 1);
    reg = registry_new();
    const char *names[] = {"tiny"}, *paths[] = {tmpdir};
    ck_assert_int_eq(registry_sync(reg, names, paths, 1, 0), 0);
    model = registry_get(reg, "tiny");
}

static void teardown(void)
{
    registry_model_unref(model);
    registry_free(reg);
    glia_test_rmtree(tmpdir);
}

typedef struct {
    workq_item it;
    float x[16], y[3];
    atomic_int calls;
    sem_t *hold; /* if set, done blocks on it: the worker stays busy */
} job;

static void job_done(workq_item *it)
{
    job *j = it->user;
    atomic_fetch_add(&j->calls, 1);
    if (j->hold)
        sem_wait(j->hold);
}

static void job_init(job *j, registry_model *m, float seed, double timeout_s)
{
    memset(j, 0, sizeof *j);
    for (int i = 0; i < 16; i++)
        j->x[i] = seed + 0.1f * (float)i;
    j->it.model = m;
    j->it.in = (workq_input){.n = 1, .x = j->x};
    j->it.out = (workq_output){.logits = j->y};
    j->it.deadline = timeout_s > 0 ? workq_now() + timeout_s : 0;
    j->it.done = job_done;
    j->it.user = j;
}

static void wait_calls(job *j, int n)
{
    /* up to a minute: a bound on a hang, not on how fast a busy machine answers */
    for (int i = 0; i < 60000 && atomic_load(&j->calls) < n; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(atomic_load(&j->calls), n);
}

/* Submits a job that occupies the single worker until sem_post(hold). */
static void occupy(workq *q, job *blocker, sem_t *hold)
{
    job_init(blocker, model, 0.0f, 0);
    blocker->hold = hold;
    ck_assert_int_eq(workq_submit(q, &blocker->it), 0);
    wait_calls(blocker, 1);
}

START_TEST(answers_match_direct_forward)
{
    glia_err err = {0};
    workq *q;
    workq_config c = {2, 16, 8, 0, 0, 0};
    ck_assert_int_eq(workq_new(&c, NULL, NULL, &q, &err), GLIA_OK);
    job j;
    job_init(&j, model, 0.3f, 0);
    ck_assert_int_eq(workq_submit(q, &j.it), 0);
    wait_calls(&j, 1);
    ck_assert_int_eq(j.it.status, WORKQ_OK);
    const glia_model *net = model->bundle.model;
    glia_model_ctx *ctx;
    glia_ctx_spec spec = {.max_batch = 1};
    ck_assert_int_eq(net->ops->ctx_new(net, &spec, &ctx, &err), GLIA_OK);
    glia_batch b = {.n = 1, .x = j.x};
    glia_prediction out = {0};
    ck_assert_int_eq(net->ops->predict(net, ctx, &b, &out, &err), GLIA_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq(j.y[i], out.logits[i]);
    net->ops->ctx_free(ctx);
    workq_free(q);
}
END_TEST

START_TEST(waiting_requests_batch_by_model_version)
{
    glia_err err = {0};
    workq *q;
    workq_config c = {1, 64, 6, 0, 0, 0};
    sem_t hold;
    sem_init(&hold, 0, 0);
    ck_assert_int_eq(workq_new(&c, NULL, NULL, &q, &err), GLIA_OK);
    /* a second version of the same model must not share a batch with the first */
    tiny_bundle_write_weights(tmpdir, 2);
    ck_assert_int_eq(registry_reload(reg, "tiny", &err), GLIA_OK);
    registry_model *v2 = registry_get(reg, "tiny");
    job blocker, jobs[10];
    occupy(q, &blocker, &hold);
    for (int i = 0; i < 10; i++) {
        job_init(&jobs[i], i % 5 == 4 ? v2 : model, (float)i, 0);
        ck_assert_int_eq(workq_submit(q, &jobs[i].it), 0);
    }
    ck_assert_int_eq(workq_depth(q), 10);
    sem_post(&hold);
    for (int i = 0; i < 10; i++)
        wait_calls(&jobs[i], 1);
    /* 8 items of version 1: one batch of 6 (the cap), then 2; version 2: one batch of 2 */
    int sizes[7] = {0};
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(jobs[i].it.status, WORKQ_OK);
        ck_assert_int_le(jobs[i].it.batch, 6);
        sizes[jobs[i].it.batch]++;
    }
    ck_assert_int_eq(sizes[6], 6);
    ck_assert_int_eq(sizes[2], 4);
    workq_free(q);
    sem_destroy(&hold);
    registry_model_unref(v2);
}
END_TEST

START_TEST(full_queue_refuses)
{
    glia_err err = {0};
    workq *q;
    workq_config c = {1, 3, 4, 0, 0, 0};
    sem_t hold;
    sem_init(&hold, 0, 0);
    ck_assert_int_eq(workq_new(&c, NULL, NULL, &q, &err), GLIA_OK);
    job blocker, jobs[4];
    occupy(q, &blocker, &hold);
    for (int i = 0; i < 3; i++) {
        job_init(&jobs[i], model, 1.0f, 0);
        ck_assert_int_eq(workq_submit(q, &jobs[i].it), 0);
    }
    job_init(&jobs[3], model, 1.0f, 0);
    ck_assert_int_eq(workq_submit(q, &jobs[3].it), -1);
    ck_assert_int_eq(atomic_load(&jobs[3].calls), 0);
    sem_post(&hold);
    for (int i = 0; i < 3; i++)
        wait_calls(&jobs[i], 1);
    workq_free(q);
    sem_destroy(&hold);
}
END_TEST

START_TEST(expired_requests_are_not_run)
{
    glia_err err = {0};
    workq *q;
    workq_config c = {1, 8, 4, 0, 0, 0};
    sem_t hold;
    sem_init(&hold, 0, 0);
    ck_assert_int_eq(workq_new(&c, NULL, NULL, &q, &err), GLIA_OK);
    job blocker, late;
    occupy(q, &blocker, &hold);
    job_init(&late, model, 1.0f, 0.05);
    ck_assert_int_eq(workq_submit(q, &late.it), 0);
    wait_calls(&late, 1); /* answered by the deadline thread while the worker is still busy */
    ck_assert_int_eq(late.it.status, WORKQ_TIMEOUT);
    ck_assert_double_ge(late.it.finished - late.it.enqueued, 0.05);
    ck_assert_int_eq(workq_depth(q), 0);
    sem_post(&hold);
    workq_free(q);
    ck_assert_int_eq(atomic_load(&late.calls), 1);
    sem_destroy(&hold);
}
END_TEST

START_TEST(drain_completes_everything_once)
{
    glia_err err = {0};
    workq *q;
    workq_config c = {1, 8, 2, 0, 0, 0};
    sem_t hold;
    sem_init(&hold, 0, 0);
    ck_assert_int_eq(workq_new(&c, NULL, NULL, &q, &err), GLIA_OK);
    job blocker, jobs[5];
    occupy(q, &blocker, &hold);
    for (int i = 0; i < 5; i++) {
        job_init(&jobs[i], model, 1.0f, 0);
        ck_assert_int_eq(workq_submit(q, &jobs[i].it), 0);
    }
    ck_assert_int_eq(workq_drain(q, 50), 5); /* the worker is held: all five are cut off */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(atomic_load(&jobs[i].calls), 1);
        ck_assert_int_eq(jobs[i].it.status, WORKQ_SHUTDOWN);
    }
    job after;
    job_init(&after, model, 1.0f, 0);
    ck_assert_int_eq(workq_submit(q, &after.it), -1); /* draining refuses */
    sem_post(&hold);
    workq_free(q);
    ck_assert_int_eq(atomic_load(&blocker.calls), 1);
    sem_destroy(&hold);
}
END_TEST

/* A queue with config c, and hold ready for occupy. */
static workq *held_queue(workq_config c, sem_t *hold)
{
    glia_err err = {0};
    workq *q;
    sem_init(hold, 0, 0);
    ck_assert_int_eq(workq_new(&c, NULL, NULL, &q, &err), GLIA_OK);
    return q;
}

/* Two models, one worker each at most: with one worker held by model "tiny", a queued
 * request of "other" is run by the second worker before the older queued request of
 * "tiny", which waits for its model's worker (without the cap it would run first). */
START_TEST(a_model_at_its_cap_leaves_a_worker_to_others)
{
    const char *names[] = {"tiny", "other"}, *paths[] = {tmpdir, tmpdir};
    ck_assert_int_eq(registry_sync(reg, names, paths, 2, 0), 0);
    registry_model *other = registry_get(reg, "other");
    sem_t hold;
    workq *q = held_queue((workq_config){2, 16, 8, 0, 1, 0}, &hold);
    job blocker, same, next;
    occupy(q, &blocker, &hold);
    job_init(&same, model, 1.0f, 0);
    job_init(&next, other, 2.0f, 0);
    ck_assert_int_eq(workq_submit(q, &same.it), 0);
    ck_assert_int_eq(workq_submit(q, &next.it), 0);
    wait_calls(&next, 1);
    ck_assert_int_eq(next.it.status, WORKQ_OK);
    ck_assert_int_eq(atomic_load(&same.calls), 0); /* still queued behind its model's cap */
    ck_assert_int_eq(workq_depth(q), 1);
    sem_post(&hold);
    wait_calls(&same, 1);
    ck_assert_int_eq(same.it.status, WORKQ_OK);
    workq_free(q);
    sem_destroy(&hold);
    registry_model_unref(other);
}
END_TEST

/* A stand-in for an image decoder: raw "!" cannot be prepared; any other byte v fills the
 * input with v. */
static int fake_prepare(const registry_model *m, const unsigned char *raw, size_t len, float *x,
                        const char *what, char *msg, size_t cap)
{
    if (raw[0] == '!') {
        snprintf(msg, cap, "%s is broken", what);
        return -1;
    }
    for (size_t i = 0; i < m->bundle.model->input_size; i++)
        x[i] = (float)raw[0];
    return 0;
}

/* Inputs left encoded are prepared by the worker: a request whose input cannot be is
 * completed INVALID with the reason, not run; one batched with it still runs, on the prepared
 * values (its answer equals that of the same values sent as a tensor). */
START_TEST(encoded_inputs_are_prepared_by_the_worker)
{
    glia_err err = {0};
    sem_t hold;
    workq *q = held_queue((workq_config){1, 16, 8, 0, 0, 0}, &hold);
    job blocker, broken, encoded, plain;
    occupy(q, &blocker, &hold);
    job_init(&broken, model, 0.0f, 0);
    job_init(&encoded, model, 0.0f, 0);
    job_init(&plain, model, 0.0f, 0);
    for (int i = 0; i < 16; i++)
        plain.x[i] = 7.0f;
    ck_assert_int_eq(workq_input_keep_raw(&broken.it.in, 0, "!", 1, fake_prepare, &err), GLIA_OK);
    ck_assert_int_eq(workq_input_keep_raw(&encoded.it.in, 0, "\x07", 1, fake_prepare, &err), GLIA_OK);
    ck_assert_int_eq(workq_submit(q, &broken.it), 0);
    ck_assert_int_eq(workq_submit(q, &encoded.it), 0);
    ck_assert_int_eq(workq_submit(q, &plain.it), 0);
    sem_post(&hold);
    wait_calls(&broken, 1);
    wait_calls(&encoded, 1);
    wait_calls(&plain, 1);
    ck_assert_int_eq(broken.it.status, WORKQ_INVALID);
    ck_assert_str_eq(broken.it.error, "the image is broken");
    ck_assert_int_eq(encoded.it.status, WORKQ_OK);
    ck_assert_int_eq(encoded.it.batch, 2);    /* it ran with plain, without broken */
    ck_assert_ptr_null(encoded.it.in.raw[0]); /* freed once decoded */
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq(encoded.y[i], plain.y[i]);
    free(broken.it.in.raw); /* the rest of the jobs' inputs and outputs are their own arrays */
    free(broken.it.in.raw_len);
    free(encoded.it.in.raw);
    free(encoded.it.in.raw_len);
    workq_free(q);
    sem_destroy(&hold);
}
END_TEST

/* Three workers: one busy, one gathering a short batch (it waits for company since another is
 * busy), one idle. Requests that may join the gathered batch go to it, not to the idle worker:
 * the four run as one batch (before, each submission woke every worker, and the idle one could
 * take some and start a second short batch). */
START_TEST(arrivals_join_the_batch_being_gathered)
{
    glia_err err = {0};
    workq *q;
    /* a full batch (4) runs at once; the 30 s wait only keeps a slow, busy machine from running
     * the gathered batch short between two submissions */
    workq_config c = {3, 16, 4, 30000000, 0, 0};
    sem_t hold;
    sem_init(&hold, 0, 0);
    ck_assert_int_eq(workq_new(&c, NULL, NULL, &q, &err), GLIA_OK);
    job blocker, jobs[4];
    occupy(q, &blocker, &hold);
    job_init(&jobs[0], model, 0.0f, 0);
    ck_assert_int_eq(workq_submit(q, &jobs[0].it), 0);
    /* taken: the worker that took it holds the mutex until it waits for company */
    for (int i = 0; i < 60000 && workq_depth(q) > 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    ck_assert_int_eq(workq_depth(q), 0);
    for (int i = 1; i < 4; i++) {
        job_init(&jobs[i], model, (float)i, 0);
        ck_assert_int_eq(workq_submit(q, &jobs[i].it), 0);
    }
    for (int i = 0; i < 4; i++) {
        wait_calls(&jobs[i], 1);
        ck_assert_int_eq(jobs[i].it.status, WORKQ_OK);
        ck_assert_int_eq(jobs[i].it.batch, 4);
    }
    sem_post(&hold);
    workq_free(q);
    sem_destroy(&hold);
}
END_TEST

/* ---- a sequence model's requests in turns ----
 * A stand-in sequence model: input i's output is one id, the input's first id plus 100. Its
 * predict counts its calls and, while `gate_armed`, waits on `gate` (the worker stays in the
 * first turn until the test lets it go). */
static sem_t gate;
static atomic_int gate_armed, predicts, entered, largest;
static int fake_ctx;

static glia_status fake_ctx_new(const glia_model *m, const glia_ctx_spec *spec, glia_model_ctx **out,
                                glia_err *err)
{
    *out = (glia_model_ctx *)&fake_ctx;
    return GLIA_OK;
}

static void fake_ctx_free(glia_model_ctx *ctx) {}

static glia_status fake_predict(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b,
                                glia_prediction *out, glia_err *err)
{
    atomic_fetch_add(&entered, 1);
    for (int n = atomic_load(&largest); b->n > n && !atomic_compare_exchange_weak(&largest, &n, b->n);)
        ;
    if (atomic_exchange(&gate_armed, 0))
        sem_wait(&gate);
    atomic_fetch_add(&predicts, 1);
    for (int i = 0; i < b->n; i++) {
        int32_t *id = malloc(sizeof *id);
        *id = b->ids[(size_t)i * (size_t)b->steps] + 100;
        out->seqs[i] = (glia_sequence){id, 1, 0.0, 1, NULL, 0};
        out->on_done(out->user, i, &out->seqs[i]);
        free(id);
    }
    return GLIA_OK;
}

static const glia_model_ops fake_ops = {.task = "fake",
                                        .input = GLIA_INPUT_TOKENS,
                                        .output = GLIA_OUTPUT_SEQUENCE,
                                        .ctx_new = fake_ctx_new,
                                        .ctx_free = fake_ctx_free,
                                        .predict = fake_predict};

typedef struct {
    workq_item it;
    int32_t ids[32], lengths[32], tokens[32 * 4];
    glia_sequence seqs[32];
    atomic_int calls;
    job *before; /* its calls when this one was answered */
    int before_calls;
} seq_job;

static void seq_done(workq_item *it)
{
    seq_job *j = it->user;
    if (j->before)
        j->before_calls = atomic_load(&j->before->calls);
    atomic_fetch_add(&j->calls, 1);
}

static void seq_init(seq_job *j, registry_model *m, int n)
{
    memset(j, 0, sizeof *j);
    for (int i = 0; i < n; i++) {
        j->ids[i] = i + 1;
        j->lengths[i] = 1;
    }
    j->it.model = m;
    j->it.in = (workq_input){.n = n, .ids = j->ids, .lengths = j->lengths, .stride = 1, .decode = {1, 4, 0}};
    j->it.out = (workq_output){.seqs = j->seqs, .tokens = j->tokens};
    j->it.done = seq_done;
    j->it.user = j;
}

/* The stand-in sequence model as a registry entry named "seq". */
static registry_model *seq_model(glia_model *net)
{
    *net = (glia_model){.ops = &fake_ops};
    registry_model *seq = calloc(1, sizeof *seq);
    atomic_init(&seq->refs, 1);
    seq->id = 1000;
    snprintf(seq->name, sizeof seq->name, "seq");
    seq->bundle.model = net;
    seq->bundle.manifest.max_tokens = 1;
    return seq;
}

/* Two workers, one per model at most, turns of 2 inputs. While a 10-input request's first
 * turn holds its model's worker, a second long one waits for it, but a 1-input request of
 * the same model (it fits in one turn) takes the other worker at once; and when the two
 * long ones later share a batch, the batch is still one turn (2 inputs), not two. */
START_TEST(a_short_decode_takes_the_worker_the_cap_keeps)
{
    glia_err err = {0};
    glia_model net;
    registry_model *seq = seq_model(&net);
    sem_init(&gate, 0, 0);
    atomic_store(&gate_armed, 1);
    atomic_store(&entered, 0);
    atomic_store(&largest, 0);
    workq *q;
    workq_config c = {2, 16, 64, 0, 1, 8};
    ck_assert_int_eq(workq_new(&c, NULL, NULL, &q, &err), GLIA_OK);
    static seq_job first, second, shortest;
    seq_init(&first, seq, 10);
    seq_init(&second, seq, 10);
    seq_init(&shortest, seq, 1);
    ck_assert_int_eq(workq_submit(q, &first.it), 0);
    for (int i = 0; i < 60000 && atomic_load(&entered) == 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    ck_assert_int_eq(atomic_load(&entered), 1); /* its first turn is held at the gate */
    ck_assert_int_eq(workq_submit(q, &second.it), 0);
    ck_assert_int_eq(workq_submit(q, &shortest.it), 0);
    for (int i = 0; i < 60000 && atomic_load(&shortest.calls) == 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    ck_assert_int_eq(atomic_load(&shortest.calls), 1);
    ck_assert_int_eq(shortest.it.status, WORKQ_OK);
    ck_assert_int_eq(shortest.seqs[0].ids[0], 101);
    ck_assert_int_eq(atomic_load(&entered), 2); /* the second long one never started */
    sem_post(&gate);
    for (int i = 0; i < 60000 && (atomic_load(&first.calls) == 0 || atomic_load(&second.calls) == 0); i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    ck_assert_int_eq(first.it.status, WORKQ_OK);
    ck_assert_int_eq(second.it.status, WORKQ_OK);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(first.seqs[i].ids[0] + second.seqs[i].ids[0], 2 * (i + 1 + 100));
    ck_assert_int_le(atomic_load(&largest), 2);
    workq_free(q);
    sem_destroy(&gate);
    ck_assert_int_eq(atomic_load(&seq->refs), 1);
    free(seq);
}
END_TEST

/* A 10-sentence request in turns of 2 (turn_tokens 8 = 2 x beam 1 x max_tokens 4): a
 * request submitted while its first turn runs is answered before it, and its answers are
 * those of one run. */
START_TEST(long_decodes_run_in_turns)
{
    glia_err err = {0};
    glia_model net = {.ops = &fake_ops};
    registry_model *seq = calloc(1, sizeof *seq);
    atomic_init(&seq->refs, 1);
    seq->id = 1000;
    snprintf(seq->name, sizeof seq->name, "seq");
    seq->bundle.model = &net;
    seq->bundle.manifest.max_tokens = 1;
    sem_init(&gate, 0, 0);
    atomic_store(&gate_armed, 1);
    workq *q;
    workq_config c = {1, 16, 64, 0, 0, 8};
    ck_assert_int_eq(workq_new(&c, NULL, NULL, &q, &err), GLIA_OK);
    seq_job longer;
    job shorter;
    seq_init(&longer, seq, 10);
    ck_assert_int_eq(workq_submit(q, &longer.it), 0);
    for (int i = 0; i < 60000 && atomic_load(&entered) == 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    ck_assert_int_eq(atomic_load(&entered), 1); /* its first turn is running */
    job_init(&shorter, model, 1.0f, 0);
    longer.before = &shorter;
    ck_assert_int_eq(workq_submit(q, &shorter.it), 0);
    sem_post(&gate);
    wait_calls(&shorter, 1);
    for (int i = 0; i < 60000 && atomic_load(&longer.calls) == 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    ck_assert_int_eq(atomic_load(&longer.calls), 1);
    ck_assert_int_eq(longer.it.status, WORKQ_OK);
    ck_assert_int_eq(longer.before_calls, 1); /* the short one was answered first */
    ck_assert_int_eq(atomic_load(&predicts), 5);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(longer.seqs[i].n, 1);
        ck_assert_int_eq(longer.seqs[i].ids[0], i + 1 + 100);
    }
    workq_free(q);
    sem_destroy(&gate);
    ck_assert_int_eq(atomic_load(&seq->refs), 1); /* the queue let go of it */
    free(seq);
}
END_TEST

/* One sentence of src source subwords at the manifest's beam 4 x max_tokens 159. */
typedef struct {
    workq_item it;
    int32_t ids[128], lengths[1], tokens[159];
    glia_sequence seqs[1];
    atomic_int calls;
} sentence_job;

static void sentence_done(workq_item *it)
{
    atomic_fetch_add(&((sentence_job *)it->user)->calls, 1);
}

static void sentence_init(sentence_job *j, registry_model *m, int src)
{
    memset(j, 0, sizeof *j);
    for (int i = 0; i < src; i++)
        j->ids[i] = i + 1;
    j->lengths[0] = src;
    j->it.model = m;
    j->it.in = (workq_input){.n = 1,
                             .ids = j->ids,
                             .lengths = j->lengths,
                             .stride = 128,
                             .decode = {.beam_size = 4, .max_tokens = 159}};
    j->it.out = (workq_output){.seqs = j->seqs, .tokens = j->tokens};
    j->it.done = sentence_done;
    j->it.user = j;
}

/* A turn counts each sentence by its likely output (beam x min(max_tokens, 2 x source + 8)),
 * not by beam x max_tokens: in turns of 4096 tokens, 20 queued 9-subword sentences (104
 * tokens each) run as one batch, where counting 4 x 159 = 636 each let 6 in; 10 sentences of
 * 100 subwords still count 636 each and run 6, then 4; and one long sentence in a turn of
 * 1000 leaves room for 3 short ones, not 4. */
START_TEST(a_turn_counts_sentences_by_their_likely_output)
{
    const glia_decode_opts manifest = {.beam_size = 4, .max_tokens = 159};
    ck_assert_int_eq(workq_sentence_tokens(&manifest, 9), 4 * 26);
    ck_assert_int_eq(workq_sentence_tokens(&manifest, 100), 4 * 159);
    ck_assert_int_eq(workq_sentence_tokens(&(glia_decode_opts){.beam_size = 1, .max_tokens = 4}, 1), 4);
    glia_err err = {0};
    glia_model net;
    registry_model *seq = seq_model(&net);
    seq->bundle.manifest.max_tokens = 128;
    const long turns[] = {4096, 4096, 1000};
    const int sources[][2] = {{9, 9}, {100, 100}, {100, 9}}, counts[] = {20, 10, 6};
    const int expect[][2] = {{20, 20}, {6, 4}, {4, 2}}; /* batch of the first and of the last */
    static sentence_job jobs[20];
    for (int t = 0; t < 3; t++) {
        sem_init(&gate, 0, 0);
        atomic_store(&gate_armed, 1);
        atomic_store(&entered, 0);
        workq *q;
        workq_config c = {1, 64, 32, 0, 0, turns[t]};
        ck_assert_int_eq(workq_new(&c, NULL, NULL, &q, &err), GLIA_OK);
        seq_job blocker;
        seq_init(&blocker, seq, 1);
        ck_assert_int_eq(workq_submit(q, &blocker.it), 0);
        for (int i = 0; i < 60000 && atomic_load(&entered) == 0; i++)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        ck_assert_int_eq(atomic_load(&entered), 1); /* the worker is held: the rest queue up */
        for (int i = 0; i < counts[t]; i++) {
            sentence_init(&jobs[i], seq, i == 0 ? sources[t][0] : sources[t][1]);
            ck_assert_int_eq(workq_submit(q, &jobs[i].it), 0);
        }
        sem_post(&gate);
        for (int i = 0; i < counts[t]; i++) {
            for (int k = 0; k < 60000 && atomic_load(&jobs[i].calls) == 0; k++)
                nanosleep(&(struct timespec){0, 1000000}, NULL);
            ck_assert_int_eq(jobs[i].it.status, WORKQ_OK);
            ck_assert_int_eq(jobs[i].seqs[0].ids[0], 101);
        }
        ck_assert_int_eq(jobs[0].it.batch, expect[t][0]);
        ck_assert_int_eq(jobs[counts[t] - 1].it.batch, expect[t][1]);
        workq_free(q);
        sem_destroy(&gate);
    }
    ck_assert_int_eq(atomic_load(&seq->refs), 1);
    free(seq);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("workq");
    TCase *tc = tcase_create("workq");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, answers_match_direct_forward);
    tcase_add_test(tc, waiting_requests_batch_by_model_version);
    tcase_add_test(tc, full_queue_refuses);
    tcase_add_test(tc, expired_requests_are_not_run);
    tcase_add_test(tc, drain_completes_everything_once);
    tcase_add_test(tc, a_model_at_its_cap_leaves_a_worker_to_others);
    tcase_add_test(tc, long_decodes_run_in_turns);
    tcase_add_test(tc, a_short_decode_takes_the_worker_the_cap_keeps);
    tcase_add_test(tc, a_turn_counts_sentences_by_their_likely_output);
    tcase_add_test(tc, arrivals_join_the_batch_being_gathered);
    tcase_add_test(tc, encoded_inputs_are_prepared_by_the_worker);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
