/*
 * safetensors.h - read (strictly validated) and write (atomically) safetensors files.
 *
 * safetensors is the weight format PyTorch users exchange: an 8-byte little-endian header length
 * N, N bytes of UTF-8 JSON mapping tensor names to {"dtype", "shape", "data_offsets"} (plus an
 * optional "__metadata__" object of strings), then the data section the offsets index.
 *
 * Design: glia_st_open() reads the whole file into memory it owns and validates the whole header
 * before it returns, so every glia_st_tensor it hands out is known to lie inside those bytes with
 * a byte size matching its shape and dtype, and the tensors tile the data section with no gap or
 * overlap. Tensor data is borrowed from the object; it stays valid until glia_st_close(), which
 * callers do as soon as the values are copied into a model, so the file is in memory twice only
 * while it loads. The file is read, not mapped: a mapped file that someone truncates in place (an
 * operator copying a new bundle over the old one) kills the reader with SIGBUS; a read of it ends
 * early, which is an error naming the file. glia_st_write() builds a complete file next to the
 * target and renames it into place, so a reader never sees a half-written file and a crash leaves
 * the old one intact.
 *
 * Never: trust a header field before it is checked, print, exit, or write to the bytes read.
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
    const void *data; /* borrowed: points into the file object's bytes; may be unaligned */
    size_t nbytes;
} glia_st_tensor;

typedef struct glia_st_file glia_st_file; /* opaque */

/* Bytes per element; 0 for a value outside the enum. */
size_t glia_dtype_size(glia_dtype dt);
/* "F32", "BF16", ... as spelled in the safetensors spec; "?" for a value outside the enum. */
const char *glia_dtype_name(glia_dtype dt);
/* Inverse of glia_dtype_name (exact, case-sensitive); false if the name is not one glia knows. */
bool glia_dtype_from_name(const char *name, glia_dtype *out);

/* Reads the file into memory the object owns and validates the whole header before returning.
 * A file that changes size (or is rewritten) while it is read is GLIA_EIO ("the file changed size
 * while being read"), never a fault. Messages start with the path. */
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

/* The whole file (or buffer) exactly as read, header included; borrowed like tensor data. Lets
 * a caller hash the very bytes it loaded instead of reading the file a second time. */
const void *glia_st_bytes(const glia_st_file *f, size_t *len);

/* Element count of t (product of its shape; 1 for a scalar). */
size_t glia_st_numel(const glia_st_tensor *t);

/* Copies t into dst as float32 (converting F16, BF16, F64 exactly as PyTorch's .float() would);
 * t must have exactly `count` elements, else GLIA_EINVAL naming the tensor and both counts.
 * Integer and BOOL dtypes: GLIA_EUNSUPPORTED. NaN and Inf are copied as they are. */
glia_status glia_st_read_f32(const glia_st_tensor *t, float *dst, size_t count, glia_err *err);

/* GLIA_OK if every element of a float tensor is finite as float32; else GLIA_EFORMAT naming the
 * tensor, the first bad element and what it holds ("tensor 'fc.weight' holds a NaN at element
 * 17 ..."; an F64 value beyond float32's range counts as not finite). Weights and checkpoints
 * are checked with it before they are used: a NaN weight turns every prediction into NaN.
 * Integer and BOOL tensors always pass. */
glia_status glia_st_check_finite(const glia_st_tensor *t, glia_err *err);

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
