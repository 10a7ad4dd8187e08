"""Run-time kernel paths for the reference layers.

--kernels naive (CPU, or CUDA without Triton): every Triton / CUDA kernel the reference layers call is replaced, by
monkeypatching the symbol in the module that calls it, with fla's / mamba_ssm's own pure-PyTorch reference op
(fla/ops/*/naive.py, mamba_ssm's selective_scan_ref and ssd_selective_scan, rms_norm_ref, rotary_embedding_ref)
or, for the small fused helpers (causal short conv + SiLU, RMSNorm, gated RMSNorm, l2norm, the gated-delta gate and
beta sigmoid), plain torch with the same formula as the kernel (written next to each). Nothing is copied: every
reference op is imported from the installed fla / the --mamba-ssm tree.

--kernels fla (CUDA): fla's real Triton kernels, except where they cannot run (recorded per model).

PATHS[model] records which path a model used; check.py prints it.
"""

import torch
import torch.nn.functional as F

PATHS = {}


def _l2norm(x, eps=1e-6):
    # fla.modules.l2norm.l2norm_fwd: x / sqrt(sum(x^2) + eps), eps 1e-6, in float32.
    xf = x.float()
    return (xf / torch.sqrt((xf * xf).sum(-1, keepdim=True) + eps)).to(x.dtype)


def _short_conv_forward(self, x, residual=None, mask=None, cache=None, output_final_state=False, cu_seqlens=None, **kw):
    # fla ShortConvolution = depthwise causal conv (padding K-1, keep the first T outputs) then SiLU if activation.
    assert cu_seqlens is None and cache is None and not output_final_state, "naive short conv: training form only"
    if mask is not None:
        x = x * mask.unsqueeze(-1)
    T = x.shape[1]
    y = F.conv1d(x.transpose(1, 2), self.weight, self.bias, padding=self.kernel_size[0] - 1, groups=self.hidden_size)[..., :T]
    if self.activation is not None:
        y = F.silu(y)
    y = y.transpose(1, 2)
    if residual is not None:
        y = y + residual
    return y, None


def _causal_conv1d(x, weight, bias=None, residual=None, initial_state=None, output_final_state=False, activation=None,
                   backend=None, cu_seqlens=None, **kw):
    # fla.modules.conv.causal_conv1d on [B, T, D] with weight [D, W]: the same depthwise causal conv (+ SiLU).
    assert initial_state is None and cu_seqlens is None and not output_final_state and residual is None
    T = x.shape[1]
    D, W = weight.shape
    y = F.conv1d(x.transpose(1, 2), weight.unsqueeze(1), bias, padding=W - 1, groups=D)[..., :T]
    if activation in ("silu", "swish"):
        y = F.silu(y)
    return y.transpose(1, 2), None


def _rms_norm_forward(self, x, residual=None, prenorm=False, residual_in_fp32=False):
    # fla.modules.RMSNorm: x * rsqrt(mean(x^2) + eps) * weight (+ bias), computed in float32.
    assert residual is None and not prenorm
    xf = x.float()
    y = xf * torch.rsqrt((xf * xf).mean(-1, keepdim=True) + self.eps)
    if self.weight is not None:
        y = y * self.weight.float()
    if getattr(self, "bias", None) is not None:
        y = y + self.bias.float()
    return y.to(x.dtype)


def _rms_norm_gated_forward(self, x, g, residual=None, prenorm=False, residual_in_fp32=False):
    # fla.modules.FusedRMSNormGated: RMSNorm(x) * weight (+ bias), times act(g), act = swish/silu or sigmoid.
    y = _rms_norm_forward(self, x)
    gf = g.float()
    act = torch.sigmoid(gf) if self.activation == "sigmoid" else F.silu(gf)
    return (y.float() * act).to(x.dtype)


def patch_fla_common():
    import fla.modules
    from fla.modules import FusedRMSNormGated, RMSNorm, ShortConvolution
    from fla.modules import rotary as fla_rotary

    ShortConvolution.forward = _short_conv_forward
    RMSNorm.forward = _rms_norm_forward
    FusedRMSNormGated.forward = _rms_norm_gated_forward

    def rotary(x, cos, sin, interleaved=False, seqlen_offsets=0, cu_seqlens=None, **kw):
        assert cu_seqlens is None and isinstance(seqlen_offsets, int)
        T = x.shape[1]
        return fla_rotary.rotary_embedding_ref(x, cos[seqlen_offsets:seqlen_offsets + T], sin[seqlen_offsets:seqlen_offsets + T], interleaved)

    fla_rotary.rotary_embedding = rotary
    return fla.modules


def patch_fla_naive(only=None):
    """Replace every fla kernel the seven layers call by a pure-PyTorch op. only: just these models' recurrence ops
    (the shared modules keep their kernels)."""
    if only is None:
        patch_fla_common()
    import fla.layers.delta_net as L_dn
    import fla.layers.gated_deltanet as L_gdn
    import fla.layers.gated_deltaproduct as L_gdp
    import fla.layers.gla as L_gla
    import fla.layers.linear_attn as L_la
    import fla.layers.mesa_net as L_mesa
    import fla.layers.multiscale_retention as L_ret
    from fla.ops.delta_rule.naive import delta_rule_recurrence
    from fla.ops.gated_delta_product.naive import naive_recurrent_gated_delta_product
    from fla.ops.gated_delta_rule.gate import naive_gdn_gate
    from fla.ops.gated_delta_rule.naive import naive_recurrent_gated_delta_rule
    from fla.ops.gla.naive import naive_recurrent_gla
    from fla.ops.linear_attn.naive import naive_recurrent_linear_attn
    from fla.ops.mesa_net.naive import naive_mesa_net_CG
    from fla.ops.retention.naive import naive_retention

    def gla(q, k, v, gk=None, g=None, initial_state=None, output_final_state=False, cu_seqlens=None, scale=None, **kw):
        assert initial_state is None and cu_seqlens is None and scale is None
        return naive_recurrent_gla(q, k, v, gk if gk is not None else g, None, output_final_state)

    def want(m):
        return only is None or m in only

    if want("gla"):
        for name in ("chunk_gla", "fused_chunk_gla", "fused_recurrent_gla"):
            setattr(L_gla, name, gla)
        PATHS["gla"] = "fla naive_recurrent_gla; ShortConvolution, FusedRMSNormGated: torch"

    def delta(q, k, v, beta, initial_state=None, output_final_state=False, use_qk_l2norm_in_kernel=False, cu_seqlens=None, scale=None, **kw):
        assert initial_state is None and cu_seqlens is None and scale is None
        if use_qk_l2norm_in_kernel:
            q, k = _l2norm(q), _l2norm(k)
        t = lambda x: x.transpose(1, 2)  # noqa: E731  [B,T,H,*] -> [B,H,T,*]
        o, s = delta_rule_recurrence(t(q), t(k), t(v), t(beta), None, output_final_state)
        return t(o), s

    if want("delta-net"):
        for name in ("chunk_delta_rule", "fused_recurrent_delta_rule"):
            setattr(L_dn, name, delta)
        PATHS["delta-net"] = "fla delta_rule_recurrence (+ torch l2norm of q, k); ShortConvolution, RMSNorm: torch"

    def gdn(q, k, v, g, beta, scale=None, initial_state=None, output_final_state=False, use_qk_l2norm_in_kernel=False,
            use_gate_in_kernel=False, A_log=None, dt_bias=None, use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False,
            cu_seqlens=None, **kw):
        assert initial_state is None and cu_seqlens is None
        if use_qk_l2norm_in_kernel:
            q, k = _l2norm(q), _l2norm(k)
        if use_beta_sigmoid_in_kernel:
            # fused_beta_sigmoid: sigmoid(beta) * (2 if allow_neg_eigval else 1)
            beta = beta.float().sigmoid() * (2.0 if allow_neg_eigval else 1.0)
        if use_gate_in_kernel:
            g = naive_gdn_gate(g, A_log, dt_bias)
        return naive_recurrent_gated_delta_rule(q, k, v, beta, g, scale, None, output_final_state)

    if want("gated-delta-net"):
        for name in ("chunk_gated_delta_rule", "fused_recurrent_gated_delta_rule"):
            setattr(L_gdn, name, gdn)
        if only is None:
            # GatedDeltaNet fuses its three short convs into one causal_conv1d call when there is no cache.
            L_gdn.causal_conv1d = _causal_conv1d
        PATHS["gated-delta-net"] = ("fla naive_recurrent_gated_delta_rule + naive_gdn_gate (+ torch l2norm, beta sigmoid); "
                                "ShortConvolution, FusedRMSNormGated: torch")

    def gdp(q, k, v, g, beta, scale=None, initial_state=None, output_final_state=False, cu_seqlens=None,
            num_householder=1, use_qk_l2norm_in_kernel=False, **kw):
        assert initial_state is None and cu_seqlens is None
        if use_qk_l2norm_in_kernel:
            q, k = _l2norm(q), _l2norm(k)
        if scale is None:
            scale = q.shape[-1] ** -0.5
        # naive_recurrent_gated_delta_product reads q unscaled: scale it as chunk_gated_delta_product does (K^-0.5).
        o, h = naive_recurrent_gated_delta_product(q * scale, k, v, g, beta, scale, None, None, output_final_state, num_householder)
        return o, (h if output_final_state else None)

    if want("gated-delta-product"):
        setattr(L_gdp, "fused_recurrent_gated_delta_rule", gdn)
        setattr(L_gdp, "chunk_gated_delta_product", gdp)
        PATHS["gated-delta-product"] = ("fla naive_recurrent_gated_delta_product (+ torch l2norm, q scaled by K^-1/2); "
                                    "ShortConvolution, FusedRMSNormGated: torch")

    def retention(q, k, v, initial_state=None, output_final_state=False, cu_seqlens=None, scale=None, **kw):
        assert initial_state is None and cu_seqlens is None and scale is None
        t = lambda x: x.transpose(1, 2)  # noqa: E731
        return t(naive_retention(t(q), t(k), t(v))), None

    if want("retnet"):
        for name in ("chunk_retention", "fused_chunk_retention", "fused_recurrent_retention", "parallel_retention"):
            setattr(L_ret, name, retention)
        PATHS["retnet"] = "fla naive_retention; rotary_embedding_ref; ShortConvolution, FusedRMSNormGated: torch"

    def linear(q, k, v, scale=None, initial_state=None, output_final_state=False, normalize=False, **kw):
        assert initial_state is None
        return naive_recurrent_linear_attn(q, k, v, scale, None, output_final_state, normalize)

    if want("linear-attention"):
        for name in ("chunk_linear_attn", "fused_chunk_linear_attn", "fused_recurrent_linear_attn"):
            setattr(L_la, name, linear)
        PATHS["linear-attention"] = "fla naive_recurrent_linear_attn; RMSNorm: torch"

    def mesa(q, k, v, g, beta, lamb, output_final_state=False, max_CG_iteration=30, use_qk_l2norm_in_kernel=False,
             cu_seqlens=None, h_kk_init=None, h_kv_init=None, chunk_size=64, **kw):
        assert cu_seqlens is None and h_kk_init is None and h_kv_init is None
        if use_qk_l2norm_in_kernel:
            q, k = _l2norm(q), _l2norm(k)
        T = q.shape[1]
        pad = (-T) % chunk_size
        # naive_mesa_net_CG needs whole chunks: zero-pad the end (causal: the first T outputs do not see the padding).
        if pad:
            p3 = lambda x: F.pad(x, (0, 0, 0, 0, 0, pad))  # noqa: E731  [B,T,H,D]
            p2 = lambda x: F.pad(x, (0, 0, 0, pad))  # noqa: E731  [B,T,H]
            q, k, v, g, beta = p3(q), p3(k), p3(v), p2(g), p2(beta)
        o, h_kk, h_kv = naive_mesa_net_CG(q, k, v, g, lamb, beta, chunk_size, max_CG_iteration)
        return o[:, :T].to(v.dtype), h_kk, h_kv

    if want("mesa-net"):
        setattr(L_mesa, "chunk_mesa_net", mesa)
        setattr(L_mesa, "l2_norm", _l2norm)
        PATHS["mesa-net"] = "fla naive_mesa_net_CG (chunk 64, zero-padded to whole chunks; + torch l2norm); ShortConvolution, RMSNorm: torch"


def patch_fla_cuda():
    """fla's real Triton kernels; fla's gated delta-rule kernels refuse Triton >= 3.6 on Hopper: naive ops there."""
    import triton

    for m in ("gla", "delta-net", "retnet", "linear-attention", "mesa-net", "gated-delta-net", "gated-delta-product"):
        PATHS[m] = f"fla Triton kernels (triton {triton.__version__})"
    major, minor = (int(x) for x in triton.__version__.split(".")[:2])
    hopper = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] == 9
    if hopper and (major, minor) >= (3, 6):
        patch_fla_naive(only=("gated-delta-net", "gated-delta-product"))
        for m in ("gated-delta-net", "gated-delta-product"):
            PATHS[m] = f"fla Triton kernels except the recurrence (refuses triton {triton.__version__} on Hopper): " + PATHS[m]


def patch_mamba_naive(device):
    """mamba_ssm without its CUDA extensions: Mamba's slow path (nn.Conv1d + selective_scan_ref), Mamba2's unfused
    path (nn.Conv1d + ssd_selective_scan run by selective_scan_ref + rms_norm_ref)."""
    import mamba_ssm.modules.mamba2 as m2
    import mamba_ssm.modules.mamba_simple as ms
    from mamba_ssm.ops.selective_scan_interface import selective_scan_ref
    from mamba_ssm.ops.triton import layernorm_gated
    from mamba_ssm.ops import selective_scan_interface
    from mamba_ssm.ops.triton.ssd_combined import ssd_selective_scan

    assert ms.causal_conv1d_fn is None and m2.causal_conv1d_fn is None, "causal_conv1d is installed: naive paths expect it absent"
    ms.selective_scan_fn = selective_scan_ref
    selective_scan_interface.selective_scan_fn = selective_scan_ref  # what ssd_selective_scan imports
    PATHS["mamba"] = "mamba_ssm slow path: nn.Conv1d + selective_scan_ref"

    def ssd(x, dt, A, B, C, chunk_size, D=None, z=None, dt_bias=None, initial_states=None, seq_idx=None, cu_seqlens=None,
            dt_softplus=False, dt_limit=(0.0, float("inf")), return_final_states=False, return_varlen_states=False, **kw):
        assert initial_states is None and seq_idx is None and cu_seqlens is None and dt_limit == (0.0, float("inf"))
        assert not return_final_states and not return_varlen_states
        # ssd_selective_scan: mamba_ssm's reference of the SSD scan as a selective scan (A broadcast per head), run by
        # selective_scan_ref (sequential, float32). (ssd_chunk_scan_combined_ref needs whole chunks and its backward
        # gives NaN through exp of the masked segment sums.)
        return ssd_selective_scan(x, dt, A, B, C, D=D, z=z, dt_bias=dt_bias, dt_softplus=dt_softplus)

    m2.mamba_chunk_scan_combined = ssd

    def norm_forward(self, x, z=None):
        return layernorm_gated.rms_norm_ref(x, self.weight, self.bias, z=z, eps=self.eps, group_size=self.group_size,
                                            norm_before_gate=self.norm_before_gate)

    m2.RMSNormGated.forward = norm_forward
    PATHS["mamba2"] = "mamba_ssm unfused path (use_mem_eff_path False): nn.Conv1d + ssd_selective_scan with selective_scan_ref + rms_norm_ref"


def prepare_mamba_modules(net, kernels):
    """Per-instance switches for the naive mamba paths: Mamba2's unfused path (its fused one needs causal_conv1d)."""
    if kernels != "naive":
        return
    for layer in net.layers:
        if hasattr(layer, "use_mem_eff_path"):
            layer.use_mem_eff_path = False
