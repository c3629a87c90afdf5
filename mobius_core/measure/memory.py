"""Peak memory by two methods, a breakdown that adds up, and a leak check.

Primary: the caching allocator's peaks (`max_memory_allocated`, `max_memory_reserved`),
reset after warm-up. Cross-check: NVML device memory before, after and at peak (a
background sampler). The breakdown splits the allocator peak into parameters, gradients,
optimizer state, tensors saved for backward and the rest. On CPU there is no allocator
peak: only the parameter, gradient, optimizer and saved parts are given.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mobius_core.measure.result import Result

LEAK_TOLERANCE = 2**20  # bytes: allocated memory must return within 1 MiB of its level


@dataclass
class MemoryResult(Result):
    peak_allocated: int | None = None
    peak_reserved: int | None = None
    nvml_before: int | None = None
    nvml_after: int | None = None
    nvml_peak: int | None = None
    nvml_method: str | None = None
    breakdown: dict[str, int] | None = None
    leak: dict[str, object] | None = None


def storage_key(tensor: Tensor) -> int:
    """The identity of a tensor's storage (its C++ address): valid on the meta device too,
    where every data pointer is 0."""
    return tensor.untyped_storage()._cdata


def _bytes(tensors: Iterable[Tensor]) -> int:
    """Bytes of distinct storages among `tensors`."""
    storages = {storage_key(t): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def parameter_bytes(model: nn.Module) -> int:
    return _bytes(model.parameters())


def gradient_bytes(model: nn.Module) -> int:
    """What the gradients of the trainable parameters occupy once all exist."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def optimizer_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the optimizer's state tensors (AdamW: exp_avg, exp_avg_sq, step)."""
    return _bytes(
        v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)
    )


def breakdown(
    model: nn.Module, optimizer: torch.optim.Optimizer, saved: int, peak: int | None
) -> dict[str, int]:
    """Parts of the peak; with a peak, `rest` is what the named parts do not explain."""
    parts = {
        "parameters": parameter_bytes(model),
        "gradients": gradient_bytes(model),
        "optimizer": optimizer_bytes(optimizer),
        "saved": saved,
    }
    if peak is not None:
        parts["rest"] = peak - sum(parts.values())
    return parts


def live_tensor_bytes() -> int:
    """Bytes of distinct storages of every tensor the garbage collector can see (CPU)."""
    with warnings.catch_warnings():  # isinstance() on some deprecated torch objects warns
        warnings.simplefilter("ignore")
        tensors = [o for o in gc.get_objects() if isinstance(o, Tensor) and o.device.type == "cpu"]
    return _bytes(tensors)


def allocated_bytes(device: str) -> int:
    """Memory held by tensors now: the allocator on CUDA, live tensors on CPU."""
    gc.collect()
    if device == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.memory_allocated()
    return live_tensor_bytes()


LEAK_METHOD = {
    "cuda": "torch.cuda.memory_allocated before the step and after it and a gc.collect()",
    "cpu": "bytes of live tensors seen by the garbage collector, before and after the step",
}


def leak_check(before: int, after: int, device: str) -> dict[str, object]:
    """`ok` when memory returned within 1 MiB of its pre-step level, else `leak` and the size."""
    grown = after - before
    return {
        "status": "leak" if grown > LEAK_TOLERANCE else "ok",
        "bytes": grown,
        "method": LEAK_METHOD[device],
    }
