/* gradcheck.c - see gradcheck.h. */
#include "tests/support/gradcheck.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gc_opts gc_defaults(void)
{
    return (gc_opts){.step = 1e-2f, .atol = 5e-4, .rtol = 5e-3, .seed = 1};
}

void gc_expect(const gc_result *r, const char *what)
{
    /* GLIA_GRADCHECK_VERBOSE=1 shows how much margin every check has (stderr; TAP is on stdout) */
    const char *verbose = getenv("GLIA_GRADCHECK_VERBOSE");
    if (verbose && *verbose && *verbose != '0')
        fprintf(stderr, "gradcheck %s: %zu inputs, %zu parameters, %zu kinks, worst %.3g x tolerance at %s\n",
                what, r->checked_inputs, r->checked_params, r->kinks, r->worst, r->worst_at);
    ck_assert_msg(r->checked_inputs + r->checked_params > 0, "%s: no coordinate was checked", what);
    ck_assert_msg(r->failed == 0,
                  "%s: %zu of %zu coordinates beyond tolerance; worst %s: analytic %.7g, numeric %.7g "
                  "(%.3g x tolerance)",
                  what, r->failed, r->checked_inputs + r->checked_params, r->worst_at, r->worst_analytic,
                  r->worst_numeric, r->worst);
}

/* ---- shared comparison ---- */

static double tolerance(const gc_opts *o, double numeric)
{
    return o->atol + o->rtol * fabs(numeric);
}

/* L at *v + h and *v - h, and the steps actually taken (v +- h rounded to float); *v is
 * restored. */
typedef struct {
    double lp, lm, dp, dm;
} steps;

static steps perturb(float *v, float h, double (*eval)(void *), void *state)
{
    steps s;
    const float keep = *v;
    *v = keep + h;
    s.dp = (double)*v - (double)keep;
    s.lp = eval(state);
    *v = keep - h;
    s.dm = (double)keep - (double)*v;
    s.lm = eval(state);
    *v = keep;
    return s;
}

/* Compares one coordinate: l0 is L at v, s has L at v + s.dp and v - s.dm. */
static void compare(gc_result *r, const gc_opts *o, double analytic, double l0, steps s, const char *what,
                    size_t index)
{
    double numeric = (s.lp - s.lm) / (s.dp + s.dm);
    double ratio = fabs(analytic - numeric) / tolerance(o, numeric);
    if (!(ratio <= 1.0) && o->allow_kinks) {
        double forward = (s.lp - l0) / s.dp, backward = (l0 - s.lm) / s.dm;
        if (fabs(analytic - forward) <= tolerance(o, forward) ||
            fabs(analytic - backward) <= tolerance(o, backward)) {
            r->kinks++;
            return;
        }
    }
    if (!(ratio <= 1.0)) /* NaN fails too */
        r->failed++;
    if (!(ratio <= r->worst) || !r->worst_at[0]) {
        r->worst = isnan(ratio) ? INFINITY : ratio;
        r->worst_analytic = analytic;
        r->worst_numeric = numeric;
        snprintf(r->worst_at, sizeof r->worst_at, "%s[%zu]", what, index);
    }
}

void gc_check_coordinate(gc_result *r, const gc_opts *o, float *v, double analytic, double (*loss)(void *),
                         void *state, int is_param, const char *what, size_t index)
{
    double l0 = o->allow_kinks ? loss(state) : NAN; /* only the kink test reads it */
    compare(r, o, analytic, l0, perturb(v, o->step, loss, state), what, index);
    if (is_param)
        r->checked_params++;
    else
        r->checked_inputs++;
}

/* The j-th of m coordinates drawn from total: every coordinate when m is 0 or at least
 * total, else one from each of m equal strata, so that a sample still spans every batch
 * sample and every chunk. */
static size_t sample_count(size_t m, size_t total)
{
    return m == 0 || m >= total ? total : m;
}

static size_t sample_index(size_t j, size_t m, size_t total, glia_rng *rng)
{
    if (m == 0 || m >= total)
        return j;
    size_t lo = j * total / m, hi = (j + 1) * total / m;
    return lo + (size_t)glia_rng_below(rng, hi - lo);
}

static float *probe(size_t n, unsigned seed)
{
    float *r = malloc(sizeof(float) * (n ? n : 1));
    ck_assert_ptr_nonnull(r);
    gc_uniform(r, n, -1.0f, 1.0f, seed);
    return r;
}

/* ---- one layer ---- */

void gc_layer_new(gc_layer *g, const glia_layer *spec, glia_shape3 in, int n, int training, unsigned seed)
{
    glia_err err = {0};
    memset(g, 0, sizeof *g);
    g->l = *spec;
    if (!g->l.ops)
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
    size_t nbuf = 0;
    for (int i = 0; i < g->l.nbuffers; i++)
        nbuf += g->l.buffers[i].size;
    g->buffers = calloc(nbuf + 1, sizeof(float));
    ck_assert(g->buffers);
    off = 0;
    for (int i = 0; i < g->l.nbuffers; i++) {
        g->l.buffers[i].value = g->buffers + off;
        off += g->l.buffers[i].size;
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
    free(g->buffers);
    free(g->scratch);
    free(g->saved);
}

size_t gc_in_size(const gc_layer *g)
{
    return glia_shape3_size(g->l.in) * (size_t)g->n;
}

size_t gc_out_size(const gc_layer *g)
{
    return glia_shape3_size(g->l.out) * (size_t)g->n;
}

void gc_forward(gc_layer *g, const float *x, float *y)
{
    glia_rng rng = g->rng;
    glia_pass p = {.scratch = g->scratch,
                   .saved = g->saved,
                   .training = g->training || g->input_grad,
                   .rng = &rng,
                   .no_dropout = g->input_grad};
    g->l.ops->forward(&g->l, x, y, g->n, &p);
}

void gc_backward(gc_layer *g, const float *x, const float *y, const float *dy, float *dx)
{
    memset(g->grads, 0, sizeof(float) * g->nvalues);
    glia_pass p = {.scratch = g->scratch, .saved = g->saved, .training = 1, .no_dropout = g->input_grad};
    g->l.ops->backward(&g->l, x, y, dy, dx, g->n, &p);
}

static double layer_loss(gc_layer *g, const float *x, float *y, const float *r)
{
    gc_forward(g, x, y);
    double s = 0.0;
    for (size_t i = 0, ny = gc_out_size(g); i < ny; i++)
        s += (double)y[i] * r[i];
    return s;
}

static const char *layer_param_at(const gc_layer *g, size_t flat, size_t *local)
{
    for (int i = 0; i < g->l.nparams; i++) {
        size_t off = (size_t)(g->l.params[i].value - g->values);
        if (flat >= off && flat < off + g->l.params[i].size) {
            *local = flat - off;
            return i == 0 ? "weight" : "bias";
        }
    }
    *local = flat;
    return "param";
}

typedef struct {
    gc_layer *g;
    const float *x;
    float *y;
    const float *r;
} layer_run;

static double layer_eval(void *state)
{
    layer_run *run = state;
    return layer_loss(run->g, run->x, run->y, run->r);
}

gc_result gc_check(gc_layer *g, const float *x0, const gc_opts *o)
{
    gc_result res = {0};
    size_t nx = gc_in_size(g), ny = gc_out_size(g);
    float *x = malloc(sizeof(float) * (nx + 1)), *y = malloc(sizeof(float) * (ny + 1)),
          *r = probe(ny, o->seed);
    float *dx = malloc(sizeof(float) * (nx + 1)), *grads = malloc(sizeof(float) * (g->nvalues + 1));
    ck_assert(x && y && dx && grads);
    glia_rng pick;
    glia_rng_seed(&pick, o->seed + 17);
    memcpy(x, x0, sizeof(float) * nx);

    gc_forward(g, x, y);
    gc_backward(g, x, y, r, dx);
    memcpy(grads, g->grads, sizeof(float) * g->nvalues);
    double l0 = layer_loss(g, x, y, r);
    layer_run run = {g, x, y, r};

    for (size_t j = 0, m = sample_count(o->max_inputs, nx); j < m; j++) {
        size_t i = sample_index(j, o->max_inputs, nx, &pick);
        steps s = perturb(&x[i], o->step, layer_eval, &run);
        compare(&res, o, dx[i], l0, s, "dx", i);
        res.checked_inputs++;
    }
    for (size_t j = 0, m = sample_count(o->max_params, g->nvalues); j < m; j++) {
        size_t i = sample_index(j, o->max_params, g->nvalues, &pick), local;
        const char *name = layer_param_at(g, i, &local);
        steps s = perturb(&g->values[i], o->step, layer_eval, &run);
        compare(&res, o, grads[i], l0, s, name, local);
        res.checked_params++;
    }
    free(x);
    free(y);
    free(r);
    free(dx);
    free(grads);
    return res;
}

/* ---- a whole network ---- */

typedef struct {
    glia_net *net;
    glia_ctx *ctx;
    const float *x;
    int n;
    gc_loss_fn loss;
    void *user;
    const float *r;
    unsigned seed;
} net_run;

static double net_loss(net_run *run, float *dout)
{
    glia_rng rng;
    glia_rng_seed(&rng, run->seed + 1000);
    const float *out = glia_net_forward(run->net, run->ctx, run->x, run->n, &rng);
    int k = (int)glia_shape3_size(run->net->output);
    if (run->loss)
        return run->loss(out, run->n, k, dout, run->user);
    size_t ny = (size_t)k * (size_t)run->n;
    double s = 0.0;
    for (size_t i = 0; i < ny; i++)
        s += (double)out[i] * run->r[i];
    if (dout)
        memcpy(dout, run->r, sizeof(float) * ny);
    return s;
}

static double net_eval(void *state)
{
    return net_loss(state, NULL);
}

gc_result gc_net_check(glia_net *net, const float *x, int n, gc_loss_fn loss, void *user, const gc_opts *o)
{
    gc_result res = {0};
    glia_err err = {0};
    glia_ctx *ctx = NULL;
    ck_assert_msg(glia_net_enable_grads(net, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_ctx_new(net, n, 1, &ctx, &err) == GLIA_OK, "%s", err.msg);
    size_t ny = glia_shape3_size(net->output) * (size_t)n;
    float *r = probe(ny, o->seed), *dout = malloc(sizeof(float) * (ny + 1));
    float *grads = malloc(sizeof(float) * (net->grad_size + 1));
    ck_assert(dout && grads);
    net_run run = {net, ctx, x, n, loss, user, r, o->seed};

    glia_net_zero_grads(net);
    double l0 = net_loss(&run, dout);
    glia_net_backward(net, ctx, dout, NULL);
    memcpy(grads, net->grads, sizeof(float) * net->grad_size);

    /* the parameters only: buffers (batch norm's running statistics) have no gradient */
    glia_rng pick;
    glia_rng_seed(&pick, o->seed + 17);
    for (size_t j = 0, m = sample_count(o->max_params, net->grad_size); j < m; j++) {
        size_t i = sample_index(j, o->max_params, net->grad_size, &pick);
        steps s = perturb(&net->values[i], o->step, net_eval, &run);
        const char *name = "param";
        size_t local = i;
        for (int p = 0; p < net->nparams; p++) {
            size_t off = (size_t)(net->params[p].value - net->values);
            if (i >= off && i < off + net->params[p].size) {
                name = net->params[p].name;
                local = i - off;
            }
        }
        compare(&res, o, grads[i], l0, s, name, local);
        res.checked_params++;
    }
    free(r);
    free(dout);
    free(grads);
    glia_ctx_free(ctx);
    return res;
}

/* ---- inputs ---- */

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

void gc_uniform(float *x, size_t n, float lo, float hi, unsigned seed)
{
    glia_rng rng;
    glia_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * glia_rng_uniform(&rng);
}
