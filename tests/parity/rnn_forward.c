/*
 * rnn_forward.c - the glia side of tests/parity/test_rnn_parity.py.
 *
 *   rnn_forward IN.safetensors OUT.safetensors INIT.safetensors
 *
 * IN's __metadata__ says what to build: "modules" is a space-separated list of recurrent
 * module names; for each NAME, "NAME.mode" (lstm | rnn_tanh), "NAME.input_size",
 * "NAME.hidden_size", "NAME.num_layers", "NAME.bidirectional" (0/1). "embedding" (optional)
 * names an embedding module EMB with "EMB.num_embeddings", "EMB.embedding_dim" and
 * "EMB.padding_idx" (absent: none). IN's tensors: the modules' parameters under their
 * PyTorch names with the module name as prefix ("lstm.weight_ih_l0"), "lengths" (I32 or
 * I64 [B]), "NAME.input" (F32 [B, T, input_size]), optionally "NAME.dout", "NAME.dh_n",
 * "NAME.dc_n" (then the backward runs too), "tokens" and "EMB.dout" for the embedding.
 *
 * OUT: "NAME.output", "NAME.h_n", "NAME.c_n" (LSTM), "NAME.pool_last|mean|max", and after a
 * backward "NAME.dinput" and "NAME.grad.<param>"; "EMB.output" and "EMB.grad.weight".
 * INIT: every module freshly initialised by glia (seed 1) under its own parameter names,
 * for PyTorch to load with load_state_dict(strict=True).
 */
#include "core/formats/safetensors.h"
#include "core/nn/params.h"
#include "core/nn/rnn.h"

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
    fprintf(stderr, "rnn_forward: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        die("out of memory", NULL);
    return p;
}

/* Adds a copy of data (F32 or I32) named prefix.name to o. */
static void add(outputs *o, const char *prefix, const char *name, glia_dtype dt, int ndim,
                const int64_t *shape, const void *data)
{
    if (o->n == MAX_OUT)
        die("too many outputs", NULL);
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        o->shapes[o->n][d] = shape[d];
        count *= (size_t)shape[d];
    }
    size_t len = strlen(prefix) + strlen(name) + 2;
    o->names[o->n] = xcalloc(len, 1);
    snprintf(o->names[o->n], len, "%s%s%s", prefix, *prefix ? "." : "", name);
    o->data[o->n] = xcalloc(count, glia_dtype_size(dt));
    memcpy(o->data[o->n], data, count * glia_dtype_size(dt));
    o->e[o->n] = (glia_st_entry){o->names[o->n], dt, ndim, o->shapes[o->n], o->data[o->n]};
    o->n++;
}

static void write_outputs(outputs *o, const char *path)
{
    glia_err err = {0};
    if (glia_st_write(path, o->e, o->n, NULL, &err) != GLIA_OK)
        die(path, &err);
    for (size_t i = 0; i < o->n; i++) {
        free(o->names[i]);
        free(o->data[i]);
    }
    o->n = 0;
}

static const char *meta(const glia_st_file *st, const char *name, const char *key, int required)
{
    char k[256];
    snprintf(k, sizeof k, "%s%s%s", name, *name ? "." : "", key);
    const char *v = glia_st_metadata(st, k);
    if (!v && required) {
        fprintf(stderr, "rnn_forward: metadata '%s' missing\n", k);
        exit(1);
    }
    return v;
}

static int meta_int(const glia_st_file *st, const char *name, const char *key)
{
    return atoi(meta(st, name, key, 1));
}

/* A tensor by name with the expected element count (and dtype class); NULL if absent and optional. */
static const glia_st_tensor *tensor(const glia_st_file *st, const char *prefix, const char *name,
                                    size_t count, int required)
{
    char k[256];
    snprintf(k, sizeof k, "%s%s%s", prefix, *prefix ? "." : "", name);
    const glia_st_tensor *t = glia_st_find(st, k);
    if (!t && required) {
        fprintf(stderr, "rnn_forward: tensor '%s' missing\n", k);
        exit(1);
    }
    if (t && glia_st_numel(t) != count) {
        fprintf(stderr, "rnn_forward: tensor '%s' has %zu elements, expected %zu\n", k, glia_st_numel(t),
                count);
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

/* I32 or I64 integers as int32 (little-endian host, as the rest of glia assumes). */
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

static void run_module(const glia_st_file *st, const char *name, const int32_t *lengths, int B, int T,
                       outputs *out, outputs *init)
{
    glia_err err = {0};
    glia_rnn_config cfg;
    if (glia_rnn_mode_parse(meta(st, name, "mode", 1), &cfg.mode, &err) != GLIA_OK)
        die(name, &err);
    cfg.input_size = meta_int(st, name, "input_size");
    cfg.hidden_size = meta_int(st, name, "hidden_size");
    cfg.num_layers = meta_int(st, name, "num_layers");
    cfg.bidirectional = meta_int(st, name, "bidirectional");
    glia_rnn rnn;
    if (glia_rnn_init(&rnn, &cfg, name, &err) != GLIA_OK)
        die(name, &err);
    float *values = xcalloc(rnn.size, sizeof(float)), *grads = xcalloc(rnn.size, sizeof(float));
    glia_rnn_bind(&rnn, values, grads);
    if (glia_params_load(rnn.params, rnn.nparams, st, "module", &err) != GLIA_OK)
        die(name, &err);

    const int D = rnn.output_size, H = cfg.hidden_size, S = cfg.num_layers * rnn.directions;
    const size_t nx = (size_t)B * T * cfg.input_size, nout = (size_t)B * T * D, nstate = (size_t)S * B * H;
    float *x = read_f32(tensor(st, name, "input", nx, 1), nx);
    const glia_st_tensor *tdout = tensor(st, name, "dout", nout, 0);
    glia_rnn_ctx *ctx = NULL;
    if (glia_rnn_ctx_new(&rnn, B, T, tdout != NULL, &ctx, &err) != GLIA_OK)
        die(name, &err);
    const float *y = NULL;
    if (glia_rnn_forward(&rnn, ctx, x, lengths, B, T, &y, &err) != GLIA_OK)
        die(name, &err);
    int64_t oshape[3] = {B, T, D}, sshape[3] = {S, B, H}, pshape[2] = {B, D};
    add(out, name, "output", GLIA_DT_F32, 3, oshape, y);
    add(out, name, "h_n", GLIA_DT_F32, 3, sshape, glia_rnn_h_n(ctx));
    if (glia_rnn_c_n(ctx))
        add(out, name, "c_n", GLIA_DT_F32, 3, sshape, glia_rnn_c_n(ctx));
    float *pooled = xcalloc((size_t)B * D, sizeof(float));
    static const char *const pools[] = {"pool_last", "pool_mean", "pool_max"};
    for (int p = 0; p < 3; p++) {
        glia_rnn_pool_forward((glia_rnn_pool)p, y, lengths, B, T, D, rnn.directions, pooled);
        add(out, name, pools[p], GLIA_DT_F32, 2, pshape, pooled);
    }
    free(pooled);

    if (tdout) {
        float *dout = read_f32(tdout, nout), *dx = xcalloc(nx, sizeof(float));
        const glia_st_tensor *th = tensor(st, name, "dh_n", nstate, 0),
                             *tc = tensor(st, name, "dc_n", nstate, 0);
        float *dh = th ? read_f32(th, nstate) : NULL, *dc = tc ? read_f32(tc, nstate) : NULL;
        glia_rnn_backward(&rnn, ctx, dout, dh, dc, dx);
        int64_t xshape[3] = {B, T, cfg.input_size};
        add(out, name, "dinput", GLIA_DT_F32, 3, xshape, dx);
        size_t prefix = strlen(name) + 1;
        for (int i = 0; i < rnn.nparams; i++) {
            char g[GLIA_NAME_MAX + 8];
            snprintf(g, sizeof g, "grad.%s", rnn.params[i].name + prefix);
            add(out, name, g, GLIA_DT_F32, rnn.params[i].ndim, rnn.params[i].shape, rnn.params[i].grad);
        }
        free(dout);
        free(dx);
        free(dh);
        free(dc);
    }

    /* glia's own initialisation under PyTorch's names, for load_state_dict(strict=True) */
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    glia_rnn_reset(&rnn, &rng);
    for (int i = 0; i < rnn.nparams; i++)
        add(init, "", rnn.params[i].name, GLIA_DT_F32, rnn.params[i].ndim, rnn.params[i].shape,
            rnn.params[i].value);
    glia_rnn_ctx_free(ctx);
    free(values);
    free(grads);
    free(x);
}

static void run_embedding(const glia_st_file *st, const char *name, const int32_t *lengths, int B, int T,
                          outputs *out, outputs *init)
{
    glia_err err = {0};
    const char *pad = meta(st, name, "padding_idx", 0);
    glia_embedding e;
    if (glia_embedding_init(&e, meta_int(st, name, "num_embeddings"), meta_int(st, name, "embedding_dim"),
                            pad != NULL, pad ? atoi(pad) : 0, name, &err) != GLIA_OK)
        die(name, &err);
    float *w = xcalloc(e.weight.size, sizeof(float)), *g = xcalloc(e.weight.size, sizeof(float));
    glia_embedding_bind(&e, w, g);
    if (glia_params_load(&e.weight, 1, st, "module", &err) != GLIA_OK)
        die(name, &err);
    const size_t n = (size_t)B * T, E = (size_t)e.embedding_dim;
    int32_t *ids = read_ints(tensor(st, "", "tokens", n, 1), n);
    float *y = xcalloc(n * E, sizeof(float));
    if (glia_embedding_forward(&e, ids, lengths, B, T, y, &err) != GLIA_OK)
        die(name, &err);
    int64_t oshape[3] = {B, T, (int64_t)E};
    add(out, name, "output", GLIA_DT_F32, 3, oshape, y);
    const glia_st_tensor *tdout = tensor(st, name, "dout", n * E, 0);
    if (tdout) {
        float *dout = read_f32(tdout, n * E);
        glia_embedding_backward(&e, ids, lengths, B, T, dout);
        add(out, name, "grad.weight", GLIA_DT_F32, 2, e.weight.shape, g);
        free(dout);
    }
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    glia_embedding_reset(&e, &rng);
    add(init, "", e.weight.name, GLIA_DT_F32, 2, e.weight.shape, w);
    free(w);
    free(g);
    free(ids);
    free(y);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: rnn_forward IN.safetensors OUT.safetensors INIT.safetensors\n");
        return 2;
    }
    glia_err err = {0};
    glia_st_file *st = NULL;
    if (glia_st_open(argv[1], &st, &err) != GLIA_OK)
        die(argv[1], &err);
    const glia_st_tensor *tl = glia_st_find(st, "lengths");
    if (!tl || tl->ndim != 1)
        die("tensor 'lengths' [B] missing", NULL);
    const int B = (int)tl->shape[0];
    int32_t *lengths = read_ints(tl, (size_t)B);
    const int T = meta_int(st, "", "steps");
    static outputs out, init;

    char *modules = strdup(meta(st, "", "modules", 1));
    if (!modules)
        die("out of memory", NULL);
    char *save = NULL;
    for (char *name = strtok_r(modules, " ", &save); name; name = strtok_r(NULL, " ", &save))
        run_module(st, name, lengths, B, T, &out, &init);
    free(modules);
    const char *emb = meta(st, "", "embedding", 0);
    if (emb)
        run_embedding(st, emb, lengths, B, T, &out, &init);

    write_outputs(&out, argv[2]);
    write_outputs(&init, argv[3]);
    free(lengths);
    glia_st_close(st);
    return 0;
}
