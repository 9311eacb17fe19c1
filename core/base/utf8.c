/*
 * utf8.c - see utf8.h.
 *
 * The validator follows RFC 3629's table of well-formed byte sequences: the lead byte fixes the
 * length and the allowed range of the second byte (E0: A0..BF against overlong three-byte forms,
 * ED: 80..9F against surrogates, F0: 90..BF against overlong four-byte forms, F4: 80..8F against
 * code points above U+10FFFF); C0, C1 and F5..FF never lead.
 */
#include "core/base/utf8.h"

bool glia_utf8_valid(const char *s, size_t len, size_t *bad_offset)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char b = u[i];
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            need = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            need = 2;
            if (b == 0xE0)
                lo = 0xA0; /* overlong */
            else if (b == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3;
            if (b == 0xF0)
                lo = 0x90; /* overlong */
            else if (b == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            goto bad; /* continuation byte without a lead, C0/C1 overlong leads, F5..FF */
        }
        if (len - i <= need)
            goto bad;
        if (u[i + 1] < lo || u[i + 1] > hi)
            goto bad;
        for (size_t k = 2; k <= need; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                goto bad;
        }
        i += need + 1;
    }
    return true;
bad:
    if (bad_offset)
        *bad_offset = i;
    return false;
}
