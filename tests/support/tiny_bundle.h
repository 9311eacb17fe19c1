/*
 * tiny_bundle.h - writes a small, fast model bundle for daemon tests: a 1x4x4 input,
 * conv 1->2 (3x3), relu, flatten, linear 8->3, labels a/b/c, weights from a seed.
 */
#ifndef GLIA_TESTS_TINY_BUNDLE_H
#define GLIA_TESTS_TINY_BUNDLE_H

/* Creates dir/model.yaml, dir/labels.txt and dir/model.safetensors (weights drawn from seed). */
void tiny_bundle_write(const char *dir, unsigned seed);
/* Rewrites only the weights (a new version on disk). */
void tiny_bundle_write_weights(const char *dir, unsigned seed);

#endif
