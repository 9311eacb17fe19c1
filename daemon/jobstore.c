/*
 * jobstore.c - see jobstore.h.
 *
 * Ids are "UNIXTIME-SEQ": they sort by creation, so the table, read back in id order,
 * is oldest first again after a restart; the sequence goes on from the highest one found.
 */
#include "daemon/jobstore.h"
#include "core/base/jsonnum.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/base/afile.h"
#include "daemon/log.h"
#include "daemon/statedir.h"

static const char *const status_names[JOB_NSTATUS] = {"queued", "running",   "succeeded",
                                                      "failed", "cancelled", "interrupted"};

struct jobstore {
    char dir[4200]; /* STATE/jobs */
    pthread_mutex_t mu;
    job **all; /* every job, oldest first */
    int n, cap;
    unsigned seq;
};

const char *jobstore_status_name(job_status st)
{
    return st >= 0 && st < JOB_NSTATUS ? status_names[st] : "?";
}

int jobstore_status_parse(const char *name)
{
    for (int s = 0; name && s < JOB_NSTATUS; s++)
        if (strcmp(name, status_names[s]) == 0)
            return s;
    return -1;
}

void jobstore_lock(jobstore *s)
{
    pthread_mutex_lock(&s->mu);
}

void jobstore_unlock(jobstore *s)
{
    pthread_mutex_unlock(&s->mu);
}

void jobstore_wait(jobstore *s, pthread_cond_t *cv)
{
    pthread_cond_wait(cv, &s->mu);
}

int jobstore_count(const jobstore *s)
{
    return s->n;
}

job *jobstore_at(jobstore *s, int i)
{
    return i >= 0 && i < s->n ? s->all[i] : NULL;
}

job *jobstore_find(jobstore *s, const char *id)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->all[i]->id, id) == 0)
            return s->all[i];
    return NULL;
}

const char *jobstore_job_dir(const jobstore *s, const job *jb, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", s->dir, jb->id);
    return buf;
}

const char *jobstore_history_path(const jobstore *s, const job *jb, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s/history.jsonl", s->dir, jb->id);
    return buf;
}

static const char *record_path(const jobstore *s, const job *jb, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.json", s->dir, jb->id);
    return buf;
}

static glia_status write_record(jobstore *s, const job *jb, glia_err *err)
{
    char path[4300];
    record_path(s, jb, path, sizeof path);
    char *text = json_dumps(jb->rec, JSON_INDENT(2) | JSON_SORT_KEYS | GLIA_JSON_REALS);
    if (!text)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    glia_status rc = glia_afile_write(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

void jobstore_save(jobstore *s, job *jb)
{
    glia_err err = {0};
    if (write_record(s, jb, &err) != GLIA_OK)
        log_error("job %s: cannot write its record: %s", jb->id, err.msg);
}

void jobstore_set_status(jobstore *s, job *jb, job_status st)
{
    char now[32];
    jb->status = st;
    json_object_set_new(jb->rec, "status", json_string(status_names[st]));
    if (st == JOB_RUNNING)
        json_object_set_new(jb->rec, "started_at", json_string(statedir_timestamp(now)));
    if (st >= JOB_SUCCEEDED)
        json_object_set_new(jb->rec, "finished_at", json_string(statedir_timestamp(now)));
    jobstore_save(s, jb);
}

glia_status jobstore_change_status(jobstore *s, job *jb, job_status st, glia_err *err)
{
    const job_status was = jb->status;
    json_t *old = json_deep_copy(jb->rec);
    if (!old)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    char now[32];
    jb->status = st;
    json_object_set_new(jb->rec, "status", json_string(status_names[st]));
    if (st >= JOB_SUCCEEDED)
        json_object_set_new(jb->rec, "finished_at", json_string(statedir_timestamp(now)));
    glia_status rc = write_record(s, jb, err);
    if (rc != GLIA_OK) {
        json_decref(jb->rec);
        jb->rec = old;
        jb->status = was;
        return rc;
    }
    json_decref(old);
    return GLIA_OK;
}

json_t *jobstore_view(const job *jb)
{
    json_t *v = json_deep_copy(jb->rec);
    json_object_set_new(v, "id", json_string(jb->id));
    json_object_del(v, "first_epoch"); /* the training thread's own bookkeeping */
    return v;
}

static void job_free(job *jb)
{
    if (jb) {
        json_decref(jb->rec);
        free(jb);
    }
}

static int append(jobstore *s, job *jb)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        job **grown = realloc(s->all, sizeof *grown * (size_t)cap);
        if (!grown)
            return -1;
        s->all = grown;
        s->cap = cap;
    }
    s->all[s->n++] = jb;
    return 0;
}

glia_status jobstore_add(jobstore *s, json_t *rec, int epochs, job **out, glia_err *err)
{
    char now[32];
    *out = NULL;
    job *jb = calloc(1, sizeof *jb);
    if (!jb || append(s, jb) != 0) {
        free(jb);
        json_decref(rec);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    }
    snprintf(jb->id, sizeof jb->id, "%ld-%04u", (long)time(NULL), s->seq++);
    jb->rec = rec;
    jb->status = JOB_QUEUED;
    json_object_set_new(rec, "created_at", json_string(statedir_timestamp(now)));
    json_object_set_new(rec, "status", json_string(status_names[JOB_QUEUED]));
    json_object_set_new(rec, "progress", json_real(0));
    json_object_set_new(rec, "epoch", json_integer(0));
    json_object_set_new(rec, "epochs", json_integer(epochs));
    json_object_set_new(rec, "step", json_integer(0));
    json_object_set_new(rec, "evaluations", json_array());
    glia_status rc = write_record(s, jb, err);
    if (rc != GLIA_OK) { /* not on disk: it never existed */
        char path[4300];
        /* the one failure after the rename is the directory's sync: the record is in place
         * but may not survive a crash, and the submission is refused, so it must go */
        unlink(record_path(s, jb, path, sizeof path));
        s->n--;
        job_free(jb);
        return glia_err_prefix(err, "cannot record the job");
    }
    *out = jb;
    return GLIA_OK;
}

/* STATE/jobs/ID.json into a new job, or NULL (logged) when it is not a record. */
static job *read_record(const char *dir, const char *name, size_t len)
{
    char path[4500];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t je;
    json_t *rec = json_load_file(path, 0, &je);
    const char *status = json_string_value(json_object_get(rec, "status"));
    job *jb = rec && status ? calloc(1, sizeof *jb) : NULL;
    if (!jb) {
        log_error("%s: not a job record (%s), skipped", path, rec ? "no status" : je.text);
        json_decref(rec);
        return NULL;
    }
    snprintf(jb->id, sizeof jb->id, "%.*s", (int)(len - 5), name);
    jb->rec = rec;
    int st = jobstore_status_parse(status);
    jb->status = st >= 0 ? (job_status)st : JOB_QUEUED;
    return jb;
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(job *const *)a)->id, (*(job *const *)b)->id);
}

/* Reads STATE/jobs/ *.json: a running job was cut off by a stop or a crash. */
static glia_status load_records(jobstore *s, glia_err *err)
{
    DIR *d = opendir(s->dir);
    if (!d)
        return glia_err_set(err, GLIA_EIO, "%s: %s", s->dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || len >= sizeof((job *)0)->id + 5 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        job *jb = read_record(s->dir, e->d_name, len);
        if (!jb)
            continue;
        if (append(s, jb) != 0) {
            job_free(jb);
            closedir(d);
            return glia_err_set(err, GLIA_ENOMEM, "out of memory reading job records");
        }
        unsigned seq = 0;
        if (sscanf(jb->id, "%*[^-]-%u", &seq) == 1 && seq >= s->seq)
            s->seq = seq + 1;
    }
    closedir(d);
    if (s->n > 1)
        qsort(s->all, (size_t)s->n, sizeof *s->all, by_id);
    for (int i = 0; i < s->n; i++) {
        job *jb = s->all[i];
        if (jb->status != JOB_RUNNING)
            continue;
        json_object_set_new(
            jb->rec, "error",
            json_string("gliad stopped while this job ran; POST /v1/jobs/{id}/resume continues "
                        "it from its last checkpoint"));
        jobstore_set_status(s, jb, JOB_INTERRUPTED);
        log_warn("job %s was running when gliad stopped: now interrupted (resumable)", jb->id);
    }
    return GLIA_OK;
}

glia_status jobstore_open(const char *state_dir, jobstore **out, glia_err *err)
{
    *out = NULL;
    jobstore *s = calloc(1, sizeof *s);
    if (!s)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    snprintf(s->dir, sizeof s->dir, "%s/jobs", state_dir);
    pthread_mutex_init(&s->mu, NULL);
    glia_status rc = statedir_mkdirs(s->dir, err);
    if (rc != GLIA_OK) {
        glia_err_prefix(err, "state_dir");
        goto fail;
    }
    /* unfinished job records, checkpoints and bundle files (STATE/jobs/ID/out) */
    statedir_sweep(s->dir, 2);
    if ((rc = load_records(s, err)) != GLIA_OK)
        goto fail;
    *out = s;
    return GLIA_OK;
fail:
    jobstore_close(s);
    return rc;
}

void jobstore_close(jobstore *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        job_free(s->all[i]);
    free(s->all);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
