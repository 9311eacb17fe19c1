/*
 * test_image.c - image decoding for predictions: PGM (P5, P2, 16-bit, comments), PNG
 * round trips through glia's encoder, resizing (area averaging down, bilinear up), and
 * untrusted input - bad magic, truncation, absurd sizes - refused with GLIA_EFORMAT or
 * GLIA_EINVAL and no leak.
 */
#include "core/image/image.h"
#include "tests/support/check_main.h"

#include <stdlib.h>
#include <string.h>

START_TEST(pgm_variants)
{
    glia_err err = {0};
    glia_image img;
    const char p5[] = "P5\n# a comment\n3 2\n255\n\x00\x10\x20\x30\x40\xff";
    ck_assert_msg(glia_image_decode(p5, sizeof p5 - 1, &img, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(img.width, 3);
    ck_assert_int_eq(img.height, 2);
    ck_assert_float_eq(img.pixels[1], 16.0f);
    ck_assert_float_eq(img.pixels[5], 255.0f);
    glia_image_free(&img);
    const char p2[] = "P2 2 2 15\n0 15\n5 10\n";
    ck_assert_msg(glia_image_decode(p2, sizeof p2 - 1, &img, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_float_eq(img.pixels[1], 255.0f); /* rescaled by maxval */
    ck_assert_float_eq(img.pixels[2], 85.0f);
    glia_image_free(&img);
    const unsigned char p16[] = "P5 1 1 65535\n\xff\xff";
    ck_assert_int_eq(glia_image_decode(p16, sizeof p16 - 1, &img, &err), GLIA_OK);
    ck_assert_float_eq(img.pixels[0], 255.0f);
    glia_image_free(&img);
}
END_TEST

START_TEST(png_round_trip)
{
    glia_err err = {0};
    glia_image src = {5, 3, malloc(sizeof(float) * 15)}, back;
    for (int i = 0; i < 15; i++)
        src.pixels[i] = (float)(i * 17);
    unsigned char *buf;
    size_t len;
    ck_assert_int_eq(glia_image_encode_png(&src, &buf, &len, &err), GLIA_OK);
    ck_assert_msg(glia_image_decode(buf, len, &back, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(back.width, 5);
    ck_assert_int_eq(back.height, 3);
    ck_assert_mem_eq(back.pixels, src.pixels, sizeof(float) * 15);
    glia_image_free(&back);
    /* every truncation of a valid PNG is refused cleanly */
    for (size_t cut = 0; cut < len; cut += 7) {
        glia_image t;
        ck_assert_msg(glia_image_decode(buf, cut, &t, &err) != GLIA_OK, "a PNG cut at %zu bytes decoded",
                      cut);
        ck_assert_ptr_null(t.pixels);
    }
    free(buf);
    ck_assert_int_eq(glia_image_encode_pgm(&src, &buf, &len, &err), GLIA_OK);
    ck_assert_int_eq(glia_image_decode(buf, len, &back, &err), GLIA_OK);
    ck_assert_mem_eq(back.pixels, src.pixels, sizeof(float) * 15);
    glia_image_free(&back);
    free(buf);
    glia_image_free(&src);
}
END_TEST

START_TEST(resize)
{
    glia_err err = {0};
    glia_image src = {4, 4, malloc(sizeof(float) * 16)}, dst;
    for (int i = 0; i < 16; i++)
        src.pixels[i] = (float)i;
    ck_assert_int_eq(glia_image_resize(&src, 2, 2, &dst, &err), GLIA_OK);
    /* area averaging: each output is the mean of a 2x2 block */
    ck_assert_float_eq_tol(dst.pixels[0], (0 + 1 + 4 + 5) / 4.0f, 1e-5f);
    ck_assert_float_eq_tol(dst.pixels[3], (10 + 11 + 14 + 15) / 4.0f, 1e-5f);
    glia_image_free(&dst);
    for (int i = 0; i < 16; i++)
        src.pixels[i] = 42.0f;
    ck_assert_int_eq(glia_image_resize(&src, 9, 7, &dst, &err), GLIA_OK); /* up: a constant stays constant */
    for (int i = 0; i < 63; i++)
        ck_assert_float_eq_tol(dst.pixels[i], 42.0f, 1e-4f);
    glia_image_free(&dst);
    ck_assert_int_eq(glia_image_resize(&src, 0, 7, &dst, &err), GLIA_EINVAL);
    ck_assert_int_eq(glia_image_resize(&src, 100000, 100000, &dst, &err), GLIA_EINVAL);
    glia_image_free(&src);
}
END_TEST

START_TEST(untrusted_input)
{
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"", 0},
        {"GIF89a", 6},
        {"P5\n3 2\n255\n\x01\x02", 13},    /* short pixel data */
        {"P5\n100000 100000\n255\n", 21},  /* absurd size */
        {"P5\n-3 2\n255\n", 12},           /* negative width */
        {"P5\n3 2\n0\n", 9},               /* maxval 0 */
        {"P2 2 1 255\n1 x\n", 15},         /* not a number */
        {"\x89PNG\r\n\x1a\n\x00\x00", 10}, /* PNG signature, then nothing */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        glia_err err = {0};
        glia_image img;
        glia_status rc = glia_image_decode(cases[i].bytes, cases[i].len, &img, &err);
        ck_assert_msg(rc == GLIA_EFORMAT || rc == GLIA_EINVAL, "case %zu: status %d", i, (int)rc);
        ck_assert_msg(err.msg[0], "case %zu: no message", i);
        ck_assert_ptr_null(img.pixels);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("image");
    tcase_add_test(tc, pgm_variants);
    tcase_add_test(tc, png_round_trip);
    tcase_add_test(tc, resize);
    tcase_add_test(tc, untrusted_input);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
