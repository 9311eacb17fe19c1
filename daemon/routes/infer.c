/*
 * infer.c - see routes.h. A request's inference: the model version it holds, its decoded
 * inputs, its trip through the queue, and the answers when the trip fails. The routes
 * decode and encode; this is the part they share.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/routes/routes.h"

enum { MAX_INPUTS = 1024 };

/* The request's outcome, in the route's metrics. */
static void count(infer *in, const char *outcome)
{
    if (in->count)
        in->count(in, outcome);
    else
        metrics_inference(route_server(in->r)->d.met, in->model->name, in->model->bundle.manifest.version,
                          outcome);
}

static void infer_free(http_request *r)
{
    infer *in = r->state;
    /* a 413 for a model is a size or cost limit (limits.*, a text's bytes): counted, so that
     * an operator sees clients hit one before they complain */
    if (r->status == 413 && in->model)
        count(in, "limited");
    workq_item_release(&in->item);
    registry_model_unref(in->model);
    if (in->route_state_free)
        in->route_state_free(in->route_state);
    free(in);
}

/* 1 if name is in gliad's config (loaded or not). */
static int configured(registry *reg, const char *name)
{
    registry_entry *e;
    int n = registry_list(reg, &e), found = 0;
    for (int i = 0; i < n; i++)
        found |= strcmp(e[i].name, name) == 0;
    registry_list_free(e, n > 0 ? n : 0);
    return found;
}

/* The request's inference state holding version `version` of name, or (version < 0) the
 * version the model's labels choose: stable, or the canary for its share. */
static infer *take(http_request *r, const char *name, long version, http_ret *ret)
{
    server *s = route_server(r);
    infer *in = calloc(1, sizeof *in);
    if (!in) {
        *ret = http_fail(r, 503, "out of memory");
        return NULL;
    }
    in->r = r;
    r->state = in;
    r->state_free = infer_free;
    in->model = version < 0 ? registry_pick(s->d.reg, name) : registry_get_version(s->d.reg, name, version);
    if (!in->model) {
        if (!configured(s->d.reg, name))
            *ret = http_fail(r, 404, "no model named '%s' (GET /v1/models lists them)", name);
        else if (version >= 0)
            *ret = http_fail(r, 404, "model '%s' has no version %ld loaded", name, version);
        else
            *ret = http_fail_with(r, 503, "Retry-After", "5",
                                  "the model is configured but not loaded (see GET /v1/models)");
        return NULL;
    }
    /* the access line and every answer (X-Model-Version) say which version ran */
    http_note_model(r, in->model->name, in->model->bundle.manifest.version);
    in->codec = codec_for(in->model);
    if (!in->codec) {
        *ret = http_fail(r, 500, "model '%s' version %ld has task '%s', which this gliad cannot serve", name,
                         in->model->bundle.manifest.version, in->model->bundle.manifest.task);
        return NULL;
    }
    return in;
}

infer *infer_take_model(http_request *r, const char *name, http_ret *ret)
{
    return take(r, name, -1, ret);
}

infer *infer_take_version(http_request *r, const char *name, long version, http_ret *ret)
{
    return take(r, name, version, ret);
}

int infer_alloc_inputs(infer *in, size_t n, http_ret *ret)
{
    if (n == 0 || n > MAX_INPUTS) {
        *ret = http_fail(in->r, 400, "send between 1 and %d inputs (got %zu)", MAX_INPUTS, n);
        return -1;
    }
    glia_err err = {0};
    in->n = (int)n;
    in->item.model = in->model;
    if (workq_item_inputs(&in->item, in->n, &err)) {
        *ret = http_fail(in->r, 503, "%s", err.msg);
        return -1;
    }
    in->item.in.max_pixels = route_server(in->r)->d.cfg->max_pixels;
    in->item.in.max_request_pixels = route_server(in->r)->d.cfg->max_request_pixels;
    return 0;
}

/* The work a request asks for, against its limit in gliad.yaml (limits.*): 0, or -1 with a
 * 413 naming the key and both numbers. Decided from the decoded inputs and the request's
 * decode settings, before any output is allocated or anything is queued, on every route. */
static int within_limits(infer *in, http_ret *ret)
{
    const config *cfg = route_server(in->r)->d.cfg;
    const glia_model *net = in->model->bundle.model;
    const workq_input *x = &in->item.in;
    char what[160];
    const char *key, *fix, *unit;
    long cost = 0, limit;
    if (net->ops->output == GLIA_OUTPUT_SEQUENCE) {
        cost = (long)x->n * x->decode.beam_size * x->decode.max_tokens;
        limit = cfg->max_translation_tokens;
        key = "max_translation_tokens";
        unit = "decoder tokens";
        fix = "send fewer sentences per request, or a smaller beam_size or max_tokens";
        snprintf(what, sizeof what, "asks for up to %d sentences x beam_size %d x max_tokens %d =", x->n,
                 x->decode.beam_size, x->decode.max_tokens);
    } else if (net->ops->input == GLIA_INPUT_TOKENS) {
        for (int i = 0; i < x->n; i++)
            cost += x->lengths[i];
        limit = cfg->max_request_tokens;
        key = "max_request_tokens";
        unit = "tokens";
        fix = "send fewer texts per request";
        snprintf(what, sizeof what, "'s %d texts hold", x->n);
    } else {
        /* images: what their headers declared, or the network's input size for tensors */
        cost = x->pixels > 0 ? x->pixels : (long)x->n * (long)net->input_size;
        limit = cfg->max_request_pixels;
        key = "max_request_pixels";
        unit = "pixels";
        fix = "send fewer or smaller images per request";
        snprintf(what, sizeof what, "'s %d images hold", x->n);
    }
    if (cost <= limit)
        return 0;
    *ret = http_fail(in->r, 413, "the request%s%s %ld %s; limits.%s is %ld: %s", what[0] == '\'' ? "" : " ",
                     what, cost, unit, key, limit, fix);
    return -1;
}

static const char *outcome_of(workq_status st)
{
    return st == WORKQ_OK         ? "ok"
           : st == WORKQ_TIMEOUT  ? "timeout"
           : st == WORKQ_SHUTDOWN ? "rejected"
                                  : "error";
}

/* Resumed: counts the outcome, answers a failed trip, else lets the route answer. */
static http_ret answer(http_request *r)
{
    infer *in = r->state;
    server *s = route_server(r);
    const char *model = in->model->name;
    const long version = in->model->bundle.manifest.version;
    if (in->rejected) {
        count(in, "rejected");
        return http_fail_with(r, 503, "Retry-After", "1",
                              atomic_load(&s->draining) ? "gliad is shutting down"
                                                        : "the inference queue is full; retry");
    }
    workq_item *it = &in->item;
    if (it->status == WORKQ_INVALID) /* the client's input, as when a codec refuses it: not counted */
        return http_fail(r, 422, "%s", it->error);
    count(in, outcome_of(it->status));
    if (it->status == WORKQ_OK || it->status == WORKQ_TIMEOUT)
        metrics_queue_wait(s->d.met, model, version,
                           (it->status == WORKQ_OK ? it->started : it->finished) - it->enqueued);
    switch (it->status) {
    case WORKQ_OK: return in->answer(in);
    case WORKQ_TIMEOUT:
        return http_fail(r, 504, "the request waited %.0f ms in the queue, past its deadline; it was not run",
                         (it->finished - it->enqueued) * 1e3);
    case WORKQ_SHUTDOWN:
        return http_fail_with(r, 503, "Retry-After", "1", "gliad stopped before this request ran");
    default: return http_fail(r, 500, "the model failed to run (gliad's log says why)");
    }
}

static void item_done(workq_item *it)
{
    infer *in = it->user;
    http_resume(in->r);
}

http_ret infer_enqueue(infer *in, http_ret (*answer_outputs)(infer *in))
{
    server *s = route_server(in->r);
    http_ret ret;
    double deadline;
    if (within_limits(in, &ret) || http_deadline(in->r, s->d.cfg->request_timeout_ms, &deadline, &ret))
        return ret;
    glia_err err = {0};
    workq_item *it = &in->item;
    if (workq_item_outputs(it, &err))
        return http_fail(in->r, 503, "%s", err.msg);
    in->answer = answer_outputs;
    it->deadline = deadline;
    it->done = item_done;
    it->user = in;
    /* suspend first: the worker may finish before this function returns */
    http_suspend(in->r, answer);
    if (workq_submit(s->d.queue, it) != 0) {
        in->rejected = 1;
        http_resume(in->r);
    }
    return HTTP_KEEP;
}

int infer_outputs_finite(infer *in, http_ret *ret)
{
    const glia_model *net = in->model->bundle.model;
    /* a sequence model answers token ids, which are always valid; only logits can overflow */
    if (net->ops->output != GLIA_OUTPUT_CLASSES)
        return 0;
    const size_t k = (size_t)net->outputs;
    for (int i = 0; i < in->n; i++) {
        const float *row = in->item.out.logits + (size_t)i * k;
        size_t j = 0;
        while (j < k && isfinite(row[j]))
            j++;
        if (j == k)
            continue;
        if (net->ops->input == GLIA_INPUT_TENSOR) {
            float lo, hi;
            glia_bundle_input_range(&in->model->bundle.manifest, &lo, &hi);
            *ret = http_fail(in->r, 422,
                             "the model's outputs are not finite for input %d (its values overflow the "
                             "network); inputs are expected within [%g, %g] (pixels 0..255 after the "
                             "model's preprocessing)",
                             i, (double)lo, (double)hi);
        } else {
            *ret = http_fail(in->r, 422, "the model's outputs are not finite for input %d", i);
        }
        return -1;
    }
    return 0;
}
