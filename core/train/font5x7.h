/*
 * font5x7.h - a bitmap font drawn for glia's plots (core/train/plot.c): 5 columns x 7 rows a
 * glyph, digits, capital letters (small letters are drawn as capitals) and the punctuation
 * numbers and axis titles need. Each glyph is 7 strings of 5 characters, '#' for ink, so
 * that the source shows the letter.
 */
#ifndef GLIA_TRAIN_FONT5X7_H
#define GLIA_TRAIN_FONT5X7_H

enum { GLIA_FONT_W = 5, GLIA_FONT_H = 7 };

/* The 7 rows of c's glyph (each 5 characters, '#' = ink); a box for a character it lacks. */
const char *const *glia_font5x7(char c);

#endif
