"""Training-step time of the reference's own stack: its RecNet (loaded at run time from --reference) with fla's
layers and Triton kernels, mamba_ssm's module files (Triton SSD kernels; no causal_conv1d / selective-scan CUDA
extensions) and its own Transformer, on a GPU. One step = forward, masked-mean cross-entropy, backward,
clip_grad_norm_(1.0), Adam — the same step as ours (benchmarks/step.mjs) and the eager peer's (benchmarks/peer/step.py).

  python3 step_time.py --reference DIR [--mamba-ssm DIR] --model gla [--batch 64 --steps 400 --inputs 41
                       --classes 1601 --width 256 --layers 8 --heads 4 --d-state 128 --dropout 0.2]
                       [--warmup 2] [--repeats 5] [--device cuda]

Prints one JSON line (median ms of the timed steps, the kernel path used, the first step's time, which includes
Triton's compilation and autotuning). Errors: one line on stderr, exit 2."""

import argparse
import json
import statistics
import sys
import time

import reference


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reference", required=True)
    p.add_argument("--mamba-ssm", default=None)
    p.add_argument("--model", required=True, choices=reference.MODELS)
    for name, default in (("batch", 64), ("steps", 400), ("inputs", 41), ("classes", 1601), ("width", 256),
                          ("layers", 8), ("heads", 4), ("d-state", 128), ("warmup", 2), ("repeats", 5)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    a = p.parse_args()

    import torch

    import paths

    if a.device == "cuda" and not torch.cuda.is_available():
        reference.fail("--device cuda: torch sees no CUDA device")
    mod = reference.load_reference(a.reference)
    mamba_path = None
    if a.model in ("mamba", "mamba2"):
        mamba_path = reference.install_mamba_ssm(a.mamba_ssm, a.device)
    if a.device == "cuda":
        paths.patch_fla_cuda()
    else:
        paths.patch_fla_naive()
        if mamba_path is not None:
            paths.patch_mamba_naive(a.device)
    cfg = dict(inp_size=a.inputs, d_output=a.classes, d_model=a.width, layers=a.layers, n_head=a.heads, d_state=a.d_state)
    torch.manual_seed(1)
    net = reference.build_recnet(mod, a.model, cfg)
    # Mamba2's fused path needs the causal_conv1d CUDA extension, which does not travel: its unfused path.
    paths.prepare_mamba_modules(net, "naive")
    for m in net.modules():  # build_recnet builds without dropout; the paper's RecNet drops out at a.dropout
        if isinstance(m, torch.nn.Dropout):
            m.p = a.dropout
    net = net.to(a.device).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator(device="cpu").manual_seed(1)
    x = torch.nn.functional.one_hot(torch.randint(0, a.inputs, (a.batch, a.steps), generator=g), a.inputs).float().to(a.device)
    y = torch.randint(0, a.classes, (a.batch, a.steps), generator=g).to(a.device)

    def step():
        opt.zero_grad(set_to_none=True)
        logits = net(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, a.classes), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        return loss

    times = []
    first = None
    for i in range(a.warmup + a.repeats):
        if a.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = step()
        if a.device == "cuda":
            torch.cuda.synchronize()
        ms = (time.perf_counter() - t0) * 1e3
        if i == 0:
            first = ms
        if i >= a.warmup:
            times.append(ms)
    path = paths.PATHS.get(a.model, "reference module (torch only)")
    if a.model in ("mamba", "mamba2"):
        path = f"{mamba_path}; unfused path (nn.Conv1d, " + ("Triton SSD and gated-RMSNorm kernels)" if a.device == "cuda" else "selective_scan_ref)")
    print(json.dumps({
        "side": "reference", "model": a.model, "batch": a.batch, "steps": a.steps, "inputs": a.inputs,
        "classes": a.classes, "width": a.width, "layers": a.layers, "heads": a.heads, "dState": a.d_state,
        "dropout": a.dropout, "device": torch.cuda.get_device_name() if a.device == "cuda" else "cpu",
        "torch": torch.__version__, "path": path, "firstStepMs": round(first, 1),
        "medianMs": round(statistics.median(times), 2), "timesMs": [round(t, 2) for t in times],
        "loss": float(loss.item()), "parameters": sum(q.numel() for q in net.parameters()),
    }))


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001
        print(f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", file=sys.stderr)
        sys.exit(2)
