/*
 * tiny_models.h - a manifest per model family, small enough for gradient checks and a few
 * training steps in a unit test: an image net over 1x3x3 inputs (flatten, linear 9->6, tanh,
 * dropout, linear 6->classes), a bidirectional LSTM text classifier, and a pre-norm
 * Transformer translator with tied embeddings (12 positions), every one over
 * TINY_VOCAB ids and TINY_CLASSES classes.
 */
#ifndef GLIA_TESTS_TINY_MODELS_H
#define GLIA_TESTS_TINY_MODELS_H

#include "core/model/manifest.h"

enum { TINY_VOCAB = 11, TINY_CLASSES = 3, TINY_STEPS = 5 };

/* task is a manifest task; dropout applies wherever the family has it. The returned
 * manifest's layers live in static storage: one image manifest at a time. */
glia_manifest tiny_models_manifest(const char *task, float dropout);

#endif
