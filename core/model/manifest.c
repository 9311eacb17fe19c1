/*
 * manifest.c - see manifest.h. Every key is checked against the list of keys its
 * mapping may have, so a typo in a manifest is an error with file:line, never a
 * silently different model.
 */
#include "core/model/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/yamlutil.h"

static void resolve(const glia_manifest *m, const char *rel, char *out)
{
    if (rel[0] == '/')
        snprintf(out, GLIA_PATH_MAX, "%s", rel);
    else
        snprintf(out, GLIA_PATH_MAX, "%s/%s", m->dir, rel);
}

static glia_status read_labels(glia_manifest *m, const char *path, glia_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return glia_err_set(err, GLIA_EIO, "%s: cannot open labels: %s", path, strerror(errno));
    char line[512];
    int cap = 0;
    glia_status rc = GLIA_OK;
    while (fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (len == 0)
            continue;
        if (m->nlabels == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(m->labels, sizeof *grown * (size_t)cap);
            if (!grown) {
                rc = glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", path);
                break;
            }
            m->labels = grown;
        }
        if (!(m->labels[m->nlabels] = strdup(line))) {
            rc = glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", path);
            break;
        }
        m->nlabels++;
    }
    fclose(f);
    return rc;
}

static glia_status parse_layer(glia_yaml *y, yaml_node_t *node, const char *module, int index, glia_layer *l,
                               glia_err *err)
{
    static const char *const conv_keys[] = {"type",    "in_channels", "out_channels", "kernel_size", "stride",
                                            "padding", NULL};
    static const char *const pool_keys[] = {"type", "kernel_size", "stride", "padding", NULL};
    static const char *const linear_keys[] = {"type", "in_features", "out_features", NULL};
    static const char *const dropout_keys[] = {"type", "p", NULL};
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

/* architecture of a text-classification model (type text-rnn), see textnet.h:
 *   embedding: {num_embeddings: V (optional: the vocabulary's size), embedding_dim: E}
 *   lexicon: {features: K}                    (optional)
 *   rnn: {type: lstm|rnn_tanh, hidden_size: H, num_layers: 1, bidirectional: false}
 *   pooling: last|mean|max, embedding_dropout: 0, dropout: 0
 *   classifier: {out_features: C}
 */
static glia_status parse_text_architecture(glia_yaml *y, yaml_node_t *arch, glia_manifest *m, glia_err *err)
{
    static const char *const arch_keys[] = {
        "type", "embedding", "lexicon", "rnn", "pooling", "embedding_dropout", "dropout", "classifier", NULL};
    static const char *const emb_keys[] = {"num_embeddings", "embedding_dim", "padding_idx", NULL};
    static const char *const lex_keys[] = {"features", NULL};
    static const char *const rnn_keys[] = {"type", "hidden_size", "num_layers", "bidirectional", NULL};
    static const char *const cls_keys[] = {"out_features", NULL};
    glia_textnet_config *t = &m->text;
    const char *type = NULL, *mode = "lstm", *pool = "last";
    long padding_idx = 0;
    glia_status rc;
    *t = (glia_textnet_config){.mode = GLIA_RNN_LSTM, .num_layers = 1, .pool = GLIA_RNN_POOL_LAST};
    yaml_node_t *emb = glia_yaml_get(y, arch, "embedding"), *lex = glia_yaml_get(y, arch, "lexicon");
    yaml_node_t *rnn = glia_yaml_get(y, arch, "rnn"), *cls = glia_yaml_get(y, arch, "classifier");
    if ((rc = glia_yaml_check_keys(y, arch, "architecture", arch_keys, err)) ||
        (rc = glia_yaml_string(y, glia_yaml_get(y, arch, "type"), "architecture.type", &type, err)))
        return rc;
    if (strcmp(type, "text-rnn") != 0)
        return glia_yaml_error(y, arch, GLIA_EUNSUPPORTED, err,
                               "architecture.type '%s' is not supported for text-classification (supported: "
                               "text-rnn)",
                               type);
    if (!emb || !rnn || !cls)
        return glia_yaml_error(y, arch, GLIA_EINVAL, err,
                               "architecture: text-rnn needs embedding, rnn and classifier");
    if ((rc = glia_yaml_check_keys(y, emb, "architecture.embedding", emb_keys, err)) ||
        (rc = glia_yaml_opt_int(y, emb, "num_embeddings", 2, 1 << 24, &t->vocab_size, err)) ||
        (rc = glia_yaml_opt_int(y, emb, "embedding_dim", 1, 4096, &t->embedding_dim, err)) ||
        (rc = glia_yaml_opt_long(y, emb, "padding_idx", 0, 0, &padding_idx, err)) ||
        (lex && ((rc = glia_yaml_check_keys(y, lex, "architecture.lexicon", lex_keys, err)) ||
                 (rc = glia_yaml_opt_int(y, lex, "features", 0, 64, &t->lexicon_features, err)))) ||
        (rc = glia_yaml_check_keys(y, rnn, "architecture.rnn", rnn_keys, err)) ||
        (rc = glia_yaml_opt_string(y, rnn, "type", &mode, err)) ||
        (rc = glia_yaml_opt_int(y, rnn, "hidden_size", 1, 4096, &t->hidden_size, err)) ||
        (rc = glia_yaml_opt_int(y, rnn, "num_layers", 1, GLIA_RNN_MAX_LAYERS, &t->num_layers, err)) ||
        (rc = glia_yaml_opt_bool(y, rnn, "bidirectional", &t->bidirectional, err)) ||
        (rc = glia_yaml_opt_string(y, arch, "pooling", &pool, err)) ||
        (rc = glia_yaml_opt_float(y, arch, "embedding_dropout", 0.0, 0.99, &t->embedding_dropout, err)) ||
        (rc = glia_yaml_opt_float(y, arch, "dropout", 0.0, 0.99, &t->dropout, err)) ||
        (rc = glia_yaml_check_keys(y, cls, "architecture.classifier", cls_keys, err)) ||
        (rc = glia_yaml_opt_int(y, cls, "out_features", 2, 4096, &t->num_classes, err)))
        return rc;
    if (!t->embedding_dim || !t->hidden_size || !t->num_classes)
        return glia_yaml_error(
            y, arch, GLIA_EINVAL, err,
            "architecture: embedding.embedding_dim, rnn.hidden_size and classifier.out_features "
            "are required");
    if ((rc = glia_rnn_mode_parse(mode, &t->mode, err)))
        return glia_yaml_error(y, rnn, rc, err, "architecture.rnn.type: %s", err->msg);
    if ((rc = glia_rnn_pool_parse(pool, &t->pool, err)))
        return glia_yaml_error(y, arch, rc, err, "architecture.pooling: %s", err->msg);
    return GLIA_OK;
}

static glia_status parse_text_input(glia_yaml *y, yaml_node_t *input, glia_manifest *m, glia_err *err)
{
    static const char *const input_keys[] = {"max_tokens", NULL};
    m->max_tokens = 128;
    glia_status rc;
    if (input && ((rc = glia_yaml_check_keys(y, input, "input", input_keys, err)) ||
                  (rc = glia_yaml_opt_int(y, input, "max_tokens", 1, 4096, &m->max_tokens, err))))
        return rc;
    return GLIA_OK;
}

/* architecture: {type: transformer-seq2seq, d_model, nhead, num_encoder_layers, ...} and
 * decoding: {beam_size, max_tokens, length_penalty} */
static glia_status parse_translation(glia_yaml *y, yaml_node_t *arch, yaml_node_t *dec, glia_manifest *m,
                                     glia_err *err)
{
    static const char *const keys[] = {"type",
                                       "vocab_size",
                                       "d_model",
                                       "nhead",
                                       "dim_feedforward",
                                       "num_encoder_layers",
                                       "num_decoder_layers",
                                       "dropout",
                                       "layer_norm_eps",
                                       "norm_first",
                                       "tie_embeddings",
                                       "max_positions",
                                       NULL};
    static const char *const dec_keys[] = {"beam_size", "max_tokens", "length_penalty", NULL};
    glia_s2s_config *c = &m->s2s;
    const char *type = NULL;
    glia_status rc;
    *c = (glia_s2s_config){0, 512, 8, 2048, 6, 6, 0.1f, 1e-5f, 0, 1, 256};
    if ((rc = glia_yaml_check_keys(y, arch, "architecture", keys, err)) ||
        (rc = glia_yaml_string(y, glia_yaml_get(y, arch, "type"), "architecture.type", &type, err)))
        return rc;
    if (strcmp(type, "transformer-seq2seq") != 0)
        return glia_yaml_error(y, arch, GLIA_EINVAL, err,
                               "architecture.type '%s': a translation model is 'transformer-seq2seq'", type);
    if ((rc = glia_yaml_opt_int(y, arch, "vocab_size", 0, 1 << 20, &c->vocab_size, err)) ||
        (rc = glia_yaml_opt_int(y, arch, "d_model", 2, 8192, &c->d_model, err)) ||
        (rc = glia_yaml_opt_int(y, arch, "nhead", 1, 256, &c->nhead, err)) ||
        (rc = glia_yaml_opt_int(y, arch, "dim_feedforward", 1, 65536, &c->dim_feedforward, err)) ||
        (rc = glia_yaml_opt_int(y, arch, "num_encoder_layers", 1, GLIA_TF_MAX_LAYERS, &c->num_encoder_layers,
                                err)) ||
        (rc = glia_yaml_opt_int(y, arch, "num_decoder_layers", 1, GLIA_TF_MAX_LAYERS, &c->num_decoder_layers,
                                err)) ||
        (rc = glia_yaml_opt_float(y, arch, "dropout", 0.0, 0.99, &c->dropout, err)) ||
        (rc = glia_yaml_opt_float(y, arch, "layer_norm_eps", 1e-12, 1.0, &c->layer_norm_eps, err)) ||
        (rc = glia_yaml_opt_bool(y, arch, "norm_first", &c->norm_first, err)) ||
        (rc = glia_yaml_opt_bool(y, arch, "tie_embeddings", &c->tie_embeddings, err)) ||
        (rc = glia_yaml_opt_int(y, arch, "max_positions", 2, 4096, &c->max_positions, err)))
        return rc;
    if (c->d_model % c->nhead != 0 || c->d_model % 2 != 0)
        return glia_yaml_error(y, arch, GLIA_EINVAL, err,
                               "architecture.d_model %d must be even and a multiple of nhead %d", c->d_model,
                               c->nhead);
    if (m->max_tokens > c->max_positions)
        return glia_yaml_error(y, arch, GLIA_EINVAL, err,
                               "input.max_tokens %d exceeds architecture.max_positions %d", m->max_tokens,
                               c->max_positions);
    m->decoding = glia_s2s_search_defaults();
    m->decoding.max_tokens = c->max_positions - 1;
    if (dec &&
        ((rc = glia_yaml_check_keys(y, dec, "decoding", dec_keys, err)) ||
         (rc = glia_yaml_opt_int(y, dec, "beam_size", 1, 64, &m->decoding.beam_size, err)) ||
         (rc = glia_yaml_opt_int(y, dec, "max_tokens", 1, c->max_positions - 1, &m->decoding.max_tokens,
                                 err)) ||
         (rc = glia_yaml_opt_float(y, dec, "length_penalty", 0.0, 10.0, &m->decoding.length_penalty, err))))
        return rc;
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

glia_status glia_manifest_load(const char *path, glia_manifest *m, glia_err *err)
{
    static const char *const top_keys[] = {
        "name",       "task",     "version",    "weights",   "labels",   "input", "architecture",
        "evaluation", "training", "vocabulary", "tokenizer", "decoding", NULL};
    glia_yaml y;
    glia_status rc;
    const char *name = NULL, *task = NULL, *weights = "model.safetensors", *labels = NULL, *vocab = NULL,
               *tokenizer = NULL;
    memset(m, 0, sizeof *m);
    m->eval_accuracy = -1.0;
    m->eval_bleu = m->eval_chrf = -1.0;
    snprintf(m->path, sizeof m->path, "%s", path);
    {
        char tmp[GLIA_PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", path);
        snprintf(m->dir, sizeof m->dir, "%s", dirname(tmp));
    }
    if ((rc = glia_yaml_load_file(path, &y, err)))
        return rc;
    yaml_node_t *root = glia_yaml_root(&y);
    m->version = 1;
    if ((rc = glia_yaml_check_keys(&y, root, "manifest", top_keys, err)) ||
        (rc = glia_yaml_string(&y, glia_yaml_get(&y, root, "name"), "name", &name, err)) ||
        (rc = glia_yaml_string(&y, glia_yaml_get(&y, root, "task"), "task", &task, err)) ||
        (rc = glia_yaml_opt_long(&y, root, "version", 1, 1L << 40, &m->version, err)) ||
        (rc = glia_yaml_opt_string(&y, root, "weights", &weights, err)) ||
        (rc = glia_yaml_opt_string(&y, root, "labels", &labels, err)) ||
        (rc = glia_yaml_opt_string(&y, root, "vocabulary", &vocab, err)) ||
        (rc = glia_yaml_opt_string(&y, root, "tokenizer", &tokenizer, err)))
        goto fail;
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->task, sizeof m->task, "%s", task);
    resolve(m, weights, m->weights);
    yaml_node_t *input = glia_yaml_get(&y, root, "input"), *arch = glia_yaml_get(&y, root, "architecture");
    if (strcmp(task, "image-classification") != 0 && strcmp(task, "text-classification") != 0 &&
        strcmp(task, "translation") != 0) {
        rc = glia_yaml_error(&y, root, GLIA_EUNSUPPORTED, err,
                             "task '%s' is not supported (supported: image-classification, "
                             "text-classification, translation)",
                             task);
        goto fail;
    }
    if (strcmp(task, "translation") == 0) {
        m->kind = GLIA_MODEL_TRANSLATION;
        if (!tokenizer) {
            rc = glia_yaml_error(&y, root, GLIA_EINVAL, err, "a translation model needs 'tokenizer'");
            goto fail;
        }
        resolve(m, tokenizer, m->tokenizer);
        if ((rc = parse_text_input(&y, input, m, err)))
            goto fail;
    } else if (strcmp(task, "image-classification") == 0) {
        m->kind = GLIA_MODEL_IMAGE;
        if (!input) {
            rc = glia_yaml_error(&y, root, GLIA_EINVAL, err, "missing 'input'");
            goto fail;
        }
        if ((rc = parse_input(&y, input, m, err)))
            goto fail;
    } else {
        m->kind = GLIA_MODEL_TEXT;
        if (!vocab) {
            rc =
                glia_yaml_error(&y, root, GLIA_EINVAL, err, "a text-classification model needs 'vocabulary'");
            goto fail;
        }
        resolve(m, vocab, m->vocabulary);
        if ((rc = parse_text_input(&y, input, m, err)))
            goto fail;
    }
    if (!arch) {
        rc = glia_yaml_error(&y, root, GLIA_EINVAL, err, "missing 'architecture'");
        goto fail;
    }
    rc = m->kind == GLIA_MODEL_TEXT ? parse_text_architecture(&y, arch, m, err)
         : m->kind == GLIA_MODEL_TRANSLATION
             ? parse_translation(&y, arch, glia_yaml_get(&y, root, "decoding"), m, err)
             : parse_architecture(&y, arch, m, err);
    if (rc != GLIA_OK)
        goto fail;
    yaml_node_t *eval = glia_yaml_get(&y, root, "evaluation");
    if (eval && ((rc = glia_yaml_opt_double(&y, eval, "accuracy", 0.0, 1.0, &m->eval_accuracy, err)) ||
                 (rc = glia_yaml_opt_double(&y, eval, "bleu", 0.0, 100.0, &m->eval_bleu, err)) ||
                 (rc = glia_yaml_opt_double(&y, eval, "chrf", 0.0, 100.0, &m->eval_chrf, err))))
        goto fail;
    if (labels) {
        char lp[GLIA_PATH_MAX];
        resolve(m, labels, lp);
        if ((rc = read_labels(m, lp, err)))
            goto fail;
    }
    glia_yaml_free(&y);
    return GLIA_OK;
fail:
    glia_yaml_free(&y);
    glia_manifest_free(m);
    return rc;
}

void glia_manifest_free(glia_manifest *m)
{
    for (int i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m->layers);
    m->labels = NULL;
    m->layers = NULL;
    m->nlabels = m->nlayers = 0;
}

void glia_preprocess_u8(const glia_preprocess *pre, const uint8_t *pixels, size_t n, float *out)
{
    const float scale = pre->scale / pre->std, shift = pre->mean / pre->std;
    for (size_t i = 0; i < n; i++) {
        float p = pre->invert ? 255.0f - pixels[i] : pixels[i];
        out[i] = p * scale - shift;
    }
}

static char *read_text(const char *path, size_t *len, glia_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        glia_err_set(err, GLIA_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, used = 0, got;
    do {
        if (used + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *grown = realloc(buf, cap + 1);
            if (!grown) {
                free(buf);
                fclose(f);
                glia_err_set(err, GLIA_ENOMEM, "out of memory reading %s", path);
                return NULL;
            }
            buf = grown;
        }
        got = fread(buf + used, 1, cap - used, f);
        used += got;
    } while (got > 0);
    fclose(f);
    buf[used] = '\0';
    *len = used;
    return buf;
}

glia_status glia_manifest_write_with_results(const char *src_path, const char *dst_path,
                                             const char *results_yaml, glia_err *err)
{
    return glia_manifest_write_version(src_path, dst_path, 0, results_yaml, err);
}

/* The index after the newline ending the line that starts at i (len at the end). */
static size_t next_line(const char *text, size_t i, size_t len)
{
    const char *nl = memchr(text + i, '\n', len - i);
    return nl ? (size_t)(nl - text) + 1 : len;
}

glia_status glia_manifest_write_version(const char *src_path, const char *dst_path, long version,
                                        const char *results_yaml, glia_err *err)
{
    size_t len = 0;
    char *text = read_text(src_path, &len, err);
    if (!text)
        return err ? err->code : GLIA_EIO;
    char *mark = strstr(text, GLIA_MANIFEST_RESULTS_MARKER);
    if (mark)
        len = (size_t)(mark - text);
    while (len > 0 && text[len - 1] == '\n')
        len--;
    char tmp[GLIA_PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", dst_path);
    glia_status rc = GLIA_OK;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = glia_err_set(err, GLIA_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    /* mkstemp makes 0600; a manifest is as public as its bundle (umask still applies) */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0644 & ~mask) != 0) {
        close(fd);
        unlink(tmp);
        rc = glia_err_set(err, GLIA_EIO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        rc = glia_err_set(err, GLIA_EIO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    /* a new version number replaces the top-level "version:" line (or follows "name:") */
    size_t cut = len, resume = len;
    for (size_t i = 0; version > 0 && i < len; i = next_line(text, i, len))
        if (strncmp(text + i, "version:", 8) == 0) {
            cut = i;
            resume = next_line(text, i, len);
            break;
        }
    for (size_t i = 0; version > 0 && cut == len && i < len; i = next_line(text, i, len))
        if (strncmp(text + i, "name:", 5) == 0)
            cut = resume = next_line(text, i, len);
    if (version > 0 && cut < len)
        fprintf(f, "%.*sversion: %ld\n%.*s", (int)cut, text, version, (int)(len - resume), text + resume);
    else
        fprintf(f, "%.*s", (int)len, text);
    fprintf(f, "\n\n%s\n%s", GLIA_MANIFEST_RESULTS_MARKER, results_yaml);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        unlink(tmp);
        rc = glia_err_set(err, GLIA_EIO, "%s: write failed: %s", tmp, strerror(errno));
        goto out;
    }
    fclose(f);
    if (rename(tmp, dst_path) != 0) {
        unlink(tmp);
        rc = glia_err_set(err, GLIA_EIO, "%s: cannot rename into place: %s", dst_path, strerror(errno));
    }
out:
    free(text);
    return rc;
}
