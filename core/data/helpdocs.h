/*
 * helpdocs.h - the docs-en-es data set (issue 18.3b): English -> Spanish paragraphs of
 * LibreOffice's help, the HTML pages of Debian 12's libreoffice-help-en-us and
 * libreoffice-help-es. scripts/fetch-docs (called by scripts/setup) copies the pages into
 * .cache/data/docs-en-es/{en-US,es}/text/ beside a MANIFEST of package, version and sha256;
 * this module pairs them into the same pairs as gettext-en-es (core/data/gettext.h), so that
 * every trainer, scorer and tool that reads translation pairs reads these unchanged.
 *
 * The two languages' pages are generated from the same sources: they share file names and the
 * id of every paragraph and heading. A pair is therefore (page, id), never a guess by position:
 *  1. segments: every <p> and <h1>..<h6> element with an id attribute; its text is its content
 *     with the markup taken out: tags vanish (<span>, <a>, <code>, ...) except <br>, <img> and
 *     block tags (p, div, li, td, th, tr, table, ul, ol, pre), which stand for a space; an
 *     element marked hidden="true" is dropped with its content unless its id starts with
 *     "default" (LibreOffice's "switchinline": one hidden variant per platform or module,
 *     of which the page's script shows "default" when nothing else applies: Ctrl, not Command);
 *     comments vanish; the entities &lt; &gt; &amp; &quot; &apos; &nbsp; and numeric &#..; are
 *     decoded (an unknown one stays as written);
 *  2. white space collapsed as gettext's step 3 (runs of ASCII space, \t, \n, \v, \f, \r ->
 *     one space, none at either end; U+00A0 from &nbsp; counts as a space);
 *  3. pairing: the English page's segments in page order, each with the Spanish page's segment
 *     of the same id; an id that occurs twice in either page pairs nothing (ambiguous), an id
 *     the other page lacks pairs nothing (missing); a page the other language lacks likewise;
 *  4. kept when both sides are valid UTF-8 and not empty, the Spanish differs from the English
 *     (an untranslated copy, typically code or a name, teaches nothing), the English has 1 to
 *     GLIA_GT_MAX_WORDS words, the lengths agree (neither side has more than 3 times the other's
 *     characters plus 10: a longer gap is a paragraph translated as something else), and the
 *     placeholders agree ($[officename], %PRODUCTNAME: "$[" .. "]" and '%' + capitals occur the
 *     same number of times on either side);
 *  5. deduplicated on the English text, first occurrence wins (pages in strcmp order of their
 *     path under text/, segments in page order);
 *  6. split by gettext's rule (glia_gt_split_of: FNV-1a of the cleaned English % 20), so an
 *     English text lies in the same split in both data sets and in their union.
 *
 * Never: print, exit, keep a partly loaded set on failure, align by position.
 */
#ifndef GLIA_DATA_HELPDOCS_H
#define GLIA_DATA_HELPDOCS_H

#include <stddef.h>

#include "core/base/err.h"
#include "core/data/gettext.h"

#define GLIA_HD_DATASET "docs-en-es"
/* gettext-en-es and docs-en-es in one set: what a model that serves both domains trains on. */
#define GLIA_HD_COMBINED "gettext-docs-en-es"

/* Why a segment gave no pair (steps 3-5). */
typedef enum {
    GLIA_HD_SKIP_MISSING,      /* no segment of that id (or no page) in the other language */
    GLIA_HD_SKIP_AMBIGUOUS,    /* the id occurs twice in a page */
    GLIA_HD_SKIP_ENCODING,     /* invalid UTF-8 */
    GLIA_HD_SKIP_EMPTY,        /* nothing left after taking out the markup */
    GLIA_HD_SKIP_UNTRANSLATED, /* the Spanish is the English */
    GLIA_HD_SKIP_LENGTH,       /* more than GLIA_GT_MAX_WORDS English words */
    GLIA_HD_SKIP_RATIO,        /* the lengths disagree */
    GLIA_HD_SKIP_PLACEHOLDER,  /* the placeholders disagree */
    GLIA_HD_SKIP_DUPLICATE,    /* the English text of an earlier pair */
    GLIA_HD_NSKIPS
} glia_hd_skip;

typedef struct {
    size_t pages;    /* English pages read */
    size_t paired;   /* of those, pages with a Spanish page of the same path */
    size_t segments; /* English segments (with an id) */
    size_t skipped[GLIA_HD_NSKIPS];
} glia_hd_stats;

/* Reads dir/en-US/text and dir/es/text (dir: the data set directory scripts/fetch-docs makes)
 * into *out: one glia_gt_file per English page (its path under text/), one pair per kept
 * segment (message: the segment's index in its page). A missing directory, or one without
 * pages, is GLIA_ENOTFOUND saying that scripts/setup fetches them. stats may be NULL.
 * *out is the caller's (glia_gt_free); zeroed on failure. */
glia_status glia_hd_load_dir(const char *dir, glia_gt_set *out, glia_hd_stats *stats, glia_err *err);

/* Step 1-2 on one element's content html[0..len): a new NUL-terminated text in *out (the
 * caller frees it), possibly empty. */
glia_status glia_hd_text(const char *html, size_t len, char **out, glia_err *err);

/* The directory glia_hd_load_dir reads when a recipe names no path: $GLIA_DOCS_EN_ES, else
 * the build's GLIA_DATA_CACHE/docs-en-es. */
const char *glia_hd_default_dir(void);

/* The pairs of a built-in translation data set by name (core/data/catalog.h): gettext-en-es
 * (glia_gt_load_dir), docs-en-es (glia_hd_load_dir) or gettext-docs-en-es: gettext's pairs, then
 * the docs' pairs whose English gettext does not have (its files after gettext's, split by the
 * same rule, so neither data set's test English is in the union's train split). dir replaces
 * the default directory of gettext-en-es or docs-en-es (NULL: the default); the union reads both
 * defaults and refuses a dir. */
glia_status glia_pairs_load(const char *dataset, const char *dir, glia_gt_set *out, glia_err *err);

const char *glia_hd_skip_name(glia_hd_skip skip);

#endif
