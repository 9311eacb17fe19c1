/*
 * mtscore.c - see mtscore.h.
 *
 * Design: a text becomes a run of units in one buffer - tokens joined by single spaces for BLEU,
 * the code points left after dropping white space for chrF - with the byte range of each unit.
 * An n-gram of units i..i+n-1 is then the byte range start[i]..end[i+n-1], and two n-grams are
 * equal exactly when their bytes are (tokens hold no space; UTF-8 is a prefix code), so n-grams
 * are compared and hashed as byte ranges. Per sentence and order the reference's n-grams go into
 * a glia_htable (core/base/htable.h) with a count per id; each hypothesis n-gram found there
 * takes one of them, which is the clipped count. Every buffer and the table belong to the
 * accumulator and only ever grow.
 *
 * The 13a tokenizer is its regular expressions run one after the other over the text, each as a
 * pass from one scratch buffer into the other, sized by a counting run of the same pass first.
 * All its patterns are ASCII and never match inside a multi-byte sequence, so working on bytes
 * gives what sacrebleu's substitutions on code points give.
 */
#include "core/train/mtscore.h"

#include "core/base/htable.h"
#include "core/base/utf8.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A text as units: unit i is buf[start[i] .. end[i]). */
typedef struct {
    char *buf;
    size_t len, cap;
    size_t *start, *end;
    size_t n, ucap;
} units;

typedef struct {
    char *p;
    size_t len, cap;
} text_buf;

/* Of the reference n-gram with table id k: how often the reference has it and how many of those
 * the hypothesis has taken. */
typedef struct {
    uint32_t ref, hyp;
} ngram_count;

struct glia_mt_stats {
    size_t sentences;
    uint64_t sys_len, ref_len;
    uint64_t correct[GLIA_MT_BLEU_ORDER], total[GLIA_MT_BLEU_ORDER];
    uint64_t chr_hyp[GLIA_MT_CHRF_ORDER], chr_ref[GLIA_MT_CHRF_ORDER], chr_match[GLIA_MT_CHRF_ORDER];
    /* scratch */
    text_buf pass[2];
    units hyp, ref;
    glia_htable ngrams; /* the reference n-grams of one order */
    ngram_count *counts;
    size_t counts_cap;
};

/* ---- buffers ---------------------------------------------------------------------------------- */

/* Makes *p hold at least need elements of size elem (contents kept). */
static bool reserve(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

static bool reserve_text(text_buf *t, size_t need)
{
    return reserve((void **)&t->p, &t->cap, need, 1);
}

static bool reserve_units(units *u, size_t bytes, size_t n)
{
    if (!reserve((void **)&u->buf, &u->cap, bytes + 1, 1))
        return false;
    size_t cap = u->ucap;
    if (!reserve((void **)&u->start, &cap, n, sizeof(size_t)))
        return false;
    cap = u->ucap;
    if (!reserve((void **)&u->end, &cap, n, sizeof(size_t)))
        return false;
    u->ucap = cap;
    return true;
}

static void units_free(units *u)
{
    free(u->buf);
    free(u->start);
    free(u->end);
    memset(u, 0, sizeof *u);
}

/* ---- code points ------------------------------------------------------------------------------ */

/* The length in bytes of the white-space code point at s[i] of valid UTF-8 (n bytes in all), or 0:
 * Python's str.isspace() set, which str.split() and str.rstrip() use. */
static size_t space_len(const unsigned char *s, size_t i, size_t n)
{
    unsigned char b = s[i];
    if (b < 0x80)
        return (b >= 0x09 && b <= 0x0D) || (b >= 0x1C && b <= 0x20) ? 1 : 0;
    if (b == 0xC2 && i + 1 < n)
        return s[i + 1] == 0x85 || s[i + 1] == 0xA0 ? 2 : 0; /* U+0085, U+00A0 */
    if (i + 2 >= n)
        return 0;
    unsigned char c = s[i + 1], d = s[i + 2];
    if (b == 0xE1)
        return c == 0x9A && d == 0x80 ? 3 : 0; /* U+1680 */
    if (b == 0xE2) {
        if (c == 0x80) /* U+2000..U+200A, U+2028, U+2029, U+202F */
            return (d >= 0x80 && d <= 0x8A) || d == 0xA8 || d == 0xA9 || d == 0xAF ? 3 : 0;
        return c == 0x81 && d == 0x9F ? 3 : 0; /* U+205F */
    }
    if (b == 0xE3)
        return c == 0x80 && d == 0x80 ? 3 : 0; /* U+3000 */
    return 0;
}

/* ---- the 13a tokenizer ------------------------------------------------------------------------ */

/* Python's str.replace, in place (to is never longer than from); returns the new length. */
static size_t replace_all(char *s, size_t n, const char *from, const char *to)
{
    const size_t from_len = strlen(from), to_len = strlen(to);
    size_t r = 0, w = 0;
    while (r < n) {
        if (s[r] == from[0] && n - r >= from_len && memcmp(s + r, from, from_len) == 0) {
            memcpy(s + w, to, to_len);
            w += to_len;
            r += from_len;
        } else {
            s[w++] = s[r++];
        }
    }
    return w;
}

/* Step 3's class [{-~[-` -&(-+:-@/]: ASCII punctuation and symbols but ' , - . (and space). */
static bool is_split_punct(unsigned char c)
{
    return (c >= 0x20 && c <= 0x26) || (c >= 0x28 && c <= 0x2B) || c == 0x2F || (c >= 0x3A && c <= 0x40) ||
           (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_dot_comma(unsigned char c)
{
    return c == '.' || c == ',';
}

typedef enum {
    PASS_PUNCT,            /* step 3: ([punct]) -> " \1 " */
    PASS_BEFORE_DOT_COMMA, /* step 4: ([^0-9])([.,]) -> "\1 \2 " */
    PASS_AFTER_DOT_COMMA,  /* step 5: ([.,])([^0-9]) -> " \1 \2" */
    PASS_DIGIT_DASH,       /* step 6: ([0-9])(-) -> "\1 \2 " */
} pass_kind;

/* One substitution from in[0..n) into out (NULL: only count); returns the output length.
 * Matches are looked for left to right and never overlap, like Python's re.sub. */
static size_t run_pass(pass_kind kind, const char *in, size_t n, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t w = 0;
#define EMIT(c)                                                                                              \
    do {                                                                                                     \
        if (out)                                                                                             \
            out[w] = (char)(c);                                                                              \
        w++;                                                                                                 \
    } while (0)
    for (size_t i = 0; i < n;) {
        unsigned char a = s[i], b = i + 1 < n ? s[i + 1] : 0;
        bool pair = i + 1 < n;
        if (kind == PASS_PUNCT && is_split_punct(a)) {
            EMIT(' ');
            EMIT(a);
            EMIT(' ');
            i++;
        } else if (kind == PASS_BEFORE_DOT_COMMA && pair && !is_digit(a) && is_dot_comma(b)) {
            EMIT(a);
            EMIT(' ');
            EMIT(b);
            EMIT(' ');
            i += 2;
        } else if (kind == PASS_AFTER_DOT_COMMA && pair && is_dot_comma(a) && !is_digit(b)) {
            EMIT(' ');
            EMIT(a);
            EMIT(' ');
            EMIT(b);
            i += 2;
        } else if (kind == PASS_DIGIT_DASH && pair && is_digit(a) && b == '-') {
            EMIT(a);
            EMIT(' ');
            EMIT(b);
            EMIT(' ');
            i += 2;
        } else {
            EMIT(a);
            i++;
        }
    }
#undef EMIT
    return w;
}

/* The tokens of valid UTF-8 text[0..len) into *u, joined by single spaces. pass[0] and pass[1]
 * are scratch. */
static bool tokenize_13a(text_buf pass[2], const char *text, size_t len, units *u)
{
    const unsigned char *t = (const unsigned char *)text;
    /* 0: rstrip() */
    size_t keep = 0;
    for (size_t i = 0; i < len;) {
        size_t sp = space_len(t, i, len);
        if (sp) {
            i += sp;
        } else {
            i += glia_utf8_seq_len(t[i]);
            keep = i;
        }
    }
    /* 1 and 2: the replacements cannot match across the added spaces, so they come first here */
    if (!reserve_text(&pass[0], keep + 2))
        return false;
    char *s = pass[0].p;
    s[0] = ' ';
    if (keep)
        memcpy(s + 1, text, keep);
    size_t n = keep + 1;
    static const char *const repl[][2] = {{"<skipped>", ""}, {"-\n", ""},   {"\n", " "},  {"&quot;", "\""},
                                          {"&amp;", "&"},    {"&lt;", "<"}, {"&gt;", ">"}};
    for (size_t k = 0; k < sizeof repl / sizeof repl[0]; k++)
        n = replace_all(s + 1, n - 1, repl[k][0], repl[k][1]) + 1;
    s[n++] = ' ';
    pass[0].len = n;
    /* 3-6 */
    static const pass_kind kinds[] = {PASS_PUNCT, PASS_BEFORE_DOT_COMMA, PASS_AFTER_DOT_COMMA,
                                      PASS_DIGIT_DASH};
    int cur = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        text_buf *src = &pass[cur], *dst = &pass[1 - cur];
        size_t need = run_pass(kinds[k], src->p, src->len, NULL);
        if (!reserve_text(dst, need))
            return false;
        dst->len = run_pass(kinds[k], src->p, src->len, dst->p);
        cur = 1 - cur;
    }
    /* 7: split at white space */
    const unsigned char *p = (const unsigned char *)pass[cur].p;
    n = pass[cur].len;
    if (!reserve_units(u, n, n / 2 + 1))
        return false;
    u->len = u->n = 0;
    for (size_t i = 0; i < n;) {
        size_t sp = space_len(p, i, n);
        if (sp) {
            i += sp;
            continue;
        }
        if (u->n)
            u->buf[u->len++] = ' ';
        u->start[u->n] = u->len;
        while (i < n && !space_len(p, i, n)) {
            size_t l = glia_utf8_seq_len(p[i]);
            memcpy(u->buf + u->len, p + i, l);
            u->len += l;
            i += l;
        }
        u->end[u->n++] = u->len;
    }
    u->buf[u->len] = '\0';
    return true;
}

/* chrF's units: the code points of valid UTF-8 text[0..len) that are not white space. */
static bool chars_of(const char *text, size_t len, units *u)
{
    const unsigned char *t = (const unsigned char *)text;
    if (!reserve_units(u, len, len + 1))
        return false;
    u->len = u->n = 0;
    for (size_t i = 0; i < len;) {
        size_t sp = space_len(t, i, len);
        if (sp) {
            i += sp;
            continue;
        }
        size_t l = glia_utf8_seq_len(t[i]);
        u->start[u->n] = u->len;
        memcpy(u->buf + u->len, t + i, l);
        u->len += l;
        u->end[u->n++] = u->len;
        i += l;
    }
    u->buf[u->len] = '\0';
    return true;
}

/* ---- clipped n-gram matches ------------------------------------------------------------------- */

static size_t ngrams(const units *u, size_t order)
{
    return u->n >= order ? u->n - order + 1 : 0;
}

/* sum over the distinct n-grams g of hyp of min(count in hyp, count in ref), n-grams of `order`
 * units. *ok is false when the table could not grow. */
static uint64_t clipped_matches(glia_mt_stats *s, const units *hyp, const units *ref, size_t order, bool *ok)
{
    const size_t nh = ngrams(hyp, order), nr = ngrams(ref, order);
    if (nh == 0 || nr == 0)
        return 0;
    glia_htable_clear(&s->ngrams);
    if (!reserve((void **)&s->counts, &s->counts_cap, nr, sizeof *s->counts)) {
        *ok = false;
        return 0;
    }
    for (size_t i = 0; i < nr; i++) {
        const size_t off = ref->start[i], len = ref->end[i + order - 1] - off;
        int32_t k;
        bool added;
        if (glia_htable_add(&s->ngrams, ref->buf + off, len, &k, &added, NULL) != GLIA_OK) {
            *ok = false;
            return 0;
        }
        if (added)
            s->counts[k] = (ngram_count){0, 0};
        s->counts[k].ref++;
    }
    uint64_t matches = 0;
    for (size_t i = 0; i < nh; i++) {
        const size_t off = hyp->start[i], len = hyp->end[i + order - 1] - off;
        const int32_t k = glia_htable_find(&s->ngrams, hyp->buf + off, len);
        if (k >= 0 && s->counts[k].hyp < s->counts[k].ref) {
            s->counts[k].hyp++;
            matches++;
        }
    }
    return matches;
}

/* ---- the accumulator -------------------------------------------------------------------------- */

glia_status glia_mt_stats_new(glia_mt_stats **out, glia_err *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for translation score statistics");
    return GLIA_OK;
}

void glia_mt_stats_free(glia_mt_stats *s)
{
    if (!s)
        return;
    free(s->pass[0].p);
    free(s->pass[1].p);
    units_free(&s->hyp);
    units_free(&s->ref);
    glia_htable_free(&s->ngrams);
    free(s->counts);
    free(s);
}

static glia_status check_utf8(const char *what, const char *text, size_t len, glia_err *err)
{
    size_t bad;
    if (!glia_utf8_valid(text, len, &bad))
        return glia_err_set(err, GLIA_EFORMAT, "%s: invalid UTF-8 at byte %zu", what, bad);
    return GLIA_OK;
}

glia_status glia_mt_add(glia_mt_stats *s, const char *hyp, size_t hyp_len, const char *ref, size_t ref_len,
                        glia_err *err)
{
    glia_status rc;
    if ((rc = check_utf8("hypothesis", hyp, hyp_len, err)) ||
        (rc = check_utf8("reference", ref, ref_len, err)))
        return rc;
    uint64_t correct[GLIA_MT_BLEU_ORDER] = {0}, total[GLIA_MT_BLEU_ORDER] = {0}, sys_len = 0, ref_len_tok = 0;
    uint64_t ch[GLIA_MT_CHRF_ORDER] = {0}, cr[GLIA_MT_CHRF_ORDER] = {0}, cm[GLIA_MT_CHRF_ORDER] = {0};
    bool ok = tokenize_13a(s->pass, hyp, hyp_len, &s->hyp) && tokenize_13a(s->pass, ref, ref_len, &s->ref);
    if (ok) {
        sys_len = s->hyp.n;
        ref_len_tok = s->ref.n;
        for (size_t n = 1; n <= GLIA_MT_BLEU_ORDER; n++) {
            total[n - 1] = ngrams(&s->hyp, n);
            correct[n - 1] = clipped_matches(s, &s->hyp, &s->ref, n, &ok);
        }
    }
    ok = ok && chars_of(hyp, hyp_len, &s->hyp) && chars_of(ref, ref_len, &s->ref);
    if (ok) {
        for (size_t n = 1; n <= GLIA_MT_CHRF_ORDER; n++) {
            cr[n - 1] = ngrams(&s->ref, n);
            /* sacrebleu: no hypothesis n-grams are counted for an order the reference lacks */
            ch[n - 1] = cr[n - 1] ? ngrams(&s->hyp, n) : 0;
            cm[n - 1] = clipped_matches(s, &s->hyp, &s->ref, n, &ok);
        }
    }
    if (!ok)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory scoring a sentence of %zu + %zu bytes", hyp_len,
                            ref_len);
    s->sentences++;
    s->sys_len += sys_len;
    s->ref_len += ref_len_tok;
    for (size_t k = 0; k < GLIA_MT_BLEU_ORDER; k++) {
        s->correct[k] += correct[k];
        s->total[k] += total[k];
    }
    for (size_t k = 0; k < GLIA_MT_CHRF_ORDER; k++) {
        s->chr_hyp[k] += ch[k];
        s->chr_ref[k] += cr[k];
        s->chr_match[k] += cm[k];
    }
    return GLIA_OK;
}

size_t glia_mt_sentences(const glia_mt_stats *s)
{
    return s->sentences;
}

/* ---- scores ----------------------------------------------------------------------------------- */

void glia_mt_bleu_details(const glia_mt_stats *s, glia_mt_bleu_info *out)
{
    memset(out, 0, sizeof *out);
    out->sys_len = s->sys_len;
    out->ref_len = s->ref_len;
    memcpy(out->correct, s->correct, sizeof out->correct);
    memcpy(out->total, s->total, sizeof out->total);
    out->ratio = s->ref_len ? (double)s->sys_len / (double)s->ref_len : 0.0;
    if (s->sys_len < s->ref_len)
        out->bp = s->sys_len ? exp(1.0 - (double)s->ref_len / (double)s->sys_len) : 0.0;
    else
        out->bp = 1.0;
    double log_sum = 0.0;
    bool zero = false;
    for (int n = 0; n < GLIA_MT_BLEU_ORDER; n++) {
        if (s->total[n] == 0 || s->correct[n] == 0) {
            zero = true; /* also every higher order: their totals are 0 or their matches are */
            continue;
        }
        out->precisions[n] = 100.0 * (double)s->correct[n] / (double)s->total[n];
        log_sum += log(out->precisions[n]);
    }
    out->score = zero ? 0.0 : out->bp * exp(log_sum / GLIA_MT_BLEU_ORDER);
}

double glia_mt_bleu(const glia_mt_stats *s)
{
    glia_mt_bleu_info info;
    glia_mt_bleu_details(s, &info);
    return info.score;
}

double glia_mt_chrf(const glia_mt_stats *s)
{
    const double b2 = GLIA_MT_CHRF_BETA * GLIA_MT_CHRF_BETA;
    double prec = 0.0, rec = 0.0;
    int orders = 0;
    for (int n = 0; n < GLIA_MT_CHRF_ORDER; n++) {
        if (s->chr_hyp[n] == 0 || s->chr_ref[n] == 0)
            continue;
        prec += (double)s->chr_match[n] / (double)s->chr_hyp[n];
        rec += (double)s->chr_match[n] / (double)s->chr_ref[n];
        orders++;
    }
    if (orders == 0)
        return 0.0;
    prec /= orders;
    rec /= orders;
    if (prec + rec == 0.0)
        return 0.0;
    return 100.0 * (1.0 + b2) * prec * rec / (b2 * prec + rec);
}

void glia_mt_print(const glia_mt_stats *s, FILE *f)
{
    glia_mt_bleu_info b;
    glia_mt_bleu_details(s, &b);
    fprintf(f,
            "BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %llu ref_len = %llu) "
            "sentences = %zu\n",
            b.score, b.precisions[0], b.precisions[1], b.precisions[2], b.precisions[3], b.bp, b.ratio,
            (unsigned long long)b.sys_len, (unsigned long long)b.ref_len, s->sentences);
    fprintf(f, "bleu=%.2f\nchrf=%.2f\n", b.score, glia_mt_chrf(s));
}

glia_status glia_mt_tokenize_13a(const char *text, size_t len, char **out, size_t *out_len, glia_err *err)
{
    size_t bad;
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!glia_utf8_valid(text, len, &bad))
        return glia_err_set(err, GLIA_EFORMAT, "invalid UTF-8 at byte %zu", bad);
    glia_status rc = GLIA_OK;
    text_buf pass[2] = {{0}};
    units u = {0};
    if (!tokenize_13a(pass, text, len, &u)) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory tokenising %zu bytes", len);
    } else {
        *out = u.buf;
        if (out_len)
            *out_len = u.len;
        u.buf = NULL;
    }
    free(pass[0].p);
    free(pass[1].p);
    units_free(&u);
    return rc;
}
