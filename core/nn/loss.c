/*
 * loss.c - see loss.h. log-softmax is computed as z - max - log(sum exp(z - max)) in
 * double, so a confident wrong answer gives a large finite loss, never inf.
 */
#include "core/nn/loss.h"

#include <math.h>
#include <stddef.h>

#include "core/base/err.h"

double glia_xent(const float *logits, const int32_t *labels, int n, int k, float smoothing, int32_t ignore_index,
                 float *dlogits, int *counted)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        m += labels[i] != ignore_index;
    double total = 0.0;
    double off = (double)smoothing / k, on = 1.0 - smoothing + off;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        float *dz = dlogits ? dlogits + (size_t)i * k : NULL;
        if (labels[i] == ignore_index) {
            if (dz)
                for (int j = 0; j < k; j++)
                    dz[j] = 0.0f;
            continue;
        }
        GLIA_ASSERT(labels[i] >= 0 && labels[i] < k);
        double max = z[0];
        for (int j = 1; j < k; j++)
            max = z[j] > max ? z[j] : max;
        double sum = 0.0;
        for (int j = 0; j < k; j++)
            sum += exp(z[j] - max);
        double logsum = log(sum) + max;
        double row = 0.0;
        for (int j = 0; j < k; j++) {
            double q = j == labels[i] ? on : off;
            double logp = z[j] - logsum;
            row -= q * logp;
            if (dz)
                dz[j] = (float)((exp(logp) - q) / m);
        }
        total += row;
    }
    if (counted)
        *counted = m;
    return m ? total / m : 0.0;
}
