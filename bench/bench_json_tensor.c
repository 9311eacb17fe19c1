/*
 * bench_json_tensor.c - what an OIP v2 request body costs to take apart before the model
 * sees it: Jansson parsing the body (the parser gliad uses, with gliad's flags) and turning
 * inputs[0].data into float32, or, for a binary-extension body, parsing only the JSON
 * header and copying the raw tensor bytes that follow it. Prints one JSON line (medians of
 * --runs timings, microseconds per body); bench/oip_binary.py sets it next to the model's
 * own time per image.
 *
 *   bench_json_tensor BODY_FILE [--header-length N] [--runs N]
 *
 * It measures Jansson and a conversion loop, not gliad's routes: the point is the cost of
 * the representation (784 numbers as text against 3136 bytes), which no route can avoid.
 */
#include "bench/bench_util.h"
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file in a malloc'd buffer; NULL when it cannot be read. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto fail;
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        goto fail;
    *len = (size_t)n;
    fclose(f);
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

/* One body taken apart: the number of float32 values it gave, or -1. */
static long take_apart(const char *body, size_t len, size_t header_len, float *out, size_t cap)
{
    json_error_t jerr;
    long n = -1;
    json_t *root = json_loadb(body, header_len ? header_len : len, 0, &jerr);
    json_t *tensor = json_array_get(json_object_get(root, "inputs"), 0);
    if (!tensor)
        goto done;
    if (header_len) { /* the raw little-endian float32 bytes after the header */
        size_t bytes = len - header_len;
        if (bytes % sizeof(float) || bytes / sizeof(float) > cap)
            goto done;
        memcpy(out, body + header_len, bytes);
        n = (long)(bytes / sizeof(float));
        goto done;
    }
    json_t *data = json_object_get(tensor, "data");
    size_t count = json_array_size(data);
    if (count > cap)
        goto done;
    for (size_t i = 0; i < count; i++) {
        json_t *v = json_array_get(data, i);
        float f = (float)json_number_value(v);
        if (!json_is_number(v) || !isfinite(f))
            goto done;
        out[i] = f;
    }
    n = (long)count;
done:
    json_decref(root);
    return n;
}

int main(int argc, char **argv)
{
    size_t header_len = 0, len = 0;
    int runs = 2000;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_json_tensor BODY_FILE [--header-length N] [--runs N]\n");
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--header-length") == 0)
            header_len = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
    }
    char *body = read_file(argv[1], &len);
    enum { CAP = 1 << 20 };
    float *out = malloc(sizeof(float) * CAP);
    double *t = malloc(sizeof(double) * (size_t)(runs > 0 ? runs : 1));
    int rc = 1;
    if (!body || !out || !t || runs < 1 || header_len > len) {
        fprintf(stderr, "bench_json_tensor: cannot read %s, or bad options\n", argv[1]);
        goto done;
    }
    long n = take_apart(body, len, header_len, out, CAP);
    if (n < 0) {
        fprintf(stderr, "bench_json_tensor: %s holds no inputs[0] tensor this can take apart\n", argv[1]);
        goto done;
    }
    for (int i = 0; i < runs; i++) {
        double t0 = bench_now();
        take_apart(body, len, header_len, out, CAP);
        t[i] = bench_now() - t0;
    }
    printf("{\"bytes\": %zu, \"values\": %ld, \"median_us\": %.3f}\n", len, n, bench_median(t, runs) * 1e6);
    rc = 0;
done:
    free(body);
    free(out);
    free(t);
    return rc;
}
