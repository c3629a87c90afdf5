"""Live tensor bytes on CPU leave out torch.compile's fake tensors. A cold inductor compile
leaves many alive; counted, they added memory that does not exist, and their symbolic sizes
made the memory process's figures unpicklable (it could not send them home)."""

from __future__ import annotations

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from mobius_core.measure.memory import live_tensor_bytes


def test_fake_tensors_hold_no_live_bytes() -> None:
    before = live_tensor_bytes()
    real = torch.zeros(1000, 250)  # 250,000 fp32 = 1,000,000 bytes
    assert live_tensor_bytes() - before == 1_000_000
    with FakeTensorMode() as mode:
        copied = mode.from_tensor(torch.zeros(4, 8))  # 128 bytes, were it real
        made = torch.empty(4000, 1000)  # 16,000,000 bytes, were it real
    assert live_tensor_bytes() - before == 1_000_000
    del real, copied, made
