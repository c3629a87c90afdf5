"""Every private or renamed PyTorch API the harness uses, in one place, checked at import.

- `FlopCounterMode._count_flops` (the per-op hook, torch 2.4);
- a storage's `_cdata` (its C++ address: an identity valid on the meta device);
- autograd's sequence numbers (`torch._C._autograd._get_sequence_nr`, a node's
  `_sequence_nr()`) and the node backward is running (`torch._C._current_autograd_node`);
- `torch.cuda.memory._record_memory_history` and `_dump_snapshot` (allocator snapshots);
- the profiler's device fields (`self_device_time_total`, `device_time_total`,
  `self_device_memory_usage`, which replaced the `cuda_` names in torch 2.4) and
  `is_user_annotation` (torch 2.5);
- for `--mode compile` only, checked when that mode runs (`compile_support`): dynamo's
  graph counter (`torch._dynamo.utils.counters`) and its compile callbacks
  (`torch._dynamo.callback_handler`, whose callbacks take no argument in older releases
  and a `CallbackArgs` in newer ones, such as 2.13: both are accepted).

If one is missing, importing this module raises `TorchTooOld`, one line naming the torch
release that has it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def is_fake(tensor: Tensor) -> bool:
    """Whether `tensor` is a fake tensor of torch.compile's tracing: it has a shape (perhaps
    symbolic) and no memory, and a cold compile leaves many alive for the collector to see."""
    from torch._subclasses.fake_tensor import FakeTensor

    return isinstance(tensor, FakeTensor)


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


def compile_support() -> str | None:
    """Why `--mode compile` cannot be measured with this torch, or None when it can."""
    try:
        import torch._dynamo
        from torch._dynamo.utils import counters
    except ImportError as error:  # a build without dynamo
        return f"torch {torch.__version__} has no torch._dynamo ({error})"
    handler = getattr(torch._dynamo, "callback_handler", None)
    if handler is None or not hasattr(handler, "register_start_callback"):
        return f"torch {torch.__version__} has no torch._dynamo.callback_handler"
    if not isinstance(counters, dict):
        return f"torch {torch.__version__}: torch._dynamo.utils.counters is not a mapping"
    return None


def dynamo_graphs() -> int:
    """Graphs dynamo has compiled in this process so far (every recompilation and every piece
    of a graph break counts one)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def inductor_cache_hits() -> tuple[int, int]:
    """(hits, misses) of inductor's FX graph cache in this process so far."""
    from torch._dynamo.utils import counters

    inductor = counters["inductor"]
    return int(inductor["fxgraph_cache_hit"]), int(inductor["fxgraph_cache_miss"])


@contextmanager
def compile_callbacks(start: Callable[[], None], end: Callable[[], None]) -> Iterator[None]:
    """While entered, `start()` and `end()` run as dynamo starts and ends each compilation
    (outermost only; in torch 2.13 the backward's lazy compilation too)."""
    import torch._dynamo

    handler = torch._dynamo.callback_handler

    def on_start(*_: Any) -> None:  # no argument in older torch, CallbackArgs in newer
        start()

    def on_end(*_: Any) -> None:
        end()

    handler.register_start_callback(on_start)
    handler.register_end_callback(on_end)
    try:
        yield
    finally:
        if on_start in handler.start_callbacks:  # torch._dynamo.reset() clears them
            handler.remove_start_callback(on_start)
        if on_end in handler.end_callbacks:
            handler.remove_end_callback(on_end)
