"""`mobius-bench step`: one matched step per variant, timed, as a small table."""

from __future__ import annotations

import torch

from mobius_core.measure.timing import StepTimer
from mobius_core.models.config import Config
from mobius_core.models.variants import VARIANTS, build_matched, parameter_counts
from mobius_core.training.devices import frozen_dtype
from mobius_core.training.step import make_batch, make_optimizer, train_step


def quick_steps(config: Config, device: str, dtype: torch.dtype) -> list[dict[str, object]]:
    """One warm-up and one timed step per variant; a row of figures each."""
    models = build_matched(config, list(VARIANTS), device, frozen_dtype(device, dtype))
    batch = make_batch(config).to(device)
    timer = StepTimer(device)
    rows = []
    for variant, model in models.items():
        optimizer = make_optimizer(model)
        train_step(model, optimizer, batch, dtype)  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        losses = []
        milliseconds = timer(
            lambda m=model, o=optimizer, out=losses: out.append(train_step(m, o, batch, dtype))
        )
        row: dict[str, object] = {
            "variant": variant,
            "trainable params": parameter_counts(model)["trainable"],
            "loss": round(losses[0].item(), 5),
            "step ms": round(milliseconds, 1),
        }
        if device == "cuda":
            row["peak MiB"] = round(torch.cuda.max_memory_allocated() / 2**20)
        rows.append(row)
        del model, optimizer
    return rows
