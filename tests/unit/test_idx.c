/*
 * test_idx.c - the IDX reader (Fashion-MNIST's format), plain and gzip-compressed.
 *
 * Files are written to a mkdtemp() directory (removed again by the fixture): round trips of
 * 1- to 4-dimensional files, raw and gzip (one member or several, payloads larger than the
 * reader's 64 KiB chunks), and one case per malformed file the reader must refuse - bad magic,
 * an element type other than unsigned byte, ndim 0 or 5, a zero dimension, a truncated header
 * or payload, trailing bytes, a header claiming more than 1 GiB, gzip streams that are cut,
 * corrupt or followed by garbage - each with its status code, a message naming the file and
 * *out zeroed. The real Fashion-MNIST test split is loaded when the Debian package (or
 * GLIA_FASHION_MNIST) provides it, and skipped with a TAP note otherwise.
 */
#include "core/formats/idx.h"
#include "tests/support/check_main.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "idx");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

/* ---- building files ------------------------------------------------------------------------ */

/* An IDX image in memory: magic 00 00 <type> <ndim>, big-endian dims, then the payload (or
 * payload_len bytes of a fixed pattern when payload is NULL). */
static unsigned char *idx_bytes(int type, int ndim, const uint32_t *dims, const unsigned char *payload,
                                size_t payload_len, size_t *len)
{
    *len = 4 + 4 * (size_t)ndim + payload_len;
    unsigned char *b = malloc(*len ? *len : 1);
    ck_assert_ptr_nonnull(b);
    b[0] = 0, b[1] = 0, b[2] = (unsigned char)type, b[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        unsigned char *p = b + 4 + 4 * i;
        p[0] = (unsigned char)(dims[i] >> 24), p[1] = (unsigned char)(dims[i] >> 16);
        p[2] = (unsigned char)(dims[i] >> 8), p[3] = (unsigned char)dims[i];
    }
    unsigned char *data = b + 4 + 4 * (size_t)ndim;
    for (size_t i = 0; i < payload_len; i++)
        data[i] = payload ? payload[i] : (unsigned char)(i * 131 + (i >> 9));
    return b;
}

/* One gzip member holding n bytes (deflate with the gzip wrapper, as gzip(1) writes). */
static unsigned char *gzip_bytes(const unsigned char *in, size_t n, size_t *len)
{
    z_stream zs = {0};
    ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)n) + 64;
    unsigned char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static const char *write_file(const char *name, const void *b, size_t n)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (n)
        ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

/* Writes b raw (gz 0) or as one gzip member (gz 1). */
static const char *write_idx(const char *name, const unsigned char *b, size_t n, int gz)
{
    if (!gz)
        return write_file(name, b, n);
    size_t zlen;
    unsigned char *z = gzip_bytes(b, n, &zlen);
    const char *path = write_file(name, z, zlen);
    free(z);
    return path;
}

static void load_ok(const char *path, glia_idx *idx)
{
    glia_err err = {0};
    ck_assert_msg(glia_idx_load(path, idx, &err) == GLIA_OK, "%s", err.msg);
}

/* Loading must fail with code, a message naming the file and containing want, and *out zeroed. */
static void load_fails(const char *path, glia_status code, const char *want, const char *what)
{
    glia_err err = {0};
    glia_idx idx;
    memset(&idx, 0x5a, sizeof idx);
    glia_status rc = glia_idx_load(path, &idx, &err);
    ck_assert_msg(rc == code, "%s: status %d (%s), want %d; message: %s", what, (int)rc, glia_status_str(rc),
                  (int)code, err.msg);
    ck_assert_int_eq(err.code, code);
    ck_assert_msg(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", what, err.msg);
    ck_assert_msg(strstr(err.msg, want) != NULL, "%s: message lacks '%s': %s", what, want, err.msg);
    glia_idx zero;
    memset(&zero, 0, sizeof zero);
    ck_assert_msg(memcmp(&idx, &zero, sizeof idx) == 0, "%s: *out is not zeroed", what);
}

/* ---- loading ------------------------------------------------------------------------------- */

START_TEST(loads_every_rank)
{
    static const struct {
        int ndim;
        uint32_t dims[4];
    } shapes[] = {
        {1, {1}}, {1, {10}}, {2, {3, 7}}, {3, {4, 5, 6}}, {4, {2, 3, 1, 5}}, {3, {1, 1, 1}}, {2, {1, 300}},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int gz = 0; gz < 2; gz++) {
            size_t n = 1;
            for (int d = 0; d < shapes[s].ndim; d++)
                n *= shapes[s].dims[d];
            size_t len;
            unsigned char *b = idx_bytes(0x08, shapes[s].ndim, shapes[s].dims, NULL, n, &len);
            glia_idx idx;
            load_ok(write_idx("t", b, len, gz), &idx);
            ck_assert_int_eq(idx.ndim, shapes[s].ndim);
            for (int d = 0; d < GLIA_IDX_MAX_DIMS; d++)
                ck_assert_uint_eq(idx.dims[d], d < shapes[s].ndim ? shapes[s].dims[d] : 0);
            ck_assert_uint_eq(idx.size, n);
            ck_assert_mem_eq(idx.data, b + 4 + 4 * shapes[s].ndim, n);
            glia_idx_free(&idx);
            ck_assert_ptr_null(idx.data);
            ck_assert_uint_eq(idx.size, 0);
            free(b);
        }
    glia_idx_free(NULL);
}
END_TEST

/* Payloads spanning several of the reader's 64 KiB input chunks, raw and compressed, with
 * content that compresses badly (so the gzip file is large too). */
START_TEST(loads_large_payloads)
{
    const uint32_t dims[3] = {37, 61, 59}; /* 133163 bytes */
    const size_t n = 37 * 61 * 59;
    unsigned char *payload = malloc(n);
    ck_assert_ptr_nonnull(payload);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        payload[i] = (unsigned char)(x >> 23);
    }
    size_t len;
    unsigned char *b = idx_bytes(0x08, 3, dims, payload, n, &len);
    for (int gz = 0; gz < 2; gz++) {
        glia_idx idx;
        load_ok(write_idx("big", b, len, gz), &idx);
        ck_assert_uint_eq(idx.size, n);
        ck_assert_mem_eq(idx.data, payload, n);
        glia_idx_free(&idx);
    }
    free(b);
    free(payload);
}
END_TEST

/* gzip files may hold several members back to back (gzip a b > c): one stream of data. */
START_TEST(loads_multi_member_gzip)
{
    const uint32_t dims[2] = {50, 40};
    size_t len;
    unsigned char *b = idx_bytes(0x08, 2, dims, NULL, 2000, &len);
    /* split inside the header and inside the payload */
    const size_t cuts[][2] = {{0, 6}, {6, 700}, {700, len}};
    unsigned char *all = NULL;
    size_t all_len = 0;
    for (int k = 0; k < 3; k++) {
        size_t zlen;
        unsigned char *z = gzip_bytes(b + cuts[k][0], cuts[k][1] - cuts[k][0], &zlen);
        all = realloc(all, all_len + zlen);
        ck_assert_ptr_nonnull(all);
        memcpy(all + all_len, z, zlen);
        all_len += zlen;
        free(z);
    }
    glia_idx idx;
    load_ok(write_file("multi.gz", all, all_len), &idx);
    ck_assert_uint_eq(idx.size, 2000);
    ck_assert_mem_eq(idx.data, b + 12, 2000);
    glia_idx_free(&idx);
    free(all);
    free(b);
}
END_TEST

/* ---- malformed headers and payloads ---------------------------------------------------------- */

typedef struct {
    const char *what;
    unsigned char magic[4];
    int ndim_written; /* how many dims follow the magic */
    uint32_t dims[5];
    long payload; /* bytes after the header */
    glia_status code;
    const char *want;
    size_t cut_to; /* if not 0, the file is only this many bytes of the above */
} bad_header;

#define U32MAX 0xffffffffu

static const bad_header bad_headers[] = {
    {"first magic byte not 0", {1, 0, 8, 1}, 1, {4}, 4, GLIA_EFORMAT, "not an IDX file", 0},
    {"second magic byte not 0", {0, 3, 8, 1}, 1, {4}, 4, GLIA_EFORMAT, "not an IDX file", 0},
    {"text file", {'h', 'e', 'l', 'l'}, 0, {0}, 10, GLIA_EFORMAT, "not an IDX file", 0},
    {"signed bytes", {0, 0, 0x09, 1}, 1, {4}, 4, GLIA_EUNSUPPORTED, "signed byte", 0},
    {"int16", {0, 0, 0x0B, 1}, 1, {4}, 8, GLIA_EUNSUPPORTED, "int16", 0},
    {"int32", {0, 0, 0x0C, 1}, 1, {4}, 16, GLIA_EUNSUPPORTED, "int32", 0},
    {"float32", {0, 0, 0x0D, 1}, 1, {4}, 16, GLIA_EUNSUPPORTED, "float32", 0},
    {"float64", {0, 0, 0x0E, 1}, 1, {4}, 32, GLIA_EUNSUPPORTED, "float64", 0},
    {"type 0", {0, 0, 0, 1}, 1, {4}, 4, GLIA_EUNSUPPORTED, "unknown", 0},
    {"type 0xff", {0, 0, 0xff, 1}, 1, {4}, 4, GLIA_EUNSUPPORTED, "not supported", 0},
    {"ndim 0", {0, 0, 8, 0}, 0, {0}, 4, GLIA_EFORMAT, "0 dimensions", 0},
    {"ndim 5", {0, 0, 8, 5}, 5, {1, 1, 1, 1, 2}, 2, GLIA_EUNSUPPORTED, "5 dimensions", 0},
    {"ndim 255", {0, 0, 8, 255}, 0, {0}, 64, GLIA_EUNSUPPORTED, "255 dimensions", 0},
    {"first dim 0", {0, 0, 8, 3}, 3, {0, 28, 28}, 0, GLIA_EFORMAT, "dimension 0 is 0", 0},
    {"last dim 0", {0, 0, 8, 3}, 3, {10, 28, 0}, 0, GLIA_EFORMAT, "dimension 2 is 0", 0},
    {"1-d of 0", {0, 0, 8, 1}, 1, {0}, 0, GLIA_EFORMAT, "dimension 0 is 0", 0},
    {"magic cut", {0, 0, 8, 1}, 1, {4}, 4, GLIA_EFORMAT, "expected 4 magic bytes, found 3", 3},
    {"dims cut", {0, 0, 8, 3}, 3, {10, 28, 28}, 0, GLIA_EFORMAT, "12 bytes of dimensions, found 10", 14},
    {"no payload", {0, 0, 8, 2}, 2, {3, 4}, 0, GLIA_EFORMAT, "truncated", 0},
    {"payload 1 byte short", {0, 0, 8, 2}, 2, {3, 4}, 11, GLIA_EFORMAT, "12 bytes of data, found 11", 0},
    {"payload half there", {0, 0, 8, 3}, 3, {100, 28, 28}, 39200, GLIA_EFORMAT, "found 39200", 0},
    {"1 trailing byte", {0, 0, 8, 2}, 2, {3, 4}, 13, GLIA_EFORMAT, "1 unexpected bytes", 0},
    {"5000 trailing bytes", {0, 0, 8, 1}, 1, {7}, 5007, GLIA_EFORMAT, "5000 unexpected bytes", 0},
    {"2 MiB trailing bytes", {0, 0, 8, 1}, 1, {7}, 7 + (2 << 20), GLIA_EFORMAT, "at least", 0},
    {"4 GiB claimed", {0, 0, 8, 2}, 2, {65536, 65536}, 16, GLIA_EFORMAT, "limit", 0},
    {"just over 1 GiB claimed", {0, 0, 8, 2}, 2, {(1u << 30) / 64 + 1, 64}, 16, GLIA_EFORMAT, "limit", 0},
    {"product beyond 64 bits",
     {0, 0, 8, 4},
     4,
     {U32MAX, U32MAX, U32MAX, U32MAX},
     16,
     GLIA_EFORMAT,
     "limit",
     0},
    {"one huge dim", {0, 0, 8, 1}, 1, {U32MAX}, 16, GLIA_EFORMAT, "limit", 0},
};
enum { N_BAD_HEADERS = sizeof bad_headers / sizeof bad_headers[0] };

/* The file for a bad_header: the magic, ndim_written dims, the payload, maybe cut short. */
static unsigned char *bad_header_bytes(const bad_header *h, size_t *len)
{
    unsigned char *b = idx_bytes(h->magic[2], h->ndim_written, h->dims, NULL, (size_t)h->payload, len);
    memcpy(b, h->magic, 4);
    if (h->cut_to) {
        ck_assert_uint_lt(h->cut_to, *len);
        *len = h->cut_to;
    }
    return b;
}

START_TEST(rejects_bad_header)
{
    const bad_header *h = &bad_headers[_i];
    size_t len;
    unsigned char *b = bad_header_bytes(h, &len);
    for (int gz = 0; gz < 2; gz++) {
        char what[96];
        snprintf(what, sizeof what, "%s (%s)", h->what, gz ? "gzip" : "raw");
        load_fails(write_idx(gz ? "bad.idx.gz" : "bad.idx", b, len, gz), h->code, h->want, what);
    }
    free(b);
}
END_TEST

START_TEST(rejects_unreadable_files)
{
    load_fails(write_file("empty", "", 0), GLIA_EFORMAT, "empty file", "empty file");
    char path[512];
    snprintf(path, sizeof path, "%s/missing-idx1-ubyte", tmpdir);
    load_fails(path, GLIA_ENOTFOUND, "cannot open", "missing file");
    load_fails(tmpdir, GLIA_EIO, "read failed", "a directory");
}
END_TEST

/* ---- gzip damage ----------------------------------------------------------------------------- */

START_TEST(rejects_damaged_gzip)
{
    const uint32_t dims[2] = {20, 30};
    size_t len, zlen;
    unsigned char *b = idx_bytes(0x08, 2, dims, NULL, 600, &len);
    unsigned char *z = gzip_bytes(b, len, &zlen);
    ck_assert_uint_gt(zlen, 30);
    unsigned char *t = malloc(zlen + 16);
    ck_assert_ptr_nonnull(t);

    /* the deflate data complete, the 8-byte CRC32/ISIZE trailer missing or partial */
    for (size_t cut = 1; cut <= 8; cut++)
        load_fails(write_file("cut.gz", z, zlen - cut), GLIA_EFORMAT, "truncated gzip stream", "trailer cut");
    /* cut inside the deflate data: the payload comes up short */
    load_fails(write_file("cut.gz", z, zlen / 2), GLIA_EFORMAT, "cut short", "deflate data cut");
    /* cut inside the gzip header: not even the IDX magic arrives */
    load_fails(write_file("cut.gz", z, 5), GLIA_EFORMAT, "truncated header", "gzip header cut");

    /* a wrong CRC, a wrong length, corrupt deflate data */
    memcpy(t, z, zlen);
    t[zlen - 8] ^= 0x01;
    load_fails(write_file("crc.gz", t, zlen), GLIA_EFORMAT, "corrupt gzip data", "bad CRC");
    memcpy(t, z, zlen);
    t[zlen - 1] ^= 0x01;
    load_fails(write_file("isize.gz", t, zlen), GLIA_EFORMAT, "corrupt gzip data", "bad ISIZE");
    memcpy(t, z, zlen);
    t[3] = 0xe0; /* reserved FLG bits */
    load_fails(write_file("flags.gz", t, zlen), GLIA_EFORMAT, "corrupt gzip data", "bad gzip flags");
    memcpy(t, z, zlen);
    t[10] = 0xff; /* first deflate byte: block type 3 (reserved) */
    load_fails(write_file("deflate.gz", t, zlen), GLIA_EFORMAT, "corrupt gzip data", "bad deflate data");

    /* garbage after the gzip stream (not another member) */
    memcpy(t, z, zlen);
    memcpy(t + zlen, "garbage!", 8);
    load_fails(write_file("tail.gz", t, zlen + 8), GLIA_EFORMAT, "after the end of the gzip stream",
               "garbage after gzip");
    /* a second member that adds bytes after the payload */
    size_t extra_len;
    unsigned char *extra = gzip_bytes((const unsigned char *)"xyz", 3, &extra_len);
    unsigned char *two = malloc(zlen + extra_len);
    ck_assert_ptr_nonnull(two);
    memcpy(two, z, zlen);
    memcpy(two + zlen, extra, extra_len);
    load_fails(write_file("two.gz", two, zlen + extra_len), GLIA_EFORMAT, "3 unexpected bytes",
               "second member with extra data");
    free(two);
    free(extra);

    /* the original still loads: the damage above is what was refused */
    glia_idx idx;
    load_ok(write_file("ok.gz", z, zlen), &idx);
    ck_assert_mem_eq(idx.data, b + 12, 600);
    glia_idx_free(&idx);
    free(t);
    free(z);
    free(b);
}
END_TEST

/* ---- the real data set ---------------------------------------------------------------------- */

START_TEST(fashion_mnist_test_split)
{
    char images[512], labels[512];
    snprintf(images, sizeof images, "%s/t10k-images-idx3-ubyte.gz", glia_test_fashion_dir());
    snprintf(labels, sizeof labels, "%s/t10k-labels-idx1-ubyte.gz", glia_test_fashion_dir());
    if (access(images, R_OK) != 0 || access(labels, R_OK) != 0) {
        /* a TAP diagnostic line; the test itself passes */
        printf("# SKIP fashion_mnist_test_split: no Fashion-MNIST in %s (install dataset-fashion-mnist or "
               "set GLIA_FASHION_MNIST)\n",
               glia_test_fashion_dir());
        fflush(stdout);
        return;
    }
    glia_idx img, lab;
    load_ok(images, &img);
    load_ok(labels, &lab);
    ck_assert_int_eq(img.ndim, 3);
    ck_assert_uint_eq(img.dims[0], 10000);
    ck_assert_uint_eq(img.dims[1], 28);
    ck_assert_uint_eq(img.dims[2], 28);
    ck_assert_uint_eq(img.dims[3], 0);
    ck_assert_uint_eq(img.size, 10000u * 28 * 28);
    ck_assert_int_eq(lab.ndim, 1);
    ck_assert_uint_eq(lab.dims[0], 10000);
    ck_assert_uint_eq(lab.size, 10000);
    int counts[10] = {0};
    for (size_t i = 0; i < lab.size; i++) {
        ck_assert_uint_lt(lab.data[i], 10);
        counts[lab.data[i]]++;
    }
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(counts[k], 1000); /* the test split is balanced */
    /* images are not blank: every one has some ink, and the set uses the full byte range */
    unsigned char lo = 255, hi = 0;
    for (size_t i = 0; i < 10000; i++) {
        unsigned max = 0;
        for (size_t j = 0; j < 28 * 28; j++) {
            unsigned char v = img.data[i * 28 * 28 + j];
            max = v > max ? v : max;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        ck_assert_msg(max > 0, "image %zu is blank", i);
    }
    ck_assert_int_eq(lo, 0);
    ck_assert_int_eq(hi, 255);
    glia_idx_free(&img);
    glia_idx_free(&lab);
}
END_TEST

/* ---- first checks (kept from the original suite) -------------------------------------------- */

/* Writes bytes raw, or gzip-compressed with zlib's gz* API. */
static const char *write_bytes(const char *name, const unsigned char *b, size_t n, int gz)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, b, (unsigned)n), (int)n);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(b, 1, n, f), n);
        fclose(f);
    }
    return path;
}

/* magic 0 0 08 03, dims 2 x 3 x 2, then 12 bytes */
static const unsigned char GOOD[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3,  0,  0,
                                     0, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

START_TEST(round_trip_raw_and_gzip)
{
    for (int gz = 0; gz < 2; gz++) {
        glia_err err = {0};
        glia_idx idx;
        const char *p = write_bytes(gz ? "a.gz" : "a", GOOD, sizeof GOOD, gz);
        ck_assert_msg(glia_idx_load(p, &idx, &err) == GLIA_OK, "%s", err.msg);
        ck_assert_int_eq(idx.ndim, 3);
        ck_assert_uint_eq(idx.dims[0], 2);
        ck_assert_uint_eq(idx.dims[1], 3);
        ck_assert_uint_eq(idx.dims[2], 2);
        ck_assert_uint_eq(idx.size, 12);
        ck_assert_mem_eq(idx.data, GOOD + 16, 12);
        glia_idx_free(&idx);
        glia_idx_free(&idx); /* twice is safe */
    }
}
END_TEST

START_TEST(malformed_files_refused)
{
    static const struct {
        size_t len; /* bytes of the (patched) GOOD image to write */
        int at, value;
        const char *want;
    } cases[] = {
        {sizeof GOOD, 0, 1, "magic"},            /* first byte not 0 */
        {sizeof GOOD, 2, 0x0D, "not supported"}, /* float elements */
        {sizeof GOOD, 3, 0, "dimensions"},       /* ndim 0 */
        {sizeof GOOD, 3, 5, "dimensions"},       /* ndim 5 */
        {sizeof GOOD, 7, 0, "is 0"},             /* a zero dimension */
        {sizeof GOOD - 1, -1, 0, "truncated"},
        {10, -1, 0, "truncated"},        /* header cut */
        {sizeof GOOD, 4, 0x7f, "limit"}, /* dims claim > 1 GiB */
    };
    for (int gz = 0; gz < 2; gz++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            glia_err err = {0};
            glia_idx idx;
            unsigned char b[sizeof GOOD + 1];
            memcpy(b, GOOD, sizeof GOOD);
            if (cases[i].at >= 0)
                b[cases[i].at] = (unsigned char)cases[i].value;
            const char *p = write_bytes("bad", b, cases[i].len, gz);
            ck_assert_msg(glia_idx_load(p, &idx, &err) != GLIA_OK, "case %zu (gz %d) accepted", i, gz);
            ck_assert_msg(strstr(err.msg, "bad"), "case %zu: '%s' does not name the file", i, err.msg);
            ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu (gz %d): '%s' lacks '%s'", i, gz, err.msg,
                          cases[i].want);
            ck_assert_ptr_null(idx.data);
        }
    /* trailing bytes after the payload */
    unsigned char b[sizeof GOOD + 1];
    memcpy(b, GOOD, sizeof GOOD);
    b[sizeof GOOD] = 99;
    glia_err err = {0};
    glia_idx idx;
    ck_assert_int_ne(glia_idx_load(write_bytes("long", b, sizeof b, 0), &idx, &err), GLIA_OK);
    ck_assert_int_ne(glia_idx_load("/nonexistent/file", &idx, &err), GLIA_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/file"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("idx");
    TCase *tc = tcase_create("idx");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, loads_every_rank);
    tcase_add_test(tc, loads_large_payloads);
    tcase_add_test(tc, loads_multi_member_gzip);
    tcase_add_loop_test(tc, rejects_bad_header, 0, N_BAD_HEADERS);
    tcase_add_test(tc, rejects_unreadable_files);
    tcase_add_test(tc, rejects_damaged_gzip);
    tcase_add_test(tc, round_trip_raw_and_gzip);
    tcase_add_test(tc, malformed_files_refused);
    suite_add_tcase(s, tc);

    TCase *tf = tcase_create("fashion-mnist");
    tcase_set_timeout(tf, 120);
    tcase_add_test(tf, fashion_mnist_test_split);
    suite_add_tcase(s, tf);
    return s;
}

int main(void)
{
    return glia_check_run(suite());
}
