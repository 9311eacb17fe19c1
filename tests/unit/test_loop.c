/*
 * test_loop.c - core/train/loop.h: the one training loop over every family.
 *
 * Each family trains for a few steps on a tiny synthetic split through its batch source
 * (images, padded sentences, token-budget pairs): with 2 lanes the epoch's loss is close
 * to 1 lane's (the same mean, summed in another order and with other GEMM shapes) but
 * not bit-equal; a 2-lane run stopped after its first epoch and resumed from the
 * checkpoint gives the uninterrupted run's weights bit for bit (dropout on, so every
 * lane's dropout stream must be restored).
 */
#include "core/train/loop.h"
#include "tests/support/check_main.h"
#include "tests/support/tiny_models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static glia_source *source_of(const char *task, const tiny_data *d)
{
    glia_source *src = NULL;
    glia_err err = {0};
    ck_assert_msg(tiny_source_new(task, d, &src, &err) == GLIA_OK, "%s", err.msg);
    return src;
}

typedef struct {
    double loss[4];
    int n;
} history;

static int record(const glia_progress *p, void *user)
{
    history *h = user;
    if (h->n < 4)
        h->loss[h->n++] = p->train_loss;
    return 0;
}

static int stop_after_first(const glia_progress *p, void *user)
{
    return p->epoch == 1;
}

/* A fresh model of task, initialised from seed 3, trained by r; *out keeps it. */
static glia_status train(const char *task, float dropout, const glia_recipe *r, const tiny_data *d,
                         glia_progress_fn cb, history *h, glia_model **out, glia_err *err)
{
    glia_manifest m = tiny_models_manifest(task, dropout);
    glia_model *model = *out;
    if (!model) {
        ck_assert_msg(glia_model_new(&m, &model, err) == GLIA_OK, "%s", err->msg);
        glia_rng init;
        glia_train_seed_stream(&init, 3, GLIA_STREAM_INIT);
        model->ops->reset(model, &init);
        *out = model;
    }
    glia_source *src = source_of(task, d);
    glia_train_result res;
    const glia_loop_hooks hooks = {cb, h, NULL};
    glia_status rc = glia_loop_train(r, model, src, &hooks, &res, err);
    glia_source_free(src);
    return rc;
}

static const char *const tasks[] = {"image-classification", "text-classification", "translation"};

START_TEST(two_lanes_give_one_lanes_loss)
{
    const char *task = tasks[_i];
    static tiny_data d;
    tiny_data_fill(&d, TINY_DATA_N);
    glia_recipe r;
    glia_err err = {0};
    history one = {0}, two = {0};
    glia_model *a = NULL, *b = NULL;
    tiny_recipe(&r, 2, 1);
    ck_assert_msg(train(task, 0.0f, &r, &d, record, &one, &a, &err) == GLIA_OK, "%s: %s", task, err.msg);
    tiny_recipe(&r, 2, 2);
    ck_assert_msg(train(task, 0.0f, &r, &d, record, &two, &b, &err) == GLIA_OK, "%s: %s", task, err.msg);
    ck_assert_int_eq(one.n, 2);
    ck_assert_int_eq(two.n, 2);
    for (int e = 0; e < 2; e++)
        ck_assert_msg(fabs(one.loss[e] - two.loss[e]) < 1e-4 * (1.0 + fabs(one.loss[e])),
                      "%s epoch %d: 1 lane %.9f, 2 lanes %.9f", task, e + 1, one.loss[e], two.loss[e]);
    ck_assert_msg(one.loss[1] < one.loss[0], "%s: the loss did not fall (%.5f -> %.5f)", task, one.loss[0],
                  one.loss[1]);
    ck_assert_msg(memcmp(a->values, b->values, sizeof(float) * a->size) != 0,
                  "%s: 2 lanes gave 1 lane's weights bit for bit: were the lanes used?", task);
    glia_model_free(a);
    glia_model_free(b);
}
END_TEST

START_TEST(two_lanes_resume_bit_for_bit)
{
    const char *task = tasks[_i];
    static tiny_data d;
    char dir[256];
    tiny_data_fill(&d, TINY_DATA_N);
    glia_test_mkdtemp(dir, sizeof dir, "loop");
    glia_recipe r;
    glia_err err = {0};
    glia_model *a = NULL, *b = NULL;
    tiny_recipe(&r, 3, 2);
    ck_assert_msg(train(task, 0.2f, &r, &d, NULL, NULL, &a, &err) == GLIA_OK, "%s: %s", task, err.msg);
    snprintf(r.checkpoint, sizeof r.checkpoint, "%s/run.ckpt", dir);
    r.resume = 1;
    ck_assert_int_eq(train(task, 0.2f, &r, &d, stop_after_first, NULL, &b, &err), GLIA_ECANCELLED);
    memset(b->values, 0, sizeof(float) * b->size); /* the checkpoint must restore everything */
    ck_assert_msg(train(task, 0.2f, &r, &d, NULL, NULL, &b, &err) == GLIA_OK, "%s: %s", task, err.msg);
    ck_assert_msg(memcmp(a->values, b->values, sizeof(float) * a->size) == 0, "%s: resumed weights differ",
                  task);
    glia_model_free(a);
    glia_model_free(b);
    glia_test_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("families");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, two_lanes_give_one_lanes_loss, 0, 3);
    tcase_add_loop_test(tc, two_lanes_resume_bit_for_bit, 0, 3);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
