/*
 * test_idx.c - the IDX reader (Fashion-MNIST's format), plain and gzip: round trips of
 * small files written here, every malformed header refused with a message naming the
 * file, and the real Debian data set's dimensions.
 */
#include "core/io/idx.h"
#include "tests/support/check_main.h"

#include <stdio.h>
#include <string.h>
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
        {sizeof GOOD, 0, 1, "magic"},                                    /* first byte not 0 */
        {sizeof GOOD, 2, 0x0D, "not supported"},                                  /* float elements */
        {sizeof GOOD, 3, 0, "dimensions"},                               /* ndim 0 */
        {sizeof GOOD, 3, 5, "dimensions"},                               /* ndim 5 */
        {sizeof GOOD, 7, 0, "is 0"},                                     /* a zero dimension */
        {sizeof GOOD - 1, -1, 0, "truncated"}, {10, -1, 0, "truncated"}, /* header cut */
        {sizeof GOOD, 4, 0x7f, "limit"},                                 /* dims claim > 1 GiB */
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
            ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu (gz %d): '%s' lacks '%s'", i, gz,
                          err.msg, cases[i].want);
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

START_TEST(debian_fashion_mnist)
{
    glia_err err = {0};
    glia_idx img, lab;
    char p[512];
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", glia_test_fashion_dir());
    ck_assert_msg(glia_idx_load(p, &img, &err) == GLIA_OK,
                  "%s (scripts/setup installs dataset-fashion-mnist)", err.msg);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte.gz", glia_test_fashion_dir());
    ck_assert_msg(glia_idx_load(p, &lab, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(img.ndim, 3);
    ck_assert_uint_eq(img.dims[0], 10000);
    ck_assert_uint_eq(img.dims[1], 28);
    ck_assert_uint_eq(img.dims[2], 28);
    ck_assert_uint_eq(lab.size, 10000);
    int counts[10] = {0};
    for (size_t i = 0; i < lab.size; i++) {
        ck_assert_uint_lt(lab.data[i], 10);
        counts[lab.data[i]]++;
    }
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(counts[k], 1000); /* the test split is balanced */
    glia_idx_free(&img);
    glia_idx_free(&lab);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("idx");
    TCase *tc = tcase_create("idx");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, round_trip_raw_and_gzip);
    tcase_add_test(tc, malformed_files_refused);
    tcase_add_test(tc, debian_fashion_mnist);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
