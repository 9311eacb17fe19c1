/*
 * transformer_forward.c - the glia side of tests/parity/test_transformer_parity.py.
 *
 *   transformer_forward WEIGHTS.safetensors IN.safetensors OUT.safetensors
 *
 * WEIGHTS: an nn.Transformer's state_dict (encoder.layers.N..., encoder.norm.*,
 * decoder.layers.N..., decoder.norm.*), loaded with glia_params_load_strict: a tensor
 * glia does not expect, or one it expects and does not find, is an error.
 * IN's __metadata__: "d_model", "nhead", "dim_feedforward", "num_encoder_layers",
 * "num_decoder_layers", "norm_first" (0/1), "layer_norm_eps". IN's tensors: "src" [B, S, E],
 * "tgt" [B, T, E] (F32), "src_lengths", "tgt_lengths" (I32 or I64 [B]), and optionally
 * "dout" [B, T, E]: then the backward runs too, with L = sum(out * dout) over valid rows.
 *
 * OUT: "memory" (the encoder stack's output), "output" (the decoder stack's), "incremental"
 * (the decoder run one position at a time through glia_tf_cache_step), and after a
 * backward "dsrc", "dtgt" and "grad.<parameter name>" for every parameter.
 */
#include "core/formats/safetensors.h"
#include "core/nn/params.h"
#include "core/nn/transformer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_OUT = 512 };

typedef struct {
    glia_st_entry e[MAX_OUT];
    char *names[MAX_OUT];
    int64_t shapes[MAX_OUT][4];
    void *data[MAX_OUT];
    size_t n;
} outputs;

static void die(const char *what, const glia_err *err)
{
    fprintf(stderr, "transformer_forward: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        die("out of memory", NULL);
    return p;
}

static void add(outputs *o, const char *name, int ndim, const int64_t *shape, const float *data)
{
    if (o->n == MAX_OUT)
        die("too many outputs", NULL);
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        o->shapes[o->n][d] = shape[d];
        count *= (size_t)shape[d];
    }
    o->names[o->n] = strdup(name);
    o->data[o->n] = xcalloc(count, sizeof(float));
    if (!o->names[o->n])
        die("out of memory", NULL);
    memcpy(o->data[o->n], data, count * sizeof(float));
    o->e[o->n] = (glia_st_entry){o->names[o->n], GLIA_DT_F32, ndim, o->shapes[o->n], o->data[o->n]};
    o->n++;
}

static int meta_int(const glia_st_file *st, const char *key)
{
    const char *v = glia_st_metadata(st, key);
    if (!v) {
        fprintf(stderr, "transformer_forward: metadata '%s' missing\n", key);
        exit(1);
    }
    return atoi(v);
}

static const glia_st_tensor *tensor(const glia_st_file *st, const char *name, size_t count, int required)
{
    const glia_st_tensor *t = glia_st_find(st, name);
    if (!t && required) {
        fprintf(stderr, "transformer_forward: tensor '%s' missing\n", name);
        exit(1);
    }
    if (t && glia_st_numel(t) != count) {
        fprintf(stderr, "transformer_forward: tensor '%s' has %zu elements, expected %zu\n", name,
                glia_st_numel(t), count);
        exit(1);
    }
    return t;
}

static float *read_f32(const glia_st_tensor *t, size_t count)
{
    glia_err err = {0};
    float *x = xcalloc(count, sizeof(float));
    if (glia_st_read_f32(t, x, count, &err) != GLIA_OK)
        die(t->name, &err);
    return x;
}

static int32_t *read_ints(const glia_st_tensor *t, size_t count)
{
    int32_t *v = xcalloc(count, sizeof(int32_t));
    for (size_t i = 0; i < count; i++) {
        if (t->dtype == GLIA_DT_I32) {
            memcpy(&v[i], (const char *)t->data + 4 * i, 4);
        } else if (t->dtype == GLIA_DT_I64) {
            int64_t w;
            memcpy(&w, (const char *)t->data + 8 * i, 8);
            v[i] = (int32_t)w;
        } else {
            die("integer tensor expected (I32 or I64)", NULL);
        }
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: transformer_forward WEIGHTS.safetensors IN.safetensors OUT.safetensors\n");
        return 2;
    }
    glia_err err = {0};
    glia_st_file *wst = NULL, *st = NULL;
    if (glia_st_open(argv[1], &wst, &err) != GLIA_OK)
        die(argv[1], &err);
    if (glia_st_open(argv[2], &st, &err) != GLIA_OK)
        die(argv[2], &err);

    glia_tf_config cfg =
        glia_tf_config_default(meta_int(st, "d_model"), meta_int(st, "nhead"),
                               meta_int(st, "dim_feedforward"), meta_int(st, "num_encoder_layers"));
    cfg.norm_first = meta_int(st, "norm_first");
    cfg.dropout = 0.0f;
    const char *eps = glia_st_metadata(st, "layer_norm_eps");
    if (eps)
        cfg.layer_norm_eps = (float)atof(eps);
    glia_tf_config dcfg = cfg;
    dcfg.num_layers = meta_int(st, "num_decoder_layers");
    static glia_tf_stack enc, dec;
    if (glia_tf_stack_init(&enc, GLIA_TF_ENCODER, &cfg, "encoder", &err) != GLIA_OK ||
        glia_tf_stack_init(&dec, GLIA_TF_DECODER, &dcfg, "decoder", &err) != GLIA_OK)
        die("stack", &err);
    const size_t total = enc.size + dec.size;
    float *values = xcalloc(total, sizeof(float)), *grads = xcalloc(total, sizeof(float));
    glia_tf_stack_bind(&enc, values, grads);
    glia_tf_stack_bind(&dec, values + enc.size, grads + enc.size);
    static glia_param all[2 * GLIA_TF_MAX_PARAMS];
    int nall = 0;
    for (int i = 0; i < enc.nparams; i++)
        all[nall++] = enc.params[i];
    for (int i = 0; i < dec.nparams; i++)
        all[nall++] = dec.params[i];
    if (glia_params_load_strict(all, nall, wst, "module", &err) != GLIA_OK)
        die(argv[1], &err);

    const glia_st_tensor *tsrc = glia_st_find(st, "src"), *ttgt = glia_st_find(st, "tgt");
    if (!tsrc || !ttgt || tsrc->ndim != 3 || ttgt->ndim != 3)
        die("tensors 'src' and 'tgt' [B, steps, E] expected", NULL);
    const int B = (int)tsrc->shape[0], S = (int)tsrc->shape[1], T = (int)ttgt->shape[1], E = cfg.d_model;
    const size_t ns = (size_t)B * S * E, nt = (size_t)B * T * E;
    float *src = read_f32(tensor(st, "src", ns, 1), ns), *tgt = read_f32(tensor(st, "tgt", nt, 1), nt);
    int32_t *slen = read_ints(tensor(st, "src_lengths", (size_t)B, 1), (size_t)B);
    int32_t *tlen = read_ints(tensor(st, "tgt_lengths", (size_t)B, 1), (size_t)B);
    const glia_st_tensor *tdout = tensor(st, "dout", nt, 0);

    glia_tf_ctx *ectx = NULL, *dctx = NULL;
    if (glia_tf_ctx_new(&enc, B, S, 0, 1, &ectx, &err) != GLIA_OK ||
        glia_tf_ctx_new(&dec, B, T, S, 1, &dctx, &err) != GLIA_OK)
        die("ctx", &err);
    const float *mem = NULL, *out = NULL;
    if (glia_tf_forward(&enc, ectx, src, slen, B, S, NULL, NULL, 0, NULL, &mem, &err) != GLIA_OK)
        die("encoder forward", &err);
    if (glia_tf_forward(&dec, dctx, tgt, tlen, B, T, mem, slen, S, NULL, &out, &err) != GLIA_OK)
        die("decoder forward", &err);
    static outputs o;
    int64_t sshape[3] = {B, S, E}, tshape[3] = {B, T, E};
    add(&o, "memory", 3, sshape, mem);
    add(&o, "output", 3, tshape, out);

    /* the same decoder, one position at a time over the cache */
    glia_tf_cache *cache = NULL;
    if (glia_tf_cache_new(&dec, B, T, S, &cache, &err) != GLIA_OK ||
        glia_tf_cache_start(&dec, cache, mem, slen, B, S, &err) != GLIA_OK)
        die("cache", &err);
    float *inc = xcalloc(nt, sizeof(float)), *step = xcalloc((size_t)B * E, sizeof(float));
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++)
            for (int j = 0; j < E; j++) { /* rows past a length hold NaN: feed 0, never compared */
                float v = tgt[((size_t)b * T + t) * E + j];
                step[(size_t)b * E + j] = t < tlen[b] ? v : 0.0f;
            }
        const float *y = NULL;
        if (glia_tf_cache_step(&dec, cache, step, &y, &err) != GLIA_OK)
            die("cache step", &err);
        for (int b = 0; b < B; b++)
            memcpy(inc + ((size_t)b * T + t) * E, y + (size_t)b * E, sizeof(float) * E);
    }
    add(&o, "incremental", 3, tshape, inc);

    if (tdout) {
        float *dout = read_f32(tdout, nt), *dtgt = xcalloc(nt, sizeof(float)),
              *dmem = xcalloc(ns, sizeof(float));
        float *dsrc = xcalloc(ns, sizeof(float));
        glia_tf_backward(&dec, dctx, dout, dtgt, dmem, NULL);
        glia_tf_backward(&enc, ectx, dmem, dsrc, NULL, NULL);
        add(&o, "dsrc", 3, sshape, dsrc);
        add(&o, "dtgt", 3, tshape, dtgt);
        for (int i = 0; i < nall; i++) {
            char name[GLIA_NAME_MAX + 8];
            snprintf(name, sizeof name, "grad.%s", all[i].name);
            add(&o, name, all[i].ndim, all[i].shape, all[i].grad);
        }
        free(dout), free(dtgt), free(dmem), free(dsrc);
    }
    if (glia_st_write(argv[3], o.e, o.n, NULL, &err) != GLIA_OK)
        die(argv[3], &err);
    for (size_t i = 0; i < o.n; i++) {
        free(o.names[i]);
        free(o.data[i]);
    }
    glia_tf_cache_free(cache);
    glia_tf_ctx_free(ectx);
    glia_tf_ctx_free(dctx);
    free(values), free(grads), free(src), free(tgt), free(slen), free(tlen), free(inc), free(step);
    glia_st_close(st);
    glia_st_close(wst);
    return 0;
}
