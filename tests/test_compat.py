"""The private PyTorch APIs, checked in one place: a missing one is named with the torch
release that has it, and the FLOP hook the region counter relies on is really called."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mobius_core.measure import compat
from mobius_core.measure.flops import CPU_ATTENTION, FlopTracker
from mobius_core.measure.tracker import phase_marks
from mobius_core.training.step import Batch, compute_loss, make_optimizer, train_step


def test_a_missing_api_is_named_with_the_release_that_has_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compat.check(compat._requirements())  # this torch has them all
    monkeypatch.delattr(FlopCounterMode, "_count_flops")
    with pytest.raises(compat.TorchTooOld) as error:
        compat.check(compat._requirements())
    message = str(error.value)
    assert "torch >= 2.4 for FlopCounterMode._count_flops" in message
    assert f">= {compat.TORCH_FLOOR} for all" in message and "\n" not in message


def test_the_region_hook_sees_every_flop_a_plain_counter_counts(
    models: dict[str, nn.Module], batch: Batch
) -> None:
    model = models["serial"]
    plain = FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION)
    with plain:
        compute_loss(model, batch).backward()
    model.zero_grad(set_to_none=True)
    tracker = FlopTracker(model)
    optimizer = make_optimizer(model)
    with tracker.track():
        train_step(model, optimizer, batch, mark=phase_marks([tracker]))
    result = tracker.result()
    assert result.by_region is not None
    regions = [v for phase in result.by_region.values() for v in phase.values()]
    assert any(regions)
    assert sum(regions) == plain.get_total_flops() > 0
    assert tracker.optimizer_flops() == 0  # AdamW is elementwise: zero by the convention


def test_storage_key_is_the_storage_s_identity() -> None:
    base = torch.zeros(4)
    assert compat.storage_key(base[1:]) == compat.storage_key(base)
    assert compat.storage_key(base.clone()) != compat.storage_key(base)
    meta = torch.empty(4, device="meta")  # every data pointer is 0 on meta; keys still differ
    assert compat.storage_key(meta) != compat.storage_key(torch.empty(4, device="meta"))


def test_memory_history_keeps_python_stacks_only(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []
    monkeypatch.setattr(
        torch.cuda.memory, "_record_memory_history", lambda **kwargs: calls.append(kwargs)
    )
    compat.record_memory_history()
    assert calls == [
        {
            "enabled": "all",
            "context": "all",
            "stacks": "python",
            "max_entries": compat.SNAPSHOT_ENTRIES,
        }
    ]
