/*
 * jsonnum.h - how glia writes numbers into JSON: to what they mean, never 49.100000000000001.
 *
 * Jansson prints a real with "%.17g" unless told otherwise, which round-trips every double but
 * shows the binary expansion of numbers that were decimal all along: 49.10 read from a
 * manifest comes out as 49.100000000000001, a float32 probability 0.9435958 as
 * 0.9435957670211792. Two rules fix both:
 *
 *  - every dump uses GLIA_JSON_REALS, 15 significant digits (DBL_DIG): any decimal of at most
 *    15 digits survives the trip to a double and back, so 49.10 prints as 49.1 and a time in
 *    seconds keeps its microseconds; 15 digits still cover every measured value;
 *  - a value computed in float32 (probabilities, scores, saliencies) goes in as
 *    glia_json_f32(x): the double of the shortest decimal that reads back as the same float
 *    (at most 9 significant digits), so 0.94359577f prints as 0.94359577, not with the 7
 *    meaningless digits its double conversion adds.
 */
#ifndef GLIA_BASE_JSONNUM_H
#define GLIA_BASE_JSONNUM_H

#include <jansson.h>

#define GLIA_JSON_REALS JSON_REAL_PRECISION(15)

/* The double of the shortest decimal (at most 9 significant digits) whose float is x; x itself
 * when it is not finite. */
double glia_json_f32(float x);

#endif
