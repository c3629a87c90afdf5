"""`mobius-bench step`: one matched step per variant, timed, as a small table."""

from __future__ import annotations

import time

import torch

from mobius_core.config import Config
from mobius_core.devices import synchronize
from mobius_core.step import make_batch, make_optimizer, train_step
from mobius_core.variants import VARIANTS, build_matched, parameter_counts


def quick_steps(config: Config, device: str, dtype: torch.dtype) -> list[dict[str, object]]:
    """One warm-up and one timed step per variant; a row of figures each."""
    frozen = dtype if device == "cuda" else None
    models = build_matched(config, list(VARIANTS), device, frozen_dtype=frozen)
    batch = make_batch(config).to(device)
    rows = []
    for variant, model in models.items():
        optimizer = make_optimizer(model)
        train_step(model, optimizer, batch, dtype)  # warm-up
        synchronize(device)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        loss = train_step(model, optimizer, batch, dtype)
        synchronize(device)
        seconds = time.perf_counter() - start
        row: dict[str, object] = {
            "variant": variant,
            "trainable params": parameter_counts(model)["trainable"],
            "loss": round(loss.item(), 5),
            "step ms": round(1000 * seconds, 1),
        }
        if device == "cuda":
            row["peak MiB"] = round(torch.cuda.max_memory_allocated() / 2**20)
        rows.append(row)
        del model, optimizer
    return rows
