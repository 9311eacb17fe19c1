/*
 * image.c - grayscale image decoding (PNG, PGM; JPEG in jpeg.c), resizing and 8-bit encoding.
 *
 * Decoding: the format comes from magic bytes only (a file name or a Content-Type can lie). PGM
 * is parsed here - header tokens with '#' comments anywhere, P5 8/16-bit big-endian samples or
 * P2 decimal ones, each checked against maxval. PNG goes through libpng, told to expand palette,
 * low-bit gray and tRNS and to scale 16-bit samples down, so that the conversion loop only ever
 * sees 8-bit G, GA, RGB or RGBA; luma uses PIL's fixed-point BT.601 weights (so a model trained
 * on PIL-converted images sees the same integers) and alpha is composited over black. In both
 * formats the width and height are checked against GLIA_IMAGE_MAX_SIDE/MAX_PIXELS before any
 * pixel buffer is allocated.
 *
 * libpng reports errors by longjmp. Every libpng call sits in a *_run() function that does the
 * setjmp and keeps everything it acquires in a job struct owned by its caller: after a longjmp
 * only the caller's frame - untouched by the jump - is read, so no local of the jumping frame
 * needs to be volatile, and the caller frees whatever the job holds on one cleanup path.
 * libpng's own allocations go through malloc/free here (png_create_*_struct_2), which tells
 * "out of memory" apart from "corrupt" and lets the tests inject allocation failures.
 *
 * Resizing is separable: each axis gets a table of (first source index, weights) per output
 * index - exact box-filter footprints when shrinking, half-pixel-centred bilinear taps (PyTorch's
 * align_corners=False, edge-clamped) when growing - and output rows are accumulated in double.
 *
 * Never: print (libpng warnings are swallowed), exit, let libpng's longjmp cross a frame that
 * still owns something, trust a size from a header, or leave *out half-filled on failure.
 */
#include "core/image/image.h"
#include "core/image/jpeg.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Largest file glia_image_load reads: far above any image within the pixel limits. */
#define MAX_FILE_BYTES ((size_t)1 << 30)

/* ---- common ------------------------------------------------------------------------------- */

/* Refuses zero and oversized images from a header before anything is allocated for them. */
glia_status glia_image_check_size(const char *what, uint64_t w, uint64_t h, glia_err *err)
{
    if (w == 0 || h == 0)
        return glia_err_set(err, GLIA_EFORMAT, "%s image has zero size (%" PRIu64 " x %" PRIu64 ")", what, w,
                            h);
    if (w > GLIA_IMAGE_MAX_SIDE || h > GLIA_IMAGE_MAX_SIDE || w * h > GLIA_IMAGE_MAX_PIXELS)
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s image is %" PRIu64 " x %" PRIu64
                            "; glia accepts at most %d pixels per side and "
                            "%d Mpixels",
                            what, w, h, GLIA_IMAGE_MAX_SIDE, GLIA_IMAGE_MAX_PIXELS >> 20);
    return GLIA_OK;
}

static glia_status image_alloc(glia_image *img, int w, int h, glia_err *err)
{
    img->pixels = malloc(sizeof(float) * (size_t)w * (size_t)h);
    if (!img->pixels)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a %d x %d image", w, h);
    img->width = w;
    img->height = h;
    return GLIA_OK;
}

static bool image_valid(const glia_image *img)
{
    return img && img->pixels && img->width > 0 && img->height > 0 && img->width <= GLIA_IMAGE_MAX_SIDE &&
           img->height <= GLIA_IMAGE_MAX_SIDE && (size_t)img->width * img->height <= GLIA_IMAGE_MAX_PIXELS;
}

/* Rounds to the nearest 8-bit value; NaN and negatives become 0. */
static unsigned char to_u8(float v)
{
    if (!(v > 0.0f))
        return 0;
    if (v >= 255.0f)
        return 255;
    return (unsigned char)(v + 0.5f);
}

void glia_image_free(glia_image *img)
{
    if (!img)
        return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* ---- PNG through libpng --------------------------------------------------------------------- */

typedef struct {
    png_structp png;
    png_infop info;
    /* decoding: the input, and the 8-bit raster libpng fills */
    const unsigned char *in;
    size_t in_len, in_pos;
    unsigned char *raster;
    png_bytep *rows;
    png_uint_32 width, height;
    int channels;
    /* encoding: one source row and the growing output */
    const glia_image *img;
    const unsigned char *rgb; /* encoding colour instead: img's size, 3 bytes a pixel */
    unsigned char *row;
    unsigned char *out;
    size_t out_len, out_cap;
    /* how a run failed */
    bool oom, truncated, bad_size;
    char msg[256];
} png_job;

static png_voidp png_job_malloc(png_structp png, png_alloc_size_t size)
{
    png_job *job = png_get_mem_ptr(png);
    void *p = malloc(size);
    if (!p)
        job->oom = true;
    return p;
}

static void png_job_free(png_structp png, png_voidp p)
{
    (void)png;
    free(p);
}

static void png_job_error(png_structp png, png_const_charp msg)
{
    png_job *job = png_get_error_ptr(png);
    snprintf(job->msg, sizeof job->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings (benign CRC or chunk problems) do not change the pixels; core never prints them. */
static void png_job_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_job_read(png_structp png, png_bytep dst, size_t n)
{
    png_job *job = png_get_io_ptr(png);
    if (n > job->in_len - job->in_pos) {
        job->truncated = true;
        png_error(png, "unexpected end of data");
    }
    memcpy(dst, job->in + job->in_pos, n);
    job->in_pos += n;
}

/* Runs libpng over job->in into job->raster (8-bit, job->channels per pixel). Returns 0, or -1
 * with job->oom / truncated / bad_size / msg telling why; the caller releases the job either way. */
static int png_decode_run(png_job *job)
{
    job->png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, job, png_job_error, png_job_warning, job,
                                        png_job_malloc, png_job_free);
    if (!job->png) {
        snprintf(job->msg, sizeof job->msg, "cannot create a libpng reader");
        return -1;
    }
    job->info = png_create_info_struct(job->png);
    if (!job->info) {
        snprintf(job->msg, sizeof job->msg, "cannot create a libpng info struct");
        return -1;
    }
    if (setjmp(png_jmpbuf(job->png)))
        return -1;
    png_set_read_fn(job->png, job, png_job_read);
    /* libpng's own limit (1,000,000 per side) would fail inside png_read_info with a libpng
     * message; lifting it lets the check below give ours, still before any row exists. */
    png_set_user_limits(job->png, 0x7fffffffu, 0x7fffffffu);
    png_read_info(job->png, job->info);
    job->width = png_get_image_width(job->png, job->info);
    job->height = png_get_image_height(job->png, job->info);
    if (glia_image_check_size("PNG", job->width, job->height, NULL) != GLIA_OK) {
        job->bad_size = true;
        return -1;
    }
    png_set_expand(job->png); /* palette -> RGB, gray 1/2/4 -> 8 bits, tRNS -> alpha channel */
#ifdef PNG_READ_SCALE_16_TO_8_SUPPORTED
    png_set_scale_16(job->png); /* v * 255 / 65535, rounded */
#else
    png_set_strip_16(job->png);
#endif
    png_set_interlace_handling(job->png);
    png_read_update_info(job->png, job->info);
    job->channels = png_get_channels(job->png, job->info);
    size_t rowbytes = png_get_rowbytes(job->png, job->info);
    if (png_get_bit_depth(job->png, job->info) != 8 || job->channels < 1 || job->channels > 4 ||
        rowbytes != (size_t)job->width * (size_t)job->channels)
        png_error(job->png, "unexpected pixel layout after expansion");
    job->raster = malloc(rowbytes * job->height);
    job->rows = malloc(sizeof *job->rows * job->height);
    if (!job->raster || !job->rows) {
        job->oom = true;
        png_error(job->png, "out of memory for the pixels");
    }
    for (png_uint_32 y = 0; y < job->height; y++)
        job->rows[y] = job->raster + rowbytes * y;
    png_read_image(job->png, job->rows);
    /* Reading through IEND checks the last CRCs, so a file cut after its pixels is refused too. */
    png_read_end(job->png, NULL);
    return 0;
}

static glia_status decode_png(const unsigned char *buf, size_t len, glia_image *out, glia_err *err)
{
    png_job job = {.in = buf, .in_len = len};
    glia_image img = {0};
    glia_status rc;

    if (png_decode_run(&job) != 0) {
        if (job.oom)
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory while decoding a PNG image");
        else if (job.bad_size)
            rc = glia_image_check_size("PNG", job.width, job.height, err);
        else if (job.truncated)
            rc = glia_err_set(err, GLIA_EFORMAT, "truncated PNG image: the data ends after %zu bytes", len);
        else
            rc = glia_err_set(err, GLIA_EFORMAT, "corrupt PNG image: %s", job.msg);
        goto fail;
    }
    if ((rc = image_alloc(&img, (int)job.width, (int)job.height, err)))
        goto fail;
    size_t n = (size_t)job.width * job.height;
    const unsigned char *p = job.raster;
    for (size_t i = 0; i < n; i++, p += job.channels) {
        unsigned g, a = 255;
        switch (job.channels) {
        case 1: g = p[0]; break;
        case 2: g = p[0], a = p[1]; break;
        default:
            g = glia_image_luma(p[0], p[1], p[2]);
            if (job.channels == 4)
                a = p[3];
            break;
        }
        if (a != 255)
            g = (g * a + 127) / 255; /* over black: the background Fashion-MNIST models know */
        img.pixels[i] = (float)g;
    }
    free(job.rows);
    free(job.raster);
    png_destroy_read_struct(&job.png, &job.info, NULL);
    *out = img;
    return GLIA_OK;

fail:
    glia_image_free(&img);
    free(job.rows);
    free(job.raster);
    if (job.png)
        png_destroy_read_struct(&job.png, job.info ? &job.info : NULL, NULL);
    return rc;
}

static void png_job_write(png_structp png, png_bytep data, size_t n)
{
    png_job *job = png_get_io_ptr(png);
    if (n > job->out_cap - job->out_len) {
        size_t cap = job->out_cap ? job->out_cap : 4096;
        while (cap - job->out_len < n) {
            if (cap > SIZE_MAX / 2) {
                job->oom = true;
                png_error(png, "output too large");
            }
            cap *= 2;
        }
        unsigned char *grown = realloc(job->out, cap);
        if (!grown) {
            job->oom = true;
            png_error(png, "out of memory for the output");
        }
        job->out = grown;
        job->out_cap = cap;
    }
    memcpy(job->out + job->out_len, data, n);
    job->out_len += n;
}

static void png_job_flush(png_structp png)
{
    (void)png;
}

/* Writes job->img as 8-bit gray PNG into job->out (see png_decode_run for the failure contract). */
static int png_encode_run(png_job *job)
{
    const glia_image *img = job->img;
    job->png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, job, png_job_error, png_job_warning, job,
                                         png_job_malloc, png_job_free);
    if (!job->png) {
        snprintf(job->msg, sizeof job->msg, "cannot create a libpng writer");
        return -1;
    }
    job->info = png_create_info_struct(job->png);
    if (!job->info) {
        snprintf(job->msg, sizeof job->msg, "cannot create a libpng info struct");
        return -1;
    }
    if (setjmp(png_jmpbuf(job->png)))
        return -1;
    png_set_write_fn(job->png, job, png_job_write, png_job_flush);
    png_set_IHDR(job->png, job->info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 job->rgb ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(job->png, job->info);
    for (int y = 0; job->rgb && y < img->height; y++)
        png_write_row(job->png, (png_const_bytep)(job->rgb + (size_t)y * 3 * (size_t)img->width));
    for (int y = 0; !job->rgb && y < img->height; y++) {
        const float *src = img->pixels + (size_t)y * img->width;
        for (int x = 0; x < img->width; x++)
            job->row[x] = to_u8(src[x]);
        png_write_row(job->png, job->row);
    }
    png_write_end(job->png, NULL);
    return 0;
}

static glia_status encode_png(const glia_image *img, const unsigned char *rgb, unsigned char **out_buf,
                              size_t *out_len, glia_err *err)
{
    png_job job = {.img = img, .rgb = rgb};
    glia_status rc;

    *out_buf = NULL;
    *out_len = 0;
    if (!image_valid(img))
        return glia_err_set(err, GLIA_EINVAL, "cannot encode an empty or oversized image as PNG");
    job.row = malloc((size_t)img->width);
    if (!job.row) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory while encoding a PNG image");
        goto fail;
    }
    if (png_encode_run(&job) != 0) {
        if (job.oom || !job.png || !job.info)
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory while encoding a PNG image");
        else
            rc = glia_err_set(err, GLIA_EINVAL, "cannot encode a PNG image: %s", job.msg);
        goto fail;
    }
    png_destroy_write_struct(&job.png, &job.info);
    free(job.row);
    *out_buf = job.out;
    *out_len = job.out_len;
    return GLIA_OK;

fail:
    if (job.png)
        png_destroy_write_struct(&job.png, job.info ? &job.info : NULL);
    free(job.row);
    free(job.out);
    return rc;
}

glia_status glia_image_encode_png(const glia_image *img, unsigned char **out_buf, size_t *out_len,
                                  glia_err *err)
{
    return encode_png(img, NULL, out_buf, out_len, err);
}

glia_status glia_image_encode_png_rgb(const unsigned char *rgb, int width, int height,
                                      unsigned char **out_buf, size_t *out_len, glia_err *err)
{
    /* the size check wants an image; its pixels are not read */
    float dummy = 0.0f;
    const glia_image shape = {width, height, &dummy};
    return encode_png(&shape, rgb, out_buf, out_len, err);
}

/* ---- PGM (netpbm P5 and P2) -------------------------------------------------------------------- */

typedef struct {
    const unsigned char *p;
    size_t len, pos;
} cursor;

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Skips whitespace and '#' comments, which netpbm allows anywhere between header tokens. */
static void skip_space(cursor *c)
{
    while (c->pos < c->len) {
        if (c->p[c->pos] == '#') {
            while (c->pos < c->len && c->p[c->pos] != '\n' && c->p[c->pos] != '\r')
                c->pos++;
        } else if (is_space(c->p[c->pos])) {
            c->pos++;
        } else {
            break;
        }
    }
}

enum { NUM_OK, NUM_END, NUM_BAD };

/* Reads an unsigned decimal after optional whitespace/comments. Values saturate somewhere above
 * 2^40, which every caller treats as too large, so no digit string can overflow. */
static int read_uint(cursor *c, uint64_t *v)
{
    skip_space(c);
    if (c->pos == c->len)
        return NUM_END;
    if (c->p[c->pos] < '0' || c->p[c->pos] > '9')
        return NUM_BAD;
    uint64_t x = 0;
    while (c->pos < c->len && c->p[c->pos] >= '0' && c->p[c->pos] <= '9') {
        if (x < ((uint64_t)1 << 40))
            x = x * 10 + (uint64_t)(c->p[c->pos] - '0');
        c->pos++;
    }
    *v = x;
    return NUM_OK;
}

/* A printable description of the byte at the cursor, for "found ..." messages. */
static const char *found_at(const cursor *c, char buf[8])
{
    unsigned char ch = c->p[c->pos];
    if (ch >= 0x21 && ch < 0x7f)
        snprintf(buf, 8, "'%c'", ch);
    else
        snprintf(buf, 8, "0x%02x", ch);
    return buf;
}

static glia_status header_number(cursor *c, const char *name, uint64_t *v, glia_err *err)
{
    char found[8];
    switch (read_uint(c, v)) {
    case NUM_OK: return GLIA_OK;
    case NUM_END: return glia_err_set(err, GLIA_EFORMAT, "truncated PGM header: it ends before the %s", name);
    default:
        return glia_err_set(err, GLIA_EFORMAT, "corrupt PGM header: expected the %s, found %s", name,
                            found_at(c, found));
    }
}

static glia_status decode_pgm(const unsigned char *buf, size_t len, glia_image *out, glia_err *err)
{
    cursor c = {buf, len, 2};
    const bool ascii = buf[1] == '2';
    uint64_t w, h, maxval;
    glia_image img = {0};
    glia_status rc;
    char found[8];

    if (c.pos < len && !is_space(buf[c.pos]) && buf[c.pos] != '#')
        return glia_err_set(err, GLIA_EFORMAT,
                            "not a PNG, JPEG or PGM image (P%c not followed by whitespace)", buf[1]);
    if ((rc = header_number(&c, "width", &w, err)) || (rc = header_number(&c, "height", &h, err)) ||
        (rc = header_number(&c, "maxval", &maxval, err)))
        return rc;
    if ((rc = glia_image_check_size("PGM", w, h, err)))
        return rc;
    if (maxval == 0 || maxval > 65535)
        return glia_err_set(err, GLIA_EFORMAT, "corrupt PGM header: maxval %" PRIu64 " is not in 1..65535",
                            maxval);
    if (!ascii) {
        /* Exactly one whitespace character (or a comment through its line end) ends the header;
         * the next byte is already pixel data, even if it looks like whitespace. */
        if (c.pos == len)
            return glia_err_set(err, GLIA_EFORMAT, "truncated PGM image: no pixel data after the header");
        if (buf[c.pos] == '#') {
            while (c.pos < len && buf[c.pos] != '\n' && buf[c.pos] != '\r')
                c.pos++;
            if (c.pos < len)
                c.pos++;
        } else if (is_space(buf[c.pos])) {
            c.pos++;
        } else {
            return glia_err_set(err, GLIA_EFORMAT,
                                "corrupt PGM header: expected whitespace after maxval, found %s",
                                found_at(&c, found));
        }
    }

    size_t n = (size_t)w * (size_t)h;
    size_t bps = maxval < 256 ? 1 : 2;
    if (!ascii && len - c.pos < n * bps)
        return glia_err_set(err, GLIA_EFORMAT,
                            "truncated PGM image: expected %zu bytes of pixel data, found %zu", n * bps,
                            len - c.pos);
    if ((rc = image_alloc(&img, (int)w, (int)h, err)))
        goto fail;
    const double scale = 255.0 / (double)maxval;
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        if (ascii) {
            int r = read_uint(&c, &v);
            if (r == NUM_END) {
                rc = glia_err_set(err, GLIA_EFORMAT,
                                  "truncated PGM image: expected %zu pixel values, found %zu", n, i);
                goto fail;
            }
            if (r == NUM_BAD) {
                rc = glia_err_set(err, GLIA_EFORMAT, "corrupt PGM image: expected pixel value %zu, found %s",
                                  i, found_at(&c, found));
                goto fail;
            }
        } else if (bps == 1) {
            v = buf[c.pos + i];
        } else {
            v = (uint64_t)buf[c.pos + 2 * i] << 8 | buf[c.pos + 2 * i + 1];
        }
        if (v > maxval) {
            rc = glia_err_set(err, GLIA_EFORMAT,
                              "corrupt PGM image: pixel (%zu, %zu) is %" PRIu64 ", above maxval %" PRIu64,
                              i % (size_t)w, i / (size_t)w, v, maxval);
            goto fail;
        }
        img.pixels[i] = (float)((double)v * scale);
    }
    /* Bytes after the raster are ignored: a PGM file may hold further images; glia reads the first. */
    *out = img;
    return GLIA_OK;

fail:
    glia_image_free(&img);
    return rc;
}

glia_status glia_image_encode_pgm(const glia_image *img, unsigned char **out_buf, size_t *out_len,
                                  glia_err *err)
{
    char header[64];

    *out_buf = NULL;
    *out_len = 0;
    if (!image_valid(img))
        return glia_err_set(err, GLIA_EINVAL, "cannot encode an empty or oversized image as PGM");
    int hlen = snprintf(header, sizeof header, "P5\n%d %d\n255\n", img->width, img->height);
    size_t n = (size_t)img->width * img->height;
    unsigned char *buf = malloc((size_t)hlen + n);
    if (!buf)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory while encoding a PGM image");
    memcpy(buf, header, (size_t)hlen);
    for (size_t i = 0; i < n; i++)
        buf[(size_t)hlen + i] = to_u8(img->pixels[i]);
    *out_buf = buf;
    *out_len = (size_t)hlen + n;
    return GLIA_OK;
}

/* ---- decode / load ------------------------------------------------------------------------ */

glia_status glia_image_decode(const void *buf, size_t len, glia_image *out, glia_err *err)
{
    const unsigned char *p = buf;

    memset(out, 0, sizeof *out);
    if (len == 0)
        return glia_err_set(err, GLIA_EFORMAT, "empty image data: not a PNG, JPEG or PGM image");
    if (!p)
        return glia_err_set(err, GLIA_EINVAL, "image data is NULL");
    if (memcmp(p, png_signature, len < sizeof png_signature ? len : sizeof png_signature) == 0) {
        if (len <= sizeof png_signature)
            return glia_err_set(err, GLIA_EFORMAT,
                                "truncated PNG image: %zu bytes, no more than the signature", len);
        return decode_png(p, len, out, err);
    }
    if (glia_jpeg_magic(p, len))
        return glia_jpeg_decode(p, len, out, err);
    if (len >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '2'))
        return decode_pgm(p, len, out, err);
    if (len >= 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '7')
        return glia_err_set(
            err, GLIA_EFORMAT,
            "not a PNG, JPEG or PGM image (netpbm P%c; only grayscale P2/P5 is read, convert it to PGM "
            "or PNG)",
            p[1]);
    return glia_err_set(err, GLIA_EFORMAT, "not a PNG, JPEG or PGM image");
}

glia_status glia_image_size(const void *buf, size_t len, long *width, long *height, glia_err *err)
{
    const unsigned char *p = buf;
    uint64_t w = 0, h = 0;
    glia_status rc = GLIA_OK;
    enum { IHDR_END = 8 + 8 + 8 }; /* signature, chunk length and type, width and height */
    if (p && len >= IHDR_END && memcmp(p, png_signature, sizeof png_signature) == 0) {
        /* the PNG specification puts IHDR first; libpng refuses a file where it is not */
        if (memcmp(p + 12, "IHDR", 4) != 0)
            return glia_err_set(err, GLIA_EFORMAT, "corrupt PNG image: it does not start with IHDR");
        for (int i = 0; i < 4; i++) {
            w = w << 8 | p[16 + i];
            h = h << 8 | p[20 + i];
        }
    } else if (p && glia_jpeg_magic(p, len)) {
        if ((rc = glia_jpeg_size(p, len, &w, &h, err)))
            return rc;
    } else if (p && len >= 3 && p[0] == 'P' && (p[1] == '5' || p[1] == '2')) {
        cursor c = {p, len, 2};
        if ((rc = header_number(&c, "width", &w, err)) || (rc = header_number(&c, "height", &h, err)))
            return rc;
    } else {
        return glia_err_set(err, GLIA_EFORMAT,
                            "not a PNG, JPEG or PGM image (or too short to hold its size)");
    }
    /* PNG caps each side at 2^31 - 1 (libpng refuses more), and so does this for PGM: the
     * caller multiplies the two (pixels against limits.max_pixels), which then fits a long */
    if (w == 0 || h == 0 || w > 0x7fffffff || h > 0x7fffffff)
        return glia_err_set(
            err, GLIA_EFORMAT,
            "the image declares %" PRIu64 " x %" PRIu64 " pixels: each side must be 1 to 2147483647", w, h);
    *width = (long)w;
    *height = (long)h;
    return GLIA_OK;
}

glia_status glia_image_load(const char *path, glia_image *out, glia_err *err)
{
    unsigned char *buf = NULL;
    size_t len = 0, cap = 64 * 1024;
    glia_status rc;

    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return glia_err_set(err, errno == ENOENT ? GLIA_ENOTFOUND : GLIA_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    /* Read to EOF with a growing buffer rather than trusting st_size: pipes and files that change
     * under us behave the same way. */
    for (;;) {
        if (len == cap || !buf) {
            if (buf && cap >= MAX_FILE_BYTES) {
                rc =
                    glia_err_set(err, GLIA_EFORMAT, "%s: file is larger than %zu bytes; not read as an image",
                                 path, (size_t)MAX_FILE_BYTES);
                goto fail;
            }
            size_t ncap = buf ? cap * 2 : cap;
            unsigned char *grown = realloc(buf, ncap);
            if (!grown) {
                rc = glia_err_set(err, GLIA_ENOMEM, "%s: out of memory reading %zu bytes", path, ncap);
                goto fail;
            }
            buf = grown;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = glia_err_set(err, GLIA_EIO, "%s: read failed: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    fd = -1;
    if ((rc = glia_image_decode(buf, len, out, err))) {
        glia_err_prefix(err, "%s", path);
        goto fail;
    }
    free(buf);
    return GLIA_OK;

fail:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* ---- resize ------------------------------------------------------------------------------- */

/* Source taps of one axis: output index i reads count[i] source indices from first[i] on, with
 * weights weight[i * taps ...]. */
typedef struct {
    int taps;
    int *first, *count;
    double *weight;
} axis_map;

static void axis_free(axis_map *a)
{
    free(a->first);
    free(a->count);
    free(a->weight);
}

static glia_status axis_build(int s, int d, axis_map *a, glia_err *err)
{
    /* A box of s/d source pixels starting anywhere touches at most s/d + 2 of them. */
    a->taps = d == s ? 1 : d < s ? s / d + 2 : 2;
    a->first = malloc(sizeof *a->first * (size_t)d);
    a->count = malloc(sizeof *a->count * (size_t)d);
    a->weight = calloc((size_t)d * (size_t)a->taps, sizeof *a->weight);
    if (!a->first || !a->count || !a->weight) /* the caller's axis_free releases the rest */
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for resize tables");
    for (int i = 0; i < d; i++) {
        double *w = a->weight + (size_t)i * a->taps;
        if (d == s) {
            a->first[i] = i;
            a->count[i] = 1;
            w[0] = 1.0;
        } else if (d < s) {
            /* In units of 1/d source pixel, output i covers [i*s, (i+1)*s) and source pixel k
             * covers [k*d, (k+1)*d): integer overlaps, so the weights are exact fractions of s. */
            int64_t lo = (int64_t)i * s, hi = lo + s;
            int k0 = (int)(lo / d), k1 = (int)((hi - 1) / d);
            a->first[i] = k0;
            a->count[i] = k1 - k0 + 1;
            GLIA_ASSERT(a->count[i] <= a->taps);
            for (int k = k0; k <= k1; k++) {
                int64_t a0 = lo > (int64_t)k * d ? lo : (int64_t)k * d;
                int64_t a1 = hi < (int64_t)(k + 1) * d ? hi : (int64_t)(k + 1) * d;
                w[k - k0] = (double)(a1 - a0) / s;
            }
        } else {
            /* Half-pixel centres; PyTorch clamps the left edge to 0 and repeats the last pixel. */
            double x = ((double)i + 0.5) * s / d - 0.5;
            if (x < 0.0)
                x = 0.0;
            int k0 = (int)x;
            if (k0 >= s - 1) {
                a->first[i] = s - 1;
                a->count[i] = 1;
                w[0] = 1.0;
            } else {
                a->first[i] = k0;
                a->count[i] = 2;
                w[1] = x - k0;
                w[0] = 1.0 - w[1];
            }
        }
    }
    return GLIA_OK;
}

glia_status glia_image_resize(const glia_image *src, int w, int h, glia_image *dst, glia_err *err)
{
    axis_map ax = {0}, ay = {0};
    glia_image img = {0};
    double *acc = NULL;
    glia_status rc;

    GLIA_ASSERT(dst != src);
    memset(dst, 0, sizeof *dst);
    if (!image_valid(src))
        return glia_err_set(err, GLIA_EINVAL, "cannot resize an empty or oversized image");
    if (w < 1 || h < 1 || w > GLIA_IMAGE_MAX_SIDE || h > GLIA_IMAGE_MAX_SIDE ||
        (size_t)w * (size_t)h > GLIA_IMAGE_MAX_PIXELS)
        return glia_err_set(err, GLIA_EINVAL,
                            "cannot resize to %d x %d: sides must be 1..%d and at most %d Mpixels", w, h,
                            GLIA_IMAGE_MAX_SIDE, GLIA_IMAGE_MAX_PIXELS >> 20);
    if ((rc = image_alloc(&img, w, h, err)))
        goto fail;
    if (w == src->width && h == src->height) {
        memcpy(img.pixels, src->pixels, sizeof(float) * (size_t)w * h);
        *dst = img;
        return GLIA_OK;
    }
    if ((rc = axis_build(src->width, w, &ax, err)) || (rc = axis_build(src->height, h, &ay, err)))
        goto fail;
    acc = malloc(sizeof *acc * (size_t)w);
    if (!acc) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for a resize row");
        goto fail;
    }
    /* Each output row is the weighted sum of horizontally resampled source rows. Recomputing a
     * source row for each output row that uses it (at most about twice) keeps memory at one row. */
    for (int yo = 0; yo < h; yo++) {
        memset(acc, 0, sizeof *acc * (size_t)w);
        const double *wy = ay.weight + (size_t)yo * ay.taps;
        for (int ky = 0; ky < ay.count[yo]; ky++) {
            const float *row = src->pixels + (size_t)(ay.first[yo] + ky) * src->width;
            for (int xo = 0; xo < w; xo++) {
                const double *wx = ax.weight + (size_t)xo * ax.taps;
                const float *px = row + ax.first[xo];
                double s = 0.0;
                for (int kx = 0; kx < ax.count[xo]; kx++)
                    s += wx[kx] * px[kx];
                acc[xo] += wy[ky] * s;
            }
        }
        float *out = img.pixels + (size_t)yo * w;
        for (int xo = 0; xo < w; xo++)
            out[xo] = (float)acc[xo];
    }
    free(acc);
    axis_free(&ax);
    axis_free(&ay);
    *dst = img;
    return GLIA_OK;

fail:
    free(acc);
    axis_free(&ax);
    axis_free(&ay);
    glia_image_free(&img);
    return rc;
}
