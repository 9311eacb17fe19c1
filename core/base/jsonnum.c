/*
 * jsonnum.c - the shortest decimal of a float32 (jsonnum.h): the first precision from 6 to 9
 * at which "%.*g" reads back as the same float. 9 always does (FLT_DECIMAL_DIG), so the
 * loop ends. It starts at 6 because a float is within 2^-24 of its value, far inside half a
 * step of the 6-digit grid: when a decimal of 6 or fewer digits reads back as x, "%.6g"
 * rounds x to that very decimal (%g drops the trailing zeros), so precisions 1 to 5 could
 * only find the same answer - at most 4 snprintf/strtod pairs a value instead of 9, which
 * matters for an explanation's hundreds of saliencies. Subnormals carry fewer digits than
 * that, so they still start at 1.
 */
#include "core/base/jsonnum.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

double glia_json_f32(float x)
{
    if (!isfinite(x))
        return (double)x;
    char buf[32];
    double d = (double)x;
    for (int p = fabsf(x) < FLT_MIN ? 1 : 6; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)x);
        d = strtod(buf, NULL);
        if ((float)d == x)
            break;
    }
    return d;
}
