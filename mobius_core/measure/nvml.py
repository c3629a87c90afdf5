"""NVML (nvidia-ml-py): device memory, power and the total-energy counter, when present."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch


def open_device() -> tuple[Any | None, str]:
    """The NVML handle of the current CUDA device, or None and the reason."""
    if not torch.cuda.is_available():
        return None, "no CUDA device"
    try:
        import pynvml

        pynvml.nvmlInit()
        index = torch.cuda.current_device()
        return pynvml.nvmlDeviceGetHandleByIndex(index), ""
    except Exception as error:  # NVML missing or refused: report, never fail
        return None, f"NVML unavailable: {type(error).__name__}: {error}"


def memory_used(handle: Any) -> int:
    """Device memory in use by every process, bytes (the CUDA context included)."""
    import pynvml

    return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)


def energy_mj(handle: Any) -> int | None:
    """Total energy since driver load in millijoules, or None where unsupported."""
    import pynvml

    try:
        return int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))
    except pynvml.NVMLError:
        return None


def power_mw(handle: Any) -> int:
    import pynvml

    return int(pynvml.nvmlDeviceGetPowerUsage(handle))


SAMPLER_METHOD = (
    "background thread polling nvmlDeviceGetMemoryInfo(used) and nvmlDeviceGetPowerUsage"
    " every 2 ms; device-wide, includes the CUDA context and the allocator's cache"
)


@dataclass
class Sampler:
    """Polls NVML memory and power from a background thread while entered."""

    handle: Any
    interval_s: float = 0.002
    before_bytes: int = 0
    peak_bytes: int = 0
    power_mw: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self.before_bytes = self.peak_bytes = memory_used(self.handle)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, memory_used(self.handle))
            self.power_mw.append(power_mw(self.handle))
            time.sleep(self.interval_s)
