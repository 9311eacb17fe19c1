/*
 * safetensors.h - read (zero-copy, strictly validated) and write (atomically) safetensors files.
 *
 * safetensors is the weight format PyTorch users exchange: an 8-byte little-endian header length
 * N, N bytes of UTF-8 JSON mapping tensor names to {"dtype", "shape", "data_offsets"} (plus an
 * optional "__metadata__" object of strings), then the data section the offsets index.
 *
 * Design: glia_st_open() maps the file read-only and validates the whole header before it
 * returns, so every glia_st_tensor it hands out is known to lie inside the mapping with a byte
 * size matching its shape and dtype, and the tensors tile the data section with no gap or
 * overlap. Tensor data is borrowed from the mapping (zero-copy weights); it stays valid until
 * glia_st_close(). glia_st_write() builds a complete file next to the target and renames it into
 * place, so a reader never sees a half-written file and a crash leaves the old one intact.
 *
 * Never: trust a header field before it is checked, print, exit, or write to the mapping.
 * Replacing a mapped file by rename (as glia_st_write does) is safe for open readers;
 * truncating it in place is not (SIGBUS), which is why the writer never writes to PATH directly.
 */
#ifndef GLIA_FORMATS_SAFETENSORS_H
#define GLIA_FORMATS_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"

typedef enum {
    GLIA_DT_BOOL,
    GLIA_DT_U8,
    GLIA_DT_I8,
    GLIA_DT_I16,
    GLIA_DT_U16,
    GLIA_DT_F16,
    GLIA_DT_BF16,
    GLIA_DT_I32,
    GLIA_DT_U32,
    GLIA_DT_F32,
    GLIA_DT_I64,
    GLIA_DT_U64,
    GLIA_DT_F64
} glia_dtype;

enum { GLIA_ST_MAX_DIMS = 8 };

/* Largest header glia accepts, as the reference implementation: a bigger length is far more
 * likely a corrupt or hostile file than a real one, and parsing it would cost that much memory. */
#define GLIA_ST_MAX_HEADER 100000000u

typedef struct {
    const char *name; /* NUL-terminated, owned by the file object */
    glia_dtype dtype;
    int ndim;
    int64_t shape[GLIA_ST_MAX_DIMS];
    const void *data; /* borrowed: points into the mapping; may be unaligned */
    size_t nbytes;
} glia_st_tensor;

typedef struct glia_st_file glia_st_file; /* opaque */

/* Bytes per element; 0 for a value outside the enum. */
size_t glia_dtype_size(glia_dtype dt);
/* "F32", "BF16", ... as spelled in the safetensors spec; "?" for a value outside the enum. */
const char *glia_dtype_name(glia_dtype dt);
/* Inverse of glia_dtype_name (exact, case-sensitive); false if the name is not one glia knows. */
bool glia_dtype_from_name(const char *name, glia_dtype *out);

/* mmap()s the file read-only and validates the whole header before returning. Messages start
 * with the path. */
glia_status glia_st_open(const char *path, glia_st_file **out, glia_err *err);
/* Same validation over a caller buffer, which is borrowed and must outlive the object. */
glia_status glia_st_open_buffer(const void *buf, size_t len, glia_st_file **out, glia_err *err);
void glia_st_close(glia_st_file *f); /* NULL-safe */

size_t glia_st_count(const glia_st_file *f);
/* i < glia_st_count(f); tensors are ordered by data offset. */
const glia_st_tensor *glia_st_at(const glia_st_file *f, size_t i);
/* Binary search by name; NULL if absent. */
const glia_st_tensor *glia_st_find(const glia_st_file *f, const char *name);
/* __metadata__ value or NULL. */
const char *glia_st_metadata(const glia_st_file *f, const char *key);
/* Number of __metadata__ entries and the i-th key (header order), to list or copy them. */
size_t glia_st_metadata_count(const glia_st_file *f);
const char *glia_st_metadata_key(const glia_st_file *f, size_t i);

/* Element count of t (product of its shape; 1 for a scalar). */
size_t glia_st_numel(const glia_st_tensor *t);

/* Copies t into dst as float32 (converting F16, BF16, F64 exactly as PyTorch's .float() would);
 * t must have exactly `count` elements, else GLIA_EINVAL naming the tensor and both counts.
 * Integer and BOOL dtypes: GLIA_EUNSUPPORTED. */
glia_status glia_st_read_f32(const glia_st_tensor *t, float *dst, size_t count, glia_err *err);

typedef struct {
    const char *name;
    glia_dtype dtype; /* any dtype: data is written as raw little-endian bytes */
    int ndim;         /* 0..GLIA_ST_MAX_DIMS */
    const int64_t *shape;
    const void *data; /* product(shape) * glia_dtype_size(dtype) bytes; NULL only if that is 0 */
} glia_st_entry;

/* Writes atomically: PATH.tmp.XXXXXX in the same directory, write all, fsync, rename over PATH,
 * fsync the directory. Never leaves a half-written PATH or a temp file. meta is NULL or a
 * NULL-terminated list of key, value, key, value, ... strings stored in "__metadata__". Header
 * JSON is padded with spaces to a multiple of 8 bytes so data is 8-aligned (as the reference
 * implementation does); tensors are laid out by decreasing dtype size (stable), so each one is
 * aligned to its element size. Bad arguments (duplicate names, a name that is not UTF-8,
 * "__metadata__" as a name, negative dims) -> GLIA_EINVAL; the file system refusing -> GLIA_EIO. */
glia_status glia_st_write(const char *path, const glia_st_entry *entries, size_t n, const char *const *meta,
                          glia_err *err);

#endif
