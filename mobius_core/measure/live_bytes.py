"""Bytes of live tensors and their peak over a step, counted op by op: the caching
allocator's peak simulated on the meta device (the dry run), and measured on the CPU, whose
allocator keeps no peak (the memory pass of an eager CPU run).

`LiveBytes` is a dispatch mode that sees every tensor an op makes, forward, backward (with
checkpoint's recomputation) and the optimizer's update alike. It counts each new storage's
bytes once, views and in-place results sharing a counted one (and its growth, when
`resize_` or an `out=` enlarges it), and a weak reference to the
storage (whose Python object torch keeps as long as the storage lives) takes them off when
it is freed: so `live` follows `torch.cuda.memory_allocated` and `peak` its maximum, as the
same step on CUDA frees and allocates in the same order. Not modelled: what kernels take for
themselves (cuBLAS and cuDNN workspaces), the allocator's 512-byte rounding.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveBytes(TorchDispatchMode):
    """Bytes of live storages on `device` (`live`) and their maximum (`peak`) while entered,
    starting from the tensors `hold` was given."""

    def __init__(self, device: str = "meta") -> None:
        super().__init__()
        self.device = device
        self.live = self.peak = 0
        # id(storage) -> (a weak reference to it, [its bytes as last counted])
        self._storages: dict[int, tuple[weakref.ref[torch.UntypedStorage], list[int]]] = {}

    def hold(self, tensors: Iterable[Tensor]) -> None:
        """Count tensors made before the step (weights, optimizer state, the batch), those on
        `device`."""
        for tensor in tensors:
            if tensor.device.type == self.device:
                self._count(tensor)

    def _count(self, tensor: Tensor) -> None:
        storage = tensor.untyped_storage()
        key = id(storage)  # its Python object lives as long as the storage does
        known = self._storages.get(key)
        if known is not None and known[0]() is storage:
            self._grow(known[1], storage.nbytes())  # `resize_` or `out=` can enlarge it
            return
        size = [0]  # what it holds now: the callback takes off its last size

        def freed(_: object, key: int = key, size: list[int] = size) -> None:
            self.live -= size[0]
            self._storages.pop(key, None)

        self._storages[key] = (weakref.ref(storage, freed), size)
        self._grow(size, storage.nbytes())

    def _grow(self, size: list[int], nbytes: int) -> None:
        self.live += nbytes - size[0]
        size[0] = nbytes
        self.peak = max(self.peak, self.live)

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        for value in tree_leaves(out):
            if isinstance(value, Tensor) and value.device.type == self.device:
                self._count(value)
        return out
