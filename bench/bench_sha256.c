/*
 * bench_sha256.c - how long the weights' digest takes: glia_sha256_file on one file, N times,
 * median printed. The daemon computes this digest at every model load and reload (issue 14
 * moved it from a hand-written loop to GnuTLS), so its cost is load latency users wait for.
 *
 *   bench_sha256 FILE [RUNS]    (default 5 runs)
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench_util.h"
#include "core/model/bundle.h"

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: bench_sha256 FILE [RUNS]\n");
        return 2;
    }
    const int runs = argc == 3 ? atoi(argv[2]) : 5;
    if (runs < 1 || runs > 1000) {
        fprintf(stderr, "bench_sha256: RUNS must be 1..1000\n");
        return 2;
    }
    double *ms = malloc(sizeof *ms * (size_t)runs);
    if (!ms)
        return 1;
    char hex[65];
    glia_err err = {0};
    for (int i = 0; i < runs; i++) {
        const double t0 = bench_now();
        if (glia_sha256_file(argv[1], hex, &err) != GLIA_OK) {
            fprintf(stderr, "bench_sha256: %s\n", err.msg);
            free(ms);
            return 1;
        }
        ms[i] = (bench_now() - t0) * 1e3;
    }
    printf("%s  %s\nsha256: median %.1f ms over %d runs\n", hex, argv[1], bench_median(ms, runs), runs);
    free(ms);
    return 0;
}
