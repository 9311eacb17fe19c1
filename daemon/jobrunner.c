/*
 * jobrunner.c - see jobrunner.h.
 *
 * What a job trains is fully described by its record (trainreq.h), so the thread works
 * on a copy of the record taken when the job starts and writes back only progress and
 * the result. A job's version number is fixed in its record the first time it runs, so
 * that a resumed job publishes the same version it would have without the interruption.
 */
#define _GNU_SOURCE /* gettid: the niceness of one thread */
#include "daemon/jobrunner.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/train/history.h"
#include "core/train/run.h"
#include "daemon/log.h"
#include "daemon/statedir.h"

struct jobrunner {
    jobrunner_config cfg;
    pthread_cond_t cv; /* with the store's lock: a job was queued, or stop */
    job *head, *tail;  /* queued, FIFO */
    int queued;
    job *running;
    int stopping;
    pthread_t thread;
    int started;
    /* outcomes, durations and models; jobs by status are counted when asked */
    metrics_training fig;
};

/* ---- the queue (store locked) ---- */

void jobrunner_enqueue(jobrunner *r, job *jb)
{
    jb->next = NULL;
    if (r->tail)
        r->tail->next = jb;
    else
        r->head = jb;
    r->tail = jb;
    r->queued++;
    pthread_cond_signal(&r->cv);
}

static void unqueue(jobrunner *r, job *jb)
{
    for (job **p = &r->head, *prev = NULL; *p; prev = *p, p = &(*p)->next)
        if (*p == jb) {
            *p = jb->next;
            if (r->tail == jb)
                r->tail = prev;
            r->queued--;
            return;
        }
}

int jobrunner_admit(jobrunner *r, problem *p)
{
    if (r->queued >= r->cfg.max_queued || jobstore_count(r->cfg.store) >= JOBSTORE_MAX_JOBS)
        return problem_fail(p, 503, "%d training jobs are waiting already; retry when one has finished",
                            r->queued);
    return 0;
}

int jobrunner_cancel(jobrunner *r, job *jb, problem *p)
{
    if (jb->status == JOB_QUEUED || jb->status == JOB_INTERRUPTED) {
        glia_err err = {0};
        if (jobstore_change_status(r->cfg.store, jb, JOB_CANCELLED, &err) != GLIA_OK)
            return problem_fail(p, err.code == GLIA_ENOMEM ? 503 : 507, "job %s is not cancelled: %s", jb->id,
                                err.msg);
        unqueue(r, jb);
        r->fig.finished[JOB_CANCELLED - JOB_SUCCEEDED].count++;
        return 200;
    }
    if (jb->status == JOB_RUNNING) {
        jb->user_cancelled = 1;
        atomic_store(&jb->cancel, 1); /* the trainer stops before its next step */
        return 202;
    }
    return problem_fail(p, 409, "job %s has already %s", jb->id, jobstore_status_name(jb->status));
}

int jobrunner_resume(jobrunner *r, job *jb, problem *p)
{
    if (jb->status != JOB_INTERRUPTED)
        return problem_fail(p, 409, "job %s is %s; only an interrupted job can be resumed", jb->id,
                            jobstore_status_name(jb->status));
    if (r->queued >= r->cfg.max_queued)
        return problem_fail(p, 503, "%d training jobs are waiting already; retry later", r->queued);
    glia_err err = {0};
    if (jobstore_change_status(r->cfg.store, jb, JOB_QUEUED, &err) != GLIA_OK)
        return problem_fail(p, err.code == GLIA_ENOMEM ? 503 : 507, "job %s is not resumed: %s", jb->id,
                            err.msg);
    jobrunner_enqueue(r, jb);
    return 202;
}

/* ---- figures (store locked) ---- */

static metrics_train_model *model_figures(jobrunner *r, const char *model)
{
    metrics_training *f = &r->fig;
    for (int i = 0; i < f->nmodels; i++)
        if (strcmp(f->models[i].model, model) == 0)
            return &f->models[i];
    if (f->nmodels == METRICS_TRAIN_MODELS)
        return NULL;
    metrics_train_model *m = &f->models[f->nmodels++];
    memset(m, 0, sizeof *m);
    snprintf(m->model, sizeof m->model, "%s", model);
    return m;
}

static void count_finished(jobrunner *r, job_status st, double seconds)
{
    if (st < JOB_SUCCEEDED || st > JOB_CANCELLED)
        return; /* interrupted: it has not finished */
    r->fig.finished[st - JOB_SUCCEEDED].count++;
    r->fig.durations[metrics_train_bucket(seconds)]++;
    r->fig.duration_sum += seconds;
}

void jobrunner_figures(jobrunner *r, metrics_training *out)
{
    *out = r->fig;
    out->njobs = JOB_NSTATUS;
    for (int s = 0; s < JOB_NSTATUS; s++)
        out->jobs[s] = (metrics_count){jobstore_status_name((job_status)s), 0};
    for (int i = 0; i < jobstore_count(r->cfg.store); i++)
        out->jobs[jobstore_at(r->cfg.store, i)->status].count++;
}

/* ---- one job ---- */

typedef struct {
    jobrunner *r;
    job *jb;
    const char *model;
    glia_history *history; /* STATE/jobs/ID/history.jsonl (NULL: could not be opened) */
} run_ctx;

static void on_start(const glia_run_info *info, void *user)
{
    run_ctx *c = user;
    jobstore_lock(c->r->cfg.store);
    json_object_set_new(c->jb->rec, "train_examples", json_integer((json_int_t)info->train));
    json_object_set_new(c->jb->rec, "validation_examples", json_integer((json_int_t)info->val));
    json_object_set_new(c->jb->rec, "parameters", json_integer((json_int_t)info->parameters));
    jobstore_unlock(c->r->cfg.store);
}

/* Every step's and evaluation's figures into the job's history file (GET /v1/jobs/ID/history):
 * appended, beside the record, so they survive a restart and cost no memory. */
static void on_record(const glia_train_record *rec, void *user)
{
    glia_history_add(((run_ctx *)user)->history, rec);
}

static int on_progress(const glia_progress *pr, void *user)
{
    run_ctx *c = user;
    jobstore_lock(c->r->cfg.store);
    json_t *rec = c->jb->rec;
    double per_epoch = pr->seconds / (pr->epoch - json_integer_value(json_object_get(rec, "first_epoch")));
    json_object_set_new(rec, "epoch", json_integer(pr->epoch));
    json_object_set_new(rec, "epochs", json_integer(pr->epochs));
    json_object_set_new(rec, "step", json_integer(pr->step));
    json_object_set_new(rec, "progress", json_real((double)pr->epoch / pr->epochs));
    json_object_set_new(rec, "loss", json_real(pr->train_loss));
    json_object_set_new(rec, "learning_rate", json_real(pr->lr));
    json_object_set_new(rec, "samples_per_second", json_real(pr->samples_per_second));
    json_object_set_new(rec, "eta_seconds",
                        json_real(isfinite(per_epoch) ? per_epoch * (pr->epochs - pr->epoch) : 0));
    json_array_append_new(json_object_get(rec, "evaluations"),
                          json_pack("{s:i, s:f, s:f, s:f, s:f}", "epoch", pr->epoch, "train_loss",
                                    pr->train_loss, "train_accuracy", pr->train_accuracy, "val_loss",
                                    pr->val_loss, "val_accuracy", pr->val_accuracy));
    metrics_train_model *m = model_figures(c->r, c->model);
    if (m) {
        m->samples +=
            (double)json_integer_value(json_object_get(rec, "train_examples")); /* one epoch's worth */
        m->loss = pr->train_loss;
        m->epoch = pr->epoch;
    }
    jobstore_save(c->r->cfg.store, c->jb);
    jobstore_unlock(c->r->cfg.store);
    return 0;
}

/* Everything before the training loop: the recipe from the record (rec, a copy), the
 * working directories, the version number, checkpoint and deadline. */
static glia_status prepare(jobrunner *r, job *jb, const json_t *rec, glia_recipe *recipe, long *version,
                           char *out, size_t out_len, glia_err *err)
{
    char dir[4200];
    const char *model = json_string_value(json_object_get(rec, "model"));
    double max_runtime =
        json_number_value(json_object_get(json_object_get(rec, "recipe"), "max_runtime_seconds"));
    jobstore_job_dir(r->cfg.store, jb, dir, sizeof dir);
    snprintf(out, out_len, "%s/out", dir);
    glia_status rc = trainreq_recipe(&r->cfg.req, rec, recipe, err);
    if (rc != GLIA_OK || (rc = statedir_mkdirs(out, err)) != GLIA_OK)
        return rc;
    *version = (long)json_integer_value(json_object_get(rec, "version"));
    snprintf(recipe->checkpoint, sizeof recipe->checkpoint, "%s/checkpoint.safetensors", dir);
    recipe->resume = 1; /* a fresh job has no checkpoint yet */
    recipe->deadline = max_runtime > 0 ? glia_train_clock() + max_runtime : 0;
    int first_run = *version <= 0;
    if (first_run) /* the number is fixed once, so that a resumed job writes the same one */
        *version = versions_next(r->cfg.ver, model); /* reads the disk: before taking the lock */
    jobstore_lock(r->cfg.store);
    if (first_run)
        json_object_set_new(jb->rec, "version", json_integer(*version));
    json_object_set_new(jb->rec, "epochs", json_integer(recipe->epochs));
    json_object_set_new(jb->rec, "first_epoch",
                        json_integer(json_integer_value(json_object_get(jb->rec, "epoch"))));
    jobstore_save(r->cfg.store, jb);
    jobstore_unlock(r->cfg.store);
    return GLIA_OK;
}

static json_t *result_of(const glia_run_result *res, long version, int translation)
{
    json_t *result = json_pack("{s:I, s:f, s:f, s:I, s:i, s:f, s:b}", "version", (json_int_t)version,
                               "test_accuracy", res->test_accuracy, "test_loss", res->test_loss,
                               "test_examples", (json_int_t)res->test_examples, "selected_epoch",
                               res->train.best_epoch, "training_seconds", res->train.seconds, "promoted", 0);
    if (translation) { /* the yardstick is BLEU; accuracy above is next-token accuracy */
        json_object_set_new(result, "bleu", json_real(res->bleu));
        json_object_set_new(result, "chrf", json_real(res->chrf));
    }
    return result;
}

/* The job's promote rule applied to the published version; the outcome goes into result. */
static void promote_if_asked(jobrunner *r, const job *jb, const json_t *rec, const glia_recipe *recipe,
                             const glia_run_result *res, long version, json_t *result)
{
    const char *model = json_string_value(json_object_get(rec, "model"));
    const char *mode = json_string_value(json_object_get(rec, "promote"));
    const int translation = glia_recipe_kind(recipe) == GLIA_DATA_PAIRS;
    int promote = strcmp(mode, "always") == 0;
    if (strcmp(mode, "if_better") == 0) {
        double serving = -1;
        glia_err err = {0};
        if (versions_if_better(r->cfg.ver, model, recipe, translation ? res->bleu : res->test_accuracy,
                               &serving, &promote, &err) == GLIA_OK)
            json_object_set_new(result, translation ? "serving_bleu" : "serving_test_accuracy",
                                json_real(serving));
        else
            log_warn("job %s: cannot evaluate the serving version (%s); not promoting", jb->id, err.msg);
    }
    if (!promote)
        return;
    problem p = {0};
    if (versions_promote(r->cfg.ver, model, version, &p) == 0)
        json_object_set_new(result, "promoted", json_true());
    else
        json_object_set_new(result, "promote_error", json_string(p.detail));
}

/* Runs one job to its end; returns its final status and fills the record's result or error. */
static job_status run_job(jobrunner *r, job *jb)
{
    glia_err err = {0};
    glia_recipe recipe;
    glia_run_result res;
    long version = 0;
    char out[4300];
    job_status st = JOB_FAILED;
    jobstore_lock(r->cfg.store);
    json_t *rec = json_deep_copy(jb->rec);
    jobstore_unlock(r->cfg.store);
    const char *model = json_string_value(json_object_get(rec, "model"));
    if (prepare(r, jb, rec, &recipe, &version, out, sizeof out, &err) != GLIA_OK)
        goto done;
    run_ctx c = {r, jb, model, NULL};
    char history[4300];
    glia_err herr = {0};
    /* appended: a resumed job's first step drops what followed its checkpoint, and redoes it */
    if (glia_history_open(jobstore_history_path(r->cfg.store, jb, history, sizeof history), 1, &c.history,
                          &herr) != GLIA_OK)
        log_warn("job %s: no step history: %s", jb->id, herr.msg);
    glia_run_hooks hooks = {on_start, on_progress, &c, &jb->cancel, on_record};
    glia_status rc = glia_run_training(&recipe, out, version, &hooks, &res, &err);
    if (glia_history_close(c.history, &herr) != GLIA_OK)
        log_warn("job %s: the step history is incomplete: %s", jb->id, herr.msg);
    if (rc == GLIA_ECANCELLED) {
        st = jb->user_cancelled ? JOB_CANCELLED : JOB_INTERRUPTED;
        goto done;
    }
    if (rc == GLIA_ETIMEDOUT) { /* the loop says where it stopped; the user wants why first */
        char where[GLIA_ERR_MSG_MAX];
        const double limit =
            json_number_value(json_object_get(json_object_get(rec, "recipe"), "max_runtime_seconds"));
        snprintf(where, sizeof where, "%s", err.msg); /* copied: err is rewritten from it */
        glia_err_set(&err, GLIA_ETIMEDOUT,
                     "stopped after %.0f s: the job ran over max_runtime_seconds (%g); %s",
                     glia_train_clock() - (recipe.deadline - limit), limit, where);
    }
    if (rc != GLIA_OK || versions_publish(r->cfg.ver, model, version, out, &err) != GLIA_OK)
        goto done;
    json_t *result = result_of(&res, version, glia_recipe_kind(&recipe) == GLIA_DATA_PAIRS);
    promote_if_asked(r, jb, rec, &recipe, &res, version, result);
    jobstore_lock(r->cfg.store);
    json_object_set_new(jb->rec, "result", result);
    json_object_set_new(jb->rec, "progress", json_real(1.0));
    json_object_set_new(jb->rec, "eta_seconds", json_real(0));
    jobstore_unlock(r->cfg.store);
    statedir_remove(recipe.checkpoint); /* the version is the result now */
    st = JOB_SUCCEEDED;
done:
    if (st == JOB_FAILED) {
        jobstore_lock(r->cfg.store);
        json_object_set_new(jb->rec, "error", json_string(err.msg));
        jobstore_unlock(r->cfg.store);
    }
    json_decref(rec);
    return st;
}

/* ---- the thread ---- */

static void *job_thread(void *arg)
{
    jobrunner *r = arg;
    jobstore *s = r->cfg.store;
    /* below the inference workers: nice applies to this thread and the trainer threads it starts */
    if (r->cfg.nice > 0 && setpriority(PRIO_PROCESS, (id_t)gettid(), r->cfg.nice) != 0)
        log_warn("training thread: cannot lower its priority: %s", strerror(errno));
    jobstore_lock(s);
    for (;;) {
        while (!r->head && !r->stopping)
            jobstore_wait(s, &r->cv);
        if (r->stopping)
            break;
        job *jb = r->head;
        unqueue(r, jb);
        r->running = jb;
        atomic_store(&jb->cancel, 0);
        jb->user_cancelled = 0;
        json_object_del(jb->rec, "error");
        jobstore_set_status(s, jb, JOB_RUNNING);
        jobstore_unlock(s);
        log_info("job %s: training %s", jb->id, json_string_value(json_object_get(jb->rec, "model")));
        double t0 = glia_train_clock();
        job_status st = run_job(r, jb);
        double seconds = glia_train_clock() - t0;
        jobstore_lock(s);
        r->running = NULL;
        jobstore_set_status(s, jb, st);
        count_finished(r, st, seconds);
        const char *error = json_string_value(json_object_get(jb->rec, "error"));
        log_info("job %s: %s after %.1f s%s%s", jb->id, jobstore_status_name(st), seconds, error ? ": " : "",
                 error ? error : "");
    }
    jobstore_unlock(s);
    return NULL;
}

glia_status jobrunner_start(const jobrunner_config *cfg, jobrunner **out, glia_err *err)
{
    *out = NULL;
    jobrunner *r = calloc(1, sizeof *r);
    if (!r)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    r->cfg = *cfg;
    pthread_cond_init(&r->cv, NULL);
    r->fig.nfinished = JOB_CANCELLED - JOB_SUCCEEDED + 1;
    for (int s = JOB_SUCCEEDED; s <= JOB_CANCELLED; s++)
        r->fig.finished[s - JOB_SUCCEEDED].label = jobstore_status_name((job_status)s);
    jobstore_lock(r->cfg.store);
    for (int i = 0; i < jobstore_count(r->cfg.store); i++) {
        job *jb = jobstore_at(r->cfg.store, i);
        if (jb->status == JOB_QUEUED)
            jobrunner_enqueue(r, jb);
    }
    jobstore_unlock(r->cfg.store);
    if (!r->cfg.enabled) { /* a replica that only serves: it must never publish a version */
        *out = r;
        return GLIA_OK;
    }
    if (pthread_create(&r->thread, NULL, job_thread, r) != 0) {
        jobrunner_stop(r);
        return glia_err_set(err, GLIA_ENOMEM, "cannot start the training thread");
    }
    r->started = 1;
    *out = r;
    return GLIA_OK;
}

void jobrunner_stop(jobrunner *r)
{
    if (!r)
        return;
    jobstore_lock(r->cfg.store);
    r->stopping = 1;
    if (r->running)
        atomic_store(&r->running->cancel, 1); /* user_cancelled stays 0: interrupted, resumable */
    pthread_cond_broadcast(&r->cv);
    jobstore_unlock(r->cfg.store);
    if (r->started)
        pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    free(r);
}
