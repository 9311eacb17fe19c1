/*
 * idx.c - IDX reader (Fashion-MNIST's format), gzip-aware.
 *
 * Design: one sequential byte source over the file, either raw or inflated by zlib (chosen by the
 * gzip magic 1f 8b, so a decompressed copy of a .gz file and the .gz itself both load). The header
 * is read and validated completely - magic, element type, ndim, every dimension, the product
 * against GLIA_IDX_MAX_BYTES - before the payload buffer exists, so a corrupt or hostile header
 * never turns into a huge allocation. The payload is then read in one go and the source must end
 * right after it: a short payload, trailing bytes, a corrupt gzip member or a gzip stream cut
 * before its CRC trailer are all errors, because a silently shortened training set is worse than
 * a refusal. zlib is driven through inflate() rather than gzread() so its allocations go through
 * malloc/free here, where the tests' fault injection reaches them.
 *
 * Never: print, exit, read past what the header announces without reporting it, or leave *out
 * half-filled on failure.
 */
#include "core/formats/idx.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* File input is read in chunks of this size (inflate input, raw-mode header bytes). */
enum { IN_CHUNK = 64 * 1024 };

/* A gzip payload's buffer starts at this size and doubles as the data arrives. */
enum { GZ_FIRST_BYTES = 1 << 20 };

/* Trailing bytes are counted up to this many for the message, then reported as "at least". */
enum { TRAILING_COUNT_MAX = 1 << 20 };

typedef struct {
    FILE *f;
    unsigned char *in; /* IN_CHUNK bytes of file input */
    size_t in_pos, in_len;
    bool gz;
    bool z_ready; /* inflateInit2 succeeded: inflateEnd is owed */
    bool z_done;  /* the last gzip member ended and the file ended with it */
    bool z_cut;   /* the file ended inside a gzip member */
    z_stream zs;
} src;

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    if (size != 0 && items > SIZE_MAX / size)
        return Z_NULL;
    return malloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    free(p);
}

/* Refills src->in from the file when it is empty; sets *n to the bytes now buffered (0 at EOF). */
static glia_status src_fill(src *s, const char *path, size_t *n, glia_err *err)
{
    if (s->in_pos == s->in_len) {
        s->in_pos = 0;
        s->in_len = fread(s->in, 1, IN_CHUNK, s->f);
        if (s->in_len == 0 && ferror(s->f))
            return glia_err_set(err, GLIA_EIO, "%s: read failed: %s", path, strerror(errno));
    }
    *n = s->in_len - s->in_pos;
    return GLIA_OK;
}

/* Reads up to n bytes into dst; *got < n only at the end of the data (or of a cut gzip stream,
 * which sets s->z_cut). Errors are I/O failures and corrupt gzip data. */
static glia_status src_read(src *s, const char *path, void *dst, size_t n, size_t *got, glia_err *err)
{
    unsigned char *out = dst;
    size_t avail = 0;
    glia_status rc;
    *got = 0;
    if (!s->gz) {
        size_t take = s->in_len - s->in_pos < n ? s->in_len - s->in_pos : n;
        memcpy(out, s->in + s->in_pos, take);
        s->in_pos += take;
        *got = take;
        if (*got < n) {
            /* The buffer is drained: bulk payload goes straight from the file to dst. */
            *got += fread(out + take, 1, n - take, s->f);
            if (*got < n && ferror(s->f))
                return glia_err_set(err, GLIA_EIO, "%s: read failed: %s", path, strerror(errno));
        }
        return GLIA_OK;
    }
    while (*got < n && !s->z_done && !s->z_cut) {
        if ((rc = src_fill(s, path, &avail, err)))
            return rc;
        if (avail == 0) {
            s->z_cut = true;
            break;
        }
        size_t want = n - *got < UINT_MAX ? n - *got : UINT_MAX;
        s->zs.next_in = s->in + s->in_pos;
        s->zs.avail_in = (uInt)avail;
        s->zs.next_out = out + *got;
        s->zs.avail_out = (uInt)want;
        int zr = inflate(&s->zs, Z_NO_FLUSH);
        s->in_pos = s->in_len - s->zs.avail_in;
        *got += want - s->zs.avail_out;
        if (zr == Z_STREAM_END) {
            /* gzip allows several members back to back (gzip a b > c); anything else after a
             * member is garbage, not data we could attribute to the file. */
            if ((rc = src_fill(s, path, &avail, err)))
                return rc;
            if (avail == 0) {
                s->z_done = true;
            } else if (s->in[s->in_pos] == 0x1f) {
                inflateReset(&s->zs);
            } else {
                return glia_err_set(err, GLIA_EFORMAT,
                                    "%s: unexpected bytes after the end of the gzip stream", path);
            }
        } else if (zr == Z_MEM_ERROR) {
            return glia_err_set(err, GLIA_ENOMEM, "%s: out of memory while decompressing", path);
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            return glia_err_set(err, GLIA_EFORMAT, "%s: corrupt gzip data: %s", path,
                                s->zs.msg ? s->zs.msg : zError(zr));
        }
    }
    return GLIA_OK;
}

static const char *type_name(unsigned t)
{
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    }
    return "unknown";
}

static const char *cut_note(const src *s)
{
    return s->z_cut ? " (the gzip stream is cut short)" : "";
}

/* Opens path for reading through s, decompressing when it starts with the gzip magic. */
static glia_status src_open(src *s, const char *path, glia_err *err)
{
    size_t avail = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return glia_err_set(err, errno == ENOENT ? GLIA_ENOTFOUND : GLIA_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    s->f = fdopen(fd, "rb");
    if (!s->f) {
        glia_status rc = glia_err_set(err, GLIA_EIO, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (!(s->in = malloc(IN_CHUNK)))
        return glia_err_set(err, GLIA_ENOMEM, "%s: out of memory for the read buffer", path);
    glia_status rc = src_fill(s, path, &avail, err);
    if (rc || avail < 2 || s->in[0] != 0x1f || s->in[1] != 0x8b)
        return rc;
    s->gz = true;
    s->zs.zalloc = z_alloc;
    s->zs.zfree = z_free;
    int zr = inflateInit2(&s->zs, 15 + 16); /* 15-bit window, gzip wrapper only */
    if (zr != Z_OK)
        return glia_err_set(err, zr == Z_MEM_ERROR ? GLIA_ENOMEM : GLIA_EFORMAT,
                            "%s: cannot start gzip decompression: %s", path, zError(zr));
    s->z_ready = true;
    return GLIA_OK;
}

static void src_close(src *s)
{
    if (s->z_ready)
        inflateEnd(&s->zs);
    free(s->in);
    if (s->f)
        fclose(s->f);
}

/* The magic (type, ndim) and the dimensions into idx; *total: the payload's bytes. Everything
 * is checked before the payload is allocated. */
static glia_status read_header(src *s, const char *path, glia_idx *idx, size_t *total, glia_err *err)
{
    unsigned char hdr[4 + 4 * GLIA_IDX_MAX_DIMS];
    size_t got = 0;
    glia_status rc = src_read(s, path, hdr, 4, &got, err);
    if (rc)
        return rc;
    if (got == 0 && !s->z_cut)
        return glia_err_set(err, GLIA_EFORMAT, "%s: empty file, not an IDX file", path);
    if (got < 4)
        return glia_err_set(err, GLIA_EFORMAT, "%s: truncated header: expected 4 magic bytes, found %zu%s",
                            path, got, cut_note(s));
    if (hdr[0] != 0 || hdr[1] != 0)
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s: not an IDX file: magic starts %02x %02x, expected 00 00 (type, ndim)", path,
                            hdr[0], hdr[1]);
    if (hdr[2] != 0x08)
        return glia_err_set(err, GLIA_EUNSUPPORTED,
                            "%s: element type 0x%02X (%s) is not supported; glia reads unsigned-byte (0x08) "
                            "IDX files only",
                            path, hdr[2], type_name(hdr[2]));
    if (hdr[3] == 0 || hdr[3] > GLIA_IDX_MAX_DIMS)
        return glia_err_set(err, hdr[3] == 0 ? GLIA_EFORMAT : GLIA_EUNSUPPORTED,
                            "%s: %u dimensions; glia reads IDX files with 1 to %d", path, hdr[3],
                            GLIA_IDX_MAX_DIMS);
    idx->ndim = hdr[3];
    size_t dims_len = 4 * (size_t)idx->ndim;
    if ((rc = src_read(s, path, hdr + 4, dims_len, &got, err)))
        return rc;
    if (got < dims_len)
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s: truncated header: expected %zu bytes of dimensions, found %zu%s", path,
                            dims_len, got, cut_note(s));
    *total = 1;
    bool too_big = false;
    for (int i = 0; i < idx->ndim; i++) {
        const unsigned char *p = hdr + 4 + 4 * i;
        uint32_t d = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
        if (d == 0)
            return glia_err_set(err, GLIA_EFORMAT, "%s: dimension %d is 0", path, i);
        idx->dims[i] = d;
        /* Dividing first keeps the product from overflowing whatever the dims are. */
        if (!too_big && d > GLIA_IDX_MAX_BYTES / *total)
            too_big = true;
        else if (!too_big)
            *total *= d;
    }
    if (too_big) {
        char shape[64] = "";
        for (int i = 0; i < idx->ndim; i++) {
            size_t l = strlen(shape);
            snprintf(shape + l, sizeof shape - l, "%s%u", i ? " x " : "", idx->dims[i]);
        }
        return glia_err_set(err, GLIA_EFORMAT, "%s: dimensions %s exceed the %zu-byte (1 GiB) limit", path,
                            shape, (size_t)GLIA_IDX_MAX_BYTES);
    }
    return GLIA_OK;
}

/* Exactly total bytes into idx->data (allocated here), then the end of the data. */
static glia_status read_payload(src *s, const char *path, glia_idx *idx, size_t total, glia_err *err)
{
    size_t got = 0, cap = total, chunk = 0;
    struct stat st;
    glia_status rc = GLIA_OK;
    /* The header's size is not trusted with memory before the data backs it (a 20-byte upload
     * claiming 1 GiB). A raw file's size is known: more than it holds is refused before the
     * buffer exists. A gzip stream's size is only known by inflating it: the buffer starts
     * small and doubles as data arrives, so memory follows what the stream really holds. */
    const size_t header = 4 + 4 * (size_t)idx->ndim;
    if (!s->gz && fstat(fileno(s->f), &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size - header < total)
        return glia_err_set(err, GLIA_EFORMAT, "%s: truncated: expected %zu bytes of data, found %zu", path,
                            total, (size_t)st.st_size - header);
    if (s->gz && cap > GZ_FIRST_BYTES)
        cap = GZ_FIRST_BYTES;
    if (!(idx->data = malloc(cap)))
        return glia_err_set(err, GLIA_ENOMEM, "%s: out of memory for %zu bytes of data", path, cap);
    idx->size = total;
    for (;;) {
        if ((rc = src_read(s, path, idx->data + got, cap - got, &chunk, err)))
            return rc;
        got += chunk;
        if (got < cap || cap == total)
            break;
        unsigned char *grown = realloc(idx->data, cap = cap > total / 2 ? total : 2 * cap);
        if (!grown)
            return glia_err_set(err, GLIA_ENOMEM, "%s: out of memory for %zu bytes of data", path, cap);
        idx->data = grown;
    }
    if (got < total)
        return glia_err_set(err, GLIA_EFORMAT, "%s: truncated: expected %zu bytes of data, found %zu%s", path,
                            total, got, cut_note(s));
    size_t trailing = 0;
    unsigned char scratch[4096];
    do {
        if ((rc = src_read(s, path, scratch, sizeof scratch, &got, err)))
            return rc;
        trailing += got;
    } while (got == sizeof scratch && trailing < TRAILING_COUNT_MAX);
    if (trailing > 0)
        return glia_err_set(err, GLIA_EFORMAT, "%s: %s%zu unexpected bytes after the %zu bytes of data", path,
                            trailing >= TRAILING_COUNT_MAX ? "at least " : "", trailing, total);
    if (s->z_cut) /* all the data arrived but the CRC and length trailer did not: it cannot be verified */
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s: truncated gzip stream: the data is complete but its CRC trailer is missing",
                            path);
    return GLIA_OK;
}

glia_status glia_idx_load(const char *path, glia_idx *out, glia_err *err)
{
    src s = {0};
    glia_idx idx = {0};
    size_t total = 0;
    memset(out, 0, sizeof *out);
    glia_status rc = src_open(&s, path, err);
    if (rc == GLIA_OK)
        rc = read_header(&s, path, &idx, &total, err);
    if (rc == GLIA_OK)
        rc = read_payload(&s, path, &idx, total, err);
    src_close(&s);
    if (rc != GLIA_OK) {
        free(idx.data);
        return rc;
    }
    *out = idx;
    return GLIA_OK;
}

void glia_idx_free(glia_idx *idx)
{
    if (!idx)
        return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}
