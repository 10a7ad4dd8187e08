"""Reference side of the reference check: loads what our-side.mjs wrote for one model into the reference RecNet
(built at run time from the reference checkout, fla and mamba_ssm), runs the same batch, computes the loss the same
way, backpropagates, and compares logits, loss and every parameter's gradient by name.

    python check.py --reference REF [--mamba-ssm MAMBA_SRC] --ours PREFIX [PREFIX ...] [--jsonl OUT.jsonl]
        [--device cpu|cuda] [--kernels naive|fla] [--dtype float32|float64] [--threads 1]

Relative difference of two tensors a (ours) and r (reference): max|a - r| / max|r| (the largest absolute difference
over the tensor, over the tensor's largest reference magnitude); for the loss |a - r| / |r|.
Prints one table row per model; with --jsonl appends one JSON object per model.
"""

import argparse
import json
import os
import sys

import numpy as np

import reference


def rel(a, r):
    a = np.asarray(a, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    scale = np.abs(r).max() if r.size else 0.0
    diff = np.abs(a - r).max() if r.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


def load_ours(prefix):
    meta = json.load(open(prefix + ".json"))
    data = np.fromfile(prefix + ".bin", dtype="<f4")

    def get(key):
        e = meta["index"][key]
        return data[e["offset"] : e["offset"] + e["length"]].reshape(e["shape"])

    return meta, get


def run_one(a, mod, prefix, torch, paths):
    meta, get = load_ours(prefix)
    mid = meta["model"]
    cfg = dict(meta["reference"])
    torch.manual_seed(0)
    net = reference.build_recnet(mod, mid, cfg)
    paths.prepare_mamba_modules(net, a.kernels)
    dtype = torch.float64 if a.dtype == "float64" else torch.float32
    net = net.to(device=a.device, dtype=dtype)
    net.train()  # dropout is 0 everywhere: the training forms, as our side

    ref_params = dict(net.named_parameters())
    ours_names = set(meta["params"])
    missing = sorted(set(ref_params) - ours_names)
    extra = sorted(ours_names - set(ref_params))
    if missing or extra:
        raise SystemExit(f"error: {mid}: names differ: reference only {missing[:6]}, ours only {extra[:6]}")
    with torch.no_grad():
        for name, p in ref_params.items():
            v = get("param:" + name)
            if tuple(v.shape) != tuple(p.shape):
                raise SystemExit(f"error: {mid}: {name}: ours {list(v.shape)} vs reference {list(p.shape)}")
            p.copy_(torch.from_numpy(np.array(v)).to(device=a.device, dtype=dtype))

    x = torch.from_numpy(np.array(get("input"))).to(device=a.device, dtype=dtype)
    y = torch.from_numpy(np.array(get("targets"))).to(device=a.device).long()
    mask = torch.ones_like(y, dtype=dtype)
    logits = net(x)
    b, t, c = logits.shape
    # Our loss (packages/core metric.ts maskedCrossEntropySum / validSteps): masked mean cross-entropy over all steps.
    ce = torch.nn.functional.cross_entropy(logits.reshape(b * t, c), y.reshape(b * t), reduction="none")
    loss = (ce * mask.reshape(-1)).sum() / mask.sum()
    loss.backward()

    ours_logits = get("logits")
    row = {
        "model": mid,
        "width": cfg["d_model"],
        "layers": cfg["layers"],
        "heads": cfg["n_head"],
        "batch": b,
        "steps": t,
        "dtype": a.dtype,
        "device": a.device,
        "logitsRel": rel(ours_logits, logits.detach().cpu().numpy()),
        "lossOurs": meta["loss"],
        "lossRef": float(loss.item()),
        "lossRel": abs(meta["loss"] - float(loss.item())) / abs(float(loss.item())),
        "path": paths.PATHS.get(mid, "reference module (torch only)"),
    }
    # Buffers our exporter writes (the transformer's rotary inv_freq): against the reference module's own.
    sd = net.state_dict()
    buffers = {}
    for name in meta.get("buffers", []):
        if name not in sd or name in ref_params:
            raise SystemExit(f"error: {mid}: exported buffer {name} is not a buffer of the reference RecNet")
        buffers[name] = rel(get("buffer:" + name), sd[name].detach().cpu().numpy())
    row["mapping"] = meta.get("mapping", "builtin")
    row["builtinAgrees"] = meta.get("builtinAgrees")
    row["buffersRel"] = max(buffers.values()) if buffers else None
    grads = {}
    for name, p in ref_params.items():
        g = p.grad.detach().cpu().numpy() if p.grad is not None else np.zeros(tuple(p.shape))
        grads[name] = rel(get("grad:" + name), g)
    worst = max(grads, key=grads.get)
    row["gradWorstRel"] = grads[worst]
    row["gradWorst"] = worst
    row["grads"] = grads
    row["parameters"] = sum(p.numel() for p in ref_params.values())
    return row


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reference", required=True)
    p.add_argument("--mamba-ssm", default=None)
    p.add_argument("--ours", nargs="+", required=True, help="PREFIX of our-side.mjs outputs")
    p.add_argument("--jsonl", default=None)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--kernels", default=None, choices=["naive", "fla"], help="default: naive on cpu, fla on cuda")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    a.kernels = a.kernels or ("naive" if a.device == "cpu" else "fla")
    if a.device == "cpu" and a.kernels == "fla":
        reference.fail("--kernels fla needs --device cuda (Triton does not run on the CPU)")

    import torch

    torch.set_num_threads(a.threads)
    import paths

    mod = reference.load_reference(a.reference)
    mamba_path = reference.install_mamba_ssm(a.mamba_ssm, a.device)
    if a.kernels == "naive":
        paths.patch_fla_naive()
        paths.patch_mamba_naive(a.device)
    else:
        paths.patch_fla_cuda()
        if a.mamba_ssm is not None:
            paths.patch_mamba_naive(a.device)
        else:
            paths.PATHS["mamba"] = paths.PATHS["mamba2"] = "mamba_ssm CUDA/Triton kernels (installed package)"
    import fla

    print(f"# torch {torch.__version__}, fla {fla.__version__}, {mamba_path}, device {a.device}, kernels {a.kernels}, {a.dtype}", file=sys.stderr)
    hdr = f"{'model':20} {'d':>4} {'L':>2} {'logits rel':>10} {'loss rel':>9} {'worst grad rel':>14}  worst grad (reference name)"
    print(hdr)
    for prefix in a.ours:
        try:
            row = run_one(a, mod, prefix, torch, paths)
        except SystemExit:
            raise
        except Exception as e:  # noqa: BLE001
            msg = str(e).splitlines()[0] if str(e) else ""
            print(f"error: {os.path.basename(prefix)}: {type(e).__name__}: {msg}", file=sys.stderr)
            continue
        row["mambaSsm"] = mamba_path if row["model"] in ("mamba", "mamba2") else None
        row["torch"] = torch.__version__
        row["fla"] = fla.__version__
        print(f"{row['model']:20} {row['width']:>4} {row['layers']:>2} {row['logitsRel']:>10.2e} {row['lossRel']:>9.2e} "
              f"{row['gradWorstRel']:>14.2e}  {row['gradWorst']}", flush=True)
        if a.jsonl:
            with open(a.jsonl, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
