/*
 * wordnet.c - see wordnet.h.
 *
 * Design: the texts are appended to one growing buffer and remembered by offset, because the
 * buffer moves when it grows; the offsets become pointers once every file has been read. The
 * whole corpus (about 200 000 texts, 9 MB) is then two allocations instead of one per text.
 */
#include "core/data/wordnet.h"

#include "core/base/utf8.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const data_files[] = {"data.noun", "data.verb", "data.adj", "data.adv"};

typedef struct {
    char *buf;
    size_t len, cap;
    size_t *offsets; /* start of each text in buf */
    size_t n, cap_offsets;
    size_t synsets, examples;
} builder;

/* Appends s[0..len) without its surrounding spaces and stray quotes, as one text; an empty
 * remainder is dropped (";;" or a gloss ending in ';'). */
static glia_status add_text(builder *b, const char *s, size_t len, bool example, glia_err *err)
{
    while (len > 0 && (s[0] == ' ' || s[0] == '"'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '"'))
        len--;
    if (len == 0)
        return GLIA_OK;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 20;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *buf = realloc(b->buf, cap);
        if (!buf)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu bytes of WordNet text", cap);
        b->buf = buf;
        b->cap = cap;
    }
    if (b->n == b->cap_offsets) {
        size_t cap = b->cap_offsets ? 2 * b->cap_offsets : 1 << 16;
        size_t *offsets = realloc(b->offsets, cap * sizeof *offsets);
        if (!offsets)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu WordNet texts", cap);
        b->offsets = offsets;
        b->cap_offsets = cap;
    }
    b->offsets[b->n++] = b->len;
    memcpy(b->buf + b->len, s, len);
    b->buf[b->len + len] = '\0';
    b->len += len + 1;
    b->examples += example;
    return GLIA_OK;
}

/* Splits gloss[0..len) into definitions and examples (see wordnet.h for the quote rule). */
static glia_status split_gloss(builder *b, const char *gloss, size_t len, glia_err *err)
{
    const char *p = gloss, *end = gloss + len;
    glia_status rc;
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        if (p == end)
            break;
        const char *text = p, *stop = NULL, *next = NULL;
        bool example = *p == '"';
        if (example) {
            text = p + 1;
            for (const char *q = text; q < end && !stop; q++) {
                if (*q != '"')
                    continue;
                const char *after = q + 1;
                while (after < end && *after == ' ')
                    after++;
                if (after == end || *after == ';') {
                    stop = q;
                    next = after == end ? end : after + 1;
                }
            }
        }
        if (!stop) {
            /* a definition, or an example whose closing quote is missing: up to the next ';' */
            const char *semi = memchr(text, ';', (size_t)(end - text));
            stop = semi ? semi : end;
            next = semi ? semi + 1 : end;
        }
        if ((rc = add_text(b, text, (size_t)(stop - text), example, err)))
            return rc;
        p = next;
    }
    return GLIA_OK;
}

static glia_status read_file(builder *b, const char *path, glia_err *err)
{
    glia_status rc = GLIA_OK;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return glia_err_set(err, GLIA_ENOTFOUND,
                                "%s: no such file (`scripts/setup --test` installs the Debian package "
                                "wordnet-base)",
                                path);
        return glia_err_set(err, GLIA_EIO, "%s: %s", path, strerror(errno));
    }
    errno = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)got, bad;
        lineno++;
        if (len >= 2 && line[0] == ' ' && line[1] == ' ')
            continue; /* the licence */
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
            len--;
        if (!glia_utf8_valid(line, len, &bad)) {
            rc = glia_err_set(err, GLIA_EFORMAT, "%s:%zu: invalid UTF-8 at byte %zu of the line", path,
                              lineno, bad);
            goto out;
        }
        const char *bar = len ? memchr(line, '|', len) : NULL;
        if (len == 0 || !isdigit((unsigned char)line[0]) || !bar || bar == line || bar[-1] != ' ') {
            rc = glia_err_set(err, GLIA_EFORMAT,
                              "%s:%zu: expected a synset line (offset, fields, then '| ' and the gloss)",
                              path, lineno);
            goto out;
        }
        b->synsets++;
        const char *gloss = bar + 1;
        if ((rc = split_gloss(b, gloss, len - (size_t)(gloss - line), err)))
            goto out;
    }
    if (ferror(f))
        rc = glia_err_set(err, GLIA_EIO, "%s:%zu: %s", path, lineno + 1, strerror(errno ? errno : EIO));
out:
    free(line);
    fclose(f);
    return rc;
}

glia_status glia_wordnet_load(const char *dir, glia_wordnet_corpus *out, glia_err *err)
{
    builder b = {0};
    glia_status rc = GLIA_OK;
    struct stat st;
    memset(out, 0, sizeof *out);
    if (!dir)
        dir = GLIA_WORDNET_DEFAULT_DIR;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return glia_err_set(err, GLIA_ENOTFOUND,
                            "%s: no WordNet directory (`scripts/setup --test` installs the Debian package "
                            "wordnet-base, which puts data.noun, data.verb, data.adj and data.adv there)",
                            dir);
    for (size_t i = 0; i < sizeof data_files / sizeof data_files[0]; i++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, data_files[i]) >= (int)sizeof path) {
            rc = glia_err_set(err, GLIA_EINVAL, "WordNet directory name too long: %s", dir);
            goto fail;
        }
        if ((rc = read_file(&b, path, err)))
            goto fail;
    }
    out->texts = malloc((b.n ? b.n : 1) * sizeof *out->texts);
    if (!out->texts) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu WordNet texts", b.n);
        goto fail;
    }
    for (size_t i = 0; i < b.n; i++)
        out->texts[i] = b.buf + b.offsets[i];
    out->n = b.n;
    out->buf = b.buf;
    out->synsets = b.synsets;
    out->examples = b.examples;
    free(b.offsets);
    return GLIA_OK;
fail:
    free(b.buf);
    free(b.offsets);
    return rc;
}

void glia_wordnet_free(glia_wordnet_corpus *c)
{
    if (!c)
        return;
    free(c->texts);
    free(c->buf);
    memset(c, 0, sizeof *c);
}
