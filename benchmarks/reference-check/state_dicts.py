"""Writes the reference RecNet's state_dict() names -> shapes for each of our 12 models at one config, as JSON.

    python state_dicts.py --reference DIR --mamba-ssm DIR --out fixtures/reference-state-dicts.json
"""

import argparse
import json
import sys

import reference


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reference", required=True, help="the SelectivBench reference checkout root")
    p.add_argument("--mamba-ssm", default=None, help="a mamba-ssm source tree (sdist or git), when mamba_ssm is not installed")
    p.add_argument("--out", required=True)
    p.add_argument("--inp-size", type=int, default=5)
    p.add_argument("--d-output", type=int, default=7)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--d-state", type=int, default=16)
    a = p.parse_args()

    import torch
    import fla

    torch.manual_seed(0)
    mod = reference.load_reference(a.reference)
    mamba_path = reference.install_mamba_ssm(a.mamba_ssm, "cpu")
    cfg = dict(inp_size=a.inp_size, d_output=a.d_output, d_model=a.d_model, layers=a.layers, n_head=a.n_head, d_state=a.d_state)
    models = {}
    for mid in reference.MODELS:
        net = reference.build_recnet(mod, mid, cfg)
        params = dict(net.named_parameters())
        entries = {}
        for name, t in net.state_dict().items():
            entries[name] = {"shape": list(t.shape), "kind": "parameter" if name in params else "buffer"}
        models[mid] = {
            "reference": reference.REF_NAMES[mid] or "fla.layers.LinearAttention in the RecNet wrapper",
            "parameters": sum(p.numel() for p in params.values()),
            "stateDict": entries,
        }
    out = {
        "about": "The reference RecNet's state_dict() (names -> shapes, in state_dict order) per model id of ours; "
        "written by benchmarks/reference-check/state_dicts.py. kind: parameter or buffer (buffers are not trained).",
        "config": {**cfg, "dropout": 0.0, "d_state_applies_to": ["mamba", "mamba2", "s4d"]},
        "versions": {"torch": torch.__version__, "fla": fla.__version__, "mamba_ssm": mamba_path},
        "notes": {
            "linear-attention": "no RecNet entry in the reference: fla.layers.LinearAttention(hidden_size=d_model, "
            "num_heads=n_head, expand_k=1, expand_v=2, feature_map='identity') in the RecNet wrapper; it has no short "
            "convolutions, so it matches our linear-attention with useShortConv false",
            "s4d": "reference model 's4' (S4D); its A_imag is a trained parameter there",
            "transformer": "rotary.inv_freq is a buffer (not trained)",
        },
        "models": models,
    }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
