"""Bytes saved for backward during one forward, through `saved_tensors_hooks`.

Deduplicated by storage identity (`memory.storage_key`, valid on the meta device),
parameters excluded, split by region. The pack hook
returns a detached alias: returning the tensor itself would let a graph that saved its
own output keep itself alive beyond the garbage collector's reach.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mobius_core.measure.memory import storage_key
from mobius_core.measure.regions import OTHER, REGIONS, RegionStack
from mobius_core.measure.result import Result


@dataclass
class SavedResult(Result):
    bytes: int | None = None
    tensors: int | None = None  # distinct storages
    by_region: dict[str, int] | None = None


class SavedTracker:
    """Counts what the autograd graph saves while entered; read `result` after."""

    def __init__(self, model: nn.Module) -> None:
        self._regions = RegionStack(model)
        self._excluded = {storage_key(p) for p in model.parameters()}
        self._seen: set[int] = set()
        self._by_region = dict.fromkeys(REGIONS, 0)

    def _pack(self, tensor: Tensor) -> Tensor:
        key = storage_key(tensor)
        if key not in self._excluded and key not in self._seen:
            self._seen.add(key)
            region = self._regions.current or OTHER
            self._by_region[region] += tensor.untyped_storage().nbytes()
        return tensor.detach()

    @contextmanager
    def track(self) -> Iterator[SavedTracker]:
        with (
            self._regions.active(),
            torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t),
        ):
            yield self

    @property
    def result(self) -> SavedResult:
        return SavedResult(
            bytes=sum(self._by_region.values()),
            tensors=len(self._seen),
            by_region=dict(self._by_region),
        )
