/*
 * jobs.h - gliad's training jobs as the HTTP side sees them: POST /v1/train queues a job
 * that trains a new version of a served model on a background thread; the finished
 * weights become a version under the state directory and, if the job says so, replace
 * the served one without a restart.
 *
 * This is the thin facade over the modules that do the work, each with its own header:
 *   trainreq.h   the request: the body checked (one 422 naming every bad field) and
 *                turned into the job's description and recipe
 *   jobstore.h   the records, durable under STATE/jobs (ID.json; ID/ the checkpoint and
 *                the bundle being written); a job is on disk before it is answered 202
 *   jobrunner.h  the training thread: queue, one job at a time, progress, cancel,
 *                resume, niceness
 *   versions.h   STATE/models/NAME/V and the serving file: publish, promote, roll back,
 *                if_better
 * The shipped bundle a model is configured with is never written.
 *
 * Lifecycle: queued -> running -> succeeded | failed | cancelled; a job that was running
 * when gliad stopped (SIGTERM, or kill -9: found at the next start) is interrupted, and
 * POST /v1/jobs/ID/resume queues it again to continue from its last checkpoint, which
 * gives the result of an uninterrupted run.
 *
 * Thread-safety: every function may be called from any HTTP thread.
 */
#ifndef GLIAD_JOBS_H
#define GLIAD_JOBS_H

#include <jansson.h>

#include "daemon/codec.h"
#include "daemon/datasets.h"
#include "daemon/metrics.h"
#include "daemon/registry.h"
#include "daemon/repository.h"

typedef struct jobs jobs;

typedef struct {
    const char *state_dir; /* copied */
    registry *reg;         /* borrowed: promotion swaps versions in it */
    int threads;           /* trainer lanes of a job (1..64) */
    int nice;              /* added niceness of the training thread (0..19) */
    int max_queued;        /* jobs waiting at most */
    /* The bundle path NAME is configured with (the shipped bundle, whose recipe.yaml is
     * the base of a job's recipe), or NULL when NAME is not configured. Writes into buf. */
    const char *(*model_path)(void *user, const char *name, char *buf, size_t len);
    void *user;
    datasets *data;   /* uploaded data sets a job may name (NULL: none) */
    repository *repo; /* the model repository its models' versions are published into (NULL: none) */
    int enabled;      /* training.enabled: 0 = jobs are listed but none is accepted or run */
} jobs_config;

/* Creates the directories, reads every record (a running one becomes interrupted), queues
 * again what was queued, and starts the job thread. */
glia_status jobs_open(const jobs_config *cfg, jobs **out, glia_err *err);
/* Stops the thread: a running job is cancelled at its next step and recorded as
 * interrupted (resumable). NULL-safe. */
void jobs_close(jobs *j);

/* 1 when this gliad runs training jobs (training.enabled). Else 0, with p filled with the
 * 409 that POST /v1/train, a resume and a data set upload answer on a replica that only
 * serves (several replicas share a model repository and one of them trains, issue 16). */
int jobs_accepting(jobs *j, problem *p);

/* The HTTP side: each returns the status to answer with and sets *out (a JSON body) or p.
 * jobs_submit also writes the new job's Location into location. */
int jobs_submit(jobs *j, const json_t *body, json_t **out, char *location, size_t location_len, problem *p);
int jobs_list(jobs *j, const char *status, json_t **out, problem *p);
int jobs_get(jobs *j, const char *id, json_t **out, problem *p);
int jobs_cancel(jobs *j, const char *id, json_t **out, problem *p);
int jobs_resume(jobs *j, const char *id, json_t **out, problem *p);
int jobs_promote(jobs *j, const char *model, long version, json_t **out, problem *p);

/* GET /v1/jobs/ID/history: the job's steps after since (-1: from the start), at most limit
 * of them (1..JOBS_HISTORY_MAX_STEPS), and its evaluations up to the last step answered:
 * {"id", "status", "steps": [..], "evals": [..], "next": STEP or null}. next is where the
 * following page starts (since=next) when the page is full. */
enum { JOBS_HISTORY_MAX_STEPS = 10000 };
int jobs_history(jobs *j, const char *id, long since, long limit, json_t **out, problem *p);

/* Every version of model (the shipped one and the trained ones) with its evaluation and
 * which one serves: a JSON array, or NULL when model is not configured. */
json_t *jobs_versions(jobs *j, const char *model);

/* Where model should be served from when it is (re)loaded: the promoted version's
 * directory (into buf), or NULL for the configured bundle. */
const char *jobs_serving_path(jobs *j, const char *model, char *buf, size_t len);

/* The training figures that /metrics renders (metrics.h), copied into *out; returns out. */
const metrics_training *jobs_figures(jobs *j, metrics_training *out);

#endif
