/*
 * cli.h - what the `glia` tool's command files (cli.c: images and dispatch, cli_text.c:
 * text models) share: option parsing, thread setup, progress lines, file copies.
 */
#ifndef GLIA_DAEMON_CLI_H
#define GLIA_DAEMON_CLI_H

#include <stdio.h>

#include "core/base/err.h"
#include "core/io/bundle.h"
#include "core/train/trainer.h"

void glia_cli_usage(FILE *f);
/* Prints "glia: <message>" to stderr; returns 1 (the exit code of a failed command). */
int glia_cli_fail(const glia_err *err);
void glia_cli_set_blas_threads(int n);
/* The value after argv's `name`, or NULL. */
const char *glia_cli_option(int argc, char **argv, const char *name);
/* A non-negative integer option (exits with 2 on a malformed one), def when absent. */
long glia_cli_option_long(int argc, char **argv, const char *name, long def);
/* --threads N (default: every online core); BLAS is set to 1 thread. Returns N. */
int glia_cli_setup_threads(int argc, char **argv);
/* One line per epoch; user is the unit of samples/s ("images", "sentences") or NULL. */
int glia_cli_print_progress(const glia_progress *p, void *user);
int glia_cli_copy_file(const char *src, const char *dst, glia_err *err);
int glia_cli_same_file(const char *a, const char *b);
/* The non-weight files of a trained bundle in out: model.yaml (the recipe's manifest with
 * results_yaml below its results marker), recipe.yaml and labels.txt. 0, or 1 with err. */
int glia_cli_write_bundle_files(const glia_recipe *recipe, const glia_manifest *m, const char *out,
                                const char *results, glia_err *err);

/* cli_text.c: the text-classification side of train, eval, predict and forward. */
int glia_cli_train_text(const glia_recipe *recipe, const char *out);
int glia_cli_eval_text(const glia_bundle *b);
int glia_cli_predict_text(const glia_bundle *b, int n, char **texts);
int glia_cli_forward_text(const glia_bundle *b, const char *in, const char *out);

#endif
