/*
 * jobs.c - training jobs over HTTP (admin): POST /v1/train, GET /v1/jobs[?status=],
 * GET /v1/jobs/{id}, POST /v1/jobs/{id}/cancel (or DELETE /v1/jobs/{id}),
 * POST /v1/jobs/{id}/resume, GET /v1/jobs/{id}/history[?since=STEP&limit=N]. daemon/jobs.h does the work;
 * this turns its answers into HTTP.
 */
#include "daemon/routes/routes.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

http_ret route_training_off(http_request *r)
{
    return http_fail(r, 503, "training is off: gliad could not use its state_dir (see its log)");
}

http_ret route_answer_job(http_request *r, int status, json_t *body, const problem *p, const char *location)
{
    if (status >= 400)
        return http_fail(r, status, "%s", p->detail);
    if (!location)
        return http_reply_json(r, status, body);
    return http_reply_json_with(r, status, body, "Location", location);
}

http_ret route_train(http_request *r, const route_params *p)
{
    jobs *j = route_server(r)->d.jobs;
    char location[256] = "";
    json_t *out = NULL;
    problem pr = {0};
    if (!j)
        return route_training_off(r);
    http_ret ret;
    json_t *body = http_body_json(r, JSON_REJECT_DUPLICATES, &ret);
    if (!body)
        return ret;
    int status = jobs_submit(j, body, &out, location, sizeof location, &pr);
    json_decref(body);
    return route_answer_job(r, status, out, &pr, status == 202 ? location : NULL);
}

/* The routes on the jobs: which jobs_* call answers (given a job's id, or a status
 * filter) is all that differs. */
static http_ret on_jobs(http_request *r, const char *arg,
                        int (*act)(jobs *, const char *, json_t **, problem *))
{
    jobs *j = route_server(r)->d.jobs;
    json_t *out = NULL;
    problem pr = {0};
    if (!j)
        return route_training_off(r);
    int status = act(j, arg, &out, &pr);
    return route_answer_job(r, status, out, &pr, NULL);
}

http_ret route_job_get(http_request *r, const route_params *p)
{
    return on_jobs(r, p->name, jobs_get);
}

http_ret route_job_cancel(http_request *r, const route_params *p)
{
    return on_jobs(r, p->name, jobs_cancel);
}

http_ret route_job_resume(http_request *r, const route_params *p)
{
    return on_jobs(r, p->name, jobs_resume);
}

/* A query parameter that must be a whole number in [min, max] (def when absent); -1 with a
 * 400 queued when it is not. */
static long query_number(http_request *r, const char *name, long min, long max, long def, http_ret *ret)
{
    const char *text = http_query(r, name);
    char *end = NULL;
    if (!text)
        return def;
    errno = 0;
    const long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        *ret =
            http_fail(r, 400, "%s must be a whole number from %ld to %ld (got '%s')", name, min, max, text);
        return -1;
    }
    return v;
}

http_ret route_job_history(http_request *r, const route_params *p)
{
    jobs *j = route_server(r)->d.jobs;
    json_t *out = NULL;
    problem pr = {0};
    http_ret ret;
    if (!j)
        return route_training_off(r);
    const long since = query_number(r, "since", 0, LONG_MAX, -1, &ret);
    if (since == -1 && http_query(r, "since"))
        return ret;
    const long limit = query_number(r, "limit", 1, JOBS_HISTORY_MAX_STEPS, JOBS_HISTORY_MAX_STEPS, &ret);
    if (limit < 0)
        return ret;
    int status = jobs_history(j, p->name, since, limit, &out, &pr);
    return route_answer_job(r, status, out, &pr, NULL);
}

http_ret route_jobs_list(http_request *r, const route_params *p)
{
    return on_jobs(r, http_query(r, "status"), jobs_list);
}
