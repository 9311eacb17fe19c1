/*
 * uci.h - the UCI "Sentiment Labelled Sentences" data set (Kotzias et al., KDD 2015): 3 x 1000
 * one-sentence reviews from Amazon, IMDB and Yelp, labelled 0 (negative) or 1 (positive).
 *
 * glia reads the copy the npm package sentiment@5.0.2 ships as test/fixtures/{amazon,imdb,yelp}.json
 * (scripts/setup puts them in .cache/data/uci-sentiment/): each a JSON array of
 * {"text": "...", "class": 0|1}, ending in one {"text": "", "class": null} left over from the
 * conversion, which is skipped and counted. Anything else out of shape is an error naming the
 * file and the element.
 *
 * The split is a pure function of the text, so it needs no file of its own and any other program
 * can reproduce it (bench/lexicon_baselines.js does, in JavaScript):
 *  1. strip ASCII white space (space, \t, \n, \v, \f, \r) from both ends; nothing else changes;
 *  2. drop exact duplicates of an earlier text, reading amazon, then imdb, then yelp, each in file
 *     order: the first occurrence is kept with its label, later ones are dropped (and counted;
 *     one whose label differs from the kept one is counted as a conflict too);
 *  3. h = FNV-1a 32-bit of the stripped text's UTF-8 bytes; h % 10 == 0 -> test, 1 -> dev,
 *     anything else -> train.
 * Deduplicating before splitting keeps a sentence that occurs twice from landing in both train
 * and test; hashing the text (not the position) keeps the split stable if the files are
 * reordered or extended.
 *
 * Never: print, exit, keep a partly loaded set on failure.
 */
#ifndef GLIA_DATA_UCI_H
#define GLIA_DATA_UCI_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"

typedef enum { GLIA_UCI_AMAZON, GLIA_UCI_IMDB, GLIA_UCI_YELP, GLIA_UCI_NSOURCES } glia_uci_source;
typedef enum { GLIA_UCI_TRAIN, GLIA_UCI_DEV, GLIA_UCI_TEST, GLIA_UCI_NSPLITS } glia_uci_split;

typedef struct {
    char *text; /* stripped UTF-8, NUL-terminated; owned by the set */
    size_t len; /* strlen(text) */
    int label;  /* 0 negative, 1 positive */
    glia_uci_source source;
    glia_uci_split split;
    uint32_t hash; /* glia_uci_fnv1a32(text, len) */
    size_t index;  /* position of the element in its file, from 0 */
} glia_uci_example;

typedef struct {
    size_t n;
    glia_uci_example *examples;             /* the kept examples: amazon, imdb, yelp, each in file order */
    size_t n_read[GLIA_UCI_NSOURCES];       /* array elements per file */
    size_t n_blank[GLIA_UCI_NSOURCES];      /* {"text": "", "class": null} elements skipped */
    size_t n_duplicates[GLIA_UCI_NSOURCES]; /* dropped, counted in the file of the dropped copy */
    size_t n_conflicts;                     /* duplicates whose label differs from the kept one */
} glia_uci_set;

/* Reads dir/amazon.json, dir/imdb.json and dir/yelp.json and splits them as described above.
 * *out is the caller's (glia_uci_free); zeroed on failure. */
glia_status glia_uci_load(const char *dir, glia_uci_set *out, glia_err *err);

/* The directory glia_uci_load reads when a recipe names no path: $GLIA_UCI_SENTIMENT, else
 * where scripts/setup puts the files (the build's GLIA_DATA_CACHE/uci-sentiment). */
const char *glia_uci_default_dir(void);

/* A user's labelled texts in the same shape: a JSON-lines file, one {"text": STRING,
 * "label": STRING or INTEGER} per line (blank lines skipped), labels mapped to indices of
 * labels[0..nlabels) (a string must be one of them, an integer in [0, nlabels)). Texts are
 * stripped and deduplicated and split exactly like the UCI sentences (FNV-1a % 10: 0 test,
 * 1 dev, else train); every example's source is GLIA_UCI_AMAZON (meaningless here). A bad
 * line is GLIA_EFORMAT naming path:line and the problem. */
glia_status glia_uci_load_jsonl(const char *path, char *const *labels, int nlabels, glia_uci_set *out,
                                glia_err *err);

/* Releases a set and zeroes it; safe on a zeroed set. */
void glia_uci_free(glia_uci_set *set);

/* The texts of one split, in set order, as a new array of borrowed pointers (free() the array,
 * not the texts): what glia_vocab_build takes. */
glia_status glia_uci_texts(const glia_uci_set *set, glia_uci_split split, const char ***texts, size_t *n,
                           glia_err *err);

/* FNV-1a, 32 bits: offset basis 0x811c9dc5, prime 0x01000193, xor then multiply, per byte. */
uint32_t glia_uci_fnv1a32(const void *data, size_t len);

/* The split a text with this hash belongs to (step 3 above). */
glia_uci_split glia_uci_split_of(uint32_t hash);

/* "amazon", "imdb", "yelp" (also the file names without .json); "train", "dev", "test". */
const char *glia_uci_source_name(glia_uci_source source);
const char *glia_uci_split_name(glia_uci_split split);

#endif
