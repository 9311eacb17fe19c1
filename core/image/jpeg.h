/*
 * jpeg.h - the JPEG part of core/image: baseline and progressive JPEG (libjpeg-turbo) decoded
 * to grayscale exactly as image.h promises for every format, and the size a JPEG's SOF header
 * declares, read without libjpeg so that nothing is allocated for a file that is refused.
 *
 * Callers go through image.h (glia_image_decode, glia_image_size pick the format by magic
 * bytes); this header exists so that image.c can dispatch to it and the tests can reach the
 * marker walk. Never: print, exit (libjpeg's error_exit is replaced by a longjmp), return an
 * image libjpeg padded with gray because the data ended or was corrupt.
 */
#ifndef GLIA_IMAGE_JPEG_H
#define GLIA_IMAGE_JPEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/image/image.h"

/* True when buf starts like a JPEG (SOI then a marker: FF D8 FF). */
bool glia_jpeg_magic(const void *buf, size_t len);

/* The width and height of the first SOF (start of frame) marker, found by walking the marker
 * segments from SOI. GLIA_EFORMAT when the data ends first, a segment is malformed, or a scan
 * starts before any frame. Not checked against glia's limits. */
glia_status glia_jpeg_size(const void *buf, size_t len, uint64_t *width, uint64_t *height, glia_err *err);

/* Decodes a JPEG (grayscale, YCbCr or RGB colour, CMYK/YCCK with or without Adobe's inverted
 * samples; baseline, extended or progressive) to grayscale. The size is checked against
 * GLIA_IMAGE_MAX_SIDE/MAX_PIXELS before any pixel is decoded. Truncated or corrupt data is
 * GLIA_EFORMAT, never gray filler. On failure *out is zeroed. */
glia_status glia_jpeg_decode(const void *buf, size_t len, glia_image *out, glia_err *err);

#endif
