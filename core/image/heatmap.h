/*
 * heatmap.h - a saliency map drawn over the image it explains, as an RGB PNG a person can
 * look at: the image in gray, each pixel tinted by its score (warm for what supports the
 * answer, blue for what speaks against it, stronger the larger |score|), every pixel
 * enlarged to a square of scale x scale so that a 28 x 28 input is visible. It only draws:
 * it never decides what a score means.
 */
#ifndef GLIA_IMAGE_HEATMAP_H
#define GLIA_IMAGE_HEATMAP_H

#include <stddef.h>

#include "core/base/err.h"

enum { GLIA_HEATMAP_MAX_SCALE = 32 };

/* scores and gray are [h, w] row-major; gray holds pixels 0..255. *png is malloc'd (the
 * caller frees it). GLIA_EINVAL for a size or scale out of range (scale 1..32, the output
 * within the image limits of image.h). */
glia_status glia_heatmap_png(const float *scores, const float *gray, int h, int w, int scale,
                             unsigned char **png, size_t *len, glia_err *err);

/* The colour map: t in [-1, 1] (a score over the largest |score|) to 8-bit RGB and an
 * opacity in [0, 1]. */
void glia_heatmap_colour(float t, unsigned char rgb[3], float *alpha);

#endif
