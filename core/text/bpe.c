/*
 * bpe.c - see bpe.h.
 *
 * Design: every table is a glia_htable (core/base/htable.h) - token texts, pieces, code points
 * (their 4 bytes), merges and symbol pairs (their two ids' 8 bytes) - so an id is the order of
 * insertion and each table's values are arrays indexed by it; nothing depends on hash order.
 * Strings are reached by id, never by pointer, because a table's arena moves as it grows.
 *
 * Learning: the distinct pieces of the texts (with a 0xFF byte in front of a word's first
 * piece, a byte UTF-8 never holds) and their counts; the alphabet; each piece as a run of
 * symbol ids (-1 where a code point stays out of the alphabet: no pair is counted across it);
 * a table of adjacent pairs with their weighted count and the list of pieces that held them
 * (entries go stale but are never missing); a max-heap of (count, pair) whose entries are
 * checked against the table when they surface. A merge revisits only the pieces in its pair's
 * list: it takes the piece's pairs out of the counts, merges left to right, and puts them back,
 * pushing the new pairs (the only counts that can grow) onto the heap.
 *
 * Encoding applies, within each piece, the merge of lowest rank among its adjacent pairs until
 * none applies: the same segmentation as replaying the merges in order, in O(piece^2) time on
 * pieces of at most GLIA_BPE_MAX_PIECE code points.
 */
#include "core/text/bpe.h"

#include "core/base/afile.h"

#include "core/base/htable.h"
#include "core/base/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKER_CP      0x2581u
#define MARKER_LEN     3
#define HEADER         "glia-bpe 1"
#define N_HEADER_LINES 4

/* Longest token quoted in a message. */
enum { QUOTE_MAX = 60 };
/* Most symbols a piece can start as: the marker, then 4 bytes per code point. */
enum { PIECE_SYMS = 1 + 4 * GLIA_BPE_MAX_PIECE };

static const char *const specials[GLIA_BPE_N_SPECIAL] = {"<pad>", "<unk>", "<s>", "</s>"};

/* ---- code points ------------------------------------------------------------------------------ */

static bool is_sep(uint32_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Never in the alphabet: controls (they would make the file unreadable) and a literal U+2581
 * (so that '▁' in a token always means the marker). */
static bool is_forced(uint32_t c)
{
    return (c < 0x20 && !is_sep(c)) || (c >= 0x7F && c <= 0x9F) || c == MARKER_CP;
}

/* A piece of its own (see bpe.h). */
static bool is_punct(uint32_t c)
{
    if (c < 0x80)
        return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
               (c >= 0x7B && c <= 0x7E);
    if (c <= 0xFF) {
        if (c == 0xD7 || c == 0xF7 || c == 0xA0)
            return true;
        /* Latin-1 P* and S*; ª º (letters), soft hyphen, ² ³ ¹ µ ¼ ½ ¾ stay in words */
        return c >= 0xA1 && c <= 0xBF && c != 0xAA && c != 0xAD && c != 0xB2 && c != 0xB3 && c != 0xB5 &&
               c != 0xB9 && c != 0xBA && c != 0xBC && c != 0xBD && c != 0xBE;
    }
    return c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || (c >= 0x2010 && c <= 0x2029) ||
           (c >= 0x202F && c <= 0x205F) || (c >= 0x20A0 && c <= 0x20CF) || (c >= 0x2E00 && c <= 0x2E7F) ||
           (c >= 0x3000 && c <= 0x3004) || (c >= 0x3008 && c <= 0x3020) || c == 0x3030 ||
           (c >= 0x303D && c <= 0x303F) || (c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||
           (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65);
}

/* ---- pieces ----------------------------------------------------------------------------------- */

typedef struct {
    const unsigned char *s;
    size_t len, i;
    bool word_start;
} piece_iter;

static void piece_init(piece_iter *it, const char *s, size_t len)
{
    *it = (piece_iter){.s = (const unsigned char *)s, .len = len, .word_start = true};
}

/* The next piece of validated text: bytes [*start, *end), *marker when it begins a word. */
static bool piece_next(piece_iter *it, size_t *start, size_t *end, bool *marker)
{
    while (it->i < it->len && it->s[it->i] < 0x80 && is_sep(it->s[it->i])) {
        it->i++;
        it->word_start = true;
    }
    if (it->i >= it->len)
        return false;
    *start = it->i;
    *marker = it->word_start;
    it->word_start = false;
    uint32_t c;
    size_t n = glia_utf8_decode(it->s, it->i, &c);
    if (is_punct(c)) {
        it->i += n;
    } else {
        size_t count = 0;
        while (it->i < it->len && count < GLIA_BPE_MAX_PIECE) {
            n = glia_utf8_decode(it->s, it->i, &c);
            if (is_sep(c) || is_punct(c))
                break;
            it->i += n;
            count++;
        }
    }
    *end = it->i;
    return true;
}

/* ---- code point -> value ---------------------------------------------------------------------- */

typedef struct {
    glia_htable keys; /* code points, as their 4 bytes */
    int32_t *vals;    /* by id */
    size_t cap;
} cpmap;

static void cpmap_free(cpmap *m)
{
    glia_htable_free(&m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int32_t *cpmap_find(const cpmap *m, uint32_t c)
{
    int32_t id = glia_htable_find(&m->keys, &c, sizeof c);
    return id >= 0 ? &m->vals[id] : NULL;
}

static uint32_t cpmap_key(const cpmap *m, int32_t id)
{
    uint32_t c;
    memcpy(&c, glia_htable_key(&m->keys, id), sizeof c);
    return c;
}

/* The value slot of c, added (as 0) when new. */
static int32_t *cpmap_get(cpmap *m, uint32_t c, glia_err *err)
{
    int32_t id;
    bool added;
    if (glia_htable_add(&m->keys, &c, sizeof c, &id, &added, err) != GLIA_OK)
        return NULL;
    if ((size_t)id >= m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 256;
        int32_t *vals = realloc(m->vals, cap * sizeof *vals);
        if (!vals) {
            glia_err_set(err, GLIA_ENOMEM, "out of memory for a table of %zu characters", cap);
            return NULL;
        }
        m->vals = vals;
        m->cap = cap;
    }
    if (added)
        m->vals[id] = 0;
    return &m->vals[id];
}

/* ---- the tokenizer ---------------------------------------------------------------------------- */

struct glia_bpe {
    glia_htable tok; /* id -> text, text -> id */
    bool byte_fallback;
    int32_t first_learned; /* first id after the specials and bytes */
    int32_t marker;        /* id of "▁" */
    int32_t ascii[128];    /* alphabet id of each ASCII code point, -1 when none */
    cpmap alpha;           /* alphabet id of every other code point */
    size_t n_merges;
    int32_t *m_left, *m_right, *m_result; /* of merge k, room for m_cap */
    size_t m_cap;
    glia_htable m_index; /* merge k is key k: its (left, right) ids */
};

void glia_bpe_free(glia_bpe *b)
{
    if (!b)
        return;
    glia_htable_free(&b->tok);
    cpmap_free(&b->alpha);
    free(b->m_left);
    free(b->m_right);
    free(b->m_result);
    glia_htable_free(&b->m_index);
    free(b);
}

/* Index of the merge (l, r), -1 when there is none. */
static int32_t merge_find(const glia_bpe *b, int32_t l, int32_t r)
{
    const int32_t key[2] = {l, r};
    return glia_htable_find(&b->m_index, key, sizeof key);
}

/* An empty tokenizer with its specials (and bytes), room for cap_merges merges. */
static glia_status bpe_alloc(bool byte_fallback, size_t cap_merges, glia_bpe **out, glia_err *err)
{
    glia_status rc;
    int32_t id;
    glia_bpe *b = calloc(1, sizeof *b);
    if (!b)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a tokenizer");
    b->byte_fallback = byte_fallback;
    b->marker = -1;
    b->m_cap = cap_merges ? cap_merges : 1;
    b->m_left = malloc(b->m_cap * sizeof *b->m_left);
    b->m_right = malloc(b->m_cap * sizeof *b->m_right);
    b->m_result = malloc(b->m_cap * sizeof *b->m_result);
    if (!b->m_left || !b->m_right || !b->m_result) {
        glia_bpe_free(b);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu merges", cap_merges);
    }
    for (int i = 0; i < 128; i++)
        b->ascii[i] = -1;
    for (int i = 0; i < GLIA_BPE_N_SPECIAL; i++) {
        if ((rc = glia_htable_add(&b->tok, specials[i], strlen(specials[i]), &id, NULL, err)) != GLIA_OK)
            goto fail;
    }
    for (int i = 0; byte_fallback && i < 256; i++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", i);
        if ((rc = glia_htable_add(&b->tok, name, strlen(name), &id, NULL, err)) != GLIA_OK)
            goto fail;
    }
    b->first_learned = (int32_t)glia_htable_size(&b->tok);
    *out = b;
    return GLIA_OK;
fail:
    glia_bpe_free(b);
    return rc;
}

/* Records a single-code-point learned token in the alphabet maps. */
static glia_status bpe_alphabet_add(glia_bpe *b, uint32_t c, int32_t id, glia_err *err)
{
    if (c < 128) {
        b->ascii[c] = id;
        return GLIA_OK;
    }
    int32_t *v = cpmap_get(&b->alpha, c, err);
    if (!v)
        return GLIA_ENOMEM;
    *v = id;
    return GLIA_OK;
}

/* Appends merge (l, r) -> result; the caller checked it is new. */
static glia_status bpe_merge_add(glia_bpe *b, int32_t l, int32_t r, int32_t result, glia_err *err)
{
    if (b->n_merges == b->m_cap) {
        size_t grown = 2 * b->m_cap;
        int32_t *left = realloc(b->m_left, grown * sizeof *left);
        if (left)
            b->m_left = left;
        int32_t *right = left ? realloc(b->m_right, grown * sizeof *right) : NULL;
        if (right)
            b->m_right = right;
        int32_t *res = right ? realloc(b->m_result, grown * sizeof *res) : NULL;
        if (!res)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu merges", grown);
        b->m_result = res;
        b->m_cap = grown;
    }
    const int32_t key[2] = {l, r};
    int32_t k;
    bool added;
    glia_status rc = glia_htable_add(&b->m_index, key, sizeof key, &k, &added, err);
    if (rc != GLIA_OK)
        return rc;
    GLIA_ASSERT(added && (size_t)k == b->n_merges);
    b->m_left[k] = l;
    b->m_right[k] = r;
    b->m_result[k] = result;
    b->n_merges++;
    return GLIA_OK;
}

static int32_t alpha_id(const glia_bpe *b, uint32_t c)
{
    if (c < 128)
        return b->ascii[c];
    if (c == MARKER_CP)
        return -1; /* a literal U+2581 is not the marker */
    int32_t *v = cpmap_find(&b->alpha, c);
    return v ? *v : -1;
}

size_t glia_bpe_size(const glia_bpe *b)
{
    return glia_htable_size(&b->tok);
}

bool glia_bpe_byte_fallback(const glia_bpe *b)
{
    return b->byte_fallback;
}

const char *glia_bpe_token(const glia_bpe *b, int32_t id)
{
    return id >= 0 && (size_t)id < glia_htable_size(&b->tok) ? glia_htable_key(&b->tok, id) : NULL;
}

int32_t glia_bpe_id(const glia_bpe *b, const char *token)
{
    return glia_htable_find(&b->tok, token, strlen(token));
}

size_t glia_bpe_n_merges(const glia_bpe *b)
{
    return b->n_merges;
}

bool glia_bpe_merge(const glia_bpe *b, size_t k, int32_t *left, int32_t *right, int32_t *result)
{
    if (k >= b->n_merges)
        return false;
    if (left)
        *left = b->m_left[k];
    if (right)
        *right = b->m_right[k];
    if (result)
        *result = b->m_result[k];
    return true;
}

glia_bpe_opts glia_bpe_defaults(void)
{
    return (glia_bpe_opts){
        .vocab_size = 8000, .max_merges = 0, .min_pair_count = 2, .min_char_count = 1, .byte_fallback = true};
}

/* ---- learning --------------------------------------------------------------------------------- */

typedef struct {
    int32_t a, b;
    int64_t count;
    uint32_t *where; /* pieces that held the pair (maybe no longer), maybe repeated */
    uint32_t n_where, cap_where;
    uint32_t stamp; /* last merge that pushed it */
} pair_entry;

typedef struct {
    int64_t count;
    int32_t pair;
} heap_entry;

typedef struct {
    const glia_htable *tok; /* token texts, for the tie rule */
    pair_entry *pairs;      /* pair k is key k of index: its (a, b) ids */
    size_t n_pairs, cap_pairs;
    glia_htable index;
    heap_entry *heap;
    size_t n_heap, cap_heap;
    int32_t *touched; /* pairs holding the new symbol, pushed once the merge is done */
    size_t n_touched, cap_touched;
} pair_stats;

static void stats_free(pair_stats *ps)
{
    for (size_t i = 0; i < ps->n_pairs; i++)
        free(ps->pairs[i].where);
    free(ps->pairs);
    glia_htable_free(&ps->index);
    free(ps->heap);
    free(ps->touched);
}

static int32_t stats_pair(pair_stats *ps, int32_t a, int32_t b, glia_err *err)
{
    const int32_t key[2] = {a, b};
    int32_t k;
    bool added;
    if (glia_htable_add(&ps->index, key, sizeof key, &k, &added, err) != GLIA_OK)
        return -1;
    if (!added)
        return k;
    if (ps->n_pairs == ps->cap_pairs) {
        size_t cap = ps->cap_pairs ? 2 * ps->cap_pairs : 1024;
        pair_entry *pairs = realloc(ps->pairs, cap * sizeof *pairs);
        if (!pairs) {
            glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu symbol pairs", cap);
            return -1;
        }
        ps->pairs = pairs;
        ps->cap_pairs = cap;
    }
    GLIA_ASSERT((size_t)k == ps->n_pairs);
    ps->pairs[ps->n_pairs] = (pair_entry){.a = a, .b = b};
    return (int32_t)ps->n_pairs++;
}

static bool pair_where_add(pair_entry *p, uint32_t w)
{
    if (p->n_where > 0 && p->where[p->n_where - 1] == w)
        return true;
    if (p->n_where == p->cap_where) {
        uint32_t cap = p->cap_where ? 2 * p->cap_where : 4;
        uint32_t *where = realloc(p->where, cap * sizeof *where);
        if (!where)
            return false;
        p->where = where;
        p->cap_where = cap;
    }
    p->where[p->n_where++] = w;
    return true;
}

/* True when x should be merged before y: more frequent, then the left token's text first in
 * byte order, then the right token's. */
static bool heap_before(const pair_stats *ps, heap_entry x, heap_entry y)
{
    if (x.count != y.count)
        return x.count > y.count;
    const pair_entry *p = &ps->pairs[x.pair], *q = &ps->pairs[y.pair];
    int c = strcmp(glia_htable_key(ps->tok, p->a), glia_htable_key(ps->tok, q->a));
    if (c == 0)
        c = strcmp(glia_htable_key(ps->tok, p->b), glia_htable_key(ps->tok, q->b));
    return c < 0;
}

static bool heap_push(pair_stats *ps, int32_t pair)
{
    if (ps->n_heap == ps->cap_heap) {
        size_t cap = ps->cap_heap ? 2 * ps->cap_heap : 1024;
        heap_entry *heap = realloc(ps->heap, cap * sizeof *heap);
        if (!heap)
            return false;
        ps->heap = heap;
        ps->cap_heap = cap;
    }
    heap_entry e = {ps->pairs[pair].count, pair};
    size_t i = ps->n_heap++;
    while (i > 0 && heap_before(ps, e, ps->heap[(i - 1) / 2])) {
        ps->heap[i] = ps->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    ps->heap[i] = e;
    return true;
}

static void heap_pop(pair_stats *ps)
{
    heap_entry e = ps->heap[--ps->n_heap];
    size_t i = 0, n = ps->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_before(ps, ps->heap[c + 1], ps->heap[c]))
            c++;
        if (!heap_before(ps, ps->heap[c], e))
            break;
        ps->heap[i] = ps->heap[c];
        i = c;
    }
    if (n > 0)
        ps->heap[i] = e;
}

typedef struct {
    int32_t *syms;  /* all pieces' symbols back to back */
    size_t *off;    /* piece k starts at syms + off[k] */
    uint32_t *len;  /* and has len[k] symbols (shrinks as merges apply) */
    int64_t *count; /* how often the piece occurs */
    uint32_t *stamp;
    size_t n;
} piece_set;

static void pieces_free(piece_set *ps)
{
    free(ps->syms);
    free(ps->off);
    free(ps->len);
    free(ps->count);
    free(ps->stamp);
}

/* Adds sign * count to every pair of piece w; with sign > 0 also lists w under the pairs that hold
 * new_id and notes those (once per merge) in st->touched, to be pushed onto the heap with their
 * final counts: an entry must never show less than its pair's count. */
static glia_status piece_pairs(pair_stats *st, piece_set *pc, uint32_t w, int sign, int32_t new_id,
                               uint32_t stamp, glia_err *err)
{
    const int32_t *s = pc->syms + pc->off[w];
    for (uint32_t i = 0; i + 1 < pc->len[w]; i++) {
        if (s[i] < 0 || s[i + 1] < 0)
            continue;
        int32_t k = stats_pair(st, s[i], s[i + 1], err);
        if (k < 0)
            return GLIA_ENOMEM;
        pair_entry *p = &st->pairs[k];
        p->count += sign * pc->count[w];
        if (sign > 0 && (s[i] == new_id || s[i + 1] == new_id || new_id < 0)) {
            if (!pair_where_add(p, w))
                return glia_err_set(err, GLIA_ENOMEM, "out of memory for symbol pair lists");
            if (new_id >= 0 && p->stamp != stamp) {
                p->stamp = stamp;
                if (st->n_touched == st->cap_touched) {
                    size_t cap = st->cap_touched ? 2 * st->cap_touched : 256;
                    int32_t *t = realloc(st->touched, cap * sizeof *t);
                    if (!t)
                        return glia_err_set(err, GLIA_ENOMEM, "out of memory for the pair heap");
                    st->touched = t;
                    st->cap_touched = cap;
                }
                st->touched[st->n_touched++] = k;
            }
        }
    }
    return GLIA_OK;
}

/* Merges every (a, b) of piece w, left to right; false when it held none. */
static bool piece_merge(piece_set *pc, uint32_t w, int32_t a, int32_t b, int32_t id)
{
    int32_t *s = pc->syms + pc->off[w];
    uint32_t n = pc->len[w], o = 0;
    bool any = false;
    for (uint32_t i = 0; i < n; i++) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            s[o++] = id;
            i++;
            any = true;
        } else {
            s[o++] = s[i];
        }
    }
    pc->len[w] = o;
    return any;
}

/* Records the merge (a, b) and returns its result's id in *id: a new token, or the one that
 * already has the joined text. */
static glia_status learn_merge(glia_bpe *b, int32_t a, int32_t bb, int32_t *id, glia_err *err)
{
    size_t la = glia_htable_key_len(&b->tok, a), lb = glia_htable_key_len(&b->tok, bb);
    char *joined = malloc(la + lb);
    if (!joined)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a merged token");
    memcpy(joined, glia_htable_key(&b->tok, a), la);
    memcpy(joined + la, glia_htable_key(&b->tok, bb), lb);
    glia_status rc = glia_htable_add(&b->tok, joined, la + lb, id, NULL, err);
    free(joined);
    if (rc != GLIA_OK)
        return rc;
    return bpe_merge_add(b, a, bb, *id, err);
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* The distinct pieces of the texts - a 0xFF byte for the marker, then the UTF-8 - and how often
 * each occurs: learning works on these, not on the texts. */
typedef struct {
    glia_htable keys;
    int64_t *count; /* by id */
    size_t cap;
} piece_counts;

static void piece_counts_free(piece_counts *pk)
{
    glia_htable_free(&pk->keys);
    free(pk->count);
    pk->count = NULL;
    pk->cap = 0;
}

/* Adds one occurrence of the piece s[0, len). */
static glia_status piece_count(piece_counts *pk, const char *s, size_t len, glia_err *err)
{
    int32_t id;
    glia_status rc = glia_htable_add(&pk->keys, s, len, &id, NULL, err);
    if (rc != GLIA_OK)
        return rc;
    if ((size_t)id >= pk->cap) {
        size_t cap = pk->cap ? 2 * pk->cap : 4096;
        int64_t *grown = realloc(pk->count, cap * sizeof *grown);
        if (!grown)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory counting pieces");
        memset(grown + pk->cap, 0, (cap - pk->cap) * sizeof *grown);
        pk->count = grown;
        pk->cap = cap;
    }
    pk->count[id]++;
    return GLIA_OK;
}

/* Step 1: the distinct pieces of all the texts and their counts. */
static glia_status count_pieces(const char *const *texts, const size_t *lens, size_t n, piece_counts *pk,
                                glia_err *err)
{
    glia_status rc = GLIA_OK;
    char *scratch = malloc(1 + 4 * GLIA_BPE_MAX_PIECE);
    if (!scratch)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory learning a tokenizer");
    for (size_t t = 0; t < n && rc == GLIA_OK; t++) {
        size_t len = lens ? lens[t] : strlen(texts[t]), bad, start, end;
        bool marker;
        if (!glia_utf8_valid(texts[t], len, &bad)) {
            rc = glia_err_set(err, GLIA_EFORMAT, "text %zu: invalid UTF-8 at byte %zu", t, bad);
            break;
        }
        piece_iter it;
        piece_init(&it, texts[t], len);
        while (rc == GLIA_OK && piece_next(&it, &start, &end, &marker)) {
            size_t k = 0;
            if (marker)
                scratch[k++] = (char)0xFF;
            memcpy(scratch + k, texts[t] + start, end - start);
            k += end - start;
            rc = piece_count(pk, scratch, k, err);
        }
    }
    free(scratch);
    return rc;
}

/* Step 2: the alphabet, sorted - the code points seen min_char_count times, the marker always -
 * in *alphabet (the caller frees it), and in *total_syms the symbols every piece can start as
 * (4 per code point, so that a piece's run has room whatever the alphabet holds). */
static glia_status learn_alphabet(const piece_counts *pk, size_t min_char_count, uint32_t **alphabet,
                                  size_t *n_alpha, size_t *total_syms, glia_err *err)
{
    cpmap chars = {0}; /* code point -> occurrences */
    glia_status rc = GLIA_OK;
    *total_syms = 0;
    *n_alpha = 0;
    for (size_t k = 0; k < glia_htable_size(&pk->keys); k++) {
        const unsigned char *s = (const unsigned char *)glia_htable_key(&pk->keys, (int32_t)k);
        size_t i = s[0] == 0xFF, len = glia_htable_key_len(&pk->keys, (int32_t)k);
        *total_syms += i;
        while (i < len) {
            uint32_t c;
            i += glia_utf8_decode(s, i, &c);
            int32_t *v = cpmap_get(&chars, c, err);
            if (!v) {
                rc = GLIA_ENOMEM;
                goto done;
            }
            /* counts saturate at INT32_MAX: only the comparison with min_char_count matters */
            int64_t sum = (int64_t)*v + pk->count[k];
            *v = sum > INT32_MAX ? INT32_MAX : (int32_t)sum;
            *total_syms += 4;
        }
    }
    uint32_t *a = malloc((glia_htable_size(&chars.keys) + 1) * sizeof *a);
    if (!a) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for the alphabet");
        goto done;
    }
    for (size_t k = 0; k < glia_htable_size(&chars.keys); k++) {
        uint32_t c = cpmap_key(&chars, (int32_t)k);
        if (!is_forced(c) && (size_t)chars.vals[k] >= min_char_count)
            a[(*n_alpha)++] = c;
    }
    a[(*n_alpha)++] = MARKER_CP;
    qsort(a, *n_alpha, sizeof *a, cmp_u32);
    *alphabet = a;
done:
    cpmap_free(&chars);
    return rc;
}

/* A tokenizer of the specials (and bytes) and the alphabet, once vocab_size leaves room for it. */
static glia_status alphabet_tokenizer(const glia_bpe_opts *opts, const uint32_t *alphabet, size_t n_alpha,
                                      glia_bpe **out, glia_err *err)
{
    size_t base = GLIA_BPE_N_SPECIAL + (opts->byte_fallback ? 256 : 0) + n_alpha;
    if (opts->vocab_size > 0 && opts->vocab_size < base)
        return glia_err_set(
            err, GLIA_EINVAL,
            "vocab_size %zu is smaller than the %zu ids the special tokens%s and an alphabet of %zu "
            "characters need (raise vocab_size, or min_char_count to shrink the alphabet)",
            opts->vocab_size, base, opts->byte_fallback ? ", 256 bytes" : "", n_alpha);
    glia_bpe *b;
    glia_status rc = bpe_alloc(opts->byte_fallback, 64, &b, err);
    if (rc != GLIA_OK)
        return rc;
    for (size_t i = 0; i < n_alpha; i++) {
        char u[4];
        uint32_t c = alphabet[i];
        size_t k = glia_utf8_encode(c, u);
        int32_t id;
        if ((rc = glia_htable_add(&b->tok, u, k, &id, NULL, err)) != GLIA_OK ||
            (rc = bpe_alphabet_add(b, c, id, err)) != GLIA_OK) {
            glia_bpe_free(b);
            return rc;
        }
        if (c == MARKER_CP)
            b->marker = id;
    }
    *out = b;
    return GLIA_OK;
}

/* Step 3: each piece as a run of symbol ids; pc takes over pk's counts. */
static glia_status pieces_build(piece_set *pc, piece_counts *pk, size_t total_syms, const glia_bpe *b,
                                glia_err *err)
{
    pc->n = glia_htable_size(&pk->keys);
    pc->syms = malloc((total_syms ? total_syms : 1) * sizeof *pc->syms);
    pc->off = malloc((pc->n ? pc->n : 1) * sizeof *pc->off);
    pc->len = malloc((pc->n ? pc->n : 1) * sizeof *pc->len);
    pc->stamp = calloc(pc->n ? pc->n : 1, sizeof *pc->stamp);
    pc->count = pk->count;
    pk->count = NULL;
    if (!pc->syms || !pc->off || !pc->len || !pc->stamp)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu pieces", pc->n);
    size_t at = 0;
    for (size_t k = 0; k < pc->n; k++) {
        const unsigned char *s = (const unsigned char *)glia_htable_key(&pk->keys, (int32_t)k);
        size_t i = 0, len = glia_htable_key_len(&pk->keys, (int32_t)k);
        pc->off[k] = at;
        if (s[0] == 0xFF) {
            pc->syms[at++] = b->marker;
            i = 1;
        }
        while (i < len) {
            uint32_t c;
            i += glia_utf8_decode(s, i, &c);
            pc->syms[at++] = alpha_id(b, c); /* -1: out of the alphabet, a barrier */
        }
        pc->len[k] = (uint32_t)(at - pc->off[k]);
    }
    return GLIA_OK;
}

/* Every adjacent pair of every piece counted, and all of them on the heap. */
static glia_status count_pairs(pair_stats *st, piece_set *pc, glia_err *err)
{
    glia_status rc;
    for (size_t w = 0; w < pc->n; w++) {
        if ((rc = piece_pairs(st, pc, (uint32_t)w, 1, -1, 0, err)) != GLIA_OK)
            return rc;
    }
    for (size_t k = 0; k < st->n_pairs; k++) {
        if (!heap_push(st, (int32_t)k))
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for the pair heap");
    }
    return GLIA_OK;
}

/* The pair of the first heap entry whose count is still current in *best, -1 when the heap runs
 * out. Counts only fall, so a stale entry goes back with its true count (or away at 0). */
static glia_status heap_best(pair_stats *st, int32_t *best, glia_err *err)
{
    *best = -1;
    while (st->n_heap > 0) {
        heap_entry top = st->heap[0];
        heap_pop(st);
        int64_t now = st->pairs[top.pair].count;
        if (now == top.count) {
            *best = top.pair;
            return GLIA_OK;
        }
        if (now > 0 && !heap_push(st, top.pair))
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for the pair heap");
    }
    return GLIA_OK;
}

/* Applies the merge of pair best into id in the pieces listed under it (once each: stamp marks
 * the ones seen), then pushes the pairs it made with their final counts. */
static glia_status revisit(pair_stats *st, piece_set *pc, int32_t best, int32_t id, uint32_t stamp,
                           glia_err *err)
{
    glia_status rc = GLIA_OK;
    const int32_t a = st->pairs[best].a, bb = st->pairs[best].b;
    uint32_t *where = st->pairs[best].where, n_where = st->pairs[best].n_where;
    st->pairs[best].where = NULL;
    st->pairs[best].n_where = st->pairs[best].cap_where = 0;
    for (uint32_t k = 0; k < n_where && rc == GLIA_OK; k++) {
        uint32_t w = where[k];
        if (pc->stamp[w] == stamp)
            continue;
        pc->stamp[w] = stamp;
        const int32_t *s = pc->syms + pc->off[w];
        bool holds = false;
        for (uint32_t i = 0; i + 1 < pc->len[w] && !holds; i++)
            holds = s[i] == a && s[i + 1] == bb;
        if (!holds)
            continue; /* a stale entry of the list */
        if ((rc = piece_pairs(st, pc, w, -1, id, stamp, err)) != GLIA_OK)
            break;
        piece_merge(pc, w, a, bb, id);
        rc = piece_pairs(st, pc, w, 1, id, stamp, err);
    }
    free(where);
    for (size_t k = 0; k < st->n_touched && rc == GLIA_OK; k++) {
        if (!heap_push(st, st->touched[k]))
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for the pair heap");
    }
    st->n_touched = 0;
    return rc;
}

/* Step 4: merges the most frequent pair until the vocabulary is full, max_merges are made or no
 * pair occurs min_pair_count times. */
static glia_status learn_merges(glia_bpe *b, piece_set *pc, const glia_bpe_opts *opts, glia_err *err)
{
    pair_stats st = {.tok = &b->tok};
    uint32_t merge_round = 0; /* stamps of pieces and pairs: one per merge applied */
    glia_status rc = count_pairs(&st, pc, err);
    while (rc == GLIA_OK && (opts->max_merges == 0 || b->n_merges < opts->max_merges)) {
        if (opts->vocab_size > 0 && glia_htable_size(&b->tok) >= opts->vocab_size)
            break;
        int32_t best;
        if ((rc = heap_best(&st, &best, err)) != GLIA_OK)
            break;
        if (best < 0 || st.pairs[best].count < (int64_t)opts->min_pair_count || st.pairs[best].count <= 0)
            break;
        int32_t a = st.pairs[best].a, bb = st.pairs[best].b, id;
        int32_t again = merge_find(b, a, bb);
        if (again >= 0) {
            /* a merge that reused an existing token made (a, b) adjacent again after (a, b) was
             * merged: apply the old merge there too (encoding would), record nothing new */
            id = b->m_result[again];
        } else if ((rc = learn_merge(b, a, bb, &id, err)) != GLIA_OK) {
            break;
        }
        if ((rc = revisit(&st, pc, best, id, ++merge_round, err)) != GLIA_OK)
            break;
        GLIA_ASSERT(st.pairs[best].count == 0);
    }
    stats_free(&st);
    return rc;
}

glia_status glia_bpe_learn(const char *const *texts, const size_t *lens, size_t n, const glia_bpe_opts *opts,
                           glia_bpe **out, glia_err *err)
{
    piece_counts pk = {0};
    uint32_t *alphabet = NULL;
    size_t n_alpha, total_syms;
    piece_set pc = {0};
    glia_bpe *b = NULL;
    glia_status rc;

    *out = NULL;
    GLIA_ASSERT(opts != NULL && (texts != NULL || n == 0));
    if (opts->min_pair_count < 1 || opts->min_char_count < 1)
        return glia_err_set(err, GLIA_EINVAL, "BPE min_pair_count and min_char_count must be at least 1");
    if ((rc = count_pieces(texts, lens, n, &pk, err)) != GLIA_OK ||
        (rc = learn_alphabet(&pk, opts->min_char_count, &alphabet, &n_alpha, &total_syms, err)) != GLIA_OK ||
        (rc = alphabet_tokenizer(opts, alphabet, n_alpha, &b, err)) != GLIA_OK ||
        (rc = pieces_build(&pc, &pk, total_syms, b, err)) != GLIA_OK)
        goto done;
    piece_counts_free(&pk); /* the pieces are symbol runs now: free their texts before merging */
    rc = learn_merges(b, &pc, opts, err);
done:
    piece_counts_free(&pk);
    free(alphabet);
    pieces_free(&pc);
    if (rc != GLIA_OK) {
        glia_bpe_free(b);
        return rc;
    }
    *out = b;
    return GLIA_OK;
}

/* ---- encoding and decoding -------------------------------------------------------------------- */

void glia_bpe_ids_free(glia_bpe_ids *ids)
{
    free(ids->ids);
    memset(ids, 0, sizeof *ids);
}

static bool ids_reserve(glia_bpe_ids *out, size_t more)
{
    if (out->cap - out->n >= more)
        return true;
    size_t cap = out->cap ? out->cap : 64;
    while (cap - out->n < more)
        cap *= 2;
    int32_t *ids = realloc(out->ids, cap * sizeof *ids);
    if (!ids)
        return false;
    out->ids = ids;
    out->cap = cap;
    return true;
}

glia_status glia_bpe_encode(const glia_bpe *b, const char *text, size_t len, int flags, glia_bpe_ids *out,
                            glia_err *err)
{
    size_t bad, start, end;
    bool marker;
    int32_t sym[PIECE_SYMS];
    GLIA_ASSERT(b != NULL && out != NULL && (text != NULL || len == 0));
    out->n = 0;
    if (!glia_utf8_valid(text, len, &bad))
        return glia_err_set(err, GLIA_EFORMAT, "invalid UTF-8 at byte %zu", bad);
    if (!ids_reserve(out, 2))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory encoding %zu bytes", len);
    if (flags & GLIA_BPE_ADD_BOS)
        out->ids[out->n++] = GLIA_BPE_BOS;
    piece_iter it;
    piece_init(&it, text, len);
    while (piece_next(&it, &start, &end, &marker)) {
        size_t n = 0;
        if (marker)
            sym[n++] = b->marker;
        for (size_t i = start; i < end;) {
            uint32_t c;
            size_t k = glia_utf8_decode(it.s, i, &c);
            int32_t id = alpha_id(b, c);
            if (id >= 0)
                sym[n++] = id;
            else if (b->byte_fallback)
                for (size_t j = 0; j < k; j++)
                    sym[n++] = GLIA_BPE_BYTE0 + it.s[i + j];
            else
                sym[n++] = GLIA_BPE_UNK;
            i += k;
        }
        for (;;) {
            int32_t best = INT32_MAX;
            size_t at = 0;
            for (size_t i = 0; i + 1 < n; i++) {
                if (sym[i] < b->first_learned || sym[i + 1] < b->first_learned)
                    continue;
                int32_t k = merge_find(b, sym[i], sym[i + 1]);
                if (k >= 0 && k < best) {
                    best = k;
                    at = i;
                }
            }
            if (best == INT32_MAX)
                break;
            sym[at] = b->m_result[best];
            memmove(sym + at + 1, sym + at + 2, (n - at - 2) * sizeof *sym);
            n--;
        }
        if (!ids_reserve(out, n + 1)) {
            out->n = 0;
            return glia_err_set(err, GLIA_ENOMEM, "out of memory encoding %zu bytes", len);
        }
        memcpy(out->ids + out->n, sym, n * sizeof *sym);
        out->n += n;
    }
    if (flags & GLIA_BPE_ADD_EOS)
        out->ids[out->n++] = GLIA_BPE_EOS;
    return GLIA_OK;
}

typedef struct {
    char *s;
    size_t len, cap;
} buf;

static bool buf_add(buf *o, const void *p, size_t n)
{
    if (o->cap - o->len < n + 1) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap - o->len < n + 1)
            cap *= 2;
        char *s = realloc(o->s, cap);
        if (!s)
            return false;
        o->s = s;
        o->cap = cap;
    }
    memcpy(o->s + o->len, p, n);
    o->len += n;
    o->s[o->len] = '\0';
    return true;
}

#define REPLACEMENT "\xef\xbf\xbd"

/* Appends the pending bytes of byte tokens, U+FFFD for each byte that starts no valid sequence. */
static bool flush_bytes(buf *o, buf *pending)
{
    size_t i = 0, bad;
    while (i < pending->len) {
        if (glia_utf8_valid(pending->s + i, pending->len - i, &bad))
            bad = pending->len - i;
        if (!buf_add(o, pending->s + i, bad))
            return false;
        i += bad;
        if (i < pending->len) {
            if (!buf_add(o, REPLACEMENT, 3))
                return false;
            i++;
        }
    }
    pending->len = 0;
    return true;
}

glia_status glia_bpe_decode(const glia_bpe *b, const int32_t *ids, size_t n, char **text, size_t *len,
                            glia_err *err)
{
    buf o = {0}, pending = {0};
    bool ok = buf_add(&o, "", 0);
    *text = NULL;
    GLIA_ASSERT(b != NULL && (ids != NULL || n == 0));
    for (size_t i = 0; i < n && ok; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= glia_htable_size(&b->tok)) {
            free(o.s);
            free(pending.s);
            return glia_err_set(err, GLIA_EINVAL,
                                "token id %d at position %zu is outside the vocabulary [0, %zu)", id, i,
                                glia_htable_size(&b->tok));
        }
        if (b->byte_fallback && id >= GLIA_BPE_BYTE0 && id < GLIA_BPE_BYTE0 + 256) {
            unsigned char byte = (unsigned char)(id - GLIA_BPE_BYTE0);
            ok = buf_add(&pending, &byte, 1);
            continue;
        }
        ok = flush_bytes(&o, &pending);
        if (id == GLIA_BPE_UNK) {
            ok = ok && buf_add(&o, REPLACEMENT, 3);
        } else if (id >= b->first_learned) {
            const char *t = glia_htable_key(&b->tok, id);
            size_t tl = glia_htable_key_len(&b->tok, id);
            if (tl >= MARKER_LEN && memcmp(t, GLIA_BPE_MARKER, MARKER_LEN) == 0) {
                if (o.len > 0)
                    ok = ok && buf_add(&o, " ", 1);
                t += MARKER_LEN;
                tl -= MARKER_LEN;
            }
            ok = ok && buf_add(&o, t, tl);
        } /* <pad>, <s>, </s>: nothing */
    }
    ok = ok && flush_bytes(&o, &pending);
    free(pending.s);
    if (!ok) {
        free(o.s);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory decoding %zu tokens", n);
    }
    *text = o.s;
    if (len)
        *len = o.len;
    return GLIA_OK;
}

glia_status glia_bpe_normalize(const char *text, size_t len, char **out, size_t *out_len, glia_err *err)
{
    size_t bad, o = 0;
    *out = NULL;
    if (!glia_utf8_valid(text, len, &bad))
        return glia_err_set(err, GLIA_EFORMAT, "invalid UTF-8 at byte %zu", bad);
    char *s = malloc(len + 1);
    if (!s)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory normalising %zu bytes", len);
    bool space = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80 && is_sep(c)) {
            space = true;
            continue;
        }
        if (space && o > 0)
            s[o++] = ' ';
        space = false;
        s[o++] = (char)c;
    }
    s[o] = '\0';
    *out = s;
    if (out_len)
        *out_len = o;
    return GLIA_OK;
}

/* ---- files ------------------------------------------------------------------------------------ */

typedef struct {
    const char *path;
    const char *data;
    size_t len, at, line; /* line: number of the line last returned */
} line_reader;

/* The next line (without '\n') in *s, *n; false at the end of the file. */
static bool next_line(line_reader *lr, const char **s, size_t *n)
{
    if (lr->at >= lr->len)
        return false;
    const char *nl = memchr(lr->data + lr->at, '\n', lr->len - lr->at);
    size_t end = nl ? (size_t)(nl - lr->data) : lr->len;
    *s = lr->data + lr->at;
    *n = end - lr->at;
    lr->at = end + 1;
    lr->line++;
    return true;
}

/* "name N" with N a decimal in [0, max] without sign or leading zeros. */
static bool parse_count(const char *s, size_t n, const char *name, size_t max, size_t *out)
{
    size_t nl = strlen(name), v = 0;
    if (n <= nl + 1 || memcmp(s, name, nl) != 0 || s[nl] != ' ')
        return false;
    s += nl + 1;
    n -= nl + 1;
    if (n > 10 || (s[0] == '0' && n > 1))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* Checks a learned token's text; *n_cps gets its code point count. */
static glia_status check_token(const char *t, size_t n, size_t *n_cps, glia_err *err)
{
    size_t bad;
    if (!glia_utf8_valid(t, n, &bad))
        return glia_err_set(err, GLIA_EFORMAT, "invalid UTF-8 at byte %zu of the token", bad);
    *n_cps = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t k = glia_utf8_decode((const unsigned char *)t, i, &c);
        if (is_sep(c))
            return glia_err_set(err, GLIA_EFORMAT, "white space (byte 0x%02X) in token '%.*s'", c,
                                (int)(n < QUOTE_MAX ? n : QUOTE_MAX), t);
        if (c == MARKER_CP && i > 0)
            return glia_err_set(err, GLIA_EFORMAT, "the word marker U+2581 after the start of token '%.*s'",
                                (int)(n < QUOTE_MAX ? n : QUOTE_MAX), t);
        if (c != MARKER_CP && is_forced(c))
            return glia_err_set(err, GLIA_EFORMAT, "control character U+%04X at byte %zu of the token", c, i);
        i += k;
        (*n_cps)++;
    }
    return GLIA_OK;
}

/* The width to quote a token of n bytes with in a message ("%.*s"). */
static int quoted(size_t n)
{
    return (int)(n < QUOTE_MAX ? n : QUOTE_MAX);
}

/* The next line, which must be there and not empty; what says what it should hold. */
static glia_status need_line(line_reader *lr, const char *what, const char **s, size_t *n, glia_err *err)
{
    if (!next_line(lr, s, n))
        return glia_err_set(err, GLIA_EFORMAT, "%s:%zu: the file ends early: expected %s", lr->path,
                            lr->line + 1, what);
    if (*n == 0)
        return glia_err_set(err, GLIA_EFORMAT, "%s:%zu: empty line where %s should be", lr->path, lr->line,
                            what);
    return GLIA_OK;
}

/* A '\r' anywhere is an error of its own: otherwise a file saved with \r\n line ends would fail
 * on a token that looks right. */
static glia_status check_line_ends(const line_reader *lr, glia_err *err)
{
    const char *cr = memchr(lr->data, '\r', lr->len);
    if (!cr)
        return GLIA_OK;
    size_t line = 1;
    for (const char *p = lr->data; p < cr; p++)
        line += *p == '\n';
    return glia_err_set(err, GLIA_EFORMAT, "%s:%zu: carriage return; the file must use \\n line ends",
                        lr->path, line);
}

typedef struct {
    bool byte_fallback;
    size_t n_vocab, n_merges;
} bpe_header;

/* Lines 1-4: the format, byte fallback, the vocabulary size and the number of merges. */
static glia_status parse_header(line_reader *lr, bpe_header *h, glia_err *err)
{
    const char *s, *path = lr->path;
    size_t n;
    glia_status rc;
    if ((rc = need_line(lr, "the header '" HEADER "'", &s, &n, err)) != GLIA_OK)
        return rc;
    if (n != strlen(HEADER) || memcmp(s, HEADER, n) != 0) {
        if (n > 9 && memcmp(s, "glia-bpe ", 9) == 0)
            return glia_err_set(err, GLIA_EFORMAT,
                                "%s:1: unsupported tokenizer format version '%.*s' (this glia reads '" HEADER
                                "')",
                                path, quoted(n), s);
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s:1: not a glia BPE tokenizer file: the first line must be '" HEADER "'", path);
    }
    if ((rc = need_line(lr, "'byte-fallback yes' or 'byte-fallback no'", &s, &n, err)) != GLIA_OK)
        return rc;
    if (n == 17 && memcmp(s, "byte-fallback yes", 17) == 0)
        h->byte_fallback = true;
    else if (n == 16 && memcmp(s, "byte-fallback no", 16) == 0)
        h->byte_fallback = false;
    else
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s:2: expected 'byte-fallback yes' or 'byte-fallback no', not '%.*s'", path,
                            quoted(n), s);
    size_t fixed = GLIA_BPE_N_SPECIAL + (h->byte_fallback ? 256 : 0);
    if ((rc = need_line(lr, "'vocab N'", &s, &n, err)) != GLIA_OK)
        return rc;
    if (!parse_count(s, n, "vocab", INT32_MAX, &h->n_vocab) || h->n_vocab <= fixed)
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s:3: expected 'vocab N' with N from %zu (the special tokens%s and the marker) "
                            "to %d, not '%.*s'",
                            path, fixed + 1, h->byte_fallback ? ", the 256 bytes" : "", INT32_MAX, quoted(n),
                            s);
    if ((rc = need_line(lr, "'merges M'", &s, &n, err)) != GLIA_OK)
        return rc;
    if (!parse_count(s, n, "merges", INT32_MAX, &h->n_merges))
        return glia_err_set(err, GLIA_EFORMAT, "%s:4: expected 'merges M' with M from 0 to %d, not '%.*s'",
                            path, INT32_MAX, quoted(n), s);
    if (h->n_vocab + h->n_merges >
        lr->len) /* each needs two bytes at least: no allocation for a lying header */
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s:4: %zu tokens and %zu merges cannot fit a file of %zu bytes", path,
                            h->n_vocab, h->n_merges, lr->len);
    return GLIA_OK;
}

/* The learned token s (line id + 5) added to b. Single characters (the alphabet) come first, in
 * code point order (cp_of keeps each one's code point to check it); *first_merged is the id of
 * the first longer token, 0 until there is one. */
static glia_status load_token(line_reader *lr, glia_bpe *b, const char *s, size_t n, size_t id,
                              uint32_t *cp_of, size_t *first_merged, glia_err *err)
{
    size_t n_cps = 0;
    int32_t got;
    bool added;
    glia_status rc;
    if ((rc = check_token(s, n, &n_cps, err)) != GLIA_OK) {
        glia_err_prefix(err, "%s:%zu", lr->path, lr->line);
        return rc;
    }
    if ((rc = glia_htable_add(&b->tok, s, n, &got, &added, err)) != GLIA_OK)
        return rc;
    if (!added)
        return glia_err_set(err, GLIA_EFORMAT, "%s:%zu: '%.*s' repeats line %d", lr->path, lr->line,
                            quoted(n), s, got + N_HEADER_LINES + 1);
    if (n_cps != 1) {
        if (!*first_merged)
            *first_merged = id;
        return GLIA_OK;
    }
    uint32_t c;
    glia_utf8_decode((const unsigned char *)s, 0, &c);
    if (*first_merged)
        return glia_err_set(
            err, GLIA_EFORMAT,
            "%s:%zu: single character '%.*s' after the merged tokens (the alphabet comes first)", lr->path,
            lr->line, (int)n, s);
    if (id > (size_t)b->first_learned && cp_of[id - 1] >= c)
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s:%zu: '%.*s' (U+%04X) is out of code point order in the alphabet", lr->path,
                            lr->line, (int)n, s, c);
    cp_of[id] = c;
    if ((rc = bpe_alphabet_add(b, c, got, err)) != GLIA_OK)
        return rc;
    if (c == MARKER_CP)
        b->marker = got;
    return GLIA_OK;
}

/* The n_vocab token lines: first the specials (and bytes) exactly as bpe_alloc made them, then
 * the learned tokens; *first_merged gets the id of the first merged one (n_vocab when none). */
static glia_status parse_vocab(line_reader *lr, glia_bpe *b, size_t n_vocab, size_t *first_merged,
                               glia_err *err)
{
    const size_t fixed = (size_t)b->first_learned;
    const char *s;
    size_t n;
    glia_status rc = GLIA_OK;
    uint32_t *cp_of = malloc(n_vocab * sizeof *cp_of); /* code point of each single-character token */
    if (!cp_of)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", lr->path);
    *first_merged = 0;
    for (size_t id = 0; id < n_vocab && rc == GLIA_OK; id++) {
        if ((rc = need_line(lr, "a token", &s, &n, err)) != GLIA_OK)
            break;
        if (id >= fixed) {
            rc = load_token(lr, b, s, n, id, cp_of, first_merged, err);
            continue;
        }
        const char *want = glia_htable_key(&b->tok, (int32_t)id);
        if (strlen(want) != n || memcmp(s, want, n) != 0)
            rc = glia_err_set(err, GLIA_EFORMAT, "%s:%zu: must be %s (id %zu), not '%.*s'", lr->path,
                              lr->line, want, id, quoted(n), s);
    }
    free(cp_of);
    if (rc == GLIA_OK && b->marker < 0)
        rc = glia_err_set(err, GLIA_EFORMAT,
                          "%s:3: the alphabet has no word marker '" GLIA_BPE_MARKER "' (U+2581)", lr->path);
    if (!*first_merged)
        *first_merged = n_vocab;
    return rc;
}

/* The two tokens of the merge line s in part[] and the left one's length in *nl: each a learned
 * token that exists before this merge (ids below next_new). */
static glia_status merge_parts(const line_reader *lr, const glia_bpe *b, const char *s, size_t n,
                               size_t next_new, int32_t part[2], size_t *nl, glia_err *err)
{
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s || sp == s + n - 1 || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1)))
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s:%zu: a merge must be two tokens separated by one space, not '%.*s'", lr->path,
                            lr->line, quoted(n), s);
    *nl = (size_t)(sp - s);
    const char *ptext[2] = {s, sp + 1};
    const size_t plen[2] = {*nl, n - *nl - 1};
    for (int j = 0; j < 2; j++)
        part[j] = glia_htable_find(&b->tok, ptext[j], plen[j]);
    for (int j = 0; j < 2; j++) {
        if (part[j] < b->first_learned || (size_t)part[j] >= next_new)
            return glia_err_set(err, GLIA_EFORMAT, "%s:%zu: '%.*s' is not %s token made before this merge",
                                lr->path, lr->line, quoted(plen[j]), ptext[j],
                                part[j] >= 0 && part[j] < b->first_learned ? "a learned" : "a");
    }
    return GLIA_OK;
}

/* The merge line s (left text, a space at s[nl], right text) recorded in b: its result must be
 * in the vocabulary, and be either made before or the next merged token (*next_new, which it
 * then advances). */
static glia_status load_merge(const line_reader *lr, glia_bpe *b, const char *s, size_t n, size_t n_vocab,
                              size_t *next_new, glia_err *err)
{
    int32_t part[2] = {-1, -1};
    size_t nl = 0;
    glia_status rc = merge_parts(lr, b, s, n, *next_new, part, &nl, err);
    if (rc != GLIA_OK)
        return rc;
    const char *right = s + nl + 1;
    const size_t nr = n - nl - 1;
    int32_t again = merge_find(b, part[0], part[1]);
    if (again >= 0)
        return glia_err_set(err, GLIA_EFORMAT, "%s:%zu: merge '%.*s' repeats line %d", lr->path, lr->line,
                            quoted(n), s, again + N_HEADER_LINES + (int)n_vocab + 1);
    char *joined = malloc(n); /* the two texts without the space */
    if (!joined)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", lr->path);
    memcpy(joined, s, nl);
    memcpy(joined + nl, right, nr);
    int32_t result = glia_htable_find(&b->tok, joined, nl + nr);
    free(joined);
    if (result < 0)
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s:%zu: the result '%.*s%.*s' of the merge is not in the vocabulary", lr->path,
                            lr->line, (int)nl, s, (int)nr, right);
    if ((size_t)result > *next_new)
        return glia_err_set(
            err, GLIA_EFORMAT,
            "%s:%zu: the merge makes '%.*s%.*s' (line %d) before '%s' (line %zu): merged tokens "
            "must be listed in the order their first merge makes them",
            lr->path, lr->line, (int)nl, s, (int)nr, right, result + N_HEADER_LINES + 1,
            glia_htable_key(&b->tok, (int32_t)*next_new), *next_new + N_HEADER_LINES + 1);
    if ((size_t)result == *next_new)
        (*next_new)++;
    return bpe_merge_add(b, part[0], part[1], result, err);
}

/* The n_merges merge lines, after which every merged token must have been made and the file
 * must end. */
static glia_status parse_merges(line_reader *lr, glia_bpe *b, size_t n_vocab, size_t n_merges,
                                size_t first_merged, glia_err *err)
{
    const char *s;
    size_t n, next_new = first_merged; /* the next merged token a merge must make */
    glia_status rc;
    for (size_t k = 0; k < n_merges; k++) {
        if ((rc = need_line(lr, "a merge 'left right'", &s, &n, err)) != GLIA_OK ||
            (rc = load_merge(lr, b, s, n, n_vocab, &next_new, err)) != GLIA_OK)
            return rc;
    }
    if (next_new < n_vocab)
        return glia_err_set(err, GLIA_EFORMAT, "%s:%zu: no merge makes '%s'", lr->path,
                            next_new + N_HEADER_LINES + 1, glia_htable_key(&b->tok, (int32_t)next_new));
    if (next_line(lr, &s, &n))
        return glia_err_set(err, GLIA_EFORMAT,
                            "%s:%zu: unexpected line after the %zu merges the header announces", lr->path,
                            lr->line, n_merges);
    return GLIA_OK;
}

glia_status glia_bpe_load(const char *path, glia_bpe **out, glia_err *err)
{
    char *data = NULL;
    size_t len = 0, first_merged = 0;
    bpe_header h = {0};
    glia_bpe *b = NULL;
    glia_status rc;

    *out = NULL;
    if ((rc = glia_file_read(path, GLIA_BPE_MAX_FILE_BYTES, "a tokenizer file", &data, &len, err)) != GLIA_OK)
        return rc;
    line_reader lr = {.path = path, .data = data, .len = len};
    if ((rc = check_line_ends(&lr, err)) == GLIA_OK && (rc = parse_header(&lr, &h, err)) == GLIA_OK &&
        (rc = bpe_alloc(h.byte_fallback, h.n_merges, &b, err)) == GLIA_OK &&
        (rc = parse_vocab(&lr, b, h.n_vocab, &first_merged, err)) == GLIA_OK)
        rc = parse_merges(&lr, b, h.n_vocab, h.n_merges, first_merged, err);
    free(data);
    if (rc != GLIA_OK) {
        glia_bpe_free(b);
        return rc;
    }
    *out = b;
    return GLIA_OK;
}

glia_status glia_bpe_save(const glia_bpe *b, const char *path, glia_err *err)
{
    glia_afile a;
    glia_status rc = glia_afile_open(&a, path, 0644, err); /* readable by a daemon running as another user */
    if (rc != GLIA_OK)
        return rc;
    fprintf(a.f, HEADER "\nbyte-fallback %s\nvocab %zu\nmerges %zu\n", b->byte_fallback ? "yes" : "no",
            glia_htable_size(&b->tok), b->n_merges);
    for (size_t i = 0; i < glia_htable_size(&b->tok); i++) {
        fwrite(glia_htable_key(&b->tok, (int32_t)i), 1, glia_htable_key_len(&b->tok, (int32_t)i), a.f);
        fputc('\n', a.f);
    }
    for (size_t k = 0; k < b->n_merges; k++)
        fprintf(a.f, "%s %s\n", glia_htable_key(&b->tok, b->m_left[k]),
                glia_htable_key(&b->tok, b->m_right[k]));
    return glia_afile_commit(&a, err); /* any write error above is caught here */
}
