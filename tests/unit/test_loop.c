/*
 * test_loop.c - core/train/loop.h: the one training loop over every family.
 *
 * Each family trains for a few steps on a tiny synthetic split through its batch source
 * (images, padded sentences, token-budget pairs): with 2 lanes the epoch's loss is close
 * to 1 lane's (the same mean, summed in another order and with other GEMM shapes) but
 * not bit-equal; a 2-lane run stopped after its first epoch and resumed from the
 * checkpoint gives the uninterrupted run's weights bit for bit (dropout on, so every
 * lane's dropout stream must be restored); a checkpoint holding a NaN is refused whole.
 * Across processes (core/train/reduce.h, here two threads playing two ranks through a
 * reducer of their own, so that the seam is tested without MPI): 2 ranks x 1 lane give
 * 1 process x 2 lanes' weights and losses bit for bit, and rank 1 writes no checkpoint.
 * An inference ctx kept across a run answers as a new one (the loop renews the weights
 * generation at every write). With a moving average of the weights (recipe key ema) the
 * run ends with the average an independent double-precision account of every step gives,
 * validation judges the average (the kept weights score what the epoch reported), a
 * resumed run continues it bit for bit, and a checkpoint without one is refused.
 */
#include "core/formats/safetensors.h"
#include "core/train/checkpoint.h"
#include "core/train/imagetrain.h"
#include "core/train/loop.h"
#include "tests/support/check_main.h"
#include "tests/support/tiny_models.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static glia_source *source_of(const char *task, const tiny_data *d)
{
    glia_source *src = NULL;
    glia_err err = {0};
    ck_assert_msg(tiny_source_new(task, d, &src, &err) == GLIA_OK, "%s", err.msg);
    return src;
}

typedef struct {
    double loss[4];
    int n;
} history;

static int record(const glia_progress *p, void *user)
{
    history *h = user;
    if (h->n < 4)
        h->loss[h->n++] = p->train_loss;
    return 0;
}

static int stop_after_first(const glia_progress *p, void *user)
{
    return p->epoch == 1;
}

/* A fresh model of task, initialised from seed 3, trained by r; *out keeps it, *res the
 * loop's result. */
static glia_status train_res(const char *task, float dropout, const glia_recipe *r, const tiny_data *d,
                             glia_progress_fn cb, history *h, glia_model **out, glia_train_result *res,
                             glia_err *err)
{
    glia_manifest m = tiny_models_manifest(task, dropout);
    glia_model *model = *out;
    if (!model) {
        ck_assert_msg(glia_model_new(&m, &model, err) == GLIA_OK, "%s", err->msg);
        glia_rng init;
        glia_train_seed_stream(&init, 3, GLIA_STREAM_INIT);
        model->ops->reset(model, &init);
        *out = model;
    }
    glia_source *src = source_of(task, d);
    const glia_loop_hooks hooks = {cb, h, NULL, NULL};
    glia_status rc = glia_loop_train(r, model, src, &hooks, res, err);
    glia_source_free(src);
    return rc;
}

static glia_status train(const char *task, float dropout, const glia_recipe *r, const tiny_data *d,
                         glia_progress_fn cb, history *h, glia_model **out, glia_err *err)
{
    glia_train_result res;
    return train_res(task, dropout, r, d, cb, h, out, &res, err);
}

/* the last: an image net whose batch norm's running estimates every lane and rank moves */
static const char *const tasks[] = {"image-classification", "text-classification", "translation",
                                    "image-classification-bn"};

START_TEST(two_lanes_give_one_lanes_loss)
{
    const char *task = tasks[_i];
    static tiny_data d;
    tiny_data_fill(&d, TINY_DATA_N);
    glia_recipe r;
    glia_err err = {0};
    history one = {0}, two = {0};
    glia_model *a = NULL, *b = NULL;
    tiny_recipe(&r, 2, 1);
    ck_assert_msg(train(task, 0.0f, &r, &d, record, &one, &a, &err) == GLIA_OK, "%s: %s", task, err.msg);
    tiny_recipe(&r, 2, 2);
    ck_assert_msg(train(task, 0.0f, &r, &d, record, &two, &b, &err) == GLIA_OK, "%s: %s", task, err.msg);
    ck_assert_int_eq(one.n, 2);
    ck_assert_int_eq(two.n, 2);
    /* batch norm normalises each lane's half batch by its own statistics (as PyTorch DDP
     * without SyncBatchNorm): another step, close but not the same */
    const double tol = strcmp(task, "image-classification-bn") == 0 ? 1e-2 : 1e-4;
    for (int e = 0; e < 2; e++)
        ck_assert_msg(fabs(one.loss[e] - two.loss[e]) < tol * (1.0 + fabs(one.loss[e])),
                      "%s epoch %d: 1 lane %.9f, 2 lanes %.9f", task, e + 1, one.loss[e], two.loss[e]);
    ck_assert_msg(one.loss[1] < one.loss[0], "%s: the loss did not fall (%.5f -> %.5f)", task, one.loss[0],
                  one.loss[1]);
    ck_assert_msg(memcmp(a->values, b->values, sizeof(float) * a->size) != 0,
                  "%s: 2 lanes gave 1 lane's weights bit for bit: were the lanes used?", task);
    glia_model_free(a);
    glia_model_free(b);
}
END_TEST

/* A 2-lane run stopped after its first epoch and resumed gives the uninterrupted run's
 * weights bit for bit; ema: the recipe's moving-average decay (0: none). */
static void resume_case(const char *task, float ema)
{
    static tiny_data d;
    char dir[256];
    tiny_data_fill(&d, TINY_DATA_N);
    glia_test_mkdtemp(dir, sizeof dir, "loop");
    glia_recipe r;
    glia_err err = {0};
    glia_model *a = NULL, *b = NULL;
    tiny_recipe(&r, 3, 2);
    r.ema = ema;
    r.select_best = 0;
    ck_assert_msg(train(task, 0.2f, &r, &d, NULL, NULL, &a, &err) == GLIA_OK, "%s: %s", task, err.msg);
    snprintf(r.checkpoint, sizeof r.checkpoint, "%s/run.ckpt", dir);
    r.resume = 1;
    ck_assert_int_eq(train(task, 0.2f, &r, &d, stop_after_first, NULL, &b, &err), GLIA_ECANCELLED);
    memset(b->values, 0, sizeof(float) * b->size); /* the checkpoint must restore everything */
    ck_assert_msg(train(task, 0.2f, &r, &d, NULL, NULL, &b, &err) == GLIA_OK, "%s: %s", task, err.msg);
    ck_assert_msg(memcmp(a->values, b->values, sizeof(float) * a->size) == 0, "%s: resumed weights differ",
                  task);
    glia_model_free(a);
    glia_model_free(b);
    glia_test_rmtree(dir);
}

START_TEST(two_lanes_resume_bit_for_bit)
{
    resume_case(tasks[_i], 0.0f);
}
END_TEST

START_TEST(ema_resumes_bit_for_bit)
{
    resume_case(tasks[_i], 0.9f);
}
END_TEST

/* The record hook's account of the average: after every step (rec->step steps taken), the
 * live weights folded in with glia_ema_decay's decay, in double precision. */
typedef struct {
    const glia_model *model;
    double *avg;
    float *live; /* the live weights after the last step */
    float decay;
    long steps;
} ema_account;

static void ema_record(const glia_train_record *rec, void *user)
{
    ema_account *a = user;
    if (rec->kind != GLIA_RECORD_STEP)
        return;
    const long t = rec->step - 1; /* updates before this one */
    const double d = fmin((double)a->decay, (1.0 + (double)t) / (10.0 + (double)t));
    for (size_t i = 0; i < a->model->size; i++)
        a->avg[i] = d * a->avg[i] + (1.0 - d) * a->model->values[i];
    memcpy(a->live, a->model->values, sizeof(float) * a->model->size);
    a->steps++;
}

static int record_val(const glia_progress *p, void *user)
{
    history *h = user;
    if (h->n < 4)
        h->loss[h->n++] = p->val_loss;
    return 0;
}

START_TEST(ema_ends_with_the_average)
{
    const char *task = tasks[_i];
    static tiny_data d;
    tiny_data_fill(&d, TINY_DATA_N);
    glia_recipe r;
    glia_err err = {0};
    glia_train_result res;
    glia_manifest m = tiny_models_manifest(task, 0.2f);
    glia_model *model = NULL;
    ck_assert_msg(glia_model_new(&m, &model, &err) == GLIA_OK, "%s", err.msg);
    glia_rng init;
    glia_train_seed_stream(&init, 3, GLIA_STREAM_INIT);
    model->ops->reset(model, &init);
    ema_account acc = {model, calloc(model->size, sizeof(double)), calloc(model->size, sizeof(float)), 0.9f,
                       0};
    ck_assert(acc.avg && acc.live);
    for (size_t i = 0; i < model->size; i++)
        acc.avg[i] = model->values[i];
    tiny_recipe(&r, 2, 1);
    r.ema = acc.decay;
    r.select_best = 0;
    glia_source *src = source_of(task, &d);
    const glia_loop_hooks hooks = {NULL, NULL, NULL, ema_record};
    glia_loop_hooks h = hooks;
    h.user = &acc;
    ck_assert_msg(glia_loop_train(&r, model, src, &h, &res, &err) == GLIA_OK, "%s: %s", task, err.msg);
    ck_assert_int_eq(acc.steps, res.steps);
    ck_assert_msg(acc.steps >= 4, "%s: only %ld steps", task, acc.steps);
    double worst = 0.0;
    for (size_t i = 0; i < model->size; i++) {
        const double e = fabs((double)model->values[i] - acc.avg[i]) / (1e-3 + fabs(acc.avg[i]));
        worst = e > worst ? e : worst;
    }
    ck_assert_msg(worst < 1e-4, "%s: the final weights are not the average (relative error %g)", task, worst);
    ck_assert_msg(memcmp(model->values, acc.live, sizeof(float) * model->size) != 0,
                  "%s: the run ended with its live weights, not the average", task);
    /* selection judges the average: the kept weights score what their epoch reported (the
     * loss: on these easy splits the accuracy of the live weights may well be the same) */
    glia_model_free(model);
    model = NULL;
    r.select_best = 1;
    history val = {0};
    ck_assert_msg(train_res(task, 0.2f, &r, &d, record_val, &val, &model, &res, &err) == GLIA_OK, "%s: %s",
                  task, err.msg);
    ck_assert_int_gt(res.best_epoch, 0);
    glia_eval_result ev;
    ck_assert_msg(glia_loop_evaluate(model, src, GLIA_SPLIT_VAL, 1, &ev, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(fabs(ev.accuracy - res.best_val_accuracy) < 1e-12 &&
                      fabs(ev.loss - val.loss[res.best_epoch - 1]) < 1e-9 * (1.0 + ev.loss),
                  "%s: the kept weights score %.6f (loss %.9f), their epoch reported %.6f (loss %.9f)", task,
                  ev.accuracy, ev.loss, res.best_val_accuracy, val.loss[res.best_epoch - 1]);
    glia_source_free(src);
    glia_model_free(model);
    free(acc.avg);
    free(acc.live);
}
END_TEST

/* The first epoch of a 2-epoch run of the tiny recipe, its checkpoint in a new directory
 * (the test removes it), stopped there. */
typedef struct {
    tiny_data d;
    char dir[256];
    glia_recipe r;
    glia_model *a;
} stopped_run;

static void stopped_after_first_epoch(stopped_run *s)
{
    glia_err err = {0};
    tiny_data_fill(&s->d, TINY_DATA_N);
    glia_test_mkdtemp(s->dir, sizeof s->dir, "loop");
    tiny_recipe(&s->r, 2, 1);
    snprintf(s->r.checkpoint, sizeof s->r.checkpoint, "%s/run.ckpt", s->dir);
    s->r.resume = 1;
    s->a = NULL;
    ck_assert_int_eq(train(tasks[0], 0.0f, &s->r, &s->d, stop_after_first, NULL, &s->a, &err),
                     GLIA_ECANCELLED);
}

/* A checkpoint of a run without the average cannot continue a run with it. */
START_TEST(ema_refuses_a_checkpoint_without_it)
{
    static stopped_run s;
    glia_err err = {0};
    stopped_after_first_epoch(&s);
    s.r.ema = 0.99f;
    ck_assert_int_eq(train(tasks[0], 0.0f, &s.r, &s.d, NULL, NULL, &s.a, &err), GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, "ema") != NULL, "%s", err.msg);
    glia_model_free(s.a);
    glia_test_rmtree(s.dir);
}
END_TEST

/* A checkpoint records which recipe wrote it (glia_recipe_fingerprint): resuming it with
 * another learning rate is refused by name and nothing is applied, while another epoch count
 * under a schedule that does not depend on it (here constant) resumes, as `glia train
 * --epochs N` does after a recipe's run was stopped; under cosine the epoch count is the
 * period, so there it is refused too. */
START_TEST(checkpoint_of_another_recipe_is_refused)
{
    static stopped_run s;
    glia_err err = {0};
    stopped_after_first_epoch(&s);
    char mine[GLIA_CKPT_RECIPE_MAX], other[GLIA_CKPT_RECIPE_MAX];
    glia_recipe_fingerprint(&s.r, mine, sizeof mine);
    glia_recipe changed = s.r;
    changed.optim.lr *= 2.0f;
    changed.sched.base_lr *= 2.0f;
    glia_recipe_fingerprint(&changed, other, sizeof other);
    ck_assert_str_ne(mine, other);
    ck_assert_int_eq(train(tasks[0], 0.0f, &changed, &s.d, NULL, NULL, &s.a, &err), GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, "another recipe") != NULL, "%s", err.msg);
    /* the refused resume left the checkpoint as it was: the recipe that wrote it continues */
    glia_recipe longer = s.r;
    longer.epochs = 3;
    longer.sched.total_epochs = 3;
    glia_recipe_fingerprint(&longer, other, sizeof other);
    ck_assert_str_eq(mine, other);
    glia_recipe cosine = longer;
    cosine.sched.kind = GLIA_SCHED_COSINE;
    glia_recipe_fingerprint(&cosine, mine, sizeof mine);
    cosine.sched.total_epochs = 2;
    glia_recipe_fingerprint(&cosine, other, sizeof other);
    ck_assert_str_ne(mine, other);
    err = (glia_err){0};
    ck_assert_msg(train(tasks[0], 0.0f, &longer, &s.d, NULL, NULL, &s.a, &err) == GLIA_OK, "%s", err.msg);
    glia_model_free(s.a);
    glia_test_rmtree(s.dir);
}
END_TEST

/* Rewrites the checkpoint at path (tensors and metadata) with element 0 of its last
 * optimizer tensor set to NaN; returns that tensor's name in name. */
static void poison_checkpoint(const char *path, char *name, size_t len)
{
    glia_err err = {0};
    glia_st_file *f = NULL;
    ck_assert_msg(glia_st_open(path, &f, &err) == GLIA_OK, "%s", err.msg);
    const size_t n = glia_st_count(f), nmeta = glia_st_metadata_count(f);
    glia_st_entry *e = calloc(n, sizeof *e);
    float **values = calloc(n, sizeof *values);
    const char **meta = calloc(2 * nmeta + 1, sizeof *meta);
    size_t poisoned = n;
    ck_assert(e && values && meta);
    for (size_t i = 0; i < n; i++) {
        const glia_st_tensor *t = glia_st_at(f, i);
        values[i] = malloc(sizeof(float) * (glia_st_numel(t) + 1));
        ck_assert_int_eq(glia_st_read_f32(t, values[i], glia_st_numel(t), &err), GLIA_OK);
        e[i] = (glia_st_entry){t->name, GLIA_DT_F32, t->ndim, t->shape, values[i]};
        if (strncmp(t->name, "optim.", 6) == 0 && glia_st_numel(t) > 0)
            poisoned = i;
    }
    for (size_t i = 0; i < nmeta; i++) {
        meta[2 * i] = glia_st_metadata_key(f, i);
        meta[2 * i + 1] = glia_st_metadata(f, meta[2 * i]);
    }
    ck_assert_uint_lt(poisoned, n);
    values[poisoned][0] = NAN;
    snprintf(name, len, "%s", e[poisoned].name);
    ck_assert_msg(glia_st_write(path, e, n, meta, &err) == GLIA_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        free(values[i]);
    free(values);
    free(e);
    free(meta);
    glia_st_close(f);
}

/* A checkpoint holding a NaN (here in an optimizer buffer) cannot resume a run that means
 * anything: the resume is refused naming the tensor, and nothing of the file is applied. */
START_TEST(nan_checkpoint_is_refused)
{
    static tiny_data d;
    char dir[256], name[256];
    tiny_data_fill(&d, TINY_DATA_N);
    glia_test_mkdtemp(dir, sizeof dir, "loop");
    glia_recipe r;
    glia_err err = {0};
    glia_model *b = NULL;
    tiny_recipe(&r, 3, 1);
    snprintf(r.checkpoint, sizeof r.checkpoint, "%s/run.ckpt", dir);
    r.resume = 1;
    ck_assert_int_eq(train(tasks[0], 0.0f, &r, &d, stop_after_first, NULL, &b, &err), GLIA_ECANCELLED);
    poison_checkpoint(r.checkpoint, name, sizeof name);
    memset(b->values, 0, sizeof(float) * b->size);
    ck_assert_int_eq(train(tasks[0], 0.0f, &r, &d, NULL, NULL, &b, &err), GLIA_EFORMAT);
    char want[320];
    snprintf(want, sizeof want, "tensor '%s' holds a NaN at element 0", name);
    ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, "run.ckpt"), "got '%s', want '%s'", err.msg, want);
    for (size_t i = 0; i < b->size; i++)
        ck_assert_msg(b->values[i] == 0.0f, "value %zu was applied from a refused checkpoint", i);
    glia_model_free(b);
    glia_test_rmtree(dir);
}
END_TEST

/* ---- a reducer over threads: each "rank" is a thread of this process ---- */

enum { RANKS = 2, SLOT = 1 << 20 };

typedef struct {
    pthread_barrier_t barrier;
    unsigned char slot[RANKS][SLOT]; /* each rank's contribution */
    int calls[RANKS];
} thread_comm;

enum { MAX_PENDING = 4096 };

typedef struct {
    glia_reducer base;
    thread_comm *comm;
    /* non-blocking sums: recorded when started, summed in that order by wait_all */
    float *pending[MAX_PENDING];
    size_t pending_n[MAX_PENDING];
    int npending;
    long started, progressed;
} thread_rank;

/* Every rank posts its bytes; between the two barriers each reads every slot. */
static thread_comm *post(const glia_reducer *red, const void *mine, size_t bytes)
{
    thread_comm *c = ((const thread_rank *)red)->comm;
    ck_assert(bytes <= SLOT);
    memcpy(c->slot[red->rank], mine, bytes);
    c->calls[red->rank]++;
    pthread_barrier_wait(&c->barrier);
    return c;
}

/* Sums in rank order, as the loop adds its lanes. */
static glia_status thread_sum_f32(const glia_reducer *red, float *buf, size_t n, glia_err *err)
{
    for (size_t done = 0; done < n;) {
        const size_t part = n - done < SLOT / sizeof(float) ? n - done : SLOT / sizeof(float);
        thread_comm *c = post(red, buf + done, part * sizeof(float));
        for (size_t e = 0; e < part; e++) {
            float sum = ((const float *)c->slot[0])[e];
            for (int r = 1; r < RANKS; r++)
                sum += ((const float *)c->slot[r])[e];
            buf[done + e] = sum;
        }
        pthread_barrier_wait(&c->barrier);
        done += part;
    }
    return GLIA_OK;
}

static glia_status thread_sum_f64(const glia_reducer *red, double *buf, size_t n, glia_err *err)
{
    thread_comm *c = post(red, buf, n * sizeof(double));
    for (size_t e = 0; e < n; e++) {
        double sum = ((const double *)c->slot[0])[e];
        for (int r = 1; r < RANKS; r++)
            sum += ((const double *)c->slot[r])[e];
        buf[e] = sum;
    }
    pthread_barrier_wait(&c->barrier);
    return GLIA_OK;
}

static glia_status thread_gather(const glia_reducer *red, const void *mine, size_t bytes, void *all,
                                 glia_err *err)
{
    thread_comm *c = post(red, mine, bytes);
    for (int r = 0; r < RANKS; r++)
        memcpy((unsigned char *)all + (size_t)r * bytes, c->slot[r], bytes);
    pthread_barrier_wait(&c->barrier);
    return GLIA_OK;
}

/* The overlap's seam without MPI: a start records the bucket, wait_all sums the buckets in
 * the order they were started, which must be the same on every rank (else the barriers pair
 * different buckets and the weights differ, or the call counts do). */
static glia_status thread_start_sum_f32(const glia_reducer *red, float *buf, size_t n, glia_err *err)
{
    thread_rank *t = (thread_rank *)red;
    ck_assert(t->npending < MAX_PENDING);
    t->pending[t->npending] = buf;
    t->pending_n[t->npending++] = n;
    t->started++;
    return GLIA_OK;
}

static glia_status thread_progress(const glia_reducer *red, glia_err *err)
{
    ((thread_rank *)red)->progressed++;
    return GLIA_OK;
}

static glia_status thread_wait_all(const glia_reducer *red, glia_err *err)
{
    thread_rank *t = (thread_rank *)red;
    for (int i = 0; i < t->npending; i++)
        thread_sum_f32(red, t->pending[i], t->pending_n[i], err);
    t->npending = 0;
    return GLIA_OK;
}

typedef struct {
    const char *task;
    const tiny_data *d;
    glia_recipe r;
    thread_rank rank;
    history h;
    glia_model *model;
    glia_train_result res;
    glia_status rc;
    glia_err err;
} rank_run;

static void *run_rank(void *arg)
{
    rank_run *x = arg;
    x->r.reducer = &x->rank.base;
    x->rc = train_res(x->task, 0.3f, &x->r, x->d, record, &x->h, &x->model, &x->res, &x->err);
    return NULL;
}

/* bucket: 0 for the blocking sum, else the reducer's non-blocking trio with buckets of that
 * many floats (small, so that the tiny models have several) */
static void two_ranks_are_two_lanes_with(const char *task, size_t bucket)
{
    static tiny_data d;
    static thread_comm comm;
    char dir[128];
    glia_test_mkdtemp(dir, sizeof dir, "loop-ranks");
    tiny_data_fill(&d, TINY_DATA_N);
    glia_err err = {0};
    glia_recipe r;
    history lanes = {0};
    glia_model *one = NULL;
    tiny_recipe(&r, 2, 2); /* dropout on: every lane's stream is its place in the run */
    ck_assert_msg(train(task, 0.3f, &r, &d, record, &lanes, &one, &err) == GLIA_OK, "%s: %s", task, err.msg);

    memset(&comm, 0, sizeof comm);
    pthread_barrier_init(&comm.barrier, NULL, RANKS);
    rank_run run[RANKS];
    pthread_t th[RANKS];
    for (int k = 0; k < RANKS; k++) {
        memset(&run[k], 0, sizeof run[k]);
        run[k].task = task;
        run[k].d = &d;
        tiny_recipe(&run[k].r, 2, 1);
        /* each rank its own path, to see which writes: only rank 0 may */
        snprintf(run[k].r.checkpoint, sizeof run[k].r.checkpoint, "%s/rank%d.ckpt", dir, k);
        run[k].rank.base = (glia_reducer){.rank = k,
                                          .size = RANKS,
                                          .sum_f32 = thread_sum_f32,
                                          .sum_f64 = thread_sum_f64,
                                          .gather = thread_gather};
        if (bucket)
            run[k].rank.base = (glia_reducer){.rank = k,
                                              .size = RANKS,
                                              .sum_f32 = thread_sum_f32,
                                              .sum_f64 = thread_sum_f64,
                                              .gather = thread_gather,
                                              .start_sum_f32 = thread_start_sum_f32,
                                              .progress = thread_progress,
                                              .wait_all = thread_wait_all,
                                              .bucket_floats = bucket};
        run[k].rank.comm = &comm;
        ck_assert_int_eq(pthread_create(&th[k], NULL, run_rank, &run[k]), 0);
    }
    for (int k = 0; k < RANKS; k++)
        pthread_join(th[k], NULL);
    pthread_barrier_destroy(&comm.barrier);
    for (int k = 0; k < RANKS; k++) {
        ck_assert_msg(run[k].rc == GLIA_OK, "%s rank %d: %s", task, k, run[k].err.msg);
        ck_assert_msg(memcmp(one->values, run[k].model->values, sizeof(float) * one->size) == 0,
                      "%s: rank %d's weights differ from 2 lanes'", task, k);
        ck_assert_int_eq(run[k].h.n, 2);
        for (int e = 0; e < 2; e++)
            ck_assert_msg(run[k].h.loss[e] == lanes.loss[e], "%s rank %d epoch %d: loss %.9f, 2 lanes %.9f",
                          task, k, e + 1, run[k].h.loss[e], lanes.loss[e]);
    }
    ck_assert_int_eq(comm.calls[0], comm.calls[1]);
    if (bucket) { /* the buckets, and the pass started some of them before it ended */
        const size_t size = one->size, per_step = (size + bucket - 1) / bucket;
        ck_assert_int_eq(run[0].rank.started, run[1].rank.started);
        ck_assert_int_eq(run[0].res.buckets, run[0].rank.started);
        ck_assert_msg(per_step > 1 && run[0].res.buckets == (long)per_step * run[0].res.steps,
                      "%s: %ld buckets in %ld steps of %zu floats", task, run[0].res.buckets,
                      run[0].res.steps, size);
        ck_assert_msg(run[0].res.buckets_during_backward > 0 && run[0].rank.progressed > 0,
                      "%s: no bucket started during the backward pass", task);
    } else {
        ck_assert_int_eq(run[0].res.buckets, 0);
    }
    ck_assert_msg(comm.calls[0] > 0, "%s: the reducer was never called", task);
    ck_assert_msg(access(run[0].r.checkpoint, F_OK) == 0, "%s: rank 0 wrote no checkpoint", task);
    ck_assert_msg(access(run[1].r.checkpoint, F_OK) != 0, "%s: rank 1 wrote a checkpoint", task);
    for (int k = 0; k < RANKS; k++)
        glia_model_free(run[k].model);
    glia_model_free(one);
    glia_test_rmtree(dir);
}

START_TEST(two_ranks_are_two_lanes)
{
    two_ranks_are_two_lanes_with(tasks[_i], 0);
}
END_TEST

/* The same bits when the sums start during the backward pass, bucket by bucket. */
START_TEST(two_ranks_overlapped_are_two_lanes)
{
    two_ranks_are_two_lanes_with(tasks[_i], 16);
}
END_TEST

/* With batch norm, 2 lanes train on half-batch statistics and average their running
 * estimates after each step: every batch is counted once, and the estimates stay those of
 * a mean over the data (not 2 lanes' sum). */
START_TEST(bn_lanes_count_every_batch)
{
    static tiny_data d;
    tiny_data_fill(&d, TINY_DATA_N);
    glia_recipe r;
    glia_err err = {0};
    glia_model *a = NULL;
    tiny_recipe(&r, 2, 2);
    ck_assert_msg(train("image-classification-bn", 0.0f, &r, &d, NULL, NULL, &a, &err) == GLIA_OK, "%s",
                  err.msg);
    ck_assert_uint_eq(a->nbuffers, 3);
    const glia_param *nbt = glia_model_find_param(a, "norm.0.num_batches_tracked");
    const glia_param *var = glia_model_find_param(a, "norm.0.running_var");
    ck_assert_ptr_nonnull(nbt);
    /* 48 examples in batches of tiny_recipe's size, 2 epochs */
    const long steps = 2 * ((TINY_DATA_N + r.batch.size - 1) / r.batch.size);
    ck_assert_float_eq(nbt->value[0], (float)steps);
    double mean = 0, sq = 0;
    for (int i = 0; i < TINY_DATA_N * 9; i++) {
        mean += d.x[i];
        sq += (double)d.x[i] * d.x[i];
    }
    mean /= TINY_DATA_N * 9;
    const double v = sq / (TINY_DATA_N * 9) - mean * mean;
    /* 1 - 0.9^steps of the way from 1 towards the data's variance, give or take the batches' */
    ck_assert_msg(fabs(var->value[0] - v) < 0.5 * fabs(1.0 - v) + 0.2, "running_var %.4f, data %.4f",
                  (double)var->value[0], v);
    glia_model_free(a);
}
END_TEST

/* A tiny conv net over the tiny images (1 x 3 x 3) whose inference derives weights from the
 * trained ones: conv 1 -> 8, [batch norm,] ReLU, conv 8 -> 4 (a Winograd conv), [batch norm,]
 * ReLU, flatten, linear 36 -> classes. Without batch norm no training forward writes the
 * weights: only the optimizer does. */
static glia_manifest conv_manifest(int bn)
{
    static glia_layer layers[8];
    glia_manifest m = tiny_models_manifest("image-classification", 0.0f);
    const int chans[2][2] = {{1, 8}, {8, 4}};
    int n = 0;
    memset(layers, 0, sizeof layers);
    for (int c = 0; c < 2; c++) {
        glia_layer *conv = &layers[n++];
        *conv = (glia_layer){.kind = GLIA_LAYER_CONV2D};
        conv->cfg.conv.in_channels = chans[c][0];
        conv->cfg.conv.out_channels = chans[c][1];
        conv->cfg.conv.kernel = 3;
        conv->cfg.conv.stride = 1;
        conv->cfg.conv.padding = 1;
        if (bn) {
            glia_layer *norm = &layers[n++];
            *norm = (glia_layer){.kind = GLIA_LAYER_BATCHNORM2D};
            norm->cfg.bn.num_features = chans[c][1];
            norm->cfg.bn.eps = 1e-5f;
            norm->cfg.bn.momentum = 0.1f;
        }
        layers[n++] = (glia_layer){.kind = GLIA_LAYER_RELU};
    }
    layers[n++] = (glia_layer){.kind = GLIA_LAYER_FLATTEN};
    layers[n] = (glia_layer){.kind = GLIA_LAYER_LINEAR};
    layers[n].cfg.linear.in_features = 36;
    layers[n].cfg.linear.out_features = TINY_CLASSES;
    n++;
    for (int i = 0; i < n; i++)
        snprintf(layers[i].name, sizeof layers[i].name, "%s.%d", i < n - 1 ? "features" : "classifier",
                 i < n - 1 ? i : 0);
    m.layers = layers;
    m.nlayers = n;
    return m;
}

enum { KEPT_N = 8 };

typedef struct {
    const glia_model *model;
    glia_model_ctx *kept;
    const glia_batch *b;
} kept_ctx;

/* After each epoch, as an evaluator that keeps its ctx would: the ctx derives its weights from
 * the epoch's, and the next epoch's steps must renew them. */
static int predict_with_kept(const glia_progress *p, void *user)
{
    kept_ctx *k = user;
    glia_prediction out = {0};
    glia_err err = {0};
    ck_assert_int_eq(k->model->ops->predict(k->model, k->kept, k->b, &out, &err), GLIA_OK);
    return 0;
}

/* An inference ctx used before and between a run's epochs and kept (as a served model's or an
 * evaluator's would be) answers after the run exactly as a new one does: every write of the
 * loop - the optimizer's steps, the lanes' averaged batch-norm statistics, the best epoch's
 * weights copied back - renews the weights generation, so the ctx derives its folds and
 * Winograd weights again. Without batch norm (_i 0) only the optimizer's steps write. */
START_TEST(a_kept_inference_ctx_follows_training)
{
    const int bn = _i > 0, lanes = 1 + _i;
    static tiny_data d;
    tiny_data_fill(&d, TINY_DATA_N);
    glia_err err = {0};
    glia_manifest m = conv_manifest(bn);
    glia_model *model = NULL;
    ck_assert_msg(glia_model_new(&m, &model, &err) == GLIA_OK, "%s", err.msg);
    glia_rng init;
    glia_train_seed_stream(&init, 3, GLIA_STREAM_INIT);
    model->ops->reset(model, &init);
    const glia_ctx_spec spec = {.max_batch = KEPT_N};
    glia_model_ctx *kept = NULL, *fresh = NULL;
    ck_assert_msg(model->ops->ctx_new(model, &spec, &kept, &err) == GLIA_OK, "%s", err.msg);
    const glia_batch b = {.n = KEPT_N, .x = d.x};
    glia_prediction p = {0};
    float before[KEPT_N * TINY_CLASSES], after[KEPT_N * TINY_CLASSES];
    ck_assert_int_eq(model->ops->predict(model, kept, &b, &p, &err), GLIA_OK);
    memcpy(before, p.logits, sizeof before);

    glia_recipe r;
    tiny_recipe(&r, 3, lanes);
    r.select_best = 1;
    glia_source *src = source_of("image-classification", &d);
    glia_train_result res;
    kept_ctx k = {model, kept, &b};
    const glia_loop_hooks hooks = {predict_with_kept, &k, NULL, NULL};
    ck_assert_msg(glia_loop_train(&r, model, src, &hooks, &res, &err) == GLIA_OK, "%s", err.msg);
    glia_source_free(src);

    ck_assert_int_eq(model->ops->predict(model, kept, &b, &p, &err), GLIA_OK);
    memcpy(after, p.logits, sizeof after);
    ck_assert_msg(model->ops->ctx_new(model, &spec, &fresh, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(model->ops->predict(model, fresh, &b, &p, &err), GLIA_OK);
    ck_assert_msg(memcmp(after, p.logits, sizeof after) == 0,
                  "batch norm %d, %d lane(s): the kept ctx answers %g, a new one %g", bn, lanes,
                  (double)after[0], (double)p.logits[0]);
    ck_assert(memcmp(before, after, sizeof after) != 0); /* training did move the weights */
    model->ops->ctx_free(kept);
    model->ops->ctx_free(fresh);
    glia_model_free(model);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("families");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, two_lanes_give_one_lanes_loss, 0, 4);
    tcase_add_loop_test(tc, two_lanes_resume_bit_for_bit, 0, 4);
    tcase_add_loop_test(tc, ema_resumes_bit_for_bit, 0, 4);
    tcase_add_loop_test(tc, ema_ends_with_the_average, 0, 4);
    tcase_add_test(tc, ema_refuses_a_checkpoint_without_it);
    tcase_add_test(tc, checkpoint_of_another_recipe_is_refused);
    tcase_add_test(tc, nan_checkpoint_is_refused);
    tcase_add_loop_test(tc, two_ranks_are_two_lanes, 0, 4);
    tcase_add_loop_test(tc, two_ranks_overlapped_are_two_lanes, 0, 4);
    tcase_add_test(tc, bn_lanes_count_every_batch);
    tcase_add_loop_test(tc, a_kept_inference_ctx_follows_training, 0, 2);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
