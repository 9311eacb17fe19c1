/*
 * bench_bf16.c - the bf16 kernel (core/nn/bf16.h) against OpenBLAS in fp32 on the shapes
 * glia's models multiply, one thread: GFLOP/s of glia_bf16_gemm and of cblas_sgemm (sgemv
 * for one row, as glia's fp32 layers call it), the best of N calls each, alternating (a
 * shared machine only ever slows a call down, so the best is the kernel's speed).
 *
 *   bench_bf16 [--reps N]
 *
 * Prints one JSON line per shape, and the OpenBLAS core. Needs AVX512_BF16.
 */
#include "bench/bench_util.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/bf16.h"

int main(int argc, char **argv)
{
    /* m x n x k: a square reference; LSTM input projection at batch 64 (1280 rows = 64 x 20
     * steps); a Transformer feed-forward layer at batch 64 and at one row; the generator
     * at one row; fashion-cnn's first fully connected layer at batch 64 */
    static const int shapes[][3] = {{512, 512, 512}, {1280, 256, 102}, {64, 1024, 256},
                                    {1, 1024, 256},  {1, 8000, 256},   {64, 256, 3136}};
    int reps = 20;
    for (int i = 1; i < argc; i++)
        if (i + 1 < argc && strcmp(argv[i], "--reps") == 0)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_bf16 [--reps N]\n");
            return 2;
        }
    if (!glia_bf16_available()) {
        fprintf(stderr, "bench_bf16: this CPU has no AVX512_BF16 (or GLIA_NO_BF16=1)\n");
        return 1;
    }
#ifdef HAVE_OPENBLAS_THREADS
    openblas_set_num_threads(1);
#endif
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *x = malloc(sizeof(float) * (size_t)m * (size_t)k),
              *w = malloc(sizeof(float) * (size_t)n * (size_t)k);
        float *y = malloc(sizeof(float) * (size_t)m * (size_t)n);
        glia_bf16_mat *mat = NULL;
        glia_err err = {0};
        if (!x || !w || !y)
            return 1;
        for (size_t i = 0; i < (size_t)m * (size_t)k; i++)
            x[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)n * (size_t)k; i++)
            w[i] = (float)(i % 5) * 0.1f;
        if (glia_bf16_pack(w, n, k, (size_t)k, &mat, &err)) {
            fprintf(stderr, "bench_bf16: %s\n", err.msg);
            return 1;
        }
        double best16 = 1e30, best32 = 1e30;
        const int r = m == 1 ? reps * 10 : reps;
        for (int i = 0; i < r; i++) {
            double t0 = bench_now();
            glia_bf16_gemm(m, n, x, k, mat, 0, 0.0f, y, n);
            double t = bench_now() - t0;
            best16 = t < best16 ? t : best16;
            t0 = bench_now();
            if (m == 1)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, w, k, x, 1, 0.0f, y, 1);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w, k, 0.0f, y, n);
            t = bench_now() - t0;
            best32 = t < best32 ? t : best32;
        }
        const double flop = 2.0 * m * n * k;
        printf("{\"m\": %d, \"n\": %d, \"k\": %d, \"bf16_gflops\": %.1f, \"fp32_gflops\": %.1f, \"fp32\": "
               "\"%s\", "
               "\"coretype\": \"%s\"}\n",
               m, n, k, flop / best16 * 1e-9, flop / best32 * 1e-9, m == 1 ? "sgemv" : "sgemm",
#ifdef HAVE_OPENBLAS_THREADS
               openblas_get_corename()
#else
               "unknown"
#endif
        );
        glia_bf16_free(mat);
        free(x);
        free(w);
        free(y);
    }
    return 0;
}
