/*
 * bench_cnn.c - in-process speed of a CNN bundle: latency at batch 1, throughput at
 * batch 64, training images/s (Adam, batch 64) and peak RSS. Prints one JSON line
 * (bench/cnn.py puts it next to PyTorch's figures from the same run).
 *
 *   bench_cnn BUNDLE_DIR [--threads N] [--runs N]
 *
 * Inputs are random (the speed of these kernels does not depend on the values);
 * every figure is a median over repeated timings, per the house rule for noisy
 * shared machines.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/io/bundle.h"
#include "core/nn/loss.h"
#include "core/train/optim.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    glia_err err = {0};
    glia_bundle b;
    int threads = 1, runs = 1000;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_cnn BUNDLE_DIR [--threads N] [--runs N]\n");
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
    }
#ifdef HAVE_OPENBLAS_THREADS
    openblas_set_num_threads(threads);
#endif
    if (glia_bundle_load(argv[1], &b, &err)) {
        fprintf(stderr, "bench_cnn: %s\n", err.msg);
        return 1;
    }
    glia_net *net = b.net;
    const int big = 64, k = net->output.c;
    size_t in = glia_shape3_size(net->input);
    float *x = malloc(sizeof(float) * in * big), *dl = malloc(sizeof(float) * (size_t)k * big);
    int32_t *y = malloc(sizeof(int32_t) * big);
    glia_rng rng;
    glia_rng_seed(&rng, 7);
    for (size_t i = 0; i < in * big; i++)
        x[i] = glia_rng_normal(&rng);
    for (int i = 0; i < big; i++)
        y[i] = (int32_t)glia_rng_below(&rng, (uint64_t)k);

    glia_ctx *c1 = NULL, *c64 = NULL, *ct = NULL;
    glia_optim *opt = NULL;
    glia_optim_config oc;
    glia_optim_defaults(GLIA_OPTIM_ADAM, &oc);
    if (glia_ctx_new(net, 1, 0, &c1, &err) || glia_ctx_new(net, big, 0, &c64, &err) ||
        glia_net_enable_grads(net, &err) || glia_ctx_new(net, big, 1, &ct, &err) ||
        glia_optim_new(&oc, net->params, net->nparams, &opt, &err)) {
        fprintf(stderr, "bench_cnn: %s\n", err.msg);
        return 1;
    }

    /* batch 1 latency */
    double *t = malloc(sizeof(double) * (size_t)(runs > 100 ? runs : 100));
    for (int i = 0; i < 50; i++)
        glia_net_forward(net, c1, x, 1, NULL);
    for (int i = 0; i < runs; i++) {
        double t0 = now();
        glia_net_forward(net, c1, x + (size_t)(i % big) * in, 1, NULL);
        t[i] = now() - t0;
    }
    double lat1 = median(t, runs);

    /* batch 64 throughput */
    int reps = 30;
    for (int i = 0; i < 3; i++)
        glia_net_forward(net, c64, x, big, NULL);
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        glia_net_forward(net, c64, x, big, NULL);
        t[i] = now() - t0;
    }
    double thr64 = big / median(t, reps);

    /* training steps: forward, loss, backward, Adam */
    for (int i = 0; i < 3 + reps; i++) {
        double t0 = now();
        glia_net_zero_grads(net);
        const float *out = glia_net_forward(net, ct, x, big, &rng);
        glia_xent(out, y, big, k, 0.0f, -100, dl, NULL);
        glia_net_backward(net, ct, dl);
        glia_optim_step(opt, 1e-3f);
        if (i >= 3)
            t[i - 3] = now() - t0;
    }
    double train = big / median(t, reps);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\": \"glia\", \"threads\": %d, \"latency_b1_ms\": %.4f, \"throughput_b64\": %.1f, "
           "\"train_images_per_s\": %.1f, \"peak_rss_mb\": %.1f, \"coretype\": \"%s\"}\n",
           threads, lat1 * 1e3, thr64, train, ru.ru_maxrss / 1024.0,
#ifdef HAVE_OPENBLAS_THREADS
           openblas_get_corename()
#else
           "unknown"
#endif
    );
    free(t);
    free(x);
    free(dl);
    free(y);
    glia_optim_free(opt);
    glia_ctx_free(c1);
    glia_ctx_free(c64);
    glia_ctx_free(ct);
    glia_bundle_free(&b);
    return 0;
}
