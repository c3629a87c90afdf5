"""`mobius-bench report`: a run's claims table, tables and plots in a new folder."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from mobius_core.outputs import write_atomic
from mobius_core.report import plots
from mobius_core.report.claims import MEMORY_CLAIM, TIME_CLAIM, Saving
from mobius_core.report.markdown import flops, number, size, table
from mobius_core.report.runs import Run, case_key
from mobius_core.report.tables import frame, memory_figure

BASELINE, CANDIDATE = "serial", "mobius"


def claims_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Per case with serial and mobius measured: savings, the time interval and verdicts."""
    memory, label = memory_figure(rows)
    rows = rows.assign(memory=memory)
    out = []
    for case, group in rows[rows["status"] == "ok"].groupby("case", sort=False):
        by_variant = group.set_index("variant")
        if not {BASELINE, CANDIDATE} <= set(by_variant.index):
            continue
        base, new = by_variant.loc[BASELINE], by_variant.loc[CANDIDATE]
        mem = Saving.from_ratio(new["memory"] / base["memory"])
        time = Saving.from_ratio(new["time_ratio"], new["time_ratio_low"], new["time_ratio_high"])
        flop = Saving.from_ratio(new["flops"] / base["flops"])
        out.append(
            {
                "case": case,
                "memory_label": label,
                "memory_saving": mem.value,
                "memory_verdict": mem.verdict(MEMORY_CLAIM),
                "time_saving": time.value,
                "time_low": time.low,
                "time_high": time.high,
                "time_text": time.text(),
                "time_verdict": time.verdict(TIME_CLAIM),
                "flop_saving": flop.value,
            }
        )
    return pd.DataFrame(out)


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
        "cpu",
        "cpu_count",
        "tf32_matmul",
        "tf32_cudnn",
        "bf16_reduced_precision_reduction",
        "nvml",
    )
    return ", ".join(f"{k} {m[k]}" for k in keys if k in m)


def _claims_table(rows: pd.DataFrame, claims: pd.DataFrame) -> str:
    memory, label = memory_figure(rows)
    rows = rows.assign(memory=memory)
    verdicts = claims.set_index("case") if not claims.empty else None
    lines = []
    for _, r in rows.iterrows():
        c = (
            verdicts.loc[r["case"]]
            if verdicts is not None and r["case"] in verdicts.index
            else None
        )
        mine = c is not None and r["variant"] == CANDIDATE
        nvml = f" (NVML {size(r['nvml_peak'])})" if pd.notna(r.get("nvml_peak")) else ""
        lines.append(
            {
                "case": r["case"],
                "variant": r["variant"],
                "status": r["status"],
                "peak memory": f"{size(r['memory'])}{nvml}" if r["status"] == "ok" else "",
                "step time ms (IQR)": _time(r),
                "FLOPs": flops(r.get("flops")),
                "saved for backward": size(r.get("saved_bytes")),
                "energy J": number(r.get("energy_j"), "{:.1f}"),
                "MFU": number(r.get("mfu"), "{:.1%}"),
                "memory saving": f"{c['memory_saving']:+.2%}" if mine else "",
                "vs 24%": c["memory_verdict"] if mine else "",
                "time saving [95% CI]": c["time_text"] if mine else "",
                "vs 12%": c["time_verdict"] if mine else "",
            }
        )
    return f"Peak memory is the {label}.\n\n" + table(lines)


def _time(r: pd.Series) -> str:
    if pd.isna(r.get("time_median_ms")):
        return ""
    return f"{r['time_median_ms']:.1f} ({r['time_iqr_ms']:.1f})"


def _predicted(rows: pd.DataFrame, predicted: pd.DataFrame) -> str:
    if predicted.empty:
        return ""
    pred = predicted.set_index(["case", "variant"])
    lines = []
    memory, _ = memory_figure(rows)
    for (_, r), mem in zip(rows.iterrows(), memory, strict=True):
        if (r["case"], r["variant"]) not in pred.index or r["status"] != "ok":
            continue
        p = pred.loc[(r["case"], r["variant"])]
        states = sum(
            p[c] for c in ("mem_parameters", "mem_gradients", "mem_optimizer", "mem_saved")
        )
        lines.append(
            {
                "case": r["case"],
                "variant": r["variant"],
                "FLOPs predicted": flops(p["flops"]),
                "FLOPs measured": flops(r["flops"]),
                "saved predicted": size(p["saved_bytes"]),
                "saved measured": size(r["saved_bytes"]),
                "states+saved predicted": size(states),
                "peak measured": size(mem),
            }
        )
    if not lines:
        return ""
    return "\n## Predicted (dry run) beside measured\n\n" + table(lines) + "\n"


def _paragraph(claims: pd.DataFrame) -> str:
    if claims.empty:
        return "No case has both serial and mobius measured, so no claim can be judged."
    best = claims.loc[claims["time_saving"].idxmax()]
    worst = claims.loc[claims["time_saving"].idxmin()]
    gap = claims["flop_saving"] - claims["time_saving"]
    return (
        f"Mobius saves the most time at {best['case']} ({best['time_saving']:.1%}, memory"
        f" {best['memory_saving']:.1%}) and the least at {worst['case']}"
        f" ({worst['time_saving']:.1%}, memory {worst['memory_saving']:.1%}). The analytic"
        f" bound on the time saving is the share of step FLOPs mobius skips"
        f" ({claims['flop_saving'].min():.1%} to {claims['flop_saving'].max():.1%} here);"
        f" the measured time saving lies {gap.min():+.1%} to {gap.max():+.1%} below that bound"
        f" (a negative gap is a saving above it: time is not FLOPs alone)."
    )


def _quality(rows: pd.DataFrame) -> str:
    ok = rows[rows["status"] == "ok"]
    parts = []
    if "time_cv" in ok:
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
    if "leak" in ok:
        leaks = ok[ok["leak"] == "leak"]
        parts.append(f"{len(leaks)} leak(s) found" if len(leaks) else "no leak found")
    return "; ".join(parts) + "."


def _samples(runs: list[Run], case: str) -> dict[str, list[float]]:
    return {
        r["case"]["variant"]: r["time"]["samples_ms"]
        for run in runs
        for r in run.records
        if case_key(r["case"]) == case and "time" in r
    }


def write_report(measured: list[Run], predicted: list[Run], out: Path) -> list[str]:
    """Write the report into the new folder `out`; returns the names of the files written."""
    rows = frame(measured)
    claims = claims_frame(rows)
    reference = rows["case"].iloc[0]
    reference_rows = rows[(rows["case"] == reference) & (rows["status"] == "ok")]
    figures = {
        "savings.png": lambda p: plots.savings(claims, p),
        "memory_sweeps.png": lambda p: plots.memory_sweeps(rows, p),
        "time_vs_batch.png": lambda p: plots.time_vs_batch(rows, p),
        "memory_breakdown.png": lambda p: plots.memory_breakdown(reference_rows, p),
        "flops_by_region.png": lambda p: plots.flops_by_region(reference_rows, p),
        "time_distribution.png": lambda p: plots.time_distribution(
            _samples(measured, reference), reference, p
        ),
    }
    skipped = {name: draw(out / name) for name, draw in figures.items()}
    drawn = [name for name, reason in skipped.items() if reason is None]
    rows.to_csv(out / "cases.csv.tmp", index=False)
    (out / "cases.csv.tmp").replace(out / "cases.csv")
    write_atomic(out / "cases.md", table(rows.to_dict("records")) + "\n")
    summary = _summary(
        out,
        measured,
        rows,
        claims,
        frame(predicted) if predicted else pd.DataFrame(),
        drawn,
        {k: v for k, v in skipped.items() if v},
    )
    write_atomic(out / "summary.md", summary)
    return ["summary.md", "cases.csv", "cases.md", *drawn]


def _summary(
    folder: Path,
    measured: list[Run],
    rows: pd.DataFrame,
    claims: pd.DataFrame,
    predicted: pd.DataFrame,
    drawn: list[str],
    skipped: dict[str, str],
) -> str:
    sources = ", ".join(str(r.path) for r in measured)
    profiles = [r.path.parent / "profile" / "profile.md" for r in measured]
    # the report folder is staged beside its final place, so a relative link holds
    links = [Path(os.path.relpath(p.resolve(), folder.resolve())) for p in profiles if p.exists()]
    profiled = [f"Profile of this run: [{link}]({link})" for link in links]
    lines = [
        "# mobius-bench report",
        "",
        f"Runs: {sources}",
        "",
        *[line + "\n" for line in profiled],
        f"Machine: {_machine(measured[0])}",
        "",
        "## Claims: Mobius against serial",
        "",
        "The paper claims 24% less GPU memory and 12% less training time. A time verdict is"
        " PASS when the whole 95% interval of the saving reaches the claim, FAIL when it lies"
        " below, INCONCLUSIVE when it straddles; memory has no sampling noise, so its verdict"
        " uses the measured value.",
        "",
        _claims_table(rows, claims),
        "",
        _paragraph(claims),
        "",
        f"Measurement quality: {_quality(rows)}",
        _predicted(rows, predicted),
        "## Files",
        "",
        "- `cases.csv`, `cases.md`: every figure, a row per case and variant",
        *[f"- `{name}`" for name in drawn],
        *[f"- skipped `{name}`: {reason}" for name, reason in skipped.items()],
        "",
    ]
    return "\n".join(lines)
