/*
 * gettext.c - see gettext.h.
 *
 * Design: each catalog is read by core/formats/mo.h; the pairs are built message by message into
 * one growing array, each pair's two texts in one allocation, and deduplicated through a
 * glia_htable (core/base/htable.h) of the kept English texts, whose id of a text is the index of
 * its pair. Nothing is kept from a failed load.
 */
#include "core/data/gettext.h"

#include "core/base/hash.h"
#include "core/base/htable.h"
#include "core/base/utf8.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef GLIA_DATA_CACHE
#define GLIA_DATA_CACHE ".cache/data"
#endif

static const char *const split_names[GLIA_GT_NSPLITS] = {"train", "dev", "test"};
static const char *const skip_names[GLIA_GT_NSKIPS] = {"header",   "context", "empty",
                                                       "encoding", "length",  "duplicate"};

const char *glia_gt_split_name(glia_gt_split split)
{
    return (unsigned)split < GLIA_GT_NSPLITS ? split_names[split] : "?";
}

const char *glia_gt_skip_name(glia_gt_skip skip)
{
    return (unsigned)skip < GLIA_GT_NSKIPS ? skip_names[skip] : "?";
}

glia_gt_split glia_gt_split_of(uint32_t hash)
{
    switch (hash % 20) {
    case 0: return GLIA_GT_TEST;
    case 1: return GLIA_GT_DEV;
    default: return GLIA_GT_TRAIN;
    }
}

const char *glia_gt_default_dir(void)
{
    const char *env = getenv("GLIA_GETTEXT_EN_ES");
    return env && *env ? env : GLIA_DATA_CACHE "/" GLIA_GT_DATASET;
}

/* ---- cleaning ------------------------------------------------------------------------------ */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool is_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(unsigned char c)
{
    return is_letter(c) || (c >= '0' && c <= '9');
}

/* A byte of a word for the accelerator rule: ASCII letters and digits, '_', '&', non-ASCII. */
static bool is_word_byte(unsigned char c)
{
    return is_alnum(c) || c == '_' || c == '&' || c >= 0x80;
}

/* Collapses white space of in[0..len) into out (at least len bytes); returns the new length. */
static size_t collapse(const char *in, size_t len, char *out)
{
    size_t n = 0;
    bool gap = false;
    for (size_t i = 0; i < len; i++) {
        if (is_space(in[i])) {
            gap = n > 0;
            continue;
        }
        if (gap)
            out[n++] = ' ';
        gap = false;
        out[n++] = in[i];
    }
    return n;
}

/* s[i] == '&' starts an entity: &name; (a letter, then letters or digits, then ';'). */
static bool is_entity(const char *s, size_t len, size_t i)
{
    size_t j = i + 1;
    if (j >= len || !is_letter((unsigned char)s[j]))
        return false;
    while (j < len && is_alnum((unsigned char)s[j]))
        j++;
    return j < len && s[j] == ';';
}

/* s[i..len) starts with a letter: ASCII, or a two-byte UTF-8 character from U+00C0 to U+07FF
 * (Latin-1 and Latin Extended letters, Greek, Cyrillic...) other than U+00D7 and U+00F7. */
static bool starts_letter(const char *s, size_t len, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    if (is_letter(c))
        return true;
    if (c < 0xc3 || c > 0xdf || i + 1 >= len)
        return false;
    unsigned char d = (unsigned char)s[i + 1];
    return (d & 0xc0) == 0x80 && !(c == 0xc3 && (d == 0x97 || d == 0xb7));
}

/* s[i] is an accelerator marker candidate: '_' or '&' before a letter, not an entity. */
static bool is_marker(const char *s, size_t len, size_t i)
{
    if ((s[i] != '_' && s[i] != '&') || i + 1 >= len || !starts_letter(s, len, i + 1))
        return false;
    return s[i] == '_' || !is_entity(s, len, i);
}

/* w[0..wlen) occurs in text[0..len) as a whole word (no word byte on either side). */
static bool has_word(const char *text, size_t len, const char *w, size_t wlen)
{
    for (size_t p = 0; p + wlen <= len; p++) {
        if (memcmp(text + p, w, wlen) != 0)
            continue;
        if ((p == 0 || !is_word_byte((unsigned char)text[p - 1])) &&
            (p + wlen == len || !is_word_byte((unsigned char)text[p + wlen])))
            return true;
    }
    return false;
}

/* out[0..n) ends with a lower-case letter: ASCII, or U+00DF..U+00FF but U+00F7. */
static bool ends_lower(const char *out, size_t n)
{
    unsigned char c = (unsigned char)out[n - 1];
    if (c >= 'a' && c <= 'z')
        return true;
    return n >= 2 && (unsigned char)out[n - 2] == 0xc3 && c >= 0x9f && c <= 0xbf && c != 0xb7;
}

/* Copies the letter at s[i] (a marker was just dropped before it) into out at *n, lower-cased
 * when it is an upper-case letter (ASCII, or U+00C0..U+00DE but U+00D7); returns its length. */
static size_t copy_lowered(const char *s, size_t len, size_t i, char *out, size_t *n)
{
    unsigned char c = (unsigned char)s[i];
    if (c >= 'A' && c <= 'Z') {
        out[(*n)++] = (char)(c + 32);
        return 1;
    }
    unsigned char d = i + 1 < len ? (unsigned char)s[i + 1] : 0;
    if (c == 0xc3 && d >= 0x80 && d <= 0x9e && d != 0x97) {
        out[(*n)++] = (char)c;
        out[(*n)++] = (char)(d + 0x20);
        return 2;
    }
    out[(*n)++] = (char)c;
    return 1;
}

/* Step 4 on s[0..len) against other[0..olen), into out; returns the new length. A dropped marker
 * inside a lower-case word also lower-cases the letter after it: Midnight Commander's Spanish
 * marks accelerators with capitals ("a&Rriba" -> "arriba", "tama&\u00d1os" -> "tama\u00f1os"). */
static size_t drop_markers(const char *s, size_t len, const char *other, size_t olen, char *out)
{
    size_t n = 0, i = 0;
    while (i < len) {
        if (!is_word_byte((unsigned char)s[i])) {
            out[n++] = s[i++];
            continue;
        }
        size_t end = i, markers = 0;
        while (end < len && is_word_byte((unsigned char)s[end]))
            markers += is_marker(s, len, end++);
        bool drop = markers > 0 && !has_word(other, olen, s + i, end - i);
        while (i < end) {
            if (!drop || !is_marker(s, len, i))
                out[n++] = s[i++];
            else if (n > 0 && ends_lower(out, n) && is_word_byte((unsigned char)s[i - 1]))
                i += 1 + copy_lowered(s, end, i + 1, out, &n);
            else
                i++;
        }
    }
    return n;
}

size_t glia_gt_words(const char *text, size_t len)
{
    size_t words = 0;
    for (size_t i = 0; i < len; i++)
        words += !is_space(text[i]) && (i == 0 || is_space(text[i - 1]));
    return words;
}

glia_status glia_gt_clean_pair(const char *en, size_t en_len, const char *es, size_t es_len, char **en_out,
                               char **es_out, glia_err *err)
{
    *en_out = *es_out = NULL;
    char *tmp = malloc(en_len + es_len + 2);
    char *a = malloc(en_len + 1), *b = malloc(es_len + 1);
    if (!tmp || !a || !b) {
        free(tmp), free(a), free(b);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory cleaning a message of %zu bytes",
                            en_len + es_len);
    }
    size_t na = collapse(en, en_len, tmp), nb = collapse(es, es_len, tmp + na + 1);
    size_t ma = drop_markers(tmp, na, tmp + na + 1, nb, a);
    size_t mb = drop_markers(tmp + na + 1, nb, tmp, na, b);
    a[ma] = b[mb] = '\0';
    free(tmp);
    *en_out = a;
    *es_out = b;
    return GLIA_OK;
}

/* ---- charsets ------------------------------------------------------------------------------ */

typedef enum { CS_UTF8, CS_LATIN1, CS_LATIN9 } charset_kind;

static bool same_name(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a,
             y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

static bool charset_of(const char *name, charset_kind *kind)
{
    static const char *const utf8[] = {"UTF-8", "UTF8", "ASCII", "US-ASCII", "ANSI_X3.4-1968"};
    static const char *const latin1[] = {"ISO-8859-1", "ISO8859-1", "ISO_8859-1", "LATIN1", "LATIN-1"};
    static const char *const latin9[] = {"ISO-8859-15", "ISO8859-15", "ISO_8859-15", "LATIN9", "LATIN-9"};
    for (size_t i = 0; i < sizeof utf8 / sizeof utf8[0]; i++)
        if (same_name(name, utf8[i]))
            return *kind = CS_UTF8, true;
    for (size_t i = 0; i < sizeof latin1 / sizeof latin1[0]; i++)
        if (same_name(name, latin1[i]))
            return *kind = CS_LATIN1, true;
    for (size_t i = 0; i < sizeof latin9 / sizeof latin9[0]; i++)
        if (same_name(name, latin9[i]))
            return *kind = CS_LATIN9, true;
    return false;
}

/* ISO-8859-1/-15 in[0..len) as UTF-8 into out (at least 3 * len bytes); returns the length. */
static size_t to_utf8(const unsigned char *in, size_t len, charset_kind kind, char *out)
{
    /* the eight code points where ISO-8859-15 differs from ISO-8859-1 */
    static const struct {
        unsigned char byte;
        unsigned cp;
    } latin9[] = {{0xa4, 0x20ac}, {0xa6, 0x160}, {0xa8, 0x161}, {0xb4, 0x17d},
                  {0xb8, 0x17e},  {0xbc, 0x152}, {0xbd, 0x153}, {0xbe, 0x178}};
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned cp = in[i];
        for (size_t k = 0; kind == CS_LATIN9 && k < sizeof latin9 / sizeof latin9[0]; k++)
            if (latin9[k].byte == in[i])
                cp = latin9[k].cp;
        n += glia_utf8_encode(cp, out + n);
    }
    return n;
}

/* ---- the set ------------------------------------------------------------------------------- */

void glia_gt_free(glia_gt_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; set->pairs && i < set->n; i++)
        free(set->pairs[i].en);
    for (size_t i = 0; set->files && i < set->n_files; i++)
        free(set->files[i].name);
    free(set->pairs);
    free(set->files);
    memset(set, 0, sizeof *set);
}

/* The English texts of the kept pairs: text id k is set->pairs[k]'s. */
typedef struct {
    glia_htable seen;
    size_t cap_pairs; /* capacity of set->pairs */
} builder;

/* Room for one more pair. */
static glia_status reserve(builder *b, glia_gt_set *set, glia_err *err)
{
    if (set->n < b->cap_pairs)
        return GLIA_OK;
    size_t ncap = b->cap_pairs ? 2 * b->cap_pairs : 4096;
    glia_gt_pair *pairs = realloc(set->pairs, ncap * sizeof *pairs);
    if (!pairs)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu pairs", ncap);
    set->pairs = pairs;
    b->cap_pairs = ncap;
    return GLIA_OK;
}

/* The msgid is "Context|message" (glib's Q_() convention, used by Midnight Commander: "ButtonBar|Edit")
 * and the msgstr holds no '|': ASCII letters, '|', then something other than white space. */
static bool pipe_context(const glia_mo_message *m)
{
    size_t i = 0;
    while (i < m->id_len && is_letter((unsigned char)m->id[i]))
        i++;
    return i > 0 && i + 1 < m->id_len && m->id[i] == '|' && !is_space(m->id[i + 1]) &&
           !memchr(m->str, '|', m->str_len);
}

/* Steps 1-7 for message m of the catalog of file fi. */
/* Steps 3-6 for one message already in UTF-8: clean, filter, dedupe, split, keep. */
static glia_status add_pair(builder *b, glia_gt_set *set, uint32_t fi, uint32_t mi, const char *en,
                            size_t en_len, const char *es, size_t es_len, bool plural, glia_err *err)
{
    glia_gt_file *f = &set->files[fi];
    char *en_c, *es_c;
    glia_status rc = glia_gt_clean_pair(en, en_len, es, es_len, &en_c, &es_c, err);
    if (rc != GLIA_OK)
        return rc;
    size_t a = strlen(en_c), z = strlen(es_c);
    glia_gt_skip skip = GLIA_GT_NSKIPS;
    uint32_t hash = glia_fnv1a32(en_c, a);
    int32_t first;
    bool added = false;
    if (a == 0 || z == 0)
        skip = GLIA_GT_SKIP_EMPTY;
    else if (glia_gt_words(en_c, a) > GLIA_GT_MAX_WORDS)
        skip = GLIA_GT_SKIP_LENGTH;
    else if ((rc = reserve(b, set, err)) != GLIA_OK ||
             (rc = glia_htable_add(&b->seen, en_c, a, &first, &added, err)) != GLIA_OK) {
        free(en_c), free(es_c);
        return rc;
    } else if (!added)
        skip = GLIA_GT_SKIP_DUPLICATE;
    if (skip != GLIA_GT_NSKIPS) {
        free(en_c), free(es_c);
        f->skipped[skip]++;
        return GLIA_OK;
    }
    char *block = realloc(en_c, a + z + 2);
    if (!block) {
        free(en_c), free(es_c);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", f->name);
    }
    memcpy(block + a + 1, es_c, z + 1);
    free(es_c);
    glia_gt_split split = glia_gt_split_of(hash);
    set->pairs[set->n] = (glia_gt_pair){
        .en = block,
        .es = block + a + 1,
        .en_len = a,
        .es_len = z,
        .hash = hash,
        .split = split,
        .file = fi,
        .message = mi,
        .plural = plural,
    };
    GLIA_ASSERT((size_t)first == set->n);
    set->n++;
    set->n_split[split]++;
    f->kept++;
    f->plural_kept += plural;
    return GLIA_OK;
}

static glia_status take_message(const glia_mo_message *m, uint32_t fi, uint32_t mi, charset_kind cs,
                                builder *b, glia_gt_set *set, glia_err *err)
{
    glia_gt_file *f = &set->files[fi];
    if (m->id_len == 0 || (m->id_len == 18 && memcmp(m->id, "translator-credits", 18) == 0)) {
        f->skipped[GLIA_GT_SKIP_HEADER]++;
        return GLIA_OK;
    }
    if (memchr(m->id, '\x04', m->id_len) || pipe_context(m)) {
        f->skipped[GLIA_GT_SKIP_CONTEXT]++;
        return GLIA_OK;
    }
    /* the singular of plural forms: both strings up to their first NUL */
    size_t en_len = strlen(m->id), es_len = strlen(m->str);
    bool plural = en_len < m->id_len;
    if (es_len == 0) {
        f->skipped[GLIA_GT_SKIP_EMPTY]++;
        return GLIA_OK;
    }
    char *conv = NULL;
    const char *es = m->str;
    if (cs != CS_UTF8) {
        conv = malloc(3 * es_len + 1);
        if (!conv)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", f->name);
        es_len = to_utf8((const unsigned char *)m->str, es_len, cs, conv);
        es = conv;
    }
    if (!glia_utf8_valid(m->id, en_len, NULL) || !glia_utf8_valid(es, es_len, NULL)) {
        free(conv);
        f->skipped[GLIA_GT_SKIP_ENCODING]++;
        return GLIA_OK;
    }
    glia_status rc = add_pair(b, set, fi, mi, m->id, en_len, es, es_len, plural, err);
    free(conv);
    return rc;
}

static int cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The sorted *.mo names of dir (regular files, or links to them). */
static glia_status list_catalogs(const char *dir, char ***names, size_t *n, glia_err *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return glia_err_set(err, errno == ENOENT || errno == ENOTDIR ? GLIA_ENOTFOUND : GLIA_EIO,
                            "%s: cannot open the directory: %s", dir, strerror(errno));
    size_t cap = 0;
    glia_status rc = GLIA_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 3 || strcmp(e->d_name + len - 3, ".mo") != 0)
            continue;
        char path[4096];
        struct stat st;
        int w = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (w < 0 || (size_t)w >= sizeof path || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (*n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            char **grown = realloc(*names, ncap * sizeof *grown);
            if (!grown) {
                rc = glia_err_set(err, GLIA_ENOMEM, "out of memory listing %s", dir);
                break;
            }
            *names = grown;
            cap = ncap;
        }
        if (!((*names)[*n] = strdup(e->d_name))) {
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory listing %s", dir);
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (rc == GLIA_OK && *n == 0)
        rc = glia_err_set(err, GLIA_ENOTFOUND, "%s: no .mo files", dir);
    if (rc != GLIA_OK) {
        for (size_t i = 0; i < *n; i++)
            free((*names)[i]);
        free(*names);
        *names = NULL;
        *n = 0;
        return rc;
    }
    qsort(*names, *n, sizeof **names, cmp_names);
    return GLIA_OK;
}

glia_status glia_gt_load_dir(const char *dir, glia_gt_set *out, glia_err *err)
{
    GLIA_ASSERT(dir != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    char mo_dir[4096], path[8200];
    struct stat st;
    int w = snprintf(mo_dir, sizeof mo_dir, "%s/mo", dir);
    if (w < 0 || (size_t)w >= sizeof mo_dir)
        return glia_err_set(err, GLIA_EINVAL, "%s: directory name too long", dir);
    if (stat(mo_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        snprintf(mo_dir, sizeof mo_dir, "%s", dir);

    char **names = NULL;
    size_t n_names = 0;
    builder b = {0};
    glia_mo_catalog cat = {0};
    glia_status rc = list_catalogs(mo_dir, &names, &n_names, err);
    if (rc != GLIA_OK) {
        glia_err_prefix(err, GLIA_GT_DATASET " catalogs (scripts/setup fetches them)");
        return rc;
    }
    out->files = calloc(n_names, sizeof *out->files);
    if (!out->files) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu catalogs", n_names);
        goto done;
    }
    for (size_t i = 0; i < n_names; i++) {
        out->files[i].name = names[i];
        names[i] = NULL;
        out->n_files++;
    }
    for (size_t fi = 0; fi < out->n_files; fi++) {
        glia_gt_file *f = &out->files[fi];
        charset_kind cs;
        snprintf(path, sizeof path, "%s/%s", mo_dir, f->name);
        if ((rc = glia_mo_read(path, &cat, err)) != GLIA_OK)
            goto done;
        glia_mo_catalog_charset(&cat, f->charset, sizeof f->charset);
        if (!charset_of(f->charset, &cs)) {
            rc = glia_err_set(
                err, GLIA_EUNSUPPORTED,
                "%s: charset %s (header message); glia reads UTF-8, ASCII, ISO-8859-1 and ISO-8859-15", path,
                f->charset);
            goto done;
        }
        f->read = cat.n;
        for (size_t mi = 0; mi < cat.n; mi++)
            if ((rc = take_message(&cat.messages[mi], (uint32_t)fi, (uint32_t)mi, cs, &b, out, err)) !=
                GLIA_OK)
                goto done;
        glia_mo_catalog_free(&cat);
    }
done:
    glia_mo_catalog_free(&cat);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    glia_htable_free(&b.seen);
    if (rc != GLIA_OK)
        glia_gt_free(out);
    return rc;
}

glia_status glia_gt_load_tsv(const char *path, glia_gt_set *out, glia_err *err)
{
    GLIA_ASSERT(path != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    builder b = {0};
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    glia_status rc = GLIA_OK;
    FILE *f = fopen(path, "rb");
    if (!f)
        return glia_err_set(err, errno == ENOENT ? GLIA_ENOTFOUND : GLIA_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    out->files = calloc(1, sizeof *out->files);
    if (!out->files || !(out->files[0].name = strdup(base))) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", path);
        goto done;
    }
    out->n_files = 1;
    snprintf(out->files[0].charset, sizeof out->files[0].charset, "UTF-8");
    while ((got = getline(&line, &cap, f)) > 0) {
        size_t len = (size_t)got;
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        const char *tab = memchr(line, '\t', len);
        out->files[0].read++;
        if (!tab || !glia_utf8_valid(line, len, NULL)) {
            rc = glia_err_set(err, GLIA_EFORMAT, "%s:%zu: expected UTF-8 \"english<TAB>spanish\"", path,
                              lineno);
            goto done;
        }
        if ((rc = add_pair(&b, out, 0, (uint32_t)(lineno - 1), line, (size_t)(tab - line), tab + 1,
                           len - (size_t)(tab - line) - 1, false, err)) != GLIA_OK)
            goto done;
    }
    if (ferror(f))
        rc = glia_err_set(err, GLIA_EIO, "%s: read failed", path);
done:
    if (f)
        fclose(f);
    free(line);
    glia_htable_free(&b.seen);
    if (rc != GLIA_OK)
        glia_gt_free(out);
    return rc;
}
