/*
 * test_bpe.c - the byte-pair-encoding tokenizer of the translation model: the first merges on
 * Sennrich et al.'s toy corpus (with the tie rule), determinism and independence from the order
 * of the texts, the vocabulary-size and merge limits, round trips on English and Spanish text
 * with accents and punctuation, on emoji, CJK and other Unicode, on random valid UTF-8 (with
 * byte fallback every one comes back as glia_bpe_normalize gives it), unknown characters with
 * and without byte fallback, invalid UTF-8 with its byte offset, <s>/</s> and decoding of ids a
 * model may emit (bad byte runs, out-of-range ids), long words, a save/load round trip that
 * gives the same bytes, one malformed file per loader rule with the file and line in the
 * message, a speed sanity (2,000 merges on a generated corpus), and - when scripts/setup has
 * fetched the gettext-en-es catalogs - a joint 8,000-id vocabulary over the training pairs
 * under which every sentence of the data comes back exactly.
 */
#include "core/base/rng.h"
#include "core/text/bpe.h"
#include "core/data/gettext.h"
#include "core/base/utf8.h"
#include "tests/support/check_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "bpe");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

static glia_bpe *learn(const char *const *texts, size_t n, glia_bpe_opts opts)
{
    glia_bpe *b = NULL;
    glia_err err = {0};
    ck_assert_msg(glia_bpe_learn(texts, NULL, n, &opts, &b, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(b);
    return b;
}

/* "left right" of merge k (a static buffer). */
static const char *merge_str(const glia_bpe *b, size_t k)
{
    static char buf[512];
    int32_t l, r, res;
    ck_assert(glia_bpe_merge(b, k, &l, &r, &res));
    snprintf(buf, sizeof buf, "%s %s", glia_bpe_token(b, l), glia_bpe_token(b, r));
    return buf;
}

/* Checks decode(encode(text)) == normalize(text) and returns the number of ids. */
static size_t round_trip_len(const glia_bpe *b, const char *text, size_t len)
{
    glia_bpe_ids ids = {0};
    glia_err err = {0};
    char *back = NULL, *want = NULL;
    size_t back_len = 0, want_len = 0;
    ck_assert_msg(glia_bpe_encode(b, text, len, 0, &ids, &err) == GLIA_OK, "%s", err.msg);
    for (size_t i = 0; i < ids.n; i++)
        ck_assert_msg(ids.ids[i] >= 0 && (size_t)ids.ids[i] < glia_bpe_size(b), "id %d", ids.ids[i]);
    ck_assert_msg(glia_bpe_decode(b, ids.ids, ids.n, &back, &back_len, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_bpe_normalize(text, len, &want, &want_len, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(back_len == want_len && memcmp(back, want, want_len) == 0,
                  "round trip of '%.*s' gave '%s', want '%s'", (int)len, text, back, want);
    ck_assert(glia_utf8_valid(back, back_len, NULL));
    size_t n = ids.n;
    free(back);
    free(want);
    glia_bpe_ids_free(&ids);
    return n;
}

static size_t round_trip(const glia_bpe *b, const char *text)
{
    return round_trip_len(b, text, strlen(text));
}

/* The token texts of text's ids joined by '|' (a static buffer). */
static const char *pieces(const glia_bpe *b, const char *text)
{
    static char joined[2048];
    glia_bpe_ids ids = {0};
    glia_err err = {0};
    ck_assert_msg(glia_bpe_encode(b, text, strlen(text), 0, &ids, &err) == GLIA_OK, "%s", err.msg);
    joined[0] = '\0';
    for (size_t i = 0; i < ids.n; i++) {
        if (i)
            strcat(joined, "|");
        ck_assert_uint_lt(strlen(joined) + strlen(glia_bpe_token(b, ids.ids[i])), sizeof joined - 2);
        strcat(joined, glia_bpe_token(b, ids.ids[i]));
    }
    glia_bpe_ids_free(&ids);
    return joined;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *buf = malloc(1 << 22);
    ck_assert_ptr_nonnull(buf);
    *len = fread(buf, 1, 1 << 22, f);
    fclose(f);
    return buf;
}

/* ---- learning --------------------------------------------------------------------------------- */

/* Sennrich, Haddow & Birch (2016): low x5, lower x2, newest x6, widest x3. */
static const char *const toy[] = {
    "low low low low low",
    "lower lower",
    "newest newest newest newest newest newest",
    "widest widest widest",
};

START_TEST(learn_first_merges)
{
    glia_bpe_opts o = glia_bpe_defaults();
    o.vocab_size = 0;
    o.max_merges = 0;
    glia_bpe *b = learn(toy, 4, o);
    /* e s and s t tie at 9: "e" < "s"; l o, o w and ▁ l tie at 7: "l" < "o" < "▁" (0xE2...) */
    static const char *const want[] = {
        "e s", "es t", "l o", "lo w", "▁ low", "e w", "ew est", "n ewest", "▁ newest",
    };
    ck_assert_uint_ge(glia_bpe_n_merges(b), 9);
    for (size_t k = 0; k < 9; k++)
        ck_assert_str_eq(merge_str(b, k), want[k]);
    /* ids: specials, bytes, then the alphabet in code point order */
    ck_assert_uint_eq(glia_bpe_size(b), 4 + 256 + 11 + glia_bpe_n_merges(b));
    ck_assert_str_eq(glia_bpe_token(b, 0), "<pad>");
    ck_assert_str_eq(glia_bpe_token(b, 3), "</s>");
    ck_assert_str_eq(glia_bpe_token(b, 4), "<0x00>");
    ck_assert_str_eq(glia_bpe_token(b, 4 + 0xE9), "<0xE9>");
    ck_assert_str_eq(glia_bpe_token(b, 260), "d");
    ck_assert_str_eq(glia_bpe_token(b, 270), "▁");
    ck_assert_str_eq(glia_bpe_token(b, 271), "es");
    ck_assert_int_eq(glia_bpe_id(b, "▁low"), 275);
    ck_assert_int_eq(glia_bpe_id(b, "nope"), -1);
    ck_assert_ptr_null(glia_bpe_token(b, -1));
    ck_assert_ptr_null(glia_bpe_token(b, (int32_t)glia_bpe_size(b)));
    /* then d est, i dest, w idest, ▁ widest (3 each), e r, ▁low er (2 each) */
    ck_assert_str_eq(merge_str(b, 12), "▁ widest");
    ck_assert_str_eq(merge_str(b, 13), "e r");
    ck_assert_str_eq(merge_str(b, 14), "▁low er");
    ck_assert_uint_eq(glia_bpe_n_merges(b), 15);
    ck_assert_str_eq(pieces(b, "lowest newer"), "▁low|est|▁|n|ew|er");
    ck_assert_str_eq(pieces(b, "widest"), "▁widest");
    glia_bpe_free(b);

    o.max_merges = 4;
    b = learn(toy, 4, o);
    ck_assert_uint_eq(glia_bpe_n_merges(b), 4);
    ck_assert_str_eq(pieces(b, "lowest"), "▁|low|est");
    glia_bpe_free(b);

    /* min_pair_count 7 keeps only the merges of pairs seen 7 times or more */
    o.max_merges = 0;
    o.min_pair_count = 7;
    b = learn(toy, 4, o);
    ck_assert_uint_eq(glia_bpe_n_merges(b), 5);
    glia_bpe_free(b);
}
END_TEST

static const char *const corpus[] = {
    "The file could not be opened.",
    "El archivo no se pudo abrir.",
    "¿Dónde está la estación de tren?",
    "Where is the train station?",
    "Cannot open file '%s': permission denied",
    "No se puede abrir el archivo «%s»: permiso denegado",
    "Mañana iremos a la montaña con el niño.",
    "Tomorrow we will go to the mountain with the child.",
    "¡Qué día tan bonito! ¿Verdad?",
    "What a beautiful day! Isn't it?",
    "Usage: %s [OPTION]... [FILE]...",
    "Uso: %s [OPCIÓN]... [ARCHIVO]...",
    "The operation was cancelled by the user.",
    "La operación fue cancelada por el usuario.",
    "Configuración guardada en «/etc/config»; reinicie el servicio.",
    "Settings saved to \"/etc/config\"; restart the service.",
    "El pingüino comió 3,5 kilos de atún en la canción.",
    "Error: invalid argument -- 'x'",
    "Error: argumento no válido -- «x»",
    "Try '--help' for more information.",
    "Pruebe '--help' para más información.",
};
enum { N_CORPUS = sizeof corpus / sizeof corpus[0] };

static glia_bpe_opts small_opts(void)
{
    glia_bpe_opts o = glia_bpe_defaults();
    o.vocab_size = 400;
    o.min_pair_count = 2;
    return o;
}

/* True when a and b have the same tokens and merges. */
static bool same_bpe(const glia_bpe *a, const glia_bpe *b)
{
    if (glia_bpe_size(a) != glia_bpe_size(b) || glia_bpe_n_merges(a) != glia_bpe_n_merges(b))
        return false;
    for (size_t i = 0; i < glia_bpe_size(a); i++) {
        if (strcmp(glia_bpe_token(a, (int32_t)i), glia_bpe_token(b, (int32_t)i)) != 0)
            return false;
    }
    for (size_t k = 0; k < glia_bpe_n_merges(a); k++) {
        int32_t x[3], y[3];
        glia_bpe_merge(a, k, &x[0], &x[1], &x[2]);
        glia_bpe_merge(b, k, &y[0], &y[1], &y[2]);
        if (memcmp(x, y, sizeof x) != 0)
            return false;
    }
    return true;
}

START_TEST(learn_is_deterministic)
{
    const char *texts[N_CORPUS * 3], *reversed[N_CORPUS * 3];
    size_t n = 0;
    for (int rep = 0; rep < 3; rep++)
        for (size_t i = 0; i < N_CORPUS; i++)
            texts[n++] = corpus[i];
    for (size_t i = 0; i < n; i++)
        reversed[i] = texts[n - 1 - i];
    glia_bpe *a = learn(texts, n, small_opts());
    glia_bpe *b = learn(texts, n, small_opts());
    glia_bpe *c = learn(reversed, n, small_opts());
    ck_assert(same_bpe(a, b));
    ck_assert_msg(same_bpe(a, c), "the order of the texts changed what was learned");
    ck_assert_uint_gt(glia_bpe_n_merges(a), 30);
    glia_bpe_free(a);
    glia_bpe_free(b);
    glia_bpe_free(c);
}
END_TEST

START_TEST(learn_respects_limits)
{
    glia_bpe_opts o = small_opts();
    glia_bpe *b = learn(corpus, N_CORPUS, o);
    /* the corpus has enough repeated pairs: the size is reached exactly */
    ck_assert_uint_eq(glia_bpe_size(b), 400);
    glia_bpe_free(b);

    o.vocab_size = 0;
    o.max_merges = 25;
    b = learn(corpus, N_CORPUS, o);
    ck_assert_uint_eq(glia_bpe_n_merges(b), 25);
    glia_bpe_free(b);

    /* min_char_count: characters seen once stay out of the alphabet (and still round-trip) */
    o.max_merges = 10;
    o.min_char_count = 2;
    b = learn(corpus, N_CORPUS, o);
    ck_assert_int_eq(glia_bpe_id(b, "ü"), -1); /* pingüino, once */
    ck_assert_int_ge(glia_bpe_id(b, "ñ"), 0);  /* Mañana, montaña, niño */
    round_trip(b, "El pingüino");
    ck_assert_str_eq(pieces(b, "ü"), "▁|<0xC3>|<0xBC>");
    glia_bpe_free(b);

    glia_err err = {0};
    o = small_opts();
    o.vocab_size = 300;
    ck_assert_int_eq(glia_bpe_learn(corpus, NULL, N_CORPUS, &o, &b, &err), GLIA_EINVAL);
    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(strstr(err.msg, "vocab_size 300 is smaller than the"));
    o = small_opts();
    o.min_pair_count = 0;
    ck_assert_int_eq(glia_bpe_learn(corpus, NULL, N_CORPUS, &o, &b, &err), GLIA_EINVAL);
    o = small_opts();
    const char *bad[] = {"fine", "caf\xc3"};
    ck_assert_int_eq(glia_bpe_learn(bad, NULL, 2, &o, &b, &err), GLIA_EFORMAT);
    ck_assert_str_eq(err.msg, "text 1: invalid UTF-8 at byte 3");
    /* explicit lengths: the NUL inside is text (a control: bytes) */
    const char with_nul[] = "ab\0cd";
    const char *texts[] = {with_nul};
    size_t lens[] = {5};
    ck_assert_int_eq(glia_bpe_learn(texts, lens, 1, &o, &b, &err), GLIA_OK);
    round_trip_len(b, with_nul, 5);
    glia_bpe_free(b);
    /* nothing to learn from: the marker alone, every character through bytes */
    ck_assert_int_eq(glia_bpe_learn(NULL, NULL, 0, &o, &b, &err), GLIA_OK);
    ck_assert_uint_eq(glia_bpe_size(b), 4 + 256 + 1);
    round_trip(b, "¿Qué tal? 你好 🙂");
    glia_bpe_free(b);
}
END_TEST

/* ---- encoding and decoding ------------------------------------------------------------------- */

START_TEST(round_trips_english_spanish)
{
    glia_bpe *b = learn(corpus, N_CORPUS, small_opts());
    for (size_t i = 0; i < N_CORPUS; i++)
        round_trip(b, corpus[i]);
    static const char *const more[] = {
        "¿Está seguro de que desea eliminar «%s»?",
        "Año nuevo, vida nueva: ÁÉÍÓÚ Ñ Ü áéíóú ñ ü ç",
        "  leading and   trailing\tspace\n\n",
        "don't, won't; it's -- \"quoted\" (parens) [brackets] {braces} 50% $5 #1 a@b.c",
        "3.14159 1,000,000 10:30 2024-01-01",
        "'single' «doble» “curly” ‘quotes’ — dash – en … ellipsis",
        "x",
        "",
        " \t\n ",
        "!!!???...",
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        round_trip(b, more[i]);
    /* punctuation is never merged with letters; the marker starts each word */
    const char *p = pieces(b, "¿Dónde?");
    ck_assert_msg(strncmp(p, "▁¿|", strlen("▁¿|")) == 0 || strncmp(p, "▁|¿|", strlen("▁|¿|")) == 0, "%s", p);
    ck_assert_msg(strcmp(p + strlen(p) - 2, "|?") == 0, "%s", p);
    ck_assert_str_eq(pieces(b, "a,b"), "▁a|,|b");
    /* every token is valid UTF-8: no merge splits a sequence */
    for (size_t i = 0; i < glia_bpe_size(b); i++) {
        const char *t = glia_bpe_token(b, (int32_t)i);
        ck_assert_msg(glia_utf8_valid(t, strlen(t), NULL), "token %zu", i);
    }
    /* encoding is the same with or without the other texts around it */
    ck_assert_uint_lt(round_trip(b, "El archivo no se pudo abrir."), 20); /* of 28 code points */
    glia_bpe_free(b);
}
END_TEST

START_TEST(round_trips_any_unicode)
{
    glia_bpe *b = learn(corpus, N_CORPUS, small_opts());
    static const char *const texts[] = {
        "emoji 😀🎉 👍🏽 👨‍👩‍👧 🇪🇸 ❤️",
        "日本語のテキスト、中文文本。한국어 텍스트",
        "Ελληνικά, русский, עברית, العربية, हिन्दी",
        "combining e\xcc\x81 vs \xc3\xa9, zero\xe2\x80\x8bwidth, nbsp\xc2\xa0here, soft\xc2\xadhyphen",
        "literal \xe2\x96\x81 marker \xe2\x96\x81\xe2\x96\x81 and ▁word",
        "controls \x01\x02\x1b[0m \x7f \xc2\x85 \xc2\x9f end",
        "astral 𝕏 𐍈 \xf4\x8f\xbf\xbf U+10FFFF",
        "fullwidth！ideographic\xe3\x80\x80space",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        round_trip(b, texts[i]);
    /* a literal U+2581 is bytes, never the marker */
    ck_assert_str_eq(pieces(b, "\xe2\x96\x81"), "▁|<0xE2>|<0x96>|<0x81>");
    glia_bpe_free(b);
}
END_TEST

/* Random code points from every class the pre-tokenizer knows. */
static size_t random_utf8(glia_rng *rng, char *out, size_t max_cps)
{
    static const uint32_t picks[] = {' ',    '\t',   '\n', 0xA0, 0x2581, 0x0301,
                                     0x200D, 0xFE0F, 0xBF, 0xA1, 0x3000};
    size_t n = 0, cps = 1 + glia_rng_below(rng, max_cps);
    for (size_t k = 0; k < cps; k++) {
        uint32_t c;
        switch (glia_rng_below(rng, 8)) {
        case 0: c = (uint32_t)glia_rng_below(rng, 128); break;
        case 1: c = 'a' + (uint32_t)glia_rng_below(rng, 26); break;
        case 2: c = 0x80 + (uint32_t)glia_rng_below(rng, 0x780); break;
        case 3: c = picks[glia_rng_below(rng, sizeof picks / sizeof picks[0])]; break;
        case 4: c = 0x800 + (uint32_t)glia_rng_below(rng, 0xD800 - 0x800); break;
        case 5: c = 0xE000 + (uint32_t)glia_rng_below(rng, 0x2000); break;
        case 6: c = 0x10000 + (uint32_t)glia_rng_below(rng, 0x100000); break;
        default: c = "!,.?;:'\"()-"[glia_rng_below(rng, 11)]; break;
        }
        if (c < 0x80) {
            out[n++] = (char)c;
        } else if (c < 0x800) {
            out[n++] = (char)(0xC0 | c >> 6);
            out[n++] = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out[n++] = (char)(0xE0 | c >> 12);
            out[n++] = (char)(0x80 | (c >> 6 & 0x3F));
            out[n++] = (char)(0x80 | (c & 0x3F));
        } else {
            out[n++] = (char)(0xF0 | c >> 18);
            out[n++] = (char)(0x80 | (c >> 12 & 0x3F));
            out[n++] = (char)(0x80 | (c >> 6 & 0x3F));
            out[n++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out[n] = '\0';
    return n;
}

START_TEST(round_trips_random_utf8)
{
    enum { N = 400, MAX_CPS = 80 };
    glia_rng rng;
    glia_rng_seed(&rng, 20240601);
    static char texts[N][4 * MAX_CPS + 1];
    const char *ptrs[N];
    size_t lens[N];
    for (size_t i = 0; i < N; i++) {
        lens[i] = random_utf8(&rng, texts[i], MAX_CPS);
        ck_assert(glia_utf8_valid(texts[i], lens[i], NULL));
        ptrs[i] = texts[i];
    }
    /* a tokenizer of natural text, and one learned from the random strings themselves (lens:
     * they hold NULs) */
    glia_bpe *nat = learn(corpus, N_CORPUS, small_opts());
    glia_bpe_opts o = glia_bpe_defaults();
    o.vocab_size = 0;
    o.max_merges = 300;
    glia_bpe *rnd = NULL;
    glia_err err = {0};
    ck_assert_msg(glia_bpe_learn(ptrs, lens, N, &o, &rnd, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_gt(glia_bpe_n_merges(rnd), 0);
    for (size_t i = 0; i < N; i++) {
        round_trip_len(nat, texts[i], lens[i]);
        round_trip_len(rnd, texts[i], lens[i]);
    }
    /* and the tokenizer of random text survives its own file */
    char path[512];
    snprintf(path, sizeof path, "%s/rnd.bpe", tmpdir);
    ck_assert_msg(glia_bpe_save(rnd, path, &err) == GLIA_OK, "%s", err.msg);
    glia_bpe *back = NULL;
    ck_assert_msg(glia_bpe_load(path, &back, &err) == GLIA_OK, "%s", err.msg);
    ck_assert(same_bpe(rnd, back));
    glia_bpe_free(back);
    glia_bpe_free(nat);
    glia_bpe_free(rnd);
}
END_TEST

START_TEST(unknown_characters)
{
    glia_bpe *b = learn(corpus, N_CORPUS, small_opts());
    glia_bpe_ids ids = {0};
    glia_err err = {0};
    /* with byte fallback: the UTF-8 bytes of 日本, after the marker */
    ck_assert_int_eq(glia_bpe_encode(b, "日本", strlen("日本"), 0, &ids, &err), GLIA_OK);
    ck_assert_uint_eq(ids.n, 7);
    ck_assert_int_eq(ids.ids[0], glia_bpe_id(b, "▁"));
    for (size_t i = 1; i < 7; i++)
        ck_assert(ids.ids[i] >= GLIA_BPE_BYTE0 && ids.ids[i] < GLIA_BPE_BYTE0 + 256);
    ck_assert_int_eq(ids.ids[1], GLIA_BPE_BYTE0 + 0xE6);
    glia_bpe_free(b);

    /* without: one <unk> per unknown code point, decoded as U+FFFD */
    glia_bpe_opts o = small_opts();
    o.byte_fallback = false;
    b = learn(corpus, N_CORPUS, o);
    ck_assert(!glia_bpe_byte_fallback(b));
    ck_assert_str_eq(glia_bpe_token(b, 4), "!"); /* the alphabet follows </s> */
    ck_assert_int_eq(glia_bpe_id(b, "<0x00>"), -1);
    ck_assert_int_eq(glia_bpe_encode(b, "día 日本!", strlen("día 日本!"), 0, &ids, &err), GLIA_OK);
    ck_assert_str_eq(pieces(b, "día 日本!"), "▁d|í|a|▁|<unk>|<unk>|!");
    char *text = NULL;
    ck_assert_int_eq(glia_bpe_decode(b, ids.ids, ids.n, &text, NULL, &err), GLIA_OK);
    ck_assert_str_eq(text, "día \xef\xbf\xbd\xef\xbf\xbd!");
    free(text);
    glia_bpe_ids_free(&ids);
    glia_bpe_free(b);
}
END_TEST

START_TEST(invalid_utf8_is_refused)
{
    glia_bpe *b = learn(corpus, N_CORPUS, small_opts());
    glia_bpe_ids ids = {0};
    glia_err err = {0};
    char *s = NULL;
    static const struct {
        const char *text;
        size_t offset;
    } bad[] = {
        {"ab\xff", 2},          {"caf\xc3", 3},           {"\xc0\xaf", 0},
        {"ok \xed\xa0\x80", 3}, {"x\xf4\x90\x80\x80", 1}, {"\x80", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "invalid UTF-8 at byte %zu", bad[i].offset);
        ck_assert_int_eq(glia_bpe_encode(b, bad[i].text, strlen(bad[i].text), 0, &ids, &err), GLIA_EFORMAT);
        ck_assert_str_eq(err.msg, want);
        ck_assert_uint_eq(ids.n, 0);
        ck_assert_int_eq(glia_bpe_normalize(bad[i].text, strlen(bad[i].text), &s, NULL, &err), GLIA_EFORMAT);
        ck_assert_str_eq(err.msg, want);
        ck_assert_ptr_null(s);
    }
    glia_bpe_ids_free(&ids);
    glia_bpe_free(b);
}
END_TEST

START_TEST(specials_and_model_output)
{
    glia_bpe *b = learn(corpus, N_CORPUS, small_opts());
    glia_bpe_ids ids = {0};
    glia_err err = {0};
    char *text = NULL;
    size_t len;
    ck_assert_int_eq(glia_bpe_encode(b, "Hola", 4, GLIA_BPE_ADD_BOS | GLIA_BPE_ADD_EOS, &ids, &err), GLIA_OK);
    ck_assert_int_eq(ids.ids[0], GLIA_BPE_BOS);
    ck_assert_int_eq(ids.ids[ids.n - 1], GLIA_BPE_EOS);
    ck_assert_int_eq(glia_bpe_decode(b, ids.ids, ids.n, &text, &len, &err), GLIA_OK);
    ck_assert_str_eq(text, "Hola");
    free(text);
    ck_assert_int_eq(glia_bpe_encode(b, "", 0, GLIA_BPE_ADD_BOS | GLIA_BPE_ADD_EOS, &ids, &err), GLIA_OK);
    ck_assert_uint_eq(ids.n, 2);
    ck_assert_int_eq(glia_bpe_encode(b, "", 0, 0, &ids, &err), GLIA_OK);
    ck_assert_uint_eq(ids.n, 0);

    /* what a model may emit: padding, stray bytes, a truncated sequence, <unk> */
    int32_t a = glia_bpe_id(b, "▁a"), x = glia_bpe_id(b, "x"), mk = glia_bpe_id(b, "▁");
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(x, 0);
    int32_t out[] = {
        GLIA_BPE_PAD,          GLIA_BPE_BOS, a,           GLIA_BPE_BYTE0 + 0xFF, x,
        GLIA_BPE_BYTE0 + 0xC3, GLIA_BPE_UNK, mk,          GLIA_BPE_BYTE0 + 0xC3, GLIA_BPE_BYTE0 + 0xB1,
        GLIA_BPE_BYTE0 + 0xE2, GLIA_BPE_EOS, GLIA_BPE_PAD};
    ck_assert_int_eq(glia_bpe_decode(b, out, sizeof out / sizeof out[0], &text, &len, &err), GLIA_OK);
    ck_assert_str_eq(text, "a\xef\xbf\xbdx\xef\xbf\xbd\xef\xbf\xbd \xc3\xb1\xef\xbf\xbd");
    ck_assert_uint_eq(len, strlen(text));
    free(text);
    /* ids outside the vocabulary */
    int32_t bad[] = {a, (int32_t)glia_bpe_size(b)};
    ck_assert_int_eq(glia_bpe_decode(b, bad, 2, &text, NULL, &err), GLIA_EINVAL);
    ck_assert_ptr_null(text);
    ck_assert_ptr_nonnull(strstr(err.msg, "at position 1"));
    bad[1] = -1;
    ck_assert_int_eq(glia_bpe_decode(b, bad, 2, &text, NULL, &err), GLIA_EINVAL);
    ck_assert_int_eq(glia_bpe_decode(b, NULL, 0, &text, &len, &err), GLIA_OK);
    ck_assert_str_eq(text, "");
    ck_assert_uint_eq(len, 0);
    free(text);
    glia_bpe_ids_free(&ids);
    glia_bpe_free(b);
}
END_TEST

START_TEST(normalize_collapses_ascii_space_only)
{
    char *s;
    size_t len;
    glia_err err = {0};
    ck_assert_int_eq(glia_bpe_normalize(" \t a  b\n\r\nc\v\f ", 14, &s, &len, &err), GLIA_OK);
    ck_assert_str_eq(s, "a b c");
    ck_assert_uint_eq(len, 5);
    free(s);
    ck_assert_int_eq(glia_bpe_normalize("a\xc2\xa0 b\xe3\x80\x80", 8, &s, &len, &err), GLIA_OK);
    ck_assert_str_eq(s, "a\xc2\xa0 b\xe3\x80\x80");
    free(s);
    ck_assert_int_eq(glia_bpe_normalize("", 0, &s, &len, &err), GLIA_OK);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

START_TEST(long_words_are_cut)
{
    glia_bpe *b = learn(corpus, N_CORPUS, small_opts());
    enum { LEN = 64 * 1024 };
    char *text = malloc(LEN + 1);
    ck_assert_ptr_nonnull(text);
    glia_rng rng;
    glia_rng_seed(&rng, 7);
    for (size_t i = 0; i < LEN; i++)
        text[i] = (char)('a' + glia_rng_below(&rng, 26));
    text[LEN] = '\0';
    ck_assert_uint_le(round_trip(b, text), LEN);
    /* 200 of one letter: four pieces, none merged across the cuts (64 = 2^6 a's each) */
    memset(text, 'a', 200);
    text[200] = '\0';
    round_trip(b, text);
    /* "ñ" is two bytes: cuts count code points, never split one */
    for (size_t i = 0; i < 300; i++)
        memcpy(text + 2 * i, "ñ", 2);
    text[600] = '\0';
    round_trip(b, text);
    free(text);
    glia_bpe_free(b);
}
END_TEST

/* ---- files ------------------------------------------------------------------------------------ */

START_TEST(save_load_round_trip)
{
    glia_bpe *b = learn(corpus, N_CORPUS, small_opts());
    glia_err err = {0};
    char path[512], again[512];
    snprintf(path, sizeof path, "%s/tokenizer.bpe", tmpdir);
    snprintf(again, sizeof again, "%s/again.bpe", tmpdir);
    ck_assert_msg(glia_bpe_save(b, path, &err) == GLIA_OK, "%s", err.msg);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);

    size_t len;
    char *text = slurp(path, &len);
    ck_assert_msg(strncmp(text, "glia-bpe 1\nbyte-fallback yes\nvocab 400\nmerges ", 45) == 0, "%.60s", text);
    free(text);

    glia_bpe *l = NULL;
    ck_assert_msg(glia_bpe_load(path, &l, &err) == GLIA_OK, "%s", err.msg);
    ck_assert(same_bpe(b, l));
    for (size_t i = 0; i < N_CORPUS; i++) {
        glia_bpe_ids x = {0}, y = {0};
        ck_assert_int_eq(glia_bpe_encode(b, corpus[i], strlen(corpus[i]), 0, &x, &err), GLIA_OK);
        ck_assert_int_eq(glia_bpe_encode(l, corpus[i], strlen(corpus[i]), 0, &y, &err), GLIA_OK);
        ck_assert_uint_eq(x.n, y.n);
        ck_assert_mem_eq(x.ids, y.ids, x.n * sizeof *x.ids);
        glia_bpe_ids_free(&x);
        glia_bpe_ids_free(&y);
    }
    /* saving what was loaded gives the same bytes; overwriting works; no temporary files left */
    ck_assert_msg(glia_bpe_save(l, again, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_bpe_save(l, again, &err) == GLIA_OK, "%s", err.msg);
    size_t la, lb;
    char *fa = slurp(path, &la), *fb = slurp(again, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_mem_eq(fa, fb, la);
    free(fa);
    free(fb);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 2", tmpdir);
    ck_assert_int_eq(system(cmd), 0);

    /* without byte fallback too */
    glia_bpe_opts o = small_opts();
    o.byte_fallback = false;
    glia_bpe *nb = learn(corpus, N_CORPUS, o);
    ck_assert_msg(glia_bpe_save(nb, again, &err) == GLIA_OK, "%s", err.msg);
    glia_bpe *nl = NULL;
    ck_assert_msg(glia_bpe_load(again, &nl, &err) == GLIA_OK, "%s", err.msg);
    ck_assert(same_bpe(nb, nl));
    ck_assert(!glia_bpe_byte_fallback(nl));
    glia_bpe_free(nb);
    glia_bpe_free(nl);

    /* a directory that does not exist */
    ck_assert_int_eq(glia_bpe_save(b, "/nonexistent-dir/x.bpe", &err), GLIA_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent-dir/x.bpe"));
    glia_bpe_free(b);
    glia_bpe_free(l);
}
END_TEST

/* A valid file: a b ▁, ab, ▁ab; "a b", "▁ ab". */
#define HEAD "glia-bpe 1\nbyte-fallback no\n"
#define SPEC "<pad>\n<unk>\n<s>\n</s>\n"
#define GOOD HEAD "vocab 9\nmerges 2\n" SPEC "a\nb\n▁\nab\n▁ab\na b\n▁ ab\n"

START_TEST(load_accepts_a_hand_written_file)
{
    glia_err err = {0};
    glia_bpe *b = NULL;
    const char *path = glia_test_write(tmpdir, "good.bpe", GOOD);
    ck_assert_msg(glia_bpe_load(path, &b, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(glia_bpe_size(b), 9);
    ck_assert_uint_eq(glia_bpe_n_merges(b), 2);
    ck_assert_str_eq(pieces(b, "ab ba abc"), "▁ab|▁|b|a|▁ab|<unk>");
    glia_bpe_free(b);
    /* a last line without its newline is still a line */
    path = glia_test_write(tmpdir, "nonl.bpe", HEAD "vocab 9\nmerges 2\n" SPEC "a\nb\n▁\nab\n▁ab\na b\n▁ ab");
    ck_assert_msg(glia_bpe_load(path, &b, &err) == GLIA_OK, "%s", err.msg);
    glia_bpe_free(b);
}
END_TEST

static const struct {
    const char *text;
    const char *want; /* in the message, after "<path>" */
} bad_files[] = {
    {"", ":1: the file ends early: expected the header"},
    {"glia-bpe 2\n", ":1: unsupported tokenizer format version 'glia-bpe 2'"},
    {"vocab 9\n", ":1: not a glia BPE tokenizer file"},
    {"glia-bpe 1\nbyte-fallback maybe\n", ":2: expected 'byte-fallback yes' or 'byte-fallback no'"},
    {HEAD "vocab 4\nmerges 0\n" SPEC, ":3: expected 'vocab N' with N from 5"},
    {HEAD "vocab 09\nmerges 2\n", ":3: expected 'vocab N'"},
    {HEAD "vocab -9\nmerges 2\n", ":3: expected 'vocab N'"},
    {HEAD "vocab 9\nmerges two\n", ":4: expected 'merges M'"},
    {HEAD "vocab 9\nmerges 99999999\n" SPEC "a\n", ":4: 9 tokens and 99999999 merges cannot fit"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\nb\n▁\nab\n▁ab\na b\n", ":15: the file ends early: expected a merge"},
    {HEAD "vocab 9\nmerges 1\n" SPEC "a\nb\n▁\nab\n▁ab\na b\n▁ ab\n", ":13: no merge makes '▁ab'"},
    {GOOD "a a\n", ":16: unexpected line after the 2 merges"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\n\nb\n", ":10: empty line where a token should be"},
    {HEAD "vocab 9\r\nmerges 2\n", ":3: carriage return"},
    {HEAD "vocab 9\nmerges 2\n<PAD>\n", ":5: must be <pad> (id 0), not '<PAD>'"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\na\n", ":10: 'a' repeats line 9"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "b\na\n", ":10: 'a' (U+0061) is out of code point order"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\nb\n▁\nab\nc\n", ":13: single character 'c' after the merged tokens"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\tb\n", ":9: white space (byte 0x09)"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\x01\n", ":9: control character U+0001"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a▁\n", ":9: the word marker U+2581 after the start of token 'a▁'"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\xe9\n", ":9: invalid UTF-8 at byte 1 of the token"},
    {HEAD "vocab 7\nmerges 1\n" SPEC "a\nb\nab\na b\n", ":3: the alphabet has no word marker"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\nb\n▁\nab\n▁ab\na z\n",
     ":14: 'z' is not a token made before this merge"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\nb\n▁\nab\n▁ab\n<s> a\n", ":14: '<s>' is not a learned token made"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\nb\n▁\nab\n▁ab\n▁ ab\n",
     ":14: 'ab' is not a token made before this merge"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\nb\n▁\nab\n▁ab\na  b\n",
     ":14: a merge must be two tokens separated by one"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\nb\n▁\nab\n▁ab\nab\n",
     ":14: a merge must be two tokens separated by one"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\nb\n▁\nab\n▁ab\nb a\n",
     ":14: the result 'ba' of the merge is not in the"},
    {HEAD "vocab 9\nmerges 3\n" SPEC "a\nb\n▁\nab\n▁ab\na b\na b\n", ":15: merge 'a b' repeats line 14"},
    {HEAD "vocab 9\nmerges 2\n" SPEC "a\nb\n▁\n▁ab\nab\na b\n",
     ":14: the merge makes 'ab' (line 13) before '▁ab'"},
};

START_TEST(load_refuses_malformed_files)
{
    glia_err err = {0};
    glia_bpe *b = (glia_bpe *)1;
    const char *path = glia_test_write(tmpdir, "bad.bpe", bad_files[_i].text);
    char want[600];
    snprintf(want, sizeof want, "%s%s", path, bad_files[_i].want);
    ck_assert_int_eq(glia_bpe_load(path, &b, &err), GLIA_EFORMAT);
    ck_assert_ptr_null(b);
    ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "case %d: got '%s', want '%s...'", _i, err.msg,
                  want);
}
END_TEST

START_TEST(load_checks_byte_tokens)
{
    char text[8192];
    glia_err err = {0};
    glia_bpe *b = NULL;
    for (int wrong = -1; wrong < 256; wrong += 85) {
        size_t n =
            (size_t)snprintf(text, sizeof text, "glia-bpe 1\nbyte-fallback yes\nvocab 261\nmerges 0\n" SPEC);
        for (int i = 0; i < 256; i++)
            n += (size_t)snprintf(text + n, sizeof text - n, "<0x%02X>\n", i == wrong ? i ^ 1 : i);
        snprintf(text + n, sizeof text - n, "▁\n");
        const char *path = glia_test_write(tmpdir, "bytes.bpe", text);
        glia_status rc = glia_bpe_load(path, &b, &err);
        if (wrong < 0) {
            ck_assert_msg(rc == GLIA_OK, "%s", err.msg);
            ck_assert_str_eq(pieces(b, "é"), "▁|<0xC3>|<0xA9>");
            glia_bpe_free(b);
            continue;
        }
        char want[600];
        snprintf(want, sizeof want, "%s:%d: must be <0x%02X> (id %d), not '<0x%02X>'", path, 9 + wrong, wrong,
                 4 + wrong, wrong ^ 1);
        ck_assert_int_eq(rc, GLIA_EFORMAT);
        ck_assert_str_eq(err.msg, want);
    }
}
END_TEST

START_TEST(load_refuses_missing_file)
{
    glia_err err = {0};
    glia_bpe *b = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/none.bpe", tmpdir);
    ck_assert_int_eq(glia_bpe_load(path, &b, &err), GLIA_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_int_eq(glia_bpe_load(tmpdir, &b, &err), GLIA_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a regular file"));
}
END_TEST

/* ---- speed ------------------------------------------------------------------------------------ */

START_TEST(learns_2000_merges_on_a_generated_corpus)
{
    /* 20,000 sentences of 4-14 words made of 1-4 Spanish-like syllables: ~180k words */
    static const char *const syl[] = {"la", "de", "que", "el",  "en",  "ción", "to",  "ra",  "men",
                                      "es", "ta", "ba",  "co",  "pa",  "ri",   "ma",  "ño",  "se",
                                      "lo", "di", "ca",  "tra", "ble", "gu",   "mi",  "ver", "sa",
                                      "cu", "no", "ter", "pre", "al",  "ción", "dos", "vo"};
    enum { N = 20000 };
    glia_rng rng;
    glia_rng_seed(&rng, 42);
    char **texts = malloc(N * sizeof *texts);
    ck_assert_ptr_nonnull(texts);
    size_t words = 0;
    for (size_t i = 0; i < N; i++) {
        char buf[1024];
        size_t n = 0, nw = 4 + glia_rng_below(&rng, 11);
        for (size_t w = 0; w < nw; w++) {
            /* a Zipf-like choice of syllables, so that some words repeat a lot */
            size_t ns = 1 + glia_rng_below(&rng, 4);
            if (w)
                buf[n++] = ' ';
            for (size_t s = 0; s < ns; s++) {
                size_t k = glia_rng_below(&rng, 1 + glia_rng_below(&rng, sizeof syl / sizeof syl[0]));
                n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", syl[k]);
            }
            words++;
        }
        buf[n++] = glia_rng_below(&rng, 3) ? '.' : '?';
        buf[n] = '\0';
        texts[i] = strdup(buf);
        ck_assert_ptr_nonnull(texts[i]);
    }
    glia_bpe_opts o = glia_bpe_defaults();
    o.vocab_size = 0;
    o.max_merges = 2000;
    glia_bpe *b = learn((const char *const *)texts, N, o);
    ck_assert_uint_eq(glia_bpe_n_merges(b), 2000);
    ck_assert_uint_gt(words, 100000);
    for (size_t i = 0; i < 50; i++)
        round_trip(b, texts[i]);
    glia_bpe_free(b);
    for (size_t i = 0; i < N; i++)
        free(texts[i]);
    free(texts);
}
END_TEST

/* ---- the real data ---------------------------------------------------------------------------- */

static const char *data_dir(void)
{
    const char *dir = getenv("GLIA_GETTEXT_EN_ES");
    return dir && *dir ? dir : glia_test_path(".cache/data/gettext-en-es");
}

START_TEST(gettext_sentences_round_trip)
{
    char manifest[4200];
    snprintf(manifest, sizeof manifest, "%s/MANIFEST", data_dir());
    if (access(manifest, R_OK) != 0) {
        printf(
            "# SKIP gettext_sentences_round_trip: no gettext-en-es catalogs in %s (run scripts/setup or set "
            "GLIA_GETTEXT_EN_ES)\n",
            data_dir());
        fflush(stdout);
        return;
    }
    glia_gt_set set = {0};
    glia_err err = {0};
    ck_assert_msg(glia_gt_load_dir(data_dir(), &set, &err) == GLIA_OK, "%s", err.msg);
    /* a joint vocabulary learned from both sides of the training split */
    const char **texts = malloc(2 * set.n * sizeof *texts);
    size_t *lens = malloc(2 * set.n * sizeof *lens), n = 0;
    ck_assert(texts && lens);
    for (size_t i = 0; i < set.n; i++) {
        if (set.pairs[i].split != GLIA_GT_TRAIN)
            continue;
        texts[n] = set.pairs[i].en;
        lens[n++] = set.pairs[i].en_len;
        texts[n] = set.pairs[i].es;
        lens[n++] = set.pairs[i].es_len;
    }
    glia_bpe_opts o = glia_bpe_defaults();
    glia_bpe *b = NULL;
    ck_assert_msg(glia_bpe_learn(texts, lens, n, &o, &b, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(glia_bpe_size(b), o.vocab_size);
    /* detokenise(tokenise(x)) == x for every sentence of the data, all splits, both sides */
    size_t tokens = 0, words = 0;
    glia_bpe_ids ids = {0};
    for (size_t i = 0; i < set.n; i++) {
        for (int side = 0; side < 2; side++) {
            const char *s = side ? set.pairs[i].es : set.pairs[i].en;
            size_t len = side ? set.pairs[i].es_len : set.pairs[i].en_len;
            char *back = NULL;
            size_t back_len;
            ck_assert_msg(glia_bpe_encode(b, s, len, 0, &ids, &err) == GLIA_OK, "%s", err.msg);
            ck_assert_msg(glia_bpe_decode(b, ids.ids, ids.n, &back, &back_len, &err) == GLIA_OK, "%s",
                          err.msg);
            ck_assert_msg(back_len == len && memcmp(back, s, len) == 0, "pair %zu: '%s' came back as '%s'", i,
                          s, back);
            free(back);
            tokens += ids.n;
            words += glia_gt_words(s, len);
        }
    }
    printf("# gettext-en-es: %zu pairs, %zu training texts, %zu merges, %.3f tokens per word\n", set.n, n,
           glia_bpe_n_merges(b), (double)tokens / (double)words);
    fflush(stdout);
    ck_assert_double_lt((double)tokens / (double)words, 2.0);
    glia_bpe_ids_free(&ids);
    glia_bpe_free(b);
    free(texts);
    free(lens);
    glia_gt_free(&set);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bpe");

    TCase *tl = tcase_create("learn");
    tcase_add_test(tl, learn_first_merges);
    tcase_add_test(tl, learn_is_deterministic);
    tcase_add_test(tl, learn_respects_limits);
    tcase_add_test(tl, learns_2000_merges_on_a_generated_corpus);
    suite_add_tcase(s, tl);

    TCase *tc = tcase_create("codec");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trips_english_spanish);
    tcase_add_test(tc, round_trips_any_unicode);
    tcase_add_test(tc, round_trips_random_utf8);
    tcase_add_test(tc, unknown_characters);
    tcase_add_test(tc, invalid_utf8_is_refused);
    tcase_add_test(tc, specials_and_model_output);
    tcase_add_test(tc, normalize_collapses_ascii_space_only);
    tcase_add_test(tc, long_words_are_cut);
    suite_add_tcase(s, tc);

    TCase *tf = tcase_create("files");
    tcase_add_checked_fixture(tf, setup, teardown);
    tcase_add_test(tf, save_load_round_trip);
    tcase_add_test(tf, load_accepts_a_hand_written_file);
    tcase_add_loop_test(tf, load_refuses_malformed_files, 0, sizeof bad_files / sizeof bad_files[0]);
    tcase_add_test(tf, load_checks_byte_tokens);
    tcase_add_test(tf, load_refuses_missing_file);
    suite_add_tcase(s, tf);

    TCase *td = tcase_create("data");
    tcase_add_test(td, gettext_sentences_round_trip);
    suite_add_tcase(s, td);
    return s;
}

int main(void)
{
    return glia_check_run(suite());
}
