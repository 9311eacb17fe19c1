/*
 * test_optim.c - the optimizers against torch.optim 1.13.
 *
 * The reference trajectories below come from tests/unit/gen_optim_reference.py (run once with
 * PyTorch, pasted here; this test never needs Python): for SGD (plain, momentum, dampening,
 * nesterov, weight decay), RMSprop (plain, alpha/eps, centered, momentum, weight decay, all
 * together), Adam (plain, betas, weight decay, amsgrad) and AdamW (plain, amsgrad), two small
 * parameter tensors take eight steps with fixed gradients and a varying learning rate, and
 * every parameter after every step must match PyTorch to 1e-6 relative; the state buffers
 * PyTorch keeps must match too, under the same names. Around that: kind names, PyTorch's
 * defaults, configurations torch.optim refuses, buffer layout, and resuming from saved state.
 */
#include "core/train/optim.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* BEGIN GENERATED placeholder */
/* END GENERATED */

/* ---- helpers ----------------------------------------------------------------------------- */

/* Relative tolerance for values PyTorch computed in float32 (a few ulps after eight steps). */
#define REL_TOL 1e-6
/* Absolute floor, for reference values that are (nearly) zero. */
#define ABS_TOL 1e-9

static void assert_close(float got, float want, const char *what, int step, int i)
{
    double tol = REL_TOL * fabs((double)want) + ABS_TOL;
    ck_assert_msg(isfinite(got) && fabs((double)got - (double)want) <= tol,
                  "%s, step %d, element %d: got %.9g, want %.9g (diff %.3g, tol %.3g)", what, step, i,
                  (double)got, (double)want, fabs((double)got - (double)want), tol);
}

/* Two parameters (3 and 2 elements) over one flat value array and one flat grad array, like a
 * network's views into its parameter and gradient buffers. */
typedef struct {
    float value[REF_N];
    float grad[REF_N];
    glia_param params[REF_NPARAMS];
} fixture;

static void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    memcpy(f->value, ref_init, sizeof f->value);
    size_t at = 0;
    for (int i = 0; i < REF_NPARAMS; i++) {
        glia_param *p = &f->params[i];
        snprintf(p->name, sizeof p->name, "layer.%s", i == 0 ? "weight" : "bias");
        p->ndim = 1;
        p->shape[0] = (int64_t)ref_sizes[i];
        p->size = ref_sizes[i];
        p->value = f->value + at;
        p->grad = f->grad + at;
        p->decay = i == 0;
        at += ref_sizes[i];
    }
}

static glia_optim *new_optim(const glia_optim_config *cfg, fixture *f)
{
    glia_optim *opt = NULL;
    glia_err err = {0};
    glia_status rc = glia_optim_new(cfg, f->params, REF_NPARAMS, &opt, &err);
    ck_assert_msg(rc == GLIA_OK, "glia_optim_new: %s", err.msg);
    ck_assert_ptr_nonnull(opt);
    return opt;
}

/* Reference step t (0-based): load its gradients and step at its learning rate. */
static void ref_step(glia_optim *opt, fixture *f, const glia_optim_config *cfg, int t)
{
    memcpy(f->grad, ref_grads[t], sizeof f->grad);
    glia_optim_step(opt, cfg->lr * ref_lr_factor[t]);
}

/* ---- parity with torch.optim --------------------------------------------------------------- */

START_TEST(matches_torch)
{
    const optim_case *c = &ref_cases[_i];
    fixture f;
    fixture_init(&f);
    glia_optim *opt = new_optim(&c->cfg, &f);
    ck_assert_int_eq(glia_optim_steps(opt), 0);

    for (int t = 0; t < REF_STEPS; t++) {
        ref_step(opt, &f, &c->cfg, t);
        ck_assert_int_eq(glia_optim_steps(opt), t + 1);
        for (int i = 0; i < REF_N; i++)
            assert_close(f.value[i], c->after[t][i], c->name, t + 1, i);
    }

    /* The state after the last step: the buffers PyTorch keeps agree by name and value; the
     * ones it does not allocate for this configuration (momentum_buffer without momentum,
     * grad_avg when not centred, max_exp_avg_sq without amsgrad) stay zero here. */
    int found[3] = {0};
    for (int pi = 0, at = 0; pi < REF_NPARAMS; at += (int)ref_sizes[pi], pi++) {
        float *bufs[3] = {NULL};
        const char *names[3] = {NULL};
        int nb = glia_optim_buffers(opt, pi, bufs, names);
        ck_assert_int_eq(nb, c->cfg.kind == GLIA_OPTIM_SGD ? 1 : 3);
        for (int b = 0; b < nb; b++) {
            int s = -1;
            for (int k = 0; k < c->nstate; k++)
                if (strcmp(names[b], c->state_names[k]) == 0)
                    s = k;
            char what[128];
            snprintf(what, sizeof what, "%s state '%s' of param %d", c->name, names[b], pi);
            for (size_t j = 0; j < ref_sizes[pi]; j++) {
                if (s >= 0)
                    assert_close(bufs[b][j], c->state[s][at + (int)j], what, REF_STEPS, (int)j);
                else
                    ck_assert_msg(bufs[b][j] == 0.0f, "%s: element %zu is %g, PyTorch has no such state",
                                  what, j, (double)bufs[b][j]);
            }
            if (s >= 0)
                found[s] = 1;
        }
    }
    for (int k = 0; k < c->nstate; k++)
        ck_assert_msg(found[k], "%s: PyTorch keeps '%s', glia has no buffer of that name", c->name,
                      c->state_names[k]);
    glia_optim_free(opt);
}
END_TEST

/* The learning rate is the one passed to glia_optim_step, not the configured one. */
START_TEST(step_uses_the_given_lr)
{
    static const glia_optim_kind kinds[] = {GLIA_OPTIM_SGD, GLIA_OPTIM_RMSPROP, GLIA_OPTIM_ADAM};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        glia_optim_config cfg;
        glia_optim_defaults(kinds[k], &cfg);
        cfg.lr = 123.0f; /* would throw the parameters far away if it were used */
        fixture f;
        fixture_init(&f);
        glia_optim *opt = new_optim(&cfg, &f);
        memcpy(f.grad, ref_grads[0], sizeof f.grad);
        glia_optim_step(opt, 0.0f);
        ck_assert_mem_eq(f.value, ref_init, sizeof f.value);
        glia_optim_step(opt, 1e-3f);
        for (int i = 0; i < REF_N; i++)
            ck_assert_msg(fabsf(f.value[i] - ref_init[i]) < 0.01f, "%s: element %d moved to %g",
                          glia_optim_kind_name(kinds[k]), i, (double)f.value[i]);
        glia_optim_free(opt);
    }
}
END_TEST

/* Saving the state buffers and the step count and loading them into a fresh optimizer
 * continues the run exactly (what a checkpoint does): Adam's bias correction must see t. */
START_TEST(resume_from_saved_state)
{
    const optim_case *c = NULL;
    for (size_t k = 0; k < sizeof ref_cases / sizeof ref_cases[0]; k++)
        if (strcmp(ref_cases[k].name, "adam_amsgrad") == 0)
            c = &ref_cases[k];
    ck_assert_ptr_nonnull(c);
    enum { SPLIT = 5 };

    fixture a, b;
    fixture_init(&a);
    glia_optim *oa = new_optim(&c->cfg, &a);
    for (int t = 0; t < SPLIT; t++)
        ref_step(oa, &a, &c->cfg, t);

    fixture_init(&b);
    memcpy(b.value, a.value, sizeof b.value);
    glia_optim *ob = new_optim(&c->cfg, &b);
    for (int pi = 0; pi < REF_NPARAMS; pi++) {
        float *ba[3], *bb[3];
        const char *na[3], *nb[3];
        int n = glia_optim_buffers(oa, pi, ba, na);
        ck_assert_int_eq(glia_optim_buffers(ob, pi, bb, nb), n);
        for (int k = 0; k < n; k++) {
            ck_assert_str_eq(na[k], nb[k]);
            memcpy(bb[k], ba[k], sizeof(float) * ref_sizes[pi]);
        }
    }
    glia_optim_set_steps(ob, glia_optim_steps(oa));
    ck_assert_int_eq(glia_optim_steps(ob), SPLIT);
    glia_optim_free(oa);

    for (int t = SPLIT; t < REF_STEPS; t++) {
        ref_step(ob, &b, &c->cfg, t);
        for (int i = 0; i < REF_N; i++)
            assert_close(b.value[i], c->after[t][i], "resumed adam_amsgrad", t + 1, i);
    }

    /* Without the step count the bias correction restarts and the run diverges. */
    fixture d;
    fixture_init(&d);
    memcpy(d.value, c->after[SPLIT - 1], sizeof d.value);
    glia_optim *od = new_optim(&c->cfg, &d);
    for (int pi = 0; pi < REF_NPARAMS; pi++) {
        float *bd[3], *bb[3];
        const char *nd[3];
        int n = glia_optim_buffers(od, pi, bd, nd);
        glia_optim_buffers(ob, pi, bb, nd);
        (void)bb;
        for (int k = 0; k < n; k++)
            memset(bd[k], 0, sizeof(float) * ref_sizes[pi]);
    }
    ref_step(od, &d, &c->cfg, SPLIT);
    int differ = 0;
    for (int i = 0; i < REF_N; i++)
        differ += fabs((double)d.value[i] - (double)c->after[SPLIT][i]) > 1e-5;
    ck_assert_int_gt(differ, 0);
    glia_optim_free(od);
    glia_optim_free(ob);
}
END_TEST

/* ---- names and defaults ---------------------------------------------------------------------- */

START_TEST(kind_names_round_trip)
{
    static const struct {
        const char *name;
        glia_optim_kind kind;
    } want[] = {
        {"sgd", GLIA_OPTIM_SGD},
        {"rmsprop", GLIA_OPTIM_RMSPROP},
        {"adam", GLIA_OPTIM_ADAM},
        {"adamw", GLIA_OPTIM_ADAMW},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        glia_optim_kind kind = (glia_optim_kind)-1;
        glia_err err = {0};
        ck_assert_int_eq(glia_optim_kind_parse(want[i].name, &kind, &err), GLIA_OK);
        ck_assert_int_eq(kind, want[i].kind);
        ck_assert_str_eq(glia_optim_kind_name(want[i].kind), want[i].name);
    }
    ck_assert_str_eq(glia_optim_kind_name((glia_optim_kind)4), "?");
    ck_assert_str_eq(glia_optim_kind_name((glia_optim_kind)-1), "?");
}
END_TEST

START_TEST(kind_parse_rejects_unknown_names)
{
    static const char *const bad[] = {"",       "SGD",     "Adam", "adam ", " adam",
                                      "adamax", "adagrad", "rms",  "sgdm"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        glia_optim_kind kind = GLIA_OPTIM_RMSPROP;
        glia_err err = {0};
        ck_assert_int_eq(glia_optim_kind_parse(bad[i], &kind, &err), GLIA_EINVAL);
        ck_assert_int_eq(err.code, GLIA_EINVAL);
        ck_assert_msg(strstr(err.msg, "unknown optimizer") != NULL, "message: %s", err.msg);
        char quoted[32];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        ck_assert_msg(strstr(err.msg, quoted) != NULL, "message does not name %s: %s", quoted, err.msg);
        ck_assert_msg(strstr(err.msg, "adamw") != NULL, "message does not list the known names: %s", err.msg);
        ck_assert_int_eq(kind, GLIA_OPTIM_RMSPROP); /* untouched on failure */
    }
    /* A NULL err is allowed. */
    glia_optim_kind kind;
    ck_assert_int_eq(glia_optim_kind_parse("lion", &kind, NULL), GLIA_EINVAL);
}
END_TEST

/* torch.optim 1.13's defaults (SGD's lr is required in PyTorch; glia uses 0.01). */
START_TEST(defaults_are_pytorchs)
{
    glia_optim_config c;
    memset(&c, 0x55, sizeof c);
    glia_optim_defaults(GLIA_OPTIM_SGD, &c);
    ck_assert_int_eq(c.kind, GLIA_OPTIM_SGD);
    ck_assert_float_eq(c.lr, 0.01f);
    ck_assert_float_eq(c.momentum, 0.0f);
    ck_assert_float_eq(c.dampening, 0.0f);
    ck_assert_int_eq(c.nesterov, 0);
    ck_assert_float_eq(c.weight_decay, 0.0f);

    glia_optim_defaults(GLIA_OPTIM_RMSPROP, &c);
    ck_assert_int_eq(c.kind, GLIA_OPTIM_RMSPROP);
    ck_assert_float_eq(c.lr, 0.01f);
    ck_assert_float_eq(c.alpha, 0.99f);
    ck_assert_float_eq(c.eps, 1e-8f);
    ck_assert_float_eq(c.momentum, 0.0f);
    ck_assert_float_eq(c.weight_decay, 0.0f);
    ck_assert_int_eq(c.centered, 0);

    glia_optim_defaults(GLIA_OPTIM_ADAM, &c);
    ck_assert_int_eq(c.kind, GLIA_OPTIM_ADAM);
    ck_assert_float_eq(c.lr, 1e-3f);
    ck_assert_float_eq(c.beta1, 0.9f);
    ck_assert_float_eq(c.beta2, 0.999f);
    ck_assert_float_eq(c.eps, 1e-8f);
    ck_assert_float_eq(c.weight_decay, 0.0f);
    ck_assert_int_eq(c.amsgrad, 0);

    glia_optim_defaults(GLIA_OPTIM_ADAMW, &c);
    ck_assert_int_eq(c.kind, GLIA_OPTIM_ADAMW);
    ck_assert_float_eq(c.lr, 1e-3f);
    ck_assert_float_eq(c.beta1, 0.9f);
    ck_assert_float_eq(c.beta2, 0.999f);
    ck_assert_float_eq(c.eps, 1e-8f);
    ck_assert_float_eq(c.weight_decay, 1e-2f);
    ck_assert_int_eq(c.amsgrad, 0);

    /* Every default configuration is accepted. */
    for (int k = GLIA_OPTIM_SGD; k <= GLIA_OPTIM_ADAMW; k++) {
        glia_optim_defaults((glia_optim_kind)k, &c);
        fixture f;
        fixture_init(&f);
        glia_optim_free(new_optim(&c, &f));
    }
}
END_TEST

/* ---- configurations torch.optim refuses ------------------------------------------------------ */

typedef struct {
    const char *what;
    glia_optim_kind kind;
    void (*edit)(glia_optim_config *c);
    const char *msg; /* a piece of the message */
} bad_config;

static void nesterov_no_momentum(glia_optim_config *c)
{
    c->nesterov = 1;
}
static void nesterov_dampening(glia_optim_config *c)
{
    c->nesterov = 1, c->momentum = 0.9f, c->dampening = 0.1f;
}
static void negative_lr(glia_optim_config *c)
{
    c->lr = -0.01f;
}
static void nan_lr(glia_optim_config *c)
{
    c->lr = NAN;
}
static void negative_momentum(glia_optim_config *c)
{
    c->momentum = -0.5f;
}
static void negative_wd(glia_optim_config *c)
{
    c->weight_decay = -1e-4f;
}
static void nan_wd(glia_optim_config *c)
{
    c->weight_decay = NAN;
}
static void alpha_above_1(glia_optim_config *c)
{
    c->alpha = 1.01f;
}
static void alpha_negative(glia_optim_config *c)
{
    c->alpha = -0.1f;
}
static void eps_negative(glia_optim_config *c)
{
    c->eps = -1e-8f;
}
static void beta1_one(glia_optim_config *c)
{
    c->beta1 = 1.0f;
}
static void beta2_one(glia_optim_config *c)
{
    c->beta2 = 1.0f;
}
static void beta1_negative(glia_optim_config *c)
{
    c->beta1 = -0.1f;
}
static void beta2_nan(glia_optim_config *c)
{
    c->beta2 = NAN;
}
static void unknown_kind(glia_optim_config *c)
{
    c->kind = (glia_optim_kind)17;
}

static const bad_config bad_configs[] = {
    {"sgd nesterov without momentum", GLIA_OPTIM_SGD, nesterov_no_momentum, "nesterov"},
    {"sgd nesterov with dampening", GLIA_OPTIM_SGD, nesterov_dampening, "dampening"},
    {"sgd negative lr", GLIA_OPTIM_SGD, negative_lr, "lr"},
    {"adam NaN lr", GLIA_OPTIM_ADAM, nan_lr, "lr"},
    {"sgd negative momentum", GLIA_OPTIM_SGD, negative_momentum, "momentum"},
    {"rmsprop negative momentum", GLIA_OPTIM_RMSPROP, negative_momentum, "momentum"},
    {"sgd negative weight decay", GLIA_OPTIM_SGD, negative_wd, "weight_decay"},
    {"adamw NaN weight decay", GLIA_OPTIM_ADAMW, nan_wd, "weight_decay"},
    {"rmsprop alpha > 1", GLIA_OPTIM_RMSPROP, alpha_above_1, "alpha"},
    {"rmsprop alpha < 0", GLIA_OPTIM_RMSPROP, alpha_negative, "alpha"},
    {"rmsprop eps < 0", GLIA_OPTIM_RMSPROP, eps_negative, "eps"},
    {"adam beta1 = 1", GLIA_OPTIM_ADAM, beta1_one, "beta1"},
    {"adam beta2 = 1", GLIA_OPTIM_ADAM, beta2_one, "beta2"},
    {"adamw beta1 < 0", GLIA_OPTIM_ADAMW, beta1_negative, "beta1"},
    {"adamw beta2 NaN", GLIA_OPTIM_ADAMW, beta2_nan, "beta2"},
    {"adam eps < 0", GLIA_OPTIM_ADAM, eps_negative, "eps"},
    {"unknown kind", GLIA_OPTIM_SGD, unknown_kind, "unknown kind"},
};
enum { N_BAD_CONFIGS = sizeof bad_configs / sizeof bad_configs[0] };

START_TEST(rejects_invalid_config)
{
    const bad_config *b = &bad_configs[_i];
    glia_optim_config cfg;
    glia_optim_defaults(b->kind, &cfg);
    b->edit(&cfg);
    fixture f;
    fixture_init(&f);
    glia_optim *opt = (glia_optim *)&f; /* must be reset to NULL */
    glia_err err = {0};
    ck_assert_msg(glia_optim_new(&cfg, f.params, REF_NPARAMS, &opt, &err) == GLIA_EINVAL, "%s: accepted",
                  b->what);
    ck_assert_ptr_null(opt);
    ck_assert_int_eq(err.code, GLIA_EINVAL);
    ck_assert_msg(strstr(err.msg, b->msg) != NULL, "%s: message lacks '%s': %s", b->what, b->msg, err.msg);
}
END_TEST

/* The boundary values PyTorch accepts are accepted here too. */
START_TEST(accepts_boundary_config)
{
    fixture f;
    fixture_init(&f);
    glia_optim_config c;

    glia_optim_defaults(GLIA_OPTIM_SGD, &c);
    c.momentum = 0.9f, c.nesterov = 1; /* nesterov with momentum and no dampening */
    glia_optim_free(new_optim(&c, &f));
    c.nesterov = 0, c.dampening = 1.0f; /* dampening without nesterov is anything */
    glia_optim_free(new_optim(&c, &f));
    c.lr = 0.0f;
    glia_optim_free(new_optim(&c, &f));

    glia_optim_defaults(GLIA_OPTIM_RMSPROP, &c);
    c.alpha = 0.0f, c.eps = 0.0f;
    glia_optim_free(new_optim(&c, &f));
    c.alpha = 1.0f;
    glia_optim_free(new_optim(&c, &f));

    glia_optim_defaults(GLIA_OPTIM_ADAM, &c);
    c.beta1 = 0.0f, c.beta2 = 0.0f, c.eps = 0.0f;
    glia_optim_free(new_optim(&c, &f));
    c.beta1 = 0.99999f, c.beta2 = 0.99999f;
    glia_optim_free(new_optim(&c, &f));
}
END_TEST

START_TEST(rejects_param_without_grad)
{
    fixture f;
    fixture_init(&f);
    f.params[1].grad = NULL;
    glia_optim_config cfg;
    glia_optim_defaults(GLIA_OPTIM_ADAM, &cfg);
    glia_optim *opt = (glia_optim *)&f;
    glia_err err = {0};
    ck_assert_int_eq(glia_optim_new(&cfg, f.params, REF_NPARAMS, &opt, &err), GLIA_EINVAL);
    ck_assert_ptr_null(opt);
    ck_assert_msg(strstr(err.msg, "layer.bias") != NULL, "message does not name the parameter: %s", err.msg);
    ck_assert_msg(strstr(err.msg, "gradient") != NULL, "message: %s", err.msg);
}
END_TEST

START_TEST(no_params_is_a_no_op)
{
    for (int k = GLIA_OPTIM_SGD; k <= GLIA_OPTIM_ADAMW; k++) {
        glia_optim_config cfg;
        glia_optim_defaults((glia_optim_kind)k, &cfg);
        glia_optim *opt = NULL;
        glia_err err = {0};
        ck_assert_int_eq(glia_optim_new(&cfg, NULL, 0, &opt, &err), GLIA_OK);
        ck_assert_ptr_nonnull(opt);
        glia_optim_step(opt, 0.1f);
        glia_optim_step(opt, 0.1f);
        ck_assert_int_eq(glia_optim_steps(opt), 2);
        glia_optim_free(opt);
    }
    glia_optim_free(NULL);
}
END_TEST

/* ---- state buffers ------------------------------------------------------------------------- */

START_TEST(buffer_names_and_layout)
{
    static const struct {
        glia_optim_kind kind;
        int n;
        const char *names[3];
    } want[] = {
        {GLIA_OPTIM_SGD, 1, {"momentum_buffer"}},
        {GLIA_OPTIM_RMSPROP, 3, {"square_avg", "grad_avg", "momentum_buffer"}},
        {GLIA_OPTIM_ADAM, 3, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
        {GLIA_OPTIM_ADAMW, 3, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        glia_optim_config cfg;
        glia_optim_defaults(want[k].kind, &cfg);
        fixture f;
        fixture_init(&f);
        glia_optim *opt = new_optim(&cfg, &f);
        float *seen[REF_NPARAMS][3];
        for (int pi = 0; pi < REF_NPARAMS; pi++) {
            float *bufs[3] = {NULL, NULL, NULL};
            const char *names[3] = {NULL, NULL, NULL};
            ck_assert_int_eq(glia_optim_buffers(opt, pi, bufs, names), want[k].n);
            for (int b = 0; b < want[k].n; b++) {
                ck_assert_ptr_nonnull(names[b]);
                ck_assert_str_eq(names[b], want[k].names[b]);
                ck_assert_ptr_nonnull(bufs[b]);
                /* zeroed, like PyTorch's lazily created state, and params[pi].size long
                 * (ASan checks the writes) */
                for (size_t j = 0; j < f.params[pi].size; j++) {
                    ck_assert_float_eq(bufs[b][j], 0.0f);
                    bufs[b][j] = (float)(100 * pi + 10 * b) + (float)j;
                }
                seen[pi][b] = bufs[b];
            }
            for (int b = want[k].n; b < 3; b++)
                ck_assert_ptr_null(bufs[b]); /* nothing written past the count */
        }
        /* No two buffers overlap: each still holds what was written to it. */
        for (int pi = 0; pi < REF_NPARAMS; pi++)
            for (int b = 0; b < want[k].n; b++)
                for (size_t j = 0; j < f.params[pi].size; j++)
                    ck_assert_float_eq(seen[pi][b][j], (float)(100 * pi + 10 * b) + (float)j);
        /* The same pointers come back on a second call: they are views, not copies. */
        float *again[3];
        const char *names[3];
        glia_optim_buffers(opt, 1, again, names);
        for (int b = 0; b < want[k].n; b++)
            ck_assert_ptr_eq(again[b], seen[1][b]);
        glia_optim_free(opt);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tp = tcase_create("torch");
    tcase_add_loop_test(tp, matches_torch, 0, (int)(sizeof ref_cases / sizeof ref_cases[0]));
    tcase_add_test(tp, step_uses_the_given_lr);
    tcase_add_test(tp, resume_from_saved_state);
    suite_add_tcase(s, tp);

    TCase *tc = tcase_create("config");
    tcase_add_test(tc, kind_names_round_trip);
    tcase_add_test(tc, kind_parse_rejects_unknown_names);
    tcase_add_test(tc, defaults_are_pytorchs);
    tcase_add_loop_test(tc, rejects_invalid_config, 0, N_BAD_CONFIGS);
    tcase_add_test(tc, accepts_boundary_config);
    tcase_add_test(tc, rejects_param_without_grad);
    tcase_add_test(tc, no_params_is_a_no_op);
    tcase_add_test(tc, buffer_names_and_layout);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return glia_check_run(suite());
}
