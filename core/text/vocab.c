/*
 * vocab.c - see vocab.h.
 *
 * Design: tokens live in one array indexed by id; lookup is an open-addressing hash table
 * (FNV-1a, linear probing, at most half full) of ids, so the table is only a second view of
 * the array and never disagrees with it. Building counts tokens in a table of the same kind,
 * then sorts the survivors once. Loading reads the whole file (bounded by
 * GLIA_VOCAB_MAX_FILE_BYTES), checks every line before anything is kept, and reports the
 * first problem with its line number.
 */
#include "core/text/vocab.h"

#include "core/base/afile.h"
#include "core/base/hash.h"

#include "core/text/tokenize.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct glia_vocab {
    size_t n;
    char **tokens;  /* n tokens, each owned */
    size_t *lens;   /* their lengths in bytes */
    int32_t *slots; /* hash table of ids, -1 = empty; mask + 1 slots */
    size_t mask;
};

/* Longest token quoted in a message. */
enum { QUOTE_MAX = 60 };

/* Smallest power of two >= 2 * n (and >= 16): the tables stay at most half full. */
static size_t table_size(size_t n)
{
    size_t size = 16;
    while (size < 2 * n)
        size *= 2;
    return size;
}

static int32_t find(const glia_vocab *v, const char *token, size_t len, size_t *slot)
{
    size_t i = glia_fnv1a32(token, len) & v->mask;
    for (;; i = (i + 1) & v->mask) {
        int32_t id = v->slots[i];
        if (id < 0 || (v->lens[id] == len && memcmp(v->tokens[id], token, len) == 0)) {
            if (slot)
                *slot = i;
            return id;
        }
    }
}

void glia_vocab_free(glia_vocab *v)
{
    if (!v)
        return;
    if (v->tokens) {
        for (size_t i = 0; i < v->n; i++)
            free(v->tokens[i]);
    }
    free(v->tokens);
    free(v->lens);
    free(v->slots);
    free(v);
}

/* An empty vocabulary with room for cap tokens and its table. */
static glia_status vocab_alloc(size_t cap, glia_vocab **out, glia_err *err)
{
    glia_vocab *v = calloc(1, sizeof *v);
    size_t slots = table_size(cap);
    if (v) {
        v->tokens = calloc(cap ? cap : 1, sizeof *v->tokens);
        v->lens = calloc(cap ? cap : 1, sizeof *v->lens);
        v->slots = malloc(slots * sizeof *v->slots);
    }
    if (!v || !v->tokens || !v->lens || !v->slots) {
        glia_vocab_free(v);
        *out = NULL;
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a vocabulary of %zu tokens", cap);
    }
    memset(v->slots, 0xff, slots * sizeof *v->slots);
    v->mask = slots - 1;
    *out = v;
    return GLIA_OK;
}

/* Appends token (ownership passes to v) unless v already holds it: then *dup_id is its id and
 * the token is left to the caller. The caller sized v for it. */
static bool vocab_add(glia_vocab *v, char *token, size_t len, int32_t *dup_id)
{
    size_t slot;
    int32_t id = find(v, token, len, &slot);
    if (id >= 0) {
        *dup_id = id;
        return false;
    }
    v->tokens[v->n] = token;
    v->lens[v->n] = len;
    v->slots[slot] = (int32_t)v->n;
    v->n++;
    return true;
}

static glia_status add_copy(glia_vocab *v, const char *token, size_t len, glia_err *err)
{
    char *copy = malloc(len + 1);
    int32_t dup;
    if (!copy)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a vocabulary token");
    memcpy(copy, token, len);
    copy[len] = '\0';
    if (!vocab_add(v, copy, len, &dup)) {
        free(copy);
        GLIA_ASSERT(!"duplicate token added to a vocabulary");
    }
    return GLIA_OK;
}

size_t glia_vocab_size(const glia_vocab *v)
{
    return v->n;
}

const char *glia_vocab_token(const glia_vocab *v, int32_t id)
{
    return id >= 0 && (size_t)id < v->n ? v->tokens[id] : NULL;
}

int32_t glia_vocab_id(const glia_vocab *v, const char *token)
{
    int32_t id = find(v, token, strlen(token), NULL);
    return id >= 0 ? id : GLIA_VOCAB_UNK;
}

/* ---- building --------------------------------------------------------------------------------- */

typedef struct {
    char *token;
    size_t len;
    size_t count;
} count_entry;

typedef struct {
    count_entry *entries; /* mask + 1 slots; token == NULL is empty */
    size_t mask, used;
} counter;

static glia_status counter_grow(counter *c, glia_err *err)
{
    size_t size = table_size(c->used + 1);
    if (c->entries && size <= c->mask + 1)
        return GLIA_OK;
    count_entry *grown = calloc(size, sizeof *grown);
    if (!grown)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory counting %zu distinct tokens", c->used + 1);
    for (size_t i = 0; c->entries && i <= c->mask; i++) {
        if (!c->entries[i].token)
            continue;
        size_t j = glia_fnv1a32(c->entries[i].token, c->entries[i].len) & (size - 1);
        while (grown[j].token)
            j = (j + 1) & (size - 1);
        grown[j] = c->entries[i];
    }
    free(c->entries);
    c->entries = grown;
    c->mask = size - 1;
    return GLIA_OK;
}

static glia_status count_token(void *ctx, const char *token, size_t len, glia_err *err)
{
    counter *c = ctx;
    glia_status rc = counter_grow(c, err);
    if (rc != GLIA_OK)
        return rc;
    size_t i = glia_fnv1a32(token, len) & c->mask;
    for (; c->entries[i].token; i = (i + 1) & c->mask) {
        if (c->entries[i].len == len && memcmp(c->entries[i].token, token, len) == 0) {
            c->entries[i].count++;
            return GLIA_OK;
        }
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory counting tokens");
    memcpy(copy, token, len + 1);
    c->entries[i] = (count_entry){copy, len, 1};
    c->used++;
    return GLIA_OK;
}

static void counter_free(counter *c)
{
    for (size_t i = 0; c->entries && i <= c->mask; i++)
        free(c->entries[i].token);
    free(c->entries);
    memset(c, 0, sizeof *c);
}

static int cmp_count_desc(const void *a, const void *b)
{
    const count_entry *x = *(const count_entry *const *)a, *y = *(const count_entry *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->token, y->token);
}

glia_status glia_vocab_build(const char *const *texts, size_t n, size_t min_count, size_t max_size,
                             glia_vocab **out, glia_err *err)
{
    counter c = {0};
    count_entry **kept = NULL;
    glia_vocab *v = NULL;
    glia_status rc;

    *out = NULL;
    if (min_count < 1)
        return glia_err_set(err, GLIA_EINVAL, "vocabulary min_count must be at least 1, not %zu", min_count);
    if (max_size == 1)
        return glia_err_set(err, GLIA_EINVAL,
                            "vocabulary max_size must be 0 (no limit) or at least 2 (<pad> and <unk>)");
    GLIA_ASSERT(texts != NULL || n == 0);
    for (size_t i = 0; i < n; i++) {
        rc = glia_tok_each(texts[i], strlen(texts[i]), count_token, &c, err);
        if (rc != GLIA_OK) {
            glia_err_prefix(err, "text %zu", i);
            goto fail;
        }
    }

    size_t nkept = 0;
    kept = malloc((c.used ? c.used : 1) * sizeof *kept);
    if (!kept) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory sorting %zu tokens", c.used);
        goto fail;
    }
    for (size_t i = 0; c.entries && i <= c.mask; i++) {
        if (c.entries[i].token && c.entries[i].count >= min_count)
            kept[nkept++] = &c.entries[i];
    }
    qsort(kept, nkept, sizeof *kept, cmp_count_desc);
    if (max_size > 0 && nkept > max_size - 2)
        nkept = max_size - 2;
    if ((size_t)INT32_MAX - 2 < nkept) {
        rc = glia_err_set(err, GLIA_EUNSUPPORTED, "%zu tokens do not fit 32-bit ids", nkept);
        goto fail;
    }

    if ((rc = vocab_alloc(nkept + 2, &v, err)) != GLIA_OK)
        goto fail;
    if ((rc = add_copy(v, GLIA_VOCAB_PAD_TOKEN, strlen(GLIA_VOCAB_PAD_TOKEN), err)) != GLIA_OK ||
        (rc = add_copy(v, GLIA_VOCAB_UNK_TOKEN, strlen(GLIA_VOCAB_UNK_TOKEN), err)) != GLIA_OK)
        goto fail;
    for (size_t i = 0; i < nkept; i++) {
        int32_t dup;
        /* The tokenizer never produces "<pad>" or "<unk>" (it splits off '<' and '>'). */
        if (!vocab_add(v, kept[i]->token, kept[i]->len, &dup))
            GLIA_ASSERT(!"a counted token repeats a reserved one");
        kept[i]->token = NULL; /* now v's */
    }
    free(kept);
    counter_free(&c);
    *out = v;
    return GLIA_OK;

fail:
    glia_vocab_free(v);
    free(kept);
    counter_free(&c);
    return rc;
}

/* ---- files ------------------------------------------------------------------------------------ */

glia_status glia_vocab_load(const char *path, glia_vocab **out, glia_err *err)
{
    char *buf = NULL;
    size_t len = 0, lines = 0;
    glia_vocab *v = NULL;
    glia_status rc;
    static const char *const reserved[] = {GLIA_VOCAB_PAD_TOKEN, GLIA_VOCAB_UNK_TOKEN};

    *out = NULL;
    if ((rc = glia_file_read(path, GLIA_VOCAB_MAX_FILE_BYTES, "a vocabulary", &buf, &len, err)) != GLIA_OK)
        return rc;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    if (len > 0 && buf[len - 1] != '\n')
        lines++; /* a last line without its newline is still a line */
    if (lines < 2) {
        rc = glia_err_set(err, GLIA_EFORMAT, "%s:%zu: the file ends early: line 1 must be %s and line 2 %s",
                          path, lines + 1, GLIA_VOCAB_PAD_TOKEN, GLIA_VOCAB_UNK_TOKEN);
        goto fail;
    }
    if (lines > (size_t)INT32_MAX) {
        rc = glia_err_set(err, GLIA_EUNSUPPORTED, "%s: %zu lines do not fit 32-bit ids", path, lines);
        goto fail;
    }
    if ((rc = vocab_alloc(lines, &v, err)) != GLIA_OK)
        goto fail;

    size_t start = 0;
    for (size_t line = 1; line <= lines; line++) {
        char *nl = memchr(buf + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t n = end - start;
        const char *tok = buf + start;
        int32_t dup;
        if (n == 0) {
            rc = glia_err_set(err, GLIA_EFORMAT,
                              "%s:%zu: empty line (ids are line numbers: a blank line would shift every id "
                              "after it)",
                              path, line);
            goto fail;
        }
        if (tok[n - 1] == '\r') {
            rc = glia_err_set(err, GLIA_EFORMAT,
                              "%s:%zu: line ends in a carriage return; the file must use \\n line ends", path,
                              line);
            goto fail;
        }
        if (line <= 2) {
            if (strlen(reserved[line - 1]) != n || memcmp(tok, reserved[line - 1], n) != 0) {
                rc = glia_err_set(err, GLIA_EFORMAT, "%s:%zu: must be %s (id %zu), not '%.*s'", path, line,
                                  reserved[line - 1], line - 1, (int)(n < QUOTE_MAX ? n : QUOTE_MAX), tok);
                goto fail;
            }
        } else if ((rc = glia_tok_check_token(tok, n, err)) != GLIA_OK) {
            glia_err_prefix(err, "%s:%zu", path, line);
            goto fail;
        }
        char *copy = malloc(n + 1);
        if (!copy) {
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", path);
            goto fail;
        }
        memcpy(copy, tok, n);
        copy[n] = '\0';
        if (!vocab_add(v, copy, n, &dup)) {
            rc = glia_err_set(err, GLIA_EFORMAT, "%s:%zu: '%.*s' repeats line %d", path, line,
                              (int)(n < QUOTE_MAX ? n : QUOTE_MAX), copy, dup + 1);
            free(copy);
            goto fail;
        }
        start = end + 1;
    }
    free(buf);
    *out = v;
    return GLIA_OK;

fail:
    glia_vocab_free(v);
    free(buf);
    return rc;
}

glia_status glia_vocab_save(const glia_vocab *v, const char *path, glia_err *err)
{
    glia_afile a;
    /* 0644, not mkstemp's 0600: a DynamicUser= gliad reads installed bundles; vocabularies are not secrets */
    glia_status rc = glia_afile_open(&a, path, 0644, err);
    if (rc != GLIA_OK)
        return rc;
    for (size_t i = 0; i < v->n; i++) {
        fwrite(v->tokens[i], 1, v->lens[i], a.f);
        fputc('\n', a.f);
    }
    return glia_afile_commit(&a, err); /* any write error above is caught here */
}

/* ---- encoding --------------------------------------------------------------------------------- */

typedef struct {
    const glia_vocab *v;
    int32_t *ids;
    size_t max_len, n_ids, n_tokens;
} encoder;

static glia_status encode_token(void *ctx, const char *token, size_t len, glia_err *err)
{
    encoder *e = ctx;
    (void)err;
    if (e->n_ids < e->max_len) {
        int32_t id = find(e->v, token, len, NULL);
        e->ids[e->n_ids++] = id >= 0 ? id : GLIA_VOCAB_UNK;
    }
    e->n_tokens++;
    return GLIA_OK;
}

glia_status glia_vocab_encode(const glia_vocab *v, const char *text, size_t len, size_t max_len, int32_t *ids,
                              size_t *n_ids, size_t *n_tokens, glia_err *err)
{
    encoder e = {.v = v, .ids = ids, .max_len = max_len};
    GLIA_ASSERT(v != NULL && n_ids != NULL && (ids != NULL || max_len == 0));
    glia_status rc = glia_tok_each(text, len, encode_token, &e, err);
    if (rc != GLIA_OK)
        e.n_ids = e.n_tokens = 0;
    for (size_t i = e.n_ids; i < max_len; i++)
        ids[i] = GLIA_VOCAB_PAD;
    *n_ids = e.n_ids;
    if (n_tokens)
        *n_tokens = e.n_tokens;
    return rc;
}
