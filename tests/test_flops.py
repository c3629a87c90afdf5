"""FLOP counts, by phase and region, against hand-worked ground truth; fvcore agreement."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from mobius_core.measure.flops import FlopTracker, count_step, cross_check, fvcore_forward
from mobius_core.models.config import Config
from mobius_core.models.layers import BRIDGES_FUSION, TEMPORAL
from mobius_core.models.variants import BUILT_IN, build_matched, build_unet
from mobius_core.training.step import Batch, compute_loss


def _count(model: nn.Module, x: Tensor) -> tuple[int, int]:
    result = count_step(model, lambda: model(x).sum())
    assert result.forward is not None and result.backward is not None
    return result.forward, result.backward


def test_linear() -> None:
    # (4, 8) @ (8, 16): 4 * 8 * 16 = 512 multiply-adds = 1024 FLOPs each way
    layer = nn.Linear(8, 16)
    assert _count(layer, torch.randn(4, 8)) == (1024, 1024)  # weight gradient only
    assert _count(layer, torch.randn(4, 8, requires_grad=True)) == (1024, 2048)  # + input


def test_conv2d() -> None:
    # 2 x 5 x 6 x 6 = 360 outputs, each 3 channels x 3 x 3 = 27 multiply-adds: 19,440 FLOPs
    conv = nn.Conv2d(3, 5, 3, padding=1)
    forward, backward = _count(conv, torch.randn(2, 3, 6, 6))
    assert forward == 19_440
    assert backward == 19_440  # weight gradient only: the input does not require grad


class _Attend(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.k = nn.Parameter(torch.randn(1, 2, 6, 8))
        self.v = nn.Parameter(torch.randn(1, 2, 6, 8))

    def forward(self, q: Tensor) -> Tensor:
        return F.scaled_dot_product_attention(q, self.k, self.v)


def test_attention_forward() -> None:
    # q k^T: 2 heads x 4 x 6 x 8 = 384 multiply-adds; (q k^T) v: 384 more -> 1,536 FLOPs
    forward, backward = _count(_Attend(), torch.randn(1, 2, 4, 8))
    assert forward == 1_536
    assert backward > forward  # the backward recomputes scores and forms 3-4 more products


def test_fvcore_agrees_on_every_variant(models: dict[str, nn.Module], batch: Batch) -> None:
    for variant, model in models.items():
        result = count_step(model, lambda m=model: compute_loss(m, batch))
        total, unsupported = fvcore_forward(model, (batch.latents, batch.timesteps, batch.context))
        assert unsupported == {}, variant  # every op fvcore meets has a handle
        cross_check(result, total, unsupported)
        assert result.fvcore_agreement is not None
        assert abs(result.fvcore_agreement - 1) <= 0.02, variant
        assert result.note is None


class _Temporal(nn.Module):
    region: ClassVar[str] = TEMPORAL

    def __init__(self, checkpointed: bool = False) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 4, bias=False)
        self.checkpointed = checkpointed

    def forward(self, x: Tensor) -> Tensor:
        if self.checkpointed:  # relu saves its output: a recomputation must redo the product
            return checkpoint(self._run, x, use_reentrant=False)
        return self._run(x)

    def _run(self, x: Tensor) -> Tensor:
        return torch.relu(self.proj(x))


class _Bridge(nn.Module):
    region: ClassVar[str] = BRIDGES_FUSION

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)


class _Tiny(nn.Module):
    """A frozen spatial Linear (16 -> 8), a temporal one (8 -> 4), a bridge (4 -> 2)."""

    def __init__(self, checkpointed: bool = False) -> None:
        super().__init__()
        self.spatial = nn.Linear(16, 8, bias=False).requires_grad_(False)
        self.temporal = _Temporal(checkpointed)
        self.bridge = _Bridge()

    def forward(self, x: Tensor) -> Tensor:
        return self.bridge(self.temporal(self.spatial(x)))


def _tiny_step(checkpointed: bool) -> FlopTracker:
    torch.manual_seed(0)
    model, x, head = _Tiny(checkpointed), torch.randn(3, 16), torch.randn(2, 5)
    tracker = FlopTracker(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    with tracker.track():
        with tracker.mark("forward"):
            loss = (model(x) @ head).sum()  # the (3, 2) @ (2, 5) head lies outside the model
        with tracker.mark("backward"):
            loss.backward()
        with tracker.mark("optimizer"):
            optimizer.step()
    return tracker


def test_region_flops_match_hand_worked_formulas() -> None:
    # A (m, k) @ (k, n) product is 2 m k n FLOPs; m = 3 rows throughout.
    # forward: spatial 2*3*16*8 = 768, temporal 2*3*8*4 = 192, bridge 2*3*4*2 = 48,
    #          the head outside the model 2*3*2*5 = 60
    # backward: spatial 0 (frozen, and its input needs no gradient); temporal: its weight's
    #           gradient only (its input comes from the frozen layer) = 192; bridge: weight
    #           and input gradients = 2 * 48 = 96; head: the gradient of its input = 60
    result = _tiny_step(checkpointed=False).result()
    forward = {"spatial": 768, "temporal": 192, "bridges+fusion": 48, "other": 60}
    backward = {"spatial": 0, "temporal": 192, "bridges+fusion": 96, "other": 60}
    assert result.by_region == {"forward": forward, "backward": backward}
    assert (result.forward, result.backward, result.total) == (1068, 348, 1416)
    assert result.recomputed == 0


def test_checkpointing_recomputes_the_forward_in_its_own_region() -> None:
    # the checkpointed temporal Linear runs its forward again in backward: 192 more FLOPs,
    # counted as backward, in the temporal region, and as recomputed
    tracker = _tiny_step(checkpointed=True)
    result = tracker.result()
    assert result.by_region is not None
    assert result.by_region["backward"] == {
        "spatial": 0,
        "temporal": 192 + 192,
        "bridges+fusion": 96,
        "other": 60,
    }
    assert result.recomputed == 192
    assert tracker.optimizer_flops() == 0


def test_variants_differ_where_their_designs_do(models: dict[str, nn.Module], batch: Batch) -> None:
    results = {v: count_step(m, lambda m=m: compute_loss(m, batch)) for v, m in models.items()}
    serial, ckpt, mobius = results["serial"], results["serial-ckpt"], results["mobius"]
    assert serial.by_region is not None and mobius.by_region is not None
    # mobius runs no backward through the trunk; serial does
    assert mobius.by_region["backward"]["spatial"] == 0
    assert serial.by_region["backward"]["spatial"] > 0
    # the same forward; mobius adds only its bridges and fusion
    assert mobius.by_region["forward"]["spatial"] == serial.by_region["forward"]["spatial"]
    assert mobius.by_region["forward"]["temporal"] == serial.by_region["forward"]["temporal"]
    assert serial.by_region["forward"]["bridges+fusion"] == 0
    assert mobius.by_region["forward"]["bridges+fusion"] > 0
    # checkpointing: serial's backward plus what it recomputes
    assert ckpt.recomputed and ckpt.backward == serial.backward + ckpt.recomputed
    assert serial.recomputed == 0 and mobius.recomputed == 0


def test_figures_are_deterministic(tiny: Config, batch: Batch) -> None:
    first = [
        count_step(m, lambda m=m: compute_loss(m, batch)).to_dict()
        for m in build_matched(tiny, list(BUILT_IN)).values()
    ]
    second = [
        count_step(m, lambda m=m: compute_loss(m, batch)).to_dict()
        for m in build_matched(tiny, list(BUILT_IN)).values()
    ]
    assert first == second


def test_meta_device_counts_the_same_forward(tiny: Config, batch: Batch) -> None:
    for variant in BUILT_IN:
        cpu = build_unet(tiny, variant)
        meta = build_unet(tiny, variant, device="meta")
        on_cpu = count_step(cpu, lambda m=cpu: compute_loss(m, batch))
        on_meta = count_step(meta, lambda m=meta: compute_loss(m, batch.to("meta")))
        assert on_meta.forward == on_cpu.forward
