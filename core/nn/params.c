/*
 * params.c - see params.h.
 */
#include "core/nn/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

glia_status glia_param_name(glia_param *p, const char *prefix, const char *local, glia_err *err)
{
    int has = prefix && *prefix;
    int len = snprintf(p->name, sizeof p->name, "%s%s%s", has ? prefix : "", has ? "." : "", local);
    if (len < 0 || (size_t)len >= sizeof p->name)
        return glia_err_set(err, GLIA_EINVAL, "parameter name '%s.%s' is longer than %d bytes", prefix, local,
                            GLIA_NAME_MAX - 1);
    return GLIA_OK;
}

void glia_params_bind(glia_param *params, int n, float *values, float *grads)
{
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        params[i].value = values + off;
        params[i].grad = grads ? grads + off : NULL;
        off += params[i].size;
    }
}

const glia_param *glia_params_find(const glia_param *params, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(params[i].name, name) == 0)
            return &params[i];
    return NULL;
}

static void format_shape(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

glia_status glia_params_load(const glia_param *params, int n, const glia_st_file *st, const char *owner,
                             glia_err *err)
{
    for (int i = 0; i < n; i++) {
        const glia_param *p = &params[i];
        GLIA_ASSERT(p->value);
        const glia_st_tensor *t = glia_st_find(st, p->name);
        if (!t)
            return glia_err_set(err, GLIA_ENOTFOUND, "missing tensor '%s' (expected by the %s)", p->name,
                                owner);
        int same = t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++)
            same = t->shape[d] == p->shape[d];
        if (!same) {
            char want[96], got[96];
            format_shape(want, sizeof want, p->ndim, p->shape);
            format_shape(got, sizeof got, t->ndim, t->shape);
            return glia_err_set(err, GLIA_EINVAL, "tensor '%s' has shape %s but the %s expects %s", p->name,
                                got, owner, want);
        }
        if (p->int64) { /* a counter such as num_batches_tracked: PyTorch stores an int64 */
            int64_t v = 0;
            if (t->dtype != GLIA_DT_I64 || t->nbytes != sizeof v)
                return glia_err_set(err, GLIA_EINVAL, "tensor '%s' is %s but the %s expects an I64 scalar",
                                    p->name, glia_dtype_name(t->dtype), owner);
            memcpy(&v, t->data, sizeof v); /* little-endian, as safetensors and every host glia runs on */
            if (v < 0 || v > (1LL << 24))
                return glia_err_set(err, GLIA_EINVAL, "tensor '%s' holds %lld, outside [0, 2^24]", p->name,
                                    (long long)v);
            p->value[0] = (float)v;
            continue;
        }
        /* Checked before the copy: a NaN weight would load fine and turn every answer into NaN. */
        glia_status rc = glia_st_check_finite(t, err);
        if (rc == GLIA_OK)
            rc = glia_st_read_f32(t, p->value, p->size, err);
        if (rc != GLIA_OK)
            return rc;
    }
    return GLIA_OK;
}

glia_status glia_params_load_strict(const glia_param *params, int n, const glia_st_file *st,
                                    const char *owner, glia_err *err)
{
    glia_status rc = glia_params_load(params, n, st, owner, err);
    if (rc != GLIA_OK)
        return rc;
    for (size_t i = 0; i < glia_st_count(st); i++) {
        const glia_st_tensor *t = glia_st_at(st, i);
        if (!glia_params_find(params, n, t->name))
            return glia_err_set(err, GLIA_EINVAL,
                                "unexpected tensor '%s': the %s's architecture has no such parameter",
                                t->name, owner);
    }
    return GLIA_OK;
}

glia_status glia_params_save(const glia_param *params, int n, const char *path, const char *const *meta,
                             glia_err *err)
{
    glia_st_entry *entries = calloc((size_t)(n > 0 ? n : 1), sizeof *entries);
    int64_t *ints = calloc((size_t)(n > 0 ? n : 1), sizeof *ints); /* the int64 tensors' values */
    glia_status rc;
    if (!entries || !ints) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory saving %s", path);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        entries[i].name = params[i].name;
        entries[i].dtype = GLIA_DT_F32;
        entries[i].ndim = params[i].ndim;
        entries[i].shape = params[i].shape;
        entries[i].data = params[i].value;
        if (params[i].int64) {
            ints[i] = (int64_t)params[i].value[0];
            entries[i].dtype = GLIA_DT_I64;
            entries[i].data = &ints[i];
        }
    }
    rc = glia_st_write(path, entries, (size_t)n, meta, err);
done:
    free(entries);
    free(ints);
    return rc;
}
