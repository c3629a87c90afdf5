"""FLOPs by two methods.

Primary: `torch.utils.flop_counter.FlopCounterMode` over a whole step, forward and
backward counted apart and split by region. Cross-check: fvcore's `FlopCountAnalysis` on
the forward, with handles for the ops it does not know, converted from multiply-adds to
FLOPs (x2). Both count matrix products, convolutions and attention only: normalisation,
activations and elementwise ops count zero (FlopCounterMode's convention, which we give
fvcore too), and so does AdamW's update, which is elementwise.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from mobius_core.measure.regions import (
    OTHER,
    REGIONS,
    SPATIAL,
    RegionStack,
    region_of_name,
    region_roots,
)
from mobius_core.measure.result import Result

CONVENTION = (
    "matmul, convolution and attention FLOPs (2 per multiply-add); normalisation,"
    " elementwise ops and the AdamW update count zero"
)
AGREEMENT = 0.02  # the two forward counts must agree within this fraction
aten = torch.ops.aten
Shape = tuple[int, ...]


@dataclass
class FlopsResult(Result):
    total: int | None = None
    forward: int | None = None
    backward: int | None = None  # activation checkpointing's recomputation included
    recomputed: int | None = None  # forward FLOPs recomputed during backward
    by_region: dict[str, dict[str, int]] | None = None  # phase -> region -> FLOPs
    fvcore_forward: int | None = None
    fvcore_agreement: float | None = None  # fvcore / FlopCounterMode on the forward
    note: str | None = None  # why the two disagree, where they do
    convention: str = CONVENTION


def _cpu_attention(query: Shape, key: Shape, value: Shape, *_: Any, **__: Any) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward(
    grad: Shape, query: Shape, key: Shape, value: Shape, *_: Any, **__: Any
) -> int:
    return sdpa_backward_flop_count(grad, query, key, value)


# FlopCounterMode knows the CUDA attention kernels but not the CPU one: count it alike.
CPU_ATTENTION = {
    aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward,
}


class RegionFlopCounter(FlopCounterMode):
    """FlopCounterMode that also adds each op's FLOPs to one region.

    In a forward, checkpointing's recomputation during backward included, the region is
    that of the module running (a stack kept by global forward hooks that also run when
    checkpointing stops a recomputation early). In backward proper it is that of the
    module whose forward made the op, as FlopCounterMode's module tracker sees it.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__(display=False, custom_mapping=CPU_ATTENTION)
        self.stack = RegionStack(model)
        self.roots = region_roots(model)
        self.prefix = type(model).__name__
        self.by_region = dict.fromkeys(REGIONS, 0)
        self.in_backward = False
        self.recomputed = 0

    def _region(self) -> str:
        if self.stack.current is not None:
            return self.stack.current
        names = [p for p in self.mod_tracker.parents if p.startswith(self.prefix)]
        if not names:
            return OTHER
        regions = {region_of_name(n[len(self.prefix) + 1 :], self.roots) for n in names}
        return next((r for r in regions if r != SPATIAL), SPATIAL)

    def _count_flops(self, func_packet: Any, out: Any, args: Any, kwargs: Any) -> Any:
        if func_packet in self.flop_registry:
            count = self.flop_registry[func_packet](*args, **kwargs, out_val=out)
            self.by_region[self._region()] += count
            if self.in_backward and self.stack.current is not None:
                self.recomputed += count
        return super()._count_flops(func_packet, out, args, kwargs)


def count_step(model: nn.Module, forward: Callable[[], Tensor]) -> FlopsResult:
    """FLOPs of `forward()` (returning the loss) and of its backward, by region."""
    counter = RegionFlopCounter(model)
    with counter, counter.stack.active():
        loss = forward()
        forward_total, forward_regions = counter.get_total_flops(), dict(counter.by_region)
        counter.in_backward = True
        loss.backward()
    total = counter.get_total_flops()
    backward_regions = {k: v - forward_regions[k] for k, v in counter.by_region.items()}
    return FlopsResult(
        total=total,
        forward=forward_total,
        backward=total - forward_total,
        recomputed=counter.recomputed,
        by_region={"forward": forward_regions, "backward": backward_regions},
    )


def _zero(inputs: list[Any], outputs: list[Any]) -> int:
    return 0


def _sdpa_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """Multiply-adds of softmax(q k^T) v: 2 * b * heads * L * S * d."""
    from fvcore.nn.jit_handles import get_shape

    q, k = get_shape(inputs[0]), get_shape(inputs[1])
    *batch, length, dim = q
    size = 1
    for extent in batch:
        size *= extent
    return 2 * size * length * k[-2] * dim


# Ops fvcore does not count (or counts against the convention) in our models.
ZERO_OPS = (
    "aten::add",
    "aten::mul",
    "aten::div",
    "aten::sub",
    "aten::exp",
    "aten::cos",
    "aten::sin",
    "aten::silu",
    "aten::gelu",
    "aten::repeat_interleave",
    "aten::avg_pool2d",
    "aten::group_norm",
    "aten::layer_norm",
    "aten::upsample_nearest2d",
    "aten::mse_loss",
    "aten::pow",
    "aten::sqrt",
    "aten::rsub",
    "aten::_autocast_to_reduced_precision",
    "aten::_autocast_to_full_precision",
)


def fvcore_forward(model: nn.Module, inputs: tuple[Tensor, ...]) -> tuple[int, dict[str, int]]:
    """fvcore's forward FLOPs (2 x its multiply-adds) and the ops it still could not count."""
    with warnings.catch_warnings():  # fvcore uses deprecated torch.jit entry points
        warnings.simplefilter("ignore", DeprecationWarning)
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(model, inputs)
        analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_macs)
        analysis.set_op_handle(**dict.fromkeys(ZERO_OPS, _zero))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        macs = analysis.total()
    return 2 * macs, dict(analysis.unsupported_ops())


def cross_check(result: FlopsResult, fvcore_flops: int, unsupported: dict[str, int]) -> None:
    """Record fvcore's count beside FlopCounterMode's and say why they disagree, if they do."""
    assert result.forward is not None
    result.fvcore_forward = fvcore_flops
    result.fvcore_agreement = fvcore_flops / result.forward if result.forward else None
    reasons = []
    if unsupported:
        reasons.append(f"fvcore could not count {sorted(unsupported)}")
    if result.fvcore_agreement is None or abs(result.fvcore_agreement - 1) > AGREEMENT:
        reasons.append(
            f"the forward counts differ by more than {AGREEMENT:.0%}"
            " (fvcore traces the model with torch.jit; FlopCounterMode sees every dispatched op)"
        )
    result.note = "; ".join(reasons) or None
