/*
 * bench_cnn.c - in-process speed of a CNN bundle: latency at batch 1 (one thread, as
 * one gliad worker answers one request), throughput at batch 64 and training images/s
 * (the real trainer, Adam, batch 64) with the batch split over --threads, peak RSS. Prints one JSON line
 * (bench/cnn.py puts it next to PyTorch's figures from the same run).
 *
 *   bench_cnn BUNDLE_DIR [--threads N] [--runs N]
 *
 * Inputs are random (the speed of these kernels does not depend on the values);
 * every figure is a median over repeated timings, per the house rule for noisy
 * shared machines.
 */
#include "bench/bench_util.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/model/bundle.h"
#include "core/nn/net.h"
#include "core/base/pool.h"
#include "core/train/imagetrain.h"
#include "core/train/trainer.h"

typedef struct {
    const glia_net *net;
    glia_ctx **ctx;
    const float *x;
    size_t in;
    int batch, lanes;
} infer_job;

/* Lane i runs its share of the batch, as gliad's workers will. */
static void infer_lane(void *arg, int i)
{
    infer_job *j = arg;
    int lo = j->batch * i / j->lanes, hi = j->batch * (i + 1) / j->lanes;
    if (hi > lo)
        glia_net_forward(j->net, j->ctx[i], j->x + (size_t)lo * j->in, hi - lo, NULL);
}

static int progress(const glia_progress *p, void *user)
{
    *(double *)user = p->samples_per_second;
    return 0;
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
    if (threads < 1 || threads > 16 || runs < 1) {
        fprintf(stderr, "bench_cnn: --threads 1..16, --runs >= 1\n");
        return 2;
    }
    /* glia's threads split batches; each calls a single-threaded BLAS */
#ifdef HAVE_OPENBLAS_THREADS
    openblas_set_num_threads(1);
#endif
    if (glia_bundle_load(argv[1], &b, &err)) {
        fprintf(stderr, "bench_cnn: %s\n", err.msg);
        return 1;
    }
    glia_net *net = b.model->impl; /* a benchmark of this family's kernels */
    const int big = 64, k = net->output.c, steps = 40;
    size_t in = glia_shape3_size(net->input);
    glia_dataset ds = {0};
    ds.n = (size_t)big * steps;
    ds.shape = net->input;
    ds.nclasses = k;
    ds.owned = 1;
    ds.x = malloc(sizeof(float) * in * ds.n);
    ds.y = malloc(sizeof(int32_t) * ds.n);
    glia_rng rng;
    glia_rng_seed(&rng, 7);
    for (size_t i = 0; i < in * ds.n; i++)
        ds.x[i] = glia_rng_normal(&rng);
    for (size_t i = 0; i < ds.n; i++)
        ds.y[i] = (int32_t)glia_rng_below(&rng, (uint64_t)k);
    const float *x = ds.x;

    glia_ctx *c1 = NULL, *cl[16] = {0};
    glia_pool *pool = NULL;
    int lane_batch = (big + threads - 1) / threads;
    if (glia_ctx_new(net, 1, 0, &c1, &err) || glia_pool_new(threads, &pool, &err)) {
        fprintf(stderr, "bench_cnn: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < threads; i++)
        if (glia_ctx_new(net, lane_batch, 0, &cl[i], &err)) {
            fprintf(stderr, "bench_cnn: %s\n", err.msg);
            return 1;
        }

    /* batch 1 latency: one request on one worker */
    double *t = malloc(sizeof(double) * (size_t)(runs > 100 ? runs : 100));
    for (int i = 0; i < 50; i++)
        glia_net_forward(net, c1, x, 1, NULL);
    for (int i = 0; i < runs; i++) {
        double t0 = bench_now();
        glia_net_forward(net, c1, x + (size_t)(i % big) * in, 1, NULL);
        t[i] = bench_now() - t0;
    }
    double lat1 = bench_median(t, runs);

    /* batch 64 throughput, split over the threads */
    int reps = 30;
    infer_job job = {net, cl, x, in, big, threads};
    for (int i = 0; i < 3; i++)
        glia_pool_run(pool, infer_lane, &job);
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        glia_pool_run(pool, infer_lane, &job);
        t[i] = bench_now() - t0;
    }
    double thr64 = big / bench_median(t, reps);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_infer = ru.ru_maxrss / 1024.0;

    /* training: the real trainer (forward, loss, backward, Adam) over `steps` batches
     * of 64, one epoch; images/s as the trainer reports it */
    glia_recipe r;
    memset(&r, 0, sizeof r);
    r.seed = 1;
    r.epochs = 1;
    r.batch = (glia_batch_config){GLIA_BATCH_FIXED, big, big, big, 2.0f, 1, 0.0f};
    glia_optim_defaults(GLIA_OPTIM_ADAM, &r.optim);
    r.sched =
        (glia_sched_config){.kind = GLIA_SCHED_CONSTANT, .base_lr = r.optim.lr, .step_size = 1, .gamma = 1};
    r.workers = threads;
    double train = 0;
    glia_train_result res;
    double trains[3];
    glia_model *model = NULL; /* the bundle's architecture, trained through the model interface */
    if (glia_model_new(&b.manifest, &model, &err)) {
        fprintf(stderr, "bench_cnn: %s\n", err.msg);
        return 1;
    }
    for (int rep = 0; rep < 3; rep++) {
        if (glia_train(&r, model, rep > 0, &ds, NULL, progress, &train, NULL, &res, &err)) {
            fprintf(stderr, "bench_cnn: %s\n", err.msg);
            return 1;
        }
        trains[rep] = train;
    }
    train = bench_median(trains, 3);
    getrusage(RUSAGE_SELF, &ru);

    printf("{\"impl\": \"glia\", \"threads\": %d, \"latency_b1_ms\": %.4f, \"throughput_b64\": %.1f, "
           "\"train_images_per_s\": %.1f, \"peak_rss_inference_mb\": %.1f, \"peak_rss_mb\": %.1f, "
           "\"coretype\": \"%s\"}\n",
           threads, lat1 * 1e3, thr64, train, rss_infer, ru.ru_maxrss / 1024.0,
#ifdef HAVE_OPENBLAS_THREADS
           openblas_get_corename()
#else
           "unknown"
#endif
    );
    free(t);
    glia_dataset_free(&ds);
    glia_ctx_free(c1);
    for (int i = 0; i < threads; i++)
        glia_ctx_free(cl[i]);
    glia_pool_free(pool);
    glia_model_free(model);
    glia_bundle_free(&b);
    return 0;
}
