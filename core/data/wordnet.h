/*
 * wordnet.h - the glosses of Princeton WordNet 3.0 as plain English sentences, an unlabelled
 * corpus for word2vec (core/train/word2vec.h) that Debian ships in the package wordnet-base.
 *
 * WordNet's data.{noun,verb,adj,adv} hold one synset per line: fields (offset, lexicographer
 * file, part of speech, lemmas, pointers, verb frames), then "| " and the gloss, which is one
 * or more definitions and quoted example sentences separated by ';':
 *
 *     00001740 02 r 01 a_cappella 0 000 | without musical accompaniment; "they performed a cappella"
 *
 * gives the two texts "without musical accompaniment" and "they performed a cappella". Each
 * file opens with the Princeton licence, whose lines start with two spaces; they are skipped.
 * A ';' inside a quoted example does not end it: an example ends at the first '"' followed by
 * ';' or the end of the gloss, so the handful of glosses with a stray or missing quote still
 * give their words (with the stray quote as a token of its own) instead of an error.
 *
 * Never: print, exit, keep a partly read corpus on failure, follow the pointer fields (the
 * lemmas and relations are not running text).
 */
#ifndef GLIA_DATA_WORDNET_H
#define GLIA_DATA_WORDNET_H

#include <stddef.h>

#include "core/base/err.h"

/* Where Debian's wordnet-base puts the data files. */
#define GLIA_WORDNET_DEFAULT_DIR "/usr/share/wordnet"

typedef struct {
    size_t n;        /* number of texts */
    char **texts;    /* n NUL-terminated UTF-8 strings, pointers into buf */
    char *buf;       /* owned: the texts back to back */
    size_t synsets;  /* gloss lines read, over the four files */
    size_t examples; /* how many of the texts are quoted examples (the rest are definitions) */
} glia_wordnet_corpus;

/* Reads dir/data.noun, data.verb, data.adj and data.adv (in that order, each in file order) into
 * *out (the caller's: glia_wordnet_free; zeroed on failure). dir NULL means
 * GLIA_WORDNET_DEFAULT_DIR. A missing directory or file is GLIA_ENOTFOUND saying that
 * `scripts/setup --test` installs wordnet-base; a line that is not a synset with a gloss, or
 * invalid UTF-8, is GLIA_EFORMAT naming the file and line. */
glia_status glia_wordnet_load(const char *dir, glia_wordnet_corpus *out, glia_err *err);

/* Releases a corpus and zeroes it; safe on a zeroed corpus. */
void glia_wordnet_free(glia_wordnet_corpus *c);

#endif
