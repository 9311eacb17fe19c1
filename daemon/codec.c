/*
 * codec.c - see codec.h. The image-classification codec: inputs are {"image": BASE64}
 * (PNG, JPEG or PGM up to limits.max_pixels, as its header says; a worker decodes it, converts it
 * to gray, resizes and normalises it exactly as `glia predict` does) or {"tensor": {"shape":
 * [C, H, W], "data": [...]}} (the network's input, already preprocessed); outputs are the
 * label, its probability and the top k.
 */
#include "daemon/codec.h"
#include "core/base/jsonnum.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/image/image.h"
#include "core/nn/kernels.h"

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

char *codec_base64_encode(const unsigned char *bytes, size_t len)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        const unsigned v = (unsigned)bytes[i] << 16 | (i + 1 < len ? (unsigned)bytes[i + 1] << 8 : 0u) |
                           (i + 2 < len ? bytes[i + 2] : 0u);
        out[o++] = digits[v >> 18 & 63];
        out[o++] = digits[v >> 12 & 63];
        out[o++] = i + 1 < len ? digits[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? digits[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

unsigned char *codec_base64_decode(const char *text, size_t len, size_t *out_len)
{
    while (len > 0 && text[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return NULL;
    unsigned char *out = malloc(len / 4 * 3 + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)text[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out_len = o;
    return out;
}

/* ---- image classification ---- */

/* On a worker: an encoded image decoded, converted to gray, resized and normalised into x. */
static int image_prepare(const registry_model *m, const unsigned char *raw, size_t len, float *x,
                         const char *what, char *msg, size_t cap)
{
    glia_err err = {0};
    glia_image img = {0};
    glia_status rc = glia_image_decode(raw, len, &img, &err);
    if (rc != GLIA_OK) {
        snprintf(msg, cap, "%s is not a decodable PNG, JPEG or PGM image: %s", what, err.msg);
        return -1;
    }
    rc = glia_bundle_image_input(&m->bundle.manifest, &img, x, &err);
    glia_image_free(&img);
    if (rc != GLIA_OK) {
        snprintf(msg, cap, "%s: %s", what, err.msg);
        return -1;
    }
    return 0;
}

/* An encoded image -> input index of in, kept encoded for a worker to decode (image_prepare):
 * here only its header is read, and its size checked against in->max_pixels and, with the
 * images before it, in->max_request_pixels, so that a decompression bomb costs nothing. */
static int image_from_bytes(const void *buf, size_t len, workq_input *in, size_t index, problem *p,
                            const char *what)
{
    glia_err err = {0};
    long w = 0, h = 0;
    if (glia_image_size(buf, len, &w, &h, &err) != GLIA_OK)
        return problem_set(p, 422, "%s is not a decodable PNG, JPEG or PGM image: %s", what, err.msg);
    if (in->max_pixels > 0 && w * h > in->max_pixels)
        return problem_set(p, 413,
                           "%s is a %ld x %ld image (%ld pixels); limits.max_pixels is %ld: send a smaller "
                           "image",
                           what, w, h, w * h, in->max_pixels);
    if (in->max_request_pixels > 0 && in->pixels + w * h > in->max_request_pixels)
        return problem_set(p, 413,
                           "with %s the request's images hold %ld pixels; limits.max_request_pixels is %ld: "
                           "send fewer or smaller images per request",
                           what, in->pixels + w * h, in->max_request_pixels);
    if (workq_input_keep_raw(in, (int)index, buf, len, image_prepare, &err) != GLIA_OK)
        return problem_set(p, 503, "%s", err.msg);
    in->pixels += w * h;
    return 0;
}

static int image_decode_json(const registry_model *m, const json_t *input, size_t index, workq_input *in,
                             problem *p)
{
    const size_t size = m->bundle.model->input_size;
    float *out = in->x + index * size;
    char what[64];
    snprintf(what, sizeof what, "inputs[%zu]", index);
    if (!json_is_object(input))
        return problem_set(p, 400, "%s must be an object with \"image\" (base64 PNG/JPEG/PGM) or \"tensor\"",
                           what);
    const json_t *image = json_object_get(input, "image"), *tensor = json_object_get(input, "tensor");
    if ((image != NULL) == (tensor != NULL))
        return problem_set(
            p, 400, "%s must have exactly one of \"image\" (base64 PNG/JPEG/PGM) and \"tensor\"", what);
    if (image) {
        if (!json_is_string(image))
            return problem_set(p, 400, "%s.image must be a base64 string", what);
        size_t n = 0;
        unsigned char *bytes = codec_base64_decode(json_string_value(image), json_string_length(image), &n);
        if (!bytes)
            return problem_set(p, 400, "%s.image is not valid base64", what);
        int rc = image_from_bytes(bytes, n, in, index, p, what);
        free(bytes);
        return rc;
    }
    const glia_shape3 s = m->bundle.manifest.input;
    const json_t *shape = json_object_get(tensor, "shape"), *data = json_object_get(tensor, "data");
    if (!json_is_object(tensor) || !json_is_array(shape) || !json_is_array(data))
        return problem_set(p, 400, "%s.tensor must be {\"shape\": [%d, %d, %d], \"data\": [numbers]}", what,
                           s.c, s.h, s.w);
    long want[3] = {s.c, s.h, s.w};
    size_t nd = json_array_size(shape), skip = nd == 4 ? 1 : 0;
    int ok = nd == 3 || (nd == 4 && json_integer_value(json_array_get(shape, 0)) == 1 &&
                         json_is_integer(json_array_get(shape, 0)));
    for (size_t i = 0; ok && i < 3; i++) {
        const json_t *d = json_array_get(shape, i + skip);
        ok = json_is_integer(d) && json_integer_value(d) == want[i];
    }
    if (!ok)
        return problem_set(p, 400, "%s.tensor.shape must be [%d, %d, %d] for model %s", what, s.c, s.h, s.w,
                           m->name);
    if (json_array_size(data) != size)
        return problem_set(p, 400, "%s.tensor.data has %zu numbers; shape [%d, %d, %d] needs %zu", what,
                           json_array_size(data), s.c, s.h, s.w, size);
    for (size_t i = 0; i < size; i++) {
        const json_t *v = json_array_get(data, i);
        if (!json_is_number(v))
            return problem_set(p, 400, "%s.tensor.data[%zu] is not a number", what, i);
        if (codec_float32(json_number_value(v), &out[i]))
            return problem_set(p, 400,
                               "%s.tensor.data[%zu] is %g, not a finite float32 (" CODEC_FLOAT32_RANGE ")",
                               what, i, json_number_value(v));
    }
    in->pixels += (long)size;
    return 0;
}

int codec_float32(double d, float *out)
{
    const float f = (float)d;
    if (!isfinite(f))
        return -1;
    *out = f;
    return 0;
}

static int image_decode_raw(const registry_model *m, const char *content_type, const void *body, size_t len,
                            workq_input *in, problem *p)
{
    /* The type only admits the body; the decoder goes by the magic bytes, as for base64 images. */
    if (!content_type ||
        (strncmp(content_type, "image/png", 9) != 0 && strncmp(content_type, "image/jpeg", 10) != 0 &&
         strncmp(content_type, "image/x-portable-graymap", 24) != 0))
        return problem_set(
            p, 415, "send application/json, image/png, image/jpeg or image/x-portable-graymap (got %s)",
            content_type ? content_type : "no Content-Type");
    return image_from_bytes(body, len, in, 0, p, "the request body");
}

static json_t *image_encode(const registry_model *m, const float *y, const glia_sequence *seq, int top_k)
{
    (void)seq;
    const int k = m->bundle.model->outputs;
    float prob[4096];
    int order[4096];
    if (k > 4096)
        return NULL;
    glia_softmax(y, prob, 1, k);
    for (int i = 0; i < k; i++)
        order[i] = i;
    if (top_k > k)
        top_k = k;
    /* partial selection sort: k is small (10 for Fashion-MNIST) */
    for (int i = 0; i < top_k; i++)
        for (int j = i + 1; j < k; j++)
            if (prob[order[j]] > prob[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    const glia_manifest *man = &m->bundle.manifest;
    json_t *top = json_array();
    char fallback[32];
    for (int i = 0; i < top_k; i++) {
        snprintf(fallback, sizeof fallback, "%d", order[i]);
        const char *label = order[i] < man->nlabels ? man->labels[order[i]] : fallback;
        json_array_append_new(top, json_pack("{s:s, s:i, s:f}", "label", label, "index", order[i], "score",
                                             glia_json_f32(prob[order[i]])));
    }
    const char *best = order[0] < man->nlabels ? man->labels[order[0]] : "0";
    return json_pack("{s:s, s:i, s:f, s:o}", "label", best, "index", order[0], "score",
                     glia_json_f32(prob[order[0]]), "top_k", top);
}

json_t *codec_v2_probabilities(const registry_model *m, const workq_output *out, int n)
{
    const int k = m->bundle.model->outputs;
    float *prob = malloc(sizeof(float) * (size_t)k);
    json_t *data = prob ? json_array() : NULL;
    for (int i = 0; data && i < n; i++) {
        glia_softmax(out->logits + (size_t)i * (size_t)k, prob, 1, k);
        /* json_real refuses NaN: a value that cannot be encoded fails the answer, rather than
         * leaving a "data" array shorter than its "shape" says. */
        for (int j = 0; data && j < k; j++)
            if (json_array_append_new(data, json_real(glia_json_f32(prob[j])))) {
                json_decref(data);
                data = NULL;
            }
    }
    free(prob);
    return data ? json_pack("[{s:s, s:[i, i], s:s, s:o}]", "name", "probabilities", "shape", n, k, "datatype",
                            "FP32", "data", data)
                : NULL;
}

static const codec image_codec = {"image-classification",
                                  image_decode_json,
                                  image_decode_raw,
                                  image_encode,
                                  NULL,
                                  codec_v2_probabilities,
                                  NULL /* OIP v2 takes pixels and tensors, no token ids */};

const codec *codec_for(const registry_model *m)
{
    if (strcmp(m->bundle.manifest.task, image_codec.task) == 0)
        return &image_codec;
    if (strcmp(m->bundle.manifest.task, codec_text.task) == 0)
        return &codec_text;
    if (strcmp(m->bundle.manifest.task, codec_translate.task) == 0)
        return &codec_translate;
    return NULL;
}
