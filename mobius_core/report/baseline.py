"""A run cut down to its deterministic figures (`exact` and `counted`): what CI's regression
gate holds runs to.

Which figures stay comes from the result fields' `compare` metadata, so a new exact or
counted figure is kept without a change here. The cut is still a loadable run
(pytest-benchmark shaped, schema `mobius-bench/2`), marked as a baseline so that `report`
refuses it.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, Field, fields, replace
from typing import Any, TypeVar

from mobius_core.errors import BadInput
from mobius_core.measure.results import DETERMINISTIC, Result
from mobius_core.report.record import OK, Record
from mobius_core.report.runs import BASELINE_KEY, BENCHMARK, FAILED_KEY, Run

R = TypeVar("R", bound=Result)


def _default(f: Field[Any]) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _cut(result: R, top: bool = False) -> R | None:
    """`result` with its exact and counted figures alone (and, at the top, the record's own
    fields: case, variant, status, config); a part left with no figure is None."""
    exact = {f.name for f in fields(result) if f.metadata.get("compare") in DETERMINISTIC}
    changes: dict[str, Any] = {}
    for f in fields(result):
        value = getattr(result, f.name)
        own = top and "unit" not in f.metadata  # the record's own fields
        if isinstance(value, Result):
            changes[f.name] = _cut(value)
        elif f.name not in exact and f.name != "absent" and not own:
            changes[f.name] = _default(f)
    cut = replace(result, **changes)
    if not top:
        cut.absent = {k: v for k, v in result.absent.items() if k in exact}
    parts = [getattr(cut, f.name) for f in fields(cut)]
    kept = [v for f, v in zip(fields(cut), parts, strict=True) if f.name in exact]
    kept += [v for v in parts if isinstance(v, Result)]
    return cut if top or any(v is not None for v in kept) else None


def deterministic_baseline(run: Run) -> str:
    """The baseline's JSON: the run's records cut to their exact and counted figures, and its
    machine.

    Time, the allocator's memory and energy depend on the machine and its load; these do not.
    """
    if run.kind != BENCHMARK:
        raise BadInput(f"{run.path}: a {run.kind}; a dry run is its own baseline")
    records = [_cut(r, top=True) for r in run.records if isinstance(r, Record)]
    data = {
        "machine_info": {"mobius": run.machine},
        "benchmarks": [
            {"name": f"{r.case.key}-{r.variant.name}", "extra_info": r.to_dict()}
            for r in records
            if r is not None and r.status == OK
        ],
        FAILED_KEY: [r.to_dict() for r in records if r is not None and r.status != OK],
        BASELINE_KEY: {
            "source": run.baseline_of or str(run.path),
            "figures": "+".join(DETERMINISTIC),
        },
    }
    return json.dumps(data, indent=1) + "\n"
