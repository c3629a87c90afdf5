"""The matched step: gradients only where they belong, nothing saved inside the trunk,
checkpointing exact, and every variant learning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mobius_core.models.config import Config
from mobius_core.models.variants import BUILT_IN, build_matched, spec
from mobius_core.training.step import (
    Batch,
    alphas_cumprod,
    compute_loss,
    make_batch,
    make_optimizer,
    scaler_for,
    train_step,
)


def test_schedule_is_stable_diffusions() -> None:
    acp = alphas_cumprod()
    assert acp.shape == (1000,)
    assert acp[0].item() == pytest.approx(1 - 0.00085, rel=1e-6)
    # product of (1 - beta_t) with sqrt-linear betas from 0.00085 to 0.012: 0.0047 at t=999
    assert acp[-1].item() == pytest.approx(0.0046615, rel=1e-3)


def test_batch_is_the_same_from_one_seed(tiny: Config) -> None:
    a, b, other = make_batch(tiny, 3), make_batch(tiny, 3), make_batch(tiny, 4)
    for x, y in zip(vars(a).values(), vars(b).values(), strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a.noise, other.noise)
    assert a.latents.shape == (2, 4, 4, 8, 8) and a.context.shape == (2, 77, 768)


@pytest.mark.parametrize("variant", list(BUILT_IN))
def test_gradients_reach_only_trainable_parameters(
    models: dict[str, nn.Module], batch: Batch, variant: str
) -> None:
    model = models[variant]
    compute_loss(model, batch).backward()
    named = dict(model.named_parameters())
    frozen = [n for n, p in named.items() if not p.requires_grad]
    trainable = [n for n, p in named.items() if p.requires_grad]
    assert frozen and trainable
    assert all(named[n].grad is None for n in frozen)
    assert all(named[n].grad is not None for n in trainable)
    # the trainable parts are the motion modules (+ bridges and fusion in mobius)
    allowed = (".temporal.", "branch.", "fusion.")
    assert all(any(a in "." + n for a in allowed) for n in trainable)


def _saves_inside(model: nn.Module, inner: nn.Module, batch: Batch) -> tuple[int, int]:
    """Tensors saved for backward during the forward: (inside `inner`'s modules, all)."""
    depth, inside, total = [0], [0], [0]

    def enter(*_: object) -> None:
        depth[0] += 1

    def leave(*_: object) -> None:
        depth[0] -= 1

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        total[0] += 1
        inside[0] += depth[0] > 0
        return tensor

    handles = []
    for module in inner.modules():
        if module is not inner:
            handles += [
                module.register_forward_pre_hook(enter),
                module.register_forward_hook(leave),
            ]
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        compute_loss(model, batch)
    for handle in handles:
        handle.remove()
    return inside[0], total[0]


def test_mobius_saves_nothing_inside_the_trunk(models: dict[str, nn.Module], batch: Batch) -> None:
    inside, total = _saves_inside(models["mobius"], spec("mobius").spatial(models["mobius"]), batch)
    assert inside == 0 and total > 0
    # the same probe does see what the serial model saves in its spatial layers
    serial = models["serial"]
    spatial_layers = nn.ModuleList(
        [m for name, m in serial.named_modules() if name.endswith((".res", ".attn"))]
    )
    inside, total = _saves_inside(serial, spatial_layers, batch)
    assert 0 < inside < total


def test_checkpointing_gives_the_same_loss_and_gradients(
    models: dict[str, nn.Module], batch: Batch
) -> None:
    losses, grads = {}, {}
    for variant in ("serial", "serial-ckpt"):
        loss = compute_loss(models[variant], batch)
        loss.backward()
        losses[variant] = loss.item()
        grads[variant] = {
            n: p.grad for n, p in models[variant].named_parameters() if p.requires_grad
        }
    assert losses["serial"] == pytest.approx(losses["serial-ckpt"], abs=1e-5)
    assert grads["serial"].keys() == grads["serial-ckpt"].keys()
    for name, grad in grads["serial"].items():
        assert (grad - grads["serial-ckpt"][name]).abs().max().item() <= 1e-5, name
    assert any(g.abs().max() > 0 for g in grads["serial"].values())


@pytest.mark.parametrize("variant", list(BUILT_IN))
def test_thirty_steps_lower_the_loss(tiny: Config, variant: str) -> None:
    model = build_matched(tiny, [variant])[variant]
    optimizer = make_optimizer(model, lr=1e-3)
    batch = make_batch(tiny, seed=1)  # one clip, its noise and timesteps fixed: fit it
    losses = [train_step(model, optimizer, batch).item() for _ in range(30)]
    assert losses[-1] < 0.9 * losses[0]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5


def test_optimizer_holds_only_trainable_parameters(models: dict[str, nn.Module]) -> None:
    model = models["mobius"]
    optimizer = make_optimizer(model)
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert held == {id(p) for p in model.parameters() if p.requires_grad}


class _Scale(nn.Module):
    """prediction = w * noisy, with w = 0.5: the loss is (w * noisy - noise)^2."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.full((1,), 0.5))

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return x * self.w


def _one_pixel(latent: float) -> Batch:
    """One latent of value `latent`, zero noise, timestep 0 (alpha-bar 0.99915)."""
    one = torch.full((1, 1, 1, 1, 1), latent)
    return Batch(one, torch.zeros(1, 1, 1), torch.zeros(1, dtype=torch.long), torch.zeros_like(one))


def test_fp16_scales_the_loss() -> None:
    model = _Scale()
    optimizer = make_optimizer(model)
    grads: list[torch.Tensor] = []
    model.w.register_hook(lambda g: grads.append(g.clone()))
    train_step(model, optimizer, _one_pixel(1.0), torch.float16)
    # noisy = sqrt(0.99915); d/dw (w noisy)^2 = 2 w noisy^2 = 0.99915, times the scale 2^16
    assert grads[0].item() == pytest.approx(0.99915 * 2**16, rel=1e-5)
    assert model.w.item() != 0.5  # the scaler stepped the optimizer
    assert scaler_for(optimizer, "cpu").get_scale() == 2**16


def test_fp16_skips_an_overflowing_step() -> None:
    model = _Scale()
    optimizer = make_optimizer(model)
    train_step(model, optimizer, _one_pixel(float("inf")), torch.float16)
    assert model.w.item() == 0.5  # AdamW alone would have made it nan
    assert scaler_for(optimizer, "cpu").get_scale() == 2**15  # halved


def test_bf16_and_fp32_are_unscaled() -> None:
    for dtype in (torch.float32, torch.bfloat16):
        model = _Scale()
        grads: list[torch.Tensor] = []
        model.w.register_hook(lambda g, out=grads: out.append(g.clone()))
        train_step(model, make_optimizer(model), _one_pixel(1.0), dtype)
        assert grads[0].item() == pytest.approx(0.99915, rel=1e-5)
