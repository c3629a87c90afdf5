"""Bytes saved for backward while tracked, through `saved_tensors_hooks`.

Deduplicated by storage identity (`memory.storage_key`, valid on the meta device),
parameters excluded, split by region. The pack hook returns a detached alias: returning
the tensor itself would let a graph that saved its own output keep itself alive beyond the
garbage collector's reach. The tracker holds weak references to those aliases, so that
`graph_alive()` tells whether the step's autograd graph outlived the step: a retained
graph that Python's garbage collector cannot see.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import torch
from torch import Tensor, nn

from mobius_core.measure.memory import storage_key
from mobius_core.measure.regions import OTHER, REGIONS, RegionStack
from mobius_core.measure.results import SavedResult
from mobius_core.measure.tracker import Tracker

ALLOCATOR = "torch.cuda.memory_allocated at the start of backward minus at the start of forward"


class SavedTracker(Tracker[SavedResult]):
    """Counts what the autograd graph saves while entered; `result()` after."""

    def __init__(self, model: nn.Module) -> None:
        self._regions = RegionStack(model)
        self._excluded = {storage_key(p) for p in model.parameters()}
        self._seen: set[int] = set()
        self._by_region = dict.fromkeys(REGIONS, 0)
        self._aliases: list[weakref.ref[Tensor]] = []

    def _pack(self, tensor: Tensor) -> Tensor:
        key = storage_key(tensor)
        alias = tensor.detach()
        if key in self._excluded:
            return alias
        self._aliases.append(weakref.ref(alias))
        if key not in self._seen:
            self._seen.add(key)
            region = self._regions.current or OTHER
            self._by_region[region] += tensor.untyped_storage().nbytes()
        return alias

    @contextmanager
    def track(self) -> Iterator[None]:
        with (
            self._regions.active(),
            torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t),
        ):
            yield

    def graph_alive(self) -> bool:
        """Whether any tensor saved while tracked (parameters aside) is still held."""
        gc.collect()
        return any(ref() is not None for ref in self._aliases)

    def result(self) -> SavedResult:
        return SavedResult(
            bytes=sum(self._by_region.values()),
            tensors=len(self._seen),
            by_region=dict(self._by_region),
        )


def with_allocator(result: SavedResult, forward_growth: int | None, device: str) -> SavedResult:
    """`result` with the allocator's cross-check: memory allocated over the forward (CUDA),
    from `MemoryTracker.forward_growth`."""
    if forward_growth is not None:
        return replace(result, allocator_bytes=forward_growth)
    reason = "the CPU has no allocator statistics" if device != "cuda" else "no forward was marked"
    return replace(result, absent={**result.absent, "allocator_bytes": reason})
