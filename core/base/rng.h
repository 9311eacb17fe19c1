/*
 * rng.h - explicit-state pseudo-random numbers (xoshiro256** seeded by splitmix64).
 *
 * Core keeps no global random state: every consumer (weight initialisation, dropout,
 * shuffling, batch-size draws) is handed a glia_rng, so the same recipe and seed give
 * the same weights, and a checkpoint can save and restore the stream exactly.
 */
#ifndef GLIA_BASE_RNG_H
#define GLIA_BASE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} glia_rng;

void glia_rng_seed(glia_rng *rng, uint64_t seed);
uint64_t glia_rng_next(glia_rng *rng);
/* Uniform in [0, 1) with 24 random bits (exactly representable as float). */
float glia_rng_uniform(glia_rng *rng);
/* u[0..n) = n successive glia_rng_uniform draws, the same numbers in the same order, with the
 * state kept in registers: dropout draws one per element, and a call per draw was most of its
 * time. */
void glia_rng_uniform_fill(glia_rng *rng, float *u, size_t n);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t glia_rng_below(glia_rng *rng, uint64_t n);
/* Standard normal (Box-Muller, one value per call). */
float glia_rng_normal(glia_rng *rng);
/* Fisher-Yates shuffle of idx[0..n). */
void glia_rng_shuffle(glia_rng *rng, uint32_t *idx, size_t n);

#endif
