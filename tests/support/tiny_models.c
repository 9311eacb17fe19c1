/*
 * tiny_models.c - see tiny_models.h.
 */
#include "tests/support/tiny_models.h"

#include "core/train/imagetrain.h"

#include <stdio.h>
#include <string.h>

static glia_layer cnn_layers[6];

glia_manifest tiny_models_manifest(const char *task, float dropout)
{
    glia_manifest m;
    memset(&m, 0, sizeof m);
    snprintf(m.path, sizeof m.path, "tiny/%s.yaml", task);
    snprintf(m.task, sizeof m.task, "%s", task);
    m.max_tokens = TINY_STEPS;
    if (strcmp(task, "image-classification-bn") == 0) { /* the image net behind a batch norm */
        m = tiny_models_manifest("image-classification", dropout);
        memmove(cnn_layers + 1, cnn_layers, sizeof(glia_layer) * 5);
        cnn_layers[0] = (glia_layer){.kind = GLIA_LAYER_BATCHNORM2D, .name = "norm.0"};
        cnn_layers[0].cfg.bn.num_features = 1;
        cnn_layers[0].cfg.bn.eps = 1e-5f;
        cnn_layers[0].cfg.bn.momentum = 0.1f;
        m.nlayers = 6;
        return m;
    }
    if (strcmp(task, "image-classification") == 0) {
        memset(cnn_layers, 0, sizeof cnn_layers);
        m.input = (glia_shape3){1, 3, 3};
        cnn_layers[0] = (glia_layer){.kind = GLIA_LAYER_FLATTEN, .name = "features.0"};
        cnn_layers[1] = (glia_layer){.kind = GLIA_LAYER_LINEAR, .name = "features.1"};
        cnn_layers[1].cfg.linear.in_features = 9;
        cnn_layers[1].cfg.linear.out_features = 6;
        cnn_layers[2] = (glia_layer){.kind = GLIA_LAYER_TANH, .name = "features.2"};
        cnn_layers[3] = (glia_layer){.kind = GLIA_LAYER_DROPOUT, .name = "features.3"};
        cnn_layers[3].cfg.dropout.p = dropout;
        cnn_layers[4] = (glia_layer){.kind = GLIA_LAYER_LINEAR, .name = "classifier.0"};
        cnn_layers[4].cfg.linear.in_features = 6;
        cnn_layers[4].cfg.linear.out_features = TINY_CLASSES;
        m.layers = cnn_layers;
        m.nlayers = 5;
    } else if (strcmp(task, "text-classification") == 0) {
        m.text = (glia_textnet_config){.vocab_size = TINY_VOCAB,
                                       .embedding_dim = 4,
                                       .mode = GLIA_RNN_LSTM,
                                       .hidden_size = 3,
                                       .num_layers = 1,
                                       .bidirectional = 1,
                                       .pool = GLIA_RNN_POOL_MEAN,
                                       .num_classes = TINY_CLASSES,
                                       .dropout = dropout};
    } else {
        m.s2s = (glia_s2s_config){.vocab_size = TINY_VOCAB,
                                  .d_model = 8,
                                  .nhead = 2,
                                  .dim_feedforward = 12,
                                  .num_encoder_layers = 1,
                                  .num_decoder_layers = 1,
                                  .dropout = dropout,
                                  .layer_norm_eps = 1e-5f,
                                  .norm_first = 1,
                                  .tie_embeddings = 1,
                                  .max_positions = 12};
    }
    return m;
}

void tiny_data_fill(tiny_data *d, int n)
{
    glia_rng rng;
    glia_rng_seed(&rng, 42);
    GLIA_ASSERT(n > 0 && n <= TINY_DATA_N);
    memset(d, 0, sizeof *d);
    int at = 0;
    for (int i = 0; i < n; i++) {
        d->y[i] = d->labels[i] = (int32_t)glia_rng_below(&rng, TINY_CLASSES);
        for (int e = 0; e < 9; e++)
            d->x[i * 9 + e] = glia_rng_uniform(&rng) + (e == 0 ? (float)d->y[i] : 0.0f);
        d->lengths[i] = 1 + (int32_t)glia_rng_below(&rng, TINY_STEPS);
        for (int t = 0; t < d->lengths[i]; t++)
            d->ids[i * TINY_STEPS + t] =
                t == 0 ? 4 + d->labels[i] : 4 + (int32_t)glia_rng_below(&rng, TINY_VOCAB - 4);
        d->sources[i] = (uint8_t)(i % 3);
        d->src_off[i] = at;
        d->src_len[i] = 1 + (int32_t)glia_rng_below(&rng, TINY_STEPS - 1);
        for (int t = 0; t < d->src_len[i] - 1; t++)
            d->pair_ids[at++] = 4 + (int32_t)glia_rng_below(&rng, TINY_VOCAB - 4);
        d->pair_ids[at++] = 3; /* </s> */
        d->tgt_off[i] = at;
        d->tgt_len[i] = 1 + (int32_t)glia_rng_below(&rng, TINY_TGT - 1);
        for (int t = 0; t < d->tgt_len[i]; t++)
            d->pair_ids[at++] = d->pair_ids[d->src_off[i] + (t < d->src_len[i] ? t : 0)];
        d->pair[i] = (uint32_t)i;
    }
    d->images = (glia_dataset){.n = n, .shape = {1, 3, 3}, .x = d->x, .y = d->y, .nclasses = TINY_CLASSES};
    d->texts = (glia_text_data){.n = n,
                                .max_len = TINY_STEPS,
                                .ids = d->ids,
                                .lengths = d->lengths,
                                .labels = d->labels,
                                .sources = d->sources};
    d->pairs = (glia_mt_data){.n = n,
                              .src_off = d->src_off,
                              .src_len = d->src_len,
                              .tgt_off = d->tgt_off,
                              .tgt_len = d->tgt_len,
                              .pair = d->pair,
                              .ids = d->pair_ids,
                              .nids = (size_t)at};
}

glia_status tiny_source_new(const char *task, const tiny_data *d, glia_source **out, glia_err *err)
{
    if (strncmp(task, "image-classification", 20) == 0)
        return glia_image_source_new(NULL, &d->images, &d->images, NULL, 16, out, err);
    if (strcmp(task, "text-classification") == 0)
        return glia_text_source_new(&d->texts, &d->texts, NULL, TINY_CLASSES, out, err);
    return glia_mt_source_new(&d->pairs, &d->pairs, NULL, 40, out, err);
}

void tiny_recipe(glia_recipe *r, int epochs, int lanes)
{
    memset(r, 0, sizeof *r);
    r->seed = 3;
    r->epochs = epochs;
    r->batch = (glia_batch_config){GLIA_BATCH_FIXED, 8, 8, 8, 2.0f, 1, 0.0f};
    glia_optim_defaults(GLIA_OPTIM_ADAM, &r->optim);
    r->optim.lr = 0.01f;
    r->sched =
        (glia_sched_config){.kind = GLIA_SCHED_CONSTANT, .base_lr = r->optim.lr, .step_size = 1, .gamma = 1};
    r->label_smoothing = 0.1f;
    r->clip_norm = 5.0f;
    r->workers = lanes;
}
