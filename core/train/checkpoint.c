/*
 * checkpoint.c - see checkpoint.h.
 *
 * Doubles are written with %.17g and floats with %.9g, which read back to the same bits;
 * random states as hex, never through a floating-point type.
 */
#include "core/train/checkpoint.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/formats/safetensors.h"

/* MAX_META: the fixed keys and one random state per lane */
enum {
    NAME_MAX_LEN = GLIA_NAME_MAX + 48,
    MAX_META = 32 + GLIA_CKPT_MAX_LANES,
    META_VALUE = 80,
    MAX_BUFS = 3
};

/* ---- names and metadata ---- */

typedef struct {
    const char *kv[2 * MAX_META + 1];
    char keys[MAX_META][40];
    char values[MAX_META][META_VALUE];
    int n;
} meta_list;

static void meta_put(meta_list *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void meta_put(meta_list *m, const char *key, const char *fmt, ...)
{
    GLIA_ASSERT(m->n < MAX_META);
    va_list ap;
    snprintf(m->keys[m->n], sizeof m->keys[m->n], "%s", key);
    va_start(ap, fmt);
    vsnprintf(m->values[m->n], sizeof m->values[m->n], fmt, ap);
    va_end(ap);
    m->kv[2 * m->n] = m->keys[m->n];
    m->kv[2 * m->n + 1] = m->values[m->n];
    m->n++;
    m->kv[2 * m->n] = NULL;
}

static void rng_hex(const glia_rng *r, char out[65])
{
    for (int i = 0; i < 4; i++)
        snprintf(out + 16 * i, 17, "%016" PRIx64, r->s[i]);
}

static glia_status rng_parse(const char *hex, glia_rng *r, const char *key, glia_err *err)
{
    if (!hex || strlen(hex) != 64)
        return glia_err_set(err, GLIA_EFORMAT, "checkpoint: '%s' is not a 64-digit random state", key);
    for (int i = 0; i < 4; i++) {
        char part[17];
        memcpy(part, hex + 16 * i, 16);
        part[16] = '\0';
        char *end;
        r->s[i] = strtoull(part, &end, 16);
        if (*end)
            return glia_err_set(err, GLIA_EFORMAT, "checkpoint: '%s' is not a 64-digit random state", key);
    }
    return GLIA_OK;
}

static void rng_put(meta_list *m, const char *key, const glia_rng *r)
{
    char hex[65];
    rng_hex(r, hex);
    meta_put(m, key, "%s", hex);
}

glia_ckpt_model glia_ckpt_describe(const glia_model *model, float *best, glia_optim *opt)
{
    return (glia_ckpt_model){.params = model->params,
                             .nparams = model->nparams,
                             .base = model->values,
                             .best = best,
                             .opt = opt,
                             .opt_params = model->trainable,
                             .nopt = model->ntrainable};
}

/* ---- save ---- */

glia_status glia_ckpt_save(const char *path, const glia_ckpt_state *st, const glia_ckpt_model *m,
                           glia_err *err)
{
    GLIA_ASSERT(st->nlanes >= 1 && st->nlanes <= GLIA_CKPT_MAX_LANES);
    const size_t cap = (size_t)m->nparams * 3 + (size_t)m->nopt * MAX_BUFS;
    glia_st_entry *entries = calloc(cap, sizeof *entries);
    char(*names)[NAME_MAX_LEN] = calloc(cap, sizeof *names);
    meta_list *meta = calloc(1, sizeof *meta);
    glia_status rc;
    if (!entries || !names || !meta) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory writing checkpoint %s", path);
        goto done;
    }
    size_t n = 0;
    for (int i = 0; i < m->nparams; i++) {
        const glia_param *p = &m->params[i];
        snprintf(names[n], NAME_MAX_LEN, "model.%s", p->name);
        entries[n] = (glia_st_entry){names[n], GLIA_DT_F32, p->ndim, p->shape, p->value};
        n++;
        if (m->best) {
            snprintf(names[n], NAME_MAX_LEN, "best.%s", p->name);
            entries[n] =
                (glia_st_entry){names[n], GLIA_DT_F32, p->ndim, p->shape, m->best + (p->value - m->base)};
            n++;
        }
        if (m->ema) {
            snprintf(names[n], NAME_MAX_LEN, "ema.%s", p->name);
            entries[n] =
                (glia_st_entry){names[n], GLIA_DT_F32, p->ndim, p->shape, m->ema + (p->value - m->base)};
            n++;
        }
    }
    for (int i = 0; m->opt && i < m->nopt; i++) {
        float *bufs[MAX_BUFS];
        const char *bnames[MAX_BUFS];
        int k = glia_optim_buffers(m->opt, i, bufs, bnames);
        for (int j = 0; j < k; j++) {
            snprintf(names[n], NAME_MAX_LEN, "optim.%s.%s", m->opt_params[i].name, bnames[j]);
            entries[n] = (glia_st_entry){names[n], GLIA_DT_F32, m->opt_params[i].ndim, m->opt_params[i].shape,
                                         bufs[j]};
            n++;
        }
    }
    meta_put(meta, "glia.checkpoint", "1");
    meta_put(meta, "epoch", "%d", st->epoch);
    meta_put(meta, "step", "%ld", st->step);
    meta_put(meta, "optim_steps", "%ld", m->opt ? glia_optim_steps(m->opt) : 0L);
    meta_put(meta, "seconds", "%.17g", st->seconds);
    meta_put(meta, "best_epoch", "%d", st->best_epoch);
    meta_put(meta, "best_val_accuracy", "%.17g", st->best_val_accuracy);
    meta_put(meta, "has_best", "%d", m->best != NULL);
    meta_put(meta, "has_ema", "%d", m->ema != NULL);
    meta_put(meta, "policy.current", "%d", st->policy.current);
    meta_put(meta, "policy.best_loss", "%.9g", (double)st->policy.best_loss);
    meta_put(meta, "policy.stale", "%d", st->policy.stale);
    meta_put(meta, "policy.have_best", "%d", st->policy.have_best);
    rng_put(meta, "rng.shuffle", &st->shuffle);
    rng_put(meta, "rng.batch", &st->batch);
    rng_put(meta, "rng.augment", &st->augment);
    meta_put(meta, "lanes", "%d", st->nlanes);
    meta_put(meta, "ranks", "%d", st->nranks > 1 ? st->nranks : 1);
    for (int i = 0; i < st->nlanes; i++) {
        char key[32];
        snprintf(key, sizeof key, "rng.dropout.%d", i);
        rng_put(meta, key, &st->dropout[i]);
    }
    if (st->recipe[0])
        meta_put(meta, "recipe", "%s", st->recipe);
    rc = glia_st_write(path, entries, n, meta->kv, err);
done:
    free(entries);
    free(names);
    free(meta);
    return rc;
}

/* ---- load ---- */

static glia_status meta_long(const glia_st_file *f, const char *key, long lo, long hi, long *out,
                             glia_err *err)
{
    const char *v = glia_st_metadata(f, key);
    char *end;
    if (!v || !*v)
        return glia_err_set(err, GLIA_EFORMAT, "checkpoint: no '%s'", key);
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi)
        return glia_err_set(err, GLIA_EFORMAT, "checkpoint: '%s' = '%s' is not an integer in [%ld, %ld]", key,
                            v, lo, hi);
    *out = x;
    return GLIA_OK;
}

static glia_status meta_double(const glia_st_file *f, const char *key, double *out, glia_err *err)
{
    const char *v = glia_st_metadata(f, key);
    char *end;
    if (!v || !*v)
        return glia_err_set(err, GLIA_EFORMAT, "checkpoint: no '%s'", key);
    *out = strtod(v, &end);
    if (*end)
        return glia_err_set(err, GLIA_EFORMAT, "checkpoint: '%s' = '%s' is not a number", key, v);
    return GLIA_OK;
}

/* The tensor `name`, which must hold exactly count elements. */
static glia_status find_sized(const glia_st_file *f, const char *name, size_t count,
                              const glia_st_tensor **out, glia_err *err)
{
    const glia_st_tensor *t = glia_st_find(f, name);
    if (!t)
        return glia_err_set(err, GLIA_ENOTFOUND, "checkpoint: no tensor '%s' (another model?)", name);
    if (glia_st_numel(t) != count || t->dtype != GLIA_DT_F32)
        return glia_err_set(err, GLIA_EINVAL,
                            "checkpoint: tensor '%s' has %zu %s elements, the model %zu F32", name,
                            glia_st_numel(t), glia_dtype_name(t->dtype), count);
    *out = t;
    return GLIA_OK;
}

/* The checking pass proves a tensor finite (a NaN checkpoint resumes a run that can only
 * produce NaN); the applying pass copies it, so nothing is applied from a file the first refuses. */
static glia_status take(const glia_st_tensor *t, float *dst, size_t count, int apply, glia_err *err)
{
    return apply ? glia_st_read_f32(t, dst, count, err) : glia_st_check_finite(t, err);
}

/* Walks every tensor the model needs; with apply == 0 only checks, else reads. */
static glia_status walk(const glia_st_file *f, const glia_ckpt_model *m, int has_best, int apply,
                        glia_err *err)
{
    char name[NAME_MAX_LEN];
    const glia_st_tensor *t;
    glia_status rc;
    for (int i = 0; i < m->nparams; i++) {
        const glia_param *p = &m->params[i];
        snprintf(name, sizeof name, "model.%s", p->name);
        if ((rc = find_sized(f, name, p->size, &t, err)) || (rc = take(t, p->value, p->size, apply, err)))
            return rc;
        if (has_best && m->best) {
            snprintf(name, sizeof name, "best.%s", p->name);
            if ((rc = find_sized(f, name, p->size, &t, err)) ||
                (rc = take(t, m->best + (p->value - m->base), p->size, apply, err)))
                return rc;
        }
        if (m->ema) {
            snprintf(name, sizeof name, "ema.%s", p->name);
            if ((rc = find_sized(f, name, p->size, &t, err)) ||
                (rc = take(t, m->ema + (p->value - m->base), p->size, apply, err)))
                return rc;
        }
    }
    for (int i = 0; m->opt && i < m->nopt; i++) {
        float *bufs[MAX_BUFS];
        const char *bnames[MAX_BUFS];
        int k = glia_optim_buffers(m->opt, i, bufs, bnames);
        for (int j = 0; j < k; j++) {
            snprintf(name, sizeof name, "optim.%s.%s", m->opt_params[i].name, bnames[j]);
            if ((rc = find_sized(f, name, m->opt_params[i].size, &t, err)) ||
                (rc = take(t, bufs[j], m->opt_params[i].size, apply, err)))
                return rc;
        }
    }
    return GLIA_OK;
}

glia_status glia_ckpt_load(const char *path, glia_ckpt_state *st, const glia_ckpt_model *m, glia_err *err)
{
    glia_st_file *f = NULL;
    glia_ckpt_state s;
    long epoch, step, optim_steps, best_epoch, has_best, lanes, ranks = 1, current, stale, have_best;
    double best_loss = 0.0;
    glia_status rc = glia_st_open(path, &f, err);
    if (rc != GLIA_OK)
        return rc;
    memset(&s, 0, sizeof s);
    const char *tag = glia_st_metadata(f, "glia.checkpoint"), *format = glia_st_metadata(f, "format");
    if (!tag || strcmp(tag, "1") != 0) {
        /* a file of an older layout says its own "format" (lmtrain.c's "glia-lm-checkpoint") */
        rc = glia_err_set(err, GLIA_EFORMAT, "%s is not a glia checkpoint (version 1)%s%s%s", path,
                          format ? " but a '" : "", format ? format : "",
                          format ? "' file of an older glia: remove it to start the run afresh" : "");
        goto done;
    }
    const char *recipe = glia_st_metadata(f, "recipe");
    if (st->recipe[0] && (!recipe || strcmp(recipe, st->recipe) != 0)) {
        rc =
            glia_err_set(err, GLIA_EINVAL,
                         "%s is the checkpoint of another recipe (or another version of this one): remove it "
                         "or write the run elsewhere",
                         path);
        goto done;
    }
    if ((rc = meta_long(f, "epoch", 0, 1L << 30, &epoch, err)) ||
        (rc = meta_long(f, "step", 0, LONG_MAX, &step, err)) ||
        (rc = meta_long(f, "optim_steps", 0, LONG_MAX, &optim_steps, err)) ||
        (rc = meta_double(f, "seconds", &s.seconds, err)) ||
        (rc = meta_long(f, "best_epoch", 0, 1L << 30, &best_epoch, err)) ||
        (rc = meta_double(f, "best_val_accuracy", &s.best_val_accuracy, err)) ||
        (rc = meta_long(f, "has_best", 0, 1, &has_best, err)) ||
        (rc = meta_long(f, "policy.current", 0, 1L << 30, &current, err)) ||
        (rc = meta_double(f, "policy.best_loss", &best_loss, err)) ||
        (rc = meta_long(f, "policy.stale", 0, 1L << 30, &stale, err)) ||
        (rc = meta_long(f, "policy.have_best", 0, 1, &have_best, err)) ||
        (rc = meta_long(f, "lanes", 1, GLIA_CKPT_MAX_LANES, &lanes, err)) ||
        (rc = rng_parse(glia_st_metadata(f, "rng.shuffle"), &s.shuffle, "rng.shuffle", err)) ||
        (rc = rng_parse(glia_st_metadata(f, "rng.batch"), &s.batch, "rng.batch", err)) ||
        (rc = rng_parse(glia_st_metadata(f, "rng.augment"), &s.augment, "rng.augment", err)))
        goto done;
    /* the average is part of the run's state: a run with it cannot continue one without
     * (its average would start over) nor the reverse; checkpoints older than it have none */
    long has_ema = 0;
    if (glia_st_metadata(f, "has_ema") && (rc = meta_long(f, "has_ema", 0, 1, &has_ema, err)))
        goto done;
    if (has_ema != (m->ema != NULL)) {
        rc = glia_err_set(err, GLIA_EINVAL,
                          "%s was written by a run %s a moving average of the weights (recipe key ema); "
                          "resume it with the same recipe, or the result would differ",
                          path, has_ema ? "with" : "without");
        goto done;
    }
    /* a checkpoint from before processes were counted is one process's */
    if (glia_st_metadata(f, "ranks") && (rc = meta_long(f, "ranks", 1, GLIA_CKPT_MAX_LANES, &ranks, err)))
        goto done;
    const long want_ranks = st->nranks > 1 ? st->nranks : 1;
    if (ranks != want_ranks) {
        rc =
            glia_err_set(err, GLIA_EINVAL,
                         "%s was written by a run of %ld process%s (mpirun -np %ld); resume it with the same "
                         "number (not %ld), or the result would differ",
                         path, ranks, ranks == 1 ? "" : "es", ranks, want_ranks);
        goto done;
    }
    if (lanes != st->nlanes) {
        rc =
            glia_err_set(err, GLIA_EINVAL,
                         "%s was written by a run with %ld threads%s; resume it with the same number (not "
                         "%ld), or the result would differ",
                         path, lanes / ranks, ranks > 1 ? " per process" : "", (long)st->nlanes / want_ranks);
        goto done;
    }
    s.nlanes = (int)lanes;
    s.nranks = (int)ranks;
    for (int i = 0; i < s.nlanes; i++) {
        char key[32];
        snprintf(key, sizeof key, "rng.dropout.%d", i);
        if ((rc = rng_parse(glia_st_metadata(f, key), &s.dropout[i], key, err)))
            goto done;
    }
    if ((rc = walk(f, m, (int)has_best, 0, err)) || (rc = walk(f, m, (int)has_best, 1, err))) {
        glia_err_prefix(err, "%s", path);
        goto done;
    }
    s.epoch = (int)epoch;
    s.step = step;
    memcpy(s.recipe, st->recipe, sizeof s.recipe);
    s.best_epoch = (int)best_epoch;
    s.policy = st->policy; /* the configuration comes from the recipe; the state from the file */
    s.policy.current = (int)current;
    s.policy.best_loss = (float)best_loss;
    s.policy.stale = (int)stale;
    s.policy.have_best = (int)have_best;
    if (m->opt)
        glia_optim_set_steps(m->opt, optim_steps);
    *st = s;
done:
    glia_st_close(f);
    return rc;
}

/* ---- the training loops' side ---- */

glia_status glia_ckpt_resume(const glia_recipe *r, glia_ckpt_state *st, const glia_ckpt_model *m,
                             int *resumed, glia_err *err)
{
    *resumed = 0;
    if (!r->resume || !r->checkpoint[0] || access(r->checkpoint, F_OK) != 0)
        return GLIA_OK;
    glia_status rc = glia_ckpt_load(r->checkpoint, st, m, err);
    *resumed = rc == GLIA_OK;
    return rc;
}

glia_status glia_ckpt_after_epoch(const glia_recipe *r, glia_ckpt_state *st, int epochs_done, long step,
                                  double seconds, const glia_batch_policy *policy,
                                  const glia_train_result *res, const glia_ckpt_model *m, glia_err *err)
{
    if (!r->checkpoint[0])
        return GLIA_OK;
    st->epoch = epochs_done;
    st->step = step;
    st->seconds = seconds;
    st->policy = *policy;
    st->best_epoch = res->best_epoch;
    st->best_val_accuracy = res->best_val_accuracy;
    return glia_ckpt_save(r->checkpoint, st, m, err);
}
