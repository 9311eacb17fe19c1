/*
 * detok.h - tidying the spacing of a translation's decoded text.
 *
 * The subword decoder (bpe.h) is exact: it puts a space wherever a token starts with the word
 * marker. A model that has learnt "(" and "error" as separate words then writes
 * "( error desconocido)" for "(unknown error)". This module removes such spaces, one rule per
 * character, each only when the source text never has that spacing itself - program messages
 * legitimately write "[ -n ]", "%s : %s" or "ls -l ." and their translations keep it (in the
 * gettext training pairs, a Spanish "( " or " :" comes with the same in the English almost every
 * time). The rules:
 *
 *  - after an opening mark - ( [ { ¿ ¡ « “ - a following space is removed unless the source
 *    has that mark followed by a space;
 *  - before a closing mark or punctuation - ) ] } , ; : . ? ! » ” - a preceding space is
 *    removed unless the source has a space followed by that mark.
 *
 * ASCII quotes (' ") are left alone: the same character opens and closes, so which side the
 * space belongs to needs a pairing the text may not have. Pure; no allocation.
 */
#ifndef GLIA_TEXT_DETOK_H
#define GLIA_TEXT_DETOK_H

#include <stddef.h>

/* Tidies text[0..len) in place (it only gets shorter) and NUL-terminates it at the new length,
 * which it returns; src[0..src_len) is the source the text translates (NULL with 0: none,
 * every rule applies). */
size_t glia_detok_tidy(const char *src, size_t src_len, char *text, size_t len);

#endif
