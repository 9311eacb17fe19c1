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
        glia_mt_data_encode(&set, GLIA_GT_TEST, glia_tokenizer_subwords(b->tokenizer), m->max_tokens,
                            m->s2s.max_positions, 0, limit, &test, &err) ||
        glia_mt_evaluate(b->model->impl, &test, &loss, &acc, &err) || glia_mt_stats_new(&stats, &err) ||
        glia_run_score_translation(b->model->impl, glia_tokenizer_subwords(b->tokenizer), &set, &test, beam,
                                   stats, &err)) {
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
