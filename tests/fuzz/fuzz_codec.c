/*
 * fuzz_codec.c - one task's codec (FUZZ_MODEL, a shipped model, chooses it; meson builds this
 * file once per task: fuzz_codec_image, fuzz_codec_text, fuzz_codec_translate). The first
 * byte chooses what the rest is:
 *   0  a JSON body: each element of its "inputs" (or of the body, when it is an array)
 *      decoded as /v1 and /v2 decode an input, then the task's options over the body
 *   1  a raw body (/v1/models/{name}/predict) with a Content-Type the second byte picks
 *   2  a model's answer encoded: logits (classes) or token ids (a sequence) from the bytes,
 *      a model's output being anything its weights make
 */
#include <jansson.h>
#include <string.h>

#include "daemon/codec.h"
#include "daemon/workq.h"
#include "tests/fuzz/fuzz_support.h"

enum { MAX_INPUTS = 64 };

static void decode_body(registry_model *m, const codec *c, const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    json_t *inputs = json_is_array(body) ? body : json_object_get(body, "inputs");
    size_t n = json_array_size(inputs);
    if (n < 1 || n > MAX_INPUTS) {
        json_decref(body);
        return;
    }
    workq_item it = {.model = m};
    glia_err err = {0};
    problem p = {0};
    if (workq_item_inputs(&it, (int)n, &err) == GLIA_OK) {
        int bad = 0;
        for (size_t i = 0; i < n && !bad; i++)
            bad = c->decode_json(m, json_array_get(inputs, i), i, &it.in, &p) != 0;
        if (!bad && c->options)
            c->options(m, body, &it.in.decode, &p);
    }
    workq_item_release(&it);
    json_decref(body);
}

static void decode_raw(registry_model *m, const codec *c, const uint8_t *data, size_t size)
{
    static const char *const types[] = {"image/png",
                                        "image/x-portable-graymap",
                                        "text/plain",
                                        "text/plain; charset=utf-8",
                                        "application/octet-stream",
                                        "image/jpeg",
                                        NULL};
    if (size < 1)
        return;
    workq_item it = {.model = m};
    glia_err err = {0};
    problem p = {0};
    if (workq_item_inputs(&it, 1, &err) == GLIA_OK)
        c->decode_raw(m, types[data[0] % 7], data + 1, size - 1, &it.in, &p);
    workq_item_release(&it);
}

static void encode(registry_model *m, const codec *c, const uint8_t *data, size_t size)
{
    const glia_model *net = m->bundle.model;
    float logits[64];
    int32_t ids[64];
    json_t *out = NULL;
    if (net->ops->output == GLIA_OUTPUT_SEQUENCE) {
        int n = (int)(size / 2 < 64 ? size / 2 : 64);
        for (int i = 0; i < n; i++)
            ids[i] = (int32_t)(data[2 * i] | data[2 * i + 1] << 8);
        glia_sequence seq = {.ids = ids, .n = n, .score = 0.0, .finished = n % 2};
        out = c->encode(m, NULL, &seq, 1);
    } else if (net->outputs <= 64 && size >= (size_t)net->outputs * sizeof(float) + 1) {
        /* any float a model can give, NaN and infinities included */
        memcpy(logits, data + 1, (size_t)net->outputs * sizeof(float));
        out = c->encode(m, logits, NULL, 1 + data[0] % net->outputs);
    }
    json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    registry_model *m = fuzz_model(FUZZ_MODEL);
    const codec *c = codec_for(m);
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0: decode_body(m, c, data + 1, size - 1); break;
    case 1: decode_raw(m, c, data + 1, size - 1); break;
    default: encode(m, c, data + 1, size - 1); break;
    }
    return 0;
}
