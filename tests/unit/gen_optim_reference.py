#!/usr/bin/python3
# gen_optim_reference.py - prints the reference values that test_torch_optim.c
# compares against, computed by torch.optim (PyTorch 1.13, Debian's
# python3-torch). Run it to regenerate them; the C tests themselves need no Python.
import torch

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
