/*
 * routes.h - the server's inside, shared by server.c (the route table) and the route
 * groups in this folder, one file each: v1 inference, OIP v2, models and versions, jobs,
 * data sets, health and metrics. Handlers run on HTTP threads; they decode, queue and
 * answer, and never run a model (workers do) nor wait for one (inference suspends).
 */
#ifndef GLIAD_ROUTES_H
#define GLIAD_ROUTES_H

#include <stdatomic.h>

#include "daemon/codec.h"
#include "daemon/http.h"
#include "daemon/router.h"
#include "daemon/server.h"

struct server {
    server_deps d;
    http_server *http;
    atomic_int draining; /* /readyz says so; refused inference says why */
};

/* The server a request came to. */
static inline server *route_server(http_request *r)
{
    return r->user;
}

/* ---- inference, shared by /v1 and /v2 (infer.c) ---- */

typedef struct infer infer;
struct infer {
    http_request *r;
    registry_model *model; /* counted reference, released with the request */
    const codec *codec;
    int n, top_k;
    workq_item item;               /* its inputs and outputs, typed by the model's kinds */
    int rejected;                  /* the queue refused it */
    http_ret (*answer)(infer *in); /* writes the outputs in the route's form */
    /* the route's own settings for its answer (OIP v2: the outputs asked for, the id), owned:
     * freed by route_state_free with the request */
    void *route_state;
    void (*route_state_free)(void *state);
    /* counts the request's outcome (ok, error, rejected, timeout, limited) in the route's
     * own metrics; NULL: glia_inference_requests_total */
    void (*count)(infer *in, const char *outcome);
};

/* The request's inference state, holding the model named; NULL with 404 (unknown), 503
 * (configured, not loaded) or 500 queued in *ret. Freed with the request. */
infer *infer_take_model(http_request *r, const char *name, http_ret *ret);
/* The same for version `version` of name (any version loaded; version < 0: as
 * infer_take_model); a version not loaded is 404. */
infer *infer_take_version(http_request *r, const char *name, long version, http_ret *ret);
/* Room for n inputs: 0, or -1 with 400 (n out of range) or 503 queued in *ret. */
int infer_alloc_inputs(infer *in, size_t n, http_ret *ret);
/* Inputs decoded: suspends the request and queues it; answer() writes the outputs once a
 * worker has run it (failures - queue full, deadline, shutdown - are answered here). */
http_ret infer_enqueue(infer *in, http_ret (*answer)(infer *in));
/* 0 if every output the model gave is finite; else -1 with 422 queued in *ret naming the
 * input (and, for a model of preprocessed tensors, the range its inputs are expected in):
 * finite but extreme inputs can overflow a network, and NaN is no answer. */
int infer_outputs_finite(infer *in, http_ret *ret);

/* ---- models as JSON (describe.c) ---- */

/* A configured model: name, path, load state; and when loaded its task, version, input,
 * output, labels, evaluation, weights digest and load time. */
json_t *describe_model(const registry_entry *e);
/* What an anonymous caller of /v1/models may see of j (issue 14): every "path" and "*_path"
 * key removed, and every absolute path inside a string value cut to its last component,
 * recursively; in place. */
void describe_hide_paths(json_t *j);
/* A model's input and output tensors as OIP metadata {name, datatype, shape}
 * (batch_dim: a leading -1). */
json_t *describe_input(const registry_model *m, int batch_dim);
json_t *describe_output(const registry_model *m, int batch_dim);

/* ---- the routes, by group ---- */

/* jobs.c: the 503 of a training route when gliad has no jobs (no usable state_dir). */
http_ret route_training_off(http_request *r);
/* jobs.c: answers a jobs_* result, its JSON body (with Location when not NULL) or the
 * problem it set. */
http_ret route_answer_job(http_request *r, int status, json_t *body, const problem *p, const char *location);

/* inference_v1.c */
http_ret route_predict(http_request *r, const route_params *p);
http_ret route_model_predict(http_request *r, const route_params *p);
/* explain.c: POST /v1/models/{name}/explain */
http_ret route_model_explain(http_request *r, const route_params *p);
/* oip_v2.c */
http_ret route_oip_server(http_request *r, const route_params *p);
http_ret route_oip_model(http_request *r, const route_params *p);
http_ret route_oip_model_ready(http_request *r, const route_params *p);
http_ret route_oip_infer(http_request *r, const route_params *p);
/* ... and their /versions/{version} forms (issue 14) */
http_ret route_oip_version(http_request *r, const route_params *p);
http_ret route_oip_version_ready(http_request *r, const route_params *p);
http_ret route_oip_version_infer(http_request *r, const route_params *p);
/* models.c */
http_ret route_models_list(http_request *r, const route_params *p);
http_ret route_model_get(http_request *r, const route_params *p);
http_ret route_model_reload(http_request *r, const route_params *p);
http_ret route_version_promote(http_request *r, const route_params *p);
/* repository.c: the model repository (Triton's extension) and version labels */
http_ret route_repo_index(http_request *r, const route_params *p);
http_ret route_repo_load(http_request *r, const route_params *p);
http_ret route_repo_unload(http_request *r, const route_params *p);
http_ret route_labels_get(http_request *r, const route_params *p);
http_ret route_labels_put(http_request *r, const route_params *p);
/* jobs.c */
http_ret route_train(http_request *r, const route_params *p);
http_ret route_jobs_list(http_request *r, const route_params *p);
http_ret route_job_get(http_request *r, const route_params *p);
http_ret route_job_cancel(http_request *r, const route_params *p);
http_ret route_job_resume(http_request *r, const route_params *p);
http_ret route_job_history(http_request *r, const route_params *p);
/* datasets.c */
http_ret route_datasets_list(http_request *r, const route_params *p);
http_ret route_dataset_upload(http_request *r, const route_params *p); /* begin: streams to disk */
/* console.c: the web console's static files (issue 15) */
http_ret route_console_index(http_request *r, const route_params *p);
http_ret route_console_file(http_request *r, const route_params *p);
/* health.c */
http_ret route_live(http_request *r, const route_params *p);
http_ret route_ready(http_request *r, const route_params *p);
http_ret route_metrics(http_request *r, const route_params *p);

#endif
