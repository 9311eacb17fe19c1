/*
 * test_workq.c - gliad's inference queue: answers equal a direct forward pass; requests
 * waiting together run as one batch (and only with their own model version); a full queue
 * refuses instead of blocking; a queued request past its deadline is completed TIMEOUT
 * without running; drain completes everything exactly once. A worker is held busy by an
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
    workq_config c = {2, 16, 8, 0};
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
    workq_config c = {1, 64, 6, 0};
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
    workq_config c = {1, 3, 4, 0};
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
    workq_config c = {1, 8, 4, 0};
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
    workq_config c = {1, 8, 2, 0};
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
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
