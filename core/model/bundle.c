/*
 * bundle.c - see bundle.h. Includes a small SHA-256 (FIPS 180-4) so that the weights
 * digest needs no extra library.
 */
#include "core/model/bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int glia_bundle_classes(const glia_bundle *b)
{
    return b->model && b->model->ops->output == GLIA_OUTPUT_CLASSES ? b->model->outputs : 0;
}

glia_status glia_bundle_text_input(const glia_bundle *b, const char *const *texts, const size_t *lens, int n,
                                   int32_t *ids, int32_t *lengths, int *steps, int *truncated, glia_err *err)
{
    const int max = b->manifest.max_tokens;
    int longest = 1;
    if (!b->tokenizer)
        return glia_err_set(err, GLIA_EINVAL, "model '%s' takes no text", b->manifest.name);
    for (int i = 0; i < n; i++) {
        int got = 0, total = 0;
        glia_status rc = glia_tokenizer_encode(b->tokenizer, texts[i], lens[i], max, ids + (size_t)i * max,
                                               &got, &total, err);
        if (rc == GLIA_EINVAL) /* the one EINVAL of a valid max: no token */
            return glia_err_set(err, rc, "text %d has no words", i);
        if (rc != GLIA_OK)
            return glia_err_prefix(err, "text %d", i);
        lengths[i] = (int32_t)got;
        if (truncated)
            truncated[i] = total > got;
        if (got > longest)
            longest = got;
    }
    /* Rows were written max apart; pack them to the longest text's width. */
    for (int i = 1; i < n; i++)
        memmove(ids + (size_t)i * longest, ids + (size_t)i * max, sizeof(int32_t) * (size_t)longest);
    *steps = longest;
    return GLIA_OK;
}

/* The tokenizer the family reads, which decides the vocabulary unless the manifest pins it. */
static glia_status load_tokenizer(glia_bundle *b, glia_err *err)
{
    const glia_model_ops *ops = glia_model_family(b->manifest.task);
    if (ops->tokenizer == GLIA_TOKENIZER_NONE)
        return GLIA_OK;
    glia_status rc = glia_tokenizer_load(ops->tokenizer, b->manifest.tokenizer, &b->tokenizer, err);
    if (rc == GLIA_OK)
        rc = ops->set_vocab_size(&b->manifest, glia_tokenizer_size(b->tokenizer), err);
    return rc;
}

static void sha256_buffer(const void *p, size_t n, char hex[65]);

static glia_status load_model(glia_bundle *b, const glia_st_file *weights, glia_err *err)
{
    glia_status rc = glia_model_new(&b->manifest, &b->model, err);
    if (rc != GLIA_OK)
        return glia_err_prefix(err, "%s", b->manifest.path);
    if ((rc = b->model->ops->load(b->model, weights, err)))
        return glia_err_prefix(err, "%s", b->manifest.weights);
    const int classes = glia_bundle_classes(b);
    if (b->manifest.nlabels && b->manifest.nlabels != classes)
        return glia_err_set(err, GLIA_EINVAL, "%s: %d labels but the network has %d outputs",
                            b->manifest.path, b->manifest.nlabels, classes);
    return GLIA_OK;
}

glia_status glia_bundle_load(const char *path, glia_bundle *b, glia_err *err)
{
    char manifest_path[GLIA_PATH_MAX];
    struct stat st;
    glia_st_file *weights = NULL;
    glia_status rc;
    memset(b, 0, sizeof *b);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(manifest_path, sizeof manifest_path, "%s/model.yaml", path);
    else
        snprintf(manifest_path, sizeof manifest_path, "%s", path);
    if ((rc = glia_manifest_load(manifest_path, &b->manifest, err)))
        return rc;
    if ((rc = load_tokenizer(b, err)) || (rc = glia_st_open(b->manifest.weights, &weights, err)) ||
        (rc = load_model(b, weights, err)))
        goto fail;
    /* The digest of the bytes the weights came from, not of a second read that could see
     * another file (one copied over it meanwhile). */
    size_t len;
    const void *bytes = glia_st_bytes(weights, &len);
    sha256_buffer(bytes, len, b->sha256);
    glia_st_close(weights);
    return GLIA_OK;
fail:
    glia_st_close(weights);
    glia_bundle_free(b);
    return rc;
}

void glia_bundle_free(glia_bundle *b)
{
    glia_model_free(b->model);
    glia_tokenizer_free(b->tokenizer);
    b->model = NULL;
    b->tokenizer = NULL;
    glia_manifest_free(&b->manifest);
}

/* One pixel (0..255) as the network sees it. */
static float preprocess(const glia_preprocess *pre, float p)
{
    const float scale = pre->scale / pre->std, shift = pre->mean / pre->std;
    return p * scale - shift;
}

void glia_bundle_input_range(const glia_manifest *m, float *lo, float *hi)
{
    const float a = preprocess(&m->pre, 0.0f), b = preprocess(&m->pre, 255.0f);
    *lo = a < b ? a : b;
    *hi = a < b ? b : a;
}

glia_status glia_bundle_image_input(const glia_manifest *m, const glia_image *img, float *out, glia_err *err)
{
    const glia_preprocess *pre = &m->pre;
    glia_image resized = {0};
    const glia_image *src = img;
    if (m->input.c != 1)
        return glia_err_set(err, GLIA_EUNSUPPORTED, "model '%s' takes %d channels; images are decoded to 1",
                            m->name, m->input.c);
    if (img->width != m->input.w || img->height != m->input.h) {
        glia_status rc = glia_image_resize(img, m->input.w, m->input.h, &resized, err);
        if (rc)
            return rc;
        src = &resized;
    }
    size_t n = (size_t)m->input.h * m->input.w;
    for (size_t i = 0; i < n; i++) {
        float p = src->pixels[i];
        p = p < 0.0f ? 0.0f : (p > 255.0f ? 255.0f : p);
        if (pre->invert)
            p = 255.0f - p;
        out[i] = preprocess(pre, p);
    }
    glia_image_free(&resized);
    return GLIA_OK;
}

/* ---- SHA-256 ---- */

typedef struct {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t used;
} sha256_ctx;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha256_block(sha256_ctx *c, const unsigned char *p)
{
    uint32_t w[64], s[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
               p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(s, c->h, sizeof s);
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = s[7] + (ror(s[4], 6) ^ ror(s[4], 11) ^ ror(s[4], 25)) +
                      ((s[4] & s[5]) ^ (~s[4] & s[6])) + K[i] + w[i];
        uint32_t t2 =
            (ror(s[0], 2) ^ ror(s[0], 13) ^ ror(s[0], 22)) + ((s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]));
        memmove(s + 1, s, 7 * sizeof s[0]);
        s[4] += t1;
        s[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        c->h[i] += s[i];
}

static void sha256_init(sha256_ctx *c)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->len = 0;
    c->used = 0;
}

static void sha256_update(sha256_ctx *c, const unsigned char *p, size_t n)
{
    c->len += n;
    while (n > 0) {
        size_t take = 64 - c->used < n ? 64 - c->used : n;
        memcpy(c->buf + c->used, p, take);
        c->used += take;
        p += take;
        n -= take;
        if (c->used == 64) {
            sha256_block(c, c->buf);
            c->used = 0;
        }
    }
}

static void sha256_final(sha256_ctx *c, char hex[65])
{
    uint64_t bits = c->len * 8;
    unsigned char pad = 0x80, zero = 0, lenbuf[8];
    sha256_update(c, &pad, 1);
    while (c->used != 56)
        sha256_update(c, &zero, 1);
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(c, lenbuf, 8);
    for (int i = 0; i < 8; i++)
        snprintf(hex + 8 * i, 9, "%08x", c->h[i]);
}

static void sha256_buffer(const void *p, size_t n, char hex[65])
{
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, p, n);
    sha256_final(&c, hex);
}

glia_status glia_sha256_file(const char *path, char hex[65], glia_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return glia_err_set(err, GLIA_EIO, "%s: cannot open: %s", path, strerror(errno));
    sha256_ctx c;
    unsigned char buf[65536];
    size_t got;
    sha256_init(&c);
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        sha256_update(&c, buf, got);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return glia_err_set(err, GLIA_EIO, "%s: read error", path);
    sha256_final(&c, hex);
    return GLIA_OK;
}
