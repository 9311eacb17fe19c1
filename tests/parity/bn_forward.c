/*
 * bn_forward.c - the glia side of tests/parity/test_bn_parity.py: a sequential net from a
 * manifest, run in both of batch norm's modes.
 *
 *   bn_forward MANIFEST WEIGHTS.safetensors IN.safetensors OUT.safetensors STATE.safetensors
 *
 * IN holds "input" (F32 [N, C, H, W]) and "dout" (F32 [N, outputs]). OUT gets "eval" (the
 * logits of an inference ctx: running statistics), "train" (the logits of a training
 * forward: batch statistics) and "grad.<name>" for every parameter (the backward of
 * "train" from dout). STATE is the net's state_dict after that one training forward -
 * running estimates moved once, num_batches_tracked counted - written by glia_net_save,
 * so PyTorch reads it with load_state_dict(strict=True). The manifest must have no
 * dropout that is active (p = 0), so that both sides compute the same thing.
 */
#include "core/formats/safetensors.h"
#include "core/model/manifest.h"
#include "core/nn/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, const glia_err *err)
{
    fprintf(stderr, "bn_forward: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bn_forward MANIFEST WEIGHTS IN OUT STATE\n");
        return 2;
    }
    glia_err err = {0};
    glia_manifest m;
    glia_net *net = NULL;
    glia_st_file *w = NULL, *in = NULL;
    if (glia_manifest_load(argv[1], &m, &err) || glia_net_new(m.input, m.layers, m.nlayers, &net, &err) ||
        glia_st_open(argv[2], &w, &err) || glia_net_load(net, w, &err) || glia_st_open(argv[3], &in, &err) ||
        glia_net_enable_grads(net, &err))
        die("setup", &err);
    const glia_st_tensor *x = glia_st_find(in, "input"), *d = glia_st_find(in, "dout");
    if (!x || !d || x->ndim != 4)
        die("IN needs input [N, C, H, W] and dout [N, K]", NULL);
    const int n = (int)x->shape[0];
    const size_t nx = (size_t)n * glia_shape3_size(net->input), k = glia_shape3_size(net->output);
    float *xs = malloc(sizeof(float) * nx), *dout = malloc(sizeof(float) * (size_t)n * k);
    float *ev = malloc(sizeof(float) * (size_t)n * k), *tr = malloc(sizeof(float) * (size_t)n * k);
    if (!xs || !dout || !ev || !tr)
        die("out of memory", NULL);
    if (glia_st_read_f32(x, xs, nx, &err) || glia_st_read_f32(d, dout, (size_t)n * k, &err))
        die("reading IN", &err);

    glia_ctx *ictx = NULL, *tctx = NULL;
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    if (glia_ctx_new(net, n, 0, &ictx, &err) || glia_ctx_new(net, n, 1, &tctx, &err))
        die("ctx", &err);
    memcpy(ev, glia_net_forward(net, ictx, xs, n, NULL), sizeof(float) * (size_t)n * k);
    memcpy(tr, glia_net_forward(net, tctx, xs, n, &rng), sizeof(float) * (size_t)n * k);
    glia_net_zero_grads(net);
    glia_net_backward(net, tctx, dout, NULL);

    /* OUT: eval, train, and one gradient per parameter (buffers have none) */
    const int nout = 2 + net->ntrainable;
    glia_st_entry *e = calloc((size_t)nout, sizeof *e);
    char(*names)[GLIA_NAME_MAX + 8] = calloc((size_t)nout, sizeof *names);
    if (!e || !names)
        die("out of memory", NULL);
    const int64_t lshape[2] = {n, (int64_t)k};
    e[0] = (glia_st_entry){"eval", GLIA_DT_F32, 2, lshape, ev};
    e[1] = (glia_st_entry){"train", GLIA_DT_F32, 2, lshape, tr};
    for (int i = 0; i < net->ntrainable; i++) {
        const glia_param *p = &net->trainable[i];
        snprintf(names[2 + i], sizeof names[2 + i], "grad.%s", p->name);
        e[2 + i] = (glia_st_entry){names[2 + i], GLIA_DT_F32, p->ndim, p->shape, p->grad};
    }
    if (glia_st_write(argv[4], e, (size_t)nout, NULL, &err) || glia_net_save(net, argv[5], NULL, &err))
        die("writing", &err);

    free(e);
    free(names);
    free(xs);
    free(dout);
    free(ev);
    free(tr);
    glia_ctx_free(ictx);
    glia_ctx_free(tctx);
    glia_st_close(w);
    glia_st_close(in);
    glia_net_free(net);
    glia_manifest_free(&m);
    return 0;
}
