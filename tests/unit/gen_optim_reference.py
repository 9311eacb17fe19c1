#!/usr/bin/python3
"""Reference trajectories for tests/unit/test_optim.c, computed with torch.optim.

Each case runs a fixed number of optimizer steps on two small parameter tensors (3 and 2
elements, seen by the C test as one flat vector of 5) with a fixed, hand-written gradient
sequence and a per-step learning rate (base lr times a power-of-two factor, so the product
is exact in float and double alike). After every step the parameters are recorded; after the
last step the optimizer state (exp_avg, square_avg, momentum_buffer, ...) is recorded too.

The C test only contains the output of this script; it never runs Python. To regenerate
(Debian's python3-torch is /usr/bin/python3, not necessarily the python3 on PATH):

    /usr/bin/python3 tests/unit/gen_optim_reference.py --update tests/unit/test_optim.c

which replaces the block between the BEGIN/END GENERATED markers. Without --update the block
is printed to stdout.
"""
import argparse
import re
import sys

import torch

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


def generate():
    out = []
    out.append("/* BEGIN GENERATED by tests/unit/gen_optim_reference.py (torch %s); do not edit */"
               % torch.__version__)
    out.append("// clang-format off")
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
    out.append("// clang-format on")
    out.append("/* END GENERATED */")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--update", metavar="TEST_C", help="rewrite the generated block of this file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    block = generate()
    if not args.update:
        sys.stdout.write(block)
        return
    with open(args.update) as f:
        text = f.read()
    pat = re.compile(r"/\* BEGIN GENERATED .*?/\* END GENERATED \*/\n", re.S)
    if not pat.search(text):
        sys.exit("%s: no BEGIN/END GENERATED block" % args.update)
    with open(args.update, "w") as f:
        f.write(pat.sub(lambda m: block, text, count=1))


if __name__ == "__main__":
    main()
