/*
 * cli_text.c - `glia train/eval/predict/forward` for text-classification bundles (the
 * sentiment model): see cli.h. Output formats follow the image commands: one progress
 * line per epoch, and eval's last line is exactly accuracy=0.XXXX.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/nn/kernels.h"
#include "core/train/texttrain.h"
#include "cli/cli.h"

static void print_per_source(const char *what, const glia_text_data *d, const double *per_source, double acc)
{
    printf("%s: examples=%d", what, d->n);
    for (int s = 0; s < GLIA_UCI_NSOURCES; s++)
        if (per_source[s] >= 0)
            printf(" %s=%.4f", glia_uci_source_name((glia_uci_source)s), per_source[s]);
    printf(" overall=%.4f\n", acc);
}

int glia_cli_eval_text(const glia_bundle *b)
{
    glia_err err = {0};
    glia_uci_set set = {0};
    glia_text_data test = {0};
    double loss, acc, per_source[GLIA_UCI_NSOURCES];
    int rc = 1;
    if (glia_uci_load(glia_uci_default_dir(), &set, &err) ||
        glia_text_data_from_uci(&set, GLIA_UCI_TEST, b->vocab, b->manifest.max_tokens, &test, &err) ||
        glia_text_evaluate(b->text, &test, &loss, &acc, per_source, &err)) {
        glia_cli_fail(&err);
        goto done;
    }
    printf("model: %s (weights sha256 %s)\n", b->manifest.name, b->sha256);
    printf("test: dataset=uci-sentiment loss=%.4f truncated=%d\n", loss, test.truncated);
    print_per_source("test", &test, per_source, acc);
    printf("accuracy=%.4f\n", acc);
    rc = 0;
done:
    glia_text_data_free(&test);
    glia_uci_free(&set);
    return rc;
}

int glia_cli_predict_text(const glia_bundle *b, int n, char **texts)
{
    glia_err err = {0};
    glia_textnet_ctx *ctx = NULL;
    const int max = b->manifest.max_tokens, k = b->text->cfg.num_classes;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)max);
    float *probs = malloc(sizeof(float) * (size_t)k);
    int rc = 0;
    if (!ids || !probs || glia_textnet_ctx_new(b->text, 1, max, 0, &ctx, &err)) {
        rc = glia_cli_fail(&err);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const char *text = texts[i];
        size_t len = strlen(text);
        int32_t length;
        int steps;
        const float *logits = NULL;
        if (glia_bundle_text_input(b, &text, &len, 1, ids, &length, &steps, NULL, &err) ||
            glia_textnet_forward(b->text, ctx, ids, &length, 1, steps, NULL, &logits, &err)) {
            fprintf(stderr, "glia: \"%s\": %s\n", text, err.msg);
            rc = 1;
            continue;
        }
        glia_softmax(logits, probs, 1, k);
        int best = 0;
        for (int j = 1; j < k; j++)
            best = probs[j] > probs[best] ? j : best;
        printf("%s\t%.4f\t%s\n", b->manifest.nlabels ? b->manifest.labels[best] : "?", probs[best], text);
    }
done:
    glia_textnet_ctx_free(ctx);
    free(ids);
    free(probs);
    return rc;
}

/* t as int32: I32 and I64 (PyTorch's default for token ids) as they are, any float dtype
 * through the float32 reader (exact below 2^24, far above any vocabulary). scratch holds
 * count floats. */
int glia_cli_read_ints(const glia_st_tensor *t, int32_t *out, size_t count, float *scratch, glia_err *err)
{
    if (glia_st_numel(t) != count)
        return glia_err_set(err, GLIA_EINVAL, "tensor '%s' has %zu elements, expected %zu", t->name,
                            glia_st_numel(t), count);
    if (t->dtype == GLIA_DT_I32 || t->dtype == GLIA_DT_I64) {
        const unsigned char *p = t->data; /* may be unaligned: memcpy */
        for (size_t i = 0; i < count; i++) {
            int64_t v = 0;
            if (t->dtype == GLIA_DT_I32) {
                int32_t v32;
                memcpy(&v32, p + i * 4, 4);
                v = v32;
            } else {
                memcpy(&v, p + i * 8, 8);
            }
            if (v < INT32_MIN || v > INT32_MAX)
                return glia_err_set(err, GLIA_EINVAL, "tensor '%s'[%zu] = %lld does not fit int32", t->name,
                                    i, (long long)v);
            out[i] = (int32_t)v;
        }
        return 0;
    }
    if (glia_st_read_f32(t, scratch, count, err))
        return 1;
    for (size_t i = 0; i < count; i++)
        out[i] = (int32_t)scratch[i];
    return 0;
}

int glia_cli_forward_text(const glia_bundle *b, const char *in_path, const char *out_path)
{
    glia_err err = {0};
    glia_st_file *in = NULL;
    glia_textnet_ctx *ctx = NULL;
    float *f = NULL;
    int32_t *ids = NULL, *lengths = NULL;
    int rc = 1;
    if (glia_st_open(in_path, &in, &err))
        goto done;
    const glia_st_tensor *ti = glia_st_find(in, "ids"), *tl = glia_st_find(in, "lengths");
    if (!ti || !tl || ti->ndim != 2 || tl->ndim != 1 || ti->shape[0] != tl->shape[0] || ti->shape[0] < 1 ||
        ti->shape[1] < 1 || ti->shape[0] > 65536 || ti->shape[1] > 65536) {
        glia_err_set(&err, GLIA_EINVAL, "%s: expected tensors 'ids' [N, T] and 'lengths' [N]", in_path);
        goto done;
    }
    const int n = (int)ti->shape[0], t = (int)ti->shape[1];
    const size_t count = (size_t)n * (size_t)t;
    f = malloc(sizeof(float) * count);
    ids = malloc(sizeof(int32_t) * count);
    lengths = malloc(sizeof(int32_t) * (size_t)n);
    if (!f || !ids || !lengths) {
        glia_err_set(&err, GLIA_ENOMEM, "out of memory");
        goto done;
    }
    if (glia_cli_read_ints(ti, ids, count, f, &err) || glia_cli_read_ints(tl, lengths, (size_t)n, f, &err))
        goto done;
    const float *logits = NULL;
    if (glia_textnet_ctx_new(b->text, n, t, 0, &ctx, &err) ||
        glia_textnet_forward(b->text, ctx, ids, lengths, n, t, NULL, &logits, &err))
        goto done;
    int64_t shape[2] = {n, b->text->cfg.num_classes};
    glia_st_entry e = {"logits", GLIA_DT_F32, 2, shape, logits};
    if (glia_st_write(out_path, &e, 1, NULL, &err))
        goto done;
    rc = 0;
done:
    if (rc)
        glia_cli_fail(&err);
    glia_textnet_ctx_free(ctx);
    glia_st_close(in);
    free(f);
    free(ids);
    free(lengths);
    return rc;
}
