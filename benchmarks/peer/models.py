"""PyTorch peer of SelectivBench's TypeScript models, for side-by-side speed benchmarks.

Written from docs/spec/MODELS.md (sections 1, 2, 3.1, 3.4, 4.2, 5.1, 6, 7) and from our TypeScript
layers in packages/models/src and packages/core/src (recnet.ts, nn/, recurrence/). Same maths, same shapes,
same parameter counts as the TypeScript RecNet; initial values differ (they do not matter for speed).

Plain eager PyTorch, float32, no custom kernels. The training forms are chunkwise-parallel matmul forms:
  - GLA (spec 3.1, 6.1 vector decay): chunk 64, log-space decays; the intra-chunk scores are factorised around a
    reference row per 16-row sub-chunk, so no factor exceeds exp(8 |log alpha|) (the same bound as our
    TypeScript chunked form at chunk 16 with a mid-row reference).
  - Mamba2 (spec 4.2, 6.1 scalar decay, SSD): chunk 64, decays from masked in-chunk segment sums.
  - Gated DeltaNet (spec 3.4, 6.2): chunk 64, WY/UT form; (I + A)^-1 applied with a batched unit-lower
    triangular solve (torch.linalg.solve_triangular).
  - Transformer (spec 5.1): causal softmax attention (scaled_dot_product_attention where the torch version has
    it, else an explicit masked softmax).
Each layer also has a plain step-by-step recurrence (mode="recurrent"), the oracle that check.py compares with.

Works with PyTorch 1.13 (Debian) and newer; nothing newer than 1.13 is required.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------------------------
# Shared building blocks (spec 2)
# ---------------------------------------------------------------------------------------------------------------


class ShortConv(nn.Module):
    """Depthwise causal conv over time (spec 2): y_t[c] = act(sum_j w[c, j] x_{t-K+1+j}[c] + b[c]).

    Conv1d with groups = channels and K-1 zeros of left padding (PyTorch pads both sides; the tail is cut off).
    Parameters: channels*K (+ channels with bias), as our ShortConv.
    """

    def __init__(self, channels, kernel_size=4, bias=False, activation="silu"):
        super().__init__()
        self.kernel_size = kernel_size
        self.activation = activation
        self.conv = nn.Conv1d(channels, channels, kernel_size, groups=channels, bias=bias, padding=kernel_size - 1)

    def forward(self, x):  # x: [B, T, C]
        t = x.shape[1]
        y = self.conv(x.transpose(1, 2))[..., :t].transpose(1, 2)
        return F.silu(y) if self.activation == "silu" else y


class RMSNorm(nn.Module):
    """fla RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * w (w shared by heads when applied per head)."""

    def __init__(self, size, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def l2_normalize(x):
    """fla's in-kernel L2 norm over the head dim: x / sqrt(sum x^2 + 1e-6)."""
    return x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + 1e-6)


def split_heads(x, heads):
    """[B, T, H*D] -> [B, H, T, D] (head h is features h*D .. h*D + D - 1)."""
    b, t, f = x.shape
    return x.view(b, t, heads, f // heads).transpose(1, 2)


def merge_heads(x):
    """[B, H, T, D] -> [B, T, H*D]."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def pad_time(x, padded, dim=2):
    """Zero-pads axis `dim` (time) of x up to `padded` steps."""
    t = x.shape[dim]
    if padded == t:
        return x
    pad = [0, 0] * (x.dim() - 1 - dim) + [0, padded - t]
    return F.pad(x, pad)


class NormedOutput(nn.Module):
    """fla readout: per-head RMSNorm (weight d_v shared by heads), times SiLU(x W_g) when gated (norm first, then
    the gate: FusedRMSNormGated), heads concatenated, then o_proj (no bias)."""

    def __init__(self, d_model, heads, head_value_dim, gate_proj=None):
        super().__init__()
        self.heads = heads
        self.g_proj = gate_proj
        self.norm = RMSNorm(head_value_dim, 1e-5)
        self.o_proj = nn.Linear(heads * head_value_dim, d_model, bias=False)

    def forward(self, readout, x):  # readout [B, H, T, d_v], x [B, T, d]
        o = merge_heads(self.norm(readout))
        if self.g_proj is not None:
            o = o * F.silu(self.g_proj(x))
        return self.o_proj(o)


def segment_sums(x):
    """Segment sums of per-step log-decays x [..., c]: out[..., i, j] = sum_{j < l <= i} x_l for i >= j, -inf above
    the diagonal. Summing only the terms between j and i (rather than subtracting two cumulative sums) keeps strong
    decays accurate in fp32, in values and in gradients (the subtraction cancels catastrophically in the backward)."""
    c = x.shape[-1]
    incl, strict = _causal_masks(c, x.device)
    spread = x.unsqueeze(-1).expand(*x.shape, c).masked_fill(~strict, 0.0)  # [..., l, j] = x_l where l > j
    return spread.cumsum(-2).masked_fill(~incl, float("-inf"))  # [..., i, j]


def _causal_masks(c, device):
    incl = torch.ones(c, c, dtype=torch.bool, device=device).tril()
    strict = torch.ones(c, c, dtype=torch.bool, device=device).tril(-1)
    return incl, strict


# ---------------------------------------------------------------------------------------------------------------
# Recurrences: chunkwise-parallel training forms (spec 6) and plain step-by-step oracles
# ---------------------------------------------------------------------------------------------------------------


def gla_chunked(q, k, v, log_alpha, chunk=64, sub=16):
    """Vector-decay linear attention (spec 6.1, GLA), per head with key-major state S in R^{d_k x d_v}:
        S_t = Diag(alpha_t) S_{t-1} + k_t v_t^T,   o_t = S_t^T q_t.
    q, k, log_alpha: [B, H, T, d_k] (q already scaled); v: [B, H, T, d_v]. Returns o [B, H, T, d_v].

    Within a chunk, b = inclusive cumsum of log alpha. Intra-chunk scores P_ij = sum_c q_ic k_jc e^{b_ic - b_jc}
    (i >= j) are factorised around a reference row r_I per `sub`-row sub-chunk I (its middle row): rows of I get
    e^{b_i - r_I}, keys j get e^{r_I - b_j}; keys after sub-chunk I are masked in the exponent before exp, so every
    factor is <= exp(sub/2 * max|log alpha|). Inter-chunk terms use exponents <= 0 only.
    """
    bsz, h, t, dk = q.shape
    dv = v.shape[-1]
    if chunk % sub != 0:
        sub = chunk
    c = min(chunk, (t + sub - 1) // sub * sub)  # a short sequence is padded to whole sub-chunks
    n = (t + c - 1) // c
    tp = n * c
    ns = c // sub

    def chunks(x):
        return pad_time(x, tp).reshape(bsz, h, n, c, x.shape[-1])

    q, k, v, g = chunks(q), chunks(k), chunks(v), chunks(log_alpha)
    cum = g.cumsum(3)  # [B, H, n, c, dk], <= 0, decreasing
    last = cum[:, :, :, -1:, :]  # [B, H, n, 1, dk]

    # Intra-chunk scores with one reference row per sub-chunk.
    ref = cum[:, :, :, sub // 2 - 1 :: sub, :] if sub > 1 else cum  # [B, H, n, ns, dk]
    ref = ref[:, :, :, :ns, :]
    qf = q.view(bsz, h, n, ns, sub, dk) * torch.exp(cum.view(bsz, h, n, ns, sub, dk) - ref.unsqueeze(4))
    expo = ref.unsqueeze(4) - cum.unsqueeze(3)  # [B, H, n, ns, c, dk]: r_I - b_j
    j_idx = torch.arange(c, device=q.device)
    later = j_idx.view(1, c) >= (torch.arange(ns, device=q.device).view(ns, 1) + 1) * sub  # keys after sub-chunk I
    expo = expo.masked_fill(later.view(1, 1, 1, ns, c, 1), float("-inf"))
    kf = k.unsqueeze(3) * torch.exp(expo)  # [B, H, n, ns, c, dk]
    scores = torch.matmul(qf, kf.transpose(-1, -2)).reshape(bsz, h, n, c, c)
    incl, _ = _causal_masks(c, q.device)
    scores = scores.masked_fill(~incl, 0.0)
    out = torch.matmul(scores, v)  # [B, H, n, c, dv]

    # Chunk-boundary states: S_next = Diag(e^{b_C}) S_prev + (k * e^{b_C - b})^T v.
    written = torch.matmul((k * torch.exp(last - cum)).transpose(-1, -2), v)  # [B, H, n, dk, dv]
    chunk_decay = torch.exp(last).transpose(-1, -2)  # [B, H, n, dk, 1]
    # unbind, not indexing: the backward of x[:, :, i] would fill a zero tensor of the full size per chunk.
    state = q.new_zeros(bsz, h, dk, dv)
    entering = []
    for decay_i, written_i in zip(chunk_decay.unbind(2), written.unbind(2)):
        entering.append(state)
        state = decay_i * state + written_i
    prev = torch.stack(entering, 2)  # [B, H, n, dk, dv]
    out = out + torch.matmul(q * torch.exp(cum), prev)
    return out.reshape(bsz, h, tp, dv)[:, :, :t]


def gla_recurrent(q, k, v, log_alpha):
    """The plain step-by-step GLA recurrence (oracle)."""
    bsz, h, t, dk = q.shape
    state = q.new_zeros(bsz, h, dk, v.shape[-1])
    outs = []
    for i in range(t):
        state = torch.exp(log_alpha[:, :, i]).unsqueeze(-1) * state + k[:, :, i].unsqueeze(-1) * v[:, :, i].unsqueeze(-2)
        outs.append((q[:, :, i].unsqueeze(-1) * state).sum(-2))
    return torch.stack(outs, 2)


def ssd_chunked(x, dt, a, bmat, cmat, chunk=64):
    """Mamba2 SSD (spec 4.2, 6.1 scalar decay) with one group (B, C shared by all heads). Per head, state
    h_t in R^{P x N}: h_t = exp(dt_t a_h) h_{t-1} + dt_t x_t B_t^T,  y_t = h_t C_t  (no D term here).
    x: [B, T, nh, P]; dt: [B, T, nh] (after softplus); a: [nh] (negative); bmat, cmat: [B, T, N].
    Returns y [B, T, nh, P].
    """
    bsz, t, nh, p = x.shape
    n_state = bmat.shape[-1]
    c = min(chunk, t)
    n = (t + c - 1) // c
    tp = n * c
    xs = pad_time((x * dt.unsqueeze(-1)).permute(0, 2, 1, 3), tp).reshape(bsz, nh, n, c, p)  # v = dt * x
    la = pad_time((dt * a).transpose(1, 2), tp).reshape(bsz, nh, n, c)  # log decay
    bc = pad_time(bmat, tp, dim=1).reshape(bsz, 1, n, c, n_state)
    cc = pad_time(cmat, tp, dim=1).reshape(bsz, 1, n, c, n_state)
    cum = la.cumsum(-1)  # [B, nh, n, c]
    seg = segment_sums(la)  # b_i - b_j below the diagonal, -inf above
    gamma = torch.exp(seg)  # [B, nh, n, c, c]
    scores = torch.matmul(cc, bc.transpose(-1, -2)) * gamma  # C B^T shared by heads, times per-head decay
    y = torch.matmul(scores, xs)  # [B, nh, n, c, P]
    last = cum[..., -1:]  # [B, nh, n, 1]
    to_end = torch.exp(seg[..., -1, :]).unsqueeze(-1)  # e^{b_C - b_j}, [B, nh, n, c, 1]
    written = torch.matmul(bc.transpose(-1, -2), xs * to_end)  # [B, nh, n, N, P]
    chunk_decay = torch.exp(last).unsqueeze(-1)  # [B, nh, n, 1, 1]
    state = x.new_zeros(bsz, nh, n_state, p)
    entering = []
    for decay_i, written_i in zip(chunk_decay.unbind(2), written.unbind(2)):
        entering.append(state)
        state = decay_i * state + written_i
    prev = torch.stack(entering, 2)  # [B, nh, n, N, P]
    y = y + torch.matmul(cc, prev) * torch.exp(cum).unsqueeze(-1)
    return y.reshape(bsz, nh, tp, p)[:, :, :t].permute(0, 2, 1, 3)


def ssd_recurrent(x, dt, a, bmat, cmat):
    """The plain step-by-step Mamba2 recurrence (oracle); state kept as [B, nh, N, P]."""
    bsz, t, nh, p = x.shape
    state = x.new_zeros(bsz, nh, bmat.shape[-1], p)
    outs = []
    for i in range(t):
        decay = torch.exp(dt[:, i] * a).view(bsz, nh, 1, 1)
        write = bmat[:, i].view(bsz, 1, -1, 1) * (dt[:, i].unsqueeze(-1) * x[:, i]).unsqueeze(2)
        state = decay * state + write
        outs.append((cmat[:, i].view(bsz, 1, -1, 1) * state).sum(2))
    return torch.stack(outs, 1)


def gated_delta_chunked(q, k, v, beta, log_alpha, chunk=64):
    """Gated delta rule, chunkwise WY/UT form (spec 6.2). Per head:
        S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,   o_t = S_t^T q_t.
    q, k: [B, H, T, d_k] (normalised; q scaled); v: [B, H, T, d_v]; beta, log_alpha: [B, H, T].
    Per chunk: A = strictly_lower(Diag(beta)(K K^T) * Gamma); [W | U] = (I + A)^-1 [Diag(beta e^b) K | Diag(beta) V]
    (one batched unit-lower-triangular solve for all chunks); then sequentially over chunks
    V' = U - W S,  O = Diag(e^b) Q S + ((Q K^T) * Gamma) V',  S <- e^{b_C} S + (Diag(e^{b_C - b}) K)^T V'.
    """
    bsz, h, t, dk = q.shape
    dv = v.shape[-1]
    c = min(chunk, t)
    n = (t + c - 1) // c
    tp = n * c
    q = pad_time(q, tp).reshape(bsz, h, n, c, dk)
    k = pad_time(k, tp).reshape(bsz, h, n, c, dk)
    v = pad_time(v, tp).reshape(bsz, h, n, c, dv)
    beta = pad_time(beta, tp).reshape(bsz, h, n, c, 1)
    la = pad_time(log_alpha, tp).reshape(bsz, h, n, c)
    cum = la.cumsum(-1)
    _, strict = _causal_masks(c, q.device)
    seg = segment_sums(la)
    gamma = torch.exp(seg)  # [B, H, n, c, c], e^{b_i - b_j} for i >= j, 0 above
    a = (torch.matmul(k, k.transpose(-1, -2)) * gamma * beta).masked_fill(~strict, 0.0)
    eye = torch.eye(c, device=q.device, dtype=q.dtype)
    rhs = torch.cat([k * (beta * torch.exp(cum).unsqueeze(-1)), v * beta], -1)
    wu = torch.linalg.solve_triangular(a + eye, rhs, upper=False, unitriangular=True)
    w, u = wu[..., :dk], wu[..., dk:]
    qk = torch.matmul(q, k.transpose(-1, -2)) * gamma  # lower incl. diagonal (gamma is 0 above)
    q_dec = q * torch.exp(cum).unsqueeze(-1)
    last = cum[..., -1:]  # [B, H, n, 1]
    k_end = k * torch.exp(seg[..., -1, :]).unsqueeze(-1)  # e^{b_C - b_j}
    chunk_decay = torch.exp(last).unsqueeze(-1)  # [B, H, n, 1, 1]
    state = q.new_zeros(bsz, h, dk, dv)
    outs = []
    per_chunk = (t_.unbind(2) for t_ in (u, w, q_dec, qk, k_end, chunk_decay))  # unbind: cheap backward
    for u_i, w_i, q_i, qk_i, k_i, decay_i in zip(*per_chunk):
        fresh = u_i - torch.matmul(w_i, state)  # V' = U - W S
        outs.append(torch.matmul(q_i, state) + torch.matmul(qk_i, fresh))
        state = decay_i * state + torch.matmul(k_i.transpose(-1, -2), fresh)
    return torch.stack(outs, 2).reshape(bsz, h, tp, dv)[:, :, :t]


def gated_delta_recurrent(q, k, v, beta, log_alpha):
    """The plain step-by-step gated delta rule (oracle): S <- alpha S; e = v - S^T k; S <- S + beta k e^T."""
    bsz, h, t, dk = q.shape
    state = q.new_zeros(bsz, h, dk, v.shape[-1])
    outs = []
    for i in range(t):
        state = torch.exp(log_alpha[:, :, i]).view(bsz, h, 1, 1) * state
        kt = k[:, :, i].unsqueeze(-1)  # [B, H, dk, 1]
        err = (v[:, :, i] - (kt * state).sum(-2)) * beta[:, :, i].unsqueeze(-1)
        state = state + kt * err.unsqueeze(-2)
        outs.append((q[:, :, i].unsqueeze(-1) * state).sum(-2))
    return torch.stack(outs, 2)


# ---------------------------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------------------------


class GatedLinearAttention(nn.Module):
    """GLA (spec 3.1; packages/models/src/gla): q = SiLU(conv(x W_q)), k, v likewise; q_hat = q / sqrt(d_k);
    log alpha = logsigmoid(gk_proj(x)) / 16 (gk_proj = d -> 16 -> K, bias on the second); per-head
    S_t = Diag(alpha_t) S_{t-1} + k_t v_t^T, o_t = S_t^T q_hat_t; RMSNorm per head * SiLU(x W_g); o_proj.
    Parameters: 8d^2 + 49d + 2d/H with expand_k = 1, expand_v = 2."""

    def __init__(self, d_model, heads, expand_k=1, expand_v=2, conv_size=4, gate_low_rank=16,
                 gate_logit_normalizer=16, chunk=64):
        super().__init__()
        self.heads = heads
        self.key_dim = int(d_model * expand_k)
        self.value_dim = int(d_model * expand_v)
        self.head_k = self.key_dim // heads
        self.head_v = self.value_dim // heads
        self.normalizer = gate_logit_normalizer
        self.chunk = chunk
        self.q_proj = nn.Linear(d_model, self.key_dim, bias=False)
        self.k_proj = nn.Linear(d_model, self.key_dim, bias=False)
        self.v_proj = nn.Linear(d_model, self.value_dim, bias=False)
        g_proj = nn.Linear(d_model, self.value_dim, bias=False)
        self.gk_proj = nn.Sequential(nn.Linear(d_model, gate_low_rank, bias=False),
                                     nn.Linear(gate_low_rank, self.key_dim, bias=True))
        self.q_conv1d = ShortConv(self.key_dim, conv_size)
        self.k_conv1d = ShortConv(self.key_dim, conv_size)
        self.v_conv1d = ShortConv(self.value_dim, conv_size)
        self.out = NormedOutput(d_model, heads, self.head_v, gate_proj=g_proj)

    def forward(self, x, mode="chunked"):
        q = split_heads(self.q_conv1d(self.q_proj(x)), self.heads) * (1.0 / math.sqrt(self.head_k))
        k = split_heads(self.k_conv1d(self.k_proj(x)), self.heads)
        v = split_heads(self.v_conv1d(self.v_proj(x)), self.heads)
        log_alpha = split_heads(F.logsigmoid(self.gk_proj(x)) / self.normalizer, self.heads)
        if mode == "chunked":
            o = gla_chunked(q, k, v, log_alpha, self.chunk)
        else:
            o = gla_recurrent(q, k, v, log_alpha)
        return self.out(o, x)


class GatedDeltaNet(nn.Module):
    """Gated DeltaNet (spec 3.4; packages/models/src/gated-delta-net): q, k, v = SiLU(conv(x W)); q, k L2-normalised
    per head, q_hat = q / sqrt(d_k); beta = sigmoid(x W_b); log alpha = -exp(A_log) softplus(x W_a + dt_bias);
    S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T; RMSNorm per head * SiLU(x W_g); o_proj.
    Parameters: 8d^2 + 2dH + 2H + 16d + 2d/H."""

    def __init__(self, d_model, heads, expand_k=1, expand_v=2, conv_size=4, chunk=64):
        super().__init__()
        self.heads = heads
        self.key_dim = int(d_model * expand_k)
        self.value_dim = int(d_model * expand_v)
        self.head_k = self.key_dim // heads
        self.head_v = self.value_dim // heads
        self.chunk = chunk
        self.q_proj = nn.Linear(d_model, self.key_dim, bias=False)
        self.q_conv1d = ShortConv(self.key_dim, conv_size)
        self.k_proj = nn.Linear(d_model, self.key_dim, bias=False)
        self.k_conv1d = ShortConv(self.key_dim, conv_size)
        self.v_proj = nn.Linear(d_model, self.value_dim, bias=False)
        self.v_conv1d = ShortConv(self.value_dim, conv_size)
        self.a_proj = nn.Linear(d_model, heads, bias=False)
        # A = exp(A_log) ~ U(0, 16]; dt_bias = softplus^-1(dt0), dt0 log-uniform in [1e-3, 0.1] (spec 3.4).
        self.A_log = nn.Parameter(torch.log(16 * (1 - torch.rand(heads))))
        dt0 = torch.exp(torch.empty(heads).uniform_(math.log(1e-3), math.log(1e-1))).clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt0 + torch.log(-torch.expm1(-dt0)))
        self.b_proj = nn.Linear(d_model, heads, bias=False)
        g_proj = nn.Linear(d_model, self.value_dim, bias=False)
        self.out = NormedOutput(d_model, heads, self.head_v, gate_proj=g_proj)

    def forward(self, x, mode="chunked"):
        q = l2_normalize(split_heads(self.q_conv1d(self.q_proj(x)), self.heads)) * (1.0 / math.sqrt(self.head_k))
        k = l2_normalize(split_heads(self.k_conv1d(self.k_proj(x)), self.heads))
        v = split_heads(self.v_conv1d(self.v_proj(x)), self.heads)
        beta = torch.sigmoid(self.b_proj(x)).transpose(1, 2)  # [B, H, T]
        log_alpha = (-torch.exp(self.A_log) * F.softplus(self.a_proj(x) + self.dt_bias)).transpose(1, 2)
        if mode == "chunked":
            o = gated_delta_chunked(q, k, v, beta, log_alpha, self.chunk)
        else:
            o = gated_delta_recurrent(q, k, v, beta, log_alpha)
        return self.out(o, x)


class Mamba2(nn.Module):
    """Mamba2 (spec 4.2; packages/models/src/mamba2): [z, xBC, dt] = in_proj(u); xBC = SiLU(conv(xBC)) (with bias);
    heads of width P = d/H, n_h = E/P; dt = softplus(dt + dt_bias); a = -exp(A_log);
    h_t = exp(dt a) h_{t-1} + dt x_t B_t^T, y_t = h_t C_t + D x_t; RMSNorm over E of (y * SiLU(z)); out_proj.
    Parameters: d(2E + 2N + n_h) + 5(E + 2N) + 3 n_h + E + E d = 6d^2 + 2dN + 2dH + 12d + 10N + 6H."""

    def __init__(self, d_model, heads, d_state=128, expand=2, conv_size=4, chunk=64):
        super().__init__()
        self.inner = int(d_model * expand)
        self.head_dim = d_model // heads
        self.ssm_heads = self.inner // self.head_dim
        self.d_state = d_state
        self.chunk = chunk
        e, n, nh = self.inner, d_state, self.ssm_heads
        self.in_proj = nn.Linear(d_model, 2 * e + 2 * n + nh, bias=False)
        self.conv1d = ShortConv(e + 2 * n, conv_size, bias=True)
        dt0 = torch.exp(torch.empty(nh).uniform_(math.log(1e-3), math.log(1e-1))).clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt0 + torch.log(-torch.expm1(-dt0)))
        self.A_log = nn.Parameter(torch.log(torch.empty(nh).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(nh))
        self.norm = RMSNorm(e, 1e-5)
        self.out_proj = nn.Linear(e, d_model, bias=False)

    def forward(self, u, mode="chunked"):
        bsz, t, _ = u.shape
        e, n, nh, p = self.inner, self.d_state, self.ssm_heads, self.head_dim
        z, xbc, dt = torch.split(self.in_proj(u), [e, e + 2 * n, nh], dim=-1)
        xbc = self.conv1d(xbc)
        x, bmat, cmat = torch.split(xbc, [e, n, n], dim=-1)
        x = x.reshape(bsz, t, nh, p)
        dt = F.softplus(dt + self.dt_bias)  # [B, T, nh]
        a = -torch.exp(self.A_log)
        if mode == "chunked":
            y = ssd_chunked(x, dt, a, bmat, cmat, self.chunk)
        else:
            y = ssd_recurrent(x, dt, a, bmat, cmat)
        y = y + x * self.D.view(1, 1, nh, 1)
        return self.out_proj(self.norm(y.reshape(bsz, t, e) * F.silu(z)))


class ReferenceRMSNorm(nn.Module):
    """The reference's RMSNorm (spec 2): x / (||x||_2 / sqrt(D) + 1e-8) * w."""

    def __init__(self, size, eps=1e-8):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size))

    def forward(self, x):
        return x / (x.pow(2).mean(-1, keepdim=True).sqrt() + self.eps) * self.weight


class TransformerDecoderLayer(nn.Module):
    """The reference's Transformer layer (spec 5.1; packages/models/src/transformer):
    q, k, v = x W + b per head; q, k <- RoPE_ref(RMSNorm_ref(.)) (halves, rotation by -theta, base 1000);
    a = causal softmax attention (scale 1/sqrt(D_h)); x1 = x + RMSNorm_ref(a W_out + b_out);
    [f1, f2] = x1 W1 + b1; f = f1 * sigmoid(beta f1) * f2; x2 = x1 + Dropout(f W2 + b2); returns x2.
    Parameters: 16d^2 + 14d + 2d/H + 1."""

    def __init__(self, d_model, heads, dropout=0.0, rope_base=1000.0, ffn_expand=4):
        super().__init__()
        self.heads = heads
        self.head_dim = d_model // heads
        if self.head_dim % 2:
            raise ValueError(f"transformer: head dim {self.head_dim} must be even for RoPE")
        ffn = ffn_expand * d_model
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.q_norm = ReferenceRMSNorm(self.head_dim)
        self.k_norm = ReferenceRMSNorm(self.head_dim)
        self.out_norm = ReferenceRMSNorm(d_model)
        self.linear1 = nn.Linear(d_model, 2 * ffn)
        self.linear2 = nn.Linear(ffn, d_model)
        self.beta_swish = nn.Parameter(torch.ones(1))
        self.dropout = nn.Dropout(dropout)
        half = self.head_dim // 2
        inv_freq = rope_base ** (-2.0 * torch.arange(half, dtype=torch.float32) / self.head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def rope(self, x):  # x [B, H, T, D_h]; rotation by -theta (reference convention)
        t = x.shape[2]
        ang = torch.arange(t, device=x.device, dtype=x.dtype).unsqueeze(1) * self.inv_freq.to(x.dtype)
        cos, sin = torch.cos(ang), torch.sin(ang)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x1 * cos + x2 * sin, x2 * cos - x1 * sin], dim=-1)

    def attention(self, q, k, v):
        sdpa = getattr(F, "scaled_dot_product_attention", None)  # torch >= 2.0
        if sdpa is not None:
            return sdpa(q, k, v, is_causal=True)
        t = q.shape[2]
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
        mask = torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1)
        return torch.matmul(torch.softmax(scores.masked_fill(mask, float("-inf")), -1), v)

    def forward(self, x, mode="chunked"):
        bsz, t, d = x.shape
        split = lambda y: y.view(bsz, t, self.heads, self.head_dim)  # noqa: E731
        q = self.rope(self.q_norm(split(self.q_proj(x))).transpose(1, 2))
        k = self.rope(self.k_norm(split(self.k_proj(x))).transpose(1, 2))
        v = split(self.v_proj(x)).transpose(1, 2)
        a = merge_heads(self.attention(q, k, v))
        x1 = x + self.out_norm(self.out_proj(a))
        f1, f2 = self.linear1(x1).chunk(2, dim=-1)
        f = f1 * torch.sigmoid(self.beta_swish * f1) * f2
        return x1 + self.dropout(self.linear2(f))


# ---------------------------------------------------------------------------------------------------------------
# RecNet wrapper (spec 1; packages/core/src/recnet.ts)
# ---------------------------------------------------------------------------------------------------------------

MODELS = ("gla", "mamba2", "gated-delta-net", "transformer")


def make_layer(model, d_model, heads, d_state=128, dropout=0.0, chunk=64):
    if model == "gla":
        return GatedLinearAttention(d_model, heads, chunk=chunk)
    if model == "mamba2":
        return Mamba2(d_model, heads, d_state=d_state, chunk=chunk)
    if model == "gated-delta-net":
        return GatedDeltaNet(d_model, heads, chunk=chunk)
    if model == "transformer":
        return TransformerDecoderLayer(d_model, heads, dropout=dropout)
    raise ValueError(f"unknown model {model!r}; expected one of {', '.join(MODELS)}")


class RecNet(nn.Module):
    """Linear encoder F -> d (bias); per layer the post-norm residual h <- LayerNorm(h + Dropout(Layer(h)))
    (LayerNorm eps 1e-5, affine); Linear decoder d -> C (bias) at every step."""

    def __init__(self, model, inputs, classes, width, layers, heads, d_state=128, dropout=0.0, chunk=64):
        super().__init__()
        self.encoder = nn.Linear(inputs, width)
        self.layers = nn.ModuleList([make_layer(model, width, heads, d_state, dropout, chunk) for _ in range(layers)])
        self.norms = nn.ModuleList([nn.LayerNorm(width, eps=1e-5) for _ in range(layers)])
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(width, classes)

    def forward(self, x, mode="chunked"):  # x [B, T, F] -> logits [B, T, C]
        h = self.encoder(x)
        for layer, norm in zip(self.layers, self.norms):
            h = norm(h + self.dropout(layer(h, mode=mode)))
        return self.decoder(h)


def heads_for_width(d, max_head_size=128):
    """The reference's get_num_heads (spec 0; our headsForWidth)."""
    if d / 128 <= 4:
        return 4
    h = 4
    while h <= d:
        if d % h == 0 and d / h <= max_head_size:
            return h
        h *= 2
    return d


def parameter_count(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
