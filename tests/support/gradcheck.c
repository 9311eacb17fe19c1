/* gradcheck.c - see gradcheck.h. */
#include "tests/support/gradcheck.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void gc_layer_new(gc_layer *g, const glia_layer *spec, glia_shape3 in, int n, int training, unsigned seed)
{
    glia_err err = {0};
    memset(g, 0, sizeof *g);
    g->l = *spec;
    g->l.ops = glia_layer_ops_for(g->l.kind);
    ck_assert_msg(g->l.ops->init(&g->l, in, &err) == GLIA_OK, "%s", err.msg);
    g->n = n;
    g->training = training;
    for (int i = 0; i < g->l.nparams; i++)
        g->nvalues += g->l.params[i].size;
    g->values = calloc(g->nvalues + 1, sizeof(float));
    g->grads = calloc(g->nvalues + 1, sizeof(float));
    size_t off = 0;
    for (int i = 0; i < g->l.nparams; i++) {
        g->l.params[i].value = g->values + off;
        g->l.params[i].grad = g->grads + off;
        off += g->l.params[i].size;
    }
    g->scratch = calloc(glia_layer_scratch_floats(&g->l, n) + 1, sizeof(float));
    g->saved = calloc(g->l.saved_bytes_per_sample * (size_t)n + 1, 1);
    ck_assert(g->values && g->grads && g->scratch && g->saved);
    glia_rng init;
    glia_rng_seed(&init, seed);
    g->l.ops->reset(&g->l, &init);
    glia_rng_seed(&g->rng, seed + 1000);
}

void gc_layer_free(gc_layer *g)
{
    free(g->values);
    free(g->grads);
    free(g->scratch);
    free(g->saved);
}

void gc_forward(gc_layer *g, const float *x, float *y)
{
    glia_rng rng = g->rng;
    glia_pass p = {g->scratch, g->saved, g->training, &rng};
    g->l.ops->forward(&g->l, x, y, g->n, &p);
}

void gc_backward(gc_layer *g, const float *x, const float *y, const float *dy, float *dx)
{
    memset(g->grads, 0, sizeof(float) * g->nvalues);
    glia_pass p = {g->scratch, g->saved, 1, NULL};
    g->l.ops->backward(&g->l, x, y, dy, dx, g->n, &p);
}

static double loss(gc_layer *g, const float *x, float *y, const float *r, size_t ny)
{
    gc_forward(g, x, y);
    double s = 0.0;
    for (size_t i = 0; i < ny; i++)
        s += (double)y[i] * r[i];
    return s;
}

static double rel_err(double analytic, double numeric)
{
    /* relative, with a floor so that gradients near zero are judged on absolute error */
    return fabs(analytic - numeric) / fmax(0.1, fabs(numeric));
}

gc_result gc_check(gc_layer *g, const float *x0, float h, unsigned seed)
{
    gc_result res = {0};
    size_t nx = glia_shape3_size(g->l.in) * (size_t)g->n, ny = glia_shape3_size(g->l.out) * (size_t)g->n;
    float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny), *r = malloc(sizeof(float) * ny);
    float *dx = malloc(sizeof(float) * nx), *grads = malloc(sizeof(float) * (g->nvalues + 1));
    ck_assert(x && y && r && dx && grads);
    glia_rng rng;
    glia_rng_seed(&rng, seed);
    for (size_t i = 0; i < ny; i++)
        r[i] = 2.0f * glia_rng_uniform(&rng) - 1.0f;
    memcpy(x, x0, sizeof(float) * nx);
    /* analytic */
    gc_forward(g, x, y);
    gc_backward(g, x, y, r, dx);
    memcpy(grads, g->grads, sizeof(float) * g->nvalues);
    /* numeric, inputs */
    for (size_t i = 0; i < nx; i++) {
        float keep = x[i];
        x[i] = keep + h;
        double lp = loss(g, x, y, r, ny);
        x[i] = keep - h;
        double lm = loss(g, x, y, r, ny);
        x[i] = keep;
        res.max_err_x = fmax(res.max_err_x, rel_err(dx[i], (lp - lm) / (2.0 * h)));
        res.checked++;
    }
    /* numeric, parameters */
    for (size_t i = 0; i < g->nvalues; i++) {
        float keep = g->values[i];
        g->values[i] = keep + h;
        double lp = loss(g, x, y, r, ny);
        g->values[i] = keep - h;
        double lm = loss(g, x, y, r, ny);
        g->values[i] = keep;
        res.max_err_param = fmax(res.max_err_param, rel_err(grads[i], (lp - lm) / (2.0 * h)));
        res.checked++;
    }
    free(x);
    free(y);
    free(r);
    free(dx);
    free(grads);
    return res;
}

void gc_distinct_inputs(float *x, size_t n, float gap, unsigned seed)
{
    uint32_t *perm = malloc(sizeof(uint32_t) * (n ? n : 1));
    ck_assert_ptr_nonnull(perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    glia_rng rng;
    glia_rng_seed(&rng, seed);
    glia_rng_shuffle(&rng, perm, n);
    /* values (k - n/2) * gap + gap/2: never within gap/2 of zero, whatever n's parity */
    for (size_t i = 0; i < n; i++)
        x[i] = ((float)perm[i] - (float)(n / 2)) * gap + 0.5f * gap;
    free(perm);
}
