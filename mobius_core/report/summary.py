"""`mobius-bench report`: a run's claims table, tables and plots in a new folder."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from mobius_core.outputs import write_atomic
from mobius_core.report import plots
from mobius_core.report.claims import CHECK_NOTE, mark_checks
from mobius_core.report.claims_map import MAP
from mobius_core.report.claims_map_plot import write_map
from mobius_core.report.distributed import distributed_section
from mobius_core.report.figures import CASE_PLOTS, case_figures, run_figures
from mobius_core.report.headline import headline_case, sentence
from mobius_core.report.markdown import flops, number, size, table
from mobius_core.report.merge import merge
from mobius_core.report.modes import side_by_side, with_mode
from mobius_core.report.predicted import predicted_section
from mobius_core.report.record import OK, Record
from mobius_core.report.runs import Run
from mobius_core.report.sections import (
    DESIGN_PLOT,
    Extras,
    design_section,
    quality_column,
    quality_note,
)
from mobius_core.report.tables import (
    ALLOCATOR_PEAK,
    baseline_name,
    frame,
    memory_figure,
    variants,
)
from mobius_core.report.verdicts import CANDIDATE, claims_frame, tolerance_text, versus_serials

CASES = "cases"  # --all-cases: a folder of one-case plots per case


def _machine(run: Run) -> str:
    m = run.machine
    if not m:
        return "(no machine information in the run)"
    keys = (
        "gpu",
        "driver",
        "cuda",
        "cudnn",
        "torch",
        "python",
        "cpu_model",
        "cpu",
        "cpu_count",
        "tf32_matmul",
        "tf32_cudnn",
        "bf16_reduced_precision_reduction",
        "nvml",
    )
    return ", ".join(f"{k} {m[k]}" for k in keys if k in m)


def _claims_table(
    rows: pd.DataFrame, claims: pd.DataFrame, quality: list[str] | None = None
) -> str:
    memory, label = memory_figure(rows)
    rows = rows.assign(memory=memory)
    verdicts = claims.set_index("case") if not claims.empty else None
    lines = []
    for _, r in rows.iterrows():
        judged = verdicts is not None and r["case"] in verdicts.index
        c = verdicts.loc[r["case"]] if judged and r["variant"] == CANDIDATE else None
        nvml = f" (NVML {size(r['nvml_peak'])})" if pd.notna(r.get("nvml_peak")) else ""
        lines.append(
            {
                "case": r["case"],
                "variant": r["variant"],
                "status": r["status"],
                "peak memory": f"{size(r['memory'])}{nvml}" if r["status"] == OK else "",
                "step time ms (IQR)": _time(r),
                "FLOPs": flops(r.get("flops")),
                "saved for backward": size(r.get("saved_bytes")),
                "energy J": number(r.get("energy_j"), "{:.1f}"),
                "MFU": number(r.get("mfu"), "{:.1%}"),
                "memory saving": c["memory_text"] if c is not None else "",
                "vs 24%": c["memory_verdict"] if c is not None else "",
                "time saving [95% CI]": c["time_text"] if c is not None else "",
                "vs 12%": c["time_verdict"] if c is not None else "",
            }
        )
    if quality is not None:
        for line, cell in zip(lines, quality, strict=True):
            line["quality"] = cell
    checks = "" if claims.empty or claims["judged"].all() else f" {CHECK_NOTE}"
    return f"Peak memory is the {label}.{checks}\n\n" + table(with_mode(lines, rows))


def _time(r: pd.Series) -> str:
    if pd.isna(r.get("time_median_ms")):
        return ""
    return f"{r['time_median_ms']:.1f} ({r['time_iqr_ms']:.1f})"


def _paragraph(claims: pd.DataFrame, baseline: str | None) -> str:
    if claims.empty:
        against = baseline or "a baseline variant"
        return f"No case has both {against} and {CANDIDATE} measured, so no claim can be judged."
    claims = claims[claims["judged"]]
    if claims.empty:
        return "No case is judged against the claims: every one is a correctness check."
    best = claims.loc[claims["time_saving"].idxmax()]
    worst = claims.loc[claims["time_saving"].idxmin()]
    gap = claims["flop_saving"] - claims["time_saving"]
    if len(claims) == 1:
        where = (
            f"Mobius saves {best['time_saving']:.1%} of the time at {best['case']}, the one"
            f" case judged (memory {best['memory_saving']:.1%})."
        )
    else:
        where = (
            f"Mobius saves the most time at {best['case']} ({best['time_saving']:.1%}, memory"
            f" {best['memory_saving']:.1%}) and the least at {worst['case']}"
            f" ({worst['time_saving']:.1%}, memory {worst['memory_saving']:.1%})."
        )
    return (
        f"{where} The analytic bound on the time saving is the share of step FLOPs mobius skips"
        f" ({_span(claims['flop_saving'])} here); the measured time saving lies"
        f" {_span(gap, '+.1%')} below that bound (a negative gap is a saving above it: time is"
        " not FLOPs alone)."
    )


def _span(values: pd.Series, fmt: str = ".1%") -> str:
    low, high = values.min(), values.max()
    return f"{low:{fmt}}" if low == high else f"{low:{fmt}} to {high:{fmt}}"


def _quality(rows: pd.DataFrame, records: list[Record]) -> str:
    ok = rows[rows["status"] == OK]
    parts = []
    if "time_cv" in ok and ok["time_cv"].notna().any():
        worst = ok.loc[ok["time_cv"].idxmax()]
        parts.append(
            f"largest step-time coefficient of variation {worst['time_cv']:.1%}"
            f" ({worst['case']}, {worst['variant']}, median {worst['time_median_ms']:.1f} ms)"
        )
    if "pytest_benchmark_median_ms" in ok:
        spread = (ok["pytest_benchmark_median_ms"] / ok["time_median_ms"] - 1).abs().max()
        parts.append(f"pytest-benchmark's medians within {spread:.1%} of the primary timer's")
    if "overhead_fraction" in ok:
        parts.append(f"tracker overhead at most {ok['overhead_fraction'].max():.3%} of a step")
    if "fvcore_agreement" in ok:
        spread = (ok["fvcore_agreement"] - 1).abs().max()
        parts.append(f"fvcore and FlopCounterMode forward FLOPs within {spread:.2%}")
    checked = [r.memory.leak for r in records if r.memory is not None and r.memory.leak]
    if checked:
        leaks = sum(leak.status == "leak" for leak in checked)
        parts.append(f"{leaks} leak(s) found" if leaks else "no leak found")
    failed = [f"{r.case.key} {r.variant.name}: {r.status}" for r in records if r.status != OK]
    if failed:
        parts.append(f"not measured: {', '.join(failed)}")
    return "; ".join(parts) + "."


def write_report(
    measured: list[Run],
    predicted: list[Run],
    out: Path,
    case: str | None = None,
    all_cases: bool = False,
    extras: Extras | None = None,
) -> list[str]:
    """Write the report into the new folder `out`; returns the names of the files written.
    The one-case plots show `case`, else the headline case; `all_cases` adds a set per case
    in `cases/<case>/`; `extras` (sweeps, converge records) add their sections."""
    extras = extras or Extras()
    records, merged = merge([r for run in measured for r in run.records])
    guesses, _ = merge([r for run in predicted for r in run.records])
    rows = frame(records)
    baseline = baseline_name(records)
    claims = mark_checks(claims_frame(rows, records, baseline), rows)
    colours = {name: info.colour for name, info in variants(records).items()}
    headline = headline_case(rows, baseline, case)
    figures = {
        **run_figures(rows, claims, colours, baseline),
        **case_figures(rows, records, headline, colours),
    }
    skipped = plots.write(figures, out)
    drawn = [name for name, reason in skipped.items() if reason is None]
    if all_cases:
        for key in dict.fromkeys(rows["case"]):
            (out / CASES / key).mkdir(parents=True)
            plots.write(case_figures(rows, records, key, colours), out / CASES / key)
    rows.to_csv(out / "cases.csv.tmp", index=False)
    (out / "cases.csv.tmp").replace(out / "cases.csv")
    write_atomic(out / "cases.md", table(rows.to_dict("records")) + "\n")
    opening = sentence(claims, rows, headline, measured[0].describe_machine(), baseline)
    design = design_section(extras, records, out)
    where, map_section = write_map(extras.grids, records, rows, claims, out)
    text = "\n".join(
        [
            "# mobius-bench report",
            "",
            opening + _proxy_note(rows),
            "",
            *([f"Where the claims hold ([{MAP}]({MAP})): {where}", ""] if where else []),
            *_head(out, measured, merged),
            _claims_table(rows, claims, quality_column(rows, extras)),
            versus_serials(claims, rows, records, baseline),
            "",
            *quality_note(extras),
            _paragraph(claims, baseline),
            "",
            *side_by_side(rows, baseline),
            *distributed_section(rows),
            tolerance_text(claims),
            "",
            f"Measurement quality: {_quality(rows, records)}",
            predicted_section(rows, frame(guesses) if guesses else pd.DataFrame()),
            *design,
            *map_section,
            "## Files",
            "",
            "- `cases.csv`, `cases.md`: every figure, a row per case and variant",
            f"- the plots of one case ({', '.join(CASE_PLOTS)}) show {headline}",
            *[f"- `{name}`" for name in drawn],
            *[f"- skipped `{name}`: {reason}" for name, reason in skipped.items() if reason],
            *([f"- `{CASES}/<case>/`: the plots of one case, for each case"] if all_cases else []),
            "",
        ]
    )
    write_atomic(out / "summary.md", text)
    drawn += [DESIGN_PLOT] if design else []
    drawn += [MAP] if where else []
    return ["summary.md", "cases.csv", "cases.md", *drawn, *([f"{CASES}/"] if all_cases else [])]


def _proxy_note(rows: pd.DataFrame) -> str:
    """On a CPU run, what its peak memory stands for."""
    _, label = memory_figure(rows)
    return "" if label == ALLOCATOR_PEAK else f" Peak memory here is the {label}."


def _head(folder: Path, measured: list[Run], merged: str | None) -> list[str]:
    sources = ", ".join(str(r.path) for r in measured)
    profiles = [r.path.parent / "profile" / "profile.md" for r in measured]
    # the report folder is staged beside its final place, so a relative link holds
    links = [Path(os.path.relpath(p.resolve(), folder.resolve())) for p in profiles if p.exists()]
    return [
        f"Runs: {sources}",
        "",
        *([f"Merged: {merged}\n"] if merged else []),
        *[
            f"Interrupted: {r.path} was stopped early; it holds the cases finished before.\n"
            for r in measured
            if r.interrupted
        ],
        *[f"Profile of this run: [{link}]({link})\n" for link in links],
        f"Machine: {_machine(measured[0])}",
        "",
        "## Claims: Mobius against serial",
        "",
        "The paper claims 24% less GPU memory and 12% less training time. A time verdict is"
        " PASS when the whole 95% interval of the saving reaches the claim, FAIL when it lies"
        " below, INCONCLUSIVE when it straddles; each figure is shown with the digits that"
        " put it on its side of the claim.",
        "",
    ]
