/*
 * oip.c - see oip.h. Binary values are little-endian whatever the host (Triton's extension
 * says so), read and written a byte at a time.
 */
#include "daemon/oip.h"

#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {"BOOL",  "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
                                         "INT32", "INT64", "FP16",   "FP32",   "FP64",   "BYTES"};
static const unsigned char type_sizes[] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 0};

oip_datatype oip_datatype_of(const char *name)
{
    for (int i = 0; name && i < OIP_NO_TYPE; i++)
        if (strcmp(name, type_names[i]) == 0)
            return (oip_datatype)i;
    return OIP_NO_TYPE;
}

const char *oip_datatype_name(oip_datatype t)
{
    return t < OIP_NO_TYPE ? type_names[t] : "?";
}

size_t oip_datatype_size(oip_datatype t)
{
    return t < OIP_NO_TYPE ? type_sizes[t] : 0;
}

static uint64_t read_le(const unsigned char *b, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = (v << 8) | b[i];
    return v;
}

static void write_le(unsigned char *b, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++, v >>= 8)
        b[i] = (unsigned char)(v & 0xff);
}

/* ---- reading a request tensor ---- */

/* "[2, 1, 28, 28]" into buf, for messages. */
static const char *shape_text(const oip_tensor *t, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->nd && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
    return buf;
}

static int read_shape(const json_t *shape, size_t index, oip_tensor *t, problem *p)
{
    size_t nd = json_array_size(shape);
    if (!json_is_array(shape) || nd < 1 || nd > OIP_MAX_DIMS)
        return problem_set(p, 400, "inputs[%zu].shape must be an array of 1 to %d integers", index,
                           OIP_MAX_DIMS);
    t->nd = (int)nd;
    t->count = 1;
    for (size_t d = 0; d < nd; d++) {
        const json_t *v = json_array_get(shape, d);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return problem_set(p, 400, "inputs[%zu].shape[%zu] must be an integer >= 0", index, d);
        t->shape[d] = (int64_t)json_integer_value(v);
        /* bounded so that count x 8 bytes cannot overflow either */
        if (__builtin_mul_overflow(t->count, (size_t)t->shape[d], &t->count) || t->count > SIZE_MAX / 16)
            return problem_set(p, 400, "inputs[%zu].shape holds more elements than any request can", index);
    }
    return 0;
}

/* The leaves of nested data a at depth d into t->leaves[*k..] (NULL: only checked and
 * counted): each level an array as long as its dimension, the last level's elements not
 * arrays. */
static int flatten(const json_t *a, size_t index, oip_tensor *t, int d, size_t *k, problem *p)
{
    char shape[128];
    if (!json_is_array(a) || json_array_size(a) != (size_t)t->shape[d])
        return problem_set(p, 400,
                           "inputs[%zu].data is nested, but not as shape %s: an array at depth %d has %zu "
                           "elements where dimension %d is %lld (send nested arrays that match the shape, or "
                           "one flat array of %zu elements)",
                           index, shape_text(t, shape, sizeof shape), d, json_array_size(a), d,
                           (long long)t->shape[d], t->count);
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *v = json_array_get(a, i);
        if (d + 1 < t->nd) {
            if (flatten(v, index, t, d + 1, k, p))
                return -1;
        } else if (json_is_array(v)) {
            return problem_set(p, 400, "inputs[%zu].data is nested deeper than shape %s", index,
                               shape_text(t, shape, sizeof shape));
        } else {
            if (t->leaves)
                t->leaves[*k] = v;
            (*k)++;
        }
    }
    return 0;
}

static int read_json_data(const json_t *data, size_t index, oip_tensor *t, problem *p)
{
    char shape[128];
    if (!json_is_array(data))
        return problem_set(
            p, 400, "inputs[%zu] needs \"data\" (an array, flat or nested) or parameters.binary_data_size",
            index);
    /* the data are checked against the shape before anything is sized from the shape: a
     * shape of 10^12 elements with three numbers is a 400, not a terabyte malloc */
    const int nested = json_array_size(data) > 0 && json_is_array(json_array_get(data, 0));
    size_t k = 0;
    if (nested ? flatten(data, index, t, 0, &k, p) != 0 : json_array_size(data) != t->count)
        return nested ? -1
                      : problem_set(p, 400, "inputs[%zu].data has %zu elements; shape %s holds %zu", index,
                                    json_array_size(data), shape_text(t, shape, sizeof shape), t->count);
    t->leaves = malloc(sizeof *t->leaves * (t->count ? t->count : 1));
    if (!t->leaves)
        return problem_set(p, 503, "out of memory reading inputs[%zu]", index);
    k = 0;
    if (nested)
        return flatten(data, index, t, 0, &k, p);
    for (size_t i = 0; i < t->count; i++)
        t->leaves[i] = json_array_get(data, i);
    return 0;
}

/* size bytes at *bin for t: checked against the shape and datatype (and, for BYTES, each
 * element's length prefix), then taken. */
static int read_binary(const json_t *size_j, size_t index, const unsigned char **bin, size_t *bin_left,
                       oip_tensor *t, problem *p)
{
    char shape[128];
    if (!json_is_integer(size_j) || json_integer_value(size_j) < 0)
        return problem_set(p, 400, "inputs[%zu].parameters.binary_data_size must be an integer >= 0", index);
    if (!bin || !*bin)
        return problem_set(p, 400,
                           "inputs[%zu] has binary_data_size, but the request has no binary part (send the "
                           "header Inference-Header-Content-Length: the JSON's length in bytes)",
                           index);
    const uint64_t size = (uint64_t)json_integer_value(size_j);
    if (size > *bin_left)
        return problem_set(
            p, 400,
            "inputs[%zu].parameters.binary_data_size is %llu bytes, but only %zu bytes of binary "
            "data are left after the JSON header",
            index, (unsigned long long)size, *bin_left);
    const size_t el = oip_datatype_size(t->type);
    if (el && size != (uint64_t)t->count * el)
        return problem_set(
            p, 400,
            "inputs[%zu].parameters.binary_data_size is %llu bytes; shape %s of %s needs %zu x %zu "
            "= %zu",
            index, (unsigned long long)size, shape_text(t, shape, sizeof shape), oip_datatype_name(t->type),
            t->count, el, t->count * el);
    if (!el) {
        /* BYTES: count elements, each a 4-byte length then its bytes, filling size exactly */
        if (t->count > size / 4)
            return problem_set(
                p, 400,
                "inputs[%zu].parameters.binary_data_size is %llu bytes; %zu BYTES elements need at "
                "least 4 each (their lengths)",
                index, (unsigned long long)size, t->count);
        t->offsets = malloc(sizeof *t->offsets * (t->count ? t->count : 1));
        if (!t->offsets)
            return problem_set(p, 503, "out of memory reading inputs[%zu]", index);
        size_t at = 0;
        for (size_t i = 0; i < t->count; i++) {
            if (size - at < 4)
                return problem_set(
                    p, 400,
                    "inputs[%zu]'s binary data ends at element %zu of %zu: BYTES elements are each "
                    "a 4-byte little-endian length then that many bytes",
                    index, i, t->count);
            const uint64_t n = read_le(*bin + at, 4);
            if (n > size - at - 4)
                return problem_set(
                    p, 400, "inputs[%zu]'s binary element %zu says %llu bytes, past binary_data_size %llu",
                    index, i, (unsigned long long)n, (unsigned long long)size);
            t->offsets[i] = at;
            at += 4 + (size_t)n;
        }
        if (at != size)
            return problem_set(p, 400,
                               "inputs[%zu]'s %zu BYTES elements take %zu bytes, not binary_data_size %llu",
                               index, t->count, at, (unsigned long long)size);
    }
    t->bin = *bin;
    *bin += size;
    *bin_left -= size;
    return 0;
}

int oip_tensor_read(const json_t *j, size_t index, const unsigned char **bin, size_t *bin_left, oip_tensor *t,
                    problem *p)
{
    memset(t, 0, sizeof *t);
    t->type = OIP_NO_TYPE;
    if (!json_is_object(j))
        return problem_set(p, 400, "inputs[%zu] must be a tensor {name, shape, datatype, data}", index);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)j, key, v)
    {
        if (strcmp(key, "name") && strcmp(key, "shape") && strcmp(key, "datatype") && strcmp(key, "data") &&
            strcmp(key, "parameters"))
            return problem_set(p, 400,
                               "inputs[%zu] has an unknown field \"%s\" (known: name, shape, datatype, "
                               "parameters, data)",
                               index, key);
    }
    const json_t *name = json_object_get(j, "name"), *dt = json_object_get(j, "datatype"),
                 *params = json_object_get(j, "parameters"), *data = json_object_get(j, "data");
    if (!json_is_string(name))
        return problem_set(p, 400, "inputs[%zu].name must be a string", index);
    t->name = json_string_value(name);
    t->type = oip_datatype_of(json_string_value(dt));
    if (t->type == OIP_NO_TYPE)
        return problem_set(p, 400,
                           "inputs[%zu].datatype must be one of the protocol's: BOOL, UINT8..UINT64, "
                           "INT8..INT64, FP16, FP32, FP64, BYTES",
                           index);
    if (read_shape(json_object_get(j, "shape"), index, t, p))
        return -1;
    if (params && !json_is_object(params))
        return problem_set(p, 400, "inputs[%zu].parameters must be an object", index);
    json_object_foreach((json_t *)params, key, v)
    {
        if (strcmp(key, "binary_data_size"))
            return problem_set(
                p, 400, "inputs[%zu].parameters has an unknown parameter \"%s\" (known: binary_data_size)",
                index, key);
    }
    const json_t *size = json_object_get(params, "binary_data_size");
    if (size && data)
        return problem_set(p, 400, "inputs[%zu] has both \"data\" and binary_data_size: send one", index);
    return size ? read_binary(size, index, bin, bin_left, t, p) : read_json_data(data, index, t, p);
}

void oip_tensor_free(oip_tensor *t)
{
    free(t->leaves);
    free(t->offsets);
    t->leaves = NULL;
    t->offsets = NULL;
}

/* A binary element as a double, by datatype. */
static double binary_number(oip_datatype type, const unsigned char *b)
{
    const uint64_t v = read_le(b, oip_datatype_size(type));
    switch (type) {
    case OIP_INT8: return (double)(int8_t)v;
    case OIP_INT16: return (double)(int16_t)v;
    case OIP_INT32: return (double)(int32_t)v;
    case OIP_INT64: return (double)(int64_t)v;
    case OIP_FP32: {
        uint32_t bits = (uint32_t)v;
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    case OIP_FP64: {
        double f;
        memcpy(&f, &v, sizeof f);
        return f;
    }
    default: return (double)v; /* BOOL, UINT* */
    }
}

int oip_tensor_integer(const oip_tensor *t, size_t index, size_t i, int64_t *out, problem *p)
{
    switch (t->type) {
    case OIP_INT8:
    case OIP_INT16:
    case OIP_INT32:
    case OIP_INT64:
    case OIP_UINT8:
    case OIP_UINT16:
    case OIP_UINT32:
    case OIP_UINT64: break;
    default: return problem_set(p, 400, "inputs[%zu] is %s, not integers", index, oip_datatype_name(t->type));
    }
    if (t->bin) {
        const size_t size = oip_datatype_size(t->type);
        const uint64_t v = read_le(t->bin + i * size, size);
        switch (t->type) {
        case OIP_INT8: *out = (int8_t)v; break;
        case OIP_INT16: *out = (int16_t)v; break;
        case OIP_INT32: *out = (int32_t)v; break;
        case OIP_INT64: *out = (int64_t)v; break;
        default: *out = v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v; break;
        }
        return 0;
    }
    const json_t *v = t->leaves[i];
    if (!json_is_integer(v))
        return problem_set(p, 400,
                           "inputs[%zu].data[%zu] is not an integer (datatype %s; nested data counts in "
                           "row-major order)",
                           index, i, oip_datatype_name(t->type));
    *out = (int64_t)json_integer_value(v);
    return 0;
}

int oip_tensor_number(const oip_tensor *t, size_t index, size_t i, double *out, problem *p)
{
    if (t->type == OIP_BYTES || t->type == OIP_FP16 || t->type == OIP_NO_TYPE)
        return problem_set(p, 400, "inputs[%zu] is %s, not numbers", index, oip_datatype_name(t->type));
    if (t->bin) {
        *out = binary_number(t->type, t->bin + i * oip_datatype_size(t->type));
        return 0;
    }
    const json_t *v = t->leaves[i];
    const int fp = t->type == OIP_FP32 || t->type == OIP_FP64;
    if (t->type == OIP_BOOL && json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (fp ? !json_is_number(v) : !json_is_integer(v))
        return problem_set(
            p, 400, "inputs[%zu].data[%zu] is not %s (datatype %s; nested data counts in row-major order)",
            index, i, fp ? "a number" : "an integer", oip_datatype_name(t->type));
    *out = json_number_value(v);
    return 0;
}

int oip_tensor_bytes(const oip_tensor *t, size_t index, size_t i, const char **s, size_t *len, problem *p)
{
    if (t->type != OIP_BYTES)
        return problem_set(p, 400, "inputs[%zu] is %s, not BYTES", index, oip_datatype_name(t->type));
    if (t->bin) {
        *len = (size_t)read_le(t->bin + t->offsets[i], 4);
        *s = (const char *)t->bin + t->offsets[i] + 4;
        return 0;
    }
    const json_t *v = t->leaves[i];
    if (!json_is_string(v))
        return problem_set(p, 400, "inputs[%zu].data[%zu] is not a string (datatype BYTES)", index, i);
    *s = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

/* ---- answers ---- */

int oip_buf_room(oip_buf *buf, size_t more)
{
    if (more <= buf->cap - buf->len)
        return 0;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap - buf->len < more) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    unsigned char *d = realloc(buf->data, cap);
    if (!d)
        return -1;
    buf->data = d;
    buf->cap = cap;
    return 0;
}

/* Element v of an answer tensor of type in the binary form, appended. */
static int append_element(oip_buf *buf, oip_datatype type, const json_t *v)
{
    if (type == OIP_BYTES) {
        const size_t n = json_string_length(v);
        if (!json_is_string(v) || n > UINT32_MAX || oip_buf_room(buf, 4 + n))
            return -1;
        write_le(buf->data + buf->len, n, 4);
        memcpy(buf->data + buf->len + 4, json_string_value(v), n);
        buf->len += 4 + n;
        return 0;
    }
    const size_t size = oip_datatype_size(type);
    uint64_t bits;
    if (type == OIP_FP32) {
        float f = (float)json_number_value(v);
        uint32_t b32;
        memcpy(&b32, &f, sizeof b32);
        bits = b32;
    } else if (type == OIP_INT32 || type == OIP_INT64) {
        bits = (uint64_t)json_integer_value(v);
    } else {
        return -1; /* gliad answers no other datatype */
    }
    if (!json_is_number(v) || oip_buf_room(buf, size))
        return -1;
    write_le(buf->data + buf->len, bits, size);
    buf->len += size;
    return 0;
}

int oip_tensor_to_binary(json_t *j, oip_buf *buf)
{
    const oip_datatype type = oip_datatype_of(json_string_value(json_object_get(j, "datatype")));
    const json_t *data = json_object_get(j, "data");
    const size_t start = buf->len;
    for (size_t i = 0; i < json_array_size(data); i++)
        if (append_element(buf, type, json_array_get(data, i)))
            return -1;
    json_t *params = json_object_get(j, "parameters");
    if (!params) {
        params = json_object();
        if (json_object_set_new(j, "parameters", params))
            return -1;
    }
    if (json_object_set_new(params, "binary_data_size", json_integer((json_int_t)(buf->len - start))) ||
        json_object_del(j, "data"))
        return -1;
    return 0;
}

void oip_buf_free(oip_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}
