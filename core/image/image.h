/*
 * image.h - grayscale images for glia: decoding (PNG, JPEG, PGM P5/P2), resizing, 8-bit encoding.
 *
 * Models take single-channel input, so every decoded image is grayscale float in [0, 255]:
 * colour becomes ITU-R BT.601 luma rounded like PIL's convert('L'), alpha is composited over
 * black (Fashion-MNIST's background), PGM samples are rescaled by maxval. Decoders treat their
 * input as untrusted: the format is detected from magic bytes, sizes are bounded before any
 * pixel buffer exists, and failures come back as GLIA_EFORMAT with a message - never a print,
 * an exit or a leak.
 */
#ifndef GLIA_IMAGE_IMAGE_H
#define GLIA_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"

/* Limits for decoded and resized images: a header cannot ask for more than this. */
enum {
    GLIA_IMAGE_MAX_SIDE = 16384,             /* pixels per side */
    GLIA_IMAGE_MAX_PIXELS = 64 * 1024 * 1024 /* width * height (64 Mpixels) */
};

typedef struct {
    int width, height;
    float *pixels; /* width * height values, row-major, in [0, 255]; owned */
} glia_image;

/* Decodes a PNG (any colour type and bit depth, interlaced or not), a JPEG (core/image/jpeg.h:
 * gray, colour or CMYK, baseline or progressive) or a PGM (P5 binary with maxval 1..65535, or
 * P2 ASCII; '#' comments anywhere in the header), chosen by magic bytes.
 * On failure *out is zeroed: glia_image_free(out) stays safe. */
glia_status glia_image_decode(const void *buf, size_t len, glia_image *out, glia_err *err);

/* The width and height a PNG, JPEG (its SOF marker) or PGM header declares, read without decoding or
 * allocating anything, so that a caller can refuse a decompression bomb (a few KB of PNG that inflate to
 * gigabytes) before it costs memory or time. GLIA_EFORMAT when buf is not a PNG, JPEG or PGM whose header
 * holds a size; the size is not checked against the limits above (decode does that). */
glia_status glia_image_size(const void *buf, size_t len, long *width, long *height, glia_err *err);

/* GLIA_OK when a w x h image is within the limits above; else GLIA_EFORMAT, the message naming
 * the format (what: "PNG", "JPEG", ...) and both sides. Decoders call it before allocating. */
glia_status glia_image_check_size(const char *what, uint64_t w, uint64_t h, glia_err *err);

/* PIL's convert('L') of an 8-bit RGB pixel: 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601) in
 * 16-bit fixed point, rounded, so that a model trained on PIL-converted images sees the same
 * integers whatever the format the colour came in. */
static inline unsigned glia_image_luma(unsigned r, unsigned g, unsigned b)
{
    return (r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16;
}

/* Reads PATH and decodes it; messages name the file. */
glia_status glia_image_load(const char *path, glia_image *out, glia_err *err);

/* Releases img->pixels and zeroes *img; safe on a zeroed or already freed image. */
void glia_image_free(glia_image *img);

/* Resizes src to w x h into dst (a new image; dst must not be src). Per axis: area averaging
 * (box filter over the exact source footprint) when shrinking, bilinear with half-pixel centres
 * (PyTorch's align_corners=False) when growing, a copy when the size is unchanged. GLIA_EINVAL
 * when w or h is outside 1..GLIA_IMAGE_MAX_SIDE or w * h is above GLIA_IMAGE_MAX_PIXELS. */
glia_status glia_image_resize(const glia_image *src, int w, int h, glia_image *dst, glia_err *err);

/* 8-bit grayscale encoders; values are rounded and clamped to 0..255 (NaN becomes 0).
 * *out_buf is malloc'd (the caller frees it) and *out_len is its length; on failure both are
 * NULL / 0. */
glia_status glia_image_encode_png(const glia_image *img, unsigned char **out_buf, size_t *out_len,
                                  glia_err *err);
/* An 8-bit RGB PNG of rgb (width x height x 3 bytes, row-major), e.g. a heat map. */
glia_status glia_image_encode_png_rgb(const unsigned char *rgb, int width, int height,
                                      unsigned char **out_buf, size_t *out_len, glia_err *err);
glia_status glia_image_encode_pgm(const glia_image *img, unsigned char **out_buf, size_t *out_len,
                                  glia_err *err);

#endif
