/*
 * test_net.c - sequential networks: the whole backward pass (every layer chained, loss
 * included) against central finite differences; inference and training contexts give
 * the same logits; save and strict load round-trip under PyTorch's names; a missing,
 * extra or misshaped tensor is refused with its name.
 */
#include "core/io/manifest.h"
#include "core/nn/loss.h"
#include "core/nn/net.h"
#include "tests/support/check_main.h"
#include "tests/support/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "net");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

/* conv, relu, max-pool, avg-pool, tanh, flatten, linear, sigmoid, linear */
static glia_net *small_net(void)
{
    glia_err err = {0};
    glia_manifest m;
    glia_net *net;
    const char *p = glia_test_write(
        tmpdir, "model.yaml",
        "name: n\ntask: image-classification\ninput: {shape: [2, 6, 6]}\n"
        "architecture:\n  type: sequential\n  modules:\n"
        "    - name: features\n      layers:\n"
        "        - {type: conv2d, in_channels: 2, out_channels: 3, kernel_size: 3, padding: 1}\n"
        "        - {type: relu}\n"
        "        - {type: maxpool2d, kernel_size: 2, stride: 2}\n"
        "        - {type: avgpool2d, kernel_size: 3, stride: 1, padding: 1}\n"
        "        - {type: tanh}\n"
        "    - name: head\n      layers:\n"
        "        - {type: flatten}\n"
        "        - {type: linear, in_features: 27, out_features: 5}\n"
        "        - {type: sigmoid}\n"
        "        - {type: linear, in_features: 5, out_features: 4}\n");
    ck_assert_msg(glia_manifest_load(p, &m, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_net_new(m.input, m.layers, m.nlayers, &net, &err) == GLIA_OK, "%s", err.msg);
    glia_manifest_free(&m);
    glia_rng rng;
    glia_rng_seed(&rng, 3);
    glia_net_reset(net, &rng);
    return net;
}

static double net_loss(glia_net *net, glia_ctx *ctx, const float *x, const int32_t *y, int n, float *dz)
{
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    const float *z = glia_net_forward(net, ctx, x, n, &rng);
    return glia_xent(z, y, n, net->output.c, 0.1f, -100, dz, NULL);
}

START_TEST(whole_net_gradient)
{
    glia_err err = {0};
    glia_net *net = small_net();
    const int n = 3;
    ck_assert_str_eq(net->params[0].name, "features.0.weight");
    ck_assert_str_eq(net->params[net->nparams - 1].name, "head.3.bias");
    ck_assert_int_eq(glia_net_enable_grads(net, &err), GLIA_OK);
    glia_ctx *ctx;
    ck_assert_int_eq(glia_ctx_new(net, n, 1, &ctx, &err), GLIA_OK);
    size_t nx = glia_shape3_size(net->input) * n;
    float *x = malloc(sizeof(float) * nx), dz[12];
    gc_distinct_inputs(x, nx, 4.0f / (float)nx, 5);
    const int32_t y[3] = {1, 3, 0};
    glia_net_zero_grads(net);
    net_loss(net, ctx, x, y, n, dz);
    glia_net_backward(net, ctx, dz);
    float *grads = malloc(sizeof(float) * net->size);
    memcpy(grads, net->grads, sizeof(float) * net->size);
    double worst = 0;
    for (size_t i = 0; i < net->size; i++) {
        const float h = 1e-3f, keep = net->values[i];
        net->values[i] = keep + h;
        double lp = net_loss(net, ctx, x, y, n, NULL);
        net->values[i] = keep - h;
        double lm = net_loss(net, ctx, x, y, n, NULL);
        net->values[i] = keep;
        double num = (lp - lm) / (2.0 * h);
        worst = fmax(worst, fabs(grads[i] - num) / fmax(0.1, fabs(num)));
    }
    ck_assert_msg(worst < 5e-3, "parameter gradients off by %g", worst);
    free(x);
    free(grads);
    glia_ctx_free(ctx);
    glia_net_free(net);
}
END_TEST

START_TEST(inference_and_training_contexts_agree)
{
    glia_err err = {0};
    glia_net *net = small_net();
    glia_ctx *inf, *tr;
    ck_assert_int_eq(glia_ctx_new(net, 4, 0, &inf, &err), GLIA_OK);
    ck_assert_int_eq(glia_net_enable_grads(net, &err), GLIA_OK);
    ck_assert_int_eq(glia_ctx_new(net, 4, 1, &tr, &err), GLIA_OK);
    float x[288];
    gc_distinct_inputs(x, 288, 0.01f, 2);
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    const float *a = glia_net_forward(net, inf, x, 4, NULL);
    float copy[16];
    memcpy(copy, a, sizeof copy);
    const float *b = glia_net_forward(net, tr, x, 4, &rng); /* no dropout in this net */
    ck_assert_mem_eq(copy, b, sizeof copy);
    ck_assert_uint_gt(glia_ctx_bytes(tr), glia_ctx_bytes(inf));
    glia_ctx_free(inf);
    glia_ctx_free(tr);
    glia_net_free(net);
}
END_TEST

START_TEST(save_load_round_trip_and_strictness)
{
    glia_err err = {0};
    glia_net *a = small_net(), *b = small_net();
    char path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", tmpdir);
    const char *meta[] = {"format", "pt", NULL};
    ck_assert_int_eq(glia_net_save(a, path, meta, &err), GLIA_OK);
    memset(b->values, 0, sizeof(float) * b->size);
    glia_st_file *st;
    ck_assert_int_eq(glia_st_open(path, &st, &err), GLIA_OK);
    ck_assert_msg(glia_net_load(b, st, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_mem_eq(a->values, b->values, sizeof(float) * a->size);
    glia_st_close(st);

    /* a file with one tensor missing, one misshaped, one extra */
    const glia_param *w = glia_net_find_param(a, "head.1.weight");
    ck_assert_ptr_nonnull(w);
    int64_t wrong[2] = {5, 26}, extra_shape[1] = {2};
    float extra[2] = {1, 2};
    const glia_st_entry misshaped = {"head.1.weight", GLIA_DT_F32, 2, wrong, w->value};
    int nparams = a->nparams;
    glia_st_entry *all = calloc((size_t)nparams + 1, sizeof *all);
    for (int pass = 0; pass < 3; pass++) {
        int n = 0;
        for (int i = 0; i < nparams; i++) {
            const glia_param *p = &a->params[i];
            if (pass == 0 && strcmp(p->name, "head.3.bias") == 0)
                continue; /* missing */
            all[n] = (glia_st_entry){p->name, GLIA_DT_F32, p->ndim, p->shape, p->value};
            if (pass == 1 && strcmp(p->name, "head.1.weight") == 0)
                all[n] = misshaped;
            n++;
        }
        if (pass == 2)
            all[n++] = (glia_st_entry){"head.9.weight", GLIA_DT_F32, 1, extra_shape, extra};
        ck_assert_int_eq(glia_st_write(path, all, n, NULL, &err), GLIA_OK);
        ck_assert_int_eq(glia_st_open(path, &st, &err), GLIA_OK);
        ck_assert_int_ne(glia_net_load(b, st, &err), GLIA_OK);
        const char *want = pass == 0 ? "head.3.bias" : pass == 1 ? "head.1.weight" : "head.9.weight";
        ck_assert_msg(strstr(err.msg, want), "pass %d: '%s' lacks '%s'", pass, err.msg, want);
        glia_st_close(st);
    }
    free(all);
    glia_net_free(a);
    glia_net_free(b);
}
END_TEST

START_TEST(replica_shares_values_not_gradients)
{
    glia_err err = {0};
    glia_net *net = small_net(), *r;
    ck_assert_int_eq(glia_net_enable_grads(net, &err), GLIA_OK);
    ck_assert_int_eq(glia_net_replica(net, &r, &err), GLIA_OK);
    ck_assert_ptr_eq(r->values, net->values);
    ck_assert_ptr_ne(r->grads, net->grads);
    ck_assert_ptr_eq(r->params[2].value, net->params[2].value);
    net->values[0] += 1.0f; /* seen through the replica */
    ck_assert_float_eq(r->layers[0].params[0].value[0], net->values[0]);
    glia_net_free(r);
    glia_net_free(net); /* the replica did not free the shared values: ASan would say */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("net");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, whole_net_gradient);
    tcase_add_test(tc, inference_and_training_contexts_agree);
    tcase_add_test(tc, save_load_round_trip_and_strictness);
    tcase_add_test(tc, replica_shares_values_not_gradients);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
