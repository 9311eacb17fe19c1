/*
 * codec_text.c - the text-classification codec (see codec.h): inputs are JSON strings
 * (or {"text": "..."}), or a text/plain request body; outputs are
 *   {"label": "positive", "index": 1, "score": 0.97,
 *    "probabilities": {"negative": 0.03, "positive": 0.97}}.
 *
 * Limits, stated to clients in api-spec/openapi.yaml: an empty string, or one without a
 * single word (only white space), is 422; invalid UTF-8 is 400 when it breaks the JSON
 * body (jansson refuses it) and 422 in a text/plain body; a text longer than the model's
 * input.max_tokens tokens is truncated - its tail is dropped, as at training time - and
 * a single text over CODEC_TEXT_MAX_BYTES is 413.
 */
#include "daemon/codec.h"
#include "core/base/jsonnum.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/kernels.h"

enum { CODEC_TEXT_MAX_BYTES = 64 * 1024 };

/* One text -> input index of in: its ids (the tail past max_tokens dropped) and length. */
static int text_to_input(const registry_model *m, const char *text, size_t len, workq_input *in, size_t index,
                         problem *p, const char *what)
{
    const glia_bundle *b = &m->bundle;
    int n = 0;
    glia_err err = {0};
    if (len == 0)
        return problem_set(p, 422, "%s is an empty string: send a sentence", what);
    if (len > CODEC_TEXT_MAX_BYTES)
        return problem_set(p, 413,
                           "%s is %zu bytes; a text may be at most %d bytes (and only its first %d tokens "
                           "are read)",
                           what, len, CODEC_TEXT_MAX_BYTES, in->stride);
    glia_status rc = glia_tokenizer_encode(b->tokenizer, text, len, in->stride,
                                           in->ids + index * (size_t)in->stride, &n, NULL, &err);
    if (rc == GLIA_EFORMAT)
        return problem_set(p, 422, "%s is not valid UTF-8 (%s)", what, err.msg);
    if (rc != GLIA_OK)
        return problem_set(p, 422, "%s has no words: send a sentence", what);
    in->lengths[index] = n;
    return 0;
}

static int text_decode_json(const registry_model *m, const json_t *input, size_t index, workq_input *in,
                            problem *p)
{
    char what[48];
    snprintf(what, sizeof what, "inputs[%zu]", index);
    const json_t *s = input;
    if (json_is_object(input)) {
        s = json_object_get(input, "text");
        if (json_object_size(input) != 1 || !s)
            return problem_set(p, 400, "%s must be a string or {\"text\": string}", what);
    }
    if (!json_is_string(s))
        return problem_set(p, 400, "%s must be a string (the text to classify) or {\"text\": string}", what);
    return text_to_input(m, json_string_value(s), json_string_length(s), in, index, p, what);
}

static int text_decode_raw(const registry_model *m, const char *content_type, const void *body, size_t len,
                           workq_input *in, problem *p)
{
    if (!content_type || strncmp(content_type, "text/plain", 10) != 0)
        return problem_set(p, 415, "send application/json or text/plain (got %s)",
                           content_type ? content_type : "no Content-Type");
    return text_to_input(m, body ? body : "", len, in, 0, p, "the request body");
}

static json_t *text_encode(const registry_model *m, const float *y, const glia_sequence *seq, int top_k)
{
    (void)seq;
    (void)top_k; /* every class is listed in "probabilities" */
    const int k = m->bundle.model->outputs;
    const glia_manifest *man = &m->bundle.manifest;
    float *prob = malloc(sizeof(float) * (size_t)k); /* any number of classes */
    if (!prob)
        return NULL;
    glia_softmax(y, prob, 1, k);
    const int best = glia_argmax(prob, k);
    json_t *probs = json_object();
    char fallback[32];
    for (int i = 0; i < k; i++) {
        snprintf(fallback, sizeof fallback, "%d", i);
        json_object_set_new(probs, i < man->nlabels ? man->labels[i] : fallback,
                            json_real(glia_json_f32(prob[i])));
    }
    const double score = glia_json_f32(prob[best]);
    free(prob);
    snprintf(fallback, sizeof fallback, "%d", best);
    return json_pack("{s:s, s:i, s:f, s:o}", "label", best < man->nlabels ? man->labels[best] : fallback,
                     "index", best, "score", score, "probabilities", probs);
}

/* Raw ids: up to input.max_tokens of them, as a text's tokens would be (here a longer row
 * is refused rather than cut: the client chose those ids). */
static int text_decode_ids(const registry_model *m, const int64_t *ids, int t, size_t index, workq_input *in,
                           problem *p)
{
    int n = 0;
    if (codec_ids_row(m, ids, t, in->stride, index, in, &n, p))
        return -1;
    in->lengths[index] = n;
    return 0;
}

const codec codec_text = {"text-classification",  text_decode_json, text_decode_raw, text_encode, NULL,
                          codec_v2_probabilities, text_decode_ids};
