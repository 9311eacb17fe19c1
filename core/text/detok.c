/*
 * detok.c - the spacing rules of detok.h: one pass over the text, which is written in place
 * behind the read position (looking back at what was written, ahead at what was not).
 */
#include "core/text/detok.h"

#include <stdbool.h>
#include <string.h>

static const char *const openers[] = {
    "(", "[", "{", "\xc2\xbf" /* ¿ */, "\xc2\xa1" /* ¡ */, "\xc2\xab" /* « */, "\xe2\x80\x9c" /* “ */};
static const char *const closers[] = {
    ")", "]", "}", ",", ";", ":", ".", "?", "!", "\xc2\xbb" /* » */, "\xe2\x80\x9d" /* ” */};
enum { NOPEN = sizeof openers / sizeof openers[0], NCLOSE = sizeof closers / sizeof closers[0] };

/* Does hay[0..n) contain a followed by b (each NUL-terminated)? */
static bool has_pair(const char *hay, size_t n, const char *a, const char *b)
{
    const size_t la = strlen(a), lb = strlen(b);
    for (size_t i = 0; i + la + lb <= n; i++)
        if (memcmp(hay + i, a, la) == 0 && memcmp(hay + i + la, b, lb) == 0)
            return true;
    return false;
}

size_t glia_detok_tidy(const char *src, size_t src_len, char *text, size_t len)
{
    /* which rules the source allows, decided once */
    bool open_ok[NOPEN], close_ok[NCLOSE];
    for (int k = 0; k < NOPEN; k++)
        open_ok[k] = !src || !has_pair(src, src_len, openers[k], " ");
    for (int k = 0; k < NCLOSE; k++)
        close_ok[k] = !src || !has_pair(src, src_len, " ", closers[k]);
    size_t w = 0;
    for (size_t r = 0; r < len; r++) {
        if (text[r] == ' ' && w > 0) {
            bool drop = false;
            for (int k = 0; k < NOPEN && !drop; k++) {
                const size_t l = strlen(openers[k]);
                drop = open_ok[k] && w >= l && memcmp(text + w - l, openers[k], l) == 0;
            }
            for (int k = 0; k < NCLOSE && !drop; k++) {
                const size_t l = strlen(closers[k]);
                drop = close_ok[k] && r + 1 + l <= len && memcmp(text + r + 1, closers[k], l) == 0;
            }
            if (drop)
                continue;
        }
        text[w++] = text[r];
    }
    text[w] = '\0';
    return w;
}
