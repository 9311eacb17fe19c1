/*
 * jobrunner.h - the training thread: a FIFO queue of the store's jobs, run one at a time
 * on a thread whose priority (nice) is below the inference workers'. A running job's
 * progress (epoch, step, loss, evaluation) goes into its record after every epoch; cancel
 * stops it at its next step; an interrupted job (gliad stopped while it ran) is resumed
 * from its last checkpoint, which gives the result of an uninterrupted run. A finished
 * job's bundle becomes a new version of its model (versions.h), promoted when the job
 * asks for it ("always", or "if_better" than the serving version).
 *
 * Locking: the queue is guarded by the store's lock (jobstore.h); the functions below
 * that take a job expect it held. Only the training itself runs without it, so an HTTP
 * thread never waits longer than a record update.
 */
#ifndef GLIAD_JOBRUNNER_H
#define GLIAD_JOBRUNNER_H

#include "daemon/codec.h"
#include "daemon/jobstore.h"
#include "daemon/metrics.h"
#include "daemon/trainreq.h"
#include "daemon/versions.h"

typedef struct {
    jobstore *store;  /* borrowed */
    versions *ver;    /* borrowed: where finished jobs publish */
    trainreq_env req; /* how a job's record becomes its recipe */
    int nice;         /* added niceness of the training thread (0..19) */
    int max_queued;   /* jobs waiting at most */
    int enabled;      /* training.enabled: 0 = no thread, and no job ever runs (issue 16) */
} jobrunner_config;

typedef struct jobrunner jobrunner;

/* Queues the store's queued jobs (oldest first) and starts the thread (unless !enabled:
 * then queued jobs wait, listed and cancellable, for a gliad that trains). */
glia_status jobrunner_start(const jobrunner_config *cfg, jobrunner **out, glia_err *err);
/* Stops the thread: a running job is cancelled at its next step and recorded as
 * interrupted (resumable). NULL-safe. Call before closing the store. */
void jobrunner_stop(jobrunner *r);

/* With the store's lock held. */

/* 0 when one more job may wait, else 503 (the queue is full) in p. */
int jobrunner_admit(jobrunner *r, problem *p);
/* Queues a new job (admitted just before). */
void jobrunner_enqueue(jobrunner *r, job *jb);
/* Cancels jb: 200 when it had not started (now cancelled), 202 when it is running (it
 * stops at its next step), or 409 in p when it had finished already. */
int jobrunner_cancel(jobrunner *r, job *jb, problem *p);
/* Queues an interrupted job again: 202, or 409 (not interrupted) / 503 (queue full) in p. */
int jobrunner_resume(jobrunner *r, job *jb, problem *p);
/* The training figures for /metrics: jobs by status now, outcomes, durations, models. */
void jobrunner_figures(jobrunner *r, metrics_training *out);

#endif
