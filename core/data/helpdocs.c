/*
 * helpdocs.c - see helpdocs.h.
 *
 * The pages are HTML written by LibreOffice's XSLT, not arbitrary web pages: attributes are
 * quoted, every <p> and heading is closed, <p> never nests. A small scanner that knows tags,
 * quoted attributes, comments and entities is enough, and cheaper to trust than a general
 * HTML parser: what it does not understand it leaves as text, which the cleaning steps then
 * drop or keep by the same rules as any other text.
 */
#include "core/data/helpdocs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/base/afile.h"
#include "core/base/hash.h"
#include "core/base/htable.h"
#include "core/base/utf8.h"

enum { MAX_PAGE_BYTES = 16 << 20, MAX_PATH = 4096 };

const char *glia_hd_default_dir(void)
{
    const char *env = getenv("GLIA_DOCS_EN_ES");
    return env && *env ? env : GLIA_DATA_CACHE "/" GLIA_HD_DATASET;
}

const char *glia_hd_skip_name(glia_hd_skip skip)
{
    static const char *const names[GLIA_HD_NSKIPS] = {"missing", "ambiguous",    "encoding",
                                                      "empty",   "untranslated", "length",
                                                      "ratio",   "placeholder",  "duplicate"};
    return skip < GLIA_HD_NSKIPS ? names[skip] : "?";
}

/* ---- a growing byte string ---- */

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static bool sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1)
            c *= 2;
        char *g = realloc(b->s, c);
        if (!g)
            return false;
        b->s = g;
        b->cap = c;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return true;
}

/* ---- tags ---- */

/* One tag as the scanner sees it: <name attr="v" ...> or </name>, up to and including '>'. */
typedef struct {
    size_t end; /* offset just after '>' */
    bool closing, self_closing;
    char name[16]; /* lower-cased; "" for <!...> and <?...> */
    const char *id;
    size_t id_len;
    bool hidden; /* hidden="true" */
} tag;

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Reads the tag at s[at] == '<'. Returns false when there is none (a '<' that opens no tag:
 * no name letter after it, or no '>' before the end), so the caller takes '<' as text. */
static bool read_tag(const char *s, size_t len, size_t at, tag *t)
{
    size_t i = at + 1;
    memset(t, 0, sizeof *t);
    if (i < len && (s[i] == '!' || s[i] == '?')) { /* comment, doctype, processing instruction */
        if (i + 2 < len && s[i] == '!' && s[i + 1] == '-' && s[i + 2] == '-') {
            for (size_t k = i + 3; k + 2 < len; k++)
                if (s[k] == '-' && s[k + 1] == '-' && s[k + 2] == '>') {
                    t->end = k + 3;
                    return true;
                }
            return false;
        }
        const char *gt = memchr(s + i, '>', len - i);
        if (!gt)
            return false;
        t->end = (size_t)(gt - s) + 1;
        return true;
    }
    if (i < len && s[i] == '/') {
        t->closing = true;
        i++;
    }
    size_t n = 0;
    while (i < len && (isalnum((unsigned char)s[i]))) {
        if (n + 1 < sizeof t->name)
            t->name[n++] = (char)tolower((unsigned char)s[i]);
        i++;
    }
    t->name[n] = '\0';
    if (n == 0 || !isalpha((unsigned char)t->name[0]))
        return false;
    /* attributes: name, optionally = and a quoted or bare value */
    while (i < len) {
        while (i < len && is_space(s[i]))
            i++;
        if (i >= len)
            return false;
        if (s[i] == '>') {
            t->end = i + 1;
            return true;
        }
        if (s[i] == '/' && i + 1 < len && s[i + 1] == '>') {
            t->self_closing = true;
            t->end = i + 2;
            return true;
        }
        const size_t an = i;
        while (i < len && !is_space(s[i]) && s[i] != '=' && s[i] != '>' && s[i] != '/')
            i++;
        const size_t an_len = i - an;
        if (an_len == 0) { /* a stray '/' or '=': skip it */
            i++;
            continue;
        }
        const char *v = NULL;
        size_t vlen = 0;
        while (i < len && is_space(s[i]))
            i++;
        if (i < len && s[i] == '=') {
            i++;
            while (i < len && is_space(s[i]))
                i++;
            if (i < len && (s[i] == '"' || s[i] == '\'')) {
                const char q = s[i++];
                const char *e = memchr(s + i, q, len - i);
                if (!e)
                    return false;
                v = s + i;
                vlen = (size_t)(e - v);
                i = (size_t)(e - s) + 1;
            } else {
                v = s + i;
                while (i < len && !is_space(s[i]) && s[i] != '>')
                    i++;
                vlen = (size_t)(s + i - v);
            }
        }
        if (an_len == 2 && strncasecmp(s + an, "id", 2) == 0 && v) {
            t->id = v;
            t->id_len = vlen;
        } else if (an_len == 6 && strncasecmp(s + an, "hidden", 6) == 0)
            t->hidden = !v || (vlen == 4 && strncasecmp(v, "true", 4) == 0);
    }
    return false;
}

static bool is_heading(const char *name)
{
    return name[0] == 'h' && name[1] >= '1' && name[1] <= '6' && name[2] == '\0';
}

/* Tags that separate words when the markup is taken out. */
static bool is_break(const char *name)
{
    static const char *const breaks[] = {"br", "img",   "p",  "div", "li",  "td", "th",
                                         "tr", "table", "ul", "ol",  "pre", NULL};
    for (int i = 0; breaks[i]; i++)
        if (strcmp(name, breaks[i]) == 0)
            return true;
    return is_heading(name);
}

static bool is_void(const char *name)
{
    return strcmp(name, "br") == 0 || strcmp(name, "img") == 0 || strcmp(name, "meta") == 0 ||
           strcmp(name, "link") == 0 || strcmp(name, "input") == 0 || strcmp(name, "hr") == 0;
}

/* The offset after the element that tag o (at s[start..o->end)) opens: after its matching
 * close tag, counting nested elements of the same name; len when it is never closed. */
static size_t skip_element(const char *s, size_t len, const tag *o)
{
    if (o->self_closing || is_void(o->name))
        return o->end;
    int depth = 1;
    size_t i = o->end;
    while (i < len) {
        const char *lt = memchr(s + i, '<', len - i);
        if (!lt)
            return len;
        tag t;
        i = (size_t)(lt - s);
        if (!read_tag(s, len, i, &t)) {
            i++;
            continue;
        }
        if (strcmp(t.name, o->name) == 0 && !t.self_closing)
            depth += t.closing ? -1 : 1;
        i = t.end;
        if (depth == 0)
            return i;
    }
    return len;
}

/* ---- text ---- */

/* Appends the UTF-8 encoding of code point c (0 < c <= 0x10FFFF, no surrogate); false when out of memory. */
static bool put_code_point(sbuf *b, unsigned long c)
{
    char u[4];
    size_t n;
    if (c < 0x80)
        u[0] = (char)c, n = 1;
    else if (c < 0x800)
        u[0] = (char)(0xC0 | c >> 6), u[1] = (char)(0x80 | (c & 0x3F)), n = 2;
    else if (c < 0x10000)
        u[0] = (char)(0xE0 | c >> 12), u[1] = (char)(0x80 | (c >> 6 & 0x3F)),
        u[2] = (char)(0x80 | (c & 0x3F)), n = 3;
    else
        u[0] = (char)(0xF0 | c >> 18), u[1] = (char)(0x80 | (c >> 12 & 0x3F)),
        u[2] = (char)(0x80 | (c >> 6 & 0x3F)), u[3] = (char)(0x80 | (c & 0x3F)), n = 4;
    return sb_put(b, u, n);
}

/* Decodes the entity at s[at] == '&' into b; returns its length, 0 when it is not one we know
 * (the caller then copies the '&' as text). &nbsp; becomes a plain space: step 2 collapses it. */
static size_t put_entity(sbuf *b, const char *s, size_t len, size_t at, bool *oom)
{
    static const struct {
        const char *name;
        const char *text;
    } named[] = {{"lt", "<"}, {"gt", ">"}, {"amp", "&"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", " "}};
    const char *semi = memchr(s + at, ';', len - at < 12 ? len - at : 12);
    if (!semi)
        return 0;
    const size_t n = (size_t)(semi - (s + at)) + 1; /* "&...;" */
    if (n > 3 && s[at + 1] == '#') {
        char digits[12];
        const bool hex = s[at + 2] == 'x' || s[at + 2] == 'X';
        const size_t from = at + (hex ? 3 : 2), dn = (size_t)(semi - s) - from;
        if (dn == 0 || dn >= sizeof digits)
            return 0;
        memcpy(digits, s + from, dn);
        digits[dn] = '\0';
        char *end;
        const unsigned long c = strtoul(digits, &end, hex ? 16 : 10);
        if (*end || !isxdigit((unsigned char)digits[0]))
            return 0;
        if (c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;                                /* not a character: left as written */
        if (!put_code_point(b, c == 0xA0 ? ' ' : c)) /* a no-break space separates words like a space */
            *oom = true;
        return n;
    }
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
        if (strlen(named[k].name) == n - 2 && memcmp(s + at + 1, named[k].name, n - 2) == 0) {
            if (!sb_put(b, named[k].text, strlen(named[k].text)))
                *oom = true;
            return n;
        }
    return 0;
}

/* Collapses white space in place (step 2): U+00A0 (C2 A0) counts as space. */
static size_t collapse(char *s, size_t n)
{
    size_t w = 0;
    bool gap = false;
    for (size_t i = 0; i < n; i++) {
        const bool nbsp = (unsigned char)s[i] == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0xA0;
        if (is_space(s[i]) || nbsp) {
            gap = w > 0;
            i += nbsp;
            continue;
        }
        if (gap)
            s[w++] = ' ';
        gap = false;
        s[w++] = s[i];
    }
    s[w] = '\0';
    return w;
}

glia_status glia_hd_text(const char *html, size_t len, char **out, glia_err *err)
{
    sbuf b = {0};
    bool oom = !sb_put(&b, "", 0);
    size_t i = 0;
    *out = NULL;
    while (i < len && !oom) {
        if (html[i] == '<') {
            tag t;
            if (read_tag(html, len, i, &t)) {
                if (!t.closing && t.name[0] && t.hidden &&
                    !(t.id_len >= 7 && memcmp(t.id, "default", 7) == 0)) {
                    i = skip_element(html, len, &t); /* a platform's or module's variant */
                    continue;
                }
                if (t.name[0] && is_break(t.name))
                    oom = !sb_put(&b, " ", 1);
                i = t.end;
                continue;
            }
        } else if (html[i] == '&') {
            const size_t n = put_entity(&b, html, len, i, &oom);
            if (n) {
                i += n;
                continue;
            }
        }
        const char *next = html + i + 1; /* copy the text up to the next '<' or '&' */
        while (next < html + len && *next != '<' && *next != '&')
            next++;
        oom = !sb_put(&b, html + i, (size_t)(next - (html + i)));
        i = (size_t)(next - html);
    }
    if (oom) {
        free(b.s);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory taking the markup out of a paragraph");
    }
    collapse(b.s, b.n);
    *out = b.s;
    return GLIA_OK;
}

/* ---- pages ---- */

/* A page's segments: id and content (both borrowed from the page's bytes). */
typedef struct {
    const char *id, *html;
    size_t id_len, html_len;
} segment;

typedef struct {
    segment *s;
    size_t n, cap;
} segments;

/* Every <p> and heading with an id, in page order (step 1). */
static glia_status page_segments(const char *s, size_t len, segments *out, glia_err *err)
{
    size_t i = 0;
    out->n = 0;
    while (i < len) {
        const char *lt = memchr(s + i, '<', len - i);
        if (!lt)
            break;
        tag t;
        i = (size_t)(lt - s);
        if (!read_tag(s, len, i, &t)) {
            i++;
            continue;
        }
        i = t.end;
        if (t.closing || !t.id || t.self_closing || !(strcmp(t.name, "p") == 0 || is_heading(t.name)))
            continue;
        const size_t end = skip_element(s, len, &t);
        /* the content ends before the close tag: back up over "</name>" when it is there */
        size_t cend = end;
        const size_t close_len = strlen(t.name) + 3;
        if (cend - t.end >= close_len && s[cend - close_len] == '<' && s[cend - close_len + 1] == '/')
            cend -= close_len;
        if (out->n == out->cap) {
            size_t c = out->cap ? 2 * out->cap : 64;
            segment *g = realloc(out->s, c * sizeof *g);
            if (!g)
                return glia_err_set(err, GLIA_ENOMEM, "out of memory for a page's paragraphs");
            out->s = g;
            out->cap = c;
        }
        out->s[out->n++] = (segment){t.id, s + t.end, t.id_len, cend - t.end};
        i = end;
    }
    return GLIA_OK;
}

/* ---- the page list ---- */

typedef struct {
    char **paths; /* relative to the root, owned */
    size_t n, cap;
} path_list;

static void paths_free(path_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every *.html under root/rel (recursively) to l. */
static glia_status walk(const char *root, const char *rel, path_list *l, glia_err *err)
{
    char dir[MAX_PATH];
    glia_status rc = GLIA_OK;
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d)
        return glia_err_set(err, errno == ENOENT ? GLIA_ENOTFOUND : GLIA_EIO, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char sub[MAX_PATH];
        struct stat st;
        if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= sizeof sub) {
            rc = glia_err_set(err, GLIA_EINVAL, "%s/%s: path too long", dir, e->d_name);
            break;
        }
        char full[MAX_PATH * 2];
        snprintf(full, sizeof full, "%s/%s", root, sub);
        if (lstat(full, &st) != 0) { /* links are not followed: a loop would never end */
            rc = glia_err_set(err, GLIA_EIO, "%s: %s", full, strerror(errno));
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            if ((rc = walk(root, sub, l, err)))
                break;
            continue;
        }
        const size_t nl = strlen(sub);
        if (!S_ISREG(st.st_mode) || nl < 5 || strcmp(sub + nl - 5, ".html") != 0)
            continue;
        if (l->n == l->cap) {
            size_t c = l->cap ? 2 * l->cap : 256;
            char **g = realloc(l->paths, c * sizeof *g);
            if (!g) {
                rc = glia_err_set(err, GLIA_ENOMEM, "out of memory listing pages");
                break;
            }
            l->paths = g;
            l->cap = c;
        }
        if (!(l->paths[l->n] = strdup(sub))) {
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory listing pages");
            break;
        }
        l->n++;
    }
    closedir(d);
    return rc;
}

/* ---- the checks of step 4 ---- */

static size_t code_points(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* The placeholder starting at s[i], or 0: "$[" letters "]", or '%' and capitals. */
static size_t placeholder_at(const char *s, size_t n, size_t i)
{
    if (s[i] == '$' && i + 2 < n && s[i + 1] == '[') {
        size_t k = i + 2;
        while (k < n && isalpha((unsigned char)s[k]))
            k++;
        return k < n && k > i + 2 && s[k] == ']' ? k + 1 - i : 0;
    }
    if (s[i] == '%') {
        size_t k = i + 1;
        while (k < n && isupper((unsigned char)s[k]))
            k++;
        return k > i + 1 ? k - i : 0;
    }
    return 0;
}

static size_t count_placeholder(const char *s, size_t n, const char *p, size_t pn)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t k = placeholder_at(s, n, i);
        if (k) {
            c += k == pn && memcmp(s + i, p, pn) == 0;
            i += k - 1;
        }
    }
    return c;
}

/* Every placeholder of a occurs as often in b (and the converse, by calling it both ways). */
static bool placeholders_in(const char *a, size_t an, const char *b, size_t bn)
{
    for (size_t i = 0; i < an; i++) {
        const size_t k = placeholder_at(a, an, i);
        if (k) {
            if (count_placeholder(a, an, a + i, k) != count_placeholder(b, bn, a + i, k))
                return false;
            i += k - 1;
        }
    }
    return true;
}

/* ---- loading ---- */

typedef struct {
    glia_gt_set *set;
    glia_hd_stats *stats;
    glia_htable seen; /* kept English texts */
    size_t cap_pairs, cap_files;
} builder;

/* Steps 2-6 for the English and Spanish contents of one segment of page fi. */
static glia_status add_segment(builder *b, uint32_t fi, uint32_t index, const segment *en, const segment *es,
                               glia_err *err)
{
    char *a = NULL, *z = NULL;
    glia_hd_skip skip = GLIA_HD_NSKIPS;
    glia_status rc;
    if ((rc = glia_hd_text(en->html, en->html_len, &a, err)) ||
        (rc = glia_hd_text(es->html, es->html_len, &z, err)))
        goto done;
    const size_t an = strlen(a), zn = strlen(z);
    const size_t ac = code_points(a, an), zc = code_points(z, zn);
    int32_t first;
    bool added = false;
    if (!glia_utf8_valid(a, an, NULL) || !glia_utf8_valid(z, zn, NULL))
        skip = GLIA_HD_SKIP_ENCODING;
    else if (an == 0 || zn == 0)
        skip = GLIA_HD_SKIP_EMPTY;
    else if (an == zn && memcmp(a, z, an) == 0)
        skip = GLIA_HD_SKIP_UNTRANSLATED;
    else if (glia_gt_words(a, an) > GLIA_GT_MAX_WORDS)
        skip = GLIA_HD_SKIP_LENGTH;
    else if (zc > 3 * ac + 10 || ac > 3 * zc + 10)
        skip = GLIA_HD_SKIP_RATIO;
    else if (!placeholders_in(a, an, z, zn) || !placeholders_in(z, zn, a, an))
        skip = GLIA_HD_SKIP_PLACEHOLDER;
    else if ((rc = glia_htable_add(&b->seen, a, an, &first, &added, err)))
        goto done;
    else if (!added)
        skip = GLIA_HD_SKIP_DUPLICATE;
    if (skip != GLIA_HD_NSKIPS) {
        b->stats->skipped[skip]++;
        b->set->files[fi].skipped[skip == GLIA_HD_SKIP_DUPLICATE  ? GLIA_GT_SKIP_DUPLICATE
                                  : skip == GLIA_HD_SKIP_LENGTH   ? GLIA_GT_SKIP_LENGTH
                                  : skip == GLIA_HD_SKIP_ENCODING ? GLIA_GT_SKIP_ENCODING
                                                                  : GLIA_GT_SKIP_EMPTY]++;
        goto done;
    }
    glia_gt_set *set = b->set;
    if (set->n == b->cap_pairs) {
        size_t c = b->cap_pairs ? 2 * b->cap_pairs : 4096;
        glia_gt_pair *g = realloc(set->pairs, c * sizeof *g);
        if (!g) {
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu pairs", c);
            goto done;
        }
        set->pairs = g;
        b->cap_pairs = c;
    }
    char *block = realloc(a, an + zn + 2); /* en and es share one block, as gettext's pairs */
    if (!block) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", set->files[fi].name);
        goto done;
    }
    a = NULL;
    memcpy(block + an + 1, z, zn + 1);
    const uint32_t hash = glia_fnv1a32(block, an);
    const glia_gt_split split = glia_gt_split_of(hash);
    set->pairs[set->n++] = (glia_gt_pair){.en = block,
                                          .es = block + an + 1,
                                          .en_len = an,
                                          .es_len = zn,
                                          .hash = hash,
                                          .split = split,
                                          .file = fi,
                                          .message = index};
    set->n_split[split]++;
    set->files[fi].kept++;
done:
    free(a);
    free(z);
    return rc;
}

static glia_status add_page(builder *b, const char *en_root, const char *es_root, const char *rel,
                            segments *en_segs, segments *es_segs, glia_err *err)
{
    char path[MAX_PATH * 2];
    char *en = NULL, *es = NULL;
    size_t en_len = 0, es_len = 0;
    glia_htable ids = {0};
    glia_status rc;
    glia_gt_set *set = b->set;
    if (set->n_files == b->cap_files) {
        size_t c = b->cap_files ? 2 * b->cap_files : 256;
        glia_gt_file *g = realloc(set->files, c * sizeof *g);
        if (!g)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu pages", c);
        set->files = g;
        b->cap_files = c;
    }
    const uint32_t fi = (uint32_t)set->n_files;
    memset(&set->files[fi], 0, sizeof set->files[fi]);
    if (!(set->files[fi].name = strdup(rel)))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a page name");
    snprintf(set->files[fi].charset, sizeof set->files[fi].charset, "UTF-8");
    set->n_files++;
    b->stats->pages++;
    snprintf(path, sizeof path, "%s/%s", en_root, rel);
    if ((rc = glia_file_read(path, MAX_PAGE_BYTES, "help page", &en, &en_len, err)) ||
        (rc = page_segments(en, en_len, en_segs, err)))
        goto done;
    set->files[fi].read = en_segs->n;
    b->stats->segments += en_segs->n;
    snprintf(path, sizeof path, "%s/%s", es_root, rel);
    struct stat st;
    if (stat(path, &st) != 0) { /* no Spanish page: every segment is missing */
        b->stats->skipped[GLIA_HD_SKIP_MISSING] += en_segs->n;
        goto done;
    }
    b->stats->paired++;
    if ((rc = glia_file_read(path, MAX_PAGE_BYTES, "help page", &es, &es_len, err)) ||
        (rc = page_segments(es, es_len, es_segs, err)))
        goto done;
    /* the Spanish ids: id k of the table -> its segment, or SIZE_MAX when it occurs twice */
    size_t *at = calloc(es_segs->n + 1, sizeof *at);
    if (!at) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory pairing %s", rel);
        goto done;
    }
    for (size_t k = 0; k < es_segs->n && rc == GLIA_OK; k++) {
        int32_t id;
        bool added;
        if ((rc = glia_htable_add(&ids, es_segs->s[k].id, es_segs->s[k].id_len, &id, &added, err)) == GLIA_OK)
            at[id] = added ? k : SIZE_MAX;
    }
    for (size_t k = 0; k < en_segs->n && rc == GLIA_OK; k++) {
        const segment *e = &en_segs->s[k];
        bool twice = false; /* the id occurs twice in the English page */
        for (size_t j = 0; j < en_segs->n && !twice; j++)
            twice = j != k && en_segs->s[j].id_len == e->id_len &&
                    memcmp(en_segs->s[j].id, e->id, e->id_len) == 0;
        const int32_t id = glia_htable_find(&ids, e->id, e->id_len);
        if (twice || (id >= 0 && at[id] == SIZE_MAX))
            b->stats->skipped[GLIA_HD_SKIP_AMBIGUOUS]++;
        else if (id < 0)
            b->stats->skipped[GLIA_HD_SKIP_MISSING]++;
        else
            rc = add_segment(b, fi, (uint32_t)k, e, &es_segs->s[at[id]], err);
    }
    free(at);
done:
    if (rc != GLIA_OK)
        glia_err_prefix(err, "%s", path);
    glia_htable_free(&ids);
    free(en);
    free(es);
    return rc;
}

glia_status glia_hd_load_dir(const char *dir, glia_gt_set *out, glia_hd_stats *stats, glia_err *err)
{
    char en_root[MAX_PATH], es_root[MAX_PATH];
    path_list pages = {0};
    segments en_segs = {0}, es_segs = {0};
    glia_hd_stats own;
    builder b = {.set = out, .stats = stats ? stats : &own};
    glia_status rc;
    memset(out, 0, sizeof *out);
    memset(b.stats, 0, sizeof *b.stats);
    snprintf(en_root, sizeof en_root, "%s/en-US/text", dir);
    snprintf(es_root, sizeof es_root, "%s/es/text", dir);
    if ((rc = walk(en_root, "", &pages, err)) == GLIA_OK && pages.n == 0)
        rc = glia_err_set(err, GLIA_ENOTFOUND, "%s: no help pages", en_root);
    if (rc != GLIA_OK) {
        if (rc == GLIA_ENOTFOUND)
            glia_err_prefix(
                err, "the %s data set is missing (scripts/setup --test fetches it with scripts/fetch-docs)",
                GLIA_HD_DATASET);
        goto fail;
    }
    qsort(pages.paths, pages.n, sizeof *pages.paths, cmp_str);
    for (size_t i = 0; i < pages.n; i++)
        if ((rc = add_page(&b, en_root, es_root, pages.paths[i], &en_segs, &es_segs, err)))
            goto fail;
    glia_htable_free(&b.seen);
    paths_free(&pages);
    free(en_segs.s);
    free(es_segs.s);
    return GLIA_OK;
fail:
    glia_htable_free(&b.seen);
    paths_free(&pages);
    free(en_segs.s);
    free(es_segs.s);
    glia_gt_free(out);
    return rc;
}

/* ---- data sets by name ---- */

/* Appends src's pairs whose English dst lacks to dst, with src's files after dst's; src is
 * emptied (its strings move). */
static glia_status append_new(glia_gt_set *dst, glia_gt_set *src, glia_err *err)
{
    glia_htable seen = {0};
    glia_status rc = GLIA_OK;
    glia_gt_pair *pairs = NULL;
    glia_gt_file *files = NULL;
    for (size_t i = 0; i < dst->n && rc == GLIA_OK; i++) {
        int32_t id;
        bool added;
        rc = glia_htable_add(&seen, dst->pairs[i].en, dst->pairs[i].en_len, &id, &added, err);
    }
    if (rc == GLIA_OK &&
        (!(pairs = realloc(dst->pairs, (dst->n + src->n + 1) * sizeof *pairs)) ||
         ((dst->pairs = pairs),
          !(files = realloc(dst->files, (dst->n_files + src->n_files + 1) * sizeof *files)))))
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory joining two data sets");
    if (rc != GLIA_OK)
        goto done;
    dst->files = files;
    const uint32_t base = (uint32_t)dst->n_files;
    for (size_t f = 0; f < src->n_files; f++) {
        dst->files[dst->n_files++] = src->files[f];
        src->files[f].name = NULL;
    }
    for (size_t i = 0; i < src->n; i++) {
        glia_gt_pair p = src->pairs[i];
        if (glia_htable_find(&seen, p.en, p.en_len) >= 0) {
            dst->files[base + p.file].kept--;
            dst->files[base + p.file].skipped[GLIA_GT_SKIP_DUPLICATE]++;
            free(p.en);
        } else {
            p.file += base;
            dst->pairs[dst->n++] = p;
            dst->n_split[p.split]++;
        }
        src->pairs[i].en = NULL;
    }
    src->n = 0;
done:
    glia_htable_free(&seen);
    return rc;
}

glia_status glia_pairs_load(const char *dataset, const char *dir, glia_gt_set *out, glia_err *err)
{
    glia_gt_set docs = {0};
    glia_status rc;
    memset(out, 0, sizeof *out);
    if (!dataset || strcmp(dataset, GLIA_GT_DATASET) == 0)
        return glia_gt_load_dir(dir ? dir : glia_gt_default_dir(), out, err);
    if (strcmp(dataset, GLIA_HD_DATASET) == 0)
        return glia_hd_load_dir(dir ? dir : glia_hd_default_dir(), out, NULL, err);
    if (strcmp(dataset, GLIA_HD_COMBINED) != 0)
        return glia_err_set(err, GLIA_EUNSUPPORTED, "'%s' is not a data set of translation pairs", dataset);
    if (dir)
        return glia_err_set(err, GLIA_EINVAL,
                            "%s reads gettext-en-es and docs-en-es from their own places; give it no path "
                            "(GLIA_GETTEXT_EN_ES and GLIA_DOCS_EN_ES move them)",
                            dataset);
    if ((rc = glia_gt_load_dir(glia_gt_default_dir(), out, err)) ||
        (rc = glia_hd_load_dir(glia_hd_default_dir(), &docs, NULL, err)) ||
        (rc = append_new(out, &docs, err)))
        goto fail;
    glia_gt_free(&docs);
    return GLIA_OK;
fail:
    glia_gt_free(&docs);
    glia_gt_free(out);
    return rc;
}
