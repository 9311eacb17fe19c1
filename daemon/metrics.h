/*
 * metrics.h - gliad's Prometheus metrics, rendered in text exposition format 0.0.4.
 *
 * Names carry the glia_ prefix and base units (seconds, bytes). Events (requests,
 * batches, load failures) are counted here as they happen; state (queue depth, busy
 * workers, loaded models, the training jobs' figures) is handed over by the caller at
 * render time in a snapshot, so this module never reaches into the queue, the registry
 * or the jobs. Every series gliad exposes is rendered here, so names, types, help texts
 * and label escaping have one implementation. The process_* series follow the Prometheus
 * client conventions and come from Linux /proc.
 *
 * Recording must stay cheap for workers and HTTP threads: a series is found by its label
 * values without a lock and updated with C11 atomics; only the first use of a new label
 * set takes the family's mutex, briefly. Rendering takes no lock at all, so a scrape
 * never blocks a worker. Label values are bounded, because routes, methods and model
 * names can come from clients: each family holds at most METRICS_MAX_SERIES label sets,
 * beyond which increments are counted under the label value "other" (nothing is lost);
 * a value longer than METRICS_LABEL_MAX bytes is cut at a character boundary, and bytes
 * that are not UTF-8 become '?'.
 *
 * It must never print, exit, or block a recording thread on a scrape.
 */
#ifndef GLIAD_METRICS_H
#define GLIAD_METRICS_H

#include "core/base/err.h"

enum {
    METRICS_MAX_SERIES = 1024, /* label sets per family, the "other" set included */
    METRICS_LABEL_MAX = 128,   /* bytes of one label value */
};

typedef struct metrics metrics;

/* version is the daemon's (glia_build_info); *out is freed with metrics_free. */
glia_status metrics_new(const char *version, metrics **out, glia_err *err);
void metrics_free(metrics *m);

/* All recording functions are thread-safe; a NULL label value counts as "". */

/* One answered HTTP request: glia_http_requests_total{route,method,code} and
 * glia_http_request_duration_seconds{route}. route is a template ("/v1/models/{name}"),
 * never a raw path, or the cap fills with junk; likewise method is one of HTTP's own or
 * "other" (http_method_known). */
void metrics_http(metrics *m, const char *route, const char *method, int code, double seconds);
/* glia_inference_requests_total{model,version,outcome}; outcome is one of ok, error,
 * rejected, timeout, limited (a 413: over a size or cost limit); anything else is counted
 * as "other". version is the loaded version that answered (so that a canary can be
 * compared with stable); only loaded versions reach here, which bounds the series. */
void metrics_inference(metrics *m, const char *model, long version, const char *outcome);
/* Time one inference request waited in the queue before a worker took it. */
void metrics_queue_wait(metrics *m, const char *model, long version, double seconds);
/* One batch run by a worker: its compute time and its number of samples. */
void metrics_compute(metrics *m, const char *model, long version, double seconds, int batch_size);
/* One explanation request: glia_explain_requests_total{model,version,method,outcome} and,
 * when seconds >= 0 (it ran), glia_explain_duration_seconds{model,version,method}. method is
 * one of the API's names (validated before), outcome as metrics_inference's. */
void metrics_explain(metrics *m, const char *model, long version, const char *method, const char *outcome,
                     double seconds);
void metrics_model_load_failure(metrics *m, const char *model);
/* A connection gliad closed: glia_http_connections_closed_total{reason}; reason is a
 * static string (conns.h: idle, header, body, write, reserve). */
void metrics_connection_closed(metrics *m, const char *reason);

/* State at render time; all pointers are borrowed for the duration of the call. */
typedef struct {
    const char *name;
    long version;
    const char *sha256;
    int loaded; /* 0: configured but no version serving (glia_model_info omitted) */
    int other;  /* 1: another loaded version of the model named (a repository's canary or
                   older versions): a glia_model_info series of its own, no glia_model_loaded */
} metrics_model;

/* The training jobs' figures (the glia_train_* families), filled by the jobs side. */
enum {
    METRICS_TRAIN_LABELS = 8,  /* series of glia_train_jobs and of glia_train_jobs_total, at most */
    METRICS_TRAIN_MODELS = 64, /* models with training figures, at most */
    METRICS_TRAIN_BUCKETS = 9, /* bounds of glia_train_job_duration_seconds, +Inf aside */
};

typedef struct {
    const char *label; /* a static string: the status or outcome */
    unsigned long count;
} metrics_count;

typedef struct {
    char model[128];
    double samples; /* training examples processed, over all its jobs' epochs */
    double loss;    /* training loss of its last finished epoch */
    int epoch;      /* its last finished epoch */
} metrics_train_model;

typedef struct {
    metrics_count jobs[METRICS_TRAIN_LABELS]; /* glia_train_jobs{status}: jobs by status now */
    int njobs;
    metrics_count finished[METRICS_TRAIN_LABELS]; /* glia_train_jobs_total{outcome} */
    int nfinished;
    metrics_train_model models[METRICS_TRAIN_MODELS];
    int nmodels;
    /* Finished jobs by run time: durations[b] counts those in bucket b of
     * metrics_train_bucket (not cumulative); the last one those above every bound. */
    unsigned long durations[METRICS_TRAIN_BUCKETS + 1];
    double duration_sum; /* seconds */
} metrics_training;

/* The bucket (0..METRICS_TRAIN_BUCKETS) of glia_train_job_duration_seconds that a job
 * which ran for `seconds` counts in. */
int metrics_train_bucket(double seconds);

typedef struct {
    long queue_depth, queue_capacity;
    int workers, workers_busy;
    const metrics_model *models; /* names unique */
    int nmodels;
    const metrics_training *training; /* NULL: training is off, no glia_train_* series */
} metrics_snapshot;

/* The whole exposition, NUL-terminated and malloc'd (the caller frees it); NULL when out
 * of memory. s may be NULL (gauges read 0, no models). */
char *metrics_render(metrics *m, const metrics_snapshot *s);

#endif
