"""The memory tracker against bytes counted by hand: the breakdown of a small model, what
is resident before a step (in a fresh process), and leaks of memory and of the graph."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import _get_current_dispatch_mode

from mobius_core.measure import memory
from mobius_core.measure.results import LeakResult, MemoryResult
from mobius_core.measure.saved import SavedTracker, with_allocator


class _Small(nn.Module):
    """A Linear(4, 4) (64 B of weight, 16 B of bias) and a 4-float buffer (16 B)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.register_buffer("shift", torch.zeros(4))

    def forward(self, x: Tensor) -> Tensor:
        # x * 2 is new (32 B) and saved by the linear; tanh saves its output (32 B)
        return torch.tanh(self.linear(x * 2)) + self.shift


def _trained() -> tuple[_Small, torch.optim.AdamW, Tensor]:
    model, x = _Small(), torch.ones(2, 4)  # the batch: 8 floats, 32 B
    optimizer = torch.optim.AdamW(model.parameters())
    _step(model, optimizer, x)  # AdamW makes its state in its first step
    return model, optimizer, x


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor) -> None:
    model(x).sum().backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _tracked(step: object, model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor):
    saved = SavedTracker(model)
    tracker = memory.MemoryTracker("cpu", model, optimizer, [x], saved=saved)
    with tracker.track(), saved.track():
        step()  # type: ignore[operator]
    return tracker.result()


def test_breakdown_by_hand() -> None:
    model, optimizer, x = _trained()
    result = _tracked(lambda: _step(model, optimizer, x), model, optimizer, x)
    assert result.breakdown == {
        "parameters": 96,  # 64 + 16 + the 16 B buffer
        "optimizer": 168,  # AdamW: exp_avg, exp_avg_sq (2 x 80 B), a float32 step per tensor
        "batch": 32,
        "gradients": 80,  # weight and bias
        "saved": 64,  # x * 2 and tanh's output; the weight is a parameter, left out
    }
    assert "rest" not in result.breakdown  # no allocator peak on the CPU
    assert result.peak_allocated is None and "peak_allocated" in result.absent
    assert result.leak is not None and result.leak.status == "ok"
    assert result.leak.graph_alive is False


def test_the_cpu_peak_counts_what_is_alive_at_once() -> None:
    """Held: 96 B of parameters and buffer, 168 B of AdamW state, the 32 B batch (296 B).
    Two kibibytes are made over the step, but never more than one at once."""
    model, optimizer, x = _trained()
    tracker = memory.MemoryTracker("cpu", model, optimizer, [x], count_live=True)
    with tracker.track():
        a = torch.ones(256)  # 1 KiB
        del a
        b, c = torch.ones(128), torch.ones(128)  # 512 B each, alive together
        del b, c
    result = tracker.result()
    assert result.peak_live == 296 + 1024
    assert result.breakdown is not None
    assert result.breakdown["rest"] == 1320 - (96 + 168 + 32 + 80)  # less the gradients too


def test_live_tensors_are_not_counted_unless_asked_on_the_cpu() -> None:
    model, optimizer, x = _trained()
    tracker = memory.MemoryTracker("cpu", model, optimizer, [x])
    with tracker.track():
        pass
    result = tracker.result()
    assert result.peak_live is None and "eager runs only" in result.absent["peak_live"]


def test_cuda_keeps_the_allocator_peak_and_counts_no_live_tensors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Asked to count, a CUDA tracker still leaves the step without a dispatch mode."""
    for name, value in [("synchronize", None), ("reset_peak_memory_stats", None),
                        ("memory_allocated", 0), ("max_memory_allocated", 5000),
                        ("max_memory_reserved", 6000)]:  # fmt: skip
        monkeypatch.setattr(torch.cuda, name, lambda value=value: value)
    model, optimizer, x = _trained()
    tracker = memory.MemoryTracker("cuda", model, optimizer, [x], count_live=True)
    with tracker.track():
        assert _get_current_dispatch_mode() is None
    result = tracker.result()
    assert result.peak_allocated == 5000 and result.peak_live is None
    assert "allocator's peak is measured" in result.absent["peak_live"]


def test_leak_check_catches_a_planted_leak() -> None:
    model, optimizer, x = _trained()
    stash: list[Tensor] = []

    def leaky() -> None:
        _step(model, optimizer, x)
        stash.append(torch.ones(2**20))  # 4 MiB kept after the step

    for step, status in ((lambda: _step(model, optimizer, x), "ok"), (leaky, "leak")):
        leak = _tracked(step, model, optimizer, x).leak
        assert leak is not None and leak.status == status
    assert leak.bytes is not None and leak.bytes >= 4 * 2**20


def test_leak_check_sees_a_retained_graph() -> None:
    """A kept loss that is never backpropagated holds its graph's saved tensors: too few
    bytes for the byte check, invisible to the garbage collector as a graph."""
    model, optimizer, x = _trained()
    kept: list[Tensor] = []

    def keeps_a_loss() -> None:
        kept.append(model(x).sum())  # e.g. a logged loss computed without no_grad
        _step(model, optimizer, x)

    leak = _tracked(keeps_a_loss, model, optimizer, x).leak
    assert leak is not None and leak.graph_alive is True and leak.status == "leak"
    assert leak.bytes is not None and leak.bytes < memory.LEAK_TOLERANCE
    kept.clear()


def test_first_step_optimizer_state_is_no_leak() -> None:
    """AdamW makes 2 MiB of state in its first step: held from then on, not leaked."""
    model, x = nn.Linear(512, 512, bias=False), torch.ones(2, 512)
    optimizer = torch.optim.AdamW(model.parameters())
    result = _tracked(lambda: _step(model, optimizer, x), model, optimizer, x)
    assert result.leak is not None and result.leak.status == "ok"


_RESIDENT = textwrap.dedent(
    """
    import json, torch
    from torch import nn
    from mobius_core.measure.memory import MemoryTracker

    def variant():
        model = nn.Sequential(nn.Linear(256, 256), nn.BatchNorm1d(256))
        optimizer = torch.optim.AdamW(model.parameters())
        return model, optimizer

    def step(model, optimizer, x):
        model(x).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def resident(model, optimizer, x):
        tracker = MemoryTracker("cpu", model, optimizer, [x])
        with tracker.track():
            step(model, optimizer, x)
        return tracker.result().resident_before

    model, optimizer = variant()
    x = torch.randn(8, 256)
    step(model, optimizer, x)  # warm-up: AdamW's state exists
    alone = resident(model, optimizer, x)
    other, other_optimizer = variant()  # a second variant, alive beside the first
    step(other, other_optimizer, x)
    print(json.dumps([alone, resident(model, optimizer, x)]))
    """
)
# by hand: Linear 256 x 256 + 256 floats; BatchNorm weight, bias, running mean and var
# (4 x 256 floats) and num_batches_tracked (one int64)
PARAMETERS = (256 * 256 + 256) * 4 + 4 * 256 * 4 + 8  # 267_272 B
ADAMW = 2 * (256 * 256 + 3 * 256) * 4 + 4 * 4  # exp_avg, exp_avg_sq; a step per tensor
BATCH = 8 * 256 * 4


def test_resident_before_is_the_variants_own_state() -> None:
    """In a fresh process (pytest's other tests hold tensors of their own)."""
    run = subprocess.run(
        [sys.executable, "-c", _RESIDENT], capture_output=True, text=True, check=True
    )
    alone, beside_another = json.loads(run.stdout)
    own = PARAMETERS + ADAMW + BATCH  # 805_912 B
    assert abs(alone - own) <= 0.05 * own
    assert beside_another > 1.05 * own  # the other variant's weights and state are counted


def test_combine_keeps_both_peaks_and_the_larger() -> None:
    first = MemoryResult(peak_allocated=100, peak_allocated_samples=[100], leak=LeakResult())
    second = MemoryResult(
        peak_allocated=120, peak_allocated_samples=[120], breakdown={"rest": 20}, leak=LeakResult()
    )
    merged = memory.combine([first, second])
    assert merged.peak_allocated == 120 and merged.peak_allocated_samples == [100, 120]
    assert merged.breakdown == {"rest": 20}
    leaking = MemoryResult(peak_allocated=90, leak=LeakResult(status="leak", bytes=2**21))
    assert memory.combine([second, leaking]).leak == leaking.leak


def test_forward_growth_is_read_at_the_phase_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    """On CUDA: allocated memory when backward begins minus when forward began."""
    readings = iter([1000, 1700])  # bytes allocated at the two marks
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda: next(readings))
    model = nn.Linear(2, 2)
    tracker = memory.MemoryTracker("cuda", model, torch.optim.AdamW(model.parameters()), [])
    with tracker.mark("forward"):
        pass
    with tracker.mark("backward"):
        pass
    assert tracker.forward_growth == 700
    counted = SavedTracker(model).result()
    assert with_allocator(counted, tracker.forward_growth, "cuda").allocator_bytes == 700
    assert "allocator_bytes" in with_allocator(counted, None, "cpu").absent
