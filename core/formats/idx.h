/*
 * idx.h - reader for IDX files, the format of (Fashion-)MNIST, plain or gzip-compressed.
 *
 * An IDX file is a 4-byte magic (0x00 0x00 <element type> <ndim>), ndim big-endian uint32
 * dimensions, then the elements in row-major order. glia only needs the unsigned-byte type
 * (0x08) that image and label files use; other element types are refused as unsupported.
 * The loader reads the whole payload into memory it owns; it never prints or exits.
 */
#ifndef GLIA_FORMATS_IDX_H
#define GLIA_FORMATS_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"

enum {
    GLIA_IDX_MAX_DIMS = 4,
};

/* Largest payload accepted, so a corrupt header cannot ask for an absurd allocation. */
#define GLIA_IDX_MAX_BYTES ((size_t)1 << 30)

typedef struct {
    int ndim;                         /* 1..GLIA_IDX_MAX_DIMS */
    uint32_t dims[GLIA_IDX_MAX_DIMS]; /* dims[0] is the outermost (e.g. number of images); unused are 0 */
    uint8_t *data;                    /* size bytes, row-major; owned */
    size_t size;                      /* product of dims */
} glia_idx;

/* Reads PATH. Gzip is recognised by its magic bytes (1f 8b), anything else is read raw. The header
 * is validated completely (magic, type 0x08, 1 <= ndim <= 4, dims > 0, size <= 1 GiB) before the
 * payload is allocated, and the payload must be exactly the product of the dims. On failure *out
 * is zeroed and err names the file. */
glia_status glia_idx_load(const char *path, glia_idx *out, glia_err *err);

/* Releases idx->data and zeroes *idx; safe on a zeroed or already freed glia_idx. */
void glia_idx_free(glia_idx *idx);

#endif
