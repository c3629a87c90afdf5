"""The converge report: summary.md (verdicts, figures per variant and per seed, beside the
memory and time of a benchmark run of the same shape when one is given) and the plots.
Also what `mobius-bench report` needs of a converge JSON: `is_converge` and `quality`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mobius_core.errors import BadInput
from mobius_core.measure.results import RecordError
from mobius_core.outputs import write_atomic
from mobius_core.report.converge_plots import PLOTS
from mobius_core.report.converge_record import SCHEMA, ConvergeRecord
from mobius_core.report.markdown import number, size, table
from mobius_core.report.record import Case

CONVERGE_FILE = "converge.json"


def _read(path: Path) -> Any:
    path = path / CONVERGE_FILE if path.is_dir() else path
    try:
        return json.loads(path.read_text())
    except OSError as error:
        raise BadInput(f"{path}: cannot read: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadInput(f"{path}: not JSON ({str(error).splitlines()[0]})") from None


def is_converge(path: Path) -> bool:
    """Whether `path` (a file, or a folder holding converge.json) is a converge record."""
    if path.is_dir():
        return (path / CONVERGE_FILE).is_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("schema") == SCHEMA


def load(path: Path) -> ConvergeRecord:
    """A converge record, checked; one line on any fault."""
    try:
        return ConvergeRecord.from_dict(_read(path))
    except RecordError as error:
        raise RecordError(f"{path}: {error}") from None


def quality(record: ConvergeRecord, case_key: str, variant: str = "mobius") -> str | None:
    """The "quality" cell of the claims table for a case: `variant`'s temporal gain and its
    overall verdict, when the converge record is of that case; else None."""
    if record.case.key != case_key or variant not in record.variants:
        return None
    gain = record.variants[variant].temporal_gain
    found = [v for v in record.verdicts if v.variant == variant and v.measure == "overall"]
    return f"temporal gain {gain.text()}; {found[0].text}" if found else gain.text()


def beside(run_path: Path, case: Case) -> dict[str, dict[str, str]]:
    """Peak memory and median step time per entry from a benchmark run of the same shape:
    eager, one process, the converge run's dtype where the run has it (else its first), each
    mobius-double rejoin case under its entry's name (`mobius-double-k2`)."""
    import pandas as pd

    from mobius_core.report.runs import load as load_run
    from mobius_core.report.tables import frame, memory_figure

    rows = frame(load_run(run_path).records)
    c = case

    def column(name: str, missing: object) -> pd.Series:  # a frame leaves out empty columns
        return rows[name] if name in rows else pd.Series(missing, index=rows.index)

    mode, world = column("mode", "eager"), column("world_size", 1)
    same = (
        (rows["preset"] == c.preset)
        & (rows["batch"] == c.batch)
        & (rows["frames"] == c.frames)
        & (rows["resolution"] == c.resolution)
        & (rows["status"] == "ok")
        & (mode.fillna("eager") == "eager")
        & (world.fillna(1) == 1)
    )
    if not same.any():
        raise BadInput(f"{run_path}: no eager case of shape {c.key} (any dtype) in this run")
    rows = rows[same]
    dtype = c.dtype if (rows["dtype"] == c.dtype).any() else rows["dtype"].iloc[0]
    rows = rows[rows["dtype"] == dtype]
    memory, label = memory_figure(rows)
    time = rows["time_median_ms"] if "time_median_ms" in rows else memory * float("nan")
    names = [
        str(v) if pd.isna(k) else f"{v}-k{int(k)}"
        for v, k in zip(rows["variant"], column("rejoin", None), strict=True)
    ]
    return {
        name: {"memory": size(m), "memory_label": label, "time": number(t, "{:.1f} ms")}
        for name, m, t in zip(names, memory, time, strict=True)
    }


def _stage1(pretrain: dict[str, Any]) -> str:
    """What stage 1 did: trained, read from the cache, or skipped for the user's weights."""
    p = pretrain
    if p.get("skipped"):
        adapter = p.get("motion_adapter")
        motion = f", motion modules from `{adapter}`" if adapter else ""
        return f"Stage 1 skipped: the 2D weights are the checkpoint's, `{p.get('unet')}`{motion}."
    stage1 = "read from the cache" if p.get("cached") else "trained now"
    if p.get("stopped"):  # the levelling rule's sentence
        return f"Stage 1 (2D model, {stage1}): {p.get('steps_run')} steps; {p['stopped']}."
    stop = "its validation loss levelled off" if p.get("levelled") else "its step budget"
    return f"Stage 1 (2D model, {stage1}): {p.get('steps_run')} steps, stopped at {stop}."


def _settings(record: ConvergeRecord) -> str:
    s = record.settings
    rejoin = s.get("rejoin")
    depths = f" mobius-double also at rejoin depths k = {rejoin}." if rejoin else ""
    saved = f"\nCheckpoints: {s['checkpoints']}." if s.get("checkpoints") else ""
    return (
        f"Case `{record.case.key}` on {record.case.device}; seeds {s.get('seeds')}.{depths}\n"
        f"{_stage1(record.pretrain)}\n"
        f"Stage 2: {s.get('steps')} steps per fine-tune, {s.get('batch')} clips a step,"
        f" AdamW lr {s.get('lr')}; validation every {s.get('eval_every')} steps on"
        f" {s.get('val_clips')} held-out clips x {s.get('val_pairs')} fixed (timestep, noise)"
        f" pairs. Data: {s.get('data')}.\n\n"
        f"The frozen 2D model's validation loss (the no-temporal baseline):"
        f" {record.baseline.overall:.4f} overall, {record.baseline.high:.4f} at t >= 500."
        f"{saved}"
    )


def _figures(record: ConvergeRecord, shown: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    rows = []
    for name, v in record.variants.items():
        row = {
            "variant": name,
            "final val loss": v.final_loss.text(percent=False),
            "raw gain": v.raw_gain.text(),
            "control gain": v.control_gain.text(),
            "temporal gain": v.temporal_gain.text(),
            "temporal gain, t >= 500": v.temporal_gain_high.text(),
            f"steps to {record.baseline_variant}'s loss": (
                f"{number(v.steps_to_serial, '{:.0f}')} ({v.reached}/{v.final_loss.n} seeds)"
            ),
            f"time to {record.baseline_variant}'s loss": number(v.seconds_to_serial, "{:.1f} s"),
            "timed training": f"{v.train_seconds:.1f} s",
        }
        if shown:
            extra = shown.get(name, {})
            row["peak memory"] = extra.get("memory", "")
            row["step time (run)"] = extra.get("time", "")
        rows.append(row)
    return rows


def summary(record: ConvergeRecord, shown: dict[str, dict[str, str]] | None = None) -> str:
    """summary.md: settings, verdicts, figures per variant (beside memory and time), seeds."""
    verdicts = [
        {
            "variant": v.variant,
            "measure": v.measure,
            f"gain - {v.against}'s [95%]": v.difference.text(),
            "band": f"+-{v.band:.1%}",
            "verdict": v.text,
        }
        for v in record.verdicts
    ]
    seeds = [
        {
            "variant": r.variant,
            "seed": r.seed,
            "final val loss": f"{r.final_loss:.4f}",
            "raw gain": f"{r.raw_gain:+.1%}",
            "control gain": f"{r.control_gain:+.1%}",
            "temporal gain": f"{r.temporal_gain:+.1%}",
            "temporal gain, t >= 500": f"{r.temporal_gain_high:+.1%}",
        }
        for r in record.records
    ]
    memory = next(iter(shown.values()))["memory_label"] if shown else ""
    parts = [
        "# converge: does each variant learn what serial learns?",
        _settings(record),
        "Gains are falls of the validation loss below the frozen 2D model's, as a fraction of"
        " it; the control is the same fine-tune on incoherent clips (each frame from another"
        " clip), so *temporal gain* = raw gain - control gain is what time taught, net of"
        " added capacity. Intervals: 95% t-intervals over seeds. Verdict: the difference"
        " from serial's temporal gain (paired by seed) against +-10% of serial's gain.",
        "## Verdicts",
        table(verdicts),
        "## Figures per variant (mean [95% interval] over seeds)",
        table(_figures(record, shown or {})),
        f"Peak memory: {memory}." if memory else "",
        "## Per seed",
        table(seeds),
        "## Plots",
        "![loss vs step](loss_vs_step.png)\n![loss vs time](loss_vs_time.png)\n"
        "![temporal gain](gain.png)",
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def write_report(record: ConvergeRecord, folder: Path, run_path: Path | None = None) -> None:
    """summary.md and the plots into `folder` (which exists)."""
    shown = beside(run_path, record.case) if run_path is not None else None
    write_atomic(folder / "summary.md", summary(record, shown))
    for name, draw in PLOTS.items():
        draw(record, folder / name)
