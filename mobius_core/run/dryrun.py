"""Predict a step without a GPU: each variant on the meta device, no memory allocated.

FLOPs come from FlopCounterMode over forward and backward; bytes saved for backward from
the saved-tensor tracker; parameter, gradient and optimizer bytes from the parameter
counts at the holdings the real run uses (frozen weights in the compute dtype, trainable
weights, gradients and both AdamW moments in fp32). The meta device has no autocast, so
the forward runs wholly in the chosen dtype: autocast keeps norm outputs in fp32 and saves
bf16 copies of fp32 weights, so a measured run saves somewhat more.
"""

from __future__ import annotations

from typing import Any

import torch

from mobius_core.measure.flops import count_step
from mobius_core.measure.saved import SavedTracker
from mobius_core.models.config import Config
from mobius_core.models.variants import build_unet, parameter_counts
from mobius_core.training.step import compute_loss, make_batch

FP32 = 4  # bytes


def predict(config: Config, variant: str, dtype: torch.dtype) -> dict[str, Any]:
    """One variant's predicted figures at `config`'s shape and `dtype`."""
    model = build_unet(config, variant, device="meta").to(dtype)
    batch = make_batch(config).to("meta", dtype)
    tracker = SavedTracker(model)

    def forward() -> torch.Tensor:
        with tracker.track():
            return compute_loss(model, batch)

    result = count_step(model, forward)
    counts = parameter_counts(model)
    size = torch.finfo(dtype).bits // 8
    return {
        "variant": variant,
        "flops": result.to_dict(),
        "saved": tracker.result.to_dict(),
        "params": counts,
        "bytes": {
            "parameters": counts["frozen"] * size + counts["trainable"] * FP32,
            "gradients": counts["trainable"] * FP32,
            "optimizer": 2 * counts["trainable"] * FP32,  # AdamW exp_avg and exp_avg_sq
            "saved": tracker.result.bytes,
        },
    }


def dry_run(config: Config, variants: list[str], dtype: torch.dtype) -> dict[str, Any]:
    """Predictions for every variant, with each figure's ratio to serial's."""
    rows = [predict(config, v, dtype) for v in variants]
    base = next((r for r in rows if r["variant"] == "serial"), None)
    for row in rows:
        if base is not None:
            row["ratio_to_serial"] = {
                "flops": row["flops"]["total"] / base["flops"]["total"],
                "saved": row["bytes"]["saved"] / base["bytes"]["saved"],
                "parameters+gradients+optimizer": _states(row) / _states(base),
            }
    return {
        "schema": "mobius-bench-dryrun/1",
        "config": config.to_dict(),
        "dtype": str(dtype).removeprefix("torch."),
        "variants": rows,
    }


def _states(row: dict[str, Any]) -> int:
    b = row["bytes"]
    return b["parameters"] + b["gradients"] + b["optimizer"]


def format_dry_run(result: dict[str, Any]) -> str:
    """A Markdown table: GFLOPs by phase and region, GiB of each kind, ratios to serial."""
    g, gib = 1e9, 2**30
    head = (
        "| variant | fwd GFLOP | bwd GFLOP | step GFLOP | x serial | spatial | temporal"
        " | bridges+fusion | saved GiB | x serial | params GiB | grads GiB | optimizer GiB |"
    )
    lines = [head, "|" + "---|" * 13]
    for row in result["variants"]:
        f, b, ratio = row["flops"], row["bytes"], row.get("ratio_to_serial", {})
        regions = {
            k: f["by_region"]["forward"][k] + f["by_region"]["backward"][k]
            for k in f["by_region"]["forward"]
        }
        cells = [
            row["variant"],
            f"{f['forward'] / g:,.0f}",
            f"{f['backward'] / g:,.0f}",
            f"{f['total'] / g:,.0f}",
            f"{ratio.get('flops', float('nan')):.3f}",
            f"{regions['spatial'] / g:,.0f}",
            f"{regions['temporal'] / g:,.0f}",
            f"{regions['bridges+fusion'] / g:,.1f}",
            f"{b['saved'] / gib:.2f}",
            f"{ratio.get('saved', float('nan')):.3f}",
            f"{b['parameters'] / gib:.2f}",
            f"{b['gradients'] / gib:.2f}",
            f"{b['optimizer'] / gib:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
