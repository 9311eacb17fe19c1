/*
 * codec_translate.c - the translation codec (see codec.h): inputs are JSON strings (or
 * {"text": "..."}), or a text/plain body; each output is
 *   {"translation": "No se puede abrir el fichero", "tokens": 6}
 * where tokens counts the output's subword tokens (</s> not included).
 *
 * An input is the source's subword ids ending in </s>; the request's search settings are the
 * manifest's decoding defaults, which a JSON request's "beam_size", "max_tokens",
 * "length_penalty" and "no_repeat_ngram" replace (the codec's options). Limits, stated in
 * api-spec/openapi.yaml: an empty or all-white-space string is 422, invalid UTF-8 is 400 inside JSON (jansson
 * refuses it) and 422 in text/plain, a text over CODEC_TRANSLATE_MAX_BYTES is 413 and one over the manifest's
 * input.max_tokens subword tokens is 422 (a translation of half a sentence is worse than an error).
 */
#include "daemon/codec.h"
#include "core/nn/seq2seq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CODEC_TRANSLATE_MAX_BYTES = 16 * 1024 };

/* One text -> input index of in: its subword ids ending in </s>; refused when too long. */
static int to_input(const registry_model *m, const char *text, size_t len, workq_input *in, size_t index,
                    problem *p, const char *what)
{
    const int max = in->stride;
    int n = 0, total = 0;
    glia_err err = {0};
    if (len > CODEC_TRANSLATE_MAX_BYTES)
        return problem_set(p, 413, "%s is %zu bytes; a text to translate may be at most %d bytes", what, len,
                           CODEC_TRANSLATE_MAX_BYTES);
    glia_status rc = glia_tokenizer_encode(m->bundle.tokenizer, text, len, max, in->ids + index * (size_t)max,
                                           &n, &total, &err);
    if (rc == GLIA_EFORMAT)
        return problem_set(p, 422, "%s is not valid UTF-8 (%s)", what, err.msg);
    if (rc != GLIA_OK)
        return problem_set(p, 422, "%s is empty: send a sentence to translate", what);
    if (total > max)
        return problem_set(p, 422,
                           "%s is %d subword tokens long; this model translates at most %d (input.max_tokens "
                           "in its manifest): split the text into sentences",
                           what, total - 1, max - 1);
    in->lengths[index] = n;
    return 0;
}

static int decode_json(const registry_model *m, const json_t *input, size_t index, workq_input *in,
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
        return problem_set(p, 400,
                           "%s must be a string (the English text to translate) or {\"text\": string}", what);
    return to_input(m, json_string_value(s), json_string_length(s), in, index, p, what);
}

static int decode_raw(const registry_model *m, const char *content_type, const void *body, size_t len,
                      workq_input *in, problem *p)
{
    if (!content_type || strncmp(content_type, "text/plain", 10) != 0)
        return problem_set(p, 415, "send application/json or text/plain (got %s)",
                           content_type ? content_type : "no Content-Type");
    return to_input(m, body ? body : "", len, in, 0, p, "the request body");
}

static json_t *encode(const registry_model *m, const float *logits, const glia_sequence *seq, int top_k)
{
    (void)logits;
    (void)top_k;
    char *text = NULL;
    glia_err err = {0};
    if (glia_tokenizer_decode_translation(m->bundle.tokenizer, seq->src, seq->src_n, seq->ids, seq->n, &text,
                                          NULL, &err) != GLIA_OK)
        return NULL;
    json_t *out = json_pack("{s:s, s:i}", "translation", text, "tokens", seq->n);
    if (out && !seq->finished) /* stopped by max_tokens, not by </s> */
        json_object_set_new(out, "truncated", json_true());
    free(text);
    return out;
}

/* OIP: the translations as BYTES [N], their lengths INT32 [N]. */
static json_t *v2_outputs(const registry_model *m, const workq_output *out, int n)
{
    json_t *texts = json_array(), *tokens = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = encode(m, NULL, &out->seqs[i], 1);
        if (!o) {
            json_decref(texts);
            json_decref(tokens);
            return NULL;
        }
        json_array_append(texts, json_object_get(o, "translation"));
        json_array_append(tokens, json_object_get(o, "tokens"));
        json_decref(o);
    }
    return json_pack("[{s:s, s:[i], s:s, s:o}, {s:s, s:[i], s:s, s:o}]", "name", "translation", "shape", n,
                     "datatype", "BYTES", "data", texts, "name", "tokens", "shape", n, "datatype", "INT32",
                     "data", tokens);
}

const char *const codec_decode_fields[] = {"beam_size", "max_tokens", "length_penalty", "no_repeat_ngram",
                                           NULL};

const char *codec_decode_field_in(const json_t *obj)
{
    for (int i = 0; obj && codec_decode_fields[i]; i++)
        if (json_object_get(obj, codec_decode_fields[i]))
            return codec_decode_fields[i];
    return NULL;
}

/* The search settings a request names, over the defaults in decode; decode changes only when
 * all of them are valid. */
static int options(const registry_model *m, const json_t *body, glia_decode_opts *decode, problem *p)
{
    const glia_manifest *man = &m->bundle.manifest;
    glia_decode_opts d = *decode;
    if (problem_int_field(body, "beam_size", 1, CODEC_TRANSLATE_MAX_BEAM, &d.beam_size, p) ||
        problem_int_field(body, "max_tokens", 1, man->s2s.max_positions - 1, &d.max_tokens, p) ||
        problem_int_field(body, "no_repeat_ngram", 0, GLIA_S2S_MAX_NGRAM, &d.no_repeat_ngram, p))
        return -1;
    const json_t *lp = json_object_get(body, "length_penalty");
    if (lp) {
        /* JSON has one number type: 1 and 1.0 are both a valid alpha */
        const double a = json_is_number(lp) ? json_number_value(lp) : -1.0;
        if (!json_is_number(lp) || !(a >= 0.0 && a <= 10.0))
            return problem_set(p, 400, "\"length_penalty\" must be a number from 0 to 10 (GNMT's alpha)");
        d.length_penalty = (float)a;
    }
    *decode = d;
    return 0;
}

/* Raw source ids: the subwords of a sentence, which end in </s> as the tokenizer's do; a row
 * without it gets it appended, so a client may send the pieces alone. */
static int decode_ids(const registry_model *m, const int64_t *ids, int t, size_t index, workq_input *in,
                      problem *p)
{
    int n = 0;
    if (codec_ids_row(m, ids, t, in->stride, index, in, &n, p))
        return -1;
    int32_t *row = in->ids + index * (size_t)in->stride;
    if (row[n - 1] != GLIA_BPE_EOS) {
        if (n == in->stride)
            return problem_set(
                p, 400,
                "row %zu has %d token ids and no </s> (id %d); this model translates at most %d "
                "subword tokens (input.max_tokens in its manifest) plus </s>",
                index, n, GLIA_BPE_EOS, in->stride - 1);
        row[n++] = GLIA_BPE_EOS;
    }
    in->lengths[index] = n;
    return 0;
}

const codec codec_translate = {"translation", decode_json, decode_raw, encode,
                               options,       v2_outputs,  decode_ids};
