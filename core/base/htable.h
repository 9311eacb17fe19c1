/*
 * htable.h - the one hash table of libglia: a set of byte strings, each with a dense id.
 *
 * A key (any bytes, any length) added for the first time gets the next id - 0, 1, 2, ... in the
 * order of insertion - and a copy of its bytes in the table's arena; adding it again finds that
 * id. Lookups hash with FNV-1a (core/base/hash.h) and probe linearly in a slot array kept at most
 * half full, which doubles as it fills. Values live in the caller's own arrays indexed by id, so
 * one table serves as a set, a map, a counter or an interning string list, and iterating is a
 * loop over ids: every result that depends on order (a vocabulary, learned merges, "the first
 * occurrence wins") depends on insertion order only, never on hash values or slot positions.
 * Fixed-size binary keys (a code point, a pair of ids) are keys of their bytes.
 *
 * The struct is plain data so that it can be embedded; its fields belong to this module. A zeroed
 * table is empty and valid. Never: holds pointers into the caller's memory, knows what a key means.
 */
#ifndef GLIA_BASE_HTABLE_H
#define GLIA_BASE_HTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"

typedef struct {
    char *arena; /* the keys back to back, each followed by a NUL */
    size_t arena_len, arena_cap;
    size_t *off;    /* key id starts at arena + off[id] */
    size_t *len;    /* and is len[id] bytes long */
    uint32_t *hash; /* FNV-1a of key id */
    size_t n, cap;  /* ids in use, room in off/len/hash */
    int32_t *slots; /* ids, -1 = empty; mask + 1 slots (0 before the first add) */
    size_t mask;
} glia_htable;

/* Frees what t holds and leaves it empty (zeroed). */
void glia_htable_free(glia_htable *t);

/* Forgets every key but keeps the memory, for a table refilled many times. */
void glia_htable_clear(glia_htable *t);

/* The id of key[0..len), or -1 when the table does not hold it. */
int32_t glia_htable_find(const glia_htable *t, const void *key, size_t len);

/* The id of key[0..len), added (with the next id) when new; *added (may be NULL) says which.
 * GLIA_ENOMEM, or GLIA_EUNSUPPORTED past INT32_MAX keys, leave t as it was. */
glia_status glia_htable_add(glia_htable *t, const void *key, size_t len, int32_t *id, bool *added,
                            glia_err *err);

/* Number of keys: ids are 0 .. size - 1. */
static inline size_t glia_htable_size(const glia_htable *t)
{
    return t->n;
}

/* The bytes of key id (NUL-terminated after its length), borrowed: valid until the next add. */
static inline const char *glia_htable_key(const glia_htable *t, int32_t id)
{
    return t->arena + t->off[id];
}

static inline size_t glia_htable_key_len(const glia_htable *t, int32_t id)
{
    return t->len[id];
}

#endif
