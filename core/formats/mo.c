/*
 * mo.c - see mo.h.
 *
 * A catalog is read whole (the largest glia reads, gcc-12.mo, is about 2 MB), checked once (every
 * descriptor and terminating NUL) and indexed: the messages point into the owned copy.
 */
#include "core/formats/mo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Catalogs above this are refused: the real ones are below 3 MB. */
enum { MAX_FILE_BYTES = 256 << 20, HEADER_BYTES = 28 };

static uint32_t rd32(const unsigned char *p, bool big_endian)
{
    if (big_endian)
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

void glia_mo_catalog_free(glia_mo_catalog *c)
{
    if (!c)
        return;
    free(c->messages);
    free(c->data);
    memset(c, 0, sizeof *c);
}

/* One string of a table: descriptor i of the table at table_off; what names "msgid"/"msgstr". */
static glia_status take_string(const char *name, const glia_mo_catalog *c, uint32_t table_off, size_t i,
                               const char *what, const char **s, size_t *len, glia_err *err)
{
    size_t desc = (size_t)table_off + 8 * i;
    uint32_t n = rd32(c->data + desc, c->big_endian), off = rd32(c->data + desc + 4, c->big_endian);
    if ((uint64_t)off + n + 1 > c->size)
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s: %s %zu (descriptor at byte %zu) is %u bytes at byte %u, past the end of the "
                            "file (%zu bytes)",
                            name, what, i, desc, n, off, c->size);
    if (c->data[(size_t)off + n] != '\0')
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s: %s %zu at byte %u is not NUL-terminated (byte %zu is 0x%02x)", name, what, i,
                            off, (size_t)off + n, c->data[(size_t)off + n]);
    *s = (const char *)c->data + off;
    *len = n;
    return GLIA_OK;
}

/* Indexes the owned bytes already in c->data/c->size. */
static glia_status index_catalog(const char *name, glia_mo_catalog *c, glia_err *err)
{
    if (c->size < HEADER_BYTES)
        return glia_err_set(err, GLIA_EFORMAT, "%s: %zu bytes, too short for the %d-byte .mo header", name,
                            c->size, HEADER_BYTES);
    if (rd32(c->data, false) == GLIA_MO_MAGIC)
        c->big_endian = false;
    else if (rd32(c->data, true) == GLIA_MO_MAGIC)
        c->big_endian = true;
    else
        return glia_err_set(
            err, GLIA_EFORMAT,
            "%s: bad magic 0x%08x at byte 0 (a .mo file starts with 0x950412de in either byte "
            "order)",
            name, rd32(c->data, false));
    c->revision = rd32(c->data + 4, c->big_endian);
    if (c->revision >> 16 > 1)
        return glia_err_set(err, GLIA_EUNSUPPORTED,
                            "%s: revision %u.%u at byte 4; glia reads major revisions 0 and 1", name,
                            c->revision >> 16, c->revision & 0xffff);
    uint32_t n = rd32(c->data + 8, c->big_endian);
    uint32_t tables[2] = {rd32(c->data + 12, c->big_endian), rd32(c->data + 16, c->big_endian)};
    static const char *const what[2] = {"msgid", "msgstr"};
    for (int k = 0; k < 2; k++)
        if ((uint64_t)tables[k] + (uint64_t)n * 8 > c->size)
            return glia_err_set(
                err, GLIA_EFORMAT,
                "%s: the %s table at byte %u (%u strings, header byte %d) ends past the end of the "
                "file (%zu bytes)",
                name, what[k], tables[k], n, 12 + 4 * k, c->size);
    c->messages = calloc(n ? n : 1, sizeof *c->messages);
    if (!c->messages)
        return glia_err_set(err, GLIA_ENOMEM, "%s: out of memory for %u messages", name, n);
    for (size_t i = 0; i < n; i++) {
        glia_mo_message *m = &c->messages[i];
        glia_status rc = take_string(name, c, tables[0], i, what[0], &m->id, &m->id_len, err);
        if (rc == GLIA_OK)
            rc = take_string(name, c, tables[1], i, what[1], &m->str, &m->str_len, err);
        if (rc != GLIA_OK)
            return rc;
    }
    c->n = n;
    return GLIA_OK;
}

glia_status glia_mo_parse(const char *name, const void *data, size_t size, glia_mo_catalog *out,
                          glia_err *err)
{
    GLIA_ASSERT(out != NULL && (data != NULL || size == 0));
    memset(out, 0, sizeof *out);
    out->data = malloc(size ? size : 1);
    if (!out->data)
        return glia_err_set(err, GLIA_ENOMEM, "%s: out of memory for %zu bytes", name, size);
    if (size)
        memcpy(out->data, data, size);
    out->size = size;
    glia_status rc = index_catalog(name, out, err);
    if (rc != GLIA_OK)
        glia_mo_catalog_free(out);
    return rc;
}

glia_status glia_mo_read(const char *path, glia_mo_catalog *out, glia_err *err)
{
    glia_status rc = GLIA_OK;
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return glia_err_set(err, errno == ENOENT ? GLIA_ENOTFOUND : GLIA_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = glia_err_set(err, GLIA_EIO, "%s: cannot find the file size: %s", path, strerror(errno));
        goto done;
    }
    if (size > MAX_FILE_BYTES) {
        rc = glia_err_set(err, GLIA_EFORMAT, "%s: %ld bytes, more than the %d a catalog may have", path, size,
                          MAX_FILE_BYTES);
        goto done;
    }
    out->data = malloc(size ? (size_t)size : 1);
    if (!out->data) {
        rc = glia_err_set(err, GLIA_ENOMEM, "%s: out of memory for %ld bytes", path, size);
        goto done;
    }
    out->size = (size_t)size;
    if (fread(out->data, 1, out->size, f) != out->size) {
        rc = glia_err_set(err, GLIA_EIO, "%s: short read", path);
        goto done;
    }
    rc = index_catalog(path, out, err);
done:
    fclose(f);
    if (rc != GLIA_OK)
        glia_mo_catalog_free(out);
    return rc;
}

void glia_mo_catalog_charset(const glia_mo_catalog *c, char *buf, size_t len)
{
    snprintf(buf, len, "UTF-8");
    for (size_t i = 0; i < c->n; i++) {
        if (c->messages[i].id_len != 0)
            continue;
        const char *s = strstr(c->messages[i].str, "charset=");
        if (!s)
            return;
        s += strlen("charset=");
        size_t n = strcspn(s, " \t\r\n;");
        if (n > 0)
            snprintf(buf, len, "%.*s", (int)n, s);
        return;
    }
}
