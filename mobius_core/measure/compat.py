"""Every private or renamed PyTorch API the harness uses, in one place, checked at import.

- `FlopCounterMode._count_flops` (the per-op hook, torch 2.4);
- a storage's `_cdata` (its C++ address: an identity valid on the meta device);
- autograd's sequence numbers (`torch._C._autograd._get_sequence_nr`, a node's
  `_sequence_nr()`) and the node backward is running (`torch._C._current_autograd_node`);
- `torch.cuda.memory._record_memory_history` and `_dump_snapshot` (allocator snapshots);
- the profiler's device fields (`self_device_time_total`, `device_time_total`,
  `self_device_memory_usage`, which replaced the `cuda_` names in torch 2.4) and
  `is_user_annotation` (torch 2.5).

If one is missing, importing this module raises `TorchTooOld`, one line naming the torch
release that has it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.autograd.profiler_util import FunctionEvent, FunctionEventAvg
from torch.utils.flop_counter import FlopCounterMode

TORCH_FLOOR = "2.5"  # the first release that has every API below
SNAPSHOT_ENTRIES = 200_000  # allocator events kept for a memory snapshot


class TorchTooOld(ImportError):
    """This torch lacks an API the harness relies on."""


def _requirements() -> dict[str, tuple[str, bool]]:
    """API -> (the torch release that introduced it, whether this torch has it)."""
    counter = FlopCounterMode(display=False)
    return {
        "FlopCounterMode._count_flops": ("2.4", callable(getattr(counter, "_count_flops", None))),
        "UntypedStorage._cdata": ("2.0", hasattr(torch.empty(0).untyped_storage(), "_cdata")),
        "torch._C._autograd._get_sequence_nr": (
            TORCH_FLOOR,
            hasattr(torch._C._autograd, "_get_sequence_nr"),
        ),
        "torch._C._current_autograd_node": (
            TORCH_FLOOR,
            hasattr(torch._C, "_current_autograd_node"),
        ),
        "torch.cuda.memory._record_memory_history": (
            "2.1",
            hasattr(torch.cuda.memory, "_record_memory_history"),
        ),
        "torch.cuda.memory._dump_snapshot": ("2.1", hasattr(torch.cuda.memory, "_dump_snapshot")),
        "FunctionEvent.self_device_time_total": (
            "2.4",
            hasattr(FunctionEvent, "self_device_time_total"),
        ),
        "FunctionEvent.device_time_total": ("2.4", hasattr(FunctionEvent, "device_time_total")),
        "FunctionEventAvg.self_device_time_total": (
            "2.4",
            hasattr(FunctionEventAvg(), "self_device_time_total"),
        ),
        "FunctionEvent.self_device_memory_usage": (
            "2.4",
            hasattr(FunctionEvent, "self_device_memory_usage"),
        ),
        "FunctionEvent.is_user_annotation": (
            "2.5",
            hasattr(FunctionEvent(0, "", 0, 0, 0), "is_user_annotation"),
        ),
    }


def check(requirements: dict[str, tuple[str, bool]]) -> None:
    """Raise `TorchTooOld` naming the first missing API and the release that has it."""
    for api, (release, present) in requirements.items():
        if not present:
            raise TorchTooOld(
                f"mobius-bench needs torch >= {release} for {api}"
                f" (>= {TORCH_FLOOR} for all it uses); this is torch {torch.__version__}"
            )


check(_requirements())


class HookedFlopCounter(FlopCounterMode):
    """FlopCounterMode that hands each counted op's FLOPs to `on_flops` as well."""

    def on_flops(self, flops: int) -> None:
        """Called once per op in the FLOP registry, with its FLOPs."""

    def _count_flops(self, func_packet: Any, out: Any, args: Any, kwargs: Any) -> Any:
        if func_packet in self.flop_registry:
            self.on_flops(self.flop_registry[func_packet](*args, **kwargs, out_val=out))
        return super()._count_flops(func_packet, out, args, kwargs)


def storage_key(tensor: Tensor) -> int:
    """The identity of a tensor's storage (its C++ address): valid on the meta device too,
    where every data pointer is 0."""
    return tensor.untyped_storage()._cdata


def next_sequence_nr() -> int:
    """The sequence number autograd gives the next node this thread creates."""
    return int(torch._C._autograd._get_sequence_nr())


def running_node_sequence_nr() -> int | None:
    """The sequence number of the autograd node backward is running now (None: none),
    the number it got when its forward op ran."""
    node = torch._C._current_autograd_node()
    return None if node is None else int(node._sequence_nr())


def record_memory_history() -> None:
    """Start recording CUDA allocator events, with Python stacks only (C++ stacks make
    snapshots slow to dump)."""
    torch.cuda.memory._record_memory_history(
        enabled="all", context="all", stacks="python", max_entries=SNAPSHOT_ENTRIES
    )


def dump_memory_snapshot(path: Path) -> None:
    """Write the recorded allocator history to `path` (a pickle) and stop recording."""
    torch.cuda.memory._dump_snapshot(str(path))
    torch.cuda.memory._record_memory_history(enabled=None)


def self_device_us(event: FunctionEvent | FunctionEventAvg) -> float:
    """Device time of an event's own kernels, in microseconds."""
    return float(event.self_device_time_total)


def self_memory_bytes(event: FunctionEvent, device: str) -> int:
    """Bytes an event allocated (net of what it freed) on `device`, children excluded."""
    return int(event.self_device_memory_usage if device == "cuda" else event.self_cpu_memory_usage)


def is_user_annotation(event: FunctionEvent) -> bool:
    """Whether the event is a `record_function` range (on the CPU or its GPU-side copy)."""
    return bool(event.is_user_annotation)
