/*
 * data.c - see data.h.
 */
#include "core/data/images.h"

#include "core/base/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/idx.h"

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

glia_status glia_dataset_load_idx(const char *images, const char *labels, const glia_preprocess *pre,
                                  glia_shape3 input, int nclasses, const char *split, glia_dataset *ds,
                                  glia_err *err)
{
    glia_idx im = {0}, lb = {0};
    glia_status rc;
    memset(ds, 0, sizeof *ds);
    int want = strcmp(split, "test") == 0    ? 0
               : strcmp(split, "dev") == 0   ? 1
               : strcmp(split, "train") == 0 ? 2
                                             : -1;
    if (want < 0)
        return glia_err_set(err, GLIA_EINVAL, "split must be train, dev or test, not '%s'", split);
    if ((rc = glia_idx_load(images, &im, err)) || (rc = glia_idx_load(labels, &lb, err)))
        goto fail;
    if (im.ndim != 3 || lb.ndim != 1 || im.dims[0] != lb.dims[0]) {
        rc = glia_err_set(err, GLIA_EFORMAT,
                          "expected N x H x W images and N labels (got %d-D and %d-D, %u and %u)", im.ndim,
                          lb.ndim, im.dims[0], lb.dims[0]);
        goto fail;
    }
    if (input.c != 1 || (int)im.dims[1] != input.h || (int)im.dims[2] != input.w) {
        rc = glia_err_set(err, GLIA_EINVAL, "the images are %u x %u, the model takes %d x %d x %d",
                          im.dims[1], im.dims[2], input.c, input.h, input.w);
        goto fail;
    }
    const size_t sample = (size_t)input.h * (size_t)input.w, total = im.dims[0];
    size_t n = 0;
    for (size_t i = 0; i < total; i++) {
        if (lb.data[i] >= nclasses) {
            rc = glia_err_set(err, GLIA_EFORMAT, "%s: label %u of example %zu is not in 0..%d", labels,
                              lb.data[i], i, nclasses - 1);
            goto fail;
        }
        uint32_t h = glia_fnv1a32(im.data + i * sample, sample) % 10;
        n += (want == 2 ? h >= 2 : h == (uint32_t)want);
    }
    ds->shape = (glia_shape3){1, input.h, input.w};
    ds->x = malloc(sizeof(float) * sample * (n ? n : 1));
    ds->y = malloc(sizeof(int32_t) * (n ? n : 1));
    ds->owned = 1;
    if (!ds->x || !ds->y) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu images", n);
        goto fail;
    }
    for (size_t i = 0; i < total; i++) {
        uint32_t h = glia_fnv1a32(im.data + i * sample, sample) % 10;
        if (!(want == 2 ? h >= 2 : h == (uint32_t)want))
            continue;
        glia_preprocess_u8(pre, im.data + i * sample, sample, ds->x + ds->n * sample);
        ds->y[ds->n++] = lb.data[i];
    }
    ds->nclasses = nclasses;
    glia_preprocess_u8(pre, &(const uint8_t){0}, 1, &ds->background);
    glia_idx_free(&im);
    glia_idx_free(&lb);
    return GLIA_OK;
fail:
    glia_idx_free(&im);
    glia_idx_free(&lb);
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
