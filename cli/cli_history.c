/*
 * cli_history.c - what `glia train` shows while it trains and keeps after it, and `glia
 * plot`, which draws what it kept.
 *
 * On a terminal a progress bar is redrawn in place (at most ten times a second: redrawing
 * after every step would cost more than small steps do); elsewhere - a log file, a CI job -
 * stdout gets today's one line per epoch and no carriage returns. Either way every step
 * goes into DIR/history.jsonl (core/train/history.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/train/history.h"
#include "core/train/plot.h"

enum { BAR_WIDTH = 24 };
static const double REDRAW_SECONDS = 0.1;

struct glia_cli_progress {
    glia_history *history;
    const char *unit; /* of examples/s: "images", "sentences", "tokens" */
    int tty;
    int bar_shown;    /* the bar is on the current line (an epoch line must clear it first) */
    double last_draw; /* glia_train_clock() of the last redraw */
    double t_first;   /* time_s and done of this run's first step: the ETA's rate */
    double done_first;
    int have_first;
};

glia_status glia_cli_progress_open(const char *dir, int append, const char *unit, glia_cli_progress **out,
                                   glia_err *err)
{
    char path[4200];
    *out = NULL;
    glia_cli_progress *p = calloc(1, sizeof *p);
    if (!p)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/history.jsonl", dir);
    glia_status rc = glia_history_open(path, append, &p->history, err);
    if (rc != GLIA_OK) {
        free(p);
        return rc;
    }
    p->unit = unit;
    p->tty = isatty(STDOUT_FILENO);
    *out = p;
    return GLIA_OK;
}

void glia_cli_progress_plain(glia_cli_progress *p)
{
    if (p)
        p->tty = 0;
}

glia_status glia_cli_progress_close(glia_cli_progress *p, glia_err *err)
{
    if (!p)
        return GLIA_OK;
    if (p->bar_shown)
        fputs("\r\033[K", stdout);
    glia_status rc = glia_history_close(p->history, err);
    free(p);
    return rc;
}

/* "1:02:03" or "4:05": hours only when there are any. */
static void format_duration(char *buf, size_t len, double seconds)
{
    long s = seconds > 0 && seconds < 1e8 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
}

static void draw_bar(glia_cli_progress *p, const glia_train_record *rec)
{
    char bar[BAR_WIDTH + 1], eta[32] = "?";
    const int filled = (int)(rec->done * BAR_WIDTH + 0.5);
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    const double rate = (rec->done - p->done_first) / (rec->time_s - p->t_first); /* of the run per second */
    if (rate > 0)
        format_duration(eta, sizeof eta, (1.0 - rec->done) / rate);
    /* the total is an estimate: an adaptive batch policy changes the steps of an epoch */
    const long total = rec->done > 0 ? (long)((double)rec->step / rec->done + 0.5) : 0;
    printf("\repoch %d/%d [%s] %3.0f%%  step %ld/%ld  loss %.4f  %.0f %s/s  ETA %s\033[K", rec->epoch,
           rec->epochs, bar, rec->done * 100.0, rec->step, total, rec->loss, rec->examples_per_s, p->unit,
           eta);
    fflush(stdout);
    p->bar_shown = 1;
}

static void on_record(const glia_train_record *rec, void *user)
{
    glia_cli_progress *p = user;
    glia_history_add(p->history, rec);
    if (rec->kind != GLIA_RECORD_STEP || !p->tty)
        return;
    if (!p->have_first) {
        p->have_first = 1;
        p->t_first = rec->time_s;
        p->done_first = rec->done;
        return;
    }
    const double now = glia_train_clock();
    if (now - p->last_draw < REDRAW_SECONDS && rec->done < 1.0)
        return;
    p->last_draw = now;
    draw_bar(p, rec);
}

static int on_epoch(const glia_progress *pr, void *user)
{
    glia_cli_progress *p = user;
    if (p->bar_shown) { /* the epoch's line replaces the bar, which the next step redraws */
        fputs("\r\033[K", stdout);
        p->bar_shown = 0;
        p->last_draw = 0;
    }
    return glia_cli_print_progress(pr, (void *)p->unit);
}

void glia_cli_progress_hooks(glia_cli_progress *p, glia_run_hooks *h)
{
    h->progress = on_epoch;
    h->record = on_record;
    h->user = p;
}

/* ---- glia plot ---- */

enum { PLOT_OUT };

static int ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int cmd_plot(const glia_cli_args *a)
{
    glia_err err = {0};
    glia_history_page page = {0};
    glia_plot plot = {0};
    const char *in = a->args[0], *out = glia_cli_string(a, PLOT_OUT);
    const int svg = ends_with(out, ".svg"), png = ends_with(out, ".png");
    if (!svg && !png)
        return glia_cli_usage_error(a->cmd, "--out must name a .svg or a .png file (got '%s')", out);
    glia_status rc = glia_history_read(in, -1, 0, &page, &err);
    if (rc == GLIA_OK)
        rc = glia_plot_from_history(&page, &plot, &err);
    if (rc == GLIA_OK)
        rc = svg ? glia_plot_write_svg(&plot, out, &err) : glia_plot_write_png(&plot, out, &err);
    if (rc == GLIA_OK) {
        int w, h;
        glia_plot_size(&plot, &w, &h);
        printf("%s: %zu steps, %zu evaluations, %dx%d\n", out, json_array_size(page.steps),
               json_array_size(page.evals), w, h);
    }
    glia_plot_free(&plot);
    glia_history_page_free(&page);
    return rc == GLIA_OK ? 0 : glia_cli_fail(&err);
}

static const glia_cli_option plot_options[] = {
    [PLOT_OUT] = {.name = "out",
                  .kind = GLIA_CLI_STRING,
                  .value = "FILE",
                  .required = 1,
                  .help = "the picture: FILE.svg or FILE.png"},
};

const glia_cli_command glia_cli_plot_command = {
    .name = "plot",
    .summary = "draw a training history (history.jsonl) as curves, SVG or PNG",
    .args = "HISTORY",
    .min_args = 1,
    .max_args = 1,
    .details = "HISTORY is the history.jsonl that `glia train` writes beside the bundle (or what\n"
               "GET /v1/jobs/ID/history answers, one record a line). Panels: the loss of every step and\n"
               "the validation loss of every evaluation, the learning rate, and the evaluations'\n"
               "accuracies, against the step.\n",
    GLIA_CLI_OPTIONS(plot_options),
    .run = cmd_plot,
};
