/*
 * data.h - labelled examples in memory, already preprocessed to the model's input.
 *
 * A dataset either owns its arrays or is a view of a contiguous range of another
 * (the validation split is the tail of the training file: no copy). Fashion-MNIST is
 * read from Debian's dataset-fashion-mnist IDX files; pixels go through the
 * manifest's preprocessing exactly as an image sent to the daemon would.
 */
#ifndef GLIA_DATA_IMAGES_H
#define GLIA_DATA_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "core/model/manifest.h"

#define GLIA_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct {
    size_t n;
    glia_shape3 shape;
    float *x;   /* n x shape */
    int32_t *y; /* n labels */
    int nclasses;
    float background; /* what a 0 pixel becomes after preprocessing: fill for shifts */
    int owned;
} glia_dataset;

static inline size_t glia_dataset_sample(const glia_dataset *d)
{
    return glia_shape3_size(d->shape);
}

/* Loads split "train" (60000) or "test" (10000) from dir (NULL = the Debian path),
 * keeping the first `limit` examples when limit > 0. */
glia_status glia_dataset_load_fashion(const char *dir, const char *split, const glia_preprocess *pre,
                                      size_t limit, glia_dataset *ds, glia_err *err);
/* A user's images: an IDX images file (N x H x W, u8) and an IDX labels file (N, u8, each
 * < nclasses), plain or gzip, that must match the model's input size (H x W, one
 * channel). Examples are split reproducibly by the FNV-1a hash of their pixel bytes: % 10
 * == 0 test, == 1 validation (dev), else train; split is "train", "dev" or "test". */
glia_status glia_dataset_load_idx(const char *images, const char *labels, const glia_preprocess *pre,
                                  glia_shape3 input, int nclasses, const char *split, glia_dataset *ds,
                                  glia_err *err);

/* A view of examples [begin, begin + count) of src. */
glia_dataset glia_dataset_view(const glia_dataset *src, size_t begin, size_t count);
void glia_dataset_free(glia_dataset *ds);

#endif
