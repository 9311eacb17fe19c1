/*
 * cli.h - what the `glia` tool's command files (cli.c: images and dispatch, cli_text.c:
 * text models) share: option parsing, thread setup, progress lines.
 */
#ifndef GLIA_DAEMON_CLI_H
#define GLIA_DAEMON_CLI_H

#include <stdio.h>

#include "core/base/err.h"
#include "core/model/bundle.h"
#include "core/train/trainer.h"

void glia_cli_usage(FILE *f);
/* Prints "glia: <message>" to stderr; returns 1 (the exit code of a failed command). */
int glia_cli_fail(const glia_err *err);
void glia_cli_set_blas_threads(int n);
/* The value after argv's `name`, or NULL. */
const char *glia_cli_option(int argc, char **argv, const char *name);
/* Whether a flag (an option without a value) is present. */
int glia_cli_flag(int argc, char **argv, const char *name);
/* A non-negative integer option (exits with 2 on a malformed one), def when absent. */
long glia_cli_option_long(int argc, char **argv, const char *name, long def);
/* --threads N (default: every online core); BLAS is set to 1 thread. Returns N. */
int glia_cli_setup_threads(int argc, char **argv);
/* One line per epoch; user is the unit of samples/s ("images", "sentences") or NULL. */
int glia_cli_print_progress(const glia_progress *p, void *user);

/* cli_text.c: the text-classification side of train and eval. */
int glia_cli_eval_text(const glia_bundle *b);
/* Translation bundles (cli_translate.c): eval [--limit N] [--beam N] [--data DIR]. */
int glia_cli_eval_translation(const glia_bundle *b, int argc, char **argv);

/* cli_mt.c: `glia score --hyp FILE --ref FILE` (corpus BLEU and chrF of line files) and
 * `glia gettext [--split S] [--side en|es] [--dir DIR]` (one split of the data set, a text per line). */
int glia_cli_score(int argc, char **argv);
int glia_cli_gettext(int argc, char **argv);

/* cli_predict.c, for every model through the model interface:
 * predict: args[0..n) are image files (models over tensors) or texts; beam > 0 replaces the
 * manifest's beam size of a sequence model. One line per input on stdout, one per failure on
 * stderr; 1 if any failed.
 * forward IN OUT: "input" [N, C, H, W], or "ids" [N, T] + "lengths" [N] (classifiers over
 * tokens), or "src" [B, S] + "tgt" [B, T] token ids (sequence models, 0 = trailing padding)
 * -> "logits" [N, outputs], or [B, T, V] teacher-forced with 0 at padded positions. */
int glia_cli_predict(const glia_bundle *b, int n, char **args, int beam);
int glia_cli_forward(const glia_bundle *b, const char *in, const char *out);

#endif
