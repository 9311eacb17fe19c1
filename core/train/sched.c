/* sched.c - see sched.h. Rates are computed in double and rounded once. */
#include "core/train/sched.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name;
    glia_sched_kind kind;
} names[] = {
    {"constant", GLIA_SCHED_CONSTANT}, {"warmup", GLIA_SCHED_CONSTANT},
    {"step", GLIA_SCHED_STEP},         {"exponential", GLIA_SCHED_EXPONENTIAL},
    {"cosine", GLIA_SCHED_COSINE},     {"inverse_sqrt", GLIA_SCHED_INVERSE_SQRT},
};

glia_status glia_sched_kind_parse(const char *name, glia_sched_kind *kind, glia_err *err)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *kind = names[i].kind;
            return GLIA_OK;
        }
    return glia_err_set(
        err, GLIA_EINVAL,
        "unknown schedule '%s' (known: constant, warmup, step, exponential, cosine, inverse_sqrt)", name);
}

const char *glia_sched_kind_name(glia_sched_kind kind)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].kind == kind && strcmp(names[i].name, "warmup") != 0)
            return names[i].name;
    return "?";
}

glia_status glia_sched_validate(const glia_sched_config *c, glia_err *err)
{
    if (!(c->base_lr >= 0))
        return glia_err_set(err, GLIA_EINVAL, "schedule: the base learning rate must be >= 0");
    if (c->warmup_steps < 0 || !(c->warmup_start_factor >= 0 && c->warmup_start_factor <= 1))
        return glia_err_set(err, GLIA_EINVAL,
                            "schedule: warmup_steps must be >= 0 and warmup_start_factor in [0, 1]");
    switch (c->kind) {
    case GLIA_SCHED_CONSTANT: break;
    case GLIA_SCHED_STEP:
        if (c->step_size < 1 || !(c->gamma > 0))
            return glia_err_set(err, GLIA_EINVAL, "schedule: step needs step_size >= 1 and gamma > 0");
        break;
    case GLIA_SCHED_EXPONENTIAL:
        if (!(c->gamma > 0))
            return glia_err_set(err, GLIA_EINVAL, "schedule: exponential needs gamma > 0");
        break;
    case GLIA_SCHED_COSINE:
        if (c->total_epochs < 1 || !(c->min_lr >= 0) || c->min_lr > c->base_lr)
            return glia_err_set(err, GLIA_EINVAL,
                                "schedule: cosine needs epochs >= 1 and 0 <= min_lr <= lr "
                                "(min_lr %g, lr %g)",
                                c->min_lr, c->base_lr);
        break;
    case GLIA_SCHED_INVERSE_SQRT:
        if (c->warmup_steps < 1)
            return glia_err_set(err, GLIA_EINVAL, "schedule: inverse_sqrt needs warmup_steps >= 1");
        break;
    default: return glia_err_set(err, GLIA_EINVAL, "schedule: unknown kind %d", (int)c->kind);
    }
    return GLIA_OK;
}

float glia_sched_lr(const glia_sched_config *c, long step, int epoch)
{
    const double pi = 3.14159265358979323846;
    double lr = c->base_lr;
    switch (c->kind) {
    case GLIA_SCHED_CONSTANT: break;
    case GLIA_SCHED_STEP: lr *= pow(c->gamma, (double)(epoch / c->step_size)); break;
    case GLIA_SCHED_EXPONENTIAL: lr *= pow(c->gamma, (double)epoch); break;
    case GLIA_SCHED_COSINE: {
        double t = epoch < c->total_epochs ? (double)epoch / c->total_epochs : 1.0;
        lr = c->min_lr + (c->base_lr - c->min_lr) * (1.0 + cos(pi * t)) / 2.0;
        break;
    }
    case GLIA_SCHED_INVERSE_SQRT: {
        double s =
            (double)(step + 1) > (double)c->warmup_steps ? (double)(step + 1) : (double)c->warmup_steps;
        lr *= sqrt((double)c->warmup_steps / s);
        break;
    }
    }
    if (step < c->warmup_steps) {
        double f0 = c->warmup_start_factor > 0 ? c->warmup_start_factor : 1.0 / 3.0;
        lr *= f0 + (1.0 - f0) * (double)step / (double)c->warmup_steps;
    }
    return (float)lr;
}
