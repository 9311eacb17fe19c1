/*
 * cli_mt.c - `glia score` and `glia gettext`: translation scoring and the data set it is scored
 * on, for baselines outside glia (bench/translate_baselines.sh) and for checking a model's
 * output by hand.
 *
 *   glia score --hyp FILE --ref FILE
 *       one sentence per line in each ('\n' ends a line; a last line without one counts; the
 *       same number of lines in both, else nothing is scored); prints sacrebleu's BLEU details
 *       line, then exactly bleu=NN.NN and chrf=NN.NN (core/train/mtscore.h).
 *   glia gettext [--split train|dev|test] [--side en|es] [--dir DIR] [--dataset NAME]
 *       the cleaned texts of one split of gettext-en-es (core/data/gettext.h; default test,
 *       English, glia_gt_default_dir()), one per line in data-set order. Cleaning collapses all
 *       ASCII white space, so no text holds a '\n'; one that did would stop the command rather
 *       than shift every line after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/afile.h"
#include "core/data/gettext.h"
#include "core/data/helpdocs.h"
#include "core/train/mtscore.h"
#include "cli/cli.h"

/* A line file's size limit: far above any test set, well below a mistaken path to a model. */
#define LINES_MAX_BYTES ((size_t)1 << 30)

typedef struct {
    char *data;
    size_t n;      /* number of lines */
    size_t *start; /* line i is data[start[i] .. start[i] + len[i]) */
    size_t *len;
} line_file;

static void line_file_free(line_file *f)
{
    free(f->data);
    free(f->start);
    free(f->len);
    memset(f, 0, sizeof *f);
}

static glia_status line_file_read(const char *path, const char *what, line_file *f, glia_err *err)
{
    size_t size;
    memset(f, 0, sizeof *f);
    glia_status rc = glia_file_read(path, LINES_MAX_BYTES, what, &f->data, &size, err);
    if (rc)
        return rc;
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += f->data[i] == '\n';
    if (size && f->data[size - 1] != '\n')
        lines++;
    f->start = malloc(sizeof(size_t) * (lines ? lines : 1));
    f->len = malloc(sizeof(size_t) * (lines ? lines : 1));
    if (!f->start || !f->len) {
        line_file_free(f);
        return glia_err_set(err, GLIA_ENOMEM, "%s: out of memory for %zu lines", path, lines);
    }
    for (size_t i = 0; i < size;) {
        const char *nl = memchr(f->data + i, '\n', size - i);
        size_t end = nl ? (size_t)(nl - f->data) : size;
        f->start[f->n] = i;
        f->len[f->n++] = end - i;
        i = end + 1;
    }
    return GLIA_OK;
}

enum { SCORE_HYP, SCORE_REF };

static int score(const glia_cli_args *a)
{
    const char *hyp_path = glia_cli_string(a, SCORE_HYP), *ref_path = glia_cli_string(a, SCORE_REF);
    glia_err err = {0};
    line_file hyp = {0}, ref = {0};
    glia_mt_stats *stats = NULL;
    int rc = 1;
    if (line_file_read(hyp_path, "a hypothesis file", &hyp, &err) ||
        line_file_read(ref_path, "a reference file", &ref, &err) || glia_mt_stats_new(&stats, &err)) {
        glia_cli_fail(&err);
        goto done;
    }
    if (hyp.n != ref.n) {
        fprintf(stderr, "glia: %s has %zu lines but %s has %zu: one hypothesis per reference line\n",
                hyp_path, hyp.n, ref_path, ref.n);
        goto done;
    }
    for (size_t i = 0; i < hyp.n; i++) {
        if (glia_mt_add(stats, hyp.data + hyp.start[i], hyp.len[i], ref.data + ref.start[i], ref.len[i],
                        &err)) {
            fprintf(stderr, "glia: line %zu: %s (%s, %s)\n", i + 1, err.msg, hyp_path, ref_path);
            goto done;
        }
    }
    glia_mt_print(stats, stdout);
    rc = 0;
done:
    glia_mt_stats_free(stats);
    line_file_free(&hyp);
    line_file_free(&ref);
    return rc;
}

enum { GETTEXT_SPLIT, GETTEXT_SIDE, GETTEXT_DIR, GETTEXT_DATASET };

static int gettext_split(const glia_cli_args *a)
{
    const char *split_name = glia_cli_string(a, GETTEXT_SPLIT);
    const char *side = glia_cli_string(a, GETTEXT_SIDE);
    const char *dir = glia_cli_string(a, GETTEXT_DIR);
    glia_gt_split split = GLIA_GT_TEST;
    if (split_name) {
        for (split = 0; split < GLIA_GT_NSPLITS && strcmp(split_name, glia_gt_split_name(split)) != 0;
             split++)
            ;
        if (split == GLIA_GT_NSPLITS)
            return glia_cli_usage_error(a->cmd, "--split expects train, dev or test, got '%s'", split_name);
    }
    if (side && strcmp(side, "en") != 0 && strcmp(side, "es") != 0)
        return glia_cli_usage_error(a->cmd, "--side expects en or es, got '%s'", side);
    const int es = side && strcmp(side, "es") == 0;
    glia_err err = {0};
    glia_gt_set set = {0};
    if (glia_pairs_load(glia_cli_string(a, GETTEXT_DATASET), dir, &set, &err))
        return glia_cli_fail(&err);
    int rc = 0;
    for (size_t i = 0; i < set.n; i++) {
        const glia_gt_pair *p = &set.pairs[i];
        if (p->split != split)
            continue;
        const char *text = es ? p->es : p->en;
        const size_t len = es ? p->es_len : p->en_len;
        if (memchr(text, '\n', len)) {
            fprintf(stderr, "glia: pair %zu (%s, message %u) holds a newline; the lines would not align\n", i,
                    set.files[p->file].name, p->message);
            rc = 1;
            break;
        }
        fwrite(text, 1, len, stdout);
        putchar('\n');
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("glia: stdout");
        rc = 1;
    }
    glia_gt_free(&set);
    return rc;
}

static const glia_cli_option score_options[] = {
    [SCORE_HYP] = {.name = "hyp",
                   .kind = GLIA_CLI_STRING,
                   .value = "FILE",
                   .required = 1,
                   .help = "the translations, one per line"},
    [SCORE_REF] = {.name = "ref",
                   .kind = GLIA_CLI_STRING,
                   .value = "FILE",
                   .required = 1,
                   .help = "the references, one per line, as many lines"},
};

const glia_cli_command glia_cli_score_command = {
    .name = "score",
    .summary = "corpus BLEU and chrF of translations against references",
    .args = "",
    .min_args = 0,
    .max_args = 0,
    .details = "Prints sacreBLEU's BLEU details line, then exactly bleu=NN.NN and chrf=NN.NN.\n",
    GLIA_CLI_OPTIONS(score_options),
    .run = score,
};

static const glia_cli_option gettext_options[] = {
    [GETTEXT_SPLIT] = {.name = "split",
                       .kind = GLIA_CLI_STRING,
                       .value = "train|dev|test",
                       .help = "which split (default: test)"},
    [GETTEXT_SIDE] = {.name = "side",
                      .kind = GLIA_CLI_STRING,
                      .value = "en|es",
                      .help = "which language (default: en)"},
    [GETTEXT_DIR] = {.name = "dir",
                     .kind = GLIA_CLI_STRING,
                     .value = "DIR",
                     .help = "the data set's directory (default: $GLIA_GETTEXT_EN_ES, $GLIA_DOCS_EN_ES)"},
    [GETTEXT_DATASET] = {.name = "dataset",
                         .kind = GLIA_CLI_STRING,
                         .value = "NAME",
                         .help = "gettext-en-es (default), docs-en-es or gettext-docs-en-es"},
};

const glia_cli_command glia_cli_gettext_command = {
    .name = "gettext",
    .summary = "print one split of the gettext-en-es pairs, a text per line",
    .args = "",
    .min_args = 0,
    .max_args = 0,
    .details = "The cleaned texts in data-set order, so that the lines of the two sides align.\n",
    GLIA_CLI_OPTIONS(gettext_options),
    .run = gettext_split,
};
