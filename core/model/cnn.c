/*
 * cnn.c - the image-classification family: a sequential net (core/nn/net.h) over C x H x W
 * pixels, its layers listed by the manifest's architecture. One logits row per image.
 */
#include "core/model/family.h"
#include "core/nn/net.h"

#include <stdio.h>
#include <string.h>

/* ---- the manifest: input {shape, preprocessing} and architecture {type: sequential, modules} ---- */

static glia_status parse_layer(glia_yaml *y, yaml_node_t *node, const char *module, int index, glia_layer *l,
                               glia_err *err)
{
    static const char *const conv_keys[] = {"type",    "in_channels", "out_channels", "kernel_size", "stride",
                                            "padding", NULL};
    static const char *const pool_keys[] = {"type", "kernel_size", "stride", "padding", NULL};
    static const char *const linear_keys[] = {"type", "in_features", "out_features", NULL};
    static const char *const dropout_keys[] = {"type", "p", NULL};
    static const char *const bn_keys[] = {"type", "num_features", "eps", "momentum", NULL};
    static const char *const plain_keys[] = {"type", NULL};
    const char *type = NULL;
    glia_status rc;
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s.%d", module, index);
    if (!glia_yaml_is_map(node))
        return glia_yaml_error(y, node, GLIA_EINVAL, err, "layer %s: expected a mapping with a 'type'",
                               l->name);
    if ((rc = glia_yaml_string(y, glia_yaml_get(y, node, "type"), "type", &type, err)) != GLIA_OK)
        return glia_err_prefix(err, "layer %s", l->name);
    if ((rc = glia_layer_kind_parse(type, &l->kind, err)) != GLIA_OK)
        return glia_yaml_error(y, node, rc, err, "layer %s: %s", l->name, err->msg);
    const int big = 1 << 20;
    switch (l->kind) {
    case GLIA_LAYER_CONV2D:
        l->cfg.conv.stride = 1;
        if ((rc = glia_yaml_check_keys(y, node, l->name, conv_keys, err)) ||
            (rc = glia_yaml_opt_int(y, node, "in_channels", 1, big, &l->cfg.conv.in_channels, err)) ||
            (rc = glia_yaml_opt_int(y, node, "out_channels", 1, big, &l->cfg.conv.out_channels, err)) ||
            (rc = glia_yaml_opt_int(y, node, "kernel_size", 1, 1024, &l->cfg.conv.kernel, err)) ||
            (rc = glia_yaml_opt_int(y, node, "stride", 1, 1024, &l->cfg.conv.stride, err)) ||
            (rc = glia_yaml_opt_int(y, node, "padding", 0, 1024, &l->cfg.conv.padding, err)))
            return rc;
        if (!l->cfg.conv.in_channels || !l->cfg.conv.out_channels || !l->cfg.conv.kernel)
            return glia_yaml_error(y, node, GLIA_EINVAL, err,
                                   "layer %s: conv2d needs in_channels, out_channels and kernel_size",
                                   l->name);
        break;
    case GLIA_LAYER_MAXPOOL2D:
    case GLIA_LAYER_AVGPOOL2D:
        if ((rc = glia_yaml_check_keys(y, node, l->name, pool_keys, err)) ||
            (rc = glia_yaml_opt_int(y, node, "kernel_size", 1, 1024, &l->cfg.pool.kernel, err)))
            return rc;
        if (!l->cfg.pool.kernel)
            return glia_yaml_error(y, node, GLIA_EINVAL, err, "layer %s: %s needs kernel_size", l->name,
                                   type);
        l->cfg.pool.stride = l->cfg.pool.kernel; /* PyTorch: stride defaults to kernel_size */
        if ((rc = glia_yaml_opt_int(y, node, "stride", 1, 1024, &l->cfg.pool.stride, err)) ||
            (rc = glia_yaml_opt_int(y, node, "padding", 0, 1024, &l->cfg.pool.padding, err)))
            return rc;
        break;
    case GLIA_LAYER_LINEAR:
        if ((rc = glia_yaml_check_keys(y, node, l->name, linear_keys, err)) ||
            (rc = glia_yaml_opt_int(y, node, "in_features", 1, 1 << 28, &l->cfg.linear.in_features, err)) ||
            (rc = glia_yaml_opt_int(y, node, "out_features", 1, 1 << 28, &l->cfg.linear.out_features, err)))
            return rc;
        if (!l->cfg.linear.in_features || !l->cfg.linear.out_features)
            return glia_yaml_error(y, node, GLIA_EINVAL, err,
                                   "layer %s: linear needs in_features and out_features", l->name);
        break;
    case GLIA_LAYER_DROPOUT:
        l->cfg.dropout.p = 0.5f;
        if ((rc = glia_yaml_check_keys(y, node, l->name, dropout_keys, err)) ||
            (rc = glia_yaml_opt_float(y, node, "p", 0.0, 1.0, &l->cfg.dropout.p, err)))
            return rc;
        break;
    case GLIA_LAYER_BATCHNORM2D:
        l->cfg.bn.eps = 1e-5f;
        l->cfg.bn.momentum = 0.1f;
        if ((rc = glia_yaml_check_keys(y, node, l->name, bn_keys, err)) ||
            (rc = glia_yaml_opt_int(y, node, "num_features", 1, big, &l->cfg.bn.num_features, err)) ||
            (rc = glia_yaml_opt_float(y, node, "eps", 1e-12, 1.0, &l->cfg.bn.eps, err)) ||
            (rc = glia_yaml_opt_float(y, node, "momentum", 0.0, 1.0, &l->cfg.bn.momentum, err)))
            return rc;
        if (!l->cfg.bn.num_features)
            return glia_yaml_error(y, node, GLIA_EINVAL, err, "layer %s: batchnorm2d needs num_features",
                                   l->name);
        break;
    default:
        if ((rc = glia_yaml_check_keys(y, node, l->name, plain_keys, err)))
            return rc;
    }
    return GLIA_OK;
}

static glia_status parse_architecture(glia_yaml *y, yaml_node_t *arch, glia_manifest *m, glia_err *err)
{
    static const char *const arch_keys[] = {"type", "modules", NULL};
    static const char *const module_keys[] = {"name", "layers", NULL};
    const char *type = NULL;
    glia_status rc;
    if ((rc = glia_yaml_check_keys(y, arch, "architecture", arch_keys, err)) ||
        (rc = glia_yaml_string(y, glia_yaml_get(y, arch, "type"), "architecture.type", &type, err)))
        return rc;
    if (strcmp(type, "sequential") != 0)
        return glia_yaml_error(y, arch, GLIA_EUNSUPPORTED, err,
                               "architecture.type '%s' is not supported "
                               "(supported: sequential)",
                               type);
    yaml_node_t *mods = glia_yaml_get(y, arch, "modules");
    if (!glia_yaml_is_seq(mods) || glia_yaml_seq_len(mods) == 0)
        return glia_yaml_error(y, mods ? mods : arch, GLIA_EINVAL, err,
                               "architecture.modules: expected a list of {name, layers}");
    int total = 0;
    for (int i = 0; i < glia_yaml_seq_len(mods); i++) {
        yaml_node_t *mod = glia_yaml_seq_at(y, mods, i);
        if ((rc = glia_yaml_check_keys(y, mod, "architecture.modules[]", module_keys, err)))
            return rc;
        total += glia_yaml_seq_len(glia_yaml_get(y, mod, "layers"));
    }
    m->layers = calloc((size_t)(total ? total : 1), sizeof *m->layers);
    if (!m->layers)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", m->path);
    for (int i = 0; i < glia_yaml_seq_len(mods); i++) {
        yaml_node_t *mod = glia_yaml_seq_at(y, mods, i);
        const char *name = NULL;
        if ((rc = glia_yaml_string(y, glia_yaml_get(y, mod, "name"), "modules[].name", &name, err)))
            return rc;
        if (!*name || strchr(name, '.') || strlen(name) > 64)
            return glia_yaml_error(y, mod, GLIA_EINVAL, err,
                                   "module name '%s' must be 1-64 characters without '.'", name);
        yaml_node_t *layers = glia_yaml_get(y, mod, "layers");
        if (!glia_yaml_is_seq(layers))
            return glia_yaml_error(y, mod, GLIA_EINVAL, err, "module %s: 'layers' must be a list", name);
        for (int j = 0; j < glia_yaml_seq_len(layers); j++) {
            if ((rc = parse_layer(y, glia_yaml_seq_at(y, layers, j), name, j, &m->layers[m->nlayers], err)))
                return rc;
            m->nlayers++;
        }
    }
    return GLIA_OK;
}

static glia_status parse_input(glia_yaml *y, yaml_node_t *input, glia_manifest *m, glia_err *err)
{
    static const char *const input_keys[] = {"shape", "preprocessing", NULL};
    static const char *const pre_keys[] = {"grayscale", "resize", "invert", "scale", "mean", "std", NULL};
    glia_status rc;
    if ((rc = glia_yaml_check_keys(y, input, "input", input_keys, err)))
        return rc;
    yaml_node_t *shape = glia_yaml_get(y, input, "shape");
    if (glia_yaml_seq_len(shape) != 3)
        return glia_yaml_error(y, shape ? shape : input, GLIA_EINVAL, err, "input.shape: expected [C, H, W]");
    long dims[3];
    for (int i = 0; i < 3; i++)
        if ((rc = glia_yaml_long(y, glia_yaml_seq_at(y, shape, i), "input.shape[]", 1, 1 << 16, &dims[i],
                                 err)))
            return rc;
    m->input = (glia_shape3){(int)dims[0], (int)dims[1], (int)dims[2]};
    glia_preprocess *pre = &m->pre;
    *pre = (glia_preprocess){1, m->input.h, m->input.w, 0, 1.0f / 255.0f, 0.0f, 1.0f};
    yaml_node_t *pn = glia_yaml_get(y, input, "preprocessing");
    if (!pn)
        return GLIA_OK;
    if ((rc = glia_yaml_check_keys(y, pn, "input.preprocessing", pre_keys, err)) ||
        (rc = glia_yaml_opt_bool(y, pn, "grayscale", &pre->grayscale, err)) ||
        (rc = glia_yaml_opt_bool(y, pn, "invert", &pre->invert, err)) ||
        (rc = glia_yaml_opt_float(y, pn, "scale", 1e-12, 1e12, &pre->scale, err)) ||
        (rc = glia_yaml_opt_float(y, pn, "mean", -1e12, 1e12, &pre->mean, err)) ||
        (rc = glia_yaml_opt_float(y, pn, "std", 1e-12, 1e12, &pre->std, err)))
        return rc;
    yaml_node_t *rs = glia_yaml_get(y, pn, "resize");
    if (rs) {
        long h, w;
        if (glia_yaml_seq_len(rs) != 2)
            return glia_yaml_error(y, rs, GLIA_EINVAL, err, "input.preprocessing.resize: expected [H, W]");
        if ((rc = glia_yaml_long(y, glia_yaml_seq_at(y, rs, 0), "resize[0]", 1, 1 << 16, &h, err)) ||
            (rc = glia_yaml_long(y, glia_yaml_seq_at(y, rs, 1), "resize[1]", 1, 1 << 16, &w, err)))
            return rc;
        if (h != m->input.h || w != m->input.w)
            return glia_yaml_error(y, rs, GLIA_EINVAL, err,
                                   "input.preprocessing.resize [%ld, %ld] must equal the "
                                   "input shape's H, W [%d, %d]",
                                   h, w, m->input.h, m->input.w);
        pre->resize_h = (int)h;
        pre->resize_w = (int)w;
    }
    if (m->input.c != 1 && pre->grayscale)
        return glia_yaml_error(y, pn, GLIA_EINVAL, err, "grayscale preprocessing needs input.shape C = 1");
    return GLIA_OK;
}

static glia_status cnn_parse_manifest(glia_yaml *y, yaml_node_t *root, glia_manifest *m, glia_err *err)
{
    yaml_node_t *input = glia_manifest_section(y, root, "input", err), *arch = NULL;
    glia_status rc;
    if (!input)
        return err->code;
    if ((rc = parse_input(y, input, m, err)))
        return rc;
    if (!(arch = glia_manifest_section(y, root, "architecture", err)))
        return err->code;
    return parse_architecture(y, arch, m, err);
}

static glia_net *net_of(const glia_model *model)
{
    return model->impl;
}

/* The base mirrors the net's buffers; called again when the net grows a gradient buffer. */
static void sync_base(glia_model *model)
{
    glia_net *net = net_of(model);
    model->nparams = net->nparams;
    model->params = net->params;
    model->ntrainable = net->ntrainable;
    model->trainable = net->trainable;
    model->size = net->size;
    model->values = net->values;
    model->grads = net->grads;
    model->nbuffers = net->size - net->grad_size;
    model->buffers = net->own_buffers ? net->own_buffers : net->values + net->grad_size;
    model->input_size = glia_shape3_size(net->input);
    model->outputs = net->output.c;
}

static glia_status wrap(glia_net *net, glia_model **out, glia_err *err)
{
    glia_model *model = glia_family_wrap(&glia_family_cnn, net);
    if (!model) {
        glia_net_free(net);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a model");
    }
    sync_base(model);
    *out = model;
    return GLIA_OK;
}

static glia_status cnn_create(const glia_manifest *m, glia_model **out, glia_err *err)
{
    glia_net *net = NULL;
    *out = NULL;
    glia_status rc = glia_net_new(m->input, m->layers, m->nlayers, &net, err);
    return rc ? rc : wrap(net, out, err);
}

static void cnn_destroy(glia_model *model)
{
    glia_net_free(net_of(model));
    free(model);
}

static void cnn_reset(glia_model *model, glia_rng *rng)
{
    glia_net_reset(net_of(model), rng);
}

static glia_status cnn_enable_grads(glia_model *model, glia_err *err)
{
    glia_status rc = glia_net_enable_grads(net_of(model), err);
    sync_base(model);
    return rc;
}

static glia_status cnn_replica(const glia_model *master, glia_model **out, glia_err *err)
{
    glia_net *net = NULL;
    *out = NULL;
    glia_status rc = glia_net_replica(net_of(master), &net, err);
    return rc ? rc : wrap(net, out, err);
}

static glia_status cnn_load(glia_model *model, const glia_st_file *st, glia_err *err)
{
    return glia_net_load(net_of(model), st, err);
}

static glia_status cnn_save(const glia_model *model, const char *path, const char *const *meta, glia_err *err)
{
    return glia_net_save(net_of(model), path, meta, err);
}

static glia_status cnn_ctx_new(const glia_model *model, const glia_ctx_spec *spec, glia_model_ctx **out,
                               glia_err *err)
{
    glia_ctx *ctx = NULL;
    *out = NULL;
    glia_status rc = glia_ctx_new(net_of(model), spec->max_batch, spec->training, &ctx, err);
    if (rc)
        return rc;
    if (!(*out = glia_family_ctx(&glia_family_cnn, spec, ctx))) {
        glia_ctx_free(ctx);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a run context");
    }
    return GLIA_OK;
}

static void cnn_ctx_free(glia_model_ctx *ctx)
{
    if (ctx) {
        glia_ctx_free(ctx->impl);
        free(ctx);
    }
}

static size_t cnn_ctx_bytes(const glia_model_ctx *ctx)
{
    return glia_ctx_bytes(ctx->impl);
}

static glia_status run(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b, glia_rng *rng,
                       const float **logits, glia_err *err)
{
    if (b->n < 1 || b->n > ctx->spec.max_batch)
        return glia_err_set(err, GLIA_EINVAL, "a batch of %d images for a context of %d", b->n,
                            ctx->spec.max_batch);
    *logits = glia_net_forward(net_of(model), ctx->impl, b->x, b->n, rng);
    return GLIA_OK;
}

static glia_status cnn_forward(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b,
                               glia_rng *rng, const float **logits, int *rows, glia_err *err)
{
    *rows = b->n;
    return run(model, ctx, b, rng, logits, err);
}

static void cnn_backward(glia_model *model, glia_model_ctx *ctx, const float *dlogits,
                         const glia_grad_ready *ready)
{
    glia_net_backward(net_of(model), ctx->impl, dlogits, ready);
}

static glia_status cnn_predict(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b,
                               glia_prediction *out, glia_err *err)
{
    return run(model, ctx, b, NULL, &out->logits, err);
}

/* The saliency of one image: the target logit's gradient with respect to the pixels, times
 * each pixel's distance from a blank one (so that an empty background, which the network
 * sees as opts->blank, explains nothing), summed over channels. SmoothGrad averages the
 * gradient over noisy copies of the image (noise ~ N(0, (noise x range)^2)) before the
 * product. The copies run in chunks of CHUNK so that the ctx stays a few MB. */
static glia_status cnn_explain(const glia_model *model, const glia_batch *b, const glia_explain_opts *opts,
                               glia_explanation *out, glia_err *err)
{
    enum { CHUNK = 16 };
    const glia_net *net = net_of(model);
    const size_t size = model->input_size, hw = (size_t)net->input.h * (size_t)net->input.w;
    const int k = model->outputs;
    const int smooth = opts->method == GLIA_EXPLAIN_SMOOTHGRAD;
    const int copies = smooth ? opts->samples : 1, chunk = copies < CHUNK ? copies : CHUNK;
    glia_ctx *ctx = NULL;
    glia_status rc = GLIA_OK;
    if (opts->method != GLIA_EXPLAIN_GRADIENT_X_INPUT && !smooth)
        return glia_err_set(err, GLIA_EUNSUPPORTED,
                            "method %s is not one for images (gradient_x_input, smoothgrad)",
                            glia_explain_method_name(opts->method));
    float *x = malloc(sizeof(float) * size * (size_t)chunk),
          *dx = malloc(sizeof(float) * size * (size_t)chunk);
    float *grad = calloc(size, sizeof(float)), *dout = calloc((size_t)k * (size_t)chunk, sizeof(float));
    if (!x || !dx || !grad || !dout) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for an explanation");
        goto done;
    }
    if ((rc = glia_ctx_new_input_grad(net, chunk, &ctx, err)))
        goto done;
    const float *logits = glia_net_forward(net, ctx, b->x, 1, NULL);
    const int predicted = glia_softmax_argmax(logits, k, out->probs);
    out->target = opts->target < 0 ? predicted : opts->target;
    out->logit = logits[out->target];
    out->baseline_logit = 0.0f;
    for (int r = 0; r < chunk; r++)
        dout[(size_t)r * (size_t)k + (size_t)out->target] = 1.0f;
    if (!smooth) {
        glia_net_input_backward(net, ctx, dout, grad);
    } else {
        glia_rng rng;
        glia_rng_seed(&rng, opts->seed);
        const float sigma = opts->noise * opts->range;
        for (int s0 = 0; s0 < copies; s0 += chunk) {
            const int m = copies - s0 < chunk ? copies - s0 : chunk;
            for (size_t i = 0; i < (size_t)m * size; i++)
                x[i] = b->x[i % size] + sigma * glia_rng_normal(&rng);
            glia_net_forward(net, ctx, x, m, NULL);
            glia_net_input_backward(net, ctx, dout, dx);
            for (size_t i = 0; i < (size_t)m * size; i++)
                grad[i % size] += dx[i] / (float)copies;
        }
    }
    for (size_t p = 0; p < hw; p++) {
        float sum = 0.0f;
        for (size_t c = 0; c < size / hw; c++)
            sum += grad[c * hw + p] * (b->x[c * hw + p] - opts->blank);
        out->scores[p] = sum;
    }
done:
    glia_ctx_free(ctx);
    free(x);
    free(dx);
    free(grad);
    free(dout);
    return rc;
}

/* The fully connected layers' and the convolutions' weights, in layer order. */
static glia_param *cnn_matrix(glia_model *model, int i)
{
    glia_net *net = net_of(model);
    for (int l = 0; l < net->nlayers; l++)
        if ((net->layers[l].kind == GLIA_LAYER_LINEAR || net->layers[l].kind == GLIA_LAYER_CONV2D) &&
            i-- == 0)
            return &net->layers[l].params[0];
    return NULL;
}

static void cnn_weights_changed(const glia_model *model)
{
    glia_net_weights_changed(net_of(model));
}

const glia_model_ops glia_family_cnn = {
    .task = "image-classification",
    .family = "cnn",
    .input = GLIA_INPUT_TENSOR,
    .output = GLIA_OUTPUT_CLASSES,
    .tokenizer = GLIA_TOKENIZER_NONE,
    .parse_manifest = cnn_parse_manifest,
    .create = cnn_create,
    .destroy = cnn_destroy,
    .reset = cnn_reset,
    .enable_grads = cnn_enable_grads,
    .replica = cnn_replica,
    .load = cnn_load,
    .save = cnn_save,
    .ctx_new = cnn_ctx_new,
    .ctx_free = cnn_ctx_free,
    .ctx_bytes = cnn_ctx_bytes,
    .forward = cnn_forward,
    .backward = cnn_backward,
    .predict = cnn_predict,
    .explain = cnn_explain,
    .matrix = cnn_matrix,
    .weights_changed = cnn_weights_changed,
};
