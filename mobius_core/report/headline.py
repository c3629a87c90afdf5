"""The headline case of a run, and the one sentence that states the claims at it.

The headline is the claim case when the run has it (sd15, batch 1, 16 frames, 256 px),
otherwise the case whose baseline variant does the most FLOPs (the largest), unless the
reader picks another with `--case`.
"""

from __future__ import annotations

import pandas as pd

from mobius_core.errors import BadInput
from mobius_core.report.claims import CHECK, MAX_DIGITS, MEMORY_CLAIM, TIME_CLAIM
from mobius_core.report.markdown import missing
from mobius_core.report.record import OK
from mobius_core.report.runs import Run

CLAIM_CASE = {"preset": "sd15", "batch": 1, "frames": 16, "resolution": 256}
CANDIDATE = "mobius"
TIMES = "\N{MULTIPLICATION SIGN}"


def headline_case(rows: pd.DataFrame, baseline: str | None, wanted: str | None = None) -> str:
    """`wanted` if given (`check_case` has checked it); otherwise the claim case, else the
    largest case by the baseline's FLOPs (then by batch x frames x pixels)."""
    if wanted is not None:
        return wanted
    claim = rows[(rows[list(CLAIM_CASE)] == pd.Series(CLAIM_CASE)).all(axis=1)]
    if not claim.empty:
        return claim["case"].iloc[0]

    def size(case: str) -> tuple[float, int]:
        group = rows[rows["case"] == case]
        serial = group[group["variant"] == baseline].get("flops", pd.Series(dtype=float))
        flops = serial.max() if not serial.empty and serial.notna().any() else -1.0
        r = group.iloc[0]
        return flops, r["batch"] * r["frames"] * r["resolution"] ** 2

    return max(dict.fromkeys(rows["case"]), key=size)


def check_case(measured: list[Run], wanted: str | None) -> None:
    """One line, before any work, if `wanted` names no case of the runs."""
    cases = list(dict.fromkeys(r.case.key for run in measured for r in run.records))
    if wanted is not None and wanted not in cases:
        raise BadInput(f"--case: no case {wanted!r} in the runs; they hold {', '.join(cases)}")


def ratio_text(ratio: float, claim: float, places: int = 2) -> str:
    """`ratio` with at least `places` decimals, and as many more as it takes for the saving
    it shows (1 - ratio) to lie on the same side of `claim` as the true one."""
    for digits in range(places, MAX_DIGITS + 1):
        text = f"{ratio:.{digits}f}"
        if (1 - float(text) >= claim) == (1 - ratio >= claim):
            return text
    return f"{ratio:.{MAX_DIGITS}e}"


def _interval(low: float, high: float, claim: float) -> str:
    """A ratio's interval from its saving's (the saving's high end is the ratio's low)."""
    return f"[{ratio_text(1 - high, claim)}, {ratio_text(1 - low, claim)}]"


def sentence(
    claims: pd.DataFrame, rows: pd.DataFrame, case: str, machine: str, baseline: str | None
) -> str:
    """ "On <machine>, at <case>, mobius used <r>x serial's peak memory (<verdict> against 24%)
    and <r>x its step time [<low>, <high>] (<verdict> against 12%)", each against its
    reference serial, which a run with two serials names; or why it cannot be judged."""
    judged = claims.set_index("case") if not claims.empty else pd.DataFrame()
    if case not in judged.index:
        return (
            f"On {machine}, at {case}, the claims cannot be judged: {_why(rows, case, baseline)}."
        )
    c = judged.loc[case]
    memory_ref = c.get("memory_reference", baseline)
    time_ref = c.get("time_reference", baseline)
    memory = ratio_text(1 - c["memory_saving"], MEMORY_CLAIM) + TIMES
    if not missing(c["memory_low"]):
        memory += " " + _interval(c["memory_low"], c["memory_high"], MEMORY_CLAIM)
    whose = "its" if time_ref == memory_ref else f"{time_ref}'s"
    if missing(c["time_saving"]):
        time = f"{whose} step time was not compared (no paired timing)"
    else:
        time = (
            f"{ratio_text(1 - c['time_saving'], TIME_CLAIM)}{TIMES} {whose} step time"
            f" {_interval(c['time_low'], c['time_high'], TIME_CLAIM)}"
            f" ({_against(c['time_verdict'], TIME_CLAIM)})"
        )
    reference = c.get("reference", "")
    return (
        f"On {machine}, at {case}, {CANDIDATE} used {memory} {memory_ref}'s peak memory"
        f" ({_against(c['memory_verdict'], MEMORY_CLAIM)}) and {time}"
        + (f"; reference serial: {reference}." if reference else ".")
    )


def _against(verdict: str, claim: float) -> str:
    """ "PASS against 24%", or for a correctness check that it is not judged."""
    if verdict == CHECK:
        return f"a correctness check, not judged against {claim:.0%}"
    return f"{verdict} against {claim:.0%}"


def _why(rows: pd.DataFrame, case: str, baseline: str | None) -> str:
    if baseline is None:
        return "no variant is marked as the baseline"
    group = rows[rows["case"] == case].set_index("variant")["status"]
    faults = [
        f"{v} was not run" if v not in group.index else f"{v} ended {group[v]}"
        for v in (baseline, CANDIDATE)
        if v not in group.index or group[v] != OK
    ]
    return "; ".join(faults)
