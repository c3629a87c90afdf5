"""The dry run's table: FLOPs by phase and region, bytes of each kind and the simulated
peak, ratios to the baseline, each column in the unit that suits its largest figure (MFLOP
at `tiny`, GiB at `sd15`), so that no figure shows as 0."""

from __future__ import annotations

from mobius_core.report.record import DryRecord, DryRun, StateBytes

Units = tuple[tuple[str, float], ...]
FLOP_UNITS: Units = (("FLOP", 1), ("kFLOP", 1e3), ("MFLOP", 1e6), ("GFLOP", 1e9), ("TFLOP", 1e12))
BYTE_UNITS: Units = (("B", 1), ("KiB", 2**10), ("MiB", 2**20), ("GiB", 2**30), ("TiB", 2**40))
Column = tuple[str, Units | None, list[float | None]]  # header, units (None: a ratio), cells


def scale(largest: float, units: Units) -> tuple[str, float]:
    """The largest unit in which `largest` is at least 1 (the smallest if it is 0)."""
    return next(((name, size) for name, size in reversed(units) if largest >= size), units[0])


def _cell(value: float | None, size: float) -> str:
    return "-" if value is None else f"{value / size:,.4g}"


def _regions(record: DryRecord) -> dict[str, int]:
    """Step FLOPs by region: forward and backward added."""
    out: dict[str, int] = {}
    for phase in (record.flops.by_region or {}).values():
        for region, count in phase.items():
            out[region] = out.get(region, 0) + count
    return out


def _states(record: DryRecord) -> int | None:
    s = record.states
    parts = (s.parameters, s.gradients, s.optimizer)
    return None if None in parts else sum(p for p in parts if p is not None)


def _columns(records: list[DryRecord]) -> list[Column]:
    base = next((f"x {r.variant.name}" for r in records if r.variant.baseline), "x baseline")
    regions = list(dict.fromkeys(k for r in records for k in _regions(r)))

    def ratio(figure: str) -> list[float | None]:
        return [r.ratio_to_baseline.get(figure) for r in records]

    return [
        ("fwd", FLOP_UNITS, [r.flops.forward for r in records]),
        ("bwd", FLOP_UNITS, [r.flops.backward for r in records]),
        ("step", FLOP_UNITS, [r.flops.total for r in records]),
        (base, None, ratio("flops")),
        *((k, FLOP_UNITS, [_regions(r).get(k) for r in records]) for k in regions),
        ("saved", BYTE_UNITS, [r.saved.bytes for r in records]),
        (base, None, ratio("saved")),
        ("params", BYTE_UNITS, [r.states.parameters for r in records]),
        ("grads", BYTE_UNITS, [r.states.gradients for r in records]),
        ("optimizer", BYTE_UNITS, [r.states.optimizer for r in records]),
        ("all states", BYTE_UNITS, [_states(r) for r in records]),
        (base, None, ratio("states")),
        (_peak_header(records), BYTE_UNITS, [r.predicted_peak for r in records]),
        (base, None, ratio("peak")),
        *_per_rank(records),
    ]


def _peak_header(records: list[DryRecord]) -> str:
    """The simulated peak is of one unsharded process, also beside FSDP's per-rank bytes; a
    file written before it was simulated holds the earlier estimate."""
    name = "peak" if all(r.peak is not None for r in records) else "peak (estimate)"
    return f"{name}, unsharded" if any(r.per_rank for r in records) else name


def _per_rank(records: list[DryRecord]) -> list[Column]:
    """One rank's bytes under FSDP, where predicted."""
    if not any(r.per_rank for r in records):
        return []
    world = max(r.case.world_size for r in records)
    shares = [r.per_rank for r in records]
    return [
        (f"params/rank (of {world})", BYTE_UNITS, [s.parameters if s else None for s in shares]),
        ("grads/rank", BYTE_UNITS, [s.gradients if s else None for s in shares]),
        ("optimizer/rank", BYTE_UNITS, [s.optimizer if s else None for s in shares]),
        ("states/rank", BYTE_UNITS, [_sum(s) for s in shares]),
    ]


def _sum(states: StateBytes | None) -> int | None:
    if states is None or None in (states.parameters, states.gradients, states.optimizer):
        return None
    return (states.parameters or 0) + (states.gradients or 0) + (states.optimizer or 0)


def format_dry_run(result: DryRun) -> str:
    """A Markdown table, one row per variant."""
    head, rows = ["variant"], [[r.variant.name] for r in result.records]
    for name, units, values in _columns(result.records):
        if units is not None and not any(values):
            continue  # a region no variant has FLOPs in (the loss counts zero)
        unit, size = scale(max(v or 0 for v in values), units) if units else ("", 1.0)
        head.append(f"{name} {unit}".rstrip())
        for row, value in zip(rows, values, strict=True):
            row.append(_cell(value, size))
    lines = [head, ["---"] * len(head), *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)
