"""The dry run's simulated allocator: bytes alive, worked out by hand for tensors and for a
step's autograd, and its peak against the allocator peaks the H200 run measured."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mobius_core.models.config import preset
from mobius_core.report.runs import load
from mobius_core.run.dryrun import predict
from mobius_core.run.live_bytes import LiveBytes

META = "meta"
H200_RUN = Path(__file__).parents[1] / "reports" / "gpu" / "20261127-nvidia-h200" / "run.json"


def test_new_storages_count_once_and_leave_when_freed() -> None:
    held = torch.empty(10, device=META)  # 40 bytes, made before
    live = LiveBytes(META)
    live.hold([held, held.view(2, 5), torch.empty(10)])  # one storage; the CPU one not counted
    with live:
        a = torch.empty(100, device=META)  # 400
        b = a * 2  # 400 more: 840
        view = b.view(10, 10)
        b.add_(1)  # in place: nothing new
        del a  # 440
        c = torch.empty(50, device=META, dtype=torch.bfloat16)  # 100 more: 540
    assert (live.peak, live.live) == (840, 540)
    del b  # the view still holds its storage
    assert live.live == 540
    del view, c
    assert live.live == 40


def _forward(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    h = x * w  # saves x and w, both held
    y = h.exp()  # saves its result y
    return y.sum()  # h dies on return


def test_a_step_frees_what_backward_releases() -> None:
    x = torch.empty(1000, device=META)  # 4000 bytes each
    w = torch.empty(1000, device=META, requires_grad=True)
    live = LiveBytes(META)
    live.hold([x, w])  # 8000
    with live:
        loss = _forward(x, w)  # h and y (4000 each) at once: 16000, then the loss (4): 16004
        assert live.live == 8000 + 4000 + 4  # h freed; y saved for backward
        loss.backward()
    # backward: the loss's gradient (4): 12008; exp's gradient g * y (4000): 16008, then y
    # is released; mul's gradient for w, g * x (4000): 16008 again, kept as w.grad
    assert live.peak == 16008
    del loss
    assert live.live == 8000 + 4000  # x, w and w.grad
    assert w.grad is not None and w.grad.shape == (1000,)


# serial-ckpt's peak: at batch 1 in AdamW's foreach update (a temporary per weight), at
# batch 4 in backward, a recomputed layer alive beside the gradients made so far
@pytest.mark.parametrize("batch", [1, 4])
def test_the_dry_run_predicts_the_allocator_peak_the_h200_measured(batch: int) -> None:
    """Ground truth from the GPU: serial-ckpt's allocator peak, measured alone on an H200
    (sd15, 16 frames, 256 px, bf16), within 2% (not modelled: kernels' workspaces)."""
    measured = next(
        r.memory.peak_allocated
        for r in load(H200_RUN).records
        if r.variant.name == "serial-ckpt" and r.case.batch == batch and r.memory
    )
    config = preset("sd15", batch=batch, frames=16, resolution=256)
    predicted = predict(config, "serial-ckpt", torch.bfloat16).predicted_peak
    assert measured and abs(predicted / measured - 1) < 0.02, (predicted, measured)
