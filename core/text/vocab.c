/*
 * vocab.c - see vocab.h.
 *
 * Design: the tokens are the keys of one glia_htable (core/base/htable.h), whose ids are the
 * vocabulary's ids because tokens are added in id order. Building counts tokens in another such
 * table (counts in an array by id), then sorts the survivors once by count and text. Loading reads the whole
 * file (bounded by GLIA_VOCAB_MAX_FILE_BYTES), checks every line before anything is kept, and reports the
 * first problem with its line number.
 */
#include "core/text/vocab.h"

#include "core/base/afile.h"
#include "core/base/htable.h"

#include "core/text/negscope.h"
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
    glia_htable tokens;    /* token id is key id */
    glia_negscope_cfg neg; /* how texts are read: negation scopes marked or not */
};

/* Longest token that is marked; a longer one (never a word) is read as it is. */
enum { MARK_MAX = 256 };

/* The token to count or look up for token[0..len) at its place in the text: marked when the
 * scope state says so and it fits buf. */
static const char *scoped(glia_negscope *s, const char *token, size_t *len, char *buf)
{
    if (glia_negscope_next(s, token, *len) && glia_negscope_mark(token, *len, buf, MARK_MAX)) {
        *len += GLIA_NEGSCOPE_PREFIX_LEN;
        return buf;
    }
    return token;
}

/* Longest token quoted in a message. */
enum { QUOTE_MAX = 60 };

void glia_vocab_free(glia_vocab *v)
{
    if (!v)
        return;
    glia_htable_free(&v->tokens);
    free(v);
}

static glia_status vocab_alloc(glia_vocab **out, glia_err *err)
{
    *out = calloc(1, sizeof **out);
    return *out ? GLIA_OK : glia_err_set(err, GLIA_ENOMEM, "out of memory for a vocabulary");
}

/* Appends token[0..len) unless v already holds it: then *dup_id is its id (-1 when added). */
static glia_status vocab_add(glia_vocab *v, const char *token, size_t len, int32_t *dup_id, glia_err *err)
{
    int32_t id;
    bool added;
    glia_status rc = glia_htable_add(&v->tokens, token, len, &id, &added, err);
    if (rc != GLIA_OK) /* id and added are unset */
        return rc;
    *dup_id = added ? -1 : id;
    return GLIA_OK;
}

size_t glia_vocab_size(const glia_vocab *v)
{
    return glia_htable_size(&v->tokens);
}

const char *glia_vocab_token(const glia_vocab *v, int32_t id)
{
    return id >= 0 && (size_t)id < glia_htable_size(&v->tokens) ? glia_htable_key(&v->tokens, id) : NULL;
}

int32_t glia_vocab_id(const glia_vocab *v, const char *token)
{
    int32_t id = glia_htable_find(&v->tokens, token, strlen(token));
    return id >= 0 ? id : GLIA_VOCAB_UNK;
}

/* ---- building --------------------------------------------------------------------------------- */

typedef struct {
    const char *token; /* borrowed from the counter's table */
    size_t len;
    size_t count;
} count_entry;

/* Distinct tokens (table ids) and how often each occurs (count[id]). */
typedef struct {
    glia_htable seen;
    size_t *count;
    size_t cap;
    glia_negscope scope; /* of the text being counted */
} counter;

static glia_status count_token(void *ctx, const char *token, size_t len, glia_err *err)
{
    counter *c = ctx;
    char buf[MARK_MAX];
    token = scoped(&c->scope, token, &len, buf);
    int32_t id;
    bool added;
    glia_status rc = glia_htable_add(&c->seen, token, len, &id, &added, err);
    if (rc != GLIA_OK)
        return rc;
    if ((size_t)id >= c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1024;
        size_t *count = realloc(c->count, cap * sizeof *count);
        if (!count)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory counting %zu distinct tokens", cap);
        c->count = count;
        c->cap = cap;
    }
    c->count[id] = added ? 1 : c->count[id] + 1;
    return GLIA_OK;
}

static void counter_free(counter *c)
{
    glia_htable_free(&c->seen);
    free(c->count);
    memset(c, 0, sizeof *c);
}

static int cmp_count_desc(const void *a, const void *b)
{
    const count_entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->token, y->token);
}

glia_status glia_vocab_build(const char *const *texts, size_t n, size_t min_count, size_t max_size,
                             glia_vocab **out, glia_err *err)
{
    return glia_vocab_build_scoped(texts, n, min_count, max_size, NULL, out, err);
}

glia_status glia_vocab_build_scoped(const char *const *texts, size_t n, size_t min_count, size_t max_size,
                                    const glia_negscope_cfg *neg, glia_vocab **out, glia_err *err)
{
    counter c = {0};
    count_entry *kept = NULL;
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
        glia_negscope_init(&c.scope, neg);
        rc = glia_tok_each(texts[i], strlen(texts[i]), count_token, &c, err);
        if (rc != GLIA_OK) {
            glia_err_prefix(err, "text %zu", i);
            goto fail;
        }
    }

    size_t nkept = 0, distinct = glia_htable_size(&c.seen);
    kept = malloc((distinct ? distinct : 1) * sizeof *kept);
    if (!kept) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory sorting %zu tokens", distinct);
        goto fail;
    }
    for (size_t i = 0; i < distinct; i++) {
        if (c.count[i] >= min_count)
            kept[nkept++] = (count_entry){glia_htable_key(&c.seen, (int32_t)i),
                                          glia_htable_key_len(&c.seen, (int32_t)i), c.count[i]};
    }
    qsort(kept, nkept, sizeof *kept, cmp_count_desc);
    if (max_size > 0 && nkept > max_size - 2)
        nkept = max_size - 2;
    if ((size_t)INT32_MAX - 2 < nkept) {
        rc = glia_err_set(err, GLIA_EUNSUPPORTED, "%zu tokens do not fit 32-bit ids", nkept);
        goto fail;
    }

    if ((rc = vocab_alloc(&v, err)) != GLIA_OK)
        goto fail;
    glia_vocab_set_negscope(v, neg);
    int32_t dup;
    if ((rc = vocab_add(v, GLIA_VOCAB_PAD_TOKEN, strlen(GLIA_VOCAB_PAD_TOKEN), &dup, err)) != GLIA_OK ||
        (rc = vocab_add(v, GLIA_VOCAB_UNK_TOKEN, strlen(GLIA_VOCAB_UNK_TOKEN), &dup, err)) != GLIA_OK)
        goto fail;
    for (size_t i = 0; i < nkept; i++) {
        if ((rc = vocab_add(v, kept[i].token, kept[i].len, &dup, err)) != GLIA_OK)
            goto fail;
        /* The tokenizer never produces "<pad>" or "<unk>" (it splits off '<' and '>'). */
        GLIA_ASSERT(dup < 0);
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

void glia_vocab_set_negscope(glia_vocab *v, const glia_negscope_cfg *neg)
{
    v->neg = neg ? *neg : (glia_negscope_cfg){0};
}

glia_negscope_cfg glia_vocab_negscope(const glia_vocab *v)
{
    return v->neg;
}

glia_status glia_vocab_append(glia_vocab *v, const char *token, bool *added, glia_err *err)
{
    const size_t len = strlen(token);
    int32_t dup = -1;
    glia_status rc = glia_tok_check_token(token, len, err);
    if (rc == GLIA_OK && glia_vocab_size(v) >= (size_t)INT32_MAX)
        rc = glia_err_set(err, GLIA_EUNSUPPORTED, "a vocabulary of %zu tokens cannot grow",
                          glia_vocab_size(v));
    if (rc == GLIA_OK)
        rc = vocab_add(v, token, len, &dup, err);
    if (added)
        *added = rc == GLIA_OK && dup < 0;
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
    if ((rc = vocab_alloc(&v, err)) != GLIA_OK)
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
        if ((rc = vocab_add(v, tok, n, &dup, err)) != GLIA_OK)
            goto fail;
        if (dup >= 0) {
            rc = glia_err_set(err, GLIA_EFORMAT, "%s:%zu: '%.*s' repeats line %d", path, line,
                              (int)(n < QUOTE_MAX ? n : QUOTE_MAX), tok, dup + 1);
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
    for (size_t i = 0; i < glia_htable_size(&v->tokens); i++) {
        fwrite(glia_htable_key(&v->tokens, (int32_t)i), 1, glia_htable_key_len(&v->tokens, (int32_t)i), a.f);
        fputc('\n', a.f);
    }
    return glia_afile_commit(&a, err); /* any write error above is caught here */
}

/* ---- encoding --------------------------------------------------------------------------------- */

typedef struct {
    const glia_vocab *v;
    int32_t *ids;
    size_t max_len, n_ids, n_tokens;
    glia_negscope scope;
} encoder;

static glia_status encode_token(void *ctx, const char *token, size_t len, glia_err *err)
{
    encoder *e = ctx;
    char buf[MARK_MAX];
    (void)err;
    token = scoped(&e->scope, token, &len, buf);
    if (e->n_ids < e->max_len) {
        int32_t id = glia_htable_find(&e->v->tokens, token, len);
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
    glia_negscope_init(&e.scope, &v->neg);
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
