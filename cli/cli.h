/*
 * cli.h - what the `glia` tool's command files share: the command table's row, option
 * parsing, thread setup, progress lines.
 *
 * Each command file (cli.c: train, eval, predict, forward; cli_mt.c: score, gettext)
 * describes its commands as glia_cli_command rows: arguments, options with their ranges,
 * and a handler that gets them parsed and checked. cli_args.c parses with getopt_long,
 * so every command answers --help the same way and every usage error (unknown option,
 * missing argument, bad number, too few or too many arguments) is a message, a usage
 * line and exit status 2. Handlers return 0 on success and 1 when the work failed.
 * The command bodies call core directly; only this tool prints or exits.
 */
#ifndef GLIA_CLI_CLI_H
#define GLIA_CLI_CLI_H

#include <stdio.h>

#include "core/base/err.h"
#include "core/model/bundle.h"
#include "core/train/run.h"
#include "core/train/trainer.h"

typedef enum {
    GLIA_CLI_FLAG,   /* --name, no argument */
    GLIA_CLI_STRING, /* --name VALUE */
    GLIA_CLI_NUMBER, /* --name N, a decimal integer in [min, max] */
} glia_cli_kind;

typedef struct {
    const char *name; /* the long name without "--" */
    glia_cli_kind kind;
    const char *value; /* the argument's name in usage lines ("N", "DIR"); NULL for flags */
    long min, max;     /* GLIA_CLI_NUMBER: the accepted range */
    int required;      /* the command refuses to run without it */
    const char *help;  /* one line for `glia COMMAND --help` */
} glia_cli_option;

enum { GLIA_CLI_MAX_OPTIONS = 12 }; /* eval has 10; GLIA_CLI_BIT masks hold 32 */

struct glia_cli_args;

typedef struct {
    const char *name;               /* argv[1] */
    const char *summary;            /* one line for `glia --help` */
    const char *args;               /* the positional arguments in usage lines: "DIR INPUT..." */
    int min_args;                   /* how many positional arguments it needs */
    int max_args;                   /* and takes at most; -1: no limit */
    const char *details;            /* paragraph for `glia COMMAND --help` (lines ending in '\n'), or NULL */
    const glia_cli_option *options; /* noptions of them (at most GLIA_CLI_MAX_OPTIONS) */
    int noptions;
    int (*run)(const struct glia_cli_args *a);
} glia_cli_command;

/* In a glia_cli_command initializer: the option table and its length. */
#define GLIA_CLI_OPTIONS(table) .options = (table), .noptions = (int)(sizeof(table) / sizeof((table)[0]))

/* A command line parsed against its command: positional arguments in order, and for each
 * option (same index as cmd->options) whether it was given and its value. */
typedef struct glia_cli_args {
    const glia_cli_command *cmd;
    int nargs;
    char **args; /* owned array (glia_cli_args_free); the strings are argv's */
    struct {
        int given;
        long number;      /* GLIA_CLI_NUMBER */
        const char *text; /* GLIA_CLI_STRING, borrowed from argv */
    } opt[GLIA_CLI_MAX_OPTIONS];
} glia_cli_args;

/* glia_cli_parse's answer when the command should run (any other answer is the exit status). */
enum { GLIA_CLI_RUN = -1 };

/* Parses argv (argv[0] is the command's name; getopt_long's messages name "glia COMMAND")
 * into a. Options may come before, between or after the arguments; "--" ends them, so an
 * argument may start with '-' after it. Returns GLIA_CLI_RUN (a filled, to be freed),
 * 0 after printing the command's help for --help, or 2 after a usage error. */
int glia_cli_parse(const glia_cli_command *cmd, int argc, char **argv, glia_cli_args *a);
void glia_cli_args_free(glia_cli_args *a);

/* The usage line "usage: glia NAME ARGS [--opt N]..." to f; with full, the summary, the
 * details and one line per option too (what --help prints). */
void glia_cli_command_usage(const glia_cli_command *cmd, FILE *f, int full);
/* Prints "glia COMMAND: <message>", the usage line and a pointer to --help to stderr;
 * returns 2, the exit status of a usage error. */
int glia_cli_usage_error(const glia_cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* For options that make no sense for the model or recipe at hand: the first of the options
 * in mask (GLIA_CLI_BIT(i) for cmd->options[i]) that was given is a usage error ("--beam
 * does not apply to <what>"), returned as 2; 0 when none was given. */
int glia_cli_refuse(const glia_cli_args *a, unsigned mask, const char *what);
#define GLIA_CLI_BIT(option) (1u << (option))
#define GLIA_CLI_ALL         (~0u)
/* An option's value, or def when it was not given. */
long glia_cli_number(const glia_cli_args *a, int option, long def);
const char *glia_cli_string(const glia_cli_args *a, int option);

/* Prints "glia: <message>" to stderr; returns 1 (the exit code of a failed command). */
int glia_cli_fail(const glia_err *err);
void glia_cli_set_blas_threads(int n);
/* The --threads value (0: every online core, at most 64) becomes N glia workers; BLAS is
 * set to 1 thread. Returns N. */
int glia_cli_setup_threads(long threads);
/* One line per epoch; user is the unit of samples/s ("images", "sentences") or NULL. */
int glia_cli_print_progress(const glia_progress *p, void *user);

/* cli_history.c: glia train's display and history. A progress bar redrawn in place when
 * stdout is a terminal, else the lines of glia_cli_print_progress; every step and evaluation
 * into DIR/history.jsonl (continued, with append, by a run resumed from a checkpoint). */
typedef struct glia_cli_progress glia_cli_progress;
glia_status glia_cli_progress_open(const char *dir, int append, const char *unit, glia_cli_progress **out,
                                   glia_err *err);
/* Plain lines even on a terminal: under mpirun, whose forwarding of each rank's output
 * (through a pty) does not keep a bar redrawn with \r in place. */
void glia_cli_progress_plain(glia_cli_progress *p);
/* Sets h's progress, record and user to p's. */
void glia_cli_progress_hooks(glia_cli_progress *p, glia_run_hooks *h);
/* Clears the bar and closes the history (NULL-safe); GLIA_EIO when a write failed. */
glia_status glia_cli_progress_close(glia_cli_progress *p, glia_err *err);
/* `glia plot HISTORY --out FILE.svg|FILE.png` */
extern const glia_cli_command glia_cli_plot_command;

/* cli_predict.c, for every model through the model interface:
 * predict: args[0..n) are image files (models over tensors) or texts; beam > 0 replaces the
 * manifest's beam size of a sequence model. One line per input on stdout, one per failure on
 * stderr; 1 if any failed.
 * forward IN OUT: "input" [N, C, H, W], or "ids" [N, T] + "lengths" [N] (classifiers over
 * tokens), or "src" [B, S] + "tgt" [B, T] token ids (sequence models, 0 = trailing padding)
 * -> "logits" [N, outputs], or [B, T, V] teacher-forced with 0 at padded positions. */
int glia_cli_predict(const glia_bundle *b, int n, char **args, int beam);
int glia_cli_forward(const glia_bundle *b, const char *in, const char *out);

/* cli_mt.c: `glia score` (corpus BLEU and chrF of line files) and `glia gettext` (one split
 * of the data set, a text per line). */
extern const glia_cli_command glia_cli_score_command;
extern const glia_cli_command glia_cli_gettext_command;

#endif
