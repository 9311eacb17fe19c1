/*
 * codec.h - between JSON (or raw request bodies) and a model's typed inputs and outputs
 * (workq.h), one codec per task.
 *
 * Generic over tasks: the server asks codec_for(model) and calls its functions, so each task
 * plugs in here with its own decode/encode without touching the request path; the server
 * itself never names a task or a family. Every failure is a problem the client can act on: an HTTP
 * status (400 malformed, 415 media type, 422 undecodable content) and a sentence.
 * Codecs run on HTTP threads: they parse and encode, they never run a model; work that costs
 * (decoding an image) is left to a worker (workq_input_keep_raw) once its size is known to be
 * within the limits.
 */
#ifndef GLIAD_CODEC_H
#define GLIAD_CODEC_H

#include <jansson.h>
#include <stddef.h>

#include "daemon/problem.h"
#include "daemon/workq.h"

typedef struct {
    const char *task;
    /* One element of "inputs" -> input index of in (workq_item_inputs sized it). */
    int (*decode_json)(const registry_model *m, const json_t *input, size_t index, workq_input *in,
                       problem *p);
    /* A raw body (e.g. image/png) -> input 0 of in; -1 with 415 if the type is not taken. */
    int (*decode_raw)(const registry_model *m, const char *content_type, const void *body, size_t len,
                      workq_input *in, problem *p);
    /* One input's answer -> a JSON object: its logits row (classes) or its sequence; top_k >= 1. */
    json_t *(*encode)(const registry_model *m, const float *logits, const glia_sequence *seq, int top_k);
    /* The request's own settings (e.g. a translation's "beam_size") over the decode defaults
     * workq_item_inputs wrote; -1 with a 400 problem for a bad value. NULL: the task has none
     * (the server refuses such fields). */
    int (*options)(const registry_model *m, const json_t *body, glia_decode_opts *decode, problem *p);
    /* OIP v2: the "outputs" array of an answer of n inputs (NULL on OOM). */
    json_t *(*v2_outputs)(const registry_model *m, const workq_output *out, int n);
    /* OIP v2: a row of raw token ids ids[0..t) (0 = padding) -> input index of in; -1 with a
     * 400 problem (an id outside the vocabulary, no token, too many). NULL: the task takes no
     * token ids. */
    int (*decode_ids)(const registry_model *m, const int64_t *ids, int t, size_t index, workq_input *in,
                      problem *p);
} codec;

/* The translation codec (codec_translate.c); its options are "beam_size" (at most this),
 * "max_tokens", "length_penalty" and "no_repeat_ngram". */
enum { CODEC_TRANSLATE_MAX_BEAM = 16 };
extern const codec codec_translate;
/* Those options' names, NULL-terminated, and the first of them obj holds (NULL: none), for
 * routes that refuse them on a model without options. */
extern const char *const codec_decode_fields[];
const char *codec_decode_field_in(const json_t *obj);
#define CODEC_DECODE_FIELDS_TEXT "beam_size, max_tokens, length_penalty, no_repeat_ngram"

/* The text-classification codec (codec_text.c). */
extern const codec codec_text;

/* OIP v2 outputs of a classifier: one FP32 tensor "probabilities" [n, classes]. */
json_t *codec_v2_probabilities(const registry_model *m, const workq_output *out, int n);

/* For decode_ids (codec_ids.c): ids[0..t) copied into row index of in->ids, checked against the
 * model's vocabulary; *len gets the row's length (its last non-zero id, plus one), at most
 * room. 0, or -1 with a 400 problem naming inputs' row index. */
int codec_ids_row(const registry_model *m, const int64_t *ids, int t, int room, size_t index, workq_input *in,
                  int *len, problem *p);

/* d as a float32 in *out: 0, or -1 when it is not finite as a float32. JSON has no NaN, but
 * 1e39 is a valid JSON number that becomes inf as a float32, and a model fed inf answers NaN. */
int codec_float32(double d, float *out);
#define CODEC_FLOAT32_RANGE "float32 holds magnitudes up to 3.4e38"

/* The codec for a model's task, or NULL if gliad cannot serve that task. */
const codec *codec_for(const registry_model *m);

/* Standard base64 (RFC 4648, padding optional, whitespace refused). Returns a malloc'd
 * buffer and its length, or NULL if the text is not base64. */
unsigned char *codec_base64_decode(const char *text, size_t len, size_t *out_len);
/* Standard base64 with padding of bytes[0..len): a malloc'd NUL-terminated string, or NULL. */
char *codec_base64_encode(const unsigned char *bytes, size_t len);

#endif
