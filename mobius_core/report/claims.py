"""The paper's claims and their verdicts: PASS, FAIL or INCONCLUSIVE, each shown with the
digits that decide it. A ddp or fsdp case run on CPU gets none: it is a correctness check."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

MEMORY_CLAIM = 0.24  # "24% less GPU memory"
TIME_CLAIM = 0.12  # "12% less training time"
PASS, FAIL, INCONCLUSIVE, NA = "PASS", "FAIL", "INCONCLUSIVE", "n/a"
MAX_DIGITS = 12
CHECK = "correctness check"  # in place of a verdict: a CPU ddp or fsdp case
CHECK_MODES = ("ddp", "fsdp")
CHECK_NOTE = (
    "A ddp or fsdp case run on CPU (gloo, the ranks sharing the host's cores) is a correctness"
    " check of the distributed step, not a performance claim: its savings are shown, marked"
    f" {CHECK!r} instead of a verdict, and it takes no place in any ranking."
)


def verdict_interval(low: float, high: float, claim: float) -> str:
    """A saving's interval against a claimed saving.

    PASS when the whole interval reaches the claim, FAIL when it lies wholly below,
    INCONCLUSIVE when it straddles the claim.
    """
    if low > high:
        raise ValueError(f"interval: low {low} is above high {high}")
    if low >= claim:
        return PASS
    if high < claim:
        return FAIL
    return INCONCLUSIVE


def verdict_value(saving: float, claim: float) -> str:
    """A saving without sampling noise: PASS when it reaches the claim."""
    return PASS if saving >= claim else FAIL


def decisive(value: float, claim: float, digits: int = 1) -> str:
    """`value` as a signed percentage with at least `digits` decimals, and as many more as it
    takes for the shown number to lie on the same side of `claim` as `value` does."""
    for places in range(digits, MAX_DIGITS + 1):
        text = f"{value:+.{places}%}"
        if (float(text[:-1]) / 100 >= claim) == (value >= claim):
            return text
    return f"{value * 100:+.{MAX_DIGITS}e}%"


@dataclass(frozen=True)
class Saving:
    """The saving of a variant over the baseline: 1 - ratio, with its interval where known
    (time: the bootstrap interval; memory: the spread of the memory passes)."""

    value: float
    low: float | None = None
    high: float | None = None

    @classmethod
    def from_ratio(
        cls, ratio: float, low: float | None = None, high: float | None = None
    ) -> Saving:
        # a ratio's upper bound is the saving's lower bound
        return cls(1 - ratio, None if high is None else 1 - high, None if low is None else 1 - low)

    def verdict(self, claim: float) -> str:
        if any(v is not None and math.isnan(v) for v in (self.value, self.low, self.high)):
            return NA
        if self.low is None or self.high is None:
            return verdict_value(self.value, claim)
        return verdict_interval(self.low, self.high, claim)

    def text(self, claim: float) -> str:
        """The saving and its interval, each with the digits that put it on its side of
        `claim`."""
        value = decisive(self.value, claim)
        if self.low is None or self.high is None:
            return value
        return f"{value} [{decisive(self.low, claim)}, {decisive(self.high, claim)}]"


def is_check(row: pd.Series) -> bool:
    """Whether a case's row is a ddp or fsdp run on CPU: a correctness check, never judged."""
    return row.get("device") == "cpu" and row.get("mode") in CHECK_MODES


def mark_checks(claims: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """`claims` with a `judged` column: False, and both verdicts CHECK, on each case that is
    a correctness check (`is_check` of its first row in `rows`)."""
    if claims.empty:
        return claims.assign(judged=pd.Series(dtype=bool))
    first = rows.drop_duplicates("case").set_index("case")
    checks = claims["case"].map(lambda case: is_check(first.loc[case])).astype(bool)
    out = claims.assign(judged=~checks)
    out.loc[checks, ["memory_verdict", "time_verdict"]] = CHECK
    return out
