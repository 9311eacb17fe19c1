/*
 * codec_translate.c - the translation codec (see codec.h): inputs are JSON strings (or
 * {"text": "..."}), or a text/plain body; each output is
 *   {"translation": "No se puede abrir el fichero", "tokens": 6}
 * where tokens counts the output's subword tokens (</s> not included).
 *
 * A row (registry.h) is [length, beam_size, max_tokens, ids...]: the source's subword ids
 * ending in </s>, and its search settings: the manifest's decoding defaults, which a JSON
 * request's "beam_size" and "max_tokens" replace (the codec's options). An output row is
 * [n, finished, score, ids...]. Limits, stated in api-spec/openapi.yaml: an empty or all-white-space string
 * is 422, invalid UTF-8 is 400 inside JSON (jansson refuses it) and 422 in text/plain, a text over
 * CODEC_TRANSLATE_MAX_BYTES is 413 and one over the manifest's input.max_tokens subword tokens is 422 (a
 * translation of half a sentence is worse than an error).
 */
#include "daemon/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CODEC_TRANSLATE_MAX_BYTES = 16 * 1024 };

static int to_row(const registry_model *m, const char *text, size_t len, float *out, problem *p,
                  const char *what)
{
    const glia_bundle *b = &m->bundle;
    const int max = b->manifest.max_tokens;
    glia_bpe_ids ids = {0};
    glia_err err = {0};
    int rc = 0;
    if (len > CODEC_TRANSLATE_MAX_BYTES)
        return problem_set(p, 413, "%s is %zu bytes; a text to translate may be at most %d bytes", what, len,
                           CODEC_TRANSLATE_MAX_BYTES);
    if (glia_bpe_encode(b->bpe, text, len, GLIA_BPE_ADD_EOS, &ids, &err) != GLIA_OK) {
        rc = problem_set(p, 422, "%s is not valid UTF-8 (%s)", what, err.msg);
        goto done;
    }
    if (ids.n <= 1) {
        rc = problem_set(p, 422, "%s is empty: send a sentence to translate", what);
        goto done;
    }
    if (ids.n > (size_t)max) {
        rc = problem_set(p, 422,
                         "%s is %zu subword tokens long; this model translates at most %d (input.max_tokens "
                         "in its manifest): split the text into sentences",
                         what, ids.n - 1, max - 1);
        goto done;
    }
    out[0] = (float)ids.n;
    out[1] = (float)b->manifest.decoding.beam_size;
    out[2] = (float)b->manifest.decoding.max_tokens;
    for (int t = 0; t < max; t++)
        out[3 + t] = t < (int)ids.n ? (float)ids.ids[t] : 0.0f;
done:
    glia_bpe_ids_free(&ids);
    return rc;
}

static int decode_json(const registry_model *m, const json_t *input, size_t index, float *out, problem *p)
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
        return problem_set(p, 400,
                           "%s must be a string (the English text to translate) or {\"text\": string}", what);
    return to_row(m, json_string_value(s), json_string_length(s), out, p, what);
}

static int decode_raw(const registry_model *m, const char *content_type, const void *body, size_t len,
                      float *out, problem *p)
{
    if (!content_type || strncmp(content_type, "text/plain", 10) != 0)
        return problem_set(p, 415, "send application/json or text/plain (got %s)",
                           content_type ? content_type : "no Content-Type");
    return to_row(m, body ? body : "", len, out, p, "the request body");
}

static json_t *encode(const registry_model *m, const float *y, int top_k)
{
    (void)top_k;
    const int n = (int)y[0];
    int32_t ids[4096];
    if (n < 0 || n > 4096)
        return NULL;
    for (int i = 0; i < n; i++)
        ids[i] = (int32_t)y[3 + i];
    char *text = NULL;
    glia_err err = {0};
    if (glia_bpe_decode(m->bundle.bpe, ids, (size_t)n, &text, NULL, &err) != GLIA_OK)
        return NULL;
    json_t *out = json_pack("{s:s, s:i}", "translation", text, "tokens", n);
    if (out && y[1] == 0.0f) /* stopped by max_tokens, not by </s> */
        json_object_set_new(out, "truncated", json_true());
    free(text);
    return out;
}

/* "beam_size" and "max_tokens" over the defaults to_row wrote. */
static int options(const registry_model *m, const json_t *body, float *rows, int n, problem *p)
{
    const glia_manifest *man = &m->bundle.manifest;
    int beam = man->decoding.beam_size, max_tokens = man->decoding.max_tokens;
    const json_t *b = json_object_get(body, "beam_size"), *t = json_object_get(body, "max_tokens");
    if (!b && !t)
        return 0;
    if (b) {
        if (!json_is_integer(b) || json_integer_value(b) < 1 ||
            json_integer_value(b) > CODEC_TRANSLATE_MAX_BEAM)
            return problem_set(p, 400, "\"beam_size\" must be an integer from 1 to %d",
                               CODEC_TRANSLATE_MAX_BEAM);
        beam = (int)json_integer_value(b);
    }
    if (t) {
        const int limit = man->s2s.max_positions - 1;
        if (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > limit)
            return problem_set(p, 400, "\"max_tokens\" must be an integer from 1 to %d", limit);
        max_tokens = (int)json_integer_value(t);
    }
    for (int i = 0; i < n; i++) {
        rows[(size_t)i * m->in_floats + 1] = (float)beam;
        rows[(size_t)i * m->in_floats + 2] = (float)max_tokens;
    }
    return 0;
}

const codec codec_translate = {"translation", decode_json, decode_raw, encode, options};
