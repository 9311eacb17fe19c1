/*
 * codec_ids.c - see codec.h: a row of raw token ids, the OIP v2 alternative to a text for
 * clients that tokenise themselves. The ids must be the model's own (its tokenizer's, whose
 * size is the vocabulary the network embeds): an id outside it would index past the
 * embedding table, so every one is checked here, on the HTTP thread, before anything runs.
 */
#include "daemon/codec.h"

int codec_ids_row(const registry_model *m, const int64_t *ids, int t, int room, size_t index, workq_input *in,
                  int *len, problem *p)
{
    const int64_t vocab = glia_tokenizer_size(m->bundle.tokenizer);
    int n = 0;
    for (int i = 0; i < t; i++) {
        if (ids[i] < 0 || ids[i] >= vocab)
            return problem_set(p, 400,
                               "token id %lld at row %zu, position %d is outside the vocabulary [0, %lld)",
                               (long long)ids[i], index, i, (long long)vocab);
        if (ids[i] != 0)
            n = i + 1;
    }
    if (n == 0)
        return problem_set(p, 400, "row %zu of the token ids has no token (0 is padding)", index);
    if (n > room)
        return problem_set(p, 400, "row %zu has %d token ids; this model takes at most %d per input", index,
                           n, room);
    int32_t *row = in->ids + index * (size_t)in->stride;
    for (int i = 0; i < n; i++)
        row[i] = (int32_t)ids[i];
    *len = n;
    return 0;
}
