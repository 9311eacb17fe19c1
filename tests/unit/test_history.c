/*
 * test_history.c - a training run's per-step history (core/train/history.h) and its curves
 * (core/train/plot.h): the loop's records (one per step, one per evaluation, in order), the
 * file's lines read back, paging with since and a cap, a resumed run's rewind, the crash
 * that cuts the last line, malformed lines named by number, and the PNG's size and ink.
 */
#include "core/data/images.h"
#include "core/image/image.h"
#include "core/model/manifest.h"
#include "core/train/history.h"
#include "core/train/imagetrain.h"
#include "core/train/plot.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "history");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

static const char *at(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static glia_train_record step_rec(long step)
{
    return (glia_train_record){.kind = GLIA_RECORD_STEP,
                               .step = step,
                               .epoch = (int)(step - 1) / 10 + 1,
                               .epochs = 3,
                               .loss = 2.0 / (double)step,
                               .lr = 0.001 * (double)step,
                               .examples_per_s = 100.0 + (double)step,
                               .time_s = 0.5 * (double)step};
}

static glia_train_record eval_rec(long step, double val_loss)
{
    return (glia_train_record){.kind = GLIA_RECORD_EVAL,
                               .step = step,
                               .epoch = (int)step / 10,
                               .epochs = 3,
                               .train_loss = 1.0 / (double)step,
                               .train_accuracy = 0.01 * (double)step,
                               .val_loss = val_loss,
                               .val_accuracy = val_loss < 0 ? -1.0 : 0.02 * (double)step};
}

/* Writes steps first..last with an evaluation after every tenth, through a writer opened
 * with append as given. */
static void write_steps(const char *path, int append, long first, long last)
{
    glia_err err = {0};
    glia_history *h = NULL;
    ck_assert_msg(glia_history_open(path, append, &h, &err) == GLIA_OK, "%s", err.msg);
    for (long s = first; s <= last; s++) {
        const glia_train_record r = step_rec(s);
        glia_history_add(h, &r);
        if (s % 10 == 0) {
            const glia_train_record e = eval_rec(s, 3.0 / (double)s);
            glia_history_add(h, &e);
        }
    }
    ck_assert_msg(glia_history_close(h, &err) == GLIA_OK, "%s", err.msg);
}

static long step_at(const json_t *arr, size_t i)
{
    return (long)json_integer_value(json_object_get(json_array_get(arr, i), "step"));
}

START_TEST(round_trip)
{
    glia_err err = {0};
    glia_history_page pg = {0};
    write_steps(at("h.jsonl"), 0, 1, 30);
    ck_assert_msg(glia_history_read(at("h.jsonl"), -1, 0, &pg, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(json_array_size(pg.steps), 30);
    ck_assert_uint_eq(json_array_size(pg.evals), 3);
    ck_assert_int_eq(pg.next, -1);
    for (size_t i = 0; i < 30; i++) {
        const json_t *o = json_array_get(pg.steps, i);
        const glia_train_record want = step_rec((long)i + 1);
        ck_assert_int_eq(step_at(pg.steps, i), (long)i + 1);
        ck_assert_int_eq(json_integer_value(json_object_get(o, "epoch")), want.epoch);
        ck_assert_double_eq_tol(json_number_value(json_object_get(o, "loss")), want.loss, 1e-5 * want.loss);
        ck_assert_double_eq_tol(json_number_value(json_object_get(o, "lr")), want.lr, 1e-5 * want.lr);
        ck_assert_double_eq_tol(json_number_value(json_object_get(o, "examples_per_s")), want.examples_per_s,
                                0.05);
        ck_assert_double_eq_tol(json_number_value(json_object_get(o, "time_s")), want.time_s, 5e-4);
    }
    const json_t *e = json_array_get(pg.evals, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "step")), 20);
    ck_assert_double_eq_tol(json_number_value(json_object_get(e, "val_loss")), 3.0 / 20, 1e-6);
    ck_assert_double_eq_tol(json_number_value(json_object_get(e, "train_accuracy")), 0.2, 1e-6);
    glia_history_page_free(&pg);
}
END_TEST

START_TEST(no_validation_leaves_val_out)
{
    glia_err err = {0};
    glia_history *h = NULL;
    glia_history_page pg = {0};
    ck_assert(glia_history_open(at("nv.jsonl"), 0, &h, &err) == GLIA_OK);
    const glia_train_record s = step_rec(1), e = eval_rec(1, -1.0);
    glia_history_add(h, &s);
    glia_history_add(h, &e);
    ck_assert(glia_history_close(h, &err) == GLIA_OK);
    ck_assert_msg(glia_history_read(at("nv.jsonl"), -1, 0, &pg, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(json_array_size(pg.evals), 1);
    ck_assert_ptr_null(json_object_get(json_array_get(pg.evals, 0), "val_loss"));
    ck_assert_ptr_nonnull(json_object_get(json_array_get(pg.evals, 0), "train_loss"));
    glia_history_page_free(&pg);
}
END_TEST

START_TEST(since_and_pages)
{
    glia_err err = {0};
    glia_history_page pg = {0};
    write_steps(at("p.jsonl"), 0, 1, 30);
    ck_assert(glia_history_read(at("p.jsonl"), 12, 0, &pg, &err) == GLIA_OK);
    ck_assert_uint_eq(json_array_size(pg.steps), 18);
    ck_assert_int_eq(step_at(pg.steps, 0), 13);
    ck_assert_uint_eq(json_array_size(pg.evals), 2); /* 20 and 30 */
    ck_assert_int_eq(pg.next, -1);
    glia_history_page_free(&pg);
    /* pages of 7 from the start: every step once, in order, each evaluation with the page
     * that holds its step */
    long since = -1, seen = 0, evals = 0;
    for (int pages = 0; pages < 10; pages++) {
        ck_assert(glia_history_read(at("p.jsonl"), since, 7, &pg, &err) == GLIA_OK);
        for (size_t i = 0; i < json_array_size(pg.steps); i++)
            ck_assert_int_eq(step_at(pg.steps, i), ++seen);
        for (size_t i = 0; i < json_array_size(pg.evals); i++)
            ck_assert_int_le(step_at(pg.evals, i), seen);
        evals += (long)json_array_size(pg.evals);
        since = pg.next;
        glia_history_page_free(&pg);
        if (since < 0)
            break;
        ck_assert_int_eq(since, seen);
    }
    ck_assert_int_eq(seen, 30);
    ck_assert_int_eq(evals, 3);
    ck_assert(glia_history_read(at("p.jsonl"), 30, 7, &pg, &err) == GLIA_OK);
    ck_assert_uint_eq(json_array_size(pg.steps), 0);
    ck_assert_int_eq(pg.next, -1);
    glia_history_page_free(&pg);
}
END_TEST

START_TEST(resumed_run_rewinds)
{
    glia_err err = {0};
    glia_history_page pg = {0};
    write_steps(at("r.jsonl"), 0, 1, 25); /* died at step 25; its checkpoint was at step 20 */
    write_steps(at("r.jsonl"), 1, 21, 30);
    ck_assert_msg(glia_history_read(at("r.jsonl"), -1, 0, &pg, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(json_array_size(pg.steps), 30);
    for (size_t i = 0; i < 30; i++)
        ck_assert_int_eq(step_at(pg.steps, i), (long)i + 1);
    ck_assert_uint_eq(json_array_size(pg.evals), 3);
    glia_history_page_free(&pg);
    /* a fresh (not appending) writer starts the file over */
    write_steps(at("r.jsonl"), 0, 1, 5);
    ck_assert(glia_history_read(at("r.jsonl"), -1, 0, &pg, &err) == GLIA_OK);
    ck_assert_uint_eq(json_array_size(pg.steps), 5);
    glia_history_page_free(&pg);
}
END_TEST

START_TEST(bad_files)
{
    glia_err err = {0};
    glia_history_page pg = {0};
    ck_assert_int_eq(glia_history_read(at("missing.jsonl"), -1, 0, &pg, &err), GLIA_ENOTFOUND);
    glia_history_page_free(&pg);
    /* a crash mid-line: the cut line is skipped, the rest is read */
    const char *cut = glia_test_write(tmpdir, "cut.jsonl", "{\"step\":1,\"loss\":2}\n{\"step\":2,\"lo");
    ck_assert_msg(glia_history_read(cut, -1, 0, &pg, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_uint_eq(json_array_size(pg.steps), 1);
    glia_history_page_free(&pg);
    static const char *const bad[] = {"{\"step\":1}\n[1,2]\n", "{\"step\":1}\n{\"step\":\"two\"}\n",
                                      "{\"step\":1}\nnot json\n", "{\"step\":1}\n{\"eval\":{\"epoch\":1}}\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *p = glia_test_write(tmpdir, "bad.jsonl", bad[i]);
        ck_assert_int_eq(glia_history_read(p, -1, 0, &pg, &err), GLIA_EFORMAT);
        ck_assert_msg(strstr(err.msg, "bad.jsonl:2:") != NULL, "%s", err.msg);
        glia_history_page_free(&pg);
    }
    glia_history *h = NULL;
    ck_assert_int_eq(glia_history_open(at("no/such/dir/h.jsonl"), 0, &h, &err), GLIA_EIO);
    ck_assert_int_eq(glia_history_open(at("no/such/dir/h.jsonl"), 1, &h, &err), GLIA_EIO);
    ck_assert_ptr_null(h);
}
END_TEST

/* ---- the loop's records ---- */

typedef struct {
    int steps, evals, epoch_reports;
    long last_step;
    double last_done;
    int in_order;
} tally;

static void count_record(const glia_train_record *r, void *user)
{
    tally *t = user;
    if (r->kind == GLIA_RECORD_STEP) {
        t->in_order &= r->step == t->last_step + 1 && isfinite(r->loss) && r->loss > 0 && r->lr > 0 &&
                       r->examples_per_s > 0 && r->done >= t->last_done && r->done <= 1.0;
        t->steps++;
        t->last_step = r->step;
    } else {
        /* an evaluation follows its epoch's last step, with the validation figures */
        t->in_order &=
            r->step == t->last_step && r->val_accuracy >= 0 && r->val_loss > 0 && r->done >= t->last_done;
        t->evals++;
    }
    t->last_done = r->done;
}

static int count_epoch(const glia_progress *p, void *user)
{
    ((tally *)user)->epoch_reports++;
    return 0;
}

START_TEST(loop_records_every_step)
{
    glia_err err = {0};
    glia_recipe r;
    glia_manifest m = {0};
    glia_model *net = NULL;
    glia_dataset all = {0};
    glia_train_result res;
    tally t = {.in_order = 1};
    glia_test_write(
        tmpdir, "model.yaml",
        "name: tiny\ntask: image-classification\nversion: 1\n"
        "input:\n  shape: [1, 28, 28]\n  preprocessing: {scale: 0.00392156862745098}\n"
        "architecture:\n  type: sequential\n  modules:\n    - name: classifier\n      layers:\n"
        "        - {type: flatten}\n        - {type: linear, in_features: 784, out_features: 10}\n");
    const char *rp =
        glia_test_write(tmpdir, "recipe.yaml",
                        "model: model.yaml\ndataset: {name: fashion-mnist}\nseed: 1\nepochs: 3\n"
                        "batch: {policy: fixed, size: 20}\noptimizer: {type: adam, lr: 0.001}\n");
    ck_assert_msg(glia_recipe_load(rp, &r, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_manifest_load(r.model, &m, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_model_new(&m, &net, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_dataset_load_fashion(glia_test_fashion_dir(), "train", &m.pre, 150, &all, &err) ==
                      GLIA_OK,
                  "%s", err.msg);
    const glia_dataset train = glia_dataset_view(&all, 0, 110), val = glia_dataset_view(&all, 110, 40);
    const glia_loop_hooks hooks = {count_epoch, &t, NULL, count_record};
    ck_assert_msg(glia_train_hooked(&r, net, 0, &train, &val, &hooks, &res, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(res.steps, 3 * 6); /* 110 images in batches of 20: 6 steps an epoch */
    ck_assert_int_eq(t.steps, res.steps);
    ck_assert_int_eq(t.evals, 3);
    ck_assert_int_eq(t.epoch_reports, 3); /* the per-epoch callback is as it was */
    ck_assert_msg(t.in_order, "records out of order or with figures out of range");
    ck_assert_double_eq_tol(t.last_done, 1.0, 1e-12);
    glia_dataset_free(&all);
    glia_model_free(net);
    glia_manifest_free(&m);
}
END_TEST

/* ---- the plot ---- */

START_TEST(png_has_its_size_and_curves)
{
    glia_err err = {0};
    glia_history_page pg = {0};
    glia_plot plot;
    glia_image img = {0};
    write_steps(at("c.jsonl"), 0, 1, 200);
    ck_assert(glia_history_read(at("c.jsonl"), -1, 0, &pg, &err) == GLIA_OK);
    ck_assert_msg(glia_plot_from_history(&pg, &plot, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(plot.npanels, 3);
    ck_assert_msg(glia_plot_write_png(&plot, at("c.png"), &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_image_load(at("c.png"), &img, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(img.width, GLIA_PLOT_WIDTH);
    ck_assert_int_eq(img.height, 3 * GLIA_PLOT_PANEL_HEIGHT);
    /* inside each panel's plot area, away from the axes: the curves put ink in most columns
     * (the loss falls over the whole width, the lr rises over it) */
    for (int panel = 0; panel < 2; panel++) {
        int columns = 0;
        for (int x = 100; x < 760; x++) {
            int ink = 0;
            for (int y = panel * GLIA_PLOT_PANEL_HEIGHT + 40; y < (panel + 1) * GLIA_PLOT_PANEL_HEIGHT - 45;
                 y++)
                ink |=
                    img.pixels[(size_t)y * (size_t)img.width + (size_t)x] < 160.0f; /* not grid, not white */
            columns += ink;
        }
        ck_assert_msg(columns > 600, "panel %d: ink in %d of 660 columns", panel, columns);
    }
    glia_image_free(&img);
    ck_assert_msg(glia_plot_write_svg(&plot, at("c.svg"), &err) == GLIA_OK, "%s", err.msg);
    glia_plot_free(&plot);
    glia_history_page_free(&pg);
    /* nothing to draw is said */
    write_steps(at("e.jsonl"), 0, 1, 0);
    ck_assert(glia_history_read(at("e.jsonl"), -1, 0, &pg, &err) == GLIA_OK);
    ck_assert_int_eq(glia_plot_from_history(&pg, &plot, &err), GLIA_EINVAL);
    glia_plot_free(&plot);
    glia_history_page_free(&pg);
}
END_TEST

static Suite *history_suite(void)
{
    Suite *s = suite_create("history");
    TCase *tc = tcase_create("history");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, no_validation_leaves_val_out);
    tcase_add_test(tc, since_and_pages);
    tcase_add_test(tc, resumed_run_rewinds);
    tcase_add_test(tc, bad_files);
    tcase_add_test(tc, loop_records_every_step);
    tcase_add_test(tc, png_has_its_size_and_curves);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return glia_check_run(history_suite());
}
