/*
 * test_sched.c - learning-rate schedules against torch.optim.lr_scheduler 1.13.
 *
 * The reference rates come from tests/unit/gen_optim_reference.py (run once with PyTorch,
 * pasted below; this test never needs Python). PyTorch's side is an SGD optimizer with lr 0.1
 * and the documented semantics of sched.h: StepLR, ExponentialLR and CosineAnnealingLR stepped
 * once per epoch, LinearLR (the warmup) stepped once per optimizer step and chained with them,
 * and for inverse_sqrt a LambdaLR with the Transformer formula. glia_sched_lr(cfg, step, epoch)
 * must give PyTorch's rate before every optimizer step to 1e-6 relative. Around that: kind
 * names, warmup not leaking past warmup_steps, and every configuration validate refuses.
 */
#include "core/train/sched.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* BEGIN GENERATED sched by tests/unit/gen_optim_reference.py (torch 1.13.0a0); do not edit */
// clang-format off
typedef struct {
    const char *name;
    glia_sched_config cfg;
    int iters_per_epoch, epochs;
    double lr[48]; /* PyTorch's rate before each optimizer step */
} sched_case;
static const sched_case ref_sched[] = {
    {"step",
     {.kind = GLIA_SCHED_STEP, .step_size = 3, .gamma = 0.5f, .base_lr = 0.1f},
     1, 10,
     {0.10000000000000001, 0.10000000000000001, 0.10000000000000001, 0.050000000000000003, 0.050000000000000003, 0.050000000000000003, 0.025000000000000001, 0.025000000000000001, 0.025000000000000001, 0.012500000000000001}},
    {"step_gamma_above_1",
     {.kind = GLIA_SCHED_STEP, .step_size = 2, .gamma = 1.5f, .base_lr = 0.1f},
     1, 7,
     {0.10000000000000001, 0.10000000000000001, 0.15000000000000002, 0.15000000000000002, 0.22500000000000003, 0.22500000000000003, 0.33750000000000002}},
    {"exponential",
     {.kind = GLIA_SCHED_EXPONENTIAL, .step_size = 1, .gamma = 0.8f, .base_lr = 0.1f},
     1, 10,
     {0.10000000000000001, 0.080000000000000016, 0.064000000000000015, 0.051200000000000016, 0.040960000000000017, 0.032768000000000012, 0.026214400000000013, 0.020971520000000011, 0.016777216000000008, 0.013421772800000007}},
    {"cosine_min_lr",
     {.kind = GLIA_SCHED_COSINE, .total_epochs = 6, .min_lr = 0.01f, .base_lr = 0.1f},
     1, 7,
     {0.10000000000000001, 0.093971143170299753, 0.077500000000000013, 0.055000000000000014, 0.032500000000000015, 0.016028856829700261, 0.01}},
    {"cosine_zero_min",
     {.kind = GLIA_SCHED_COSINE, .total_epochs = 10, .base_lr = 0.1f},
     1, 11,
     {0.10000000000000001, 0.097552825814757688, 0.090450849718747381, 0.079389262614623674, 0.065450849718747386, 0.05000000000000001, 0.03454915028125264, 0.020610737385376353, 0.0095491502812526351, 0.002447174185242324, 0}},
    {"cosine_one_epoch",
     {.kind = GLIA_SCHED_COSINE, .total_epochs = 1, .min_lr = 0.001f, .base_lr = 0.1f},
     1, 2,
     {0.10000000000000001, 0.001}},
    {"linear_warmup",
     {.kind = GLIA_SCHED_CONSTANT, .warmup_steps = 5, .warmup_start_factor = 0.25f, .base_lr = 0.1f},
     1, 10,
     {0.025000000000000001, 0.040000000000000008, 0.055000000000000007, 0.070000000000000007, 0.085000000000000006, 0.10000000000000001, 0.10000000000000001, 0.10000000000000001, 0.10000000000000001, 0.10000000000000001}},
    {"linear_warmup_default_factor",
     {.kind = GLIA_SCHED_CONSTANT, .warmup_steps = 4, .base_lr = 0.1f},
     3, 3,
     {0.033333333333333333, 0.050000000000000003, 0.06666666666666668, 0.083333333333333343, 0.10000000000000001, 0.10000000000000001, 0.10000000000000001, 0.10000000000000001, 0.10000000000000001}},
    {"warmup_then_step",
     {.kind = GLIA_SCHED_STEP, .step_size = 1, .gamma = 0.5f, .warmup_steps = 10, .warmup_start_factor = 0.2f, .base_lr = 0.1f},
     4, 4,
     {0.020000000000000004, 0.028000000000000004, 0.036000000000000011, 0.044000000000000018, 0.026000000000000013, 0.030000000000000013, 0.034000000000000016, 0.03800000000000002, 0.021000000000000008, 0.02300000000000001, 0.025000000000000008, 0.025000000000000008, 0.012500000000000004, 0.012500000000000004, 0.012500000000000004, 0.012500000000000004}},
    {"warmup_then_exponential",
     {.kind = GLIA_SCHED_EXPONENTIAL, .step_size = 1, .gamma = 0.9f, .warmup_steps = 6, .warmup_start_factor = 0.5f, .base_lr = 0.1f},
     3, 4,
     {0.050000000000000003, 0.058333333333333341, 0.066666666666666666, 0.067500000000000004, 0.075000000000000011, 0.082500000000000018, 0.081000000000000016, 0.081000000000000016, 0.081000000000000016, 0.07290000000000002, 0.07290000000000002, 0.07290000000000002}},
    {"warmup_then_cosine",
     {.kind = GLIA_SCHED_COSINE, .total_epochs = 5, .warmup_steps = 7, .warmup_start_factor = 0.1f, .base_lr = 0.1f},
     3, 5,
     {0.010000000000000002, 0.022857142857142861, 0.035714285714285719, 0.043933269863391577, 0.055562664827230525, 0.067192059791069472, 0.057035740469194136, 0.065450849718747373, 0.065450849718747373, 0.034549150281252633, 0.034549150281252633, 0.034549150281252633, 0.0095491502812526333, 0.0095491502812526333, 0.0095491502812526333}},
    {"inverse_sqrt",
     {.kind = GLIA_SCHED_INVERSE_SQRT, .warmup_steps = 4, .warmup_start_factor = 0.5f, .base_lr = 0.1f},
     5, 4,
     {0.050000000000000003, 0.0625, 0.075000000000000011, 0.087500000000000008, 0.089442719099991588, 0.081649658092772609, 0.075592894601845442, 0.070710678118654766, 0.066666666666666666, 0.063245553203367597, 0.06030226891555273, 0.057735026918962574, 0.055470019622522918, 0.053452248382484885, 0.051639777949432225, 0.050000000000000003, 0.048507125007266595, 0.047140452079103168, 0.045883146774112357, 0.044721359549995794}},
};
// clang-format on
/* END GENERATED */

#define REL_TOL 1e-6

static void assert_rate(float got, double want, const char *what, long step, int epoch)
{
    double tol = REL_TOL * fabs(want) + 1e-12;
    ck_assert_msg(isfinite(got) && fabs((double)got - want) <= tol,
                  "%s, step %ld (epoch %d): got %.9g, PyTorch %.9g", what, step, epoch, (double)got, want);
}

static int n_ref_sched(void)
{
    return (int)(sizeof ref_sched / sizeof ref_sched[0]);
}

/* ---- parity with torch.optim.lr_scheduler ---------------------------------------------------- */

START_TEST(matches_torch)
{
    const sched_case *c = &ref_sched[_i];
    glia_err err = {0};
    ck_assert_msg(glia_sched_validate(&c->cfg, &err) == GLIA_OK, "%s: %s", c->name, err.msg);
    long step = 0;
    for (int epoch = 0; epoch < c->epochs; epoch++)
        for (int it = 0; it < c->iters_per_epoch; it++, step++)
            assert_rate(glia_sched_lr(&c->cfg, step, epoch), c->lr[step], c->name, step, epoch);
}
END_TEST

/* After warmup the epoch-based kinds depend on the epoch only, however many steps an epoch
 * took (batch sizes vary), and warmup only ever lowers the rate. */
START_TEST(epoch_kinds_ignore_the_step_after_warmup)
{
    for (int k = 0; k < n_ref_sched(); k++) {
        const sched_case *c = &ref_sched[k];
        if (c->cfg.kind == GLIA_SCHED_INVERSE_SQRT)
            continue;
        for (int epoch = 0; epoch < 12; epoch++) {
            long w = c->cfg.warmup_steps;
            float at = glia_sched_lr(&c->cfg, w, epoch);
            ck_assert_float_eq(glia_sched_lr(&c->cfg, w + 1, epoch), at);
            ck_assert_float_eq(glia_sched_lr(&c->cfg, w + 12345, epoch), at);
            ck_assert_float_eq(glia_sched_lr(&c->cfg, 1L << 40, epoch), at);
            for (long s = 0; s < w; s++)
                ck_assert_msg(glia_sched_lr(&c->cfg, s, epoch) <= at, "%s: warmup step %ld raises the rate",
                              c->name, s);
        }
    }
}
END_TEST

/* Closed forms of sched.h checked at points the reference runs do not reach. */
START_TEST(closed_forms)
{
    glia_sched_config c = {.kind = GLIA_SCHED_CONSTANT, .base_lr = 0.05f};
    for (int e = 0; e < 100; e += 7)
        ck_assert_float_eq(glia_sched_lr(&c, 1000L * e, e), 0.05f);

    c = (glia_sched_config){.kind = GLIA_SCHED_STEP, .base_lr = 1.0f, .step_size = 30, .gamma = 0.1f};
    assert_rate(glia_sched_lr(&c, 0, 29), 1.0, "step", 0, 29);
    assert_rate(glia_sched_lr(&c, 0, 30), 0.1, "step", 0, 30);
    assert_rate(glia_sched_lr(&c, 0, 89), 0.01, "step", 0, 89);
    assert_rate(glia_sched_lr(&c, 0, 90), 0.001, "step", 0, 90);

    c = (glia_sched_config){.kind = GLIA_SCHED_EXPONENTIAL, .base_lr = 2.0f, .step_size = 1, .gamma = 0.5f};
    assert_rate(glia_sched_lr(&c, 0, 20), 2.0 / 1048576.0, "exponential", 0, 20);

    /* cosine: the midpoint is halfway between base and floor; the end is the floor */
    c = (glia_sched_config){.kind = GLIA_SCHED_COSINE, .base_lr = 0.3f, .total_epochs = 50, .min_lr = 0.1f};
    assert_rate(glia_sched_lr(&c, 0, 25), 0.2, "cosine midpoint", 0, 25);
    assert_rate(glia_sched_lr(&c, 0, 50), 0.1, "cosine end", 0, 50);
    /* Beyond total_epochs glia holds the floor (PyTorch's CosineAnnealingLR would start to rise
     * again; a recipe's total_epochs is its epoch count, so training never gets there). */
    assert_rate(glia_sched_lr(&c, 0, 51), 0.1, "cosine past the end", 0, 51);
    assert_rate(glia_sched_lr(&c, 0, 99), 0.1, "cosine past the end", 0, 99);

    /* inverse_sqrt: flat (apart from warmup) up to warmup_steps, then 1/sqrt(step + 1) */
    c = (glia_sched_config){
        .kind = GLIA_SCHED_INVERSE_SQRT, .base_lr = 1.0f, .warmup_steps = 100, .warmup_start_factor = 1.0f};
    assert_rate(glia_sched_lr(&c, 0, 0), 1.0, "inverse_sqrt", 0, 0);
    assert_rate(glia_sched_lr(&c, 99, 0), 1.0, "inverse_sqrt", 99, 0);
    assert_rate(glia_sched_lr(&c, 399, 3), 0.5, "inverse_sqrt", 399, 3);
    assert_rate(glia_sched_lr(&c, 9999, 7), 0.1, "inverse_sqrt", 9999, 7);

    /* warmup_start_factor 1 is no warmup at all */
    c = (glia_sched_config){
        .kind = GLIA_SCHED_CONSTANT, .base_lr = 0.5f, .warmup_steps = 10, .warmup_start_factor = 1.0f};
    for (long s = 0; s < 12; s++)
        ck_assert_float_eq(glia_sched_lr(&c, s, 0), 0.5f);
}
END_TEST

/* ---- names ----------------------------------------------------------------------------------- */

START_TEST(kind_names)
{
    static const struct {
        const char *name;
        glia_sched_kind kind;
        const char *canonical;
    } want[] = {
        {"constant", GLIA_SCHED_CONSTANT, "constant"},
        {"warmup", GLIA_SCHED_CONSTANT, "constant"}, /* an alias that reads well in recipes */
        {"step", GLIA_SCHED_STEP, "step"},
        {"exponential", GLIA_SCHED_EXPONENTIAL, "exponential"},
        {"cosine", GLIA_SCHED_COSINE, "cosine"},
        {"inverse_sqrt", GLIA_SCHED_INVERSE_SQRT, "inverse_sqrt"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        glia_sched_kind k = (glia_sched_kind)-1;
        glia_err err = {0};
        ck_assert_int_eq(glia_sched_kind_parse(want[i].name, &k, &err), GLIA_OK);
        ck_assert_int_eq(k, want[i].kind);
        ck_assert_str_eq(glia_sched_kind_name(k), want[i].canonical);
    }
    ck_assert_str_eq(glia_sched_kind_name((glia_sched_kind)42), "?");

    static const char *const bad[] = {"", "Cosine", "cos", "linear", "onecycle", "step ", "inverse-sqrt"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        glia_sched_kind k = GLIA_SCHED_COSINE;
        glia_err err = {0};
        ck_assert_int_eq(glia_sched_kind_parse(bad[i], &k, &err), GLIA_EINVAL);
        ck_assert_int_eq(err.code, GLIA_EINVAL);
        char quoted[32];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        ck_assert_msg(strstr(err.msg, quoted) != NULL, "message does not name %s: %s", quoted, err.msg);
        ck_assert_msg(strstr(err.msg, "inverse_sqrt") != NULL, "message lacks the known names: %s", err.msg);
        ck_assert_int_eq(k, GLIA_SCHED_COSINE);
    }
    glia_sched_kind k;
    ck_assert_int_eq(glia_sched_kind_parse("plateau", &k, NULL), GLIA_EINVAL);
}
END_TEST

/* ---- validation ------------------------------------------------------------------------------ */

typedef struct {
    const char *what;
    glia_sched_config cfg;
    const char *msg; /* a piece of the message */
} bad_sched;

static const bad_sched bad_scheds[] = {
    {"negative base lr", {.kind = GLIA_SCHED_CONSTANT, .base_lr = -0.1f}, "base learning rate"},
    {"NaN base lr", {.kind = GLIA_SCHED_CONSTANT, .base_lr = NAN}, "base learning rate"},
    {"negative warmup", {.kind = GLIA_SCHED_CONSTANT, .base_lr = 0.1f, .warmup_steps = -1}, "warmup_steps"},
    {"start factor > 1",
     {.kind = GLIA_SCHED_CONSTANT, .base_lr = 0.1f, .warmup_steps = 5, .warmup_start_factor = 1.5f},
     "warmup_start_factor"},
    {"negative start factor",
     {.kind = GLIA_SCHED_CONSTANT, .base_lr = 0.1f, .warmup_steps = 5, .warmup_start_factor = -0.5f},
     "warmup_start_factor"},
    {"NaN start factor",
     {.kind = GLIA_SCHED_CONSTANT, .base_lr = 0.1f, .warmup_steps = 5, .warmup_start_factor = NAN},
     "warmup_start_factor"},
    {"step_size 0", {.kind = GLIA_SCHED_STEP, .base_lr = 0.1f, .step_size = 0, .gamma = 0.5f}, "step_size"},
    {"negative step_size",
     {.kind = GLIA_SCHED_STEP, .base_lr = 0.1f, .step_size = -3, .gamma = 0.5f},
     "step_size"},
    {"step gamma 0", {.kind = GLIA_SCHED_STEP, .base_lr = 0.1f, .step_size = 2, .gamma = 0.0f}, "gamma"},
    {"step negative gamma",
     {.kind = GLIA_SCHED_STEP, .base_lr = 0.1f, .step_size = 2, .gamma = -0.5f},
     "gamma"},
    {"step NaN gamma", {.kind = GLIA_SCHED_STEP, .base_lr = 0.1f, .step_size = 2, .gamma = NAN}, "gamma"},
    {"exponential gamma 0",
     {.kind = GLIA_SCHED_EXPONENTIAL, .base_lr = 0.1f, .step_size = 1, .gamma = 0.0f},
     "exponential"},
    {"cosine 0 epochs", {.kind = GLIA_SCHED_COSINE, .base_lr = 0.1f, .total_epochs = 0}, "epochs"},
    {"cosine min_lr above lr",
     {.kind = GLIA_SCHED_COSINE, .base_lr = 0.1f, .total_epochs = 5, .min_lr = 0.2f},
     "min_lr"},
    {"cosine negative min_lr",
     {.kind = GLIA_SCHED_COSINE, .base_lr = 0.1f, .total_epochs = 5, .min_lr = -0.01f},
     "min_lr"},
    {"cosine NaN min_lr",
     {.kind = GLIA_SCHED_COSINE, .base_lr = 0.1f, .total_epochs = 5, .min_lr = NAN},
     "min_lr"},
    {"inverse_sqrt without warmup", {.kind = GLIA_SCHED_INVERSE_SQRT, .base_lr = 0.1f}, "inverse_sqrt"},
    {"unknown kind", {.kind = (glia_sched_kind)42, .base_lr = 0.1f}, "unknown kind"},
};
enum { N_BAD_SCHEDS = sizeof bad_scheds / sizeof bad_scheds[0] };

START_TEST(rejects_invalid_config)
{
    const bad_sched *b = &bad_scheds[_i];
    glia_err err = {0};
    ck_assert_msg(glia_sched_validate(&b->cfg, &err) == GLIA_EINVAL, "%s: accepted", b->what);
    ck_assert_int_eq(err.code, GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, b->msg) != NULL, "%s: message lacks '%s': %s", b->what, b->msg, err.msg);
    ck_assert_int_eq(glia_sched_validate(&b->cfg, NULL), GLIA_EINVAL);
}
END_TEST

START_TEST(accepts_boundary_config)
{
    static const glia_sched_config good[] = {
        {.kind = GLIA_SCHED_CONSTANT, .base_lr = 0.0f},
        {.kind = GLIA_SCHED_CONSTANT, .base_lr = 0.1f, .warmup_steps = 3, .warmup_start_factor = 1.0f},
        {.kind = GLIA_SCHED_CONSTANT, .base_lr = 0.1f, .warmup_steps = 3, .warmup_start_factor = 0.0f},
        {.kind = GLIA_SCHED_STEP, .base_lr = 0.1f, .step_size = 1, .gamma = 1.0f},
        {.kind = GLIA_SCHED_STEP, .base_lr = 0.1f, .step_size = 1, .gamma = 2.0f},
        {.kind = GLIA_SCHED_EXPONENTIAL, .base_lr = 0.1f, .step_size = 1, .gamma = 1e-3f},
        {.kind = GLIA_SCHED_COSINE, .base_lr = 0.1f, .total_epochs = 1, .min_lr = 0.1f},
        {.kind = GLIA_SCHED_COSINE, .base_lr = 0.1f, .total_epochs = 1, .min_lr = 0.0f},
        {.kind = GLIA_SCHED_INVERSE_SQRT, .base_lr = 0.1f, .warmup_steps = 1},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        glia_err err = {0};
        ck_assert_msg(glia_sched_validate(&good[i], &err) == GLIA_OK, "config %zu: %s", i, err.msg);
        float lr = glia_sched_lr(&good[i], 0, 0);
        ck_assert(isfinite(lr) && lr >= 0.0f && lr <= good[i].base_lr);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sched");
    TCase *tt = tcase_create("torch");
    tcase_add_loop_test(tt, matches_torch, 0, n_ref_sched());
    tcase_add_test(tt, epoch_kinds_ignore_the_step_after_warmup);
    tcase_add_test(tt, closed_forms);
    suite_add_tcase(s, tt);

    TCase *tc = tcase_create("config");
    tcase_add_test(tc, kind_names);
    tcase_add_loop_test(tc, rejects_invalid_config, 0, N_BAD_SCHEDS);
    tcase_add_test(tc, accepts_boundary_config);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return glia_check_run(suite());
}
