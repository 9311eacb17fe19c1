/*
 * data.c - see data.h.
 */
#include "core/train/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/io/idx.h"

glia_status glia_dataset_load_fashion(const char *dir, const char *split, const glia_preprocess *pre,
                                      size_t limit, glia_dataset *ds, glia_err *err)
{
    char ipath[GLIA_PATH_MAX], lpath[GLIA_PATH_MAX];
    const char *prefix;
    glia_idx images = {0}, labels = {0};
    glia_status rc;
    memset(ds, 0, sizeof *ds);
    if (strcmp(split, "train") == 0)
        prefix = "train";
    else if (strcmp(split, "test") == 0)
        prefix = "t10k";
    else
        return glia_err_set(err, GLIA_EINVAL, "fashion-mnist has splits 'train' and 'test', not '%s'", split);
    if (!dir)
        dir = GLIA_FASHION_MNIST_DIR;
    snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    if ((rc = glia_idx_load(ipath, &images, err)) || (rc = glia_idx_load(lpath, &labels, err))) {
        glia_err_prefix(err, "fashion-mnist (install Debian's dataset-fashion-mnist, or run scripts/setup)");
        goto fail;
    }
    if (images.ndim != 3 || labels.ndim != 1 || images.dims[0] != labels.dims[0]) {
        rc = glia_err_set(err, GLIA_EFORMAT, "%s and %s: expected N x H x W images and N labels", ipath,
                          lpath);
        goto fail;
    }
    size_t n = images.dims[0];
    if (limit > 0 && limit < n)
        n = limit;
    ds->shape = (glia_shape3){1, (int)images.dims[1], (int)images.dims[2]};
    size_t sample = glia_dataset_sample(ds);
    ds->x = malloc(sizeof(float) * sample * n);
    ds->y = malloc(sizeof(int32_t) * n);
    if (!ds->x || !ds->y) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu images", n);
        goto fail;
    }
    ds->n = n;
    ds->nclasses = 10;
    ds->owned = 1;
    glia_preprocess_u8(pre, images.data, sample * n, ds->x);
    glia_preprocess_u8(pre, &(const uint8_t){0}, 1, &ds->background);
    for (size_t i = 0; i < n; i++) {
        if (labels.data[i] >= 10) {
            rc = glia_err_set(err, GLIA_EFORMAT, "%s: label %u of example %zu is not in 0..9", lpath,
                              labels.data[i], i);
            goto fail;
        }
        ds->y[i] = labels.data[i];
    }
    glia_idx_free(&images);
    glia_idx_free(&labels);
    return GLIA_OK;
fail:
    glia_idx_free(&images);
    glia_idx_free(&labels);
    ds->owned = 1;
    glia_dataset_free(ds);
    return rc;
}

glia_dataset glia_dataset_view(const glia_dataset *src, size_t begin, size_t count)
{
    GLIA_ASSERT(begin + count <= src->n);
    glia_dataset v = *src;
    v.n = count;
    v.x = src->x + begin * glia_dataset_sample(src);
    v.y = src->y + begin;
    v.owned = 0;
    return v;
}

void glia_dataset_free(glia_dataset *ds)
{
    if (ds->owned) {
        free(ds->x);
        free(ds->y);
    }
    memset(ds, 0, sizeof *ds);
}
