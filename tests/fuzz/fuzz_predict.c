/*
 * fuzz_predict.c - request bodies of the inference routes, sent to a real gliad front on a
 * loopback port with a well-formed head, so that the fuzzer spends its time on the body. The
 * first byte chooses the route and Content-Type: POST /v1/predict (JSON, "model" in the
 * body), POST /v1/models/{name}/predict (JSON or raw image/text) and POST
 * /v2/models/{name}/infer (OIP v2), for the image and the text model; and OIP v2's binary
 * form, where the next two bytes (little-endian) are Inference-Header-Content-Length: the
 * JSON header's length, the binary tensor data after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_support.h"

static const struct {
    const char *path, *type;
    int binary; /* OIP v2's binary tensor data: two bytes of header length first */
} targets[] = {
    {"/v1/predict", "application/json", 0},
    {"/v1/models/fashion-cnn/predict", "application/json", 0},
    {"/v1/models/sentiment-lstm/predict", "application/json", 0},
    {"/v1/models/fashion-cnn/predict", "image/png", 0},
    {"/v1/models/fashion-cnn/predict", "image/x-portable-graymap", 0},
    {"/v1/models/sentiment-lstm/predict", "text/plain; charset=utf-8", 0},
    {"/v2/models/fashion-cnn/infer", "application/json", 0},
    {"/v2/models/sentiment-lstm/infer", "application/json", 0},
    {"/v2/models/fashion-cnn/infer", "application/octet-stream", 1},
    {"/v2/models/sentiment-lstm/infer", "application/octet-stream", 1},
};
enum { NTARGETS = sizeof targets / sizeof targets[0] };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const int t = data[0] % NTARGETS, skip = targets[t].binary ? 3 : 1;
    if (size < (size_t)skip)
        return 0;
    const size_t body = size - (size_t)skip;
    char head[512], binary[64] = "";
    if (targets[t].binary)
        snprintf(binary, sizeof binary, "Inference-Header-Content-Length: %u\r\n",
                 (unsigned)data[1] | (unsigned)data[2] << 8);
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: fuzz\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "%sConnection: close\r\n\r\n",
                     targets[t].path, targets[t].type, body, binary);
    uint8_t *req = malloc((size_t)n + body);
    if (!req)
        return 0;
    memcpy(req, head, (size_t)n);
    memcpy(req + n, data + skip, body);
    fuzz_http(req, (size_t)n + body);
    free(req);
    return 0;
}
