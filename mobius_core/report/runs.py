"""Reading runs back: pytest-benchmark JSON with our records, and dry-run JSON.

Every problem with an input file is a `RunError` naming the file and the problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobius_core.run.runner import SCHEMA

DRY_RUN_SCHEMA = "mobius-bench-dryrun/1"
FAILED_KEY = "mobius_failed_records"
DTYPE_NAMES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


class RunError(ValueError):
    """An input file that is not a usable run."""


@dataclass
class Run:
    """The records of one file: measured (a benchmark run) or predicted (a dry run)."""

    path: Path
    kind: str  # "benchmark" or "dry-run"
    records: list[dict[str, Any]]
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def gpu(self) -> str | None:
        return self.machine.get("gpu")


def load(path: Path) -> Run:
    """Read and check one file; raises RunError with a one-line reason."""
    if not path.exists():
        raise RunError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunError(f"{path}: not JSON ({type(error).__name__})") from None
    if isinstance(data, dict) and data.get("schema") == DRY_RUN_SCHEMA:
        return _dry_run(path, data)
    if isinstance(data, dict) and str(data.get("schema", "")).startswith("mobius-bench-dryrun/"):
        raise RunError(f"{path}: unknown dry-run schema {data['schema']!r}")
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise RunError(f"{path}: not a pytest-benchmark JSON or a mobius-bench dry run")
    records = [b.get("extra_info", {}) for b in data["benchmarks"] if isinstance(b, dict)]
    records += data.get(FAILED_KEY, [])
    if not records:
        raise RunError(f"{path}: an empty run: no benchmarks in it")
    for record in records:
        schema = record.get("schema") if isinstance(record, dict) else None
        if schema is None:
            raise RunError(f"{path}: a pytest-benchmark JSON without mobius-bench records")
        if schema != SCHEMA:
            raise RunError(
                f"{path}: record of unknown schema version {schema!r} (expected {SCHEMA!r})"
            )
    machine = data.get("machine_info", {}).get("mobius", {})
    return Run(path, "benchmark", records, machine)


def _dry_run(path: Path, data: dict[str, Any]) -> Run:
    """Dry-run rows as records keyed like the measured case they predict."""
    config, dtype = data["config"], DTYPE_NAMES.get(data["dtype"], data["dtype"])
    records = []
    for row in data.get("variants", []):
        case = {k: config[k] for k in ("batch", "frames", "resolution")}
        case.update(preset=config["name"], dtype=dtype, device="meta", variant=row["variant"])
        case["key"] = case_key(case)
        records.append(
            {
                "schema": SCHEMA,
                "case": case,
                "status": "ok",
                "params": row["params"],
                "flops": row["flops"],
                "saved": row["saved"],
                "memory": {"breakdown": row["bytes"]},
            }
        )
    if not records:
        raise RunError(f"{path}: an empty dry run: no variants in it")
    return Run(path, "dry-run", records)


def case_key(case: dict[str, Any]) -> str:
    """The shape part of a case's key, device left out: measured and predicted cases match."""
    return (
        f"{case['preset']}-b{case['batch']}-f{case['frames']}-r{case['resolution']}-{case['dtype']}"
    )


def load_all(paths: list[Path]) -> tuple[list[Run], list[Run]]:
    """Benchmark runs and dry runs among `paths`; benchmark runs must share one machine."""
    runs = [load(p) for p in paths]
    measured = [r for r in runs if r.kind == "benchmark"]
    predicted = [r for r in runs if r.kind == "dry-run"]
    if not measured:
        raise RunError(f"{paths[0]}: a dry run alone: give a benchmark run to report on")
    gpus = {r.gpu for r in measured}
    if len(gpus) > 1:
        raise RunError(f"{measured[1].path}: measured on {measured[1].gpu}, not {measured[0].gpu}")
    return measured, predicted
