/*
 * gettext.h - the gettext-en-es data set (issue 6): English -> Spanish message pairs from the
 * Spanish GNU gettext catalogs (.mo) of a pinned list of Debian packages. scripts/fetch-gettext
 * (called by scripts/setup) copies them into .cache/data/gettext-en-es/mo/ beside a MANIFEST of
 * package, version and sha256; this module reads them (through core/formats/mo.h) into pairs.
 *
 * The pairs, for each catalog in byte order of the file name, each message in catalog order:
 *  1. skipped: the header (empty msgid) and GNOME's "translator-credits" (the translators'
 *     names, counted as header), messages with a context (msgid holds \x04, or is
 *     "Context|text" in glib's Q_() convention - ASCII letters, '|', no white space after it -
 *     with no '|' in the msgstr: Midnight Commander's "ButtonBar|Edit" -> "Editar"), empty
 *     translations; plural forms give their singular: the msgid before the \0 and the first
 *     form of the msgstr (form 0 is n == 1 in every Spanish Plural-Forms);
 *  2. the msgstr is converted to UTF-8 from the catalog's charset (header Content-Type: UTF-8 or
 *     ASCII as they are, ISO-8859-1 and ISO-8859-15 converted; anything else is
 *     GLIA_EUNSUPPORTED); a pair with invalid UTF-8 on either side is skipped;
 *  3. white space collapsed: runs of ASCII space, \t, \n, \v, \f, \r become one space, none at
 *     either end (other characters, format strings like %s or %<...%>, markup, are kept);
 *  4. keyboard-accelerator markers removed, in both languages: a '_' or '&' immediately before
 *     a letter (ASCII, or a two-byte UTF-8 letter such as \u00d1: U+00C0..U+07FF but the signs
 *     U+00D7 and U+00F7) is dropped, unless it is part of an HTML/XML entity (&amp; &lt; ...) or the
 *     word it sits in (a run of ASCII letters, digits, '_', '&' and non-ASCII bytes) occurs as a
 *     whole word, unchanged, in the other language's text: translators copy identifiers such as
 *     LC_ALL, write_tables or FTS_NOSTAT verbatim, while an accelerator moves ("_Open" ->
 *     "_Abrir", "I_mage" -> "I_magen", "&Undo" -> "&Deshacer"); a marker dropped inside a
 *     lower-case word also lower-cases the capital after it (Midnight Commander's Spanish marks
 *     accelerators so: "a&Rriba" -> "arriba");
 *  5. kept when the English has 1 to 40 words (space-separated after step 3) and the Spanish is
 *     not empty;
 *  6. deduplicated on the English text: the first occurrence (file order, then catalog order)
 *     wins, later ones are counted and dropped, whatever their Spanish;
 *  7. h = FNV-1a 32-bit (core/base/hash.h) of the cleaned English bytes: h % 20 == 0 -> test,
 *     == 1 -> dev, anything else -> train.
 *
 * Never: print, exit, keep a partly loaded set on failure.
 */
#ifndef GLIA_DATA_GETTEXT_H
#define GLIA_DATA_GETTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/formats/mo.h"

#define GLIA_GT_MAX_WORDS 40
/* The data set name of training jobs. */
#define GLIA_GT_DATASET "gettext-en-es"

/* ---- the pairs ----------------------------------------------------------------------------- */

typedef enum { GLIA_GT_TRAIN, GLIA_GT_DEV, GLIA_GT_TEST, GLIA_GT_NSPLITS } glia_gt_split;

/* Why a message gave no pair (steps 1-6 above). */
typedef enum {
    GLIA_GT_SKIP_HEADER,    /* the empty msgid, "translator-credits" */
    GLIA_GT_SKIP_CONTEXT,   /* msgctxt, or a Q_() "Context|" prefix */
    GLIA_GT_SKIP_EMPTY,     /* empty msgstr, or a side with nothing left after cleaning */
    GLIA_GT_SKIP_ENCODING,  /* invalid UTF-8 */
    GLIA_GT_SKIP_LENGTH,    /* more than GLIA_GT_MAX_WORDS English words */
    GLIA_GT_SKIP_DUPLICATE, /* the English text of an earlier pair */
    GLIA_GT_NSKIPS
} glia_gt_skip;

typedef struct {
    char *en; /* cleaned UTF-8, NUL-terminated; owned by the set (en and es share one block) */
    char *es; /* points into the same block as en */
    size_t en_len, es_len;
    uint32_t hash; /* glia_fnv1a32(en, en_len) */
    glia_gt_split split;
    uint32_t file;    /* index into glia_gt_set.files */
    uint32_t message; /* index of the message in its catalog */
    bool plural;      /* the singular of a message with plural forms */
} glia_gt_pair;

typedef struct {
    char *name; /* file name, e.g. "coreutils.mo" (owned) */
    char charset[32];
    size_t read;        /* messages in the catalog, header included */
    size_t kept;        /* pairs it gave */
    size_t plural_kept; /* of those, singulars of plural messages */
    size_t skipped[GLIA_GT_NSKIPS];
} glia_gt_file;

typedef struct {
    size_t n;
    glia_gt_pair *pairs; /* in file order, then catalog order */
    size_t n_files;
    glia_gt_file *files; /* sorted by name */
    size_t n_split[GLIA_GT_NSPLITS];
} glia_gt_set;

/* Reads every *.mo of dir (or of dir/mo when that exists: the data set directory scripts/setup
 * makes) in strcmp order of the file names. A missing directory, or one without .mo files, is
 * GLIA_ENOTFOUND saying that scripts/setup fetches them; a malformed catalog fails the whole load
 * (its message names the file). *out is the caller's (glia_gt_free); zeroed on failure. */
glia_status glia_gt_load_dir(const char *dir, glia_gt_set *out, glia_err *err);

/* The same pairs from a user's file of "english<TAB>spanish" lines (a POST /v1/datasets
 * upload of format tsv): cleaned, filtered, deduped and split exactly like catalog messages;
 * the set has one file (the path's base name) and message i is line i + 1. A line without a
 * tab or not UTF-8 is GLIA_EFORMAT naming it. */
glia_status glia_gt_load_tsv(const char *path, glia_gt_set *out, glia_err *err);

/* Releases a set and zeroes it; safe on a zeroed set. */
void glia_gt_free(glia_gt_set *set);

/* The directory glia_gt_load_dir reads when a recipe names no path: $GLIA_GETTEXT_EN_ES, else
 * where scripts/setup puts the data (the build's GLIA_DATA_CACHE/gettext-en-es). */
const char *glia_gt_default_dir(void);

/* Steps 3-4 on one message pair (both already UTF-8): new strings in *en_out and *es_out (the
 * caller frees both), possibly empty. */
glia_status glia_gt_clean_pair(const char *en, size_t en_len, const char *es, size_t es_len, char **en_out,
                               char **es_out, glia_err *err);

/* Number of space-separated words of a cleaned text. */
size_t glia_gt_words(const char *text, size_t len);

/* The split of a text with this hash (step 7). */
glia_gt_split glia_gt_split_of(uint32_t hash);

/* "train", "dev", "test"; "header", "context", "empty", "encoding", "length", "duplicate". */
const char *glia_gt_split_name(glia_gt_split split);
const char *glia_gt_skip_name(glia_gt_skip skip);

#endif
