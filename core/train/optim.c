/*
 * optim.c - see optim.h. The loops are written element by element in float, the way
 * PyTorch's single-tensor (foreach=False) implementations compute, so parity tests can
 * ask for agreement to a few ulps.
 */
#include "core/train/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_BUFS = 3 };

typedef struct {
    float *buf[MAX_BUFS]; /* per kind: see buffer_names */
} slot;

/* The coefficients PyTorch derives from the hyper-parameters in Python floats (double) before
 * its float kernels see them: 1 - beta1 is (float)(1 - 0.9), not 1 - 0.9f (which is 2.4e-7
 * away; for beta2 = 0.999 the difference is 1.3e-5), and beta^t for the bias corrections
 * is a power of the double 0.999, not of 0.999f. */
typedef struct {
    float one_minus_damp;  /* SGD: 1 - dampening */
    float one_minus_alpha; /* RMSprop: 1 - alpha */
    float one_minus_b1;    /* Adam(W): 1 - beta1 */
    float one_minus_b2;    /* Adam(W): 1 - beta2 */
    double b1, b2;         /* Adam(W): the betas as the decimals they were written as */
} coefs;

struct glia_optim {
    glia_optim_config cfg;
    coefs k;
    glia_param *params;
    int n;
    long steps;
    int nbufs;
    slot *slots;
    float *memory;
};

static const char *const sgd_names[] = {"momentum_buffer"};
static const char *const rms_names[] = {"square_avg", "grad_avg", "momentum_buffer"};
static const char *const adam_names[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

void glia_optim_defaults(glia_optim_kind kind, glia_optim_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->alpha = 0.99f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-8f;
    switch (kind) {
    case GLIA_OPTIM_SGD:
    case GLIA_OPTIM_RMSPROP: cfg->lr = 0.01f; break;
    case GLIA_OPTIM_ADAM: cfg->lr = 1e-3f; break;
    case GLIA_OPTIM_ADAMW:
        cfg->lr = 1e-3f;
        cfg->weight_decay = 1e-2f;
        break;
    }
}

static const char *const kind_names[] = {"sgd", "rmsprop", "adam", "adamw"};

const char *glia_optim_kind_name(glia_optim_kind kind)
{
    return (unsigned)kind < 4 ? kind_names[kind] : "?";
}

glia_status glia_optim_kind_parse(const char *name, glia_optim_kind *kind, glia_err *err)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, kind_names[i]) == 0) {
            *kind = (glia_optim_kind)i;
            return GLIA_OK;
        }
    return glia_err_set(err, GLIA_EINVAL, "unknown optimizer '%s' (known: sgd, rmsprop, adam, adamw)", name);
}

/* The double a recipe's decimal denotes, recovered from its float: the shortest decimal that
 * rounds to f (what Python's repr prints, and what a user writes: 0.999f gives 0.999). */
static double decimal_of(float f)
{
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return (double)f;
}

static void derive_coefs(const glia_optim_config *c, coefs *k)
{
    k->one_minus_damp = (float)(1.0 - decimal_of(c->dampening));
    k->one_minus_alpha = (float)(1.0 - decimal_of(c->alpha));
    k->b1 = decimal_of(c->beta1);
    k->b2 = decimal_of(c->beta2);
    k->one_minus_b1 = (float)(1.0 - k->b1);
    k->one_minus_b2 = (float)(1.0 - k->b2);
}

static glia_status check(const glia_optim_config *c, glia_err *err)
{
    if (!(c->lr >= 0) || !(c->weight_decay >= 0) || !(c->momentum >= 0))
        return glia_err_set(err, GLIA_EINVAL, "optimizer: lr, momentum and weight_decay must be >= 0");
    switch (c->kind) {
    case GLIA_OPTIM_SGD:
        if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
            return glia_err_set(err, GLIA_EINVAL, "optimizer: nesterov needs momentum > 0 and dampening 0");
        break;
    case GLIA_OPTIM_RMSPROP:
        if (!(c->alpha >= 0 && c->alpha <= 1) || !(c->eps >= 0))
            return glia_err_set(err, GLIA_EINVAL, "optimizer: rmsprop needs 0 <= alpha <= 1 and eps >= 0");
        break;
    case GLIA_OPTIM_ADAM:
    case GLIA_OPTIM_ADAMW:
        if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1) || !(c->eps >= 0))
            return glia_err_set(err, GLIA_EINVAL, "optimizer: adam needs 0 <= beta1, beta2 < 1 and eps >= 0");
        break;
    default: return glia_err_set(err, GLIA_EINVAL, "optimizer: unknown kind %d", (int)c->kind);
    }
    return GLIA_OK;
}

glia_status glia_optim_new(const glia_optim_config *cfg, glia_param *params, int n, glia_optim **out,
                           glia_err *err)
{
    glia_status rc;
    *out = NULL;
    if ((rc = check(cfg, err)))
        return rc;
    glia_optim *o = calloc(1, sizeof *o);
    if (!o)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for the optimizer");
    o->cfg = *cfg;
    derive_coefs(cfg, &o->k);
    o->params = params;
    o->n = n;
    o->nbufs = cfg->kind == GLIA_OPTIM_SGD ? 1 : 3;
    o->slots = calloc((size_t)(n ? n : 1), sizeof *o->slots);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!params[i].grad) {
            glia_optim_free(o);
            return glia_err_set(err, GLIA_EINVAL, "optimizer: parameter '%s' has no gradient buffer",
                                params[i].name);
        }
        total += params[i].size;
    }
    /* Zero-initialised state is what PyTorch starts from (SGD's first step is special-cased). */
    o->memory = calloc(total * (size_t)o->nbufs + 1, sizeof(float));
    if (!o->slots || !o->memory) {
        /* the message before the free: it reads o->nbufs */
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for optimizer state (%zu floats)",
                          total * (size_t)o->nbufs);
        glia_optim_free(o);
        return rc;
    }
    float *p = o->memory;
    for (int i = 0; i < n; i++)
        for (int b = 0; b < o->nbufs; b++) {
            o->slots[i].buf[b] = p;
            p += params[i].size;
        }
    *out = o;
    return GLIA_OK;
}

void glia_optim_free(glia_optim *opt)
{
    if (!opt)
        return;
    free(opt->memory);
    free(opt->slots);
    free(opt);
}

long glia_optim_steps(const glia_optim *opt)
{
    return opt->steps;
}

void glia_optim_set_steps(glia_optim *opt, long steps)
{
    opt->steps = steps;
}

int glia_optim_buffers(glia_optim *opt, int i, float **bufs, const char **names)
{
    const char *const *nm = opt->cfg.kind == GLIA_OPTIM_SGD       ? sgd_names
                            : opt->cfg.kind == GLIA_OPTIM_RMSPROP ? rms_names
                                                                  : adam_names;
    for (int b = 0; b < opt->nbufs; b++) {
        bufs[b] = opt->slots[i].buf[b];
        names[b] = nm[b];
    }
    return opt->nbufs;
}

static void sgd(const glia_optim_config *c, const coefs *k, glia_param *p, float *buf, int first, float lr)
{
    const float wd = c->weight_decay, mu = c->momentum, damp = k->one_minus_damp;
    for (size_t j = 0; j < p->size; j++) {
        float g = p->grad[j];
        if (wd != 0)
            g += wd * p->value[j];
        if (mu != 0) {
            buf[j] = first ? g : mu * buf[j] + damp * g;
            g = c->nesterov ? g + mu * buf[j] : buf[j];
        }
        p->value[j] -= lr * g;
    }
}

static void rmsprop(const glia_optim_config *c, const coefs *k, glia_param *p, slot *s, float lr)
{
    const float wd = c->weight_decay, a = c->alpha, a1 = k->one_minus_alpha, mu = c->momentum;
    float *sq = s->buf[0], *ga = s->buf[1], *mb = s->buf[2];
    for (size_t j = 0; j < p->size; j++) {
        float g = p->grad[j];
        if (wd != 0)
            g += wd * p->value[j];
        sq[j] = a * sq[j] + a1 * g * g;
        float d;
        if (c->centered) {
            ga[j] = a * ga[j] + a1 * g;
            d = sqrtf(sq[j] - ga[j] * ga[j]) + c->eps;
        } else {
            d = sqrtf(sq[j]) + c->eps;
        }
        if (mu > 0) {
            mb[j] = mu * mb[j] + g / d;
            p->value[j] -= lr * mb[j];
        } else {
            p->value[j] -= lr * g / d;
        }
    }
}

static void adam(const glia_optim_config *c, const coefs *k, glia_param *p, slot *s, long t, float lr)
{
    const int decoupled = c->kind == GLIA_OPTIM_ADAMW;
    const float wd = c->weight_decay, b1 = c->beta1, b2 = c->beta2;
    const float b1c = k->one_minus_b1, b2c = k->one_minus_b2;
    /* PyTorch computes the bias corrections in Python floats (double). */
    const double bc1 = 1.0 - pow(k->b1, (double)t);
    const float bc2_sqrt = (float)sqrt(1.0 - pow(k->b2, (double)t));
    const float step = (float)(lr / bc1);
    float *m = s->buf[0], *v = s->buf[1], *vmax = s->buf[2];
    for (size_t j = 0; j < p->size; j++) {
        float g = p->grad[j];
        if (decoupled)
            p->value[j] *= 1.0f - lr * wd;
        else if (wd != 0)
            g += wd * p->value[j];
        m[j] = b1 * m[j] + b1c * g;
        v[j] = b2 * v[j] + b2c * g * g;
        float den;
        if (c->amsgrad) {
            vmax[j] = fmaxf(vmax[j], v[j]);
            den = sqrtf(vmax[j]) / bc2_sqrt + c->eps;
        } else {
            den = sqrtf(v[j]) / bc2_sqrt + c->eps;
        }
        p->value[j] -= step * m[j] / den;
    }
}

void glia_optim_step(glia_optim *opt, float lr)
{
    const int first = opt->steps == 0;
    opt->steps++;
    for (int i = 0; i < opt->n; i++) {
        glia_param *p = &opt->params[i];
        switch (opt->cfg.kind) {
        case GLIA_OPTIM_SGD: sgd(&opt->cfg, &opt->k, p, opt->slots[i].buf[0], first, lr); break;
        case GLIA_OPTIM_RMSPROP: rmsprop(&opt->cfg, &opt->k, p, &opt->slots[i], lr); break;
        case GLIA_OPTIM_ADAM:
        case GLIA_OPTIM_ADAMW: adam(&opt->cfg, &opt->k, p, &opt->slots[i], opt->steps, lr); break;
        }
    }
}
