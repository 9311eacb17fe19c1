/*
 * test_gettext.c - the gettext-en-es data set (core/data/gettext.h) and the .mo reader under
 * it (core/formats/mo.h): catalogs this file writes in both byte orders, malformed catalogs (truncated, bad
 * magic, unknown revision, tables and strings past the end, unterminated strings) refused with the file and
 * byte offset in the message; every cleaning rule (header, contexts, empty translations, plural
 * singulars, invalid UTF-8, white space, accelerator markers and the identifiers and entities
 * they must not touch, 1-40 English words, deduplication in file-name order, charsets); the
 * FNV-1a % 20 split; and, when scripts/setup has fetched the Debian catalogs
 * (GLIA_GETTEXT_EN_ES, else .cache/data/gettext-en-es under GLIA_SOURCE_ROOT; skipped with a TAP
 * note otherwise), the pinned totals per catalog, per skip reason and per split, with a digest
 * of each split, so any change in the fetched packages or in the cleaning is caught.
 */
#include "core/base/hash.h"
#include "core/data/gettext.h"
#include "core/formats/mo.h"
#include "tests/support/check_main.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "gettext");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

/* ---- writing .mo files ---------------------------------------------------------------------- */

/* One message: id and str may hold NULs (plural forms), hence explicit lengths (-1 = strlen). */
typedef struct {
    const char *id;
    int id_len;
    const char *str;
    int str_len;
} msg;

typedef struct {
    unsigned char *b;
    size_t n;
} bytes;

static void put32(unsigned char *p, uint32_t v, bool big_endian)
{
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (big_endian ? 24 - 8 * k : 8 * k));
}

/* A well-formed catalog: header, msgid table, msgstr table, then the strings, each NUL-terminated. */
static bytes mo_bytes(const msg *m, size_t n, bool big_endian)
{
    size_t strings = 28 + 16 * n, size = strings;
    for (size_t i = 0; i < n; i++)
        size += (m[i].id_len < 0 ? strlen(m[i].id) : (size_t)m[i].id_len) + 1 +
                (m[i].str_len < 0 ? strlen(m[i].str) : (size_t)m[i].str_len) + 1;
    bytes out = {calloc(1, size), size};
    ck_assert_ptr_nonnull(out.b);
    put32(out.b, GLIA_MO_MAGIC, big_endian);
    put32(out.b + 4, 0, big_endian);
    put32(out.b + 8, (uint32_t)n, big_endian);
    put32(out.b + 12, 28, big_endian);
    put32(out.b + 16, (uint32_t)(28 + 8 * n), big_endian);
    put32(out.b + 20, 0, big_endian); /* no hash table */
    put32(out.b + 24, (uint32_t)size, big_endian);
    size_t at = strings;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            const char *s = k ? m[i].str : m[i].id;
            int l = k ? m[i].str_len : m[i].id_len;
            size_t len = l < 0 ? strlen(s) : (size_t)l;
            put32(out.b + 28 + 8 * n * (size_t)k + 8 * i, (uint32_t)len, big_endian);
            put32(out.b + 28 + 8 * n * (size_t)k + 8 * i + 4, (uint32_t)at, big_endian);
            memcpy(out.b + at, s, len);
            at += len + 1;
        }
    }
    ck_assert_uint_eq(at, size);
    return out;
}

static const char *write_bytes(const char *dir, const char *name, const void *b, size_t n)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static void write_mo(const char *dir, const char *name, const msg *m, size_t n, bool big_endian)
{
    bytes b = mo_bytes(m, n, big_endian);
    write_bytes(dir, name, b.b, b.n);
    free(b.b);
}

#define HEADER(charset)                                                                                      \
    {                                                                                                        \
        "", -1,                                                                                              \
            "Content-Type: text/plain; charset=" charset "\nPlural-Forms: nplurals=2; plural=(n != 1);\n",   \
            -1                                                                                               \
    }
#define M(id, str)                                                                                           \
    {                                                                                                        \
        id, -1, str, -1                                                                                      \
    }
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the reader ----------------------------------------------------------------------------- */

static const msg basic[] = {
    HEADER("UTF-8"),
    M("Cannot open file", "No se puede abrir el archivo"),
    {"menu\x04Open", -1, "Abrir", -1},
    {"%d file\0%d files", 16, "%d archivo\0%d archivos", 22},
};

START_TEST(mo_reads_both_byte_orders)
{
    for (int be = 0; be < 2; be++) {
        bytes b = mo_bytes(basic, N(basic), be);
        glia_mo_catalog c;
        glia_err err = {0};
        ck_assert_msg(glia_mo_parse("basic.mo", b.b, b.n, &c, &err) == GLIA_OK, "%s", err.msg);
        ck_assert_int_eq(c.big_endian, be);
        ck_assert_uint_eq(c.revision, 0);
        ck_assert_uint_eq(c.n, N(basic));
        for (size_t i = 0; i < N(basic); i++) {
            size_t il = basic[i].id_len < 0 ? strlen(basic[i].id) : (size_t)basic[i].id_len;
            size_t sl = basic[i].str_len < 0 ? strlen(basic[i].str) : (size_t)basic[i].str_len;
            ck_assert_uint_eq(c.messages[i].id_len, il);
            ck_assert_uint_eq(c.messages[i].str_len, sl);
            ck_assert_mem_eq(c.messages[i].id, basic[i].id, il);
            ck_assert_mem_eq(c.messages[i].str, basic[i].str, sl);
            ck_assert_int_eq(c.messages[i].id[il], '\0');
        }
        char cs[32];
        glia_mo_catalog_charset(&c, cs, sizeof cs);
        ck_assert_str_eq(cs, "UTF-8");
        glia_mo_catalog_free(&c);
        ck_assert_ptr_null(c.data);

        /* and from a file */
        const char *path = write_bytes(tmpdir, be ? "be.mo" : "le.mo", b.b, b.n);
        ck_assert_msg(glia_mo_read(path, &c, &err) == GLIA_OK, "%s", err.msg);
        ck_assert_uint_eq(c.n, N(basic));
        ck_assert_str_eq(c.messages[1].str, "No se puede abrir el archivo");
        glia_mo_catalog_free(&c);
        free(b.b);
    }
}
END_TEST

START_TEST(mo_empty_catalog_and_no_header)
{
    glia_mo_catalog c;
    glia_err err = {0};
    bytes b = mo_bytes(NULL, 0, false);
    ck_assert_msg(glia_mo_parse("empty.mo", b.b, b.n, &c, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(c.n, 0);
    char cs[32];
    glia_mo_catalog_charset(&c, cs, sizeof cs);
    ck_assert_str_eq(cs, "UTF-8"); /* no header: UTF-8 */
    glia_mo_catalog_free(&c);
    free(b.b);
}
END_TEST

/* A corruption of the little-endian "basic" catalog and the words its message must contain. */
typedef struct {
    const char *what;
    size_t truncate_to; /* 0 = keep the size */
    size_t at;          /* byte to overwrite with value (when set) */
    uint32_t value;
    bool set;
    glia_status code;
    const char *want1, *want2;
} corruption;

/* the basic catalog: header 0..28, msgid table 28..60, msgstr table 60..92, strings from 92 */
static const corruption corruptions[] = {
    {"empty file", 1, 0, 0, false, GLIA_EFORMAT, "bad.mo: ", "too short"},
    {"truncated header", 27, 0, 0, false, GLIA_EFORMAT, "27 bytes, too short", "28-byte"},
    {"bad magic", 0, 0, 0x12345678u, true, GLIA_EFORMAT, "bad magic 0x12345678 at byte 0", "0x950412de"},
    {"revision 2", 0, 4, 0x20000u, true, GLIA_EUNSUPPORTED, "revision 2.0 at byte 4", "0 and 1"},
    {"msgid table past the end", 0, 12, 4000u, true, GLIA_EFORMAT, "msgid table at byte 4000",
     "past the end"},
    {"msgstr table past the end", 0, 16, 0xfffffff0u, true, GLIA_EFORMAT, "msgstr table at byte 4294967280",
     "past the end"},
    {"too many strings", 0, 8, 0x40000000u, true, GLIA_EFORMAT, "(1073741824 strings", "past the end"},
    {"string offset past the end", 0, 28 + 8 + 4, 100000u, true, GLIA_EFORMAT,
     "msgid 1 (descriptor at byte 36) is 16 bytes at byte 100000", "past the end of the file"},
    {"string length past the end", 0, 60 + 8, 0xffffffffu, true, GLIA_EFORMAT,
     "msgstr 1 (descriptor at byte 68) is 4294967295 bytes", "past the end"},
    {"string not terminated", 0, 28 + 8, 17u, true, GLIA_EFORMAT, "msgid 1 at byte", "is not NUL-terminated"},
    {"truncated strings", 200, 0, 0, false, GLIA_EFORMAT, "bytes at byte",
     "past the end of the file (200 bytes)"},
};

START_TEST(mo_refuses_malformed)
{
    const corruption *k = &corruptions[_i];
    bytes b = mo_bytes(basic, N(basic), false);
    ck_assert_uint_lt(k->truncate_to, b.n);
    size_t size = k->truncate_to ? k->truncate_to : b.n;
    if (k->truncate_to == 1)
        size = 0;
    if (k->set)
        put32(b.b + k->at, k->value, false);
    glia_mo_catalog c;
    glia_err err = {0};
    ck_assert_int_eq(glia_mo_parse("bad.mo", b.b, size, &c, &err), k->code);
    ck_assert_msg(strstr(err.msg, "bad.mo: ") == err.msg, "%s: %s", k->what, err.msg);
    ck_assert_msg(strstr(err.msg, k->want1) && strstr(err.msg, k->want2), "%s: %s", k->what, err.msg);
    ck_assert_ptr_null(c.data);
    ck_assert_ptr_null(c.messages);

    /* the same through a file and a directory load: the message names the path */
    write_bytes(tmpdir, "bad.mo", b.b, size);
    glia_gt_set set;
    ck_assert_int_eq(glia_gt_load_dir(tmpdir, &set, &err), k->code);
    char want[512];
    snprintf(want, sizeof want, "%s/bad.mo: ", tmpdir);
    ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, k->want1), "%s: %s", k->what, err.msg);
    ck_assert_ptr_null(set.pairs);
    ck_assert_ptr_null(set.files);
    free(b.b);
}
END_TEST

START_TEST(mo_missing_file_and_directory)
{
    glia_mo_catalog c;
    glia_gt_set set;
    glia_err err = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/none.mo", tmpdir);
    ck_assert_int_eq(glia_mo_read(path, &c, &err), GLIA_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, path) != NULL, "%s", err.msg);

    /* a directory without catalogs, one that does not exist */
    glia_test_write(tmpdir, "README", "not a catalog\n");
    ck_assert_int_eq(glia_gt_load_dir(tmpdir, &set, &err), GLIA_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, "no .mo files") && strstr(err.msg, "scripts/setup"), "%s", err.msg);
    ck_assert_int_eq(glia_gt_load_dir(path, &set, &err), GLIA_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, "cannot open the directory") && strstr(err.msg, "scripts/setup"), "%s",
                  err.msg);
    ck_assert_ptr_null(set.pairs);
}
END_TEST

/* ---- cleaning ------------------------------------------------------------------------------- */

typedef struct {
    const char *en, *es, *want_en, *want_es;
} clean_case;

static const clean_case clean_cases[] = {
    /* white space */
    {"  Cannot\topen\n\nfile  ", "\nNo se puede   abrir\r\n", "Cannot open file", "No se puede abrir"},
    {"Usage: %s [OPTION]...\n", "Uso: %s [OPCI\xc3\x93N]...\n", "Usage: %s [OPTION]...",
     "Uso: %s [OPCI\xc3\x93N]..."},
    {" \t\n", "x", "", "x"},
    /* accelerators that move between the languages */
    {"_Open", "_Abrir", "Open", "Abrir"},
    {"Save _As...", "Guardar _como\xe2\x80\xa6", "Save As...", "Guardar como\xe2\x80\xa6"},
    {"I_mage", "I_magen", "Image", "Imagen"},
    {"&Undo", "&Deshacer", "Undo", "Deshacer"},
    {"Di&rectory hotlist", "&Favoritos...", "Directory hotlist", "Favoritos..."},
    {"Altura e_st\xc3\xa1ndar", "_Standard Height", "Altura est\xc3\xa1ndar", "Standard Height"},
    /* a marker before a non-ASCII letter; an upper-case accelerator inside a lower-case word */
    {"Use SI size units", "tama&\xc3\x91os en unidades SI", "Use SI size units",
     "tama\xc3\xb1os en unidades SI"},
    {"Above", "a&Rriba", "Above", "arriba"},
    {"&read by owner", "&Lectura por due\xc3\xb1o", "read by owner", "Lectura por due\xc3\xb1o"},
    /* identifiers, copied verbatim by the translator, keep their underscores */
    {"LC_ALL is set", "LC_ALL est\xc3\xa1 definida", "LC_ALL is set", "LC_ALL est\xc3\xa1 definida"},
    {"%s: seek failed in write_tables", "%s: error de b\xc3\xbasqueda en write_tables",
     "%s: seek failed in write_tables", "%s: error de b\xc3\xbasqueda en write_tables"},
    {"%<_Atomic%> in Objective-C", "%<_Atomic%> en Objective-C", "%<_Atomic%> in Objective-C",
     "%<_Atomic%> en Objective-C"},
    {"P_KEY [none]", "P_KEY [ninguno]", "P_KEY [none]", "P_KEY [ninguno]"},
    /* ... but not when only one side has it */
    {"Usage: SUB_COMMAND", "Uso: SUB_ORDEN", "Usage: SUBCOMMAND", "Uso: SUBORDEN"},
    /* '_' and '&' before something other than a letter, entities, '&' as a word */
    {"same as %_H and %_1", "igual que %_H y %_1", "same as %_H and %_1", "igual que %_H y %_1"},
    {"letter %c was found & insn _ 2", "letra %c & insn _ 2", "letter %c was found & insn _ 2",
     "letra %c & insn _ 2"},
    {"escape it as &amp; or &lt;", "esc\xc3\xa1pelo como &amp; o &lt;", "escape it as &amp; or &lt;",
     "esc\xc3\xa1pelo como &amp; o &lt;"},
    {"AT&T syntax", "sintaxis AT&T", "AT&T syntax", "sintaxis AT&T"},
    {"x &_y", "x", "x &y", "x"},
    /* format strings and markup stay as they are */
    {"<b>%s</b> of %'d", "<b>%s</b> de %'d", "<b>%s</b> of %'d", "<b>%s</b> de %'d"},
    {"_", "_", "_", "_"},
};

START_TEST(clean_rules)
{
    const clean_case *k = &clean_cases[_i];
    char *en, *es;
    glia_err err = {0};
    ck_assert_int_eq(glia_gt_clean_pair(k->en, strlen(k->en), k->es, strlen(k->es), &en, &es, &err), GLIA_OK);
    ck_assert_msg(strcmp(en, k->want_en) == 0, "'%s' -> '%s', expected '%s'", k->en, en, k->want_en);
    ck_assert_msg(strcmp(es, k->want_es) == 0, "'%s' -> '%s', expected '%s'", k->es, es, k->want_es);
    free(en);
    free(es);
}
END_TEST

START_TEST(word_count)
{
    ck_assert_uint_eq(glia_gt_words("", 0), 0);
    ck_assert_uint_eq(glia_gt_words("one", 3), 1);
    ck_assert_uint_eq(glia_gt_words("one two three", 13), 3);
    ck_assert_uint_eq(glia_gt_words("  one \t two\n", 12), 2);
    ck_assert_uint_eq(glia_gt_words("%s: %s", 6), 2);
}
END_TEST

/* n words "w1 w2 ..." in a static buffer */
static const char *words(int n)
{
    static char buf[1024];
    size_t at = 0;
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%sw%d", i ? " " : "", i + 1);
    return buf;
}

static const glia_gt_pair *find_pair(const glia_gt_set *set, const char *en)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->pairs[i].en, en) == 0)
            return &set->pairs[i];
    return NULL;
}

START_TEST(load_applies_every_rule)
{
    char w40[1024], w41[1024];
    snprintf(w40, sizeof w40, "%s", words(40));
    snprintf(w41, sizeof w41, "%s", words(41));
    const msg b_msgs[] = {
        HEADER("UTF-8"),
        M("Cannot open file", "No se puede abrir el archivo"),
        {"menu\x04Open", -1, "Abrir", -1},                        /* context */
        M("ButtonBar|Edit", "Editar"),                            /* Q_() context */
        M("a|b", "a|b"),                                          /* '|' on both sides: a message */
        M("Untranslated", ""),                                    /* empty */
        M("_", "_"),                                              /* a marker-free underscore stays */
        {"%d file\0%d files", 16, "%d archivo\0%d archivos", 22}, /* plural: the singular */
        {"%d dir\0%d dirs", 14, "\0%d directorios", 15},          /* plural with an empty singular form */
        M("bad \xff byte", "byte \xc3\xa9rr\xc3\xb3neo"),         /* invalid UTF-8: English */
        M("bad Spanish", "mal \xc3"),                             /* invalid UTF-8: Spanish */
        {w40, -1, "cuarenta", -1},
        {w41, -1, "cuarenta y una", -1},
        M("  _Quit  ", "_Salir"),
        M("Quit", "Abandonar"),                           /* the same English after cleaning */
        M("Space only", " \n "),                          /* empty after cleaning */
        M("translator-credits", "Ana <ana@example.org>"), /* metadata, counted as a header */
    };
    const msg a_msgs[] = {
        HEADER("UTF-8"),        M("Quit", "Salir de a.mo"), /* a.mo sorts first: this one wins */
        M("Print", "Imprimir"), M("Open", "Abrir"),         M("Save", "Guardar"),
    };
    const msg c_msgs[] = {
        HEADER("ISO-8859-1"),
        M("Options", "Opci\xf3n"), /* Latin-1 */
        M("Euro", "\xa4"),
    };
    const msg d_msgs[] = {
        HEADER("ISO-8859-15"),
        M("Euro sign", "\xa4"),
    };
    /* written out of order, in both byte orders, beside files that are not catalogs */
    write_mo(tmpdir, "b.mo", b_msgs, N(b_msgs), true);
    write_mo(tmpdir, "a.mo", a_msgs, N(a_msgs), false);
    write_mo(tmpdir, "c.mo", c_msgs, N(c_msgs), true);
    write_mo(tmpdir, "d.mo", d_msgs, N(d_msgs), false);
    glia_test_write(tmpdir, "MANIFEST", "# not a catalog\n");
    glia_test_write(tmpdir, "e.po", "msgid \"x\"\nmsgstr \"y\"\n");

    glia_gt_set set;
    glia_err err = {0};
    ck_assert_msg(glia_gt_load_dir(tmpdir, &set, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(set.n_files, 4);
    ck_assert_str_eq(set.files[0].name, "a.mo");
    ck_assert_str_eq(set.files[1].name, "b.mo");
    ck_assert_str_eq(set.files[2].name, "c.mo");
    ck_assert_str_eq(set.files[3].name, "d.mo");
    ck_assert_str_eq(set.files[2].charset, "ISO-8859-1");

    const glia_gt_file *a = &set.files[0], *b = &set.files[1];
    ck_assert_uint_eq(a->read, 5);
    ck_assert_uint_eq(a->kept, 4);
    ck_assert_uint_eq(a->skipped[GLIA_GT_SKIP_HEADER], 1);
    ck_assert_uint_eq(b->read, N(b_msgs));
    ck_assert_uint_eq(b->skipped[GLIA_GT_SKIP_HEADER], 2);
    ck_assert_uint_eq(b->skipped[GLIA_GT_SKIP_CONTEXT], 2);
    ck_assert_uint_eq(b->skipped[GLIA_GT_SKIP_EMPTY], 3);
    ck_assert_uint_eq(b->skipped[GLIA_GT_SKIP_ENCODING], 2);
    ck_assert_uint_eq(b->skipped[GLIA_GT_SKIP_LENGTH], 1);
    ck_assert_uint_eq(b->skipped[GLIA_GT_SKIP_DUPLICATE], 2);
    ck_assert_uint_eq(b->kept, 5);
    ck_assert_uint_eq(b->plural_kept, 1);
    size_t sum = b->kept;
    for (int k = 0; k < GLIA_GT_NSKIPS; k++)
        sum += b->skipped[k];
    ck_assert_uint_eq(sum, b->read);

    /* the pairs, in file order then catalog order */
    static const char *const want[][2] = {
        {"Quit", "Salir de a.mo"},
        {"Print", "Imprimir"},
        {"Open", "Abrir"},
        {"Save", "Guardar"},
        {"Cannot open file", "No se puede abrir el archivo"},
        {"a|b", "a|b"},
        {"_", "_"},
        {"%d file", "%d archivo"},
        {NULL, "cuarenta"},
        {"Options", "Opci\xc3\xb3n"},
        {"Euro", "\xc2\xa4"},
        {"Euro sign", "\xe2\x82\xac"},
    };
    ck_assert_uint_eq(set.n, N(want));
    size_t by_split[GLIA_GT_NSPLITS] = {0};
    for (size_t i = 0; i < set.n; i++) {
        const glia_gt_pair *p = &set.pairs[i];
        ck_assert_str_eq(p->en, want[i][0] ? want[i][0] : w40);
        ck_assert_str_eq(p->es, want[i][1]);
        ck_assert_uint_eq(p->en_len, strlen(p->en));
        ck_assert_uint_eq(p->es_len, strlen(p->es));
        ck_assert_uint_eq(p->hash, glia_fnv1a32(p->en, p->en_len));
        ck_assert_int_eq(p->split, glia_gt_split_of(p->hash));
        by_split[p->split]++;
    }
    for (int k = 0; k < GLIA_GT_NSPLITS; k++)
        ck_assert_uint_eq(set.n_split[k], by_split[k]);
    const glia_gt_pair *p = find_pair(&set, "%d file");
    ck_assert(p && p->plural && p->file == 1 && p->message == 7);
    p = find_pair(&set, "Quit");
    ck_assert(p && p->file == 0 && p->message == 1 && !p->plural);
    ck_assert_ptr_null(find_pair(&set, w41));

    /* known hashes: "Print" -> test, "Open" -> dev, "Save" -> train */
    ck_assert_int_eq(find_pair(&set, "Print")->split, GLIA_GT_TEST);
    ck_assert_int_eq(find_pair(&set, "Open")->split, GLIA_GT_DEV);
    ck_assert_int_eq(find_pair(&set, "Save")->split, GLIA_GT_TRAIN);
    glia_gt_free(&set);
    ck_assert_ptr_null(set.pairs);
    ck_assert_uint_eq(set.n, 0);
}
END_TEST

START_TEST(load_reads_a_data_set_directory)
{
    /* dir/mo/ is read when it exists (the layout scripts/setup makes) */
    char mo[512];
    snprintf(mo, sizeof mo, "%s/mo", tmpdir);
    ck_assert_int_eq(mkdir(mo, 0755), 0);
    const msg m[] = {HEADER("utf8"), M("Save", "Guardar")};
    write_mo(mo, "x.mo", m, N(m), false);
    write_mo(tmpdir, "ignored.mo", basic, N(basic), false);
    glia_gt_set set;
    glia_err err = {0};
    ck_assert_msg(glia_gt_load_dir(tmpdir, &set, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(set.n_files, 1);
    ck_assert_uint_eq(set.n, 1);
    ck_assert_str_eq(set.pairs[0].es, "Guardar");
    glia_gt_free(&set);
}
END_TEST

START_TEST(load_refuses_unknown_charset)
{
    const msg m[] = {HEADER("KOI8-R"), M("Save", "\xf3\xcf\xc8")};
    write_mo(tmpdir, "koi.mo", m, N(m), false);
    glia_gt_set set;
    glia_err err = {0};
    ck_assert_int_eq(glia_gt_load_dir(tmpdir, &set, &err), GLIA_EUNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "koi.mo: charset KOI8-R") != NULL, "%s", err.msg);
    ck_assert_ptr_null(set.files);
}
END_TEST

/* ---- the split ------------------------------------------------------------------------------ */

START_TEST(split_rule)
{
    ck_assert_int_eq(glia_gt_split_of(0), GLIA_GT_TEST);
    ck_assert_int_eq(glia_gt_split_of(20), GLIA_GT_TEST);
    ck_assert_int_eq(glia_gt_split_of(1), GLIA_GT_DEV);
    ck_assert_int_eq(glia_gt_split_of(41), GLIA_GT_DEV);
    for (uint32_t h = 2; h < 20; h++)
        ck_assert_int_eq(glia_gt_split_of(h), GLIA_GT_TRAIN);
    ck_assert_int_eq(glia_gt_split_of(0xffffffffu), GLIA_GT_TRAIN); /* 4294967295 % 20 == 15 */
    /* FNV-1a test vectors and where they land */
    ck_assert_uint_eq(glia_fnv1a32("", 0), 0x811c9dc5u);
    ck_assert_int_eq(glia_gt_split_of(glia_fnv1a32("", 0)), GLIA_GT_DEV);
    ck_assert_uint_eq(glia_fnv1a32("a", 1), 0xe40c292cu);
    ck_assert_int_eq(glia_gt_split_of(glia_fnv1a32("a", 1)), GLIA_GT_TEST);
    ck_assert_uint_eq(glia_fnv1a32("Cannot open file", 16), 0x3ffc40bcu);
    ck_assert_int_eq(glia_gt_split_of(0x3ffc40bcu), GLIA_GT_TRAIN);
    ck_assert_str_eq(glia_gt_split_name(GLIA_GT_TRAIN), "train");
    ck_assert_str_eq(glia_gt_split_name(GLIA_GT_DEV), "dev");
    ck_assert_str_eq(glia_gt_split_name(GLIA_GT_TEST), "test");
    ck_assert_str_eq(glia_gt_skip_name(GLIA_GT_SKIP_DUPLICATE), "duplicate");
}
END_TEST

/* ---- the real catalogs ---------------------------------------------------------------------- */

static const char *data_dir(void)
{
    const char *dir = getenv("GLIA_GETTEXT_EN_ES");
    return dir && *dir ? dir : glia_test_path(".cache/data/gettext-en-es");
}

static bool have_data(const char *test)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", data_dir());
    if (access(path, R_OK) == 0)
        return true;
    printf("# SKIP %s: no gettext-en-es catalogs in %s (run scripts/setup or set GLIA_GETTEXT_EN_ES)\n", test,
           data_dir());
    fflush(stdout);
    return false;
}

/* FNV-1a over "en\tes\n" of every pair of a split, in set order. */
static uint32_t split_digest(const glia_gt_set *set, glia_gt_split split)
{
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < set->n; i++) {
        const glia_gt_pair *p = &set->pairs[i];
        if (p->split != split)
            continue;
        for (int side = 0; side < 2; side++) {
            const char *s = side ? p->es : p->en;
            size_t len = side ? p->es_len : p->en_len;
            for (size_t k = 0; k <= len; k++) {
                h ^= k < len ? (unsigned char)s[k] : (unsigned char)(side ? '\n' : '\t');
                h *= 0x01000193u;
            }
        }
    }
    return h;
}

START_TEST(real_pinned_totals)
{
    if (!have_data("real_pinned_totals"))
        return;
    glia_gt_set set;
    glia_err err = {0};
    ck_assert_msg(glia_gt_load_dir(data_dir(), &set, &err) == GLIA_OK, "%s", err.msg);
    size_t read = 0, plural = 0, skipped[GLIA_GT_NSKIPS] = {0}, words_max = 0;
    for (size_t i = 0; i < set.n_files; i++) {
        const glia_gt_file *f = &set.files[i];
        size_t sum = f->kept;
        read += f->read;
        plural += f->plural_kept;
        for (int k = 0; k < GLIA_GT_NSKIPS; k++) {
            skipped[k] += f->skipped[k];
            sum += f->skipped[k];
        }
        ck_assert_uint_eq(sum, f->read);
        ck_assert_uint_ge(f->skipped[GLIA_GT_SKIP_HEADER], 1);
    }
    for (size_t i = 0; i < set.n; i++) {
        const glia_gt_pair *p = &set.pairs[i];
        size_t w = glia_gt_words(p->en, p->en_len);
        ck_assert(w >= 1 && w <= GLIA_GT_MAX_WORDS && p->es_len > 0);
        ck_assert(p->en[0] != ' ' && p->en[p->en_len - 1] != ' ' && !strstr(p->en, "  "));
        ck_assert(!strchr(p->en, '\n') && !strchr(p->es, '\n') && !strchr(p->es, '\t'));
        words_max = w > words_max ? w : words_max;
    }
    printf(
        "# gettext-en-es: %zu catalogs, %zu messages, %zu pairs (%zu plural singulars), longest %zu words\n",
        set.n_files, read, set.n, plural, words_max);
    printf("# skipped:");
    for (int k = 0; k < GLIA_GT_NSKIPS; k++)
        printf(" %s %zu", glia_gt_skip_name((glia_gt_skip)k), skipped[k]);
    printf("\n");
    for (int k = 0; k < GLIA_GT_NSPLITS; k++)
        printf("# split %-5s %zu (%.2f%%) digest 0x%08x\n", glia_gt_split_name((glia_gt_split)k),
               set.n_split[k], 100.0 * (double)set.n_split[k] / (double)set.n,
               (unsigned)split_digest(&set, (glia_gt_split)k));
    fflush(stdout);

    /* the pinned package list of scripts/fetch-gettext, as Debian 12 served it (MANIFEST) */
    ck_assert_uint_eq(set.n_files, 74);
    ck_assert_uint_eq(read, 59571);
    ck_assert_uint_eq(set.n, 55214);
    ck_assert_uint_eq(plural, 398);
    const size_t want_skipped[GLIA_GT_NSKIPS] = {77, 1168, 7, 0, 460, 2645};
    for (int k = 0; k < GLIA_GT_NSKIPS; k++)
        ck_assert_msg(skipped[k] == want_skipped[k], "%s: %zu, pinned %zu",
                      glia_gt_skip_name((glia_gt_skip)k), skipped[k], want_skipped[k]);
    ck_assert_uint_eq(set.n_split[GLIA_GT_TRAIN], 49729);
    ck_assert_uint_eq(set.n_split[GLIA_GT_DEV], 2697);
    ck_assert_uint_eq(set.n_split[GLIA_GT_TEST], 2788);
    ck_assert_uint_eq(split_digest(&set, GLIA_GT_TRAIN), 0xed5c2877u);
    ck_assert_uint_eq(split_digest(&set, GLIA_GT_DEV), 0x25fca7f1u);
    ck_assert_uint_eq(split_digest(&set, GLIA_GT_TEST), 0xfd5df435u);

    /* what any version of the data should keep: the issue's >= 30,000 training pairs, 90/5/5 */
    ck_assert_uint_ge(set.n_split[GLIA_GT_TRAIN], 30000);
    const double expect[GLIA_GT_NSPLITS] = {0.90, 0.05, 0.05};
    for (int k = 0; k < GLIA_GT_NSPLITS; k++) {
        double share = (double)set.n_split[k] / (double)set.n;
        ck_assert_msg(share > expect[k] - 0.01 && share < expect[k] + 0.01, "%s holds %.4f",
                      glia_gt_split_name((glia_gt_split)k), share);
    }
    /* a few pairs every Debian 12 set holds */
    const glia_gt_pair *p = find_pair(&set, "memory exhausted");
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p->es, "memoria agotada");
    glia_gt_free(&set);
}
END_TEST

START_TEST(real_is_deterministic)
{
    if (!have_data("real_is_deterministic"))
        return;
    glia_gt_set a, b;
    glia_err err = {0};
    ck_assert_msg(glia_gt_load_dir(data_dir(), &a, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_gt_load_dir(data_dir(), &b, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        ck_assert_str_eq(a.pairs[i].en, b.pairs[i].en);
        ck_assert_str_eq(a.pairs[i].es, b.pairs[i].es);
        ck_assert_int_eq(a.pairs[i].split, b.pairs[i].split);
        ck_assert_uint_eq(a.pairs[i].file, b.pairs[i].file);
    }
    glia_gt_free(&a);
    glia_gt_free(&b);
}
END_TEST

/* A user's tsv upload goes through the same cleaning, dedupe and split as the catalogs. */
START_TEST(tsv_pairs_follow_the_catalog_rules)
{
    glia_gt_set set;
    glia_err err = {0};
    const char *path = glia_test_write(tmpdir, "pairs.tsv",
                                       "_Open file\t_Abrir archivo\n"
                                       "Cannot  open   %s\tNo se puede abrir %s\r\n"
                                       "_Open file\tAbrir fichero\n" /* the same English: dropped */
                                       "Empty\t\n"                   /* no translation: dropped */
                                       "Save\tGuardar");             /* no final newline */
    ck_assert_msg(glia_gt_load_tsv(path, &set, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(set.n, 3);
    ck_assert_str_eq(set.pairs[0].en, "Open file");
    ck_assert_str_eq(set.pairs[0].es, "Abrir archivo");
    ck_assert_str_eq(set.pairs[1].en, "Cannot open %s");
    ck_assert_str_eq(set.pairs[1].es, "No se puede abrir %s");
    ck_assert_str_eq(set.pairs[2].en, "Save");
    ck_assert_uint_eq(set.pairs[2].message, 4); /* line 5 */
    ck_assert_uint_eq(set.n_files, 1);
    ck_assert_str_eq(set.files[0].name, "pairs.tsv");
    ck_assert_uint_eq(set.files[0].skipped[GLIA_GT_SKIP_DUPLICATE], 1);
    ck_assert_uint_eq(set.files[0].skipped[GLIA_GT_SKIP_EMPTY], 1);
    for (size_t i = 0; i < set.n; i++)
        ck_assert_int_eq(set.pairs[i].split,
                         glia_gt_split_of(glia_fnv1a32(set.pairs[i].en, set.pairs[i].en_len)));
    glia_gt_free(&set);
    path = glia_test_write(tmpdir, "bad.tsv", "Open\tAbrir\nno tab here\n");
    ck_assert_int_eq(glia_gt_load_tsv(path, &set, &err), GLIA_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "bad.tsv:2"));
    ck_assert_uint_eq(set.n, 0);
    ck_assert_int_eq(glia_gt_load_tsv("/nonexistent/x.tsv", &set, &err), GLIA_ENOTFOUND);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gettext");
    TCase *tm = tcase_create("mo");
    tcase_add_checked_fixture(tm, setup, teardown);
    tcase_add_test(tm, mo_reads_both_byte_orders);
    tcase_add_test(tm, mo_empty_catalog_and_no_header);
    tcase_add_loop_test(tm, mo_refuses_malformed, 0, (int)N(corruptions));
    tcase_add_test(tm, mo_missing_file_and_directory);
    suite_add_tcase(s, tm);

    TCase *tc = tcase_create("clean");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, clean_rules, 0, (int)N(clean_cases));
    tcase_add_test(tc, word_count);
    tcase_add_test(tc, load_applies_every_rule);
    tcase_add_test(tc, load_reads_a_data_set_directory);
    tcase_add_test(tc, load_refuses_unknown_charset);
    tcase_add_test(tc, split_rule);
    tcase_add_test(tc, tsv_pairs_follow_the_catalog_rules);
    suite_add_tcase(s, tc);

    TCase *tr = tcase_create("real");
    tcase_add_test(tr, real_pinned_totals);
    tcase_add_test(tr, real_is_deterministic);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    return glia_check_run(suite());
}
