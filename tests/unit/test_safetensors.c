/*
 * test_safetensors.c - unit tests for core/formats/safetensors.
 *
 * What the reader and writer promise, checked from outside: round trips through the writer and
 * both openers (bytes, names, shapes, metadata, layout and alignment), float conversions that
 * match PyTorch's .float() bit for bit, one case per malformed header the reader must refuse
 * (code and a distinctive piece of the message), writer failures that leave nothing behind, and
 * Jansson allocation failures (sqlite-style: fail the Nth, N = 0, 1, ... until success).
 * Every file lives in a mkdtemp() directory that the test removes again.
 */
#include "core/base/jsonmem.h"
#include "core/formats/safetensors.h"
#include "tests/support/check_main.h"

#include <dirent.h>
#include <fcntl.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ----------------------------------------------------------------------------- */

/* 8-byte little-endian length, the header text as given (no padding), then data_len bytes taken
 * from data, or 0x5a filler when data is NULL. */
static unsigned char *make_image(const char *header, const void *data, size_t data_len, size_t *len)
{
    size_t hlen = strlen(header);
    *len = 8 + hlen + data_len;
    unsigned char *buf = malloc(*len);
    ck_assert_ptr_nonnull(buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, header, hlen);
    if (data)
        memcpy(buf + 8 + hlen, data, data_len);
    else
        memset(buf + 8 + hlen, 0x5a, data_len);
    return buf;
}

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/glia-st-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    char *dir = strdup(tmpl);
    ck_assert_ptr_nonnull(dir);
    return dir;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Removes the files and empty subdirectories in dir, then dir itself. */
static void remove_tmpdir(char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0)
            rmdir(path);
    }
    closedir(d);
    ck_assert_int_eq(rmdir(dir), 0);
    free(dir);
}

static unsigned char *read_whole(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    ck_assert_int_ge(size, 0);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    *len = (size_t)size;
    return buf;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void assert_same_bits(float got, float want, int i)
{
    if (isnan(want)) {
        ck_assert_msg(isnan(got), "element %d: got %a, want NaN", i, (double)got);
        return;
    }
    ck_assert_msg(memcmp(&got, &want, sizeof got) == 0, "element %d: got %a, want %a", i, (double)got,
                  (double)want);
}

/* ---- dtype table ------------------------------------------------------------------------- */

START_TEST(test_dtype_table)
{
    static const struct {
        glia_dtype dt;
        const char *name;
        size_t size;
    } want[] = {
        {GLIA_DT_BOOL, "BOOL", 1}, {GLIA_DT_U8, "U8", 1},   {GLIA_DT_I8, "I8", 1},
        {GLIA_DT_I16, "I16", 2},   {GLIA_DT_U16, "U16", 2}, {GLIA_DT_F16, "F16", 2},
        {GLIA_DT_BF16, "BF16", 2}, {GLIA_DT_I32, "I32", 4}, {GLIA_DT_U32, "U32", 4},
        {GLIA_DT_F32, "F32", 4},   {GLIA_DT_I64, "I64", 8}, {GLIA_DT_U64, "U64", 8},
        {GLIA_DT_F64, "F64", 8},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        glia_dtype dt;
        ck_assert_str_eq(glia_dtype_name(want[i].dt), want[i].name);
        ck_assert_uint_eq(glia_dtype_size(want[i].dt), want[i].size);
        ck_assert(glia_dtype_from_name(want[i].name, &dt));
        ck_assert_int_eq(dt, want[i].dt);
    }
    glia_dtype dt;
    ck_assert(!glia_dtype_from_name("f32", &dt));
    ck_assert(!glia_dtype_from_name("F8_E4M3", &dt));
    ck_assert_uint_eq(glia_dtype_size((glia_dtype)99), 0);
}
END_TEST

/* ---- round trip -------------------------------------------------------------------------- */

static const float rt_scalar[1] = {3.5f};
static const float rt_vec[5] = {1, -2, 3.25f, 1e-30f, -0.0f};
static float rt_mat[3 * 4];
static float rt_4d[2 * 3 * 1 * 2];
static const int64_t rt_vec_shape[] = {5};
static const int64_t rt_mat_shape[] = {3, 4};
static const int64_t rt_4d_shape[] = {2, 3, 1, 2};
static const int64_t rt_empty_shape[] = {0, 3};

static void fill_rt(void)
{
    for (int i = 0; i < 12; i++)
        rt_mat[i] = (float)i * 0.5f - 1;
    for (int i = 0; i < 12; i++)
        rt_4d[i] = 100.0f + (float)i;
}

static const glia_st_entry rt_entries[] = {
    {"scalar", GLIA_DT_F32, 0, NULL, rt_scalar},
    {"features.0.weight", GLIA_DT_F32, 2, rt_mat_shape, rt_mat},
    {"features.0.bias", GLIA_DT_F32, 1, rt_vec_shape, rt_vec},
    {"empty", GLIA_DT_F32, 2, rt_empty_shape, NULL},
    {"conv.weight", GLIA_DT_F32, 4, rt_4d_shape, rt_4d},
};
enum { RT_N = sizeof rt_entries / sizeof rt_entries[0] };
static const char *const rt_meta[] = {"format", "pt", "glia.arch", "cnn", "note", "ünïcode ✓", NULL};

static void check_rt_file(const glia_st_file *f)
{
    ck_assert_uint_eq(glia_st_count(f), RT_N);
    for (size_t i = 0; i < RT_N; i++) {
        const glia_st_entry *e = &rt_entries[i];
        const glia_st_tensor *t = glia_st_find(f, e->name);
        ck_assert_msg(t != NULL, "tensor '%s' missing", e->name);
        ck_assert_str_eq(t->name, e->name);
        ck_assert_int_eq(t->dtype, GLIA_DT_F32);
        ck_assert_int_eq(t->ndim, e->ndim);
        size_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            ck_assert_int_eq(t->shape[d], e->shape[d]);
            numel *= (size_t)e->shape[d];
        }
        ck_assert_uint_eq(glia_st_numel(t), numel);
        ck_assert_uint_eq(t->nbytes, numel * 4);
        if (numel)
            ck_assert_mem_eq(t->data, e->data, t->nbytes);
        float out[16];
        ck_assert_int_eq(glia_st_read_f32(t, out, numel, NULL), GLIA_OK);
        if (numel)
            ck_assert_mem_eq(out, e->data, t->nbytes);
    }
    ck_assert_ptr_null(glia_st_find(f, "nope"));
    ck_assert_ptr_null(glia_st_find(f, ""));
    /* glia_st_at is in offset order */
    for (size_t i = 1; i < RT_N; i++) {
        const unsigned char *a = glia_st_at(f, i - 1)->data, *b = glia_st_at(f, i)->data;
        ck_assert(a + glia_st_at(f, i - 1)->nbytes == b);
    }
    ck_assert_str_eq(glia_st_metadata(f, "format"), "pt");
    ck_assert_str_eq(glia_st_metadata(f, "glia.arch"), "cnn");
    ck_assert_str_eq(glia_st_metadata(f, "note"), "ünïcode ✓");
    ck_assert_ptr_null(glia_st_metadata(f, "missing"));
    ck_assert_uint_eq(glia_st_metadata_count(f), 3);
    ck_assert_str_eq(glia_st_metadata_key(f, 0), "format");
    ck_assert_str_eq(glia_st_metadata_key(f, 2), "note");
}

START_TEST(test_round_trip)
{
    char *dir = make_tmpdir();
    char path[512];
    glia_err err = {0};
    glia_st_file *f = NULL;

    fill_rt();
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ck_assert_int_eq(glia_st_write(path, rt_entries, RT_N, rt_meta, &err), GLIA_OK);
    ck_assert_int_eq(count_entries(dir), 1); /* no temp file left */

    ck_assert_msg(glia_st_open(path, &f, &err) == GLIA_OK, "%s", err.msg);
    check_rt_file(f);
    glia_st_close(f);

    size_t len;
    unsigned char *buf = read_whole(path, &len);
    uint64_t hlen = le64(buf);
    ck_assert_uint_eq(hlen % 8, 0); /* data section 8-aligned */
    ck_assert_uint_eq(buf[8], '{');
    ck_assert_uint_eq(len, 8 + hlen + (1 + 12 + 5 + 0 + 12) * 4);
    f = NULL;
    ck_assert_msg(glia_st_open_buffer(buf, len, &f, &err) == GLIA_OK, "%s", err.msg);
    check_rt_file(f);
    /* zero-copy: data points into the caller's buffer */
    const unsigned char *d = glia_st_find(f, "scalar")->data;
    ck_assert(d >= buf + 8 + hlen && d < buf + len);
    glia_st_close(f);
    free(buf);
    remove_tmpdir(dir);
}
END_TEST

/* Mixed dtypes are laid out by decreasing element size, each aligned to it. */
START_TEST(test_write_mixed_dtypes)
{
    char *dir = make_tmpdir();
    char path[512];
    glia_err err = {0};
    const uint16_t h[3] = {0x3c00, 0xc000, 0x7bff};
    const double dd[2] = {0.1, -1e39};
    const float ff[4] = {1, 2, 3, 4};
    const uint8_t bytes[5] = {1, 2, 3, 4, 5};
    const int64_t s3[] = {3}, s2[] = {2}, s22[] = {2, 2}, s5[] = {5};
    const glia_st_entry e[] = {
        {"half", GLIA_DT_F16, 1, s3, h},
        {"bytes", GLIA_DT_U8, 1, s5, bytes},
        {"dbl", GLIA_DT_F64, 1, s2, dd},
        {"flt", GLIA_DT_F32, 2, s22, ff},
    };

    snprintf(path, sizeof path, "%s/mixed.safetensors", dir);
    ck_assert_msg(glia_st_write(path, e, 4, NULL, &err) == GLIA_OK, "%s", err.msg);
    size_t len;
    unsigned char *buf = read_whole(path, &len);
    glia_st_file *f = NULL;
    ck_assert_msg(glia_st_open_buffer(buf, len, &f, &err) == GLIA_OK, "%s", err.msg);
    const char *want[] = {"dbl", "flt", "half", "bytes"};
    const unsigned char *data = buf + 8 + le64(buf);
    for (size_t i = 0; i < 4; i++) {
        const glia_st_tensor *t = glia_st_at(f, i);
        ck_assert_str_eq(t->name, want[i]);
        ck_assert_uint_eq((size_t)((const unsigned char *)t->data - data) % glia_dtype_size(t->dtype), 0);
    }
    ck_assert_ptr_null(glia_st_metadata(f, "format"));
    ck_assert_uint_eq(glia_st_metadata_count(f), 0);
    ck_assert_mem_eq(glia_st_find(f, "bytes")->data, bytes, 5);
    ck_assert_mem_eq(glia_st_find(f, "half")->data, h, 6);
    float out[3];
    ck_assert_int_eq(glia_st_read_f32(glia_st_find(f, "dbl"), out, 2, NULL), GLIA_OK);
    assert_same_bits(out[0], 0x1.99999ap-4f, 0);
    assert_same_bits(out[1], -INFINITY, 1);
    ck_assert_int_eq(glia_st_read_f32(glia_st_find(f, "half"), out, 3, NULL), GLIA_OK);
    assert_same_bits(out[2], 65504.0f, 2);
    glia_st_close(f);
    free(buf);
    remove_tmpdir(dir);
}
END_TEST

/* No tensors and no metadata: "{}" padded to 8 bytes, readable. Then overwrite in place. */
START_TEST(test_write_empty_and_overwrite)
{
    char *dir = make_tmpdir();
    char path[512];
    glia_err err = {0};
    glia_st_file *f = NULL;

    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    ck_assert_int_eq(glia_st_write(path, NULL, 0, NULL, &err), GLIA_OK);
    size_t len;
    unsigned char *buf = read_whole(path, &len);
    ck_assert_uint_eq(len, 16);
    ck_assert_uint_eq(le64(buf), 8);
    ck_assert_mem_eq(buf + 8, "{}      ", 8);
    free(buf);
    ck_assert_int_eq(glia_st_open(path, &f, &err), GLIA_OK);
    ck_assert_uint_eq(glia_st_count(f), 0);
    glia_st_close(f);

    const float v[2] = {7, 8};
    const int64_t s[] = {2};
    const glia_st_entry e[] = {{"v", GLIA_DT_F32, 1, s, v}};
    ck_assert_int_eq(glia_st_write(path, e, 1, NULL, &err), GLIA_OK);
    ck_assert_int_eq(count_entries(dir), 1);
    ck_assert_int_eq(glia_st_open(path, &f, &err), GLIA_OK);
    ck_assert_uint_eq(glia_st_count(f), 1);
    ck_assert_mem_eq(glia_st_find(f, "v")->data, v, 8);
    glia_st_close(f);
    glia_st_close(NULL);
    remove_tmpdir(dir);
}
END_TEST

/* ---- float conversions ------------------------------------------------------------------- */

static void le16_bytes(unsigned char *out, const uint16_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = (unsigned char)(v[i] & 0xff);
        out[2 * i + 1] = (unsigned char)(v[i] >> 8);
    }
}

/* Opens a one-tensor image "t" of dtype/count from raw little-endian bytes (plus one byte of
 * offset padding in front when unaligned, to exercise unaligned reads) and converts it. */
static void convert(const char *dtype, const unsigned char *raw, size_t esize, size_t n, float *out,
                    bool unaligned)
{
    char header[256];
    unsigned char data[256];
    size_t pad = unaligned ? 1 : 0;
    ck_assert_uint_le(pad + n * esize, sizeof data);
    if (pad)
        snprintf(header, sizeof header,
                 "{\"pad\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                 "\"t\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[1,%zu]}}",
                 dtype, n, 1 + n * esize);
    else
        snprintf(header, sizeof header, "{\"t\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[0,%zu]}}",
                 dtype, n, n * esize);
    data[0] = 0;
    memcpy(data + pad, raw, n * esize);
    size_t len;
    unsigned char *img = make_image(header, data, pad + n * esize, &len);
    glia_st_file *f = NULL;
    glia_err err = {0};
    ck_assert_msg(glia_st_open_buffer(img, len, &f, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_st_read_f32(glia_st_find(f, "t"), out, n, &err) == GLIA_OK, "%s", err.msg);
    glia_st_close(f);
    free(img);
}

START_TEST(test_read_f16)
{
    const uint16_t h[] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00,
                          0xfc00, 0x8000, 0x3555, 0x7e00, 0x8001, 0x0000, 0xfbff};
    const float want[] = {1.0f,      -2.0f, 65504.0f,    0x1p-24f, 0x1.ff8p-15f, 0x1p-14f, INFINITY,
                          -INFINITY, -0.0f, 0x1.554p-2f, NAN,      -0x1p-24f,    0.0f,     -65504.0f};
    enum { N = sizeof h / sizeof h[0] };
    unsigned char raw[2 * N];
    float out[N];
    le16_bytes(raw, h, N);
    for (int unaligned = 0; unaligned < 2; unaligned++) {
        convert("F16", raw, 2, N, out, unaligned);
        for (int i = 0; i < N; i++)
            assert_same_bits(out[i], want[i], i);
    }
}
END_TEST

START_TEST(test_read_bf16)
{
    const uint16_t h[] = {0x3f80, 0xc040, 0x7f80, 0xff80, 0x0001, 0x3eab, 0x7fc0, 0x8000, 0x7f7f};
    const float want[] = {1.0f, -3.0f, INFINITY, -INFINITY, 0x1p-133f, 0x1.56p-2f, NAN, -0.0f, 0x1.fep127f};
    enum { N = sizeof h / sizeof h[0] };
    unsigned char raw[2 * N];
    float out[N];
    le16_bytes(raw, h, N);
    for (int unaligned = 0; unaligned < 2; unaligned++) {
        convert("BF16", raw, 2, N, out, unaligned);
        for (int i = 0; i < N; i++)
            assert_same_bits(out[i], want[i], i);
    }
}
END_TEST

START_TEST(test_read_f64)
{
    /* Round to nearest even, overflow to inf, underflow to 0 or a subnormal: C's (float) cast
     * under IEEE 754, which is what static_cast<float> in PyTorch does. */
    const double d[] = {1.0,
                        0.1,
                        1e39,
                        -1e39,
                        1e-46,
                        1e-45,
                        0x1.fffffep127,  /* FLT_MAX */
                        0x1.fffffefp127, /* below the halfway point: FLT_MAX */
                        0x1.ffffffp127,  /* exactly halfway, mantissa odd: rounds up to inf */
                        0x1.000001p0,    /* tie, rounds to even 1.0 */
                        0x1.000003p0,    /* tie, rounds to even 1 + 2^-22 */
                        -0.0,
                        NAN};
    const float want[] = {
        1.0f,     0x1.99999ap-4f, INFINITY,      -INFINITY, 0.0f, 0x1p-149f, 0x1.fffffep127f, 0x1.fffffep127f,
        INFINITY, 1.0f,           0x1.000004p0f, -0.0f,     NAN};
    enum { N = sizeof d / sizeof d[0] };
    unsigned char raw[8 * N];
    float out[N];
    memcpy(raw, d, sizeof d); /* the module asserts a little-endian host */
    for (int unaligned = 0; unaligned < 2; unaligned++) {
        convert("F64", raw, 8, N, out, unaligned);
        for (int i = 0; i < N; i++)
            assert_same_bits(out[i], want[i], i);
    }
}
END_TEST

START_TEST(test_read_f32_errors)
{
    const char *header = "{\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                         "\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[24,32]},"
                         "\"mask\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[32,34]}}";
    size_t len;
    unsigned char *img = make_image(header, NULL, 34, &len);
    glia_st_file *f = NULL;
    glia_err err = {0};
    float out[8];
    ck_assert_msg(glia_st_open_buffer(img, len, &f, &err) == GLIA_OK, "%s", err.msg);

    ck_assert_int_eq(glia_st_read_f32(glia_st_find(f, "fc.weight"), out, 5, &err), GLIA_EINVAL);
    ck_assert_int_eq(err.code, GLIA_EINVAL);
    ck_assert_str_eq(err.msg, "tensor 'fc.weight' has 6 elements but the destination holds 5");
    ck_assert_int_eq(glia_st_read_f32(glia_st_find(f, "fc.weight"), out, 8, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "6 elements but the destination holds 8"));
    ck_assert_int_eq(glia_st_read_f32(glia_st_find(f, "ids"), out, 1, &err), GLIA_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "'ids' is I64"));
    ck_assert_int_eq(glia_st_read_f32(glia_st_find(f, "mask"), out, 2, &err), GLIA_EUNSUPPORTED);
    ck_assert_int_eq(glia_st_read_f32(glia_st_find(f, "fc.weight"), out, 6, NULL), GLIA_OK);
    glia_st_close(f);
    free(img);
}
END_TEST

/* ---- malformed headers ------------------------------------------------------------------- */

#define ENT(name, dt, shape, offs)                                                                           \
    "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" offs "}"

static const struct {
    const char *header;
    size_t data_len;
    glia_status code;
    const char *needle;
} bad[] = {
    {"{\"a\": ", 0, GLIA_EFORMAT, "header is not valid JSON"},
    {"", 0, GLIA_EFORMAT, "header is not valid JSON"},
    {"{} xyz", 0, GLIA_EFORMAT, "end of file expected"},
    {"{\"a\":\"\xff\"}", 0, GLIA_EFORMAT, "header is not valid JSON"},
    {"[1, 2]", 0, GLIA_EFORMAT, "header is an array, not a JSON object"},
    {"{" ENT("a", "F32", "[1]", "[0,4]") "," ENT("a", "F32", "[1]", "[4,8]") "}", 8, GLIA_EFORMAT,
     "header repeats a key (a duplicate tensor name"},
    {"{\"a\": 5}", 0, GLIA_EFORMAT, "tensor 'a': entry is an integer, not an object"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"foo\":1}}", 4, GLIA_EFORMAT,
     "tensor 'a': unknown key 'foo'"},
    {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, GLIA_EFORMAT,
     "tensor 'a': missing key 'shape'"},
    {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, GLIA_EFORMAT, "missing key 'dtype'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, GLIA_EFORMAT, "missing key 'data_offsets'"},
    {"{" ENT("a", "F8_E4M3", "[1]", "[0,1]") "}", 1, GLIA_EUNSUPPORTED,
     "tensor 'a': unsupported dtype 'F8_E4M3'"},
    {"{" ENT("a", "f32", "[1]", "[0,4]") "}", 4, GLIA_EUNSUPPORTED, "unsupported dtype 'f32'"},
    {"{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, GLIA_EFORMAT,
     "dtype is an integer, not a string"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4, GLIA_EFORMAT,
     "shape is a string, not an array"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":null,\"data_offsets\":[0,4]}}", 4, GLIA_EFORMAT, "shape is null"},
    {"{" ENT("a", "F32", "[-1]", "[0,4]") "}", 4, GLIA_EFORMAT, "shape[0] is -1, not a non-negative integer"},
    {"{" ENT("a", "F32", "[2, 1.5]", "[0,4]") "}", 4, GLIA_EFORMAT, "shape[1] is a real number"},
    {"{" ENT("a", "F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4, GLIA_EFORMAT,
     "shape has 9 dimensions, glia supports at most 8"},
    {"{" ENT("a", "F32", "[4294967296,4294967296,4]", "[0,4]") "}", 4, GLIA_EFORMAT,
     "shape [4294967296, 4294967296, 4] of F32 overflows"},
    {"{" ENT("a", "F32", "[1]", "[0]") "}", 4, GLIA_EFORMAT, "data_offsets must be [begin, end]"},
    {"{" ENT("a", "F32", "[1]", "[0,4,8]") "}", 8, GLIA_EFORMAT, "data_offsets must be [begin, end]"},
    {"{" ENT("a", "F32", "[1]", "[-4,0]") "}", 4, GLIA_EFORMAT, "data_offsets must be [begin, end]"},
    {"{" ENT("a", "F32", "[1]", "[0,\"4\"]") "}", 4, GLIA_EFORMAT, "data_offsets must be [begin, end]"},
    {"{" ENT("a", "F32", "[1]", "{}") "}", 4, GLIA_EFORMAT, "data_offsets must be [begin, end]"},
    {"{" ENT("a", "F32", "[1]", "[0,99999999999999999999]") "}", 4, GLIA_EFORMAT, "too big integer"},
    {"{" ENT("a", "F32", "[1]", "[8,4]") "}", 8, GLIA_EFORMAT, "data_offsets [8, 4] end before they begin"},
    {"{" ENT("fc.weight", "F32", "[10, 20]", "[0, 400]") "}", 400, GLIA_EFORMAT,
     "tensor 'fc.weight': data_offsets [0, 400] hold 400 bytes but shape [10, 20] of F32 needs 800"},
    {"{" ENT("s", "F64", "[]", "[0,4]") "}", 4, GLIA_EFORMAT, "hold 4 bytes but shape [] of F64 needs 8"},
    {"{" ENT("a", "F32", "[2]", "[0,8]") "}", 4, GLIA_EFORMAT,
     "data_offsets [0, 8] run past the data section, which has 4 bytes (truncated file?)"},
    {"{" ENT("a", "F32", "[2]", "[0,8]") "," ENT("b", "F32", "[2]", "[4,12]") "}", 12, GLIA_EFORMAT,
     "tensors 'a' (data_offsets [0, 8]) and 'b' (data_offsets [4, 12]) overlap"},
    {"{" ENT("b", "F32", "[2]", "[0,8]") "," ENT("a", "F32", "[2]", "[0,8]") "}", 8, GLIA_EFORMAT, "overlap"},
    {"{" ENT("a", "F32", "[2]", "[0,8]") "," ENT("z", "F32", "[0]", "[4,4]") "}", 8, GLIA_EFORMAT,
     "tensors 'a' (data_offsets [0, 8]) and 'z' (data_offsets [4, 4]) overlap"},
    {"{" ENT("a", "F32", "[1]", "[0,4]") "," ENT("b", "F32", "[1]", "[8,12]") "}", 12, GLIA_EFORMAT,
     "bytes [4, 8) of the data section belong to no tensor (hole before tensor 'b'"},
    {"{" ENT("a", "F32", "[1]", "[4,8]") "}", 8, GLIA_EFORMAT,
     "bytes [0, 4) of the data section belong to no tensor"},
    {"{" ENT("a", "F32", "[1]", "[0,4]") "}", 8, GLIA_EFORMAT,
     "bytes [4, 8) of the data section belong to no tensor (trailing data"},
    {"{}", 4, GLIA_EFORMAT, "bytes [0, 4) of the data section belong to no tensor"},
    {"{\"__metadata__\": 5}", 0, GLIA_EFORMAT, "__metadata__ is an integer, not an object of strings"},
    {"{\"__metadata__\": {\"k\": 1}}", 0, GLIA_EFORMAT,
     "__metadata__ key 'k' holds an integer, not a string"},
    {"{\"__metadata__\": {\"k\": \"v\", \"k\": \"w\"}}", 0, GLIA_EFORMAT, "header repeats a key"},
};
enum { N_BAD = sizeof bad / sizeof bad[0] };

START_TEST(test_bad_header)
{
    size_t len;
    unsigned char *img = make_image(bad[_i].header, NULL, bad[_i].data_len, &len);
    glia_st_file *f = (glia_st_file *)&len; /* must be reset to NULL */
    glia_err err = {0};
    glia_status rc = glia_st_open_buffer(img, len, &f, &err);
    ck_assert_msg(rc == bad[_i].code, "case %d (%s): rc %d, want %d: %s", _i, bad[_i].header, rc,
                  bad[_i].code, err.msg);
    ck_assert_int_eq(err.code, rc);
    ck_assert_msg(strstr(err.msg, bad[_i].needle) != NULL, "case %d: message '%s' lacks '%s'", _i, err.msg,
                  bad[_i].needle);
    ck_assert_ptr_null(f);
    free(img);
}
END_TEST

static const struct {
    const char *header;
    size_t data_len;
    size_t count;
} good[] = {
    {"{}", 0, 0},
    {"{}        ", 0, 0}, /* space padding, as writers add */
    {"{\"__metadata__\":{}}", 0, 0},
    {"{" ENT("s", "F32", "[]", "[0,4]") "}", 4, 1},
    {"{" ENT("e", "F32", "[0, 3]", "[0,0]") "}", 0, 1},
    {"{" ENT("a", "F32", "[1]", "[0,4]") "," ENT("e", "F32", "[0, 9999999999999]", "[4,4]") "}", 4, 2},
    {"{" ENT("e", "BF16", "[0]", "[0,0]") "," ENT("a", "U8", "[3]", "[0,3]") "," ENT("f", "I8", "[0]",
                                                                                     "[3,3]") "}",
     3, 3},
    {"{" ENT("z", "F32", "[2]", "[8,16]") "," ENT("y", "F32", "[2]", "[0,8]") "}", 16, 2},
};
enum { N_GOOD = sizeof good / sizeof good[0] };

START_TEST(test_good_header)
{
    size_t len;
    unsigned char *img = make_image(good[_i].header, NULL, good[_i].data_len, &len);
    glia_st_file *f = NULL;
    glia_err err = {0};
    ck_assert_msg(glia_st_open_buffer(img, len, &f, &err) == GLIA_OK, "case %d: %s", _i, err.msg);
    ck_assert_uint_eq(glia_st_count(f), good[_i].count);
    /* offset order: each tensor starts where the previous ended */
    const unsigned char *pos = img + len - good[_i].data_len;
    for (size_t i = 0; i < glia_st_count(f); i++) {
        ck_assert(glia_st_at(f, i)->data == pos);
        pos += glia_st_at(f, i)->nbytes;
    }
    ck_assert(pos == img + len);
    glia_st_close(f);
    free(img);
}
END_TEST

START_TEST(test_bad_length)
{
    glia_st_file *f = NULL;
    glia_err err = {0};
    unsigned char buf[64] = {0};

    ck_assert_int_eq(glia_st_open_buffer(buf, 5, &f, &err), GLIA_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "file is 5 bytes, shorter than the 8-byte header length"));
    ck_assert_int_eq(glia_st_open_buffer(buf, 0, &f, &err), GLIA_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "file is 0 bytes"));

    /* 200 MB header length: oversized, checked before the (also failing) truncation test */
    uint64_t big = 200000000;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(big >> (8 * i));
    ck_assert_int_eq(glia_st_open_buffer(buf, sizeof buf, &f, &err), GLIA_EFORMAT);
    ck_assert_ptr_nonnull(
        strstr(err.msg, "header length 200000000 exceeds the 100000000-byte limit (oversized"));
    memset(buf, 0xff, 8);
    ck_assert_int_eq(glia_st_open_buffer(buf, sizeof buf, &f, &err), GLIA_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "header length 18446744073709551615 exceeds"));

    memset(buf, 0, 8);
    buf[0] = 100;
    ck_assert_int_eq(glia_st_open_buffer(buf, 58, &f, &err), GLIA_EFORMAT);
    ck_assert_ptr_nonnull(
        strstr(err.msg, "header length 100 but only 50 bytes follow the length field (truncated"));
    ck_assert_ptr_null(f);
}
END_TEST

/* glia_st_open: same checks through a file, messages prefixed with the path; I/O errors. */
START_TEST(test_open_file_errors)
{
    char *dir = make_tmpdir();
    char path[512];
    glia_st_file *f = NULL;
    glia_err err = {0};

    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    ck_assert_int_eq(glia_st_open(path, &f, &err), GLIA_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot open"));

    ck_assert_int_eq(glia_st_open(dir, &f, &err), GLIA_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a regular file"));

    snprintf(path, sizeof path, "%s/short.safetensors", dir);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    fwrite("abc", 1, 3, fp);
    fclose(fp);
    ck_assert_int_eq(glia_st_open(path, &f, &err), GLIA_EFORMAT);
    ck_assert_uint_eq(strncmp(err.msg, path, strlen(path)), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "file is 3 bytes"));

    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    size_t len;
    unsigned char *img = make_image("{" ENT("fc.weight", "F32", "[10, 20]", "[0, 400]") "}", NULL, 400, &len);
    fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(img, 1, len, fp), len);
    fclose(fp);
    free(img);
    ck_assert_int_eq(glia_st_open(path, &f, &err), GLIA_EFORMAT);
    char want[1024];
    snprintf(
        want, sizeof want,
        "%s: tensor 'fc.weight': data_offsets [0, 400] hold 400 bytes but shape [10, 20] of F32 needs 800",
        path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_ptr_null(f);
    remove_tmpdir(dir);
}
END_TEST

/* ---- finite values, and files that change while they are read ---------------------------- */

/* Writes the given entries to dir/name and opens the file, which must succeed. */
static glia_st_file *write_and_open(const char *dir, const char *name, const glia_st_entry *e, size_t n)
{
    char path[512];
    glia_err err = {0};
    glia_st_file *f = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_msg(glia_st_write(path, e, n, NULL, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_st_open(path, &f, &err) == GLIA_OK, "%s", err.msg);
    return f;
}

static void assert_not_finite(const glia_st_file *f, const char *tensor, const char *want)
{
    glia_err err = {0};
    ck_assert_int_eq(glia_st_check_finite(glia_st_find(f, tensor), &err), GLIA_EFORMAT);
    ck_assert_msg(strstr(err.msg, want) != NULL, "got '%s', want '%s'", err.msg, want);
}

/* Every float dtype is checked as float32 would hold it; the message names the tensor, the
 * first bad element and how many there are; integer and finite tensors pass. */
START_TEST(test_check_finite)
{
    char *dir = make_tmpdir();
    float w[40], inf_row[4] = {1, 2, 3, INFINITY}, clean[3] = {0.5f, -FLT_MAX, FLT_MAX};
    for (int i = 0; i < 40; i++)
        w[i] = (float)i * 0.25f;
    w[17] = NAN;
    w[30] = -INFINITY;
    const uint16_t half[3] = {0x3c00, 0x7bff, 0xfc00}; /* 1, 65504, -inf */
    const uint16_t bf[2] = {0x3f80, 0x7fc0};           /* 1, NaN */
    const double dbl[4] = {0.1, -2.0, 3e38, 1e300};    /* the last overflows float32 */
    const int32_t ints[2] = {-1, 0x7f800000};          /* an Inf's bits, but an integer */
    const int64_t s40[] = {4, 10}, s4[] = {4}, s3[] = {3}, s2[] = {2};
    const glia_st_entry e[] = {
        {"fc.weight", GLIA_DT_F32, 2, s40, w}, {"fc.bias", GLIA_DT_F32, 1, s4, inf_row},
        {"half", GLIA_DT_F16, 1, s3, half},    {"bf", GLIA_DT_BF16, 1, s2, bf},
        {"dbl", GLIA_DT_F64, 1, s4, dbl},      {"ints", GLIA_DT_I32, 1, s2, ints},
        {"clean", GLIA_DT_F32, 1, s3, clean},
    };
    glia_st_file *f = write_and_open(dir, "nan.safetensors", e, sizeof e / sizeof e[0]);
    assert_not_finite(f, "fc.weight",
                      "tensor 'fc.weight' holds a NaN at element 17 (non-finite values: 2 of 40)");
    assert_not_finite(f, "fc.bias", "tensor 'fc.bias' holds +Inf at element 3 (non-finite values: 1 of 4)");
    assert_not_finite(f, "half", "tensor 'half' holds -Inf at element 2");
    assert_not_finite(f, "bf", "tensor 'bf' holds a NaN at element 1");
    assert_not_finite(f, "dbl", "tensor 'dbl' holds 1e+300 (beyond float32's range) at element 3");
    ck_assert_int_eq(glia_st_check_finite(glia_st_find(f, "ints"), NULL), GLIA_OK);
    ck_assert_int_eq(glia_st_check_finite(glia_st_find(f, "clean"), NULL), GLIA_OK);
    glia_st_close(f);
    remove_tmpdir(dir);
}
END_TEST

/* A file cut at any length is refused with a report, never read past its end; a file read
 * whole hands out the very bytes it holds (glia_st_bytes). */
START_TEST(test_open_truncated_file)
{
    char *dir = make_tmpdir();
    char path[512];
    glia_err err = {0};
    glia_st_file *f = NULL;
    fill_rt();
    snprintf(path, sizeof path, "%s/cut.safetensors", dir);
    ck_assert_int_eq(glia_st_write(path, rt_entries, RT_N, rt_meta, &err), GLIA_OK);
    size_t len;
    unsigned char *whole = read_whole(path, &len);
    ck_assert_msg(glia_st_open(path, &f, &err) == GLIA_OK, "%s", err.msg);
    size_t got;
    const void *bytes = glia_st_bytes(f, &got);
    ck_assert_uint_eq(got, len);
    ck_assert_mem_eq(bytes, whole, len);
    glia_st_close(f);
    for (size_t cut = 0; cut < len; cut++) {
        ck_assert_int_eq(truncate(path, (off_t)cut), 0);
        f = NULL;
        glia_status rc = glia_st_open(path, &f, &err);
        ck_assert_msg(rc == GLIA_EFORMAT, "cut at %zu of %zu: %s", cut, len, err.msg);
        ck_assert_ptr_null(f);
        ck_assert_uint_eq(strncmp(err.msg, path, strlen(path)), 0);
    }
    free(whole);
    remove_tmpdir(dir);
}
END_TEST

enum { RACE_FLOATS = 1 << 18 }; /* 1 MiB of data: a read long enough to be cut short */

typedef struct {
    const char *path;
    const unsigned char *image; /* the file's bytes */
    size_t len;
    atomic_int stop;
    atomic_long rewrites;
} race;

/* What an operator copying a bundle over the old one does to the file, over and over: cut it
 * short in place, leave it short for a moment, write it back (the same bytes, so a read that
 * succeeds knows what it must hold), leave it whole for a moment. */
static void *cut_and_rewrite(void *arg)
{
    race *r = arg;
    int fd = open(r->path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    while (!atomic_load(&r->stop)) {
        ck_assert_int_eq(ftruncate(fd, 4096), 0);
        usleep(200);
        for (size_t off = 4096; off < r->len;) {
            ssize_t w = pwrite(fd, r->image + off, r->len - off < 65536 ? r->len - off : 65536, (off_t)off);
            ck_assert_int_gt(w, 0);
            off += (size_t)w;
        }
        atomic_fetch_add(&r->rewrites, 1);
        usleep(200);
    }
    close(fd);
    return NULL;
}

/* Loads race a writer that truncates the file in place. Mapped, the reader died of SIGBUS;
 * read into owned memory, each open either fails with a report (cut short, or changed while
 * being read) or holds exactly the file's bytes. Runs until every outcome was seen often (bounded
 * by a count: about 1 s here). */
START_TEST(test_truncated_while_loading)
{
    char *dir = make_tmpdir();
    char path[512];
    glia_err err = {0};
    float *a = malloc(sizeof(float) * RACE_FLOATS), *out = malloc(sizeof(float) * RACE_FLOATS);
    ck_assert(a && out);
    for (size_t i = 0; i < RACE_FLOATS; i++)
        a[i] = (float)i;
    const int64_t shape[] = {RACE_FLOATS / 2};
    const glia_st_entry e[] = {{"first", GLIA_DT_F32, 1, shape, a},
                               {"second", GLIA_DT_F32, 1, shape, a + RACE_FLOATS / 2}};
    snprintf(path, sizeof path, "%s/race.safetensors", dir);
    ck_assert_int_eq(glia_st_write(path, e, 2, NULL, &err), GLIA_OK);
    race r = {.path = path};
    r.image = read_whole(path, &r.len);
    pthread_t writer;
    ck_assert_int_eq(pthread_create(&writer, NULL, cut_and_rewrite, &r), 0);
    long ok = 0, failed = 0, changed = 0;
    for (long i = 0;
         i < 20000 && (ok < 100 || failed < 100 || changed < 10 || atomic_load(&r.rewrites) < 100); i++) {
        glia_st_file *f = NULL;
        if (glia_st_open(path, &f, &err) != GLIA_OK) {
            ck_assert_msg(err.code == GLIA_EFORMAT || strstr(err.msg, "changed") != NULL, "%s", err.msg);
            ck_assert_ptr_null(f);
            changed += strstr(err.msg, "changed") != NULL;
            failed++;
            continue;
        }
        for (size_t t = 0; t < 2; t++) {
            ck_assert_int_eq(glia_st_read_f32(glia_st_find(f, e[t].name), out, RACE_FLOATS / 2, &err),
                             GLIA_OK);
            ck_assert_mem_eq(out, e[t].data, sizeof(float) * RACE_FLOATS / 2);
        }
        glia_st_close(f);
        ok++;
    }
    atomic_store(&r.stop, 1);
    pthread_join(writer, NULL);
    fprintf(stderr, "# %ld loads succeeded, %ld failed (%ld changed while read), %ld rewrites\n", ok, failed,
            changed, atomic_load(&r.rewrites));
    /* Both outcomes, a read cut short among the failures, or the race was not run. */
    ck_assert_msg(ok > 0 && changed > 0,
                  "%ld loads succeeded, %ld failed (%ld changed while read), %ld rewrites", ok, failed,
                  changed, atomic_load(&r.rewrites));
    free((void *)r.image);
    free(a);
    free(out);
    remove_tmpdir(dir);
}
END_TEST

/* ---- writer failures --------------------------------------------------------------------- */

START_TEST(test_write_missing_dir)
{
    char *dir = make_tmpdir();
    char path[512];
    glia_err err = {0};
    const float v[1] = {1};
    const glia_st_entry e[] = {{"v", GLIA_DT_F32, 0, NULL, v}};

    snprintf(path, sizeof path, "%s/no/such/dir/model.safetensors", dir);
    ck_assert_int_eq(glia_st_write(path, e, 1, NULL, &err), GLIA_EIO);
    ck_assert_int_eq(err.code, GLIA_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot create temporary file"));
    ck_assert_ptr_nonnull(strstr(err.msg, "No such file or directory"));
    ck_assert_int_eq(count_entries(dir), 0);
    remove_tmpdir(dir);
}
END_TEST

/* PATH is a directory: the temp file is written, the rename fails, the temp file must go. */
START_TEST(test_write_rename_fails)
{
    char *dir = make_tmpdir();
    char path[512];
    glia_err err = {0};
    const float v[1] = {1};
    const glia_st_entry e[] = {{"v", GLIA_DT_F32, 0, NULL, v}};

    snprintf(path, sizeof path, "%s/target", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(glia_st_write(path, e, 1, NULL, &err), GLIA_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot rename"));
    ck_assert_int_eq(count_entries(dir), 1); /* just the directory */
    remove_tmpdir(dir);
}
END_TEST

START_TEST(test_write_bad_args)
{
    char *dir = make_tmpdir();
    char path[512];
    glia_err err = {0};
    const float v[4] = {1, 2, 3, 4};
    const int64_t s2[] = {2}, neg[] = {-1}, huge[] = {INT64_MAX, 2};

    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const glia_st_entry dup[] = {
        {"a", GLIA_DT_F32, 1, s2, v}, {"b", GLIA_DT_F32, 1, s2, v}, {"a", GLIA_DT_F32, 0, NULL, v}};
    ck_assert_int_eq(glia_st_write(path, dup, 3, NULL, &err), GLIA_EINVAL);
    ck_assert_str_eq(err.msg, "duplicate tensor name 'a'");

    const glia_st_entry reserved[] = {{"__metadata__", GLIA_DT_F32, 0, NULL, v}};
    ck_assert_int_eq(glia_st_write(path, reserved, 1, NULL, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "reserved"));

    const glia_st_entry badutf[] = {{"bad\xc3(", GLIA_DT_F32, 0, NULL, v}};
    ck_assert_int_eq(glia_st_write(path, badutf, 1, NULL, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "not valid UTF-8"));
    const glia_st_entry overlong[] = {{"\xc0\xaf", GLIA_DT_F32, 0, NULL, v}};
    ck_assert_int_eq(glia_st_write(path, overlong, 1, NULL, &err), GLIA_EINVAL);
    const glia_st_entry surrogate[] = {{"\xed\xa0\x80", GLIA_DT_F32, 0, NULL, v}};
    ck_assert_int_eq(glia_st_write(path, surrogate, 1, NULL, &err), GLIA_EINVAL);

    const glia_st_entry negdim[] = {{"n", GLIA_DT_F32, 1, neg, v}};
    ck_assert_int_eq(glia_st_write(path, negdim, 1, NULL, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "shape[0] is -1"));
    const glia_st_entry toobig[] = {{"h", GLIA_DT_F32, 2, huge, v}};
    ck_assert_int_eq(glia_st_write(path, toobig, 1, NULL, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "overflows"));
    const glia_st_entry nodata[] = {{"d", GLIA_DT_F32, 1, s2, NULL}};
    ck_assert_int_eq(glia_st_write(path, nodata, 1, NULL, &err), GLIA_EINVAL);
    const glia_st_entry baddims[] = {{"d", GLIA_DT_F32, 9, s2, v}};
    ck_assert_int_eq(glia_st_write(path, baddims, 1, NULL, &err), GLIA_EINVAL);

    const glia_st_entry ok[] = {{"a", GLIA_DT_F32, 1, s2, v}};
    const char *const odd_meta[] = {"k", NULL};
    const char *const dup_meta[] = {"k", "1", "k", "2", NULL};
    ck_assert_int_eq(glia_st_write(path, ok, 1, odd_meta, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "metadata key 'k' has no value"));
    ck_assert_int_eq(glia_st_write(path, ok, 1, dup_meta, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "appears twice"));

    ck_assert_int_eq(count_entries(dir), 0);
    remove_tmpdir(dir);
}
END_TEST

/* ---- allocation failures ----------------------------------------------------------------- */

static size_t fail_at, n_alloc;

static void *faulty_malloc(size_t size)
{
    if (n_alloc++ >= fail_at)
        return NULL;
    return malloc(size);
}

/* Fails Jansson's Nth allocation for N = 0, 1, ... until open succeeds: every failure must be a
 * clean error (Jansson reports some as syntax errors) with nothing leaked (ASan/LSan), and the
 * final success must be complete. Short names keep Jansson's token buffer from growing, where
 * a failed append would be silently dropped. */
START_TEST(test_open_alloc_failures)
{
    const char *header = "{\"__metadata__\":{\"k\":\"v\"}," ENT("a", "F32", "[2]", "[0,8]") "," ENT(
        "b", "F16", "[1, 2]", "[8,12]") "}";
    size_t len;
    unsigned char *img = make_image(header, NULL, 12, &len);
    int nomem = 0;
    glia_json_watch(); /* installs glia's functions now, once, so that the faulty ones set below stay */
    for (fail_at = 0;; fail_at++) {
        ck_assert_uint_lt(fail_at, 10000);
        glia_st_file *f = NULL;
        glia_err err = {0};
        n_alloc = 0;
        json_set_alloc_funcs(faulty_malloc, free);
        glia_status rc = glia_st_open_buffer(img, len, &f, &err);
        json_set_alloc_funcs(malloc, free);
        if (rc == GLIA_OK) {
            ck_assert_uint_eq(glia_st_count(f), 2);
            ck_assert_str_eq(glia_st_metadata(f, "k"), "v");
            ck_assert_int_eq(glia_st_find(f, "b")->shape[1], 2);
            glia_st_close(f);
            break;
        }
        ck_assert_msg(rc == GLIA_ENOMEM || rc == GLIA_EFORMAT, "fail_at %zu: rc %d: %s", fail_at, rc,
                      err.msg);
        ck_assert_ptr_null(f);
        nomem += rc == GLIA_ENOMEM;
    }
    ck_assert_int_gt(nomem, 0);
    ck_assert_uint_gt(fail_at, 5);
    free(img);
}
END_TEST

START_TEST(test_write_alloc_failures)
{
    char *dir = make_tmpdir();
    char path[512];
    const float v[4] = {1, 2, 3, 4};
    const int64_t s[] = {2, 2};
    const glia_st_entry e[] = {{"w", GLIA_DT_F32, 2, s, v}, {"b", GLIA_DT_F32, 1, s, v}};
    const char *const meta[] = {"format", "pt", NULL};

    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    for (fail_at = 0;; fail_at++) {
        ck_assert_uint_lt(fail_at, 10000);
        glia_err err = {0};
        n_alloc = 0;
        json_set_alloc_funcs(faulty_malloc, free);
        glia_status rc = glia_st_write(path, e, 2, meta, &err);
        json_set_alloc_funcs(malloc, free);
        if (rc == GLIA_OK)
            break;
        ck_assert_msg(rc == GLIA_ENOMEM, "fail_at %zu: rc %d: %s", fail_at, rc, err.msg);
        ck_assert_int_eq(count_entries(dir), 0);
    }
    ck_assert_uint_gt(fail_at, 5);
    ck_assert_int_eq(count_entries(dir), 1);
    glia_st_file *f = NULL;
    ck_assert_int_eq(glia_st_open(path, &f, NULL), GLIA_OK);
    ck_assert_mem_eq(glia_st_find(f, "w")->data, v, 16);
    ck_assert_str_eq(glia_st_metadata(f, "format"), "pt");
    glia_st_close(f);
    remove_tmpdir(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_dtype_table);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_write_mixed_dtypes);
    tcase_add_test(tc, test_write_empty_and_overwrite);
    tcase_add_test(tc, test_read_f16);
    tcase_add_test(tc, test_read_bf16);
    tcase_add_test(tc, test_read_f64);
    tcase_add_test(tc, test_read_f32_errors);
    tcase_add_loop_test(tc, test_bad_header, 0, N_BAD);
    tcase_add_loop_test(tc, test_good_header, 0, N_GOOD);
    tcase_add_test(tc, test_bad_length);
    tcase_add_test(tc, test_open_file_errors);
    tcase_add_test(tc, test_check_finite);
    tcase_add_test(tc, test_open_truncated_file);
    suite_add_tcase(s, tc);

    TCase *tr = tcase_create("race");
    tcase_set_timeout(tr, 120); /* a bound on a hang only: the loop ends by its count */
    tcase_add_test(tr, test_truncated_while_loading);
    suite_add_tcase(s, tr);

    TCase *tw = tcase_create("writer");
    tcase_add_test(tw, test_write_missing_dir);
    tcase_add_test(tw, test_write_rename_fails);
    tcase_add_test(tw, test_write_bad_args);
    suite_add_tcase(s, tw);

    TCase *tf = tcase_create("faults");
    tcase_add_test(tf, test_open_alloc_failures);
    tcase_add_test(tf, test_write_alloc_failures);
    suite_add_tcase(s, tf);
    return s;
}

int main(void)
{
    return glia_check_run(suite());
}
