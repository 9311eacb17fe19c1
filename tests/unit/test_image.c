/*
 * test_image.c - image decoding for predictions, resizing and 8-bit encoding.
 *
 * PNG: 8-bit gray, 1/2/4-bit gray, 16-bit gray and RGB, RGB, RGBA, gray+alpha, palette with
 * and without tRNS, gray with tRNS, and Adam7-interlaced versions of them, all written here
 * with libpng; colour must become the luma PIL's convert('L') gives and alpha composites over
 * black. PGM: P5 8/16-bit, P2, comments anywhere in the header, maxval rescaling. Round trips
 * through encode_png and encode_pgm, with rounding and clamping. Resizing against PyTorch:
 * F.interpolate(bilinear, align_corners=False) growing, F.adaptive_avg_pool2d shrinking by
 * whole factors, and exact footprint averages otherwise (adaptive_avg_pool2d of an image whose
 * pixels are repeated until the factors are whole). The reference values come from
 * tests/unit/gen_optim_reference.py (run once, pasted below; no Python needed here).
 * Untrusted input - bad magic, truncation at every byte, flipped bits, absurd sizes - is
 * refused with GLIA_EFORMAT/GLIA_EINVAL, *out zeroed, and no leak (ASan's leak checker runs at
 * the end of every forked test).
 */
#include "core/image/image.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <jpeglib.h>

#include "core/image/jpeg.h"

/* BEGIN GENERATED image by tests/unit/gen_optim_reference.py (torch 1.13.0a0); do not edit */
// clang-format off
static const struct {
    unsigned char r, g, b, l;
} ref_luma[] = {
    {0, 0, 0, 0},
    {255, 255, 255, 255},
    {255, 0, 0, 76},
    {0, 255, 0, 150},
    {0, 0, 255, 29},
    {1, 2, 3, 2},
    {12, 200, 77, 130},
    {128, 128, 127, 128},
    {250, 3, 99, 88},
    {37, 180, 242, 144},
    {99, 99, 100, 99},
    {200, 100, 50, 124},
};
typedef struct {
    const char *name;
    int src_h, src_w, h, w;
    float want[28 * 28]; /* h x w, row-major */
} resize_case;
static const resize_case ref_resize[] = {
    {"bilinear_up_3x4_to_7x9", 3, 4, 7, 9,
     {0.0f, 15.166667f, 55.6111107f, 96.0555573f, 136.5f, 176.944443f, 117.833336f, 44.4999924f, 17.0f, 5.28571463f, 20.7619057f, 62.0317497f, 103.30159f, 144.571426f, 185.841263f, 127.555565f, 55.0476112f, 27.8571434f, 21.1428585f, 37.5476189f, 81.2936478f, 125.039688f, 168.785721f, 212.531738f, 156.722229f, 86.6904678f, 60.4285736f, 37.0f, 54.3333359f, 100.555557f, 146.777786f, 193.0f, 239.222229f, 185.888885f, 118.333328f, 93.0f, 52.8571434f, 71.1190491f, 119.817459f, 162.420639f, 162.357147f, 162.29364f, 148.007935f, 131.690475f, 125.571434f, 68.7142868f, 87.9047623f, 139.079376f, 178.063492f, 131.714279f, 85.3650742f, 110.126984f, 145.047623f, 158.142868f, 74.0f, 93.5f, 145.5f, 183.277771f, 121.5f, 59.7222176f, 97.5f, 149.5f, 169.0f}},
    {"bilinear_up_2x2_to_5x3", 2, 2, 5, 3,
     {0.0f, 45.5f, 91.0f, 3.70000029f, 49.8499985f, 95.9999924f, 18.5f, 67.25f, 116.0f, 33.3000031f, 84.6500015f, 136.0f, 37.0f, 89.0f, 141.0f}},
    {"bilinear_up_1x3_to_4x8", 1, 3, 4, 8,
     {0.0f, 5.6875f, 39.8125f, 73.9375f, 108.0625f, 142.1875f, 176.3125f, 182.0f, 0.0f, 5.6875f, 39.8125f, 73.9375f, 108.0625f, 142.1875f, 176.3125f, 182.0f, 0.0f, 5.6875f, 39.8125f, 73.9375f, 108.0625f, 142.1875f, 176.3125f, 182.0f, 0.0f, 5.6875f, 39.8125f, 73.9375f, 108.0625f, 142.1875f, 176.3125f, 182.0f}},
    {"bilinear_up_2x3_to_16x12", 2, 3, 16, 12,
     {0.0f, 0.0f, 11.375f, 34.125f, 56.875f, 79.625f, 102.375f, 125.125f, 147.875f, 170.625f, 182.0f, 182.0f, 0.0f, 0.0f, 11.375f, 34.125f, 56.875f, 79.625f, 102.375f, 125.125f, 147.875f, 170.625f, 182.0f, 182.0f, 0.0f, 0.0f, 11.375f, 34.125f, 56.875f, 79.625f, 102.375f, 125.125f, 147.875f, 170.625f, 182.0f, 182.0f, 0.0f, 0.0f, 11.375f, 34.125f, 56.875f, 79.625f, 102.375f, 125.125f, 147.875f, 170.625f, 182.0f, 182.0f, 2.3125f, 2.3125f, 13.7890625f, 36.7421875f, 59.6953125f, 82.6484375f, 105.601562f, 128.554688f, 151.507812f, 174.460938f, 185.9375f, 185.9375f, 6.9375f, 6.9375f, 18.6171875f, 41.9765625f, 65.3359375f, 88.6953125f, 112.054688f, 135.414062f, 158.773438f, 182.132812f, 193.8125f, 193.8125f, 11.5625f, 11.5625f, 23.4453125f, 47.2109375f, 70.9765625f, 94.7421875f, 118.507812f, 142.273438f, 166.039062f, 189.804688f, 201.6875f, 201.6875f, 16.1875f, 16.1875f, 28.2734375f, 52.4453125f, 76.6171875f, 100.789062f, 124.960938f, 149.132812f, 173.304688f, 197.476562f, 209.5625f, 209.5625f, 20.8125f, 20.8125f, 33.1015625f, 57.6796875f, 82.2578125f, 106.835938f, 131.414062f, 155.992188f, 180.570312f, 205.148438f, 217.4375f, 217.4375f, 25.4375f, 25.4375f, 37.9296875f, 62.9140625f, 87.8984375f, 112.882812f, 137.867188f, 162.851562f, 187.835938f, 212.820312f, 225.3125f, 225.3125f, 30.0625f, 30.0625f, 42.7578125f, 68.1484375f, 93.5390625f, 118.929688f, 144.320312f, 169.710938f, 195.101562f, 220.492188f, 233.1875f, 233.1875f, 34.6875f, 34.6875f, 47.5859375f, 73.3828125f, 99.1796875f, 124.976562f, 150.773438f, 176.570312f, 202.367188f, 228.164062f, 241.0625f, 241.0625f, 37.0f, 37.0f, 50.0f, 76.0f, 102.0f, 128.0f, 154.0f, 180.0f, 206.0f, 232.0f, 245.0f, 245.0f, 37.0f, 37.0f, 50.0f, 76.0f, 102.0f, 128.0f, 154.0f, 180.0f, 206.0f, 232.0f, 245.0f, 245.0f, 37.0f, 37.0f, 50.0f, 76.0f, 102.0f, 128.0f, 154.0f, 180.0f, 206.0f, 232.0f, 245.0f, 245.0f, 37.0f, 37.0f, 50.0f, 76.0f, 102.0f, 128.0f, 154.0f, 180.0f, 206.0f, 232.0f, 245.0f, 245.0f}},
    {"area_down_6x8_to_3x4", 6, 8, 3, 4,
     {67.25f, 134.25f, 137.25f, 140.25f, 154.25f, 145.25f, 136.25f, 127.25f, 113.25f, 156.25f, 135.25f, 178.25f}},
    {"area_down_6x9_to_2x3", 6, 9, 2, 3,
     {112.55555f, 111.666664f, 139.222214f, 148.777786f, 151.111115f, 153.444443f}},
    {"area_down_5x7_to_1x1", 5, 7, 1, 1,
     {125.114288f}},
    {"area_down_7x5_to_4x3_exact", 7, 5, 4, 3,
     {54.485714f, 157.800003f, 107.514282f, 126.828575f, 134.142853f, 119.514282f, 126.028572f, 147.057144f, 146.142853f, 169.114288f, 138.028564f, 128.885712f}},
    {"area_down_28x28_to_9x11_exact", 28, 28, 9, 11,
     {106.242348f, 115.67347f, 116.584183f, 151.966843f, 130.19133f, 140.260208f, 85.6760178f, 141.614792f, 122.466835f, 136.438782f, 116.155609f, 143.366074f, 144.581635f, 172.761475f, 106.350769f, 101.911987f, 116.119896f, 105.184952f, 113.154335f, 127.723213f, 136.964279f, 106.179848f, 125.632652f, 129.408157f, 152.530609f, 117.551018f, 121.632652f, 129.204086f, 93.3469391f, 150.326538f, 132.0f, 115.938774f, 128.530609f, 115.73597f, 120.438774f, 123.809952f, 151.934952f, 130.904343f, 130.533157f, 60.6109695f, 155.172195f, 155.868622f, 139.974487f, 132.922195f, 124.125f, 150.0f, 177.375f, 93.9107132f, 102.625f, 120.43367f, 40.9362259f, 54.875f, 115.410713f, 146.051025f, 134.375f, 132.514038f, 144.295914f, 147.674744f, 127.968109f, 133.12117f, 127.966835f, 122.159439f, 126.006378f, 120.993622f, 128.61734f, 135.827805f, 122.617348f, 103.653061f, 136.260208f, 144.392853f, 142.392853f, 129.295914f, 136.11734f, 139.341843f, 123.964287f, 114.775513f, 115.07653f, 104.883926f, 122.438774f, 143.131378f, 126.858421f, 129.786987f, 134.543365f, 103.381378f, 131.126282f, 130.526779f, 129.994904f, 173.019135f, 142.00766f, 116.734695f, 144.125f, 138.711731f, 133.834183f, 117.260201f, 141.176025f, 166.99234f, 136.109695f, 148.153061f, 120.26786f}},
    {"area_down_10x3_to_3x2_exact", 10, 3, 3, 2,
     {79.9333344f, 153.800003f, 148.066666f, 142.600006f, 88.1999969f, 157.0f}},
    {"mixed_3x6_to_7x3", 3, 6, 7, 3,
     {45.5f, 99.5f, 153.5f, 51.7142868f, 109.428574f, 148.857147f, 70.3571396f, 139.214294f, 134.928574f, 89.0f, 169.0f, 121.0f, 107.64286f, 143.928574f, 107.071426f, 126.285721f, 118.85714f, 93.1428528f, 132.5f, 110.5f, 88.5f}},
};
// clang-format on
/* END GENERATED */

/* ---- helpers
 * -----------------------------------------------------------------------------
 */

/* A string literal and its length without the terminator (the bytes may contain
 * NULs). */
#define S(lit) lit, sizeof(lit) - 1

/* The same image as gen_optim_reference.py's test_image(h, w). */
static glia_image test_image(int h, int w)
{
    glia_image img = {w, h, malloc(sizeof(float) * (size_t)w * (size_t)h)};
    ck_assert_ptr_nonnull(img.pixels);
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
            img.pixels[i * w + j] = (float)((i * 37 + j * 91 + i * j * 13) % 256);
    return img;
}

static void decode_ok(const void *buf, size_t len, glia_image *img, int w, int h)
{
    glia_err err = {0};
    glia_status rc = glia_image_decode(buf, len, img, &err);
    ck_assert_msg(rc == GLIA_OK, "decode: %s", err.msg);
    ck_assert_int_eq(img->width, w);
    ck_assert_int_eq(img->height, h);
    ck_assert_ptr_nonnull(img->pixels);
}

/* Decoding must fail with code (GLIA_EFORMAT unless told), a message containing
 * want (if not NULL), and a zeroed image. */
static void decode_fails(const void *buf, size_t len, glia_status code, const char *want, const char *what)
{
    glia_err err = {0};
    glia_image img;
    memset(&img, 0x5a, sizeof img);
    glia_status rc = glia_image_decode(buf, len, &img, &err);
    ck_assert_msg(rc == code, "%s: status %d (%s), want %d; message: %s", what, (int)rc, glia_status_str(rc),
                  (int)code, err.msg);
    ck_assert_int_eq(err.code, code);
    ck_assert_msg(err.msg[0] != '\0', "%s: no message", what);
    if (want)
        ck_assert_msg(strstr(err.msg, want) != NULL, "%s: message lacks '%s': %s", what, want, err.msg);
    ck_assert_ptr_null(img.pixels);
    ck_assert_int_eq(img.width, 0);
    ck_assert_int_eq(img.height, 0);
}

/* Every prefix of buf (len bytes) fails to decode with GLIA_EFORMAT. */
static void prefixes_fail(const unsigned char *buf, size_t len, const char *kind)
{
    for (size_t cut = 0; cut < len; cut++) {
        /* a copy of exactly cut bytes, so ASan catches any read past the end */
        unsigned char *part = malloc(cut ? cut : 1);
        ck_assert_ptr_nonnull(part);
        memcpy(part, buf, cut);
        char what[96];
        snprintf(what, sizeof what, "%s cut at %zu of %zu", kind, cut, len);
        decode_fails(part, cut, GLIA_EFORMAT, NULL, what);
        free(part);
    }
}

static void assert_pixels(const glia_image *img, const float *want, const char *what)
{
    size_t n = (size_t)img->width * (size_t)img->height;
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(img->pixels[i] == want[i], "%s: pixel %zu (x %zu, y %zu) is %g, want %g", what, i,
                      i % (size_t)img->width, i / (size_t)img->width, (double)img->pixels[i],
                      (double)want[i]);
}

/* ---- writing test PNGs with libpng
 * ---------------------------------------------------------- */

typedef struct {
    unsigned char *buf;
    size_t len, cap;
} membuf;

static void mem_write(png_structp png, png_bytep data, size_t n)
{
    membuf *m = png_get_io_ptr(png);
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->buf = realloc(m->buf, m->cap);
        ck_assert_ptr_nonnull(m->buf);
    }
    memcpy(m->buf + m->len, data, n);
    m->len += n;
}

static void mem_flush(png_structp png)
{
    (void)png;
}

typedef struct {
    int w, h, depth, color;
    int interlace; /* PNG_INTERLACE_NONE or PNG_INTERLACE_ADAM7 */
    /* one sample per byte for depths up to 8 (libpng packs them), two big-endian
     * bytes at 16 */
    const unsigned char *samples;
    const png_color *palette;
    int npalette;
    const unsigned char *palette_alpha; /* tRNS for palette images */
    int nalpha;
    int trans_gray; /* tRNS for gray images: this gray value is transparent; -1
                       for none */
} png_spec;

static int spec_channels(const png_spec *s)
{
    switch (s->color) {
    case PNG_COLOR_TYPE_GRAY:
    case PNG_COLOR_TYPE_PALETTE: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    default: return 4;
    }
}

static unsigned char *make_png(const png_spec *s, size_t *len)
{
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(png);
    png_infop info = png_create_info_struct(png);
    ck_assert_ptr_nonnull(info);
    size_t stride = (size_t)s->w * (size_t)spec_channels(s) * (s->depth == 16 ? 2 : 1);
    png_bytep *rows = malloc(sizeof *rows * (size_t)s->h);
    ck_assert_ptr_nonnull(rows);
    if (setjmp(png_jmpbuf(png)))
        ck_abort_msg("libpng could not write the test image");
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->color, s->interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette)
        png_set_PLTE(png, info, s->palette, s->npalette);
    png_color_16 tg = {0};
    if (s->palette_alpha)
        png_set_tRNS(png, info, s->palette_alpha, s->nalpha, NULL);
    else if (s->trans_gray >= 0) {
        tg.gray = (png_uint_16)s->trans_gray;
        png_set_tRNS(png, info, NULL, 0, &tg);
    }
    png_write_info(png, info);
    if (s->depth < 8)
        png_set_packing(png);
    for (int y = 0; y < s->h; y++)
        rows[y] = (png_bytep)s->samples + stride * (size_t)y;
    png_write_image(png, rows); /* does the Adam7 passes itself */
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    *len = m.len;
    return m.buf;
}

/* Decodes s (and, when it is not interlaced already, its Adam7 twin) and
 * compares with want. */
static void check_png(png_spec s, const float *want, const char *what)
{
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (s.interlace == PNG_INTERLACE_ADAM7)
                break;
            s.interlace = PNG_INTERLACE_ADAM7;
        }
        size_t len;
        unsigned char *buf = make_png(&s, &len);
        ck_assert_int_eq(buf[28], s.interlace); /* IHDR's interlace byte: the twin really is Adam7 */
        glia_image img;
        decode_ok(buf, len, &img, s.w, s.h);
        char label[96];
        snprintf(label, sizeof label, "%s%s", what, s.interlace ? " (interlaced)" : "");
        assert_pixels(&img, want, label);
        glia_image_free(&img);
        glia_image_free(&img); /* twice is safe */
        free(buf);
    }
}

/* An 8-bit gray PNG of test_image(h, w), for the malformed-input tests. */
static unsigned char *gray_png(int w, int h, int interlace, size_t *len)
{
    glia_image img = test_image(h, w);
    unsigned char *samples = malloc((size_t)w * (size_t)h);
    ck_assert_ptr_nonnull(samples);
    for (int i = 0; i < w * h; i++)
        samples[i] = (unsigned char)img.pixels[i];
    png_spec s = {.w = w,
                  .h = h,
                  .depth = 8,
                  .color = PNG_COLOR_TYPE_GRAY,
                  .interlace = interlace,
                  .samples = samples,
                  .trans_gray = -1};
    unsigned char *buf = make_png(&s, len);
    free(samples);
    glia_image_free(&img);
    return buf;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

/* Rewrites the IHDR's width and height (bytes 16..23) and fixes its CRC, so
 * that libpng's checksum passes and only the sizes are wrong. */
static void patch_ihdr(unsigned char *png, uint32_t w, uint32_t h)
{
    ck_assert_mem_eq(png + 12, "IHDR", 4);
    put_be32(png + 16, w);
    put_be32(png + 20, h);
    put_be32(png + 29, (uint32_t)crc32(crc32(0, NULL, 0), png + 12, 17));
}

/* ---- PNG decoding
 * ------------------------------------------------------------------------- */

/* ---- writing test JPEGs with libjpeg's compress API ------------------------------------------ */

typedef struct {
    J_COLOR_SPACE in;  /* JCS_GRAYSCALE, JCS_RGB or JCS_CMYK: what pixels holds */
    J_COLOR_SPACE out; /* the file's colour space (JCS_UNKNOWN: libjpeg's default for in) */
    int adobe;         /* -1: libjpeg's default marker choice; 0: none; 1: an Adobe APP14 marker */
    bool progressive;
    int quality;
} jpeg_spec;

/* A w x h JPEG of pixels (w * h * components bytes) in memory; the caller frees *out. */
static unsigned char *make_jpeg(const jpeg_spec *spec, int w, int h, const unsigned char *pixels, size_t *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *buf = NULL;
    unsigned long size = 0;
    const int comps = spec->in == JCS_GRAYSCALE ? 1 : spec->in == JCS_RGB ? 3 : 4;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = spec->in;
    jpeg_set_defaults(&c);
    if (spec->out != JCS_UNKNOWN)
        jpeg_set_colorspace(&c, spec->out);
    if (spec->adobe >= 0)
        c.write_Adobe_marker = spec->adobe ? TRUE : FALSE;
    jpeg_set_quality(&c, spec->quality ? spec->quality : 100, TRUE);
    if (spec->progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * (size_t)w * (size_t)comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *len = size;
    return buf;
}

/* A w x h image of one solid value per channel, made into a JPEG. */
static unsigned char *solid_jpeg(const jpeg_spec *spec, int w, int h, const unsigned char *value, size_t *len)
{
    const int comps = spec->in == JCS_GRAYSCALE ? 1 : spec->in == JCS_RGB ? 3 : 4;
    unsigned char *px = malloc((size_t)w * (size_t)h * (size_t)comps);
    ck_assert_ptr_nonnull(px);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        memcpy(px + i * (size_t)comps, value, (size_t)comps);
    unsigned char *jpg = make_jpeg(spec, w, h, px, len);
    free(px);
    return jpg;
}

/* The 23 x 9 gradient the PNG tests use, as a gray JPEG (baseline or progressive). */
static unsigned char *gray_jpeg(int w, int h, bool progressive, size_t *len)
{
    glia_image img = test_image(h, w);
    unsigned char *px = malloc((size_t)w * (size_t)h);
    ck_assert_ptr_nonnull(px);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        px[i] = (unsigned char)img.pixels[i];
    const jpeg_spec spec = {.in = JCS_GRAYSCALE, .adobe = -1, .progressive = progressive, .quality = 90};
    unsigned char *jpg = make_jpeg(&spec, w, h, px, len);
    free(px);
    glia_image_free(&img);
    return jpg;
}

/* Every pixel of img is want, give or take tol (JPEG is lossy even at quality 100). */
static void assert_solid(const glia_image *img, double want, double tol, const char *what)
{
    for (size_t i = 0; i < (size_t)img->width * (size_t)img->height; i++)
        ck_assert_msg(fabs(img->pixels[i] - want) <= tol, "%s: pixel %zu is %g, want %g +- %g", what, i,
                      (double)img->pixels[i], want, tol);
}

/* The offset of the first SOFn marker's segment (its length field) in a JPEG made here. */
static size_t sof_offset(const unsigned char *jpg, size_t len)
{
    for (size_t i = 2; i + 9 < len; i++)
        if (jpg[i] == 0xff && (jpg[i + 1] == 0xc0 || jpg[i + 1] == 0xc2))
            return i + 2;
    ck_abort_msg("no SOF marker");
    return 0;
}

static void patch_sof(unsigned char *jpg, size_t len, unsigned w, unsigned h)
{
    size_t at = sof_offset(jpg, len);
    jpg[at + 3] = (unsigned char)(h >> 8);
    jpg[at + 4] = (unsigned char)h;
    jpg[at + 5] = (unsigned char)(w >> 8);
    jpg[at + 6] = (unsigned char)w;
}

/* glia_image_size reads the header only: a PNG whose IHDR declares 16384 x 4096 (with
 * pixel data for 5 x 3) and a PGM header give their sizes, and what is not an image (or too
 * short to hold a size) is refused. */
START_TEST(size_from_header)
{
    glia_err err = {0};
    size_t len;
    long w = 0, h = 0;
    unsigned char *png = gray_png(5, 3, 0, &len);
    ck_assert_int_eq(glia_image_size(png, len, &w, &h, &err), GLIA_OK);
    ck_assert(w == 5 && h == 3);
    patch_ihdr(png, 16384, 4096);
    ck_assert_int_eq(glia_image_size(png, len, &w, &h, &err), GLIA_OK);
    ck_assert(w == 16384 && h == 4096);
    ck_assert_int_eq(glia_image_size(png, 20, &w, &h, &err), GLIA_EFORMAT);
    png[12] = 'X'; /* IHDR must come first */
    ck_assert_int_eq(glia_image_size(png, len, &w, &h, &err), GLIA_EFORMAT);
    free(png);
    static const char pgm[] = "P5\n# a comment\n640 480\n255\n";
    ck_assert_int_eq(glia_image_size(pgm, sizeof pgm - 1, &w, &h, &err), GLIA_OK);
    ck_assert(w == 640 && h == 480);
    ck_assert_int_eq(glia_image_size("P2 12", 5, &w, &h, &err), GLIA_EFORMAT);
    ck_assert_int_eq(glia_image_size("GIF89a", 6, &w, &h, &err), GLIA_EFORMAT);
    ck_assert_int_eq(glia_image_size(NULL, 0, &w, &h, &err), GLIA_EFORMAT);
}
END_TEST

START_TEST(png_gray8)
{
    enum { W = 13, H = 11 }; /* odd sizes: every Adam7 pass is partial */
    glia_image ref = test_image(H, W);
    unsigned char samples[W * H];
    for (int i = 0; i < W * H; i++)
        samples[i] = (unsigned char)ref.pixels[i];
    check_png((png_spec){W, H, 8, PNG_COLOR_TYPE_GRAY, 0, samples, .trans_gray = -1}, ref.pixels, "gray8");
    glia_image_free(&ref);

    /* 1 x 1, the smallest image (interlaced: six of the seven passes are empty)
     */
    const unsigned char one[1] = {77};
    const float one_f[1] = {77};
    check_png((png_spec){1, 1, 8, PNG_COLOR_TYPE_GRAY, 0, one, .trans_gray = -1}, one_f, "gray8 1x1");
}
END_TEST

START_TEST(png_gray_low_bit_depths)
{
    enum { W = 11, H = 3 }; /* rows that end inside a byte */
    for (int depth = 1; depth <= 4; depth *= 2) {
        const int maxv = (1 << depth) - 1;
        unsigned char samples[W * H];
        float want[W * H];
        for (int i = 0; i < W * H; i++) {
            samples[i] = (unsigned char)((i * 7 + i / W) % (maxv + 1));
            want[i] = (float)(samples[i] * (255 / maxv)); /* 255 / maxv is exact for 1, 3, 15 */
        }
        char what[32];
        snprintf(what, sizeof what, "gray %d-bit", depth);
        check_png((png_spec){W, H, depth, PNG_COLOR_TYPE_GRAY, 0, samples, .trans_gray = -1}, want, what);
    }
}
END_TEST

/* 16-bit samples become round(v * 255 / 65535). */
START_TEST(png_16_bit)
{
    static const uint16_t gray[] = {0, 257, 257 * 100, 32767, 32768, 65280, 65534, 65535};
    enum { N = sizeof gray / sizeof gray[0] };
    unsigned char samples[2 * N];
    float want[N];
    for (int i = 0; i < N; i++) {
        samples[2 * i] = (unsigned char)(gray[i] >> 8);
        samples[2 * i + 1] = (unsigned char)gray[i];
        want[i] = (float)floor(gray[i] * 255.0 / 65535.0 + 0.5);
    }
    ck_assert_float_eq(want[3], 127.0f); /* 127.498 */
    ck_assert_float_eq(want[4], 128.0f); /* 127.502 */
    check_png((png_spec){N / 2, 2, 16, PNG_COLOR_TYPE_GRAY, 0, samples, .trans_gray = -1}, want, "gray16");

    /* 16-bit RGB: scaled to 8 bits per channel, then PIL's luma */
    enum { NL = sizeof ref_luma / sizeof ref_luma[0] };
    unsigned char rgb[NL * 6];
    float lwant[NL];
    for (int i = 0; i < NL; i++) {
        const unsigned char c[3] = {ref_luma[i].r, ref_luma[i].g, ref_luma[i].b};
        for (int k = 0; k < 3; k++) {
            uint16_t v = (uint16_t)(c[k] * 257); /* scales back to exactly c[k] */
            rgb[6 * i + 2 * k] = (unsigned char)(v >> 8);
            rgb[6 * i + 2 * k + 1] = (unsigned char)v;
        }
        lwant[i] = ref_luma[i].l;
    }
    check_png((png_spec){NL, 1, 16, PNG_COLOR_TYPE_RGB, 0, rgb, .trans_gray = -1}, lwant, "rgb16");
}
END_TEST

START_TEST(png_rgb_is_pils_luma)
{
    enum { NL = sizeof ref_luma / sizeof ref_luma[0] };
    unsigned char rgb[NL * 3 * 2];
    float want[NL * 2];
    /* two rows, the second in reverse order */
    for (int i = 0; i < NL; i++)
        for (int r = 0; r < 2; r++) {
            int k = r == 0 ? i : NL - 1 - i;
            unsigned char *p = rgb + 3 * (r * NL + i);
            p[0] = ref_luma[k].r, p[1] = ref_luma[k].g, p[2] = ref_luma[k].b;
            want[r * NL + i] = ref_luma[k].l;
        }
    check_png((png_spec){NL, 2, 8, PNG_COLOR_TYPE_RGB, 0, rgb, .trans_gray = -1}, want, "rgb8");
}
END_TEST

/* Alpha composites over black: round(luma * alpha / 255). */
static const struct {
    unsigned char r, g, b, a;
    float want;
} alpha_cases[] = {
    {255, 255, 255, 255, 255}, {200, 200, 200, 0, 0}, {255, 255, 255, 128, 128}, {100, 100, 100, 51, 20},
    {10, 10, 10, 128, 5},      {3, 3, 3, 170, 2},     {1, 1, 1, 127, 0},         {1, 1, 1, 128, 1},
    {12, 200, 77, 255, 130},   {255, 0, 0, 255, 76},  {0, 255, 0, 0, 0},
};
enum { N_ALPHA = sizeof alpha_cases / sizeof alpha_cases[0] };

START_TEST(png_alpha_over_black)
{
    unsigned char rgba[N_ALPHA * 4], ga[N_ALPHA * 2];
    float want[N_ALPHA], want_ga[N_ALPHA];
    for (int i = 0; i < N_ALPHA; i++) {
        rgba[4 * i] = alpha_cases[i].r, rgba[4 * i + 1] = alpha_cases[i].g;
        rgba[4 * i + 2] = alpha_cases[i].b, rgba[4 * i + 3] = alpha_cases[i].a;
        want[i] = alpha_cases[i].want;
        /* gray + alpha with the same luma */
        ga[2 * i] = (unsigned char)(alpha_cases[i].r == alpha_cases[i].g ? alpha_cases[i].r : 0);
        ga[2 * i + 1] = alpha_cases[i].a;
        want_ga[i] = alpha_cases[i].r == alpha_cases[i].g ? alpha_cases[i].want : 0.0f;
    }
    check_png((png_spec){N_ALPHA, 1, 8, PNG_COLOR_TYPE_RGB_ALPHA, 0, rgba, .trans_gray = -1}, want, "rgba8");
    check_png((png_spec){N_ALPHA, 1, 8, PNG_COLOR_TYPE_GRAY_ALPHA, 0, ga, .trans_gray = -1}, want_ga,
              "gray+alpha");
}
END_TEST

START_TEST(png_palette)
{
    enum { NP = 8, W = 7, H = 5 };
    png_color pal[NP];
    for (int k = 0; k < NP; k++)
        pal[k] = (png_color){ref_luma[k].r, ref_luma[k].g, ref_luma[k].b};
    unsigned char idx[W * H];
    float want[W * H], want_t[W * H];
    /* tRNS: entry 1 (white) transparent, entry 2 (red, luma 76) half transparent
     */
    const unsigned char alpha[3] = {255, 0, 128};
    for (int i = 0; i < W * H; i++) {
        idx[i] = (unsigned char)((i * 5 + i / W) % NP);
        want[i] = ref_luma[idx[i]].l;
        want_t[i] = idx[i] == 1   ? 0.0f
                    : idx[i] == 2 ? 38.0f /* 76 * 128 / 255 = 38.15 */
                                  : want[i];
    }
    check_png((png_spec){W, H, 8, PNG_COLOR_TYPE_PALETTE, 0, idx, pal, NP, .trans_gray = -1}, want,
              "palette8");
    check_png((png_spec){W, H, 4, PNG_COLOR_TYPE_PALETTE, 0, idx, pal, NP, .trans_gray = -1}, want,
              "palette4");
    check_png((png_spec){W, H, 8, PNG_COLOR_TYPE_PALETTE, 0, idx, pal, NP, alpha, 3, -1}, want_t,
              "palette+tRNS");
}
END_TEST

START_TEST(png_gray_trns)
{
    enum { W = 6, H = 2 };
    const unsigned char g[W * H] = {0, 200, 199, 201, 255, 200, 200, 200, 17, 0, 0, 200};
    float want[W * H];
    for (int i = 0; i < W * H; i++)
        want[i] = g[i] == 200 ? 0.0f : (float)g[i];
    check_png((png_spec){W, H, 8, PNG_COLOR_TYPE_GRAY, 0, g, .trans_gray = 200}, want, "gray+tRNS");
}
END_TEST

/* ---- PGM decoding
 * ------------------------------------------------------------------------- */

START_TEST(pgm_p5_and_p2)
{
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
        int w, h;
        float want[6];
    } cases[] = {
        {"P5 8-bit", S("P5\n3 2\n255\n\x00\x01\x7f\x80\xfe\xff"), 3, 2, {0, 1, 127, 128, 254, 255}},
        {"P5 comments everywhere",
         S("P5#a\n# b\n3#c\n 2 # d\n#e\n255\n\x05\x06\x07\x08\x09\x0a"),
         3,
         2,
         {5, 6, 7, 8, 9, 10}},
        {"P5 comment ends the header", S("P5 2 1 255# pixel data next line\n\x01\x02"), 2, 1, {1, 2}},
        {"P5 whitespace-looking pixels", S("P5 2 1 255\n\n\t"), 2, 1, {10, 9}},
        {"P5 CRLF", S("P5\r\n2 1\r\n255\r\x03\x04"), 2, 1, {3, 4}},
        {"P5 maxval 1000, 16-bit", S("P5 3 1 1000\n\x00\x00\x01\xf4\x03\xe8"), 3, 1, {0, 127.5f, 255}},
        {"P5 maxval 65535", S("P5 2 1 65535\n\x01\x01\xff\xff"), 2, 1, {1, 255}},
        {"P5 maxval 15", S("P5 2 1 15\n\x05\x0f"), 2, 1, {85, 255}},
        {"P5 data after the raster", S("P5 1 1 255\n\x2aP5 1 1 255\n\x00"), 1, 1, {42}},
        {"P2", S("P2\n3 2\n255\n0 1 2\n253 254 255\n"), 3, 2, {0, 1, 2, 253, 254, 255}},
        {"P2 comments and odd spacing", S("P2 # x\n2\t1\n# y\n4\n  1 # z\n\n 4"), 2, 1, {63.75f, 255}},
        {"P2 maxval 1", S("P2 3 1 1 0 1 1"), 3, 1, {0, 255, 255}},
        {"P2 maxval 65535", S("P2 2 1 65535 65535 257"), 2, 1, {255, 1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        glia_image img;
        decode_ok(cases[i].bytes, cases[i].len, &img, cases[i].w, cases[i].h);
        assert_pixels(&img, cases[i].want, cases[i].what);
        glia_image_free(&img);
    }
}
END_TEST

/* ---- encoding
 * ------------------------------------------------------------------------------
 */

START_TEST(encode_round_trips)
{
    glia_err err = {0};
    glia_image src = test_image(9, 17);
    unsigned char *buf = NULL;
    size_t len = 0;

    ck_assert_int_eq(glia_image_encode_png(&src, &buf, &len, &err), GLIA_OK);
    ck_assert_uint_gt(len, 8 + 25);
    ck_assert_mem_eq(buf, "\x89PNG\r\n\x1a\n", 8);
    ck_assert_int_eq(buf[24], 8); /* bit depth */
    ck_assert_int_eq(buf[25], 0); /* colour type: gray */
    glia_image back;
    decode_ok(buf, len, &back, 17, 9);
    assert_pixels(&back, src.pixels, "PNG round trip");
    glia_image_free(&back);
    free(buf);

    ck_assert_int_eq(glia_image_encode_pgm(&src, &buf, &len, &err), GLIA_OK);
    static const char header[] = "P5\n17 9\n255\n";
    ck_assert_uint_eq(len, strlen(header) + 17 * 9);
    ck_assert_mem_eq(buf, header, strlen(header));
    decode_ok(buf, len, &back, 17, 9);
    assert_pixels(&back, src.pixels, "PGM round trip");
    glia_image_free(&back);
    free(buf);
    glia_image_free(&src);
}
END_TEST

/* Values are rounded to the nearest integer and clamped to 0..255; NaN becomes
 * 0. */
START_TEST(encode_rounds_and_clamps)
{
    float in[] = {-3.0f,  -0.0f,  0.4f,   0.5f, 1.49f,    127.5f,   254.49f,
                  254.6f, 255.0f, 300.0f, NAN,  INFINITY, -INFINITY};
    const float want[] = {0, 0, 0, 1, 1, 128, 254, 255, 255, 255, 0, 255, 0};
    enum { N = sizeof in / sizeof in[0] };
    glia_image src = {N, 1, in};
    for (int fmt = 0; fmt < 2; fmt++) {
        glia_err err = {0};
        unsigned char *buf = NULL;
        size_t len = 0;
        glia_status rc = fmt ? glia_image_encode_pgm(&src, &buf, &len, &err)
                             : glia_image_encode_png(&src, &buf, &len, &err);
        ck_assert_msg(rc == GLIA_OK, "%s", err.msg);
        glia_image back;
        decode_ok(buf, len, &back, N, 1);
        assert_pixels(&back, want, fmt ? "PGM" : "PNG");
        glia_image_free(&back);
        free(buf);
    }
}
END_TEST

START_TEST(encode_rejects_invalid_images)
{
    float px[4] = {0};
    const glia_image bad[] = {
        {0, 0, NULL},
        {2, 2, NULL},
        {0, 2, px},
        {2, 0, px},
        {-1, 2, px},
        {2, -4, px},
        {GLIA_IMAGE_MAX_SIDE + 1, 1, px},
        {1, GLIA_IMAGE_MAX_SIDE + 1, px},
        {GLIA_IMAGE_MAX_SIDE, GLIA_IMAGE_MAX_PIXELS / GLIA_IMAGE_MAX_SIDE + 1, px},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (int fmt = 0; fmt < 2; fmt++) {
            glia_err err = {0};
            unsigned char *buf = (unsigned char *)px;
            size_t len = 99;
            glia_status rc = fmt ? glia_image_encode_pgm(&bad[i], &buf, &len, &err)
                                 : glia_image_encode_png(&bad[i], &buf, &len, &err);
            ck_assert_msg(rc == GLIA_EINVAL, "image %zu (%s): status %d", i, fmt ? "PGM" : "PNG", (int)rc);
            ck_assert_ptr_null(buf);
            ck_assert_uint_eq(len, 0);
            ck_assert(err.msg[0] != '\0');
        }
}
END_TEST

START_TEST(load_files)
{
    char dir[128];
    glia_test_mkdtemp(dir, sizeof dir, "image");
    glia_image src = test_image(5, 4), img;
    glia_err err = {0};
    unsigned char *buf;
    size_t len;
    char path[256];

    ck_assert_int_eq(glia_image_encode_png(&src, &buf, &len, &err), GLIA_OK);
    snprintf(path, sizeof path, "%s/a.png", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    free(buf);
    ck_assert_msg(glia_image_load(path, &img, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(img.width, 4);
    ck_assert_int_eq(img.height, 5);
    assert_pixels(&img, src.pixels, "loaded PNG");
    glia_image_free(&img);

    /* a file that is not an image: the message names it */
    const char *junk = glia_test_write(dir, "junk.pgm", "P5 2 2 255\n\x01");
    ck_assert_int_eq(glia_image_load(junk, &img, &err), GLIA_EFORMAT);
    ck_assert_msg(strstr(err.msg, "junk.pgm") && strstr(err.msg, "truncated"), "%s", err.msg);
    ck_assert_ptr_null(img.pixels);
    const char *empty = glia_test_write(dir, "empty.png", "");
    ck_assert_int_eq(glia_image_load(empty, &img, &err), GLIA_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty.png"));

    snprintf(path, sizeof path, "%s/missing.png", dir);
    ck_assert_int_eq(glia_image_load(path, &img, &err), GLIA_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "missing.png"));
    ck_assert_ptr_null(img.pixels);
    ck_assert_int_eq(glia_image_load(dir, &img, &err), GLIA_EIO); /* a directory */
    ck_assert_ptr_null(img.pixels);

    glia_image_free(&src);
    glia_test_rmtree(dir);
}
END_TEST

/* ---- malformed input
 * ---------------------------------------------------------------------- */

START_TEST(rejects_bad_magic)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *want;
    } cases[] = {
        {S("GIF89a\x01\x00\x01\x00"), "not a PNG, JPEG or PGM"},
        {S("BM\x36\x00\x00\x00"), "not a PNG, JPEG or PGM"},
        {S("\xff\xd8\xff\xe0\x00\x10JFIF"), "truncated JPEG"},
        {S("\xff\xd8\xfe"), "not a PNG, JPEG or PGM"},
        {S("\x89PNX\r\n\x1a\n\x00\x00\x00\x0dIHDR"), "not a PNG, JPEG or PGM"},
        {S("\x89PNG\r\n\x1a"), "truncated PNG"},
        {S("\x89PNG\r\n\x1a\n"), "truncated PNG"},
        {S("P"), "not a PNG, JPEG or PGM"},
        {S("p5 1 1 255\n\x00"), "not a PNG, JPEG or PGM"},
        {S("P6 1 1 255\n\x00\x00\x00"), "P6"},
        {S("P3 1 1 255\n0 0 0"), "P3"},
        {S("P1 1 1\n1"), "P1"},
        {S("P4 8 1\n\x00"), "P4"},
        {S("P7\nWIDTH 1\n"), "P7"},
        {S("P8 1 1 255\n\x00"), "not a PNG, JPEG or PGM"},
        {S("P5x 1 1 255\n\x00"), "whitespace"},
        {S("\0\0\0\0"), "not a PNG, JPEG or PGM"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "bad magic %zu", i);
        decode_fails(cases[i].bytes, cases[i].len, GLIA_EFORMAT, cases[i].want, what);
    }
    decode_fails("", 0, GLIA_EFORMAT, "empty", "empty buffer");
    decode_fails(NULL, 10, GLIA_EINVAL, NULL, "NULL buffer");
}
END_TEST

START_TEST(rejects_malformed_pgm)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *want;
    } cases[] = {
        {S("P5"), "truncated PGM header"},
        {S("P5 3"), "truncated PGM header"},
        {S("P5 3 2"), "truncated PGM header"},
        {S("P5 3 2 # maxval never comes"), "truncated PGM header"},
        {S("P5 x 2 255\n"), "expected the width"},
        {S("P5 3 -2 255\n"), "expected the height"},
        {S("P5 3 2 2.5\n"), "whitespace after maxval"},
        {S("P5 0 2 255\n"), "zero size"},
        {S("P5 3 0 255\n"), "zero size"},
        {S("P5 3 2 0\n"), "maxval"},
        {S("P5 3 2 65536\n"), "maxval"},
        {S("P5 16385 1 255\n"), "at most"},
        {S("P5 1 16385 255\n"), "at most"},
        {S("P5 8192 8193 255\n"), "at most"},                    /* 64 Mpixels + 8192 */
        {S("P5 99999999999999999999999999 1 255\n"), "at most"}, /* no overflow */
        {S("P5 4294967297 4294967297 255\n"), "at most"},        /* sides beyond 32 bits */
        {S("P5 3 2 255"), "no pixel data"},
        {S("P5 3 2 255\n\x01\x02\x03\x04\x05"), "truncated PGM image"},
        {S("P5 2 1 1000\n\x00\x01\x02"), "truncated PGM image"}, /* 16-bit needs 4 bytes */
        {S("P5 2 1 100\n\x64\x65"), "above maxval"},
        {S("P5 1 1 1000\n\x03\xe9"), "above maxval"},
        {S("P2 2 2 255\n1 2 3"), "truncated PGM image"},
        {S("P2 2 1 255\n1 x"), "corrupt PGM image"},
        {S("P2 2 1 255\n1 -2"), "corrupt PGM image"},
        {S("P2 2 1 9\n3 10"), "above maxval"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "PGM case %zu (%.20s)", i, cases[i].bytes);
        decode_fails(cases[i].bytes, cases[i].len, GLIA_EFORMAT, cases[i].want, what);
    }
}
END_TEST

/* Every prefix of a valid PNG is refused, including the ones that hold all the
 * pixels but not the IEND chunk. */
START_TEST(rejects_truncated_png)
{
    for (int interlace = 0; interlace < 2; interlace++) {
        size_t len;
        unsigned char *png = gray_png(23, 9, interlace, &len);
        char what[48];
        snprintf(what, sizeof what, "PNG (interlace %d)", interlace);
        prefixes_fail(png, len, what);
        glia_image ok;
        decode_ok(png, len, &ok, 23, 9);
        glia_image_free(&ok);
        free(png);
    }
}
END_TEST

START_TEST(rejects_corrupt_png)
{
    size_t len;
    unsigned char *png = gray_png(23, 9, 0, &len);
    /* a flipped bit anywhere after the signature breaks a CRC (or the chunk
     * structure) */
    for (size_t at = 8; at < len; at++) {
        png[at] ^= 0x10;
        char what[48];
        snprintf(what, sizeof what, "PNG with byte %zu flipped", at);
        decode_fails(png, len, GLIA_EFORMAT, NULL, what);
        png[at] ^= 0x10;
    }
    /* IHDR sizes with a valid CRC: glia's limits, checked before any row exists
     */
    static const struct {
        uint32_t w, h;
        const char *want;
    } sizes[] = {
        {100000, 100000, "at most"},
        {GLIA_IMAGE_MAX_SIDE + 1, 1, "at most"},
        {1, GLIA_IMAGE_MAX_SIDE + 1, "at most"},
        {GLIA_IMAGE_MAX_SIDE, GLIA_IMAGE_MAX_PIXELS / GLIA_IMAGE_MAX_SIDE + 1, "at most"},
        {0x7fffffffu, 0x7fffffffu, "at most"},
        {0, 9, "corrupt PNG"},
        {23, 0, "corrupt PNG"},
        {0x80000000u, 1, "corrupt PNG"}, /* beyond the PNG spec's 2^31 - 1 */
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *bad = malloc(len);
        ck_assert_ptr_nonnull(bad);
        memcpy(bad, png, len);
        patch_ihdr(bad, sizes[i].w, sizes[i].h);
        char what[64];
        snprintf(what, sizeof what, "PNG claiming %u x %u", sizes[i].w, sizes[i].h);
        decode_fails(bad, len, GLIA_EFORMAT, sizes[i].want, what);
        free(bad);
    }
    /* the same patch with the true sizes still decodes: the CRC fix-up is right
     */
    patch_ihdr(png, 23, 9);
    glia_image ok;
    decode_ok(png, len, &ok, 23, 9);
    glia_image_free(&ok);
    /* a wrong size with the real pixel data: libpng runs out of (or has too much)
     * data */
    patch_ihdr(png, 23, 10);
    decode_fails(png, len, GLIA_EFORMAT, NULL, "PNG claiming one row more");
    free(png);
}
END_TEST

/* ---- resizing
 * ------------------------------------------------------------------------------
 */

START_TEST(resize_matches_torch)
{
    const resize_case *c = &ref_resize[_i];
    glia_image src = test_image(c->src_h, c->src_w), dst;
    glia_err err = {0};
    ck_assert_msg(glia_image_resize(&src, c->w, c->h, &dst, &err) == GLIA_OK, "%s: %s", c->name, err.msg);
    ck_assert_int_eq(dst.width, c->w);
    ck_assert_int_eq(dst.height, c->h);
    for (int i = 0; i < c->w * c->h; i++) {
        double want = c->want[i], tol = 2e-6 * fabs(want) + 2e-5;
        ck_assert_msg(fabs((double)dst.pixels[i] - want) <= tol, "%s: pixel (%d, %d) is %.9g, reference %.9g",
                      c->name, i % c->w, i / c->w, (double)dst.pixels[i], want);
    }
    glia_image_free(&dst);
    glia_image_free(&src);
}
END_TEST

/* Properties that hold for any size: a constant stays constant, shrinking by
 * area keeps the mean, the same size is a copy into a new buffer, and results
 * stay within the source range. */
START_TEST(resize_properties)
{
    static const int sizes[][2] = {{1, 1}, {1, 7}, {5, 1}, {3, 3}, {9, 4}, {17, 23}, {28, 28}, {31, 64}};
    glia_image src = test_image(12, 10), konst = test_image(12, 10), dst;
    glia_err err = {0};
    for (int i = 0; i < 120; i++)
        konst.pixels[i] = 42.25f;
    double src_mean = 0;
    for (int i = 0; i < 120; i++)
        src_mean += src.pixels[i];
    src_mean /= 120;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int w = sizes[k][0], h = sizes[k][1];
        ck_assert_int_eq(glia_image_resize(&konst, w, h, &dst, &err), GLIA_OK);
        for (int i = 0; i < w * h; i++)
            ck_assert_msg(fabsf(dst.pixels[i] - 42.25f) < 1e-4f, "%dx%d: pixel %d is %.9g", w, h, i,
                          (double)dst.pixels[i]);
        glia_image_free(&dst);
        ck_assert_int_eq(glia_image_resize(&src, w, h, &dst, &err), GLIA_OK);
        double mean = 0;
        for (int i = 0; i < w * h; i++) {
            ck_assert(dst.pixels[i] >= 0.0f && dst.pixels[i] <= 255.0f);
            mean += dst.pixels[i];
        }
        mean /= w * h;
        if (w <= 10 && h <= 12)
            ck_assert_msg(fabs(mean - src_mean) < 1e-3, "%dx%d: mean %.6f, source mean %.6f", w, h, mean,
                          src_mean);
        glia_image_free(&dst);
    }
    ck_assert_int_eq(glia_image_resize(&src, 10, 12, &dst, &err), GLIA_OK);
    ck_assert_ptr_ne(dst.pixels, src.pixels);
    ck_assert_mem_eq(dst.pixels, src.pixels, sizeof(float) * 120);
    glia_image_free(&dst);
    glia_image_free(&konst);
    glia_image_free(&src);
}
END_TEST

START_TEST(resize_rejects_invalid)
{
    glia_image src = test_image(4, 4), dst;
    static const int bad[][2] = {
        {0, 4},
        {4, 0},
        {-1, 4},
        {4, -7},
        {GLIA_IMAGE_MAX_SIDE + 1, 1},
        {1, GLIA_IMAGE_MAX_SIDE + 1},
        {GLIA_IMAGE_MAX_SIDE, GLIA_IMAGE_MAX_SIDE},
        {100000, 100000},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        glia_err err = {0};
        memset(&dst, 0x5a, sizeof dst);
        ck_assert_msg(glia_image_resize(&src, bad[i][0], bad[i][1], &dst, &err) == GLIA_EINVAL,
                      "%d x %d accepted", bad[i][0], bad[i][1]);
        ck_assert_ptr_null(dst.pixels);
        ck_assert_int_eq(dst.width, 0);
        ck_assert(err.msg[0] != '\0');
    }
    const glia_image bad_src[] = {{0, 0, NULL}, {4, 4, NULL}, {0, 4, src.pixels}, {-4, 4, src.pixels}};
    for (size_t i = 0; i < sizeof bad_src / sizeof bad_src[0]; i++) {
        glia_err err = {0};
        ck_assert_int_eq(glia_image_resize(&bad_src[i], 2, 2, &dst, &err), GLIA_EINVAL);
        ck_assert_ptr_null(dst.pixels);
    }
    /* the largest allowed size is accepted (a one-row image keeps it cheap) */
    glia_err err = {0};
    glia_image row = test_image(1, 3);
    ck_assert_int_eq(glia_image_resize(&row, GLIA_IMAGE_MAX_SIDE, 1, &dst, &err), GLIA_OK);
    glia_image_free(&dst);
    glia_image_free(&row);
    glia_image_free(&src);
}
END_TEST

/* ---- first checks (kept from the original suite)
 * -------------------------------------------- */

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

/* ---- JPEG ------------------------------------------------------------------------------------- */

START_TEST(jpeg_gray)
{
    for (int progressive = 0; progressive < 2; progressive++) {
        const jpeg_spec spec = {.in = JCS_GRAYSCALE, .adobe = -1, .progressive = progressive};
        for (int v = 0; v < 256; v += 51) {
            const unsigned char value = (unsigned char)v;
            size_t len;
            unsigned char *jpg = solid_jpeg(&spec, 16, 8, &value, &len);
            glia_image img;
            decode_ok(jpg, len, &img, 16, 8);
            char what[48];
            snprintf(what, sizeof what, "gray %d, progressive %d", v, progressive);
            assert_solid(&img, v, 1.0, what);
            glia_image_free(&img);
            free(jpg);
        }
    }
    /* a gradient: progressive and baseline code the same quantised coefficients, so the
     * two files decode to the same pixels */
    size_t blen, plen;
    unsigned char *base = gray_jpeg(23, 9, false, &blen), *prog = gray_jpeg(23, 9, true, &plen);
    ck_assert(blen != plen || memcmp(base, prog, blen) != 0);
    glia_image a, b, want = test_image(9, 23);
    decode_ok(base, blen, &a, 23, 9);
    decode_ok(prog, plen, &b, 23, 9);
    assert_pixels(&b, a.pixels, "progressive against baseline");
    for (int i = 0; i < 23 * 9; i++) /* quality 90 of a busy gradient: close, not exact */
        ck_assert_msg(fabsf(a.pixels[i] - want.pixels[i]) <= 24.0f, "pixel %d: %g, want %g", i,
                      (double)a.pixels[i], (double)want.pixels[i]);
    glia_image_free(&a);
    glia_image_free(&b);
    glia_image_free(&want);
    free(base);
    free(prog);
}
END_TEST

/* Colour becomes the luma PIL's convert('L') gives, as for PNG: solid 16 x 16 images (one
 * MCU, so chroma subsampling does not blur across colours) against the PIL table. */
START_TEST(jpeg_colour_is_pils_luma)
{
    for (int progressive = 0; progressive < 2; progressive++)
        for (size_t i = 0; i < sizeof ref_luma / sizeof ref_luma[0]; i++) {
            const unsigned char rgb[3] = {ref_luma[i].r, ref_luma[i].g, ref_luma[i].b};
            const jpeg_spec spec = {.in = JCS_RGB, .adobe = -1, .progressive = progressive};
            size_t len;
            unsigned char *jpg = solid_jpeg(&spec, 16, 16, rgb, &len);
            glia_image img;
            decode_ok(jpg, len, &img, 16, 16);
            char what[64];
            snprintf(what, sizeof what, "rgb %u %u %u, progressive %d", rgb[0], rgb[1], rgb[2], progressive);
            /* YCbCr <-> RGB rounding moves a channel by a step or two */
            assert_solid(&img, ref_luma[i].l, 2.0, what);
            glia_image_free(&img);
            free(jpg);
        }
    /* an RGB (not YCbCr) JPEG, the Adobe transform-0 kind */
    const unsigned char rgb[3] = {200, 100, 50};
    const jpeg_spec spec = {.in = JCS_RGB, .out = JCS_RGB, .adobe = -1};
    size_t len;
    unsigned char *jpg = solid_jpeg(&spec, 16, 16, rgb, &len);
    glia_image img;
    decode_ok(jpg, len, &img, 16, 16);
    assert_solid(&img, 124, 1.0, "RGB-coded JPEG");
    glia_image_free(&img);
    free(jpg);
}
END_TEST

/* Pillow's CMYK -> RGB (R = (255 - K)(255 - C) / 255 ...) and then the luma, in double. */
static double cmyk_luma(const unsigned char ink[4])
{
    double rgb[3];
    for (int k = 0; k < 3; k++)
        rgb[k] = (255.0 - ink[3]) * (255.0 - ink[k]) / 255.0;
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
}

/* CMYK three ways: plain samples without an Adobe marker, Adobe's inverted samples with
 * the marker (what Photoshop writes), and YCCK (inverted, with the marker); each must give
 * the ink's luma, so the inversion is applied exactly when the marker says so. */
START_TEST(jpeg_cmyk)
{
    static const unsigned char inks[][4] = {
        {0, 0, 0, 0},   {255, 0, 0, 0},   {0, 255, 0, 0},   {0, 0, 255, 0},
        {0, 0, 0, 255}, {255, 0, 0, 128}, {30, 60, 90, 20}, {255, 255, 255, 255},
    };
    for (size_t i = 0; i < sizeof inks / sizeof inks[0]; i++) {
        unsigned char inverted[4];
        for (int k = 0; k < 4; k++)
            inverted[k] = (unsigned char)(255 - inks[i][k]);
        const struct {
            jpeg_spec spec;
            const unsigned char *samples;
            const char *name;
        } kinds[] = {
            {{.in = JCS_CMYK, .out = JCS_CMYK, .adobe = 0}, inks[i], "plain CMYK"},
            {{.in = JCS_CMYK, .out = JCS_CMYK, .adobe = 1}, inverted, "Adobe CMYK"},
            {{.in = JCS_CMYK, .out = JCS_YCCK, .adobe = 1}, inverted, "Adobe YCCK"},
            {{.in = JCS_CMYK, .out = JCS_CMYK, .adobe = 1, .progressive = true},
             inverted,
             "progressive CMYK"},
        };
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            size_t len;
            unsigned char *jpg = solid_jpeg(&kinds[k].spec, 16, 16, kinds[k].samples, &len);
            glia_image img;
            decode_ok(jpg, len, &img, 16, 16);
            char what[80];
            snprintf(what, sizeof what, "%s ink %u %u %u %u", kinds[k].name, inks[i][0], inks[i][1],
                     inks[i][2], inks[i][3]);
            assert_solid(&img, cmyk_luma(inks[i]), 2.0, what);
            glia_image_free(&img);
            free(jpg);
        }
    }
}
END_TEST

/* Every prefix of a JPEG is refused, the ones that hold every scan line but not EOI too:
 * libjpeg would pad them with gray and only warn. */
START_TEST(jpeg_truncated)
{
    for (int progressive = 0; progressive < 2; progressive++) {
        size_t len;
        unsigned char *jpg = gray_jpeg(23, 9, progressive, &len);
        char what[48];
        snprintf(what, sizeof what, "JPEG (progressive %d)", progressive);
        prefixes_fail(jpg, len, what);
        /* cut inside the scan data: the message says so */
        glia_err err = {0};
        glia_image img;
        ck_assert_int_eq(glia_image_decode(jpg, len - 20, &img, &err), GLIA_EFORMAT);
        ck_assert_msg(strstr(err.msg, "truncated JPEG"), "%s", err.msg);
        glia_image ok;
        decode_ok(jpg, len, &ok, 23, 9);
        glia_image_free(&ok);
        free(jpg);
    }
}
END_TEST

START_TEST(jpeg_corrupt)
{
    size_t len;
    unsigned char *jpg = gray_jpeg(23, 9, false, &len);
    const size_t sof = sof_offset(jpg, len);
    static const struct {
        int at; /* offset from the SOF segment's length field; -2 is the marker code */
        unsigned char byte;
        const char *want;
    } edits[] = {
        {-2, 0xc3, "corrupt JPEG"}, /* SOF3, lossless: not supported */
        {-2, 0xd9, "corrupt JPEG"}, /* EOI where the frame should be */
        {-2, 0xda, "corrupt JPEG"}, /* a scan before any frame */
        {0, 0xff, "corrupt JPEG"},  /* segment length 65k, beyond the file */
        {2, 12, "corrupt JPEG"},    /* 12-bit samples */
        {7, 0, "corrupt JPEG"},     /* zero components */
        {7, 2, "corrupt JPEG"},     /* two components, but one declared */
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        unsigned char *bad = malloc(len);
        ck_assert_ptr_nonnull(bad);
        memcpy(bad, jpg, len);
        bad[(size_t)((long)sof + edits[i].at)] = edits[i].byte;
        char what[48];
        snprintf(what, sizeof what, "JPEG edit %zu", i);
        decode_fails(bad, len, GLIA_EFORMAT, edits[i].want, what);
        free(bad);
    }
    /* entropy-coded data: a marker in the middle of the scan, then every byte flipped in
     * turn. A flip may give other pixels (JPEG has no checksum) but never a crash, a leak or
     * an image of the wrong size; libjpeg's corrupt-data warnings are errors. */
    unsigned char *bad = malloc(len);
    ck_assert_ptr_nonnull(bad);
    memcpy(bad, jpg, len);
    bad[len - 12] = 0xff;
    bad[len - 11] = 0xd9;
    decode_fails(bad, len, GLIA_EFORMAT, "JPEG", "EOI inside the scan");
    int refused = 0;
    for (size_t at = 2; at < len; at++) {
        memcpy(bad, jpg, len);
        bad[at] ^= 0x10;
        glia_err err = {0};
        glia_image img;
        glia_status rc = glia_image_decode(bad, len, &img, &err);
        if (rc == GLIA_OK) {
            ck_assert(img.width > 0 && img.height > 0 && img.pixels);
            glia_image_free(&img);
        } else {
            ck_assert_msg(rc == GLIA_EFORMAT, "byte %zu: status %d: %s", at, (int)rc, err.msg);
            ck_assert_msg(strstr(err.msg, "JPEG") != NULL, "byte %zu: %s", at, err.msg);
            ck_assert_ptr_null(img.pixels);
            refused++;
        }
    }
    ck_assert_int_gt(refused, 0);
    free(bad);
    free(jpg);
}
END_TEST

/* A tiny file whose SOF declares a huge image: the header gives the size (the daemon's
 * max_pixels check reads it), decode refuses it before allocating anything for it. */
START_TEST(jpeg_huge_declared_size)
{
    size_t len;
    unsigned char *jpg = gray_jpeg(23, 9, false, &len);
    long w = 0, h = 0;
    glia_err err = {0};
    ck_assert_int_eq(glia_image_size(jpg, len, &w, &h, &err), GLIA_OK);
    ck_assert(w == 23 && h == 9);
    static const struct {
        unsigned w, h;
        const char *want;
    } sizes[] = {
        {65500, 65500, "at most"},
        {GLIA_IMAGE_MAX_SIDE + 1, 9, "at most"},
        {GLIA_IMAGE_MAX_SIDE, GLIA_IMAGE_MAX_PIXELS / GLIA_IMAGE_MAX_SIDE + 1, "at most"},
        {65535, 65535, "65500"}, /* beyond libjpeg's JPEG_MAX_DIMENSION: its message */
        {0, 9, "JPEG"},
        {23, 0, "JPEG"},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *bad = malloc(len);
        ck_assert_ptr_nonnull(bad);
        memcpy(bad, jpg, len);
        patch_sof(bad, len, sizes[i].w, sizes[i].h);
        char what[64];
        snprintf(what, sizeof what, "JPEG claiming %u x %u", sizes[i].w, sizes[i].h);
        decode_fails(bad, len, GLIA_EFORMAT, sizes[i].want, what);
        glia_status rc = glia_image_size(bad, len, &w, &h, &err);
        if (sizes[i].w && sizes[i].h) {
            ck_assert_msg(rc == GLIA_OK, "%s: %s", what, err.msg);
            ck_assert(w == (long)sizes[i].w && h == (long)sizes[i].h);
        } else {
            ck_assert_int_eq(rc, GLIA_EFORMAT);
        }
        free(bad);
    }
    /* the SOF walk: cut before the frame header, a broken segment length, a scan first */
    const size_t sof = sof_offset(jpg, len);
    ck_assert_int_eq(glia_image_size(jpg, sof, &w, &h, &err), GLIA_EFORMAT);
    ck_assert_msg(strstr(err.msg, "truncated JPEG"), "%s", err.msg);
    unsigned char *bad = malloc(len);
    ck_assert_ptr_nonnull(bad);
    memcpy(bad, jpg, len);
    bad[sof] = 0;
    bad[sof + 1] = 1; /* length 1: shorter than its own length field */
    ck_assert_int_eq(glia_image_size(bad, len, &w, &h, &err), GLIA_EFORMAT);
    ck_assert_msg(strstr(err.msg, "corrupt JPEG"), "%s", err.msg);
    memcpy(bad, jpg, len);
    bad[sof - 1] = 0xda;
    ck_assert_int_eq(glia_image_size(bad, len, &w, &h, &err), GLIA_EFORMAT);
    ck_assert_msg(strstr(err.msg, "before any frame"), "%s", err.msg);
    free(bad);
    /* fill bytes (extra FFs) before a marker are allowed */
    bad = malloc(len + 3);
    ck_assert_ptr_nonnull(bad);
    memcpy(bad, jpg, 2);
    memset(bad + 2, 0xff, 3);
    memcpy(bad + 5, jpg + 2, len - 2);
    ck_assert_msg(glia_image_size(bad, len + 3, &w, &h, &err) == GLIA_OK, "%s", err.msg);
    ck_assert(w == 23 && h == 9);
    free(bad);
    free(jpg);
}
END_TEST

/* A progressive JPEG with far more scans than any real file: refused, not decoded for ever. */
START_TEST(jpeg_too_many_scans)
{
    size_t len;
    unsigned char *jpg = gray_jpeg(16, 16, true, &len);
    /* repeat the last scan (SOS .. before EOI) many times: each repeat is a valid
     * refinement scan to libjpeg's parser, so only the scan limit stops it */
    size_t sos = 0;
    for (size_t i = len - 2; i > 2; i--)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xda) {
            sos = i;
            break;
        }
    ck_assert_uint_gt(sos, 0);
    const size_t scan = len - 2 - sos, copies = 200;
    unsigned char *big = malloc(sos + scan * copies + 2);
    ck_assert_ptr_nonnull(big);
    memcpy(big, jpg, sos);
    for (size_t i = 0; i < copies; i++)
        memcpy(big + sos + i * scan, jpg + sos, scan);
    memcpy(big + sos + scan * copies, jpg + len - 2, 2);
    decode_fails(big, sos + scan * copies + 2, GLIA_EFORMAT, "JPEG", "200 copies of a scan");
    free(big);
    free(jpg);
}
END_TEST

/* glia_image_load reads JPEG files like the others (the CLI's path). */
START_TEST(jpeg_load_file)
{
    size_t len;
    unsigned char *jpg = gray_jpeg(23, 9, true, &len);
    char dir[512], path[600];
    glia_test_mkdtemp(dir, sizeof dir, "jpeg");
    snprintf(path, sizeof path, "%s/img.jpg", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(jpg, 1, len, f), len);
    fclose(f);
    glia_image img;
    glia_err err = {0};
    ck_assert_msg(glia_image_load(path, &img, &err) == GLIA_OK, "%s", err.msg);
    ck_assert(img.width == 23 && img.height == 9);
    glia_image_free(&img);
    glia_test_rmtree(dir);
    free(jpg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("image");
    TCase *tp = tcase_create("png");
    tcase_add_test(tp, png_gray8);
    tcase_add_test(tp, png_gray_low_bit_depths);
    tcase_add_test(tp, png_16_bit);
    tcase_add_test(tp, png_rgb_is_pils_luma);
    tcase_add_test(tp, png_alpha_over_black);
    tcase_add_test(tp, png_palette);
    tcase_add_test(tp, png_gray_trns);
    suite_add_tcase(s, tp);

    TCase *tg = tcase_create("pgm");
    tcase_add_test(tg, pgm_p5_and_p2);
    tcase_add_test(tg, pgm_variants);
    suite_add_tcase(s, tg);

    TCase *te = tcase_create("encode");
    tcase_add_test(te, encode_round_trips);
    tcase_add_test(te, encode_rounds_and_clamps);
    tcase_add_test(te, encode_rejects_invalid_images);
    tcase_add_test(te, png_round_trip);
    tcase_add_test(te, load_files);
    suite_add_tcase(s, te);

    TCase *tm = tcase_create("malformed");
    tcase_add_test(tm, rejects_bad_magic);
    tcase_add_test(tm, rejects_malformed_pgm);
    tcase_add_test(tm, rejects_truncated_png);
    tcase_add_test(tm, rejects_corrupt_png);
    tcase_add_test(tm, untrusted_input);
    tcase_add_test(tm, size_from_header);
    suite_add_tcase(s, tm);

    TCase *tj = tcase_create("jpeg");
    tcase_add_test(tj, jpeg_gray);
    tcase_add_test(tj, jpeg_colour_is_pils_luma);
    tcase_add_test(tj, jpeg_cmyk);
    tcase_add_test(tj, jpeg_truncated);
    tcase_add_test(tj, jpeg_corrupt);
    tcase_add_test(tj, jpeg_huge_declared_size);
    tcase_add_test(tj, jpeg_too_many_scans);
    tcase_add_test(tj, jpeg_load_file);
    suite_add_tcase(s, tj);

    TCase *tr = tcase_create("resize");
    tcase_add_loop_test(tr, resize_matches_torch, 0, (int)(sizeof ref_resize / sizeof ref_resize[0]));
    tcase_add_test(tr, resize_properties);
    tcase_add_test(tr, resize_rejects_invalid);
    tcase_add_test(tr, resize);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    return glia_check_run(suite());
}
