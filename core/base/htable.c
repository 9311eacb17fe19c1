/*
 * htable.c - see htable.h.
 *
 * The slots hold ids, and each id's hash is kept beside its key, so a probe compares 32-bit
 * hashes before bytes and growing the slot array rehashes nothing. Keys are reached by offset,
 * never by pointer, because the arena moves as it grows.
 */
#include "core/base/htable.h"

#include "core/base/hash.h"

#include <stdlib.h>
#include <string.h>

void glia_htable_free(glia_htable *t)
{
    free(t->arena);
    free(t->off);
    free(t->len);
    free(t->hash);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

void glia_htable_clear(glia_htable *t)
{
    t->n = 0;
    t->arena_len = 0;
    if (t->slots)
        memset(t->slots, 0xff, (t->mask + 1) * sizeof *t->slots);
}

/* The slot that holds key (hash h), or the empty slot where it would go. */
static size_t probe(const glia_htable *t, const void *key, size_t len, uint32_t h)
{
    size_t i = h & t->mask;
    for (;; i = (i + 1) & t->mask) {
        int32_t id = t->slots[i];
        if (id < 0 || (t->hash[id] == h && t->len[id] == len && memcmp(t->arena + t->off[id], key, len) == 0))
            return i;
    }
}

int32_t glia_htable_find(const glia_htable *t, const void *key, size_t len)
{
    if (!t->slots)
        return -1;
    return t->slots[probe(t, key, len, glia_fnv1a32(key, len))];
}

/* Doubles the slot array (64 at first) and puts every id back. */
static bool grow_slots(glia_htable *t)
{
    size_t size = t->slots ? 2 * (t->mask + 1) : 64;
    int32_t *slots = malloc(size * sizeof *slots);
    if (!slots)
        return false;
    memset(slots, 0xff, size * sizeof *slots);
    for (size_t k = 0; k < t->n; k++) {
        size_t i = t->hash[k] & (size - 1);
        while (slots[i] >= 0)
            i = (i + 1) & (size - 1);
        slots[i] = (int32_t)k;
    }
    free(t->slots);
    t->slots = slots;
    t->mask = size - 1;
    return true;
}

/* Room for one more id: off, len and hash grow together. */
static bool grow_ids(glia_htable *t)
{
    size_t cap = t->cap ? 2 * t->cap : 64;
    size_t *off = realloc(t->off, cap * sizeof *off);
    if (!off)
        return false;
    t->off = off;
    size_t *lens = realloc(t->len, cap * sizeof *lens);
    if (!lens)
        return false;
    t->len = lens;
    uint32_t *hash = realloc(t->hash, cap * sizeof *hash);
    if (!hash)
        return false;
    t->hash = hash;
    t->cap = cap;
    return true;
}

/* Room for len more key bytes and their NUL. */
static bool grow_arena(glia_htable *t, size_t len)
{
    size_t cap = t->arena_cap ? t->arena_cap : 1024;
    while (cap - t->arena_len < len + 1)
        cap *= 2;
    char *arena = realloc(t->arena, cap);
    if (!arena)
        return false;
    t->arena = arena;
    t->arena_cap = cap;
    return true;
}

glia_status glia_htable_add(glia_htable *t, const void *key, size_t len, int32_t *id, bool *added,
                            glia_err *err)
{
    if ((!t->slots || 2 * (t->n + 1) > t->mask + 1) && !grow_slots(t))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a table of %zu keys", t->n + 1);
    const uint32_t h = glia_fnv1a32(key, len);
    const size_t slot = probe(t, key, len, h);
    if (t->slots[slot] >= 0) {
        *id = t->slots[slot];
        if (added)
            *added = false;
        return GLIA_OK;
    }
    if (t->n >= (size_t)INT32_MAX)
        return glia_err_set(err, GLIA_EUNSUPPORTED, "more than %d keys do not fit 32-bit ids", INT32_MAX);
    if (t->n == t->cap && !grow_ids(t))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a table of %zu keys", t->n + 1);
    if (t->arena_cap - t->arena_len < len + 1 && !grow_arena(t, len))
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu bytes of keys", t->arena_len + len + 1);
    memcpy(t->arena + t->arena_len, key, len);
    t->arena[t->arena_len + len] = '\0';
    t->off[t->n] = t->arena_len;
    t->len[t->n] = len;
    t->hash[t->n] = h;
    t->arena_len += len + 1;
    t->slots[slot] = (int32_t)t->n;
    *id = (int32_t)t->n++;
    if (added)
        *added = true;
    return GLIA_OK;
}
