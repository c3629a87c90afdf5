"""FLOPs by two methods.

Primary: `FlopTracker`, a `torch.utils.flop_counter.FlopCounterMode` over a whole training
step, its phases told apart by `mark` and every op's FLOPs split by region. Cross-check:
fvcore's `FlopCountAnalysis` on the forward, with handles for the ops it does not know,
converted from multiply-adds to FLOPs (x2). Both count matrix products, convolutions and
attention only: normalisation, activations and elementwise ops count zero
(FlopCounterMode's convention, which we give fvcore too), and so does AdamW's update,
which is elementwise: the optimizer phase counts zero.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

from mobius_core.measure.compat import HookedFlopCounter
from mobius_core.measure.regions import REGIONS, RegionStack
from mobius_core.measure.results import FlopsResult
from mobius_core.measure.tracker import Tracker

CONVENTION = (
    "matmul, convolution and attention FLOPs (2 per multiply-add); normalisation,"
    " elementwise ops and the AdamW update count zero"
)
AGREEMENT = 0.02  # the two forward counts must agree within this fraction
PHASES = ("forward", "backward", "optimizer")
aten = torch.ops.aten
Shape = tuple[int, ...]


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


class RegionFlopCounter(HookedFlopCounter):
    """FlopCounterMode that also adds each op's FLOPs to its phase and region.

    In a forward, checkpointing's recomputation during backward included, the region is
    that of the module running (a stack kept by global forward hooks that also run when
    checkpointing stops a recomputation early). In backward proper it is that of the
    module whose forward made the op, as FlopCounterMode's module tracker sees it.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__(display=False, custom_mapping=CPU_ATTENTION)
        self.stack = RegionStack(model)
        self.phase = "forward"
        self.by_phase = {p: dict.fromkeys(REGIONS, 0) for p in PHASES}
        self.recomputed = 0

    def reset(self) -> None:
        self.phase = "forward"
        self.by_phase = {p: dict.fromkeys(REGIONS, 0) for p in PHASES}
        self.recomputed = 0

    def _region(self) -> str:
        return self.stack.current or self.stack.made_by()

    def on_flops(self, flops: int) -> None:
        self.by_phase[self.phase][self._region()] += flops
        if self.phase == "backward" and self.stack.current is not None:
            self.recomputed += flops


class FlopTracker(Tracker[FlopsResult]):
    """FLOPs of one training step (the last one tracked), by phase and region.

    `track()` goes around the whole step; `mark(phase)` around its forward, backward and
    optimizer (`phase_marks` hands it to `train_step`). Ops outside any mark count as
    forward. The optimizer's FLOPs are zero by the convention, and are not reported.
    """

    def __init__(self, model: nn.Module) -> None:
        self.counter = RegionFlopCounter(model)

    @contextmanager
    def track(self) -> Iterator[None]:
        self.counter.reset()
        with self.counter, self.counter.stack.active():
            yield

    @contextmanager
    def mark(self, phase: str) -> Iterator[None]:
        self.counter.phase = phase
        try:
            yield
        finally:
            self.counter.phase = "forward"

    def optimizer_flops(self) -> int:
        """What the optimizer phase counted: zero under the convention."""
        return sum(self.counter.by_phase["optimizer"].values())

    def result(self) -> FlopsResult:
        forward = dict(self.counter.by_phase["forward"])
        backward = dict(self.counter.by_phase["backward"])
        return FlopsResult(
            total=sum(forward.values()) + sum(backward.values()),
            forward=sum(forward.values()),
            backward=sum(backward.values()),
            recomputed=self.counter.recomputed,
            by_region={"forward": forward, "backward": backward},
            convention=CONVENTION,
        )


def count_step(model: nn.Module, forward: Callable[[], Tensor]) -> FlopsResult:
    """FLOPs of `forward()` (returning the loss) and of its backward, by region."""
    tracker = FlopTracker(model)
    with tracker.track():
        with tracker.mark("forward"):
            loss = forward()
        with tracker.mark("backward"):
            loss.backward()
    return tracker.result()


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
