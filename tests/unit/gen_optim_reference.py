#!/usr/bin/python3
"""Reference values from PyTorch 1.13 (Debian's python3-torch) and PIL for the C unit tests.

The C tests contain only the output of this script and never run Python. /usr/bin/python3 is
the interpreter with torch, not necessarily the python3 on PATH.

    /usr/bin/python3 tests/unit/gen_optim_reference.py
        prints the values pasted into tests/unit/test_torch_optim.c (four steps of each
        optimizer on one 4-element parameter, and each schedule's rates over 8 epochs)

    /usr/bin/python3 tests/unit/gen_optim_reference.py --update tests/unit/test_optim.c \
        tests/unit/test_sched.c tests/unit/test_image.c
        rewrites the blocks between "BEGIN GENERATED <name>" and "END GENERATED" markers:
        optim (test_optim.c) - eight steps of 18 optimizer configurations on two parameter
          tensors (3 and 2 elements) with fixed gradients and a per-step learning rate (base lr
          times a power of two, exact in float and double), the parameters after every step
          and the optimizer state after the last;
        sched (test_sched.c) - the rate before every optimizer step for lr_scheduler classes
          stepped per epoch, LinearLR warmup stepped per optimizer step and chained with them;
        image (test_image.c) - PIL's convert('L') of some colours, and resized images:
          F.interpolate(mode='bilinear', align_corners=False) growing, F.adaptive_avg_pool2d
          shrinking by whole factors, and exact footprint averages otherwise (adaptive_avg_pool2d
          after repeating every pixel, so that the factors become whole).

    --print NAME prints one block instead of rewriting files.
"""
import argparse
import math
import re
import sys

import torch


def print_torch_optim():
    """The values test_torch_optim.c pastes (the script's output before blocks existed)."""
    P0 = [0.5, -1.25, 2.0, 0.0]
    GRADS = [[0.1, -0.2, 0.3, -0.4], [-0.5, 0.25, 0.0, 1.0], [0.3, 0.3, -0.7, 0.05], [1.5, -0.1, 0.2, -0.3]]
    CASES = [
        ("sgd", dict(lr=0.1)),
        ("sgd", dict(lr=0.1, momentum=0.9)),
        ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01)),
        ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
        ("rmsprop", dict(lr=0.01)),
        ("rmsprop", dict(lr=0.01, alpha=0.9, centered=True, weight_decay=0.1)),
        ("rmsprop", dict(lr=0.01, momentum=0.5, eps=1e-6)),
        ("adam", dict(lr=0.01)),
        ("adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
        ("adam", dict(lr=0.01, amsgrad=True)),
        ("adamw", dict(lr=0.01)),
        ("adamw", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ]
    OPT = {"sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}

    for name, kw in CASES:
        p = torch.nn.Parameter(torch.tensor(P0, dtype=torch.float32))
        opt = OPT[name]([p], foreach=False, **kw)
        rows = []
        for g in GRADS:
            p.grad = torch.tensor(g, dtype=torch.float32)
            opt.step()
            rows.append("{" + ", ".join("%.9gf" % v for v in p.detach().tolist()) + "}")
        print("    /* %s %s */" % (name, kw))
        print("    {" + ",\n     ".join(rows) + "},")

    print("/* schedules: lr for epochs 0..7 */")
    def sched(make):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=0.1)
        s = make(opt)
        out = []
        for e in range(8):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            s.step()
        return "{" + ", ".join("%.9gf" % v for v in out) + "}"
    print("step", sched(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)))
    print("exp", sched(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.8)))
    print("cos", sched(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=6, eta_min=0.01)))
    print("warm", sched(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=4)))


# ---- optim block (test_optim.c) ------------------------------------------------------------

STEPS = 8
SIZES = (3, 2)
INIT = [0.5, -1.25, 2.0, 0.75, -0.3]
# Gradients vary in sign and magnitude from step to step (and never repeat for an element, so
# RMSprop's centred variance stays clearly positive) and include an exact zero.
GRADS = [
    [0.1, -0.2, 0.3, -0.05, 0.8],
    [0.25, 0.1, -0.4, 0.0, -0.6],
    [-0.3, 0.05, 0.5, 0.2, 0.4],
    [0.05, -0.35, -0.1, 0.15, -0.9],
    [0.4, 0.3, 0.2, -0.25, 0.1],
    [-0.15, -0.1, 0.6, 0.3, -0.2],
    [0.2, 0.45, -0.3, -0.1, 0.7],
    [-0.05, 0.2, 0.1, 0.35, -0.5],
]
LR_FACTOR = [1.0, 1.0, 0.5, 0.5, 0.25, 1.0, 2.0, 1.0]

# name, kind, hyper-parameters (the C config's field names; the rest take the values below)
CASES = [
    ("sgd_plain", "sgd", dict(lr=0.1)),
    ("sgd_momentum", "sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd_dampening", "sgd", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("sgd_nesterov", "sgd", dict(lr=0.05, momentum=0.8, nesterov=1)),
    ("sgd_weight_decay", "sgd", dict(lr=0.1, weight_decay=0.05)),
    ("sgd_all", "sgd", dict(lr=0.05, momentum=0.7, nesterov=1, weight_decay=0.02)),
    ("rmsprop_plain", "rmsprop", dict(lr=0.01)),
    ("rmsprop_alpha", "rmsprop", dict(lr=0.01, alpha=0.9, eps=1e-6)),
    ("rmsprop_centered", "rmsprop", dict(lr=0.01, centered=1)),
    ("rmsprop_momentum", "rmsprop", dict(lr=0.01, momentum=0.9)),
    ("rmsprop_weight_decay", "rmsprop", dict(lr=0.01, weight_decay=0.1)),
    ("rmsprop_all", "rmsprop", dict(lr=0.005, alpha=0.95, centered=1, momentum=0.5, weight_decay=0.05)),
    ("adam_plain", "adam", dict(lr=0.01)),
    ("adam_betas", "adam", dict(lr=0.02, beta1=0.8, beta2=0.95, eps=1e-6)),
    ("adam_weight_decay", "adam", dict(lr=0.01, weight_decay=0.1)),
    ("adam_amsgrad", "adam", dict(lr=0.01, amsgrad=1)),
    ("adamw_plain", "adamw", dict(lr=0.01, weight_decay=0.1)),
    ("adamw_amsgrad", "adamw", dict(lr=0.01, weight_decay=0.05, amsgrad=1)),
]

DEFAULTS = dict(lr=0.0, momentum=0.0, dampening=0.0, nesterov=0, weight_decay=0.0, alpha=0.99,
                centered=0, beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=0)

STATE_KEYS = {
    "sgd": ["momentum_buffer"],
    "rmsprop": ["square_avg", "grad_avg", "momentum_buffer"],
    "adam": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    "adamw": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
}
KIND_ENUM = {"sgd": "GLIA_OPTIM_SGD", "rmsprop": "GLIA_OPTIM_RMSPROP", "adam": "GLIA_OPTIM_ADAM",
             "adamw": "GLIA_OPTIM_ADAMW"}


def make_optimizer(kind, h, params):
    if kind == "sgd":
        return torch.optim.SGD(params, lr=h["lr"], momentum=h["momentum"], dampening=h["dampening"],
                               nesterov=bool(h["nesterov"]), weight_decay=h["weight_decay"],
                               foreach=False)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=h["lr"], alpha=h["alpha"], eps=h["eps"],
                                   weight_decay=h["weight_decay"], momentum=h["momentum"],
                                   centered=bool(h["centered"]), foreach=False)
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(params, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"],
               weight_decay=h["weight_decay"], amsgrad=bool(h["amsgrad"]), foreach=False)


def split(flat):
    out, at = [], 0
    for n in SIZES:
        out.append(flat[at:at + n])
        at += n
    return out


def run(kind, h):
    params = [torch.tensor(v, dtype=torch.float32) for v in split(INIT)]
    for p in params:
        p.requires_grad_(True)
    opt = make_optimizer(kind, h, params)
    traj = []
    for t in range(STEPS):
        for p, g in zip(params, split(GRADS[t])):
            p.grad = torch.tensor(g, dtype=torch.float32)
        opt.param_groups[0]["lr"] = h["lr"] * LR_FACTOR[t]
        opt.step()
        traj.append([x for p in params for x in p.detach().tolist()])
    state = {}
    for key in STATE_KEYS[kind]:
        bufs = [opt.state[p].get(key) for p in params]
        if all(b is not None for b in bufs):
            state[key] = [x for b in bufs for x in b.tolist()]
    return traj, state


def c_float(v):
    """A C float literal that reads back as exactly the float32 value v."""
    s = "%.9g" % v
    if not re.search(r"[.enN]", s):
        s += ".0"
    return s + "f"


def c_floats(vals):
    return "{" + ", ".join(c_float(v) for v in vals) + "}"


def optim_block():
    out = []
    out.append("enum { REF_STEPS = %d, REF_N = %d, REF_NPARAMS = %d };" % (STEPS, sum(SIZES), len(SIZES)))
    out.append("static const size_t ref_sizes[REF_NPARAMS] = {%s};" % ", ".join(str(n) for n in SIZES))
    out.append("static const float ref_init[REF_N] = %s;" % c_floats(INIT))
    out.append("static const float ref_grads[REF_STEPS][REF_N] = {")
    for g in GRADS:
        out.append("    %s," % c_floats(g))
    out.append("};")
    out.append("static const float ref_lr_factor[REF_STEPS] = %s;" % c_floats(LR_FACTOR))
    out.append("typedef struct {")
    out.append("    const char *name;")
    out.append("    glia_optim_config cfg;")
    out.append("    float after[REF_STEPS][REF_N]; /* the parameters after each step */")
    out.append("    int nstate;                    /* state buffers PyTorch holds after the last step */")
    out.append("    const char *state_names[3];")
    out.append("    float state[3][REF_N];")
    out.append("} optim_case;")
    out.append("static const optim_case ref_cases[] = {")
    for name, kind, hp in CASES:
        h = dict(DEFAULTS)
        h.update(hp)
        traj, state = run(kind, h)
        out.append("    {")
        out.append('        "%s",' % name)
        out.append("        {.kind = %s, .lr = %s, .momentum = %s, .dampening = %s, .nesterov = %d,"
                   % (KIND_ENUM[kind], c_float(h["lr"]), c_float(h["momentum"]), c_float(h["dampening"]),
                      h["nesterov"]))
        out.append("         .weight_decay = %s, .alpha = %s, .centered = %d, .beta1 = %s, .beta2 = %s,"
                   % (c_float(h["weight_decay"]), c_float(h["alpha"]), h["centered"], c_float(h["beta1"]),
                      c_float(h["beta2"])))
        out.append("         .eps = %s, .amsgrad = %d}," % (c_float(h["eps"]), h["amsgrad"]))
        out.append("        {")
        for row in traj:
            out.append("            %s," % c_floats(row))
        out.append("        },")
        names = list(state)
        out.append("        %d," % len(names))
        out.append("        {%s}," % (", ".join('"%s"' % k for k in names) or "NULL"))
        out.append("        {%s}," % (", ".join(c_floats(state[k]) for k in names) or "{0.0f}"))
        out.append("    },")
    out.append("};")
    return out



# ---- sched block (test_sched.c) ------------------------------------------------------------

LS = torch.optim.lr_scheduler

# name, glia config (C designated initialisers), iterations per epoch, epochs, torch factory
# (epoch scheduler, per-iteration scheduler); the base lr is 0.1 throughout.
SCHED_CASES = [
    ("step", ".kind = GLIA_SCHED_STEP, .step_size = 3, .gamma = 0.5f", 1, 10,
     lambda o: LS.StepLR(o, step_size=3, gamma=0.5), None),
    ("step_gamma_above_1", ".kind = GLIA_SCHED_STEP, .step_size = 2, .gamma = 1.5f", 1, 7,
     lambda o: LS.StepLR(o, step_size=2, gamma=1.5), None),
    ("exponential", ".kind = GLIA_SCHED_EXPONENTIAL, .step_size = 1, .gamma = 0.8f", 1, 10,
     lambda o: LS.ExponentialLR(o, gamma=0.8), None),
    ("cosine_min_lr", ".kind = GLIA_SCHED_COSINE, .total_epochs = 6, .min_lr = 0.01f", 1, 7,
     lambda o: LS.CosineAnnealingLR(o, T_max=6, eta_min=0.01), None),
    ("cosine_zero_min", ".kind = GLIA_SCHED_COSINE, .total_epochs = 10", 1, 11,
     lambda o: LS.CosineAnnealingLR(o, T_max=10), None),
    ("cosine_one_epoch", ".kind = GLIA_SCHED_COSINE, .total_epochs = 1, .min_lr = 0.001f", 1, 2,
     lambda o: LS.CosineAnnealingLR(o, T_max=1, eta_min=0.001), None),
    ("linear_warmup", ".kind = GLIA_SCHED_CONSTANT, .warmup_steps = 5, .warmup_start_factor = 0.25f", 1, 10,
     None, lambda o: LS.LinearLR(o, start_factor=0.25, total_iters=5)),
    ("linear_warmup_default_factor", ".kind = GLIA_SCHED_CONSTANT, .warmup_steps = 4", 3, 3,
     None, lambda o: LS.LinearLR(o, total_iters=4)),
    ("warmup_then_step", ".kind = GLIA_SCHED_STEP, .step_size = 1, .gamma = 0.5f, .warmup_steps = 10, "
     ".warmup_start_factor = 0.2f", 4, 4,
     lambda o: LS.StepLR(o, step_size=1, gamma=0.5), lambda o: LS.LinearLR(o, start_factor=0.2, total_iters=10)),
    ("warmup_then_exponential", ".kind = GLIA_SCHED_EXPONENTIAL, .step_size = 1, .gamma = 0.9f, "
     ".warmup_steps = 6, .warmup_start_factor = 0.5f", 3, 4,
     lambda o: LS.ExponentialLR(o, gamma=0.9), lambda o: LS.LinearLR(o, start_factor=0.5, total_iters=6)),
    # CosineAnnealingLR's recursive form composes multiplicatively only with eta_min = 0.
    ("warmup_then_cosine", ".kind = GLIA_SCHED_COSINE, .total_epochs = 5, .warmup_steps = 7, "
     ".warmup_start_factor = 0.1f", 3, 5,
     lambda o: LS.CosineAnnealingLR(o, T_max=5), lambda o: LS.LinearLR(o, start_factor=0.1, total_iters=7)),
    # No torch class for it: LambdaLR with the Transformer formula, times LinearLR's warmup.
    ("inverse_sqrt", ".kind = GLIA_SCHED_INVERSE_SQRT, .warmup_steps = 4, .warmup_start_factor = 0.5f", 5, 4,
     None, lambda o: LS.LambdaLR(o, lambda s: (0.5 + 0.5 * s / 4 if s < 4 else 1.0) * math.sqrt(4 / max(s + 1, 4)))),
]


def sched_rates(epoch_sched, step_sched, iters, epochs):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    s = step_sched(opt) if step_sched else None  # created first: LinearLR scales the initial lr
    e = epoch_sched(opt) if epoch_sched else None
    out = []
    for _ in range(epochs):
        for _ in range(iters):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            if s:
                s.step()
        if e:
            e.step()
    return out


def c_double(v):
    return "%.17g" % v


def sched_block():
    out = ["typedef struct {",
           "    const char *name;",
           "    glia_sched_config cfg;",
           "    int iters_per_epoch, epochs;",
           "    double lr[48]; /* PyTorch's rate before each optimizer step */",
           "} sched_case;",
           "static const sched_case ref_sched[] = {"]
    for name, cfg, iters, epochs, es, ss in SCHED_CASES:
        rates = sched_rates(es, ss, iters, epochs)
        assert len(rates) <= 48
        out.append('    {"%s",' % name)
        out.append("     {%s, .base_lr = 0.1f}," % cfg)
        out.append("     %d, %d," % (iters, epochs))
        out.append("     {%s}}," % ", ".join(c_double(v) for v in rates))
    out.append("};")
    return out


# ---- image block (test_image.c): PIL and torch.nn.functional, not torch.optim --------------------

# (r, g, b) triples for PIL's convert('L'): primaries, greys, and values near rounding edges.
RGB_SAMPLES = [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255), (1, 2, 3),
               (12, 200, 77), (128, 128, 127), (250, 3, 99), (37, 180, 242), (99, 99, 100), (200, 100, 50)]


def test_image(h, w):
    """A fixed, irregular h x w image with values in [0, 255] (test_image.c has the same)."""
    import numpy as np

    return np.array([[(i * 37 + j * 91 + i * j * 13) % 256 for j in range(w)] for i in range(h)],
                    dtype=np.float32)


def bilinear(src, h, w):
    import torch.nn.functional as F

    x = torch.from_numpy(src)[None, None]
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()


def adaptive_avg(src, h, w):
    import torch.nn.functional as F

    return F.adaptive_avg_pool2d(torch.from_numpy(src)[None, None], (h, w))[0, 0].numpy()


def exact_area(src, h, w):
    """The exact box-filter footprint average for any sizes: repeat every source pixel h (w)
    times along the rows (columns), after which the output grid divides the source grid and
    adaptive_avg_pool2d's equal blocks are the exact footprints. (PIL's BOX filter is not
    this: it weights whole source pixels by their centres.)"""
    import torch.nn.functional as F

    x = torch.from_numpy(src)[None, None]
    x = x.double().repeat_interleave(h, dim=2).repeat_interleave(w, dim=3)
    return F.adaptive_avg_pool2d(x, (h, w))[0, 0].float().numpy()


def mixed(src, h, w):
    # grow rows bilinearly (columns unchanged), then shrink columns by whole blocks
    grown = bilinear(src, h, src.shape[1])
    return adaptive_avg(grown, h, w)


# name, source h x w, output h x w, reference function
RESIZE_CASES = [
    ("bilinear_up_3x4_to_7x9", (3, 4), (7, 9), bilinear),
    ("bilinear_up_2x2_to_5x3", (2, 2), (5, 3), bilinear),
    ("bilinear_up_1x3_to_4x8", (1, 3), (4, 8), bilinear),
    ("bilinear_up_2x3_to_16x12", (2, 3), (16, 12), bilinear),
    ("area_down_6x8_to_3x4", (6, 8), (3, 4), adaptive_avg),
    ("area_down_6x9_to_2x3", (6, 9), (2, 3), adaptive_avg),
    ("area_down_5x7_to_1x1", (5, 7), (1, 1), adaptive_avg),
    ("area_down_7x5_to_4x3_exact", (7, 5), (4, 3), exact_area),
    ("area_down_28x28_to_9x11_exact", (28, 28), (9, 11), exact_area),
    ("area_down_10x3_to_3x2_exact", (10, 3), (3, 2), exact_area),
    ("mixed_3x6_to_7x3", (3, 6), (7, 3), mixed),
]


def image_block():
    from PIL import Image

    out = ["static const struct {",
           "    unsigned char r, g, b, l;",
           "} ref_luma[] = {"]
    for r, g, b in RGB_SAMPLES:
        l = Image.new("RGB", (1, 1), (r, g, b)).convert("L").getpixel((0, 0))
        out.append("    {%d, %d, %d, %d}," % (r, g, b, l))
    out.append("};")
    out.append("typedef struct {")
    out.append("    const char *name;")
    out.append("    int src_h, src_w, h, w;")
    out.append("    float want[28 * 28]; /* h x w, row-major */")
    out.append("} resize_case;")
    out.append("static const resize_case ref_resize[] = {")
    for name, (sh, sw), (h, w), fn in RESIZE_CASES:
        got = fn(test_image(sh, sw), h, w)
        assert got.shape == (h, w), (name, got.shape)
        out.append('    {"%s", %d, %d, %d, %d,' % (name, sh, sw, h, w))
        out.append("     {%s}}," % ", ".join(c_float(float(v)) for v in got.reshape(-1)))
    out.append("};")
    return out


BLOCKS = {"optim": optim_block, "sched": sched_block, "image": image_block}
BLOCK_RE = re.compile(r"/\* BEGIN GENERATED (\w+) .*?/\* END GENERATED \*/\n", re.S)


def render(name):
    lines = ["/* BEGIN GENERATED %s by tests/unit/gen_optim_reference.py (torch %s); do not edit */"
             % (name, torch.__version__), "// clang-format off"]
    lines += BLOCKS[name]()
    lines += ["// clang-format on", "/* END GENERATED */"]
    return "\n".join(lines) + "\n"


def update(path):
    with open(path) as f:
        text = f.read()
    names = BLOCK_RE.findall(text)
    if not names:
        sys.exit("%s: no BEGIN GENERATED <name> ... END GENERATED block" % path)
    for name in names:
        if name not in BLOCKS:
            sys.exit("%s: unknown generated block '%s' (known: %s)" % (path, name, ", ".join(BLOCKS)))
    text = BLOCK_RE.sub(lambda m: render(m.group(1)), text)
    with open(path, "w") as f:
        f.write(text)
    print("%s: regenerated %s" % (path, ", ".join(names)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--update", nargs="+", metavar="TEST_C", help="rewrite the generated blocks of these files")
    ap.add_argument("--print", choices=sorted(BLOCKS), dest="block", help="print one generated block")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.update:
        for path in args.update:
            update(path)
    elif args.block:
        sys.stdout.write(render(args.block))
    else:
        print_torch_optim()


if __name__ == "__main__":
    main()
