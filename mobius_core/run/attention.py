"""Attention in the dry run as CUDA's fused kernels run it, not as the meta device would.

On the meta device `F.scaled_dot_product_attention` takes the math path: it saves fp32
casts of q, k and v and the whole attention matrix, and its backward is two batched
products per forward one (2x the forward's FLOPs). On CUDA the dispatcher picks a fused
kernel: flash attention for bf16 and fp16, the memory-efficient kernel for fp32 or with a
mask. Their autograd formulas (torch's `derivatives.yaml`) save q, k, v, the output, a
log-sum-exp (fp32, one per query row) and the RNG state, and their backward recomputes
the scores: five batched products, 2.5x the forward's FLOPs. `fused_attention()` routes
every call to that kernel's aten op, whose meta kernel, autograd formula and
FlopCounterMode formulas are the CUDA kernel's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor

FUSED, MATH = "fused", "math"
ATTENTION_MODELS = (FUSED, MATH)  # fused: CUDA's flash/efficient kernels; math: meta's own
aten = torch.ops.aten


def fused_sdpa(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """`F.scaled_dot_product_attention` through the fused kernel CUDA would pick."""
    # query: (n, heads, l, d); key, value: (n, heads, s, d) -> (n, heads, l, d)
    half = query.dtype in (torch.bfloat16, torch.float16)
    if half and attn_mask is None:
        return aten._scaled_dot_product_flash_attention(
            query, key, value, dropout_p, is_causal, scale=scale
        )[0]
    return aten._scaled_dot_product_efficient_attention(
        query, key, value, attn_mask, True, dropout_p, is_causal, scale=scale
    )[0]


@contextmanager
def attention_model(name: str) -> Iterator[None]:
    """Within it, attention runs as the named model does: `fused` or `math`."""
    if name not in ATTENTION_MODELS:
        raise ValueError(f"attention: unknown model {name!r}; choose from {ATTENTION_MODELS}")
    if name == MATH:
        yield
        return
    # The models call `F.scaled_dot_product_attention`, looked up when called. A
    # TorchFunctionMode would not do: it is off while it handles `backward`, so the
    # recomputation of checkpointed forwards would take the math path.
    original = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = fused_sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original
