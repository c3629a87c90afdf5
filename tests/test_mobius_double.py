"""mobius-double: k = 0 is mobius, every k is the 2D UNet at init, and backward crosses the
trunk exactly from the first return bridge on (saved tensors and backward FLOPs per layer)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.utils.flop_counter import FlopCounterMode

from mobius_core.errors import BadInput
from mobius_core.models.config import Config, preset
from mobius_core.models.layers import Downsample, Upsample
from mobius_core.models.mobius import MobiusUNet
from mobius_core.models.unet import Layer
from mobius_core.models.variants import build_matched, build_unet2d
from mobius_core.training.step import Batch, make_batch


@pytest.fixture(scope="module")
def config() -> Config:
    return preset("tiny")  # 2 levels x 2 layers per up level: 4 up positions


@pytest.fixture(scope="module")
def batch(config: Config) -> Batch:
    return make_batch(config, seed=0)


def _at(config: Config, k: int) -> Config:
    return replace(config, rejoin_positions=k)


def _perturb(model: nn.Module, seed: int) -> None:
    """Give every trainable weight a non-zero value (the zero inits hide differences)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)


def _forward(model: nn.Module, batch: Batch) -> Tensor:
    return model(batch.latents, batch.timesteps, batch.context)


def test_rejoin_positions_is_validated_against_the_up_positions() -> None:
    assert preset("sd15").up_positions == 12  # 4 levels x 3 layers per up level
    assert preset("tiny").rejoin == 4  # None: every up position
    assert replace(preset("sd15"), rejoin_positions=12).rejoin == 12
    for bad in (-1, 13):
        with pytest.raises(BadInput, match="rejoin_positions"):
            replace(preset("sd15"), rejoin_positions=bad)


def test_k0_is_mobius_exactly(config: Config, batch: Batch) -> None:
    models = build_matched(_at(config, 0), ["mobius", "mobius-double"])
    single, double = models["mobius"], models["mobius-double"]
    assert double.state_dict().keys() == single.state_dict().keys()
    for model in (single, double):
        _perturb(model, seed=1)
    out_single, out_double = _forward(single, batch), _forward(double, batch)
    assert torch.equal(out_single, out_double)
    out_single.square().mean().backward()
    out_double.square().mean().backward()
    grads = {n: p.grad for n, p in double.named_parameters() if p.requires_grad}
    for name, p in single.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.equal(p.grad, grads[name]), name


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4])
def test_every_k_is_the_2d_unet_at_init(config: Config, batch: Batch, k: int) -> None:
    torch.manual_seed(0)
    unet2d = build_unet2d(config)
    double = build_matched(_at(config, k), ["mobius-double"])["mobius-double"]
    assert len(double.branch.returns) == k
    double.trunk.load_state_dict(unet2d.state_dict())
    with torch.no_grad():
        expected = unet2d(batch.latents, batch.timesteps, batch.context)  # frame by frame
    assert torch.equal(_forward(double, batch), expected)


def _trunk_units(model: MobiusUNet) -> dict[int, str]:
    """id -> name of the trunk's layers: each Layer, resampler, the mid ResBlock, conv_out."""
    kinds = (Layer, Downsample, Upsample)
    units = {
        id(m): n for n, m in model.trunk.named_modules() if isinstance(m, kinds) or n == "mid.res"
    }
    units[id(model.trunk.conv_out)] = "conv_out"
    return units


@contextmanager
def _saved_by_unit(units: dict[int, str], order: list[str]) -> Iterator[dict[str, int]]:
    """Bytes saved for backward inside each trunk unit; `order` gets the units as entered."""
    stack: list[str] = []
    saved: dict[str, int] = {}

    def enter(module: nn.Module, args: Any) -> None:
        if id(module) in units:
            stack.append(units[id(module)])
            order.append(stack[-1])

    def leave(module: nn.Module, args: Any, output: Any) -> None:
        if id(module) in units:
            stack.pop()

    def pack(t: Tensor) -> Tensor:
        if stack:
            saved[stack[-1]] = saved.get(stack[-1], 0) + t.numel() * t.element_size()
        return t.detach()

    pre, post = register_module_forward_pre_hook(enter), register_module_forward_hook(leave)
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            yield saved
    finally:
        pre.remove()
        post.remove()


def _totals(counter: FlopCounterMode) -> dict[str, int]:
    return {m: sum(ops.values()) for m, ops in counter.get_flop_counts().items()}


@pytest.mark.parametrize("k", [1, 3, 4])
def test_backward_crosses_the_trunk_from_the_first_return_bridge_on(
    config: Config, batch: Batch, k: int
) -> None:
    model = build_matched(_at(config, k), ["mobius-double"])["mobius-double"]
    assert isinstance(model, MobiusUNet)
    _perturb(model, seed=2)
    units, order = _trunk_units(model), []
    first_return = units[id(model.returning_layers()[0])]
    with FlopCounterMode(display=False) as counter:
        with _saved_by_unit(units, order) as saved:
            loss = _forward(model, batch).square().mean()
        forward = _totals(counter)
        loss.backward()
    backward = {m: n - forward.get(m, 0) for m, n in _totals(counter).items()}
    cut = order.index(first_return)
    before, after = order[: cut + 1], order[cut + 1 :]
    # tiny's up path: layers 0.0, 0.1 | upsampler | layers 1.0, 1.1 | conv_out; the return
    # bridges sit on the last k layers, so the trunk units after the first one are:
    assert len(after) == {1: 1, 3: 4, 4: 5}[k]
    for name in before:
        assert saved.get(name, 0) == 0, name
        assert backward.get(f"MobiusUNet.trunk.{name}", 0) == 0, name
    for name in after:
        assert saved.get(name, 0) > 0, name
        assert backward[f"MobiusUNet.trunk.{name}"] > 0, name
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad and p.grad is not None]
    assert frozen == []
    assert all(p.grad is not None for p in model.branch.returns.parameters())
