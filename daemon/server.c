/*
 * server.c - see server.h.
 *
 * A request's life: the first access-handler call allocates a `request` (and answers 413
 * at once if Content-Length is over the limit, before any body is read); later calls
 * append the body; the final call routes. Inference decodes the inputs here, suspends the
 * connection, then submits one work item; the worker's done callback resumes the
 * connection and the handler is called once more to encode the answer. The
 * completed-notifier logs the access line, counts metrics and frees the request, which
 * also releases the model version the request held.
 */
#include "daemon/server.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/nn/kernels.h"
#include "daemon/codec.h"
#include "daemon/log.h"

enum { MAX_INPUTS = 1024, DEFAULT_TOP_K = 5 };

struct server {
    server_deps d;
    struct MHD_Daemon *mhd;
    int port;
    atomic_int draining;
    atomic_int active;
};

typedef enum { PHASE_READING, PHASE_QUEUED, PHASE_DONE, PHASE_REJECTED } phase;

typedef struct {
    server *s;
    struct MHD_Connection *conn;
    double t0;
    char method[16];
    char path[256];
    const char *route; /* template for metrics, e.g. "/v1/models/{name}/predict" */
    char request_id[72];
    char *body;
    size_t len, cap;
    int too_large;
    int status; /* of the response, for the access log */
    atomic_int phase;
    /* inference */
    int v2; /* answer in OIP v2 form */
    registry_model *model;
    const codec *codec;
    float *x, *y;
    int n, top_k;
    workq_item item;
    /* POST /v1/datasets: the body goes to a file as it arrives */
    int uploading;
    dataset_upload upload;
} request;

/* ---- responses ---- */

/* Queues text (copied) with its type and the request id; extra is "Name: value" or NULL. */
static enum MHD_Result send_text(request *r, int status, const char *type, const char *text, size_t len,
                                 const char *extra_name, const char *extra_value)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (extra_name)
        MHD_add_response_header(resp, extra_name, extra_value);
    r->status = status;
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Steals j. */
static enum MHD_Result send_json(request *r, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return send_text(r, 500, "text/plain", "out of memory\n", 14, NULL, NULL);
    enum MHD_Result ret = send_text(r, status, "application/json", text, strlen(text), NULL, NULL);
    free(text);
    return ret;
}

/* An error in the route family's own form: problem+json on /v1 and elsewhere, {"error"} on /v2. */
static enum MHD_Result send_error_h(request *r, int status, const char *detail, const char *hname,
                                    const char *hval)
{
    json_t *j;
    const char *type;
    if (r->v2) {
        j = json_pack("{s:s}", "error", detail);
        type = "application/json";
    } else {
        j = problem_json(status, detail, r->path);
        type = "application/problem+json";
    }
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return send_text(r, 500, "text/plain", "out of memory\n", 14, NULL, NULL);
    enum MHD_Result ret = send_text(r, status, type, text, strlen(text), hname, hval);
    free(text);
    return ret;
}

static enum MHD_Result send_error(request *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result send_error(request *r, int status, const char *fmt, ...)
{
    char detail[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return send_error_h(r, status, detail, NULL, NULL);
}

static enum MHD_Result method_not_allowed(request *r, const char *allow)
{
    char detail[128];
    snprintf(detail, sizeof detail, "%s does not take %s; use %s", r->path, r->method, allow);
    return send_error_h(r, 405, detail, MHD_HTTP_HEADER_ALLOW, allow);
}

/* ---- small helpers ---- */

static const char *header(request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static void make_request_id(request *r)
{
    const char *given = header(r, "X-Request-Id");
    int ok = given && *given && strlen(given) <= 64;
    for (const char *c = given; ok && *c; c++)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
             *c == '_' || *c == '.';
    if (ok) {
        snprintf(r->request_id, sizeof r->request_id, "%s", given);
        return;
    }
    static atomic_uint_fast64_t counter;
    uint64_t v = atomic_fetch_add(&counter, 1) + 1, t = (uint64_t)(workq_now() * 1e6);
    snprintf(r->request_id, sizeof r->request_id, "%08llx%08llx", (unsigned long long)(t & 0xffffffffu),
             (unsigned long long)(v & 0xffffffffu));
}

/* Constant-time comparison: the time taken does not depend on where the strings differ. */
static int same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(a[i < la ? i : 0] ^ b[i]);
    return diff == 0;
}

/* 0 if allowed; otherwise an answer was queued (401/403) and *ret holds it. */
static int check_token(request *r, const char *token, const char *what, enum MHD_Result *ret)
{
    const char *auth = header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || strncmp(auth, "Bearer ", 7) != 0) {
        *ret = send_error_h(r, 401, "this route needs \"Authorization: Bearer TOKEN\"",
                            MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        return -1;
    }
    if (!token) {
        *ret = send_error(r, 403, "the %s API is disabled: set auth.%s_token_file in gliad's config", what,
                          what);
        return -1;
    }
    if (!same_secret(auth + 7, token)) {
        *ret = send_error(r, 403, "the bearer token is not the %s token", what);
        return -1;
    }
    return 0;
}

/* Splits "/v1/models/NAME/rest" into NAME (copied, at most cap-1 chars) and rest. */
static int model_path(const char *path, const char *prefix, char *name, size_t cap, const char **rest)
{
    size_t lp = strlen(prefix);
    if (strncmp(path, prefix, lp) != 0)
        return 0;
    const char *p = path + lp, *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 0 || len >= cap)
        return 0;
    memcpy(name, p, len);
    name[len] = '\0';
    *rest = slash ? slash : "";
    return 1;
}

/* ---- model descriptions ---- */

static json_t *shape_json(glia_shape3 s, int batch_dim, int flat)
{
    json_t *a = json_array();
    if (batch_dim)
        json_array_append_new(a, json_integer(-1));
    if (flat) {
        json_array_append_new(a, json_integer((json_int_t)glia_shape3_size(s)));
    } else {
        json_array_append_new(a, json_integer(s.c));
        json_array_append_new(a, json_integer(s.h));
        json_array_append_new(a, json_integer(s.w));
    }
    return a;
}

/* A model's input and output tensors as OIP metadata objects {name, datatype, shape}
 * (batch_dim: a leading -1). A text model takes one BYTES string per sample. */
static json_t *input_meta(const registry_model *m, int batch_dim)
{
    if (m->bundle.text || m->bundle.s2s) {
        json_t *shape = batch_dim ? json_pack("[i]", -1) : json_array();
        return json_pack("{s:s, s:s, s:o, s:i}", "name", "text", "datatype", "BYTES", "shape", shape,
                         "max_tokens", m->bundle.manifest.max_tokens);
    }
    return json_pack("{s:s, s:s, s:o}", "name", "input", "datatype", "FP32", "shape",
                     shape_json(m->bundle.net->input, batch_dim, 0));
}

static json_t *output_meta(const registry_model *m, int batch_dim)
{
    if (m->bundle.s2s) {
        json_t *shape = batch_dim ? json_pack("[i]", -1) : json_array();
        return json_pack("{s:s, s:s, s:o}", "name", "translation", "datatype", "BYTES", "shape", shape);
    }
    glia_shape3 out = {(int)m->out_floats, 1, 1};
    return json_pack("{s:s, s:s, s:o}", "name", "probabilities", "datatype", "FP32", "shape",
                     shape_json(out, batch_dim, 1));
}

static json_t *describe(const registry_entry *e)
{
    json_t *j = json_pack("{s:s, s:s}", "name", e->name, "path", e->path);
    json_object_set_new(j, "loaded", json_boolean(e->model != NULL));
    if (e->last_error[0])
        json_object_set_new(j, "last_error", json_string(e->last_error));
    json_object_set_new(j, "load_failures", json_integer(e->failures));
    if (!e->model)
        return j;
    const registry_model *m = e->model;
    const glia_manifest *man = &m->bundle.manifest;
    char when[32];
    struct tm tm;
    gmtime_r(&m->loaded_at, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(j, "task", json_string(man->task));
    json_object_set_new(j, "version", json_integer(man->version));
    json_object_set_new(j, "input", input_meta(m, 0));
    json_object_set_new(j, "output", output_meta(m, 0));
    json_t *labels = json_array();
    for (int i = 0; i < man->nlabels; i++)
        json_array_append_new(labels, json_string(man->labels[i]));
    json_object_set_new(j, "labels", labels);
    json_t *eval = json_object();
    if (man->eval_accuracy >= 0)
        json_object_set_new(eval, "accuracy", json_real(man->eval_accuracy));
    if (man->eval_bleu >= 0)
        json_object_set_new(eval, "bleu", json_real(man->eval_bleu));
    if (man->eval_chrf >= 0)
        json_object_set_new(eval, "chrf", json_real(man->eval_chrf));
    json_object_set_new(j, "evaluation", eval);
    json_object_set_new(j, "weights_sha256", json_string(m->bundle.sha256));
    json_object_set_new(j, "loaded_at", json_string(when));
    json_object_set_new(j, "load_seconds", json_real(m->load_seconds));
    return j;
}

/* describe() plus what the training jobs know: every version and which one serves. */
static json_t *describe_with_versions(request *r, const registry_entry *e)
{
    json_t *j = describe(e);
    json_t *versions = r->s->d.jobs ? jobs_versions(r->s->d.jobs, e->name) : NULL;
    if (versions)
        json_object_set_new(j, "versions", versions);
    return j;
}

static enum MHD_Result list_models(request *r)
{
    registry_entry *e;
    int n = registry_list(r->s->d.reg, &e);
    if (n < 0)
        return send_error(r, 500, "out of memory");
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, describe(&e[i]));
    registry_list_free(e, n);
    return send_json(r, 200, json_pack("{s:o}", "models", a));
}

static enum MHD_Result get_model(request *r, const char *name)
{
    registry_entry *e;
    int n = registry_list(r->s->d.reg, &e);
    if (n < 0)
        return send_error(r, 500, "out of memory");
    json_t *j = NULL;
    for (int i = 0; i < n && !j; i++)
        if (strcmp(e[i].name, name) == 0)
            j = describe_with_versions(r, &e[i]);
    registry_list_free(e, n);
    if (!j)
        return send_error(r, 404, "no model named '%s' (GET /v1/models lists them)", name);
    return send_json(r, 200, j);
}

static enum MHD_Result v2_model(request *r, const char *name, int ready_only)
{
    registry_model *m = registry_get(r->s->d.reg, name);
    if (!m)
        return send_error(r, 404, "model '%s' is not loaded", name);
    if (ready_only) {
        registry_model_unref(m);
        return send_json(r, 200, json_pack("{s:s, s:b}", "name", name, "ready", 1));
    }
    char version[32];
    snprintf(version, sizeof version, "%ld", m->bundle.manifest.version);
    json_t *j = json_pack("{s:s, s:[s], s:s, s:[o], s:[o]}", "name", name, "versions", version, "platform",
                          "glia", "inputs", input_meta(m, 1), "outputs", output_meta(m, 1));
    registry_model_unref(m);
    return send_json(r, 200, j);
}

/* ---- inference ---- */

static void item_done(workq_item *it)
{
    request *r = it->user;
    atomic_store(&r->phase, PHASE_DONE);
    MHD_resume_connection(r->conn);
}

static const char *outcome_of(workq_status st)
{
    return st == WORKQ_OK         ? "ok"
           : st == WORKQ_TIMEOUT  ? "timeout"
           : st == WORKQ_SHUTDOWN ? "rejected"
                                  : "error";
}

/* Everything is decoded into r->x; suspends and queues. */
static enum MHD_Result enqueue(request *r)
{
    server *s = r->s;
    const char *h = header(r, "X-Request-Timeout-Ms");
    long timeout = s->d.cfg->request_timeout_ms;
    if (h) {
        char *end;
        timeout = strtol(h, &end, 10);
        if (*h == '\0' || *end != '\0' || timeout < 1 || timeout > 3600000)
            return send_error(r, 400, "X-Request-Timeout-Ms must be an integer from 1 to 3600000, got '%s'",
                              h);
    }
    r->y = malloc(sizeof(float) * r->model->out_floats * (size_t)r->n);
    if (!r->y)
        return send_error(r, 503, "out of memory for %d outputs", r->n);
    workq_item *it = &r->item;
    memset(it, 0, sizeof *it);
    it->model = r->model;
    it->n = r->n;
    it->x = r->x;
    it->y = r->y;
    it->deadline = workq_now() + timeout * 1e-3;
    it->done = item_done;
    it->user = r;
    atomic_store(&r->phase, PHASE_QUEUED);
    /* suspend first: the worker may finish before this function returns */
    MHD_suspend_connection(r->conn);
    if (workq_submit(s->d.queue, it) != 0) {
        atomic_store(&r->phase, PHASE_REJECTED);
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

static enum MHD_Result answer_inference(request *r)
{
    server *s = r->s;
    const char *model = r->model->name;
    if (atomic_load(&r->phase) == PHASE_REJECTED) {
        metrics_inference(s->d.met, model, "rejected");
        return send_error_h(r, 503,
                            atomic_load(&s->draining) ? "gliad is shutting down"
                                                      : "the inference queue is full; retry",
                            MHD_HTTP_HEADER_RETRY_AFTER, "1");
    }
    workq_item *it = &r->item;
    metrics_inference(s->d.met, model, outcome_of(it->status));
    if (it->status == WORKQ_OK || it->status == WORKQ_TIMEOUT)
        metrics_queue_wait(s->d.met, model,
                           (it->status == WORKQ_OK ? it->started : it->finished) - it->enqueued);
    switch (it->status) {
    case WORKQ_OK: break;
    case WORKQ_TIMEOUT:
        return send_error(r, 504,
                          "the request waited %.0f ms in the queue, past its deadline; it was not run",
                          (it->finished - it->enqueued) * 1e3);
    case WORKQ_SHUTDOWN:
        return send_error_h(r, 503, "gliad stopped before this request ran", MHD_HTTP_HEADER_RETRY_AFTER,
                            "1");
    default: return send_error(r, 500, "the model failed to run (gliad's log says why)");
    }
    const size_t k = r->model->out_floats;
    if (r->v2 && r->model->bundle.s2s) { /* OIP: the translations as BYTES [N], their lengths INT32 [N] */
        json_t *texts = json_array(), *tokens = json_array();
        for (int i = 0; i < r->n; i++) {
            json_t *o = r->codec->encode(r->model, r->y + (size_t)i * k, r->top_k);
            if (!o) {
                json_decref(texts);
                json_decref(tokens);
                return send_error(r, 500, "cannot encode the outputs");
            }
            json_array_append(texts, json_object_get(o, "translation"));
            json_array_append(tokens, json_object_get(o, "tokens"));
            json_decref(o);
        }
        char version[32];
        snprintf(version, sizeof version, "%ld", r->model->bundle.manifest.version);
        return send_json(r, 200,
                         json_pack("{s:s, s:s, s:s, s:[{s:s, s:[i], s:s, s:o}, {s:s, s:[i], s:s, s:o}]}",
                                   "model_name", model, "model_version", version, "id", r->request_id,
                                   "outputs", "name", "translation", "shape", r->n, "datatype", "BYTES",
                                   "data", texts, "name", "tokens", "shape", r->n, "datatype", "INT32",
                                   "data", tokens));
    }
    if (r->v2) {
        /* in place: the raw outputs are not needed after this, and no buffer of a fixed
         * size has to hold a model's k (any number of classes) */
        glia_softmax(r->y, r->y, r->n, (int)k);
        json_t *data = json_array();
        for (size_t i = 0; i < (size_t)r->n * k; i++)
            json_array_append_new(data, json_real(r->y[i]));
        char version[32];
        snprintf(version, sizeof version, "%ld", r->model->bundle.manifest.version);
        return send_json(r, 200,
                         json_pack("{s:s, s:s, s:s, s:[{s:s, s:[i, i], s:s, s:o}]}", "model_name", model,
                                   "model_version", version, "id", r->request_id, "outputs", "name",
                                   "probabilities", "shape", r->n, (int)k, "datatype", "FP32", "data", data));
    }
    json_t *outs = json_array();
    for (int i = 0; i < r->n; i++) {
        json_t *o = r->codec->encode(r->model, r->y + (size_t)i * k, r->top_k);
        if (!o) {
            json_decref(outs);
            return send_error(r, 500, "cannot encode the outputs");
        }
        json_array_append_new(outs, o);
    }
    return send_json(r, 200,
                     json_pack("{s:s, s:I, s:o}", "model", model, "version",
                               (json_int_t)r->model->bundle.manifest.version, "outputs", outs));
}

/* Takes the model named, or answers 404/503. */
static int take_model(request *r, const char *name, enum MHD_Result *ret)
{
    r->model = registry_get(r->s->d.reg, name);
    if (!r->model) {
        registry_entry *e;
        int n = registry_list(r->s->d.reg, &e), configured = 0;
        for (int i = 0; i < n; i++)
            configured |= strcmp(e[i].name, name) == 0;
        registry_list_free(e, n > 0 ? n : 0);
        *ret = configured
                   ? send_error_h(r, 503, "the model is configured but not loaded (see GET /v1/models)",
                                  MHD_HTTP_HEADER_RETRY_AFTER, "5")
                   : send_error(r, 404, "no model named '%s' (GET /v1/models lists them)", name);
        return -1;
    }
    r->codec = codec_for(r->model);
    if (!r->codec) {
        *ret = send_error(r, 500, "model '%s' has task '%s', which this gliad cannot serve", name,
                          r->model->bundle.manifest.task);
        return -1;
    }
    return 0;
}

static int alloc_inputs(request *r, size_t n, enum MHD_Result *ret)
{
    if (n == 0 || n > MAX_INPUTS) {
        *ret = send_error(r, 400, "send between 1 and %d inputs (got %zu)", MAX_INPUTS, n);
        return -1;
    }
    r->n = (int)n;
    r->x = malloc(sizeof(float) * r->model->in_floats * n);
    if (!r->x) {
        *ret = send_error(r, 503, "out of memory for %zu inputs", n);
        return -1;
    }
    return 0;
}

/* POST /v1/predict (name == NULL: from the body) and /v1/models/{name}/predict. */
static enum MHD_Result predict(request *r, const char *name)
{
    enum MHD_Result ret;
    problem p = {0};
    const char *type = header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (r->s->d.inference_token && check_token(r, r->s->d.inference_token, "inference", &ret))
        return ret;
    int is_json = !type || strncmp(type, "application/json", 16) == 0;
    if (!is_json) {
        if (!name)
            return send_error(r, 415,
                              "POST /v1/predict takes application/json; raw bodies (images, text/plain) go "
                              "to /v1/models/{name}/predict");
        if (take_model(r, name, &ret) || alloc_inputs(r, 1, &ret))
            return ret;
        if (r->codec->decode_raw(r->model, type, r->body, r->len, r->x, &p))
            return send_error(r, p.status, "%s", p.detail);
        r->top_k = DEFAULT_TOP_K;
        return enqueue(r);
    }
    json_error_t jerr;
    json_t *body = json_loadb(r->body ? r->body : "", r->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body)
        return send_error(r, 400, "the body is not valid JSON: %s at line %d, column %d (byte %d)", jerr.text,
                          jerr.line, jerr.column, jerr.position);
    ret = MHD_YES;
    if (!json_is_object(body)) {
        ret = send_error(r, 400, "the body must be a JSON object with \"inputs\"");
        goto done;
    }
    const char *const known[] = {"model", "inputs", "top_k", "beam_size", "max_tokens", NULL};
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val)
    {
        int ok = 0;
        for (int i = 0; known[i]; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok || (name && strcmp(key, "model") == 0)) {
            ret = send_error(
                r, 400,
                "unknown field \"%s\" (known: %sinputs, top_k; beam_size, max_tokens for translation)", key,
                name ? "" : "model, ");
            goto done;
        }
    }
    if (!name) {
        json_t *m = json_object_get(body, "model");
        if (!json_is_string(m)) {
            ret = send_error(r, 400, "\"model\" must name a model (GET /v1/models lists them)");
            goto done;
        }
        name = json_string_value(m);
    }
    json_t *inputs = json_object_get(body, "inputs"), *topk = json_object_get(body, "top_k");
    if (!json_is_array(inputs)) {
        ret = send_error(r, 400, "\"inputs\" must be an array of inputs");
        goto done;
    }
    r->top_k = DEFAULT_TOP_K;
    if (topk) {
        if (!json_is_integer(topk) || json_integer_value(topk) < 1 || json_integer_value(topk) > 1000) {
            ret = send_error(r, 400, "\"top_k\" must be an integer from 1 to 1000");
            goto done;
        }
        r->top_k = (int)json_integer_value(topk);
    }
    if (take_model(r, name, &ret) || alloc_inputs(r, json_array_size(inputs), &ret))
        goto done;
    for (size_t i = 0; i < (size_t)r->n; i++)
        if (r->codec->decode_json(r->model, json_array_get(inputs, i), i, r->x + i * r->model->in_floats,
                                  &p)) {
            ret = send_error(r, p.status, "%s", p.detail);
            goto done;
        }
    if (r->codec->options ? r->codec->options(r->model, body, r->x, r->n, &p)
                          : (json_object_get(body, "beam_size") || json_object_get(body, "max_tokens")) &&
                                problem_set(&p, 400, "beam_size and max_tokens are for translation models")) {
        ret = send_error(r, p.status, "%s", p.detail);
        goto done;
    }
    ret = enqueue(r);
done:
    json_decref(body);
    return ret;
}

/* The OIP request of a text model: one BYTES tensor of shape [N] (or [N, 1]) whose data
 * are N strings, each decoded like an element of /v1's "inputs". */
static enum MHD_Result v2_infer_text(request *r, json_t *in)
{
    enum MHD_Result ret;
    problem p = {0};
    json_t *shape = json_object_get(in, "shape"), *data = json_object_get(in, "data"),
           *dt = json_object_get(in, "datatype");
    if (!json_is_string(dt) || strcmp(json_string_value(dt), "BYTES") != 0)
        return send_error(r, 400, "model '%s' takes text: datatype must be \"BYTES\"", r->model->name);
    size_t nd = json_array_size(shape);
    json_t *d0 = json_array_get(shape, 0), *d1 = json_array_get(shape, 1);
    if (!(nd == 1 || (nd == 2 && json_is_integer(d1) && json_integer_value(d1) == 1)) ||
        !json_is_integer(d0) || json_integer_value(d0) < 1)
        return send_error(r, 400, "shape must be [N] (or [N, 1]) for N strings");
    size_t n = (size_t)json_integer_value(d0);
    if (!json_is_array(data) || json_array_size(data) != n)
        return send_error(r, 400, "data must be a flat array of %zu strings for that shape", n);
    if (alloc_inputs(r, n, &ret))
        return ret;
    for (size_t i = 0; i < n; i++)
        if (r->codec->decode_json(r->model, json_array_get(data, i), i, r->x + i * r->model->in_floats, &p))
            return send_error(r, p.status, "%s", p.detail);
    return enqueue(r);
}

/* POST /v2/models/{name}/infer: one FP32 input tensor [N, C, H, W] (or [C, H, W]), or for
 * a text model one BYTES tensor [N]. */
static enum MHD_Result v2_infer(request *r, const char *name)
{
    enum MHD_Result ret;
    if (r->s->d.inference_token && check_token(r, r->s->d.inference_token, "inference", &ret))
        return ret;
    json_error_t jerr;
    json_t *body = json_loadb(r->body ? r->body : "", r->len, 0, &jerr);
    if (!body)
        return send_error(r, 400, "the body is not valid JSON: %s at line %d, column %d", jerr.text,
                          jerr.line, jerr.column);
    ret = MHD_YES;
    json_t *inputs = json_object_get(body, "inputs");
    json_t *in = json_array_get(inputs, 0);
    if (!json_is_array(inputs) || json_array_size(inputs) != 1 || !json_is_object(in)) {
        ret = send_error(r, 400, "\"inputs\" must hold exactly one tensor {name, shape, datatype, data}");
        goto done;
    }
    if (take_model(r, name, &ret))
        goto done;
    if (r->model->bundle.text || r->model->bundle.s2s) {
        ret = v2_infer_text(r, in);
        goto done;
    }
    json_t *shape = json_object_get(in, "shape"), *data = json_object_get(in, "data"),
           *dt = json_object_get(in, "datatype");
    glia_shape3 s = r->model->bundle.net->input;
    size_t nd = json_array_size(shape);
    long dims[4] = {0};
    for (size_t i = 0; i < nd && i < 4; i++)
        dims[i] = json_is_integer(json_array_get(shape, i))
                      ? (long)json_integer_value(json_array_get(shape, i))
                      : -2;
    long n = nd == 4 ? dims[0] : 1;
    long *chw = nd == 4 ? dims + 1 : dims;
    if (!json_is_string(dt) || strcmp(json_string_value(dt), "FP32") != 0) {
        ret = send_error(r, 400, "datatype must be \"FP32\"");
        goto done;
    }
    if (!(nd == 3 || nd == 4) || chw[0] != s.c || chw[1] != s.h || chw[2] != s.w || n < 1) {
        ret = send_error(r, 400, "shape must be [N, %d, %d, %d]", s.c, s.h, s.w);
        goto done;
    }
    if (!json_is_array(data) || json_array_size(data) != (size_t)n * r->model->in_floats) {
        ret = send_error(r, 400, "data must be a flat array of %ld numbers for that shape",
                         n * (long)r->model->in_floats);
        goto done;
    }
    if (alloc_inputs(r, (size_t)n, &ret))
        goto done;
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *v = json_array_get(data, i);
        if (!json_is_number(v)) {
            ret = send_error(r, 400, "data[%zu] is not a number", i);
            goto done;
        }
        r->x[i] = (float)json_number_value(v);
    }
    ret = enqueue(r);
done:
    json_decref(body);
    return ret;
}

/* ---- training jobs ---- */

/* Answers a jobs_* result: a JSON body, or the problem it set. */
static enum MHD_Result answer_job(request *r, int status, json_t *body, const problem *p,
                                  const char *location)
{
    if (status >= 400)
        return send_error(r, status, "%s", p->detail);
    if (!location)
        return send_json(r, status, body);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return send_error(r, 500, "out of memory");
    enum MHD_Result ret =
        send_text(r, status, "application/json", text, strlen(text), MHD_HTTP_HEADER_LOCATION, location);
    free(text);
    return ret;
}

/* POST /v1/train, GET /v1/jobs[/{id}], POST /v1/jobs/{id}/cancel|resume, DELETE
 * /v1/jobs/{id}, POST /v1/models/{name}/versions/{v}/promote: all admin routes. */
static enum MHD_Result route_training(request *r)
{
    server *s = r->s;
    const char *path = r->path, *rest;
    char id[128], location[256] = "";
    int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    int post = strcmp(r->method, "POST") == 0, del = strcmp(r->method, "DELETE") == 0;
    enum MHD_Result ret;
    json_t *out = NULL;
    problem p = {0};
    int status = 0;
    if (strcmp(path, "/v1/train") == 0) {
        r->route = path;
        if (!post)
            return method_not_allowed(r, "POST");
    } else if (strcmp(path, "/v1/jobs") == 0) {
        r->route = path;
        if (!get)
            return method_not_allowed(r, "GET");
    } else if (model_path(path, "/v1/jobs/", id, sizeof id, &rest)) {
        r->route = rest[0] == '\0'                ? "/v1/jobs/{id}"
                   : strcmp(rest, "/cancel") == 0 ? "/v1/jobs/{id}/cancel"
                   : strcmp(rest, "/resume") == 0 ? "/v1/jobs/{id}/resume"
                                                  : "other";
        if (strcmp(r->route, "other") == 0)
            return send_error(r, 404, "no route %s %s (see api-spec/openapi.yaml)", r->method, path);
        if (rest[0] == '\0' ? !(get || del) : !post)
            return method_not_allowed(r, rest[0] == '\0' ? "GET, DELETE" : "POST");
    } else if (model_path(path, "/v1/models/", id, sizeof id, &rest) &&
               strncmp(rest, "/versions/", 10) == 0) {
        r->route = "/v1/models/{name}/versions/{version}/promote";
        char *end;
        long v = strtol(rest + 10, &end, 10);
        if (strcmp(end, "/promote") != 0 || end == rest + 10)
            return send_error(r, 404, "no route %s %s (see api-spec/openapi.yaml)", r->method, path);
        if (!post)
            return method_not_allowed(r, "POST");
        if (check_token(r, s->d.admin_token, "admin", &ret))
            return ret;
        if (!s->d.jobs)
            return send_error(r, 503, "training is off: gliad could not use its state_dir (see its log)");
        if (v < 1)
            return send_error(r, 400, "the version must be a positive integer");
        status = jobs_promote(s->d.jobs, id, v, &out, &p);
        return answer_job(r, status, out, &p, NULL);
    } else {
        return send_error(r, 404, "no route %s %s (see api-spec/openapi.yaml)", r->method, path);
    }
    if (check_token(r, s->d.admin_token, "admin", &ret))
        return ret;
    if (!s->d.jobs)
        return send_error(r, 503, "training is off: gliad could not use its state_dir (see its log)");
    if (strcmp(path, "/v1/train") == 0) {
        json_error_t jerr;
        json_t *body = json_loadb(r->body ? r->body : "", r->len, JSON_REJECT_DUPLICATES, &jerr);
        if (!body)
            return send_error(r, 400, "the body is not valid JSON: %s at line %d, column %d", jerr.text,
                              jerr.line, jerr.column);
        status = jobs_submit(s->d.jobs, body, &out, location, sizeof location, &p);
        json_decref(body);
        return answer_job(r, status, out, &p, status == 202 ? location : NULL);
    }
    if (strcmp(path, "/v1/jobs") == 0) {
        const char *st = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "status");
        status = jobs_list(s->d.jobs, st, &out, &p);
        return answer_job(r, status, out, &p, NULL);
    }
    if (rest[0] == '\0' && get)
        status = jobs_get(s->d.jobs, id, &out, &p);
    else if (rest[0] == '\0' || strcmp(rest, "/cancel") == 0) /* DELETE /v1/jobs/{id} cancels too */
        status = jobs_cancel(s->d.jobs, id, &out, &p);
    else
        status = jobs_resume(s->d.jobs, id, &out, &p);
    return answer_job(r, status, out, &p, NULL);
}

/* ---- routing ---- */

static enum MHD_Result route(request *r)
{
    server *s = r->s;
    const char *path = r->path, *rest;
    char name[128];
    int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    int post = strcmp(r->method, "POST") == 0;
    enum MHD_Result ret;

    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/v2/health/live") == 0) {
        r->route = path;
        r->v2 = path[1] == 'v';
        if (!get)
            return method_not_allowed(r, "GET");
        return r->v2 ? send_json(r, 200, json_pack("{s:b}", "live", 1))
                     : send_json(r, 200, json_pack("{s:s}", "status", "ok"));
    }
    if (strcmp(path, "/readyz") == 0 || strcmp(path, "/v2/health/ready") == 0) {
        r->route = path;
        r->v2 = path[1] == 'v';
        if (!get)
            return method_not_allowed(r, "GET");
        int draining = atomic_load(&s->draining), ready = !draining && registry_ready(s->d.reg);
        if (r->v2)
            return send_json(r, ready ? 200 : 503, json_pack("{s:b}", "ready", ready));
        return send_json(r, ready ? 200 : 503,
                         json_pack("{s:s}", "status",
                                   ready      ? "ready"
                                   : draining ? "draining"
                                              : "loading models"));
    }
    if (strcmp(path, "/metrics") == 0) {
        r->route = path;
        if (!get)
            return method_not_allowed(r, "GET");
        registry_entry *e;
        int n = registry_list(s->d.reg, &e);
        if (n < 0)
            return send_error(r, 500, "out of memory");
        metrics_model *mm = calloc((size_t)(n > 0 ? n : 1), sizeof *mm);
        for (int i = 0; mm && i < n; i++) {
            mm[i].name = e[i].name;
            mm[i].version = e[i].model ? e[i].model->bundle.manifest.version : 0;
            mm[i].sha256 = e[i].model ? e[i].model->bundle.sha256 : "";
            mm[i].loaded = e[i].model != NULL;
        }
        metrics_snapshot snap = {workq_depth(s->d.queue),
                                 workq_capacity(s->d.queue),
                                 workq_workers(s->d.queue),
                                 workq_busy(s->d.queue),
                                 mm,
                                 mm ? n : 0};
        char *text = metrics_render(s->d.met, &snap);
        free(mm);
        registry_list_free(e, n);
        char *train = text && s->d.jobs ? jobs_metrics(s->d.jobs) : NULL;
        if (!text || (s->d.jobs && !train)) {
            free(text);
            return send_error(r, 500, "out of memory rendering metrics");
        }
        size_t a = strlen(text), b = train ? strlen(train) : 0;
        char *all = realloc(text, a + b + 1);
        if (!all) {
            free(text);
            free(train);
            return send_error(r, 500, "out of memory rendering metrics");
        }
        memcpy(all + a, train ? train : "", b + 1);
        free(train);
        ret = send_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", all, a + b, NULL, NULL);
        free(all);
        return ret;
    }
    if (strcmp(path, "/v1/models") == 0) {
        r->route = path;
        return get ? list_models(r) : method_not_allowed(r, "GET");
    }
    if (strcmp(path, "/v1/predict") == 0) {
        r->route = path;
        return post ? predict(r, NULL) : method_not_allowed(r, "POST");
    }
    if (model_path(path, "/v1/models/", name, sizeof name, &rest)) {
        if (strcmp(rest, "") == 0) {
            r->route = "/v1/models/{name}";
            return get ? get_model(r, name) : method_not_allowed(r, "GET");
        }
        if (strcmp(rest, "/predict") == 0) {
            r->route = "/v1/models/{name}/predict";
            return post ? predict(r, name) : method_not_allowed(r, "POST");
        }
        if (strcmp(rest, "/reload") == 0) {
            r->route = "/v1/models/{name}/reload";
            if (!post)
                return method_not_allowed(r, "POST");
            if (check_token(r, s->d.admin_token, "admin", &ret))
                return ret;
            glia_err err = {0};
            if (s->d.reload(s->d.user, name, &err) != GLIA_OK)
                return send_error(r, err.code == GLIA_ENOTFOUND ? 404 : 422, "%s", err.msg);
            registry_entry *e;
            int n = registry_list(s->d.reg, &e);
            json_t *j = NULL;
            for (int i = 0; i < n && !j; i++)
                if (strcmp(e[i].name, name) == 0)
                    j = describe(&e[i]);
            registry_list_free(e, n > 0 ? n : 0);
            return send_json(r, 200, j);
        }
    }
    if (strcmp(path, "/v1/datasets") == 0) {
        r->route = path;
        if (!get)
            return method_not_allowed(r, "GET, POST");
        if (check_token(r, s->d.admin_token, "admin", &ret))
            return ret;
        if (!s->d.data)
            return send_error(r, 503, "uploads are off: gliad could not use its state_dir (see its log)");
        return send_json(r, 200, datasets_list(s->d.data));
    }
    if (strcmp(path, "/v1/train") == 0 || strncmp(path, "/v1/jobs", 8) == 0 ||
        (strncmp(path, "/v1/models/", 11) == 0 && strstr(path, "/versions/")))
        return route_training(r);
    if (strcmp(path, "/v2") == 0) {
        r->route = path;
        r->v2 = 1;
        return get ? send_json(
                         r, 200,
                         json_pack("{s:s, s:s, s:[]}", "name", "glia", "version", GLIA_VERSION, "extensions"))
                   : method_not_allowed(r, "GET");
    }
    if (model_path(path, "/v2/models/", name, sizeof name, &rest)) {
        r->v2 = 1;
        if (strcmp(rest, "") == 0 || strcmp(rest, "/ready") == 0) {
            r->route = rest[0] ? "/v2/models/{name}/ready" : "/v2/models/{name}";
            return get ? v2_model(r, name, rest[0] != '\0') : method_not_allowed(r, "GET");
        }
        if (strcmp(rest, "/infer") == 0) {
            r->route = "/v2/models/{name}/infer";
            return post ? v2_infer(r, name) : method_not_allowed(r, "POST");
        }
    }
    r->route = "other";
    r->v2 = strncmp(path, "/v2/", 4) == 0;
    return send_error(r, 404, "no route %s %s (see api-spec/openapi.yaml)", r->method, path);
}

/* The first call of POST /v1/datasets: admin token, size and format are checked before a
 * byte of the body is read; then the body streams into a temporary file. */
static enum MHD_Result begin_upload(request *r)
{
    server *s = r->s;
    enum MHD_Result ret;
    problem p = {0};
    r->route = "/v1/datasets";
    if (check_token(r, s->d.admin_token, "admin", &ret))
        return ret;
    if (!s->d.data)
        return send_error(r, 503, "uploads are off: gliad could not use its state_dir (see its log)");
    const char *cl = header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)datasets_max_bytes(s->d.data))
        return send_error(
            r, 413, "the data set has %s bytes; the limit is %ld (training.max_dataset in gliad's config)",
            cl, datasets_max_bytes(s->d.data));
    const char *format = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "format");
    if (datasets_upload_begin(s->d.data, format, header(r, MHD_HTTP_HEADER_CONTENT_TYPE), &r->upload, &p))
        return send_error(r, p.status, "%s", p.detail);
    r->uploading = 1;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    server *s = cls;
    request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        r->s = s;
        r->conn = conn;
        r->t0 = workq_now();
        r->route = "other";
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", url);
        r->v2 = strncmp(url, "/v2", 3) == 0;
        make_request_id(r);
        atomic_fetch_add(&s->active, 1);
        if (strcmp(url, "/v1/datasets") == 0 && strcmp(method, "POST") == 0)
            return begin_upload(r); /* streamed to disk under its own limit, not limits.body */
        const char *cl = header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->d.cfg->body_limit)
            return send_error(r, 413,
                              "the body has %s bytes; the limit is %ld (limits.body in gliad's config)", cl,
                              s->d.cfg->body_limit);
        return MHD_YES;
    }
    int ph = atomic_load(&r->phase);
    if (ph == PHASE_DONE || ph == PHASE_REJECTED)
        return answer_inference(r);
    if (ph == PHASE_QUEUED)
        return MHD_YES; /* spurious call while suspended */
    if (r->uploading && *upload_data_size) {
        datasets_upload_write(s->d.data, &r->upload, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->uploading) {
        json_t *out = NULL;
        problem p = {0};
        r->uploading = 0;
        int status = datasets_upload_finish(s->d.data, &r->upload, &out, &p);
        return status >= 400 ? send_error(r, status, "%s", p.detail) : send_json(r, status, out);
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->too_large || r->len + n > (size_t)s->d.cfg->body_limit) {
            r->too_large = 1;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n + 1)
                cap *= 2;
            char *b = realloc(r->body, cap);
            if (!b)
                return MHD_NO;
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    if (r->too_large)
        return send_error(r, 413, "the body is over the limit of %ld bytes (limits.body in gliad's config)",
                          s->d.cfg->body_limit);
    return route(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    server *s = cls;
    request *r = *con_cls;
    if (!r)
        return;
    double seconds = workq_now() - r->t0;
    int status = r->status ? r->status : 499; /* 499: the client went away before an answer */
    metrics_http(s->d.met, r->route, r->method, status, seconds);
    log_info("%s %s %d %.1fms id=%s", r->method, r->path, status, seconds * 1e3, r->request_id);
    if (r->uploading) /* the client went away mid-upload */
        datasets_upload_abort(&r->upload);
    registry_model_unref(r->model);
    free(r->x);
    free(r->y);
    free(r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->active, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_warn("http: %s", line);
}

glia_status server_start(const server_deps *deps, server **out, glia_err *err)
{
    *out = NULL;
    server *s = calloc(1, sizeof *s);
    if (!s)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory starting the HTTP server");
    s->d = *deps;
    const config *c = deps->cfg;
    struct sockaddr_in v4 = {0};
    struct sockaddr_in6 v6 = {0};
    struct sockaddr *addr;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, c->listen, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons((uint16_t)c->port);
        addr = (struct sockaddr *)&v4;
    } else if (inet_pton(AF_INET6, c->listen, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons((uint16_t)c->port);
        addr = (struct sockaddr *)&v6;
        flags |= MHD_USE_IPv6;
    } else {
        free(s);
        return glia_err_set(err, GLIA_EINVAL, "listen address '%s' is not an IPv4 or IPv6 literal",
                            c->listen);
    }
    int threads = deps->http_threads > 0 ? deps->http_threads : 1;
    /* the logger must come first, or MHD prints its own messages until it sees it */
    s->mhd = MHD_start_daemon(flags, (uint16_t)c->port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                              mhd_log, s, MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_THREAD_POOL_SIZE,
                              (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned)1024, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
    if (!s->mhd) {
        free(s);
        return glia_err_set(err, GLIA_EIO, "cannot listen on %s port %d (in use, or not allowed)", c->listen,
                            c->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : c->port;
    *out = s;
    return GLIA_OK;
}

int server_port(const server *s)
{
    return s->port;
}

void server_set_draining(server *s)
{
    atomic_store(&s->draining, 1);
}

void server_quiesce(server *s)
{
    MHD_socket fd = MHD_quiesce_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

int server_active(const server *s)
{
    return atomic_load(&((server *)s)->active);
}

void server_stop(server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->mhd);
    free(s);
}
