"""NVML (nvidia-ml-py): device memory, this process's memory, power and the energy counter.

The handle is found by the torch device's UUID, or else its PCI bus id, never by index:
NVML numbers GPUs in PCI order, while `CUDA_VISIBLE_DEVICES` reorders and hides them.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _uuid(value: Any) -> str:
    """A UUID without NVML's `GPU-` prefix, lower case: `GPU-AB12...` -> `ab12...`."""
    text = _text(value).strip().lower()
    return text.removeprefix("gpu-")


def _bus_id(domain: int, bus: int, device: int) -> str:
    """NVML's spelling of a PCI bus id: `00000000:3B:00.0`."""
    return f"{domain:08X}:{bus:02X}:{device:02X}.0"


def find_handle(pynvml: Any, index: int) -> tuple[Any | None, str]:
    """The NVML handle of torch's CUDA device `index`, matched by UUID or PCI bus id."""
    props = torch.cuda.get_device_properties(index)
    uuid = _uuid(props.uuid)
    bus = None
    if hasattr(props, "pci_bus_id"):
        bus = _bus_id(props.pci_domain_id, props.pci_bus_id, props.pci_device_id)
    for nvml_index in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(nvml_index)  # enumeration only
        if _uuid(pynvml.nvmlDeviceGetUUID(handle)) == uuid:
            return handle, ""
        if bus is not None and _text(pynvml.nvmlDeviceGetPciInfo(handle).busId).upper() == bus:
            return handle, ""
    return None, f"NVML lists no GPU with torch device {index}'s UUID {uuid} or bus id {bus}"


def open_device(index: int | None = None) -> tuple[Any | None, str]:
    """The NVML handle of a CUDA device (the current one by default), or None and why."""
    if not torch.cuda.is_available():
        return None, "no CUDA device"
    try:
        import pynvml

        pynvml.nvmlInit()
        return find_handle(pynvml, torch.cuda.current_device() if index is None else index)
    except Exception as error:  # NVML missing or refused: report, never fail
        return None, f"NVML unavailable: {type(error).__name__}: {error}"


def memory_used(handle: Any) -> int:
    """Device memory in use by every process, bytes (the CUDA context included)."""
    import pynvml

    return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)


def process_memory(handle: Any) -> tuple[int | None, str]:
    """This process's own used device memory, bytes, or None and why."""
    import pynvml

    pid = os.getpid()
    for process in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
        if process.pid == pid:
            used = process.usedGpuMemory
            if used is None:
                return None, f"NVML lists this process (pid {pid}) without its memory"
            return int(used), ""
    return None, (
        f"this process (pid {pid}) is not among NVML's compute processes"
        " (inside a container NVML lists the host's PIDs)"
    )


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
    " every 2 ms; device-wide, includes the CUDA context and the allocator's cache;"
    " this process's own use from nvmlDeviceGetComputeRunningProcesses after the step"
)


@dataclass
class Sampler:
    """Polls NVML memory and power from a background thread while entered; reads this
    process's own memory and the device's once more on leaving."""

    handle: Any
    interval_s: float = 0.002
    before_bytes: int = 0
    peak_bytes: int = 0
    after_bytes: int = 0
    process_bytes: int | None = None
    process_reason: str = ""
    power_mw: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self.before_bytes = self.peak_bytes = memory_used(self.handle)
        self.power_mw.append(power_mw(self.handle))  # one sample even for a short step
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.after_bytes = memory_used(self.handle)
        self.process_bytes, self.process_reason = process_memory(self.handle)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, memory_used(self.handle))
            self.power_mw.append(power_mw(self.handle))
            time.sleep(self.interval_s)
