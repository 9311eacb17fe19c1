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
 * --profile adds "profile_b1_us": where a batch-1 forward spends its time, on the path the
 * forward takes: the whole forward, then its pieces timed through the public layer APIs (with
 * the token table: the rnn's table forward; without: embedding lookups, concat, the rnn), the
 * pooling and fc, and inside the rnn (layer 0, direction 0) the pieces of the path that runs:
 * lstm_step.h's kernels (bias sum, transposes when no copy was packed, projection when no
 * table, the fused step kernel per step) where the CPU has AVX-512F and the model is fp32, or
 * rnn.c's reference path (projection GEMM, recurrent gemv per step, gate loops) elsewhere.
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
#include "core/nn/bf16.h"
#include "core/nn/kernels.h"
#include "core/nn/lstm_step.h"
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

/* Inside the rnn on the path of lstm_step.h's kernels (forward_direction_fast, B < 16), layer 0,
 * direction 0: the biases summed, W_ih^T / W_hh^T made per forward when glia_rnn_pack made no
 * copy, the projection of every step when no token table gives it, then one fused step kernel
 * per step. Prints the "rnn_detail" member; *per_dir gets the sum of the pieces. */
static void detail_kernels(const glia_textnet *net, const float *x, int words, int table, int reps,
                           double *tv, double *per_dir)
{
    const int X = net->input_size, H = net->cfg.hidden_size, GH = 4 * H;
    const glia_param *p = &net->rnn.params[0];
    float *wt = calloc((size_t)(X + H) * (size_t)GH, sizeof(float)),
          *bsum = calloc((size_t)GH, sizeof(float));
    float *gates = calloc((size_t)words * (size_t)GH, sizeof(float));
    float *h = calloc((size_t)H, sizeof(float)), *c = calloc((size_t)H, sizeof(float));
    float *h_out = calloc((size_t)H, sizeof(float));
    /* layer 0, direction 0 is the first slot of rnn.packed: W_ih^T [X, 4H] then W_hh^T [H, 4H] */
    const float *packed = net->rnn.packed, *wt_ih = packed ? packed : wt;
    const float *wt_hh = wt_ih + (size_t)X * (size_t)GH;
    double t_bias, t_transpose = 0.0, t_project = 0.0, t_step;
    glia_lstm_step_transpose(p[0].value, GH, X, wt);
    glia_lstm_step_transpose(p[1].value, GH, H, wt + (size_t)X * (size_t)GH);
    TIME_US(t_bias, reps, {
        for (int j = 0; j < GH; j++)
            bsum[j] = p[2].value[j] + p[3].value[j];
    });
    if (!packed)
        TIME_US(t_transpose, reps, {
            if (!table)
                glia_lstm_step_transpose(p[0].value, GH, X, wt);
            glia_lstm_step_transpose(p[1].value, GH, H, wt + (size_t)X * (size_t)GH);
        });
    if (!table)
        TIME_US(t_project, reps, glia_lstm_step_project(words, X, GH, x, wt_ih, bsum, gates));
    /* a mid-sentence step: the previous state given (the first step skips the product) */
    TIME_US(t_step, reps, glia_lstm_step_one(H, wt_hh, gates, h, c, h_out));
    *per_dir = t_bias + t_transpose + t_project + words * t_step;
    printf(", \"rnn_detail\": {\"path\": \"lstm_step kernels, %s\", \"bias_sum\": %.3f, "
           "\"transpose_per_forward\": %.2f, \"projection\": %.2f, \"step_kernel\": %.3f, \"steps\": %d, "
           "\"step_kernels_total\": %.2f, \"sum_per_direction\": %.2f",
           table    ? "token table"
           : packed ? "projection, packed weights"
                    : "projection, weights transposed per forward",
           t_bias, t_transpose, t_project, t_step, words, words * t_step, *per_dir);
    free(wt);
    free(bsum);
    free(gates);
    free(h);
    free(c);
    free(h_out);
}

/* Inside the rnn on the reference path (forward_direction: no AVX-512F, bf16 copies, or a
 * hidden size no multiple of 16), layer 0, direction 0, with forward_direction's calls (bf16
 * products where the model carries bf16 copies): the biases summed, the input projection of
 * every step (none when a token table gives it), one recurrent product per step, the gate
 * loops. Prints "rnn_detail". */
static void detail_reference(const glia_textnet *net, const float *x, int words, int table, int reps,
                             double *tv, double *per_dir)
{
    const int X = net->input_size, H = net->cfg.hidden_size, G = net->rnn.gates, GH = G * H;
    const glia_param *p = &net->rnn.params[0];
    float *gates = calloc((size_t)words * (size_t)GH, sizeof(float));
    float *h = calloc((size_t)H, sizeof(float)), *c = calloc((size_t)H, sizeof(float));
    float *rec = calloc((size_t)GH, sizeof(float)), *bias = calloc((size_t)GH, sizeof(float));
    double t_bias, t_inproj = 0.0, t_step, t_gates;
    TIME_US(t_bias, reps, {
        for (int j = 0; j < GH; j++)
            bias[j] = p[2].value[j] + p[3].value[j];
    });
    if (!table) /* a bf16 LSTM's token table holds the projection (rnn.c) */
        TIME_US(t_inproj, reps, glia_linear_forward_param(x, words, X, &p[0], 0, bias, GH, gates, GH));
    /* one sequence: the recurrent product adds into the gate row (forward_direction's B == 1) */
    if (p[1].bf16)
        TIME_US(t_step, reps, glia_bf16_gemm(1, GH, h, H, p[1].bf16, 0, 1.0f, rec, GH));
    else
        TIME_US(t_step, reps, glia_gemv(1, GH, H, 1e-30f, h, p[1].value, H, 1.0f, rec));
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
    *per_dir = t_bias + t_inproj + (words - 1) * t_step + words * t_gates;
    printf(
        ", \"rnn_detail\": {\"path\": \"reference, %s products\", \"bias_sum\": %.3f, \"projection\": %.2f, "
        "\"step_product_%dx%d\": %.3f, \"steps\": %d, \"step_products_total\": %.2f, \"gate_loop_per_step\": "
        "%.3f, \"gate_loops_total\": %.2f, \"sum_per_direction\": %.2f",
        p[1].bf16 ? "bf16" : "fp32", t_bias, t_inproj, GH, H, t_step, words, (words - 1) * t_step, t_gates,
        words * t_gates, *per_dir);
    free(gates);
    free(h);
    free(c);
    free(rec);
    free(bias);
}

/* The batch-1 breakdown of the path glia_textnet_forward takes (core/nn/textnet.c, rnn.c);
 * prints the "profile_b1_us" member (with a leading comma). With a token table the forward
 * gathers layer 0's projections by token id (no embedding lookup, no concat, no projection);
 * without, it looks up and concatenates the token vectors and runs the rnn on them. */
static int profile_b1(const glia_textnet *net, const int32_t *ids, int words, int reps)
{
    glia_err err = {0};
    const int E = net->cfg.embedding_dim, K = net->cfg.lexicon_features, X = net->input_size;
    const int F = net->features, C = net->cfg.num_classes, H = net->cfg.hidden_size;
    const int dirs = net->rnn.directions, L = net->cfg.num_layers;
    const int32_t len = words;
    glia_rnn_ctx *rctx = NULL;
    glia_textnet_ctx *tctx = NULL;
    float *emb = calloc((size_t)words * (size_t)(E + K + X), sizeof(float));
    float *pooled = calloc((size_t)F, sizeof(float)), *logits = calloc((size_t)C, sizeof(float));
    double *tv = malloc(sizeof(double) * (size_t)reps);
    if (!emb || !pooled || !logits || !tv || glia_rnn_ctx_new(&net->rnn, 1, words, 0, &rctx, &err) ||
        glia_textnet_ctx_new(net, 1, words, 0, &tctx, &err)) {
        fprintf(stderr, "bench_text: profile: %s\n", err.msg[0] ? err.msg : "out of memory");
        return 1;
    }
    /* the tests textnet.c and rnn.c make, on the same ctx shapes */
    const int table = net->token_table && glia_rnn_table_ok(&net->rnn, rctx, 1);
    const int kernels = net->cfg.mode == GLIA_RNN_LSTM && !net->rnn.params[0].bf16 &&
                        !net->rnn.params[1].bf16 && glia_lstm_step_available() && H % 16 == 0;
    float *x = emb + (size_t)words * (size_t)(E + K);
    const float *out = NULL, *lg = NULL;
    double t_all, t_emb = 0.0, t_cat = 0.0, t_rnn, t_pool, t_fc, per_dir;
    TIME_US(t_all, reps, glia_textnet_forward(net, tctx, ids, &len, 1, words, NULL, &lg, &err));
    /* the token vectors: read by the plain path, and the projection's input in the detail */
    glia_embedding_forward(&net->embedding, ids, &len, 1, words, emb, &err);
    if (K > 0)
        glia_embedding_forward(&net->lexicon, ids, &len, 1, words, emb + (size_t)words * E, &err);
    for (int i = 0; i < words; i++) {
        memcpy(x + (size_t)i * X, emb + (size_t)i * E, sizeof(float) * (size_t)E);
        if (K > 0)
            memcpy(x + (size_t)i * X + E, emb + (size_t)words * E + (size_t)i * K, sizeof(float) * (size_t)K);
    }
    if (table) {
        TIME_US(t_rnn, reps,
                glia_rnn_forward_table(&net->rnn, rctx, net->token_table, ids, &len, 1, words, &out, &err));
    } else {
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
    }
    TIME_US(t_pool, reps, glia_rnn_pool_forward(net->cfg.pool, out, &len, 1, words, F, dirs, pooled));
    TIME_US(t_fc, reps,
            glia_linear_forward_param(pooled, 1, F, net->fc_weight, 0, net->fc_bias->value, C, logits, C));
    printf(", \"profile_b1_us\": {\"forward\": %.2f, \"path\": \"%s\", \"embedding_lookups\": %.2f, "
           "\"concat\": %.2f, \"rnn_forward\": %.2f, \"pool\": %.2f, \"fc\": %.2f, \"total_pieces\": %.2f",
           t_all, table ? "token table" : "embedding lookups + rnn", t_emb, t_cat, t_rnn, t_pool, t_fc,
           t_emb + t_cat + t_rnn + t_pool + t_fc);
    if (kernels)
        detail_kernels(net, x, words, table, reps, tv, &per_dir);
    else
        detail_reference(net, x, words, table, reps, tv, &per_dir);
    /* layer 0, direction 0 stands for every one (later layers' inputs are 2H wide) */
    printf(", \"directions_x_layers\": %d, \"sum_all\": %.2f}}", dirs * L, per_dir * dirs * L);
    glia_rnn_ctx_free(rctx);
    glia_textnet_ctx_free(tctx);
    free(emb);
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
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        /* the whole usage: the file's comment says what each figure and option means */
        fprintf(argc < 2 ? stderr : stdout,
                "usage: bench_text BUNDLE_DIR [--threads N] [--runs N] [--words N] [--profile]\n"
                "                  [--precision fp32|bf16] [--ids FILE] [--logits FILE]\n"
                "One JSON line: batch-1 latency, batch-64 throughput split over --threads, peak RSS,\n"
                "CPU per sentence at batch 64, the OpenBLAS core and the precision that ran; --profile\n"
                "adds the batch-1 forward's pieces on the path it takes (lstm_step kernels, token table,\n"
                "or the reference path).\n");
        return argc < 2 ? 2 : 0;
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
