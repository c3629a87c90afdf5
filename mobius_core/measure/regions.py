"""Regions of a variant: spatial (trunk), temporal, bridges and fusion, other.

A region is rooted by modules of a kind: motion modules are temporal, bridges and the
fusion convolution are bridges+fusion; anything else inside the model is spatial, and
anything outside it (the noising, the loss) is other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

from mobius_core.models.mobius import Bridge, Fusion
from mobius_core.models.temporal import TemporalTransformer

SPATIAL, TEMPORAL, BRIDGES, OTHER = "spatial", "temporal", "bridges+fusion", "other"
REGIONS = (SPATIAL, TEMPORAL, BRIDGES, OTHER)
_ROOT_TYPES: dict[type[nn.Module], str] = {
    TemporalTransformer: TEMPORAL,
    Bridge: BRIDGES,
    Fusion: BRIDGES,
}


def region_roots(model: nn.Module) -> dict[str, str]:
    """Qualified module name -> region, for every module that roots a non-spatial region."""
    return {
        name: region
        for name, module in model.named_modules()
        for kind, region in _ROOT_TYPES.items()
        if isinstance(module, kind)
    }


def region_of_name(name: str, roots: dict[str, str]) -> str:
    """The region of the module called `name` (relative to the model)."""
    for root, region in roots.items():
        if name == root or name.startswith(root + "."):
            return region
    return SPATIAL


class RegionStack:
    """The region of the module running forward now, also while checkpointing recomputes it.

    Global forward hooks keep a stack of regions; it is empty outside any forward, that is,
    in backward proper and outside the model.
    """

    def __init__(self, model: nn.Module) -> None:
        modules = dict(model.named_modules())
        self._regions = {id(modules[n]): r for n, r in region_roots(model).items()}
        self._members = {id(m) for m in model.modules()}
        self._stack: list[str] = []

    @property
    def current(self) -> str | None:
        return self._stack[-1] if self._stack else None

    @contextmanager
    def active(self) -> Iterator[RegionStack]:
        pre = register_module_forward_pre_hook(self._enter)
        post = register_module_forward_hook(self._leave, always_call=True)
        try:
            yield self
        finally:
            pre.remove()
            post.remove()
            self._stack.clear()

    def _enter(self, module: nn.Module, args: Any) -> None:
        if id(module) in self._regions:
            region = self._regions[id(module)]
        elif self._stack:
            region = self._stack[-1]
        else:
            region = SPATIAL if id(module) in self._members else OTHER
        self._stack.append(region)

    def _leave(self, module: nn.Module, args: Any, output: Any) -> None:
        self._stack.pop()
