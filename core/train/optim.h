/*
 * optim.h - optimizers with PyTorch's update equations.
 *
 * Each optimizer updates a set of glia_param (value + grad views into a network's flat
 * buffers) in place. The equations are those of torch.optim 1.13 for the same
 * hyper-parameters, in float32 like PyTorch's CPU kernels, so a glia run and a PyTorch run
 * from the same weights and gradients agree to rounding:
 *
 *   SGD      g = grad + wd*p;  b = mu*b + (1-dampening)*g (b = g on the first step);
 *            g = nesterov ? g + mu*b : b;  p -= lr*g
 *   RMSprop  g = grad + wd*p;  s = alpha*s + (1-alpha)*g^2;
 *            centered: a = alpha*a + (1-alpha)*g, d = sqrt(s - a^2) + eps; else d = sqrt(s) + eps
 *            momentum: b = mu*b + g/d, p -= lr*b;  else p -= lr*g/d
 *   Adam     g = grad + wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *            d = sqrt(v or max(v) with amsgrad)/sqrt(1-b2^t) + eps;  p -= lr/(1-b1^t) * m/d
 *   AdamW    as Adam with wd = 0 in g, after p *= 1 - lr*wd (decoupled weight decay)
 *
 * Weight decay applies to every parameter, as torch.optim does for model.parameters().
 * The learning rate is passed to every step so that schedules stay outside.
 */
#ifndef GLIA_TRAIN_OPTIM_H
#define GLIA_TRAIN_OPTIM_H

#include <stddef.h>

#include "core/base/err.h"
#include "core/nn/layer.h"

typedef enum {
    GLIA_OPTIM_SGD,
    GLIA_OPTIM_RMSPROP,
    GLIA_OPTIM_ADAM,
    GLIA_OPTIM_ADAMW,
} glia_optim_kind;

typedef struct {
    glia_optim_kind kind;
    float lr;           /* the base rate (schedules scale from it) */
    float momentum;     /* SGD, RMSprop */
    float dampening;    /* SGD */
    int nesterov;       /* SGD */
    float weight_decay; /* L2 (SGD, RMSprop, Adam) or decoupled (AdamW) */
    float alpha;        /* RMSprop smoothing */
    int centered;       /* RMSprop */
    float beta1, beta2; /* Adam(W) */
    float eps;          /* RMSprop, Adam(W) */
    int amsgrad;        /* Adam(W) */
} glia_optim_config;

typedef struct glia_optim glia_optim;

/* PyTorch's defaults for kind (SGD and RMSprop take lr 0.01, Adam(W) 1e-3, AdamW wd 0.01). */
void glia_optim_defaults(glia_optim_kind kind, glia_optim_config *cfg);
/* "sgd", "rmsprop", "adam", "adamw". */
glia_status glia_optim_kind_parse(const char *name, glia_optim_kind *kind, glia_err *err);
const char *glia_optim_kind_name(glia_optim_kind kind);

/* Checks cfg (nesterov needs momentum > 0 and dampening 0, as in PyTorch; betas < 1 ...)
 * and allocates the state for params[0..n). The params are borrowed and must outlive
 * the optimizer; each needs a grad. */
glia_status glia_optim_new(const glia_optim_config *cfg, glia_param *params, int n, glia_optim **out,
                           glia_err *err);
void glia_optim_free(glia_optim *opt);

/* One update of every parameter from its current grad, at learning rate lr. */
void glia_optim_step(glia_optim *opt, float lr);

/* Steps taken so far (Adam's t). */
long glia_optim_steps(const glia_optim *opt);
void glia_optim_set_steps(glia_optim *opt, long steps);

/* The state buffers (momentum, squares, ...) of parameter i: up to 3 arrays of
 * params[i].size floats, named like PyTorch's state keys. Returns how many. */
int glia_optim_buffers(glia_optim *opt, int i, float **bufs, const char **names);

#endif
