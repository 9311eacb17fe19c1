/*
 * bench_text.c - in-process speed of a text-classification bundle (core/nn/textnet.h):
 * latency of one sentence at batch 1 (one thread, as one gliad worker answers one
 * request), throughput at batch 64 with the batch split over --threads (one ctx per
 * lane, single-threaded BLAS), peak RSS. Prints one JSON line (bench/sentiment.py puts
 * it next to PyTorch's figures from the same run).
 *
 *   bench_text BUNDLE_DIR [--threads N] [--runs N] [--words N] [--profile] [--precision fp32|bf16]
 *              [--ids FILE] [--logits FILE]
 *
 * Token ids are drawn at random from the vocabulary (never <pad>); every sentence has
 * --words tokens (the speed of these kernels does not depend on the values). --ids reads
 * the 64 x --words ids from FILE instead (raw int32, little-endian), and --logits writes
 * the batch-64 logits there (raw float32), so bench/sentiment.py can give ONNX Runtime and
 * PyTorch the same sentences and compare the answers. Every
 * figure is a median over repeated timings, per the house rule for noisy shared machines.
 *
 * --profile adds "profile_b1_us": where a batch-1 forward spends its time, measured by
 * timing the same pieces through the public layer APIs (embedding lookups, the whole
 * rnn, pooling, fc) and, inside the rnn, GEMMs and gate loops of the same shapes as
 * core/nn/rnn.c's forward_direction (input projection, one recurrent gemv per step,
 * the LSTM nonlinearities).
 */
#include "bench/bench_precision.h"
#include "bench/bench_util.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/base/pool.h"
#include "core/model/bundle.h"
#include "core/nn/kernels.h"
#include "core/nn/rnn.h"
#include "core/nn/vmath.h"

typedef struct {
    const glia_textnet *net;
    glia_textnet_ctx **ctx;
    const int32_t *ids, *lengths;
    int batch, steps, lanes, failed;
} infer_job;

/* Lane i runs its share of the batch, as gliad's workers will. */
static void infer_lane(void *arg, int i)
{
    infer_job *j = arg;
    int lo = j->batch * i / j->lanes, hi = j->batch * (i + 1) / j->lanes;
    const float *logits;
    glia_err err = {0};
    if (hi > lo && glia_textnet_forward(j->net, j->ctx[i], j->ids + (size_t)lo * j->steps, j->lengths + lo,
                                        hi - lo, j->steps, NULL, &logits, &err))
        j->failed = 1;
}

/* Median microseconds of `reps` runs of one piece (the macro body), after a warm-up. */
#define TIME_US(out, reps, ...)                                                                              \
    do {                                                                                                     \
        for (int w_ = 0; w_ < 20; w_++) {                                                                    \
            __VA_ARGS__;                                                                                     \
        }                                                                                                    \
        for (int r_ = 0; r_ < (reps); r_++) {                                                                \
            double t0_ = bench_now();                                                                        \
            __VA_ARGS__;                                                                                     \
            tv[r_] = (bench_now() - t0_) * 1e6;                                                              \
        }                                                                                                    \
        (out) = bench_median(tv, (reps));                                                                    \
    } while (0)

/* The batch-1 breakdown; prints the "profile_b1_us" member (with a leading comma). */
static int profile_b1(const glia_textnet *net, const int32_t *ids, int words, int reps)
{
    glia_err err = {0};
    const int E = net->cfg.embedding_dim, K = net->cfg.lexicon_features, X = net->input_size;
    const int F = net->features, C = net->cfg.num_classes, H = net->cfg.hidden_size;
    const int G = net->rnn.gates, GH = G * H, dirs = net->rnn.directions, L = net->cfg.num_layers;
    const int32_t len = words;
    glia_rnn_ctx *rctx = NULL;
    float *emb = calloc((size_t)words * (size_t)(E + K + X), sizeof(float));
    float *gates = calloc((size_t)words * (size_t)GH, sizeof(float));
    float *h = calloc((size_t)H, sizeof(float)), *c = calloc((size_t)H, sizeof(float));
    float *rec = calloc((size_t)GH, sizeof(float)), *pooled = calloc((size_t)F, sizeof(float));
    float *logits = calloc((size_t)C, sizeof(float));
    double *tv = malloc(sizeof(double) * (size_t)reps);
    if (!emb || !gates || !h || !c || !rec || !pooled || !logits || !tv ||
        glia_rnn_ctx_new(&net->rnn, 1, words, 0, &rctx, &err)) {
        fprintf(stderr, "bench_text: profile: %s\n", err.msg[0] ? err.msg : "out of memory");
        return 1;
    }
    float *x = emb + (size_t)words * (size_t)(E + K);
    const float *out = NULL;
    double t_emb, t_cat, t_rnn, t_pool, t_fc, t_inproj, t_step_gemm, t_gates, t_bias;
    TIME_US(t_emb, reps, {
        glia_embedding_forward(&net->embedding, ids, &len, 1, words, emb, &err);
        if (K > 0)
            glia_embedding_forward(&net->lexicon, ids, &len, 1, words, emb + (size_t)words * E, &err);
    });
    TIME_US(t_cat, reps, {
        for (int i = 0; i < words; i++) {
            memcpy(x + (size_t)i * X, emb + (size_t)i * E, sizeof(float) * (size_t)E);
            if (K > 0)
                memcpy(x + (size_t)i * X + E, emb + (size_t)words * E + (size_t)i * K,
                       sizeof(float) * (size_t)K);
        }
    });
    TIME_US(t_rnn, reps, glia_rnn_forward(&net->rnn, rctx, x, &len, 1, words, &out, &err));
    TIME_US(t_pool, reps, glia_rnn_pool_forward(net->cfg.pool, out, &len, 1, words, F, dirs, pooled));
    TIME_US(t_fc, reps, {
        memcpy(logits, net->fc_bias->value, sizeof(float) * (size_t)C);
        glia_gemm(0, 1, 1, C, F, 1.0f, pooled, F, net->fc_weight->value, F, 1.0f, logits, C);
    });
    /* inside the rnn, first layer, one direction (shapes of forward_direction) */
    const glia_param *p = &net->rnn.params[0];
    TIME_US(t_bias, reps, {
        for (int r = 0; r < words; r++)
            for (int j = 0; j < GH; j++)
                gates[(size_t)r * GH + j] = p[2].value[j] + p[3].value[j];
    });
    TIME_US(t_inproj, reps, glia_gemm(0, 1, words, GH, X, 1.0f, x, X, p[0].value, X, 1.0f, gates, GH));
    /* one sequence: the recurrent gemv adds into the gate row (forward_direction's B == 1) */
    TIME_US(t_step_gemm, reps, glia_gemv(1, GH, H, 1e-30f, h, p[1].value, H, 1.0f, rec));
    TIME_US(t_gates, reps, {
        float *a = gates;
        for (int j = 0; j < GH; j++)
            a[j] = rec[j];
        if (G == 4) {
            glia_lstm_cell(a, c, h, H);
        } else {
            glia_vtanh(h, a, (size_t)H);
        }
    });
    /* what the rnn should cost if it were only these pieces, per layer and direction */
    double per_dir = t_bias + t_inproj + (words - 1) * t_step_gemm + words * t_gates;
    printf(
        ", \"profile_b1_us\": {\"embedding_lookups\": %.2f, \"concat\": %.2f, \"rnn_forward\": %.2f, "
        "\"pool\": %.2f, \"fc\": %.2f, \"total_pieces\": %.2f, "
        "\"rnn_detail\": {\"directions_x_layers\": %d, \"bias_fill\": %.2f, \"input_projection_gemm\": %.2f, "
        "\"step_gemv_%dx%d\": %.3f, \"steps\": %d, \"step_gemms_total\": %.2f, \"gate_loop_per_step\": "
        "%.3f, "
        "\"gate_loops_total\": %.2f, \"sum_per_direction\": %.2f, \"sum_all\": %.2f}}",
        t_emb, t_cat, t_rnn, t_pool, t_fc, t_emb + t_cat + t_rnn + t_pool + t_fc, dirs * L, t_bias, t_inproj,
        GH, H, t_step_gemm, words, (words - 1) * t_step_gemm, t_gates, words * t_gates, per_dir,
        per_dir * dirs * L);
    glia_rnn_ctx_free(rctx);
    free(emb);
    free(gates);
    free(h);
    free(c);
    free(rec);
    free(pooled);
    free(logits);
    free(tv);
    return 0;
}

/* --ids: n ids from a raw int32 file, each checked against the vocabulary. */
static int read_ids(const char *path, int32_t *ids, size_t n, int vocab)
{
    FILE *f = fopen(path, "rb");
    int rc = 1;
    if (!f) {
        fprintf(stderr, "bench_text: cannot open %s\n", path);
        return 1;
    }
    if (fread(ids, sizeof *ids, n, f) != n || fgetc(f) != EOF) {
        fprintf(stderr, "bench_text: %s does not hold exactly %zu int32 ids\n", path, n);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab) {
            fprintf(stderr, "bench_text: id %ld in %s is outside the vocabulary\n", (long)ids[i], path);
            goto done;
        }
    rc = 0;
done:
    fclose(f);
    return rc;
}

/* --logits: one batch forward on one context, its logits as raw float32. */
static int write_logits(const glia_textnet *net, const int32_t *ids, const int32_t *lengths, int batch,
                        int words, const char *path)
{
    glia_err err = {0};
    glia_textnet_ctx *ctx = NULL;
    const float *logits;
    FILE *f = NULL;
    int rc = 1;
    if (glia_textnet_ctx_new(net, batch, words, 0, &ctx, &err) ||
        glia_textnet_forward(net, ctx, ids, lengths, batch, words, NULL, &logits, &err)) {
        fprintf(stderr, "bench_text: %s\n", err.msg);
        goto done;
    }
    const size_t n = (size_t)batch * (size_t)net->cfg.num_classes;
    if (!(f = fopen(path, "wb")) || fwrite(logits, sizeof *logits, n, f) != n) {
        fprintf(stderr, "bench_text: cannot write %s\n", path);
        goto done;
    }
    rc = 0;
done:
    if (f && fclose(f))
        rc = 1;
    glia_textnet_ctx_free(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    glia_err err = {0};
    glia_bundle b;
    int threads = 1, runs = 2000, words = 20, profile = 0;
    const char *ids_path = NULL, *logits_path = NULL, *precision = NULL;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_text BUNDLE_DIR [--threads N] [--runs N] [--words N] [--profile]\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--profile") == 0)
            profile = 1;
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--precision") == 0)
            precision = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--words") == 0)
            words = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--ids") == 0)
            ids_path = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--logits") == 0)
            logits_path = argv[++i];
        else {
            fprintf(stderr, "bench_text: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (threads < 1 || threads > 16 || runs < 1 || words < 1 || words > 4096) {
        fprintf(stderr, "bench_text: --threads 1..16, --runs >= 1, --words 1..4096\n");
        return 2;
    }
    /* glia's threads split batches; each calls a single-threaded BLAS */
#ifdef HAVE_OPENBLAS_THREADS
    openblas_set_num_threads(1);
#endif
    if (glia_bundle_load(argv[1], &b, &err)) {
        fprintf(stderr, "bench_text: %s\n", err.msg);
        return 1;
    }
    int prc = bench_set_precision(&b, precision, "bench_text");
    if (prc)
        return prc;
    if (strcmp(b.manifest.task, "text-classification") != 0) {
        fprintf(stderr, "bench_text: %s is not a text-classification bundle\n", argv[1]);
        return 1;
    }
    const glia_textnet *net = b.model->impl; /* a benchmark of this family's kernels */
    const int big = 64, V = net->cfg.vocab_size;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)big * (size_t)words);
    int32_t *lengths = malloc(sizeof(int32_t) * big);
    glia_rng rng;
    glia_rng_seed(&rng, 7);
    for (size_t i = 0; i < (size_t)big * (size_t)words; i++)
        ids[i] = 2 + (int32_t)glia_rng_below(&rng, (uint64_t)(V - 2)); /* not <pad>, not <unk> */
    for (int i = 0; i < big; i++)
        lengths[i] = words;
    if (ids_path && read_ids(ids_path, ids, (size_t)big * (size_t)words, V))
        return 1;

    glia_textnet_ctx *c1 = NULL, *cl[16] = {0};
    glia_pool *pool = NULL;
    int lane_batch = (big + threads - 1) / threads;
    if (glia_textnet_ctx_new(net, 1, words, 0, &c1, &err) || glia_pool_new(threads, &pool, &err)) {
        fprintf(stderr, "bench_text: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < threads; i++)
        if (glia_textnet_ctx_new(net, lane_batch, words, 0, &cl[i], &err)) {
            fprintf(stderr, "bench_text: %s\n", err.msg);
            return 1;
        }

    /* batch 1 latency: one request on one worker */
    double *t = malloc(sizeof(double) * (size_t)(runs > 100 ? runs : 100));
    const float *logits;
    for (int i = 0; i < 100; i++)
        glia_textnet_forward(net, c1, ids, lengths, 1, words, NULL, &logits, &err);
    for (int i = 0; i < runs; i++) {
        const int32_t *row = ids + (size_t)(i % big) * (size_t)words;
        double t0 = bench_now();
        if (glia_textnet_forward(net, c1, row, lengths, 1, words, NULL, &logits, &err)) {
            fprintf(stderr, "bench_text: %s\n", err.msg);
            return 1;
        }
        t[i] = bench_now() - t0;
    }
    double lat1 = bench_median(t, runs);

    /* batch 64 throughput, split over the threads */
    int reps = 100;
    infer_job job = {net, cl, ids, lengths, big, words, threads, 0};
    for (int i = 0; i < 10; i++)
        glia_pool_run(pool, infer_lane, &job);
    double cpu0 = bench_cpu_now();
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        glia_pool_run(pool, infer_lane, &job);
        t[i] = bench_now() - t0;
    }
    /* CPU per sample at batch 64 (all lanes): bench/serve_all.py sets gliad's beside it */
    double cpu64_us = (bench_cpu_now() - cpu0) / ((double)reps * big) * 1e6;
    if (job.failed) {
        fprintf(stderr, "bench_text: a batch-64 forward failed\n");
        return 1;
    }
    double thr64 = big / bench_median(t, reps);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    /* after the RSS reading: the extra context is not part of the figure */
    if (logits_path && write_logits(net, ids, lengths, big, words, logits_path))
        return 1;

    printf(
        "{\"impl\": \"glia\", \"threads\": %d, \"words\": %d, \"parameters\": %zu, \"latency_b1_ms\": %.4f, "
        "\"throughput_b64\": %.1f, \"peak_rss_mb\": %.1f, \"cpu_us_per_sentence_b64\": %.2f, \"coretype\": "
        "\"%s\"",
        threads, words, net->size, lat1 * 1e3, thr64, ru.ru_maxrss / 1024.0, cpu64_us,
#ifdef HAVE_OPENBLAS_THREADS
        openblas_get_corename()
#else
        "unknown"
#endif
    );
    printf(", \"precision\": \"%s\"", glia_precision_name(b.model->precision));
    if (profile && profile_b1(net, ids, words, runs))
        return 1;
    printf("}\n");
    free(t);
    free(ids);
    free(lengths);
    glia_textnet_ctx_free(c1);
    for (int i = 0; i < threads; i++)
        glia_textnet_ctx_free(cl[i]);
    glia_pool_free(pool);
    glia_bundle_free(&b);
    return 0;
}
