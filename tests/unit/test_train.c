/*
 * test_train.c - the trainer end to end on real Fashion-MNIST images, and its pieces:
 * recipes (defaults, strict keys, messages that name file and line), the small run the
 * foundation issue asks for (a few hundred images: the loss falls and accuracy ends far
 * above chance), bit-for-bit determinism from a seed, data-parallel lanes that compute
 * the same step as one thread, cancellation, and the fork-join pool under it all.
 */
#include "core/base/pool.h"
#include "core/model/manifest.h"
#include "core/train/imagetrain.h"
#include "core/train/trainer.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static void setup(void)
{
    glia_test_mkdtemp(tmpdir, sizeof tmpdir, "train");
}

static void teardown(void)
{
    glia_test_rmtree(tmpdir);
}

static const char *write_file(const char *name, const char *text)
{
    return glia_test_write(tmpdir, name, text);
}

/* A small CNN (no dropout unless asked) that trains in seconds even under ASan. */
static void write_small_model(int dropout)
{
    char text[2048];
    snprintf(
        text, sizeof text,
        "name: small\ntask: image-classification\nversion: 1\n"
        "input:\n  shape: [1, 28, 28]\n  preprocessing: {scale: 0.00392156862745098, mean: 0.286, std: "
        "0.353}\n"
        "architecture:\n  type: sequential\n  modules:\n"
        "    - name: features\n      layers:\n"
        "        - {type: conv2d, in_channels: 1, out_channels: 8, kernel_size: 3, padding: 1}\n"
        "        - {type: relu}\n"
        "        - {type: maxpool2d, kernel_size: 2, stride: 2}\n"
        "        - {type: conv2d, in_channels: 8, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}\n"
        "        - {type: relu}\n"
        "    - name: classifier\n      layers:\n"
        "        - {type: flatten}\n%s"
        "        - {type: linear, in_features: 784, out_features: 10}\n",
        dropout ? "        - {type: dropout, p: 0.3}\n" : "");
    write_file("model.yaml", text);
}

typedef struct {
    glia_manifest m;
    glia_model *net; /* an image classifier */
    glia_recipe r;
    glia_dataset all, train, val;
} run;

static void run_open(run *u, const char *recipe_text, long n_train, long n_val)
{
    glia_err err = {0};
    memset(u, 0, sizeof *u);
    const char *rp = write_file("recipe.yaml", recipe_text);
    ck_assert_msg(glia_recipe_load(rp, &u->r, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_manifest_load(u->r.model, &u->m, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_model_new(&u->m, &u->net, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_msg(glia_dataset_load_fashion(glia_test_fashion_dir(), "train", &u->m.pre,
                                            (size_t)(n_train + n_val), &u->all, &err) == GLIA_OK,
                  "%s", err.msg);
    u->train = glia_dataset_view(&u->all, 0, (size_t)n_train);
    u->val = glia_dataset_view(&u->all, (size_t)n_train, (size_t)n_val);
}

static void run_close(run *u)
{
    glia_dataset_free(&u->all);
    glia_model_free(u->net);
    glia_manifest_free(&u->m);
}

/* The accuracy of model on ds, through the one evaluation. */
static glia_status accuracy_of(const glia_model *model, const glia_dataset *ds, double *acc, glia_err *err)
{
    glia_source *src = NULL;
    glia_eval_result ev;
    glia_status rc = glia_image_source_new(NULL, NULL, NULL, ds, 100, &src, err);
    if (rc == GLIA_OK && (rc = glia_loop_evaluate(model, src, GLIA_SPLIT_TEST, 1, &ev, err)) == GLIA_OK)
        *acc = ev.accuracy;
    glia_source_free(src);
    return rc;
}

enum { MAX_EPOCHS = 8 };
typedef struct {
    int n;
    glia_progress p[MAX_EPOCHS];
} history;

static int record(const glia_progress *p, void *user)
{
    history *h = user;
    if (h->n < MAX_EPOCHS)
        h->p[h->n++] = *p;
    return 0;
}

/* ---- recipes ---- */

START_TEST(recipe_shipped_loads)
{
    glia_err err = {0};
    glia_recipe r;
    ck_assert_msg(glia_recipe_load(glia_test_path("models/fashion-cnn/recipe.yaml"), &r, &err) == GLIA_OK,
                  "%s", err.msg);
    ck_assert_str_eq(r.dataset, "fashion-mnist");
    ck_assert_int_eq(r.optim.kind, GLIA_OPTIM_ADAMW);
    ck_assert_int_gt(r.epochs, 0);
    ck_assert_float_eq(r.sched.base_lr, r.optim.lr);
    ck_assert_int_eq(r.sched.total_epochs, r.epochs);
    ck_assert_ptr_nonnull(strstr(r.model, "models/fashion-cnn/model.yaml"));
}
END_TEST

/* A training job's overrides change what they name and nothing else. */
START_TEST(recipe_overrides)
{
    glia_err err = {0};
    glia_recipe r;
    ck_assert_int_eq(glia_recipe_load(glia_test_path("models/fashion-cnn/recipe.yaml"), &r, &err), GLIA_OK);
    const float wd = r.optim.weight_decay;
    const char *o =
        "{\"optimizer\": {\"lr\": 0.01}, \"epochs\": 2, \"dataset\": {\"limit\": 300}, \"seed\": 9}";
    ck_assert_msg(glia_recipe_override(&r, o, strlen(o), "overrides", &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(r.optim.kind, GLIA_OPTIM_ADAMW);
    ck_assert_float_eq(r.optim.weight_decay, wd);
    ck_assert_float_eq(r.optim.lr, 0.01f);
    ck_assert_float_eq(r.sched.base_lr, 0.01f);
    ck_assert_int_eq(r.sched.total_epochs, 2);
    ck_assert_int_eq(r.limit, 300);
    ck_assert_int_eq(r.seed, 9);
    ck_assert_int_eq(r.sched.kind, GLIA_SCHED_COSINE);
    o = "{\"optimizer\": {\"type\": \"sgd\", \"momentum\": 0.9}, \"lr\": 0.2, \"schedule\": {\"type\": "
        "\"constant\"}}";
    ck_assert_msg(glia_recipe_override(&r, o, strlen(o), "overrides", &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(r.optim.kind, GLIA_OPTIM_SGD);
    ck_assert_float_eq(r.optim.weight_decay, 0.0f); /* a new type starts from its defaults */
    ck_assert_float_eq(r.optim.lr, 0.2f);
    ck_assert_int_eq(r.sched.kind, GLIA_SCHED_CONSTANT);
    ck_assert_float_eq(r.ema, 0.0f);
    o = "{\"ema\": 0.995}";
    ck_assert_msg(glia_recipe_override(&r, o, strlen(o), "overrides", &err) == GLIA_OK, "%s", err.msg);
    ck_assert_float_eq(r.ema, 0.995f);
    static const char *const bad[][2] = {
        {"{\"epochs\": 0}", "epochs"},
        {"{\"ema\": 1}", "ema"},
        {"{\"ema\": -0.5}", "ema"},
        {"{\"model\": \"x.yaml\"}", "model"},
        {"{\"optimizer\": {\"type\": \"adamx\"}}", "optimizer.type"},
        {"{\"batch\": {\"policy\": \"random\", \"min\": 9, \"max\": 3}}", "overrides"},
        {"[1, 2]", "mapping"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_ne(glia_recipe_override(&r, bad[i][0], strlen(bad[i][0]), "overrides", &err), GLIA_OK);
        ck_assert_msg(strstr(err.msg, bad[i][1]), "case %zu: '%s' lacks '%s'", i, err.msg, bad[i][1]);
    }
}
END_TEST

START_TEST(recipe_errors_name_the_place)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"model: m.yaml\ndataset: {name: fashion-mnist}\nepochs: 2\nlearning_rate: 3\n", "learning_rate"},
        {"model: m.yaml\ndataset: {name: fashion-mnist}\noptimizer: {type: adagrad}\n", "adagrad"},
        {"model: m.yaml\ndataset: {name: fashion-mnist}\noptimizer: {type: sgd, lr: fast}\n", "lr"},
        {"model: m.yaml\ndataset: {name: cifar}\n", "cifar"},
        {"model: m.yaml\ndataset: {name: fashion-mnist}\nbatch: {policy: random, min: 64, max: 8}\n", "min"},
        {"model: m.yaml\ndataset: {name: fashion-mnist}\nschedule: {type: step, gamma: 0}\n", "gamma"},
        {"model: m.yaml\ndataset: {name: fashion-mnist}\nepochs: 0\n", "epochs"},
        {"model: m.yaml\ndataset: {name: fashion-mnist}\nselect: worst\n", "select"},
        {"dataset: {name: fashion-mnist}\n", "model"},
        {"model: m.yaml\ndataset: {name: fashion-mnist\n", "recipe.yaml"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        glia_err err = {0};
        glia_recipe r;
        const char *p = write_file("recipe.yaml", cases[i].text);
        glia_status rc = glia_recipe_load(p, &r, &err);
        ck_assert_msg(rc != GLIA_OK, "case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
    }
}
END_TEST

/* ---- training ---- */

START_TEST(small_run_learns)
{
    glia_err err = {0};
    run u;
    history h = {0};
    glia_train_result res;
    write_small_model(1);
    run_open(&u,
             "model: model.yaml\ndataset: {name: fashion-mnist}\nseed: 3\nepochs: 4\n"
             "batch: {policy: fixed, size: 32}\noptimizer: {type: adam, lr: 0.002}\n",
             512, 256);
    u.r.workers = 2;
    ck_assert_msg(glia_train(&u.r, u.net, 0, &u.train, &u.val, record, &h, NULL, &res, &err) == GLIA_OK, "%s",
                  err.msg);
    ck_assert_int_eq(h.n, 4);
    for (int e = 0; e < h.n; e++)
        ck_assert_msg(isfinite(h.p[e].train_loss) && h.p[e].samples_per_second > 0, "epoch %d", e + 1);
    /* ln(10) = 2.30 is the loss of a guess; it must fall well below it and keep falling */
    ck_assert_msg(h.p[h.n - 1].train_loss < 0.8 * h.p[0].train_loss, "loss %.3f -> %.3f", h.p[0].train_loss,
                  h.p[h.n - 1].train_loss);
    ck_assert_msg(h.p[h.n - 1].train_loss < 1.2, "final loss %.3f", h.p[h.n - 1].train_loss);
    ck_assert_msg(res.best_val_accuracy > 0.6, "validation accuracy %.3f (chance is 0.1)",
                  res.best_val_accuracy);
    ck_assert_int_eq(res.steps, 4 * 16);
    /* select: best restores the best epoch's weights */
    double acc;
    ck_assert(accuracy_of(u.net, &u.val, &acc, &err) == GLIA_OK);
    ck_assert_double_eq_tol(acc, res.best_val_accuracy, 1e-9);
    run_close(&u);
}
END_TEST

static float *train_weights(const char *recipe, int workers, size_t *size)
{
    glia_err err = {0};
    run u;
    glia_train_result res;
    run_open(&u, recipe, 128, 0);
    u.r.workers = workers;
    ck_assert_msg(glia_train(&u.r, u.net, 0, &u.train, NULL, NULL, NULL, NULL, &res, &err) == GLIA_OK, "%s",
                  err.msg);
    float *w = malloc(sizeof(float) * u.net->size);
    ck_assert_ptr_nonnull(w);
    memcpy(w, u.net->values, sizeof(float) * u.net->size);
    *size = u.net->size;
    run_close(&u);
    return w;
}

START_TEST(same_seed_same_weights)
{
    const char *a =
        "model: model.yaml\ndataset: {name: fashion-mnist}\nseed: 5\nepochs: 1\n"
        "batch: {policy: random, min: 8, max: 24}\noptimizer: {type: sgd, lr: 0.05, momentum: 0.9}\n"
        "augment: {hflip: true, translate: 2}\n";
    const char *b =
        "model: model.yaml\ndataset: {name: fashion-mnist}\nseed: 6\nepochs: 1\n"
        "batch: {policy: random, min: 8, max: 24}\noptimizer: {type: sgd, lr: 0.05, momentum: 0.9}\n"
        "augment: {hflip: true, translate: 2}\n";
    size_t n1, n2, n3;
    write_small_model(1);
    float *w1 = train_weights(a, 2, &n1), *w2 = train_weights(a, 2, &n2), *w3 = train_weights(b, 2, &n3);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(memcmp(w1, w2, sizeof(float) * n1) == 0, "same recipe and seed gave different weights");
    ck_assert_msg(memcmp(w1, w3, sizeof(float) * n1) != 0, "a different seed gave the same weights");
    free(w1);
    free(w2);
    free(w3);
}
END_TEST

/* Without dropout, splitting a batch over lanes is the same step, up to summation order. */
START_TEST(lanes_compute_the_same_step)
{
    const char *r = "model: model.yaml\ndataset: {name: fashion-mnist}\nseed: 9\nepochs: 1\n"
                    "batch: {policy: fixed, size: 37}\noptimizer: {type: sgd, lr: 0.1}\n";
    size_t n1, n3;
    write_small_model(0);
    float *w1 = train_weights(r, 1, &n1), *w3 = train_weights(r, 3, &n3);
    ck_assert_uint_eq(n1, n3);
    double worst = 0;
    for (size_t i = 0; i < n1; i++)
        worst = fmax(worst, fabs((double)w1[i] - w3[i]));
    ck_assert_msg(worst < 1e-4, "max |diff| %g", worst);
    ck_assert_msg(worst > 0 || memcmp(w1, w3, sizeof(float) * n1) == 0, "unreachable");
    free(w1);
    free(w3);
}
END_TEST

/* Cutout: every training image (of a constant 1 on a background of -1) gets one
 * axis-aligned rectangle of background, at most side x side (clipped at the borders), a full
 * square whenever its centre is far enough from the edges; nothing else changes, and a recipe
 * without it leaves the images alone. The recipe key is read from YAML. */
START_TEST(cutout_erases_one_square)
{
    enum { N = 64, H = 10, W = 12, SIDE = 4 };
    static float x[N * H * W];
    static int32_t y[N];
    for (int i = 0; i < N * H * W; i++)
        x[i] = 1.0f;
    glia_dataset d = {.n = N, .shape = {1, H, W}, .x = x, .y = y, .nclasses = 2, .background = -1.0f};
    glia_err err = {0};
    glia_recipe r;
    const char *text = "model: model.yaml\ndataset: {name: fashion-mnist}\nepochs: 1\n"
                       "batch: {policy: fixed, size: 16}\noptimizer: {type: sgd, lr: 0.1}\n"
                       "augment: {cutout: 4}\n";
    const char *path = glia_test_write(tmpdir, "cutout.yaml", text);
    ck_assert_msg(glia_recipe_load(path, &r, &err) == GLIA_OK, "%s", err.msg);
    ck_assert_int_eq(r.image.cutout, SIDE);
    for (int with = 0; with < 2; with++) {
        r.image.cutout = with ? SIDE : 0;
        glia_source *src = NULL;
        glia_batch_policy policy;
        glia_train_streams rng;
        glia_rng_seed(&rng.shuffle, 1);
        glia_rng_seed(&rng.batch, 2);
        glia_rng_seed(&rng.augment, 3);
        ck_assert_int_eq(glia_batch_init(&policy, &r.batch, &err), GLIA_OK);
        ck_assert_int_eq(glia_image_source_new(&r, &d, NULL, NULL, 16, &src, &err), GLIA_OK);
        ck_assert_int_eq(src->ops->begin(src, &policy, &err), GLIA_OK);
        src->ops->epoch(src, &rng);
        glia_labelled b;
        int seen = 0, full = 0;
        while (src->ops->next(src, &rng, &policy, &b)) {
            for (int i = 0; i < b.in.n; i++, seen++) {
                const float *img = b.in.x + (size_t)i * H * W;
                int y0 = H, y1 = -1, x0 = W, x1 = -1, erased = 0;
                for (int p = 0; p < H * W; p++) {
                    ck_assert(img[p] == 1.0f || img[p] == -1.0f);
                    if (img[p] == -1.0f) {
                        erased++;
                        y0 = p / W < y0 ? p / W : y0;
                        y1 = p / W > y1 ? p / W : y1;
                        x0 = p % W < x0 ? p % W : x0;
                        x1 = p % W > x1 ? p % W : x1;
                    }
                }
                if (!with) {
                    ck_assert_int_eq(erased, 0);
                    continue;
                }
                ck_assert_int_gt(erased, 0);
                ck_assert_int_le(y1 - y0 + 1, SIDE);
                ck_assert_int_le(x1 - x0 + 1, SIDE);
                ck_assert_int_eq(erased, (y1 - y0 + 1) * (x1 - x0 + 1)); /* one filled rectangle */
                full += erased == SIDE * SIDE;
            }
        }
        ck_assert_int_eq(seen, N);
        if (with) /* whole for 7 x 9 of the 10 x 12 centres */
            ck_assert_msg(full > N / 5, "only %d of %d squares whole", full, N);
        glia_source_free(src);
    }
}
END_TEST

static int stop_after_first(const glia_progress *p, void *user)
{
    return 1;
}

START_TEST(cancel_and_callback_stop)
{
    glia_err err = {0};
    run u;
    glia_train_result res;
    atomic_int cancel = 1;
    write_small_model(0);
    run_open(&u, "model: model.yaml\ndataset: {name: fashion-mnist}\nepochs: 3\n", 64, 32);
    ck_assert_int_eq(glia_train(&u.r, u.net, 0, &u.train, &u.val, NULL, NULL, &cancel, &res, &err),
                     GLIA_ECANCELLED);
    ck_assert_ptr_nonnull(strstr(err.msg, "cancelled"));
    ck_assert_int_eq(glia_train(&u.r, u.net, 0, &u.train, &u.val, stop_after_first, NULL, NULL, &res, &err),
                     GLIA_ECANCELLED);
    ck_assert_ptr_nonnull(strstr(err.msg, "epoch 1"));
    run_close(&u);
}
END_TEST

static int stop_after_epoch_2(const glia_progress *p, void *user)
{
    return p->epoch == 2;
}

/* A run stopped after epoch 2 and resumed from its checkpoint ends with the weights, the
 * selected epoch and the step count of a run that was never stopped - with dropout,
 * augmentation, random batch sizes, Adam's buffers and two lanes all in play. */
START_TEST(checkpoint_resume_is_exact)
{
    glia_err err = {0};
    run a, b;
    glia_train_result ra, rb;
    const char *recipe = "model: model.yaml\ndataset: {name: fashion-mnist}\nseed: 4\nepochs: 4\n"
                         "batch: {policy: random, min: 8, max: 24}\noptimizer: {type: adamw, lr: 0.003}\n"
                         "augment: {hflip: true, translate: 1}\nselect: best\n";
    write_small_model(1);
    run_open(&a, recipe, 96, 48);
    a.r.workers = 2;
    ck_assert_msg(glia_train(&a.r, a.net, 0, &a.train, &a.val, NULL, NULL, NULL, &ra, &err) == GLIA_OK, "%s",
                  err.msg);
    run_open(&b, recipe, 96, 48);
    b.r.workers = 2;
    snprintf(b.r.checkpoint, sizeof b.r.checkpoint, "%s/run.ckpt", tmpdir);
    b.r.resume = 1; /* no file yet: starts from scratch */
    ck_assert_int_eq(glia_train(&b.r, b.net, 0, &b.train, &b.val, stop_after_epoch_2, NULL, NULL, &rb, &err),
                     GLIA_ECANCELLED);
    ck_assert_int_eq(access(b.r.checkpoint, F_OK), 0);
    b.net->ops->reset(b.net, &(glia_rng){{1, 2, 3, 4}}); /* whatever the net holds is replaced */
    ck_assert_msg(glia_train(&b.r, b.net, 0, &b.train, &b.val, NULL, NULL, NULL, &rb, &err) == GLIA_OK, "%s",
                  err.msg);
    ck_assert_int_eq(rb.best_epoch, ra.best_epoch);
    ck_assert_int_eq(rb.steps, ra.steps);
    ck_assert_msg(memcmp(a.net->values, b.net->values, sizeof(float) * a.net->size) == 0,
                  "the resumed run's weights differ from the uninterrupted run's");
    /* another thread count would give another result: refused, named */
    b.r.workers = 1;
    ck_assert_int_eq(glia_train(&b.r, b.net, 0, &b.train, &b.val, NULL, NULL, NULL, &rb, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "2 threads"));
    /* a file that is not a checkpoint is refused */
    write_file("run.ckpt", "garbage");
    b.r.workers = 2;
    ck_assert_int_ne(glia_train(&b.r, b.net, 0, &b.train, &b.val, NULL, NULL, NULL, &rb, &err), GLIA_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "run.ckpt"));
    run_close(&a);
    run_close(&b);
}
END_TEST

START_TEST(mismatched_data_rejected)
{
    glia_err err = {0};
    run u;
    glia_train_result res;
    write_small_model(0);
    run_open(&u, "model: model.yaml\ndataset: {name: fashion-mnist}\nepochs: 1\n", 64, 0);
    u.train.nclasses = 7;
    ck_assert_int_eq(glia_train(&u.r, u.net, 0, &u.train, NULL, NULL, NULL, NULL, &res, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "classes"));
    u.train.nclasses = 10;
    u.train.n = 0;
    ck_assert_int_eq(glia_train(&u.r, u.net, 0, &u.train, NULL, NULL, NULL, NULL, &res, &err), GLIA_EINVAL);
    run_close(&u);
}
END_TEST

/* ---- the pool ---- */

typedef struct {
    atomic_int hits[8];
} pool_job;

static void count_lane(void *arg, int i)
{
    atomic_fetch_add(&((pool_job *)arg)->hits[i], 1);
}

START_TEST(pool_runs_every_lane_once)
{
    glia_err err = {0};
    for (int n = 1; n <= 8; n++) {
        glia_pool *pool;
        ck_assert_int_eq(glia_pool_new(n, &pool, &err), GLIA_OK);
        ck_assert_int_eq(glia_pool_size(pool), n);
        pool_job job;
        for (int i = 0; i < 8; i++)
            atomic_init(&job.hits[i], 0);
        for (int round = 0; round < 200; round++)
            glia_pool_run(pool, count_lane, &job);
        for (int i = 0; i < 8; i++)
            ck_assert_int_eq(atomic_load(&job.hits[i]), i < n ? 200 : 0);
        glia_pool_free(pool);
    }
    glia_pool *pool = NULL;
    ck_assert_int_eq(glia_pool_new(0, &pool, &err), GLIA_EINVAL);
    ck_assert_ptr_null(pool);
    glia_pool_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, recipe_shipped_loads);
    tcase_add_test(tc, recipe_overrides);
    tcase_add_test(tc, recipe_errors_name_the_place);
    tcase_add_test(tc, pool_runs_every_lane_once);
    tcase_add_test(tc, cutout_erases_one_square);
    /* these need Fashion-MNIST (scripts/setup --test installs it): without it they fail */
    tcase_add_test(tc, small_run_learns);
    tcase_add_test(tc, same_seed_same_weights);
    tcase_add_test(tc, lanes_compute_the_same_step);
    tcase_add_test(tc, cancel_and_callback_stop);
    tcase_add_test(tc, checkpoint_resume_is_exact);
    tcase_add_test(tc, mismatched_data_rejected);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
