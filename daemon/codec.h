/*
 * codec.h - between JSON (or raw request bodies) and the core's float tensors, per task.
 *
 * Generic over tasks: the server asks codec_for(model) and calls its functions, so the
 * sentiment and translation tasks plug in here with their own decode/encode without
 * touching the request path. Every failure is a problem the client can act on: an HTTP
 * status (400 malformed, 415 media type, 422 undecodable content) and a sentence.
 * Codecs run on HTTP threads: they decode and encode, they never run a model.
 */
#ifndef GLIAD_CODEC_H
#define GLIAD_CODEC_H

#include <jansson.h>
#include <stddef.h>

#include "daemon/problem.h"
#include "daemon/registry.h"

typedef struct {
    const char *task;
    /* One element of "inputs" -> in_floats floats at out. */
    int (*decode_json)(const registry_model *m, const json_t *input, size_t index, float *out, problem *p);
    /* A raw body (e.g. image/png) -> one input; -1 with 415 if the type is not taken. */
    int (*decode_raw)(const registry_model *m, const char *content_type, const void *body, size_t len,
                      float *out, problem *p);
    /* One sample's outputs (out_floats raw network outputs) -> a JSON object; top_k >= 1. */
    json_t *(*encode)(const registry_model *m, const float *y, int top_k);
    /* The request's own settings (e.g. a translation's "beam_size") applied to its n decoded
     * rows, which decode_* filled with the model's defaults; -1 with a 400 problem for a bad
     * value. NULL: the task has none (the server refuses such fields). */
    int (*options)(const registry_model *m, const json_t *body, float *rows, int n, problem *p);
} codec;

/* The translation codec (codec_translate.c); its options are "beam_size" (at most this)
 * and "max_tokens". */
enum { CODEC_TRANSLATE_MAX_BEAM = 16 };
extern const codec codec_translate;

/* The text-classification codec (codec_text.c). */
extern const codec codec_text;

/* The codec for a model's task, or NULL if gliad cannot serve that task. */
const codec *codec_for(const registry_model *m);

/* Standard base64 (RFC 4648, padding optional, whitespace refused). Returns a malloc'd
 * buffer and its length, or NULL if the text is not base64. */
unsigned char *codec_base64_decode(const char *text, size_t len, size_t *out_len);

#endif
