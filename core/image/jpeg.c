/*
 * jpeg.c - see jpeg.h. JPEG decoding through libjpeg-turbo, and the SOF size read by hand.
 *
 * libjpeg reports errors through error_exit, which by default prints and calls exit(): here it
 * longjmps back to jpeg_decode_run(), the one function that does setjmp, and everything libjpeg
 * or this file acquires lives in a job struct owned by its caller (as image.c does for libpng),
 * so that no local of the jumping frame is read after the jump. libjpeg does not stop at
 * truncated or corrupt entropy-coded data: it warns ("Premature end of JPEG file", "Corrupt
 * JPEG data: ...") and fills the rest with gray or garbage. A classifier must not answer for
 * pixels nobody sent, so every warning that means "pixels were made up" is an error too; the
 * few that leave the pixels as they were (extra bytes before a marker, an unknown JFIF
 * revision, a bad ICC profile glia does not use) are not.
 *
 * Colour: YCbCr and RGB are decoded to RGB and turned to luma as PNG colour is (PIL's
 * convert('L')); CMYK and YCCK come out as CMYK, inverted first when an Adobe APP14 marker is
 * present (Photoshop stores 255 - ink), then R = (255 - K)(255 - C) / 255 and so on, as
 * Pillow's CMYK -> RGB does, then the same luma.
 */
#include "core/image/jpeg.h"

#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

/* A progressive JPEG may hold any number of scans, each a pass over every coefficient; a
 * legitimate file has about ten (jpegtran's script), so more than this is a denial of
 * service rather than an image (libjpeg-turbo's fuzzers stop at 500 for the same reason). */
#define MAX_SCANS 100

typedef struct {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    unsigned char *raster; /* output_components x width x height, 8-bit */
    JDIMENSION width, height;
    int components;
    bool bad_size, too_many_scans;
    char msg[JMSG_LENGTH_MAX];
} jpeg_job;

static jpeg_job *job_of(j_common_ptr cinfo)
{
    return cinfo->client_data;
}

static void jpeg_job_error(j_common_ptr cinfo)
{
    jpeg_job *job = job_of(cinfo);
    cinfo->err->format_message(cinfo, job->msg);
    longjmp(job->jump, 1);
}

/* Warnings after which the pixels are still the file's own. */
static bool warning_is_benign(int code)
{
    return code == JWRN_EXTRANEOUS_DATA || code == JWRN_JFIF_MAJOR || code == JWRN_BOGUS_ICC;
}

/* level -1 is a warning, 0 and up are traces; libjpeg's default prints them. */
static void jpeg_job_message(j_common_ptr cinfo, int level)
{
    if (level < 0 && !warning_is_benign(cinfo->err->msg_code))
        jpeg_job_error(cinfo);
}

static void jpeg_job_output(j_common_ptr cinfo)
{
    (void)cinfo;
}

static void jpeg_job_progress(j_common_ptr cinfo)
{
    jpeg_job *job = job_of(cinfo);
    if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > MAX_SCANS) {
        job->too_many_scans = true;
        snprintf(job->msg, sizeof job->msg, "more than %d scans", MAX_SCANS);
        longjmp(job->jump, 1);
    }
}

/* Runs libjpeg over buf into job->raster. Returns 0, or -1 with job->bad_size / too_many_scans
 * / msg telling why; the caller destroys the decompressor and frees the raster either way. */
static int jpeg_decode_run(jpeg_job *job, const unsigned char *buf, size_t len)
{
    struct jpeg_decompress_struct *c = &job->cinfo;
    c->err = jpeg_std_error(&job->jerr);
    job->jerr.error_exit = jpeg_job_error;
    job->jerr.emit_message = jpeg_job_message;
    job->jerr.output_message = jpeg_job_output;
    c->client_data = job;
    if (setjmp(job->jump))
        return -1;
    jpeg_create_decompress(c);
    job->progress.progress_monitor = jpeg_job_progress;
    c->progress = &job->progress;
    jpeg_mem_src(c, buf, (unsigned long)len);
    jpeg_read_header(c, TRUE);
    job->width = c->image_width;
    job->height = c->image_height;
    if (glia_image_check_size("JPEG", c->image_width, c->image_height, NULL) != GLIA_OK) {
        job->bad_size = true;
        return -1;
    }
    switch (c->jpeg_color_space) {
    case JCS_GRAYSCALE: c->out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: c->out_color_space = JCS_CMYK; break;
    default: c->out_color_space = JCS_RGB; break;
    }
    jpeg_start_decompress(c);
    job->components = c->output_components;
    if (c->output_width != job->width || c->output_height != job->height ||
        (job->components != 1 && job->components != 3 && job->components != 4)) {
        snprintf(job->msg, sizeof job->msg, "unexpected output layout (%d components)", job->components);
        return -1;
    }
    const size_t rowbytes = (size_t)job->width * (size_t)job->components;
    job->raster = malloc(rowbytes * job->height);
    if (!job->raster)
        ERREXIT1(c, JERR_OUT_OF_MEMORY, 0);
    while (c->output_scanline < c->output_height) {
        JSAMPROW row = job->raster + rowbytes * c->output_scanline;
        if (jpeg_read_scanlines(c, &row, 1) != 1) {
            snprintf(job->msg, sizeof job->msg, "no more scanlines at row %u", c->output_scanline);
            return -1;
        }
    }
    /* Reading through EOI: a file cut after its last scan line is refused too. */
    jpeg_finish_decompress(c);
    return 0;
}

/* Pillow's CMYK -> RGB channel: (255 - k) - ink * (255 - k) / 255, rounded as its MULDIV255. */
static unsigned cmyk_channel(unsigned ink, unsigned k)
{
    const unsigned nk = 255 - k, t = ink * nk + 128;
    return nk - (((t >> 8) + t) >> 8);
}

glia_status glia_jpeg_decode(const void *buf, size_t len, glia_image *out, glia_err *err)
{
    jpeg_job job;
    glia_status rc;
    float *pixels = NULL;

    memset(&job, 0, sizeof job);
    memset(out, 0, sizeof *out);
    if (jpeg_decode_run(&job, buf, len) != 0) {
        if (job.bad_size)
            rc = glia_image_check_size("JPEG", job.width, job.height, err);
        else if (job.too_many_scans)
            rc = glia_err_set(err, GLIA_EFORMAT, "corrupt JPEG image: %s", job.msg);
        else if (job.jerr.msg_code == JERR_OUT_OF_MEMORY)
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory while decoding a JPEG image");
        else if (job.jerr.msg_code == JWRN_JPEG_EOF)
            rc = glia_err_set(err, GLIA_EFORMAT, "truncated JPEG image: the data ends after %zu bytes", len);
        else
            rc = glia_err_set(err, GLIA_EFORMAT, "corrupt JPEG image: %s", job.msg);
        goto done;
    }
    const size_t n = (size_t)job.width * job.height;
    pixels = malloc(sizeof *pixels * n);
    if (!pixels) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for a %u x %u image", job.width, job.height);
        goto done;
    }
    const bool inverted = job.cinfo.saw_Adobe_marker;
    const unsigned char *p = job.raster;
    for (size_t i = 0; i < n; i++, p += job.components) {
        if (job.components == 1) {
            pixels[i] = p[0];
        } else if (job.components == 3) {
            pixels[i] = (float)glia_image_luma(p[0], p[1], p[2]);
        } else {
            unsigned ink[4];
            for (int k = 0; k < 4; k++)
                ink[k] = inverted ? 255u - p[k] : p[k];
            pixels[i] = (float)glia_image_luma(cmyk_channel(ink[0], ink[3]), cmyk_channel(ink[1], ink[3]),
                                               cmyk_channel(ink[2], ink[3]));
        }
    }
    out->width = (int)job.width;
    out->height = (int)job.height;
    out->pixels = pixels;
    rc = GLIA_OK;
done:
    jpeg_destroy_decompress(&job.cinfo); /* safe before create: it checks cinfo.mem */
    free(job.raster);
    return rc;
}

bool glia_jpeg_magic(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    return p && len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff;
}

/* SOF0..SOF15 are C0..CF except DHT (C4), JPG (C8) and DAC (CC), which share the range. */
static bool is_sof(unsigned char m)
{
    return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

glia_status glia_jpeg_size(const void *buf, size_t len, uint64_t *width, uint64_t *height, glia_err *err)
{
    const unsigned char *p = buf;
    if (!glia_jpeg_magic(p, len))
        return glia_err_set(err, GLIA_EFORMAT, "not a JPEG image");
    size_t pos = 2;
    for (;;) {
        /* a marker is FF, any number of FF fill bytes, then its code */
        if (pos >= len)
            break;
        if (p[pos] != 0xff)
            return glia_err_set(err, GLIA_EFORMAT, "corrupt JPEG image: expected a marker at byte %zu", pos);
        while (pos < len && p[pos] == 0xff)
            pos++;
        if (pos >= len)
            break;
        const unsigned char m = p[pos++];
        if (m == 0x01 || (m >= 0xd0 && m <= 0xd8)) /* TEM, RSTn, SOI: no segment */
            continue;
        if (m == 0xd9 || m == 0xda)
            return glia_err_set(err, GLIA_EFORMAT, "corrupt JPEG image: %s before any frame header",
                                m == 0xd9 ? "end of image" : "a scan");
        if (len - pos < 2)
            break;
        const size_t seg = (size_t)p[pos] << 8 | p[pos + 1];
        if (seg < 2)
            return glia_err_set(err, GLIA_EFORMAT, "corrupt JPEG image: marker 0x%02x has length %zu", m,
                                seg);
        if (is_sof(m)) {
            /* length, precision, then height and width, big-endian */
            if (seg < 8)
                return glia_err_set(err, GLIA_EFORMAT, "corrupt JPEG image: a frame header of %zu bytes",
                                    seg);
            if (len - pos < 7)
                break;
            *height = (uint64_t)p[pos + 3] << 8 | p[pos + 4];
            *width = (uint64_t)p[pos + 5] << 8 | p[pos + 6];
            return GLIA_OK;
        }
        if (len - pos < seg)
            break;
        pos += seg;
    }
    return glia_err_set(err, GLIA_EFORMAT,
                        "truncated JPEG image: it ends after %zu bytes, before its frame header", len);
}
