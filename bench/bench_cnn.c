/*
 * bench_cnn.c - in-process speed of a CNN bundle: latency at batch 1 (one thread, as
 * one gliad worker answers one request), throughput at batch 64 and training images/s
 * (the real trainer, Adam, batch 64) with the batch split over --threads, peak RSS. Prints one JSON line
 * (bench/cnn.py puts it next to PyTorch's figures from the same run).
 *
 *   bench_cnn BUNDLE_DIR [--threads N] [--runs N] [--input FILE] [--logits FILE] [--peak] [--layers]
 *             [--precision fp32|bf16] [--no-train]
 *
 * --precision runs inference in it (bench_precision.h; "precision" in the line says what
 * ran); --no-train skips the training figure (bench/precision.py times inference only).
 *
 * Inputs are random (the speed of these kernels does not depend on the values);
 * --input reads the first 64 images from FILE instead (raw float32, the model's input
 * shape), --logits writes glia's batch-64 logits of them there (raw float32), so
 * bench/cnn.py can give ONNX Runtime and PyTorch the same images and compare the answers.
 * --peak adds "sgemm_peak_gflops": the best of 20 single-threaded 512^3 sgemm calls (the best,
 * since a shared machine only ever slows a call down), the
 * machine's GEMM ceiling that cnn.py states the CNN's GFLOP/s against.
 * --no-train skips the training figure ("train_images_per_s" is 0): bench/serve_all.py needs only
 * the inference ones, several times a run.
 * --layers prints, instead of the figures above, each layer's forward time at batch 1 and 64
 * (one thread, median of many calls, a conv with the ReLU it runs counted as one) and its
 * GFLOP/s: where the time goes, without perf.
 * every figure is a median over repeated timings, per the house rule for noisy
 * shared machines.
 */
#include "bench/bench_precision.h"
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

/* --input: exactly n floats from a raw float32 file. */
static int read_floats(const char *path, float *x, size_t n)
{
    FILE *f = fopen(path, "rb");
    int rc = 1;
    if (!f) {
        fprintf(stderr, "bench_cnn: cannot open %s\n", path);
        return 1;
    }
    if (fread(x, sizeof *x, n, f) != n || fgetc(f) != EOF)
        fprintf(stderr, "bench_cnn: %s does not hold exactly %zu float32 values\n", path, n);
    else
        rc = 0;
    fclose(f);
    return rc;
}

/* --logits: one batch forward on one context, its logits as raw float32. */
static int write_logits(const glia_net *net, const float *x, int batch, const char *path)
{
    glia_err err = {0};
    glia_ctx *ctx = NULL;
    FILE *f = NULL;
    int rc = 1;
    if (glia_ctx_new(net, batch, 0, &ctx, &err)) {
        fprintf(stderr, "bench_cnn: %s\n", err.msg);
        return 1;
    }
    const float *y = glia_net_forward(net, ctx, x, batch, NULL);
    const size_t n = (size_t)batch * (size_t)net->output.c;
    if (!(f = fopen(path, "wb")) || fwrite(y, sizeof *y, n, f) != n)
        fprintf(stderr, "bench_cnn: cannot write %s\n", path);
    else
        rc = 0;
    if (f && fclose(f))
        rc = 1;
    glia_ctx_free(ctx);
    return rc;
}

/* The best GFLOP/s of 20 single-threaded 512^3 sgemm calls (after one untimed). */
static double sgemm_peak(void)
{
    const int n = 512;
    float *a = malloc(sizeof(float) * (size_t)n * n), *b = malloc(sizeof(float) * (size_t)n * n),
          *c = calloc((size_t)n * n, sizeof(float));
    double best = 0;
    if (a && b && c) {
        for (size_t i = 0; i < (size_t)n * n; i++) {
            a[i] = (float)(i % 13) * 0.01f;
            b[i] = (float)(i % 7) * 0.01f;
        }
        for (int r = 0; r < 21; r++) {
            double t0 = bench_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            double g = 2.0 * n * n * n / (bench_now() - t0) * 1e-9;
            best = r > 0 && g > best ? g : best;
        }
    }
    free(a);
    free(b);
    free(c);
    return best;
}

/* Multiply-adds x 2 of one sample through layer l (convolutions and linears; 0 elsewhere). */
static double layer_flops(const glia_layer *l)
{
    if (l->kind == GLIA_LAYER_CONV2D)
        return 2.0 * glia_shape3_size(l->out) * l->in.c * l->cfg.conv.kernel * l->cfg.conv.kernel;
    if (l->kind == GLIA_LAYER_LINEAR)
        return 2.0 * glia_shape3_size(l->in) * glia_shape3_size(l->out);
    return 0.0;
}

/* --layers: each layer's inference forward alone, on buffers of its own, at batch 1 and 64.
 * The net's ReLU folding is kept (a conv followed by a ReLU runs both), so the rows add up
 * to what glia_net_forward does. */
static int layer_profile(const glia_net *net, const float *x)
{
    const int batches[2] = {1, 64};
    size_t largest = glia_shape3_size(net->input), scratch = 0;
    for (int i = 0; i < net->nlayers; i++) {
        size_t s = glia_shape3_size(net->layers[i].out), sc = glia_layer_scratch_floats(&net->layers[i], 64);
        largest = s > largest ? s : largest;
        scratch = sc > scratch ? sc : scratch;
    }
    float *a = malloc(sizeof(float) * largest * 64), *b = malloc(sizeof(float) * largest * 64);
    float *sc = malloc(sizeof(float) * (scratch ? scratch : 1));
    double t[400], total[2] = {0, 0};
    if (!a || !b || !sc)
        return 1;
    memcpy(a, x, sizeof(float) * glia_shape3_size(net->input) * 64);
    printf("%-16s %-9s %12s %10s %12s %10s\n", "layer", "kind", "b1 us", "b1 GFLOP/s", "b64 us/img",
           "b64 GFLOP/s");
    for (int i = 0; i < net->nlayers; i++) {
        glia_layer *l = (glia_layer *)&net->layers[i];
        int fused = l->kind == GLIA_LAYER_CONV2D && l->cfg.conv.relu;
        double us[2];
        for (int bi = 0; bi < 2; bi++) {
            int n = batches[bi], reps = n == 1 ? 400 : 40;
            glia_pass pass = {sc, NULL, 0, NULL, 0};
            for (int r = 0; r < reps + 3; r++) {
                double t0 = bench_now();
                l->ops->forward(l, a, b, n, &pass);
                if (r >= 3)
                    t[r - 3] = bench_now() - t0;
            }
            us[bi] = bench_median(t, reps) * 1e6 / n;
            total[bi] += us[bi];
        }
        double f = layer_flops(l);
        printf("%-16s %-9s %12.1f %10.1f %12.1f %10.1f\n", l->name, fused ? "conv+relu" : l->ops->type, us[0],
               f / us[0] * 1e-3, us[1], f / us[1] * 1e-3);
        /* the next layer reads this one's output */
        float *tmp = a;
        a = b;
        b = tmp;
        i += fused;
    }
    printf("%-16s %-9s %12.1f %10s %12.1f\n", "total", "", total[0], "", total[1]);
    free(a);
    free(b);
    free(sc);
    return 0;
}

int main(int argc, char **argv)
{
    glia_err err = {0};
    glia_bundle b;
    int threads = 1, runs = 1000, peak = 0, layers = 0, no_train = 0;
    const char *input_path = NULL, *logits_path = NULL, *precision = NULL;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_cnn BUNDLE_DIR [--threads N] [--runs N] [--input FILE] [--logits FILE] "
                        "[--peak] [--layers] [--no-train]\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--peak") == 0)
            peak = 1;
        else if (strcmp(argv[i], "--layers") == 0)
            layers = 1;
        else if (strcmp(argv[i], "--no-train") == 0)
            no_train = 1;
        else if (i + 1 < argc && strcmp(argv[i], "--precision") == 0)
            precision = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--input") == 0)
            input_path = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--logits") == 0)
            logits_path = argv[++i];
        else {
            fprintf(stderr, "bench_cnn: unknown argument '%s'\n", argv[i]);
            return 2;
        }
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
    int prc = bench_set_precision(&b, precision, "bench_cnn");
    if (prc)
        return prc;
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
    if (input_path && read_floats(input_path, ds.x, in * (size_t)big))
        return 1;
    const float *x = ds.x;
    if (layers) {
        int rc = layer_profile(net, x);
        glia_dataset_free(&ds);
        glia_bundle_free(&b);
        return rc;
    }

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
    double cpu0 = bench_cpu_now();
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        glia_pool_run(pool, infer_lane, &job);
        t[i] = bench_now() - t0;
    }
    /* CPU per sample at batch 64 (all lanes): bench/serve_all.py sets gliad's beside it */
    double cpu64_us = (bench_cpu_now() - cpu0) / ((double)reps * big) * 1e6;
    double thr64 = big / bench_median(t, reps);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_infer = ru.ru_maxrss / 1024.0;
    /* after the RSS reading: the extra context is not part of the figure */
    if (logits_path && write_logits(net, x, big, logits_path))
        return 1;

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
    for (int rep = 0; rep < (no_train ? 0 : 3); rep++) {
        if (glia_train(&r, model, rep > 0, &ds, NULL, progress, &train, NULL, &res, &err)) {
            fprintf(stderr, "bench_cnn: %s\n", err.msg);
            return 1;
        }
        trains[rep] = train;
    }
    train = no_train ? 0.0 : bench_median(trains, 3);
    getrusage(RUSAGE_SELF, &ru);

    printf("{\"impl\": \"glia\", \"threads\": %d, \"latency_b1_ms\": %.4f, \"throughput_b64\": %.1f, "
           "\"train_images_per_s\": %.1f, \"peak_rss_inference_mb\": %.1f, \"peak_rss_mb\": %.1f, "
           "\"cpu_us_per_image_b64\": %.1f, \"coretype\": \"%s\"",
           threads, lat1 * 1e3, thr64, train, rss_infer, ru.ru_maxrss / 1024.0, cpu64_us,
#ifdef HAVE_OPENBLAS_THREADS
           openblas_get_corename()
#else
           "unknown"
#endif
    );
    printf(", \"precision\": \"%s\"", glia_precision_name(b.model->precision));
    if (peak)
        printf(", \"sgemm_peak_gflops\": %.1f", sgemm_peak());
    printf("}\n");
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
