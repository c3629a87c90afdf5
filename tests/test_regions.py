"""Regions are declared once, by the module classes, and read by one tracker."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from torch import nn

from mobius_core.measure.regions import (
    OTHER,
    REGIONS,
    RegionStack,
    declared_region,
    region_of_name,
)
from mobius_core.models.layers import Attention
from mobius_core.models.mobius import Bridge, Fusion, MobiusUNet
from mobius_core.models.spatial import ResBlock2D, SpatialTransformer
from mobius_core.models.temporal import TemporalTransformer
from mobius_core.models.unet import UNet
from mobius_core.training.step import Batch, compute_loss


def test_classes_state_the_ci_baseline_s_region_names() -> None:
    assert REGIONS == ("spatial", "temporal", "bridges+fusion", "other")
    assert TemporalTransformer.region == "temporal"
    assert Bridge.region == Fusion.region == "bridges+fusion"
    assert UNet.region == ResBlock2D.region == SpatialTransformer.region == "spatial"
    assert declared_region(Attention(8, 2)) is None  # shared: takes its enclosing region


def test_the_nearest_declaring_ancestor_gives_the_region() -> None:
    roots = {"": "spatial", "down.0.temporal": "temporal"}
    assert region_of_name("down.0.temporal.attn.to_q", roots) == "temporal"
    assert region_of_name("down.0.temporal", roots) == "temporal"
    assert region_of_name("down.0.res", roots) == "spatial"
    assert region_of_name("conv_in", {}) == "spatial"


def _where_attention_runs(model: nn.Module, run: Any) -> dict[str, set[str]]:
    """Region current while each Attention runs, keyed by the class enclosing it."""
    stack, seen = RegionStack(model), {}
    owners = {
        id(inner): type(outer).__name__
        for outer in model.modules()
        if isinstance(outer, SpatialTransformer | TemporalTransformer)
        for inner in outer.modules()
        if isinstance(inner, Attention)
    }

    def sample(module: nn.Module, args: Any) -> None:
        if id(module) in owners:
            seen.setdefault(owners[id(module)], set()).add(stack.current)

    hooks = [m.register_forward_pre_hook(sample) for m in model.modules()]
    with stack.active():
        run()
    for hook in hooks:
        hook.remove()
    return seen


def test_shared_layers_take_the_region_they_run_in(
    models: dict[str, nn.Module], batch: Batch
) -> None:
    for variant in ("serial", "mobius"):
        model = models[variant]
        seen = _where_attention_runs(model, lambda m=model: compute_loss(m, batch))
        assert seen == {"SpatialTransformer": {"spatial"}, "TemporalTransformer": {"temporal"}}


def test_changes_are_reported_in_order_and_outside_the_model_is_other(
    models: dict[str, nn.Module], batch: Batch
) -> None:
    model = models["mobius"]
    assert isinstance(model, MobiusUNet)
    changes: list[tuple[str | None, str | None]] = []
    outside = nn.Identity()
    with RegionStack(model, on_change=lambda a, b: changes.append((a, b))).active():
        compute_loss(model, batch)
        outside(batch.noise)
    assert changes[0] == (None, "spatial") and changes[-2:] == [(None, OTHER), (OTHER, None)]
    assert all(before != after for before, after in changes)
    for (_, after), (before, _) in pairwise(changes):
        assert after == before  # each change starts where the last one ended
    entered = {after for _, after in changes}
    assert entered == {"spatial", "temporal", "bridges+fusion", OTHER, None}
