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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* BEGIN GENERATED optim by tests/unit/gen_optim_reference.py (torch 1.13.0a0); do not edit */
// clang-format off
enum { REF_STEPS = 8, REF_N = 5, REF_NPARAMS = 2 };
static const size_t ref_sizes[REF_NPARAMS] = {3, 2};
static const float ref_init[REF_N] = {0.5f, -1.25f, 2.0f, 0.75f, -0.3f};
static const float ref_grads[REF_STEPS][REF_N] = {
    {0.1f, -0.2f, 0.3f, -0.05f, 0.8f},
    {0.25f, 0.1f, -0.4f, 0.0f, -0.6f},
    {-0.3f, 0.05f, 0.5f, 0.2f, 0.4f},
    {0.05f, -0.35f, -0.1f, 0.15f, -0.9f},
    {0.4f, 0.3f, 0.2f, -0.25f, 0.1f},
    {-0.15f, -0.1f, 0.6f, 0.3f, -0.2f},
    {0.2f, 0.45f, -0.3f, -0.1f, 0.7f},
    {-0.05f, 0.2f, 0.1f, 0.35f, -0.5f},
};
static const float ref_lr_factor[REF_STEPS] = {1.0f, 1.0f, 0.5f, 0.5f, 0.25f, 1.0f, 2.0f, 1.0f};
typedef struct {
    const char *name;
    glia_optim_config cfg;
    float after[REF_STEPS][REF_N]; /* the parameters after each step */
    int nstate;                    /* state buffers PyTorch holds after the last step */
    const char *state_names[3];
    float state[3][REF_N];
} optim_case;
static const optim_case ref_cases[] = {
    {
        "sgd_plain",
        {.kind = GLIA_OPTIM_SGD, .lr = 0.1f, .momentum = 0.0f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.0f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.49000001f, -1.23000002f, 1.97000003f, 0.754999995f, -0.380000025f},
            {0.465000004f, -1.24000001f, 2.00999999f, 0.754999995f, -0.320000023f},
            {0.480000019f, -1.24250007f, 1.98500001f, 0.745000005f, -0.340000033f},
            {0.477500021f, -1.22500002f, 1.99000001f, 0.737500012f, -0.295000046f},
            {0.467500031f, -1.23250008f, 1.98500001f, 0.743750036f, -0.297500044f},
            {0.482500046f, -1.22250009f, 1.92499995f, 0.713750005f, -0.277500033f},
            {0.442500055f, -1.31250012f, 1.98500001f, 0.733749986f, -0.417500019f},
            {0.44750005f, -1.3325001f, 1.97500002f, 0.698749959f, -0.367500007f},
        },
        0,
        {NULL},
        {{0.0f}},
    },
    {
        "sgd_momentum",
        {.kind = GLIA_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.0f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.495000005f, -1.24000001f, 1.98500001f, 0.752499998f, -0.340000004f},
            {0.478000015f, -1.23600006f, 1.99150002f, 0.754750013f, -0.346000016f},
            {0.47785002f, -1.23545003f, 1.98192501f, 0.750762522f, -0.358700007f},
            {0.476465017f, -1.22620499f, 1.97580755f, 0.74342376f, -0.347629994f},
            {0.470841765f, -1.22579479f, 1.97055471f, 0.743246317f, -0.343898505f},
            {0.458098054f, -1.21931791f, 1.92164433f, 0.727607548f, -0.320465118f},
            {0.415159404f, -1.25265944f, 1.86360574f, 0.709457755f, -0.34828499f},
            {0.398337007f, -1.27766311f, 1.8324883f, 0.683790326f, -0.335803926f},
        },
        1,
        {"momentum_buffer"},
        {{0.336447865f, 0.500074208f, 0.622347713f, 0.513348103f, -0.249621093f}},
    },
    {
        "sgd_dampening",
        {.kind = GLIA_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f, .dampening = 0.3f, .nesterov = 0,
         .weight_decay = 0.0f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.495000005f, -1.24000001f, 1.98500001f, 0.752499998f, -0.340000004f},
            {0.481750011f, -1.23450005f, 1.98549998f, 0.754750013f, -0.354999989f},
            {0.481037498f, -1.23290002f, 1.97697496f, 0.752262533f, -0.368749976f},
            {0.479521245f, -1.225335f, 1.97105241f, 0.747398794f, -0.365374982f},
            {0.475338936f, -1.22455573f, 1.96663725f, 0.747397602f, -0.364731222f},
            {0.465532601f, -1.21825039f, 1.92974281f, 0.736893356f, -0.355413735f},
            {0.433881223f, -1.23840082f, 1.88433278f, 0.724985659f, -0.387642235f},
            {0.42138809f, -1.25446856f, 1.86039829f, 0.707377195f, -0.384645045f},
        },
        1,
        {"momentum_buffer"},
        {{0.249862432f, 0.321354121f, 0.478690028f, 0.352169245f, -0.059943527f}},
    },
    {
        "sgd_nesterov",
        {.kind = GLIA_OPTIM_SGD, .lr = 0.05f, .momentum = 0.8f, .dampening = 0.0f, .nesterov = 1,
         .weight_decay = 0.0f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.490999997f, -1.23199999f, 1.97300005f, 0.754499972f, -0.372000009f},
            {0.465299994f, -1.23459995f, 1.99940002f, 0.756099999f, -0.343600005f},
            {0.473519981f, -1.23588991f, 1.97946f, 0.747739971f, -0.362240016f},
            {0.471845984f, -1.22017193f, 1.97800803f, 0.738301992f, -0.328652024f},
            {0.462676376f, -1.22413468f, 1.97192729f, 0.741651773f, -0.326466829f},
            {0.462833643f, -1.21581566f, 1.90646875f, 0.715371132f, -0.297474176f},
            {0.415085286f, -1.29150522f, 1.90373504f, 0.715322137f, -0.393085957f},
            {0.408485949f, -1.32178104f, 1.88164151f, 0.679802537f, -0.358330667f},
        },
        1,
        {"momentum_buffer"},
        {{0.227483556f, 0.506895363f, 0.427336991f, 0.450490236f, -0.243882269f}},
    },
    {
        "sgd_weight_decay",
        {.kind = GLIA_OPTIM_SGD, .lr = 0.1f, .momentum = 0.0f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.05f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.487500012f, -1.22375f, 1.96000004f, 0.751250029f, -0.378500015f},
            {0.460062504f, -1.22763121f, 1.99020004f, 0.747493804f, -0.316607505f},
            {0.473912358f, -1.22706211f, 1.96022451f, 0.735625088f, -0.335815996f},
            {0.470227569f, -1.20649445f, 1.96032393f, 0.726286054f, -0.289976448f},
            {0.459639788f, -1.21248639f, 1.95287347f, 0.73162818f, -0.29211399f},
            {0.472341597f, -1.19642401f, 1.88310909f, 0.697970033f, -0.270653427f},
            {0.427618176f, -1.27445972f, 1.92427802f, 0.71099031f, -0.407946885f},
            {0.430480093f, -1.28808737f, 1.90465665f, 0.672435343f, -0.355907142f},
        },
        0,
        {NULL},
        {{0.0f}},
    },
    {
        "sgd_all",
        {.kind = GLIA_OPTIM_SGD, .lr = 0.05f, .momentum = 0.7f, .dampening = 0.0f, .nesterov = 1,
         .weight_decay = 0.02f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.490649998f, -1.23087502f, 1.97109997f, 0.752974987f, -0.367490023f},
            {0.465870887f, -1.23177004f, 1.99341905f, 0.75255245f, -0.335318297f},
            {0.474098951f, -1.23184204f, 1.97197628f, 0.743528426f, -0.351401806f},
            {0.472243667f, -1.21552658f, 1.96898782f, 0.733968019f, -0.317228913f},
            {0.463414073f, -1.21895266f, 1.9623251f, 0.737065077f, -0.315195084f},
            {0.464984f, -1.20832419f, 1.89771187f, 0.71074754f, -0.288686574f},
            {0.421749711f, -1.27454269f, 1.89654851f, 0.71051836f, -0.384034395f},
            {0.417476237f, -1.29764819f, 1.87524557f, 0.67647779f, -0.34995535f},
        },
        1,
        {"momentum_buffer"},
        {{0.181478113f, 0.410860062f, 0.411610901f, 0.452287495f, -0.248428822f}},
    },
    {
        "rmsprop_plain",
        {.kind = GLIA_OPTIM_RMSPROP, .lr = 0.01f, .momentum = 0.0f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.0f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.400000095f, -1.1500001f, 1.9000001f, 0.849999785f, -0.400000006f},
            {0.307088375f, -1.19490135f, 1.9801445f, 0.849999785f, -0.339807093f},
            {0.344393492f, -1.20590651f, 1.94466865f, 0.80146426f, -0.358508766f},
            {0.33819288f, -1.16390371f, 1.95172811f, 0.77193892f, -0.326219201f},
            {0.320540935f, -1.17856026f, 1.94490266f, 0.789519787f, -0.328017443f},
            {0.34625724f, -1.15928793f, 1.88134778f, 0.724837661f, -0.313707888f},
            {0.281095624f, -1.29070055f, 1.94219494f, 0.767193258f, -0.403630078f},
            {0.289254576f, -1.31886256f, 1.93205523f, 0.707452357f, -0.372913599f},
        },
        1,
        {"square_avg"},
        {{0.00375553872f, 0.00504350802f, 0.00972624216f, 0.00343235885f, 0.0264970288f}},
    },
    {
        "rmsprop_alpha",
        {.kind = GLIA_OPTIM_RMSPROP, .lr = 0.01f, .momentum = 0.0f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.0f, .alpha = 0.9f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-06f, .amsgrad = 0},
        {
            {0.468378216f, -1.21837771f, 1.96837759f, 0.7816208f, -0.33162266f},
            {0.438812941f, -1.23312163f, 1.99414372f, 0.7816208f, -0.312011123f},
            {0.450886488f, -1.23689473f, 1.98257387f, 0.766195297f, -0.318328083f},
            {0.448784232f, -1.22314596f, 1.98498452f, 0.756538868f, -0.307452828f},
            {0.442884266f, -1.22802997f, 1.9825654f, 0.762322128f, -0.308087647f},
            {0.451831728f, -1.22132194f, 1.96057534f, 0.740844965f, -0.302809596f},
            {0.428461283f, -1.26618147f, 1.98233926f, 0.755525351f, -0.335971624f},
            {0.431526124f, -1.27615333f, 1.9785434f, 0.734956443f, -0.324359566f},
        },
        1,
        {"square_avg"},
        {{0.0266147405f, 0.040225476f, 0.0694020838f, 0.0289540105f, 0.185403794f}},
    },
    {
        "rmsprop_centered",
        {.kind = GLIA_OPTIM_RMSPROP, .lr = 0.01f, .momentum = 0.0f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.0f, .alpha = 0.99f, .centered = 1, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.399496317f, -1.14949632f, 1.8994962f, 0.850503564f, -0.400503784f},
            {0.305793047f, -1.1944412f, 1.97965765f, 0.850503564f, -0.340299696f},
            {0.343100548f, -1.20544875f, 1.94412506f, 0.801837206f, -0.359029919f},
            {0.336898208f, -1.16325438f, 1.95119059f, 0.772104502f, -0.326732039f},
            {0.31917876f, -1.17791343f, 1.94434977f, 0.789686859f, -0.32853049f},
            {0.344938636f, -1.15862787f, 1.88037002f, 0.724824011f, -0.314214766f},
            {0.279527426f, -1.29013538f, 1.94140613f, 0.767235637f, -0.40415293f},
            {0.287711561f, -1.31835604f, 1.93122697f, 0.707189381f, -0.373433918f},
        },
        2,
        {"square_avg", "grad_avg"},
        {{0.00375553872f, 0.00504350802f, 0.00972624216f, 0.00343235885f, 0.0264970288f}, {0.00480413949f, 0.00457655499f, 0.00867582764f, 0.00590139395f, -0.00209366228f}},
    },
    {
        "rmsprop_momentum",
        {.kind = GLIA_OPTIM_RMSPROP, .lr = 0.01f, .momentum = 0.9f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.0f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.400000095f, -1.1500001f, 1.89999998f, 0.849999785f, -0.400000006f},
            {0.217088461f, -1.10490143f, 1.89014435f, 0.93999964f, -0.429807067f},
            {0.172083348f, -1.09561229f, 1.85023344f, 0.93196404f, -0.46192193f},
            {0.125378132f, -1.04524922f, 1.82137311f, 0.89520669f, -0.458535731f},
            {0.0867088586f, -1.03724241f, 1.80156052f, 0.896246731f, -0.45881018f},
            {-0.0267842282f, -0.989145637f, 1.66668022f, 0.83530879f, -0.445488632f},
            {-0.296233386f, -1.03398407f, 1.48474276f, 0.767976105f, -0.511432052f},
            {-0.409326553f, -1.08232331f, 1.39273119f, 0.677935541f, -0.510390103f},
        },
        2,
        {"square_avg", "momentum_buffer"},
        {{0.00375553872f, 0.00504350802f, 0.00972624216f, 0.00343235885f, 0.0264970288f}, {11.3093176f, 4.83392811f, 9.20115852f, 9.00405884f, -0.104194641f}},
    },
    {
        "rmsprop_weight_decay",
        {.kind = GLIA_OPTIM_RMSPROP, .lr = 0.01f, .momentum = 0.0f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.1f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.400000066f, -1.1500001f, 1.89999998f, 0.650000393f, -0.400000006f},
            {0.311084449f, -1.14536643f, 1.93888891f, 0.556605756f, -0.335889995f},
            {0.342985749f, -1.13554347f, 1.89935517f, 0.508344769f, -0.353194624f},
            {0.333131343f, -1.09467995f, 1.89423251f, 0.478038967f, -0.319997013f},
            {0.31529516f, -1.10267675f, 1.88405192f, 0.491109163f, -0.321208447f},
            {0.334533334f, -1.06924045f, 1.8202492f, 0.423917592f, -0.304809123f},
            {0.263324916f, -1.16539538f, 1.83935225f, 0.446067333f, -0.390679061f},
            {0.266950279f, -1.17706978f, 1.81684148f, 0.385436505f, -0.35785991f},
        },
        1,
        {"square_avg"},
        {{0.00426190486f, 0.00511084171f, 0.0159094762f, 0.00423586415f, 0.0269794185f}},
    },
    {
        "rmsprop_all",
        {.kind = GLIA_OPTIM_RMSPROP, .lr = 0.005f, .momentum = 0.5f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.05f, .alpha = 0.95f, .centered = 1, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.47705844f, -1.22705841f, 1.97705841f, 0.77294147f, -0.322941571f},
            {0.444220573f, -1.21898413f, 1.97926545f, 0.762849569f, -0.320381522f},
            {0.443726003f, -1.21647191f, 1.9709208f, 0.748952687f, -0.323928326f},
            {0.441450089f, -1.20520759f, 1.96677065f, 0.734636486f, -0.318152279f},
            {0.43666473f, -1.2049731f, 1.96354306f, 0.734371662f, -0.317062646f},
            {0.432153136f, -1.19767737f, 1.94112003f, 0.717942595f, -0.311191738f},
            {0.410721868f, -1.21714902f, 1.92785096f, 0.707613945f, -0.326423228f},
            {0.406511962f, -1.22680128f, 1.92002952f, 0.690149426f, -0.322553098f},
        },
        3,
        {"square_avg", "grad_avg", "momentum_buffer"},
        {{0.0172539689f, 0.0211587474f, 0.0524966717f, 0.0183725879f, 0.113346688f}, {0.0279857405f, 0.00363400951f, 0.0704867393f, 0.0401073992f, -0.0171336047f}, {0.841983974f, 1.93044412f, 1.56429875f, 3.49289966f, -0.774027288f}},
    },
    {
        "adam_plain",
        {.kind = GLIA_OPTIM_ADAM, .lr = 0.01f, .momentum = 0.0f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.0f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.49000001f, -1.24000001f, 1.99000001f, 0.75999999f, -0.310000002f},
            {0.48060295f, -1.23733664f, 1.99193513f, 0.766700566f, -0.310893238f},
            {0.480555385f, -1.23702967f, 1.99020445f, 0.764229178f, -0.312400848f},
            {0.480158806f, -1.23446012f, 1.98920798f, 0.760882378f, -0.311483532f},
            {0.479082018f, -1.23437309f, 1.98843431f, 0.760828137f, -0.311193883f},
            {0.476822197f, -1.23308194f, 1.98307467f, 0.757324576f, -0.309469312f},
            {0.469826609f, -1.23797286f, 1.97718847f, 0.753466964f, -0.311250806f},
            {0.467150718f, -1.24142349f, 1.97411263f, 0.749161005f, -0.310504377f},
        },
        2,
        {"exp_avg", "exp_avg_sq"},
        {{0.0336447917f, 0.0500074252f, 0.0622347593f, 0.051334817f, -0.0249621104f}, {0.000388532586f, 0.000516167027f, 0.00100619742f, 0.000349315873f, 0.00274874596f}},
    },
    {
        "adam_betas",
        {.kind = GLIA_OPTIM_ADAM, .lr = 0.02f, .momentum = 0.0f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.0f, .alpha = 0.99f, .centered = 0, .beta1 = 0.8f, .beta2 = 0.95f,
         .eps = 1e-06f, .amsgrad = 0},
        {
            {0.480000198f, -1.23000014f, 1.98000002f, 0.769999623f, -0.319999993f},
            {0.460918367f, -1.22575092f, 1.98501039f, 0.782734394f, -0.320630789f},
            {0.461544484f, -1.22581398f, 1.9813062f, 0.777077436f, -0.32350868f},
            {0.46119082f, -1.22027111f, 1.97942376f, 0.769663453f, -0.320838779f},
            {0.458803505f, -1.22040582f, 1.9777981f, 0.769867063f, -0.320018113f},
            {0.454706401f, -1.21832371f, 1.96559274f, 0.762112021f, -0.315482169f},
            {0.439848632f, -1.23274577f, 1.95468688f, 0.755224109f, -0.320961207f},
            {0.434854031f, -1.24211109f, 1.94886124f, 0.745259523f, -0.31893608f},
        },
        2,
        {"exp_avg", "exp_avg_sq"},
        {{0.0454967022f, 0.101379074f, 0.0854673982f, 0.0900980532f, -0.0487764478f}, {0.0161294714f, 0.0227779821f, 0.0418375209f, 0.0158917215f, 0.11276488f}},
    },
    {
        "adam_weight_decay",
        {.kind = GLIA_OPTIM_ADAM, .lr = 0.01f, .momentum = 0.0f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.1f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.49000001f, -1.24000001f, 1.99000001f, 0.74000001f, -0.310000002f},
            {0.480344623f, -1.23276937f, 1.98656011f, 0.730806053f, -0.310463578f},
            {0.479286879f, -1.22934151f, 1.98321855f, 0.726758301f, -0.311742336f},
            {0.477781087f, -1.22534871f, 1.98017621f, 0.722356141f, -0.310612202f},
            {0.476356417f, -1.22413552f, 1.9784447f, 0.72129041f, -0.310201734f},
            {0.47236073f, -1.21840787f, 1.97051799f, 0.715047181f, -0.307961881f},
            {0.462157905f, -1.21409237f, 1.95754647f, 0.7046839f, -0.308712453f},
            {0.45768857f, -1.21273744f, 1.95084727f, 0.698041856f, -0.30744493f},
        },
        2,
        {"exp_avg", "exp_avg_sq"},
        {{0.0608356558f, -0.0198611189f, 0.174889714f, 0.0925289914f, -0.0425588489f}, {0.000455371221f, 0.000528102275f, 0.00167501287f, 0.000476964837f, 0.00277082226f}},
    },
    {
        "adam_amsgrad",
        {.kind = GLIA_OPTIM_ADAM, .lr = 0.01f, .momentum = 0.0f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.0f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 1},
        {
            {0.49000001f, -1.24000001f, 1.99000001f, 0.75999999f, -0.310000002f},
            {0.48060295f, -1.23733664f, 1.99193513f, 0.766697228f, -0.310893238f},
            {0.480555385f, -1.23702967f, 1.99020445f, 0.764225841f, -0.312400848f},
            {0.480158806f, -1.23446012f, 1.98920798f, 0.76087904f, -0.311483532f},
            {0.479082018f, -1.23437309f, 1.98843431f, 0.7608248f, -0.311193883f},
            {0.476822197f, -1.23308194f, 1.98307467f, 0.757321239f, -0.309469312f},
            {0.469826609f, -1.23797286f, 1.97718847f, 0.753463626f, -0.311250806f},
            {0.467150718f, -1.24142349f, 1.97411263f, 0.749157667f, -0.310504377f},
        },
        3,
        {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
        {{0.0336447917f, 0.0500074252f, 0.0622347593f, 0.051334817f, -0.0249621104f}, {0.000388532586f, 0.000516167027f, 0.00100619742f, 0.000349315873f, 0.00274874596f}, {0.000388532586f, 0.000516167027f, 0.00100619742f, 0.000349315873f, 0.00274874596f}},
    },
    {
        "adamw_plain",
        {.kind = GLIA_OPTIM_ADAMW, .lr = 0.01f, .momentum = 0.0f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.1f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 0},
        {
            {0.489500016f, -1.23874998f, 1.98800004f, 0.759249985f, -0.309700012f},
            {0.479613453f, -1.2348479f, 1.98794723f, 0.765191317f, -0.310283542f},
            {0.479326069f, -1.23392344f, 1.98522258f, 0.762337327f, -0.311636001f},
            {0.47868982f, -1.23073685f, 1.98323345f, 0.758609354f, -0.310562849f},
            {0.477493376f, -1.23034215f, 1.98196399f, 0.758365452f, -0.310195565f},
            {0.474756062f, -1.22782063f, 1.97462237f, 0.754103541f, -0.308160812f},
            {0.466810971f, -1.23025596f, 1.96478701f, 0.748737693f, -0.309325993f},
            {0.463668287f, -1.23247635f, 1.95974636f, 0.743682981f, -0.308270246f},
        },
        2,
        {"exp_avg", "exp_avg_sq"},
        {{0.0336447917f, 0.0500074252f, 0.0622347593f, 0.051334817f, -0.0249621104f}, {0.000388532586f, 0.000516167027f, 0.00100619742f, 0.000349315873f, 0.00274874596f}},
    },
    {
        "adamw_amsgrad",
        {.kind = GLIA_OPTIM_ADAMW, .lr = 0.01f, .momentum = 0.0f, .dampening = 0.0f, .nesterov = 0,
         .weight_decay = 0.05f, .alpha = 0.99f, .centered = 0, .beta1 = 0.9f, .beta2 = 0.999f,
         .eps = 1e-08f, .amsgrad = 1},
        {
            {0.489749998f, -1.239375f, 1.98899996f, 0.759624958f, -0.309850007f},
            {0.480108052f, -1.23609185f, 1.98994052f, 0.765942395f, -0.3105883f},
            {0.479940474f, -1.2354759f, 1.98771238f, 0.763279557f, -0.312018275f},
            {0.47942391f, -1.23259747f, 1.98621905f, 0.759741962f, -0.311022967f},
            {0.47828719f, -1.23235643f, 1.98519707f, 0.759592772f, -0.310694456f},
            {0.475788206f, -1.23044908f, 1.97884476f, 0.75570941f, -0.308814526f},
            {0.468316823f, -1.23410952f, 1.97097969f, 0.75109601f, -0.310287207f},
            {0.465406775f, -1.23694313f, 1.96691835f, 0.746414483f, -0.309385628f},
        },
        3,
        {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
        {{0.0336447917f, 0.0500074252f, 0.0622347593f, 0.051334817f, -0.0249621104f}, {0.000388532586f, 0.000516167027f, 0.00100619742f, 0.000349315873f, 0.00274874596f}, {0.000388532586f, 0.000516167027f, 0.00100619742f, 0.000349315873f, 0.00274874596f}},
    },
};
// clang-format on
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
 * continues the run exactly (what a checkpoint does); without the step count Adam's bias
 * correction starts over and the run departs from PyTorch's. */
static void load_state(glia_optim *opt, float saved[REF_NPARAMS][3][REF_N])
{
    for (int pi = 0; pi < REF_NPARAMS; pi++) {
        float *bufs[3];
        const char *names[3];
        int n = glia_optim_buffers(opt, pi, bufs, names);
        for (int k = 0; k < n; k++)
            memcpy(bufs[k], saved[pi][k], sizeof(float) * ref_sizes[pi]);
    }
}

START_TEST(resume_from_saved_state)
{
    const optim_case *c = NULL;
    for (size_t k = 0; k < sizeof ref_cases / sizeof ref_cases[0]; k++)
        if (strcmp(ref_cases[k].name, "adam_amsgrad") == 0)
            c = &ref_cases[k];
    ck_assert_ptr_nonnull(c);
    enum { SPLIT = 5 };

    /* the first SPLIT steps, then save parameters, state and step count */
    fixture a;
    fixture_init(&a);
    glia_optim *oa = new_optim(&c->cfg, &a);
    for (int t = 0; t < SPLIT; t++)
        ref_step(oa, &a, &c->cfg, t);
    float saved[REF_NPARAMS][3][REF_N];
    for (int pi = 0; pi < REF_NPARAMS; pi++) {
        float *bufs[3];
        const char *names[3];
        int n = glia_optim_buffers(oa, pi, bufs, names);
        ck_assert_int_eq(n, 3);
        for (int k = 0; k < n; k++)
            memcpy(saved[pi][k], bufs[k], sizeof(float) * ref_sizes[pi]);
    }
    const long steps = glia_optim_steps(oa);
    ck_assert_int_eq(steps, SPLIT);
    glia_optim_free(oa);

    /* a new optimizer with the saved state continues exactly */
    fixture b;
    fixture_init(&b);
    memcpy(b.value, a.value, sizeof b.value);
    glia_optim *ob = new_optim(&c->cfg, &b);
    load_state(ob, saved);
    glia_optim_set_steps(ob, steps);
    ck_assert_int_eq(glia_optim_steps(ob), SPLIT);
    for (int t = SPLIT; t < REF_STEPS; t++) {
        ref_step(ob, &b, &c->cfg, t);
        for (int i = 0; i < REF_N; i++)
            assert_close(b.value[i], c->after[t][i], "resumed adam_amsgrad", t + 1, i);
    }
    ck_assert_int_eq(glia_optim_steps(ob), REF_STEPS);
    glia_optim_free(ob);

    /* the same state without the step count: step 1's bias correction, a different update */
    fixture d;
    fixture_init(&d);
    memcpy(d.value, a.value, sizeof d.value);
    glia_optim *od = new_optim(&c->cfg, &d);
    load_state(od, saved);
    ref_step(od, &d, &c->cfg, SPLIT);
    int differ = 0;
    for (int i = 0; i < REF_N; i++)
        differ += fabs((double)d.value[i] - (double)c->after[SPLIT][i]) > 1e-5;
    ck_assert_int_gt(differ, 0);
    glia_optim_free(od);
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
