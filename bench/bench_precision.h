/*
 * bench_precision.h - the C benchmark drivers' --precision fp32|bf16 (issue 17.3): the
 * bundle's model set to it before anything is timed, as gliad does at load. Header-only.
 */
#ifndef GLIA_BENCH_PRECISION_H
#define GLIA_BENCH_PRECISION_H

#include <stdio.h>

#include "core/model/bundle.h"

/* arg (NULL: the manifest's) applied to b's model; 0, or an exit status with a message. */
static inline int bench_set_precision(glia_bundle *b, const char *arg, const char *prog)
{
    glia_err err = {0};
    const int p = arg ? glia_precision_parse(arg) : (int)b->manifest.precision;
    if (p < 0) {
        fprintf(stderr, "%s: --precision expects fp32 or bf16, got '%s'\n", prog, arg);
        return 2;
    }
    if (glia_model_set_precision(b->model, (glia_precision)p, &err)) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return 1;
    }
    if (b->model->precision != (glia_precision)p)
        fprintf(stderr, "%s: precision %s asked, this CPU runs %s\n", prog,
                glia_precision_name((glia_precision)p), glia_precision_name(b->model->precision));
    return 0;
}

#endif
