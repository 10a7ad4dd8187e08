"""Loads the SelectivBench reference RecNet (and the fla / mamba_ssm layers it uses) at run time, without copying
their code, and swaps the GPU kernels for pure-PyTorch paths where asked. Used by check.py.

Nothing from the reference, fla or mamba_ssm lives in this repository: the reference is imported from the checkout
given with --reference, fla from the Python environment, mamba_ssm's module files from --mamba-ssm."""

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types

# Our model ids -> the reference RecNet's `model` argument (linear-attention has none: see build_recnet).
REF_NAMES = {
    "gla": "gla",
    "delta-net": "delta_net",
    "gated-delta-net": "gated_delta_net",
    "gated-delta-product": "gated_delta_product",
    "retnet": "retnet",
    "linear-attention": None,
    "mesa-net": "mesa_net",
    "mamba": "mamba",
    "mamba2": "mamba2",
    "transformer": "transformer",
    "s4d": "s4",
    "gru": "gru",
}
MODELS = list(REF_NAMES)


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def load_reference(ref_dir):
    """Imports <ref_dir>/models/ssm_models.py by path. `wandb` is imported there but never used by RecNet: a stub
    stands in when it is not installed."""
    path = os.path.join(ref_dir, "models", "ssm_models.py")
    if not os.path.isfile(path):
        fail(f"no models/ssm_models.py under --reference {ref_dir}")
    try:
        absent = importlib.util.find_spec("wandb") is None
    except ValueError:  # a module named wandb is already loaded without a spec (a stub): nothing to do
        absent = False
    if absent:
        stub = types.ModuleType("wandb")
        # With a spec, libraries that probe for wandb (importlib.util.find_spec) see a module rather than fail.
        stub.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
        sys.modules.setdefault("wandb", stub)
    spec = importlib.util.spec_from_file_location("selectivbench_ssm_models", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _MissingExtension(types.ModuleType):
    """Stands in for a CUDA extension that is not installed: importing it works, using it fails with its name."""

    def __getattr__(self, attr):
        # Introspection (hasattr(module, "__file__") in torch's and Triton's module walks) must see a plain absence.
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise RuntimeError(f"{self.__name__}.{attr}: mamba_ssm's CUDA extension {self.__name__} is not installed")


def stub_missing_extension(name):
    """Some mamba_ssm versions import `name` unguarded (2.3.2's selective_scan_interface imports selective_scan_cuda),
    though the paths timed here never call it; a stub lets the module files import where the extension is absent."""
    if name not in sys.modules and importlib.util.find_spec(name) is None:
        sys.modules[name] = _MissingExtension(name)


def stub_missing_hub_mixin():
    """mamba_ssm 2.3.2's Mamba2 derives from huggingface_hub's PyTorchModelHubMixin (hub save/load methods only); where
    huggingface_hub is absent, an empty mixin lets the module import. Nothing timed here uses the hub."""
    if "huggingface_hub" not in sys.modules and importlib.util.find_spec("huggingface_hub") is None:
        hub = types.ModuleType("huggingface_hub")
        hub.PyTorchModelHubMixin = type("PyTorchModelHubMixin", (), {})
        sys.modules["huggingface_hub"] = hub


def install_mamba_ssm(src_dir, device):
    """Makes `from mamba_ssm import Mamba, Mamba2` work. If the real package imports (a CUDA build), it is used as is.
    Otherwise the module files are loaded from <src_dir>/mamba_ssm (a mamba-ssm sdist or git checkout) as a package
    whose __init__ is not run (it would pull in CUDA extensions); their CUDA-only imports already fall back to None.
    Returns a description of the path used."""
    if src_dir is None:
        try:
            import mamba_ssm  # noqa: F401
            from mamba_ssm import Mamba, Mamba2  # noqa: F401
            return "installed mamba_ssm package"
        except Exception as e:  # noqa: BLE001
            fail(f"mamba_ssm does not import ({type(e).__name__}); pass --mamba-ssm DIR (a mamba-ssm source tree)")
    pkg_dir = os.path.join(src_dir, "mamba_ssm")
    if not os.path.isdir(pkg_dir):
        fail(f"no mamba_ssm/ under --mamba-ssm {src_dir}")
    pkg = types.ModuleType("mamba_ssm")
    pkg.__path__ = [pkg_dir]
    sys.modules["mamba_ssm"] = pkg
    stub_missing_extension("selective_scan_cuda")
    stub_missing_hub_mixin()
    simple = importlib.import_module("mamba_ssm.modules.mamba_simple")
    m2 = importlib.import_module("mamba_ssm.modules.mamba2")
    pkg.Mamba = simple.Mamba
    pkg.Mamba2 = m2.Mamba2
    version = "?"
    init = os.path.join(pkg_dir, "__init__.py")
    if os.path.isfile(init):
        for line in open(init):
            if line.startswith("__version__"):
                version = line.split("=")[1].strip().strip("\"'")
    return f"mamba_ssm {version} module files from --mamba-ssm"


def build_recnet(mod, model_id, cfg):
    """The reference RecNet for one of our model ids. cfg: inp_size, d_output, d_model, layers, n_head, d_state."""
    import torch.nn as nn

    ref = REF_NAMES[model_id]
    kwargs = dict(
        inp_size=cfg["inp_size"],
        d_output=cfg["d_output"],
        layers=cfg["layers"],
        d_model=cfg["d_model"],
        n_head=cfg["n_head"],
        dropout=0.0,
    )
    if model_id in ("mamba", "mamba2", "s4d"):
        kwargs["d_state"] = cfg["d_state"]
    if "rope_base" in cfg:
        kwargs["rope_base"] = cfg["rope_base"]
    if ref is not None:
        return mod.RecNet(model=ref, **kwargs)
    # linear-attention: the reference has no entry. The same RecNet wrapper (encoder, per layer [layer, dropout,
    # residual, LayerNorm], decoder) around fla's own LinearAttention: built as a 'gla' RecNet (whose forward takes
    # layer(z)[0], as fla layers need) with each layer replaced. fla's LinearAttention has no short convolutions;
    # identity feature map, expand_k 1, expand_v 2, per-head RMSNorm output: our linear-attention with
    # useShortConv false.
    from fla.layers import LinearAttention

    net = mod.RecNet(model="gla", **kwargs)
    net.model = "linear_attention"
    net.layers = nn.ModuleList(
        [
            LinearAttention(
                hidden_size=cfg["d_model"],
                num_heads=cfg["n_head"],
                expand_k=1,
                expand_v=2,
                feature_map="identity",
                layer_idx=i,
            )
            for i in range(cfg["layers"])
        ]
    )
    # RecNet.forward dispatches on self.model: keep the fla branch.
    net.model = "gla"
    return net
