"""Records -> one flat table: a row per case and variant, a column per figure (pandas)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mobius_core.report.runs import Run, case_key

CASE_COLUMNS = ["case", "preset", "batch", "frames", "resolution", "dtype", "device", "variant"]


def _get(record: dict[str, Any], *path: str) -> Any:
    """The value at `path` inside a record, or None where any step is missing."""
    value: Any = record
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


# column -> path into a record
FIGURES: dict[str, tuple[str, ...]] = {
    "status": ("status",),
    "message": ("message",),
    "time_median_ms": ("time", "median_ms"),
    "time_q1_ms": ("time", "q1_ms"),
    "time_q3_ms": ("time", "q3_ms"),
    "time_iqr_ms": ("time", "iqr_ms"),
    "time_cv": ("time", "cv"),
    "time_min_ms": ("time", "min_ms"),
    "time_max_ms": ("time", "max_ms"),
    "pytest_benchmark_median_ms": ("pytest_benchmark_median_ms",),
    "time_ratio": ("ratio_to_serial", "time", "ratio"),
    "time_ratio_low": ("ratio_to_serial", "time", "low"),
    "time_ratio_high": ("ratio_to_serial", "time", "high"),
    "peak_allocated": ("memory", "peak_allocated"),
    "peak_reserved": ("memory", "peak_reserved"),
    "nvml_before": ("memory", "nvml_before"),
    "nvml_peak": ("memory", "nvml_peak"),
    "nvml_after": ("memory", "nvml_after"),
    "mem_parameters": ("memory", "breakdown", "parameters"),
    "mem_gradients": ("memory", "breakdown", "gradients"),
    "mem_optimizer": ("memory", "breakdown", "optimizer"),
    "mem_saved": ("memory", "breakdown", "saved"),
    "mem_rest": ("memory", "breakdown", "rest"),
    "leak": ("memory", "leak", "status"),
    "leak_bytes": ("memory", "leak", "bytes"),
    "saved_bytes": ("saved", "bytes"),
    "flops": ("flops", "total"),
    "flops_forward": ("flops", "forward"),
    "flops_backward": ("flops", "backward"),
    "flops_recomputed": ("flops", "recomputed"),
    "fvcore_forward": ("flops", "fvcore_forward"),
    "fvcore_agreement": ("flops", "fvcore_agreement"),
    "energy_j": ("energy", "joules_per_step"),
    "energy_power_j": ("energy", "power_joules_per_step"),
    "mfu": ("efficiency", "mfu"),
    "achieved_tflops": ("efficiency", "achieved_tflops"),
    "params_trainable": ("params", "trainable"),
    "params_total": ("params", "total"),
    "overhead_fraction": ("overhead", "fraction_of_step"),
}
REGION_PHASES = ("forward", "backward")


def figure(record: dict[str, Any], name: str) -> Any:
    """One named figure (a key of FIGURES) of a record, or None."""
    return _get(record, *FIGURES[name])


def row(record: dict[str, Any]) -> dict[str, Any]:
    """One record as a flat row; regions become `flops_<phase>_<region>`, `saved_<region>`."""
    case = record["case"]
    out: dict[str, Any] = {"case": case_key(case)}
    out.update({k: case.get(k) for k in CASE_COLUMNS[1:]})
    out.update({name: _get(record, *path) for name, path in FIGURES.items()})
    for phase in REGION_PHASES:
        for region, value in (_get(record, "flops", "by_region", phase) or {}).items():
            out[f"flops_{phase}_{region}"] = value
    for region, value in (_get(record, "saved", "by_region") or {}).items():
        out[f"saved_{region}"] = value
    return out


def frame(runs: list[Run]) -> pd.DataFrame:
    """Every record of `runs` as a row, in run order."""
    rows = [row(r) for run in runs for r in run.records]
    return pd.DataFrame(rows).dropna(axis=1, how="all")


def memory_figure(rows: pd.DataFrame) -> tuple[pd.Series, str]:
    """Peak memory per row: the allocator's where measured, else the named parts' sum."""
    if "peak_allocated" in rows and rows["peak_allocated"].notna().any():
        return rows["peak_allocated"], "allocator peak"
    parts = [
        c for c in ("mem_parameters", "mem_gradients", "mem_optimizer", "mem_saved") if c in rows
    ]
    return rows[parts].sum(axis=1, min_count=1), "parameters+gradients+optimizer+saved (CPU proxy)"
