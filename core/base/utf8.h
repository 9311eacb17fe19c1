/*
 * utf8.h - UTF-8: the one validator, decoder and encoder of libglia.
 *
 * Text enters glia as bytes (request bodies, catalogs, vocabularies, tokenizer files) and is
 * checked once, where it enters, by glia_utf8_valid (RFC 3629: no overlong forms, no UTF-16
 * surrogates U+D800..U+DFFF, nothing above U+10FFFF, no truncated sequence). Everything after
 * that decodes with glia_utf8_decode, which trusts its input and checks nothing, so the hot
 * loops of the tokenizers pay for validation once per text instead of once per code point.
 * Decoding and encoding are inline for the same reason.
 *
 * Never: decode text that glia_utf8_valid has not accepted; knows nothing of tokens or files.
 */
#ifndef GLIA_BASE_UTF8_H
#define GLIA_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when s[0..len) is valid UTF-8; otherwise false with *bad_offset (may be NULL) set to the
 * offset of the first byte of the first invalid or truncated sequence. */
bool glia_utf8_valid(const char *s, size_t len, size_t *bad_offset);

/* The length in bytes of the sequence that starts with lead byte b of valid UTF-8. */
static inline size_t glia_utf8_seq_len(unsigned char b)
{
    return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

/* The code point at s[i] of valid UTF-8 into *cp; returns its length in bytes. */
static inline size_t glia_utf8_decode(const unsigned char *s, size_t i, uint32_t *cp)
{
    unsigned char b = s[i];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b < 0xE0) {
        *cp = (uint32_t)(b & 0x1F) << 6 | (s[i + 1] & 0x3F);
        return 2;
    }
    if (b < 0xF0) {
        *cp = (uint32_t)(b & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
        return 3;
    }
    *cp = (uint32_t)(b & 0x07) << 18 | (uint32_t)(s[i + 1] & 0x3F) << 12 | (uint32_t)(s[i + 2] & 0x3F) << 6 |
          (s[i + 3] & 0x3F);
    return 4;
}

/* Code point c (at most U+10FFFF, not a surrogate) as UTF-8 into out (room for 4 bytes, no NUL
 * written); returns the number of bytes. */
static inline size_t glia_utf8_encode(uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18);
    out[1] = (char)(0x80 | (c >> 12 & 0x3F));
    out[2] = (char)(0x80 | (c >> 6 & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

#endif
