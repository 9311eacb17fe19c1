/*
 * fuzz_predict.c - request bodies of the inference routes, sent to a real gliad front on a
 * loopback port with a well-formed head, so that the fuzzer spends its time on the body. The
 * first byte chooses the route and Content-Type: POST /v1/predict (JSON, "model" in the
 * body), POST /v1/models/{name}/predict (JSON or raw image/text) and POST
 * /v2/models/{name}/infer (OIP v2), for the image and the text model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_support.h"

static const struct {
    const char *path, *type;
} targets[] = {
    {"/v1/predict", "application/json"},
    {"/v1/models/fashion-cnn/predict", "application/json"},
    {"/v1/models/sentiment-lstm/predict", "application/json"},
    {"/v1/models/fashion-cnn/predict", "image/png"},
    {"/v1/models/fashion-cnn/predict", "image/x-portable-graymap"},
    {"/v1/models/sentiment-lstm/predict", "text/plain; charset=utf-8"},
    {"/v2/models/fashion-cnn/infer", "application/json"},
    {"/v2/models/sentiment-lstm/infer", "application/json"},
    {"/v1/models/fashion-cnn/predict", "image/jpeg"},
};
enum { NTARGETS = sizeof targets / sizeof targets[0] };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const size_t body = size - 1;
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: fuzz\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     targets[data[0] % NTARGETS].path, targets[data[0] % NTARGETS].type, body);
    uint8_t *req = malloc((size_t)n + body);
    if (!req)
        return 0;
    memcpy(req, head, (size_t)n);
    memcpy(req + n, data + 1, body);
    fuzz_http(req, (size_t)n + body);
    free(req);
    return 0;
}
