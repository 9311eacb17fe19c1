/*
 * batchnorm.c - batch normalisation over the channels of (C, H, W) samples (PyTorch's
 * nn.BatchNorm2d with affine and track_running_stats, its definitions throughout).
 *
 * Training (a training pass that is not an input-gradient one): each channel is normalised
 * by the mean and the BIASED variance of its n*H*W values in the batch, then scaled by
 * weight and shifted by bias; the running estimates move by momentum towards the batch's
 * mean and its UNBIASED variance, and num_batches_tracked counts the batches. Otherwise
 * (inference, validation, explanations) the running estimates normalise, so the layer is
 * a fixed per-channel affine map and its input gradient is dy * weight / sqrt(var + eps).
 *
 * The per-channel mean and 1/sqrt(var + eps) of a training forward are kept in the saved
 * state (the first 2C floats; per-sample sizing over-provisions but stays tiny), and the
 * backward recomputes x-hat from x rather than keeping it.
 *
 * Writing the running estimates is the one place a forward writes its layer: only a
 * training forward does it, on the trainer's model (a replica has its own copy: net.h).
 * Sums run in double: a channel of a 128-image batch at 28x28 has 100,352 values.
 */
#include "core/nn/layer.h"

#include <math.h>

static glia_status bn_init(glia_layer *l, glia_shape3 in, glia_err *err)
{
    const int c = l->cfg.bn.num_features;
    if (c <= 0)
        return glia_err_set(err, GLIA_EINVAL, "batchnorm2d: num_features must be positive (got %d)", c);
    if (in.c != c)
        return glia_err_set(err, GLIA_EINVAL, "batchnorm2d: num_features is %d but its input has %d channels",
                            c, in.c);
    if (!(l->cfg.bn.eps > 0.0f))
        return glia_err_set(err, GLIA_EINVAL, "batchnorm2d: eps must be positive (got %g)",
                            (double)l->cfg.bn.eps);
    if (!(l->cfg.bn.momentum >= 0.0f && l->cfg.bn.momentum <= 1.0f))
        return glia_err_set(err, GLIA_EINVAL, "batchnorm2d: momentum must be in [0, 1] (got %g)",
                            (double)l->cfg.bn.momentum);
    l->in = in;
    l->out = in;
    const int64_t shape[1] = {c};
    l->nparams = 2;
    glia_param_shape(&l->params[0], 1, shape, 1);
    glia_param_shape(&l->params[1], 1, shape, 1);
    l->nbuffers = 3;
    glia_param_shape(&l->buffers[0], 1, shape, 0);
    glia_param_shape(&l->buffers[1], 1, shape, 0);
    glia_param_shape(&l->buffers[2], 0, NULL, 0); /* a scalar, as in PyTorch */
    for (int i = 0; i < 3; i++)
        l->buffers[i].buffer = 1;
    l->buffers[2].int64 = 1;
    l->scratch_floats_per_sample = 0;
    l->saved_bytes_per_sample = sizeof(float) * 2 * (size_t)c;
    return GLIA_OK;
}

static void bn_reset(glia_layer *l, glia_rng *rng)
{
    (void)rng;
    const int c = l->cfg.bn.num_features;
    for (int i = 0; i < c; i++) {
        l->params[0].value[i] = 1.0f;
        l->params[1].value[i] = 0.0f;
        l->buffers[0].value[i] = 0.0f;
        l->buffers[1].value[i] = 1.0f;
    }
    l->buffers[2].value[0] = 0.0f;
}

/* Batch statistics are used (and the running estimates updated) in this pass. */
static int uses_batch_stats(const glia_pass *p)
{
    return p->training && !p->no_dropout;
}

static void bn_forward(glia_layer *l, const float *x, float *y, int n, glia_pass *p)
{
    const int c = l->in.c;
    const size_t hw = (size_t)l->in.h * (size_t)l->in.w, m = hw * (size_t)n;
    const float *gamma = l->params[0].value, *beta = l->params[1].value;
    float *rmean = l->buffers[0].value, *rvar = l->buffers[1].value;
    const int batch = uses_batch_stats(p);
    float *saved = p->saved;
    for (int ch = 0; ch < c; ch++) {
        float mean, invstd;
        if (batch) {
            double sum = 0.0, sq = 0.0;
            for (int i = 0; i < n; i++) {
                const float *xp = x + ((size_t)i * c + ch) * hw;
                for (size_t k = 0; k < hw; k++)
                    sum += xp[k];
            }
            const double mu = sum / (double)m;
            /* two passes: E[(x - mu)^2], not E[x^2] - mu^2, which cancels badly */
            for (int i = 0; i < n; i++) {
                const float *xp = x + ((size_t)i * c + ch) * hw;
                for (size_t k = 0; k < hw; k++) {
                    const double d = xp[k] - mu;
                    sq += d * d;
                }
            }
            const double var = sq / (double)m;
            mean = (float)mu;
            invstd = (float)(1.0 / sqrt(var + (double)l->cfg.bn.eps));
            saved[ch] = mean;
            saved[c + ch] = invstd;
            const float mom = l->cfg.bn.momentum;
            /* PyTorch puts the unbiased variance into the running estimate (m > 1; a single
             * value has none, and PyTorch refuses it: the biased one stands in) */
            const double unbiased = m > 1 ? sq / (double)(m - 1) : var;
            rmean[ch] = (1.0f - mom) * rmean[ch] + mom * mean;
            rvar[ch] = (1.0f - mom) * rvar[ch] + mom * (float)unbiased;
        } else {
            mean = rmean[ch];
            invstd = 1.0f / sqrtf(rvar[ch] + l->cfg.bn.eps);
        }
        const float scale = gamma[ch] * invstd, shift = beta[ch] - mean * scale;
        for (int i = 0; i < n; i++) {
            const size_t at = ((size_t)i * c + ch) * hw;
            for (size_t k = 0; k < hw; k++)
                y[at + k] = x[at + k] * scale + shift;
        }
    }
    if (batch)
        l->buffers[2].value[0] += 1.0f;
}

static void bn_backward(glia_layer *l, const float *x, const float *y, const float *dy, float *dx, int n,
                        glia_pass *p)
{
    (void)y;
    const int c = l->in.c;
    const size_t hw = (size_t)l->in.h * (size_t)l->in.w, m = hw * (size_t)n;
    const float *gamma = l->params[0].value;
    float *dgamma = l->params[0].grad, *dbeta = l->params[1].grad;
    const int batch = uses_batch_stats(p);
    const float *saved = p->saved;
    for (int ch = 0; ch < c; ch++) {
        const float mean = batch ? saved[ch] : l->buffers[0].value[ch];
        const float invstd = batch ? saved[c + ch] : 1.0f / sqrtf(l->buffers[1].value[ch] + l->cfg.bn.eps);
        double sdy = 0.0, sdyx = 0.0; /* sum dy, sum dy * x-hat */
        for (int i = 0; i < n; i++) {
            const size_t at = ((size_t)i * c + ch) * hw;
            for (size_t k = 0; k < hw; k++) {
                sdy += dy[at + k];
                sdyx += dy[at + k] * ((x[at + k] - mean) * invstd);
            }
        }
        if (dgamma)
            dgamma[ch] += (float)sdyx;
        if (dbeta)
            dbeta[ch] += (float)sdy;
        if (!dx)
            continue;
        const float g = gamma[ch] * invstd;
        if (!batch) { /* the running estimates are constants: a per-channel scale */
            for (int i = 0; i < n; i++) {
                const size_t at = ((size_t)i * c + ch) * hw;
                for (size_t k = 0; k < hw; k++)
                    dx[at + k] = dy[at + k] * g;
            }
            continue;
        }
        /* dx = gamma * invstd * (dy - mean(dy) - x-hat * mean(dy * x-hat)): the mean and the
         * variance depend on every x of the channel */
        const float mdy = (float)(sdy / (double)m), mdyx = (float)(sdyx / (double)m);
        for (int i = 0; i < n; i++) {
            const size_t at = ((size_t)i * c + ch) * hw;
            for (size_t k = 0; k < hw; k++) {
                const float xhat = (x[at + k] - mean) * invstd;
                dx[at + k] = g * (dy[at + k] - mdy - xhat * mdyx);
            }
        }
    }
}

const glia_layer_ops glia_batchnorm2d_ops = {"batchnorm2d", bn_init, bn_reset, bn_forward, bn_backward};
