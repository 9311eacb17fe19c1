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

/* cli_text.c: the text-classification side of train, eval, predict and forward. */
int glia_cli_eval_text(const glia_bundle *b);
/* Translation bundles (cli_translate.c): eval [--limit N] [--beam N] [--data DIR], predict TEXT... [--beam
 * N]. */
int glia_cli_eval_translation(const glia_bundle *b, int argc, char **argv);
int glia_cli_predict_translation(const glia_bundle *b, int argc, char **argv);
int glia_cli_predict_text(const glia_bundle *b, int n, char **texts);
int glia_cli_forward_text(const glia_bundle *b, const char *in, const char *out);

/* cli_mt.c: `glia score --hyp FILE --ref FILE` (corpus BLEU and chrF of line files) and
 * `glia gettext [--split S] [--side en|es] [--dir DIR]` (one split of the data set, a text per line). */
int glia_cli_score(int argc, char **argv);
int glia_cli_gettext(int argc, char **argv);
/* An integer tensor (I32, I64, or F32 holding integers) of count elements as int32. */
int glia_cli_read_ints(const glia_st_tensor *t, int32_t *out, size_t count, float *scratch, glia_err *err);
/* forward IN OUT for a translation bundle: "src" [B, S] and "tgt" [B, T] token ids (0 = padding,
 * trailing) -> "logits" [B, T, V], teacher-forced, 0 at padded positions. */
int glia_cli_forward_translation(const glia_bundle *b, const char *in, const char *out);

#endif
