/*
 * explain.c - POST /v1/models/{name}/explain: why a model answered what it did, for one
 * input taken in predict's forms (a JSON {"inputs": [X]} or, for an image model, a raw image
 * body), with the method's settings and the class to explain ("target", default the
 * predicted one). The explanation runs on a worker like a prediction (its own item, never
 * batched: core's explain op, model.h); this file parses, validates and encodes only.
 *
 * The request's settings are checked here, before anything is queued, against the model's
 * kind of input: image methods for images, text methods for texts; a method of the other
 * kind, a target out of range or an unknown label, samples or steps beyond core's caps are
 * 400s that say what is allowed. Translation models answer the decoder's cross-attention
 * (the last layer's, and every layer's on request) and each output token's log-probability.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/image/heatmap.h"
#include "core/base/jsonnum.h"
#include "core/nn/seq2seq.h"
#include "daemon/log.h"
#include "daemon/routes/routes.h"

/* The defaults of the API contract (api-spec/openapi.yaml). */
enum { DEFAULT_SAMPLES = 16, DEFAULT_STEPS = 32, HEATMAP_SIDE = 224 };
#define DEFAULT_NOISE 0.15

/* A request's settings and, once a worker ran it, its explanation. */
typedef struct {
    glia_explain_opts opts;
    int png;       /* "format": "png" */
    float *probs;  /* [outputs] */
    float *scores; /* [input_size] or [max_tokens] */
    float logit, baseline_logit;
    /* translation: room for decode.max_tokens + 1 output tokens */
    int32_t *tokens;
    float *log_probs, *alignment; /* [cap], [cap, source length] */
    float *layer_alignments;      /* layers all: core's [nlayers, ntokens, source length] */
    int ntokens, nlayers;
    double seconds; /* the worker's time */
} explain_state;

static void state_free(void *p)
{
    explain_state *st = p;
    if (st) {
        free(st->probs);
        free(st->scores);
        free(st->tokens);
        free(st->log_probs);
        free(st->alignment);
        free(st->layer_alignments);
        free(st);
    }
}

static void count(infer *in, const char *outcome)
{
    const explain_state *st = in->route_state;
    metrics_explain(route_server(in->r)->d.met, in->model->name, in->model->bundle.manifest.version,
                    glia_explain_method_name(st->opts.method), outcome,
                    strcmp(outcome, "ok") == 0 ? st->seconds : -1.0);
}

/* On a worker: the explanation of input 0 into the state. */
static int run(workq_item *it)
{
    infer *in = it->user;
    explain_state *st = in->route_state;
    const glia_model *model = it->model->bundle.model;
    const workq_input *x = &it->in;
    glia_batch b = {
        .n = 1, .x = x->x, .ids = x->ids, .lengths = x->lengths, .steps = x->lengths ? x->lengths[0] : 0};
    b.decode = x->decode;
    glia_explanation e = {.probs = st->probs,
                          .scores = st->scores,
                          .tokens = st->tokens,
                          .log_probs = st->log_probs,
                          .alignment = st->alignment};
    glia_err err = {0};
    const double t0 = workq_now();
    glia_status rc = glia_model_explain(model, &b, &st->opts, &e, &err);
    st->seconds = workq_now() - t0;
    if (rc != GLIA_OK) {
        log_error("explain: %s: %s", it->model->name, err.msg);
        return -1;
    }
    st->opts.target = e.target;
    st->logit = e.logit;
    st->baseline_logit = e.baseline_logit;
    st->ntokens = e.ntokens;
    st->layer_alignments = e.layer_alignments;
    st->nlayers = e.nlayers;
    return 0;
}

static json_t *float_array(const float *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_real(isfinite(v[i]) ? glia_json_f32(v[i]) : 0.0));
    return a;
}

/* {"model", "version", "target": {index, label}, "probabilities", "method"}: what both
 * kinds of answer start with. */
static json_t *answer_head(const infer *in, const explain_state *st)
{
    const glia_manifest *man = &in->model->bundle.manifest;
    const int k = in->model->bundle.model->outputs, t = st->opts.target;
    char fallback[32];
    snprintf(fallback, sizeof fallback, "%d", t);
    return json_pack("{s:s, s:I, s:{s:i, s:s}, s:o, s:s}", "model", in->model->name, "version",
                     (json_int_t)man->version, "target", "index", t, "label",
                     t < man->nlabels ? man->labels[t] : fallback, "probabilities",
                     float_array(st->probs, (size_t)k), "method", glia_explain_method_name(st->opts.method));
}

/* The heat map of the saliency over the input, as the image it was: base64 PNG, or NULL. */
static char *heatmap_base64(const infer *in, const explain_state *st, int h, int w)
{
    const glia_manifest *man = &in->model->bundle.manifest;
    const float *x = in->item.in.x;
    float lo, hi;
    glia_bundle_input_range(man, &lo, &hi);
    /* back from the network's values to pixels: preprocessing is increasing in the pixel */
    const float span = hi > lo ? hi - lo : 1.0f;
    float *gray = malloc(sizeof(float) * (size_t)h * (size_t)w);
    unsigned char *png = NULL;
    size_t len = 0;
    char *text = NULL;
    glia_err err = {0};
    if (!gray)
        return NULL;
    for (size_t i = 0; i < (size_t)h * (size_t)w; i++) {
        const float q = (x[i] - lo) / span * 255.0f;
        gray[i] = man->pre.invert ? 255.0f - q : q;
    }
    int scale = HEATMAP_SIDE / (h > w ? h : w);
    scale = scale < 1 ? 1 : (scale > GLIA_HEATMAP_MAX_SCALE ? GLIA_HEATMAP_MAX_SCALE : scale);
    if (glia_heatmap_png(st->scores, gray, h, w, scale, &png, &len, &err) == GLIA_OK)
        text = codec_base64_encode(png, len);
    else
        log_error("explain: %s", err.msg);
    free(png);
    free(gray);
    return text;
}

static http_ret answer_image(infer *in, explain_state *st)
{
    const glia_manifest *man = &in->model->bundle.manifest;
    const int h = man->input.h, w = man->input.w;
    json_t *o = answer_head(in, st);
    if (!o)
        return http_fail(in->r, 500, "cannot encode the explanation");
    json_object_set_new(
        o, "saliency",
        json_pack("{s:[i, i], s:o}", "shape", h, w, "data", float_array(st->scores, (size_t)h * w)));
    if (st->png) {
        char *b64 = heatmap_base64(in, st, h, w);
        if (!b64) {
            json_decref(o);
            return http_fail(in->r, 500, "cannot draw the heat map");
        }
        json_object_set_new(o, "png", json_string(b64));
        free(b64);
    }
    return http_reply_json(in->r, 200, o);
}

static http_ret answer_text(infer *in, explain_state *st)
{
    const glia_tokenizer *tok = in->model->bundle.tokenizer;
    const int len = in->item.in.lengths[0];
    json_t *o = answer_head(in, st), *tokens = json_array();
    for (int t = 0; o && tokens && t < len; t++) {
        char *word = NULL;
        glia_err err = {0};
        if (glia_tokenizer_decode(tok, in->item.in.ids + t, 1, &word, NULL, &err) != GLIA_OK) {
            json_decref(tokens);
            tokens = NULL;
            break;
        }
        /* specials decode to nothing: name them, so that every score has its token */
        json_array_append_new(tokens, json_string(*word                     ? word
                                                  : in->item.in.ids[t] == 1 ? "<unk>"
                                                                            : "<special>"));
        free(word);
    }
    if (!o || !tokens) {
        json_decref(o);
        json_decref(tokens);
        return http_fail(in->r, 500, "cannot encode the explanation");
    }
    json_object_set_new(o, "tokens", tokens);
    json_object_set_new(o, "scores", float_array(st->scores, (size_t)len));
    json_object_set_new(o, "logit", json_real(glia_json_f32(st->logit)));
    if (st->opts.method == GLIA_EXPLAIN_INTEGRATED_GRADIENTS)
        json_object_set_new(o, "baseline_logit", json_real(glia_json_f32(st->baseline_logit)));
    return http_reply_json(in->r, 200, o);
}

/* A subword as the vocabulary spells it (a byte piece, "<0x..>", included). */
static json_t *piece(const glia_tokenizer *tok, int32_t id)
{
    const char *text = glia_bpe_token(glia_tokenizer_subwords(tok), id);
    json_t *j = text ? json_string(text) : NULL;
    return j ? j : json_string("<?>");
}

static http_ret answer_translation(infer *in, explain_state *st)
{
    const glia_tokenizer *tok = in->model->bundle.tokenizer;
    const int S = in->item.in.lengths[0], n = st->ntokens;
    const int32_t *src = in->item.in.ids;
    const int words = n > 0 && st->tokens[n - 1] == GLIA_S2S_EOS ? n - 1 : n;
    char *text = NULL;
    glia_err err = {0};
    if (glia_tokenizer_decode(tok, st->tokens, words, &text, NULL, &err) != GLIA_OK)
        return http_fail(in->r, 500, "cannot decode the translation: %s", err.msg);
    json_t *source = json_array(), *output = json_array(), *rows = json_array();
    for (int s = 0; s < S; s++)
        json_array_append_new(source, piece(tok, src[s]));
    for (int t = 0; t < n; t++) {
        json_array_append_new(output, piece(tok, st->tokens[t]));
        json_array_append_new(rows, float_array(st->alignment + (size_t)t * (size_t)S, (size_t)S));
    }
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:o, s:o, s:o, s:o}", "model", in->model->name, "version",
                          (json_int_t)in->model->bundle.manifest.version, "method", "attention",
                          "translation", text, "source_tokens", source, "output_tokens", output, "alignment",
                          rows, "log_probs", float_array(st->log_probs, (size_t)n));
    free(text);
    for (int l = 0; o && l < st->nlayers; l++) {
        json_t *layers = json_object_get(o, "layer_alignments"), *layer = json_array();
        if (!layers)
            json_object_set_new(o, "layer_alignments", layers = json_array());
        for (int t = 0; t < n; t++)
            json_array_append_new(
                layer, float_array(st->layer_alignments + ((size_t)l * n + t) * (size_t)S, (size_t)S));
        json_array_append_new(layers, layer);
    }
    return o ? http_reply_json(in->r, 200, o) : http_fail(in->r, 500, "cannot encode the explanation");
}

static http_ret answer_explain(infer *in)
{
    explain_state *st = in->route_state;
    if (in->model->bundle.model->ops->output == GLIA_OUTPUT_SEQUENCE)
        return answer_translation(in, st);
    /* inputs far outside the trained range overflow a network: no explanation of NaN */
    int finite = isfinite(st->logit);
    for (int j = 0; j < in->model->bundle.model->outputs; j++)
        finite = finite && isfinite(st->probs[j]);
    if (!finite)
        return http_fail(in->r, 422,
                         "the model's outputs are not finite for this input (its values overflow the "
                         "network): there is nothing to explain");
    if (in->model->bundle.model->ops->input == GLIA_INPUT_TENSOR)
        return answer_image(in, st);
    return answer_text(in, st);
}

/* ---- the request's settings ---- */

/* "target": a class index or one of the manifest's labels. */
static int parse_target(const registry_model *m, const json_t *v, int *target, problem *p)
{
    const glia_manifest *man = &m->bundle.manifest;
    const int k = m->bundle.model->outputs;
    *target = -1;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        const json_int_t t = json_integer_value(v);
        if (t < 0 || t >= k)
            return problem_set(p, 400, "\"target\" %lld is out of range: model '%s' has classes 0 to %d",
                               (long long)t, m->name, k - 1);
        *target = (int)t;
        return 0;
    }
    if (json_is_string(v)) {
        for (int i = 0; i < man->nlabels && i < k; i++)
            if (strcmp(man->labels[i], json_string_value(v)) == 0) {
                *target = i;
                return 0;
            }
        return problem_set(p, 400,
                           "\"target\" \"%s\" is not a label of model '%s' (GET /v1/models/%s lists them)",
                           json_string_value(v), m->name, m->name);
    }
    return problem_set(p, 400, "\"target\" must be a class index or a label");
}

/* An integer field in [lo, hi], or def when absent. */
static int parse_int(const json_t *body, const char *key, int lo, int hi, int def, int *out, problem *p)
{
    *out = def;
    return problem_int_field(body, key, lo, hi, out, p);
}

/* A translation's settings (its search's are the codec's options). */
static int parse_sequence_settings(const json_t *body, explain_state *st, problem *p)
{
    static const char *const others[] = {"target", "samples", "noise", "steps", "format", NULL};
    const json_t *method = body ? json_object_get(body, "method") : NULL;
    const json_t *layers = body ? json_object_get(body, "layers") : NULL;
    st->opts.method = GLIA_EXPLAIN_ATTENTION;
    st->opts.target = -1;
    for (int i = 0; body && others[i]; i++)
        if (json_object_get(body, others[i]))
            return problem_set(p, 400,
                               "\"%s\" is not a setting of translation models (they take method, layers, "
                               "beam_size and max_tokens)",
                               others[i]);
    if (method && (!json_is_string(method) || strcmp(json_string_value(method), "attention") != 0))
        return problem_set(p, 400, "\"method\" must be \"attention\" for translation models");
    if (layers && (!json_is_string(layers) || (strcmp(json_string_value(layers), "last") != 0 &&
                                               strcmp(json_string_value(layers), "all") != 0)))
        return problem_set(p, 400, "\"layers\" must be \"last\" or \"all\"");
    st->opts.all_layers = layers && strcmp(json_string_value(layers), "all") == 0;
    return 0;
}

/* The settings of body (NULL: a raw body, all defaults) for model m into st. */
static int parse_settings(const registry_model *m, const json_t *body, explain_state *st, problem *p)
{
    if (m->bundle.model->ops->output == GLIA_OUTPUT_SEQUENCE)
        return parse_sequence_settings(body, st, p);
    if (body && (json_object_get(body, "layers") || json_object_get(body, "beam_size") ||
                 json_object_get(body, "max_tokens")))
        return problem_set(p, 400, "\"layers\", \"beam_size\" and \"max_tokens\" are for translation models");
    const int image = m->bundle.model->ops->input == GLIA_INPUT_TENSOR;
    const char *const image_methods = "gradient_x_input, smoothgrad";
    const char *const text_methods = "gradient_x_embedding, integrated_gradients";
    const json_t *method = body ? json_object_get(body, "method") : NULL;
    glia_explain_opts *o = &st->opts;
    o->method = image ? GLIA_EXPLAIN_GRADIENT_X_INPUT : GLIA_EXPLAIN_GRADIENT_X_EMBEDDING;
    if (method) {
        const int parsed = json_is_string(method) ? glia_explain_method_parse(json_string_value(method)) : -1;
        const int for_images = parsed == GLIA_EXPLAIN_GRADIENT_X_INPUT || parsed == GLIA_EXPLAIN_SMOOTHGRAD;
        const int for_texts =
            parsed == GLIA_EXPLAIN_GRADIENT_X_EMBEDDING || parsed == GLIA_EXPLAIN_INTEGRATED_GRADIENTS;
        if (image ? !for_images : !for_texts)
            return problem_set(p, 400, "\"method\" must be one of %s for %s models",
                               image ? image_methods : text_methods, image ? "image" : "text");
        o->method = (glia_explain_method)parsed;
    }
    const int smooth = o->method == GLIA_EXPLAIN_SMOOTHGRAD,
              ig = o->method == GLIA_EXPLAIN_INTEGRATED_GRADIENTS;
    if (body && !smooth && (json_object_get(body, "samples") || json_object_get(body, "noise")))
        return problem_set(p, 400, "\"samples\" and \"noise\" are settings of method smoothgrad");
    if (body && !ig && json_object_get(body, "steps"))
        return problem_set(p, 400, "\"steps\" is a setting of method integrated_gradients");
    if (parse_int(body, "samples", 1, GLIA_EXPLAIN_MAX_SAMPLES, DEFAULT_SAMPLES, &o->samples, p) ||
        parse_int(body, "steps", 1, GLIA_EXPLAIN_MAX_STEPS, DEFAULT_STEPS, &o->steps, p) ||
        parse_target(m, body ? json_object_get(body, "target") : NULL, &o->target, p))
        return -1;
    const json_t *noise = body ? json_object_get(body, "noise") : NULL;
    o->noise = (float)DEFAULT_NOISE;
    if (noise) {
        if (!json_is_number(noise) || json_number_value(noise) < 0.0 || json_number_value(noise) > 1.0)
            return problem_set(p, 400,
                               "\"noise\" must be a number from 0 to 1 (the noise's std as a fraction of the "
                               "input's range)");
        o->noise = (float)json_number_value(noise);
    }
    const json_t *format = body ? json_object_get(body, "format") : NULL;
    if (format) {
        if (!image)
            return problem_set(p, 400, "\"format\" is for image models");
        if (!json_is_string(format) ||
            (strcmp(json_string_value(format), "png") != 0 && strcmp(json_string_value(format), "json") != 0))
            return problem_set(p, 400, "\"format\" must be \"png\" (a heat map as well) or \"json\"");
        st->png = strcmp(json_string_value(format), "png") == 0;
    }
    float lo, hi;
    glia_bundle_input_range(&m->bundle.manifest, &lo, &hi);
    o->range = hi - lo;
    /* a black pixel, as the network sees it: the background explains nothing */
    o->blank = m->bundle.manifest.pre.invert ? hi : lo;
    o->seed = 0x9e3779b97f4a7c15u; /* one seed: the same request, the same SmoothGrad */
    return 0;
}

/* 0 if every field of body is one explain knows. */
static int check_fields(const json_t *body, problem *p)
{
    static const char *const known[] = {"inputs", "target", "method", "samples",   "noise",
                                        "steps",  "format", "layers", "beam_size", "max_tokens"};
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)body, key, val)
    {
        int ok = 0;
        for (int i = 0; i < (int)(sizeof known / sizeof known[0]); i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok)
            return problem_set(
                p, 400,
                "unknown field \"%s\" (known: inputs, target, method, samples, noise, steps, format; "
                "layers, beam_size, max_tokens for translation)",
                key);
    }
    return 0;
}

static http_ret explain(http_request *r, const char *name, const json_t *body)
{
    http_ret ret;
    problem p = {0};
    const json_t *inputs = NULL;
    if (body) {
        if (!json_is_object(body))
            return http_fail(r, 400, "the body must be a JSON object with \"inputs\": [one input]");
        if (check_fields(body, &p))
            return http_fail(r, p.status, "%s", p.detail);
        inputs = json_object_get(body, "inputs");
        if (!json_is_array(inputs) || json_array_size(inputs) != 1)
            return http_fail(r, 400, "\"inputs\" must be an array of exactly one input (explain takes one)");
    }
    infer *in = infer_take_model(r, name, &ret);
    if (!in)
        return ret;
    const glia_model *model = in->model->bundle.model;
    if (!model->ops->explain)
        return http_fail(r, 501, "model '%s' is a %s model, whose family has no explanations in this gliad",
                         name, model->ops->family);
    explain_state *st = calloc(1, sizeof *st);
    if (!st)
        return http_fail(r, 503, "out of memory");
    in->route_state = st;
    in->route_state_free = state_free;
    const size_t room =
        model->input_size > 0 ? model->input_size : (size_t)in->model->bundle.manifest.max_tokens;
    st->probs = calloc((size_t)model->outputs, sizeof(float));
    st->scores = calloc(room > 0 ? room : 1, sizeof(float));
    if (!st->probs || !st->scores)
        return http_fail(r, 503, "out of memory");
    if (parse_settings(in->model, body, st, &p))
        return http_fail(r, p.status, "%s", p.detail);
    in->count = count;
    in->top_k = 1;
    if (infer_alloc_inputs(in, 1, &ret))
        return ret;
    if (body ? in->codec->decode_json(in->model, json_array_get(inputs, 0), 0, &in->item.in, &p)
             : in->codec->decode_raw(in->model, http_header(r, "Content-Type"), r->body, r->len, &in->item.in,
                                     &p))
        return http_fail(r, p.status, "%s", p.detail);
    if (model->ops->output == GLIA_OUTPUT_SEQUENCE) {
        if (body && in->codec->options && in->codec->options(in->model, body, &in->item.in.decode, &p))
            return http_fail(r, p.status, "%s", p.detail);
        const size_t cap = (size_t)in->item.in.decode.max_tokens + 1, S = (size_t)in->item.in.stride;
        st->tokens = malloc(sizeof(int32_t) * cap);
        st->log_probs = malloc(sizeof(float) * cap);
        st->alignment = malloc(sizeof(float) * cap * (S > 0 ? S : 1));
        if (!st->tokens || !st->log_probs || !st->alignment)
            return http_fail(r, 503, "out of memory");
    }
    in->item.run = run;
    return infer_enqueue(in, answer_explain);
}

http_ret route_model_explain(http_request *r, const route_params *p)
{
    const char *type = http_header(r, "Content-Type");
    if (type && strncmp(type, "application/json", 16) != 0)
        return explain(r, p->name, NULL);
    http_ret ret;
    json_t *body = http_body_json(r, JSON_REJECT_DUPLICATES, &ret);
    if (!body)
        return ret;
    ret = explain(r, p->name, body);
    json_decref(body);
    return ret;
}
