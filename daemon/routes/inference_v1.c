/*
 * inference_v1.c - POST /v1/predict and POST /v1/models/{name}/predict: inputs as JSON
 * ({"model", "inputs", "top_k", and a task's own options}) or, on the model's own route,
 * one raw body (an image, a text/plain sentence); one output object per input, in order.
 */
#include <string.h>

#include "daemon/routes/routes.h"

enum { DEFAULT_TOP_K = 5 };

/* The outputs as {"model", "version", "outputs": [one codec answer per input]}. */
static http_ret answer_v1(infer *in)
{
    const glia_model *net = in->model->bundle.model;
    const int sequence = net->ops->output == GLIA_OUTPUT_SEQUENCE;
    const workq_output *out = &in->item.out;
    http_ret ret;
    if (infer_outputs_finite(in, &ret))
        return ret;
    json_t *outs = json_array();
    for (int i = 0; i < in->n; i++) {
        json_t *o =
            in->codec->encode(in->model, sequence ? NULL : out->logits + (size_t)i * (size_t)net->outputs,
                              sequence ? &out->seqs[i] : NULL, in->top_k);
        if (!o) {
            json_decref(outs);
            return http_fail(in->r, 500, "cannot encode the outputs");
        }
        json_array_append_new(outs, o);
    }
    return http_reply_json(in->r, 200,
                           json_pack("{s:s, s:I, s:o}", "model", in->model->name, "version",
                                     (json_int_t)in->model->bundle.manifest.version, "outputs", outs));
}

/* A raw body (an image, a sentence) is one input of the model named by the route. */
static http_ret predict_raw(http_request *r, const char *name, const char *type)
{
    http_ret ret;
    problem p = {0};
    infer *in = infer_take_model(r, name, &ret);
    if (!in || infer_alloc_inputs(in, 1, &ret))
        return ret;
    if (in->codec->decode_raw(in->model, type, r->body, r->len, &in->item.in, &p))
        return http_fail(r, p.status, "%s", p.detail);
    in->top_k = DEFAULT_TOP_K;
    return infer_enqueue(in, answer_v1);
}

/* 0 if every field of body is known (and "model" only where the route names none). */
static int check_fields(http_request *r, json_t *body, const char *name, http_ret *ret)
{
    const char *const known[] = {"model",      "inputs",         "top_k",           "beam_size",
                                 "max_tokens", "length_penalty", "no_repeat_ngram", NULL};
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val)
    {
        int ok = 0;
        for (int i = 0; known[i]; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok || (name && strcmp(key, "model") == 0)) {
            *ret = http_fail(r, 400,
                             "unknown field \"%s\" (known: %sinputs, top_k; " CODEC_DECODE_FIELDS_TEXT
                             " for translation)",
                             key, name ? "" : "model, ");
            return -1;
        }
    }
    return 0;
}

/* Decodes every input, then the task's options (a model without options refuses theirs). */
static int decode_inputs(infer *in, const json_t *body, const json_t *inputs, http_ret *ret)
{
    problem p = {0};
    for (size_t i = 0; i < (size_t)in->n; i++)
        if (in->codec->decode_json(in->model, json_array_get(inputs, i), i, &in->item.in, &p)) {
            *ret = http_fail(in->r, p.status, "%s", p.detail);
            return -1;
        }
    if (in->codec->options
            ? in->codec->options(in->model, body, &in->item.in.decode, &p)
            : codec_decode_field_in(body) &&
                  problem_set(&p, 400, "%s is for translation models", codec_decode_field_in(body))) {
        *ret = http_fail(in->r, p.status, "%s", p.detail);
        return -1;
    }
    return 0;
}

/* A JSON body: name is the route's model, or NULL to take "model" from the body. */
static http_ret predict_json(http_request *r, const char *name, json_t *body)
{
    http_ret ret;
    if (!json_is_object(body))
        return http_fail(r, 400, "the body must be a JSON object with \"inputs\"");
    if (check_fields(r, body, name, &ret))
        return ret;
    if (!name) {
        json_t *m = json_object_get(body, "model");
        if (!json_is_string(m))
            return http_fail(r, 400, "\"model\" must name a model (GET /v1/models lists them)");
        name = json_string_value(m);
    }
    json_t *inputs = json_object_get(body, "inputs"), *topk = json_object_get(body, "top_k");
    if (!json_is_array(inputs))
        return http_fail(r, 400, "\"inputs\" must be an array of inputs");
    int top_k = DEFAULT_TOP_K;
    if (topk) {
        if (!json_is_integer(topk) || json_integer_value(topk) < 1 || json_integer_value(topk) > 1000)
            return http_fail(r, 400, "\"top_k\" must be an integer from 1 to 1000");
        top_k = (int)json_integer_value(topk);
    }
    infer *in = infer_take_model(r, name, &ret);
    if (!in)
        return ret;
    in->top_k = top_k;
    if (infer_alloc_inputs(in, json_array_size(inputs), &ret) || decode_inputs(in, body, inputs, &ret))
        return ret;
    return infer_enqueue(in, answer_v1);
}

static http_ret predict(http_request *r, const char *name)
{
    const char *type = http_header(r, "Content-Type");
    if (type && strncmp(type, "application/json", 16) != 0) {
        if (!name)
            return http_fail(r, 415,
                             "POST /v1/predict takes application/json; raw bodies (images, text/plain) go "
                             "to /v1/models/{name}/predict");
        return predict_raw(r, name, type);
    }
    http_ret ret;
    json_t *body = http_body_json(r, JSON_REJECT_DUPLICATES, &ret);
    if (!body)
        return ret;
    ret = predict_json(r, name, body);
    json_decref(body);
    return ret;
}

http_ret route_predict(http_request *r, const route_params *p)
{
    return predict(r, NULL);
}

http_ret route_model_predict(http_request *r, const route_params *p)
{
    return predict(r, p->name);
}
