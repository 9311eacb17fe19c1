/*
 * tiny_models.c - see tiny_models.h.
 */
#include "tests/support/tiny_models.h"

#include <stdio.h>
#include <string.h>

static glia_layer cnn_layers[5];

glia_manifest tiny_models_manifest(const char *task, float dropout)
{
    glia_manifest m;
    memset(&m, 0, sizeof m);
    snprintf(m.path, sizeof m.path, "tiny/%s.yaml", task);
    snprintf(m.task, sizeof m.task, "%s", task);
    m.max_tokens = TINY_STEPS;
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
