"""The RoPE extension formulas, written once (float64), as the method papers define them (each unit in
methods/units/ names its paper; tests/fixtures/methods/golden_rope.json holds the golden values, PROVENANCE.md says
how they were made).

These are the definitions longeval checks everything against: the golden tables, the frequencies transformers
and vLLM build from `Method.config_overrides`, and the EABF query scale. Notation: d = rotary dim, theta = base,
L0 = original (pre-training) context, s = scale factor, p = 0-based position.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported inside the tensor functions, so the pure formulas stay cheap to import
    import torch


def default_inv_freq(theta: float, dim: int) -> torch.Tensor:
    """Plain RoPE: w_j = theta^(-2j/d), j = 0 .. d/2-1."""
    import torch

    exponents = torch.arange(0, dim, 2, dtype=torch.float64) / dim
    return 1.0 / (float(theta) ** exponents)


def linear_inv_freq(theta: float, dim: int, factor: float) -> torch.Tensor:
    """Position interpolation: every frequency divided by s (positions p/s)."""
    return default_inv_freq(theta, dim) / factor


def ntk_aware_theta(theta: float, dim: int, factor: float) -> float:
    """Static NTK-aware base: theta * s^(d/(d-2)), so the lowest frequency becomes exactly w/s."""
    return theta * factor ** (dim / (dim - 2))


def dynamic_ntk_theta(theta: float, dim: int, factor: float, original_max: int, seq_len: int) -> float:
    """Dynamic NTK base at sequence length n = max(seq_len, L0): theta * (s*n/L0 - (s-1))^(d/(d-2))."""
    n = max(seq_len, original_max)
    return theta * (factor * n / original_max - (factor - 1)) ** (dim / (dim - 2))


def yarn_attention_factor(factor: float, mscale: float | None = None, mscale_all_dim: float | None = None) -> float:
    """YaRN's cos/sin multiplier a (logits scale by a^2): 0.1 ln s + 1, or the DeepSeek mscale ratio."""
    def get_mscale(scale: float, m: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    if mscale and mscale_all_dim:
        return get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim)
    return get_mscale(factor)


def yarn_inv_freq(theta: float, dim: int, factor: float, original_max: int, beta_fast: float = 32.0,
                  beta_slow: float = 1.0, truncate: bool = True) -> torch.Tensor:
    """NTK-by-parts: RoPE for dims rotating fast over L0, PI for slow ones, a linear ramp in between."""
    def correction_dim(rotations: float) -> float:
        return dim * math.log(original_max / (rotations * 2 * math.pi)) / (2 * math.log(theta))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    import torch

    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float64) - low) / (high - low)).clamp(0.0, 1.0)
    base = default_inv_freq(theta, dim)
    return base * (1.0 - ramp) + (base / factor) * ramp


def llama3_inv_freq(theta: float, dim: int, factor: float, original_max: int, low_freq_factor: float = 1.0,
                    high_freq_factor: float = 4.0) -> torch.Tensor:
    """Llama-3.1: keep short wavelengths, divide long ones by s, interpolate smoothly in between."""
    import torch

    base = default_inv_freq(theta, dim)
    wavelength = 2 * math.pi / base
    short_limit = original_max / high_freq_factor
    long_limit = original_max / low_freq_factor
    gamma = (original_max / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor)
    blended = (1 - gamma) * base / factor + gamma * base
    out = torch.where(wavelength > long_limit, base / factor, blended)
    return torch.where(wavelength < short_limit, base, out)


def eabf_query_scale(positions: torch.Tensor, original_max: int) -> torch.Tensor:
    """EABF's per-query logit multiplier t(p) = max(1, ln(p+1)/ln(L0)) for 0-based positions p (float64)."""
    import torch

    p = positions.to(torch.float64)
    return torch.clamp(torch.log(p + 1.0) / math.log(original_max), min=1.0)
