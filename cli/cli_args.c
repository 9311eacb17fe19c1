/*
 * cli_args.c - a command's argv against its glia_cli_command row: see cli.h.
 *
 * getopt_long does the scanning, so long options behave as in other GNU tools (--beam 2,
 * --beam=2, unambiguous prefixes, "--" ends the options) and its messages name
 * "glia COMMAND". It runs in return-in-order mode ("-" leading the short options) rather
 * than its default permuting mode: the same result for `glia predict DIR "text" --beam 2`,
 * but independent of POSIXLY_CORRECT, which would otherwise turn "--beam" and "2" into
 * sentences again.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* getopt_long's value for cmd->options[i]: above every character, so no short option
 * (only -h) can collide with one. */
#define OPTION_VALUE(i) (256 + (i))

static void usage_line(const glia_cli_command *cmd, FILE *f)
{
    fprintf(f, "usage: glia %s", cmd->name);
    if (cmd->args && *cmd->args)
        fprintf(f, " %s", cmd->args);
    for (int i = 0; i < cmd->noptions; i++) {
        const glia_cli_option *o = &cmd->options[i];
        fprintf(f, " %s--%s%s%s%s", o->required ? "" : "[", o->name, o->value ? " " : "",
                o->value ? o->value : "", o->required ? "" : "]");
    }
    fputc('\n', f);
}

void glia_cli_command_usage(const glia_cli_command *cmd, FILE *f, int full)
{
    if (full)
        fprintf(f, "glia %s - %s\n\n", cmd->name, cmd->summary);
    usage_line(cmd, f);
    if (!full)
        return;
    if (cmd->details)
        fprintf(f, "\n%s", cmd->details);
    fprintf(f, "\noptions:\n");
    for (int i = 0; i < cmd->noptions; i++) {
        const glia_cli_option *o = &cmd->options[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->value ? " " : "", o->value ? o->value : "");
        fprintf(f, "  %-16s %s%s\n", left, o->help, o->required ? " (required)" : "");
    }
    fprintf(f, "  %-16s %s\n", "-h, --help", "print this help and exit");
}

/* The lines after a usage error's message: the usage line and where to read more. */
static int usage_tail(const glia_cli_command *cmd)
{
    usage_line(cmd, stderr);
    fprintf(stderr, "Try 'glia %s --help' for more information.\n", cmd->name);
    return 2;
}

int glia_cli_usage_error(const glia_cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "glia %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return usage_tail(cmd);
}

/* A whole decimal integer in [o->min, o->max]: no sign games, no trailing text, no overflow. */
static int parse_number(const glia_cli_command *cmd, const glia_cli_option *o, const char *v, long *out)
{
    char *end = NULL;
    long x = 0;
    errno = 0;
    if (*v == '-' || (*v >= '0' && *v <= '9')) /* strtol alone would skip white space and take '+' */
        x = strtol(v, &end, 10);
    if (!end || end == v || *end || errno == ERANGE || x < o->min || x > o->max)
        return glia_cli_usage_error(cmd, "--%s expects an integer from %ld to %ld, got '%s'", o->name, o->min,
                                    o->max, v);
    *out = x;
    return 0;
}

int glia_cli_parse(const glia_cli_command *cmd, int argc, char **argv, glia_cli_args *a)
{
    /* getopt_long names the program after argv[0] in its messages */
    static char program[64];
    struct option longopts[GLIA_CLI_MAX_OPTIONS + 2];
    int help = 0, n = 0, c;

    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    GLIA_ASSERT(cmd->noptions <= GLIA_CLI_MAX_OPTIONS);
    for (int i = 0; i < cmd->noptions; i++)
        longopts[n++] = (struct option){
            cmd->options[i].name, cmd->options[i].kind == GLIA_CLI_FLAG ? no_argument : required_argument,
            NULL, OPTION_VALUE(i)};
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    if (!(a->args = malloc(sizeof(char *) * (size_t)(argc > 0 ? argc : 1)))) {
        fprintf(stderr, "glia: out of memory\n");
        return 1;
    }
    snprintf(program, sizeof program, "glia %s", cmd->name);
    argv[0] = program;
    optind = 0; /* glibc: a full restart of the scan */
    opterr = 1;
    while ((c = getopt_long(argc, argv, "-h", longopts, NULL)) != -1) {
        if (c == 1) { /* an argument, in its place among the options */
            a->args[a->nargs++] = optarg;
        } else if (c == 'h') {
            help = 1;
        } else if (c >= OPTION_VALUE(0) && c < OPTION_VALUE(cmd->noptions)) {
            const int i = c - OPTION_VALUE(0);
            const glia_cli_option *o = &cmd->options[i];
            a->opt[i].given = 1;
            a->opt[i].text = optarg;
            if (o->kind == GLIA_CLI_NUMBER && parse_number(cmd, o, optarg, &a->opt[i].number))
                goto usage_error;
        } else { /* '?': getopt_long has printed what was wrong */
            usage_tail(cmd);
            goto usage_error;
        }
    }
    while (optind < argc) /* after "--" */
        a->args[a->nargs++] = argv[optind++];
    if (help) {
        glia_cli_command_usage(cmd, stdout, 1);
        glia_cli_args_free(a);
        return 0;
    }
    for (int i = 0; i < cmd->noptions; i++)
        if (cmd->options[i].required && !a->opt[i].given) {
            glia_cli_usage_error(cmd, "--%s %s is required", cmd->options[i].name, cmd->options[i].value);
            goto usage_error;
        }
    if (a->nargs < cmd->min_args) {
        glia_cli_usage_error(cmd, "missing arguments: expected %s", cmd->args);
        goto usage_error;
    }
    if (cmd->max_args >= 0 && a->nargs > cmd->max_args) {
        glia_cli_usage_error(cmd, "unexpected argument '%s'", a->args[cmd->max_args]);
        goto usage_error;
    }
    return GLIA_CLI_RUN;
usage_error:
    glia_cli_args_free(a);
    return 2;
}

void glia_cli_args_free(glia_cli_args *a)
{
    free(a->args);
    a->args = NULL;
    a->nargs = 0;
}

int glia_cli_refuse(const glia_cli_args *a, unsigned mask, const char *what)
{
    for (int i = 0; i < a->cmd->noptions; i++)
        if ((mask >> i & 1u) && a->opt[i].given)
            return glia_cli_usage_error(a->cmd, "--%s does not apply to %s", a->cmd->options[i].name, what);
    return 0;
}

long glia_cli_number(const glia_cli_args *a, int option, long def)
{
    return a->opt[option].given ? a->opt[option].number : def;
}

const char *glia_cli_string(const glia_cli_args *a, int option)
{
    return a->opt[option].given ? a->opt[option].text : NULL;
}
