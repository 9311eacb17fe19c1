/*
 * jobs.c - see jobs.h.
 *
 * A job's record is a JSON object and the single source of truth: the HTTP answers are
 * copies of it, the file on disk is it, and a restart reads it back. It is only changed
 * under j->mu and written to disk right after each change of status and after every
 * epoch. What a job trains is fully described by its record: the base recipe of the
 * model's configured bundle plus the record's "recipe" overrides, so a resumed job
 * rebuilds exactly the recipe it started with.
 */
#define _GNU_SOURCE /* gettid: the niceness of one thread */
#include "daemon/jobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/afile.h"
#include "core/model/manifest.h"
#include "core/train/run.h"
#include "daemon/log.h"

typedef enum { J_QUEUED, J_RUNNING, J_SUCCEEDED, J_FAILED, J_CANCELLED, J_INTERRUPTED, J_NSTATUS } job_status;
static const char *const status_names[J_NSTATUS] = {"queued", "running",   "succeeded",
                                                    "failed", "cancelled", "interrupted"};

/* Seconds-buckets of glia_train_job_duration_seconds. */
static const double duration_buckets[] = {1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600};
enum { NBUCKETS = sizeof duration_buckets / sizeof duration_buckets[0], MAX_MODELS = 64, MAX_JOBS = 100000 };

typedef struct job {
    char id[40];
    json_t *rec; /* the record, under j->mu */
    job_status status;
    atomic_int cancel;  /* set to stop the running job at its next step */
    int user_cancelled; /* the stop was asked for (else: gliad is stopping) */
    struct job *next;   /* queue link */
} job;

typedef struct {
    char name[128];
    double samples, loss;
    int epoch;
} model_stats;

struct jobs {
    jobs_config cfg;
    char state[4096];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job **all; /* every job, oldest first */
    int n, cap;
    job *head, *tail; /* queued, FIFO */
    int queued;
    job *running;
    int stopping;
    pthread_t thread;
    int started;
    unsigned seq;
    /* metrics */
    unsigned long outcomes[J_NSTATUS];
    unsigned long dur_counts[NBUCKETS + 1];
    double dur_sum;
    model_stats models[MAX_MODELS];
    int nmodels;
};

/* ---- files ---- */

static int mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* text into path, whole or not at all (core/base/afile.h). */
static glia_status write_atomic(const char *path, const char *text, glia_err *err)
{
    return glia_afile_write(path, text, strlen(text), 0600, err);
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        char sub[4400];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static const char *iso_now(char buf[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* Writes the record (call with j->mu held). A failure is logged: the job goes on, and the
 * next write tries again. */
static void persist(jobs *j, job *jb)
{
    char path[4200];
    glia_err err = {0};
    snprintf(path, sizeof path, "%s/jobs/%s.json", j->state, jb->id);
    char *text = json_dumps(jb->rec, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text || write_atomic(path, text, &err) != GLIA_OK)
        log_error("job %s: cannot write its record: %s", jb->id, text ? err.msg : "out of memory");
    free(text);
}

static void set_status(jobs *j, job *jb, job_status st)
{
    char now[32];
    jb->status = st;
    json_object_set_new(jb->rec, "status", json_string(status_names[st]));
    if (st == J_RUNNING)
        json_object_set_new(jb->rec, "started_at", json_string(iso_now(now)));
    if (st >= J_SUCCEEDED)
        json_object_set_new(jb->rec, "finished_at", json_string(iso_now(now)));
    persist(j, jb);
}

/* ---- the table ---- */

static job *find(jobs *j, const char *id)
{
    for (int i = 0; i < j->n; i++)
        if (strcmp(j->all[i]->id, id) == 0)
            return j->all[i];
    return NULL;
}

static int add(jobs *j, job *jb)
{
    if (j->n == j->cap) {
        int cap = j->cap ? j->cap * 2 : 64;
        job **grown = realloc(j->all, sizeof *grown * (size_t)cap);
        if (!grown)
            return -1;
        j->all = grown;
        j->cap = cap;
    }
    j->all[j->n++] = jb;
    return 0;
}

static void enqueue(jobs *j, job *jb)
{
    jb->next = NULL;
    if (j->tail)
        j->tail->next = jb;
    else
        j->head = jb;
    j->tail = jb;
    j->queued++;
    pthread_cond_signal(&j->cv);
}

static void unqueue(jobs *j, job *jb)
{
    for (job **p = &j->head, *prev = NULL; *p; prev = *p, p = &(*p)->next)
        if (*p == jb) {
            *p = jb->next;
            if (j->tail == jb)
                j->tail = prev;
            j->queued--;
            return;
        }
}

static void job_free(job *jb)
{
    if (jb) {
        json_decref(jb->rec);
        free(jb);
    }
}

static model_stats *stats_for(jobs *j, const char *model)
{
    for (int i = 0; i < j->nmodels; i++)
        if (strcmp(j->models[i].name, model) == 0)
            return &j->models[i];
    if (j->nmodels == MAX_MODELS)
        return NULL;
    model_stats *s = &j->models[j->nmodels++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", model);
    return s;
}

/* ---- versions ---- */

static void versions_dir(jobs *j, const char *model, char *buf, size_t len)
{
    snprintf(buf, len, "%s/models/%s", j->state, model);
}

/* The manifest version of the configured bundle, or 0. */
static long shipped_version(jobs *j, const char *model)
{
    char path[4096], manifest[4200];
    glia_manifest m;
    glia_err err = {0};
    if (!j->cfg.model_path(j->cfg.user, model, path, sizeof path))
        return 0;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(manifest, sizeof manifest, "%s/model.yaml", path);
    else
        snprintf(manifest, sizeof manifest, "%s", path);
    if (glia_manifest_load(manifest, &m, &err) != GLIA_OK)
        return 0;
    long v = m.version;
    glia_manifest_free(&m);
    return v;
}

/* The highest trained version of model on disk (0 if none). */
static long newest_version(jobs *j, const char *model)
{
    char dir[4200];
    versions_dir(j, model, dir, sizeof dir);
    DIR *d = opendir(dir);
    long best = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (*e->d_name && !*end && v > best)
            best = v;
    }
    if (d)
        closedir(d);
    return best;
}

/* The version that serves model (the serving file), 0 for the shipped one. */
static long serving_version(jobs *j, const char *model)
{
    char path[4300], buf[32] = "";
    versions_dir(j, model, path, sizeof path);
    strncat(path, "/serving", sizeof path - strlen(path) - 1);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long v = fgets(buf, sizeof buf, f) ? strtol(buf, NULL, 10) : 0;
    fclose(f);
    return v > 0 ? v : 0;
}

const char *jobs_serving_path(jobs *j, const char *model, char *buf, size_t len)
{
    long v = serving_version(j, model);
    if (v <= 0)
        return NULL;
    char dir[4200];
    versions_dir(j, model, dir, sizeof dir);
    snprintf(buf, len, "%s/%ld", dir, v);
    struct stat st;
    return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? buf : NULL;
}

/* Serves version v of model: its directory, or the configured bundle for the shipped
 * version. Records the choice first, so that a restart serves the same. */
static int promote(jobs *j, const char *model, long v, problem *p)
{
    char path[4200], file[4300], text[32];
    glia_err err = {0};
    long shipped = shipped_version(j, model);
    int is_shipped = v == shipped; /* trained versions are numbered above the shipped one */
    if (is_shipped) {
        if (!j->cfg.model_path(j->cfg.user, model, path, sizeof path))
            return problem_fail(p, 404, "no model named '%s' is configured", model);
    } else {
        char dir[4200];
        versions_dir(j, model, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/%ld", dir, v);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            return problem_fail(p, 404, "model '%s' has no version %ld (GET /v1/models/%s lists them)", model,
                                v, model);
    }
    versions_dir(j, model, file, sizeof file);
    if (mkdir_p(file) != 0)
        return problem_fail(p, 500, "cannot create %s: %s", file, strerror(errno));
    strncat(file, "/serving", sizeof file - strlen(file) - 1);
    snprintf(text, sizeof text, "%ld\n", is_shipped ? 0L : v);
    long before = serving_version(j, model);
    if (write_atomic(file, text, &err) != GLIA_OK)
        return problem_fail(p, 500, "%s", err.msg);
    if (registry_serve_path(j->cfg.reg, model, path, &err) != GLIA_OK) {
        snprintf(text, sizeof text, "%ld\n", before); /* keep serving, and recording, the old one */
        glia_err ignored = {0};
        write_atomic(file, text, &ignored);
        return problem_fail(p, 422, "version %ld of '%s' does not load: %s", v, model, err.msg);
    }
    return 0;
}

json_t *jobs_versions(jobs *j, const char *model)
{
    char path[4096];
    if (!j->cfg.model_path(j->cfg.user, model, path, sizeof path))
        return NULL;
    long serving = serving_version(j, model), shipped = shipped_version(j, model);
    json_t *list = json_array();
    char dir[4200], manifest[4400];
    versions_dir(j, model, dir, sizeof dir);
    /* the shipped version first, then the trained ones in order */
    for (long v = 0; v <= newest_version(j, model); v++) {
        glia_manifest m;
        glia_err err = {0};
        struct stat st;
        if (v == 0) {
            snprintf(manifest, sizeof manifest, "%s%s", path,
                     stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? "/model.yaml" : "");
        } else {
            snprintf(manifest, sizeof manifest, "%s/%ld/model.yaml", dir, v);
            if (stat(manifest, &st) != 0)
                continue;
        }
        if (glia_manifest_load(manifest, &m, &err) != GLIA_OK)
            continue;
        json_t *e = json_pack("{s:I, s:s, s:b}", "version", (json_int_t)m.version, "source",
                              v == 0 ? "shipped" : "trained", "serving",
                              v == 0 ? serving == 0 || serving == shipped : serving == v);
        json_t *eval = json_object();
        if (m.eval_accuracy >= 0)
            json_object_set_new(eval, "accuracy", json_real(m.eval_accuracy));
        if (m.eval_bleu >= 0)
            json_object_set_new(eval, "bleu", json_real(m.eval_bleu));
        if (m.eval_chrf >= 0)
            json_object_set_new(eval, "chrf", json_real(m.eval_chrf));
        json_object_set_new(e, "evaluation", eval);
        json_array_append_new(list, e);
        glia_manifest_free(&m);
    }
    return list;
}

/* ---- building a job's recipe ---- */

/* The configured bundle's recipe with the record's overrides applied. */
static glia_status job_recipe(jobs *j, const json_t *rec, glia_recipe *r, glia_err *err)
{
    char path[4096], recipe[4200];
    const char *model = json_string_value(json_object_get(rec, "model"));
    if (!model || !j->cfg.model_path(j->cfg.user, model, path, sizeof path))
        return glia_err_set(err, GLIA_ENOTFOUND, "model '%s' is not configured", model ? model : "?");
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        char *slash = strrchr(path, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(path, sizeof path, ".");
    }
    snprintf(recipe, sizeof recipe, "%s/recipe.yaml", path);
    if (access(recipe, R_OK) != 0)
        return glia_err_set(err, GLIA_ENOTFOUND, "model '%s' has no recipe.yaml in %s to train from", model,
                            path);
    glia_status rc = glia_recipe_load(recipe, r, err);
    if (rc != GLIA_OK)
        return rc;
    json_t *over = json_deep_copy(json_object_get(rec, "recipe"));
    if (!over)
        over = json_object();
    json_object_del(over, "max_runtime_seconds");
    const json_t *ds = json_object_get(rec, "dataset");
    const char *file = json_string_value(json_object_get(ds, "file"));
    const char *images = json_string_value(json_object_get(ds, "images_file"));
    const char *labels = json_string_value(json_object_get(ds, "labels_file"));
    if (file)
        snprintf(r->dataset_file, sizeof r->dataset_file, "%s", file);
    if (images && labels) {
        snprintf(r->images_file, sizeof r->images_file, "%s", images);
        snprintf(r->labels_file, sizeof r->labels_file, "%s", labels);
    }
    if (json_is_object(ds)) {
        json_t *d = json_deep_copy(ds);
        json_object_del(d, "name");
        json_object_del(d, "file");
        json_object_del(d, "records");
        json_object_del(d, "images");
        json_object_del(d, "labels");
        json_object_del(d, "images_file");
        json_object_del(d, "labels_file");
        if (json_object_size(d))
            json_object_set_new(over, "dataset", d);
        else
            json_decref(d);
    }
    char *text = json_dumps(over, JSON_COMPACT);
    json_decref(over);
    if (!text)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    rc = glia_recipe_override(r, text, strlen(text), "recipe", err);
    free(text);
    r->workers = j->cfg.threads;
    return rc;
}

/* Whether an uploaded data set can train model: only text models take one (jsonl), and
 * every label in it must be one of the model's (by name or index). Fills why if not. */
static void check_upload_fits(jobs *j, const char *model, const glia_recipe *r, const json_t *meta, char *why,
                              size_t len)
{
    glia_manifest m;
    glia_err err = {0};
    const char *format = json_string_value(json_object_get(meta, "format"));
    if (strcmp(r->dataset, "gettext-en-es") == 0) { /* translation pairs */
        if (!format || strcmp(format, "tsv") != 0)
            snprintf(why, len, "model %s translates: it trains on translation pairs (tsv uploads)", model);
        return;
    }
    if (strcmp(r->dataset, "uci-sentiment") != 0 || !format || strcmp(format, "jsonl") != 0) {
        snprintf(why, len,
                 "model %s trains on images (%s); uploaded data sets (jsonl) train text models only", model,
                 r->dataset);
        return;
    }
    if (glia_manifest_load(r->model, &m, &err) != GLIA_OK) {
        snprintf(why, len, "%s", err.msg);
        return;
    }
    const char *key;
    json_t *count;
    json_object_foreach(json_object_get(meta, "labels"), key, count)
    {
        char *end;
        long idx = strtol(key, &end, 10);
        int ok = !*end && idx >= 0 && idx < m.nlabels;
        for (int i = 0; !ok && i < m.nlabels; i++)
            ok = strcmp(key, m.labels[i]) == 0;
        if (!ok) {
            snprintf(why, len, "label '%s' (%lld records) is not one of model %s's %d labels", key,
                     (long long)json_integer_value(count), model, m.nlabels);
            break;
        }
    }
    glia_manifest_free(&m);
    (void)j;
}

/* The record's "dataset" for an uploaded IDX pair (NULL with why when it cannot train the
 * recipe's model). Sets r's images and labels files. */
static json_t *image_upload(jobs *j, glia_recipe *r, const json_t *images, const json_t *labels, char *why,
                            size_t len)
{
    char ipath[4300], lpath[4300];
    json_t *im = NULL, *lb = NULL, *out = NULL;
    if (!j->cfg.data || !json_is_string(images) || !json_is_string(labels) ||
        !datasets_find(j->cfg.data, json_string_value(images), ipath, sizeof ipath, &im) ||
        !datasets_find(j->cfg.data, json_string_value(labels), lpath, sizeof lpath, &lb))
        snprintf(why, len, "images and labels must name uploaded data sets (GET /v1/datasets lists them)");
    else if (strcmp(r->dataset, "fashion-mnist") != 0)
        snprintf(why, len, "IDX images train image models; this model trains on %s", r->dataset);
    else if (strcmp(json_string_value(json_object_get(im, "format")), "idx-images") != 0 ||
             strcmp(json_string_value(json_object_get(lb, "format")), "idx-labels") != 0)
        snprintf(why, len, "images must be an idx-images upload and labels an idx-labels one");
    else if (!json_equal(json_object_get(im, "records"), json_object_get(lb, "records")))
        snprintf(why, len, "%lld images but %lld labels",
                 (long long)json_integer_value(json_object_get(im, "records")),
                 (long long)json_integer_value(json_object_get(lb, "records")));
    else {
        snprintf(r->images_file, sizeof r->images_file, "%s", ipath);
        snprintf(r->labels_file, sizeof r->labels_file, "%s", lpath);
        out = json_pack("{s:O, s:O, s:s, s:s, s:O}", "images", images, "labels", labels, "images_file", ipath,
                        "labels_file", lpath, "records", json_object_get(im, "records"));
    }
    json_decref(im);
    json_decref(lb);
    return out;
}

/* ---- the job thread ---- */

typedef struct {
    jobs *j;
    job *jb;
    double t0;
    int epochs;
    const char *model;
} run_ctx;

static int on_progress(const glia_progress *pr, void *user)
{
    run_ctx *c = user;
    jobs *j = c->j;
    pthread_mutex_lock(&j->mu);
    json_t *rec = c->jb->rec;
    double elapsed = pr->seconds,
           per_epoch = elapsed / (pr->epoch - json_integer_value(json_object_get(rec, "first_epoch")));
    json_object_set_new(rec, "epoch", json_integer(pr->epoch));
    json_object_set_new(rec, "epochs", json_integer(pr->epochs));
    json_object_set_new(rec, "step", json_integer(pr->step));
    json_object_set_new(rec, "progress", json_real((double)pr->epoch / pr->epochs));
    json_object_set_new(rec, "loss", json_real(pr->train_loss));
    json_object_set_new(rec, "learning_rate", json_real(pr->lr));
    json_object_set_new(rec, "samples_per_second", json_real(pr->samples_per_second));
    json_object_set_new(rec, "eta_seconds",
                        json_real(isfinite(per_epoch) ? per_epoch * (pr->epochs - pr->epoch) : 0));
    json_t *evals = json_object_get(rec, "evaluations");
    json_array_append_new(evals, json_pack("{s:i, s:f, s:f, s:f, s:f}", "epoch", pr->epoch, "train_loss",
                                           pr->train_loss, "train_accuracy", pr->train_accuracy, "val_loss",
                                           pr->val_loss, "val_accuracy", pr->val_accuracy));
    model_stats *s = stats_for(j, c->model);
    if (s) {
        s->samples +=
            (double)json_integer_value(json_object_get(rec, "train_examples")); /* one epoch's worth */
        s->loss = pr->train_loss;
        s->epoch = pr->epoch;
    }
    persist(j, c->jb);
    pthread_mutex_unlock(&j->mu);
    return 0;
}

static void on_start(const glia_run_info *info, void *user)
{
    run_ctx *c = user;
    pthread_mutex_lock(&c->j->mu);
    json_object_set_new(c->jb->rec, "train_examples", json_integer((json_int_t)info->train));
    json_object_set_new(c->jb->rec, "validation_examples", json_integer((json_int_t)info->val));
    json_object_set_new(c->jb->rec, "parameters", json_integer((json_int_t)info->parameters));
    pthread_mutex_unlock(&c->j->mu);
}

/* Runs one job to its end; returns its final status and fills the record's result. */
static job_status run_job(jobs *j, job *jb)
{
    glia_err err = {0};
    glia_recipe r;
    glia_run_result res;
    char jobdir[4200], out[4300], ckpt[4300], vdir[4200], final_dir[4300];
    pthread_mutex_lock(&j->mu);
    json_t *rec = json_deep_copy(jb->rec);
    pthread_mutex_unlock(&j->mu);
    const char *model = json_string_value(json_object_get(rec, "model"));
    const char *promote_mode = json_string_value(json_object_get(rec, "promote"));
    double max_runtime =
        json_number_value(json_object_get(json_object_get(rec, "recipe"), "max_runtime_seconds"));
    long version = (long)json_integer_value(json_object_get(rec, "version"));
    job_status st = J_FAILED;
    snprintf(jobdir, sizeof jobdir, "%s/jobs/%s", j->state, jb->id);
    snprintf(out, sizeof out, "%s/out", jobdir);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", jobdir);
    versions_dir(j, model, vdir, sizeof vdir);
    if (job_recipe(j, rec, &r, &err) != GLIA_OK)
        goto done;
    if (mkdir_p(out) != 0 || mkdir_p(vdir) != 0) {
        glia_err_set(&err, GLIA_EIO, "cannot create %s: %s", out, strerror(errno));
        goto done;
    }
    if (version <= 0) { /* the number is fixed once, so that a resumed job writes the same one */
        long shipped = shipped_version(j, model), newest = newest_version(j, model);
        version = (shipped > newest ? shipped : newest) + 1;
        pthread_mutex_lock(&j->mu);
        json_object_set_new(jb->rec, "version", json_integer(version));
        persist(j, jb);
        pthread_mutex_unlock(&j->mu);
    }
    snprintf(r.checkpoint, sizeof r.checkpoint, "%s", ckpt);
    r.resume = 1; /* a fresh job has no checkpoint yet */
    r.deadline = max_runtime > 0 ? glia_train_clock() + max_runtime : 0;
    pthread_mutex_lock(&j->mu);
    json_object_set_new(jb->rec, "epochs", json_integer(r.epochs));
    json_object_set_new(jb->rec, "first_epoch",
                        json_integer(json_integer_value(json_object_get(jb->rec, "epoch"))));
    pthread_mutex_unlock(&j->mu);
    run_ctx c = {j, jb, glia_train_clock(), r.epochs, model};
    glia_run_hooks hooks = {on_start, on_progress, &c, &jb->cancel};
    glia_status rc = glia_run_training(&r, out, version, &hooks, &res, &err);
    if (rc == GLIA_ECANCELLED) {
        st = jb->user_cancelled ? J_CANCELLED : J_INTERRUPTED;
        goto done;
    }
    if (rc == GLIA_ETIMEDOUT)
        glia_err_set(&err, GLIA_ETIMEDOUT, "%s (max_runtime_seconds %g)", err.msg, max_runtime);
    if (rc != GLIA_OK)
        goto done;
    /* publish: the finished bundle becomes version `version`, whole or not at all */
    snprintf(final_dir, sizeof final_dir, "%s/%ld", vdir, version);
    rm_rf(final_dir); /* a half-published earlier attempt of this same job */
    if (rename(out, final_dir) != 0) {
        glia_err_set(&err, GLIA_EIO, "cannot publish %s: %s", final_dir, strerror(errno));
        goto done;
    }
    json_t *result = json_pack("{s:I, s:f, s:f, s:I, s:i, s:f, s:b}", "version", (json_int_t)version,
                               "test_accuracy", res.test_accuracy, "test_loss", res.test_loss,
                               "test_examples", (json_int_t)res.test_examples, "selected_epoch",
                               res.train.best_epoch, "training_seconds", res.train.seconds, "promoted", 0);
    const int translation = strcmp(r.dataset, "gettext-en-es") == 0;
    if (translation) { /* the yardstick is BLEU; accuracy above is next-token accuracy */
        json_object_set_new(result, "bleu", json_real(res.bleu));
        json_object_set_new(result, "chrf", json_real(res.chrf));
    }
    int do_promote = strcmp(promote_mode, "always") == 0;
    if (strcmp(promote_mode, "if_better") == 0) {
        char serving[4300], cfg_path[4096];
        const char *sp = jobs_serving_path(j, model, serving, sizeof serving);
        if (!sp)
            sp = j->cfg.model_path(j->cfg.user, model, cfg_path, sizeof cfg_path);
        double serving_acc = -1;
        glia_err e2 = {0};
        if (sp && glia_run_evaluate(&r, sp, &serving_acc, &e2) == GLIA_OK) {
            json_object_set_new(result, translation ? "serving_bleu" : "serving_test_accuracy",
                                json_real(serving_acc));
            do_promote = (translation ? res.bleu : res.test_accuracy) > serving_acc;
        } else {
            log_warn("job %s: cannot evaluate the serving version (%s); not promoting", jb->id, e2.msg);
        }
    }
    if (do_promote) {
        problem p = {0};
        if (promote(j, model, version, &p) == 0)
            json_object_set_new(result, "promoted", json_true());
        else
            json_object_set_new(result, "promote_error", json_string(p.detail));
    }
    pthread_mutex_lock(&j->mu);
    json_object_set_new(jb->rec, "result", result);
    json_object_set_new(jb->rec, "progress", json_real(1.0));
    json_object_set_new(jb->rec, "eta_seconds", json_real(0));
    pthread_mutex_unlock(&j->mu);
    rm_rf(ckpt); /* the version is the result now */
    st = J_SUCCEEDED;
done:
    if (st == J_FAILED || st == J_CANCELLED || st == J_INTERRUPTED) {
        pthread_mutex_lock(&j->mu);
        if (st == J_FAILED)
            json_object_set_new(jb->rec, "error", json_string(err.msg));
        pthread_mutex_unlock(&j->mu);
    }
    json_decref(rec);
    return st;
}

static void *job_thread(void *arg)
{
    jobs *j = arg;
    /* below the inference workers: nice applies to this thread and the trainer threads it starts */
    if (j->cfg.nice > 0 && setpriority(PRIO_PROCESS, (id_t)gettid(), j->cfg.nice) != 0)
        log_warn("training thread: cannot lower its priority: %s", strerror(errno));
    pthread_mutex_lock(&j->mu);
    for (;;) {
        while (!j->head && !j->stopping)
            pthread_cond_wait(&j->cv, &j->mu);
        if (j->stopping)
            break;
        job *jb = j->head;
        unqueue(j, jb);
        j->running = jb;
        atomic_store(&jb->cancel, 0);
        jb->user_cancelled = 0;
        json_object_del(jb->rec, "error");
        set_status(j, jb, J_RUNNING);
        pthread_mutex_unlock(&j->mu);
        log_info("job %s: training %s", jb->id, json_string_value(json_object_get(jb->rec, "model")));
        double t0 = glia_train_clock();
        job_status st = run_job(j, jb);
        double seconds = glia_train_clock() - t0;
        pthread_mutex_lock(&j->mu);
        j->running = NULL;
        set_status(j, jb, st);
        if (st != J_INTERRUPTED) {
            j->outcomes[st]++;
            int b = 0;
            while (b < NBUCKETS && seconds > duration_buckets[b])
                b++;
            j->dur_counts[b]++;
            j->dur_sum += seconds;
        }
        log_info("job %s: %s after %.1f s%s%s", jb->id, status_names[st], seconds,
                 json_object_get(jb->rec, "error") ? ": " : "",
                 json_object_get(jb->rec, "error") ? json_string_value(json_object_get(jb->rec, "error"))
                                                   : "");
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* ---- open and close ---- */

static int by_id(const void *a, const void *b)
{
    return strcmp((*(job *const *)a)->id, (*(job *const *)b)->id);
}

/* Reads STATE/jobs/ *.json: a running job was cut off by a stop or a crash. */
static glia_status load_records(jobs *j, glia_err *err)
{
    char dir[4200], path[4500];
    snprintf(dir, sizeof dir, "%s/jobs", j->state);
    DIR *d = opendir(dir);
    if (!d)
        return glia_err_set(err, GLIA_EIO, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || len >= sizeof((job *)0)->id + 5 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        json_error_t je;
        json_t *rec = json_load_file(path, 0, &je);
        const char *status = json_string_value(json_object_get(rec, "status"));
        job *jb = rec && status ? calloc(1, sizeof *jb) : NULL;
        if (!jb) {
            log_error("%s: not a job record (%s), skipped", path, rec ? "no status" : je.text);
            json_decref(rec);
            continue;
        }
        snprintf(jb->id, sizeof jb->id, "%.*s", (int)(len - 5), e->d_name);
        jb->rec = rec;
        for (int s = 0; s < J_NSTATUS; s++)
            if (strcmp(status, status_names[s]) == 0)
                jb->status = (job_status)s;
        if (add(j, jb) != 0) {
            job_free(jb);
            closedir(d);
            return glia_err_set(err, GLIA_ENOMEM, "out of memory reading job records");
        }
        unsigned seq = 0;
        if (sscanf(jb->id, "%*[^-]-%u", &seq) == 1 && seq >= j->seq)
            j->seq = seq + 1;
    }
    closedir(d);
    if (j->n > 1)
        qsort(j->all, (size_t)j->n, sizeof *j->all, by_id);
    for (int i = 0; i < j->n; i++) {
        job *jb = j->all[i];
        if (jb->status == J_RUNNING) {
            json_object_set_new(
                jb->rec, "error",
                json_string("gliad stopped while this job ran; POST /v1/jobs/{id}/resume continues "
                            "it from its last checkpoint"));
            set_status(j, jb, J_INTERRUPTED);
            log_warn("job %s was running when gliad stopped: now interrupted (resumable)", jb->id);
        } else if (jb->status == J_QUEUED) {
            enqueue(j, jb);
        }
    }
    return GLIA_OK;
}

glia_status jobs_open(const jobs_config *cfg, jobs **out, glia_err *err)
{
    *out = NULL;
    jobs *j = calloc(1, sizeof *j);
    if (!j)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    j->cfg = *cfg;
    snprintf(j->state, sizeof j->state, "%s", cfg->state_dir);
    j->cfg.state_dir = j->state;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    char dir[4200];
    glia_status rc;
    snprintf(dir, sizeof dir, "%s/jobs", j->state);
    if (mkdir_p(dir) != 0) {
        rc = glia_err_set(err, GLIA_EIO, "state_dir: cannot create %s: %s", dir, strerror(errno));
        goto fail;
    }
    snprintf(dir, sizeof dir, "%s/models", j->state);
    if (mkdir_p(dir) != 0) {
        rc = glia_err_set(err, GLIA_EIO, "state_dir: cannot create %s: %s", dir, strerror(errno));
        goto fail;
    }
    pthread_mutex_lock(&j->mu);
    rc = load_records(j, err);
    pthread_mutex_unlock(&j->mu);
    if (rc != GLIA_OK)
        goto fail;
    if (pthread_create(&j->thread, NULL, job_thread, j) != 0) {
        rc = glia_err_set(err, GLIA_ENOMEM, "cannot start the training thread");
        goto fail;
    }
    j->started = 1;
    *out = j;
    return GLIA_OK;
fail:
    jobs_close(j);
    return rc;
}

void jobs_close(jobs *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    j->stopping = 1;
    if (j->running)
        atomic_store(&j->running->cancel, 1); /* user_cancelled stays 0: interrupted, resumable */
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (j->started)
        pthread_join(j->thread, NULL);
    for (int i = 0; i < j->n; i++)
        job_free(j->all[i]);
    free(j->all);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* ---- the HTTP side ---- */

static json_t *view(const job *jb)
{
    json_t *v = json_deep_copy(jb->rec);
    json_object_set_new(v, "id", json_string(jb->id));
    json_object_del(v, "first_epoch");
    return v;
}

/* Appends "field: message" to a list of problems with the submission. */
static void bad(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bad(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used && used + 2 < len) {
        strcat(buf, "; ");
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

int jobs_submit(jobs *j, const json_t *body, json_t **out, char *location, size_t location_len, problem *p)
{
    static const char *const keys[] = {"model", "dataset", "recipe", "promote", "dry_run", NULL};
    static const char *const promotes[] = {"never", "always", "if_better", NULL};
    char errors[sizeof p->detail] = "", path[4096];
    *out = NULL;
    if (!json_is_object(body))
        return problem_fail(
            p, 400, "the body must be a JSON object {\"model\", \"dataset\", \"recipe\", \"promote\"}");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)body, key, val)
    {
        int known = 0;
        for (int i = 0; keys[i]; i++)
            known |= strcmp(key, keys[i]) == 0;
        if (!known)
            bad(errors, sizeof errors, "%s: unknown field (known: model, dataset, recipe, promote, dry_run)",
                key);
    }
    const json_t *model = json_object_get(body, "model"), *dataset = json_object_get(body, "dataset");
    const json_t *recipe = json_object_get(body, "recipe"), *prom = json_object_get(body, "promote");
    const json_t *dry = json_object_get(body, "dry_run");
    if (!json_is_string(model))
        bad(errors, sizeof errors, "model: required, the name of a configured model");
    else if (!j->cfg.model_path(j->cfg.user, json_string_value(model), path, sizeof path))
        bad(errors, sizeof errors, "model: '%s' is not configured (GET /v1/models lists them)",
            json_string_value(model));
    if (recipe && !json_is_object(recipe))
        bad(errors, sizeof errors, "recipe: must be an object of overrides");
    const json_t *mr = json_object_get(recipe, "max_runtime_seconds");
    if (mr && (!json_is_number(mr) || json_number_value(mr) <= 0 || json_number_value(mr) > 30 * 86400))
        bad(errors, sizeof errors, "recipe.max_runtime_seconds: a number of seconds in (0, 2592000]");
    int prom_ok = !prom;
    for (int i = 0; prom && json_is_string(prom) && promotes[i]; i++)
        prom_ok |= strcmp(json_string_value(prom), promotes[i]) == 0;
    if (!prom_ok)
        bad(errors, sizeof errors, "promote: one of \"never\", \"always\", \"if_better\"");
    if (dry && !json_is_boolean(dry))
        bad(errors, sizeof errors, "dry_run: true or false");
    if (dataset && !json_is_string(dataset) && !json_is_object(dataset))
        bad(errors, sizeof errors, "dataset: a data set name, or {\"name\", \"limit\", \"validation\"}");
    const json_t *dname = json_is_object(dataset) ? json_object_get(dataset, "name") : dataset;
    if (json_is_object(dataset)) {
        json_object_foreach((json_t *)dataset, key, val)
        {
            if (strcmp(key, "name") && strcmp(key, "limit") && strcmp(key, "validation") &&
                strcmp(key, "images") && strcmp(key, "labels"))
                bad(errors, sizeof errors,
                    "dataset.%s: unknown field (known: name, limit, validation; images and labels: uploaded "
                    "IDX "
                    "data sets)",
                    key);
        }
        if (!json_object_get(dataset, "images") != !json_object_get(dataset, "labels"))
            bad(errors, sizeof errors,
                "dataset: images and labels come together (two uploaded IDX data sets)");
    }
    if (errors[0])
        return problem_fail(p, 422, "%s", errors);
    /* the record, then the recipe it describes: built exactly as the job thread will */
    json_t *rec =
        json_pack("{s:O, s:s, s:o}", "model", model, "promote", prom ? json_string_value(prom) : "never",
                  "recipe", recipe ? json_deep_copy(recipe) : json_object());
    if (json_is_object(dataset))
        json_object_set(rec, "dataset", (json_t *)dataset);
    glia_recipe r;
    glia_err err = {0};
    if (job_recipe(j, rec, &r, &err) != GLIA_OK) {
        json_decref(rec);
        return problem_fail(p, 422, "%s", err.msg);
    }
    json_t *upload = NULL; /* an uploaded data set's description */
    char file[4300];
    if (json_is_object(dataset) && json_object_get(dataset, "images")) {
        char why[512] = "";
        json_t *ds = image_upload(j, &r, json_object_get(dataset, "images"),
                                  json_object_get(dataset, "labels"), why, sizeof why);
        if (!ds) {
            json_decref(rec);
            return problem_fail(p, 422, "dataset: %s", why);
        }
        json_object_set_new(rec, "dataset", ds);
        dname = NULL;
    }
    if (dname && json_is_string(dname) && strcmp(json_string_value(dname), r.dataset) != 0 && j->cfg.data &&
        datasets_find(j->cfg.data, json_string_value(dname), file, sizeof file, &upload)) {
        char why[512] = "";
        check_upload_fits(j, json_string_value(model), &r, upload, why, sizeof why);
        if (why[0]) {
            json_decref(upload);
            json_decref(rec);
            return problem_fail(p, 422, "dataset: %s", why);
        }
        json_t *ds = json_pack("{s:O, s:s, s:O}", "name", dname, "file", file, "records",
                               json_object_get(upload, "records"));
        json_decref(upload);
        json_object_set_new(rec, "dataset", ds);
        snprintf(r.dataset_file, sizeof r.dataset_file, "%s", file);
        dname = NULL; /* accepted */
    }
    if (dname && (!json_is_string(dname) || strcmp(json_string_value(dname), r.dataset) != 0)) {
        json_decref(rec);
        return problem_fail(
            p, 422,
            "dataset: '%s' is neither model %s's data set ('%s') nor an uploaded one (GET /v1/datasets "
            "lists them)",
            json_is_string(dname) ? json_string_value(dname) : "?", json_string_value(model), r.dataset);
    }
    if (!r.dataset_file[0] && !r.images_file[0])
        json_object_set_new(rec, "dataset",
                            json_pack("{s:s, s:I, s:I}", "name", r.dataset, "limit", (json_int_t)r.limit,
                                      "validation", (json_int_t)r.validation));
    json_t *effective =
        json_pack("{s:i, s:I, s:s, s:f, s:s, s:i}", "epochs", r.epochs, "seed", (json_int_t)r.seed,
                  "optimizer", glia_optim_kind_name(r.optim.kind), "lr", (double)r.optim.lr, "schedule",
                  glia_sched_kind_name(r.sched.kind), "batch_size", r.batch.size);
    if (dry && json_is_true(dry)) {
        json_decref(rec);
        *out = json_pack("{s:b, s:o}", "valid", 1, "recipe", effective);
        return 200;
    }
    char now[32];
    json_object_set_new(rec, "effective_recipe", effective);
    json_object_set_new(rec, "created_at", json_string(iso_now(now)));
    json_object_set_new(rec, "status", json_string("queued"));
    json_object_set_new(rec, "progress", json_real(0));
    json_object_set_new(rec, "epoch", json_integer(0));
    json_object_set_new(rec, "epochs", json_integer(r.epochs));
    json_object_set_new(rec, "step", json_integer(0));
    json_object_set_new(rec, "evaluations", json_array());
    pthread_mutex_lock(&j->mu);
    if (j->queued >= j->cfg.max_queued || j->n >= MAX_JOBS) {
        pthread_mutex_unlock(&j->mu);
        json_decref(rec);
        return problem_fail(p, 503, "%d training jobs are waiting already; retry when one has finished",
                            j->queued);
    }
    job *jb = calloc(1, sizeof *jb);
    if (!jb || add(j, jb) != 0) {
        pthread_mutex_unlock(&j->mu);
        free(jb);
        json_decref(rec);
        return problem_fail(p, 503, "out of memory");
    }
    snprintf(jb->id, sizeof jb->id, "%ld-%04u", (long)time(NULL), j->seq++);
    jb->rec = rec;
    jb->status = J_QUEUED;
    persist(j, jb);
    enqueue(j, jb);
    *out = view(jb);
    pthread_mutex_unlock(&j->mu);
    snprintf(location, location_len, "/v1/jobs/%s", jb->id);
    return 202;
}

int jobs_list(jobs *j, const char *status, json_t **out, problem *p)
{
    int want = -1;
    for (int s = 0; status && s < J_NSTATUS; s++)
        if (strcmp(status, status_names[s]) == 0)
            want = s;
    if (status && want < 0)
        return problem_fail(
            p, 400,
            "status must be one of queued, running, succeeded, failed, cancelled, interrupted "
            "(got '%s')",
            status);
    json_t *list = json_array();
    pthread_mutex_lock(&j->mu);
    for (int i = j->n - 1; i >= 0; i--) /* newest first */
        if (want < 0 || (int)j->all[i]->status == want)
            json_array_append_new(list, view(j->all[i]));
    pthread_mutex_unlock(&j->mu);
    *out = json_pack("{s:o}", "jobs", list);
    return 200;
}

int jobs_get(jobs *j, const char *id, json_t **out, problem *p)
{
    pthread_mutex_lock(&j->mu);
    job *jb = find(j, id);
    *out = jb ? view(jb) : NULL;
    pthread_mutex_unlock(&j->mu);
    return jb ? 200 : problem_fail(p, 404, "no job '%s' (GET /v1/jobs lists them)", id);
}

int jobs_cancel(jobs *j, const char *id, json_t **out, problem *p)
{
    pthread_mutex_lock(&j->mu);
    job *jb = find(j, id);
    int code = 200;
    if (!jb) {
        code = problem_fail(p, 404, "no job '%s' (GET /v1/jobs lists them)", id);
    } else if (jb->status == J_QUEUED || jb->status == J_INTERRUPTED) {
        unqueue(j, jb);
        set_status(j, jb, J_CANCELLED);
        j->outcomes[J_CANCELLED]++;
    } else if (jb->status == J_RUNNING) {
        jb->user_cancelled = 1;
        atomic_store(&jb->cancel, 1); /* the trainer stops before its next step */
        code = 202;
    } else {
        code = problem_fail(p, 409, "job %s has already %s", id, status_names[jb->status]);
    }
    *out = code < 300 ? view(jb) : NULL;
    pthread_mutex_unlock(&j->mu);
    return code;
}

int jobs_resume(jobs *j, const char *id, json_t **out, problem *p)
{
    pthread_mutex_lock(&j->mu);
    job *jb = find(j, id);
    int code = 202;
    if (!jb)
        code = problem_fail(p, 404, "no job '%s' (GET /v1/jobs lists them)", id);
    else if (jb->status != J_INTERRUPTED)
        code = problem_fail(p, 409, "job %s is %s; only an interrupted job can be resumed", id,
                            status_names[jb->status]);
    else if (j->queued >= j->cfg.max_queued)
        code = problem_fail(p, 503, "%d training jobs are waiting already; retry later", j->queued);
    if (code == 202) {
        set_status(j, jb, J_QUEUED);
        enqueue(j, jb);
    }
    *out = code == 202 ? view(jb) : NULL;
    pthread_mutex_unlock(&j->mu);
    return code;
}

int jobs_promote(jobs *j, const char *model, long version, json_t **out, problem *p)
{
    char path[4096];
    if (!j->cfg.model_path(j->cfg.user, model, path, sizeof path))
        return problem_fail(p, 404, "no model named '%s' is configured", model);
    if (promote(j, model, version, p) != 0)
        return p->status;
    *out = json_pack("{s:s, s:I, s:o}", "model", model, "serving", (json_int_t)version, "versions",
                     jobs_versions(j, model));
    return 200;
}

char *jobs_metrics(jobs *j)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    pthread_mutex_lock(&j->mu);
    int counts[J_NSTATUS] = {0};
    for (int i = 0; i < j->n; i++)
        counts[j->all[i]->status]++;
    fprintf(f, "# HELP glia_train_jobs Training jobs by status now.\n# TYPE glia_train_jobs gauge\n");
    for (int s = 0; s < J_NSTATUS; s++)
        fprintf(f, "glia_train_jobs{status=\"%s\"} %d\n", status_names[s], counts[s]);
    fprintf(f, "# HELP glia_train_jobs_total Training jobs finished, by outcome.\n"
               "# TYPE glia_train_jobs_total counter\n");
    for (int s = J_SUCCEEDED; s <= J_CANCELLED; s++)
        fprintf(f, "glia_train_jobs_total{outcome=\"%s\"} %lu\n", status_names[s], j->outcomes[s]);
    fprintf(f, "# HELP glia_train_samples_total Training examples processed (epochs x examples).\n"
               "# TYPE glia_train_samples_total counter\n");
    for (int i = 0; i < j->nmodels; i++)
        fprintf(f, "glia_train_samples_total{model=\"%s\"} %.0f\n", j->models[i].name, j->models[i].samples);
    fprintf(f, "# HELP glia_train_loss Training loss of the model's last finished epoch.\n"
               "# TYPE glia_train_loss gauge\n");
    for (int i = 0; i < j->nmodels; i++)
        fprintf(f, "glia_train_loss{model=\"%s\"} %.6g\n", j->models[i].name, j->models[i].loss);
    fprintf(
        f,
        "# HELP glia_train_epoch The model's last finished training epoch.\n# TYPE glia_train_epoch gauge\n");
    for (int i = 0; i < j->nmodels; i++)
        fprintf(f, "glia_train_epoch{model=\"%s\"} %d\n", j->models[i].name, j->models[i].epoch);
    fprintf(f, "# HELP glia_train_job_duration_seconds Run time of finished training jobs.\n"
               "# TYPE glia_train_job_duration_seconds histogram\n");
    unsigned long cum = 0;
    for (int b = 0; b < NBUCKETS; b++) {
        cum += j->dur_counts[b];
        fprintf(f, "glia_train_job_duration_seconds_bucket{le=\"%g\"} %lu\n", duration_buckets[b], cum);
    }
    cum += j->dur_counts[NBUCKETS];
    fprintf(f, "glia_train_job_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
    fprintf(f, "glia_train_job_duration_seconds_sum %.3f\nglia_train_job_duration_seconds_count %lu\n",
            j->dur_sum, cum);
    pthread_mutex_unlock(&j->mu);
    fclose(f);
    return buf;
}
