/*
 * negscope.c - see negscope.h.
 */
#include "core/text/negscope.h"

#include <string.h>

static bool in_list(const char *const *list, const char *token, size_t len)
{
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == len && memcmp(list[i], token, len) == 0)
            return true;
    return false;
}

bool glia_negscope_is_negator(const char *token, size_t len)
{
    static const char *const negators[] = {"not",    "no",      "never",  "nothing", "none",
                                           "nobody", "neither", "nor",    "nowhere", "without",
                                           "hardly", "barely",  "cannot", NULL};
    return in_list(negators, token, len);
}

/* A clause boundary: punctuation that ends a phrase, or a word that starts another clause. */
static bool is_boundary(const char *token, size_t len)
{
    static const char *const words[] = {"but",   "however", "although", "though", "yet",     "whereas",
                                        "while", "except",  "and",      "or",     "because", NULL};
    static const char *const marks[] = {".", ",", ";", ":",  "!", "?", "...",          "(",
                                        ")", "[", "]", "\"", "-", "/", "\xE2\x80\x93", "\xE2\x80\x94",
                                        NULL};
    return in_list(marks, token, len) || in_list(words, token, len);
}

bool glia_negscope_is_marked(const char *token, size_t len)
{
    return len > GLIA_NEGSCOPE_PREFIX_LEN &&
           memcmp(token, GLIA_NEGSCOPE_PREFIX, GLIA_NEGSCOPE_PREFIX_LEN) == 0;
}

void glia_negscope_init(glia_negscope *s, const glia_negscope_cfg *cfg)
{
    s->cfg = cfg ? *cfg : (glia_negscope_cfg){0};
    s->left = 0;
}

bool glia_negscope_next(glia_negscope *s, const char *token, size_t len)
{
    if (!s->cfg.enabled)
        return false;
    if (glia_negscope_is_negator(token, len)) { /* "not" itself stays plain; its scope starts after it */
        s->left = s->cfg.max_words > 0 ? s->cfg.max_words : -1;
        return false;
    }
    if (s->left == 0)
        return false;
    if (is_boundary(token, len)) {
        s->left = 0;
        return false;
    }
    if (s->left > 0)
        s->left--;
    return true;
}

bool glia_negscope_mark(const char *token, size_t len, char *out, size_t cap)
{
    if (len + GLIA_NEGSCOPE_PREFIX_LEN + 1 > cap)
        return false;
    memcpy(out, GLIA_NEGSCOPE_PREFIX, GLIA_NEGSCOPE_PREFIX_LEN);
    memcpy(out + GLIA_NEGSCOPE_PREFIX_LEN, token, len);
    out[GLIA_NEGSCOPE_PREFIX_LEN + len] = '\0';
    return true;
}

static bool is_contrast(const char *token, size_t len)
{
    static const char *const words[] = {"but", "however", "although", "though",
                                        "yet", "whereas", "except",   NULL};
    return in_list(words, token, len);
}

/* Appends token to out[*at..cap) with a space before it unless it is the first or a clitic. */
static bool append(const char *token, char *out, size_t cap, size_t *at)
{
    const size_t len = strlen(token);
    const bool space = *at > 0 && token[0] != '\'';
    if (*at + space + len + 1 > cap)
        return false;
    if (space)
        out[(*at)++] = ' ';
    memcpy(out + *at, token, len);
    *at += len;
    out[*at] = '\0';
    return true;
}

bool glia_negscope_negate(char *const *tokens, size_t n, char *out, size_t cap)
{
    static const char *const copulas[] = {"is",   "was",   "are", "were",  "am",     "'s",   "'re", "'m",
                                          "will", "would", "can", "could", "should", "must", NULL};
    enum { MAX_TOKENS = 25 };
    size_t negators = 0, negator_at = 0, copula_at = n, end = n;
    if (n == 0 || n > MAX_TOKENS || cap == 0)
        return false;
    while (end > 0 && is_boundary(tokens[end - 1], strlen(tokens[end - 1])))
        end--; /* trailing ". !" closes the one clause */
    for (size_t i = 0; i < n; i++) {
        const size_t len = strlen(tokens[i]);
        if (is_contrast(tokens[i], len) || (i < end && is_boundary(tokens[i], len)))
            return false;
        if (glia_negscope_is_negator(tokens[i], len)) {
            negators++;
            negator_at = i;
        }
        if (copula_at == n && in_list(copulas, tokens[i], len))
            copula_at = i;
    }
    if (negators > 1 || (negators == 1 && strcmp(tokens[negator_at], "not") != 0))
        return false;
    if (negators == 0 && (copula_at + 1 >= end))
        return false;
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (negators == 1 && i == negator_at)
            continue;
        if (!append(tokens[i], out, cap, &at))
            return false;
        if (negators == 0 && i == copula_at && !append("not", out, cap, &at))
            return false;
    }
    return true;
}
