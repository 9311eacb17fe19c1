/*
 * loss.c - see loss.h. log-softmax is computed as z - max - log(sum exp(z - max)) in
 * double, so a confident wrong answer gives a large finite loss, never inf.
 *
 * Rows of a vocabulary (k >= FLOAT_EXP_MIN classes) with a gradient to write take their
 * exponentials in float through vmath (16 at a time) into the gradient row, still summed and
 * divided in double: libm's double exp, twice per logit, was a tenth of a translation model's
 * training step (perf: exp + glia_xent ~10 % at V = 8000). Softmax probabilities then carry
 * float rounding - z - max is rounded to float, which moves exp by up to |z - max| 2^-24 of
 * it (2e-6 at a distance of 32) - as PyTorch's float32 cross-entropy does. Rows of a few classes
 * (the classifiers) keep the all-double arithmetic, whose cost is nothing there.
 */
#include "core/nn/loss.h"

#include <math.h>
#include <stddef.h>

#include "core/base/err.h"
#include "core/nn/kernels.h"
#include "core/nn/vmath.h"

#define FLOAT_EXP_MIN 256

/* Partial sums per pass of row_float_exp: independent accumulators, so that the compiler runs
 * them side by side in vector registers (one serial chain of double adds over 8,000 classes
 * waited on each add's latency; the loss was 3 % of a translation model's training step). */
#define LANES 8

/* One row's loss -sum_j q_j log p_j and dz = (p - q) / m, with the exponentials in float. */
static double row_float_exp(const float *z, int k, int label, double on, double off, int m, float *dz)
{
    float mx[LANES];
    for (int l = 0; l < LANES; l++)
        mx[l] = z[0];
    const int kb = k - k % LANES;
    for (int j = 0; j < kb; j += LANES)
        for (int l = 0; l < LANES; l++)
            mx[l] = z[j + l] > mx[l] ? z[j + l] : mx[l];
    float max = mx[0];
    for (int l = 1; l < LANES; l++)
        max = mx[l] > max ? mx[l] : max;
    for (int j = kb; j < k; j++)
        max = z[j] > max ? z[j] : max;
    double zs[LANES] = {0};
    for (int j = 0; j < kb; j += LANES)
        for (int l = 0; l < LANES; l++) {
            zs[l] += z[j + l];
            dz[j + l] = z[j + l] - max;
        }
    for (int j = kb; j < k; j++) {
        zs[0] += z[j];
        dz[j] = z[j] - max;
    }
    glia_vexp(dz, dz, (size_t)k);
    const double sum = glia_sum_f64(dz, (size_t)k);
    double zsum = 0.0;
    for (int l = 0; l < LANES; l++)
        zsum += zs[l];
    const double logsum = log(sum) + max;
    /* sum_j q_j log p_j = off sum_j (z_j - logsum) + (on - off) (z_label - logsum) */
    const double row = -(off * (zsum - k * logsum) + (on - off) * ((double)z[label] - logsum));
    /* 1/m once instead of a double division per class; the label's entry is redone with on */
    const double inv = 1.0 / sum, inv_m = 1.0 / m;
    const double p_label = dz[label] * inv;
    for (int j = 0; j < k; j++)
        dz[j] = (float)((dz[j] * inv - off) * inv_m);
    dz[label] = (float)((p_label - on) * inv_m);
    return row;
}

double glia_xent(const float *logits, const int32_t *labels, int n, int k, float smoothing,
                 int32_t ignore_index, float *dlogits, int *counted)
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
        if (dz && k >= FLOAT_EXP_MIN) {
            total += row_float_exp(z, k, labels[i], on, off, m, dz);
            continue;
        }
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
