/*
 * cli_translate.c - `glia eval/predict` for translation bundles (translate-en-es): see cli.h.
 * eval's last two lines are exactly bleu=NN.NN and chrf=NN.NN (core/train/mtscore.h), on the
 * test split of gettext-en-es, translated with the manifest's decoding settings unless
 * --beam N says otherwise.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/train/run.h"
#include "cli/cli.h"

int glia_cli_eval_translation(const glia_bundle *b, long limit, int beam_option, const char *dir)
{
    glia_err err = {0};
    glia_gt_set set = {0};
    glia_mt_data test = {0};
    glia_mt_stats *stats = NULL;
    double loss = 0.0, acc = 0.0;
    int rc = 1;
    const glia_manifest *m = &b->manifest;
    const int beam = beam_option ? beam_option : m->decoding.beam_size;
    if (glia_gt_load_dir(dir ? dir : glia_gt_default_dir(), &set, &err) ||
        glia_mt_data_encode(&set, GLIA_GT_TEST, b->bpe, m->max_tokens, m->s2s.max_positions, 0, limit, &test,
                            &err) ||
        glia_mt_evaluate(b->s2s, &test, &loss, &acc, &err) || glia_mt_stats_new(&stats, &err) ||
        glia_run_score_translation(b->s2s, b->bpe, &set, &test, beam, stats, &err)) {
        glia_cli_fail(&err);
        goto done;
    }
    printf("model: %s (weights sha256 %s)\n", m->name, b->sha256);
    printf("test: dataset=gettext-en-es sentences=%d token_accuracy=%.4f loss=%.4f beam=%d truncated=%d\n",
           test.n, acc, loss, beam, test.truncated);
    glia_mt_print(stats, stdout);
    rc = 0;
done:
    glia_mt_stats_free(stats);
    glia_mt_data_free(&test);
    glia_gt_free(&set);
    return rc;
}

int glia_cli_predict_translation(const glia_bundle *b, int n, char **texts, int beam)
{
    glia_err err = {0};
    glia_s2s_dec *dec = NULL;
    glia_bpe_ids ids = {0};
    char *text = NULL;
    const glia_manifest *m = &b->manifest;
    glia_s2s_search opts = m->decoding;
    if (beam)
        opts.beam_size = beam;
    int rc = 0;
    if (glia_s2s_dec_new(b->s2s, 1, m->max_tokens, opts.beam_size, &dec, &err))
        return glia_cli_fail(&err);
    for (int i = 0; i < n; i++) {
        glia_s2s_output out;
        int32_t len;
        if (strspn(texts[i], " \t\n\r\f\v") == strlen(texts[i])) {
            fprintf(stderr, "glia: argument %d is empty: give a sentence to translate\n", i + 1);
            rc = 1;
            continue;
        }
        if (glia_bpe_encode(b->bpe, texts[i], strlen(texts[i]), GLIA_BPE_ADD_EOS, &ids, &err) ||
            (ids.n > (size_t)m->max_tokens &&
             glia_err_set(&err, GLIA_EINVAL, "%zu tokens: longer than the model's input.max_tokens (%d)",
                          ids.n, m->max_tokens)) ||
            ((len = (int32_t)ids.n),
             glia_s2s_translate(b->s2s, dec, ids.ids, &len, 1, len, &opts, &out, &err)) ||
            glia_bpe_decode(b->bpe, out.ids, (size_t)out.n, &text, NULL, &err)) {
            fprintf(stderr, "glia: %s: %s\n", texts[i], err.msg);
            rc = 1;
            continue;
        }
        printf("%s\t%s\n", texts[i], text);
        free(text);
        text = NULL;
    }
    glia_bpe_ids_free(&ids);
    glia_s2s_dec_free(dec);
    return rc;
}

/* Rows of ids [n, steps] -> lengths (leading non-padding ids); a padding id before a real
 * one, or an empty row, is an error. */
static int row_lengths(const int32_t *ids, int n, int steps, int32_t *len, const char *what, glia_err *err)
{
    for (int i = 0; i < n; i++) {
        int l = 0;
        while (l < steps && ids[(size_t)i * (size_t)steps + (size_t)l] != GLIA_S2S_PAD)
            l++;
        for (int t = l; t < steps; t++)
            if (ids[(size_t)i * (size_t)steps + (size_t)t] != GLIA_S2S_PAD)
                return glia_err_set(err, GLIA_EINVAL, "%s row %d: padding (0) must only trail", what, i);
        if (l == 0)
            return glia_err_set(err, GLIA_EINVAL, "%s row %d is empty", what, i);
        len[i] = l;
    }
    return 0;
}

int glia_cli_forward_translation(const glia_bundle *b, const char *in_path, const char *out_path)
{
    glia_err err = {0};
    glia_st_file *in = NULL;
    glia_s2s_ctx *ctx = NULL;
    float *f = NULL, *full = NULL;
    int32_t *src = NULL, *tgt = NULL, *slen = NULL, *tlen = NULL;
    int rc = 1;
    if (glia_st_open(in_path, &in, &err))
        goto done;
    const glia_st_tensor *ts = glia_st_find(in, "src"), *tt = glia_st_find(in, "tgt");
    if (!ts || !tt || ts->ndim != 2 || tt->ndim != 2 || ts->shape[0] != tt->shape[0] || ts->shape[0] < 1 ||
        ts->shape[1] < 1 || tt->shape[1] < 1 || ts->shape[0] > 4096 || ts->shape[1] > 4096 ||
        tt->shape[1] > 4096) {
        glia_err_set(&err, GLIA_EINVAL, "%s: expected tensors 'src' [B, S] and 'tgt' [B, T]", in_path);
        goto done;
    }
    const int B = (int)ts->shape[0], S = (int)ts->shape[1], T = (int)tt->shape[1], V = b->s2s->cfg.vocab_size;
    f = malloc(sizeof(float) * (size_t)B * (size_t)(S > T ? S : T));
    src = malloc(sizeof(int32_t) * (size_t)B * (size_t)S);
    tgt = malloc(sizeof(int32_t) * (size_t)B * (size_t)T);
    slen = malloc(sizeof(int32_t) * (size_t)B);
    tlen = malloc(sizeof(int32_t) * (size_t)B);
    full = calloc((size_t)B * (size_t)T * (size_t)V, sizeof(float));
    if (!f || !src || !tgt || !slen || !tlen || !full) {
        glia_err_set(&err, GLIA_ENOMEM, "out of memory");
        goto done;
    }
    const float *logits = NULL;
    int rows = 0;
    if (glia_cli_read_ints(ts, src, (size_t)B * (size_t)S, f, &err) ||
        glia_cli_read_ints(tt, tgt, (size_t)B * (size_t)T, f, &err) ||
        row_lengths(src, B, S, slen, "src", &err) || row_lengths(tgt, B, T, tlen, "tgt", &err) ||
        glia_s2s_ctx_new(b->s2s, B, S, T, 0, 0, &ctx, &err) ||
        glia_s2s_forward(b->s2s, ctx, src, slen, S, tgt, tlen, T, B, NULL, &logits, &rows, &err))
        goto done;
    int r = 0;
    for (int i = 0; i < B; i++)
        for (int t = 0; t < tlen[i]; t++, r++)
            memcpy(full + ((size_t)i * (size_t)T + (size_t)t) * (size_t)V, logits + (size_t)r * (size_t)V,
                   sizeof(float) * (size_t)V);
    int64_t shape[3] = {B, T, V};
    glia_st_entry e = {"logits", GLIA_DT_F32, 3, shape, full};
    if (glia_st_write(out_path, &e, 1, NULL, &err))
        goto done;
    rc = 0;
done:
    if (rc)
        glia_cli_fail(&err);
    glia_s2s_ctx_free(ctx);
    glia_st_close(in);
    free(f);
    free(full);
    free(src);
    free(tgt);
    free(slen);
    free(tlen);
    return rc;
}
