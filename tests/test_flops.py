"""FLOP counts against hand-worked ground truth, fvcore agreement and the region split."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mobius_core.measure.flops import count_step, cross_check, fvcore_forward
from mobius_core.models.config import Config
from mobius_core.models.variants import VARIANTS, build_matched, build_unet
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


def test_regions_and_phases_add_up(models: dict[str, nn.Module], batch: Batch) -> None:
    results = {v: count_step(m, lambda m=m: compute_loss(m, batch)) for v, m in models.items()}
    for result in results.values():
        assert result.by_region is not None
        assert sum(result.by_region["forward"].values()) == result.forward
        assert sum(result.by_region["backward"].values()) == result.backward
        assert result.total == result.forward + result.backward
    serial, ckpt, mobius = results["serial"], results["serial-ckpt"], results["mobius"]
    assert serial.by_region is not None and mobius.by_region is not None
    # mobius runs no backward through the trunk; serial does
    assert mobius.by_region["backward"]["spatial"] == 0
    assert serial.by_region["backward"]["spatial"] > 0
    # the same forward; mobius adds only its bridges and fusion
    assert mobius.by_region["forward"]["spatial"] == serial.by_region["forward"]["spatial"]
    assert mobius.by_region["forward"]["temporal"] == serial.by_region["forward"]["temporal"]
    # checkpointing: serial's backward plus what it recomputes, attributed alike
    assert ckpt.recomputed and ckpt.backward == serial.backward + ckpt.recomputed
    assert serial.recomputed == 0 and mobius.recomputed == 0


def test_figures_are_deterministic(tiny: Config, batch: Batch) -> None:
    first = [
        count_step(m, lambda m=m: compute_loss(m, batch)).to_dict()
        for m in build_matched(tiny, list(VARIANTS)).values()
    ]
    second = [
        count_step(m, lambda m=m: compute_loss(m, batch)).to_dict()
        for m in build_matched(tiny, list(VARIANTS)).values()
    ]
    assert first == second


def test_meta_device_counts_the_same_forward(tiny: Config, batch: Batch) -> None:
    for variant in VARIANTS:
        cpu = build_unet(tiny, variant)
        meta = build_unet(tiny, variant, device="meta")
        on_cpu = count_step(cpu, lambda m=cpu: compute_loss(m, batch))
        on_meta = count_step(meta, lambda m=meta: compute_loss(m, batch.to("meta")))
        assert on_meta.forward == on_cpu.forward
