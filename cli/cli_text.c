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
        glia_text_data_from_uci(&set, GLIA_UCI_TEST, glia_tokenizer_words(b->tokenizer),
                                b->manifest.max_tokens, &test, &err) ||
        glia_text_evaluate(b->model->impl, &test, &loss, &acc, per_source, &err)) {
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
