"""A run cut down to its deterministic figures: what CI's regression gate holds runs to."""

from __future__ import annotations

import json

from mobius_core.report.runs import FAILED_KEY, Run

KEPT = ("schema", "case", "config", "status", "message", "shapes", "params", "saved")
FLOP_FIELDS = ("total", "forward", "backward", "recomputed", "by_region", "convention")


def deterministic_baseline(run: Run) -> str:
    """A pytest-benchmark-shaped JSON holding only FLOPs, saved bytes and parameter counts.

    Time, memory and energy depend on the machine and its load; these do not.
    """
    if run.kind != "benchmark":
        raise ValueError(f"{run.path}: a {run.kind}; a dry run is its own baseline")
    benchmarks = []
    for record in run.records:
        kept = {k: record[k] for k in KEPT if k in record}
        if "flops" in record:
            kept["flops"] = {k: record["flops"][k] for k in FLOP_FIELDS if k in record["flops"]}
        benchmarks.append(
            {"name": record["case"]["key"] + "-" + record["case"]["variant"], "extra_info": kept}
        )
    data = {
        "machine_info": {"mobius": run.machine},
        "benchmarks": benchmarks,
        FAILED_KEY: [],
        "source": str(run.path),
    }
    return json.dumps(data, indent=1) + "\n"
