/*
 * bundle.c - see bundle.h. The weights' SHA-256 comes from GnuTLS (its hashes use the CPU's
 * SHA extensions or tuned assembly, about ten times the speed of a portable C loop), which
 * matters because the digest is taken at every load and reload of a model.
 */
#include "core/model/bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

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
        rc = glia_tokenizer_set_negscope(b->tokenizer, &b->manifest.negscope, err);
    if (rc == GLIA_OK)
        rc = ops->set_vocab_size(&b->manifest, glia_tokenizer_size(b->tokenizer), err);
    return rc;
}

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
    if ((rc = glia_sha256_buffer(bytes, len, b->sha256, err)))
        goto fail;
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

/* ---- SHA-256 through GnuTLS ---- */

static void digest_hex(const unsigned char digest[32], char hex[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

glia_status glia_sha256_buffer(const void *p, size_t n, char hex[65], glia_err *err)
{
    unsigned char digest[32];
    int rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, p, n, digest);
    if (rc < 0)
        return glia_err_set(err, GLIA_ENOMEM, "SHA-256: %s", gnutls_strerror(rc));
    digest_hex(digest, hex);
    return GLIA_OK;
}

glia_status glia_sha256_file(const char *path, char hex[65], glia_err *err)
{
    unsigned char buf[65536], digest[32];
    gnutls_hash_hd_t h = NULL;
    glia_status rc = GLIA_OK;
    size_t got;
    FILE *f = fopen(path, "rb");
    if (!f)
        return glia_err_set(err, GLIA_EIO, "%s: cannot open: %s", path, strerror(errno));
    int grc = gnutls_hash_init(&h, GNUTLS_DIG_SHA256);
    if (grc < 0) {
        h = NULL;
        rc = glia_err_set(err, GLIA_ENOMEM, "%s: SHA-256: %s", path, gnutls_strerror(grc));
        goto done;
    }
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        if ((grc = gnutls_hash(h, buf, got)) < 0) {
            rc = glia_err_set(err, GLIA_ENOMEM, "%s: SHA-256: %s", path, gnutls_strerror(grc));
            goto done;
        }
    if (ferror(f)) {
        rc = glia_err_set(err, GLIA_EIO, "%s: read error", path);
        goto done;
    }
done:
    /* deinit with a digest pointer finishes the hash: one call both outputs and frees */
    if (h)
        gnutls_hash_deinit(h, rc == GLIA_OK ? digest : NULL);
    fclose(f);
    if (rc == GLIA_OK)
        digest_hex(digest, hex);
    return rc;
}
