/*
 * test_torch_optim.c - optimizers and schedules against torch.optim (PyTorch 1.13): four steps
 * of every optimizer configuration on a 4-element parameter with fixed gradients, and
 * each schedule's rates over several epochs. The expected values were printed by
 * tests/unit/gen_optim_reference.py and pasted here; the test itself needs no Python.
 * Also: option parsing and the configurations PyTorch refuses.
 */
#include "core/train/optim.h"
#include "core/train/sched.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <string.h>

static const float P0[4] = {0.5f, -1.25f, 2.0f, 0.0f};
static const float GRADS[4][4] = {{0.1f, -0.2f, 0.3f, -0.4f},
                                  {-0.5f, 0.25f, 0.0f, 1.0f},
                                  {0.3f, 0.3f, -0.7f, 0.05f},
                                  {1.5f, -0.1f, 0.2f, -0.3f}};

typedef struct {
    glia_optim_kind kind;
    float lr, momentum, dampening, weight_decay, alpha, beta1, beta2, eps;
    int nesterov, centered, amsgrad;
} optim_case;

/* In the order of gen_optim_reference.py's CASES; 0 means PyTorch's default. */
static const optim_case CASES[] = {
    {GLIA_OPTIM_SGD, .lr = 0.1f},
    {GLIA_OPTIM_SGD, .lr = 0.1f, .momentum = 0.9f},
    {GLIA_OPTIM_SGD, .lr = 0.1f, .momentum = 0.9f, .dampening = 0.5f, .weight_decay = 0.01f},
    {GLIA_OPTIM_SGD, .lr = 0.1f, .momentum = 0.9f, .nesterov = 1, .weight_decay = 0.1f},
    {GLIA_OPTIM_RMSPROP, .lr = 0.01f},
    {GLIA_OPTIM_RMSPROP, .lr = 0.01f, .alpha = 0.9f, .centered = 1, .weight_decay = 0.1f},
    {GLIA_OPTIM_RMSPROP, .lr = 0.01f, .momentum = 0.5f, .eps = 1e-6f},
    {GLIA_OPTIM_ADAM, .lr = 0.01f},
    {GLIA_OPTIM_ADAM, .lr = 0.01f, .beta1 = 0.8f, .beta2 = 0.99f, .weight_decay = 0.1f},
    {GLIA_OPTIM_ADAM, .lr = 0.01f, .amsgrad = 1},
    {GLIA_OPTIM_ADAMW, .lr = 0.01f},
    {GLIA_OPTIM_ADAMW, .lr = 0.01f, .weight_decay = 0.3f, .amsgrad = 1},
};

/* EXPECTED[case][step][element]: the parameter after each step, from torch.optim. */
static const float EXPECTED[][4][4] = {
    /* sgd {'lr': 0.1} */
    {{0.49000001f, -1.23000002f, 1.97000003f, 0.0400000028f},
     {0.540000021f, -1.255f, 1.97000003f, -0.0599999987f},
     {0.50999999f, -1.28499997f, 2.03999996f, -0.0649999976f},
     {0.359999985f, -1.27499998f, 2.01999998f, -0.0349999964f}},
    /* sgd {'lr': 0.1, 'momentum': 0.9} */
    {{0.49000001f, -1.23000002f, 1.97000003f, 0.0400000028f},
     {0.531000018f, -1.23699999f, 1.94300008f, -0.0239999965f},
     {0.537900031f, -1.27330005f, 1.98870003f, -0.0865999982f},
     {0.394110024f, -1.29597008f, 2.00983f, -0.112939991f}},
    /* sgd {'lr': 0.1, 'momentum': 0.9, 'dampening': 0.5, 'weight_decay': 0.01} */
    {{0.489499986f, -1.22874999f, 1.96800005f, 0.0400000028f},
     {0.504805267f, -1.22151065f, 1.93821609f, 0.0259800032f},
     {0.503327608f, -1.22938442f, 1.94544137f, 0.0108490139f},
     {0.426746041f, -1.23085618f, 1.94097137f, 0.0122257005f}},
    /* sgd {'lr': 0.1, 'momentum': 0.9, 'nesterov': True, 'weight_decay': 0.1} */
    {{0.471500009f, -1.18824995f, 1.90499997f, 0.0759999976f},
     {0.5453915f, -1.18684816f, 1.82830501f, -0.083044f},
     {0.503774881f, -1.20823073f, 1.87468672f, -0.143421754f},
     {0.203656733f, -1.1692003f, 1.79626596f, -0.134284109f}},
    /* rmsprop {'lr': 0.01} */
    {{0.400000095f, -1.1500001f, 1.9000001f, 0.0999999791f},
     {0.498077005f, -1.22823977f, 1.9000001f, 0.00708822161f},
     {0.447171092f, -1.29686987f, 1.99205685f, 0.00242431043f},
     {0.354034424f, -1.27446258f, 1.96650028f, 0.0294983685f}},
    /* rmsprop {'lr': 0.01, 'alpha': 0.9, 'centered': True, 'weight_decay': 0.1} */
    {{0.466666669f, -1.2166667f, 1.9666667f, 0.0333333313f},
     {0.497538716f, -1.22896802f, 1.95346308f, 0.00320863537f},
     {0.478141218f, -1.24440289f, 1.97622883f, 0.0016161853f},
     {0.446749777f, -1.22693145f, 1.959705f, 0.0110177444f}},
    /* rmsprop {'lr': 0.01, 'momentum': 0.5, 'eps': 1e-06} */
    {{0.40000999f, -1.15000498f, 1.90000331f, 0.0999975055f},
     {0.448089987f, -1.17824471f, 1.85000503f, 0.0570853539f},
     {0.421224952f, -1.26099312f, 1.91706145f, 0.0309654102f},
     {0.314656347f, -1.27996051f, 1.92503333f, 0.0449792556f}},
    /* adam {'lr': 0.01} */
    {{0.49000001f, -1.24000001f, 1.99000001f, 0.00999999978f},
     {0.495983541f, -1.24162734f, 1.98329937f, 0.00557784783f},
     {0.496728897f, -1.24691451f, 1.98713326f, 0.00186678232f},
     {0.491546094f, -1.24984455f, 1.98869371f, 0.000497700414f}},
    /* adam {'lr': 0.01, 'betas': (0.8, 0.99), 'weight_decay': 0.1} */
    {{0.49000001f, -1.24000001f, 1.99000001f, 0.0100000007f},
     {0.4954606f, -1.236974f, 1.98123884f, 0.00504553178f},
     {0.494442403f, -1.23823285f, 1.98145759f, 0.001126925f},
     {0.487876087f, -1.23569179f, 1.97837973f, 5.7541416e-05f}},
    /* adam {'lr': 0.01, 'amsgrad': True} */
    {{0.49000001f, -1.24000001f, 1.99000001f, 0.00999999978f},
     {0.495983541f, -1.24162734f, 1.98330283f, 0.00557784783f},
     {0.496728897f, -1.24691451f, 1.98713672f, 0.00186678232f},
     {0.491546094f, -1.24984455f, 1.98869717f, 0.000497700414f}},
    /* adamw {'lr': 0.01} */
    {{0.489950001f, -1.23987496f, 1.98979998f, 0.00999999978f},
     {0.495884538f, -1.24137831f, 1.98290038f, 0.00557684759f},
     {0.496580303f, -1.24654126f, 1.98653591f, 0.00186522421f},
     {0.49134782f, -1.24934661f, 1.98789763f, 0.000495955814f}},
    /* adamw {'lr': 0.01, 'weight_decay': 0.3, 'amsgrad': True} */
    {{0.488499999f, -1.23624992f, 1.98399997f, 0.00999999978f},
     {0.493018031f, -1.23416853f, 1.97135079f, 0.00554784806f},
     {0.492284328f, -1.23575318f, 1.96927059f, 0.00182013889f},
     {0.485624671f, -1.23497593f, 1.96492314f, 0.000445596525f}},
};

static void run_case(size_t c)
{
    const optim_case *oc = &CASES[c];
    glia_optim_config cfg;
    glia_optim_defaults(oc->kind, &cfg);
    cfg.lr = oc->lr;
    cfg.momentum = oc->momentum;
    cfg.dampening = oc->dampening;
    cfg.nesterov = oc->nesterov;
    cfg.centered = oc->centered;
    cfg.amsgrad = oc->amsgrad;
    if (oc->weight_decay || oc->kind != GLIA_OPTIM_ADAMW)
        cfg.weight_decay = oc->weight_decay;
    if (oc->alpha)
        cfg.alpha = oc->alpha;
    if (oc->beta1)
        cfg.beta1 = oc->beta1;
    if (oc->beta2)
        cfg.beta2 = oc->beta2;
    if (oc->eps)
        cfg.eps = oc->eps;
    float value[4], grad[4];
    memcpy(value, P0, sizeof value);
    glia_param p = {.name = "p", .ndim = 1, .shape = {4}, .size = 4, .value = value, .grad = grad};
    glia_err err = {0};
    glia_optim *opt;
    ck_assert_msg(glia_optim_new(&cfg, &p, 1, &opt, &err) == GLIA_OK, "case %zu: %s", c, err.msg);
    for (int s = 0; s < 4; s++) {
        memcpy(grad, GRADS[s], sizeof grad);
        glia_optim_step(opt, cfg.lr);
        for (int i = 0; i < 4; i++) {
            float want = EXPECTED[c][s][i];
            ck_assert_msg(fabsf(value[i] - want) <= 2e-6f * fmaxf(1.0f, fabsf(want)),
                          "case %zu (%s), step %d, element %d: %.9g, PyTorch %.9g", c,
                          glia_optim_kind_name(oc->kind), s + 1, i, value[i], want);
        }
    }
    ck_assert_int_eq(glia_optim_steps(opt), 4);
    glia_optim_free(opt);
}

START_TEST(matches_torch_optim)
{
    ck_assert_uint_eq(sizeof CASES / sizeof CASES[0], sizeof EXPECTED / sizeof EXPECTED[0]);
    run_case((size_t)_i);
}
END_TEST

START_TEST(defaults_parsing_and_refusals)
{
    glia_err err = {0};
    glia_optim_kind k;
    glia_optim_config c;
    ck_assert_int_eq(glia_optim_kind_parse("adamw", &k, &err), GLIA_OK);
    ck_assert_int_eq(k, GLIA_OPTIM_ADAMW);
    ck_assert_int_eq(glia_optim_kind_parse("adagrad", &k, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "adagrad"));
    glia_optim_defaults(GLIA_OPTIM_ADAMW, &c);
    ck_assert_float_eq(c.lr, 1e-3f);
    ck_assert_float_eq(c.weight_decay, 1e-2f); /* AdamW's default, unlike Adam's 0 */
    ck_assert_float_eq(c.beta2, 0.999f);
    glia_optim_defaults(GLIA_OPTIM_RMSPROP, &c);
    ck_assert_float_eq(c.alpha, 0.99f);
    float v[1] = {0}, g[1] = {0};
    glia_param p = {.name = "p", .ndim = 1, .shape = {1}, .size = 1, .value = v, .grad = g};
    glia_optim *opt = NULL;
    glia_optim_defaults(GLIA_OPTIM_SGD, &c);
    c.nesterov = 1; /* PyTorch: nesterov needs momentum > 0 and dampening 0 */
    ck_assert_int_eq(glia_optim_new(&c, &p, 1, &opt, &err), GLIA_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "nesterov"));
    glia_optim_defaults(GLIA_OPTIM_ADAM, &c);
    c.beta1 = 1.0f;
    ck_assert_int_eq(glia_optim_new(&c, &p, 1, &opt, &err), GLIA_EINVAL);
    glia_optim_defaults(GLIA_OPTIM_ADAM, &c);
    c.lr = -1;
    ck_assert_int_eq(glia_optim_new(&c, &p, 1, &opt, &err), GLIA_EINVAL);
    p.grad = NULL; /* a parameter without a gradient buffer cannot be trained */
    glia_optim_defaults(GLIA_OPTIM_ADAM, &c);
    ck_assert_int_eq(glia_optim_new(&c, &p, 1, &opt, &err), GLIA_EINVAL);
    ck_assert_ptr_null(opt);
}
END_TEST

/* ---- schedules: torch.optim.lr_scheduler stepped once per epoch, base lr 0.1 ---- */

static void expect_rates(const glia_sched_config *c, const float *want, int n, int per_step, const char *what)
{
    glia_err err = {0};
    ck_assert_msg(glia_sched_validate(c, &err) == GLIA_OK, "%s: %s", what, err.msg);
    for (int e = 0; e < n; e++) {
        float lr = per_step ? glia_sched_lr(c, e, 0) : glia_sched_lr(c, 1000 + e, e);
        ck_assert_msg(fabsf(lr - want[e]) <= 1e-7f, "%s, epoch %d: %.9g, PyTorch %.9g", what, e, lr, want[e]);
    }
}

START_TEST(schedules_match_torch)
{
    /* StepLR(step_size=3, gamma=0.5) */
    static const float step[8] = {0.1f, 0.1f, 0.1f, 0.05f, 0.05f, 0.05f, 0.025f, 0.025f};
    /* ExponentialLR(gamma=0.8) */
    static const float expo[8] = {0.1f, 0.08f, 0.064f, 0.0512f, 0.04096f, 0.032768f, 0.0262144f, 0.02097152f};
    /* CosineAnnealingLR(T_max=6, eta_min=0.01), epochs 0..6 */
    static const float cosine[7] = {0.1f, 0.0939711432f, 0.0775f, 0.055f, 0.0325f, 0.0160288568f, 0.01f};
    /* LinearLR(start_factor=0.25, total_iters=4): glia's warmup counts optimizer steps */
    static const float warm[8] = {0.025f, 0.04375f, 0.0625f, 0.08125f, 0.1f, 0.1f, 0.1f, 0.1f};
    glia_sched_config c = {.kind = GLIA_SCHED_STEP, .base_lr = 0.1f, .step_size = 3, .gamma = 0.5f};
    expect_rates(&c, step, 8, 0, "step");
    c = (glia_sched_config){.kind = GLIA_SCHED_EXPONENTIAL, .base_lr = 0.1f, .step_size = 1, .gamma = 0.8f};
    expect_rates(&c, expo, 8, 0, "exponential");
    c = (glia_sched_config){.kind = GLIA_SCHED_COSINE, .base_lr = 0.1f, .total_epochs = 6, .min_lr = 0.01f};
    expect_rates(&c, cosine, 7, 0, "cosine");
    c = (glia_sched_config){
        .kind = GLIA_SCHED_CONSTANT, .base_lr = 0.1f, .warmup_steps = 4, .warmup_start_factor = 0.25f};
    expect_rates(&c, warm, 8, 1, "linear warmup");
}
END_TEST

START_TEST(warmup_composes_and_inverse_sqrt)
{
    glia_err err = {0};
    /* warmup multiplies whatever the schedule says during the first steps */
    glia_sched_config c = {.kind = GLIA_SCHED_STEP,
                           .base_lr = 1.0f,
                           .step_size = 1,
                           .gamma = 0.5f,
                           .warmup_steps = 10,
                           .warmup_start_factor = 0.5f};
    ck_assert_float_eq_tol(glia_sched_lr(&c, 0, 1), 0.5f * 0.5f, 1e-7f);
    ck_assert_float_eq_tol(glia_sched_lr(&c, 5, 1), 0.5f * 0.75f, 1e-7f);
    ck_assert_float_eq_tol(glia_sched_lr(&c, 10, 1), 0.5f, 1e-7f);
    /* inverse square root after warmup, as in "Attention is all you need" */
    c = (glia_sched_config){
        .kind = GLIA_SCHED_INVERSE_SQRT, .base_lr = 1.0f, .warmup_steps = 100, .warmup_start_factor = 1.0f};
    ck_assert_int_eq(glia_sched_validate(&c, &err), GLIA_OK);
    ck_assert_float_eq_tol(glia_sched_lr(&c, 99, 0), 1.0f, 1e-7f);
    ck_assert_float_eq_tol(glia_sched_lr(&c, 399, 0), 0.5f, 1e-7f);
    glia_sched_kind k;
    ck_assert_int_eq(glia_sched_kind_parse("warmup", &k, &err), GLIA_OK);
    ck_assert_int_eq(k, GLIA_SCHED_CONSTANT);
    ck_assert_int_eq(glia_sched_kind_parse("onecycle", &k, &err), GLIA_EINVAL);
    c = (glia_sched_config){.kind = GLIA_SCHED_STEP, .base_lr = 0.1f, .step_size = 0, .gamma = 0.5f};
    ck_assert_int_eq(glia_sched_validate(&c, &err), GLIA_EINVAL);
    c = (glia_sched_config){.kind = GLIA_SCHED_COSINE, .base_lr = 0.1f, .total_epochs = 5, .min_lr = 0.5f};
    ck_assert_int_eq(glia_sched_validate(&c, &err), GLIA_EINVAL);
    c = (glia_sched_config){.kind = GLIA_SCHED_INVERSE_SQRT, .base_lr = 0.1f};
    ck_assert_int_eq(glia_sched_validate(&c, &err), GLIA_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("torch_optim");
    TCase *tc = tcase_create("torch_optim");
    tcase_add_loop_test(tc, matches_torch_optim, 0, (int)(sizeof CASES / sizeof CASES[0]));
    tcase_add_test(tc, defaults_parsing_and_refusals);
    tcase_add_test(tc, schedules_match_torch);
    tcase_add_test(tc, warmup_composes_and_inverse_sqrt);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
