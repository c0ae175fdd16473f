"""Loss terms, one small function each, with formula and source in the docstring."""

import torch


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 (autocast outputs) -> float32; float32 and float64 unchanged. Losses reduce in this."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
