/*
 * tokenize.c - see tokenize.h for the rules.
 *
 * Design: the text is validated once, up front, so the scanner after it decodes without checks
 * and an error never arrives after some tokens were already reported. Character classes come
 * from a small hand-written table (ASCII exactly; for the rest: spaces, a few dropped invisible
 * characters, combining marks and emoji modifiers, punctuation and symbol blocks; everything
 * else is a letter) instead of a full Unicode database: review text is mostly Latin, and what
 * matters for a classifier is that the split is deterministic and documented, not that it
 * follows UAX #29 to the letter. Each call allocates two scratch buffers of the text's length
 * (a token never outgrows its source by more than a few bytes, see SCRATCH_SLACK) and nothing
 * per token.
 */
#include "core/text/tokenize.h"

#include "core/base/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Largest growth of one emitted token over the bytes it came from: ".." -> "..." (+1), "sha"
 * (of "shan't") -> "shall" (+2), "n't" -> "not" (0); plus the NUL. */
enum { SCRATCH_SLACK = 8 };

typedef enum {
    CL_SPACE,   /* separates tokens */
    CL_DROP,    /* removed without separating (soft hyphen, bidi marks) */
    CL_WORD,    /* letters and digits */
    CL_PUNCT,   /* punctuation and symbols, one token each */
    CL_EXTEND,  /* combining marks, variation selectors, joiners, skin tones: stay with the token */
    CL_REGIONAL /* regional indicator letters: two make a flag */
} char_class;

/* ---- character tables ------------------------------------------------------------------------- */

/* Simple (one-to-one) lower-case mapping of the blocks listed in tokenize.h. */
static uint32_t lower_cp(uint32_t c)
{
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c + 0x20 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 0x20;
    if (c >= 0x100 && c <= 0x17F) { /* Latin Extended-A: mostly capital/small pairs */
        if (c == 0x130)
            return 'i';
        if (c == 0x178)
            return 0xFF;
        if (c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F)
            return c;
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
            return (c & 1) ? c + 1 : c;
        return (c & 1) ? c : c + 1;
    }
    if (c >= 0x386 && c <= 0x3A9) { /* Greek */
        if (c == 0x386)
            return 0x3AC;
        if (c >= 0x388 && c <= 0x38A)
            return c + 37;
        if (c == 0x38C)
            return 0x3CC;
        if (c == 0x38E || c == 0x38F)
            return c + 63;
        if (c >= 0x391 && c != 0x3A2)
            return c + 0x20;
        return c;
    }
    if (c >= 0x400 && c <= 0x40F) /* Cyrillic */
        return c + 0x50;
    if (c >= 0x410 && c <= 0x42F)
        return c + 0x20;
    if ((c >= 0x1E00 && c <= 0x1E95) || (c >= 0x1EA0 && c <= 0x1EFF)) /* Latin Extended Additional */
        return (c & 1) ? c : c + 1;
    if (c == 0x1E9E) /* capital sharp s */
        return 0xDF;
    return c;
}

static char_class classify(uint32_t c)
{
    if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            return CL_WORD;
        if (c <= 0x20 || c == 0x7F)
            return CL_SPACE;
        return CL_PUNCT;
    }
    if (c <= 0xA0) /* C1 controls (NEL U+0085 among them) and NO-BREAK SPACE */
        return CL_SPACE;
    if (c <= 0xBF) { /* Latin-1 punctuation and symbols, except its letters and number forms */
        if (c == 0xAD)
            return CL_DROP;
        if (c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA ||
            (c >= 0xBC && c <= 0xBE))
            return CL_WORD;
        return CL_PUNCT;
    }
    if (c == 0xD7 || c == 0xF7)
        return CL_PUNCT;
    if ((c >= 0x300 && c <= 0x36F) || (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) ||
        (c >= 0x20D0 && c <= 0x20FF) || (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xFE20 && c <= 0xFE2F) ||
        c == 0x200C || c == 0x200D || (c >= 0x1F3FB && c <= 0x1F3FF) || (c >= 0xE0020 && c <= 0xE007F) ||
        (c >= 0xE0100 && c <= 0xE01EF))
        return CL_EXTEND;
    if (c == 0x1680 || (c >= 0x2000 && c <= 0x200B) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
        c == 0x205F || c == 0x2060 || c == 0x3000 || c == 0xFEFF)
        return CL_SPACE;
    if (c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069))
        return CL_DROP;
    if ((c >= 0x2010 && c <= 0x2027) || (c >= 0x2030 && c <= 0x205E) || (c >= 0x20A0 && c <= 0x20CF) ||
        (c >= 0x2100 && c <= 0x214F) || (c >= 0x2190 && c <= 0x2BFF) || (c >= 0x2E00 && c <= 0x2E7F) ||
        (c >= 0x3001 && c <= 0x303F) || (c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||
        (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65) || c == 0xFFFD)
        return CL_PUNCT;
    if (c >= 0x1F1E6 && c <= 0x1F1FF)
        return CL_REGIONAL;
    if (c >= 0x1F000 && c <= 0x1FAFF) /* emoji, pictographs, cards, mahjong, transport, ... */
        return CL_PUNCT;
    return CL_WORD;
}

static bool is_apostrophe(uint32_t c)
{
    return c == '\'' || c == 0x2019;
}

static bool is_digit(uint32_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_letter(uint32_t c)
{
    return classify(c) == CL_WORD && !is_digit(c);
}

/* ---- emitting --------------------------------------------------------------------------------- */

typedef struct {
    const unsigned char *s;
    size_t len;
    char *word; /* the current word, lower-cased, before clitics are split off */
    size_t word_len;
    char *tok; /* the token being handed to fn */
    glia_tok_fn fn;
    void *ctx;
    glia_err *err;
} scanner;

static glia_status emit(scanner *sc, const char *p, size_t n)
{
    memmove(sc->tok, p, n);
    sc->tok[n] = '\0';
    return sc->fn(sc->ctx, sc->tok, n, sc->err);
}

static bool ends_with(const char *w, size_t n, const char *suffix, size_t len)
{
    return n >= len && memcmp(w + n - len, suffix, len) == 0;
}

/* Apostrophe-less negations as reviews spell them, and "cannot". "cant" and "wont" are English
 * words too, but in review text they are nearly always the modal without its apostrophe. */
static const struct {
    const char *word, *stem;
} bare_negations[] = {
    {"aint", "ai"},         {"arent", "are"},   {"cannot", "can"},  {"cant", "can"},    {"couldnt", "could"},
    {"didnt", "did"},       {"doesnt", "does"}, {"dont", "do"},     {"hadnt", "had"},   {"hasnt", "has"},
    {"havent", "have"},     {"isnt", "is"},     {"mustnt", "must"}, {"neednt", "need"}, {"shant", "shall"},
    {"shouldnt", "should"}, {"wasnt", "was"},   {"werent", "were"}, {"wont", "will"},   {"wouldnt", "would"},
};

/* Emits w[0..n) (lower-cased, apostrophes as ASCII) with its clitics split off. */
static glia_status emit_word(scanner *sc, const char *w, size_t n)
{
    static const char *const clitics[] = {"'s", "'m", "'d", "'re", "'ve", "'ll"};
    glia_status rc;
    for (size_t k = 0; k < sizeof clitics / sizeof clitics[0]; k++) {
        size_t cl = strlen(clitics[k]);
        if (n > cl && ends_with(w, n, clitics[k], cl)) {
            if ((rc = emit_word(sc, w, n - cl)) != GLIA_OK)
                return rc;
            return emit(sc, clitics[k], cl);
        }
    }
    if (ends_with(w, n, "n't", 3)) {
        const char *stem = w;
        size_t stem_len = n - 3;
        /* PTB leaves "ca", "wo", "sha"; the words they stand for are more use to a classifier. */
        if (stem_len == 2 && memcmp(w, "ca", 2) == 0)
            stem = "can", stem_len = 3;
        else if (stem_len == 2 && memcmp(w, "wo", 2) == 0)
            stem = "will", stem_len = 4;
        else if (stem_len == 3 && memcmp(w, "sha", 3) == 0)
            stem = "shall", stem_len = 5;
        if (stem_len > 0 && (rc = emit(sc, stem, stem_len)) != GLIA_OK)
            return rc;
        return emit(sc, GLIA_TOK_NOT, strlen(GLIA_TOK_NOT));
    }
    for (size_t k = 0; k < sizeof bare_negations / sizeof bare_negations[0]; k++) {
        if (strlen(bare_negations[k].word) == n && memcmp(w, bare_negations[k].word, n) == 0) {
            if ((rc = emit(sc, bare_negations[k].stem, strlen(bare_negations[k].stem))) != GLIA_OK)
                return rc;
            return emit(sc, GLIA_TOK_NOT, strlen(GLIA_TOK_NOT));
        }
    }
    return emit(sc, w, n);
}

/* ---- scanning --------------------------------------------------------------------------------- */

/* Appends code point c to the word buffer. */
static void word_put(scanner *sc, uint32_t c)
{
    sc->word_len += glia_utf8_encode(c, sc->word + sc->word_len);
}

/* Scans the word starting at i (a CL_WORD code point) into sc->word; returns the index after it. */
static size_t scan_word(scanner *sc, size_t i)
{
    uint32_t prev = 0, c, next;
    sc->word_len = 0;
    while (i < sc->len) {
        size_t n = glia_utf8_decode(sc->s, i, &c);
        char_class k = classify(c);
        if (k == CL_WORD || k == CL_EXTEND) {
            word_put(sc, lower_cp(c));
        } else if (k == CL_DROP) {
            /* removed, the word goes on */
        } else if (i + n < sc->len && is_apostrophe(c) &&
                   (glia_utf8_decode(sc->s, i + n, &next), is_letter(next))) {
            word_put(sc, '\'');
        } else if (i + n < sc->len && (c == '.' || c == ',' || c == ':') && is_digit(prev) &&
                   (glia_utf8_decode(sc->s, i + n, &next), is_digit(next))) {
            word_put(sc, c);
        } else {
            break;
        }
        prev = c;
        i += n;
    }
    return i;
}

/* Appends the extenders after index i (and, across a ZWJ, the next symbol) to the word buffer. */
static size_t scan_extenders(scanner *sc, size_t i)
{
    uint32_t c, next;
    while (i < sc->len) {
        size_t n = glia_utf8_decode(sc->s, i, &c);
        if (classify(c) != CL_EXTEND)
            break;
        word_put(sc, c);
        i += n;
        if (c == 0x200D && i < sc->len) { /* ZWJ sequence: the next pictograph joins the emoji */
            size_t m = glia_utf8_decode(sc->s, i, &next);
            /* pictographs only: U+2190 on (arrows, symbols, dingbats, emoji), not quotes or dashes */
            if (next >= 0x2190 && (classify(next) == CL_PUNCT || classify(next) == CL_REGIONAL)) {
                word_put(sc, next);
                i += m;
            }
        }
    }
    return i;
}

glia_status glia_tok_each(const char *text, size_t len, glia_tok_fn fn, void *ctx, glia_err *err)
{
    size_t bad;
    GLIA_ASSERT(fn != NULL && (text != NULL || len == 0));
    if (!glia_utf8_valid(text, len, &bad))
        return glia_err_set(err, GLIA_EFORMAT, "invalid UTF-8 at byte %zu", bad);
    if (len > (SIZE_MAX - 2 * SCRATCH_SLACK) / 2)
        return glia_err_set(err, GLIA_ENOMEM, "text of %zu bytes is too large to tokenize", len);

    scanner sc = {.s = (const unsigned char *)text, .len = len, .fn = fn, .ctx = ctx, .err = err};
    char *scratch = malloc(2 * (len + SCRATCH_SLACK));
    if (!scratch)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory tokenizing %zu bytes", len);
    sc.word = scratch;
    sc.tok = scratch + len + SCRATCH_SLACK;

    glia_status rc = GLIA_OK;
    size_t i = 0;
    uint32_t c;
    while (i < len && rc == GLIA_OK) {
        size_t n = glia_utf8_decode(sc.s, i, &c);
        switch (classify(c)) {
        /* a mark with no token before it has nothing to attach to: it goes like a space */
        case CL_SPACE:
        case CL_DROP:
        case CL_EXTEND: i += n; break;
        case CL_WORD:
            i = scan_word(&sc, i);
            rc = emit_word(&sc, sc.word, sc.word_len);
            break;
        case CL_REGIONAL:
            sc.word_len = 0;
            word_put(&sc, c);
            i += n;
            if (i < len) {
                uint32_t c2;
                size_t m = glia_utf8_decode(sc.s, i, &c2);
                if (classify(c2) == CL_REGIONAL) {
                    word_put(&sc, c2);
                    i += m;
                }
            }
            i = scan_extenders(&sc, i);
            rc = emit(&sc, sc.word, sc.word_len);
            break;
        case CL_PUNCT:
            sc.word_len = 0;
            if (c == '.' || c == 0x2026) {
                size_t run = 0;
                while (i < len && sc.s[i] == '.')
                    i++, run++;
                if (run == 0) /* U+2026 */
                    i += n;
                memcpy(sc.word, run == 1 ? "." : "...", run == 1 ? 1 : 3);
                sc.word_len = run == 1 ? 1 : 3;
            } else {
                if (c == 0x2018 || c == 0x2019)
                    c = '\'';
                else if (c == 0x201C || c == 0x201D)
                    c = '"';
                word_put(&sc, c);
                i += n;
            }
            i = scan_extenders(&sc, i);
            rc = emit(&sc, sc.word, sc.word_len);
            break;
        }
    }
    free(scratch);
    return rc;
}

/* ---- lists ------------------------------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t len, cap;
    size_t *offsets;
    size_t n, offsets_cap;
} list_builder;

static glia_status list_add(void *ctx, const char *token, size_t len, glia_err *err)
{
    list_builder *b = ctx;
    if (b->n == b->offsets_cap) {
        size_t cap = b->offsets_cap ? 2 * b->offsets_cap : 16;
        size_t *grown = realloc(b->offsets, cap * sizeof *grown);
        if (!grown)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu tokens", cap);
        b->offsets = grown, b->offsets_cap = cap;
    }
    if (b->cap - b->len < len + 1) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        while (cap - b->len < len + 1)
            cap *= 2;
        char *grown = realloc(b->buf, cap);
        if (!grown)
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for tokens of %zu bytes", cap);
        b->buf = grown, b->cap = cap;
    }
    b->offsets[b->n++] = b->len;
    memcpy(b->buf + b->len, token, len + 1);
    b->len += len + 1;
    return GLIA_OK;
}

glia_status glia_tok_split(const char *text, size_t len, glia_tok_list *out, glia_err *err)
{
    list_builder b = {0};
    memset(out, 0, sizeof *out);
    glia_status rc = glia_tok_each(text, len, list_add, &b, err);
    if (rc != GLIA_OK)
        goto fail;
    if (b.n > 0) {
        out->tokens = malloc(b.n * sizeof *out->tokens);
        if (!out->tokens) {
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu tokens", b.n);
            goto fail;
        }
        for (size_t k = 0; k < b.n; k++)
            out->tokens[k] = b.buf + b.offsets[k];
    }
    out->n = b.n;
    out->buf = b.buf;
    free(b.offsets);
    return GLIA_OK;
fail:
    free(b.buf);
    free(b.offsets);
    memset(out, 0, sizeof *out);
    return rc;
}

void glia_tok_list_free(glia_tok_list *list)
{
    if (!list)
        return;
    free(list->tokens);
    free(list->buf);
    memset(list, 0, sizeof *list);
}

glia_status glia_tok_check_token(const char *token, size_t len, glia_err *err)
{
    size_t bad;
    if (len == 0)
        return glia_err_set(err, GLIA_EFORMAT, "empty token");
    if (!glia_utf8_valid(token, len, &bad))
        return glia_err_set(err, GLIA_EFORMAT, "invalid UTF-8 at byte %zu", bad);
    const unsigned char *s = (const unsigned char *)token;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t n = glia_utf8_decode(s, i, &c);
        char_class k = classify(c);
        if (k == CL_SPACE)
            return glia_err_set(err, GLIA_EFORMAT, "white space or control character U+%04X at byte %zu",
                                (unsigned)c, i);
        if (k == CL_DROP)
            return glia_err_set(err, GLIA_EFORMAT,
                                "invisible character U+%04X at byte %zu (the tokenizer drops it)",
                                (unsigned)c, i);
        if (lower_cp(c) != c)
            return glia_err_set(err, GLIA_EFORMAT,
                                "upper-case letter U+%04X at byte %zu (the tokenizer lower-cases)",
                                (unsigned)c, i);
        if (c == 0x2018 || c == 0x2019 || c == 0x201C || c == 0x201D || c == 0x2026)
            return glia_err_set(err, GLIA_EFORMAT, "U+%04X at byte %zu (the tokenizer writes it in ASCII)",
                                (unsigned)c, i);
        i += n;
    }
    return GLIA_OK;
}
