/*
 * metrics.h - gliad's Prometheus metrics, rendered in text format 0.0.4.
 *
 * Names carry the glia_ prefix and base units (seconds, bytes). Counters and histograms
 * are updated with C11 atomics, so a worker recording a batch never waits on a lock
 * unless it is the first to use a new label set (route, model); the number of label
 * sets per family is capped and any beyond the cap are counted under "other". Values
 * that are state rather than events (queue depth, busy workers, loaded models) are
 * handed over by the caller at render time in a snapshot. The process_* series follow
 * Prometheus' client conventions and come from /proc.
 */
#ifndef GLIAD_METRICS_H
#define GLIAD_METRICS_H

#include "core/base/err.h"

typedef struct metrics metrics;

glia_status metrics_new(const char *version, metrics **out, glia_err *err);
void metrics_free(metrics *m);

void metrics_http(metrics *m, const char *route, const char *method, int code, double seconds);
/* outcome: ok, error, rejected, timeout */
void metrics_inference(metrics *m, const char *model, const char *outcome);
void metrics_queue_wait(metrics *m, const char *model, double seconds);
void metrics_compute(metrics *m, const char *model, double seconds, int batch_size);
void metrics_model_load_failure(metrics *m, const char *model);

typedef struct {
    const char *name;
    long version;
    const char *sha256;
    int loaded;
} metrics_model;

typedef struct {
    long queue_depth, queue_capacity;
    int workers, workers_busy;
    const metrics_model *models;
    int nmodels;
} metrics_snapshot;

/* The whole exposition; malloc'd (the caller frees it), NULL when out of memory. */
char *metrics_render(metrics *m, const metrics_snapshot *s);

#endif
