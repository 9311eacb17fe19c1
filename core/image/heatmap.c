/*
 * heatmap.c - see heatmap.h.
 */
#include "core/image/heatmap.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/image/image.h"

static float clamp01(float v)
{
    return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

/* Diverging and monotone in |t|: 0 is fully transparent (the image shows through where the
 * model looked at nothing), positive goes red then yellow, negative goes blue then cyan. The
 * opacity tops out below 1 so the shape under the strongest scores stays readable. */
void glia_heatmap_colour(float t, unsigned char rgb[3], float *alpha)
{
    const float a = clamp01(fabsf(t));
    const float rise = clamp01(2.0f * a - 1.0f);
    if (t >= 0.0f) {
        rgb[0] = 255;
        rgb[1] = (unsigned char)lrintf(255.0f * rise);
        rgb[2] = 0;
    } else {
        rgb[0] = 0;
        rgb[1] = (unsigned char)lrintf(255.0f * rise);
        rgb[2] = 255;
    }
    *alpha = 0.75f * sqrtf(a);
}

glia_status glia_heatmap_png(const float *scores, const float *gray, int h, int w, int scale,
                             unsigned char **png, size_t *len, glia_err *err)
{
    *png = NULL;
    *len = 0;
    if (h < 1 || w < 1 || scale < 1 || scale > GLIA_HEATMAP_MAX_SCALE ||
        (int64_t)h * scale > GLIA_IMAGE_MAX_SIDE || (int64_t)w * scale > GLIA_IMAGE_MAX_SIDE ||
        (int64_t)h * w * scale * scale > GLIA_IMAGE_MAX_PIXELS)
        return glia_err_set(err, GLIA_EINVAL, "a heat map of %d x %d pixels at scale %d is out of range", h,
                            w, scale);
    float peak = 0.0f;
    for (size_t i = 0; i < (size_t)h * (size_t)w; i++)
        peak = isfinite(scores[i]) && fabsf(scores[i]) > peak ? fabsf(scores[i]) : peak;
    const int ow = w * scale, oh = h * scale;
    unsigned char *rgb = malloc((size_t)ow * (size_t)oh * 3);
    if (!rgb)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a heat map");
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            const size_t src = (size_t)(y / scale) * (size_t)w + (size_t)(x / scale);
            const float s = isfinite(scores[src]) && peak > 0.0f ? scores[src] / peak : 0.0f;
            const float g = gray[src] < 0.0f ? 0.0f : (gray[src] > 255.0f ? 255.0f : gray[src]);
            unsigned char c[3];
            float a;
            glia_heatmap_colour(s, c, &a);
            unsigned char *out = rgb + ((size_t)y * (size_t)ow + (size_t)x) * 3;
            for (int k = 0; k < 3; k++)
                out[k] = (unsigned char)lrintf((1.0f - a) * g + a * (float)c[k]);
        }
    glia_status rc = glia_image_encode_png_rgb(rgb, ow, oh, png, len, err);
    free(rgb);
    return rc;
}
