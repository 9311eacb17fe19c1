/*
 * rng.c - xoshiro256** (Blackman & Vigna), seeded through splitmix64 so that small
 * seeds (0, 1, 2...) still give well-mixed states.
 */
#include "core/base/rng.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void glia_rng_seed(glia_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

/* One xoshiro256** step on s[0..3]: the next output. glia_rng_uniform_fill runs it on a local
 * copy of the state, which the compiler keeps in registers across the loop. */
static inline uint64_t xoshiro_step(uint64_t *s)
{
    const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t glia_rng_next(glia_rng *rng)
{
    return xoshiro_step(rng->s);
}

float glia_rng_uniform(glia_rng *rng)
{
    return (float)(glia_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
}

void glia_rng_uniform_fill(glia_rng *rng, float *u, size_t n)
{
    uint64_t s[4] = {rng->s[0], rng->s[1], rng->s[2], rng->s[3]};
    for (size_t i = 0; i < n; i++)
        u[i] = (float)(xoshiro_step(s) >> 40) * (1.0f / 16777216.0f);
    memcpy(rng->s, s, sizeof s);
}

uint64_t glia_rng_below(glia_rng *rng, uint64_t n)
{
    /* Rejection sampling on the top of the range keeps every value equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = glia_rng_next(rng);
    } while (x >= limit);
    return x % n;
}

float glia_rng_normal(glia_rng *rng)
{
    double u1 = ((double)(glia_rng_next(rng) >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0,1] */
    double u2 = (double)(glia_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

void glia_rng_shuffle(glia_rng *rng, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)glia_rng_below(rng, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
