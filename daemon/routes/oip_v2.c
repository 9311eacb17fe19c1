/*
 * oip_v2.c - the KServe Open Inference Protocol v2: GET /v2 (the server),
 * GET /v2/models/{name}[/ready] (metadata, readiness), POST /v2/models/{name}/infer.
 * An image model takes one FP32 tensor [N, C, H, W] (or [C, H, W]) and answers
 * "probabilities" [N, classes]; a text model takes one BYTES tensor [N] of strings; a
 * translation model answers "translation" BYTES [N] and "tokens" INT32 [N]. Errors are
 * {"error": "..."}, as the protocol says (the route table marks these routes so).
 */
#include <stdio.h>
#include <string.h>

#include "core/nn/kernels.h"
#include "daemon/routes/routes.h"

http_ret route_oip_server(http_request *r, const route_params *p)
{
    return http_reply_json(
        r, 200, json_pack("{s:s, s:s, s:[]}", "name", "glia", "version", GLIA_VERSION, "extensions"));
}

http_ret route_oip_model(http_request *r, const route_params *p)
{
    registry_model *m = registry_get(route_server(r)->d.reg, p->name);
    if (!m)
        return http_fail(r, 404, "model '%s' is not loaded", p->name);
    char version[32];
    snprintf(version, sizeof version, "%ld", m->bundle.manifest.version);
    json_t *j = json_pack("{s:s, s:[s], s:s, s:[o], s:[o]}", "name", p->name, "versions", version, "platform",
                          "glia", "inputs", describe_input(m, 1), "outputs", describe_output(m, 1));
    registry_model_unref(m);
    return http_reply_json(r, 200, j);
}

http_ret route_oip_model_ready(http_request *r, const route_params *p)
{
    registry_model *m = registry_get(route_server(r)->d.reg, p->name);
    if (!m)
        return http_fail(r, 404, "model '%s' is not loaded", p->name);
    registry_model_unref(m);
    return http_reply_json(r, 200, json_pack("{s:s, s:b}", "name", p->name, "ready", 1));
}

/* The codec writes the "outputs" (a classifier's probabilities [N, k], a translation model's
 * texts and lengths); the answer around them is the protocol's. */
static http_ret answer_oip(infer *in)
{
    http_ret ret;
    if (infer_outputs_finite(in, &ret))
        return ret;
    json_t *outputs = in->codec->v2_outputs(in->model, &in->item.out, in->n);
    if (!outputs)
        return http_fail(in->r, 500, "cannot encode the outputs");
    char version[32];
    snprintf(version, sizeof version, "%ld", in->model->bundle.manifest.version);
    return http_reply_json(in->r, 200,
                           json_pack("{s:s, s:s, s:s, s:o}", "model_name", in->model->name, "model_version",
                                     version, "id", in->r->id, "outputs", outputs));
}

/* A text model's tensor: BYTES of shape [N] (or [N, 1]) whose data are N strings, each
 * decoded like an element of /v1's "inputs". */
static http_ret infer_text(infer *in, json_t *tensor)
{
    http_ret ret;
    problem p = {0};
    json_t *shape = json_object_get(tensor, "shape"), *data = json_object_get(tensor, "data"),
           *dt = json_object_get(tensor, "datatype");
    if (!json_is_string(dt) || strcmp(json_string_value(dt), "BYTES") != 0)
        return http_fail(in->r, 400, "model '%s' takes text: datatype must be \"BYTES\"", in->model->name);
    size_t nd = json_array_size(shape);
    json_t *d0 = json_array_get(shape, 0), *d1 = json_array_get(shape, 1);
    if (!(nd == 1 || (nd == 2 && json_is_integer(d1) && json_integer_value(d1) == 1)) ||
        !json_is_integer(d0) || json_integer_value(d0) < 1)
        return http_fail(in->r, 400, "shape must be [N] (or [N, 1]) for N strings");
    size_t n = (size_t)json_integer_value(d0);
    if (!json_is_array(data) || json_array_size(data) != n)
        return http_fail(in->r, 400, "data must be a flat array of %zu strings for that shape", n);
    if (infer_alloc_inputs(in, n, &ret))
        return ret;
    for (size_t i = 0; i < n; i++)
        if (in->codec->decode_json(in->model, json_array_get(data, i), i, &in->item.in, &p))
            return http_fail(in->r, p.status, "%s", p.detail);
    return infer_enqueue(in, answer_oip);
}

/* An image model's tensor: FP32 [N, C, H, W] (or [C, H, W]) of preprocessed pixels. */
static http_ret infer_image(infer *in, json_t *tensor)
{
    http_ret ret;
    json_t *shape = json_object_get(tensor, "shape"), *data = json_object_get(tensor, "data"),
           *dt = json_object_get(tensor, "datatype");
    glia_shape3 s = in->model->bundle.manifest.input;
    const size_t size = in->model->bundle.model->input_size;
    size_t nd = json_array_size(shape);
    long dims[4] = {0};
    for (size_t i = 0; i < nd && i < 4; i++)
        dims[i] = json_is_integer(json_array_get(shape, i))
                      ? (long)json_integer_value(json_array_get(shape, i))
                      : -2;
    long n = nd == 4 ? dims[0] : 1;
    long *chw = nd == 4 ? dims + 1 : dims;
    if (!json_is_string(dt) || strcmp(json_string_value(dt), "FP32") != 0)
        return http_fail(in->r, 400, "datatype must be \"FP32\"");
    if (!(nd == 3 || nd == 4) || chw[0] != s.c || chw[1] != s.h || chw[2] != s.w || n < 1)
        return http_fail(in->r, 400, "shape must be [N, %d, %d, %d]", s.c, s.h, s.w);
    /* N is bounded first: the count N x C x H x W of an unbounded N overflows */
    if (infer_alloc_inputs(in, (size_t)n, &ret))
        return ret;
    if (!json_is_array(data) || json_array_size(data) != (size_t)n * size)
        return http_fail(in->r, 400, "data must be a flat array of %ld numbers for that shape",
                         n * (long)size);
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *v = json_array_get(data, i);
        if (!json_is_number(v))
            return http_fail(in->r, 400, "data[%zu] is not a number", i);
        if (codec_float32(json_number_value(v), &in->item.in.x[i]))
            return http_fail(in->r, 400,
                             "data[%zu] (input %zu, element %zu) is %g, not a finite FP32 value "
                             "(" CODEC_FLOAT32_RANGE ")",
                             i, i / size, i % size, json_number_value(v));
    }
    return infer_enqueue(in, answer_oip);
}

/* One input tensor {name, shape, datatype, data}, in the model's family's form. */
static http_ret infer_body(http_request *r, const char *name, json_t *body)
{
    http_ret ret;
    json_t *inputs = json_object_get(body, "inputs");
    json_t *tensor = json_array_get(inputs, 0);
    if (!json_is_array(inputs) || json_array_size(inputs) != 1 || !json_is_object(tensor))
        return http_fail(r, 400, "\"inputs\" must hold exactly one tensor {name, shape, datatype, data}");
    infer *in = infer_take_model(r, name, &ret);
    if (!in)
        return ret;
    if (in->model->bundle.model->ops->input == GLIA_INPUT_TOKENS)
        return infer_text(in, tensor);
    return infer_image(in, tensor);
}

http_ret route_oip_infer(http_request *r, const route_params *p)
{
    http_ret ret;
    json_t *body = http_body_json(r, 0, &ret);
    if (!body)
        return ret;
    ret = infer_body(r, p->name, body);
    json_decref(body);
    return ret;
}
