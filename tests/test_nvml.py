"""NVML finds the GPU torch uses by UUID or PCI bus id, never by index, and reads this
process's own memory: checked against a fake `pynvml` and a fake CUDA device."""

from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass, field

import pytest
import torch
from torch import nn

from mobius_core.measure import nvml
from mobius_core.measure.memory import MemoryTracker


@dataclass
class _GPU:
    uuid: str | bytes
    bus: str
    used: int = 0
    processes: list[types.SimpleNamespace] = field(default_factory=list)


def _fake_nvml(gpus: list[_GPU]) -> types.ModuleType:
    fake = types.ModuleType("pynvml")
    fake.NVMLError = RuntimeError  # type: ignore[attr-defined]
    fake.nvmlInit = lambda: None  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCount = lambda: len(gpus)  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = gpus.__getitem__  # type: ignore[attr-defined]
    fake.nvmlDeviceGetUUID = lambda gpu: gpu.uuid  # type: ignore[attr-defined]
    fake.nvmlDeviceGetPciInfo = lambda gpu: types.SimpleNamespace(busId=gpu.bus)  # type: ignore[attr-defined]
    fake.nvmlDeviceGetComputeRunningProcesses = lambda gpu: gpu.processes  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMemoryInfo = lambda gpu: types.SimpleNamespace(used=gpu.used)  # type: ignore[attr-defined]
    fake.nvmlDeviceGetPowerUsage = lambda gpu: 300_000  # type: ignore[attr-defined]
    return fake


UUIDS = ["aaaaaaaa-0000-0000-0000-000000000000", "bbbbbbbb-1111-1111-1111-111111111111"]
BUSES = ["00000000:1B:00.0", "00000000:3B:00.0"]


def _machine(monkeypatch: pytest.MonkeyPatch, gpus: list[_GPU], torch_uuid: str, bus: int) -> None:
    """A CUDA machine whose torch device 0 has `torch_uuid` on PCI bus `bus`."""
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(gpus))
    props = types.SimpleNamespace(uuid=torch_uuid, pci_domain_id=0, pci_bus_id=bus, pci_device_id=0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)


def test_handle_found_by_uuid_not_index(monkeypatch: pytest.MonkeyPatch) -> None:
    # CUDA_VISIBLE_DEVICES=1: torch's device 0 is NVML's second GPU
    gpus = [_GPU(f"GPU-{UUIDS[0]}", BUSES[0]), _GPU(f"GPU-{UUIDS[1]}".encode(), BUSES[1])]
    _machine(monkeypatch, gpus, UUIDS[1], bus=0xFF)  # the bus matches neither
    assert nvml.open_device() == (gpus[1], "")


def test_handle_found_by_bus_id(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = [_GPU(f"GPU-{UUIDS[0]}", BUSES[0]), _GPU(f"GPU-{UUIDS[1]}", BUSES[1])]
    _machine(monkeypatch, gpus, "cccccccc-2222-2222-2222-222222222222", bus=0x3B)
    assert nvml.open_device() == (gpus[1], "")


def test_no_matching_gpu_is_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, [_GPU(f"GPU-{UUIDS[0]}", BUSES[0])], UUIDS[1], bus=0x3B)
    handle, reason = nvml.open_device()
    assert handle is None and UUIDS[1] in reason


def test_process_memory_is_this_pids(monkeypatch: pytest.MonkeyPatch) -> None:
    others = [types.SimpleNamespace(pid=os.getpid() + 1, usedGpuMemory=7 * 2**30)]
    gpu = _GPU(f"GPU-{UUIDS[0]}", BUSES[0], processes=others)
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml([gpu]))
    used, reason = nvml.process_memory(gpu)
    assert used is None and f"pid {os.getpid()}" in reason  # as inside a container
    gpu.processes.append(types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=3 * 2**30))
    assert nvml.process_memory(gpu) == (3 * 2**30, "")


def test_memory_tracker_reports_nvml_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    mine = types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=5 * 2**30)
    gpu = _GPU(f"GPU-{UUIDS[0]}", BUSES[0], used=6 * 2**30, processes=[mine])
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml([gpu]))
    model, x = nn.Linear(2, 2), torch.ones(1, 2)
    tracker = MemoryTracker("cpu", model, torch.optim.AdamW(model.parameters()), [x], gpu)
    with tracker.track():
        model(x).sum().backward()
    result = tracker.result()
    assert result.nvml_process == 5 * 2**30
    assert result.nvml_before == result.nvml_peak == result.nvml_after == 6 * 2**30
    assert tracker.power_mw and set(tracker.power_mw) == {300_000}
