/* tiny_bundle.c - see tiny_bundle.h. */
#include "tests/support/tiny_bundle.h"

#include <stdio.h>

#include "core/model/manifest.h"
#include "core/nn/net.h"
#include "tests/support/check_main.h"

void tiny_bundle_write_weights(const char *dir, unsigned seed)
{
    glia_err err = {0};
    glia_manifest m;
    glia_net *net;
    char path[4200];
    snprintf(path, sizeof path, "%s/model.yaml", dir);
    ck_assert_msg(glia_manifest_load(path, &m, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_net_new(m.input, m.layers, m.nlayers, &net, &err) == GLIA_OK, "%s", err.msg);
    glia_rng rng;
    glia_rng_seed(&rng, seed);
    glia_net_reset(net, &rng);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ck_assert_msg(glia_net_save(net, path, NULL, &err) == GLIA_OK, "%s", err.msg);
    glia_net_free(net);
    glia_manifest_free(&m);
}

void tiny_bundle_write(const char *dir, unsigned seed)
{
    glia_test_write(
        dir, "model.yaml",
        "name: tiny\ntask: image-classification\nversion: 1\nlabels: labels.txt\n"
        "input:\n  shape: [1, 4, 4]\n  preprocessing: {scale: 0.00392156862745098, mean: 0.5, std: 0.25}\n"
        "architecture:\n  type: sequential\n  modules:\n"
        "    - name: body\n      layers:\n"
        "        - {type: conv2d, in_channels: 1, out_channels: 2, kernel_size: 3}\n"
        "        - {type: relu}\n"
        "        - {type: flatten}\n"
        "        - {type: linear, in_features: 8, out_features: 3}\n");
    glia_test_write(dir, "labels.txt", "a\nb\nc\n");
    tiny_bundle_write_weights(dir, seed);
}
