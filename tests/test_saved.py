"""Bytes saved for backward: a small known graph, dedup, parameters, the meta device, the
trap of a pack hook that keeps its graph alive, and whether a graph outlived its step."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from torch import Tensor, nn

from mobius_core.measure.saved import SavedTracker


class _Known(nn.Module):
    """exp saves its output y; sin saves its input y again; y * z saves both."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))

    def forward(self, x: Tensor) -> Tensor:
        y = (x * self.scale).exp()  # mul saves x (16 B) and the parameter (excluded); exp: y
        z = y.sin()  # saves y: the same storage, counted once
        return y * z  # saves y (again) and z (16 B)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_known_graph(device: str) -> None:
    model = _Known().to(device)
    tracker = SavedTracker(model)
    with tracker.track():
        model(torch.ones(4, device=device)).sum()
    result = tracker.result()
    assert result.bytes == 3 * 16  # x, y, z: four float32 each
    assert result.tensors == 3
    assert result.by_region is not None and result.by_region["spatial"] == 48


def test_views_count_their_whole_storage() -> None:
    model = _Known()
    big = torch.ones(100)
    tracker = SavedTracker(model)
    with tracker.track():
        model(big[:4]).sum()  # x is a view: the graph keeps all 100 floats alive
    assert tracker.result().bytes == 400 + 2 * 16


def test_graph_is_freed_after_tracking() -> None:
    """A pack hook returning the tensor itself would keep `y` (saved by exp) alive."""
    model = _Known()
    tracker = SavedTracker(model)
    with tracker.track():
        out = model(torch.ones(4, requires_grad=True))
    ref = weakref.ref(out)
    del out
    gc.collect()
    assert ref() is None


def test_graph_alive_while_its_output_is_kept() -> None:
    model = _Known()
    tracker = SavedTracker(model)
    with tracker.track():
        out = model(torch.ones(4, requires_grad=True))
    assert tracker.graph_alive()  # `out` holds the graph, and the graph its saved x, y, z
    out.sum().backward()  # backward frees what the graph saved
    assert not tracker.graph_alive()
    del out
    assert not tracker.graph_alive()
