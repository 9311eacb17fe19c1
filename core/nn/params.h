/*
 * params.h - moving a model's parameters (glia_param views, PyTorch names and shapes) to
 * and from safetensors files. Every model type - the sequential CNNs of net.h, the text
 * classifier of textnet.h, the modules of rnn.h in tests - loads and saves through these,
 * so "which tensor is missing or misshapen" reads the same everywhere.
 */
#ifndef GLIA_NN_PARAMS_H
#define GLIA_NN_PARAMS_H

#include "core/formats/safetensors.h"
#include "core/nn/layer.h"

/* Sets p's name to prefix "." local (just local when prefix is NULL or empty), PyTorch's
 * dotted state_dict path; GLIA_EINVAL when it does not fit GLIA_NAME_MAX. */
glia_status glia_param_name(glia_param *p, const char *prefix, const char *local, glia_err *err);

/* Points params[0..n) at consecutive slices of values and, if grads is not NULL, of grads
 * (NULL grads: inference, every grad NULL). Both borrowed. */
void glia_params_bind(glia_param *params, int n, float *values, float *grads);

/* The param named name among params[0..n), or NULL. */
const glia_param *glia_params_find(const glia_param *params, int n, const char *name);

/* Reads params[0..n) by name from st (converted to float32), each with its exact shape.
 * A missing tensor is GLIA_ENOTFOUND, a misshapen one GLIA_EINVAL; both name the tensor,
 * and `owner` ("manifest", "module") says who expects it. Tensors of st that are not
 * among params are ignored: see glia_params_load_strict. */
glia_status glia_params_load(const glia_param *params, int n, const glia_st_file *st, const char *owner,
                             glia_err *err);

/* glia_params_load, then every tensor of st must be one of params: PyTorch's
 * load_state_dict(strict=True). */
glia_status glia_params_load_strict(const glia_param *params, int n, const glia_st_file *st,
                                    const char *owner, glia_err *err);

/* Atomic save of params[0..n) as F32 in order; meta as in glia_st_write. */
glia_status glia_params_save(const glia_param *params, int n, const char *path, const char *const *meta,
                             glia_err *err);

#endif
