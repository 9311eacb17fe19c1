/*
 * jsonnum.c - the shortest decimal of a float32 (jsonnum.h): the first precision from 1 to 9
 * at which "%.*g" reads back as the same float. 9 always does (FLT_DECIMAL_DIG), so the
 * loop ends; it costs a few snprintf calls a value, nothing beside a model's forward.
 */
#include "core/base/jsonnum.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

double glia_json_f32(float x)
{
    if (!isfinite(x))
        return (double)x;
    char buf[32];
    double d = (double)x;
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)x);
        d = strtod(buf, NULL);
        if ((float)d == x)
            break;
    }
    return d;
}
