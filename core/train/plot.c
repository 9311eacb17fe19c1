/*
 * plot.c - see plot.h.
 *
 * One layout (draw()) speaks to a canvas with four operations - line, polyline, dot, text -
 * and two canvases carry them out: one prints SVG elements, one sets pixels in an RGB
 * buffer. So the SVG and the PNG of a history show the same axes, ticks and curves.
 */
#include "core/train/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/afile.h"
#include "core/image/image.h"
#include "core/train/font5x7.h"

enum { MARGIN_LEFT = 80, MARGIN_RIGHT = 24, MARGIN_TOP = 34, MARGIN_BOTTOM = 40, MAX_TICKS = 12 };

static const unsigned INK = 0x202020, GRID = 0xdddddd, BACKGROUND = 0xffffff;

/* ---- the history's series ---- */

/* Appends the numbers of key in each object of arr (NaN where absent or null) as a series. */
static glia_status add_series(glia_plot_panel *panel, const json_t *arr, const char *key, const char *name,
                              unsigned rgb, int dots, glia_err *err)
{
    const size_t n = json_array_size(arr);
    glia_plot_series *s = &panel->series[panel->nseries];
    if (n == 0)
        return GLIA_OK;
    s->x = malloc(sizeof(double) * n);
    s->y = malloc(sizeof(double) * n);
    panel->nseries++; /* counted at once: glia_plot_free frees what was allocated */
    if (!s->x || !s->y)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a plot of %zu points", n);
    s->name = name;
    s->rgb = rgb;
    s->dots = dots;
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(arr, i), *v = json_object_get(o, key);
        s->x[i] = (double)json_integer_value(json_object_get(o, "step"));
        s->y[i] = json_is_number(v) ? json_number_value(v) : NAN;
    }
    return GLIA_OK;
}

glia_status glia_plot_from_history(const glia_history_page *h, glia_plot *out, glia_err *err)
{
    glia_status rc;
    memset(out, 0, sizeof *out);
    if (json_array_size(h->steps) == 0)
        return glia_err_set(err, GLIA_EINVAL, "the history has no step to plot");
    glia_plot_panel *loss = &out->panel[0], *lr = &out->panel[1], *acc = &out->panel[2];
    loss->title = "loss";
    lr->title = "learning rate";
    acc->title = "accuracy";
    out->npanels = json_array_size(h->evals) ? 3 : 2;
    if ((rc = add_series(loss, h->steps, "loss", "train (step)", 0x2a5db0, 0, err)) ||
        (rc = add_series(loss, h->evals, "val_loss", "validation", 0xc8501e, 1, err)) ||
        (rc = add_series(lr, h->steps, "lr", "lr", 0x2e8b3a, 0, err)) ||
        (rc = add_series(acc, h->evals, "train_accuracy", "train", 0x2a5db0, 1, err)) ||
        (rc = add_series(acc, h->evals, "val_accuracy", "validation", 0xc8501e, 1, err)))
        return rc;
    return GLIA_OK;
}

void glia_plot_free(glia_plot *p)
{
    for (int i = 0; i < GLIA_PLOT_MAX_PANELS; i++)
        for (int k = 0; k < p->panel[i].nseries; k++) {
            free(p->panel[i].series[k].x);
            free(p->panel[i].series[k].y);
        }
    memset(p, 0, sizeof *p);
}

void glia_plot_size(const glia_plot *p, int *width, int *height)
{
    *width = GLIA_PLOT_WIDTH;
    *height = GLIA_PLOT_PANEL_HEIGHT * (p->npanels > 0 ? p->npanels : 1);
}

/* ---- the canvas ---- */

typedef struct canvas canvas;
typedef struct {
    void (*line)(canvas *c, double x0, double y0, double x1, double y1, unsigned rgb);
    void (*polyline)(canvas *c, const double *x, const double *y, size_t n, unsigned rgb);
    void (*dot)(canvas *c, double x, double y, unsigned rgb);
    /* anchor: -1 starts at x, 0 is centred on it, 1 ends at it; y is the text's middle */
    void (*text)(canvas *c, double x, double y, const char *s, int anchor, int big, unsigned rgb);
} canvas_ops;
struct canvas {
    const canvas_ops *ops;
};

/* ---- the layout ---- */

typedef struct {
    double lo, hi;
} range;

/* A tick spacing of 1, 2 or 5 times a power of ten giving about `target` ticks over r. */
static double tick_step(range r, int target)
{
    const double raw = (r.hi - r.lo) / target, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * mag;
}

/* The finite extent of the x (which = 0) or y values of a panel's series, widened when flat. */
static range extent(const glia_plot_panel *p, int which)
{
    range r = {INFINITY, -INFINITY};
    for (int k = 0; k < p->nseries; k++)
        for (size_t i = 0; i < p->series[k].n; i++) {
            const double v = which == 0 ? p->series[k].x[i] : p->series[k].y[i];
            if (isfinite(v) && isfinite(which == 0 ? p->series[k].y[i] : p->series[k].x[i])) {
                r.lo = v < r.lo ? v : r.lo;
                r.hi = v > r.hi ? v : r.hi;
            }
        }
    if (!(r.lo <= r.hi))
        r = (range){0.0, 1.0};
    if (r.hi - r.lo < 1e-12 * (fabs(r.hi) + 1.0)) { /* a flat curve still gets an axis */
        const double pad = fabs(r.hi) > 0 ? fabs(r.hi) * 0.1 : 1.0;
        r.lo -= pad;
        r.hi += pad;
    }
    return r;
}

static void tick_label(char *buf, size_t len, double v, double step)
{
    if (fabs(v) < step * 1e-6)
        v = 0.0; /* no "-0" and no 1e-17 for zero */
    snprintf(buf, len, "%.4g", v);
}

typedef struct {
    double x0, x1, y0, y1; /* the plot area in pixels */
    range xr, yr;
} frame;

static double px(const frame *f, double x)
{
    return f->x0 + (x - f->xr.lo) / (f->xr.hi - f->xr.lo) * (f->x1 - f->x0);
}

static double py(const frame *f, double y)
{
    return f->y1 - (y - f->yr.lo) / (f->yr.hi - f->yr.lo) * (f->y1 - f->y0);
}

static void draw_axes(canvas *c, const frame *f, const char *title, int last)
{
    char label[32];
    const double ys = tick_step(f->yr, 5), xs = tick_step(f->xr, 8);
    for (int k = 0; k < MAX_TICKS; k++) {
        const double v = (ceil(f->yr.lo / ys) + k) * ys;
        if (v > f->yr.hi + ys * 1e-9)
            break;
        c->ops->line(c, f->x0, py(f, v), f->x1, py(f, v), GRID);
        c->ops->line(c, f->x0 - 5, py(f, v), f->x0, py(f, v), INK);
        tick_label(label, sizeof label, v, ys);
        c->ops->text(c, f->x0 - 8, py(f, v), label, 1, 0, INK);
    }
    for (int k = 0; k < MAX_TICKS; k++) {
        const double v = (ceil(f->xr.lo / xs) + k) * xs;
        if (v > f->xr.hi + xs * 1e-9)
            break;
        c->ops->line(c, px(f, v), f->y1, px(f, v), f->y1 + 5, INK);
        tick_label(label, sizeof label, v, xs);
        c->ops->text(c, px(f, v), f->y1 + 14, label, 0, 0, INK);
    }
    c->ops->line(c, f->x0, f->y0, f->x0, f->y1, INK);
    c->ops->line(c, f->x0, f->y1, f->x1, f->y1, INK);
    c->ops->text(c, f->x0, f->y0 - 16, title, -1, 1, INK);
    if (last)
        c->ops->text(c, (f->x0 + f->x1) / 2, f->y1 + 30, "step", 0, 0, INK);
}

static void draw_series(canvas *c, const frame *f, const glia_plot_series *s, double *bx, double *by)
{
    size_t m = 0;
    for (size_t i = 0; i <= s->n; i++) {
        if (i < s->n && isfinite(s->y[i])) { /* runs of finite points are one polyline each */
            bx[m] = px(f, s->x[i]);
            by[m++] = py(f, s->y[i]);
            if (s->dots)
                c->ops->dot(c, bx[m - 1], by[m - 1], s->rgb);
            continue;
        }
        if (m > 1)
            c->ops->polyline(c, bx, by, m, s->rgb);
        m = 0;
    }
}

/* Draws p on c; bx, by: scratch for the longest series. */
static void draw(const glia_plot *p, canvas *c, double *bx, double *by)
{
    range xr = {INFINITY, -INFINITY};
    for (int i = 0; i < p->npanels; i++) { /* one step axis for every panel */
        const range r = extent(&p->panel[i], 0);
        xr.lo = r.lo < xr.lo ? r.lo : xr.lo;
        xr.hi = r.hi > xr.hi ? r.hi : xr.hi;
    }
    for (int i = 0; i < p->npanels; i++) {
        const glia_plot_panel *pan = &p->panel[i];
        const double top = (double)i * GLIA_PLOT_PANEL_HEIGHT;
        frame f = {MARGIN_LEFT,
                   GLIA_PLOT_WIDTH - MARGIN_RIGHT,
                   top + MARGIN_TOP,
                   top + GLIA_PLOT_PANEL_HEIGHT - MARGIN_BOTTOM,
                   xr,
                   extent(pan, 1)};
        const double pad = (f.yr.hi - f.yr.lo) * 0.05; /* curves off the frame's edges */
        f.yr.lo -= pad;
        f.yr.hi += pad;
        draw_axes(c, &f, pan->title, i == p->npanels - 1);
        double legend = f.x1;
        for (int k = pan->nseries - 1; k >= 0; k--) {
            c->ops->text(c, legend, f.y0 - 14, pan->series[k].name, 1, 0, pan->series[k].rgb);
            legend -= 6.0 * ((double)strlen(pan->series[k].name) + 3);
            draw_series(c, &f, &pan->series[k], bx, by);
        }
    }
}

/* The scratch draw() needs: as many points as the longest series. */
static glia_status scratch(const glia_plot *p, double **bx, double **by, glia_err *err)
{
    size_t n = 1;
    for (int i = 0; i < p->npanels; i++)
        for (int k = 0; k < p->panel[i].nseries; k++)
            n = p->panel[i].series[k].n > n ? p->panel[i].series[k].n : n;
    *bx = malloc(sizeof(double) * n);
    *by = malloc(sizeof(double) * n);
    if (!*bx || !*by)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a plot of %zu points", n);
    return GLIA_OK;
}

/* ---- SVG ---- */

typedef struct {
    canvas base;
    FILE *f;
} svg_canvas;

static void svg_line(canvas *c, double x0, double y0, double x1, double y1, unsigned rgb)
{
    fprintf(((svg_canvas *)c)->f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#%06x\" stroke-width=\"1\"/>\n",
            x0, y0, x1, y1, rgb);
}

static void svg_polyline(canvas *c, const double *x, const double *y, size_t n, unsigned rgb)
{
    FILE *f = ((svg_canvas *)c)->f;
    fprintf(f, "<polyline fill=\"none\" stroke=\"#%06x\" stroke-width=\"1.5\" points=\"", rgb);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%.1f,%.1f", i ? " " : "", x[i], y[i]);
    fprintf(f, "\"/>\n");
}

static void svg_dot(canvas *c, double x, double y, unsigned rgb)
{
    fprintf(((svg_canvas *)c)->f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#%06x\"/>\n", x, y, rgb);
}

static void svg_text(canvas *c, double x, double y, const char *s, int anchor, int big, unsigned rgb)
{
    FILE *f = ((svg_canvas *)c)->f;
    fprintf(f,
            "<text x=\"%.1f\" y=\"%.1f\" fill=\"#%06x\" font-family=\"sans-serif\" font-size=\"%d\" "
            "text-anchor=\"%s\" dominant-baseline=\"middle\">",
            x, y, rgb, big ? 15 : 11,
            anchor < 0    ? "start"
            : anchor == 0 ? "middle"
                          : "end");
    for (; *s; s++) /* the labels are ours, but a legend may one day carry a metric's name */
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    fputs("</text>\n", f);
}

static const canvas_ops svg_ops = {svg_line, svg_polyline, svg_dot, svg_text};

glia_status glia_plot_write_svg(const glia_plot *p, const char *path, glia_err *err)
{
    glia_afile a = {0};
    double *bx = NULL, *by = NULL;
    int w, h;
    glia_plot_size(p, &w, &h);
    glia_status rc = scratch(p, &bx, &by, err);
    if (rc == GLIA_OK && (rc = glia_afile_open(&a, path, 0644, err)) == GLIA_OK) {
        svg_canvas c = {{&svg_ops}, a.f};
        fprintf(
            a.f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n"
            "<title>training history</title>\n<rect width=\"%d\" height=\"%d\" fill=\"#%06x\"/>\n",
            w, h, w, h, w, h, BACKGROUND);
        draw(p, &c.base, bx, by);
        fputs("</svg>\n", a.f);
        rc = glia_afile_commit(&a, err);
    }
    free(bx);
    free(by);
    return rc;
}

/* ---- PNG ---- */

typedef struct {
    canvas base;
    unsigned char *rgb; /* w * h * 3 */
    int w, h;
} raster;

static void put(raster *r, long x, long y, unsigned rgb)
{
    if (x < 0 || y < 0 || x >= r->w || y >= r->h)
        return;
    unsigned char *p = r->rgb + ((size_t)y * (size_t)r->w + (size_t)x) * 3;
    p[0] = (unsigned char)(rgb >> 16);
    p[1] = (unsigned char)(rgb >> 8);
    p[2] = (unsigned char)rgb;
}

/* A line one pixel wide, stepping along its longer axis (thick: two pixels). */
static void raster_segment(raster *r, double x0, double y0, double x1, double y1, unsigned rgb, int thick)
{
    const double dx = x1 - x0, dy = y1 - y0;
    const long n = (long)ceil(fmax(fabs(dx), fabs(dy)));
    const int steep = fabs(dy) > fabs(dx);
    for (long i = 0; i <= n; i++) {
        const double t = n ? (double)i / (double)n : 0.0;
        const long x = lround(x0 + dx * t), y = lround(y0 + dy * t);
        put(r, x, y, rgb);
        if (thick)
            put(r, x + (steep ? 1 : 0), y + (steep ? 0 : 1), rgb);
    }
}

static void raster_line(canvas *c, double x0, double y0, double x1, double y1, unsigned rgb)
{
    raster_segment((raster *)c, x0, y0, x1, y1, rgb, 0);
}

static void raster_polyline(canvas *c, const double *x, const double *y, size_t n, unsigned rgb)
{
    for (size_t i = 1; i < n; i++)
        raster_segment((raster *)c, x[i - 1], y[i - 1], x[i], y[i], rgb, 1);
}

static void raster_dot(canvas *c, double x, double y, unsigned rgb)
{
    for (int dy = -2; dy <= 2; dy++)
        for (int dx = -2; dx <= 2; dx++)
            if (dx * dx + dy * dy <= 5) /* a round dot of radius ~2 */
                put((raster *)c, lround(x) + dx, lround(y) + dy, rgb);
}

static void raster_text(canvas *c, double x, double y, const char *s, int anchor, int big, unsigned rgb)
{
    const int scale = big ? 2 : 1, advance = (GLIA_FONT_W + 1) * scale;
    const long width = (long)strlen(s) * advance - scale;
    long left = lround(x) - (anchor < 0 ? 0 : anchor == 0 ? width / 2 : width);
    const long top = lround(y) - GLIA_FONT_H * scale / 2;
    for (; *s; s++, left += advance) {
        const char *const *rows = glia_font5x7(*s);
        for (int gy = 0; gy < GLIA_FONT_H; gy++)
            for (int gx = 0; gx < GLIA_FONT_W; gx++)
                if (rows[gy][gx] == '#')
                    for (int k = 0; k < scale * scale; k++)
                        put((raster *)c, left + gx * scale + k % scale, top + gy * scale + k / scale, rgb);
    }
}

static const canvas_ops raster_ops = {raster_line, raster_polyline, raster_dot, raster_text};

glia_status glia_plot_write_png(const glia_plot *p, const char *path, glia_err *err)
{
    glia_afile a = {0};
    double *bx = NULL, *by = NULL;
    raster r = {{&raster_ops}, NULL, 0, 0};
    glia_plot_size(p, &r.w, &r.h);
    glia_status rc = scratch(p, &bx, &by, err);
    if (rc == GLIA_OK && !(r.rgb = malloc((size_t)r.w * (size_t)r.h * 3)))
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for a %dx%d plot", r.w, r.h);
    if (rc == GLIA_OK) {
        for (size_t i = 0; i < (size_t)r.w * (size_t)r.h; i++)
            put(&r, (long)(i % (size_t)r.w), (long)(i / (size_t)r.w), BACKGROUND);
        draw(p, &r.base, bx, by);
    }
    /* encoded by the image module's PNG writer, the one gliad's heat maps use */
    unsigned char *png = NULL;
    size_t len = 0;
    if (rc == GLIA_OK && (rc = glia_image_encode_png_rgb(r.rgb, r.w, r.h, &png, &len, err)) == GLIA_OK &&
        (rc = glia_afile_open(&a, path, 0644, err)) == GLIA_OK) {
        if (fwrite(png, 1, len, a.f) != len) {
            rc = glia_err_set(err, GLIA_EIO, "cannot write %s: %s", path, strerror(errno));
            glia_afile_abort(&a);
        } else {
            rc = glia_afile_commit(&a, err);
        }
    }
    free(png);
    free(r.rgb);
    free(bx);
    free(by);
    return rc;
}
