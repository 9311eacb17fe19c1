/*
 * jobs.c - see jobs.h. Each HTTP call takes the store's lock for as long as it reads or
 * changes a record, so an answer is always one consistent copy of it.
 */
#include "daemon/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/train/history.h"
#include "daemon/jobrunner.h"
#include "daemon/jobstore.h"
#include "daemon/trainreq.h"
#include "daemon/versions.h"

struct jobs {
    versions *ver;
    jobstore *store;
    jobrunner *runner;
    trainreq_env req; /* how a body becomes a job */
    int enabled;      /* training.enabled */
};

glia_status jobs_open(const jobs_config *cfg, jobs **out, glia_err *err)
{
    *out = NULL;
    jobs *j = calloc(1, sizeof *j);
    if (!j)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    versions_config vc = {cfg->state_dir, cfg->reg, cfg->model_path, cfg->user, cfg->repo};
    glia_status rc = versions_open(&vc, &j->ver, err);
    if (rc == GLIA_OK)
        rc = jobstore_open(cfg->state_dir, &j->store, err);
    j->req = (trainreq_env){j->ver, cfg->data, cfg->threads};
    j->enabled = cfg->enabled;
    if (rc == GLIA_OK) {
        jobrunner_config runner = {j->store, j->ver, j->req, cfg->nice, cfg->max_queued, cfg->enabled};
        rc = jobrunner_start(&runner, &j->runner, err);
    }
    if (rc != GLIA_OK) {
        jobs_close(j);
        return rc;
    }
    *out = j;
    return GLIA_OK;
}

void jobs_close(jobs *j)
{
    if (!j)
        return;
    jobrunner_stop(j->runner); /* first: the thread writes records and versions */
    jobstore_close(j->store);
    versions_close(j->ver);
    free(j);
}

int jobs_accepting(jobs *j, problem *p)
{
    if (j->enabled)
        return 1;
    problem_fail(p, 409,
                 "this gliad runs no training jobs (training.enabled is false in its configuration): send "
                 "POST /v1/train, job resumes and data set uploads to the replica that trains");
    return 0;
}

int jobs_submit(jobs *j, const json_t *body, json_t **out, char *location, size_t location_len, problem *p)
{
    trainreq req;
    *out = NULL;
    if (!jobs_accepting(j, p)) /* before the body is judged: it is the wrong replica, whatever it asks */
        return p->status;
    int code = trainreq_parse(&j->req, body, &req, p);
    if (code)
        return code;
    if (req.dry_run) {
        *out = json_pack("{s:b, s:O}", "valid", 1, "recipe", req.effective);
        trainreq_release(&req);
        return 200;
    }
    json_object_set(req.rec, "effective_recipe", req.effective);
    jobstore_lock(j->store);
    job *jb = NULL;
    glia_err err = {0};
    if ((code = jobrunner_admit(j->runner, p)) == 0) {
        /* not on disk: it was never accepted. 507 when the disk refused (full, read-only,
         * failing): retrying will not help until an operator frees space */
        if (jobstore_add(j->store, json_incref(req.rec), req.epochs, &jb, &err) != GLIA_OK)
            code = problem_fail(p, err.code == GLIA_EIO ? 507 : 503, "%s", err.msg);
    }
    if (jb) {
        jobrunner_enqueue(j->runner, jb);
        *out = jobstore_view(jb);
        snprintf(location, location_len, "/v1/jobs/%s", jb->id);
        code = 202;
    }
    jobstore_unlock(j->store);
    trainreq_release(&req);
    return code;
}

int jobs_list(jobs *j, const char *status, json_t **out, problem *p)
{
    int want = status ? jobstore_status_parse(status) : -1;
    if (status && want < 0)
        return problem_fail(
            p, 400,
            "status must be one of queued, running, succeeded, failed, cancelled, interrupted "
            "(got '%s')",
            status);
    json_t *list = json_array();
    jobstore_lock(j->store);
    for (int i = jobstore_count(j->store) - 1; i >= 0; i--) { /* newest first */
        const job *jb = jobstore_at(j->store, i);
        if (want < 0 || (int)jb->status == want)
            json_array_append_new(list, jobstore_view(jb));
    }
    jobstore_unlock(j->store);
    *out = json_pack("{s:o}", "jobs", list);
    return 200;
}

/* Finds job id and, with the store still locked, applies act to it (NULL: just read it):
 * the status act answers (200 without one) with the job's record, or 404 or act's problem. */
static int with_job(jobs *j, const char *id, int (*act)(jobrunner *, job *, problem *), json_t **out,
                    problem *p)
{
    jobstore_lock(j->store);
    job *jb = jobstore_find(j->store, id);
    int code = !jb   ? problem_fail(p, 404, "no job '%s' (GET /v1/jobs lists them)", id)
               : act ? act(j->runner, jb, p)
                     : 200;
    *out = code < 300 ? jobstore_view(jb) : NULL;
    jobstore_unlock(j->store);
    return code;
}

int jobs_get(jobs *j, const char *id, json_t **out, problem *p)
{
    return with_job(j, id, NULL, out, p);
}

int jobs_cancel(jobs *j, const char *id, json_t **out, problem *p)
{
    return with_job(j, id, jobrunner_cancel, out, p);
}

int jobs_resume(jobs *j, const char *id, json_t **out, problem *p)
{
    *out = NULL;
    if (!jobs_accepting(j, p))
        return p->status;
    return with_job(j, id, jobrunner_resume, out, p);
}

int jobs_history(jobs *j, const char *id, long since, long limit, json_t **out, problem *p)
{
    char path[4300];
    glia_history_page page = {0};
    glia_err err = {0};
    *out = NULL;
    jobstore_lock(j->store);
    job *jb = jobstore_find(j->store, id);
    const char *status = jb ? jobstore_status_name(jb->status) : NULL;
    if (jb)
        jobstore_history_path(j->store, jb, path, sizeof path);
    jobstore_unlock(j->store);
    if (!jb)
        return problem_fail(p, 404, "no job '%s' (GET /v1/jobs lists them)", id);
    /* read outside the lock: the trainer appends whole lines and a cut last line is skipped */
    glia_status rc = glia_history_read(path, since, (size_t)limit, &page, &err);
    if (rc != GLIA_OK && rc != GLIA_ENOTFOUND) { /* not found: a queued job has no step yet */
        glia_history_page_free(&page);
        return problem_fail(p, 500, "the job's history cannot be read: %s", err.msg);
    }
    *out = json_pack("{s:s, s:s, s:o, s:o, s:o}", "id", id, "status", status, "steps", page.steps, "evals",
                     page.evals, "next", page.next >= 0 ? json_integer(page.next) : json_null());
    return 200;
}

int jobs_promote(jobs *j, const char *model, long version, json_t **out, problem *p)
{
    char path[4096];
    if (!versions_configured(j->ver, model, path, sizeof path))
        return problem_fail(p, 404, "no model named '%s' is configured", model);
    if (versions_promote(j->ver, model, version, p) != 0)
        return p->status;
    *out = json_pack("{s:s, s:I, s:o}", "model", model, "serving", (json_int_t)version, "versions",
                     versions_list(j->ver, model));
    return 200;
}

json_t *jobs_versions(jobs *j, const char *model)
{
    return versions_list(j->ver, model);
}

const char *jobs_serving_path(jobs *j, const char *model, char *buf, size_t len)
{
    return versions_serving_path(j->ver, model, buf, len);
}

const metrics_training *jobs_figures(jobs *j, metrics_training *out)
{
    jobstore_lock(j->store);
    jobrunner_figures(j->runner, out);
    jobstore_unlock(j->store);
    return out;
}
