/*
 * plot.h - a training history's curves as a picture: what `glia plot` draws. Panels stacked
 * above one step axis: the loss of every step (and the validation loss at each evaluation),
 * the learning rate, and the evaluations' accuracies. SVG is written as text (axes, ticks,
 * labels, one polyline a curve); PNG is rasterised here (lines, the small font of
 * font5x7.h) and encoded by libpng. Both draw through the same layout, so they agree.
 */
#ifndef GLIA_TRAIN_PLOT_H
#define GLIA_TRAIN_PLOT_H

#include <stddef.h>

#include "core/base/err.h"
#include "core/train/history.h"

enum {
    GLIA_PLOT_MAX_SERIES = 4,
    GLIA_PLOT_MAX_PANELS = 3,
    GLIA_PLOT_WIDTH = 800,
    GLIA_PLOT_PANEL_HEIGHT = 240
};

typedef struct {
    const char *name; /* legend (static) */
    unsigned rgb;     /* 0xRRGGBB */
    int dots;         /* draw a dot at each point (evaluations: few points) */
    size_t n;
    double *x, *y; /* owned */
} glia_plot_series;

typedef struct {
    const char *title; /* static */
    int nseries;
    glia_plot_series series[GLIA_PLOT_MAX_SERIES];
} glia_plot_panel;

typedef struct {
    int npanels;
    glia_plot_panel panel[GLIA_PLOT_MAX_PANELS];
} glia_plot;

/* The panels of a history page (history.h): loss, learning rate, and accuracy when it has
 * evaluations. GLIA_EINVAL when it holds no step. Free with glia_plot_free, also after an
 * error. */
glia_status glia_plot_from_history(const glia_history_page *h, glia_plot *out, glia_err *err);
void glia_plot_free(glia_plot *p);

/* The picture's size in pixels (the SVG's viewBox). */
void glia_plot_size(const glia_plot *p, int *width, int *height);

/* Writes the plot to path (atomically) as SVG or PNG. */
glia_status glia_plot_write_svg(const glia_plot *p, const char *path, glia_err *err);
glia_status glia_plot_write_png(const glia_plot *p, const char *path, glia_err *err);

#endif
