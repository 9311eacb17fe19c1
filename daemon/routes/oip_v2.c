/*
 * oip_v2.c - the Open Inference Protocol v2 (KServe's inference_rest.md) with Triton's
 * binary tensor data and classification extensions: GET /v2 (the server), GET
 * /v2/models/{name}[/versions/{version}][/ready] (metadata, readiness), POST
 * /v2/models/{name}[/versions/{version}]/infer.
 *
 * A request holds one input tensor, chosen by its datatype:
 *   image models  FP32 [N, C, H, W] (or [C, H, W]) preprocessed, or UINT8 raw pixels 0..255
 *                 that get the manifest's preprocessing (as a decoded image would);
 *   text models   BYTES [N] (or [N, 1]) of strings, or INT32/INT64 [N, T] token ids ("input_ids",
 *                 0 = padding), checked against the vocabulary.
 * Its "data" is flat or nested (oip.h), or binary after a JSON header of
 * Inference-Header-Content-Length bytes. Answers: a classifier's "probabilities" FP32 [N,
 * classes] (or, with "classification": K, BYTES [N, K] "score:index:label" as Triton writes
 * them), a translation model's "translation" BYTES [N] and "tokens" INT32 [N]; "outputs"
 * selects and orders them, binary_data(_output) sends them binary. Errors are {"error": ...}
 * (the route table marks these routes so).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/oip.h"
#include "core/base/jsonnum.h"
#include "daemon/routes/routes.h"

/* ---- server and model metadata ---- */

http_ret route_oip_server(http_request *r, const route_params *p)
{
    (void)p;
    /* the extensions gliad implements (model_repository: the Triton repository routes) */
    return http_reply_json(r, 200,
                           json_pack("{s:s, s:s, s:[s, s, s]}", "name", "glia", "version", GLIA_VERSION,
                                     "extensions", "binary_tensor_data", "classification",
                                     "model_repository"));
}

/* The answers' tensor names, by what the model outputs. */
static const char *const class_outputs[] = {"probabilities", NULL};
static const char *const sequence_outputs[] = {"translation", "tokens", NULL};

static const char *const *output_names(const registry_model *m)
{
    return m->bundle.model->ops->output == GLIA_OUTPUT_SEQUENCE ? sequence_outputs : class_outputs;
}

/* The model's version number as the protocol writes it (a string). */
static void version_text(const registry_model *m, char *buf, size_t cap)
{
    snprintf(buf, cap, "%ld", m->bundle.manifest.version);
}

/* {name, versions, platform, inputs, outputs, parameters} of m, served as name. */
static json_t *model_metadata(registry *reg, const registry_model *m, const char *name)
{
    long loaded[64];
    char v[32];
    int nv = registry_loaded_versions(reg, name, loaded, 64);
    json_t *versions = json_array(), *inputs = json_array(), *outputs = json_array();
    for (int i = 0; i < nv && i < 64; i++) {
        snprintf(v, sizeof v, "%ld", loaded[i]);
        json_array_append_new(versions, json_string(v));
    }
    json_array_append_new(inputs, describe_input(m, 1));
    json_array_append_new(outputs, describe_output(m, 1));
    if (m->bundle.model->ops->input == GLIA_INPUT_TOKENS)
        /* the other form of the same input: the tokenizer's ids, rows padded with 0 */
        json_array_append_new(inputs,
                              json_pack("{s:s, s:s, s:[i, i], s:i}", "name", "input_ids", "datatype", "INT64",
                                        "shape", -1, -1, "max_tokens", m->bundle.manifest.max_tokens));
    if (m->bundle.model->ops->output == GLIA_OUTPUT_SEQUENCE)
        json_array_append_new(
            outputs, json_pack("{s:s, s:s, s:[i]}", "name", "tokens", "datatype", "INT32", "shape", -1));
    /* the precision in effect and the one asked, as /v1/models says them: OIP's metadata has no
     * field of its own for them, and "parameters" ($parameters: string values) is where its
     * implementations (MLServer's MetadataModelResponse) put what the protocol does not name */
    return json_pack("{s:s, s:o, s:s, s:o, s:o, s:{s:s, s:s}}", "name", name, "versions", versions,
                     "platform", "glia", "inputs", inputs, "outputs", outputs, "parameters", "precision",
                     glia_precision_name(m->bundle.model->precision), "precision_requested",
                     glia_precision_name(m->precision_requested));
}

/* The version of name a metadata route names (version < 0: the serving one), or NULL with
 * a 404 queued in *ret. */
static registry_model *model_or_fail(http_request *r, const char *name, long version, http_ret *ret)
{
    registry *reg = route_server(r)->d.reg;
    registry_model *m = version < 0 ? registry_get(reg, name) : registry_get_version(reg, name, version);
    if (!m)
        *ret = version < 0 ? http_fail(r, 404, "model '%s' is not loaded", name)
                           : http_fail(r, 404, "model '%s' has no version %ld loaded", name, version);
    return m;
}

static http_ret metadata(http_request *r, const char *name, long version)
{
    http_ret ret;
    registry_model *m = model_or_fail(r, name, version, &ret);
    if (!m)
        return ret;
    json_t *j = model_metadata(route_server(r)->d.reg, m, name);
    registry_model_unref(m);
    return http_reply_json(r, 200, j);
}

static http_ret ready(http_request *r, const char *name, long version)
{
    http_ret ret;
    registry_model *m = model_or_fail(r, name, version, &ret);
    if (!m)
        return ret;
    registry_model_unref(m);
    return http_reply_json(r, 200, json_pack("{s:s, s:b}", "name", name, "ready", 1));
}

http_ret route_oip_model(http_request *r, const route_params *p)
{
    return metadata(r, p->name, -1);
}

/* 1 with a 404 queued when a route's {version} cannot name a version (they count from 1;
 * a negative one must not fall through to "the serving version"). */
static int no_such_version(http_request *r, const route_params *p, http_ret *ret)
{
    if (p->version >= 1)
        return 0;
    *ret =
        http_fail(r, 404, "model '%s' has no version %ld: versions are numbered from 1", p->name, p->version);
    return 1;
}

http_ret route_oip_version(http_request *r, const route_params *p)
{
    http_ret ret;
    return no_such_version(r, p, &ret) ? ret : metadata(r, p->name, p->version);
}

http_ret route_oip_model_ready(http_request *r, const route_params *p)
{
    return ready(r, p->name, -1);
}

http_ret route_oip_version_ready(http_request *r, const route_params *p)
{
    http_ret ret;
    return no_such_version(r, p, &ret) ? ret : ready(r, p->name, p->version);
}

/* ---- a request's settings ---- */

enum { MAX_OUTPUTS = 4, MAX_CLASSIFICATION = 1000 };

/* What the answer is to hold, from the request's "id", "parameters" and "outputs". */
typedef struct {
    json_t *id;   /* the request's "id" (counted), or NULL */
    int top_k;    /* parameters.top_k: classification K for a classifier's outputs; 0: none */
    int binary;   /* parameters.binary_data_output */
    int noutputs; /* outputs asked for, in their order; 0: every output of the model */
    struct {
        const char *name;   /* one of output_names(model) */
        int classification; /* K, or 0: the request's top_k */
        int binary;         /* 1, 0, or -1: as the request */
    } outputs[MAX_OUTPUTS];
} oip_settings;

static void settings_free(void *state)
{
    oip_settings *s = state;
    json_decref(s->id);
    free(s);
}

/* 1 if key is in the NULL-ended list. */
static int listed(const char *key, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(key, list[i]) == 0)
            return 1;
    return 0;
}

/* Request-level "parameters": top_k and binary_data_output here; the decoding ones are
 * the codec's (its options read them from the same object). */
static int read_parameters(const infer *in, const json_t *params, oip_settings *s, problem *p)
{
    static const char *const known[] = {
        "beam_size", "max_tokens", "length_penalty", "no_repeat_ngram", "top_k", "binary_data_output", NULL};
    const int sequence = in->model->bundle.model->ops->output == GLIA_OUTPUT_SEQUENCE;
    const char *key;
    json_t *v;
    if (params && !json_is_object(params))
        return problem_set(p, 400, "\"parameters\" must be an object");
    json_object_foreach((json_t *)params, key, v)
    {
        if (!listed(key, known))
            return problem_set(p, 400,
                               "unknown parameter \"%s\" (known: " CODEC_DECODE_FIELDS_TEXT
                               " for translation; top_k for "
                               "classifiers; binary_data_output)",
                               key);
    }
    const json_t *top_k = json_object_get(params, "top_k"),
                 *bin = json_object_get(params, "binary_data_output");
    if (top_k && sequence)
        return problem_set(p, 400, "parameter \"top_k\" is for classifiers; model '%s' translates",
                           in->model->name);
    if (top_k && (!json_is_integer(top_k) || json_integer_value(top_k) < 1 ||
                  json_integer_value(top_k) > MAX_CLASSIFICATION))
        return problem_set(p, 400, "parameter \"top_k\" must be an integer from 1 to %d", MAX_CLASSIFICATION);
    if (bin && !json_is_boolean(bin))
        return problem_set(p, 400, "parameter \"binary_data_output\" must be true or false");
    if (!in->codec->options && codec_decode_field_in(params))
        return problem_set(p, 400, "parameter %s is for translation models", codec_decode_field_in(params));
    s->top_k = top_k ? (int)json_integer_value(top_k) : 0;
    s->binary = json_is_true(bin);
    return 0;
}

/* One element of "outputs": {name, parameters: {binary_data, classification}}. */
static int read_output(const infer *in, const json_t *o, size_t i, oip_settings *s, problem *p)
{
    const json_t *name = json_object_get(o, "name"), *params = json_object_get(o, "parameters");
    const char *const *names = output_names(in->model);
    const char *key;
    json_t *v;
    if (!json_is_object(o) || !json_is_string(name))
        return problem_set(p, 400, "outputs[%zu] must be {\"name\": string, \"parameters\": {...}}", i);
    json_object_foreach((json_t *)o, key, v)
    {
        if (strcmp(key, "name") && strcmp(key, "parameters"))
            return problem_set(p, 400, "outputs[%zu] has an unknown field \"%s\" (known: name, parameters)",
                               i, key);
    }
    int k = 0;
    while (names[k] && strcmp(names[k], json_string_value(name)))
        k++;
    if (!names[k])
        return problem_set(p, 400, "outputs[%zu]: model '%s' has no output \"%s\" (it has %s%s%s)", i,
                           in->model->name, json_string_value(name), names[0], names[1] ? ", " : "",
                           names[1] ? names[1] : "");
    for (int j = 0; j < s->noutputs; j++)
        if (s->outputs[j].name == names[k])
            return problem_set(p, 400, "outputs[%zu]: \"%s\" is asked for twice", i, names[k]);
    if (params && !json_is_object(params))
        return problem_set(p, 400, "outputs[%zu].parameters must be an object", i);
    json_object_foreach((json_t *)params, key, v)
    {
        if (strcmp(key, "binary_data") && strcmp(key, "classification"))
            return problem_set(p, 400,
                               "outputs[%zu].parameters has an unknown parameter \"%s\" (known: binary_data, "
                               "classification)",
                               i, key);
    }
    const json_t *bin = json_object_get(params, "binary_data"),
                 *cls = json_object_get(params, "classification");
    if (bin && !json_is_boolean(bin))
        return problem_set(p, 400, "outputs[%zu].parameters.binary_data must be true or false", i);
    if (cls && strcmp(names[k], "probabilities") != 0)
        return problem_set(p, 400, "outputs[%zu]: classification is for a classifier's \"probabilities\"", i);
    if (cls && (!json_is_integer(cls) || json_integer_value(cls) < 1 ||
                json_integer_value(cls) > MAX_CLASSIFICATION))
        return problem_set(p, 400, "outputs[%zu].parameters.classification must be an integer from 1 to %d",
                           i, MAX_CLASSIFICATION);
    s->outputs[s->noutputs].name = names[k];
    s->outputs[s->noutputs].classification = cls ? (int)json_integer_value(cls) : 0;
    s->outputs[s->noutputs].binary = bin ? json_is_true(bin) : -1;
    s->noutputs++;
    return 0;
}

/* The request's settings, kept with the request for its answer (in->route_state). */
static int read_settings(infer *in, const json_t *body, problem *p)
{
    const json_t *id = json_object_get(body, "id"), *outputs = json_object_get(body, "outputs");
    oip_settings *s = calloc(1, sizeof *s);
    if (!s)
        return problem_set(p, 503, "out of memory");
    in->route_state = s;
    in->route_state_free = settings_free;
    if (id && !json_is_string(id))
        return problem_set(p, 400, "\"id\" must be a string");
    s->id = json_incref((json_t *)id);
    if (read_parameters(in, json_object_get(body, "parameters"), s, p))
        return -1;
    if (outputs && (!json_is_array(outputs) || json_array_size(outputs) > MAX_OUTPUTS))
        return problem_set(p, 400, "\"outputs\" must be an array of at most %d {name, parameters}",
                           MAX_OUTPUTS);
    for (size_t i = 0; i < json_array_size(outputs); i++)
        if (read_output(in, json_array_get(outputs, i), i, s, p))
            return -1;
    return 0;
}

/* ---- the input tensor, by what the model takes ---- */

/* An image model's tensor: FP32 preprocessed values, or UINT8 pixels preprocessed here as
 * the manifest says (the same arithmetic as a decoded image's). */
static int decode_image(infer *in, const oip_tensor *t, problem *p, http_ret *ret)
{
    const glia_manifest *man = &in->model->bundle.manifest;
    const glia_shape3 s = man->input;
    const size_t size = in->model->bundle.model->input_size;
    if (t->type != OIP_FP32 && t->type != OIP_UINT8)
        return problem_set(
            p, 400,
            "model '%s' takes FP32 (preprocessed values) or UINT8 (pixels 0..255) [N, %d, %d, %d]; "
            "got %s",
            in->model->name, s.c, s.h, s.w, oip_datatype_name(t->type));
    const int64_t *chw = t->nd == 4 ? t->shape + 1 : t->shape;
    if (!(t->nd == 3 || t->nd == 4) || chw[0] != s.c || chw[1] != s.h || chw[2] != s.w)
        return problem_set(p, 400, "shape must be [N, %d, %d, %d] (or [%d, %d, %d])", s.c, s.h, s.w, s.c, s.h,
                           s.w);
    const size_t n = t->nd == 4 ? (size_t)t->shape[0] : 1;
    if (infer_alloc_inputs(in, n, ret))
        return -2; /* answered */
    unsigned char *pixels = t->type == OIP_UINT8 ? malloc(size) : NULL;
    if (t->type == OIP_UINT8 && !pixels)
        return problem_set(p, 503, "out of memory");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n * size; i++) {
        double v;
        float *x = &in->item.in.x[i];
        if ((rc = oip_tensor_number(t, 0, i, &v, p)) != 0)
            break;
        if (t->type == OIP_FP32 && codec_float32(v, x))
            rc = problem_set(p, 400,
                             "data[%zu] (input %zu, element %zu) is %g, not a finite FP32 value "
                             "(" CODEC_FLOAT32_RANGE ")",
                             i, i / size, i % size, v);
        else if (t->type == OIP_UINT8 && (v < 0 || v > 255))
            rc = problem_set(p, 400, "data[%zu] is %g, not a UINT8 pixel (0..255)", i, v);
        else if (t->type == OIP_UINT8)
            pixels[i % size] = (unsigned char)v;
        if (rc == 0 && t->type == OIP_UINT8 && i % size == size - 1)
            glia_preprocess_u8(&man->pre, pixels, size, in->item.in.x + (i / size) * size);
    }
    free(pixels);
    return rc;
}

/* A text model's strings, each decoded as /v1 decodes a text. */
static int decode_texts(infer *in, const oip_tensor *t, problem *p, http_ret *ret)
{
    if (!(t->nd == 1 || (t->nd == 2 && t->shape[1] == 1)))
        return problem_set(p, 400, "BYTES shape must be [N] (or [N, 1]) for N strings");
    if (infer_alloc_inputs(in, (size_t)t->shape[0], ret))
        return -2;
    for (size_t i = 0; i < t->count; i++) {
        const char *text;
        size_t len;
        if (oip_tensor_bytes(t, 0, i, &text, &len, p))
            return -1;
        json_t *s = json_stringn(text, len);
        if (!s)
            return problem_set(p, 400, "data[%zu] is not valid UTF-8", i);
        int rc = in->codec->decode_json(in->model, s, i, &in->item.in, p);
        json_decref(s);
        if (rc)
            return -1;
    }
    return 0;
}

/* A text model's token ids [N, T], row by row through the codec. */
static int decode_ids(infer *in, const oip_tensor *t, problem *p, http_ret *ret)
{
    if (t->nd != 2 || t->shape[1] < 1)
        return problem_set(p, 400, "token ids' shape must be [N, T] (T >= 1; rows padded with 0)");
    if (infer_alloc_inputs(in, (size_t)t->shape[0], ret))
        return -2;
    const size_t cols = (size_t)t->shape[1];
    int64_t *row = malloc(sizeof *row * cols);
    if (!row)
        return problem_set(p, 503, "out of memory");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < (size_t)in->n; i++) {
        for (size_t j = 0; rc == 0 && j < cols; j++)
            rc = oip_tensor_integer(t, 0, i * cols + j, &row[j], p);
        if (rc == 0)
            rc = in->codec->decode_ids(in->model, row, (int)cols, i, &in->item.in, p);
    }
    free(row);
    return rc;
}

/* 1 with a 400 in *p when the tensor's name is not `want`, the input its datatype feeds (a
 * client that names another input has the wrong model or the wrong metadata). */
static int misnamed(const infer *in, const oip_tensor *t, const char *want, problem *p)
{
    if (t->name && strcmp(t->name, want) == 0)
        return 0;
    const int tokens = in->model->bundle.model->ops->input == GLIA_INPUT_TOKENS;
    problem_set(p, 400, "inputs[0] is named \"%s\"; model '%s' has the input%s %s (its metadata lists them)",
                t->name ? t->name : "", in->model->name, tokens && in->codec->decode_ids ? "s" : "",
                !tokens                 ? "\"input\" (FP32 or UINT8)"
                : in->codec->decode_ids ? "\"text\" (BYTES) and \"input_ids\" (INT32/INT64)"
                                        : "\"text\" (BYTES)");
    return 1;
}

static int decode_input(infer *in, const oip_tensor *t, problem *p, http_ret *ret)
{
    if (in->model->bundle.model->ops->input != GLIA_INPUT_TOKENS)
        return misnamed(in, t, "input", p) ? -1 : decode_image(in, t, p, ret);
    if (t->type == OIP_BYTES)
        return misnamed(in, t, "text", p) ? -1 : decode_texts(in, t, p, ret);
    if ((t->type == OIP_INT32 || t->type == OIP_INT64) && in->codec->decode_ids)
        return misnamed(in, t, "input_ids", p) ? -1 : decode_ids(in, t, p, ret);
    return problem_set(p, 400, "model '%s' takes BYTES texts [N] or INT32/INT64 token ids [N, T]; got %s",
                       in->model->name, oip_datatype_name(t->type));
}

/* ---- the answer ---- */

typedef struct {
    float value;
    int index;
} scored;

static int by_score(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? 1 : -1;
    return x->index - y->index; /* ties: the lower class first, as a stable sort would */
}

/* Triton's classification extension: the top k of each row of probabilities [n, classes] as
 * BYTES [n, k] "score:index:label" (score as C++'s std::to_string prints a float: %f; no label:
 * "score:index"). NULL on OOM. */
static json_t *classification(const registry_model *m, const json_t *probs, int n, int k)
{
    const glia_manifest *man = &m->bundle.manifest;
    const int classes = m->bundle.model->outputs;
    const json_t *values = json_object_get(probs, "data");
    scored *row = malloc(sizeof *row * (size_t)classes);
    json_t *data = row ? json_array() : NULL;
    if (k > classes)
        k = classes;
    for (int i = 0; data && i < n; i++) {
        for (int j = 0; j < classes; j++)
            row[j] = (scored){(float)json_number_value(json_array_get(values, (size_t)i * classes + j)), j};
        qsort(row, (size_t)classes, sizeof *row, by_score);
        /* the score as the FP32 output prints it (jsonnum.h), so that both round alike */
        for (int j = 0; data && j < k; j++) {
            json_t *s = row[j].index < man->nlabels
                            ? json_sprintf("%f:%d:%s", glia_json_f32(row[j].value), row[j].index,
                                           man->labels[row[j].index])
                            : json_sprintf("%f:%d", glia_json_f32(row[j].value), row[j].index);
            if (json_array_append_new(data, s)) {
                json_decref(data);
                data = NULL;
            }
        }
    }
    free(row);
    return data ? json_pack("{s:s, s:s, s:[i, i], s:o}", "name",
                            json_string_value(json_object_get(probs, "name")), "datatype", "BYTES", "shape",
                            n, k, "data", data)
                : NULL;
}

/* The answer's tensor named name from all (the codec's), as the settings ask: classified,
 * binary (its bytes appended to buf). NULL on OOM. */
static json_t *answer_tensor(infer *in, const json_t *all, const char *name, int classify, int binary,
                             oip_buf *buf)
{
    const json_t *t = NULL;
    for (size_t i = 0; !t && i < json_array_size(all); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(all, i), "name")), name) == 0)
            t = json_array_get(all, i);
    json_t *out = !t             ? NULL
                  : classify > 0 ? classification(in->model, t, in->n, classify)
                                 : json_deep_copy(t);
    if (out && binary && oip_tensor_to_binary(out, buf)) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* The protocol's answer (JSON, or a JSON header and the binary outputs after it). */
static http_ret answer_oip(infer *in)
{
    http_ret ret;
    if (infer_outputs_finite(in, &ret))
        return ret;
    const oip_settings *s = in->route_state;
    json_t *all = in->codec->v2_outputs(in->model, &in->item.out, in->n), *outputs = json_array();
    const char *const *names = output_names(in->model);
    oip_buf buf = {0};
    int ok = all != NULL && outputs != NULL, binary = 0;
    const int count = s->noutputs ? s->noutputs : (int)(names[1] ? 2 : 1);
    for (int i = 0; ok && i < count; i++) {
        const char *name = s->noutputs ? s->outputs[i].name : names[i];
        const int cls = s->noutputs && s->outputs[i].classification ? s->outputs[i].classification : s->top_k,
                  bin = s->noutputs && s->outputs[i].binary >= 0 ? s->outputs[i].binary : s->binary;
        const int classify = strcmp(name, "probabilities") == 0 ? cls : 0;
        ok = json_array_append_new(outputs, answer_tensor(in, all, name, classify, bin, &buf)) == 0;
        binary |= bin;
    }
    json_decref(all);
    char version[32];
    version_text(in->model, version, sizeof version);
    json_t *answer =
        ok ? json_pack("{s:s, s:s, s:s, s:o}", "model_name", in->model->name, "model_version", version, "id",
                       s->id ? json_string_value(s->id) : in->r->id, "outputs", outputs)
           : NULL;
    if (!ok)
        json_decref(outputs);
    if (!answer) {
        oip_buf_free(&buf);
        return http_fail(in->r, 500, "cannot encode the outputs");
    }
    if (!binary)
        return http_reply_json(in->r, 200, answer);
    /* binary: the JSON header, then the outputs' bytes in the order the header lists them */
    char *header = json_dumps(answer, JSON_COMPACT | GLIA_JSON_REALS), length[32];
    json_decref(answer);
    const size_t hlen = header ? strlen(header) : 0;
    if (!header || oip_buf_room(&buf, hlen)) {
        free(header);
        oip_buf_free(&buf);
        return http_fail(in->r, 500, "cannot encode the outputs");
    }
    memmove(buf.data + hlen, buf.data, buf.len);
    memcpy(buf.data, header, hlen);
    free(header);
    snprintf(length, sizeof length, "%zu", hlen);
    ret = http_reply(in->r, 200, "application/octet-stream", (const char *)buf.data, buf.len + hlen,
                     "Inference-Header-Content-Length", length);
    oip_buf_free(&buf);
    return ret;
}

/* ---- inference ---- */

/* The body's JSON header and binary part: the whole body is JSON unless the request says
 * Inference-Header-Content-Length: L, and then its first L bytes are, the rest binary. */
static json_t *split_body(http_request *r, const unsigned char **bin, size_t *bin_left, http_ret *ret)
{
    const char *h = http_header(r, "Inference-Header-Content-Length");
    *bin = NULL;
    *bin_left = 0;
    if (!h)
        return http_body_json(r, 0, ret);
    char *end;
    unsigned long long len = strtoull(h, &end, 10);
    if (h[0] < '0' || h[0] > '9' || *end || len > r->len) {
        *ret = http_fail(
            r, 400,
            "Inference-Header-Content-Length must be the JSON header's length in bytes, at most the "
            "body's %zu (got \"%.40s\")",
            r->len, h);
        return NULL;
    }
    if (r->body) { /* an empty body has none, and NULL + 0 is no pointer either */
        *bin = (const unsigned char *)r->body + len;
        *bin_left = r->len - (size_t)len;
    }
    return http_body_json_prefix(r, (size_t)len, 0, ret);
}

/* KServe's Python client repeats the route's model (and version) in the body as
 * "model_name" and "model_version": accepted when they agree with the route, and a body's
 * version picks the version on the unversioned route. 1 with a 400 queued otherwise. */
static int body_names_other(http_request *r, const json_t *body, const char *name, long *version,
                            http_ret *ret)
{
    const json_t *mn = json_object_get(body, "model_name"), *mv = json_object_get(body, "model_version");
    if (mn && !(json_is_string(mn) && strcmp(json_string_value(mn), name) == 0)) {
        *ret = http_fail(r, 400, "\"model_name\" in the body must be the route's model, \"%s\"", name);
        return 1;
    }
    if (!mv || (json_is_string(mv) && json_string_length(mv) == 0))
        return 0;
    const char *text = json_string_value(mv);
    char *end = NULL;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || *end || end == text || v < 1 || (*version >= 1 && v != *version)) {
        *ret = *version >= 1 ? http_fail(r, 400,
                                         "\"model_version\" in the body must be the route's version, "
                                         "\"%ld\"",
                                         *version)
                             : http_fail(r, 400,
                                         "\"model_version\" must be a version number as a string "
                                         "(\"1\", \"2\", ...)");
        return 1;
    }
    *version = v;
    return 0;
}

static http_ret infer_request(http_request *r, const char *name, long version)
{
    http_ret ret;
    problem p = {0};
    const unsigned char *bin;
    size_t bin_left;
    oip_tensor t = {0};
    json_t *body = split_body(r, &bin, &bin_left, &ret);
    if (!body)
        return ret;
    json_t *inputs = json_object_get(body, "inputs");
    const char *key;
    json_t *v;
    int rc = -1;
    infer *in = NULL;
    if (!json_is_object(body)) {
        ret = http_fail(r, 400, "the body must be a JSON object {id, parameters, inputs, outputs}");
        goto done;
    }
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "id") && strcmp(key, "parameters") && strcmp(key, "inputs") &&
            strcmp(key, "outputs") && strcmp(key, "model_name") && strcmp(key, "model_version")) {
            ret = http_fail(r, 400,
                            "unknown field \"%s\" (known: id, parameters, inputs, outputs; model_name, "
                            "model_version as KServe's client repeats them)",
                            key);
            goto done;
        }
    }
    if (body_names_other(r, body, name, &version, &ret))
        goto done;
    if (!json_is_array(inputs) || json_array_size(inputs) != 1) {
        ret = http_fail(r, 400, "\"inputs\" must hold exactly one tensor {name, shape, datatype, data}");
        goto done;
    }
    if (!(in = infer_take_version(r, name, version, &ret)))
        goto done;
    if (read_settings(in, body, &p) || oip_tensor_read(json_array_get(inputs, 0), 0, &bin, &bin_left, &t, &p))
        goto fail;
    if (bin && bin_left)
        problem_set(&p, 400,
                    "%zu bytes of binary data follow the JSON header that no input's binary_data_size claims",
                    bin_left);
    else if ((rc = decode_input(in, &t, &p, &ret)) == -2)
        goto done; /* answered */
    else if (rc == 0 && in->codec->options)
        rc = in->codec->options(in->model, json_object_get(body, "parameters"), &in->item.in.decode, &p);
    if (rc == 0) {
        ret = infer_enqueue(in, answer_oip);
        goto done;
    }
fail:
    ret = http_fail(r, p.status ? p.status : 400, "%s", p.detail);
done:
    oip_tensor_free(&t);
    json_decref(body);
    return ret;
}

http_ret route_oip_infer(http_request *r, const route_params *p)
{
    return infer_request(r, p->name, -1);
}

http_ret route_oip_version_infer(http_request *r, const route_params *p)
{
    http_ret ret;
    return no_such_version(r, p, &ret) ? ret : infer_request(r, p->name, p->version);
}
