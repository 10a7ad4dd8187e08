"""Cross-check of the PyTorch peer against our TypeScript models: loads the parameters that parity-dump.mjs wrote
from small TypeScript RecNets (d = 16, H = 2, 2 layers, T = 70, Mamba2 N = 8) into the peer and compares logits.

  node benchmarks/peer/parity-dump.mjs /tmp/peer-parity.json && /usr/bin/python3 benchmarks/peer/parity.py /tmp/peer-parity.json
Exit status 0 when every model agrees to 1e-4 (relative to the largest logit), 1 otherwise.
"""

import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import RecNet, parameter_count  # noqa: E402

# TypeScript mixer parameter name -> peer name (inside layers.L), where they differ.
RENAMES = {
    "g_proj": "out.g_proj",
    "o_proj": "out.o_proj",
    "o_norm": "out.norm",
    "g_norm_swish_gate": "out.norm",
}


def peer_name(ts_name):
    m = re.match(r"layers\.(\d+)\.(mixer|norm)\.(.+)$", ts_name)
    if not m:
        return ts_name  # encoder.*, decoder.*
    layer, kind, rest = m.groups()
    if kind == "norm":
        return f"norms.{layer}.{rest}"
    head, _, leaf = rest.rpartition(".")
    if head in RENAMES:
        head = RENAMES[head]
    elif head.endswith("conv1d"):
        head = head + ".conv"
    return f"layers.{layer}.{head}.{leaf}" if head else f"layers.{layer}.{leaf}"


def to_peer(ts_name, values, shape, target):
    w = torch.tensor(values, dtype=torch.float32).reshape(shape)
    if ts_name.endswith("conv1d.weight"):  # TS [K, channels] -> Conv1d [channels, 1, K]
        return w.t().unsqueeze(1).contiguous()
    if w.dim() == 2:  # TS Linear [in, out] -> nn.Linear [out, in]
        return w.t().contiguous()
    return w.reshape(target.shape)


def main(path):
    torch.set_num_threads(1)
    rows = json.load(open(path))
    failures = 0
    for row in rows:
        s, cfg = row["shape"], row["config"]
        net = RecNet(row["model"], s["inputSize"], s["numClasses"], s["width"], s["layers"], s["heads"],
                     d_state=cfg.get("dState", 128), dropout=0.0)
        params = dict(net.named_parameters())
        loaded = set()
        for ts_name, p in row["params"].items():
            name = peer_name(ts_name)
            if name not in params:
                raise KeyError(f"{row['model']}: no peer parameter {name} for {ts_name}")
            with torch.no_grad():
                params[name].copy_(to_peer(ts_name, p["values"], p["shape"], params[name]))
            loaded.add(name)
        missing = set(params) - loaded
        if missing:
            raise KeyError(f"{row['model']}: peer parameters not loaded: {sorted(missing)}")
        net.eval()
        x = torch.tensor(row["input"]["values"], dtype=torch.float32).reshape(row["input"]["shape"])
        want = torch.tensor(row["logits"], dtype=torch.float32).reshape(*x.shape[:2], s["numClasses"])
        with torch.no_grad():
            got = net(x)
        err = ((got - want).abs().max() / want.abs().max()).item()
        ok = err < 1e-4 and parameter_count(net) == row["count"]
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {row['model']}: logits max rel err {err:.2e}; params peer "
              f"{parameter_count(net)} vs TS {row['count']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/peer-parity.json"))
