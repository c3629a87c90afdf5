"""Memory of one step: what was resident before it, the peaks, a breakdown, a leak check.

Primary: the caching allocator's peaks (`max_memory_allocated`, `max_memory_reserved`),
reset as the step begins. Cross-check: NVML device memory before, after and at peak (a
background sampler) and this process's own. The CPU allocator keeps no peak: there
(`count_live`) the peak is counted op by op, the bytes of live tensors (`LiveBytes`) from the
model's weights and buffers, the optimizer's state and the batch on, as `memory_allocated`
would follow them. The breakdown names the resident parts (`parameters` with buffers,
`optimizer`, `batch`) and the step's parts (`gradients`, `saved`, and `rest`, what the named
parts leave of the peak). Under FSDP every part is this rank's: a sharded
(DTensor) parameter, gradient or optimizer state counts its local shard. The leak check
compares memory after the step with memory before it, and asks the saved-tensor tracker
whether the step's autograd graph outlived it.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from itertools import chain
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from mobius_core.measure import compat, nvml
from mobius_core.measure.live_bytes import LiveBytes
from mobius_core.measure.results import LeakResult, MemoryResult
from mobius_core.measure.tracker import Tracker

if TYPE_CHECKING:
    from mobius_core.measure.saved import SavedTracker

LEAK_TOLERANCE = 2**20  # bytes: allocated memory must return within 1 MiB of its level
NO_PEAK = "the CPU allocator keeps no peak statistics"
NOT_COUNTED = {
    "cuda": "on CUDA the allocator's peak is measured",
    "cpu": "counted in eager runs only: under a dispatch mode a compiled step runs op by op,"
    " not its fused kernels, and ranks keep a figure of their own",
}
LEAK_METHOD = {
    "cuda": "torch.cuda.memory_allocated before the step and after it and a gc.collect()",
    "cpu": "bytes of live tensors seen by the garbage collector, before and after the step",
}
GRAPH_METHOD = "; weak references to the tensors the step's graph saved"


def storage_key(tensor: Tensor) -> int:
    """The identity of a tensor's storage: valid on the meta device too (`compat`)."""
    return compat.storage_key(tensor)


def local(tensor: Tensor) -> Tensor:
    """What this rank holds of `tensor`: its local shard when it is a DTensor (FSDP2's
    parameters, gradients and optimizer state), whose own size is the global one."""
    if not hasattr(tensor, "to_local"):
        return tensor
    with torch.no_grad():  # no autograd view of a parameter
        return tensor.to_local()


def tensor_bytes(tensors: Iterable[Tensor]) -> int:
    """Bytes of distinct storages among `tensors`, each DTensor's local shard only."""
    storages = {storage_key(t): t.untyped_storage().nbytes() for t in map(local, tensors)}
    return sum(storages.values())


def parameter_bytes(model: nn.Module) -> int:
    """Parameters and buffers, every storage once."""
    return tensor_bytes(chain(model.parameters(), model.buffers()))


def gradient_bytes(model: nn.Module) -> int:
    """What the gradients of the trainable parameters occupy once all exist (this rank's
    shards under FSDP)."""
    shards = (local(p) for p in model.parameters() if p.requires_grad)
    return sum(s.numel() * s.element_size() for s in shards)


def optimizer_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the optimizer's state tensors (AdamW: exp_avg, exp_avg_sq, step)."""
    return tensor_bytes(optimizer_state(optimizer))


def optimizer_state(optimizer: torch.optim.Optimizer) -> Iterator[Tensor]:
    """Every tensor of the optimizer's state (AdamW: each weight's two moments, its step)."""
    for state in optimizer.state.values():
        yield from (v for v in state.values() if torch.is_tensor(v))


def live_tensor_bytes() -> int:
    """Bytes of distinct storages of every tensor the garbage collector can see (CPU)."""
    with warnings.catch_warnings():  # isinstance() on some deprecated torch objects warns
        warnings.simplefilter("ignore")
        tensors = [o for o in gc.get_objects() if isinstance(o, Tensor) and o.device.type == "cpu"]
    return tensor_bytes(t for t in tensors if not compat.is_fake(t))  # fakes hold no memory


def allocated_bytes(device: str) -> int:
    """Memory held by tensors now: the allocator on CUDA, live tensors on CPU."""
    gc.collect()
    if device == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.memory_allocated()
    return live_tensor_bytes()


def leak_check(grown: int, device: str, graph_alive: bool | None = None) -> LeakResult:
    """`leak` when memory grew by over 1 MiB over the step or its graph outlived it."""
    leaked = grown > LEAK_TOLERANCE or bool(graph_alive)
    method = LEAK_METHOD[device] + (GRAPH_METHOD if graph_alive is not None else "")
    return LeakResult(
        status="leak" if leaked else "ok", bytes=grown, graph_alive=graph_alive, method=method
    )


class MemoryTracker(Tracker[MemoryResult]):
    """Measures the memory of the one step it is entered around.

    `mark("forward")` and `mark("backward")` read allocated memory as each begins, so that
    `forward_growth` (bytes the forward left allocated: CUDA only) can cross-check the saved
    tensors. With `saved` (a SavedTracker entered around the same step), the breakdown's
    `saved` part is its bytes and the leak check asks it whether the graph outlived the step.
    `power_mw` keeps NVML's power samples for the energy cross-check.
    """

    def __init__(
        self,
        device: str,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        batch_tensors: Sequence[Tensor],
        nvml_handle: Any | None = None,
        saved: SavedTracker | None = None,
        nvml_reason: str = "no NVML handle was given",
        count_live: bool = False,
    ) -> None:
        self.device, self.model, self.optimizer = device, model, optimizer
        self.count_live = count_live and device == "cpu"
        self.batch_tensors = list(batch_tensors)
        self.nvml_handle, self.nvml_reason, self.saved = nvml_handle, nvml_reason, saved
        self.resident_before: int | None = None
        self.forward_growth: int | None = None
        self.power_mw: list[int] = []
        self._forward_start = 0
        self._result = MemoryResult(absent={"resident_before": "no step was tracked"})

    @contextmanager
    def track(self) -> Iterator[None]:
        optimizer_before = optimizer_bytes(self.optimizer)  # AdamW makes its state lazily
        before = self._forward_start = allocated_bytes(self.device)  # gc.collect() first
        self.resident_before = before
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        with ExitStack() as stack:
            sampler = live = None
            if self.nvml_handle is not None:
                sampler = stack.enter_context(nvml.Sampler(self.nvml_handle))
            if self.count_live:
                live = stack.enter_context(self._live_bytes())
            yield
            if self.device == "cuda":
                torch.cuda.synchronize()
        result = MemoryResult(resident_before=before)
        self._peaks(result)
        if live is not None:
            result.peak_live = live.peak
        else:
            result.absent["peak_live"] = NOT_COUNTED.get(self.device, NO_PEAK)
        if sampler is not None:
            self._nvml(result, sampler)
        else:
            reason = self.nvml_reason
            result.absent.update(dict.fromkeys(("nvml_peak", "nvml_process"), reason))
        grown = allocated_bytes(self.device) - before
        grown -= optimizer_bytes(self.optimizer) - optimizer_before
        alive = self.saved.graph_alive() if self.saved is not None else None
        result.leak = leak_check(grown, self.device, alive)
        self._result = result

    @contextmanager
    def mark(self, phase: str) -> Iterator[None]:
        if self.device == "cuda" and phase == "forward":
            self._forward_start = torch.cuda.memory_allocated()
        elif self.device == "cuda" and phase == "backward":
            self.forward_growth = torch.cuda.memory_allocated() - self._forward_start
        yield

    def _live_bytes(self) -> LiveBytes:
        """The op-by-op count, from what the step starts with: the model's weights and
        buffers, the optimizer's state and the batch."""
        live = LiveBytes(self.device)
        model = chain(self.model.parameters(), self.model.buffers())
        live.hold(chain(model, optimizer_state(self.optimizer), self.batch_tensors))
        return live

    def _peaks(self, result: MemoryResult) -> None:
        if self.device == "cuda":
            result.peak_allocated = torch.cuda.max_memory_allocated()
            result.peak_allocated_samples = [result.peak_allocated]
            result.peak_reserved = torch.cuda.max_memory_reserved()
        else:
            result.absent.update(peak_allocated=NO_PEAK, peak_reserved=NO_PEAK)

    def _nvml(self, result: MemoryResult, sampler: nvml.Sampler) -> None:
        result.nvml_before, result.nvml_peak = sampler.before_bytes, sampler.peak_bytes
        result.nvml_after, result.nvml_method = sampler.after_bytes, nvml.SAMPLER_METHOD
        result.nvml_process = sampler.process_bytes
        if sampler.process_bytes is None:
            result.absent["nvml_process"] = sampler.process_reason
        self.power_mw = sampler.power_mw

    def result(self) -> MemoryResult:
        """The last tracked step's memory, its breakdown counted now (the optimizer's state
        exists once a step has run)."""
        result = self._result
        if result.resident_before is None:
            return result
        saved = self.saved.result().bytes if self.saved is not None else None
        parts = {
            "parameters": parameter_bytes(self.model),
            "optimizer": optimizer_bytes(self.optimizer),
            "batch": tensor_bytes(self.batch_tensors),
            "gradients": gradient_bytes(self.model),
        }
        if saved is None:
            result.absent["breakdown_saved"] = "no saved-tensor tracker was given"
        else:
            parts["saved"] = saved
        if result.peak is not None:
            parts["rest"] = result.peak - sum(parts.values())
        result.breakdown = parts
        return result


def combine(results: list[MemoryResult]) -> MemoryResult:
    """Two (or more) memory passes of one variant as one: the pass with the larger peak (the
    allocator's, else the live tensors'), every pass's allocator peak kept in
    `peak_allocated_samples`, a leak in any pass kept."""
    if not results:
        raise ValueError("memory: no passes to combine")
    top = max(results, key=lambda r: -1 if r.peak is None else r.peak)
    samples = [s for r in results for s in (r.peak_allocated_samples or [])]
    leaks = [r.leak for r in results if r.leak is not None and r.leak.status != "ok"]
    merged = MemoryResult(**{**vars(top), "absent": dict(top.absent)})
    merged.peak_allocated_samples = samples or None
    merged.leak = leaks[0] if leaks else top.leak
    return merged
