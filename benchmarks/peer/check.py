"""Self-check of the PyTorch peer: each chunked training form equals the plain step-by-step recurrence of the same
layer, in values and in gradients, at small sizes (T = 1, T < chunk, T = chunk, T not a multiple of the chunk),
plus extreme gates. Also checks the parameter counts against the closed forms of spec 7.1.

  /usr/bin/python3 benchmarks/peer/check.py                 # a few seconds on one core
  python3 benchmarks/peer/check.py --device cuda            # the same checks on a GPU
Exit status 0 when every check passes, 1 otherwise.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import (  # noqa: E402
    MODELS,
    RecNet,
    gated_delta_chunked,
    gated_delta_recurrent,
    gla_chunked,
    gla_recurrent,
    make_layer,
    parameter_count,
    ssd_chunked,
    ssd_recurrent,
)

failures = []
DEVICE = torch.device("cpu")


def report(name, err, tol):
    ok = err <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max rel err {err:.2e} (tol {tol:.0e})")
    if not ok:
        failures.append(name)


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()


def compare(name, fn_chunked, fn_ref, inputs, tol):
    """Values and gradients (w.r.t. every input) of two functions of the same inputs."""
    xs1 = [x.detach().to(DEVICE).clone().requires_grad_(True) for x in inputs]
    xs2 = [x.detach().to(DEVICE).clone().requires_grad_(True) for x in inputs]
    y1, y2 = fn_chunked(*xs1), fn_ref(*xs2)
    w = torch.randn_like(y2)
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    err = rel_err(y1, y2)
    for a, b in zip(xs1, xs2):
        err = max(err, rel_err(a.grad, b.grad))
    report(name, err, tol)


def core_checks(dtype, tol):
    g = torch.Generator().manual_seed(0)

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(dtype)

    b, h, dk, dv = 2, 2, 8, 12
    for t in (1, 5, 37, 64, 130):
        for label, shift in (("", 0.0), (" strong decay", -3.0)):
            q, k, v = rnd(b, h, t, dk), rnd(b, h, t, dk), rnd(b, h, t, dv)
            log_alpha = torch.nn.functional.logsigmoid(rnd(b, h, t, dk) + shift * 16) / 16
            compare(f"[{dtype}] GLA chunked vs recurrent T={t}{label}",
                    lambda q, k, v, la: gla_chunked(q, k, v, la, 64), gla_recurrent, [q, k, v, log_alpha], tol)
        # Mamba2 SSD (nh heads of width p, state n, one group).
        nh, p, n = 3, 4, 6
        x = rnd(b, t, nh, p)
        dt = torch.nn.functional.softplus(rnd(b, t, nh) - 1.0)
        a = -torch.exp(rnd(nh))
        bm, cm = rnd(b, t, n), rnd(b, t, n)
        compare(f"[{dtype}] Mamba2 SSD chunked vs recurrent T={t}",
                lambda x, dt, a, bm, cm: ssd_chunked(x, dt, a, bm, cm, 64), ssd_recurrent, [x, dt, a, bm, cm], tol)
        # Gated delta rule, unit-norm keys.
        q = torch.nn.functional.normalize(rnd(b, h, t, dk), dim=-1) / dk ** 0.5
        k = torch.nn.functional.normalize(rnd(b, h, t, dk), dim=-1)
        v = rnd(b, h, t, dv)
        beta = torch.sigmoid(rnd(b, h, t))
        log_alpha = -torch.nn.functional.softplus(rnd(b, h, t) - 2.0)
        compare(f"[{dtype}] gated delta chunked vs recurrent T={t}",
                lambda q, k, v, be, la: gated_delta_chunked(q, k, v, be, la, 64), gated_delta_recurrent,
                [q, k, v, beta, log_alpha], tol)

    # Extreme gates (spec 9.5): GLA logits around -30; Mamba2 dt*a around -10; GDN strong decay, correlated keys.
    t = 100
    q, k, v = rnd(b, h, t, dk), rnd(b, h, t, dk), rnd(b, h, t, dv)
    log_alpha = torch.nn.functional.logsigmoid(rnd(b, h, t, dk) - 30.0) / 16
    compare(f"[{dtype}] GLA extreme gates (logits ~ -30)", lambda *z: gla_chunked(*z, 64), gla_recurrent,
            [q, k, v, log_alpha], tol)
    nh, p, n = 3, 4, 6
    x, bm, cm = rnd(b, t, nh, p), rnd(b, t, n), rnd(b, t, n)
    dt = torch.full((b, t, nh), 0.625, dtype=dtype)
    a = torch.full((nh,), -16.0, dtype=dtype)
    compare(f"[{dtype}] Mamba2 extreme decay (dt*a = -10)", lambda *z: ssd_chunked(*z, 64), ssd_recurrent,
            [x, dt, a, bm, cm], tol)
    base = rnd(b, h, 1, dk)
    k = torch.nn.functional.normalize(base + 0.3 * rnd(b, h, t, dk), dim=-1)
    q = torch.nn.functional.normalize(rnd(b, h, t, dk), dim=-1) / dk ** 0.5
    beta = torch.full((b, h, t), 0.999, dtype=dtype)
    log_alpha = torch.full((b, h, t), -2.0, dtype=dtype)
    compare(f"[{dtype}] gated delta correlated keys, beta 0.999, strong decay",
            lambda *z: gated_delta_chunked(*z, 64), gated_delta_recurrent, [q, k, rnd(b, h, t, dv), beta, log_alpha],
            tol * 10)


def layer_checks():
    """Whole layers (projections, convs, gates, norms) in fp64: chunked mode vs recurrent mode."""
    torch.manual_seed(1)
    d, heads = 16, 2
    for model in ("gla", "mamba2", "gated-delta-net"):
        layer = make_layer(model, d, heads, d_state=8).double().to(DEVICE)
        for t in (1, 7, 70):
            x = torch.randn(2, t, d, dtype=torch.float64)
            compare(f"[layer {model}] chunked vs recurrent T={t}",
                    lambda x: layer(x, mode="chunked"), lambda x: layer(x, mode="recurrent"), [x], 1e-9)


def parameter_checks():
    """Closed forms of spec 7.1 (per layer) and the RecNet total of spec 7 / 7.2."""
    forms = {
        "gla": lambda d, h, n: 8 * d * d + 49 * d + 2 * d // h,
        "gated-delta-net": lambda d, h, n: 8 * d * d + 2 * d * h + 2 * h + 16 * d + 2 * d // h,
        "mamba2": lambda d, h, n: 6 * d * d + 2 * d * n + 2 * d * h + 12 * d + 10 * n + 6 * h,
        "transformer": lambda d, h, n: 16 * d * d + 14 * d + 2 * d // h + 1,
    }
    for model in MODELS:
        for d, h, n in ((64, 4, 16), (256, 4, 128), (512, 4, 64)):
            got = parameter_count(make_layer(model, d, h, d_state=n))
            want = forms[model](d, h, n)
            ok = got == want
            print(f"{'ok  ' if ok else 'FAIL'} params {model} d={d} H={h} N={n}: {got} (spec 7.1: {want})")
            if not ok:
                failures.append(f"params {model} d={d}")
    totals = {"gla": 4_721_985, "mamba2": 4_147_713, "gated-delta-net": 4_670_849, "transformer": 8_844_617}
    for model, want in totals.items():
        got = parameter_count(RecNet(model, 41, 1601, 256, 8, 4, d_state=128))
        ok = got == want
        print(f"{'ok  ' if ok else 'FAIL'} RecNet total {model} (F=41, C=1601, d=256, L=8, N=128): {got} (spec 7.2: {want})")
        if not ok:
            failures.append(f"RecNet total {model}")


def main(argv):
    global DEVICE
    if "--device" in argv:
        DEVICE = torch.device(argv[argv.index("--device") + 1])
    print(f"torch {torch.__version__}, device {DEVICE}")
    torch.set_num_threads(1)
    core_checks(torch.float64, 1e-9)
    core_checks(torch.float32, 2e-4)
    layer_checks()
    parameter_checks()
    print(f"{len(failures)} failure(s)" + (": " + ", ".join(failures) if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
