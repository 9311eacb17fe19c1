/*
 * hash.h - FNV-1a, 32 bits (offset basis 0x811c9dc5, prime 0x01000193, xor then multiply,
 * per byte): the hash of glia's reproducible data splits (the issues define splits by it,
 * so it must never change) and of the one hash table, core/base/htable.h.
 */
#ifndef GLIA_BASE_HASH_H
#define GLIA_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t glia_fnv1a32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x01000193u;
    }
    return h;
}

#endif
