"""Times full training steps of the PyTorch peer RecNet (see README.md) and prints one JSON line.

  /usr/bin/python3 benchmarks/peer/step.py --model gla --batch 32 --steps 128 --inputs 5 --classes 17 \
      --width 64 --layers 2 --heads 4 --threads 2 --device cpu

A training step: forward, masked-mean cross-entropy over all B*T steps, backward, global-norm gradient clipping at
1.0, Adam (lr 1e-3), zero_grad(set_to_none=True). Warm-up steps are untimed; the median of --repeats timed steps
is reported. Errors: one line on stderr, exit status 2.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class ArgumentError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ArgumentError(message)


def parse(argv):
    p = Parser(description="Training-step time of the PyTorch peer models.")
    p.add_argument("--model", required=True, choices=["gla", "mamba2", "gated-delta-net", "transformer"])
    p.add_argument("--batch", type=int, required=True, help="B")
    p.add_argument("--steps", type=int, required=True, help="T, time steps per sequence")
    p.add_argument("--inputs", type=int, required=True, help="F, input features (one-hot size)")
    p.add_argument("--classes", type=int, required=True, help="C, output classes")
    p.add_argument("--width", type=int, required=True, help="d_model")
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--heads", type=int, default=None, help="default: the reference's get_num_heads(width)")
    p.add_argument("--d-state", type=int, default=128, help="Mamba2 N (our quick preset uses 16, paper 128)")
    p.add_argument("--chunk", type=int, default=64, help="chunk length of the chunked training forms")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    for name in ("batch", "steps", "inputs", "classes", "width", "layers", "d_state", "chunk", "threads", "repeats"):
        if getattr(a, name) < 1:
            raise ArgumentError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(a, name)}")
    if a.warmup < 0:
        raise ArgumentError(f"--warmup must be >= 0, got {a.warmup}")
    if not 0.0 <= a.dropout < 1.0:
        raise ArgumentError(f"--dropout must be in [0, 1), got {a.dropout}")
    return a


def run(a):
    import torch
    import torch.nn.functional as F

    from models import RecNet, heads_for_width, parameter_count

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    if a.device == "cuda" and not torch.cuda.is_available():
        raise ArgumentError("--device cuda: torch.cuda.is_available() is False")
    device = torch.device(a.device)
    torch.manual_seed(a.seed)
    heads = a.heads or heads_for_width(a.width)
    if a.width % heads:
        raise ArgumentError(f"--width {a.width} must be divisible by --heads {heads}")

    net = RecNet(a.model, a.inputs, a.classes, a.width, a.layers, heads, d_state=a.d_state, dropout=a.dropout,
                 chunk=a.chunk).to(device)
    net.train()
    params = parameter_count(net)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    gen = torch.Generator().manual_seed(a.seed)
    symbols = torch.randint(0, a.inputs, (a.batch, a.steps), generator=gen)
    x = F.one_hot(symbols, a.inputs).float().to(device)  # [B, T, F]
    targets = torch.randint(0, a.classes, (a.batch, a.steps), generator=gen).to(device)  # [B, T]
    mask = torch.ones(a.batch, a.steps, device=device)  # every step counts

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def train_step():
        logits = net(x)
        ce = F.cross_entropy(logits.reshape(-1, a.classes), targets.reshape(-1), reduction="none")
        loss = (ce * mask.reshape(-1)).sum() / mask.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(a.warmup):
        loss = train_step()
    sync()
    times = []
    for _ in range(a.repeats):
        sync()
        t0 = time.perf_counter()
        loss = train_step()
        sync()
        times.append((time.perf_counter() - t0) * 1000.0)
    if not torch.isfinite(loss).item():
        raise RuntimeError(f"non-finite loss {loss.item()}")
    row = {
        "model": a.model,
        "device": a.device,
        "threads": a.threads,
        "batch": a.batch,
        "steps": a.steps,
        "width": a.width,
        "layers": a.layers,
        "params": params,
        "stepMs": round(statistics.median(times), 3),
        "torch": torch.__version__,
    }
    print(json.dumps(row), flush=True)


def main(argv):
    try:
        run(parse(argv))
    except Exception as e:  # noqa: BLE001 - the CLI contract: one line on stderr, exit 2
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"peer step.py: {type(e).__name__}: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
