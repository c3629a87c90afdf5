"""CUDA autocast emulated on the meta device: saves worked by hand, the same saves as real
(CPU) autocast where the two devices' policies agree, each policy's dtypes, checkpointed
recomputation, and every replaced function put back."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from mobius_core.measure.results import SavedResult
from mobius_core.measure.saved import SavedTracker
from mobius_core.run.autocast_model import POLICY, emulated_autocast, resolve

BF16, FP32 = torch.bfloat16, torch.float32


def _meta(*shape: int, dtype: torch.dtype = FP32, grad: bool = False) -> Tensor:
    return torch.empty(shape, device="meta", dtype=dtype, requires_grad=grad)


def test_saves_worked_by_hand() -> None:
    # Linear(3 -> 4) trainable fp32, LayerNorm(4) trainable fp32, Linear(4 -> 5) frozen in
    # bf16; x (2, 3) fp32 requires grad, as an activation from upstream does.
    toy = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 5, bias=False))
    toy = toy.to("meta")
    toy[2].requires_grad_(False).to(BF16)
    x = _meta(2, 3, grad=True)
    tracker = SavedTracker(toy)
    with emulated_autocast(BF16), tracker.track():
        out = toy(x)
    # linear 1 (lower): the bf16 copy of x, 2*3*2 = 12 B, and of the weight, 4*3*2 = 24 B
    # layer_norm (fp32): its input cast to fp32, 2*4*4 = 32 B; mean and rstd (2, 1) fp32,
    #   8 B each; weight and bias are parameters, not counted
    # linear 2 (lower): its weight, a parameter, needs no grad: its input is not saved
    # 12 + 24 + 32 + 8 + 8 = 84 B in 5 tensors
    assert (out.dtype, tracker.result().bytes, tracker.result().tensors) == (BF16, 84, 5)


def test_a_trainable_weight_is_cast_once_per_entry() -> None:
    layer = nn.Linear(4, 4, bias=False, device="meta")  # trainable, fp32
    x = _meta(2, 4, dtype=BF16, grad=True)
    tracker = SavedTracker(layer)
    with tracker.track():
        with emulated_autocast(BF16):  # outputs kept: a graph freed early frees its saves,
            first = layer(layer(x))  # whose storage the next may reuse; one bf16 copy of the
        with emulated_autocast(BF16):  # weight, 4*4*2 = 32 B, for both layers
            second = layer(x)  # a new entry, a new copy: 32 B
    assert first.shape == second.shape == (2, 4)
    # inputs: x and the first output, 2*4*2 = 16 B each; weight copies 2 * 32 B
    assert (tracker.result().bytes, tracker.result().tensors) == (2 * 16 + 2 * 32, 4)


class _Toy(nn.Module):
    """Only ops whose autocast policy is the same on CPU and CUDA: conv2d, linear, matmul
    (lower) and mse_loss (fp32); gelu and the adds have none on either."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)  # trainable fp32
        self.proj = nn.Linear(3, 4)  # frozen, held in bf16
        self.head = nn.Linear(4, 4)  # trainable fp32, used twice: the cast cache
        self.proj.requires_grad_(False).to(BF16)

    def forward(self, x: Tensor, target: Tensor) -> Tensor:
        # x: (n, 2, h, w); target: (n, h*w, h*w) fp32 -> a scalar
        h = F.gelu(self.conv(x)).flatten(2).transpose(1, 2)  # (n, h*w, 3)
        h = self.head(self.head(self.proj(h)) + 1.0)  # (n, h*w, 4)
        return F.mse_loss(h @ h.transpose(1, 2), target)  # (n, h*w, h*w) against target


def _saved(device: str) -> SavedResult:
    torch.manual_seed(0)
    toy = _Toy().to(device)
    x = torch.randn(2, 2, 3, 3, device=device)
    target = torch.randn(2, 9, 9, device=device)
    tracker = SavedTracker(toy)
    real = torch.autocast("cpu", dtype=BF16) if device == "cpu" else emulated_autocast(BF16)
    with real, tracker.track():
        toy(x, target).backward()
    return tracker.result()


def test_the_emulation_saves_what_cpu_autocast_saves() -> None:
    real, emulated = _saved("cpu"), _saved("meta")
    assert real.tensors >= 8  # the toy saves enough for the comparison to mean something
    assert (emulated.bytes, emulated.tensors) == (real.bytes, real.tensors)


def test_each_policy_gives_cuda_autocasts_dtypes() -> None:
    x, w = _meta(2, 4, dtype=BF16), _meta(4, 4)
    on_cpu = torch.ones(2, 4)
    with emulated_autocast(BF16):
        assert F.linear(x.float(), w).dtype == BF16  # lower
        assert F.layer_norm(x, (4,)).dtype == FP32  # fp32
        assert x.sum().dtype == torch.softmax(x, -1).dtype == FP32  # fp32_set_opt_dtype
        assert x.sum(dtype=BF16).dtype == BF16  # a dtype given is kept
        assert torch.norm(x).dtype == FP32  # fp32_append_dtype
        assert torch.addcmul(x, w[:2], x).dtype == FP32  # promote: the widest, fp32
        assert torch.addcmul(x, x, x).dtype == BF16
        assert (on_cpu @ on_cpu.T).dtype == FP32  # another device's tensors are not cast
        assert torch.exp(x.double()).dtype == torch.float64  # nor float64


def test_checkpointed_recomputation_casts_in_backward() -> None:
    layer = nn.Sequential(nn.LayerNorm(4), nn.Linear(4, 4)).to("meta")  # trainable fp32
    x = _meta(2, 4, dtype=BF16, grad=True)
    with emulated_autocast(BF16):
        out = checkpoint(layer, x, use_reentrant=False)
    with emulated_autocast(BF16):
        out.sum().backward()  # recomputes: fails with mixed dtypes unless cast
    assert layer[1].weight.grad is not None and layer[1].weight.grad.dtype == FP32


def test_every_function_is_put_back() -> None:
    before = {name: getattr(*resolve(name)) for name in POLICY}
    inherited = {name for name in POLICY if resolve(name)[1] not in vars(resolve(name)[0])}
    with pytest.raises(RuntimeError), emulated_autocast(BF16):
        assert F.linear is not before["F.linear"]
        raise RuntimeError("left early")
    assert all(getattr(*resolve(name)) is before[name] for name in POLICY if name in inherited)
    assert all(getattr(*resolve(name)) == before[name] for name in POLICY)
    assert {n for n in POLICY if resolve(n)[1] not in vars(resolve(n)[0])} == inherited
