"""Regions of a variant: spatial (trunk), temporal, bridges+fusion, other.

A module class states its region once, as the class attribute `region` (the names are in
`models.layers`): motion modules are temporal, bridges and the fusion convolution are
bridges+fusion, the 2D UNet and its layers are spatial. A module that states none takes
the region of the module it runs inside; one at the top of the model is spatial. Anything
outside the model (the noising, the loss) is other. The FLOP counter, the saved-tensor
tracker and the profiler's region markers all read regions from `RegionStack`.

In backward an op belongs to the region whose forward made the autograd node running it:
the forward notes autograd's sequence number at each change of region. (Module hooks in
backward cannot say it: a module called with keyword arguments, or one that returns its
input, as diffusers' blocks and dropouts do, never marks its backward's end.)
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

from mobius_core.measure.compat import next_sequence_nr, running_node_sequence_nr
from mobius_core.models.layers import BRIDGES_FUSION, SPATIAL, TEMPORAL

OTHER = "other"
BRIDGES = BRIDGES_FUSION
REGIONS = (SPATIAL, TEMPORAL, BRIDGES_FUSION, OTHER)
Change = Callable[[str | None, str | None], None]  # (region before, region after)


_FOREIGN: dict[type[nn.Module], str] = {}  # classes we do not own (diffusers') -> region


def declare(cls: type[nn.Module], region: str) -> None:
    """State the region of a class that cannot carry the `region` attribute itself."""
    if region not in REGIONS:
        raise ValueError(f"region: {region!r} is not one of {REGIONS}")
    _FOREIGN[cls] = region


def declared_region(module: nn.Module) -> str | None:
    """The region the module's class states (or was declared for it), if any."""
    return getattr(type(module), "region", None) or _FOREIGN.get(type(module))


def region_roots(model: nn.Module) -> dict[str, str]:
    """Qualified module name (relative to the model; "" for the model) -> region, for every
    module whose class states one."""
    return {
        name: region
        for name, module in model.named_modules()
        if (region := declared_region(module)) is not None
    }


def region_of_name(name: str, roots: dict[str, str]) -> str:
    """The region of the module called `name` (relative to the model): that of its nearest
    declaring ancestor, itself included; spatial if none declares one."""
    parts = name.split(".") if name else []
    for depth in range(len(parts), -1, -1):
        ancestor = ".".join(parts[:depth])
        if ancestor in roots:
            return roots[ancestor]
    return SPATIAL


class RegionStack:
    """The region of the module running forward now, also while checkpointing recomputes it,
    and in backward the region that made the autograd node running.

    Global forward hooks keep a stack of regions: a module of the model pushes its own (its
    nearest declaring ancestor's), one from outside it that of the module it runs in, or
    other. The stack is empty outside any forward: in backward proper and outside the model.
    `on_change(before, after)`, if given, is called whenever the current region changes
    (None: no forward running).
    """

    def __init__(self, model: nn.Module, on_change: Change | None = None) -> None:
        roots = region_roots(model)
        self._regions = {id(m): region_of_name(n, roots) for n, m in model.named_modules()}
        self._stack: list[str] = []
        self._on_change = on_change
        self._starts: list[int] = []  # autograd sequence number where each forward span began
        self._spans: list[str | None] = []  # the region of each span (None: outside forward)

    @property
    def current(self) -> str | None:
        return self._stack[-1] if self._stack else None

    def made_by(self) -> str:
        """The region whose forward made the autograd node backward runs now; other for a
        node made outside the model's forward, or when no node runs."""
        number = running_node_sequence_nr()
        span = bisect_right(self._starts, number) - 1 if number is not None else -1
        return (self._spans[span] if span >= 0 else None) or OTHER

    @contextmanager
    def active(self) -> Iterator[RegionStack]:
        self._starts.clear()
        self._spans.clear()
        pre = register_module_forward_pre_hook(self._enter)
        post = register_module_forward_hook(self._leave, always_call=True)
        try:
            yield self
        finally:
            pre.remove()
            post.remove()
            if self._stack:
                self._change(self.current, None)
            self._stack.clear()

    def _change(self, before: str | None, after: str | None) -> None:
        if running_node_sequence_nr() is None:  # forward proper, not a recomputation
            self._starts.append(next_sequence_nr())
            self._spans.append(after)
        if self._on_change is not None:
            self._on_change(before, after)

    def _enter(self, module: nn.Module, args: Any) -> None:
        before = self.current
        region = self._regions.get(id(module), before or OTHER)
        self._stack.append(region)
        if region != before:
            self._change(before, region)

    def _leave(self, module: nn.Module, args: Any, output: Any) -> None:
        before = self._stack.pop()
        if before != self.current:
            self._change(before, self.current)
