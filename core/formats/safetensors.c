/*
 * safetensors.c - safetensors reader (read into owned memory + strict header validation) and
 * atomic writer.
 *
 * Reading: the 8-byte length and the JSON header (parsed by Jansson, duplicates rejected) are
 * checked completely before a file object exists: every entry must be exactly
 * {"dtype", "shape", "data_offsets"}, its offsets must hold exactly product(shape) * dtype size
 * bytes inside the data section, and, as the spec demands ("the byte buffer needs to be entirely
 * indexed"), the tensors sorted by offset must tile [0, data_len) with no hole and no overlap.
 * A file object is one allocation (struct, tensor table, name index, metadata, strings), so a
 * failed open has one thing to release and close is one free plus one munmap (of the bytes read).
 *
 * Writing: the header is built with Jansson, padded with spaces to a multiple of 8 (data starts
 * 8-aligned, like the reference writer), tensors are laid out by decreasing element size so each
 * stays aligned to its dtype, and the bytes go to PATH.tmp.XXXXXX, fsync, rename, fsync of the
 * directory: readers see the old file or the new one, never a mix.
 *
 * Never: read a header field before checking it, map the file (a file truncated under a mapping
 * faults its reader), write to the bytes read, print, exit, or leave a temp file behind on
 * failure. Tensor data is raw little-endian bytes, handed out without a copy; the static assert
 * below is what makes that a float the nn code can read.
 */
#include "core/formats/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/jsonmem.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "safetensors data is little-endian and handed out as read: big-endian hosts need a "
               "byte-swapping path");
_Static_assert(sizeof(float) == 4, "float32 must be IEEE binary32");

/* Names are clipped in messages so the numbers after them survive the 512-byte report. */
#define NAME_FMT "'%.160s'"

#define METADATA_KEY "__metadata__"

/* Largest byte count we represent: JSON offsets are int64 (json_int_t) and data sizes size_t. */
#define MAX_BYTES ((uint64_t)(SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX))

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [GLIA_DT_BOOL] = {"BOOL", 1}, [GLIA_DT_U8] = {"U8", 1},   [GLIA_DT_I8] = {"I8", 1},
    [GLIA_DT_I16] = {"I16", 2},   [GLIA_DT_U16] = {"U16", 2}, [GLIA_DT_F16] = {"F16", 2},
    [GLIA_DT_BF16] = {"BF16", 2}, [GLIA_DT_I32] = {"I32", 4}, [GLIA_DT_U32] = {"U32", 4},
    [GLIA_DT_F32] = {"F32", 4},   [GLIA_DT_I64] = {"I64", 8}, [GLIA_DT_U64] = {"U64", 8},
    [GLIA_DT_F64] = {"F64", 8},
};
enum { N_DTYPES = sizeof dtype_info / sizeof dtype_info[0] };

struct glia_st_file {
    void *owned;                /* the file's bytes, read into memory we own; NULL: the caller's */
    const unsigned char *bytes; /* the whole file or buffer, header included */
    size_t len;
    size_t count;
    glia_st_tensor *tensors;        /* sorted by data offset */
    const glia_st_tensor **by_name; /* the same tensors sorted by name, for glia_st_find */
    size_t nmeta;
    const char **meta; /* key0, value0, key1, value1, ... in header order */
};

size_t glia_dtype_size(glia_dtype dt)
{
    return (unsigned)dt < N_DTYPES ? dtype_info[dt].size : 0;
}

const char *glia_dtype_name(glia_dtype dt)
{
    return (unsigned)dt < N_DTYPES ? dtype_info[dt].name : "?";
}

bool glia_dtype_from_name(const char *name, glia_dtype *out)
{
    for (unsigned i = 0; i < N_DTYPES; i++) {
        if (strcmp(name, dtype_info[i].name) == 0) {
            *out = (glia_dtype)i;
            return true;
        }
    }
    return false;
}

static uint64_t load_u64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void store_u64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Writes "[10, 20]" into buf; dims are already known to be non-negative. */
static const char *shape_str(char *buf, size_t size, const int64_t *shape, int ndim)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

/* Byte size of a shape, or false if it exceeds MAX_BYTES. A zero dimension makes the tensor
 * empty whatever the other dimensions are, so it is looked for before multiplying. */
static bool shape_nbytes(const int64_t *shape, int ndim, size_t elem, uint64_t *out)
{
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0) {
            *out = 0;
            return true;
        }
    }
    uint64_t n = elem;
    for (int d = 0; d < ndim; d++) {
        if ((uint64_t)shape[d] > MAX_BYTES / n)
            return false;
        n *= (uint64_t)shape[d];
    }
    *out = n;
    return true;
}

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a JSON value";
}

static bool is_count(const json_t *j)
{
    return json_is_integer(j) && json_integer_value(j) >= 0;
}

/* Describes a JSON value that should have been a non-negative integer. */
static const char *bad_count_str(char *buf, size_t size, const json_t *j)
{
    if (json_is_integer(j))
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
    else
        snprintf(buf, size, "%s", json_kind(j));
    return buf;
}

/* Turns a failed json_loadb into a report. Jansson leaves the text empty on some allocation
 * failures (and the code byte as zeroed by the caller), so an empty text means out of memory. */
static glia_status json_failure(const json_error_t *je, glia_err *err)
{
    if (json_error_code(je) == json_error_out_of_memory || je->text[0] == '\0')
        return glia_err_set(err, GLIA_ENOMEM, "out of memory while parsing the header");
    if (json_error_code(je) == json_error_duplicate_key)
        return glia_err_set(
            err, GLIA_EFORMAT,
            "header repeats a key (a duplicate tensor name or metadata key) at header byte %d, "
            "line %d, column %d: %s",
            je->position, je->line, je->column, je->text);
    return glia_err_set(err, GLIA_EFORMAT,
                        "header is not valid JSON: %s (header byte %d, line %d, column %d)", je->text,
                        je->position, je->line, je->column);
}

/* Validates one header entry and fills t (whose name is already set). data/data_len are the
 * data section; t->data ends up inside it. */
static glia_status parse_entry(glia_st_tensor *t, const json_t *entry, const unsigned char *data,
                               size_t data_len, glia_err *err)
{
    char sbuf[256], vbuf[64];
    const char *key;
    json_t *val, *jdtype = NULL, *jshape = NULL, *joffs = NULL;

    if (!json_is_object(entry))
        return glia_err_set(err, GLIA_EFORMAT,
                            "tensor " NAME_FMT
                            ": entry is %s, not an object with dtype, shape and data_offsets",
                            t->name, json_kind(entry));
    json_object_foreach((json_t *)entry, key, val)
    {
        if (strcmp(key, "dtype") == 0)
            jdtype = val;
        else if (strcmp(key, "shape") == 0)
            jshape = val;
        else if (strcmp(key, "data_offsets") == 0)
            joffs = val;
        else
            return glia_err_set(err, GLIA_EFORMAT,
                                "tensor " NAME_FMT
                                ": unknown key '%.64s' (expected dtype, shape, data_offsets)",
                                t->name, key);
    }
    if (!jdtype || !jshape || !joffs)
        return glia_err_set(err, GLIA_EFORMAT, "tensor " NAME_FMT ": missing key '%s'", t->name,
                            !jdtype   ? "dtype"
                            : !jshape ? "shape"
                                      : "data_offsets");

    if (!json_is_string(jdtype))
        return glia_err_set(err, GLIA_EFORMAT, "tensor " NAME_FMT ": dtype is %s, not a string", t->name,
                            json_kind(jdtype));
    if (!glia_dtype_from_name(json_string_value(jdtype), &t->dtype))
        return glia_err_set(err, GLIA_EUNSUPPORTED,
                            "tensor " NAME_FMT
                            ": unsupported dtype '%.32s' (glia reads BOOL, U8, I8, I16, U16, "
                            "F16, BF16, I32, U32, F32, I64, U64, F64)",
                            t->name, json_string_value(jdtype));

    if (!json_is_array(jshape))
        return glia_err_set(err, GLIA_EFORMAT, "tensor " NAME_FMT ": shape is %s, not an array", t->name,
                            json_kind(jshape));
    size_t ndim = json_array_size(jshape);
    if (ndim > GLIA_ST_MAX_DIMS)
        return glia_err_set(err, GLIA_EFORMAT,
                            "tensor " NAME_FMT ": shape has %zu dimensions, glia supports at most %d",
                            t->name, ndim, GLIA_ST_MAX_DIMS);
    t->ndim = (int)ndim;
    for (size_t d = 0; d < ndim; d++) {
        const json_t *dim = json_array_get(jshape, d);
        if (!is_count(dim))
            return glia_err_set(err, GLIA_EFORMAT,
                                "tensor " NAME_FMT ": shape[%zu] is %s, not a non-negative integer", t->name,
                                d, bad_count_str(vbuf, sizeof vbuf, dim));
        t->shape[d] = json_integer_value(dim);
    }
    uint64_t need;
    if (!shape_nbytes(t->shape, t->ndim, glia_dtype_size(t->dtype), &need))
        return glia_err_set(err, GLIA_EFORMAT,
                            "tensor " NAME_FMT ": shape %s of %s overflows: its byte size exceeds %" PRIu64,
                            t->name, shape_str(sbuf, sizeof sbuf, t->shape, t->ndim),
                            glia_dtype_name(t->dtype), MAX_BYTES);

    if (!json_is_array(joffs) || json_array_size(joffs) != 2 || !is_count(json_array_get(joffs, 0)) ||
        !is_count(json_array_get(joffs, 1)))
        return glia_err_set(
            err, GLIA_EFORMAT,
            "tensor " NAME_FMT ": data_offsets must be [begin, end], two non-negative integers", t->name);
    uint64_t begin = (uint64_t)json_integer_value(json_array_get(joffs, 0));
    uint64_t end = (uint64_t)json_integer_value(json_array_get(joffs, 1));
    if (begin > end)
        return glia_err_set(err, GLIA_EFORMAT,
                            "tensor " NAME_FMT ": data_offsets [%" PRIu64 ", %" PRIu64
                            "] end before they begin",
                            t->name, begin, end);
    if (end - begin != need)
        return glia_err_set(err, GLIA_EFORMAT,
                            "tensor " NAME_FMT ": data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                            " bytes but shape %s of %s needs %" PRIu64,
                            t->name, begin, end, end - begin, shape_str(sbuf, sizeof sbuf, t->shape, t->ndim),
                            glia_dtype_name(t->dtype), need);
    if (end > data_len)
        return glia_err_set(err, GLIA_EFORMAT,
                            "tensor " NAME_FMT ": data_offsets [%" PRIu64 ", %" PRIu64
                            "] run past the data section, which has %zu bytes (truncated file?)",
                            t->name, begin, end, data_len);
    t->data = data + begin;
    t->nbytes = (size_t)need;
    return GLIA_OK;
}

/* Offset order; ties (only possible between empty tensors, or an empty one at the start of
 * another) broken by size then name so the order never depends on qsort's whims. */
static int cmp_by_offset(const void *a, const void *b)
{
    const glia_st_tensor *x = a, *y = b;
    const unsigned char *px = x->data, *py = y->data;
    if (px != py)
        return px < py ? -1 : 1;
    if (x->nbytes != y->nbytes)
        return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_by_name(const void *a, const void *b)
{
    const glia_st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* With tensors sorted by offset, each must start where the previous one ended: earlier is an
 * overlap, later is a hole, and the last must end at the end of the data section. */
static glia_status check_tiling(const glia_st_file *f, const unsigned char *data, size_t data_len,
                                glia_err *err)
{
    size_t pos = 0;
    const glia_st_tensor *prev = NULL;
    for (size_t i = 0; i < f->count; i++) {
        const glia_st_tensor *t = &f->tensors[i];
        size_t begin = (size_t)((const unsigned char *)t->data - data);
        if (begin < pos) {
            size_t pbegin = (size_t)((const unsigned char *)prev->data - data);
            return glia_err_set(
                err, GLIA_EFORMAT,
                "tensors '%.120s' (data_offsets [%zu, %zu]) and '%.120s' (data_offsets [%zu, %zu]) "
                "overlap",
                prev->name, pbegin, pbegin + prev->nbytes, t->name, begin, begin + t->nbytes);
        }
        if (begin > pos)
            return glia_err_set(
                err, GLIA_EFORMAT,
                "bytes [%zu, %zu) of the data section belong to no tensor (hole before tensor " NAME_FMT
                "; the spec requires the data to be entirely indexed)",
                pos, begin, t->name);
        pos = begin + t->nbytes;
        prev = t;
    }
    if (pos != data_len)
        return glia_err_set(
            err, GLIA_EFORMAT,
            "bytes [%zu, %zu) of the data section belong to no tensor (trailing data; the spec "
            "requires the data to be entirely indexed)",
            pos, data_len);
    return GLIA_OK;
}

static size_t align_up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

/* One block: struct, tensors, name index, metadata pointers, then strings. Everything before
 * the strings holds pointers or int64s, so aligning each part to max_align_t keeps them valid. */
static glia_st_file *alloc_file(size_t count, size_t nmeta, size_t strbytes, char **strings)
{
    const size_t al = _Alignof(max_align_t);
    size_t off_tensors = align_up(sizeof(glia_st_file), al);
    size_t off_idx = align_up(off_tensors + count * sizeof(glia_st_tensor), al);
    size_t off_meta = align_up(off_idx + count * sizeof(glia_st_tensor *), al);
    size_t off_str = off_meta + 2 * nmeta * sizeof(char *);
    unsigned char *block = calloc(1, off_str + strbytes);
    if (!block)
        return NULL;
    glia_st_file *f = (glia_st_file *)block;
    f->count = count;
    f->tensors = (glia_st_tensor *)(block + off_tensors);
    f->by_name = (const glia_st_tensor **)(block + off_idx);
    f->nmeta = nmeta;
    f->meta = (const char **)(block + off_meta);
    *strings = (char *)(block + off_str);
    return f;
}

static char *copy_str(char **sp, const char *s)
{
    size_t n = strlen(s) + 1;
    char *dst = memcpy(*sp, s, n);
    *sp += n;
    return dst;
}

static glia_status too_short(size_t len, glia_err *err)
{
    return glia_err_set(
        err, GLIA_EFORMAT,
        "file is %zu bytes, shorter than the 8-byte header length every safetensors file starts with", len);
}

/* The 8-byte little-endian header length, checked against the limit and the file. */
static glia_status header_length(const unsigned char *buf, size_t len, uint64_t *hlen, glia_err *err)
{
    if (len < 8)
        return too_short(len, err);
    *hlen = load_u64le(buf);
    /* Oversized first: a garbage length is usually both, and "oversized" says more. */
    if (*hlen > GLIA_ST_MAX_HEADER)
        return glia_err_set(err, GLIA_EFORMAT,
                            "header length %" PRIu64 " exceeds the %u-byte limit (oversized header, or not a "
                            "safetensors file)",
                            *hlen, GLIA_ST_MAX_HEADER);
    if (*hlen > len - 8)
        return glia_err_set(err, GLIA_EFORMAT,
                            "header length %" PRIu64
                            " but only %zu bytes follow the length field (truncated file)",
                            *hlen, len - 8);
    return GLIA_OK;
}

/* What the descriptor block needs: tensors, metadata pairs (every value a string) and the
 * bytes of every name; *meta is the __metadata__ object or NULL. */
static glia_status measure(json_t *root, json_t **meta, size_t *count, size_t *nmeta, size_t *strbytes,
                           glia_err *err)
{
    const char *key;
    json_t *val;
    *meta = NULL;
    *count = *nmeta = *strbytes = 0;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, METADATA_KEY) == 0) {
            *meta = val;
            continue;
        }
        (*count)++;
        *strbytes += strlen(key) + 1;
    }
    if (!*meta)
        return GLIA_OK;
    if (!json_is_object(*meta))
        return glia_err_set(err, GLIA_EFORMAT, METADATA_KEY " is %s, not an object of strings",
                            json_kind(*meta));
    json_object_foreach(*meta, key, val)
    {
        if (!json_is_string(val))
            return glia_err_set(err, GLIA_EFORMAT, METADATA_KEY " key '%.160s' holds %s, not a string", key,
                                json_kind(val));
        (*nmeta)++;
        *strbytes += strlen(key) + 1 + json_string_length(val) + 1;
    }
    return GLIA_OK;
}

/* Fills f's descriptors (validating each entry against the data), its metadata, and both
 * orders (by offset, checked to tile the data; by name, for lookups). */
static glia_status fill(glia_st_file *f, json_t *root, json_t *meta, char *sp, const unsigned char *data,
                        size_t data_len, glia_err *err)
{
    const char *key;
    json_t *val;
    size_t i = 0;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, METADATA_KEY) == 0)
            continue;
        glia_st_tensor *t = &f->tensors[i++];
        t->name = copy_str(&sp, key);
        glia_status rc = parse_entry(t, val, data, data_len, err);
        if (rc != GLIA_OK)
            return rc;
    }
    const size_t count = i;
    i = 0;
    if (meta) {
        json_object_foreach(meta, key, val)
        {
            f->meta[i++] = copy_str(&sp, key);
            f->meta[i++] = copy_str(&sp, json_string_value(val));
        }
    }
    if (count > 1)
        qsort(f->tensors, count, sizeof *f->tensors, cmp_by_offset);
    glia_status rc = check_tiling(f, data, data_len, err);
    if (rc != GLIA_OK)
        return rc;
    for (i = 0; i < count; i++)
        f->by_name[i] = &f->tensors[i];
    if (count > 1)
        qsort(f->by_name, count, sizeof *f->by_name, cmp_by_name);
    return GLIA_OK;
}

static glia_status parse(const unsigned char *buf, size_t len, glia_st_file **out, glia_err *err)
{
    json_t *root = NULL, *meta = NULL;
    glia_st_file *f = NULL;
    uint64_t hlen = 0;
    size_t count = 0, nmeta = 0, strbytes = 0;
    glia_status rc = header_length(buf, len, &hlen, err);
    if (rc != GLIA_OK)
        return rc;
    const unsigned char *data = buf + 8 + hlen;
    size_t data_len = len - 8 - (size_t)hlen;

    json_error_t je;
    memset(&je, 0, sizeof je);
    glia_json_watch(); /* a failed allocation must not leave a tensor name short */
    root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (root && glia_json_failed()) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory while parsing the header");
        goto fail;
    }
    if (!root) {
        rc = json_failure(&je, err);
        goto fail;
    }
    if (!json_is_object(root)) {
        rc = glia_err_set(err, GLIA_EFORMAT, "header is %s, not a JSON object", json_kind(root));
        goto fail;
    }
    /* Size the block first; values are validated while it is filled. */
    if ((rc = measure(root, &meta, &count, &nmeta, &strbytes, err)))
        goto fail;
    char *sp;
    if (!(f = alloc_file(count, nmeta, strbytes, &sp))) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu tensor descriptors", count);
        goto fail;
    }
    if ((rc = fill(f, root, meta, sp, data, data_len, err)))
        goto fail;
    json_decref(root);
    *out = f;
    return GLIA_OK;

fail:
    free(f);
    json_decref(root);
    return rc;
}

glia_status glia_st_open_buffer(const void *buf, size_t len, glia_st_file **out, glia_err *err)
{
    GLIA_ASSERT(out != NULL);
    *out = NULL;
    if (!buf && len > 0)
        return glia_err_set(err, GLIA_EINVAL, "NULL buffer of %zu bytes", len);
    if (len < 8)
        return too_short(len, err);
    glia_status rc = parse(buf, len, out, err);
    if (rc == GLIA_OK) {
        (*out)->bytes = buf;
        (*out)->len = len;
    }
    return rc;
}

/* Anonymous memory the process owns: a file shrinking under it cannot fault it. Not malloc: a
 * weights-sized block freed after loading would raise glibc's mmap threshold to its size, so the
 * next load's block could come from the heap and stay in the process after it is freed.
 * MAP_POPULATE: every page is about to be written, and faulting them in one call is cheaper. */
static unsigned char *alloc_bytes(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
    return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Reads exactly len bytes from fd's start into buf. A file cut short while it is read (an
 * operator copying a new bundle over the old one) ends the reads early; one that grows or is
 * rewritten shows a new size or mtime afterwards: either way the bytes may mix two versions,
 * so both are an error, never a fault and never a load. */
static glia_status read_exactly(int fd, unsigned char *buf, size_t len, const struct stat *before,
                                glia_err *err)
{
    size_t got = 0;
    struct stat after;
    while (got < len) {
        /* Linux moves at most ~2 GiB per call; smaller chunks keep partial reads ordinary. */
        size_t chunk = len - got < ((size_t)1 << 30) ? len - got : (size_t)1 << 30;
        ssize_t r = pread(fd, buf + got, chunk, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return glia_err_set(err, GLIA_EIO, "cannot read at byte %zu: %s", got, strerror(errno));
        if (r == 0)
            return glia_err_set(err, GLIA_EIO,
                                "the file changed size while being read: %zu bytes when opened, it ended "
                                "after %zu (is it being written? write the new file beside it and rename "
                                "it into place)",
                                len, got);
        got += (size_t)r;
    }
    if (fstat(fd, &after) != 0)
        return glia_err_set(err, GLIA_EIO, "cannot stat: %s", strerror(errno));
    if (!same_file_state(before, &after))
        return glia_err_set(err, GLIA_EIO,
                            "the file changed while being read (%zu bytes when opened, %jd now; is it being "
                            "written? write the new file beside it and rename it into place)",
                            len, (intmax_t)after.st_size);
    return GLIA_OK;
}

glia_status glia_st_open(const char *path, glia_st_file **out, glia_err *err)
{
    int fd = -1;
    unsigned char *bytes = NULL;
    size_t len = 0;
    glia_status rc;
    struct stat st;

    GLIA_ASSERT(path != NULL && out != NULL);
    *out = NULL;
    /* strerror: glibc >= 2.32 returns constant strings for known codes, so it is thread-safe. */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = glia_err_set(err, GLIA_EIO, "cannot open: %s", strerror(errno));
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        rc = glia_err_set(err, GLIA_EIO, "cannot stat: %s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = glia_err_set(err, GLIA_EIO, "not a regular file");
        goto fail;
    }
    if ((uintmax_t)st.st_size > SIZE_MAX) {
        rc = glia_err_set(err, GLIA_EIO, "file of %jd bytes is too large to read", (intmax_t)st.st_size);
        goto fail;
    }
    len = (size_t)st.st_size;
    if (len < 8) {
        rc = too_short(len, err); /* and mmap() of 0 bytes would fail with a less useful EINVAL */
        goto fail;
    }
    if (!(bytes = alloc_bytes(len))) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for the file's %zu bytes", len);
        goto fail;
    }
    if ((rc = read_exactly(fd, bytes, len, &st, err)))
        goto fail;
    close(fd);
    fd = -1;
    /* Read-only from here: tensors are handed out as const, and a stray write should fault. */
    mprotect(bytes, len, PROT_READ);
    rc = parse(bytes, len, out, err);
    if (rc != GLIA_OK)
        goto fail;
    (*out)->owned = bytes;
    (*out)->bytes = bytes;
    (*out)->len = len;
    return GLIA_OK;

fail:
    if (bytes)
        munmap(bytes, len);
    if (fd >= 0)
        close(fd);
    glia_err_prefix(err, "%s", path);
    return rc;
}

void glia_st_close(glia_st_file *f)
{
    if (!f)
        return;
    if (f->owned)
        munmap(f->owned, f->len);
    free(f);
}

const void *glia_st_bytes(const glia_st_file *f, size_t *len)
{
    *len = f->len;
    return f->bytes;
}

size_t glia_st_count(const glia_st_file *f)
{
    return f->count;
}

const glia_st_tensor *glia_st_at(const glia_st_file *f, size_t i)
{
    GLIA_ASSERT(i < f->count);
    return &f->tensors[i];
}

const glia_st_tensor *glia_st_find(const glia_st_file *f, const char *name)
{
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->by_name[mid]->name);
        if (c == 0)
            return f->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *glia_st_metadata(const glia_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->nmeta; i++) {
        if (strcmp(f->meta[2 * i], key) == 0)
            return f->meta[2 * i + 1];
    }
    return NULL;
}

size_t glia_st_metadata_count(const glia_st_file *f)
{
    return f->nmeta;
}

const char *glia_st_metadata_key(const glia_st_file *f, size_t i)
{
    GLIA_ASSERT(i < f->nmeta);
    return f->meta[2 * i];
}

size_t glia_st_numel(const glia_st_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

/* IEEE half -> float, exact (every half is a float). NaNs come out quiet with their payload,
 * as c10's fp16_ieee_to_fp32_value and the F16C instruction give them. */
static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    float f;

    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | man << 13;
        if (man)
            bits |= 0x00400000u;
    } else if (exp != 0) {
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    } else {
        /* zero or subnormal: man * 2^-24, exact in float */
        f = (float)man * 0x1p-24f;
        return sign ? -f : f;
    }
    memcpy(&f, &bits, sizeof f);
    return f;
}

static double element_f64(const unsigned char *src, size_t i)
{
    double v;
    memcpy(&v, src + 8 * i, 8);
    return v;
}

/* Element i of a float tensor's raw bytes as float32 (src may be unaligned, hence memcpy). */
static float element_f32(glia_dtype dt, const unsigned char *src, size_t i)
{
    uint16_t h;
    uint32_t bits;
    float f;
    switch (dt) {
    case GLIA_DT_F32: memcpy(&f, src + 4 * i, 4); return f;
    case GLIA_DT_F16: memcpy(&h, src + 2 * i, 2); return f16_to_f32(h);
    case GLIA_DT_BF16:
        /* bf16 is the top half of a float32: widening is a shift, as c10::BFloat16 does it. */
        memcpy(&h, src + 2 * i, 2);
        bits = (uint32_t)h << 16;
        memcpy(&f, &bits, 4);
        return f;
    case GLIA_DT_F64:
        /* static_cast<float> in PyTorch: round to nearest even, overflow to inf (IEEE, Annex F). */
        return (float)element_f64(src, i);
    default: GLIA_ASSERT(0 && "a float dtype"); return 0.0f;
    }
}

static bool is_float_dtype(glia_dtype dt)
{
    return dt == GLIA_DT_F32 || dt == GLIA_DT_F16 || dt == GLIA_DT_BF16 || dt == GLIA_DT_F64;
}

glia_status glia_st_read_f32(const glia_st_tensor *t, float *dst, size_t count, glia_err *err)
{
    const unsigned char *src = t->data;

    if (!is_float_dtype(t->dtype))
        return glia_err_set(err, GLIA_EUNSUPPORTED,
                            "tensor " NAME_FMT " is %s; only F32, F16, BF16 and F64 convert to float32",
                            t->name, glia_dtype_name(t->dtype));
    /* nbytes / esize, not the shape product: it is exactly what the file holds. */
    size_t n = t->nbytes / glia_dtype_size(t->dtype);
    if (n != count)
        return glia_err_set(err, GLIA_EINVAL,
                            "tensor " NAME_FMT " has %zu elements but the destination holds %zu", t->name, n,
                            count);
    if (t->dtype == GLIA_DT_F32) {
        if (n)
            memcpy(dst, src, n * sizeof *dst);
        return GLIA_OK;
    }
    for (size_t i = 0; i < n; i++)
        dst[i] = element_f32(t->dtype, src, i);
    return GLIA_OK;
}

glia_status glia_st_check_finite(const glia_st_tensor *t, glia_err *err)
{
    if (!is_float_dtype(t->dtype))
        return GLIA_OK;
    const unsigned char *src = t->data;
    const size_t n = t->nbytes / glia_dtype_size(t->dtype);
    size_t first = 0, bad = 0;
    /* Counting them all costs nothing more than the scan a clean tensor needs anyway, and
     * "1 value" and "every value" point at different causes (a corrupt byte, a diverged run). */
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(element_f32(t->dtype, src, i)) && bad++ == 0)
            first = i;
    }
    if (bad == 0)
        return GLIA_OK;
    char what[64];
    float f = element_f32(t->dtype, src, first);
    if (isnan(f))
        snprintf(what, sizeof what, "a NaN");
    else if (t->dtype == GLIA_DT_F64 && isfinite(element_f64(src, first)))
        snprintf(what, sizeof what, "%g (beyond float32's range)", element_f64(src, first));
    else
        snprintf(what, sizeof what, "%sInf", f > 0 ? "+" : "-");
    return glia_err_set(err, GLIA_EFORMAT,
                        "tensor " NAME_FMT
                        " holds %s at element %zu (non-finite values: %zu of %zu); weights "
                        "must be finite numbers",
                        t->name, what, first, bad, n);
}

/* ---- writer ---------------------------------------------------------------------------- */

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF), the same rule Jansson
 * applies when reading: the writer must never produce a header its own reader rejects. */
static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t more;
        uint32_t cp, min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            more = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            more = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            more = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        for (size_t i = 1; i <= more; i++) {
            if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
                return false;
            cp = cp << 6 | (p[i] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += more + 1;
    }
    return true;
}

static glia_status check_entry(const glia_st_entry *e, size_t i, uint64_t *nbytes, glia_err *err)
{
    if (!e->name)
        return glia_err_set(err, GLIA_EINVAL, "entry %zu has no name", i);
    if (!utf8_valid(e->name))
        return glia_err_set(err, GLIA_EINVAL, "entry %zu: tensor name is not valid UTF-8", i);
    if (strcmp(e->name, METADATA_KEY) == 0)
        return glia_err_set(err, GLIA_EINVAL, "entry %zu: '" METADATA_KEY "' is reserved, not a tensor name",
                            i);
    if ((unsigned)e->dtype >= N_DTYPES)
        return glia_err_set(err, GLIA_EINVAL, "tensor " NAME_FMT ": dtype %d is not a glia_dtype", e->name,
                            (int)e->dtype);
    if (e->ndim < 0 || e->ndim > GLIA_ST_MAX_DIMS)
        return glia_err_set(err, GLIA_EINVAL, "tensor " NAME_FMT ": ndim %d outside 0..%d", e->name, e->ndim,
                            GLIA_ST_MAX_DIMS);
    if (e->ndim > 0 && !e->shape)
        return glia_err_set(err, GLIA_EINVAL, "tensor " NAME_FMT ": ndim %d but no shape", e->name, e->ndim);
    for (int d = 0; d < e->ndim; d++) {
        if (e->shape[d] < 0)
            return glia_err_set(err, GLIA_EINVAL, "tensor " NAME_FMT ": shape[%d] is %" PRId64, e->name, d,
                                e->shape[d]);
    }
    if (!shape_nbytes(e->shape, e->ndim, glia_dtype_size(e->dtype), nbytes))
        return glia_err_set(err, GLIA_EINVAL, "tensor " NAME_FMT ": byte size overflows", e->name);
    if (*nbytes > 0 && !e->data)
        return glia_err_set(err, GLIA_EINVAL, "tensor " NAME_FMT ": %" PRIu64 " bytes but no data", e->name,
                            *nbytes);
    return GLIA_OK;
}

/* Byte size of an entry that check_entry() accepted, so it cannot overflow. */
static uint64_t entry_nbytes(const glia_st_entry *e)
{
    uint64_t nb = 0;
    bool ok = shape_nbytes(e->shape, e->ndim, glia_dtype_size(e->dtype), &nb);
    GLIA_ASSERT(ok);
    return nb;
}

/* Metadata lists are a handful of strings, so the duplicate check is quadratic on purpose. */
static glia_status check_meta(const char *const *meta, glia_err *err)
{
    for (size_t i = 0; meta && meta[i]; i += 2) {
        if (!meta[i + 1])
            return glia_err_set(err, GLIA_EINVAL, "metadata key '%.160s' has no value", meta[i]);
        if (!utf8_valid(meta[i]) || !utf8_valid(meta[i + 1]))
            return glia_err_set(err, GLIA_EINVAL, "metadata key '%.160s': key or value is not valid UTF-8",
                                meta[i]);
        for (size_t j = 0; j < i; j += 2) {
            if (strcmp(meta[i], meta[j]) == 0)
                return glia_err_set(err, GLIA_EINVAL, "metadata key '%.160s' appears twice", meta[i]);
        }
    }
    return GLIA_OK;
}

static int cmp_entry_name(const void *a, const void *b)
{
    const glia_st_entry *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Larger elements first (F64/I64, then 4-byte, ...), ties in caller order: with the data section
 * 8-aligned, every tensor then starts at a multiple of its element size. */
static int cmp_entry_layout(const void *a, const void *b)
{
    const glia_st_entry *const *x = a, *const *y = b;
    size_t sx = glia_dtype_size((*x)->dtype), sy = glia_dtype_size((*y)->dtype);
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return *x < *y ? -1 : *x > *y;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [begin, end]}; NULL when out of memory. */
static json_t *entry_json(const glia_st_entry *e, uint64_t begin, uint64_t end)
{
    json_t *obj = json_object();
    json_t *shape = json_array();
    json_t *offs = json_array();

    if (!obj || !shape || !offs)
        goto fail;
    for (int d = 0; d < e->ndim; d++) {
        if (json_array_append_new(shape, json_integer(e->shape[d])))
            goto fail;
    }
    if (json_array_append_new(offs, json_integer((json_int_t)begin)) ||
        json_array_append_new(offs, json_integer((json_int_t)end)))
        goto fail;
    /* json_object_set (not _new) for the arrays keeps our references, so one path frees all. */
    if (json_object_set_new(obj, "dtype", json_string(glia_dtype_name(e->dtype))) ||
        json_object_set(obj, "shape", shape) || json_object_set(obj, "data_offsets", offs))
        goto fail;
    json_decref(offs);
    json_decref(shape);
    return obj;

fail:
    json_decref(offs);
    json_decref(shape);
    json_decref(obj);
    return NULL;
}

/* Builds the padded header: 8-byte length, JSON, spaces. order[] is the data layout. */
static glia_status build_header(const glia_st_entry *const *order, size_t n, const char *const *meta,
                                unsigned char **out, size_t *out_len, glia_err *err)
{
    json_t *root = NULL;
    unsigned char *buf = NULL;
    glia_status rc;

    root = json_object();
    if (!root)
        goto oom;
    if (meta && meta[0]) {
        json_t *m = json_object();
        if (json_object_set_new(root, METADATA_KEY, m))
            goto oom;
        for (size_t i = 0; meta[i]; i += 2) {
            if (json_object_set_new(m, meta[i], json_string(meta[i + 1])))
                goto oom;
        }
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t nb = entry_nbytes(order[i]);
        if (nb > MAX_BYTES - off) {
            rc = glia_err_set(err, GLIA_EINVAL, "tensors add up to more than %" PRIu64 " bytes", MAX_BYTES);
            goto fail;
        }
        if (json_object_set_new(root, order[i]->name, entry_json(order[i], off, off + nb)))
            goto oom;
        off += nb;
    }

    size_t jlen = json_dumpb(root, NULL, 0, JSON_COMPACT);
    if (jlen == 0)
        goto oom;
    size_t hlen = align_up(jlen, 8);
    if (hlen > GLIA_ST_MAX_HEADER) {
        rc =
            glia_err_set(err, GLIA_EINVAL, "header would be %zu bytes, over the %u-byte limit readers accept",
                         hlen, GLIA_ST_MAX_HEADER);
        goto fail;
    }
    buf = malloc(8 + hlen);
    if (!buf)
        goto oom;
    store_u64le(buf, hlen);
    if (json_dumpb(root, (char *)buf + 8, jlen, JSON_COMPACT) != jlen)
        goto oom;
    memset(buf + 8 + jlen, ' ', hlen - jlen);
    json_decref(root);
    *out = buf;
    *out_len = 8 + hlen;
    return GLIA_OK;

oom:
    rc = glia_err_set(err, GLIA_ENOMEM, "out of memory building the header");
fail:
    free(buf);
    json_decref(root);
    return rc;
}

static glia_status write_all(int fd, const void *buf, size_t len, const char *tmp, glia_err *err)
{
    const unsigned char *p = buf;
    while (len > 0) {
        /* Linux moves at most ~2 GiB per call; smaller chunks keep partial writes ordinary. */
        size_t chunk = len < ((size_t)1 << 30) ? len : (size_t)1 << 30;
        ssize_t w = write(fd, p, chunk);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return glia_err_set(err, GLIA_EIO, "cannot write '%s': %s", tmp,
                                w < 0 ? strerror(errno) : "no progress");
        p += w;
        len -= (size_t)w;
    }
    return GLIA_OK;
}

/* Creates PATH.tmp.XXXXXX with O_EXCL. Not mkstemp(): its 0600 mode would make every weight file
 * private; 0666 lets the umask decide, as for any new file. The suffix only has to be unlikely
 * to collide, so a clock/pid/address mix through splitmix64 is enough (O_EXCL catches the rest). */
static glia_status open_temp(const char *path, char *tmp, int *fd_out, glia_err *err)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 40 ^ (uintptr_t)tmp;
    size_t plen = strlen(path);

    for (int attempt = 0; attempt < 100; attempt++) {
        memcpy(tmp, path, plen);
        memcpy(tmp + plen, ".tmp.", 5);
        for (int i = 0; i < 6; i++) {
            s += 0x9e3779b97f4a7c15u;
            uint64_t z = s;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
            z ^= z >> 31;
            tmp[plen + 5 + i] = alphabet[z % (sizeof alphabet - 1)];
        }
        tmp[plen + 11] = '\0';
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *fd_out = fd;
            return GLIA_OK;
        }
        if (errno != EEXIST)
            return glia_err_set(err, GLIA_EIO, "cannot create temporary file '%s': %s", tmp, strerror(errno));
    }
    return glia_err_set(err, GLIA_EIO, "cannot create a temporary file next to '%s': every name tried exists",
                        path);
}

/* The rename is only durable once the directory entry is on disk. dirbuf has room for path. */
static glia_status sync_dir(const char *path, char *dirbuf, glia_err *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        strcpy(dirbuf, ".");
    else if (slash == path)
        strcpy(dirbuf, "/");
    else {
        memcpy(dirbuf, path, (size_t)(slash - path));
        dirbuf[slash - path] = '\0';
    }
    int dfd = open(dirbuf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return glia_err_set(err, GLIA_EIO,
                            "'%s' is in place but its directory '%s' cannot be opened to sync: %s", path,
                            dirbuf, strerror(errno));
    /* Some file systems cannot fsync a directory (EINVAL); there is nothing more to do there. */
    int rc = fsync(dfd);
    int e = errno;
    close(dfd);
    if (rc != 0 && e != EINVAL)
        return glia_err_set(err, GLIA_EIO, "'%s' is in place but syncing directory '%s' failed: %s", path,
                            dirbuf, strerror(e));
    return GLIA_OK;
}

glia_status glia_st_write(const char *path, const glia_st_entry *entries, size_t n, const char *const *meta,
                          glia_err *err)
{
    const glia_st_entry **order = NULL;
    unsigned char *header = NULL;
    size_t header_len = 0;
    char *tmp = NULL;
    int fd = -1;
    bool created = false;
    glia_status rc;

    GLIA_ASSERT(path != NULL && (entries != NULL || n == 0));
    for (size_t i = 0; i < n; i++) {
        uint64_t nb;
        rc = check_entry(&entries[i], i, &nb, err);
        if (rc != GLIA_OK)
            goto fail;
    }
    rc = check_meta(meta, err);
    if (rc != GLIA_OK)
        goto fail;

    if (n > 0) {
        order = malloc(n * sizeof *order);
        if (!order) {
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory sorting %zu tensors", n);
            goto fail;
        }
        for (size_t i = 0; i < n; i++)
            order[i] = &entries[i];
        qsort(order, n, sizeof *order, cmp_entry_name);
        for (size_t i = 1; i < n; i++) {
            if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
                rc = glia_err_set(err, GLIA_EINVAL, "duplicate tensor name " NAME_FMT, order[i]->name);
                goto fail;
            }
        }
        qsort(order, n, sizeof *order, cmp_entry_layout);
    }
    rc = build_header(order, n, meta, &header, &header_len, err);
    if (rc != GLIA_OK)
        goto fail;

    tmp = malloc(strlen(path) + sizeof ".tmp.XXXXXX");
    if (!tmp) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for a temporary file name");
        goto fail;
    }
    rc = open_temp(path, tmp, &fd, err);
    if (rc != GLIA_OK)
        goto fail;
    created = true;
    rc = write_all(fd, header, header_len, tmp, err);
    for (size_t i = 0; i < n && rc == GLIA_OK; i++) {
        rc = write_all(fd, order[i]->data, (size_t)entry_nbytes(order[i]), tmp, err);
    }
    if (rc != GLIA_OK)
        goto fail;
    if (fsync(fd) != 0) {
        rc = glia_err_set(err, GLIA_EIO, "cannot fsync '%s': %s", tmp, strerror(errno));
        goto fail;
    }
    /* close() can report a deferred write error (NFS), so it is checked like a write. */
    int crc = close(fd);
    fd = -1;
    if (crc != 0) {
        rc = glia_err_set(err, GLIA_EIO, "cannot close '%s': %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        rc = glia_err_set(err, GLIA_EIO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        goto fail;
    }
    created = false;
    rc = sync_dir(path, tmp, err);
    if (rc != GLIA_OK)
        goto fail;

    free(tmp);
    free(header);
    free(order);
    return GLIA_OK;

fail:
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    free(header);
    free(order);
    return rc;
}
