/* batch.c - see batch.h. */
#include "core/train/batch.h"

#include <math.h>
#include <string.h>

static const char *const kind_names[] = {"fixed", "random", "adaptive"};

glia_status glia_batch_kind_parse(const char *name, glia_batch_kind *kind, glia_err *err)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, kind_names[i]) == 0) {
            *kind = (glia_batch_kind)i;
            return GLIA_OK;
        }
    return glia_err_set(err, GLIA_EINVAL, "unknown batch policy '%s' (known: fixed, random, adaptive)", name);
}

glia_status glia_batch_init(glia_batch_policy *p, const glia_batch_config *c, glia_err *err)
{
    memset(p, 0, sizeof *p);
    switch (c->kind) {
    case GLIA_BATCH_FIXED:
        if (c->size < 1)
            return glia_err_set(err, GLIA_EINVAL, "batch: size must be >= 1, got %d", c->size);
        break;
    case GLIA_BATCH_RANDOM:
        if (c->min < 1 || c->max < c->min)
            return glia_err_set(err, GLIA_EINVAL, "batch: random needs 1 <= min <= max, got min %d, max %d",
                                c->min, c->max);
        break;
    case GLIA_BATCH_ADAPTIVE:
        if (c->size < 1 || c->max < c->size || !(c->growth > 1) || c->patience < 1 || !(c->min_delta >= 0))
            return glia_err_set(
                err, GLIA_EINVAL,
                "batch: adaptive needs 1 <= size <= max, growth > 1, patience >= 1, min_delta >= 0 "
                "(size %d, max %d, growth %g, patience %d)",
                c->size, c->max, c->growth, c->patience);
        break;
    default: return glia_err_set(err, GLIA_EINVAL, "batch: unknown policy %d", (int)c->kind);
    }
    p->cfg = *c;
    p->current = c->size;
    return GLIA_OK;
}

int glia_batch_next(glia_batch_policy *p, glia_rng *rng)
{
    switch (p->cfg.kind) {
    case GLIA_BATCH_RANDOM:
        return p->cfg.min + (int)glia_rng_below(rng, (uint64_t)(p->cfg.max - p->cfg.min + 1));
    case GLIA_BATCH_ADAPTIVE: return p->current;
    case GLIA_BATCH_FIXED:
    default: return p->cfg.size;
    }
}

int glia_batch_max(const glia_batch_policy *p)
{
    return p->cfg.kind == GLIA_BATCH_FIXED ? p->cfg.size : p->cfg.max;
}

int glia_batch_end_epoch(glia_batch_policy *p, float val_loss)
{
    if (p->cfg.kind != GLIA_BATCH_ADAPTIVE || !isfinite(val_loss))
        return 0;
    if (!p->have_best || val_loss < p->best_loss - p->cfg.min_delta) {
        p->best_loss = val_loss;
        p->have_best = 1;
        p->stale = 0;
        return 0;
    }
    if (++p->stale < p->cfg.patience)
        return 0;
    p->stale = 0;
    int next = (int)ceilf((float)p->current * p->cfg.growth);
    if (next > p->cfg.max)
        next = p->cfg.max;
    int grew = next > p->current;
    p->current = next;
    return grew;
}
