/*
 * jobstore.h - the training jobs gliad was asked to run, as records: one JSON object per
 * job (what was asked, status, progress, evaluations per epoch, result, error) kept in
 * memory and in STATE/jobs/ID.json. The record is the single source of truth: the HTTP
 * answers are copies of it, the file is it, and a restart reads it back.
 *
 * Durability: a record is written atomically (core/base/afile.h) after every change of
 * status and after every epoch, so a restart finds every job that was recorded and none
 * half-written. jobstore_add writes a new job's record before it returns: a job is on
 * disk before POST /v1/train answers 202, or the submission fails. A job found running
 * at the start (gliad was stopped or killed while it ran) becomes interrupted.
 *
 * Locking: one mutex guards every job's record and status, and the training queue
 * (jobrunner.h) waits on it too. Functions that take a job, and iteration, expect it held.
 * The store keeps jobs; it never runs or queues one.
 */
#ifndef GLIAD_JOBSTORE_H
#define GLIAD_JOBSTORE_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "core/base/err.h"

enum { JOBSTORE_MAX_JOBS = 100000 }; /* records kept at most; a submission past it waits */

typedef enum {
    JOB_QUEUED,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    JOB_FAILED,
    JOB_CANCELLED,
    JOB_INTERRUPTED, /* stopped by gliad, not by a user: resumable */
    JOB_NSTATUS
} job_status;

typedef struct job {
    char id[40];
    json_t *rec; /* the record, under the store's lock */
    job_status status;
    atomic_int cancel;  /* set to stop the running job at its next step */
    int user_cancelled; /* the stop was asked for (else: gliad is stopping) */
    struct job *next;   /* the training queue's link (jobrunner.c) */
} job;

typedef struct jobstore jobstore;

/* "queued", "running", ... (a static string); and back: -1 for an unknown name. */
const char *jobstore_status_name(job_status st);
int jobstore_status_parse(const char *name);

/* Creates STATE/jobs and reads every record in it, oldest first; a record found running
 * is marked interrupted (and written). A file that is not a record is logged and skipped. */
glia_status jobstore_open(const char *state_dir, jobstore **out, glia_err *err);
void jobstore_close(jobstore *s); /* frees every job; NULL-safe */

void jobstore_lock(jobstore *s);
void jobstore_unlock(jobstore *s);
/* pthread_cond_wait on cv with the store's lock, which the caller holds. */
void jobstore_wait(jobstore *s, pthread_cond_t *cv);

/* With the lock held: the number of jobs, the i-th oldest, the job with this id (or NULL). */
int jobstore_count(const jobstore *s);
job *jobstore_at(jobstore *s, int i);
job *jobstore_find(jobstore *s, const char *id);

/* With the lock held: a new queued job whose record is rec (taken over, also on failure)
 * plus the progress fields of a job not yet started (epoch 0 of `epochs`). Its record is
 * on disk when this returns GLIA_OK; on failure there is no job and err says why. */
glia_status jobstore_add(jobstore *s, json_t *rec, int epochs, job **out, glia_err *err);

/* With the lock held: writes jb's record; a failure is logged (the job goes on, and the
 * next write tries again). */
void jobstore_save(jobstore *s, job *jb);
/* With the lock held: sets the status and its time stamps (started_at, finished_at) and
 * writes the record. */
void jobstore_set_status(jobstore *s, job *jb, job_status st);
/* The same for a change a client is told about (a cancel, a resume): it counts only once
 * on disk. On a failed write jb keeps its previous status and record, in memory and on
 * disk (the old file stays whole), and err says why. */
glia_status jobstore_change_status(jobstore *s, job *jb, job_status st, glia_err *err);

/* With the lock held: the record as the HTTP side shows it (a new reference). */
json_t *jobstore_view(const job *jb);

/* STATE/jobs/ID: the job's working directory (checkpoint, bundle being written). */
const char *jobstore_job_dir(const jobstore *s, const job *jb, char *buf, size_t len);
/* STATE/jobs/ID/history.jsonl: every step's figures (core/train/history.h), kept with the job. */
const char *jobstore_history_path(const jobstore *s, const job *jb, char *buf, size_t len);

#endif
